"""Eigenpairs of a symmetric operator given by products (polca/eigen.h)."""
import collections
import ctypes

import numpy as np

from ._arrays import as_c, as_int, c_view, f32, ptr
from ._native import declare, lib, stash, _i32, _i64, _p, PolcaError
from .core import options_ptr
from . import _native

declare("polca_eigen_solve", _i32, _p, _i64, _p, _p, _i64, _p, _i64, _p, _p, _p, _p, _p,
        ctypes.POINTER(_i64))

_OPERATOR_FN = ctypes.CFUNCTYPE(_i32, _p, _p, _p)
NOT_CONVERGED = -12

EigenResult = collections.namedtuple("EigenResult",
                                     "values vectors residuals converged products")


def eigen_solve(ctx, n, apply, k, start=None, allow_unconverged=False, **options):
    """The k eigenpairs at one end of the spectrum of a symmetric operator
    of dimension n, by thick-restart Lanczos.

    apply: a function x[n] -> A x (x is a read-only float32 view valid only
           during the call), or a symmetric matrix [n][n] (numpy array).
    start: None, or [n_start][n] (or [n]) starting vectors (a warm start).
    options: which ("largest_algebraic", "largest_magnitude",
           "smallest_algebraic"), tol, max_products, seed, krylov_size.
    Returns EigenResult(values [k] float64, vectors [k][n] float32,
    residuals [k], converged [k] bool, products). When some pair does not
    converge the PolcaError (status -12) carries the best estimates as
    .result, unless allow_unconverged=True, which returns them."""
    n = as_int(n, "n")
    k = as_int(k, "k")
    if not callable(apply):
        mat = f32(apply, "apply", ndim=2, shape=(n, n))
        apply = mat.dot

    def bridge(user, x, y):
        try:
            xv = c_view(x, n, ctypes.c_float)
            r = as_c(apply(xv), np.float32, "operator result").reshape(-1)
            if r.shape != (n,):
                raise ValueError(f"operator returned {r.size} values, expected {n}")
            c_view(y, n, ctypes.c_float, writable=True)[:] = r
            return 0
        except BaseException as e:  # noqa: B036 - must not cross into C
            stash(e)
            return 1  # not a status: the solve stops with POLCA_ERR_CANCELLED
    cb = _OPERATOR_FN(bridge)
    st = None
    n_start = 0
    if start is not None:
        st = f32(start, "start")
        if st.ndim == 1:
            st = st[None, :]
        if st.ndim != 2 or st.shape[1] != n:
            raise ValueError(f"start: expected [n_start][{n}], got shape {np.shape(start)}")
        n_start = st.shape[0]
    # Outputs sized [k]; an invalid k gets 1-element arrays and the library
    # names it (it checks k before writing anything).
    kk = k if 1 <= k <= n else 1
    values = np.empty(kk, dtype=np.float64)
    vectors = np.empty((kk, n), dtype=np.float32)
    residuals = np.empty(kk, dtype=np.float64)
    conv = np.empty(kk, dtype=np.int32)
    products = _i64()
    p, keep = options_ptr(options)
    status = lib.polca_eigen_solve(ctx.ptr, n, ctypes.cast(cb, _p), None, k, ptr(st), n_start, p,
                                   ptr(values), ptr(vectors), ptr(residuals), ptr(conv),
                                   ctypes.byref(products))
    result = EigenResult(values, vectors, residuals, conv.astype(bool), products.value)
    if status == NOT_CONVERGED and allow_unconverged:
        _native.check(0, "polca_eigen_solve")  # drops nothing: no callback failed
        return result
    try:
        _native.check(status, "polca_eigen_solve")
    except PolcaError as e:
        if status == NOT_CONVERGED:
            e.result = result
        raise
    return result
