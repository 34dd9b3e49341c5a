#!/usr/bin/env python3
"""PyTorch 2.x side of issue 15's speed item: Hugging Face models at the size
of Pythia-14m and a Llama-style model of similar size, random init from the
config (nothing is downloaded), float32, eager attention.

    torch_pretrained.py [--model pythia|llama|both] [--threads 2] [--runs 3]
                        [--K 16] [--seqs 16] [--seqlen 129] [--seed 0]
                        [--vmap-chunk 0] [--save DIR] [--check]

Needs torch, transformers, numpy (e.g. the venv /work/venv-models). Prints one
JSON line per model: the median over --runs of ms for
  forward      per-token losses (no grad): logits -> log_softmax -> gather
  gradient     torch.func.grad of the mean loss (one forward + backward)
  hvp          torch.func: jvp of grad of the mean loss (forward over reverse)
  hvp_double   the same by double backward (torch.autograd.grad twice)
  gc           g and c of every scored token for K directions: per direction
               one nested torch.func.jvp (jvp of jvp), g = inner tangent,
               c = outer tangent; --vmap-chunk C > 0 vmaps the directions in
               chunks of C instead of a Python loop (memory: about C x the
               loop's)
  gc_ln_composite  (LayerNorm models only) gc with nn.LayerNorm replaced by
               its composite formula; see the warning below
and the config, parameter count, threads and torch/transformers versions.

WARNING (torch 2.15, found writing tests/gen_pretrained_fixtures.py): nested
forward-mode AD through F.layer_norm (jvp of jvp) gives wrong second
derivatives (pytorch/pytorch#196700, open; umbrella #198017), so "gc" on
the GPT-NeoX (LayerNorm) model returns wrong c;
"gc_ln_composite" computes the same quantity correctly (mean/var/rsqrt
written out) and is the number to compare with. --check verifies on the
models themselves (at 2 sequences x 17 tokens) that g and c from the timed
code paths match central differences, and reports which do not.

--save DIR writes DIR/<model>/ (save_pretrained: config.json +
model.safetensors, float32) and DIR/<model>/tokens.npy (int32 [seqs, seqlen];
every position but the last of each row is scored) so the C bench can load
the very same model and tokens.
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.func import functional_call, grad, jvp, vmap  # noqa: E402

import transformers  # noqa: E402
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM  # noqa: E402

transformers.logging.set_verbosity_error()


def pythia_config():
    # EleutherAI/pythia-14m's config.json: 6 layers, d_model 128, 4 heads,
    # d_mlp 512, rotary_pct 0.25, parallel residual, untied, vocab 50304
    return GPTNeoXConfig(vocab_size=50304, hidden_size=128, num_hidden_layers=6, num_attention_heads=4,
                         intermediate_size=512, hidden_act="gelu", rotary_pct=0.25, rotary_emb_base=10000,
                         max_position_embeddings=2048, use_parallel_residual=True, layer_norm_eps=1e-5,
                         attention_dropout=0.0, hidden_dropout=0.0, tie_word_embeddings=False)


def llama_config():
    # same width/depth/vocab; GQA 4 query / 2 kv heads, SwiGLU with d_mlp 344
    # (8/3 d_model rounded up to 8, Llama's rule), RMSNorm, untied
    return LlamaConfig(vocab_size=50304, hidden_size=128, intermediate_size=344, num_hidden_layers=6,
                       num_attention_heads=4, num_key_value_heads=2, hidden_act="silu",
                       max_position_embeddings=2048, rms_norm_eps=1e-6, rope_theta=10000.0,
                       attention_bias=False, mlp_bias=False, tie_word_embeddings=False)


MODELS = {"pythia": (GPTNeoXForCausalLM, pythia_config), "llama": (LlamaForCausalLM, llama_config)}


def composite_layer_norm(model):
    """Replace every nn.LayerNorm's forward by the written-out formula (same
    values up to rounding; differentiable to any order in forward mode)."""
    n = 0
    for mod in model.modules():
        if isinstance(mod, torch.nn.LayerNorm):
            def fwd(x, mod=mod):
                mu = x.mean(-1, keepdim=True)
                xc = x - mu
                var = (xc * xc).mean(-1, keepdim=True)
                y = xc * torch.rsqrt(var + mod.eps)
                if mod.weight is not None:
                    y = y * mod.weight
                if mod.bias is not None:
                    y = y + mod.bias
                return y
            mod.forward = fwd
            n += 1
    return n


def restore_layer_norm(model):
    for mod in model.modules():
        if isinstance(mod, torch.nn.LayerNorm) and "forward" in mod.__dict__:
            del mod.forward


def make_fns(model, tokens):
    def losses(params):
        logits = functional_call(model, params, (tokens,)).logits
        lp = torch.log_softmax(logits[:, :-1], dim=-1)
        return -lp.gather(-1, tokens[:, 1:, None])[..., 0].reshape(-1)

    def mean(params):
        return losses(params).mean()

    def gc_one(params, d):
        g, c = jvp(lambda p: jvp(losses, (p,), (d,))[1], (params,), (d,))
        return g, c
    return losses, mean, gc_one


def timed(fn, runs):
    fn()  # warm-up (allocator, autograd graph caches)
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(out)


def random_dirs(params, K, gen):
    return [{n: torch.randn(p.shape, generator=gen) for n, p in params.items()} for _ in range(K)]


def run_gc(gc_one, params, dirs, chunk):
    if chunk <= 0:
        return [gc_one(params, d) for d in dirs]
    stacked = {n: torch.stack([d[n] for d in dirs]) for n in params}
    return vmap(lambda d: gc_one(params, d), chunk_size=chunk)(stacked)


def check(cls, cfg, seed):
    """g, c of the timed code paths against central differences (float64,
    2 x 17 tokens). Returns {path: max relative error of c}."""
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = cls(cfg).to(torch.float64).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    tokens = torch.randint(0, cfg.vocab_size, (2, 17), generator=gen)
    # eager attention asks for a float32 softmax and Llama's RMSNorm computes
    # in float32 even in a float64 model: their rounding would swamp the
    # differences; keep float64 for the check (same formulas)
    for mod in model.modules():
        if type(mod).__name__.endswith("RMSNorm"):
            mod.forward = lambda x, mod=mod: mod.weight * (
                x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + mod.variance_epsilon))
    sm = torch.nn.functional.softmax
    torch.nn.functional.softmax = lambda x, dim=None, _stacklevel=3, dtype=None: sm(
        x, dim=dim, dtype=None if (dtype == torch.float32 and x.dtype == torch.float64) else dtype)
    params = {n: p.detach() for n, p in model.named_parameters()}
    d = {n: torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.05 for n, p in params.items()}
    out = {}
    for path in ("gc", "gc_ln_composite"):
        if path == "gc_ln_composite" and composite_layer_norm(model) == 0:
            continue
        losses, _, gc_one = make_fns(model, tokens)
        g, c = gc_one(params, d)
        h = 1e-3
        with torch.no_grad():
            f = {j: losses({n: params[n] + j * h * d[n] for n in params}) for j in (-2, -1, 0, 1, 2)}
        fd_g = (f[-2] - 8 * f[-1] + 8 * f[1] - f[2]) / (12 * h)
        fd_c = (-f[-2] + 16 * f[-1] - 30 * f[0] + 16 * f[1] - f[2]) / (12 * h * h)
        out[path] = {"g_relerr": ((g - fd_g).abs().max() / fd_g.abs().max()).item(),
                     "c_relerr": ((c - fd_c).abs().max() / fd_c.abs().max()).item()}
        restore_layer_norm(model)
    torch.nn.functional.softmax = sm
    return out


def bench(name, args):
    cls, mkcfg = MODELS[name]
    cfg = mkcfg()
    cfg._attn_implementation = "eager"
    torch.manual_seed(args.seed)
    model = cls(cfg).to(torch.float32).eval()
    gen = torch.Generator().manual_seed(args.seed + 1)
    tokens = torch.randint(0, cfg.vocab_size, (args.seqs, args.seqlen), generator=gen)
    if args.save:
        d = os.path.join(args.save, name)
        model.save_pretrained(d)
        gcj = os.path.join(d, "generation_config.json")
        if os.path.exists(gcj):
            os.remove(gcj)
        np.save(os.path.join(d, "tokens.npy"), tokens.numpy().astype(np.int32))
    params = {n: p.detach() for n, p in model.named_parameters()}
    P = sum(p.numel() for p in params.values())
    losses, mean, gc_one = make_fns(model, tokens)
    v = random_dirs(params, 1, gen)[0]
    dirs = random_dirs(params, args.K, gen)
    res = {"model": name, "class": cls.__name__, "torch": torch.__version__,
           "transformers": transformers.__version__, "threads": torch.get_num_threads(),
           "params": P, "scored_tokens": args.seqs * (args.seqlen - 1), "K": args.K,
           "runs": args.runs, "attn": "eager", "dtype": "float32"}

    def put(key, fn):
        res[key] = timed(fn, args.runs)
        print(f"# {name} {key} {res[key]:.0f}", file=sys.stderr, flush=True)   # progress

    def forward():
        with torch.no_grad():
            return losses(params)
    put("forward_ms", forward)
    put("gradient_ms", lambda: grad(mean)(params))
    put("hvp_ms", lambda: jvp(grad(mean), (params,), (v,)))

    ps = [p for p in model.parameters()]
    vs = [v[n] for n, _ in model.named_parameters()]

    def hvp_double():
        logits = model(tokens).logits
        lp = torch.log_softmax(logits[:, :-1], dim=-1)
        loss = -lp.gather(-1, tokens[:, 1:, None]).mean()
        g1 = torch.autograd.grad(loss, ps, create_graph=True)
        return torch.autograd.grad(sum((a * b).sum() for a, b in zip(g1, vs)), ps)
    put("hvp_double_ms", hvp_double)

    res["gc_mode"] = f"vmap chunk {args.vmap_chunk}" if args.vmap_chunk > 0 else "loop"
    put("gc_ms", lambda: run_gc(gc_one, params, dirs, args.vmap_chunk))
    if composite_layer_norm(model):
        put("gc_ln_composite_ms", lambda: run_gc(gc_one, params, dirs, args.vmap_chunk))
        restore_layer_norm(model)
    if args.check:
        res["check"] = check(cls, mkcfg(), args.seed)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=["pythia", "llama", "both"], default="both")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--K", type=int, default=16)
    ap.add_argument("--seqs", type=int, default=16)
    ap.add_argument("--seqlen", type=int, default=129)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vmap-chunk", type=int, default=0)
    ap.add_argument("--save", default=None)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if args.threads < 1 or args.runs < 1 or args.K < 1 or args.seqs < 1 or args.seqlen < 2:
        ap.error("--threads, --runs, --K, --seqs must be >= 1 and --seqlen >= 2")
    torch.set_num_threads(args.threads)
    for name in (["pythia", "llama"] if args.model == "both" else [args.model]):
        print(json.dumps(bench(name, args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
