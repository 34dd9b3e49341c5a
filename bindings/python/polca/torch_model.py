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
shape) the module and the layout do not share. The host model carries the
parameters' names and shapes in theta's order (self.model.tensors; more
than 4 dimensions: the trailing ones merged), so libpolca refuses a series
of another layout (Trajectories.create, Basis.hessian: PolcaError
ERR_LAYOUT_MISMATCH naming the first tensor that differs) instead of
reading it in the module's order, and reads safetensors checkpoints by
name (Checkpoints.import_safetensors(ctx, tm.model, files)). Bare numpy
vectors and bases carry no layout: only their length is checked.

Derivatives: the gradient by one backward pass, the HVP by double backward.
g and c, where torch has vmap (torch >= 2: torch.func; 1.13: functorch),
by the Taylor-mode pass of _taylor.py (the losses evaluated on tensors that
carry their first and second derivatives along d), vmapped over chunks of
up to 4 directions that share the value computation (fewer above 16384
samples, one at a time above 32768, to bound the memory); libpolca asks
for g then c on the same arguments, and both come from the one pass.
Where that pass lacks a rule for an op the losses use (NoRule; warned once),
by torch's nested jvp (g the first-order tangent of the losses, c the
second-order one), with the fused F.layer_norm (and rms_norm) replaced by
the same formula in elementary ops (torch's nested jvp through them gives
wrong second derivatives, pytorch#196700). Where forward mode fails too (an
op without a forward-mode formula, e.g. a custom autograd.Function without
jvp), reverse mode only: g by the double-vjp trick (J d = d/du <J^T u, d>),
c by applying it to g, which differentiates the losses four times (torch
1.13's fused F.layer_norm has wrong higher derivatives there: write
LayerNorm out). With second_order=False libpolca computes c by central
differences of g instead (polca/model.h). glibc's malloc keeps freed memory
from the first g/c call until release_memory() (keep_memory, below).

