"""Finding and loading libpolca, the status -> exception bridge, and the
owner of every C handle.

The library is looked up, in order: the POLCA_LIBRARY environment variable
(a path), the copy bundled by `pip install ./bindings/python` (polca/lib/,
beside the CUDA module and under the CLI's polca/bin/), a copy placed in this
package's folder by hand, then the system loader (libpolca.so.0 on
LD_LIBRARY_PATH or in the linker cache).
"""
import ctypes
import ctypes.util
import os
import threading
import warnings

MAJOR = 0


class PolcaError(Exception):
    """A libpolca call failed: .status is the POLCA_ERR_* code, .message the
    library's polca_last_error() text naming the culprit, .function the C
    function. When a Python callback (host model, operator, progress) raised
    inside the call, that exception is the __cause__."""

    def __init__(self, status, message, function, cause=None):
        self.status = status
        self.message = message
        self.function = function
        text = f"{function}: {status_string(status)} ({status}): {message}"
        if cause is not None:  # the reason, also where only str(e) is printed
            said = str(cause).strip().splitlines()
            said = said[0][:300] if said else ""
            text += f" [the callback raised {type(cause).__name__}" + (f": {said}]" if said else "]")
        super().__init__(text)


def _candidates():
    env = os.environ.get("POLCA_LIBRARY")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "lib", f"libpolca.so.{MAJOR}")
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
    raise ImportError("libpolca not found; install the package with `pip install "
                      "./bindings/python` (it builds and bundles the library) or set "
                      "POLCA_LIBRARY to the path of libpolca.so.0. Tried:\n  "
                      + "\n  ".join(errors))


lib = _load()

_i32, _i64, _u64, _f64 = ctypes.c_int32, ctypes.c_int64, ctypes.c_uint64, ctypes.c_double
_p, _s = ctypes.c_void_p, ctypes.c_char_p


def declare(name, restype, *argtypes):
    """Declares a C function's signature once; returns it. Pointer
    arguments are declared c_void_p and passed as integers (numpy's
    arr.ctypes.data) or None."""
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


declare("polca_version", _i32)
declare("polca_version_string", _s)
declare("polca_status_string", _s, _i32)
declare("polca_last_error", _s)


def status_string(status):
    """Static English text of a status code."""
    return lib.polca_status_string(status).decode("utf-8", "replace")


# ---- Exceptions raised inside callbacks -----------------------------------
# A Python callback cannot raise through C: its bridge catches the exception,
# stores it here (per thread: callbacks run on the calling thread) and returns
# a failure code, which makes the running libpolca call fail. check() then
# raises the PolcaError from the stored exception (KeyboardInterrupt and
# SystemExit are re-raised as they are).
_pending = threading.local()


def stash(exc):
    """Keeps the first exception raised by a callback during a call."""
    if getattr(_pending, "exc", None) is None:
        _pending.exc = exc


def _take():
    exc = getattr(_pending, "exc", None)
    _pending.exc = None
    return exc


def check(status, function):
    """Raises PolcaError for a failed call (status != 0)."""
    exc = _take()
    if status != 0:
        msg = lib.polca_last_error().decode("utf-8", "replace")
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise exc
        raise PolcaError(status, msg, function, exc) from exc
    if exc is not None:  # e.g. a log callback raised: nothing failed
        warnings.warn(f"{function}: a callback raised {exc!r}; ignored", RuntimeWarning,
                      stacklevel=3)


def call(name, *args):
    """Calls libpolca's `name` and raises on failure."""
    check(getattr(lib, name)(*args), name)


# ---- Ownership of C handles ------------------------------------------------
# Two rules keep every destroy safe:
#  - a context is destroyed after every handle made from it, whatever order
#    Python finalizes them in (at interpreter exit, or when a reference cycle
#    is collected, weak references are cleared first and finalizers then run
#    in any order - so the rule cannot rest on weak references);
#  - a handle given to a running libpolca call is destroyed only after the
#    call returns, even when a callback (progress, log, host model) closes it
#    or drops the last reference to it.

_release_lock = threading.RLock()


class Native:
    """Owns one C handle and destroys it exactly once, never while a handle
    made from it is alive and never during a call that was given it.

    Python wrappers (polca.Context, polca.Model, ...) hold one of these;
    handles made from a context hold a strong reference to the context's
    Native (`parent`), array views of library memory hold one to their
    handle's, and a pointer passed to libpolca (Ptr) holds one for the
    duration of the call. The parent also counts its live children (ids in
    `children`, a plain set): when its last reference goes (release()) while
    some child still lives - only possible when they are collected together
    - its destroy waits, and the last child's release carries it out.

    keep: Python objects the C side points to (callback trampolines) that
    must live as long as the handle."""

    __slots__ = ("ptr", "_destroy", "parent", "children", "released", "keep", "__weakref__")

    def __init__(self, ptr, destroy, parent=None, keep=None):
        self.ptr = ptr
        self._destroy = destroy
        self.parent = parent
        self.children = set()
        self.released = False
        self.keep = keep if keep is not None else {}
        if parent is not None:
            parent.children.add(id(self))

    def release(self, _lock=_release_lock, _id=id):
        """Gives up the handle: destroys it now, or when its last child goes.
        (Globals are bound as defaults: at interpreter exit a finalizer may
        run after this module's namespace was cleared.)"""
        with _lock:
            self.released = True
            if self.children:
                return
            ptr, self.ptr = self.ptr, None
            if ptr:
                self._destroy(ptr)
            self.keep = {}
            parent, self.parent = self.parent, None
            if parent is not None:
                parent.children.discard(_id(self))
                if parent.released and not parent.children:
                    parent.release()

    def __del__(self):
        try:
            self.release()
        except Exception:
            pass


class Ptr(int):
    """A handle's C pointer as libpolca calls receive it (Handle.ptr): an int
    that holds the handle's Native, so that the handle outlives the call."""

    def __new__(cls, native):
        p = super().__new__(cls, native.ptr)
        p.native = native
        return p
