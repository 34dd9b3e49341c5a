"""A libpolca host model wrapping a PyTorch module (polca.torch_model)
gives the POLCA values of the built-in transformer on the same weights.

The module is a HookedTransformer equivalent in plain torch (TransformerLens
parameter names, shapes and order; LayerNorm written out as TransformerLens
does; causal attention scaled by 1/sqrt(d_head); untied unembedding with
bias), computed in float64. Its derivatives come from torch autograd (the
adapter's reverse-mode formulas), the built-in model's from libpolca's own
forward/backward kernels in float32: two independent computations.

Tolerance: 1e-4 relative to the largest magnitude of each compared array.
The built-in model stores activations in float32 (relative rounding ~6e-8
per operation, ~1e-6 after the layers and the reductions over d_model,
the vocabulary and up to 16 directions); 1e-4 leaves a factor of ~100 and
still catches any wrong term (a missing 1/2 on the curvature, a transposed
weight, a mask off by one position all give errors of order 1).
Skips when torch is not installed."""
import contextlib
import io
import math
import warnings

from pyharness import Skip, test, run, skip_if_sanitized, expect_error, tmpdir  # noqa: F401

skip_if_sanitized()

import numpy as np  # noqa: E402
import polca  # noqa: E402

# A torch built against numpy 1.x complains (once, on stderr) under numpy 2;
# the adapter does not use torch's numpy bridge, so that is only noise.
with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        import torch
        from polca.torch_model import TorchModel
        torch.zeros(1, dtype=torch.float64).sum()
    except ImportError as e:  # noqa: F841
        torch = None
        TORCH_MISSING = str(e)

TOL = 1e-4
CFG = dict(n_layers=2, d_model=8, n_heads=2, d_head=3, d_mlp=12, d_vocab=7, n_ctx=6,
           act_fn="gelu_new")


def need_torch():
    if torch is None:
        raise Skip(f"PyTorch is not installed ({TORCH_MISSING})")


def close(a, b, tol=TOL, what=""):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} vs {b.shape}"
    scale = max(1e-3, float(np.max(np.abs(b))))
    err = float(np.max(np.abs(a - b)))
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol} * {scale:.3g}"


