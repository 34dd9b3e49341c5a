#!/usr/bin/env python3
"""Writes tests/fixtures/pretrained/: tiny Hugging Face / TransformerLens 4
checkpoints with float64 reference losses, gradient, HVP, g and c.

Never run at test time (the tests read the committed files; CI needs no
PyTorch). Regenerate with a venv holding torch, transformers,
transformer-lens, safetensors and numpy:

    HF_HUB_OFFLINE=1 /work/venv-models/bin/python tests/gen_pretrained_fixtures.py

(--only gpt2,tl4 rebuilds those cases only; --readme-only rewrites README.md
from the files already there. Either way README.md is rewritten from disk.)

Every case is built from the real `transformers` class with a tiny random
config (seeded), eager attention, eval() (no dropout). Every unique parameter
is redrawn with scale 0.2 (norm weights 1 + 0.2 N(0,1), everything else incl.
biases 0.2 N(0,1)) so that no derivative is trivially zero. The float32 model
is written with save_pretrained, read back with from_pretrained in float64
(an exact cast of the float32 weights), and the references are computed in
float64 with torch.func over the model's unique named_parameters():

  losses[i]   cross-entropy of logits[s,t] against token[s,t+1], scored
              positions t = 0..T-2 row-major (checked: their mean equals the
              model's own `loss` of model(ids, labels=ids) to 1e-10)
  grad        torch.func.grad of the mean loss
  hvp0        jvp of that grad along dir0 (forward over reverse)
  g[k][i]     jvp of losses along dir k      = <grad l_i, d_k>
  c[k][i]     d_k . (jvp of grad(l_i) along d_k) = d_k^T H(l_i) d_k
              (forward over reverse per token; not jvp of jvp nor jvp of
              jacrev, which torch 2.15 gets wrong through F.layer_norm)

and are cross-checked against autograd on the module (grad; HVP by double
backward), <grad, d_k> = mean_i g[k][i], <d0, hvp0> = mean_i c[0][i], and
central differences of the float64 losses (g and c).

The layout of every case directory is in tests/fixtures/pretrained/README.md,
which this script writes too.
"""
import copy
import inspect
import json
import os
import shutil
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from torch.func import functional_call, grad, jvp  # noqa: E402

import transformers  # noqa: E402
from transformers import (  # noqa: E402
    GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM,
    LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM,
)

transformers.logging.set_verbosity_error()

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "pretrained")
S, T, K = 3, 12, 3          # sequences, tokens per sequence, directions
SCALE = 0.2

# ---------------------------------------------------------------- the cases

def cfg_gpt2(vocab=64, d_mlp=32):
    return GPT2Config(vocab_size=vocab, n_positions=T, n_embd=16, n_layer=2, n_head=4,
                      n_inner=d_mlp, activation_function="gelu_new",
                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                      layer_norm_epsilon=1e-5, tie_word_embeddings=True)


def cfg_neox(parallel, rotary_pct, n_heads):
    return GPTNeoXConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2,
                         num_attention_heads=n_heads, intermediate_size=32, hidden_act="gelu",
                         rotary_pct=rotary_pct, rotary_emb_base=10000,
                         max_position_embeddings=T, use_parallel_residual=parallel,
                         attention_dropout=0.0, hidden_dropout=0.0, classifier_dropout=0.0,
                         layer_norm_eps=1e-5, tie_word_embeddings=False)


def cfg_llama(tied):
    return LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, hidden_act="silu",
                       max_position_embeddings=T, rms_norm_eps=1e-6, rope_theta=10000.0,
                       attention_bias=False, mlp_bias=False, attention_dropout=0.0,
                       tie_word_embeddings=tied)


def cfg_qwen2():
    # tie_word_embeddings left at Qwen2Config's default
    return Qwen2Config(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, hidden_act="silu",
                       max_position_embeddings=T, rms_norm_eps=1e-6, rope_theta=10000.0,
                       attention_dropout=0.0)


# name, model class, config, seed, save_pretrained max_shard_size (None: one file), note
CASES = [
    ("gpt2", GPT2LMHeadModel, cfg_gpt2, 101, None,
     "GPT2LMHeadModel: tied wte/lm_head, learned positions, gelu_new, fused c_attn Conv1D [in,out]"),
    ("neox", GPTNeoXForCausalLM, lambda: cfg_neox(True, 0.25, 2), 102, None,
     "GPTNeoXForCausalLM: rotary_pct 0.25 (d_head 8, rotary dim 2), parallel residual, untied embed_out, gelu"),
    ("neox_seq", GPTNeoXForCausalLM, lambda: cfg_neox(False, 1.0, 4), 103, None,
     "GPTNeoXForCausalLM: sequential residual, rotary_pct 1.0 (d_head 4), untied embed_out, gelu"),
    ("llama", LlamaForCausalLM, lambda: cfg_llama(False), 104, None,
     "LlamaForCausalLM: GQA 4 heads / 2 kv heads, SwiGLU silu, RMSNorm eps 1e-6, rope_theta 1e4, untied"),
    ("llama_tied", LlamaForCausalLM, lambda: cfg_llama(True), 105, "8KB",
     "LlamaForCausalLM as llama but tie_word_embeddings True, saved sharded (max_shard_size 8KB)"),
    ("qwen2", Qwen2ForCausalLM, cfg_qwen2, 106, None,
     "Qwen2ForCausalLM: q/k/v bias, no o bias, GQA 4/2, SwiGLU, RMSNorm eps 1e-6, tie as config default"),
]

