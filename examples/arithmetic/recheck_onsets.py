#!/usr/bin/python3
"""Re-checks one arithmetic run's plateau tau, breakthrough onsets and
hidden-breakthrough fractions in numpy, from the files the example writes.

    /usr/bin/python3 examples/arithmetic/recheck_onsets.py out/arithmetic

Independent of the library: tau (docs/method.md#the-plateau: the first
checkpoint after which the mean exact loss stays within eps = 0.05 of its
total drop from its final value), every sample's onset (eq. 9: the
earliest argmax over 1 <= j <= T-2 of -(f[j+1] - 2 f[j] + f[j-1]), f
smoothed by the run's onset_smoothing width), each cluster's mean onset and the hidden flag (eq. 10: mean onset
> tau), and the carry homogeneity. Taken from the library: only the cluster
memberships (HDBSCAN, re-run here through the Python bindings with the
run's settings, then checked against summary.json's unrestricted
homogeneities so that they are the example's clusters). The scores under
the paper's Appendix G rule are rechecked by recheck_scores.py.

Also says, per cluster, how many members' onsets fall after tau and how many
of those sit at a loss spike: a checkpoint u after tau where the mean exact
loss more than doubles from u-1 opens a window u-1..u+3 (eq. 9 puts the
onset on a spike's peak or recovery, which is not a breakthrough).

Prints one line per cluster and the comparison; exits 1 on a disagreement.
"""
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
os.environ.setdefault("POLCA_LIBRARY", os.path.join(ROOT, "lib", "libpolca.so"))
import polca  # noqa: E402

EPS = 0.05


def plateau(mean_exact):
    """tau as a checkpoint index, in float64."""
    last = mean_exact[-1]
    band = EPS * abs(mean_exact[0] - last)
    inside = np.abs(mean_exact - last) <= band
    # first u such that inside[v] for every v >= u
    u = len(inside)
    while u > 0 and inside[u - 1]:
        u -= 1
    return min(u, len(inside) - 1)


def smooth(x, w):
    """Centred moving average of odd width w along rows, the window cut at
    the ends (eq. 9's smoothing option, docs/method.md#onset-eq-9)."""
    h = (w - 1) // 2
    if h == 0:
        return x
    t = x.shape[1]
    prefix = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    lo = np.maximum(np.arange(t) - h, 0)
    hi = np.minimum(np.arange(t) + h, t - 1)
    return (prefix[:, hi + 1] - prefix[:, lo]) / (hi - lo + 1)


def onsets(x, w=1):
    """eq. 9 for every row of x [n][T] (float64), checkpoint indices."""
    x = smooth(x.astype(np.float64), w)
    acc = -(x[:, 2:] - 2.0 * x[:, 1:-1] + x[:, :-2])  # j = 1..T-2
    return np.argmax(acc, axis=1) + 1  # argmax returns the earliest maximum


def main(out):
    summ = json.load(open(os.path.join(out, "summary.json")))
    cfg, res = summ["config"], summ["results"]
    w = int(cfg.get("onset_smoothing", 1))  # runs before the option: none
    polca_traj = np.load(os.path.join(out, "polca.npy"))  # [K][N][T1]
    lca_traj = np.load(os.path.join(out, "lca.npy"))
    exact = np.load(os.path.join(out, "exact_loss.npy"))
    exact = exact.reshape(exact.shape[-2], exact.shape[-1])  # [N][T1]
    carry = np.load(os.path.join(out, "tags.npy"))[:, 1].astype(bool)
    n, t1 = exact.shape
    every = cfg["polca_every"]

    mean_exact = exact.astype(np.float64).mean(axis=0)
    tau = plateau(mean_exact)
    jumps = [u for u in range(tau + 1, t1) if mean_exact[u] > 2.0 * mean_exact[u - 1]]
    spike = sorted({v for u in jumps for v in range(u - 1, u + 4)})
    print(f"tau: numpy checkpoint {tau} = step {tau * every}; "
          f"summary plateau_tau_step {res['plateau_tau_step']}")
    print(f"loss spikes after tau (mean exact loss > 2x the previous checkpoint) at steps "
          f"{[u * every for u in jumps]}")
    ok = tau * every == res["plateau_tau_step"]

    def kept(traj):
        return np.nonzero(traj[:, :, -1].astype(np.float64).mean(axis=1) <= 0.0)[0]

    methods = [("exact_loss", exact[None], "none", [0]),
               ("lca", lca_traj, "decrease", kept(lca_traj)),
               ("polca", polca_traj, "decrease", kept(polca_traj))]
    with polca.Context(backend="cpu") as ctx:
        for name, traj, filt, dirs in methods:
            x = np.ascontiguousarray(traj[dirs])
            cl = polca.Clustering.create(ctx, x, t1=t1, exact_loss=exact,
                                         min_cluster_size=cfg["min_cluster_size"],
                                         min_samples_divisor=cfg["min_samples_divisor"],
                                         filter=filt, normalize=cfg.get("normalize", "none"),
                                         smoothing=w)
            hom, hidden, lib_on = [], [], []
            print(f"\n{name}: {cl.n_clusters} clusters (directions {list(map(int, dirs))})")
            print("  cluster direction size carry_hom onset_numpy onset_lib "
                  "onset_step hidden_numpy hidden_lib  late (at spike)")
            for c in range(cl.n_clusters):
                info = cl.cluster(c)
                mem = cl.members(c)
                on = onsets(x[info.direction][mem], w)
                mean_on = float(on.mean())
                h = float(carry[mem].mean())
                hid = mean_on > tau
                hom.append(h), hidden.append(hid), lib_on.append(info.onset)
                late = on[on > tau]
                at_spike = int(np.isin(late, spike).sum())
                print(f"  {c:7d} {int(dirs[info.direction]):9d} {info.size:4d} {h:9.3f} "
                      f"{mean_on:11.3f} {info.onset:9.3f} {mean_on * every:10.0f} "
                      f"{int(hid):12d} {int(info.hidden):10d}  {len(late)} ({at_spike})")
                if abs(mean_on - info.onset) > 1e-9 or hid != info.hidden:
                    ok = False
                if info.plateau != tau:
                    print(f"  cluster {c}: library tau {info.plateau} != numpy {tau}")
                    ok = False
            frac = float(np.mean(hidden)) if hidden else 0.0
            want_hom = sorted(summ[name]["unrestricted"]["homogeneity"], reverse=True)
            got_hom = sorted(hom, reverse=True)[:len(want_hom)]
            same = len(got_hom) == len(want_hom) and np.allclose(got_hom, want_hom, atol=1e-9)
            print(f"  hidden fraction: numpy {frac:.4f}, library {cl.hidden_fraction:.4f}, "
                  f"summary {summ[name]['hidden_fraction']}")
            print(f"  best carry homogeneity: here {[round(v, 4) for v in got_hom]}, "
                  f"summary {[round(v, 4) for v in want_hom]}{'' if same else '  MISMATCH'}")
            # all samples of the clustered directions, for context
            all_on = onsets(x.reshape(-1, t1), w)
            print(f"  all samples: onset median step {np.median(all_on) * every:.0f}, "
                  f"share after tau {(all_on > tau).mean():.3f}")
            if not same or abs(frac - summ[name]["hidden_fraction"]) > 1e-9:
                ok = False
    print("\nagree" if ok else "\nDISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "out/arithmetic"))
