"""polca._taylor, the Taylor-mode pass behind TorchModel's exact g and c:
every rule of its table against an independent reference, float64 central
differences of the function along the direction (Richardson-extrapolated:
error O(h^4), about 1e-12 here), for g = d/dt f(x + t d) and
c = d^2/dt^2 f(x + t d) at t = 0. Also: the same values under vmap over
directions (the way TorchModel calls it), NoRule (naming the op) for ops
without a rule, in-place ops, conversions that would drop the derivatives,
and custom autograd.Functions. Skips when torch is not importable by this Python."""
import math

import pyharness  # noqa: F401  (bindings path)
from pyharness import Skip, test, run, skip_if_sanitized, expect_raises

skip_if_sanitized()

try:
    import torch
    import torch.nn.functional as F
    from polca._taylor import NoRule, taylor_gc
    TORCH_MISSING = None
except ImportError as e:  # pragma: no cover
    torch = None
    TORCH_MISSING = str(e)

try:
    from torch.func import vmap
except ImportError:
    try:
        from functorch import vmap
    except ImportError:
        vmap = None

TOL = 1e-6  # relative to the largest magnitude of f, g, c (FD error ~1e-10)


def need_torch():
    if torch is None:
        raise Skip(f"PyTorch is not installed ({TORCH_MISSING})")


def reference(f, x, d, h=1e-3):
    """g, c by central differences with step h and h/2, Richardson-combined."""
    def gc(step):
        fp, f0, fm = f(x + step * d), f(x), f(x - step * d)
        return (fp - fm) / (2 * step), (fp - 2 * f0 + fm) / (step * step)
    (g1, c1), (g2, c2) = gc(h), gc(h / 2)
    return (4 * g2 - g1) / 3, (4 * c2 - c1) / 3


def close(got, ref, scale, what):
    """|got - ref| <= TOL scale: the differences' rounding error grows with
    |f| / h^2, so a c of 0 (a linear f) is compared at f's scale."""
    got, ref = got.detach().double(), ref.detach().double()
    assert got.shape == ref.shape, f"{what}: shape {tuple(got.shape)} vs {tuple(ref.shape)}"
    err = float((got - ref).abs().max()) / scale
    assert err <= TOL, f"{what}: relative error {err:.2e} > {TOL:.0e}"


