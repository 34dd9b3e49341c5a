"""numpy <-> C memory: contiguous copies of the right dtype for inputs, and
views of C buffers for callbacks."""
import ctypes

import numpy as np


def as_c(x, dtype, name, ndim=None, shape=None):
    """x as a C-contiguous array of `dtype` (a copy only when needed).
    ndim / shape (None entries match anything) are checked here because
    several C functions take a pointer without a length: a wrong size would
    read past the buffer instead of failing."""
    try:
        a = np.ascontiguousarray(x, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}: cannot convert to a {np.dtype(dtype).name} array: {e}") from None
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {a.shape}")
    if shape is not None:
        for i, want in enumerate(shape):
            if want is not None and a.shape[i] != want:
                raise ValueError(f"{name}: expected shape "
                                 f"{tuple('*' if s is None else s for s in shape)}, got {a.shape}")
    return a


def f32(x, name, ndim=None, shape=None):
    return as_c(x, np.float32, name, ndim, shape)


def ptr(a):
    """Address of a numpy array's data (None for None)."""
    return None if a is None else a.ctypes.data


def index_array(x, name, dtype=np.int64):
    """Integer index arrays: refuses floats and bools rather than truncating."""
    a = np.asarray(x)
    if a.dtype.kind not in "iu" and not (a.size == 0 and a.dtype.kind == "f"):
        raise TypeError(f"{name}: expected integers, got {a.dtype}")
    return as_c(a, dtype, name, ndim=1)


def c_view(address, count, ctype, shape=None, writable=False):
    """A numpy array over C memory [count] of ctype (no copy), valid only as
    long as that memory is."""
    if count == 0:
        a = np.zeros(0, dtype=_np_type(ctype))
    else:
        a = np.frombuffer((ctype * count).from_address(address), dtype=_np_type(ctype))
    if shape is not None:
        a = a.reshape(shape)
    if not writable:
        a.flags.writeable = False
    return a


_NP = {ctypes.c_float: np.float32, ctypes.c_double: np.float64, ctypes.c_int64: np.int64,
       ctypes.c_int32: np.int32, ctypes.c_uint8: np.uint8}


def _np_type(ctype):
    return _NP[ctype]
