"""Python bindings of polca/cluster.h: HDBSCAN, clustering of trajectories,
onsets, plateau, hidden breakthroughs, scoring and automatic labels.

References: planted structure (blobs far apart; two groups of trajectories
with drops at known checkpoints) and numpy re-implementations of the
documented definitions (eq. 9 onsets, the plateau rule, medoid, mean,
homogeneity/recall/F1). Where the hdbscan package is installed, labels
must equal its labels."""
from pyharness import Skip, test, run, skip_if_sanitized, expect_error, expect_raises

skip_if_sanitized()

import numpy as np  # noqa: E402
import polca  # noqa: E402


def blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 5]], float)
    x = np.vstack([c + 0.5 * rng.standard_normal((30, 3)) for c in centres])
    truth = np.repeat(np.arange(3), 30)
    return x.astype(np.float32), truth


@test
def hdbscan_recovers_blobs():
    ctx = polca.Context(backend="cpu")
    x, truth = blobs()
    r = polca.hdbscan(ctx, x, min_cluster_size=10)
    assert r.n_clusters == 3, r.n_clusters
    assert r.labels.shape == (90,) and r.labels.dtype == np.int32
    for c in range(3):
        members = truth[r.labels == c]
        assert len(set(members)) == 1, f"cluster {c} mixes blobs {set(members)}"
    for b in range(3):  # most of each blob is clustered
        assert (r.labels[truth == b] >= 0).mean() > 0.8
    assert ((r.probabilities >= 0) & (r.probabilities <= 1)).all()
    assert (r.probabilities[r.labels < 0] == 0).all()
    assert ((r.outlier_scores >= 0) & (r.outlier_scores <= 1)).all()
    try:
        import hdbscan as pkg
    except ImportError:
        pkg = None
    if pkg is not None:
        ref = pkg.HDBSCAN(min_cluster_size=10, algorithm="prims_kdtree").fit(x.astype(np.float64))
        assert np.array_equal(ref.labels_, r.labels)
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.hdbscan, ctx, x, min_cluster_size=1,
                 mentions="min_cluster_size")
    expect_error(polca.ERR_UNKNOWN_OPTION, polca.hdbscan, ctx, x, min_cluster=5)
    bad = x.copy()
    bad[5, 1] = np.nan
    expect_error(polca.ERR_NOT_FINITE, polca.hdbscan, ctx, bad)
    expect_raises(ValueError, polca.hdbscan, ctx, x[0])


# ---- planted trajectories ------------------------------------------------------
N, T1 = 120, 12


def planted(seed=1):
    """Direction 0: group A (samples 0..59) drops by 1 at checkpoint 4,
    group B (60..119) at checkpoint 9, plus noise. Direction 1: every
    sample rises (left out by the default filter).
    Exact loss: decays to its plateau by checkpoint 5."""
    rng = np.random.default_rng(seed)
    t = np.arange(T1)
    traj = np.zeros((2, N, T1))
    onset_a, onset_b = 4, 9
    traj[0, :60] = -(t >= onset_a).astype(float)
    traj[0, 60:] = -(t >= onset_b).astype(float)
    traj[0] += 0.01 * rng.standard_normal((N, T1))
    traj[0, :, 0] = 0
    traj[1] = 0.1 * t + 0.01 * rng.standard_normal((N, T1))
    exact = 2.0 * np.exp(-1.2 * t)[None] + 0.3 + 0.001 * rng.standard_normal((N, T1))
    group = np.repeat([0, 1], 60)
    return traj.astype(np.float32), exact.astype(np.float32), group


def onset_ref(f, t1):
    """eq. 9 without smoothing: earliest argmax over 1..t-2 of
    -(f[j+1] - 2 f[j] + f[j-1]), as a checkpoint index."""
    f = np.asarray(f, np.float64)
    t = len(f)
    curv = -(f[2:] - 2 * f[1:-1] + f[:-2])
    return float(np.argmax(curv) + 1 + (t1 - t))


def plateau_ref(exact, eps=0.05):
    m = np.asarray(exact, np.float64).mean(0)
    D = abs(m[0] - m[-1])
    ok = np.abs(m - m[-1]) <= eps * D
    for u in range(len(m)):
        if ok[u:].all():
            return float(u)


