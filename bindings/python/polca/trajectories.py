"""POLCA trajectories and the baselines (polca/trajectories.h)."""
import ctypes
import os

import numpy as np

from ._arrays import as_int, ptr
from ._native import lib, declare, call, PolcaError, _i32, _i64, _f64, _p, _s
from .core import Handle, new_handle, options_ptr

_pp = ctypes.POINTER(_p)
_ip = ctypes.POINTER(_i64)

declare("polca_trajectories_create", _i32, _p, _p, _p, _p, _p, _p, _p, _pp)
declare("polca_trajectories_destroy", None, _p)
declare("polca_trajectories_view", _i32, _p, _i32, _pp, _ip, _ip, _ip)
declare("polca_trajectories_steps", _i32, _p, _pp, _ip)
declare("polca_trajectories_final_means", _i32, _p, _i32, _p, _i64)
declare("polca_trajectories_decreasing", _i32, _p, _i32, _i64, _p, _i64, _ip)
declare("polca_trajectories_save", _i32, _p, _s)
declare("polca_trajectories_load", _i32, _p, _s, _pp)
declare("polca_trajectories_export_npy", _i32, _p, _i32, _s)

POLCA, FIRST_ORDER, FISHER, LCA, EXACT_LOSS, LOSS_CHANGE = 0, 1, 2, 3, 4, 5
KINDS = {"polca": POLCA, "first_order": FIRST_ORDER, "fisher": FISHER, "lca": LCA,
         "exact_loss": EXACT_LOSS, "loss_change": LOSS_CHANGE}
STATE = -16


def kind_code(kind):
    """A POLCA_TRAJ_* code from a name ("polca", "first_order", "fisher",
    "lca", "exact_loss", "loss_change") or an int."""
    if isinstance(kind, str):
        try:
            return KINDS[kind]
        except KeyError:
            raise ValueError(f"unknown trajectory kind {kind!r}; one of {sorted(KINDS)}") from None
    return as_int(kind, "kind", -(1 << 31), (1 << 31) - 1)


def _library_view(owner, address, count, ctype, np_type, shape):
    """A read-only numpy array over library memory, without a copy. Its
    base chain (ndarray -> read-only memoryview -> ctypes array) holds
    `owner`, the Native of the handle whose memory it is, so the handle
    outlives every view."""
    if count == 0:
        return np.zeros(shape, dtype=np_type)
    buf = (ctype * count).from_address(address)
    buf._polca_owner = owner
    a = np.frombuffer(memoryview(buf).cast("B").toreadonly(), dtype=np_type)
    return a.reshape(shape)


class Trajectories(Handle):
    """Every sample's loss change decomposed along each basis direction
    (POLCA) and the paper's baselines, computed in one pass over a series.

    view(kind) and the properties polca, first_order, fisher, lca,
    exact_loss, loss_change return read-only numpy arrays [K][N][T] that
    view the library's memory without copying. A view keeps the C handle
    alive: after close() (or del) of this object, views already taken stay
    valid, and the memory is freed when the last of them goes."""

    @classmethod
    def create(cls, ctx, model, data, series, basis, lca_basis=None, **options):
        """Options: curvature ("exact", "secant", "none"), first_order (0/1),
        fisher (0/1), block (directions per pass)."""
        p, keep = options_ptr(options)
        return cls(new_handle("polca_trajectories_create",
                              (ctx.ptr, model.ptr, data.ptr, series.ptr, basis.ptr,
                               lca_basis.ptr if lca_basis is not None else None, p),
                              lib.polca_trajectories_destroy, ctx.native))

    @classmethod
    def load(cls, ctx, path):
        return cls(new_handle("polca_trajectories_load", (ctx.ptr, os.fspath(path).encode()),
                              lib.polca_trajectories_destroy, ctx.native))

    def view(self, kind=POLCA):
        """Read-only float32 [K][N][T] view of one output (no copy).
        PolcaError status -16 when that output was not computed."""
        data = _p()
        k, n, t = _i64(), _i64(), _i64()
        call("polca_trajectories_view", self.ptr, kind_code(kind), ctypes.byref(data),
             ctypes.byref(k), ctypes.byref(n), ctypes.byref(t))
        return _library_view(self._native, data.value, k.value * n.value * t.value,
                             ctypes.c_float, np.float32, (k.value, n.value, t.value))

    polca = property(lambda self: self.view(POLCA))
    first_order = property(lambda self: self.view(FIRST_ORDER))
    fisher = property(lambda self: self.view(FISHER))
    lca = property(lambda self: self.view(LCA))
    exact_loss = property(lambda self: self.view(EXACT_LOSS))
    loss_change = property(lambda self: self.view(LOSS_CHANGE))

    @property
    def available(self):
        """Names of the outputs that were computed."""
        out = []
        for name, code in KINDS.items():
            try:
                self.view(code)
                out.append(name)
            except PolcaError as e:
                if e.status != STATE:
                    raise
        return out

    @property
    def steps(self):
        """The training steps of the T1 checkpoints: read-only int64 view."""
        data = _p()
        t1 = _i64()
        call("polca_trajectories_steps", self.ptr, ctypes.byref(data), ctypes.byref(t1))
        return _library_view(self._native, data.value, t1.value, ctypes.c_int64, np.int64,
                             (t1.value,))

    def final_means(self, kind=POLCA):
        """mean_i L_{i,k}(T) per direction, float64 [K] (projected kinds)."""
        code = kind_code(kind)
        k = self.view(code).shape[0]
        out = np.empty(k, dtype=np.float64)
        call("polca_trajectories_final_means", self.ptr, code, ptr(out), k)
        return out

    def decreasing(self, kind=POLCA, direction=0):
        """bool [N]: samples whose projected loss along `direction` decreases
        overall (L_{i,k}(T) < 0)."""
        code = kind_code(kind)
        n = self.view(code).shape[1]
        out = np.empty(n, dtype=np.uint8)
        call("polca_trajectories_decreasing", self.ptr, code, as_int(direction, "direction"),
             ptr(out), n, None)
        return out.astype(bool)

    def save(self, path):
        call("polca_trajectories_save", self.ptr, os.fspath(path).encode())

    def export_npy(self, kind, path):
        call("polca_trajectories_export_npy", self.ptr, kind_code(kind), os.fspath(path).encode())
