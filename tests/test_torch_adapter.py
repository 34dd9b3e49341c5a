"""polca.torch_model.TorchModel (issue 17). Paired with a built-in layout:
a module whose named_parameters() order differs from the built-in
transformer's layout is mapped by name with layout=, and a module that does
not share the layout's names or shapes is refused with a message naming the
first culprit. Exact g and c by forward mode (torch.func / functorch),
also through the fused F.layer_norm (whose nested jvp is wrong in torch,
pytorch#196700), and the reverse-mode fallback for ops without forward
mode. The reference is the built-in transformer on the same theta. Skips
when torch is not importable by this Python."""
import collections
import gc
import warnings

import pyharness
from pyharness import Skip, test, run, skip_if_sanitized, expect_raises, expect_error, tmpdir

skip_if_sanitized()

import numpy as np  # noqa: E402
import polca  # noqa: E402
import test_python_torch as tpt  # noqa: E402  (its module builders; not its tests)

del pyharness.TESTS[:]
torch = tpt.torch


def need_torch():
    if torch is None:
        raise Skip(f"PyTorch is not installed ({tpt.TORCH_MISSING})")


def reorder(module):
    """Reverses the registration order of every submodule's parameters and
    named children (not a ModuleList's, whose order is the computation's):
    same names, shapes and function, another named_parameters() order."""
    for m in module.modules():
        m._parameters = collections.OrderedDict(reversed(list(m._parameters.items())))
        if not isinstance(m, torch.nn.ModuleList):  # its order is the blocks' order
            m._modules = collections.OrderedDict(reversed(list(m._modules.items())))
    return module


def setup(ctx, seed=0):
    builtin, data, tm0, idx, theta, rng = tpt.setup(ctx, seed=seed)
    module = reorder(tpt.build_module(tpt.CFG))
    return builtin, data, module, idx, theta, rng


@test
def layout_maps_by_name_when_order_differs():
    need_torch()
    ctx = polca.Context(backend="cpu")
    builtin, data, module, idx, theta, rng = setup(ctx)
    layout_names = [t.name for t in builtin.tensors]
    module_names = [n for n, _ in module.named_parameters()]
    assert sorted(module_names) == sorted(layout_names) and module_names != layout_names
    rng0 = np.random.default_rng(0)  # the tokens and mask of tpt.setup(seed=0)
    tokens = rng0.integers(0, tpt.CFG["d_vocab"], (4, tpt.CFG["n_ctx"]))
    mask = rng0.random(tokens.shape) < 0.7
    mask[:, -1] = False
    mask[0, 0] = True
    fn = tpt.token_losses(tokens, mask)

    tm = TorchModel(ctx, module, fn, data.n_samples, layout=builtin)
    assert tm.names == layout_names
    host = tm.model
    tpt.close(host.losses(idx, theta), builtin.losses(data, theta), what="losses")
    hm, hg = host.grad(idx, theta)
    bm, bg = builtin.grad(data, theta)
    tpt.close(hg, bg, what="grad")
    v = rng.standard_normal(builtin.n_params).astype(np.float32)
    tpt.close(host.hvp(idx, theta, v), builtin.hvp(data, theta, v), what="hvp")
    dirs = rng.standard_normal((2, builtin.n_params)).astype(np.float32)
    a, b = host.dirderivs(idx, theta, dirs), builtin.dirderivs(data, theta, dirs)
    tpt.close(a.g, b.g, what="g")
    tpt.close(a.c, b.c, what="c")
    # load_into / flatten follow the layout, tensor by tensor
    tm.load_into(theta)
    params = dict(module.named_parameters())
    for name, arr in builtin.unflatten(theta).items():
        assert np.array_equal(_np(params[name]), arr.astype(np.float64)), name
    assert np.array_equal(tm.flatten(), theta)
    # the same list given as TensorInfo or (name, shape) pairs
    assert TorchModel(ctx, module, fn, data.n_samples, layout=builtin.tensors).names == \
        layout_names
    assert TorchModel(ctx, module, fn, data.n_samples,
                      layout=[(t.name, t.shape) for t in builtin.tensors]).names == layout_names
    # what layout= prevents: module order misreads the built-in vector
    plain = TorchModel(ctx, module, fn, data.n_samples)
    assert not np.allclose(plain.model.losses(idx, theta), builtin.losses(data, theta),
                           rtol=1e-3)


