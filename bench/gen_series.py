#!/usr/bin/python3
"""Trains a small transformer on modular addition (the paper's toy task) and
saves its parameters every SAVE_EVERY steps, for bench/checkpoints.

    /usr/bin/python3 bench/gen_series.py OUT_DIR [STEPS] [SAVE_EVERY] [LR] [WD] [BATCH]

Defaults follow the paper's arithmetic run (Table: AdamW, learning rate 1e-5,
weight decay 0.1, batch 64, a checkpoint every 20 steps), on a smaller model
(2 layers, d_model 128, ~426k parameters) and a shorter run (4000 steps).
LR=1e-3 WD=1.0 BATCH=256 gives a grokking-style run that moves the weights
100x faster (harder to compress).

Writes OUT_DIR/series.npy (float32 [T][P], TransformerLens parameter order
flattened) and OUT_DIR/steps.npy (int64 [T]). Deterministic (seed 0), one
CPU thread. Nothing here is committed: the bench caches it under out/.
"""
import os
import sys

import numpy as np
import torch

torch.set_num_threads(1)
torch.manual_seed(0)

out = sys.argv[1]
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 4000
SAVE_EVERY = int(sys.argv[3]) if len(sys.argv) > 3 else 20
LR = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-5
WD = float(sys.argv[5]) if len(sys.argv) > 5 else 0.1
BATCH = int(sys.argv[6]) if len(sys.argv) > 6 else 64
p, d_model, n_heads, d_head, d_mlp, n_layers, n_ctx = 113, 128, 4, 32, 512, 2, 3
d_vocab = p + 1  # the "=" token


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(d_model)
        self.attn = torch.nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.ln2 = torch.nn.LayerNorm(d_model)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(d_model, d_mlp), torch.nn.GELU(),
                                       torch.nn.Linear(d_mlp, d_model))

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(d_vocab, d_model)
        self.pos = torch.nn.Parameter(torch.randn(n_ctx, d_model) * 0.02)
        self.blocks = torch.nn.ModuleList([Block() for _ in range(n_layers)])
        self.ln_f = torch.nn.LayerNorm(d_model)
        self.unembed = torch.nn.Linear(d_model, p)

    def forward(self, tok):
        mask = torch.triu(torch.ones(n_ctx, n_ctx, dtype=torch.bool), 1)
        x = self.embed(tok) + self.pos
        for b in self.blocks:
            x = b(x, mask)
        return self.unembed(self.ln_f(x[:, -1]))


a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
data = torch.stack([a.ravel(), b.ravel(), torch.full_like(a.ravel(), p)], 1)
labels = (a.ravel() + b.ravel()) % p
perm = torch.randperm(len(data))
train = perm[: int(0.3 * len(data))]
model = Model()
opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WD, betas=(0.9, 0.98))
flat = lambda: torch.cat([q.detach().reshape(-1) for q in model.parameters()]).numpy().copy()
P = flat().size
T = STEPS // SAVE_EVERY + 1
os.makedirs(out, exist_ok=True)
series = np.lib.format.open_memmap(os.path.join(out, "series.npy.tmp"), mode="w+",
                                   dtype=np.float32, shape=(T, P))
steps = np.zeros(T, dtype=np.int64)
t = 0
for step in range(STEPS + 1):
    if step % SAVE_EVERY == 0:
        series[t] = flat()
        steps[t] = step
        t += 1
    if step == STEPS:
        break
    batch = train[torch.randint(len(train), (BATCH,))]
    loss = torch.nn.functional.cross_entropy(model(data[batch]), labels[batch])
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 500 == 0:
        print("step %d loss %.4f" % (step, loss.item()), flush=True)
series.flush()
del series
np.save(os.path.join(out, "steps.npy"), steps)
os.replace(os.path.join(out, "series.npy.tmp"), os.path.join(out, "series.npy"))
print("wrote %d checkpoints of %d parameters to %s" % (T, P, out))
