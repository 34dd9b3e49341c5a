#!/usr/bin/python3
"""Writes tests/fixtures/model/tl_gelu_new.safetensors for tests/test_model_io.c.

Run with Debian's python (python3-torch, python3-numpy, and the safetensors
package: /usr/bin/python3 -m pip install --break-system-packages safetensors):
    /usr/bin/python3 tests/gen_model_io_fixtures.py

The file is what safetensors.torch.save_file writes for a TransformerLens
HookedTransformer's state_dict with the parameters of the transformer
fixture tests/fixtures/transformer/gelu_new (theta.npy, names.txt): every
parameter tensor under its TransformerLens name and shape, in a shuffled
order, plus the non-parameter buffers TransformerLens registers in each
attention layer, blocks.<l>.attn.mask (bool [n_ctx, n_ctx], causal) and
blocks.<l>.attn.IGNORE (float32 scalar, -inf), which a loader must skip.
"""
import os
import random

import numpy as np
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "fixtures", "transformer", "gelu_new")
OUT = os.path.join(HERE, "fixtures", "model", "tl_gelu_new.safetensors")

cfg = np.load(os.path.join(SRC, "config.npy"))
n_layers, n_ctx = int(cfg[0]), int(cfg[6])
theta = np.load(os.path.join(SRC, "theta.npy"))
tensors = {}
at = 0
for line in open(os.path.join(SRC, "names.txt")):
    name, shape = line.split()
    shape = [int(s) for s in shape.split(",")]
    count = int(np.prod(shape))
    tensors[name] = torch.from_numpy(theta[at:at + count].reshape(shape).copy())
    at += count
assert at == theta.size
for layer in range(n_layers):
    tensors["blocks.%d.attn.mask" % layer] = torch.tril(torch.ones(n_ctx, n_ctx, dtype=torch.bool))
    tensors["blocks.%d.attn.IGNORE" % layer] = torch.tensor(-float("inf"), dtype=torch.float32)
names = list(tensors)
random.Random(3).shuffle(names)
os.makedirs(os.path.dirname(OUT), exist_ok=True)
save_file({n: tensors[n] for n in names}, OUT, metadata={"format": "pt"})
print("wrote", OUT, os.path.getsize(OUT), "bytes")
