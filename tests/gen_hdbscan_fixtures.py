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

The "ties_*" datasets pin the package's tie rules (tests/test_hdbscan_parity.c
fails if libpolca breaks one). Their points sit on axes at distances that are
powers of two, so every lambda and stability is a dyadic number, exact in
double and in float32 (section "Exact ties" below says which cluster ties
with what). The script asserts each designed tie against the package's own
condensed tree and stabilities, and that the labels do not depend on how
tied spanning-tree weights are ordered (so the fixture is the package's
answer whatever numpy's sort does).
"""
import os
import sys
from importlib.metadata import version

import numpy as np

import hdbscan
from hdbscan._hdbscan_linkage import label, mst_linkage_core_vector
from hdbscan._hdbscan_tree import compute_stability, condense_tree, outlier_scores
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


# ---- Exact ties ----
#
# 19 points in 6 dimensions, min_cluster_size 3, min_samples 1:
#   A1: 5 points on the y axis, y = 4, 6, ..., 12 (spacing 2: lambda 1/2);
#   A2: 3 points on the x axis, x = -s, 0, s with s = 2 - e (lambda 1/s);
#   A1 and A2 are 4 apart ((0,0) to (0,4): lambda 1/4);
#   8 "noise" points, each 8 from one point of A1 or A2 along its own axis
#   and sign (dims 2..5), so they leave cluster A = A1 + A2 + noise one by one
#   at lambda 1/8;
#   B: 3 points 16 below A2 (lambda 1/16 for the root's split), spacing 2.
# The root splits into A (16 points) and B (3) at 1/16; A sheds its 8 noise
# points at 1/8 and splits into A1 and A2 at 1/4. With e = 0:
#   stability(A)  = 8 (1/8 - 1/16) + (5 + 3)(1/4 - 1/16) = 2
#   stability(A1) = 5 (1/2 - 1/4) = 1.25, stability(A2) = 3 (1/2 - 1/4) = 0.75
# an exact tie (in double and after the package's float32 cast): the
# package keeps the parent ("children win only when strictly greater"), so
# A's 16 points share one label; ">=" would give A1, A2 and 8 noise points.
# e = 2^-23 raises stability(A2) by about 3e/4 = 0.75 * 2^-23: the double sum
# exceeds 2, but the float32 sum the package compares (`cdef float
# subtree_stability`) rounds back to 2: still a tie, still the parent (a
# comparison in double would pick the children). e = 2^-22 (3e/4 = 1.5 *
# 2^-23, above half an ulp of 2.0f) makes the float32 sum 2 + 2^-22: the
# children win. e = -2^-21 makes the parent win outright; on it the
# boundary cases put max_cluster_size at |A| = 16 and
# cluster_selection_epsilon_max at A's birth distance 16 (the package
# deselects only when strictly greater), and cluster_selection_epsilon at
# the children's birth distance 4 (replaced only when strictly smaller).

# "ties_round" pins how the package rounds: it adds the children one at a
# time into the float, (float)(sub + stability), not the double sum once.
# Same clusters, laid out so that A1's points can sit near 0: A1 on the y
# axis centred at 0 but 4 along dimension 6 (its centre 4 from A2's), with
# spacing 2 - 2^-23, B along dimension 6 below A2. stability(A1) is then
# 5 (1/(2 - 2^-23) - 1/4), about 1.25 + 1.25 * 2^-23, which float32 rounds to
# 1.25 + 2^-23; plus A2's 0.75 that is 2 + 2^-23, half-way between two
# floats, rounded to even: 2.0f = stability(A), a tie, the parent stays.
# Rounding the double sum once gives 2 + 2^-22 (children), as does a
# comparison in double.

def tie_points_round():
    d = 7
    pts = []

    def at(x=0.0, y=0.0, z=0.0):
        v = [0.0] * d
        v[0], v[1], v[6] = x, y, z
        pts.append(v)

    s = 2.0 - 2.0 ** -23
    for k in range(-2, 3):
        at(0.0, k * s, 4.0)                         # A1
    for xx in (-2.0, 0.0, 2.0):
        at(xx, 0.0)                                 # A2
    anchors = [pts[0], pts[2], pts[4], pts[6], pts[5], pts[7], pts[1], pts[3]]
    for j, a in enumerate(anchors):                 # noise, 8 from an anchor
        v = list(a)
        v[2 + j // 2] += 8.0 if j % 2 == 0 else -8.0
        pts.append(v)
    for k in range(3):
        at(0.0, 0.0, -16.0 - 2.0 * k)               # B
    x = np.array(pts, dtype=np.float32)
    assert (x.astype(np.float64) == np.array(pts)).all(), "not exact in float32"
    return x


def tie_points(e):
    d = 6
    pts = []

    def at(x, y):
        v = [0.0] * d
        v[0], v[1] = x, y
        pts.append(v)

    for k in range(5):
        at(0.0, 4.0 + 2.0 * k)                     # A1
    for xx in (-(2.0 - e), 0.0, 2.0 - e):
        at(xx, 0.0)                                 # A2
    anchors = [pts[0], pts[2], pts[4], pts[6], pts[5], pts[7], pts[1], pts[3]]
    for j, a in enumerate(anchors):                 # noise, 8 from an anchor
        v = list(a)
        v[2 + j // 2] += 8.0 if j % 2 == 0 else -8.0
        pts.append(v)
    for k in range(3):
        at(0.0, -16.0 - 2.0 * k)                    # B
    x = np.array(pts, dtype=np.float32)
    assert (x.astype(np.float64) == np.array(pts)).all(), "not exact in float32"
    return x


TIE_E = {"ties_exact": 0.0, "ties_f32": 2.0 ** -23, "ties_above": 2.0 ** -22,
         "ties_below": -(2.0 ** -21)}
TIE_A, TIE_A1, TIE_A2 = 20, 22, 23  # cluster ids (n = 19: root 19, B 21)


def check_tie_design(ds, x, args):
    """The package's own condensed tree and stabilities are as designed."""
    mcs, ms, alpha = args[0], args[1], args[2]
    xd = x.astype(np.float64)
    k = max(min(len(xd) - 1, mcs if ms is None else ms), 1)
    core = KDTree(xd).query(xd, k=k + 1)[0][:, -1].copy(order="C")
    mst = mst_linkage_core_vector(xd, core, DistanceMetric.get_metric("euclidean"), alpha)
    ct = condense_tree(label(mst[np.argsort(mst.T[2], kind="stable"), :]), mcs)
    st = compute_stability(ct)
    kids = ct[(ct["parent"] == TIE_A) & (ct["child_size"] > 1)]["child"].tolist()
    assert kids == [TIE_A1, TIE_A2], kids
    sub = np.float32(0)
    for c in kids:                       # the package's float accumulation
        sub = np.float32(float(sub) + st[c])
    if ds == "ties_round":
        one = np.float32(float(np.float32(st[TIE_A1])) + st[TIE_A2])
        assert st[TIE_A] == 2.0 and st[TIE_A2] == 0.75, st
        assert 2.0 ** -23 < st[TIE_A1] - 1.25 < 1.5 * 2.0 ** -23, st[TIE_A1] - 1.25
        assert float(sub) == 2.0 == float(one)
        assert float(np.float32(st[TIE_A1] + st[TIE_A2])) > 2.0  # rounded once
        return
    e = TIE_E[ds]
    assert st[TIE_A] == 2.0 and st[TIE_A1] == 1.25, st
    if e == 0:
        assert st[TIE_A1] + st[TIE_A2] == 2.0 and float(sub) == 2.0
    elif e > 0:
        assert st[TIE_A1] + st[TIE_A2] > 2.0
        assert (float(sub) == 2.0) == (ds == "ties_f32"), float(sub)
    else:
        assert float(sub) < 2.0


def tie_order_free(x, args, tries=200):
    """Labels unchanged under random orders of tied spanning-tree weights."""
    mcs, ms, alpha, method, eps, single, maxcs, eps_max = args
    xd = x.astype(np.float64)
    k = max(min(len(xd) - 1, mcs if ms is None else ms), 1)
    core = KDTree(xd).query(xd, k=k + 1)[0][:, -1].copy(order="C")
    mst = mst_linkage_core_vector(xd, core, DistanceMetric.get_metric("euclidean"), alpha)
    rng = np.random.default_rng(7)
    want = None
    for _ in range(tries):
        order = np.lexsort((rng.random(len(mst)), mst[:, 2]))
        labels = _tree_to_labels(xd, label(mst[order]), mcs, method, single, False, eps,
                                 0.0, maxcs, eps_max)[0]
        if want is None:
            want = labels
        elif not (labels == want).all():
            return False
    return True


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
CASES.update({
    "ties_exact": [("eom", 3, 1, 1.0, "eom", 0.0, False, 0, INF)],
    "ties_f32": [("eom", 3, 1, 1.0, "eom", 0.0, False, 0, INF)],
    "ties_round": [("eom", 3, 1, 1.0, "eom", 0.0, False, 0, INF)],
    "ties_above": [
        ("eom", 3, 1, 1.0, "eom", 0.0, False, 0, INF),
        ("eps4", 3, 1, 1.0, "eom", 4.0, False, 0, INF),
        ("single_eps16", 3, 1, 1.0, "eom", 16.0, True, 0, INF),
    ],
    "ties_below": [
        ("eom", 3, 1, 1.0, "eom", 0.0, False, 0, INF),
        ("maxsize16", 3, 1, 1.0, "eom", 0.0, False, 16, INF),
        ("epsmax16", 3, 1, 1.0, "eom", 0.0, False, 0, 16.0),
    ],
})
MAKERS = {"blobs_noise": blobs_noise, "densities": densities, "duplicates": duplicates,
          "trajectories": trajectories, "tiefree": tiefree, "identical": identical}
MAKERS.update({ds: (lambda rng, e=e: tie_points(e)) for ds, e in TIE_E.items()})
MAKERS["ties_round"] = lambda rng: tie_points_round()


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
            if ds.startswith("ties_"):
                check_tie_design(ds, x, args)
                assert tie_order_free(x, args), "labels depend on the order of tied weights"
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