# ------------------------------------------------------------------ helpers

def is_norm_weight(name, p):
    leaf = name.split(".")
    return p.dim() == 1 and leaf[-1] == "weight" and any(
        s in ("ln_1", "ln_2", "ln_f", "input_layernorm", "post_attention_layernorm",
              "final_layer_norm", "norm") for s in leaf)


def randomize(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float64) * SCALE
            if is_norm_weight(name, p):
                p.copy_((1.0 + noise).to(p.dtype))
            else:
                p.copy_(noise.to(p.dtype))


def save_checkpoint(model, d, shard):
    kw = {}
    if "safe_serialization" in inspect.signature(model.save_pretrained).parameters:
        kw["safe_serialization"] = True
    if shard is not None:
        kw["max_shard_size"] = shard
    model.save_pretrained(d, **kw)
    gc = os.path.join(d, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)


def checkpoint_tensors(d):
    from safetensors import safe_open
    out = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            with safe_open(os.path.join(d, f), "pt") as h:
                for k in h.keys():
                    out[k] = (f, h.get_tensor(k))
    return out


_softmax = torch.nn.functional.softmax


def _softmax64(x, dim=None, _stacklevel=3, dtype=None):
    # transformers' eager attention (GPT-NeoX, Llama, Qwen2) asks for a
    # float32 softmax even in a float64 model; keep float64 instead
    if dtype == torch.float32 and x.dtype == torch.float64:
        dtype = None
    return _softmax(x, dim=dim, dtype=dtype)


def float64_internals(model):
    """Make a float64 model float64 inside too: softmax in float64 (patched
    globally; it only changes float64 inputs), RMSNorm in float64 and the
    rotary cos/sin from float64 angles (transformers computes all three in
    float32 whatever the model's dtype). Same formulas, only the rounding
    changes."""
    torch.nn.functional.softmax = _softmax64
    for mod in model.modules():
        if type(mod).__name__.endswith("RMSNorm"):
            # Llama/Qwen2 RMSNorm casts its input to float32
            assert isinstance(mod.variance_epsilon, float) and mod.weight.dim() == 1, type(mod)

            def rms(x, mod=mod):
                return mod.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + mod.variance_epsilon))
            mod.forward = rms
            continue
        if not type(mod).__name__.endswith("RotaryEmbedding"):
            continue
        assert mod.attention_scaling == 1.0 and mod.rope_type == "default", type(mod)
        half = mod.inv_freq.numel()
        base = mod.config.rope_parameters["rope_theta"]
        inv64 = 1.0 / (base ** (torch.arange(0, 2 * half, 2, dtype=torch.float64) / (2 * half)))
        assert torch.allclose(inv64, mod.inv_freq.to(torch.float64), rtol=1e-6, atol=0), type(mod)

        def fwd(x, position_ids, inv64=inv64):
            freqs = position_ids[..., None].to(torch.float64) * inv64
            emb = torch.cat((freqs, freqs), dim=-1)
            return emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        mod.forward = fwd


def make_losses(model, tokens):
    def losses(params):
        logits = functional_call(model, params, (tokens,)).logits
        lp = torch.log_softmax(logits[:, :-1].to(torch.float64), dim=-1)
        return -lp.gather(-1, tokens[:, 1:, None])[..., 0].reshape(-1)
    return losses


def dot(a, b):
    return sum((a[n].to(torch.float64) * b[n].to(torch.float64)).sum() for n in a)


