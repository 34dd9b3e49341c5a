#!/usr/bin/python3
"""PyTorch side of bench/transformer.c: the same model, data and threads.

    transformer_torch.py DIR ACT K      (K = 0: skip g+c)

DIR holds theta.f32 [P], v.f32 [P], dirs.f32 [16, P] and tokens.i32
[1250, 12] written by the C bench. Prints "ready", then answers each
operation name read from stdin with "<name> <median ms>", for: forward (per-sample losses, no grad), gradient
(forward + backward of the mean loss), hvp (double backward of the mean
loss), gc (for each of the K directions one nested forward-mode jvp, which
gives g as its primal output and c as its tangent). float32, 2 threads.
"""
import math
import statistics
import sys
import time

# torch must not load numpy: a pip-installed numpy 2 next to Debian's torch
# (built for numpy 1) prints an import failure; nothing here needs numpy.
sys.modules.setdefault("numpy", None)

import torch  # noqa: E402

try:
    from functorch import jvp
except ImportError:
    from torch.func import jvp

torch.set_num_threads(2)
L, D, H, E, M, V, T, S = 2, 128, 4, 32, 512, 14, 12, 1250


def shapes():
    out = [(V, D), (T, D)]
    for _ in range(L):
        out += [(D,), (D,), (H, D, E), (H, D, E), (H, D, E), (H, E, D), (H, E), (H, E), (H, E), (D,),
                (D,), (D,), (D, M), (M,), (M, D), (D,)]
    return out + [(D,), (D,), (D, V), (V,)]


SHAPES = shapes()


def unflatten(theta):
    out, at = [], 0
    for s in SHAPES:
        n = math.prod(s)
        out.append(theta[at:at + n].view(s))
        at += n
    return out


def ln(x, w, b):
    x = x - x.mean(-1, keepdim=True)
    return x / (x.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt() * w + b


def make_loss(act_name, tokens):
    act = {"gelu": torch.nn.functional.gelu, "relu": torch.relu,
           "gelu_new": lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) *
                                                              (x + 0.044715 * x.pow(3))))}[act_name]
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    targets = tokens[:, 1:]

    def per_sample(theta):
        p = unflatten(theta)
        x = p[0][tokens] + p[1][None]
        i = 2
        for _ in range(L):
            w1, b1, Wq, Wk, Wv, Wo, bq, bk, bv, bo, w2, b2, Wi, bi, Wout, bout = p[i:i + 16]
            i += 16
            a = ln(x, w1, b1)
            q = torch.einsum("spd,hde->shpe", a, Wq) + bq[None, :, None]
            k = torch.einsum("spd,hde->shpe", a, Wk) + bk[None, :, None]
            v = torch.einsum("spd,hde->shpe", a, Wv) + bv[None, :, None]
            sc = (q @ k.transpose(-1, -2)) / math.sqrt(E)
            pat = torch.softmax(sc.masked_fill(causal, float("-inf")), dim=-1)
            z = pat @ v  # [S, H, T, E]
            x = x + torch.einsum("shpe,hed->spd", z, Wo) + bo
            x = x + act(ln(x, w2, b2) @ Wi + bi) @ Wout + bout
        x = ln(x, p[i], p[i + 1])
        logits = x @ p[i + 2] + p[i + 3]
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        return -logp.gather(-1, targets[..., None])[..., 0].reshape(-1)

    return per_sample


def timed(fn, runs):
    fn()  # warm-up
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(ts)


def main():
    d, act_name, K = sys.argv[1], sys.argv[2], int(sys.argv[3])
    def load(name, dtype):
        with open(f"{d}/{name}", "rb") as fh:
            return torch.frombuffer(bytearray(fh.read()), dtype=dtype)

    theta = load("theta.f32", torch.float32)
    v = load("v.f32", torch.float32)
    dirs = load("dirs.f32", torch.float32).reshape(16, -1)[:K]  # K = 0: g+c skipped
    tokens = load("tokens.i32", torch.int32).reshape(S, T).long()
    f = make_loss(act_name, tokens)

    def forward():
        with torch.no_grad():
            f(theta)

    def gradient():
        th = theta.clone().requires_grad_(True)
        torch.autograd.grad(f(th).mean(), th)

    def hvp():
        th = theta.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(f(th).mean(), th, create_graph=True)
        torch.autograd.grad(g @ v, th)

    def gc():
        for k in range(K):
            dk = dirs[k]
            jvp(lambda t: jvp(f, (t,), (dk,))[1], (theta,), (dk,))

    ops = {"forward": (forward, 5), "gradient": (gradient, 5), "hvp": (hvp, 3), "gc": (gc, 1)}
    print("ready", flush=True)
    for line in sys.stdin:  # one operation name per line, until EOF
        name = line.strip()
        if name not in ops or (name == "gc" and K == 0):
            print(f"{name} 0", flush=True)
            continue
        fn, runs = ops[name]
        print(f"{name} {timed(fn, runs):.3f}", flush=True)


if __name__ == "__main__":
    main()
