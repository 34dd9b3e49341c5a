#!/usr/bin/env python3
"""Independent check of tests/fixtures/pretrained/: a float64 numpy forward
written from the architectures' definitions (no torch, no transformers; a
20-line safetensors reader) recomputes every case's per-token losses from its
checkpoint (tl4: from get_params.safetensors and from state_dict.safetensors,
read with the README's mapping) and compares them with reference.safetensors;
it also checks that each case's dir/grad/hvp files name and shape exactly the
checkpoint's tensors. Documents the layouts in code the importer can be held
against.

    /work/venv-models/bin/python tests/check_pretrained_fixtures.py   (numpy)
"""
import json
import math
import os
import struct
import sys

import numpy as np

R = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "pretrained")
DT = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "U8": np.uint8}


def st_read(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop("__metadata__", None)
    out = {}
    for k, v in h.items():
        a, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + a:8 + n + e], dtype=DT[v["dtype"]]).reshape(v["shape"])
    return out


def checkpoint(d):
    out = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            out.update(st_read(os.path.join(d, f)))
    if os.path.exists(os.path.join(d, "model.safetensors.index.json")):
        idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))["weight_map"]
        assert sorted(idx) == sorted(out)
    return {k: v.astype(np.float64) for k, v in out.items()}


def ln(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    y = xc / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps) * w
    return y + b if b is not None else y


