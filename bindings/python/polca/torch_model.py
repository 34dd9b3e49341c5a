"""A libpolca host model computed by a PyTorch module.

    from polca.torch_model import TorchModel
    tm = TorchModel(ctx, module, per_sample_losses, n_samples)
    data = polca.Data.indices(ctx, n_samples)
    tm.model.losses(data, tm.flatten())      # any libpolca computation

per_sample_losses(module, samples) -> Tensor [n]: the loss of each sample
numbered in `samples` (an int64 tensor of sample numbers in
0..n_samples-1), computed with `module` (its parameters are the libpolca
parameters while it runs: torch's functional_call substitutes them).

Parameters: the flat libpolca vector theta is the module's parameters
`names` (default: every named parameter, in named_parameters() order)
flattened in that order, row-major. flatten() / load_into() convert.
Vectors laid out by another model (a built-in transformer's checkpoints,
bases, ...) need that model's order: pass layout=that_model (or its
tensors, or [(name, shape)]) and the adapter maps by name whatever order
named_parameters() has, or raises ValueError naming the first name (or
shape) the module and the layout do not share.

Derivatives come from torch's reverse mode only (so any torch version and
any op with a derivative works): the gradient by one backward pass, the HVP
by double backward, the first directional derivatives g of every sample by
the double-vjp trick (J d = d/du <J^T u, d>), and the second directional
derivatives c by applying the same trick to g, which differentiates the
per-sample losses four times. Elementary ops (matmul, exp, log, tanh, erf,
softmax, log_softmax, gather, ...) support that; torch 1.13's fused
F.layer_norm does NOT (its higher derivatives are silently wrong: write
LayerNorm out, as TransformerLens does). With second_order=False libpolca
computes c by central differences of g instead (polca/model.h).

Tensors cross between libpolca and torch by memory copies (ctypes.memmove),
not through torch's numpy bridge, so a torch built against another numpy
major version still works.
"""
import ctypes

import numpy as np
import torch

from .model import Model

try:  # torch >= 2.0
    from torch.func import functional_call
except ImportError:  # torch 1.12, 1.13
    from torch.nn.utils.stateless import functional_call


class _LossModule(torch.nn.Module):
    def __init__(self, inner, fn):
        super().__init__()
        self.inner = inner
        self.fn = fn

    def forward(self, samples):
        return self.fn(self.inner, samples)


def _to_torch(arr, dtype, device, torch_dtype=None):
    """A torch copy of a numpy array (no numpy bridge)."""
    arr = np.ascontiguousarray(arr)
    src_dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.int64): torch.int64,
                 np.dtype(np.float64): torch.float64}[arr.dtype]
    t = torch.empty(arr.shape, dtype=src_dtype)
    if arr.size:
        ctypes.memmove(t.data_ptr(), arr.ctypes.data, arr.nbytes)
    return t.to(device=device, dtype=dtype or src_dtype)


def _to_numpy(t, dtype=np.float32):
    """A numpy copy of a tensor (no numpy bridge)."""
    src = t.detach().to(device="cpu", dtype={np.float32: torch.float32,
                                             np.float64: torch.float64}[dtype]).contiguous()
    out = np.empty(tuple(src.shape), dtype=dtype)
    if out.size:
        ctypes.memmove(out.ctypes.data, src.data_ptr(), out.nbytes)
    return out


