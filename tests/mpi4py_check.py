#!/usr/bin/python3
"""Python over MPI (tests/test_mpi.sh runs it under mpirun): a polca.Context
takes an mpi4py communicator; the trajectories computed over the ranks are
bit for bit one process's, and clustering a trajectories file over the
ranks gives every rank the labels one process gets.

    mpirun -np N python3 tests/mpi4py_check.py DIR
    (DIR: tests/cli_fixtures.py's files, series.polca, ref_basis.polca,
    ref_traj.polca)

Prints "ok ..." from rank 0 and "FAIL ..." from any rank."""
import json
import os
import sys

import numpy as np
from mpi4py import MPI

import polca

world = MPI.COMM_WORLD
rank, size = world.Get_rank(), world.Get_size()
failed = False


def check(cond, name, why=""):
    global failed
    if cond:
        if rank == 0:
            print(f"ok {name}", flush=True)
    else:
        failed = True
        print(f"FAIL {name} (rank {rank}): {why}", flush=True)


alone = polca.Context(backend="cpu")
shared = polca.Context(backend="cpu", comm=world)
check(shared.comm_rank == (rank, size), "Context(comm=MPI.COMM_WORLD): rank and size",
      shared.comm_rank)
check(alone.comm_rank == (0, 1), "a context without comm is alone", alone.comm_rank)
try:
    alone.set_comm(object())
    check(False, "a non-communicator is refused", "no error")
except TypeError as e:
    check("mpi4py" in str(e), "a non-communicator is refused", str(e))

d = sys.argv[1]
with open(os.path.join(d, "model.json")) as f:
    cfg = polca.transformer_config(json.load(f))
tokens, mask = np.load(os.path.join(d, "tokens.npy")), np.load(os.path.join(d, "mask.npy"))
made = []
for ctx in (alone, shared):
    model = polca.Model.transformer(ctx, cfg)
    data = polca.Data.tokens(ctx, tokens, mask)
    series = polca.Checkpoints.open(ctx, os.path.join(d, "series.polca"))
    basis = polca.Basis.load(ctx, os.path.join(d, "ref_basis.polca"))
    made.append(polca.Trajectories.create(ctx, model, data, series, basis))
same = all(np.array_equal(made[0].view(kind), made[1].view(kind))
           for kind in (polca.POLCA, polca.FIRST_ORDER, polca.EXACT_LOSS))
check(same, f"Trajectories.create over {size} ranks: bit for bit one process's, on every rank")
del made

ta = polca.Trajectories.load(alone, os.path.join(d, "ref_traj.polca"))
ts = polca.Trajectories.load(shared, os.path.join(d, "ref_traj.polca"))
ca = polca.Clustering.from_trajectories(alone, ta, min_cluster_size=8)
cs = polca.Clustering.from_trajectories(shared, ts, min_cluster_size=8)
k = ca.shape[0]
same = ca.shape == cs.shape and all(
    np.array_equal(ca.labels(d).labels, cs.labels(d).labels) for d in range(k))
check(same, f"clustering over {size} ranks: the labels of one process, on every rank",
      f"{ca.shape} vs {cs.shape}")
# every rank holds the same labels as rank 0
mine = np.concatenate([cs.labels(d).labels for d in range(k)])
check(np.array_equal(world.bcast(mine, root=0), mine), "every rank holds rank 0's labels")
shared.set_comm(None)
check(shared.comm_rank == (0, 1), "set_comm(None): alone again", shared.comm_rank)
del cs, ts, ca, ta
shared.close()
alone.close()
sys.exit(1 if failed else 0)
