"""Orthonormal bases of the training subspace (polca/basis.h)."""
import collections
import ctypes
import os

import numpy as np

from ._arrays import as_int, f32, index_array, ptr
from ._native import lib, declare, call, check, Native, PolcaError, _i32, _i64, _f64, _p, _s
from .core import Handle, new_handle, options_ptr

_pp = ctypes.POINTER(_p)
_ip = ctypes.POINTER(_i64)

declare("polca_basis_create_random", _i32, _p, _i64, _i64, _p, _pp)
declare("polca_basis_create_axis", _i32, _p, _i64, _p, _i64, _p, _pp)
declare("polca_basis_create_from_vectors", _i32, _p, _i64, _i64, _p, _p, _pp)
declare("polca_basis_create_hessian", _i32, _p, _p, _p, _p, _p, _i64, _i64, _p, _pp)
declare("polca_basis_create_hessian_scaled", _i32, _p, _p, _p, _p, _p, _p, _i64, _i64, _p, _pp)
declare("polca_basis_destroy", None, _p)
declare("polca_basis_count", _i32, _p, _ip)
declare("polca_basis_n_params", _i32, _p, _ip)
declare("polca_basis_get_vector", _i32, _p, _i64, _p, _i64)
declare("polca_basis_get_info", _i32, _p, _i64, ctypes.POINTER(_i32), _ip, _ip,
        ctypes.POINTER(_f64), ctypes.POINTER(_f64), ctypes.POINTER(_i32))
declare("polca_basis_drop", _i32, _p, _p, _i64)
declare("polca_basis_save", _i32, _p, _s)
declare("polca_basis_load", _i32, _p, _s, _pp)
declare("polca_basis_export_npy", _i32, _p, _s)

KIND_HESSIAN, KIND_HESSIAN_SHUFFLED, KIND_RANDOM, KIND_AXIS, KIND_HOST = 1, 2, 3, 4, 5
KIND_HESSIAN_SCALED, KIND_HESSIAN_SCALED_SHUFFLED = 6, 7
KIND_NAMES = {1: "hessian", 2: "hessian_shuffled", 3: "random", 4: "axis", 5: "host",
              6: "hessian_scaled", 7: "hessian_scaled_shuffled"}
NOT_CONVERGED = -12

BasisInfo = collections.namedtuple(
    "BasisInfo", "kind source_step source_index eigenvalue residual converged")


