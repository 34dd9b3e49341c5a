#!/usr/bin/python3
"""Writes tests/fixtures/hdbscan/: HDBSCAN results of the reference `hdbscan`
package (scikit-learn-contrib/hdbscan) that tests/test_hdbscan_parity.c
compares libpolca's polca_hdbscan with.

Run once by hand; CI reads the committed fixtures. The package is not a
dependency of the build: install it where it cannot disturb the system's
numpy (Debian's torch needs numpy 1.x, the package's wheels pull numpy 2):

    /usr/bin/python3 -m pip install --target /tmp/polca-hdbscan-ref hdbscan
    PYTHONPATH=/tmp/polca-hdbscan-ref /usr/bin/python3 tests/gen_hdbscan_fixtures.py

What the reference is. The package's Prim path (algorithm="prims_kdtree";
"generic" computes distances with a GEMM-like formula and "boruvka_*" orient
edges differently, HDBSCAN.md) computes: core distances from a KD-tree query,
the spanning tree with mst_linkage_core_vector, then sorts the edges with
numpy's default argsort, which is not stable: among tied weights its order
depends on numpy's version and CPU, and ties are common (every edge of a hub
point carries its core distance). So each fixture is made from the package's
own functions with one change, a *stable* argsort (ties keep Prim's order),
the rule libpolca follows. For every case the script also runs the package
unmodified, counts tied spanning-tree weights, and records both: where there
is no tie, or where the two agree, the fixture is also the package's own
answer. The "tiefree" cases (min_samples = 1 on points in general position)
have no tie at all, and the script asserts it.

Duplicate points: more than min_samples identical points give distance 0,
lambda = inf, NaN stabilities, and NaN GLOSH scores (inf/inf). The fixtures
keep the package's NaN; the C test expects libpolca's documented limit 1 there.

Each case is one file <dataset>__<case>.npy, float64 [7][n]:
  0 labels, 1 probabilities, 2 outlier scores, 3 core distances,
  4..6 spanning tree in Prim order (source, node, weight; column n-1 NaN)
and <dataset>__<case>.params.npy, float64 [10]:
  min_cluster_size, min_samples (as given; 0 = unset), alpha, leaf (0/1),
  epsilon, allow_single_cluster, max_cluster_size, epsilon_max (inf = unset),
  package_agrees (0/1), tied spanning-tree weights.
<dataset>.x.npy holds the points (float32 [n][d]); cases.txt lists the cases.
"""
import os
import sys
from importlib.metadata import version

import numpy as np

import hdbscan
from hdbscan._hdbscan_linkage import label, mst_linkage_core_vector
from hdbscan._hdbscan_tree import outlier_scores
from hdbscan.dist_metrics import DistanceMetric
from hdbscan.hdbscan_ import _tree_to_labels
from sklearn.neighbors import KDTree

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "hdbscan")


def pinned(x, mcs, ms, alpha, method, eps, single, maxcs, eps_max):
    """The package's pipeline (prims_kdtree) with a stable edge sort."""
    xd = np.ascontiguousarray(x, dtype=np.float64)
    n = len(xd)
    k = mcs if ms is None else ms
    k = max(min(n - 1, k), 1)
    tree = KDTree(xd, metric="euclidean", leaf_size=40)
    core = tree.query(xd, k=k + 1, dualtree=True, breadth_first=True)[0][:, -1].copy(order="C")
    mst = mst_linkage_core_vector(xd, core, DistanceMetric.get_metric("euclidean"), alpha)
    slt = label(mst[np.argsort(mst.T[2], kind="stable"), :])
    labels, probs, _, ctree, _ = _tree_to_labels(
        xd, slt, mcs, method, single, False, eps, 0.0, maxcs, eps_max)
    return labels, probs, outlier_scores(ctree), core, mst


def package(x, mcs, ms, alpha, method, eps, single, maxcs, eps_max):
    c = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms, alpha=alpha,
                        cluster_selection_method=method, cluster_selection_epsilon=eps,
                        allow_single_cluster=single, max_cluster_size=maxcs,
                        cluster_selection_epsilon_max=eps_max,
                        algorithm="prims_kdtree", metric="euclidean")
    c.fit(np.asarray(x, dtype=np.float64))
    return c.labels_, c.probabilities_, c.outlier_scores_


