"""Handles, options and contexts (polca/core.h)."""
import ctypes
import math

import numpy as np

from ._arrays import as_int
from ._native import lib, declare, call, stash, Native, Ptr, _i32, _i64, _f64, _p, _s

declare("polca_options_create", _i32, ctypes.POINTER(_p))
declare("polca_options_destroy", None, _p)
declare("polca_options_set_int", _i32, _p, _s, _i64)
declare("polca_options_set_double", _i32, _p, _s, _f64)
declare("polca_options_set_string", _i32, _p, _s, _s)
declare("polca_options_unset", _i32, _p, _s)
declare("polca_context_create", _i32, _p, ctypes.POINTER(_p))
declare("polca_context_destroy", None, _p)
declare("polca_context_backend", _i32, _p, ctypes.POINTER(_s))
declare("polca_context_device", _i32, _p, ctypes.POINTER(_s))
declare("polca_context_set_log", _i32, _p, _p, _p, _i32)
declare("polca_context_set_progress", _i32, _p, _p, _p)
declare("polca_context_set_comm", _i32, _p, _p)
declare("polca_comm_destroy", None, _p)
declare("polca_comm_rank", _i32, _p, ctypes.POINTER(_i32), ctypes.POINTER(_i32))

LOG_DEBUG, LOG_INFO, LOG_WARNING = 0, 1, 2

_LOG_FN = ctypes.CFUNCTYPE(None, _p, _i32, _s)
_PROGRESS_FN = ctypes.CFUNCTYPE(_i32, _p, _s, _i64, _i64, _f64)


class Handle:
    """Base of every wrapped handle.

    close() (or leaving a `with` block, or garbage collection) gives up this
    object's hold on the C handle. The C handle is destroyed at once unless
    something still needs it: handles made from a context keep the context
    alive, array views of a handle's memory (Trajectories.view) keep that
    handle alive, and a running call keeps the handles it was given alive
    (a callback may close them: the close takes effect when the call
    returns); it is then destroyed right after the last of them goes. So
    handles may be closed or collected in any order, at interpreter exit
    too: a context is always destroyed after its handles. Using a closed
    object raises ValueError."""

    def __init__(self, native):
        self._native = native

    @property
    def ptr(self):
        """The C pointer, as an int (a Ptr) that keeps the C handle alive
        while it is referenced: a call given it can rely on the handle even
        if a callback closes this object meanwhile."""
        n = self._native
        if n is None or not n.ptr:
            raise ValueError(f"{type(self).__name__} is closed")
        return Ptr(n)

    @property
    def closed(self):
        return self._native is None or not self._native.ptr

    def close(self):
        self._native = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<polca.{type(self).__name__}{' closed' if self.closed else ''}>"


def new_handle(create_name, args, destroy, parent=None):
    """Calls a C constructor whose last argument is the out-pointer and wraps
    the result in a Native owned by `parent` (a Native, or None)."""
    out = _p()
    call(create_name, *args, ctypes.byref(out))
    return Native(out.value, destroy, parent)


class Options(Handle):
    """Named, typed settings; built from keyword arguments:
    Options(backend="cpu", threads=2). ints (and bools), floats and strs
    (numpy integer, bool and floating scalars too) map
    to the C setters; None values are skipped. The call that consumes an
    Options checks the names (PolcaError status -8 for an unknown one)."""

    def __init__(self, **values):
        super().__init__(new_handle("polca_options_create", (), lib.polca_options_destroy))
        for name, value in values.items():
            self.set(name, value)

    def set(self, name, value):
        key = name.encode()
        if value is None:
            return
        if isinstance(value, (bool, np.bool_, int, np.integer)):
            call("polca_options_set_int", self.ptr, key,
                 as_int(value, f"option {name!r}", allow_bool=True))
        elif isinstance(value, (float, np.floating)):
            call("polca_options_set_double", self.ptr, key, float(value))
        elif isinstance(value, str):
            call("polca_options_set_string", self.ptr, key, value.encode())
        else:
            raise TypeError(f"option {name!r}: {type(value).__name__} is not int, float or str")

    def unset(self, name):
        call("polca_options_unset", self.ptr, name.encode())


def options_ptr(options):
    """None, an Options, or a dict -> (pointer or None, keep-alive object)."""
    if options is None:
        return None, None
    if isinstance(options, dict):
        options = {k: v for k, v in options.items() if v is not None}
        if not options:
            return None, None
        options = Options(**options)
    return options.ptr, options


class Context(Handle):
    """The backend that computes ("auto", "cpu", "cuda") and the host's
    callbacks: Context(backend="cpu", threads=2) (options of
    polca_context_create). One context and its handles are used by one
    thread at a time. comm: an mpi4py communicator the collective calls
    share their work over (set_comm)."""

    def __init__(self, comm=None, **options):
        ptr, keep = options_ptr(options)
        super().__init__(new_handle("polca_context_create", (ptr,), lib.polca_context_destroy))
        del keep
        if comm is not None:
            self.set_comm(comm)

    def set_comm(self, comm, timeout=0.0):
        """Shares the work of the collective calls (trajectories, the Hessian
        basis, clustering; polca/comm.h) over the ranks of an mpi4py
        communicator, through the MPI module (polca.mpi). Collective over
        comm: every rank calls it, then makes the same collective calls.
        timeout: seconds a collective may wait for the other ranks (0: the
        POLCA_MPI_TIMEOUT environment variable, else 600); past it the call
        raises PolcaError with status -19 and the job should end
        (comm.Abort()). None: this process alone again."""
        if comm is None:
            call("polca_context_set_comm", self.ptr, None)
            self._native.keep.pop("comm", None)
            return
        from .mpi import comm_native
        native = comm_native(comm, timeout)
        call("polca_context_set_comm", self.ptr, Ptr(native))
        # the context borrows it: destroyed after the context (Native.release
        # clears keep after destroying the context)
        self._native.keep["comm"] = native

    @property
    def comm_rank(self):
        """(rank, size) of the communicator set by set_comm; (0, 1) without."""
        native = self._native.keep.get("comm") if self._native else None
        if native is None:
            return 0, 1
        r, s = _i32(), _i32()
        call("polca_comm_rank", Ptr(native), ctypes.byref(r), ctypes.byref(s))
        return r.value, s.value

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
        """fn(level, message) receives the library's log lines, or None to
        turn logging off. An exception in fn is reported as a warning."""
        def bridge(user, level, msg):
            try:
                fn(level, msg.decode("utf-8", "replace"))
            except BaseException as e:  # noqa: B036 - must not cross into C
                stash(e)
        cb = _LOG_FN(bridge) if fn else None
        call("polca_context_set_log", self.ptr, ctypes.cast(cb, _p) if cb else None, None,
             min_level)
        self._native.keep["log"] = cb

    def set_progress(self, fn):
        """fn(stage, done, total, value) is called during long calls (value is
        None when the stage has no figure); return True to cancel the call
        (it then raises PolcaError with status -15). An exception in fn
        cancels the call too and becomes the PolcaError's __cause__. None
        turns progress reports off."""
        def bridge(user, stage, done, total, value):
            try:
                return 1 if fn(stage.decode(), done, total,
                               None if math.isnan(value) else value) else 0
            except BaseException as e:  # noqa: B036
                stash(e)
                return 1
        cb = _PROGRESS_FN(bridge) if fn else None
        call("polca_context_set_progress", self.ptr, ctypes.cast(cb, _p) if cb else None, None)
        self._native.keep["progress"] = cb

    # Handles made from this context hold its Native.
    @property
    def native(self):
        self.ptr  # raises when closed
        return self._native