def rms(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def gelu_new(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1 + np.exp(-x))


def rotary(x, rdim, theta):
    """x [H, T, E]: rotate-half on the first rdim dims of each head."""
    if rdim == 0:
        return x
    T = x.shape[1]
    inv = 1.0 / theta ** (np.arange(0, rdim, 2, dtype=np.float64) / rdim)
    ang = np.arange(T, dtype=np.float64)[:, None] * inv[None]
    cos = np.concatenate([np.cos(ang)] * 2, -1)
    sin = np.concatenate([np.sin(ang)] * 2, -1)
    xr, xp = x[..., :rdim], x[..., rdim:]
    h = rdim // 2
    rot = np.concatenate([-xr[..., h:], xr[..., :h]], -1)
    return np.concatenate([xr * cos + rot * sin, xp], -1)


def attention(q, k, v):
    """q [H,T,E], k/v [Hkv,T,E] (grouped: query head h uses kv head h // (H/Hkv))."""
    H, T, E = q.shape
    rep = H // k.shape[0]
    k = np.repeat(k, rep, axis=0)
    v = np.repeat(v, rep, axis=0)
    s = q @ k.transpose(0, 2, 1) / math.sqrt(E)
    s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
    s = np.exp(s - s.max(-1, keepdims=True))
    s /= s.sum(-1, keepdims=True)
    return (s @ v).transpose(1, 0, 2).reshape(T, H * E)


def heads(x, n):
    T = x.shape[0]
    return x.reshape(T, n, -1).transpose(1, 0, 2)


def losses_of(logits_fn, tokens):
    out = []
    for row in tokens:
        lg = logits_fn(row)
        lg = lg - lg.max(-1, keepdims=True)
        lp = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
        out += [-lp[t, row[t + 1]] for t in range(len(row) - 1)]
    return np.array(out)


def gpt2(W, c):
    D, H, L, eps = c["n_embd"], c["n_head"], c["n_layer"], c["layer_norm_epsilon"]
    act = {"gelu_new": gelu_new, "gelu": gelu}[c["activation_function"]]

    def f(tok):
        x = W["transformer.wte.weight"][tok] + W["transformer.wpe.weight"][:len(tok)]
        for l in range(L):
            p = f"transformer.h.{l}."
            a = ln(x, W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps)
            qkv = a @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]   # Conv1D [in,out]
            q, k, v = (heads(qkv[:, j * D:(j + 1) * D], H) for j in range(3))
            x = x + attention(q, k, v) @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
            a = ln(x, W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps)
            x = x + act(a @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"]) @ W[p + "mlp.c_proj.weight"] \
                + W[p + "mlp.c_proj.bias"]
        x = ln(x, W["transformer.ln_f.weight"], W["transformer.ln_f.bias"], eps)
        return x @ W["transformer.wte.weight"].T          # tied
    return f


def neox(W, c):
    D, H, L, eps = c["hidden_size"], c["num_attention_heads"], c["num_hidden_layers"], c["layer_norm_eps"]
    E = D // H
    rp = c.get("rope_parameters") or {}
    rdim = int(E * rp.get("partial_rotary_factor", c.get("rotary_pct", 1.0)))
    theta = rp.get("rope_theta", c.get("rotary_emb_base", 10000))
    act = {"gelu": gelu, "gelu_new": gelu_new}[c["hidden_act"]]

    def f(tok):
        x = W["gpt_neox.embed_in.weight"][tok]
        T = len(tok)
        for l in range(L):
            p = f"gpt_neox.layers.{l}."
            a = ln(x, W[p + "input_layernorm.weight"], W[p + "input_layernorm.bias"], eps)
            # nn.Linear [out,in]; output laid out per head as [q_h | k_h | v_h], E each
            qkv = (a @ W[p + "attention.query_key_value.weight"].T
                   + W[p + "attention.query_key_value.bias"]).reshape(T, H, 3 * E).transpose(1, 0, 2)
            q, k, v = qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
            q, k = rotary(q, rdim, theta), rotary(k, rdim, theta)
            att = attention(q, k, v) @ W[p + "attention.dense.weight"].T + W[p + "attention.dense.bias"]

            def mlp(y):
                h = act(y @ W[p + "mlp.dense_h_to_4h.weight"].T + W[p + "mlp.dense_h_to_4h.bias"])
                return h @ W[p + "mlp.dense_4h_to_h.weight"].T + W[p + "mlp.dense_4h_to_h.bias"]
            ln2 = (W[p + "post_attention_layernorm.weight"], W[p + "post_attention_layernorm.bias"])
            if c["use_parallel_residual"]:
                x = x + att + mlp(ln(x, *ln2, eps))
            else:
                x = x + att
                x = x + mlp(ln(x, *ln2, eps))
        x = ln(x, W["gpt_neox.final_layer_norm.weight"], W["gpt_neox.final_layer_norm.bias"], eps)
        return x @ W["embed_out.weight"].T
    return f


def llama(W, c):
    D, H, L, eps = c["hidden_size"], c["num_attention_heads"], c["num_hidden_layers"], c["rms_norm_eps"]
    Hkv = c["num_key_value_heads"]
    E = c.get("head_dim") or D // H
    theta = (c.get("rope_parameters") or {}).get("rope_theta", c.get("rope_theta", 10000.0))
    unembed = W["model.embed_tokens.weight"] if c["tie_word_embeddings"] else W["lm_head.weight"]

    def lin(x, name):
        y = x @ W[name + ".weight"].T
        return y + W[name + ".bias"] if name + ".bias" in W else y

    def f(tok):
        x = W["model.embed_tokens.weight"][tok]
        for l in range(L):
            p = f"model.layers.{l}."
            a = rms(x, W[p + "input_layernorm.weight"], eps)
            q = rotary(heads(lin(a, p + "self_attn.q_proj"), H), E, theta)
            k = rotary(heads(lin(a, p + "self_attn.k_proj"), Hkv), E, theta)
            v = heads(lin(a, p + "self_attn.v_proj"), Hkv)
            x = x + lin(attention(q, k, v), p + "self_attn.o_proj")
            a = rms(x, W[p + "post_attention_layernorm.weight"], eps)
            x = x + lin(silu(lin(a, p + "mlp.gate_proj")) * lin(a, p + "mlp.up_proj"), p + "mlp.down_proj")
        return rms(x, W["model.norm.weight"], eps) @ unembed.T
    return f


def tl(W, c, eps=1e-5):
    """TransformerLens 2/3 names and shapes (TL4 get_params)."""
    L = c["n_layer"]

    def f(tok):
        x = W["embed.W_E"][tok] + W["pos_embed.W_pos"][:len(tok)]
        for l in range(L):
            p = f"blocks.{l}."
            a = ln(x, W[p + "ln1.w"], W[p + "ln1.b"], eps)
            q, k, v = (np.einsum("td,hde->hte", a, W[p + f"attn.W_{n}"]) + W[p + f"attn.b_{n}"][:, None]
                       for n in "QKV")
            z = attention(q, k, v)
            H, E = W[p + "attn.W_O"].shape[:2]
            x = x + z @ W[p + "attn.W_O"].reshape(H * E, -1) + W[p + "attn.b_O"]
            a = ln(x, W[p + "ln2.w"], W[p + "ln2.b"], eps)
            x = x + gelu_new(a @ W[p + "mlp.W_in"] + W[p + "mlp.b_in"]) @ W[p + "mlp.W_out"] + W[p + "mlp.b_out"]
        return ln(x, W["ln_final.w"], W["ln_final.b"], eps) @ W["unembed.W_U"] + W["unembed.b_U"]
    return f


def tl4_state_dict_to_tl(S, H):
    """TL4 state_dict() -> TL 2/3 names, as tests/fixtures/pretrained/README.md maps them."""
    W = {"embed.W_E": S["embed.weight"], "pos_embed.W_pos": S["pos_embed.weight"],
         "ln_final.w": S["ln_final.weight"], "ln_final.b": S["ln_final.bias"],
         "unembed.W_U": S["unembed.weight"].T, "unembed.b_U": S["unembed.bias"]}
    l = 0
    while f"blocks.{l}.ln1.weight" in S:
        p = f"blocks.{l}."
        D = S[p + "attn.q.weight"].shape[1]
        E = D // H
        for n in "qkv":   # nn.Linear [out,in]
            W[p + f"attn.W_{n.upper()}"] = S[p + f"attn.{n}.weight"].T.reshape(D, H, E).transpose(1, 0, 2)
            W[p + f"attn.b_{n.upper()}"] = S[p + f"attn.{n}.bias"].reshape(H, E)
        W[p + "attn.W_O"] = S[p + "attn.o.weight"].reshape(H, E, D)   # Conv1D [in,out]
        W[p + "attn.b_O"] = S[p + "attn.o.bias"]
        W[p + "mlp.W_in"], W[p + "mlp.b_in"] = S[p + "mlp.in.weight"], S[p + "mlp.in.bias"]
        W[p + "mlp.W_out"], W[p + "mlp.b_out"] = S[p + "mlp.out.weight"], S[p + "mlp.out.bias"]
        for i in (1, 2):
            W[p + f"ln{i}.w"], W[p + f"ln{i}.b"] = S[p + f"ln{i}.weight"], S[p + f"ln{i}.bias"]
        l += 1
    return W


def check_case(name):
    d = os.path.join(R, name)
    ref = st_read(os.path.join(d, "reference.safetensors"))
    tokens = ref["tokens"].astype(np.int64)
    S, T = tokens.shape
    assert ref["mask"].dtype == np.uint8 and (ref["mask"][:, :-1] == 1).all() and (ref["mask"][:, -1] == 0).all()
    K, N = ref["g"].shape
    assert N == S * (T - 1) and ref["c"].shape == (K, N) and ref["losses"].shape == (N,)
    assert abs(ref["losses"].mean() - ref["mean_loss"][0]) < 1e-12
    runs = []
    if name == "tl4":
        c = json.load(open(os.path.join(d, "hf_config.json")))
        gp = {k: v.astype(np.float64) for k, v in st_read(os.path.join(d, "get_params.safetensors")).items()}
        sd = {k: v.astype(np.float64) for k, v in st_read(os.path.join(d, "state_dict.safetensors")).items()}
        runs += [("get_params", tl(gp, c), gp, ""), ("state_dict", tl(tl4_state_dict_to_tl(sd, c["n_head"]), c),
                                                     sd, "sd_")]
    else:
        W = checkpoint(os.path.join(d, "checkpoint"))
        c = json.load(open(os.path.join(d, "checkpoint", "config.json")))
        arch = c["architectures"][0]
        fn = {"GPT2LMHeadModel": gpt2, "GPTNeoXForCausalLM": neox, "LlamaForCausalLM": llama,
              "Qwen2ForCausalLM": llama}[arch](W, c)
        runs.append((arch, fn, W, ""))
    for label, fn, W, prefix in runs:
        err = np.abs(losses_of(fn, tokens) - ref["losses"]).max()
        assert err < 1e-10, (name, label, err)
        per = {f: st_read(os.path.join(d, f"{prefix}{f}.safetensors"))
               for f in ["grad", "hvp0"] + [f"dir{k}" for k in range(K)]}
        names = set(per["grad"])
        drop = {"unembed.weight", "unembed.bias", "unembed.W_U", "unembed.b_U"}
        assert names == set(W) - drop, (name, label, sorted(names ^ (set(W) - drop)))
        for f, t in per.items():
            assert set(t) == names and all(t[n].shape == W[n].shape for n in names), (name, f)
            assert all(t[n].dtype == (np.float32 if f.startswith("dir") else np.float64) for n in names)
        print(f"{name} ({label}): losses agree to {err:.1e}; {len(names)} tensors, "
              f"{sum(W[n].size for n in names)} parameters")


def main():
    cases = sys.argv[1:] or sorted(x for x in os.listdir(R) if os.path.isdir(os.path.join(R, x)))
    for name in cases:
        check_case(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
