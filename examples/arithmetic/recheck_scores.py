#!/usr/bin/python3
"""Re-checks one arithmetic run's Table 1 carry scores in numpy, both as the
paper scores them (Appendix G) and over every cluster, from the files the
example writes:

    /usr/bin/python3 examples/arithmetic/recheck_scores.py out/arithmetic

Independent of the library's scoring: for every cluster, the carry
homogeneity (carrying members / members), recall (carrying members /
carrying samples clustered in the same direction, noise and left-out
samples excluded), F1, and the share of its carrying members whose digit
place is the 100s or the 10s (tags.npy columns 1 and 0); a cluster counts
under the paper's rule iff that share is more than the run's
carry_mid_share (summary.json config; 0.5: more than half, so exactly half
does not count). Then the three best clusters per method, best first (ties:
the lower cluster index), both ways, with their basis directions, against
summary.json's "faithful" and "unrestricted" lists and "eligible_clusters".

Taken from the library: only the cluster memberships (HDBSCAN, re-run here
through the Python bindings with the run's settings on the same kept
directions as the example). Trajectories: polca.npy, lca.npy and
exact_loss.npy; first-order POLCA, Fisher and the change in exact loss are
not exported as .npy, so they are read from trajectories.polca (the Python
bindings' view; its POLCA output is first checked equal to polca.npy).

Prints one table per method; exits 1 on any disagreement ("DISAGREE").
"""
import json
import math
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
os.environ.setdefault("POLCA_LIBRARY", os.path.join(ROOT, "lib", "libpolca.so"))
import polca  # noqa: E402

PLACE_100, PLACE_10 = 1, 2  # tags.npy column 0: 0 = 1000s, 1 = 100s, 2 = 10s, 3 = 1s
TOP = 3
TOL = 1e-9

# name in summary.json -> (trajectory kind, clustering filter, directions)
METHODS = [("exact_loss", "exact_loss", "none", "whole"),
           ("loss_change", "loss_change", "none", "whole"),
           ("fisher", "fisher", "none", "polca_kept"),
           ("lca", "lca", "decrease", "lca_kept"),
           ("polca_first_order", "first_order", "decrease", "polca_kept"),
           ("polca", "polca", "decrease", "polca_kept")]


def kept(traj):
    """Algorithm 1's filter as the example applies it: directions whose mean
    final projected loss is <= 0."""
    return np.nonzero(traj[:, :, -1].astype(np.float64).mean(axis=1) <= 0.0)[0]


def cluster_scores(cl, carry, place, min_share):
    """Per cluster: homogeneity, recall, f1, share (NaN without carries),
    eligible, direction row; all in numpy from the memberships."""
    nc = cl.n_clusters
    k = cl.shape[0]
    clustered_carry = []
    for d in range(k):
        lab = cl.labels(d).labels
        clustered_carry.append(int(carry[lab >= 0].sum()))
    rows = []
    for c in range(nc):
        info = cl.cluster(c)
        m = cl.members(c)
        pos = int(carry[m].sum())
        h = pos / len(m)
        denom = clustered_carry[info.direction]
        r = pos / denom if denom else 0.0
        f = 2 * h * r / (h + r) if h + r > 0 else 0.0
        carried = place[m][carry[m]]
        share = float(np.isin(carried, (PLACE_100, PLACE_10)).mean()) if pos else math.nan
        rows.append(dict(h=h, r=r, f1=f, share=share, eligible=pos > 0 and share > min_share,
                         row=info.direction, size=len(m),
                         in_1000s=float((carried == 0).mean()) if pos else math.nan))
    return rows


def best(rows, faithful):
    """Indices of the TOP highest homogeneities, ties to the lower index."""
    idx = [c for c, s in enumerate(rows) if s["eligible"] or not faithful]
    return sorted(idx, key=lambda c: (-rows[c]["h"], c))[:TOP]


def close(a, b):
    if a is None or b is None:
        return (a is None or (isinstance(a, float) and math.isnan(a))) and \
               (b is None or (isinstance(b, float) and math.isnan(b)))
    return abs(a - b) <= TOL