def point(n, seed, domain="any"):
    """x [n] float64: 'any' normal; 'positive' in [0.5, 2.5]; 'away' |x| >= 0.2
    (kinks at 0 stay farther than the differences' steps)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g, dtype=torch.float64)
    if domain == "positive":
        return 0.5 + 2 * torch.rand(n, generator=g, dtype=torch.float64)
    if domain == "away":
        return x + 0.2 * torch.sign(x)
    return x


def check(name, f, n, domain="any", seed=0):
    x = point(n, seed, domain)
    d = point(n, seed + 1000)
    d = d / d.norm()
    g, c = taylor_gc(f, x, d)
    rg, rc = reference(f, x, d)
    scale = max(float(t.abs().max()) for t in (f(x), rg, rc))
    close(g, rg, scale, f"{name}: g")
    close(c, rc, scale, f"{name}: c")


def cases():
    """(name, f, n, domain): functions of a flat float64 vector t [n]."""
    C = []

    def add(name, n, domain="any"):
        def deco(fn):
            C.append((name, fn, n, domain))
            return fn
        return deco

    # elementwise f: y1 = f' x1, y2 = f' x2 + f'' x1^2
    for name, fn, dom in [
            ("exp", torch.exp, "any"), ("expm1", torch.expm1, "any"),
            ("log", torch.log, "positive"), ("log1p", torch.log1p, "positive"),
            ("tanh", torch.tanh, "any"), ("sigmoid", torch.sigmoid, "any"),
            ("F.sigmoid", F.sigmoid, "any"), ("erf", torch.erf, "any"),
            ("sqrt", torch.sqrt, "positive"), ("rsqrt", torch.rsqrt, "positive"),
            ("reciprocal", torch.reciprocal, "positive"), ("square", torch.square, "any"),
            ("sin", torch.sin, "any"), ("cos", torch.cos, "any"),
            ("relu", torch.relu, "away"), ("abs", torch.abs, "away"),
            ("gelu", F.gelu, "any"), ("gelu tanh", lambda t: F.gelu(t, approximate="tanh"), "any"),
            ("silu", F.silu, "any"), ("softplus", F.softplus, "any"),
            ("softplus beta", lambda t: F.softplus(t, beta=2.0, threshold=50.0), "any"),
            ("pow 3", lambda t: t ** 3, "any"), ("pow 2", lambda t: t.pow(2), "any"),
            ("pow 0.5", lambda t: torch.pow(t, 0.5), "positive"),
            ("pow -1.5", lambda t: t ** -1.5, "positive"), ("rpow", lambda t: 2.0 ** t, "any"),
            ("neg", lambda t: -t, "any"),
            ("gelu_new written out", lambda t: 0.5 * t * (1 + torch.tanh(
                math.sqrt(2 / math.pi) * (t + 0.044715 * t ** 3))), "any")]:
        C.append((name, fn, 7, dom))

    # products: y2 = B(a2, b) + 2 B(a1, b1) + B(a, b2)
    add("mul", 12)(lambda t: t[:6] * t[6:])
    add("mul scalar", 5)(lambda t: 2.5 * t * 3.0)
    add("matmul", 20)(lambda t: t[:12].view(3, 4) @ t[12:].view(4, 2))
    add("rmatmul by a constant", 8)(
        lambda t: torch.arange(6.0, dtype=t.dtype).view(3, 2) @ t.view(2, 4))
    add("mm mv dot outer", 14)(lambda t: torch.cat([
        torch.mm(t[:6].view(2, 3), t[6:12].view(3, 2)).reshape(-1),
        torch.mv(t[:6].view(2, 3), t[6:9]), torch.dot(t[:3], t[11:14]).reshape(1),
        torch.outer(t[:2], t[12:14]).reshape(-1)]))
    add("bmm", 28)(lambda t: torch.bmm(t[:12].view(2, 2, 3), t[12:24].view(2, 3, 2)) * t[24:28]
                   .view(2, 2, 1))
    add("einsum two", 20)(lambda t: torch.einsum("ij,jk->ik", t[:12].view(3, 4),
                                                 t[12:].view(4, 2)))
    add("einsum three", 17)(lambda t: torch.einsum("i,ij,j->i", t[:3], t[3:15].view(3, 4),
                                                   t[13:17]))
    add("einsum one", 9)(lambda t: torch.einsum("ii->i", t.view(3, 3)))
    add("F.linear", 17)(lambda t: F.linear(t[:6].view(2, 3), t[6:15].view(3, 3), t[15:17]
                                           .repeat(2)[:3]))
    add("addmm", 16)(lambda t: torch.addmm(t[:4].view(2, 2), t[4:10].view(2, 3),
                                           t[10:16].view(3, 2), beta=0.5, alpha=2.0))
    add("baddbmm", 20)(lambda t: torch.baddbmm(t[:4].view(2, 1, 2), t[4:8].view(2, 1, 2),
                                               t[8:16].view(2, 2, 2)) + t[16:20].sum())
    add("div by a Jet", 8, "positive")(lambda t: t[:4] / t[4:])
    add("div by a constant", 5)(lambda t: t / 3.0 + torch.div(t, torch.full_like(t, 2.0)))
    add("constant over a Jet", 5, "positive")(lambda t: 3.0 / t)
    add("embedding", 12)(lambda t: F.embedding(torch.tensor([[0, 3], [2, 2]]), t.view(4, 3)))

    # linear: y_k = op(x_k)
    add("views and indexing", 24)(lambda t: t.view(2, 3, 4).permute(2, 0, 1)
                                  .reshape(-1)[::2].flip(0).roll(1).cumsum(0))
    add("transpose sum mean", 24)(lambda t: torch.cat([
        t.view(4, 6).transpose(0, 1).sum(0), t.view(4, 6).mean(-1, keepdim=True).reshape(-1),
        t.view(2, 12).T.reshape(-1)[:3], t.view(4, 6).tril().reshape(-1)]))
    add("cat stack with a constant", 6)(lambda t: torch.stack([
        torch.cat([t[:2], torch.ones(2, dtype=t.dtype), t[2:4]]), t.sin()]))
    add("where", 8)(lambda t: torch.where(t[:4] > 0, t[4:] ** 2, t[:4]) +
                    torch.where(t[4:] > 0, t[4:], torch.zeros(4, dtype=t.dtype)))
    add("masked_fill pad", 6)(lambda t: F.pad(t.masked_fill(t > 0.5, -3.0), (1, 2), value=5.0)
                              * t.sum())
    add("gather index_select", 12)(lambda t: t.view(3, 4).gather(1, torch.tensor(
        [[0, 2], [1, 1], [3, 0]])).reshape(-1) * t.view(3, 4).index_select(1, torch.tensor(
            [2, 0])).reshape(-1))
    add("split chunk unbind", 12)(lambda t: torch.cat([
        a * b for a, b in zip(t.split(4), t.chunk(3))] + list(t.view(3, 4).unbind(0))))
    add("narrow select tensor_split diagonal movedim trace", 16)(lambda t: torch.cat([
        t.narrow(0, 2, 5), t.view(4, 4).select(1, 2), t.tensor_split(3)[1] * 2,
        t.view(4, 4).diagonal(), torch.diag(t[:3]).reshape(-1), t.view(2, 8).movedim(0, 1)
        .reshape(-1), t.view(4, 4).trace().reshape(1), t.view(4, 4).take_along_dim(
            torch.tensor([[1], [0], [3], [2]]), 1).reshape(-1)]) * t.sum())
    add("kron tensordot inner addmv", 14)(lambda t: torch.cat([
        torch.kron(t[:2], t[2:4]), torch.tensordot(t[:6].view(2, 3), t[6:12].view(3, 2), 1)
        .reshape(-1), torch.inner(t[:3], t[3:6]).reshape(1),
        torch.addmv(t[:2], t[2:8].view(2, 3), t[8:11], beta=2.0)]))
    add("hstack vstack where method view_as", 8)(lambda t: torch.cat([
        torch.hstack([t[:2], t[2:4] ** 2]), torch.vstack([t[:2], t[4:6]]).reshape(-1),
        t[:4].where(t[4:] > 0, t[4:] * 3), torch.ones(2, 2, dtype=t.dtype).view_as(
            t[:4].view(2, 2)).reshape(-1) * t[:4], t[:4].view_as(torch.zeros(2, 2)).reshape(-1)]))
    add("nan_to_num of finite values", 5)(lambda t: torch.nan_to_num(t * t, nan=7.0))
    add("add sub alpha rsub", 8)(lambda t: torch.add(t[:4], t[4:], alpha=2.0) -
                                 torch.sub(t[4:], t[:4], alpha=0.5) + (1.0 - t[:4]) -
                                 torch.rsub(t[4:], 2.0) + (t[:4] + 1.0))

    # softmax family, norms, losses
    add("softmax", 12)(lambda t: torch.softmax(t.view(3, 4), -1) * t.view(3, 4).softmax(0))
    add("F.softmax dtype", 12)(lambda t: F.softmax(t.view(3, 4), dim=1, dtype=torch.float64))
    add("softmax masked", 9)(lambda t: torch.softmax(t.view(3, 3).masked_fill(
        torch.ones(3, 3, dtype=torch.bool).triu(1), float("-inf")), -1))
    add("log_softmax", 12)(lambda t: F.log_softmax(t.view(3, 4), dim=-1))
    add("logsumexp", 12)(lambda t: torch.cat([torch.logsumexp(t.view(3, 4), 1),
                                              torch.logsumexp(t.view(3, 4), 0, keepdim=True)
                                              .reshape(-1)]))
    add("layer_norm", 18)(lambda t: F.layer_norm(t[:12].view(2, 6), (6,), t[12:18], t[:6]))
    if hasattr(F, "rms_norm"):
        add("rms_norm", 18)(lambda t: F.rms_norm(t[:12].view(2, 6), (6,), t[12:18], 1e-6))
    target = torch.tensor([1, -100, 3, 0, 2])
    for red in ("none", "mean", "sum"):
        add(f"cross_entropy {red}", 20)(lambda t, red=red: F.cross_entropy(
            t.view(5, 4), target, reduction=red).reshape(-1))
    add("cross_entropy classes in dim 1", 24)(lambda t: F.cross_entropy(
        t.view(2, 4, 3), torch.tensor([[0, 3, 1], [2, 2, 0]]), reduction="none").reshape(-1))
    add("dropout in eval", 5)(lambda t: F.dropout(t, 0.3, training=False) * t)
    if hasattr(F, "scaled_dot_product_attention"):
        add("sdpa causal", 36)(lambda t: F.scaled_dot_product_attention(
            t[:12].view(1, 3, 4), t[12:24].view(1, 3, 4), t[24:].view(1, 3, 4),
            is_causal=True))
        add("sdpa masks", 36)(lambda t: F.scaled_dot_product_attention(
            t[:12].view(1, 3, 4), t[12:24].view(1, 3, 4), t[24:].view(1, 3, 4),
            attn_mask=torch.tensor([[True, False, True]] * 3)) +
            F.scaled_dot_product_attention(
            t[:12].view(1, 3, 4), t[12:24].view(1, 3, 4), t[24:].view(1, 3, 4),
            attn_mask=torch.tensor([[0.0, -1.0, 0.5]] * 3, dtype=t.dtype), scale=0.3))
    return C


@test
def every_rule_matches_central_differences():
    need_torch()
    failures = []
    for i, (name, fn, n, dom) in enumerate(cases()):
        try:
            check(name, fn, n, dom, seed=i)
        except (AssertionError, NoRule, RuntimeError, TypeError) as e:
            failures.append(f"{name}: {type(e).__name__}: {e}")
    assert not failures, "\n  " + "\n  ".join(failures)


@test
def vmapped_over_directions_equals_one_at_a_time():
    need_torch()
    if vmap is None:
        raise Skip("no vmap (torch.func or functorch)")
    x = point(30, 1)

    def f(t):  # a little of everything: products, softmax, layer_norm, gelu
        h = F.layer_norm(t[:12].view(2, 6), (6,)) @ t[12:30].view(6, 3)
        return torch.log_softmax(F.gelu(h) * h, -1).reshape(-1)
    D = torch.stack([point(30, s) for s in (2, 3, 4)])
    g, c = vmap(lambda dj: taylor_gc(f, x, dj))(D)
    for j in range(3):
        g1, c1 = taylor_gc(f, x, D[j])
        assert torch.allclose(g[j], g1, rtol=1e-12, atol=1e-14), "g under vmap"
        assert torch.allclose(c[j], c1, rtol=1e-12, atol=1e-14), "c under vmap"


@test
def ops_without_a_rule_raise_norule_naming_them():
    need_torch()
    x, d = point(4, 0), point(4, 1)
    e = expect_raises(NoRule, taylor_gc, lambda t: torch.atan(t), x, d)
    assert "atan" in str(e), str(e)
    # an in-place op on a Jet would change the value under the derivatives
    e = expect_raises(NoRule, taylor_gc, lambda t: (t * 2).add_(1.0), x, d)
    assert "add_" in str(e), str(e)
    # conversions that cannot carry the derivatives
    for conv in (lambda t: torch.tensor(t.numpy()), lambda t: torch.tensor(t.sum().item()),
                 lambda t: torch.tensor(t.tolist())):
        expect_raises(NoRule, taylor_gc, conv, x, d)
    # a custom autograd.Function says how it is differentiated: refused
    # (its forward run on the Jet would ignore its jvp / backward)

    class Straight(torch.autograd.Function):  # round forward, identity backward
        @staticmethod
        def forward(ctx, t):
            return torch.round(t)

        @staticmethod
        def backward(ctx, g):
            return g
    e = expect_raises(NoRule, taylor_gc, lambda t: Straight.apply(t) * t, x, d)
    assert "Straight" in str(e), str(e)
    assert torch.equal(Straight.apply(x), torch.round(x)), "apply restored after the pass"
    # nested passes (two threads at once): apply is restored once, by the last
    original = torch.autograd.Function.__dict__.get("apply")

    def inner_pass(t):
        g, _ = taylor_gc(lambda u: u * 3, x, d)  # a pass inside a pass
        return t * g.sum()
    taylor_gc(inner_pass, x, d)
    assert torch.autograd.Function.__dict__.get("apply") is original, "apply not restored"
    from polca._taylor import _CustomFunctionsRefused
    a, b = _CustomFunctionsRefused(), _CustomFunctionsRefused()
    a.__enter__(), b.__enter__(), a.__exit__(None, None, None), b.__exit__(None, None, None)
    assert torch.autograd.Function.__dict__.get("apply") is original, "interleaved passes"
    # torch.no_grad does not stop forward mode (torch's jvp differentiates
    # through it too): the derivatives propagate

    def under_no_grad(t):
        with torch.no_grad():
            return t * 2
    g, c = taylor_gc(under_no_grad, x, d)
    assert torch.equal(g, 2 * d) and not c.any(), (g, c)


@test
def piecewise_constant_and_refused_call_forms():
    need_torch()
    x, d = point(4, 0), point(4, 1)
    # floor division by a constant: derivatives 0 (not those of t / 3)
    g, c = taylor_gc(lambda t: torch.div(10 * t, 3.0, rounding_mode="floor"), x, d)
    assert not g.any() and not c.any(), (g, c)
    # a non-finite entry replaced by a constant: no derivative there
    x2 = x.clone()
    x2[1] = float("nan")
    g, c = taylor_gc(lambda t: torch.nan_to_num(t * 2, nan=5.0), x2, d)
    assert g[1] == 0 and c[1] == 0 and torch.allclose(g[[0, 2, 3]], 2 * d[[0, 2, 3]])
    # out= would hold the value and the derivatives at once; max_norm
    # renormalizes in place; call forms a rule does not read
    buf = torch.empty(4, dtype=torch.float64)
    for f in (lambda t: torch.mul(t, t, out=buf), lambda t: torch.cat([t, t], out=torch.empty(8,
              dtype=torch.float64)), lambda t: F.embedding(torch.tensor([0, 1]), t.view(2, 2),
                                                            max_norm=1.0),
              lambda t: torch.add(input=t, other=t), lambda t: 0.0 ** t):
        expect_raises(NoRule, taylor_gc, f, x, d)


@test
def a_function_of_nothing_has_zero_derivatives():
    need_torch()
    # a value that depends on theta only through a comparison
    g, c = taylor_gc(lambda t: torch.ones(3, dtype=t.dtype) * (t > 10).sum(), point(4, 0),
                     point(4, 1))
    assert torch.equal(g, torch.zeros(3, dtype=torch.float64)) and torch.equal(c, g)


if __name__ == "__main__":
    run()
