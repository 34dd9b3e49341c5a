#!/usr/bin/env python3
"""Writes the Hugging Face float64 fixtures for tests/test_transformer_arch.c.

Needs torch and transformers (5.x), e.g. a venv:
    /work/venv-models/bin/python tests/gen_transformer_arch_fixtures.py

For each architecture family the real `transformers` class (GPT2LMHeadModel,
GPTNeoXForCausalLM, LlamaForCausalLM, Qwen2ForCausalLM) is evaluated in
float64 on parameters given in OUR layout (TransformerLens names and shapes,
src/transformer.c): a flat float32 vector theta is mapped to the model's
state_dict by reshapes, transposes and concatenations only (`to_hf` below),
and the model runs through torch.func.functional_call, so every derivative is
taken with respect to theta itself (a tied embedding is one tensor there, its
gradient summing both uses). Written into tests/fixtures/transformer_arch/<case>/:

  config.txt  "key value" lines: the polca__tf_config of the case
  names.txt   one "name d0,d1,..." line per tensor of our layout, in order
  theta.npy   float32 [P]; tokens.npy int32 [S, T]; mask.npy uint8 [S, T]
  losses.npy  float64 [N] per scored position (row-major), cross-entropy of
              the model's logits[t] against tokens[t+1]; mean_loss.npy [1]
  grad.npy    float64 [P]; v.npy float32 [P]; hvp.npy float64 [P]
  dirs.npy    float32 [K, P]; g.npy, c.npy float64 [K, N]: g = jvp of the
              losses; c[k][i] = d_k . (jvp of grad(l_i) along d_k), forward
              over reverse per sample as for the HVP. Not jvp of jvp: torch
              2.15's forward-over-forward of F.layer_norm is wrong (c off by
              ~15% on a LayerNorm model; reverse-over-reverse, forward-over-
              reverse and central differences of the jvp agree with each other).

Three dtype-only patches make the models float64 throughout (the formulas
are the library's own lines): the rotary embeddings compute their angles in
float32 (`position_ids.float() * inv_freq.float()`, inv_freq made in
float32), Llama/Qwen2's RMSNorm casts its input to float32, and the eager
attention of GPT-NeoX/Llama/Qwen2 takes its softmax with dtype=float32; each
is replaced by the same computation in float64. Without them the models
agree with a float64 forward only to ~1e-7.
"""
import os
import sys

import numpy as np
import torch
import transformers
from torch.func import functional_call, grad, jvp

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "transformer_arch")
S, T, K = 2, 7, 2  # sequences, positions, directions


def our_layout(c):
    """Our tensors (src/transformer.c's list), names and shapes, in order."""
    D, H, G, E, M, V = c["d_model"], c["n_heads"], c["n_kv_heads"], c["d_head"], c["d_mlp"], c["d_vocab"]
    ln_b = c["norm"] == "layernorm"
    kv = "_" if G < H else ""
    out = [("embed.W_E", (V, D))]
    if c["positions"] == "learned":
        out.append(("pos_embed.W_pos", (c["n_ctx"], D)))
    for l in range(c["n_layers"]):
        b = f"blocks.{l}."
        out.append((b + "ln1.w", (D,)))
        if ln_b:
            out.append((b + "ln1.b", (D,)))
        out += [(b + "attn.W_Q", (H, D, E)), (b + f"attn.{kv}W_K", (G, D, E)),
                (b + f"attn.{kv}W_V", (G, D, E)), (b + "attn.W_O", (H, E, D))]
        if c["qkv_bias"]:
            out += [(b + "attn.b_Q", (H, E)), (b + f"attn.{kv}b_K", (G, E)), (b + f"attn.{kv}b_V", (G, E))]
        if c["out_bias"]:
            out.append((b + "attn.b_O", (D,)))
        out.append((b + "ln2.w", (D,)))
        if ln_b:
            out.append((b + "ln2.b", (D,)))
        out.append((b + "mlp.W_in", (D, M)))
        if c["mlp_gated"]:
            out.append((b + "mlp.W_gate", (D, M)))
        if c["mlp_bias"]:
            out.append((b + "mlp.b_in", (M,)))
        out.append((b + "mlp.W_out", (M, D)))
        if c["mlp_bias"]:
            out.append((b + "mlp.b_out", (D,)))
    out.append(("ln_final.w", (D,)))
    if ln_b:
        out.append(("ln_final.b", (D,)))
    if not c["tied_embeddings"]:
        out.append(("unembed.W_U", (D, V)))
    if c["unembed_bias"]:
        out.append(("unembed.b_U", (V,)))
    return out


