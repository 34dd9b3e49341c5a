"""Finding and loading libpolca, and the status -> exception bridge.

The library is looked up, in order: the POLCA_LIBRARY environment variable
(a path), a copy inside this package's folder, then the system loader
(libpolca.so.0 on LD_LIBRARY_PATH or in the linker cache).
"""
import ctypes
import ctypes.util
import os

MAJOR = 0


class PolcaError(Exception):
    """A libpolca call failed: .status is the POLCA_ERR_* code, .message the
    library's polca_last_error() text naming the culprit."""

    def __init__(self, status, message, function):
        self.status = status
        self.message = message
        self.function = function
        super().__init__(f"{function}: {status_string(status)} ({status}): {message}")


def _candidates():
    env = os.environ.get("POLCA_LIBRARY")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, f"libpolca.so.{MAJOR}")
    yield f"libpolca.so.{MAJOR}"
    found = ctypes.util.find_library("polca")
    if found:
        yield found


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError("libpolca not found; set POLCA_LIBRARY to the path of "
                      "libpolca.so.0. Tried:\n  " + "\n  ".join(errors))


lib = _load()

_i32, _i64, _f64 = ctypes.c_int32, ctypes.c_int64, ctypes.c_double
_p, _s = ctypes.c_void_p, ctypes.c_char_p


def declare(name, restype, *argtypes):
    """Declares a C function's signature once; returns it."""
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


declare("polca_version", _i32)
declare("polca_version_string", _s)
declare("polca_status_string", _s, _i32)
declare("polca_last_error", _s)


def status_string(status):
    return lib.polca_status_string(status).decode("utf-8", "replace")


def check(status, function):
    """Raises PolcaError for a failed call (status != 0)."""
    if status != 0:
        msg = lib.polca_last_error().decode("utf-8", "replace")
        raise PolcaError(status, msg, function)


def call(name, *args):
    """Calls libpolca's `name` and raises on failure."""
    check(getattr(lib, name)(*args), name)