def _np(t):
    return np.array(t.detach().to(torch.float64).reshape(-1).tolist()).reshape(tuple(t.shape))


@test
def layout_mismatch_is_refused_naming_the_culprit():
    need_torch()
    ctx = polca.Context(backend="cpu")
    builtin, data, module, idx, theta, rng = setup(ctx)
    fn = lambda m, s: None  # noqa: E731 (never called)
    # a layout tensor the module lacks: renamed in the module
    module.ln_f = module.ln_final
    del module.ln_final
    e = expect_raises(ValueError, TorchModel, ctx, module, fn, 3, layout=builtin)
    assert "'ln_final.w'" in str(e), str(e)
    # a module parameter the layout lacks
    module = reorder(tpt.build_module(tpt.CFG))
    module.extra = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    e = expect_raises(ValueError, TorchModel, ctx, module, fn, 3, layout=builtin)
    assert "'extra'" in str(e), str(e)
    # same names, one shape differs
    module = reorder(tpt.build_module(tpt.CFG))
    lay = [(t.name, t.shape) for t in builtin.tensors]
    lay[3] = (lay[3][0], (1,) + tuple(lay[3][1]))
    e = expect_raises(ValueError, TorchModel, ctx, module, fn, 3, layout=lay)
    assert repr(lay[3][0]) in str(e) and "shape" in str(e), str(e)
    # names= and layout= together
    e = expect_raises(ValueError, TorchModel, ctx, module, fn, 3, names=["embed.W_E"],
                      layout=builtin)
    assert "names" in str(e) and "layout" in str(e)


@test
def series_of_another_parameter_order_is_refused():
    """The host model carries the TorchModel's layout (its parameter names
    and shapes in theta's order), so libpolca's layout checks see it: a
    series laid out in another order (the built-in transformer's, or one
    written by a TorchModel with layout=) is refused naming the first
    tensor that differs, where before both were one tensor "theta" [P] and
    the plain TorchModel read the vectors in its own order without a word.
    With layout=builtin the built-in transformer's own series is read
    directly, giving its trajectories (to the module-wide 1e-4)."""
    need_torch()
    ctx = polca.Context(backend="cpu")
    builtin, data, module, idx, theta, rng = setup(ctx)
    fn = tpt.token_losses(*tokens_mask())
    s_b = polca.Checkpoints.create(ctx, builtin)
    for step in range(3):
        s_b.append(step * 10, theta)
        theta = (theta + 0.05 * rng.standard_normal(theta.shape)).astype(np.float32)
    basis = polca.Basis.random(ctx, builtin.n_params, 2, seed=2)
    tb = polca.Trajectories.create(ctx, builtin, data, s_b, basis)

    mapped = TorchModel(ctx, module, fn, data.n_samples, layout=builtin)
    assert [t.name for t in mapped.model.tensors] == [t.name for t in builtin.tensors]
    th = polca.Trajectories.create(ctx, mapped.model, idx, s_b, basis)
    for kind in ("polca", "exact_loss"):
        tpt.close(th.view(kind), tb.view(kind), what=kind)
    # a series file written through the mapped TorchModel (built-in order)
    path = tmpdir() + "/mapped.polca"
    s_m = polca.Checkpoints.create(ctx, mapped.model, path)
    for i in range(len(s_b)):
        s_m.append(s_b.step(i), s_b.read(i))
    assert s_m.layout_hash == s_b.layout_hash
    del s_m

    plain = TorchModel(ctx, module, fn, data.n_samples)  # module order
    first = next(n for n, _ in module.named_parameters())
    shape = ",".join(str(d) for d in dict(module.named_parameters())[first].shape)
    for series in (s_b, polca.Checkpoints.open(ctx, path)):
        e = expect_error(polca.ERR_LAYOUT_MISMATCH, polca.Trajectories.create, ctx, plain.model,
                         idx, series, basis)
        msg = str(e)
        assert "tensor 0 is 'embed.W_E' [7,8] in the series" in msg, msg
        assert f"'{first}' [{shape}] in the model" in msg, msg
        assert "another order" in msg and "layout=" in msg, msg
        expect_error(polca.ERR_LAYOUT_MISMATCH, polca.Basis.hessian, ctx, plain.model, idx,
                     series, k=1, mentions="another order")


