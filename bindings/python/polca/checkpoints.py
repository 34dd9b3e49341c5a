"""Checkpoint series (polca/checkpoints.h)."""
import ctypes
import os

import numpy as np

from ._arrays import as_int, f32, ptr
from ._native import lib, declare, call, _i32, _i64, _u64, _p, _s
from .core import Handle, new_handle, options_ptr

_pp = ctypes.POINTER(_p)
_ip = ctypes.POINTER(_i64)

declare("polca_checkpoints_create", _i32, _p, _p, _s, _p, _pp)
declare("polca_checkpoints_import_safetensors", _i32, _p, _p, _i64, _p, _s, _p, _pp)
declare("polca_checkpoints_open", _i32, _p, _s, _p, _pp)
declare("polca_checkpoints_destroy", None, _p)
declare("polca_checkpoints_append", _i32, _p, _i64, _p, _i64)
declare("polca_checkpoints_count", _i32, _p, _ip)
declare("polca_checkpoints_n_params", _i32, _p, _ip)
declare("polca_checkpoints_layout_hash", _i32, _p, ctypes.POINTER(_u64))
declare("polca_checkpoints_path", _i32, _p, ctypes.POINTER(_s))
declare("polca_checkpoints_step", _i32, _p, _i64, _ip)
declare("polca_checkpoints_steps", _i32, _p, _p, _i64)
declare("polca_checkpoints_find_step", _i32, _p, _i64, _ip)
declare("polca_checkpoints_read", _i32, _p, _i64, _p, _i64)
declare("polca_checkpoints_save", _i32, _p, _s, _p)
declare("polca_checkpoints_export_npy", _i32, _p, _i64, _s)


def _path(p):
    return None if p is None else os.fspath(p).encode()


class Checkpoints(Handle):
    """A series of (training step, theta) pairs for one parameter layout, in
    memory or in a file (compressed losslessly; each append to a file is
    durable when it returns)."""

    @classmethod
    def create(cls, ctx, model, path=None, **options):
        """An empty series for model's layout: in memory (path None) or a new
        file. Options: overwrite, zstd_level, max_chain, precondition,
        full_trials, sync (polca/checkpoints.h)."""
        p, keep = options_ptr(options)
        return cls(new_handle("polca_checkpoints_create", (ctx.ptr, model.ptr, _path(path), p),
                              lib.polca_checkpoints_destroy, ctx.native))

    @classmethod
    def import_safetensors(cls, ctx, model, files, path=None, **options):
        """A series from checkpoints, one per file or directory, sorted by
        step (metadata "step", option step_key, or the digits of the base
        name: "ckpt_120.safetensors", "step1000/"). With a transformer each
        may be a safetensors file or a save_pretrained directory in any
        layout libpolca detects (docs/models.md). Options: those of create,
        step_key, writable."""
        names = [_path(f) for f in files]
        arr = (_s * max(1, len(names)))(*names)
        p, keep = options_ptr(options)
        return cls(new_handle("polca_checkpoints_import_safetensors",
                              (ctx.ptr, model.ptr, len(names), ctypes.addressof(arr),
                               _path(path), p),
                              lib.polca_checkpoints_destroy, ctx.native))

    @classmethod
    def open(cls, ctx, path, **options):
        """Opens a series file. Options: writable (1 to append), zstd_level,
        max_chain, precondition, full_trials, sync."""
        p, keep = options_ptr(options)
        return cls(new_handle("polca_checkpoints_open", (ctx.ptr, _path(path), p),
                              lib.polca_checkpoints_destroy, ctx.native))

    def append(self, step, theta):
        """Appends theta [P] (any float array; converted to float32) at a
        training step greater than every step in the series."""
        t = f32(theta, "theta", ndim=1)
        call("polca_checkpoints_append", self.ptr, as_int(step, "step"), ptr(t), t.shape[0])

    def __len__(self):
        out = _i64()
        call("polca_checkpoints_count", self.ptr, ctypes.byref(out))
        return out.value

    @property
    def n_params(self):
        out = _i64()
        call("polca_checkpoints_n_params", self.ptr, ctypes.byref(out))
        return out.value

    @property
    def layout_hash(self):
        out = _u64()
        call("polca_checkpoints_layout_hash", self.ptr, ctypes.byref(out))
        return out.value

    @property
    def path(self):
        """The file of a file-backed series, None in memory."""
        out = _s()
        call("polca_checkpoints_path", self.ptr, ctypes.byref(out))
        return out.value.decode() if out.value is not None else None

    def step(self, index):
        out = _i64()
        call("polca_checkpoints_step", self.ptr, as_int(index, "index"), ctypes.byref(out))
        return out.value

    @property
    def steps(self):
        """Every training step, int64 [count]."""
        n = len(self)
        out = np.empty(n, dtype=np.int64)
        call("polca_checkpoints_steps", self.ptr, ptr(out), n)
        return out

    def find_step(self, step):
        """The index of the checkpoint at a training step, or None."""
        out = _i64()
        call("polca_checkpoints_find_step", self.ptr, as_int(step, "step"), ctypes.byref(out))
        return None if out.value < 0 else out.value

    def read(self, index):
        """theta [P] float32 of checkpoint index (bit-exact)."""
        n = self.n_params
        out = np.empty(n, dtype=np.float32)
        call("polca_checkpoints_read", self.ptr, as_int(index, "index"), ptr(out), n)
        return out

    def __getitem__(self, index):
        index = as_int(index, "index")
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"checkpoint {index} out of range 0..{n - 1}")
        return self.read(index)

    def __iter__(self):
        for i in range(len(self)):
            yield self.step(i), self.read(i)

    def save(self, path, **options):
        """Writes the whole series to a new file (atomically). Options:
        zstd_level, max_chain, precondition, full_trials."""
        p, keep = options_ptr(options)
        call("polca_checkpoints_save", self.ptr, _path(path), p)

    def export_npy(self, index, path):
        call("polca_checkpoints_export_npy", self.ptr, as_int(index, "index"), _path(path))