@test
def clustering_matches_definitions():
    ctx = polca.Context(backend="cpu")
    traj, exact, group = planted()
    cl = polca.Clustering.create(ctx, traj, exact_loss=exact, min_cluster_size=20)
    k, n, t, t1, nc = cl.shape
    assert (k, n, t, t1) == (2, N, T1, T1) and nc == len(cl) == 2
    assert cl.plateau == plateau_ref(exact), (cl.plateau, plateau_ref(exact))
    lab0, lab1 = cl.labels(0), cl.labels(1)
    assert (lab1.labels == -2).all()  # rising: left out by the filter
    infos = cl.clusters()
    assert all(i.direction == 0 for i in infos)
    onsets_ref = np.array([onset_ref(traj[0, i], T1) for i in range(N)])
    kept = lab0.labels != -2
    assert np.array_equal(lab0.onsets[kept], onsets_ref[kept])
    hidden = []
    for c, info in enumerate(infos):
        m = cl.members(c)
        assert np.array_equal(m, np.flatnonzero(lab0.labels == c))
        assert len(set(group[m])) == 1 and info.size == len(m) >= 50
        assert abs(info.onset - onsets_ref[m].mean()) < 1e-9
        assert np.allclose(cl.mean(c), traj[0, m].astype(np.float64).mean(0), atol=1e-6)
        d2 = ((traj[0, m][:, None, :].astype(np.float64) - traj[0, m][None]) ** 2).sum(-1).sum(1)
        assert info.medoid == m[np.argmin(d2)]
        assert info.plateau == cl.plateau and info.hidden == (info.onset > cl.plateau)
        hidden.append(info.hidden)
    assert sorted(hidden) == [False, True]  # the late drop is hidden
    assert cl.hidden_fraction == 0.5

    # scoring against "is in group B"
    label = group == 1
    sc = cl.score(label)
    for c in range(nc):
        m = cl.members(c)
        clustered = np.flatnonzero(lab0.labels >= 0)
        h = label[m].mean()
        r = label[m].sum() / max(1, label[clustered].sum())
        f = 0 if h + r == 0 else 2 * h * r / (h + r)
        assert np.allclose([sc.homogeneity[c], sc.recall[c], sc.f1[c]], [h, r, f], atol=1e-12)
    best, top = cl.best(label, n_top=3)
    b_cluster = [c for c in range(nc) if group[cl.members(c)][0] == 1][0]
    assert best[0] == b_cluster and best[1] == -1
    assert top[0] == b_cluster and top[2] == -1
    # automatic labels: the group tag names the cluster, a random tag does not
    tags = np.stack([group, np.random.default_rng(0).integers(0, 5, N)], axis=1)
    lab = cl.autolabel(b_cluster, tags)
    assert lab[0] == [1] and lab[1] == []
    assert cl.autolabel(b_cluster, tags, coverage=0.1, max_values=5)[1] != []


@test
def clustering_options_baselines_and_errors():
    ctx = polca.Context(backend="cpu")
    traj, exact, group = planted()
    # a given plateau, no exact loss; one direction as [n][t]
    cl = polca.Clustering.create(ctx, traj[0], plateau=6.0, min_cluster_size=20)
    assert cl.plateau == 6.0 and cl.shape[0] == 1
    # per-interval changes (t = t1 - 1) of the exact loss, filter "none"
    change = np.diff(exact, axis=1)[None]
    cl = polca.Clustering.create(ctx, change, t1=T1, exact_loss=exact, filter="none",
                                 onset_of="cumsum", min_cluster_size=20)
    assert cl.shape[:4] == (1, N, T1 - 1, T1)
    assert (cl.labels(0).labels != -2).all()
    # bad input
    bad = traj.copy()
    bad[0, 3, 4] = np.inf
    expect_error(polca.ERR_NOT_FINITE, polca.Clustering.create, ctx, bad, exact_loss=exact)
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Clustering.create, ctx, traj[:, :, :2],
                 plateau=1.0, mentions="t")
    expect_error(polca.ERR_UNKNOWN_OPTION, polca.Clustering.create, ctx, traj, exact_loss=exact,
                 filtr="none", mentions="filtr")
    expect_raises(ValueError, polca.Clustering.create, ctx, traj, exact_loss=exact[:, :5])
    expect_raises(ValueError, polca.Clustering.create, ctx, np.zeros((2, 2, 2, 2)))
    cl = polca.Clustering.create(ctx, traj, exact_loss=exact, min_cluster_size=20)
    expect_error(polca.ERR_INVALID_ARGUMENT, cl.cluster, 2)
    expect_error(polca.ERR_INVALID_ARGUMENT, cl.labels, 2)
    expect_raises(ValueError, cl.score, np.zeros(N - 1, bool))
    expect_raises(TypeError, cl.score, np.zeros(N))
    expect_error(polca.ERR_INVALID_ARGUMENT, cl.score, np.full(N, 2, np.uint8))
    expect_raises(ValueError, cl.autolabel, 0, np.zeros((N - 1, 2), int))


