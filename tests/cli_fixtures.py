#!/usr/bin/python3
"""Writes the inputs of tests/test_cli.sh into a directory, as a
TransformerLens user would have them, with numpy only (no libpolca, no
torch, no safetensors package): a model config JSON, one safetensors file
per checkpoint (TransformerLens state_dict names and shapes, plus the
attn.mask / attn.IGNORE buffers TransformerLens saves), tokens.npy
(int64), mask.npy (bool), labels (per sample and per position), and
broken variants of each for the error tests.

    /usr/bin/python3 tests/cli_fixtures.py DIR
    /usr/bin/python3 tests/cli_fixtures.py DIR --import-set   # a slow import
"""
import json
import os
import struct
import sys

import numpy as np

CFG = dict(n_layers=1, d_model=8, n_heads=2, d_head=4, d_mlp=16, d_vocab=7, n_ctx=6,
           act_fn="gelu_new")


def tensors(cfg):
    D, H, E, M, V, T = (cfg[k] for k in ("d_model", "n_heads", "d_head", "d_mlp", "d_vocab", "n_ctx"))
    out = [("embed.W_E", (V, D)), ("pos_embed.W_pos", (T, D))]
    for l in range(cfg["n_layers"]):
        b = f"blocks.{l}."
        out += [(b + "ln1.w", (D,)), (b + "ln1.b", (D,)), (b + "attn.W_Q", (H, D, E)),
                (b + "attn.W_K", (H, D, E)), (b + "attn.W_V", (H, D, E)), (b + "attn.W_O", (H, E, D)),
                (b + "attn.b_Q", (H, E)), (b + "attn.b_K", (H, E)), (b + "attn.b_V", (H, E)),
                (b + "attn.b_O", (D,)), (b + "ln2.w", (D,)), (b + "ln2.b", (D,)),
                (b + "mlp.W_in", (D, M)), (b + "mlp.b_in", (M,)), (b + "mlp.W_out", (M, D)),
                (b + "mlp.b_out", (D,))]
    return out + [("ln_final.w", (D,)), ("ln_final.b", (D,)), ("unembed.W_U", (D, V)),
                  ("unembed.b_U", (V,))]