def references(model, tokens, gen):
    """float64 model; returns dict of everything the fixture holds."""
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses = make_losses(model, tokens)
    mean = lambda p: losses(p).mean()  # noqa: E731

    with torch.no_grad():
        l = losses(params)
        out = model(tokens, labels=tokens)
        own = out.loss
        # transformers' ForCausalLMLoss casts the logits to float32 before its
        # cross-entropy, so the model's own `loss` is a float32 number even for
        # a float64 model: it agrees to float32 rounding. The same cross-entropy
        # (shift by one, mean over every position but the last) on the float64
        # logits agrees to 1e-12.
        ce64 = torch.nn.functional.cross_entropy(
            out.logits[:, :-1].reshape(-1, out.logits.shape[-1]), tokens[:, 1:].reshape(-1))
    assert l.dtype == torch.float64 and out.logits.dtype == torch.float64
    assert abs(l.mean().item() - own.item()) <= 1e-6 * (1 + abs(own.item())), (l.mean().item(), own.item())
    assert abs(l.mean().item() - ce64.item()) <= 1e-12, (l.mean().item(), ce64.item())
    own = l.mean()

    dirs = [{n: torch.randn(p.shape, generator=gen, dtype=torch.float32) for n, p in params.items()}
            for _ in range(K)]
    dirs64 = [{n: v.to(torch.float64) for n, v in d.items()} for d in dirs]

    g_full = grad(mean)(params)
    hvp0 = jvp(grad(mean), (params,), (dirs64[0],))[1]
    gs, cs = [], []
    for d in dirs64:
        gs.append(jvp(losses, (params,), (d,))[1])
        # c: forward over reverse per token, d . (jvp of grad l_i along d),
        # the machinery of the HVP. Neither jvp of jvp nor jvp of jacrev:
        # in torch 2.15 both give wrong second derivatives through
        # F.layer_norm (pytorch/pytorch#196700, open), which would corrupt c
        # for GPT-2/GPT-NeoX.
        cs.append(torch.stack([
            dot(jvp(grad(lambda p, i=i: losses(p)[i]), (params,), (d,))[1], d)
            for i in range(l.shape[0])]))
    g = torch.stack(gs)
    c = torch.stack(cs)

    # cross-checks: autograd on the module itself (ties summed by the module),
    # float64 cross-entropy (the model's own loss would be float32)
    model.zero_grad(set_to_none=True)
    logits = model(tokens).logits
    torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                      tokens[:, 1:].reshape(-1)).backward()
    for n, p in model.named_parameters():
        err = (p.grad - g_full[n]).abs().max().item()
        assert err <= 1e-12 * (1 + g_full[n].abs().max().item()), (n, err)
    model.zero_grad(set_to_none=True)
    # HVP by reverse over reverse (double backward) on the module
    logits = model(tokens).logits
    ce = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                           tokens[:, 1:].reshape(-1))
    names = [n for n, _ in model.named_parameters()]
    ps = [p for _, p in model.named_parameters()]
    g1 = torch.autograd.grad(ce, ps, create_graph=True)
    hv2 = torch.autograd.grad(sum((a * dirs64[0][n]).sum() for a, n in zip(g1, names)), ps)
    for n, v in zip(names, hv2):
        err = (v - hvp0[n]).abs().max().item()
        assert err <= 1e-11 * (1 + hvp0[n].abs().max().item()), (n, err)
    del logits, ce, g1, hv2
    for k in range(K):
        a, b = dot(g_full, dirs64[k]).item(), g[k].mean().item()
        assert abs(a - b) <= 1e-12 * (1 + abs(a)), (k, a, b)
    a, b = dot(dirs64[0], hvp0).item(), c[0].mean().item()
    assert abs(a - b) <= 1e-11 * (1 + abs(a)), (a, b)
    # five-point central differences along each direction (float64; error
    # O(h^4) + rounding ~1e-16/h^2)
    h = 1e-4
    for k, d in enumerate(dirs64):
        with torch.no_grad():
            f = {j: losses({n: params[n] + j * h * d[n] for n in params}) for j in (-2, -1, 1, 2)}
        fd_g = (f[-2] - 8 * f[-1] + 8 * f[1] - f[2]) / (12 * h)
        fd_c = (-f[-2] + 16 * f[-1] - 30 * l + 16 * f[1] - f[2]) / (12 * h * h)
        eg = (fd_g - g[k]).abs().max().item() / (1 + g[k].abs().max().item())
        ec = (fd_c - c[k]).abs().max().item() / (1 + c[k].abs().max().item())
        assert eg <= 1e-8 and ec <= 1e-6, (k, eg, ec)
    # the float64 losses are not constant along any direction
    assert g.abs().min().item() > 0 and c.abs().min().item() > 0

    return {"params": params, "losses": l, "mean": own.detach(), "grad": g_full,
            "hvp0": hvp0, "dirs": dirs, "g": g, "c": c}


def tokens_for(vocab, gen):
    return torch.randint(0, vocab, (S, T), generator=gen, dtype=torch.int64)


def write_refs(d, tokens, r, rename, prefix=""):
    """reference.safetensors (once) and the per-parameter files; rename lists
    (file name, module parameter name, transform): one parameter can give
    several tensors (GPT-2's c_attn gives TL4's q, k and v)."""
    def conv(tdict, dtype):
        out = {nn: f(tdict[n]).to(dtype).contiguous() for nn, n, f in rename}
        assert len(out) == len(rename)
        return out
    if not prefix:
        mask = torch.ones(S, T, dtype=torch.uint8)
        mask[:, -1] = 0
        save_file({"tokens": tokens.to(torch.int32).contiguous(), "mask": mask,
                   "losses": r["losses"].contiguous(),
                   "mean_loss": r["mean"].reshape(1).to(torch.float64),
                   "g": r["g"].contiguous(), "c": r["c"].contiguous()},
                  os.path.join(d, "reference.safetensors"))
    for k in range(K):
        save_file(conv(r["dirs"][k], torch.float32), os.path.join(d, f"{prefix}dir{k}.safetensors"))
    save_file(conv(r["grad"], torch.float64), os.path.join(d, f"{prefix}grad.safetensors"))
    save_file(conv(r["hvp0"], torch.float64), os.path.join(d, f"{prefix}hvp0.safetensors"))


def dir_size(d):
    return sum(os.path.getsize(os.path.join(a, f)) for a, _, fs in os.walk(d) for f in fs)


# --------------------------------------------------------------- HF cases