@test
def host_layout_of_five_dimensional_and_long_named_parameters():
    """libpolca's tensors have at most 4 dimensions and 127-byte names: a
    Conv3d weight [2,1,3,3,3] becomes [2,1,3,9] (same elements); a longer
    name leaves the unnamed layout "theta" [P], with a warning."""
    need_torch()
    ctx = polca.Context(backend="cpu")
    conv = torch.nn.Conv3d(1, 2, 3).double()
    tm = TorchModel(ctx, conv, lambda m, s: s.double(), 3)
    assert [(t.name, t.shape) for t in tm.model.tensors] == \
        [("weight", (2, 1, 3, 9)), ("bias", (2,))], tm.model.tensors
    deep = torch.nn.Module()
    deep.add_module("m" * 130, torch.nn.Linear(2, 1).double())
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        tm = TorchModel(ctx, deep, lambda m, s: s.double(), 3)
    assert [(t.name, t.shape) for t in tm.model.tensors] == [("theta", (3,))]
    assert any("127" in str(x.message) for x in w), [str(x.message) for x in w]


def tokens_mask(seed=0):
    """The tokens and mask of tpt.setup(ctx, seed=seed)."""
    rng0 = np.random.default_rng(seed)
    tokens = rng0.integers(0, tpt.CFG["d_vocab"], (4, tpt.CFG["n_ctx"]))
    mask = rng0.random(tokens.shape) < 0.7
    mask[:, -1] = False
    mask[0, 0] = True
    return tokens, mask


def check_g_c(ctx, module, fn, forward, taylor=None):
    """g and c through the adapter equal the built-in transformer's;
    forward: whether forward mode ran (else reverse mode), taylor: whether
    the Taylor-mode pass did (else torch's nested jvp)."""
    builtin, data, _, idx, theta, rng = tpt.setup(ctx)
    tm = TorchModel(ctx, module, fn, data.n_samples, layout=builtin)
    dirs = rng.standard_normal((5, builtin.n_params)).astype(np.float32)  # > 1 vmap chunk
    a, b = tm.model.dirderivs(idx, theta, dirs), builtin.dirderivs(data, theta, dirs)
    tpt.close(a.g, b.g, what="g")
    tpt.close(a.c, b.c, what="c")
    assert tm._forward is forward, tm._forward
    if taylor is not None:
        assert tm._taylor is taylor, tm._taylor
    return tm


@test
def forward_mode_g_c_match_builtin_with_fused_layer_norm():
    need_torch()
    ctx = polca.Context(backend="cpu")
    fn = tpt.token_losses(*tokens_mask())
    check_g_c(ctx, tpt.build_module(tpt.CFG), fn, True, taylor=True)
    check_g_c(ctx, tpt.build_module(tpt.CFG, fused_ln=True), fn, True, taylor=True)
    # one direction at a time (the path for many samples)
    saved, ptm._CHUNK_SAMPLES = ptm._CHUNK_SAMPLES, 1
    try:
        check_g_c(ctx, tpt.build_module(tpt.CFG, fused_ln=True), fn, True, taylor=True)
    finally:
        ptm._CHUNK_SAMPLES = saved