def save_safetensors(path, arrays, metadata=None):
    """The safetensors format: u64 header length, JSON header, raw data."""
    header, blobs, at = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.bool_): "BOOL",
                 np.dtype(np.float16): "F16"}[a.dtype]
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [at, at + a.nbytes]}
        blobs.append(a.tobytes())
        at += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main(out):
    rng = np.random.default_rng(7)
    cfg = CFG
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(cfg, f)
    shapes = tensors(cfg)
    # a "training run": parameters drift along a few fixed directions
    theta = {n: (1.0 + 0.1 * rng.standard_normal(s) if n.endswith(".w") else
                 0.3 * rng.standard_normal(s)).astype(np.float32) for n, s in shapes}
    drift = {n: 0.05 * rng.standard_normal(s).astype(np.float32) for n, s in shapes}
    os.makedirs(os.path.join(out, "ckpts"), exist_ok=True)
    T = cfg["n_ctx"]
    for i, step in enumerate([0, 50, 100, 150, 200, 250]):
        arrays = {n: theta[n] + (i + 0.3 * i * i) * drift[n] for n, _ in shapes}
        arrays["blocks.0.attn.mask"] = np.tril(np.ones((T, T), dtype=bool))
        arrays["blocks.0.attn.IGNORE"] = np.array(-1e5, dtype=np.float32)
        save_safetensors(os.path.join(out, "ckpts", f"ckpt_{step:06d}.safetensors"), arrays)
    tokens = rng.integers(0, cfg["d_vocab"], (40, T)).astype(np.int64)
    mask = np.zeros((40, T), dtype=bool)
    mask[:, 2:5] = True
    np.save(os.path.join(out, "tokens.npy"), tokens)
    np.save(os.path.join(out, "mask.npy"), mask)
    target = np.roll(tokens, -1, axis=1)
    labels2d = (target % 2 == 0) & mask
    np.save(os.path.join(out, "labels2d.npy"), labels2d)
    np.save(os.path.join(out, "labels.npy"), labels2d[mask])
    # broken inputs
    np.save(os.path.join(out, "tokens_float.npy"), tokens.astype(np.float32))
    np.save(os.path.join(out, "tokens_big.npy"), np.full((2, T), cfg["d_vocab"], dtype=np.int32))
    np.save(os.path.join(out, "labels_short.npy"), labels2d[mask][:-1])
    np.save(os.path.join(out, "labels_three.npy"), np.full(int(mask.sum()), 3, dtype=np.int8))
    with open(os.path.join(out, "tokens_cut.npy"), "wb") as f:
        f.write(open(os.path.join(out, "tokens.npy"), "rb").read()[:-17])
    with open(os.path.join(out, "bad_syntax.json"), "w") as f:
        f.write('{"n_layers": 1,\n "d_model": 8,,}')
    with open(os.path.join(out, "bad_key.json"), "w") as f:
        json.dump(dict(cfg, d_mpl=16), f)
    with open(os.path.join(out, "lnpre.json"), "w") as f:  # folded norms: no weights
        json.dump(dict(cfg, normalization_type="LNPre"), f)
    with open(os.path.join(out, "norm_null.json"), "w") as f:  # TransformerLens: no norm at all
        json.dump(dict(cfg, normalization_type=None), f)
    with open(os.path.join(out, "eps6.json"), "w") as f:
        json.dump(dict(cfg, eps=1e-6), f)
    with open(os.path.join(out, "eps0.json"), "w") as f:
        json.dump(dict(cfg, eps=0.0), f)
    with open(os.path.join(out, "adjacent.json"), "w") as f:  # GPT-J rotary pairs
        json.dump(dict(cfg, positional_embedding_type="rotary", rotary_dim=4,
                       rotary_adjacent_pairs=True), f)
    with open(os.path.join(out, "tl_llama.json"), "w") as f:  # Llama-style HookedTransformerConfig
        json.dump(dict(cfg, normalization_type="RMS", positional_embedding_type="rotary",
                       rotary_dim=4, rotary_base=500000.0, rotary_adjacent_pairs=False,
                       n_key_value_heads=1, gated_mlp=True, act_fn="silu", eps=1e-6,
                       final_rms=True, use_attn_scale=True, attn_scale=2.0,
                       parallel_attn_mlp=False, use_NTK_by_parts_rope=False, use_qk_norm=False,
                       tie_word_embeddings=False, d_vocab_out=-1, attn_only=False,
                       model_name="tiny-llama"), f)
    with open(os.path.join(out, "other.json"), "w") as f:
        json.dump(dict(cfg, d_model=12, d_head=6), f)
    with open(os.path.join(out, "tl.json"), "w") as f:  # HookedTransformerConfig fields
        json.dump(dict(cfg, normalization_type="LN", positional_embedding_type="standard",
                       attn_only=False, d_vocab_out=-1, eps=1e-5, use_attn_scale=True,
                       model_name="custom"), f)
    # a larger run for the Ctrl-C tests: 1000 sequences (5000 samples)
    np.save(os.path.join(out, "tokens_many.npy"), rng.integers(0, cfg["d_vocab"], (1000, T)).astype(np.int64))
    np.save(os.path.join(out, "labels_many.npy"), rng.integers(0, 2, 1000 * (T - 1)).astype(bool))


def import_set(out, n_files=60):
    """A larger model and n_files checkpoints of random weights (~0.35 MB
    each), for Ctrl-C during polca import: big.json, ckpts_big/."""
    cfg = dict(CFG, d_model=64, n_heads=4, d_head=16, d_mlp=256, d_vocab=256, n_ctx=32)
    with open(os.path.join(out, "big.json"), "w") as f:
        json.dump(cfg, f)
    os.makedirs(os.path.join(out, "ckpts_big"), exist_ok=True)
    rng = np.random.default_rng(3)
    shapes = tensors(cfg)
    for i in range(n_files):
        save_safetensors(os.path.join(out, "ckpts_big", f"c_{i:04d}.safetensors"),
                         {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes})


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "--import-set":
        import_set(sys.argv[1])
    else:
        main(sys.argv[1])
