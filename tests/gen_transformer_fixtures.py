#!/usr/bin/python3
"""Writes the PyTorch reference fixtures for tests/test_transformer.c.

Run with Debian's python (python3-torch, python3-numpy):
    /usr/bin/python3 tests/gen_transformer_fixtures.py

A HookedTransformer-equivalent model in plain torch (TransformerLens's
parameter names, shapes and state_dict order; normalization_type "LN",
standard positional embedding, attn_only when d_mlp = 0), evaluated in
float64 on float32 parameters, writes for each configuration into
tests/fixtures/transformer/<name>/:

  config.npy  int32 [8]  n_layers d_model n_heads d_head d_mlp d_vocab n_ctx act
                         (act: 0 gelu, 1 gelu_new, 2 relu, as src/transformer.h)
  names.txt   one "name d0,d1,..." line per tensor, state_dict order
  theta.npy   float32 [P] the parameters, tensors concatenated in that order
  tokens.npy  int32 [S, T];  mask.npy uint8 [S, T] (scored positions)
  logits.npy  float64 [S, T, V]
  losses.npy  float64 [N] per-sample cross-entropy, scored positions row-major
  mean_loss.npy float64 [1]; grad.npy float64 [P] (mean-loss gradient)
  v.npy float32 [P]; hvp.npy float64 [P] (double backward of the mean loss)
  dirs.npy float32 [K, P]; g.npy, c.npy float64 [K, N]: first and second
              derivatives of each sample's loss along each direction
              (forward mode: functorch.jvp, and jvp of jvp)

numpy only writes the files: arrays cross between numpy and torch as Python
lists, so a pip-installed numpy 2 next to Debian's torch does not matter.
"""
import math
import os

import numpy as np
import torch

try:
    from functorch import jvp
except ImportError:  # torch >= 2
    from torch.func import jvp

torch.set_default_dtype(torch.float64)
ACTS = {"gelu": 0, "gelu_new": 1, "relu": 2}


def param_shapes(c):
    D, H, E, M, V, T = c["d_model"], c["n_heads"], c["d_head"], c["d_mlp"], c["d_vocab"], c["n_ctx"]
    out = [("embed.W_E", (V, D)), ("pos_embed.W_pos", (T, D))]
    for l in range(c["n_layers"]):
        b = f"blocks.{l}."
        out += [(b + "ln1.w", (D,)), (b + "ln1.b", (D,))]
        out += [(b + "attn.W_Q", (H, D, E)), (b + "attn.W_K", (H, D, E)), (b + "attn.W_V", (H, D, E)),
                (b + "attn.W_O", (H, E, D)), (b + "attn.b_Q", (H, E)), (b + "attn.b_K", (H, E)),
                (b + "attn.b_V", (H, E)), (b + "attn.b_O", (D,))]
        if M > 0:
            out += [(b + "ln2.w", (D,)), (b + "ln2.b", (D,)), (b + "mlp.W_in", (D, M)),
                    (b + "mlp.b_in", (M,)), (b + "mlp.W_out", (M, D)), (b + "mlp.b_out", (D,))]
    out += [("ln_final.w", (D,)), ("ln_final.b", (D,)), ("unembed.W_U", (D, V)), ("unembed.b_U", (V,))]
    return out


def unflatten(theta, shapes):
    p, at = {}, 0
    for name, shape in shapes:
        n = math.prod(shape)
        p[name] = theta[at:at + n].reshape(shape)
        at += n
    return p


def layer_norm(x, w, b):
    # TransformerLens LayerNorm: center, scale by sqrt(mean square + eps)
    x = x - x.mean(-1, keepdim=True)
    scale = (x.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt()
    return x / scale * w + b


def act(name, x):
    if name == "gelu":
        return torch.nn.functional.gelu(x)
    if name == "gelu_new":
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))
    return torch.relu(x)


def logits_of(theta, c, shapes, tokens):
    p = unflatten(theta, shapes)
    S, T = tokens.shape
    x = p["embed.W_E"][tokens] + p["pos_embed.W_pos"][:T][None]
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    for l in range(c["n_layers"]):
        b = f"blocks.{l}."
        a = layer_norm(x, p[b + "ln1.w"], p[b + "ln1.b"])
        q = torch.einsum("spd,hde->sphe", a, p[b + "attn.W_Q"]) + p[b + "attn.b_Q"]
        k = torch.einsum("spd,hde->sphe", a, p[b + "attn.W_K"]) + p[b + "attn.b_K"]
        v = torch.einsum("spd,hde->sphe", a, p[b + "attn.W_V"]) + p[b + "attn.b_V"]
        scores = torch.einsum("sqhe,skhe->shqk", q, k) / math.sqrt(c["d_head"])
        scores = scores.masked_fill(causal, float("-inf"))
        pattern = torch.softmax(scores, dim=-1)
        z = torch.einsum("shqk,skhe->sqhe", pattern, v)
        x = x + torch.einsum("sqhe,hed->sqd", z, p[b + "attn.W_O"]) + p[b + "attn.b_O"]
        if c["d_mlp"] > 0:
            a2 = layer_norm(x, p[b + "ln2.w"], p[b + "ln2.b"])
            post = act(c["act"], a2 @ p[b + "mlp.W_in"] + p[b + "mlp.b_in"])
            x = x + post @ p[b + "mlp.W_out"] + p[b + "mlp.b_out"]
    x = layer_norm(x, p["ln_final.w"], p["ln_final.b"])
    return x @ p["unembed.W_U"] + p["unembed.b_U"]