@test
def nested_jvp_when_the_taylor_pass_lacks_a_rule():
    need_torch()
    ctx = polca.Context(backend="cpu")
    inner = tpt.token_losses(*tokens_mask())

    def fn(m, s):  # atan has no Taylor-mode rule; 0 * atan(...) leaves the losses alone
        loss = inner(m, s)
        return loss + 0 * torch.atan(loss)
    for fused in (False, True):  # the nested jvp writes the fused layer_norm out
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_g_c(ctx, tpt.build_module(tpt.CFG, fused_ln=fused), fn, True, taylor=False)
        said = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        assert len(said) == 1 and "atan" in said[0] and "nested jvp" in said[0], said


@test
def a_rule_missing_on_a_later_call_falls_back_and_an_error_is_the_losses():
    need_torch()
    ctx = polca.Context(backend="cpu")
    inner = tpt.token_losses(*tokens_mask())
    state = dict(atan=False, broken=False)

    def fn(m, s):  # atan (no rule) only from the second call on: a data-dependent path
        loss = inner(m, s)
        if state["broken"]:
            raise ZeroDivisionError("the losses' own bug")
        return loss + 0 * torch.atan(loss) if state["atan"] else loss
    builtin, data, _, idx, theta, rng = tpt.setup(ctx)
    dirs = rng.standard_normal((2, builtin.n_params)).astype(np.float32)
    want = builtin.dirderivs(data, theta, dirs)
    tm = TorchModel(ctx, tpt.build_module(tpt.CFG), fn, data.n_samples, layout=builtin)
    tm.model.dirderivs(idx, theta, dirs)
    assert tm._taylor is True
    # a genuine error in the losses: raised as it is, no fallback, no warning
    state["broken"] = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        e = expect_error(polca.ERR_BACKEND, tm.model.dirderivs, idx, theta, dirs)
    assert isinstance(e.__cause__, ZeroDivisionError), repr(e.__cause__)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert tm._taylor is True
    # an op without a rule on a later call: nested jvp, warned once
    state["broken"], state["atan"] = False, True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = tm.model.dirderivs(idx, theta, dirs)
    said = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(said) == 1 and "atan" in said[0], said
    assert tm._taylor is False
    tpt.close(got.g, want.g, what="g")
    tpt.close(got.c, want.c, what="c")


@test
def memory_is_kept_from_the_first_call_until_released():
    need_torch()
    if ptm._MALLOC is None:
        raise Skip("not glibc: the adapter leaves malloc alone")
    ctx = polca.Context(backend="cpu")
    builtin, data, _, idx, theta, rng = tpt.setup(ctx)
    dirs = rng.standard_normal((2, builtin.n_params)).astype(np.float32)
    fn = tpt.token_losses(*tokens_mask())
    gc.collect()  # the earlier tests' TorchModels give theirs back now, not during this test
    base = ptm._memory_holders
    tm = TorchModel(ctx, tpt.build_module(tpt.CFG), fn, data.n_samples, layout=builtin)
    assert ptm._memory_holders == base
    tm.model.dirderivs(idx, theta, dirs)
    assert ptm._memory_holders == base + 1, "kept after the call"
    tm.model.dirderivs(idx, theta, dirs)
    assert ptm._memory_holders == base + 1, "held once per TorchModel"
    tm.release_memory()
    assert ptm._memory_holders == base
    tm.model.dirderivs(idx, theta, dirs)
    assert ptm._memory_holders == base + 1, "kept again by the next call"
    del tm
    gc.collect()
    assert ptm._memory_holders == base, "given back when the TorchModel is collected"
    tm = TorchModel(ctx, tpt.build_module(tpt.CFG), fn, data.n_samples, layout=builtin,
                    keep_memory=False)
    tm.model.dirderivs(idx, theta, dirs)
    assert ptm._memory_holders == base, "keep_memory=False: only during each call"


class _Tied(torch.nn.Module if torch is not None else object):
    """An embedding and an unembedding that are one Parameter (GPT-2's tie)."""
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(5, 3).double()
        self.head = torch.nn.Linear(3, 5, bias=False).double()
        self.head.weight = self.emb.weight
        self.mix = torch.nn.Linear(3, 3).double()

    def forward(self, tokens):
        return self.head(torch.tanh(self.mix(self.emb(tokens))))


