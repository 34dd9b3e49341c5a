#!/usr/bin/python3
"""Rescores one arithmetic run's clusters for the carry label the way the
paper's Appendix G does (docs/method.md#the-carry-scores-exclusion-rule).

    /usr/bin/python3 examples/arithmetic/rescore_faithful.py OUT_DIR \
        [--normalize none,unit] [--share 0.5] [--min-cluster-size N] \
        [--min-samples-divisor N] [--methods exact_loss,lca,...] [--json FILE]

A cluster counts for the carry skill (faithful column) only if more than
`share` of its carry-labelled members are tokens of the 10s or 100s place;
its homogeneity is the fraction of its members that carry. The unrestricted
column scores every cluster. For each method, the best three of each
column are printed, with each cluster's size and the places of its members.

Reads OUT_DIR/trajectories.polca (every kind the run computed, through the
Python bindings), OUT_DIR/tags.npy (place, carry, digit, place x carry per
validation token) and OUT_DIR/summary.json (the run's clustering settings).
The clusters are the library's HDBSCAN with the run's settings, the same
directions the example clusters (Algorithm 1's filter: mean final projected
loss <= 0, on the POLCA basis for POLCA, first-order POLCA and Fisher, on
the LCA basis for LCA). Everything after the memberships is numpy here.
"""
import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
os.environ.setdefault("POLCA_LIBRARY", os.path.join(ROOT, "lib", "libpolca.so"))
import polca  # noqa: E402

# name in summary.json, trajectory kind, per-sample filter, basis for the kept directions
METHODS = [
    ("exact_loss", "exact_loss", "none", None),
    ("loss_change", "loss_change", "none", None),
    ("fisher", "fisher", "none", "polca"),
    ("lca", "lca", "decrease", "lca"),
    ("polca_first_order", "first_order", "decrease", "polca"),
    ("polca", "polca", "decrease", "polca"),
]
MID = (1, 2)  # places 100s and 10s (tags: 0 = 1000s, 1 = 100s, 2 = 10s, 3 = 1s)


def score_clusters(cl, place, carry, share):
    """Per cluster: (homogeneity, size, mid share of its carry members,
    counts of members per place, faithful?)."""
    rows = []
    for c in range(cl.n_clusters):
        mem = cl.members(c)
        car = carry[mem]
        h = float(car.mean()) if len(mem) else float("nan")
        n_car = int(car.sum())
        mid = float(np.isin(place[mem][car], MID).mean()) if n_car else float("nan")
        per_place = np.bincount(place[mem], minlength=4)
        faithful = n_car > 0 and mid > share
        rows.append(dict(cluster=c, direction=int(cl.cluster(c).direction), size=len(mem),
                         homogeneity=h, mid_share=mid, places=per_place.tolist(),
                         faithful=bool(faithful)))
    return rows


def fmt(rows, n=3):
    if not rows:
        return "no cluster"
    return ", ".join(f"{r['homogeneity']:.3f}" for r in rows[:n])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--normalize", default="none,unit")
    ap.add_argument("--share", type=float, default=0.5)
    ap.add_argument("--min-cluster-size", type=int)
    ap.add_argument("--min-samples-divisor", type=int)
    ap.add_argument("--methods", default=",".join(m[0] for m in METHODS))
    ap.add_argument("--json", help="write every cluster's scores here")
    ap.add_argument("--verbose", action="store_true", help="place counts of the best clusters")
    a = ap.parse_args()

    summ = json.load(open(os.path.join(a.out, "summary.json")))
    cfg = summ["config"]
    mcs = a.min_cluster_size or int(cfg["min_cluster_size"])
    msd = a.min_samples_divisor or int(cfg["min_samples_divisor"])
    tags = np.load(os.path.join(a.out, "tags.npy"))
    place, carry = tags[:, 0].astype(np.int64), tags[:, 1].astype(bool)
    wanted = a.methods.split(",")
    out = {}
    with polca.Context(backend="cpu") as ctx:
        traj = polca.Trajectories.load(ctx, os.path.join(a.out, "trajectories.polca"))
        avail = traj.available
        t1 = len(traj.steps)
        exact = np.ascontiguousarray(traj.exact_loss[0])
        kept = {b: np.nonzero(traj.final_means(b) <= 0.0)[0] for b in ("polca", "lca")}
        print(f"{a.out}: {t1} checkpoints, kept directions POLCA {len(kept['polca'])}/"
              f"{traj.polca.shape[0]}, LCA {len(kept['lca'])}/{traj.lca.shape[0]}; "
              f"min_cluster_size {mcs}, min_samples n/{msd}, faithful share > {a.share}")
        for norm in a.normalize.split(","):
            print(f"\nnormalize {norm}:   {'method':<18} {'faithful best 3':<24} "
                  f"{'unrestricted best 3':<24} clusters")
            for name, kind, filt, basis in METHODS:
                if name not in wanted or kind not in avail:
                    continue
                v = traj.view(kind)
                x = np.ascontiguousarray(v if basis is None else v[kept[basis]])
                opts = dict(t1=t1, exact_loss=exact, min_cluster_size=mcs,
                            min_samples_divisor=msd, filter=filt, normalize=norm)
                if kind == "loss_change":
                    opts["onset_of"] = "cumsum"
                cl = polca.Clustering.create(ctx, x, **opts)
                rows = score_clusters(cl, place, carry, a.share)
                for r in rows:
                    if basis is not None:
                        r["direction"] = int(kept[basis][r["direction"]])
                allr = sorted(rows, key=lambda r: -r["homogeneity"])
                faith = [r for r in allr if r["faithful"]]
                print(f"{'':<18} {name:<18} {fmt(faith):<24} {fmt(allr):<24} {len(rows)}")
                if a.verbose:
                    for tag, lst in (("faithful", faith), ("unrestricted", allr)):
                        for r in lst[:3]:
                            print(f"{'':<24}{tag:>12}: h {r['homogeneity']:.3f} size "
                                  f"{r['size']} dir {r['direction']} places(1000,100,10,1) "
                                  f"{r['places']} mid share {r['mid_share']:.2f}")
                out.setdefault(norm, {})[name] = dict(
                    faithful=[r["homogeneity"] for r in faith[:3]],
                    unrestricted=[r["homogeneity"] for r in allr[:3]], clusters=rows)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