def _grad(y, x, v=None, create_graph=False, retain_graph=None):
    """d<y, v>/dx; zeros where y does not depend on x."""
    if not y.requires_grad:
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(y, x, v, create_graph=create_graph, retain_graph=retain_graph,
                               allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def _layout_entries(layout):
    """[(name, shape or None)] of a polca.Model, its tensors, or a list of
    TensorInfo / (name, shape) / name."""
    items = layout.tensors if hasattr(layout, "tensors") else layout
    out = []
    for it in items:
        if isinstance(it, str):
            out.append((it, None))
        elif hasattr(it, "name") and hasattr(it, "shape"):
            out.append((it.name, tuple(int(x) for x in it.shape)))
        else:
            name, shape = it
            out.append((str(name), tuple(int(x) for x in shape)))
    return out


def _names_from_layout(layout, params):
    """The layout's tensor names, in its order, after checking that they are
    exactly the module's parameters with the same shapes."""
    entries = _layout_entries(layout)
    names = [n for n, _ in entries]
    for n in names:
        if n not in params:
            raise ValueError(f"TorchModel: the layout's tensor {n!r} is not a parameter of the "
                             f"module (the module has {len(params)} parameters, the layout "
                             f"{len(names)} tensors)")
    lay = set(names)
    for n in params:
        if n not in lay:
            raise ValueError(f"TorchModel: the module's parameter {n!r} is not in the layout "
                             f"(the module has {len(params)} parameters, the layout "
                             f"{len(names)} tensors)")
    for n, shape in entries:
        if shape is not None and tuple(params[n].shape) != shape:
            raise ValueError(f"TorchModel: parameter {n!r} has shape "
                             f"{tuple(params[n].shape)} in the module, {shape} in the layout")
    return names


class TorchModel:
    """A libpolca host model (self.model, a polca.Model) whose losses and
    derivatives a torch module computes.

    ctx:               polca.Context
    module:            torch.nn.Module
    per_sample_losses: f(module, samples) -> Tensor [n] (see the module doc)
    n_samples:         size of the sample set (evaluate on
                       polca.Data.indices(ctx, n_samples))
    names:             the parameters that make up theta, in order (default
                       all, named_parameters() order)
    layout:            instead of names: a polca.Model (or its .tensors, or
                       [(name, shape)] / [name]) whose layout theta follows;
                       its tensors are mapped to the module's parameters by
                       name, in its order; any name or shape not shared by
                       both raises ValueError naming it
    dtype:             torch dtype of the computations (default: the
                       parameters' dtype); theta itself is float32
    second_order:      True: exact c (four reverse passes); False: libpolca's
                       central differences of g
    fd_step, fd_step2: see polca.Model.host
    """

    def __init__(self, ctx, module, per_sample_losses, n_samples, names=None, dtype=None,
                 second_order=True, fd_step=None, fd_step2=None, layout=None):
        params = dict(module.named_parameters())
        if layout is not None:
            if names is not None:
                raise ValueError("TorchModel: give names= or layout=, not both")
            names = _names_from_layout(layout, params)
        self.names = list(names) if names is not None else list(params)
        for n in self.names:
            if n not in params:
                raise KeyError(f"module has no parameter {n!r}")
        if len(set(self.names)) != len(self.names):
            dup = next(n for i, n in enumerate(self.names) if n in self.names[:i])
            raise ValueError(f"TorchModel: parameter {dup!r} named twice")
        self.shapes = [tuple(params[n].shape) for n in self.names]
        self.sizes = [int(np.prod(s, dtype=np.int64)) for s in self.shapes]
        self.n_params = int(sum(self.sizes))
        first = params[self.names[0]]
        self.device = first.device
        self.dtype = dtype or first.dtype
        self.module = module
        self._wrapper = _LossModule(module, per_sample_losses)
        cb = dict(loss=self._loss, grad=self._grad, hvp=self._hvp, dirderiv=self._dirderiv,
                  second_dirderiv=self._second if second_order else None)
        self.model = Model.host(ctx, self.n_params, n_samples, fd_step=fd_step,
                                fd_step2=fd_step2, **cb)

    # ---- theta <-> module ----
    def flatten(self):
        """The module's current parameters as theta [P] float32."""
        params = dict(self.module.named_parameters())
        return np.concatenate([_to_numpy(params[n].reshape(-1)) for n in self.names]) \
            if self.names else np.zeros(0, np.float32)

    def load_into(self, theta):
        """Copies theta [P] into the module's parameters."""
        params = dict(self.module.named_parameters())
        t = _to_torch(np.asarray(theta, dtype=np.float32), None, "cpu")
        at = 0
        with torch.no_grad():
            for n, shape, size in zip(self.names, self.shapes, self.sizes):
                params[n].copy_(t[at:at + size].reshape(shape))
                at += size

    # ---- the computations ----
    def _f(self, theta, samples):
        params, at = {}, 0
        for n, shape, size in zip(self.names, self.shapes, self.sizes):
            params["inner." + n] = theta[at:at + size].view(shape)
            at += size
        return functional_call(self._wrapper, params, (samples,)).reshape(-1)

    def _inputs(self, theta, samples, grad=False):
        x = _to_torch(theta, self.dtype, self.device)
        s = _to_torch(samples, None, self.device)
        return x.requires_grad_(grad), s

    def _loss(self, theta, samples):
        x, s = self._inputs(theta, samples)
        with torch.no_grad():
            return _to_numpy(self._f(x, s))

    def _grad(self, theta, samples):
        x, s = self._inputs(theta, samples, grad=True)
        mean = self._f(x, s).to(torch.float64).mean()
        return mean.item(), _to_numpy(_grad(mean, x))

    def _hvp(self, theta, samples, v):
        x, s = self._inputs(theta, samples, grad=True)
        vt = _to_torch(v, self.dtype, self.device)
        g = _grad(self._f(x, s).mean(), x, create_graph=True)
        return _to_numpy(_grad(g @ vt, x))

    def _jvp_setup(self, theta, samples):
        """x, losses l(x), u, and w = J^T u (a graph linear in u)."""
        x, s = self._inputs(theta, samples, grad=True)
        loss = self._f(x, s)
        u = torch.zeros_like(loss, requires_grad=True)
        w = _grad(loss, x, u, create_graph=True)
        return x, u, w

    def _dirderiv(self, theta, samples, dirs):
        x, u, w = self._jvp_setup(theta, samples)
        d = _to_torch(dirs, self.dtype, self.device)
        g = [_grad(w @ d[j], u, retain_graph=True) for j in range(d.shape[0])]
        return _to_numpy(torch.stack(g))

    def _second(self, theta, samples, dirs):
        x, u, w = self._jvp_setup(theta, samples)
        d = _to_torch(dirs, self.dtype, self.device)
        out = []
        for j in range(d.shape[0]):
            g = _grad(w @ d[j], u, create_graph=True)      # J d, a function of x
            u2 = torch.zeros_like(g, requires_grad=True)
            w2 = _grad(g, x, u2, create_graph=True)         # (d/dx J d)^T u2
            out.append(_grad(w2 @ d[j], u2, retain_graph=True))  # (d/dx J d) d = c
        return _to_numpy(torch.stack(out))