def main(out):
    summ = json.load(open(os.path.join(out, "summary.json")))
    if summ.get("format") != "libpolca-arithmetic-summary-2":
        print(f"{out}/summary.json: format {summ.get('format')!r}; this script reads "
              "libpolca-arithmetic-summary-2 (faithful and unrestricted scores)")
        return 1
    cfg = summ["config"]
    min_share = float(cfg["carry_mid_share"])
    tags = np.load(os.path.join(out, "tags.npy"))
    place, carry = tags[:, 0], tags[:, 1].astype(bool)
    arrays = {"polca": np.load(os.path.join(out, "polca.npy")),
              "lca": np.load(os.path.join(out, "lca.npy"))}
    exact = np.load(os.path.join(out, "exact_loss.npy"))
    exact = exact.reshape(exact.shape[-2], exact.shape[-1])  # [N][T1]
    n, t1 = exact.shape
    arrays["exact_loss"] = exact[None]
    ok = True
    with polca.Context(backend="cpu") as ctx:
        traj = polca.Trajectories.load(ctx, os.path.join(out, "trajectories.polca"))
        if not np.array_equal(np.asarray(traj.view("polca")), arrays["polca"]):
            print("trajectories.polca's POLCA output differs from polca.npy")
            ok = False
        for kind in ("first_order", "fisher", "loss_change"):
            if kind in traj.available:
                arrays[kind] = np.array(traj.view(kind))
        dirs_of = {"polca_kept": kept(arrays["polca"]), "lca_kept": kept(arrays["lca"]),
                   "whole": np.array([0])}
        print(f"carry rule (Appendix G): a cluster counts iff more than {min_share} of its "
              f"carry tokens are in the 100s or 10s place")
        for name, kind, filt, which in METHODS:
            if name not in summ.get("methods", []):
                continue
            if kind not in arrays:
                print(f"\n{name}: no {kind} output in the run's files: NOT RECHECKED")
                ok = False
                continue
            dirs = dirs_of[which]
            x = np.ascontiguousarray(arrays[kind][dirs])
            options = dict(min_cluster_size=cfg["min_cluster_size"],
                           min_samples_divisor=cfg["min_samples_divisor"], filter=filt,
                           normalize=cfg.get("normalize", "none"),
                           smoothing=int(cfg.get("onset_smoothing", 1)))
            if kind == "loss_change":
                options["onset_of"] = "cumsum"
            cl = polca.Clustering.create(ctx, x, t1=t1, exact_loss=exact, **options)
            rows = cluster_scores(cl, carry, place, min_share)
            whole = which == "whole"
            s = summ[name]
            print(f"\n{name}: {len(rows)} clusters, {sum(r['eligible'] for r in rows)} eligible "
                  f"(summary: {s['n_clusters']}, {s['eligible_clusters']})")
            if len(rows) != s["n_clusters"] or \
                    sum(r["eligible"] for r in rows) != s["eligible_clusters"]:
                ok = False
                print("  cluster counts: MISMATCH")
            for col in ("faithful", "unrestricted"):
                top = best(rows, col == "faithful")
                want = s[col]
                got = dict(homogeneity=[rows[c]["h"] for c in top],
                           recall=[rows[c]["r"] for c in top],
                           f1=[rows[c]["f1"] for c in top],
                           direction=[-1 if whole else int(dirs[rows[c]["row"]]) for c in top],
                           carry_mid_share=[rows[c]["share"] for c in top])
                same = all(len(got[key]) == len(want[key]) and
                           all(close(a, b) for a, b in zip(got[key], want[key]))
                           for key in got)
                ok &= same
                print(f"  {col:12s} homogeneity {[round(v, 3) for v in got['homogeneity']]} "
                      f"recall {[round(v, 3) for v in got['recall']]} "
                      f"direction {got['direction']} carries in 100s/10s "
                      f"{[round(v, 3) for v in got['carry_mid_share']]} "
                      f"(1000s {[round(rows[c]['in_1000s'], 3) for c in top]})"
                      f"{'' if same else '  MISMATCH with summary ' + json.dumps(want)}")
    print("\nagree" if ok else "\nDISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "out/arithmetic"))