def onset_smoothed_ref(f, t1, w=1, cumsum=False):
    """eq. 9 with the options: f (or its running sum) averaged over the
    centred window of width w (cut at the ends), then onset_ref's rule."""
    f = np.asarray(f, np.float64)
    g = np.cumsum(f) if cumsum else f
    h = (w - 1) // 2
    s = np.array([g[max(0, j - h):j + h + 1].mean() for j in range(len(g))])
    return onset_ref(s, t1)


@test
def cluster_onset_rules():
    """cluster_onset: mean (default, eq. 10), median (numpy.median) or
    mean_curve (eq. 9 on the mean trajectory, with smoothing, onset_of and
    the checkpoint offset of the per-sample onsets), against numpy. Group A
    breaks through in two episodes: 36 samples mostly at checkpoint 3
    (onset 2), 24 mostly at 8 (onset 7), so the mean (4) falls between
    them; the second group's larger drops make the mean curve's onset 7.
    Group B (offset by 3, so far from A) drops by 1.5 at checkpoint 5 (30
    samples, onset 4), 6 (20, onset 5) or 10 (10, onset 9): its median is
    the mean of the 30th and 31st onsets, 4.5; its mean 310 / 60; its mean
    curve drops most at 5: 4. min_cluster_size 40 keeps both in one piece."""
    ctx = polca.Context(backend="cpu")
    rng = np.random.default_rng(3)
    t = np.arange(T1)
    s = np.concatenate([rng.uniform(0.1, 0.2, 36), -rng.uniform(0.25, 0.35, 24)])
    traj = np.zeros((1, N, T1))
    traj[0, :60] = -(1 + s)[:, None] * (t >= 3) - (1 - s)[:, None] * (t >= 8)
    drop_at = np.repeat([5, 6, 10], [30, 20, 10])
    traj[0, 60:] = 3 - 1.5 * (t[None] >= drop_at[:, None])
    traj[0] += 0.01 * rng.standard_normal((N, T1))
    traj = traj.astype(np.float32)
    found = {}
    for w, t1, onset_of in ((1, T1, "trajectory"), (3, T1 + 2, "trajectory"), (1, T1, "cumsum")):
        for rule in ("mean", "median", "mean_curve"):
            cl = polca.Clustering.create(ctx, traj, t1=t1, plateau=5.0, min_cluster_size=40,
                                         filter="none", smoothing=w, onset_of=onset_of, cluster_onset=rule)
            assert cl.n_clusters == 2, cl.n_clusters
            lab = cl.labels(0)
            hidden = 0
            for c, info in enumerate(cl.clusters()):
                m = cl.members(c)
                assert set(m) in (set(range(60)), set(range(60, N)))
                ref = {"mean": lambda: np.mean(lab.onsets[m]),
                       "median": lambda: np.median(lab.onsets[m]),
                       "mean_curve": lambda: onset_smoothed_ref(cl.mean(c), t1, w,
                                                                onset_of == "cumsum")}[rule]()
                assert abs(info.onset - ref) < 1e-12, (rule, w, t1, onset_of, c, info.onset, ref)
                assert info.hidden == (info.onset > 5.0)
                hidden += info.hidden
                found[(w, t1, onset_of, rule, m[0] == 0)] = info.onset
            assert cl.hidden_fraction == hidden / 2
    # group A: the mean between the episodes, the median in the first, the
    # mean curve in the second (hidden: after the plateau 5)
    rules = ("mean", "median", "mean_curve")
    assert [found[(1, T1, "trajectory", r, True)] for r in rules] == [4.0, 2.0, 7.0]  # A
    assert [found[(1, T1, "trajectory", r, False)] for r in rules] == [310 / 60, 4.5, 4.0]  # B
    default = polca.Clustering.create(ctx, traj, plateau=5.0, min_cluster_size=40, filter="none")
    assert [i.onset for i in default.clusters()] == [
        i.onset for i in polca.Clustering.create(ctx, traj, plateau=5.0, min_cluster_size=40,
                                                 filter="none", cluster_onset="mean").clusters()]
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Clustering.create, ctx, traj, plateau=5.0,
                 cluster_onset="middle", mentions="'cluster_onset' is 'middle'; expected mean, "
                 "median or mean_curve")
    # from_trajectories passes it on like every option
    tr = mlp_trajectories(ctx, seed=1, n=300, lr=2.0, indices=[0])
    for rule in ("median", "mean_curve"):
        got = polca.Clustering.from_trajectories(ctx, tr, "loss_change", min_cluster_size=10,
                                                 cluster_onset=rule)
        ref = polca.Clustering.create(ctx, tr.view("loss_change"), t1=len(tr.steps),
                                      exact_loss=tr.exact_loss[0], min_cluster_size=10,
                                      filter="none", onset_of="cumsum", cluster_onset=rule)
        assert got.n_clusters == ref.n_clusters > 0
        assert [i.onset for i in got.clusters()] == [i.onset for i in ref.clusters()], rule