def unflatten(theta, layout):
    out, at = {}, 0
    for name, shape in layout:
        n = int(np.prod(shape))
        out[name] = theta[at:at + n].reshape(shape)
        at += n
    assert at == theta.numel()
    return out


def rows(w):
    """[heads, D, E] -> a Linear weight [heads * E, D]."""
    return w.permute(0, 2, 1).reshape(-1, w.shape[1])


def to_hf(family, c, p):
    """Our tensors p (by name) -> the family's state_dict (no arithmetic)."""
    sd = {}
    H, E, D = c["n_heads"], c["d_head"], c["d_model"]
    kv = "_" if c["n_kv_heads"] < H else ""
    for l in range(c["n_layers"]):
        b = lambda s: p[f"blocks.{l}.{s}"]
        WQ, WK, WV, WO = b("attn.W_Q"), b(f"attn.{kv}W_K"), b(f"attn.{kv}W_V"), b("attn.W_O")
        if family == "gpt2":
            h = f"transformer.h.{l}."
            cols = lambda w: w.permute(1, 0, 2).reshape(D, -1)  # [H, D, E] -> Conv1D [D, H*E]
            sd[h + "ln_1.weight"], sd[h + "ln_1.bias"] = b("ln1.w"), b("ln1.b")
            sd[h + "attn.c_attn.weight"] = torch.cat([cols(WQ), cols(WK), cols(WV)], 1)
            sd[h + "attn.c_attn.bias"] = torch.cat([b("attn.b_Q").reshape(-1), b("attn.b_K").reshape(-1),
                                                    b("attn.b_V").reshape(-1)])
            sd[h + "attn.c_proj.weight"], sd[h + "attn.c_proj.bias"] = WO.reshape(H * E, D), b("attn.b_O")
            sd[h + "ln_2.weight"], sd[h + "ln_2.bias"] = b("ln2.w"), b("ln2.b")
            sd[h + "mlp.c_fc.weight"], sd[h + "mlp.c_fc.bias"] = b("mlp.W_in"), b("mlp.b_in")
            sd[h + "mlp.c_proj.weight"], sd[h + "mlp.c_proj.bias"] = b("mlp.W_out"), b("mlp.b_out")
        elif family == "neox":
            h = f"gpt_neox.layers.{l}."
            sd[h + "input_layernorm.weight"], sd[h + "input_layernorm.bias"] = b("ln1.w"), b("ln1.b")
            sd[h + "post_attention_layernorm.weight"] = b("ln2.w")
            sd[h + "post_attention_layernorm.bias"] = b("ln2.b")
            # fused rows: head h, then q | k | v, then e
            sd[h + "attention.query_key_value.weight"] = \
                torch.stack([WQ, WK, WV], 1).permute(0, 1, 3, 2).reshape(3 * H * E, D)
            sd[h + "attention.query_key_value.bias"] = \
                torch.stack([b("attn.b_Q"), b("attn.b_K"), b("attn.b_V")], 1).reshape(-1)
            sd[h + "attention.dense.weight"] = WO.reshape(H * E, D).T
            sd[h + "attention.dense.bias"] = b("attn.b_O")
            sd[h + "mlp.dense_h_to_4h.weight"], sd[h + "mlp.dense_h_to_4h.bias"] = b("mlp.W_in").T, b("mlp.b_in")
            sd[h + "mlp.dense_4h_to_h.weight"], sd[h + "mlp.dense_4h_to_h.bias"] = b("mlp.W_out").T, b("mlp.b_out")
        else:  # llama, qwen2
            h = f"model.layers.{l}."
            sd[h + "input_layernorm.weight"] = b("ln1.w")
            sd[h + "post_attention_layernorm.weight"] = b("ln2.w")
            sd[h + "self_attn.q_proj.weight"] = rows(WQ)
            sd[h + "self_attn.k_proj.weight"] = rows(WK)
            sd[h + "self_attn.v_proj.weight"] = rows(WV)
            sd[h + "self_attn.o_proj.weight"] = WO.reshape(H * E, D).T
            if c["qkv_bias"]:
                sd[h + "self_attn.q_proj.bias"] = b("attn.b_Q").reshape(-1)
                sd[h + "self_attn.k_proj.bias"] = b(f"attn.{kv}b_K").reshape(-1)
                sd[h + "self_attn.v_proj.bias"] = b(f"attn.{kv}b_V").reshape(-1)
            sd[h + "mlp.gate_proj.weight"] = b("mlp.W_gate").T
            sd[h + "mlp.up_proj.weight"] = b("mlp.W_in").T
            sd[h + "mlp.down_proj.weight"] = b("mlp.W_out").T
    WE = p["embed.W_E"]
    WU = WE if c["tied_embeddings"] else p["unembed.W_U"].T
    if family == "gpt2":
        sd["transformer.wte.weight"], sd["transformer.wpe.weight"] = WE, p["pos_embed.W_pos"]
        sd["transformer.ln_f.weight"], sd["transformer.ln_f.bias"] = p["ln_final.w"], p["ln_final.b"]
    elif family == "neox":
        sd["gpt_neox.embed_in.weight"] = WE
        sd["gpt_neox.final_layer_norm.weight"] = p["ln_final.w"]
        sd["gpt_neox.final_layer_norm.bias"] = p["ln_final.b"]
    else:
        sd["model.embed_tokens.weight"], sd["model.norm.weight"] = WE, p["ln_final.w"]
    sd["lm_head.weight"] = WU  # GPT-NeoX's embed_out, named lm_head by transformers 5
    return sd


