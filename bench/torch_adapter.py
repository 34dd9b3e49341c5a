"""bench/torch_adapter.py (make bench, through bench/torch_adapter.sh): the
TorchModel adapter's g and c against the built-in transformer on the same
weights, at the bench's reference model (2 layers, d_model 128, 4 heads of
32, d_mlp 512, vocab 14, n_ctx 12, K = 16 directions) over S sequences.

    python3 bench/torch_adapter.py [S=1250] [threads=2] [--no-reverse] [--runs=3]

Prints the median seconds of dirderivs (g and c) for the built-in model, the
adapter's forward-mode path (the Taylor-mode pass; --nested: torch's
nested jvp instead) and its reverse-mode fallback, and the ratios, the
forward-mode one against its ceiling, 3x the built-in's time (issue 17);
also checks that g and c agree. Both use the
same number of threads (libpolca's context and torch.set_num_threads), and
the built-in and forward-mode runs alternate, so that a load that comes and
goes on a shared machine weighs on both alike; the CPU seconds of the
process (all threads, user + system) are printed beside the wall time."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import pyharness  # noqa: F401,E402  (bindings path, library)
import numpy as np
import polca
import polca.torch_model
import test_python_torch as tpt

torch = tpt.torch
ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
S = int(ARGS[0]) if ARGS else 1250
threads = int(ARGS[1]) if len(ARGS) > 1 else 2
torch.set_num_threads(threads)
CFG = dict(n_layers=2, d_model=128, n_heads=4, d_head=32, d_mlp=512, d_vocab=14, n_ctx=12,
           act_fn="gelu_new")
ctx = polca.Context(backend="cpu", threads=threads)
rng = np.random.default_rng(0)
builtin = polca.Model.transformer(ctx, CFG)
tokens = rng.integers(0, CFG["d_vocab"], (S, CFG["n_ctx"]))
mask = np.ones(tokens.shape, bool)
mask[:, -1] = False
data = polca.Data.tokens(ctx, tokens, mask)
idx = polca.Data.indices(ctx, data.n_samples)
module = tpt.build_module(CFG).float()
tm = polca.torch_model.TorchModel(ctx, module, tpt.token_losses(tokens, mask), data.n_samples,
                                  layout=builtin)
CEILING = 3.0
if "--nested" in sys.argv:
    tm._taylor = False  # as if the Taylor-mode pass lacked a rule
theta = builtin.init(1)
dirs = rng.standard_normal((16, builtin.n_params)).astype(np.float32)
dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)


RUNS = int(dict(a.split("=") for a in sys.argv[1:] if a.startswith("--runs=")).get("--runs", 3))


def once(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def alternating(fns, runs=RUNS):
    """[(median wall s, median CPU s, last result)] per function, the
    functions run in turn, runs times."""
    times = [[] for _ in fns]
    outs = [None] * len(fns)
    for _ in range(runs):
        for i, fn in enumerate(fns):
            w, c, outs[i] = once(fn)
            times[i].append((w, c))
    return [(float(np.median([t[0] for t in ts])), float(np.median([t[1] for t in ts])), o)
            for ts, o in zip(times, outs)]


print(f"P = {builtin.n_params}, N = {data.n_samples} samples ({S} x 12 tokens), K = 16, "
      f"{threads} threads, torch {torch.__version__}, "
      f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
(tb, cb, b), (tf, cf, f) = alternating([lambda: builtin.dirderivs(data, theta, dirs),
                                        lambda: tm.model.dirderivs(idx, theta, dirs)])
assert tm._forward is True
rel = lambda a, r: float(np.abs(a - r).max() / np.abs(r).max())  # noqa: E731
print(f"built-in g+c        {tb:8.3f} s   (CPU {cb:7.2f} s)")
path = "Taylor-mode pass" if tm._taylor else "nested jvp"
print(f"adapter forward     {tf:8.3f} s   (CPU {cf:7.2f} s)   ratio {tf / tb:5.2f} "
      f"(CPU {cf / cb:5.2f})   (g rel. err {rel(f.g, b.g):.1e}, c {rel(f.c, b.c):.1e}), "
      f"{path}")
print(f"adapter/built-in    {tf / tb:.2f}x, ceiling {CEILING:.1f}x: "
      f"{'within' if tf / tb <= CEILING else 'OVER'}")
if "--no-reverse" not in sys.argv:
    tm._forward = False
    tr, _, r = once(lambda: tm.model.dirderivs(idx, theta, dirs))
    print(f"adapter reverse     {tr:8.3f} s   ratio {tr / tb:5.2f}   "
          f"(g rel. err {rel(r.g, b.g):.1e}, c {rel(r.c, b.c):.1e})")