# ---- datasets (float32, as libpolca takes them) ----

def blobs_noise(rng):
    parts = [rng.normal(c, s, (200, 5)) for c, s in [(0.0, 1.0), (5.0, 0.5), (10.0, 2.0)]]
    parts.append(rng.uniform(-5, 15, (60, 5)))
    return np.vstack(parts).astype(np.float32)


def densities(rng):
    """Clusters of very different spreads, some far from the origin."""
    centres = np.array([[0, 0, 0], [30, 0, 0], [0, 40, 0], [100, 100, 100]], dtype=float)
    spreads = [0.2, 1.0, 3.0, 0.6]
    sizes = [150, 150, 150, 100]
    parts = [rng.normal(c, s, (m, 3)) for c, s, m in zip(centres, spreads, sizes)]
    parts.append(rng.uniform(-20, 120, (40, 3)))
    return np.vstack(parts).astype(np.float32)


def duplicates(rng):
    """Blobs in which some points repeat 12 times (more than min_samples)."""
    x = blobs_noise(rng)
    return np.vstack([x[:300], np.repeat(x[300:305], 12, axis=0), x[305:]]).astype(np.float32)


def trajectories(rng, n=600, t=40):
    """1-D-over-time curves shaped like POLCA's projected losses: L(0) = 0,
    cumulative sums of per-checkpoint changes, with a sudden drop at an
    onset that depends on the group (plus stragglers at random onsets)."""
    groups = np.array([6.0, 14.0, 22.0, 31.0])
    amps = np.array([1.0, 0.6, 1.4, 0.8])
    g = rng.integers(0, len(groups), n)
    straggler = rng.random(n) < 0.12
    onset = np.where(straggler, rng.uniform(0, t, n), groups[g] + rng.normal(0, 0.6, n))
    amp = np.where(straggler, rng.uniform(0.2, 1.5, n), amps[g] * rng.uniform(0.9, 1.1, n))
    steps = np.zeros((n, t))
    for i in range(n):
        u = np.arange(t)
        s = 1 / (1 + np.exp(-(u + 1 - onset[i]) / 0.8)) - 1 / (1 + np.exp(-(u - onset[i]) / 0.8))
        steps[i] = -amp[i] * s + rng.normal(0, 0.01, t)
    x = np.zeros((n, t + 1))
    x[:, 1:] = np.cumsum(steps, axis=1)
    return x.astype(np.float32)


def tiefree(rng):
    parts = [rng.normal(c, 0.7, (60, 4)) for c in (0.0, 4.0, 9.0)]
    parts.append(rng.uniform(-3, 12, (20, 4)))
    return np.vstack(parts).astype(np.float32)


def identical(rng):
    """Every point the same, and one extra: all distances 0 but one."""
    x = np.zeros((30, 2), dtype=np.float32)
    x[-1] = 1.0
    return x