_softmax = torch.nn.functional.softmax


def _softmax_keep_float64(input, dim=None, _stacklevel=3, dtype=None):
    """The eager attentions' softmax(..., dtype=torch.float32), kept in float64."""
    if dtype is not None and input.dtype == torch.float64:
        dtype = None
    return _softmax(input, dim=dim, _stacklevel=_stacklevel, dtype=dtype)


torch.nn.functional.softmax = _softmax_keep_float64


def float64_patches(model, theta_base, rot_dim):
    """Rotary angles and RMSNorm in float64 (see the module docstring)."""
    for mod in model.modules():
        name = type(mod).__name__
        if name.endswith("RotaryEmbedding"):
            inv = 1.0 / (theta_base ** (torch.arange(0, rot_dim, 2, dtype=torch.float64) / rot_dim))

            def fwd(x, position_ids, inv=inv):
                freqs = position_ids[..., None].to(torch.float64) * inv
                emb = torch.cat((freqs, freqs), dim=-1)
                return emb.cos().to(x.dtype), emb.sin().to(x.dtype)

            mod.forward = fwd
        elif name.endswith("RMSNorm"):
            def fwd(h, mod=mod):
                var = h.pow(2).mean(-1, keepdim=True)
                return mod.weight * (h * torch.rsqrt(var + mod.variance_epsilon))

            mod.forward = fwd


def f32(x):
    """A double that a float32 holds: our configs keep eps and theta as float."""
    return float(np.float32(x))


CASES = {
    # GPT-2: tied, learned positions, gelu_new, LayerNorm, lm_head without bias
    "gpt2": ("gpt2", dict(n_layers=2, d_model=8, n_heads=2, d_head=4, d_mlp=12, d_vocab=11,
                          n_ctx=T, act_fn="gelu_new", n_kv_heads=2, norm="layernorm", norm_eps=f32(1e-5),
                          positions="learned", rotary_dim=0, rope_theta=10000.0, qkv_bias=1,
                          out_bias=1, mlp_bias=1, mlp_gated=0, parallel_residual=0,
                          tied_embeddings=1, unembed_bias=0)),
    # Pythia: rotary on a quarter of each head, parallel residual, untied embed_out
    "neox": ("neox", dict(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=12, d_vocab=11,
                          n_ctx=T, act_fn="gelu", n_kv_heads=2, norm="layernorm", norm_eps=f32(1e-5),
                          positions="rotary", rotary_dim=2, rope_theta=10000.0, qkv_bias=1,
                          out_bias=1, mlp_bias=1, mlp_gated=0, parallel_residual=1,
                          tied_embeddings=0, unembed_bias=0)),
    # GPT-NeoX sequential, rotary on the whole head (small base: every pair turns)
    "neox_seq": ("neox", dict(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=12, d_vocab=11,
                              n_ctx=T, act_fn="gelu", n_kv_heads=2, norm="layernorm", norm_eps=f32(1e-5),
                              positions="rotary", rotary_dim=8, rope_theta=50.0, qkv_bias=1,
                              out_bias=1, mlp_bias=1, mlp_gated=0, parallel_residual=0,
                              tied_embeddings=0, unembed_bias=0)),
    # Llama: GQA 4/2, RMSNorm 1e-6, rotary, SwiGLU, no biases; untied and tied
    "llama": ("llama", dict(n_layers=2, d_model=8, n_heads=4, d_head=4, d_mlp=8, d_vocab=11,
                            n_ctx=T, act_fn="silu", n_kv_heads=2, norm="rmsnorm", norm_eps=f32(1e-6),
                            positions="rotary", rotary_dim=4, rope_theta=100.0, qkv_bias=0,
                            out_bias=0, mlp_bias=0, mlp_gated=1, parallel_residual=0,
                            tied_embeddings=0, unembed_bias=0)),
    "llama_tied": ("llama", dict(n_layers=2, d_model=8, n_heads=4, d_head=4, d_mlp=8, d_vocab=11,
                                 n_ctx=T, act_fn="silu", n_kv_heads=1, norm="rmsnorm",
                                 norm_eps=f32(1e-5), positions="rotary", rotary_dim=4,
                                 rope_theta=10000.0, qkv_bias=0, out_bias=0, mlp_bias=0,
                                 mlp_gated=1, parallel_residual=0, tied_embeddings=1,
                                 unembed_bias=0)),
    # Qwen2: Llama with a q/k/v bias
    "qwen2": ("qwen2", dict(n_layers=2, d_model=8, n_heads=4, d_head=4, d_mlp=8, d_vocab=11,
                            n_ctx=T, act_fn="silu", n_kv_heads=2, norm="rmsnorm", norm_eps=f32(1e-6),
                            positions="rotary", rotary_dim=4, rope_theta=1000000.0, qkv_bias=1,
                            out_bias=0, mlp_bias=0, mlp_gated=1, parallel_residual=0,
                            tied_embeddings=0, unembed_bias=0)),
}


