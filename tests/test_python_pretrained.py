"""Model.from_pretrained / load_pretrained / save_pretrained on the committed
fixtures (tests/fixtures/pretrained): every tensor the converter puts in
the built-in layout equals, bit for bit, the one this file computes from
the checkpoint with its own numpy reader and numpy reshapes and transposes
(written from the source models' definitions, not from libpolca's maps);
save_pretrained writes the checkpoint's tensors back unchanged (sharded
and tied cases included). numpy only, no torch."""
import json
import os
import struct

from pyharness import ROOT, Skip, expect_error, run, skip_if_sanitized, test, tmpdir

skip_if_sanitized()

import numpy as np  # noqa: E402
import polca  # noqa: E402
from polca.model import Model  # noqa: E402

FIX = os.path.join(ROOT, "tests", "fixtures", "pretrained")
DT = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "U8": np.uint8, "I64": np.int64}


def read_st(path):
    """{name: array} of a safetensors file (this file's own reader)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        head = json.loads(f.read(n))
        data = f.read()
    head.pop("__metadata__", None)
    out = {}
    for name, e in head.items():
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=DT[e["dtype"]]).reshape(e["shape"])
    return out


def read_checkpoint(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        shards = sorted(set(json.load(open(idx))["weight_map"].values()))
        out = {}
        for s in shards:
            out.update(read_st(os.path.join(d, s)))
        return out, len(shards)
    return read_st(os.path.join(d, "model.safetensors")), 1


def blocks(t, prefix):
    return 1 + max(int(k[len(prefix):].split(".")[0]) for k in t if k.startswith(prefix))


def expected_gpt2(t, cfg):
    """GPT2LMHeadModel: Conv1D weights are [in, out] (y = x W + b); c_attn's
    output columns are q | k | v, each heads-major (h, e)."""
    p = "transformer."
    D, H = cfg["n_embd"], cfg["n_head"]
    E = D // H
    out = {"embed.W_E": t[p + "wte.weight"], "pos_embed.W_pos": t[p + "wpe.weight"]}
    for l in range(blocks(t, p + "h.")):
        h, b = f"{p}h.{l}.", f"blocks.{l}."
        w = t[h + "attn.c_attn.weight"].reshape(D, 3, H, E)
        bias = t[h + "attn.c_attn.bias"].reshape(3, H, E)
        for j, q in enumerate("QKV"):
            out[b + f"attn.W_{q}"] = w[:, j].transpose(1, 0, 2)  # [H, D, E]
            out[b + f"attn.b_{q}"] = bias[j]
        out[b + "attn.W_O"] = t[h + "attn.c_proj.weight"].reshape(H, E, D)
        out[b + "attn.b_O"] = t[h + "attn.c_proj.bias"]
        for i in (1, 2):
            out[b + f"ln{i}.w"] = t[h + f"ln_{i}.weight"]
            out[b + f"ln{i}.b"] = t[h + f"ln_{i}.bias"]
        out[b + "mlp.W_in"] = t[h + "mlp.c_fc.weight"]
        out[b + "mlp.b_in"] = t[h + "mlp.c_fc.bias"]
        out[b + "mlp.W_out"] = t[h + "mlp.c_proj.weight"]
        out[b + "mlp.b_out"] = t[h + "mlp.c_proj.bias"]
    out["ln_final.w"], out["ln_final.b"] = t[p + "ln_f.weight"], t[p + "ln_f.bias"]
    if not cfg.get("tie_word_embeddings", True):
        out["unembed.W_U"] = t["lm_head.weight"].T
    return out


def expected_neox(t, cfg):
    """GPTNeoXForCausalLM: nn.Linear weights are [out, in]; query_key_value's
    output rows are laid out [H, 3, E] (per head: q, k, v)."""
    p = "gpt_neox."
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    E = D // H
    out = {"embed.W_E": t[p + "embed_in.weight"]}
    for l in range(blocks(t, p + "layers.")):
        h, b = f"{p}layers.{l}.", f"blocks.{l}."
        w = t[h + "attention.query_key_value.weight"].reshape(H, 3, E, D)
        bias = t[h + "attention.query_key_value.bias"].reshape(H, 3, E)
        for j, q in enumerate("QKV"):
            out[b + f"attn.W_{q}"] = w[:, j].transpose(0, 2, 1)  # [H, D, E]
            out[b + f"attn.b_{q}"] = bias[:, j]
        out[b + "attn.W_O"] = t[h + "attention.dense.weight"].T.reshape(H, E, D)
        out[b + "attn.b_O"] = t[h + "attention.dense.bias"]
        out[b + "ln1.w"], out[b + "ln1.b"] = t[h + "input_layernorm.weight"], t[h + "input_layernorm.bias"]
        out[b + "ln2.w"] = t[h + "post_attention_layernorm.weight"]
        out[b + "ln2.b"] = t[h + "post_attention_layernorm.bias"]
        out[b + "mlp.W_in"] = t[h + "mlp.dense_h_to_4h.weight"].T
        out[b + "mlp.b_in"] = t[h + "mlp.dense_h_to_4h.bias"]
        out[b + "mlp.W_out"] = t[h + "mlp.dense_4h_to_h.weight"].T
        out[b + "mlp.b_out"] = t[h + "mlp.dense_4h_to_h.bias"]
    out["ln_final.w"] = t[p + "final_layer_norm.weight"]
    out["ln_final.b"] = t[p + "final_layer_norm.bias"]
    out["unembed.W_U"] = t["embed_out.weight"].T
    return out


def expected_llama(t, cfg):
    """LlamaForCausalLM / Qwen2ForCausalLM: nn.Linear [out, in]; q_proj rows
    are (h, e); k_proj and v_proj have num_key_value_heads heads."""
    p = "model."
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    G = cfg.get("num_key_value_heads", H)
    E = cfg.get("head_dim") or D // H
    kv = "_" if G < H else ""
    out = {"embed.W_E": t[p + "embed_tokens.weight"]}
    for l in range(blocks(t, p + "layers.")):
        h, b = f"{p}layers.{l}.", f"blocks.{l}."
        for q, heads, pre in (("q", H, ""), ("k", G, kv), ("v", G, kv)):
            w = t[h + f"self_attn.{q}_proj.weight"].reshape(heads, E, D)
            out[b + f"attn.{pre}W_{q.upper()}"] = w.transpose(0, 2, 1)
            if h + f"self_attn.{q}_proj.bias" in t:
                out[b + f"attn.{pre}b_{q.upper()}"] = t[h + f"self_attn.{q}_proj.bias"].reshape(heads, E)
        out[b + "attn.W_O"] = t[h + "self_attn.o_proj.weight"].T.reshape(H, E, D)
        out[b + "ln1.w"] = t[h + "input_layernorm.weight"]
        out[b + "ln2.w"] = t[h + "post_attention_layernorm.weight"]
        out[b + "mlp.W_gate"] = t[h + "mlp.gate_proj.weight"].T
        out[b + "mlp.W_in"] = t[h + "mlp.up_proj.weight"].T
        out[b + "mlp.W_out"] = t[h + "mlp.down_proj.weight"].T
    out["ln_final.w"] = t[p + "norm.weight"]
    if "lm_head.weight" in t:
        out["unembed.W_U"] = t["lm_head.weight"].T
    return out


def expected_tl4(t, cfg):
    """TransformerBridge.state_dict() over GPT-2: attention q/k/v as
    nn.Linear [out, in], o and MLP in/out as GPT-2's Conv1D [in, out]; the tied
    unembed.weight (a copy of embed.weight) and the zero unembed.bias are no
    parameters."""
    D, H = t["embed.weight"].shape[1], cfg["n_head"]
    E = D // H
    out = {"embed.W_E": t["embed.weight"], "pos_embed.W_pos": t["pos_embed.weight"]}
    for l in range(blocks(t, "blocks.")):
        b = f"blocks.{l}."
        for q in "qkv":
            out[b + f"attn.W_{q.upper()}"] = t[b + f"attn.{q}.weight"].reshape(H, E, D).transpose(0, 2, 1)
            out[b + f"attn.b_{q.upper()}"] = t[b + f"attn.{q}.bias"].reshape(H, E)
        out[b + "attn.W_O"] = t[b + "attn.o.weight"].reshape(H, E, D)
        out[b + "attn.b_O"] = t[b + "attn.o.bias"]
        for i in (1, 2):
            out[b + f"ln{i}.w"], out[b + f"ln{i}.b"] = t[b + f"ln{i}.weight"], t[b + f"ln{i}.bias"]
        out[b + "mlp.W_in"], out[b + "mlp.b_in"] = t[b + "mlp.in.weight"], t[b + "mlp.in.bias"]
        out[b + "mlp.W_out"], out[b + "mlp.b_out"] = t[b + "mlp.out.weight"], t[b + "mlp.out.bias"]
    out["ln_final.w"], out["ln_final.b"] = t["ln_final.weight"], t["ln_final.bias"]
    return out


CASES = [("gpt2", expected_gpt2, "gpt2"), ("neox", expected_neox, "gpt_neox"),
         ("neox_seq", expected_neox, "gpt_neox"), ("llama", expected_llama, "llama"),
         ("llama_tied", expected_llama, "llama"), ("qwen2", expected_llama, "qwen2")]

IGNORED = ("attn.bias", "attn.masked_bias", "rotary_emb.inv_freq", "unembed.weight",
           "unembed.bias", "unembed.W_U", "unembed.b_U")


def need_fixtures():
    if not os.path.exists(os.path.join(FIX, "gpt2", "reference.safetensors")):
        raise Skip("tests/fixtures/pretrained is not here")


def compare(model, theta, want, what):
    got = model.unflatten(theta)
    assert sorted(got) == sorted(want), f"{what}: names {sorted(set(got) ^ set(want))}"
    for name, w in want.items():
        g = got[name]
        assert g.shape == w.shape, f"{what}: {name} shape {g.shape} vs {w.shape}"
        assert np.array_equal(g.view(np.uint32), np.ascontiguousarray(w).view(np.uint32)), \
            f"{what}: {name} differs"


def same_files(written, source, what):
    w = read_st(written)
    src = {k: v for k, v in source.items()
           if not any(k == s or k.endswith("." + s) for s in IGNORED)}
    assert sorted(w) == sorted(src), f"{what}: names {sorted(set(w) ^ set(src))}"
    for k in w:
        assert w[k].shape == src[k].shape and np.array_equal(w[k].view(np.uint32),
                                                             src[k].view(np.uint32)), f"{what}: {k}"


@test
def hugging_face_layouts_convert_exactly():
    need_fixtures()
    ctx = polca.Context(backend="cpu")
    out = tmpdir()
    for name, expected, fmt in CASES:
        d = os.path.join(FIX, name, "checkpoint")
        cfg = json.load(open(os.path.join(d, "config.json")))
        tensors, n_files = read_checkpoint(d)
        if name == "llama_tied":
            assert n_files > 1, "llama_tied is saved sharded"
        m = Model.from_pretrained(ctx, d)
        assert m.source_format == fmt, (name, m.source_format)
        theta = m.load_pretrained(d)
        compare(m, theta, expected(tensors, cfg), name)
        path = os.path.join(out, name + ".safetensors")
        m.save_pretrained(path, theta)
        same_files(path, tensors, name)
        # a direction: checkpoint names and shapes, one tensor per parameter
        for k in range(3):
            dk = os.path.join(FIX, name, f"dir{k}.safetensors")
            m.save_pretrained(path, m.load_pretrained(dk))
            same_files(path, read_st(dk), f"{name} dir{k}")
        print(f"  {name}: {fmt}, {m.n_params} parameters, {len(tensors)} tensors, "
              f"{n_files} file(s)")


@test
def transformerlens4_state_dict_and_get_params():
    need_fixtures()
    d = os.path.join(FIX, "tl4")
    cfg = json.load(open(os.path.join(d, "hf_config.json")))
    ctx = polca.Context(backend="cpu")
    sd = read_st(os.path.join(d, "state_dict.safetensors"))
    m = Model.from_pretrained(ctx, os.path.join(d, "state_dict.safetensors"), n_heads=cfg["n_head"])
    assert m.source_format == "transformerlens4"
    info = m.describe()
    assert info["options"]["tied_embeddings"] == 1 and info["options"]["unembed_bias"] == 0, info
    theta = m.load_pretrained(os.path.join(d, "state_dict.safetensors"))
    compare(m, theta, expected_tl4(sd, cfg), "tl4 state_dict")
    # get_params(): TransformerLens 2/3 names, the same numbers
    gp = Model.from_pretrained(ctx, os.path.join(d, "get_params.safetensors"))
    assert gp.source_format == "transformerlens"
    assert gp.n_params == m.n_params
    t2 = gp.load_pretrained(os.path.join(d, "get_params.safetensors"))
    assert np.array_equal(t2.view(np.uint32), theta.view(np.uint32))
    path = os.path.join(tmpdir(), "sd.safetensors")
    m.save_pretrained(path, theta)
    same_files(path, sd, "tl4 state_dict")


@test
def overrides_format_and_errors():
    need_fixtures()
    ctx = polca.Context(backend="cpu")
    d = os.path.join(FIX, "llama", "checkpoint")
    m = Model.from_pretrained(ctx, d, format="llama", n_ctx=64, norm_eps=1e-5)
    info = m.describe()
    assert info["options"]["n_ctx"] == 64 and info["options"]["norm_eps"] == 1e-5, info
    assert info["format"] == "llama" and info["config"].endswith("config.json")
    expect_error(-17, Model.from_pretrained, ctx, os.path.join(FIX, "gpt2", "checkpoint"),
                 n_ctx=7, mentions="wpe.weight")
    expect_error(-1, Model.from_pretrained, ctx, d, format="bert", mentions="format")
    # a native transformer names its layout "native"
    n = Model.transformer(ctx, n_layers=1, d_model=8, n_heads=2, d_vocab=5, n_ctx=4)
    assert n.source_format == "native" and n.describe()["format"] == "native"
    expect_error(-1, m.save_pretrained, tmpdir(), np.zeros(m.n_params, np.float32),
                 mentions="directory")


if __name__ == "__main__":
    run()