def build_hf(name, cls, mkcfg, seed, shard):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    ck = os.path.join(d, "checkpoint")
    os.makedirs(ck)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    cfg = mkcfg()
    cfg._attn_implementation = "eager"
    model = cls(cfg).to(torch.float32).eval()
    randomize(model, gen)
    save_checkpoint(model, ck, shard)

    m64 = cls.from_pretrained(ck, dtype=torch.float64, attn_implementation="eager").eval()
    float64_internals(m64)
    assert m64.config._attn_implementation == "eager"
    tens = checkpoint_tensors(ck)
    # the unique parameters are exactly the checkpoint's tensors (a tied
    # lm_head is absent from both), each equal to the float32 weight. The
    # names can differ: transformers 5 renames some modules and writes the
    # original names back (GPTNeoX: module lm_head.weight, file
    # embed_out.weight), so pair them by value (random: unique).
    to_ck = {}
    for n, p in m64.named_parameters():
        hit = [k for k, (_, v) in tens.items()
               if v.shape == p.shape and torch.equal(v.to(torch.float64), p.detach())]
        assert len(hit) == 1 and tens[hit[0]][1].dtype == torch.float32, (n, hit)
        to_ck[n] = hit[0]
    assert sorted(to_ck.values()) == sorted(tens), sorted(set(to_ck.values()) ^ set(tens))
    names = [to_ck[n] for n, _ in m64.named_parameters()]
    if shard is not None:
        assert os.path.exists(os.path.join(ck, "model.safetensors.index.json"))
        assert len({f for f, _ in tens.values()}) >= 2

    tokens = tokens_for(cfg.vocab_size, gen)
    r = references(m64, tokens, gen)
    # the float64 references (float64 internals) agree with the untouched
    # float32 model's own per-token losses to float32 rounding
    with torch.no_grad():
        l32 = make_losses(model, tokens)({n: p for n, p in model.named_parameters()})
    assert next(model.parameters()).dtype == torch.float32   # logits float32, log_softmax float64
    assert (l32.to(torch.float64) - r["losses"]).abs().max().item() < 1e-5, \
        (l32.to(torch.float64) - r["losses"]).abs().max().item()
    write_refs(d, tokens, r, [(c, n, lambda x: x) for n, c in to_ck.items()])
    return {"name": name, "cls": cls.__name__, "cfg": json.load(open(os.path.join(ck, "config.json"))),
            "tensors": [(n, tens[n][0], tuple(tens[n][1].shape)) for n in names],
            "renamed": {n: c for n, c in to_ck.items() if n != c}, "files": sorted(os.listdir(ck)), "mean": r["mean"].item(), "P": sum(
                p.numel() for p in r["params"].values())}


# ------------------------------------------------------------------- TL4

def tl4_maps(m, D, H, E, V):
    """Expected TL4 tensors as functions of the HF GPT-2 ones: name -> (HF
    name, transform, description). Asserted exactly against the bridge."""
    sd, gp = {}, {}
    sd["embed.weight"] = ("transformer.wte.weight", lambda x: x, "wte.weight")
    gp["embed.W_E"] = sd["embed.weight"]
    sd["pos_embed.weight"] = ("transformer.wpe.weight", lambda x: x, "wpe.weight")
    gp["pos_embed.W_pos"] = sd["pos_embed.weight"]
    for l in range(m.config.n_layer):
        h, b = f"transformer.h.{l}.", f"blocks.{l}."
        for j, q in enumerate("qkv"):
            sl = slice(j * D, (j + 1) * D)
            sd[b + f"attn.{q}.weight"] = (h + "attn.c_attn.weight", lambda x, sl=sl: x[:, sl].T,
                                          f"c_attn.weight[:, {j}D:{j + 1}D].T  ([out,in])")
            sd[b + f"attn.{q}.bias"] = (h + "attn.c_attn.bias", lambda x, sl=sl: x[sl],
                                        f"c_attn.bias[{j}D:{j + 1}D]")
            gp[b + f"attn.W_{q.upper()}"] = (
                h + "attn.c_attn.weight", lambda x, sl=sl: x[:, sl].reshape(D, H, E).permute(1, 0, 2),
                f"c_attn.weight[:, {j}D:{j + 1}D].reshape(D,H,E).permute(1,0,2)")
            gp[b + f"attn.b_{q.upper()}"] = (h + "attn.c_attn.bias", lambda x, sl=sl: x[sl].reshape(H, E),
                                             f"c_attn.bias[{j}D:{j + 1}D].reshape(H,E)")
        sd[b + "attn.o.weight"] = (h + "attn.c_proj.weight", lambda x: x,
                                   "attn.c_proj.weight  ([in,out], not transposed)")
        sd[b + "attn.o.bias"] = (h + "attn.c_proj.bias", lambda x: x, "attn.c_proj.bias")
        gp[b + "attn.W_O"] = (h + "attn.c_proj.weight", lambda x: x.reshape(H, E, D),
                              "attn.c_proj.weight.reshape(H,E,D)")
        gp[b + "attn.b_O"] = sd[b + "attn.o.bias"]
        sd[b + "mlp.in.weight"] = (h + "mlp.c_fc.weight", lambda x: x, "mlp.c_fc.weight  ([in,out], not transposed)")
        sd[b + "mlp.in.bias"] = (h + "mlp.c_fc.bias", lambda x: x, "mlp.c_fc.bias")
        sd[b + "mlp.out.weight"] = (h + "mlp.c_proj.weight", lambda x: x,
                                    "mlp.c_proj.weight  ([in,out], not transposed)")
        sd[b + "mlp.out.bias"] = (h + "mlp.c_proj.bias", lambda x: x, "mlp.c_proj.bias")
        gp[b + "mlp.W_in"] = sd[b + "mlp.in.weight"]
        gp[b + "mlp.b_in"] = sd[b + "mlp.in.bias"]
        gp[b + "mlp.W_out"] = sd[b + "mlp.out.weight"]
        gp[b + "mlp.b_out"] = sd[b + "mlp.out.bias"]
        for i in (1, 2):
            for w, tw in (("weight", "w"), ("bias", "b")):
                sd[b + f"ln{i}.{w}"] = (h + f"ln_{i}.{w}", lambda x: x, f"ln_{i}.{w}")
                gp[b + f"ln{i}.{tw}"] = sd[b + f"ln{i}.{w}"]
    for w, tw in (("weight", "w"), ("bias", "b")):
        sd[f"ln_final.{w}"] = (f"transformer.ln_f.{w}", lambda x: x, f"ln_f.{w}")
        gp[f"ln_final.{tw}"] = sd[f"ln_final.{w}"]
    # tied: the unembedding is wte itself; GPT-2 has no lm_head bias, TL4 shows zeros
    sd["unembed.weight"] = ("transformer.wte.weight", lambda x: x, "wte.weight (tied: same storage as embed.weight)")
    gp["unembed.W_U"] = ("transformer.wte.weight", lambda x: x.T, "wte.weight.T (tied)")
    zero = (None, lambda x: torch.zeros(V), "zeros [d_vocab] (not a parameter: GPT-2 has no lm_head bias)")
    sd["unembed.bias"] = zero
    gp["unembed.b_U"] = zero
    return sd, gp