# ---- cases: (name, min_cluster_size, min_samples or None, alpha, method,
#              epsilon, allow_single_cluster, max_cluster_size, epsilon_max) ----
INF = float("inf")
CASES = {
    "blobs_noise": [
        ("eom", 10, None, 1.0, "eom", 0.0, False, 0, INF),
        ("ms5", 15, 5, 1.0, "eom", 0.0, False, 0, INF),
        ("alpha", 10, 3, 1.3, "eom", 0.0, False, 0, INF),
        ("leaf", 5, 2, 1.0, "leaf", 0.0, False, 0, INF),
        ("eps", 10, None, 1.0, "eom", 2.0, False, 0, INF),
        ("leaf_eps", 5, None, 1.0, "leaf", 0.8, False, 0, INF),
        ("single", 300, None, 1.0, "eom", 0.0, True, 0, INF),
        ("maxsize", 10, 20, 1.0, "eom", 0.0, False, 210, INF),
        ("eps_max", 10, 5, 1.0, "eom", 0.0, False, 0, 1.0),
    ],
    "densities": [
        ("eom", 20, 10, 1.0, "eom", 0.0, False, 0, INF),
        ("leaf", 20, 10, 1.0, "leaf", 0.0, False, 0, INF),
        ("single_eps", 20, 10, 1.0, "eom", 3.0, True, 0, INF),
        ("alpha_leaf", 15, 7, 0.7, "leaf", 0.0, False, 0, INF),
    ],
    "duplicates": [
        ("eom", 10, 5, 1.0, "eom", 0.0, False, 0, INF),
        ("leaf", 10, 5, 1.0, "leaf", 0.0, False, 0, INF),
        ("ms8", 20, 8, 1.0, "eom", 0.0, False, 0, INF),
    ],
    "trajectories": [
        ("eom", 40, None, 1.0, "eom", 0.0, False, 0, INF),
        ("ms_fraction", 40, 600 // 15, 1.0, "eom", 0.0, False, 0, INF),
        ("leaf", 20, 10, 1.0, "leaf", 0.0, False, 0, INF),
        ("eps", 40, 8, 1.0, "eom", 0.5, False, 0, INF),
        ("maxsize", 30, 8, 1.0, "eom", 0.0, False, 150, INF),
    ],
    "tiefree": [
        ("eom", 8, 1, 1.0, "eom", 0.0, False, 0, INF),
        ("leaf", 8, 1, 1.0, "leaf", 0.0, False, 0, INF),
    ],
    "identical": [
        ("eom", 5, 3, 1.0, "eom", 0.0, False, 0, INF),
        ("single", 5, 3, 1.0, "eom", 0.0, True, 0, INF),
    ],
}
MAKERS = {"blobs_noise": blobs_noise, "densities": densities, "duplicates": duplicates,
          "trajectories": trajectories, "tiefree": tiefree, "identical": identical}


def main():
    os.makedirs(OUT, exist_ok=True)
    versions = "hdbscan %s, scikit-learn %s, numpy %s" % (
        version("hdbscan"), version("scikit-learn"), np.__version__)
    print(versions)
    with open(os.path.join(OUT, "VERSIONS.txt"), "w") as f:
        f.write("Made by tests/gen_hdbscan_fixtures.py with " + versions + "\n")
    names = []
    for seed, (ds, cases) in enumerate(CASES.items()):
        x = MAKERS[ds](np.random.default_rng(1000 + seed))
        n = len(x)
        np.save(os.path.join(OUT, ds + ".x.npy"), x)
        for case in cases:
            name, mcs, ms, alpha, method, eps, single, maxcs, eps_max = case
            args = (mcs, ms, alpha, method, eps, single, maxcs, eps_max)
            labels, probs, scores, core, mst = pinned(x, *args)
            plabels, pprobs, pscores = package(x, *args)
            w = mst[:, 2]
            ties = len(w) - len(np.unique(w))
            agrees = bool((plabels == labels).all() and np.allclose(pprobs, probs)
                          and np.allclose(pscores, scores, equal_nan=True))
            if ds == "tiefree":
                assert ties == 0, "tiefree data has tied spanning-tree weights"
                assert agrees, "without ties the stable sort must not change anything"
            res = np.full((7, n), np.nan)
            res[0], res[1], res[2], res[3] = labels, probs, scores, core
            res[4:7, : n - 1] = mst.T
            params = np.array([mcs, 0 if ms is None else ms, alpha, method == "leaf", eps,
                               single, maxcs, eps_max, agrees, ties], dtype=np.float64)
            base = ds + "__" + name
            np.save(os.path.join(OUT, base + ".npy"), res)
            np.save(os.path.join(OUT, base + ".params.npy"), params)
            names.append(base)
            print(f"{base:28s} n={n:4d} clusters={labels.max() + 1:2d} "
                  f"noise={(labels < 0).sum():4d} tied weights={ties:3d} "
                  f"package agrees={agrees} NaN scores={np.isnan(scores).sum()}")
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("\n".join(names) + "\n")


if __name__ == "__main__":
    sys.exit(main())