def build_module(cfg, fused_ln=False):
    """HookedTransformer's parameters as nested modules, so that
    named_parameters() yields TransformerLens's names in its order.
    fused_ln: LayerNorm by torch's F.layer_norm instead of written out."""
    nn = torch.nn
    D, H, E, M, V, T = (cfg[k] for k in ("d_model", "n_heads", "d_head", "d_mlp", "d_vocab",
                                          "n_ctx"))

    def holder(**shapes):
        m = nn.Module()
        for name, shape in shapes.items():
            setattr(m, name, nn.Parameter(torch.zeros(shape, dtype=torch.float64)))
        return m

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = holder(W_E=(V, D))
            self.pos_embed = holder(W_pos=(T, D))
            blocks = []
            for _ in range(cfg["n_layers"]):
                b = nn.Module()
                b.ln1 = holder(w=(D,), b=(D,))
                b.attn = holder(W_Q=(H, D, E), W_K=(H, D, E), W_V=(H, D, E), W_O=(H, E, D),
                                b_Q=(H, E), b_K=(H, E), b_V=(H, E), b_O=(D,))
                if M:
                    b.ln2 = holder(w=(D,), b=(D,))
                    b.mlp = holder(W_in=(D, M), b_in=(M,), W_out=(M, D), b_out=(D,))
                blocks.append(b)
            self.blocks = nn.ModuleList(blocks)
            self.ln_final = holder(w=(D,), b=(D,))
            self.unembed = holder(W_U=(D, V), b_U=(V,))

        def forward(self, tokens):  # [S][T] -> logits [S][T][V]
            def ln(x, p):
                if fused_ln:
                    return nn.functional.layer_norm(x, (D,), p.w, p.b, 1e-5)
                x = x - x.mean(-1, keepdim=True)
                return x / (x.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt() * p.w + p.b

            def act(x):
                if cfg["act_fn"] == "relu":
                    return torch.relu(x)
                if cfg["act_fn"] == "gelu":
                    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
                return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
            S, L = tokens.shape
            x = self.embed.W_E[tokens] + self.pos_embed.W_pos[:L][None]
            future = torch.triu(torch.ones(L, L, dtype=torch.bool), 1)
            for b in self.blocks:
                a = ln(x, b.ln1)
                q = torch.einsum("spd,hde->sphe", a, b.attn.W_Q) + b.attn.b_Q
                k = torch.einsum("spd,hde->sphe", a, b.attn.W_K) + b.attn.b_K
                v = torch.einsum("spd,hde->sphe", a, b.attn.W_V) + b.attn.b_V
                scores = torch.einsum("sqhe,skhe->shqk", q, k) / math.sqrt(q.shape[-1])
                pattern = torch.softmax(scores.masked_fill(future, -1e9), dim=-1)
                z = torch.einsum("shqk,skhe->sqhe", pattern, v)
                x = x + torch.einsum("sqhe,hed->sqd", z, b.attn.W_O) + b.attn.b_O
                if hasattr(b, "mlp"):
                    h = act(ln(x, b.ln2) @ b.mlp.W_in + b.mlp.b_in)
                    x = x + h @ b.mlp.W_out + b.mlp.b_out
            return ln(x, self.ln_final) @ self.unembed.W_U + self.unembed.b_U
    return Tiny()


def token_losses(tokens, mask):
    """per_sample_losses for TorchModel: sample j = the j-th scored
    position in row-major order (libpolca's numbering of token data)."""
    tok = torch.tensor(tokens.tolist(), dtype=torch.long)
    seq, pos = np.nonzero(mask)
    seq_t = torch.tensor(seq.tolist(), dtype=torch.long)
    pos_t = torch.tensor(pos.tolist(), dtype=torch.long)

    def losses(module, samples):
        logp = torch.log_softmax(module(tok), dim=-1)
        s, p = seq_t[samples], pos_t[samples]
        return -logp[s, p, tok[s, p + 1]]
    return losses


def setup(ctx, cfg=CFG, seed=0):
    rng = np.random.default_rng(seed)
    builtin = polca.Model.transformer(ctx, cfg)
    tokens = rng.integers(0, cfg["d_vocab"], (4, cfg["n_ctx"]))
    mask = rng.random(tokens.shape) < 0.7
    mask[:, -1] = False
    mask[0, 0] = True
    data = polca.Data.tokens(ctx, tokens, mask)
    module = build_module(cfg)
    tm = TorchModel(ctx, module, token_losses(tokens, mask), data.n_samples,
                    names=[t.name for t in builtin.tensors])
    idx = polca.Data.indices(ctx, data.n_samples)
    # LayerNorm weights and biases away from 1/0 so every term matters
    theta = builtin.init(seed + 1)
    for t in builtin.tensors:
        if t.name.endswith((".w", ".b", "b_Q", "b_K", "b_V", "b_O", "b_in", "b_out", "b_U")):
            theta[t.offset:t.offset + t.size] += 0.2 * rng.standard_normal(t.size)
    return builtin, data, tm, idx, theta.astype(np.float32), rng


@test
def module_layout_is_transformerlens():
    need_torch()
    ctx = polca.Context(backend="cpu")
    builtin, data, tm, idx, theta, rng = setup(ctx)
    assert tm.names == [n for n, _ in tm.module.named_parameters()]  # TL order
    assert tm.n_params == builtin.n_params
    tm.load_into(theta)
    assert np.array_equal(tm.flatten(), theta)


@test
def five_quantities_match_builtin_transformer():
    need_torch()
    ctx = polca.Context(backend="cpu")
    builtin, data, tm, idx, theta, rng = setup(ctx)
    host = tm.model
    close(host.losses(idx, theta), builtin.losses(data, theta), what="losses")
    hm, hg = host.grad(idx, theta)
    bm, bg = builtin.grad(data, theta)
    close(hm, bm, what="mean loss")
    close(hg, bg, what="grad")
    v = rng.standard_normal(builtin.n_params).astype(np.float32)
    close(host.hvp(idx, theta, v), builtin.hvp(data, theta, v), what="hvp")
    dirs = rng.standard_normal((3, builtin.n_params)).astype(np.float32)
    a, b = host.dirderivs(idx, theta, dirs), builtin.dirderivs(data, theta, dirs)
    close(a.g, b.g, what="g")
    close(a.c, b.c, what="c")


@test
def trajectories_and_hessian_basis_match_builtin():
    need_torch()
    ctx = polca.Context(backend="cpu")
    builtin, data, tm, idx, theta, rng = setup(ctx, seed=3)
    host = tm.model
    s_b = polca.Checkpoints.create(ctx, builtin)
    s_h = polca.Checkpoints.create(ctx, host)
    for step in range(5):  # a drifting "training run"
        s_b.append(step * 10, theta)
        s_h.append(step * 10, theta)
        theta = (theta + 0.05 * rng.standard_normal(theta.shape)).astype(np.float32)
    basis = polca.Basis.random(ctx, builtin.n_params, 6, seed=2)
    tb = polca.Trajectories.create(ctx, builtin, data, s_b, basis, fisher=1, block=4)
    th = polca.Trajectories.create(ctx, host, idx, s_h, basis, fisher=1, block=4)
    for kind in ("polca", "first_order", "fisher", "exact_loss", "loss_change"):
        close(th.view(kind), tb.view(kind), what=kind)
    assert np.array_equal(th.decreasing("polca", 0), tb.decreasing("polca", 0)) or \
        np.abs(tb.polca[0, :, -1]).min() < TOL  # a sign flip only at ~0
    # Algorithm 1 on both: the projected Hessians' top eigenvalues agree
    # (the solver converges to tol 1e-6 relative; the Hessians differ by
    # float32 rounding, so 1e-3 relative)
    hb = polca.Basis.hessian(ctx, builtin, data, s_b, k=1, indices=[0, 4], tol=1e-6)
    hh = polca.Basis.hessian(ctx, host, idx, s_h, k=1, indices=[0, 4], tol=1e-6)
    close([i.eigenvalue for i in hh.infos()], [i.eigenvalue for i in hb.infos()], 1e-3,
          "eigenvalues")
    for i in range(2):
        assert abs(abs(float(hh.vector(i) @ hb.vector(i))) - 1) < 1e-3


@test
def second_order_by_differences_and_errors():
    """second_order=False leaves c to libpolca's central differences of the
    adapter's exact g: c ~ (g(theta + h d) - g(theta - h d)) / (2h),
    h = fd_step * max(1, rms(theta)) / ||d|| (polca/model.h). Checked
    against that formula evaluated here with the exact g; the two differ
    by the rounding of theta +- h d to float32, which moves g by about
    ulp(theta) |dg/dtheta|: 1e-3 relative covers it. The formula's own
    truncation error against the exact c is only reported."""
    need_torch()
    ctx = polca.Context(backend="cpu")
    builtin, data, tm, idx, theta, rng = setup(ctx)
    fd = TorchModel(ctx, tm.module, tm._wrapper.fn, idx.n_samples, names=tm.names,
                    second_order=False)
    d = rng.standard_normal((1, builtin.n_params)).astype(np.float32)
    got = fd.model.dirderivs(idx, theta, d).c
    rms = lambda x: float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))  # noqa: E731
    h = 1e-3 * max(1.0, rms(theta)) / float(np.linalg.norm(np.asarray(d, np.float64)))
    plus = (theta.astype(np.float64) + h * d[0]).astype(np.float32)
    minus = (theta.astype(np.float64) - h * d[0]).astype(np.float32)
    g = lambda th: tm.model.dirderivs(idx, th, d, second=False).g.astype(np.float64)  # noqa
    close(got, (g(plus) - g(minus)) / (2 * h), 1e-3, "c by differences")
    exact = tm.model.dirderivs(idx, theta, d).c
    err = np.abs(got - exact).max() / np.abs(exact).max()
    print(f"  (c by differences vs exact: {err:.2g} relative at the default fd_step)")

    def broken(module, samples):
        raise RuntimeError("module failed")
    bad = TorchModel(ctx, tm.module, broken, 3, names=tm.names)
    e = expect_error(polca.ERR_BACKEND, bad.model.losses, polca.Data.indices(ctx, 3), theta)
    assert isinstance(e.__cause__, RuntimeError)


if __name__ == "__main__":
    run()