TL4_NOT_PARAMS = ("unembed.weight", "unembed.bias", "unembed.W_U", "unembed.b_U")


def build_tl4(seed=107):
    from transformer_lens.model_bridge import TransformerBridge
    name = "tl4"
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    cfg = cfg_gpt2(vocab=32, d_mlp=8)  # d_mlp != d_model: mlp weight orientation shows in the shapes
    cfg._attn_implementation = "eager"
    model = GPT2LMHeadModel(cfg).to(torch.float32).eval()
    randomize(model, gen)
    # the bridge rewires the module it is given (splits c_attn into q/k/v
    # views, wraps every submodule): hand it a copy, keep the original
    hf = copy.deepcopy(model)
    tmp = os.path.join(d, "_hf")
    save_checkpoint(model, tmp, None)   # boot needs a name; nothing is downloaded
    bridge = TransformerBridge.boot_transformers(tmp, hf_model=hf, device="cpu", dtype=torch.float32)
    bridge.eval()
    D, H, E, V = cfg.n_embd, cfg.n_head, cfg.n_embd // cfg.n_head, cfg.vocab_size
    sd_map, gp_map = tl4_maps(model, D, H, E, V)
    hfp = dict(model.named_parameters())
    sd = bridge.state_dict()
    gp = bridge.get_params()
    assert isinstance(gp, dict)
    assert list(sd) == list(sd_map) or sorted(sd) == sorted(sd_map), sorted(set(sd) ^ set(sd_map))
    assert sorted(gp) == sorted(gp_map), sorted(set(gp) ^ set(gp_map))
    for tab, ref in ((sd, sd_map), (gp, gp_map)):
        for n, v in tab.items():
            src, f, _ = ref[n]
            want = f(hfp[src].detach()) if src else f(None)
            assert v.dtype == torch.float32 and tuple(v.shape) == tuple(want.shape), (n, v.shape, want.shape)
            assert torch.equal(v, want), n
    # the bridge computes the HF model's loss (float32, same weights)
    tokens = tokens_for(V, gen)
    with torch.no_grad():
        lb = bridge(tokens, return_type="loss", loss_per_token=True)
        lh = model(tokens, labels=tokens).loss
        lb_mean = bridge(tokens, return_type="loss")
    assert abs(lb_mean.item() - lh.item()) < 1e-5, (lb_mean.item(), lh.item())
    assert tuple(lb.shape) == (S, T - 1), lb.shape

    save_file({n: v.detach().clone().contiguous() for n, v in sd.items()},
              os.path.join(d, "state_dict.safetensors"))
    save_file({n: v.detach().clone().contiguous() for n, v in gp.items()},
              os.path.join(d, "get_params.safetensors"))
    hfcfg = json.load(open(os.path.join(tmp, "config.json")))
    json.dump(hfcfg, open(os.path.join(d, "hf_config.json"), "w"), indent=2, sort_keys=True)
    shutil.rmtree(tmp)

    m64 = copy.deepcopy(model).to(torch.float64).eval()
    float64_internals(m64)
    r = references(m64, tokens, gen)
    # per-token losses of the bridge (float32) agree with the float64 references
    assert (lb.reshape(-1).to(torch.float64) - r["losses"]).abs().max().item() < 1e-5
    rens = []
    for tab in (gp_map, sd_map):
        ren = [(n, src, f) for n, (src, f, _) in tab.items() if n not in TL4_NOT_PARAMS]
        # every parameter element lands in exactly one tensor
        assert sorted({src for _, src, _ in ren}) == sorted(r["params"])
        assert sum(f(r["params"][src]).numel() for _, src, f in ren) == sum(
            p.numel() for p in r["params"].values())
        rens.append(ren)
    write_refs(d, tokens, r, rens[0])
    write_refs(d, tokens, r, rens[1], prefix="sd_")
    return {"name": name, "bridge": type(bridge).__module__ + "." + type(bridge).__name__,
            "sd": [(n, tuple(v.shape), sd_map[n][2]) for n, v in sd.items()],
            "gp": [(n, tuple(v.shape), gp_map[n][2]) for n, v in gp.items()],
            "mean": r["mean"].item(), "P": sum(p.numel() for p in r["params"].values()),
            "cfg": hfcfg, "tlcfg": {k: str(getattr(bridge.cfg, k)) for k in (
                "d_model", "n_heads", "d_head", "d_mlp", "d_vocab", "n_ctx", "act_fn",
                "normalization_type", "eps", "positional_embedding_type", "tie_word_embeddings")}}