class _Delegating(torch.nn.Module if torch is not None else object):
    """Like TransformerLens 4's TransformerBridge: its named_parameters() and
    attributes are those of the model it wraps, not of its own submodules."""
    def __init__(self):
        super().__init__()
        self.original = _Tied()

    def named_parameters(self, *args, **kwargs):
        return self.original.named_parameters(*args, **kwargs)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("original"), name)

    def forward(self, tokens):
        return self.original(tokens)


@test
def tied_weights_follow_theta_under_every_name():
    need_torch()
    ctx = polca.Context(backend="cpu")
    tokens = torch.tensor([[0, 1, 2, 3], [4, 3, 2, 1], [1, 1, 0, 4]])

    def fn(module, s):
        logits = module(tokens[s])[:, :-1]
        return torch.nn.functional.cross_entropy(logits.reshape(-1, 5), tokens[s, 1:].reshape(-1),
                                                 reduction="none").view(len(s), -1).sum(1)
    for make in (_Tied, _Delegating):
        torch.manual_seed(0)
        module = make()
        tm = TorchModel(ctx, module, fn, 3)
        assert tm.n_params == 5 * 3 + 3 * 3 + 3, tm.n_params  # the tied weight once
        idx = polca.Data.indices(ctx, 3)
        rng = np.random.default_rng(1)
        theta = tm.flatten() + 0.1 * rng.standard_normal(tm.n_params).astype(np.float32)
        got_l = tm.model.losses(idx, theta)
        _, got_g = tm.model.grad(idx, theta)
        # reference: the module itself holding theta, by plain autograd
        assert all(isinstance(p, torch.nn.Parameter) for p in module.parameters()), \
            f"{make.__name__}: the module's own parameters were not restored"
        tm.load_into(theta)
        module.zero_grad()
        want = fn(module, torch.arange(3))
        want.mean().backward()
        want_g = np.concatenate([p.grad.reshape(-1).numpy() for p in module.parameters()])
        tpt.close(got_l, want.detach().numpy(), what=f"{make.__name__} losses")
        tpt.close(got_g, want_g, what=f"{make.__name__} gradient")
    # naming one tied parameter twice is refused
    e = expect_raises(ValueError, TorchModel, ctx, _Tied(), fn, 3,
                      names=["emb.weight", "head.weight", "mix.weight", "mix.bias"])
    assert "same tensor" in str(e) and "head.weight" in str(e), str(e)


@test
def parameters_sharing_memory_are_named_in_a_warning():
    need_torch()
    ctx = polca.Context(backend="cpu")

    class Fused(torch.nn.Module):  # q, k, v as views of a fused qkv, all parameters
        def __init__(self):
            super().__init__()
            self.qkv = torch.nn.Parameter(torch.randn(3, 4, dtype=torch.float64))
            self.q = torch.nn.Parameter(self.qkv.data[0])
            self.k = torch.nn.Parameter(self.qkv.data[1])

        def forward(self, x):
            return (x * self.q).sum(-1) * (x * self.k).sum(-1)
    x = torch.randn(2, 4, dtype=torch.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TorchModel(ctx, Fused(), lambda m, s: m(x[s]), 2)
    said = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(said) == 1 and all(n in said[0] for n in ("'qkv'", "'q'", "'k'")), said


@test
def reverse_mode_when_an_op_has_no_forward_mode():
    need_torch()

    class NoJvp(torch.autograd.Function):  # identity, backward only
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return g

    ctx = polca.Context(backend="cpu")
    inner = tpt.token_losses(*tokens_mask())
    check_g_c(ctx, tpt.build_module(tpt.CFG), lambda m, s: NoJvp.apply(inner(m, s)), False)


if torch is not None:
    import polca.torch_model as ptm  # noqa: E402
    from polca.torch_model import TorchModel  # noqa: E402

if __name__ == "__main__":
    run()