def hf_model(family, c):
    common = dict(vocab_size=c["d_vocab"], tie_word_embeddings=bool(c["tied_embeddings"]),
                  bos_token_id=None, eos_token_id=None, pad_token_id=None)
    if family == "gpt2":
        cfg = transformers.GPT2Config(n_positions=c["n_ctx"], n_embd=c["d_model"], n_layer=c["n_layers"],
                                      n_head=c["n_heads"], n_inner=c["d_mlp"],
                                      activation_function=c["act_fn"], resid_pdrop=0.0, embd_pdrop=0.0,
                                      attn_pdrop=0.0, layer_norm_epsilon=c["norm_eps"], **common)
        cls = transformers.GPT2LMHeadModel
    elif family == "neox":
        cfg = transformers.GPTNeoXConfig(hidden_size=c["d_model"], num_hidden_layers=c["n_layers"],
                                         num_attention_heads=c["n_heads"], intermediate_size=c["d_mlp"],
                                         hidden_act=c["act_fn"], max_position_embeddings=c["n_ctx"],
                                         layer_norm_eps=c["norm_eps"],
                                         rotary_pct=c["rotary_dim"] / c["d_head"],
                                         rotary_emb_base=c["rope_theta"],
                                         use_parallel_residual=bool(c["parallel_residual"]),
                                         attention_bias=True, **common)
        cls = transformers.GPTNeoXForCausalLM
    else:
        kw = dict(hidden_size=c["d_model"], intermediate_size=c["d_mlp"], num_hidden_layers=c["n_layers"],
                  num_attention_heads=c["n_heads"], num_key_value_heads=c["n_kv_heads"],
                  head_dim=c["d_head"], hidden_act=c["act_fn"], max_position_embeddings=c["n_ctx"],
                  rms_norm_eps=c["norm_eps"],
                  rope_parameters={"rope_type": "default", "rope_theta": c["rope_theta"]}, **common)
        if family == "llama":
            cfg, cls = transformers.LlamaConfig(attention_bias=False, mlp_bias=False, **kw), \
                transformers.LlamaForCausalLM
        else:
            cfg, cls = transformers.Qwen2Config(**kw), transformers.Qwen2ForCausalLM
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    model = cls(cfg).double().eval()
    if c["positions"] == "rotary":
        float64_patches(model, c["rope_theta"], c["rotary_dim"])
    else:
        float64_patches(model, 1.0, 2)  # RMSNorm only (no rotary module)
    return model