# ----------------------------------------------------------------- README

def readme(hf_cases, tl4, sizes):
    import transformer_lens
    from importlib.metadata import version
    L = []
    w = L.append
    w("# Pretrained-layout fixtures (issue 15)\n")
    w("Written by `tests/gen_pretrained_fixtures.py` (never run at test time). Generated with")
    w(f"torch {torch.__version__}, transformers {transformers.__version__}, "
      f"transformer-lens {version('transformer-lens')}, safetensors {version('safetensors')}, "
      f"numpy {np.__version__} (python {sys.version.split()[0]}).\n")
    w("Every case: tiny random config from the real `transformers` class (eager attention, eval),")
    w(f"d_model 16, 2 layers, S = {S} sequences of T = {T} tokens, K = {K} directions. Every unique")
    w(f"parameter redrawn: norm weights 1 + {SCALE} N(0,1), everything else (biases too) {SCALE} N(0,1).")
    w("References in float64 (`from_pretrained(..., dtype=float64)` of the float32 checkpoint) with")
    w("torch.func over `named_parameters()` (unique: a tied lm_head is absent).\n")
    w("Float64 all the way: transformers computes the eager-attention softmax (GPT-NeoX, Llama, Qwen2),")
    w("the RMSNorm (Llama, Qwen2) and the rotary cos/sin in float32 even in a float64 model; for the")
    w("references the generator computes the same formulas in float64 (rotary: inv_freq =")
    w("1/theta^(2j/rotary_dim), angle = position * inv_freq, rotate-half). The float32 model's own outputs")
    w("therefore differ from the references by float32 rounding only. Likewise transformers' own `loss`")
    w("casts the logits to float32 first: it agrees with `mean_loss` to ~1e-7 (checked to 1e-6); the")
    w("same cross-entropy on the float64 logits agrees to 1e-12.\n")
    w("c is computed by forward over reverse per token (jvp of grad l_i, dotted with d_k), not by")
    w("jvp of jvp: torch 2.15's nested forward-mode derivative of F.layer_norm is wrong")
    w("(pytorch/pytorch#196700, open; jvp of jacrev is wrong too), off by ~30% on these models.\n")
    w("## Files of a case directory\n")
    w("| file | content |")
    w("|---|---|")
    w("| `checkpoint/` | exactly what `save_pretrained` wrote (config.json + model.safetensors, or shards + index); float32; generation_config.json dropped |")
    w("| `reference.safetensors` | `tokens` I32 [S,T]; `mask` U8 [S,T] (1 = scored, all but the last position); `losses` F64 [N=S(T-1)] row-major, cross-entropy of logits[s,t] vs tokens[s,t+1]; `mean_loss` F64 [1] (mean of `losses`: the model's own `loss`, in float64); `g` F64 [K,N] = <grad l_i, d_k>; `c` F64 [K,N] = d_k^T H(l_i) d_k |")
    w("| `dir0..dir2.safetensors` | F32 directions, one tensor per unique parameter, checkpoint names and shapes |")
    w("| `grad.safetensors` | F64 gradient of mean_loss, same names/shapes |")
    w("| `hvp0.safetensors` | F64 Hessian(mean_loss) @ dir0, same names/shapes |")
    w("")
    w("Checks done by the generator: mean(losses) = float64 cross-entropy of the module's logits (1e-12)")
    w("and the model's own `loss` (1e-6, float32); grad = autograd `.backward()` of the module (ties")
    w("summed; 1e-12); hvp0 = double backward on the module (1e-11); mean_i g[k][i] = <grad, d_k>;")
    w("mean_i c[0][i] = <d0, hvp0>; g and c against five-point central differences of the float64 losses")
    w("(1e-8 and 1e-6 relative); checkpoint tensors = named_parameters (paired by value).\n")
    w("## Sizes\n")
    w("| case | bytes | parameters | mean_loss |")
    w("|---|---|---|---|")
    for c in hf_cases + ([tl4] if tl4 else []):
        w(f"| {c['name']} | {sizes[c['name']]} | {c['P']} | {c['mean']:.12f} |")
    w(f"| total | {sum(sizes.values())} | | |\n")
    w("## Config notes for importers\n")
    w("transformers 5 writes rotary settings as `rope_parameters` in config.json (`rope_theta`, and for")
    w("GPT-NeoX `partial_rotary_factor`), not the old top-level `rotary_pct` / `rotary_emb_base` /")
    w("`rope_theta` that Pythia's hub config.json files (transformers 4) carry; an importer should read both.\n")
    for c in hf_cases:
        w(f"## {c['name']}: {c['cls']}\n")
        w(c["note"] + "\n")
        keys = ["vocab_size", "hidden_size", "n_embd", "num_hidden_layers", "n_layer", "num_attention_heads",
                "n_head", "num_key_value_heads", "intermediate_size", "n_inner", "hidden_act",
                "activation_function", "use_parallel_residual", "rope_parameters", "rotary_pct",
                "rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "tie_word_embeddings",
                "attention_bias", "mlp_bias", "n_positions", "max_position_embeddings", "dtype", "torch_dtype"]
        kv = ", ".join(f"{k}={json.dumps(c['cfg'][k])}" for k in keys if k in c["cfg"])
        w(f"config.json: {kv}\n")
        w(f"checkpoint files: {', '.join(c['files'])}\n")
        if c["renamed"]:
            w("transformers " + transformers.__version__ + " module parameter names that differ from the file's: " +
              ", ".join(f"`{a}` (file `{b}`)" for a, b in c["renamed"].items()) + ".\n")
        w("| tensor | shape | file |")
        w("|---|---|---|")
        for n, f, s in c["tensors"]:
            w(f"| {n} | {list(s)} | {f} |")
        w("")
    if tl4:
        w("## tl4: TransformerLens 4 TransformerBridge over a tiny GPT-2\n")
        w("Built offline from an in-memory model: `TransformerBridge.boot_transformers(dir, hf_model=model,")
        w("device='cpu')` with HF_HUB_OFFLINE=1 (the `transformer_lens.model_bridge` package; `dir` is a local")
        w("save_pretrained directory only used as the model name; the config is taken from hf_model.config).")
        w("Loading from the directory alone, `TransformerBridge.boot_transformers(dir)`, works offline as well.")
        w("The bridge REWIRES the module it is given (it splits `c_attn` into q/k/v views and wraps every")
        w("submodule, renaming its parameters to `..._original_component...`), so hand it a copy.\n")
        w(f"GPT-2 config: vocab 32, n_positions {T}, n_embd 16, 2 layers, 4 heads (d_head 4), n_inner 8 (unlike d_model, so")
        w("the mlp weights' orientation shows in their shapes), gelu_new, tied. TL4 cfg: " + ", ".join(f"{k}={v}" for k, v in tl4["tlcfg"].items()) + ".\n")
        w("Files:\n")
        w("| file | content |")
        w("|---|---|")
        w("| `state_dict.safetensors` | F32 `bridge.state_dict()` (every entry, cloned; embed.weight and unembed.weight equal, unembed.bias zeros) |")
        w("| `get_params.safetensors` | F32 `bridge.get_params()` (a dict name -> tensor; every entry) |")
        w("| `hf_config.json` | the config.json of the underlying GPT-2 (no weights: they are all in the two files above) |")
        w("| `reference.safetensors` | as in every case |")
        w("| `dir0..dir2`, `grad`, `hvp0` `.safetensors` | per-parameter tensors in **get_params** names and shapes |")
        w("| `sd_dir0..sd_dir2`, `sd_grad`, `sd_hvp0` `.safetensors` | the same tensors in **state_dict** names and shapes |")
        w("")
        w("The per-parameter files carry one tensor per unique parameter of the GPT-2 (its")
        w("named_parameters()): `embed.weight` / `embed.W_E` stands for the tied embedding+unembedding")
        w("(gradient summed over both uses); `unembed.weight`, `unembed.W_U` (same storage as the")
        w("embedding) and `unembed.bias`, `unembed.b_U` (zeros, not a parameter: GPT-2 has no lm_head bias)")
        w("are absent. Neither file says that the unembedding is tied, nor gives n_heads (state_dict),")
        w("act_fn or eps: an importer must take them from options (or see embed == unembed^T).\n")
        w("Every row below is asserted with torch.equal by the generator (D = d_model, H = n_heads,")
        w("E = d_head; HF names without the `transformer.h.{l}.` prefix; Conv1D weights are [in,out]):\n")
        w("| TL4 state_dict() name | shape | = HF GPT-2 tensor |")
        w("|---|---|---|")
        for n, s, desc in tl4["sd"]:
            if n.startswith("blocks.") and not n.startswith("blocks.0."):
                continue
            w(f"| {n} | {list(s)} | {desc} |")
        w("\n(blocks.1 likewise.)\n")
        w("| TL4 get_params() name | shape | = HF GPT-2 tensor |")
        w("|---|---|---|")
        for n, s, desc in tl4["gp"]:
            if n.startswith("blocks.") and not n.startswith("blocks.0."):
                continue
            w(f"| {n} | {list(s)} | {desc} |")
        w("\n(blocks.1 likewise.) get_params() gives the TransformerLens 2/3 names and shapes")
        w("(W_Q [H,D,E], W_O [H,E,D], W_U [D,V], ln `w`/`b`), so the TL 2/3 import applies to it.")
        w("state_dict() mixes conventions: attn q/k/v weights are nn.Linear [out,in] (transposed views")
        w("of column blocks of the Conv1D c_attn weight) while attn o and mlp in/out weights stay Conv1D")
        w("[in,out]; q/k/v/o weights are all [D,D] here, so the names, not the shapes, decide.\n")
    return "\n".join(L) + "\n"


