"""numpy <-> C memory: contiguous copies of the right dtype for inputs, and
views of C buffers for callbacks."""
import ctypes
import operator

import numpy as np

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1
FLOAT32_MAX = float(np.finfo(np.float32).max)


def as_int(value, name, lo=INT64_MIN, hi=INT64_MAX, allow_bool=False):
    """value as a Python int: a Python int or a numpy integer scalar
    (np.int32, np.int64, np.uint8, ...; also a 0-d integer array). Floats
    are refused rather than truncated, bools unless allow_bool (an option
    may be a flag; a count, index or step may not); lo..hi is the C
    argument's range (int64 by default), checked because ctypes would wrap."""
    if isinstance(value, (bool, np.bool_)):
        if allow_bool:
            return int(bool(value))
        raise TypeError(f"{name}: expected an integer, got a bool ({value!r})")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__} "
                        f"({value!r})") from None
    if not lo <= v <= hi:
        raise ValueError(f"{name}: {v} is out of range [{lo}, {hi}]")
    return v


def _check_float32_range(x, a, name):
    """Raises ValueError naming the first element of x that is finite but
    became infinite in its float32 copy a (beyond float32's range); genuine
    infinities and NaNs are left to the library, which names them."""
    inf = np.isinf(a)
    if not inf.any():
        return
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            src = np.asarray(x, dtype=np.longdouble).reshape(a.shape)
        beyond = inf & np.isfinite(src)
    except (TypeError, ValueError, OverflowError):
        beyond = inf  # e.g. a Python int too large even for a long double
        src = None
    if not beyond.any():
        return
    idx = tuple(int(i) for i in np.argwhere(beyond)[0])
    where = name + "".join(f"[{i}]" for i in idx)
    if src is None:
        value = "a value"
    else:
        with np.errstate(over="ignore"):
            v64 = np.float64(src[idx])
        value = repr(float(v64)) if np.isfinite(v64) else \
            np.format_float_scientific(src[idx], precision=6)
    raise ValueError(f"{where}: {value} is beyond float32's range "
                     f"(largest finite magnitude {FLOAT32_MAX:.8g})")


def as_c(x, dtype, name, ndim=None, shape=None):
    """x as a C-contiguous array of `dtype` (a copy only when needed).
    ndim / shape (None entries match anything) are checked here because
    several C functions take a pointer without a length: a wrong size would
    read past the buffer instead of failing. For float32, a finite value
    that float32 cannot hold (a float64 beyond +-3.4e38) raises ValueError
    saying so, rather than becoming an infinity the library would report."""
    try:
        with np.errstate(over="ignore"):
            a = np.ascontiguousarray(x, dtype=dtype)
    except OverflowError as e:  # a Python int beyond even float64
        raise ValueError(f"{name}: a value is beyond {np.dtype(dtype).name}'s range "
                         f"({e})") from None
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}: cannot convert to a {np.dtype(dtype).name} array: {e}") from None
    if a.dtype == np.float32 and a.size and not (
            isinstance(x, np.ndarray) and (x.dtype.kind in "biu" or
                                           (x.dtype.kind == "f" and x.dtype.itemsize <= 4))):
        _check_float32_range(x, a, name)
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
