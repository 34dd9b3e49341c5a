"""Python binding of polca_clustering_score_restricted (the paper's
Appendix G rule) against a numpy recomputation from the cluster
memberships, including the boundary: a share of exactly 0.5 is not "more
than half"."""
from pyharness import test, run, skip_if_sanitized, expect_error, expect_raises

skip_if_sanitized()

import numpy as np  # noqa: E402
import polca  # noqa: E402

N, T1 = 160, 12


def planted(seed=3):
    """Direction 0: four groups of 40 with drops of depth 1 or 3 at
    checkpoint 3 or 8, plus small noise; direction 1: two groups of 80."""
    rng = np.random.default_rng(seed)
    t = np.arange(T1)
    g = np.repeat(np.arange(4), 40)
    depth = np.where(g < 2, 1.0, 3.0)
    col = np.where(g % 2 == 0, 3, 8)
    traj = np.zeros((2, N, T1))
    traj[0] = -depth[:, None] * (t[None] >= col[:, None])
    traj[1] = np.where((np.arange(N) < 80)[:, None], -2.0 * (t >= 9), -0.5 * (t >= 4))
    traj += 0.003 * rng.standard_normal(traj.shape)
    exact = 2.0 * np.exp(-1.0 * t)[None] + 0.3 + 0.001 * rng.standard_normal((N, T1))
    return traj.astype(np.float32), exact.astype(np.float32), g


def reference(cl, label, tag, allowed, min_share):
    """homogeneity, recall, f1, share, eligible from the memberships alone."""
    k, n, _, _, nc = cl.shape
    out = np.full((4, nc), np.nan)
    eligible = np.zeros(nc, bool)
    for c in range(nc):
        d = cl.cluster(c).direction
        lab = cl.labels(d).labels
        m = np.flatnonzero(lab == c)
        pos = label[m].sum()
        h = pos / len(m)
        r = pos / max(1, label[lab >= 0].sum())
        f = 0.0 if h + r == 0 else 2 * h * r / (h + r)
        share = np.isin(tag[m][label[m]], allowed).mean() if pos else np.nan
        eligible[c] = pos > 0 and share > min_share
        out[3, c] = share
        if eligible[c]:
            out[:3, c] = h, r, f
    return out, eligible


@test
def restricted_scores_match_numpy():
    ctx = polca.Context(backend="cpu")
    traj, exact, g = planted()
    cl = polca.Clustering.create(ctx, traj, exact_loss=exact, min_cluster_size=20,
                                 filter="none")
    nc = cl.n_clusters
    assert nc == 6, nc
    rng = np.random.default_rng(7)
    label = rng.random(N) < 0.3
    tag = rng.integers(0, 4, N)
    # group 0: exactly half of its labelled members allowed (boundary)
    idx = np.flatnonzero(g == 0)
    label[idx] = False
    label[idx[:6]] = True
    tag[idx[:3]], tag[idx[3:6]] = 1, 0
    # group 1: no labelled member
    label[g == 1] = False
    for allowed in ([1, 2], [2], [0, 1, 2, 3]):
        for min_share in (0.0, 0.25, 0.5, 0.75, 0.999):
            s = cl.score_restricted(label, tag, allowed, min_share)
            ref, el = reference(cl, label, tag, allowed, min_share)
            assert np.array_equal(s.eligible, el), (allowed, min_share, s.eligible, el)
            for got, want in zip((s.homogeneity, s.recall, s.f1, s.share), ref):
                assert np.allclose(got, want, rtol=0, atol=1e-12, equal_nan=True)
    c0 = cl.labels(0).labels[idx[0]]
    c1 = cl.labels(0).labels[np.flatnonzero(g == 1)[0]]
    s = cl.score_restricted(label, tag, [1, 2], 0.5)
    assert s.share[c0] == 0.5 and not s.eligible[c0] and np.isnan(s.homogeneity[c0])
    assert cl.score_restricted(label, tag, [1, 2], 0.49).eligible[c0]
    assert np.isnan(s.share[c1]) and not s.eligible[c1]
    # eligible clusters score as the unrestricted call does
    u = cl.score(label)
    s = cl.score_restricted(label, tag, [0, 1, 2, 3], 0.0)
    assert np.array_equal(s.eligible, [c != c1 for c in range(nc)])
    keep = s.eligible
    assert np.array_equal(s.homogeneity[keep], u.homogeneity[keep])
    assert np.array_equal(s.recall[keep], u.recall[keep])


@test
def restricted_bad_input():
    ctx = polca.Context(backend="cpu")
    traj, exact, g = planted()
    cl = polca.Clustering.create(ctx, traj, exact_loss=exact, min_cluster_size=20,
                                 filter="none")
    label, tag = g == 2, g.copy()
    for bad in (-0.1, 1.0, float("nan")):
        expect_error(polca.ERR_INVALID_ARGUMENT, cl.score_restricted, label, tag, [1], bad,
                     mentions="min_share")
    expect_error(polca.ERR_INVALID_ARGUMENT, cl.score_restricted, label, tag, [], 0.5,
                 mentions="n_allowed")
    expect_raises(ValueError, cl.score_restricted, label, tag[:-1], [1])
    expect_raises(TypeError, cl.score_restricted, label, tag.astype(float), [1])
    expect_raises(TypeError, cl.score_restricted, label, tag, [1.5])
    expect_raises(ValueError, cl.score_restricted, label, tag + 2**31, [1])  # would wrap
    expect_raises(ValueError, cl.score_restricted, label, tag, [2**40])
    expect_error(polca.ERR_INVALID_ARGUMENT, cl.score_restricted, label.astype(np.uint8) * 2,
                 tag, [1], mentions="label")


if __name__ == "__main__":
    run()