def write_case(name, family, c, seed):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    layout = our_layout(c)
    model = hf_model(family, c)
    hf_names = set(k for k, _ in model.named_parameters())
    rng = np.random.default_rng(seed)
    P = sum(int(np.prod(s)) for _, s in layout)
    theta32 = (rng.standard_normal(P) * 0.4).astype(np.float32)
    at = 0
    for nm, s in layout:  # norm weights near 1
        n = int(np.prod(s))
        if nm.endswith("ln1.w") or nm.endswith("ln2.w") or nm == "ln_final.w":
            theta32[at:at + n] = (1.0 + 0.2 * rng.standard_normal(n)).astype(np.float32)
        at += n
    tokens = rng.integers(0, c["d_vocab"], size=(S, T)).astype(np.int32)
    mask = np.zeros((S, T), np.uint8)
    mask[:, :-1] = rng.random((S, T - 1)) < 0.8
    mask[:, 0] = 1
    theta = torch.tensor(theta32.tolist(), dtype=torch.float64)
    tok = torch.tensor(tokens.tolist(), dtype=torch.long)
    sel = torch.tensor(mask.tolist(), dtype=torch.bool)
    targets = torch.roll(tok, -1, 1)

    sd0 = to_hf(family, c, unflatten(theta, layout))
    missing = hf_names - set(sd0)
    assert not missing, f"{name}: parameters not mapped: {sorted(missing)}"

    def losses(th):
        sd = to_hf(family, c, unflatten(th, layout))
        logits = functional_call(model, sd, (tok,), strict=False, tie_weights=False).logits
        lp = torch.log_softmax(logits, -1)
        nll = -lp.gather(-1, targets[..., None])[..., 0]
        return nll[sel]  # row-major scored positions

    def mean_loss(th):
        return losses(th).mean()

    l0 = losses(theta)
    # the model's own loss agrees (labels shift inside; all positions scored;
    # its ForCausalLMLoss casts the logits to float32, hence 1e-6)
    full = functional_call(model, sd0, (tok,), {"labels": tok}, strict=False, tie_weights=False).loss
    mine = -torch.log_softmax(functional_call(model, sd0, (tok,), strict=False, tie_weights=False).logits,
                              -1)[:, :-1].gather(-1, tok[:, 1:, None]).mean()
    assert abs(float(full) - float(mine)) < 1e-6 * float(mine), (float(full), float(mine))
    g_mean = grad(mean_loss)(theta)
    v32 = (rng.standard_normal(P)).astype(np.float32)
    v = torch.tensor(v32.tolist())
    _, hv = jvp(grad(mean_loss), (theta,), (v,))
    dirs32 = rng.standard_normal((K, P)).astype(np.float32)
    gs, cs = [], []
    n = int(l0.numel())
    for k in range(K):
        dk = torch.tensor(dirs32[k].tolist())
        gs.append(jvp(losses, (theta,), (dk,))[1].tolist())
        cs.append([float(torch.dot(jvp(grad(lambda th, i=i: losses(th)[i]), (theta,), (dk,))[1], dk))
                   for i in range(n)])
    with open(os.path.join(d, "config.txt"), "w") as f:
        for k_, v_ in c.items():
            f.write(f"{k_} {v_!r}\n" if isinstance(v_, float) else f"{k_} {v_}\n")
    with open(os.path.join(d, "names.txt"), "w") as f:
        for nm, s in layout:
            f.write(f"{nm} {','.join(str(x) for x in s)}\n")
    np.save(os.path.join(d, "theta.npy"), theta32)
    np.save(os.path.join(d, "tokens.npy"), tokens)
    np.save(os.path.join(d, "mask.npy"), mask)
    np.save(os.path.join(d, "losses.npy"), np.array(l0.tolist(), np.float64))
    np.save(os.path.join(d, "mean_loss.npy"), np.array([float(l0.mean())], np.float64))
    np.save(os.path.join(d, "grad.npy"), np.array(g_mean.tolist(), np.float64))
    np.save(os.path.join(d, "v.npy"), v32)
    np.save(os.path.join(d, "hvp.npy"), np.array(hv.tolist(), np.float64))
    np.save(os.path.join(d, "dirs.npy"), dirs32)
    np.save(os.path.join(d, "g.npy"), np.array(gs, np.float64))
    np.save(os.path.join(d, "c.npy"), np.array(cs, np.float64))
    print(f"{name}: {family}, P = {P}, N = {l0.numel()}, mean loss {float(l0.mean()):.6f}")


def main():
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    for i, (name, (family, c)) in enumerate(CASES.items()):
        if len(sys.argv) > 1 and name not in sys.argv[1:]:
            continue
        write_case(name, family, c, 1000 + i)


if __name__ == "__main__":
    main()