def natural(name):
    return [int(t) if t.isdigit() else t for t in name.replace(".", " . ").split()]


def load_st(path):
    from safetensors.torch import load_file
    return load_file(path)


def ref_numbers(d):
    ref = load_st(os.path.join(d, "reference.safetensors"))
    P = sum(v.numel() for v in load_st(os.path.join(d, "grad.safetensors")).values())
    return ref["mean_loss"].item(), P


def hf_info(name, cls, note):
    """What the README says about a written HF case, read back from disk."""
    d = os.path.join(OUT, name)
    ck = os.path.join(d, "checkpoint")
    tens = checkpoint_tensors(ck)
    m = cls.from_pretrained(ck, dtype=torch.float32)
    renamed = {}
    for n, p in m.named_parameters():
        hit = [k for k, (_, v) in tens.items() if v.shape == p.shape and torch.equal(v, p.detach())]
        assert len(hit) == 1, (n, hit)
        if hit[0] != n:
            renamed[n] = hit[0]
    mean, P = ref_numbers(d)
    return {"name": name, "cls": cls.__name__, "note": note,
            "cfg": json.load(open(os.path.join(ck, "config.json"))),
            "tensors": [(n, tens[n][0], tuple(tens[n][1].shape)) for n in sorted(tens, key=natural)],
            "renamed": renamed, "files": sorted(os.listdir(ck)), "mean": mean, "P": P}