Tensors cross between libpolca and torch by memory copies (ctypes.memmove),
not through torch's numpy bridge, so a torch built against another numpy
major version still works.
"""
import contextlib
import ctypes
import inspect
import warnings
import weakref

import numpy as np
import torch

from ._taylor import taylor_gc, layer_norm_written_out, rms_norm_written_out
from .model import Model

try:  # torch >= 2.0
    from torch.func import functional_call
except ImportError:  # torch 1.12, 1.13
    from torch.nn.utils.stateless import functional_call

# Ties are ours to handle (_tied_paths): torch's own tie handling (torch >=
# 2.0) would expand a tied name again and swap one slot twice.
_UNTIED = {"tie_weights": False} if "tie_weights" in \
    inspect.signature(functional_call).parameters else {}

try:  # forward mode with vmap: torch >= 2.0 (torch.func), 1.13 (functorch)
    from torch.func import jvp as _jvp, vmap as _vmap
except ImportError:
    try:
        from functorch import jvp as _jvp, vmap as _vmap
    except ImportError:
        _jvp = _vmap = None

try:
    from torch.overrides import TorchFunctionMode as _TorchFunctionMode
except ImportError:
    _TorchFunctionMode = None


if _TorchFunctionMode is not None:
    class _WrittenOutNorms(_TorchFunctionMode):
        """Replaces the fused layer_norm (and rms_norm) by the same formula in
        elementary ops while second-order forward mode runs: torch's nested
        jvp through the fused kernels gives wrong second derivatives
        (pytorch#196700; torch 1.13's reverse mode too)."""
        _LN = {torch.nn.functional.layer_norm, torch.layer_norm}
        _RMS = {getattr(torch.nn.functional, "rms_norm", None), getattr(torch, "rms_norm", None)}
        _RMS.discard(None)

        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in self._LN:
                return layer_norm_written_out(*args, **kwargs)
            if func in self._RMS:
                return rms_norm_written_out(*args, **kwargs)
            return func(*args, **kwargs)


_nullcontext = contextlib.nullcontext
# Directions per vmap call: 65536 // n_samples, clamped to 1..4 (so the
# batched tangents stay within about 4x the one-direction memory). At the
# timing's reference transformer (bench/torch_adapter.py, 13750
# samples, 2 threads) chunks of 4 take ~25% less CPU than one direction at
# a time (they share the primal), once the page faults below are gone;
# 16 at once needs ~10 GB there.
_CHUNK_SAMPLES = 65536
_CHUNK_MAX = 4


def _libc_malloc():
    """glibc's mallopt and malloc_trim, or None (another C library)."""
    try:
        libc = ctypes.CDLL(None)
        return libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC = _libc_malloc()
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_MMAP_THRESHOLD_MAX = 4 * 1024 * 1024 * ctypes.sizeof(ctypes.c_long)  # glibc's cap: 32 MiB


_memory_holders = 0  # TorchModels (and running calls) that keep glibc's freed memory


def _keep_memory():
    """From now until as many _give_memory_back() calls, glibc's malloc
    serves every block from its heap and keeps what is freed (no mmap per
    large tensor, no trimming). Otherwise each of the batched tangents'
    large temporaries (over glibc's 32 MiB mmap cap at the reference size)
    is a fresh mmap whose pages fault in on first touch: system time that
    was a quarter to a half of the CPU time there, and at every call again
    if the memory is given back between calls."""
    global _memory_holders
    if _MALLOC is not None and _memory_holders == 0:
        mallopt = _MALLOC[0]
        mallopt(_M_MMAP_MAX, 0)
        mallopt(_M_TRIM_THRESHOLD, -1)  # size_t(-1): never trim
    _memory_holders += 1


def _give_memory_back():
    """Ends one _keep_memory(); after the last, the kept memory is given back
    (malloc_trim) and glibc is left as its dynamic threshold leaves a process
    that has freed a large block: blocks from 32 MiB up are mmapped, the heap
    is trimmed above 64 MiB (setting any of these turns glibc's dynamic
    adjustment off, so they are set to where it ends, not to its starting
    values)."""
    global _memory_holders
    _memory_holders -= 1
    if _MALLOC is not None and _memory_holders == 0:
        mallopt, malloc_trim = _MALLOC
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
        mallopt(_M_TRIM_THRESHOLD, 2 * _MMAP_THRESHOLD_MAX)
        mallopt(_M_MMAP_MAX, 65536)
        malloc_trim(0)


@contextlib.contextmanager
def _malloc_keeps_memory():
    """_keep_memory() while the block runs."""
    _keep_memory()
    try:
        yield
    finally:
        _give_memory_back()


# What vmap or forward mode raise for an op they do not support.
_FORWARD_ERRORS = (NotImplementedError, RuntimeError)


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


def _every_parameter_name(module):
    """{name: parameter} for every name under which the module holds a
    parameter: a tied weight (GPT-2's unembedding, the embedding's
    transpose) under each of its names, which named_parameters() folds into
    the first; both the module tree's own paths and the names its
    named_parameters() gives, where a wrapper (TransformerLens 4's
    TransformerBridge) overrides that with the wrapped model's."""
    out = {}
    for prefix, m in module.named_modules(remove_duplicate=False):
        for n, p in m._parameters.items():
            if p is not None:
                out[f"{prefix}.{n}" if prefix else n] = p
    try:
        out.update(module.named_parameters(remove_duplicate=False))
    except TypeError:  # torch 1.13: no remove_duplicate
        out.update(module.named_parameters())
    return out


def _slot(module, path):
    """(owning module, attribute name) that a parameter path resolves to."""
    owner, _, attr = path.rpartition(".")
    for part in owner.split(".") if owner else ():
        module = getattr(module, part)
    return id(module), attr


def _tied_paths(module, names, every):
    """For each of names, one path to every slot that holds the same
    parameter: the reparametrized module must see theta's value in all of
    them (torch's functional_call unties weights it does not recognise as
    tied, e.g. through a wrapper module or a module that overrides
    named_parameters, and the copy left behind would neither follow theta
    nor pass derivatives to it). Two paths to one slot (a delegating
    wrapper's name and the tree's own) are kept once: swapping a slot twice
    would restore our tensor into it afterwards. Refuses names that are one
    parameter twice."""
    by_id = {}
    for n, p in every.items():
        by_id.setdefault(id(p), []).append(n)
    seen = {}
    out = []
    for n in names:
        key = id(every[n])
        if key in seen:
            raise ValueError(f"TorchModel: parameters {seen[key]!r} and {n!r} are the same "
                             f"tensor (tied weights); name it once")
        seen[key] = n
        paths, slots = [], set()
        for a in [n] + [a for a in by_id[key] if a != n]:
            slot = _slot(module, a)
            if slot not in slots:
                slots.add(slot)
                paths.append(a)
        out.append(paths)
    return out


def _storage_key(p):
    try:
        return p.untyped_storage().data_ptr()
    except AttributeError:  # torch 1.13
        return p.storage().data_ptr()


def _warn_shared_memory(names, params):
    """Warns when parameters are views of one memory (e.g. a fused qkv weight
    and the q, k, v views of it): theta holds each, and the losses'
    derivatives reach only the ones the module computes with."""
    groups = {}
    for n in names:
        p = params[n]
        if p.numel():
            groups.setdefault((_storage_key(p), str(p.device)), []).append(n)
    shared = next((g for g in groups.values() if len(g) > 1), None)
    if shared:
        listed = ", ".join(repr(n) for n in shared[:4]) + (", ..." if len(shared) > 4 else "")
        warnings.warn(f"TorchModel: parameters {listed} share memory (views of one tensor): "
                      f"theta holds each, and the derivatives reach only those the losses use; "
                      f"pass names= without the others", RuntimeWarning, stacklevel=3)


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


def _host_layout(names, shapes):
    """[(name, shape)] for Model.set_layout: the parameters in theta's order.
    libpolca's shapes have at most 4 dimensions: the trailing ones of a
    larger tensor (a Conv3d weight) are merged into the fourth (the same
    elements, row-major)."""
    out = []
    for n, shape in zip(names, shapes):
        if len(shape) > 4:
            shape = tuple(shape[:3]) + (int(np.prod(shape[3:], dtype=np.int64)),)
        if len(n.encode()) > 127:  # libpolca's limit: leave the layout unnamed
            warnings.warn(f"TorchModel: parameter name {n!r} is longer than libpolca's 127 "
                          f"bytes; the host model keeps the unnamed layout 'theta' [P], so "
                          f"libpolca cannot tell a series of another layout from its own")
            return None
        out.append((n, shape))
    return out


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
    second_order:      True: exact c (forward mode, or four reverse passes);
                       False: libpolca's central differences of g
    fd_step, fd_step2: see polca.Model.host
    keep_memory:       True: from the first g/c call until release_memory()
                       (or until this TorchModel is garbage-collected),
                       glibc's malloc keeps the memory that torch frees, so
                       that each call does not fault its pages in again
                       (the process holds its peak meanwhile); False: only
                       during each call
    """

    def __init__(self, ctx, module, per_sample_losses, n_samples, names=None, dtype=None,
                 second_order=True, fd_step=None, fd_step2=None, layout=None,
                 keep_memory=True):
        params = dict(module.named_parameters())
        if layout is not None:
            if names is not None:
                raise ValueError("TorchModel: give names= or layout=, not both")
            names = _names_from_layout(layout, params)
        self.names = list(names) if names is not None else list(params)
        every = _every_parameter_name(module)  # tied weights under each of their names
        params.update(every)
        for n in self.names:
            if n not in params:
                raise KeyError(f"module has no parameter {n!r}")
        self._paths = _tied_paths(module, self.names, every)
        _warn_shared_memory(self.names, params)
        self.shapes = [tuple(params[n].shape) for n in self.names]
        self.sizes = [int(np.prod(s, dtype=np.int64)) for s in self.shapes]
        self.n_params = int(sum(self.sizes))
        first = params[self.names[0]]
        self.device = first.device
        self.dtype = dtype or first.dtype
        self.module = module
        self._forward = None  # forward mode: None untried, False unavailable
        self._taylor = None  # the Taylor-mode pass: None untried, False: an op lacks a rule
        self._keep_memory = bool(keep_memory)
        self._memory_hold = None  # weakref.finalize that ends our _keep_memory()
        self._second_order = bool(second_order)
        self._cached_c = None  # (theta, samples, dirs, c) from the last g call
        self._wrapper = _LossModule(module, per_sample_losses)
        cb = dict(loss=self._loss, grad=self._grad, hvp=self._hvp, dirderiv=self._dirderiv,
                  second_dirderiv=self._second if second_order else None)
        self.model = Model.host(ctx, self.n_params, n_samples, fd_step=fd_step,
                                fd_step2=fd_step2, **cb)
        layout = _host_layout(self.names, self.shapes)
        if layout is not None:
            self.model.set_layout(layout)

    def release_memory(self):
        """Lets glibc give back the memory kept since the first g/c call
        (keep_memory=True); the next call keeps it again."""
        if self._memory_hold is not None:
            self._memory_hold()
            self._memory_hold = None

    def _hold_memory(self):
        if self._keep_memory and self._memory_hold is None and _MALLOC is not None:
            _keep_memory()
            self._memory_hold = weakref.finalize(self, _give_memory_back)

    # ---- theta <-> module ----
    def flatten(self):
        """The module's current parameters as theta [P] float32."""
        params = _every_parameter_name(self.module)
        return np.concatenate([_to_numpy(params[n].reshape(-1)) for n in self.names]) \
            if self.names else np.zeros(0, np.float32)

    def load_into(self, theta):
        """Copies theta [P] into the module's parameters."""
        params = _every_parameter_name(self.module)
        t = _to_torch(np.asarray(theta, dtype=np.float32), None, "cpu")
        at = 0
        with torch.no_grad():
            for n, shape, size in zip(self.names, self.shapes, self.sizes):
                params[n].copy_(t[at:at + size].reshape(shape))
                at += size

    # ---- the computations ----
    def _f(self, theta, samples):
        params, at = {}, 0
        for paths, shape, size in zip(self._paths, self.shapes, self.sizes):
            value = theta[at:at + size].view(shape)
            for name in paths:  # a tied weight, under each of its names
                params["inner." + name] = value
            at += size
        return functional_call(self._wrapper, params, (samples,), **_UNTIED).reshape(-1)

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

    def _forward_gc(self, theta, samples, dirs, second):
        """g [k][n] (and c) by forward mode along each direction, vmapped over
        chunks of directions so that they share the primal computation (one
        at a time where vmap cannot run the losses). c (with g): the
        Taylor-mode pass (_taylor.py), or where it lacks a rule for an op
        the losses use, torch's nested jvp (c = jvp of g along d). None
        where forward mode is unavailable."""
        if self._forward is False or _jvp is None or (second and _TorchFunctionMode is None):
            return None
        x, s = self._inputs(theta, samples)
        d = _to_torch(dirs, self.dtype, self.device)

        def losses(t):
            return self._f(t, s)

        def g_of(th, dj):
            return _jvp(losses, (th,), (dj,))[1]

        def nested(dj):
            if not second:
                return g_of(x, dj)
            return _jvp(lambda t: g_of(t, dj), (x,), (dj,))

        self._hold_memory()
        out = taylor_failed = None
        if second and self._taylor is not False:
            try:
                with _malloc_keeps_memory(), torch.no_grad():  # Jets need no graph
                    out = self._over_directions(lambda dj: taylor_gc(losses, x, dj), d,
                                                len(samples), 2)
                self._taylor = True
            except Exception as e:  # noqa: BLE001 - nested jvp decides what it was
                taylor_failed = e
        if out is None:
            # After a Taylor-mode failure: if nested jvp works, the pass lacked
            # a rule (for good: it is not tried again); if nested jvp fails
            # too, the losses failed, and that error is the one to see.
            try:
                with _WrittenOutNorms() if second else _nullcontext(), _malloc_keeps_memory():
                    out = self._over_directions(nested, d, len(samples), 2 if second else 1)
            except _FORWARD_ERRORS:
                if self._forward:  # forward mode worked before: the losses failed
                    raise
                return None  # the caller tries reverse mode (and if that works, keeps to it)
            if taylor_failed is not None:
                self._taylor = False
                warnings.warn(f"TorchModel: the Taylor-mode pass cannot evaluate these losses "
                              f"({type(taylor_failed).__name__}: {taylor_failed}); using "
                              f"torch's nested jvp, about 2x slower", RuntimeWarning,
                              stacklevel=2)
        self._forward = True
        return (_to_numpy(out[0]), _to_numpy(out[1])) if second else _to_numpy(out[0])

    @staticmethod
    def _over_directions(one, d, n_samples, n_out):
        """one(d[j]) for every direction j, stacked: a tuple of n_out tensors
        [k][n]. vmapped over chunks of directions; one at a time where the
        chunk is 1 or vmap cannot run the losses."""
        chunk = max(1, min(_CHUNK_MAX, _CHUNK_SAMPLES // max(1, n_samples)))

        def as_tuple(o):
            return tuple(o) if isinstance(o, tuple) else (o,)
        try:
            if chunk == 1:
                raise RuntimeError("one direction at a time")
            outs = [as_tuple(_vmap(one)(d[j:j + chunk])) for j in range(0, d.shape[0], chunk)]
        except _FORWARD_ERRORS:
            outs = [tuple(o[None] for o in as_tuple(one(d[j]))) for j in range(d.shape[0])]
        return tuple(torch.cat([o[i] for o in outs]) for i in range(n_out))

    def _reverse_instead(self, fn, *args):
        """fn (a reverse-mode path) after forward mode failed; forward mode is
        not tried again once reverse mode succeeds where it failed."""
        out = fn(*args)
        self._forward = False
        return out

    def _dirderiv(self, theta, samples, dirs):
        self._cached_c = None
        if self._second_order:  # libpolca asks for c next, on the same arguments
            r = self._forward_gc(theta, samples, dirs, second=True)
            if r is not None:
                self._cached_c = (np.array(theta), np.array(samples), np.array(dirs), r[1])
                return r[0]
        r = self._forward_gc(theta, samples, dirs, second=False)
        if r is not None:
            return r
        return self._reverse_instead(self._reverse_g, theta, samples, dirs)

    def _reverse_g(self, theta, samples, dirs):
        x, u, w = self._jvp_setup(theta, samples)
        d = _to_torch(dirs, self.dtype, self.device)
        g = [_grad(w @ d[j], u, retain_graph=True) for j in range(d.shape[0])]
        return _to_numpy(torch.stack(g))

    def _second(self, theta, samples, dirs):
        cached, self._cached_c = self._cached_c, None
        if cached is not None and all(np.array_equal(a, b) for a, b in
                                      zip(cached[:3], (theta, samples, dirs))):
            return cached[3]
        r = self._forward_gc(theta, samples, dirs, second=True)
        if r is not None:
            return r[1]
        return self._reverse_instead(self._reverse_c, theta, samples, dirs)

    def _reverse_c(self, theta, samples, dirs):
        x, u, w = self._jvp_setup(theta, samples)
        d = _to_torch(dirs, self.dtype, self.device)
        out = []
        for j in range(d.shape[0]):
            g = _grad(w @ d[j], u, create_graph=True)      # J d, a function of x
            u2 = torch.zeros_like(g, requires_grad=True)
            w2 = _grad(g, x, u2, create_graph=True)         # (d/dx J d)^T u2
            out.append(_grad(w2 @ d[j], u2, retain_graph=True))  # (d/dx J d) d = c
        return _to_numpy(torch.stack(out))