def per_sample_losses(theta, c, shapes, tokens, mask):
    logits = logits_of(theta, c, shapes, tokens)
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    nll = -logp.gather(-1, tokens[:, 1:, None].long())[..., 0]  # [S, T-1]
    return nll[mask[:, :-1]]


def generate(name, c, seed, S, K, outdir):
    rng = np.random.default_rng(seed)
    shapes = param_shapes(c)
    P = sum(math.prod(s) for _, s in shapes)
    # Random parameters around TransformerLens's init, LN weights/biases and
    # biases not at 1/0 so every term is exercised.
    std = 0.8 / math.sqrt(c["d_model"])
    parts = []
    for nm, shape in shapes:
        n = math.prod(shape)
        if nm.endswith(".w") and "ln" in nm:
            parts.append(1.0 + 0.2 * rng.standard_normal(n))
        elif "W_" in nm:
            parts.append(2.0 * std * rng.standard_normal(n))
        else:
            parts.append(0.1 * rng.standard_normal(n))
    theta32 = np.concatenate(parts).astype(np.float32)
    T, V = c["n_ctx"], c["d_vocab"]
    tokens = rng.integers(0, V, size=(S, T)).astype(np.int32)
    mask = (rng.random((S, T)) < 0.7).astype(np.uint8)
    mask[:, -1] = 0
    mask[0, :-1] = 1
    v32 = rng.standard_normal(P).astype(np.float32)
    dirs32 = rng.standard_normal((K, P)).astype(np.float32)

    theta = torch.tensor(theta32.tolist(), dtype=torch.float64)
    tok = torch.tensor(tokens.tolist(), dtype=torch.long)
    msk = torch.tensor(mask.astype(bool).tolist())
    f = lambda th: per_sample_losses(th, c, shapes, tok, msk)

    with torch.no_grad():
        logits = logits_of(theta, c, shapes, tok)
        losses = f(theta)
    th = theta.clone().requires_grad_(True)
    mean = f(th).mean()
    (grad,) = torch.autograd.grad(mean, th, create_graph=True)
    vt = torch.tensor(v32.tolist(), dtype=torch.float64)
    (hvp,) = torch.autograd.grad(grad @ vt, th)
    g, cc = [], []
    for k in range(K):
        d = torch.tensor(dirs32[k].tolist(), dtype=torch.float64)
        _, gk = jvp(f, (theta,), (d,))
        _, ck = jvp(lambda t: jvp(f, (t,), (d,))[1], (theta,), (d,))
        g.append(gk.detach().tolist())
        cc.append(ck.detach().tolist())

    os.makedirs(outdir, exist_ok=True)
    cfg = np.array([c["n_layers"], c["d_model"], c["n_heads"], c["d_head"], c["d_mlp"], V, T,
                    ACTS[c["act"]]], dtype=np.int32)
    np.save(os.path.join(outdir, "config.npy"), cfg)
    with open(os.path.join(outdir, "names.txt"), "w") as fh:
        for nm, shape in shapes:
            fh.write(f"{nm} {','.join(str(s) for s in shape)}\n")
    np.save(os.path.join(outdir, "theta.npy"), theta32)
    np.save(os.path.join(outdir, "tokens.npy"), tokens)
    np.save(os.path.join(outdir, "mask.npy"), mask)
    np.save(os.path.join(outdir, "logits.npy"), np.array(logits.tolist(), dtype=np.float64))
    np.save(os.path.join(outdir, "losses.npy"), np.array(losses.tolist(), dtype=np.float64))
    np.save(os.path.join(outdir, "mean_loss.npy"), np.array([mean.item()]))
    np.save(os.path.join(outdir, "grad.npy"), np.array(grad.detach().tolist(), dtype=np.float64))
    np.save(os.path.join(outdir, "v.npy"), v32)
    np.save(os.path.join(outdir, "hvp.npy"), np.array(hvp.tolist(), dtype=np.float64))
    np.save(os.path.join(outdir, "dirs.npy"), dirs32)
    np.save(os.path.join(outdir, "g.npy"), np.array(g, dtype=np.float64))
    np.save(os.path.join(outdir, "c.npy"), np.array(cc, dtype=np.float64))
    print(f"{name}: P={P} N={losses.numel()} mean loss {mean.item():.6f}")


CONFIGS = {
    # gelu_new, d_head != d_model / n_heads
    "gelu_new": dict(n_layers=2, d_model=16, n_heads=2, d_head=5, d_mlp=24, d_vocab=11, n_ctx=7,
                     act="gelu_new"),
    # attention-only (no ln2, no mlp)
    "attn_only": dict(n_layers=2, d_model=12, n_heads=3, d_head=4, d_mlp=0, d_vocab=9, n_ctx=6,
                      act="gelu"),
    "relu": dict(n_layers=1, d_model=12, n_heads=2, d_head=6, d_mlp=20, d_vocab=8, n_ctx=5,
                 act="relu"),
    "gelu": dict(n_layers=1, d_model=8, n_heads=2, d_head=3, d_mlp=16, d_vocab=7, n_ctx=6,
                 act="gelu"),
}

if __name__ == "__main__":
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "transformer")
    for i, (name, c) in enumerate(CONFIGS.items()):
        generate(name, c, seed=1000 + i, S=5, K=3, outdir=os.path.join(root, name))