def tl4_info():
    from transformer_lens.model_bridge import TransformerBridge
    d = os.path.join(OUT, "tl4")
    hfcfg = json.load(open(os.path.join(d, "hf_config.json")))
    cfg = GPT2Config.from_dict(hfcfg)
    cfg._attn_implementation = "eager"
    model = GPT2LMHeadModel(cfg).eval()
    tmp = os.path.join(d, "_hf")
    save_checkpoint(model, tmp, None)
    try:
        bridge = TransformerBridge.boot_transformers(tmp, hf_model=copy.deepcopy(model), device="cpu")
    finally:
        shutil.rmtree(tmp)
    D, H = cfg.n_embd, cfg.n_head
    sd_map, gp_map = tl4_maps(model, D, H, D // H, cfg.vocab_size)
    sd = load_st(os.path.join(d, "state_dict.safetensors"))
    gp = load_st(os.path.join(d, "get_params.safetensors"))
    mean, P = ref_numbers(d)
    return {"name": "tl4", "mean": mean, "P": P, "cfg": hfcfg,
            "sd": [(n, tuple(sd[n].shape), sd_map[n][2]) for n in sorted(sd, key=natural)],
            "gp": [(n, tuple(gp[n].shape), gp_map[n][2]) for n in sorted(gp, key=natural)],
            "tlcfg": {k: str(getattr(bridge.cfg, k)) for k in (
                "d_model", "n_heads", "d_head", "d_mlp", "d_vocab", "n_ctx", "act_fn",
                "normalization_type", "eps", "positional_embedding_type", "tie_word_embeddings")}}


def main():
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    os.makedirs(OUT, exist_ok=True)
    args = sys.argv[1:]
    only = None
    if "--only" in args:   # --only gpt2,tl4: rebuild those cases only
        only = set(args[args.index("--only") + 1].split(","))
    if "--readme-only" not in args:
        for name, cls, mkcfg, seed, shard, note in CASES:
            if only is None or name in only:
                info = build_hf(name, cls, mkcfg, seed, shard)
                print(f"{name}: P={info['P']} mean_loss={info['mean']:.6f}", flush=True)
        if only is None or "tl4" in only:
            tl4 = build_tl4()
            print(f"tl4: P={tl4['P']} mean_loss={tl4['mean']:.6f}", flush=True)
    hf_cases = [hf_info(name, cls, note) for name, cls, _, _, _, note in CASES]
    tl4 = tl4_info()
    sizes = {c["name"]: dir_size(os.path.join(OUT, c["name"])) for c in hf_cases + [tl4]}
    for n, s in sizes.items():
        print(f"  {n}: {s} bytes")
    print(f"  total: {sum(sizes.values())} bytes")
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(readme(hf_cases, tl4, sizes))


if __name__ == "__main__":
    main()