class Basis(Handle):
    """K orthonormal vectors of length P with per-vector metadata, held by
    the context's backend."""

    @classmethod
    def _wrap(cls, ctx, out_ptr):
        return cls(Native(out_ptr, lib.polca_basis_destroy, ctx.native))

    @classmethod
    def random(cls, ctx, n_params, k, seed=None):
        """K random orthonormal vectors (seeded)."""
        p, keep = options_ptr(dict(seed=seed))
        return cls(new_handle("polca_basis_create_random",
                              (ctx.ptr, as_int(n_params, "n_params"), as_int(k, "k"), p),
                              lib.polca_basis_destroy, ctx.native))

    @classmethod
    def axis(cls, ctx, theta, k):
        """e_j for the k parameters of largest |theta_j| (per-sample LCA)."""
        t = f32(theta, "theta", ndim=1)
        return cls(new_handle("polca_basis_create_axis",
                              (ctx.ptr, t.shape[0], ptr(t), as_int(k, "k"), None),
                              lib.polca_basis_destroy, ctx.native))

    @classmethod
    def from_vectors(cls, ctx, vectors, rank_tol=None):
        """The rows of vectors [k][P], orthonormalized in order."""
        v = f32(vectors, "vectors")
        if v.ndim == 1:
            v = v[None, :]
        if v.ndim != 2:
            raise ValueError(f"vectors: expected [k][P], got shape {np.shape(vectors)}")
        p, keep = options_ptr(dict(rank_tol=rank_tol))
        return cls(new_handle("polca_basis_create_from_vectors",
                              (ctx.ptr, v.shape[1], v.shape[0], ptr(v), p),
                              lib.polca_basis_destroy, ctx.native))

    @classmethod
    def hessian(cls, ctx, model, data, series, k=1, indices=None, allow_unconverged=False,
                scales=None, **options):
        """Algorithm 1: for each chosen checkpoint of the series (indices, or
        all), the top-k eigenvectors of the Hessian of the mean loss over
        data, projected off the vectors found so far. Options: which, tol,
        max_products, seed, krylov_size, shuffle, shuffle_seed, warm_start.
        When some pair misses the tolerance the PolcaError (status -12)
        carries the full basis as .result (converged False on those
        vectors), unless allow_unconverged=True, which returns it.
        scales: a Checkpoints series of the optimizer's per-parameter step
        scales s (Adam: 1/(sqrt(v_hat)+eps)) at the basis steps: the basis
        in the optimizer's geometry (polca_basis_create_hessian_scaled),
        eigenvectors w of P S^1/2 H S^1/2 P mapped to S^1/2 w."""
        idx = None if indices is None else index_array(indices, "indices")
        p, keep = options_ptr(options)
        out = _p()
        n_idx = 0 if idx is None else idx.shape[0]
        if scales is None:
            fn = "polca_basis_create_hessian"
            status = lib.polca_basis_create_hessian(
                ctx.ptr, model.ptr, data.ptr, series.ptr, ptr(idx), n_idx, as_int(k, "k"), p,
                ctypes.byref(out))
        else:
            fn = "polca_basis_create_hessian_scaled"
            if not hasattr(scales, "ptr"):
                raise TypeError("scales: expected a polca.Checkpoints series, got %s"
                                % type(scales).__name__)
            status = lib.polca_basis_create_hessian_scaled(
                ctx.ptr, model.ptr, data.ptr, series.ptr, scales.ptr, ptr(idx), n_idx,
                as_int(k, "k"), p, ctypes.byref(out))
        basis = cls._wrap(ctx, out.value) if status in (0, NOT_CONVERGED) else None
        if status == NOT_CONVERGED and allow_unconverged:
            check(0, fn)
            return basis
        try:
            check(status, fn)
        except PolcaError as e:
            e.result = basis
            raise
        return basis

    @classmethod
    def load(cls, ctx, path):
        """A basis saved with save()."""
        return cls(new_handle("polca_basis_load", (ctx.ptr, os.fspath(path).encode()),
                              lib.polca_basis_destroy, ctx.native))

    def __len__(self):
        out = _i64()
        call("polca_basis_count", self.ptr, ctypes.byref(out))
        return out.value

    @property
    def n_params(self):
        out = _i64()
        call("polca_basis_n_params", self.ptr, ctypes.byref(out))
        return out.value

    def vector(self, i):
        """Vector i, float32 [P] (a copy)."""
        n = self.n_params
        out = np.empty(n, dtype=np.float32)
        call("polca_basis_get_vector", self.ptr, as_int(i, "i"), ptr(out), n)
        return out

    def vectors(self):
        """Every vector, float32 [K][P] (a copy)."""
        k, n = len(self), self.n_params
        out = np.empty((k, n), dtype=np.float32)
        for i in range(k):
            call("polca_basis_get_vector", self.ptr, i, ptr(out[i]), n)
        return out

    def info(self, i):
        """BasisInfo(kind name, source_step, source_index, eigenvalue,
        residual, converged) of vector i; eigenvalue and residual are NaN
        for the non-Hessian kinds, source_step -1."""
        kind, conv = _i32(), _i32()
        step, index = _i64(), _i64()
        ev, res = _f64(), _f64()
        call("polca_basis_get_info", self.ptr, as_int(i, "i"), ctypes.byref(kind),
             ctypes.byref(step), ctypes.byref(index), ctypes.byref(ev), ctypes.byref(res),
             ctypes.byref(conv))
        return BasisInfo(KIND_NAMES.get(kind.value, str(kind.value)), step.value, index.value,
                         ev.value, res.value, bool(conv.value))

    def infos(self):
        return [self.info(i) for i in range(len(self))]

    def drop(self, indices):
        """Removes the vectors at these positions (distinct); the others keep
        their order."""
        idx = index_array(indices, "indices")
        call("polca_basis_drop", self.ptr, ptr(idx) if idx.size else None, idx.shape[0])

    def save(self, path):
        call("polca_basis_save", self.ptr, os.fspath(path).encode())

    def export_npy(self, path):
        """Writes the vectors as a [K][P] float32 .npy file."""
        call("polca_basis_export_npy", self.ptr, os.fspath(path).encode())
