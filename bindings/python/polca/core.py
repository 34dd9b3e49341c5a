"""Contexts and options (polca/core.h)."""
import ctypes
import math

from ._native import lib, declare, call, _i32, _i64, _f64, _p, _s

declare("polca_options_create", _i32, ctypes.POINTER(_p))
declare("polca_options_destroy", None, _p)
declare("polca_options_set_int", _i32, _p, _s, _i64)
declare("polca_options_set_double", _i32, _p, _s, _f64)
declare("polca_options_set_string", _i32, _p, _s, _s)
declare("polca_context_create", _i32, _p, ctypes.POINTER(_p))
declare("polca_context_destroy", None, _p)
declare("polca_context_backend", _i32, _p, ctypes.POINTER(_s))
declare("polca_context_device", _i32, _p, ctypes.POINTER(_s))
declare("polca_context_set_log", _i32, _p, _p, _p, _i32)
declare("polca_context_set_progress", _i32, _p, _p, _p)

LOG_DEBUG, LOG_INFO, LOG_WARNING = 0, 1, 2

_LOG_FN = ctypes.CFUNCTYPE(None, _p, _i32, _s)
_PROGRESS_FN = ctypes.CFUNCTYPE(_i32, _p, _s, _i64, _i64, _f64)


class Handle:
    """Base of every wrapped handle: closes exactly once, on close(), on
    leaving a `with` block, or when garbage-collected. Children keep their
    context alive, so handles may be closed or collected in any order."""

    _destroy = None

    def __init__(self, ptr, parent=None):
        self._ptr = ptr
        self._parent = parent

    @property
    def ptr(self):
        if not self._ptr:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._ptr

    def close(self):
        if self._ptr:
            type(self)._destroy(self._ptr)
            self._ptr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Options(Handle):
    """Named, typed settings; built from keyword arguments:
    Options(backend="cpu", threads=2). ints, floats and strs map to the C
    setters; None values are skipped."""

    _destroy = staticmethod(lib.polca_options_destroy)

    def __init__(self, **values):
        ptr = _p()
        call("polca_options_create", ctypes.byref(ptr))
        super().__init__(ptr)
        for name, value in values.items():
            self.set(name, value)

    def set(self, name, value):
        key = name.encode()
        if value is None:
            return
        if isinstance(value, bool) or isinstance(value, int):
            call("polca_options_set_int", self.ptr, key, int(value))
        elif isinstance(value, float):
            call("polca_options_set_double", self.ptr, key, value)
        elif isinstance(value, str):
            call("polca_options_set_string", self.ptr, key, value.encode())
        else:
            raise TypeError(f"option {name!r}: {type(value).__name__} is not int, float or str")


def options_ptr(options):
    """None, an Options, or a dict -> (pointer, keep-alive object)."""
    if options is None:
        return None, None
    if isinstance(options, dict):
        options = Options(**options)
    return options.ptr, options


class Context(Handle):
    """The backend that computes ("auto", "cpu", "cuda") and the host's
    callbacks. Context(backend="cpu", threads=2)."""

    _destroy = staticmethod(lib.polca_context_destroy)

    def __init__(self, **options):
        ptr = _p()
        opts = Options(**options) if options else None
        call("polca_context_create", opts.ptr if opts else None, ctypes.byref(ptr))
        super().__init__(ptr)
        self._log_cb = self._progress_cb = None

    @property
    def backend(self):
        out = _s()
        call("polca_context_backend", self.ptr, ctypes.byref(out))
        return out.value.decode()

    @property
    def device(self):
        out = _s()
        call("polca_context_device", self.ptr, ctypes.byref(out))
        return out.value.decode()

    def set_log(self, fn, min_level=LOG_INFO):
        """fn(level, message) or None."""
        self._log_cb = _LOG_FN(lambda user, level, msg: fn(level, msg.decode())) if fn else None
        call("polca_context_set_log", self.ptr,
             ctypes.cast(self._log_cb, _p) if fn else None, None, min_level)

    def set_progress(self, fn):
        """fn(stage, done, total, value) -> truthy to cancel, or None."""
        def bridge(user, stage, done, total, value):
            try:
                return 1 if fn(stage.decode(), done, total,
                               None if math.isnan(value) else value) else 0
            except Exception:
                return 1  # an exception in the callback cancels the call
        self._progress_cb = _PROGRESS_FN(bridge) if fn else None
        call("polca_context_set_progress", self.ptr,
             ctypes.cast(self._progress_cb, _p) if fn else None, None)