def mlp_trajectories(ctx, seed, n, lr, indices, **options):
    """Trajectories of a small MLP trained 8 gradient steps on a linearly
    separable task (n samples from rng seed), a Hessian basis over the
    checkpoints `indices`."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int32)
    model = polca.Model.mlp(ctx, 3, 2, hidden=(4,))
    data = polca.Data.features(ctx, X, y)
    theta = model.init(0)
    s = polca.Checkpoints.create(ctx, model)
    for step in range(8):
        s.append(step, theta)
        theta = theta - lr * model.grad(data, theta)[1]
    basis = polca.Basis.hessian(ctx, model, data, s, k=1, indices=indices)
    return polca.Trajectories.create(ctx, model, data, s, basis, **options)


@test
def clustering_of_computed_trajectories():
    """The pipeline end to end on the built-in MLP: trajectories -> clusters
    (shapes and invariants only; the numbers are checked above)."""
    ctx = polca.Context(backend="cpu")
    traj = mlp_trajectories(ctx, seed=0, n=200, lr=0.5, indices=[0, 3])
    cl = polca.Clustering.from_trajectories(ctx, traj, min_cluster_size=10)
    k, n, t, t1, nc = cl.shape
    assert (k, n, t, t1) == (2, 200, 8, 8)
    for d in range(k):
        lab = cl.labels(d).labels
        assert np.array_equal(lab == -2, traj.polca[d, :, -1] >= 0)
    if nc:
        assert 0 <= cl.hidden_fraction <= 1


@test
def from_trajectories_per_kind_defaults():
    """from_trajectories applies polca cluster's per-kind defaults: filter
    "none" for the exact loss, its change and Fisher (the exact loss never
    ends below 0, so "decrease" would leave no sample), onset of the running
    sum for the change; options given explicitly still win."""
    ctx = polca.Context(backend="cpu")
    # seed 1: a run whose exact losses form 2 clusters
    traj = mlp_trajectories(ctx, seed=1, n=300, lr=2.0, indices=[0], fisher=1)
    t1, exact = len(traj.steps), traj.exact_loss[0]
    for kind, extra in (("exact_loss", {}), ("fisher", {}), ("loss_change", {"onset_of": "cumsum"})):
        got = polca.Clustering.from_trajectories(ctx, traj, kind, min_cluster_size=10)
        ref = polca.Clustering.create(ctx, traj.view(kind), t1=t1, exact_loss=exact,
                                      min_cluster_size=10, filter="none", **extra)
        assert got.n_clusters == ref.n_clusters > 0, (kind, got.n_clusters, ref.n_clusters)
        for d in range(ref.shape[0]):
            a, b = got.labels(d), ref.labels(d)
            assert np.array_equal(a.labels, b.labels), kind
            assert np.array_equal(a.onsets, b.onsets), kind
    kept = polca.Clustering.from_trajectories(ctx, traj, polca.EXACT_LOSS, min_cluster_size=10,
                                              filter="decrease")
    assert kept.n_clusters == 0 and (kept.labels(0).labels == -2).all()
    unit = polca.Clustering.from_trajectories(ctx, traj, "exact_loss", min_cluster_size=10,
                                              normalize="unit")
    ref = polca.Clustering.create(ctx, exact[None], t1=t1, exact_loss=exact, min_cluster_size=10,
                                  filter="none", normalize="unit")
    assert np.array_equal(unit.labels(0).labels, ref.labels(0).labels)


if __name__ == "__main__":
    run()
