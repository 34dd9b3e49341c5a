"""HDBSCAN, clustering of trajectories, breakthroughs and scoring
(polca/cluster.h)."""
import collections
import ctypes

import numpy as np

from ._arrays import f32, as_c, ptr
from ._native import lib, declare, call, _i32, _i64, _f64, _p
from .core import Handle, new_handle, options_ptr, Options
from .trajectories import kind_code, EXACT_LOSS, LOSS_CHANGE, FISHER

_pp = ctypes.POINTER(_p)
_ip = ctypes.POINTER(_i64)

declare("polca_hdbscan", _i32, _p, _i64, _i64, _p, _p, _p, _p, _p, ctypes.POINTER(_i32))
declare("polca_clustering_create", _i32, _p, _i64, _i64, _i64, _p, _i64, _p, _p, _pp)
declare("polca_clustering_destroy", None, _p)
declare("polca_clustering_shape", _i32, _p, _ip, _ip, _ip, _ip, _ip)
declare("polca_clustering_labels", _i32, _p, _i64, _p, _p, _p, _p)
declare("polca_clustering_cluster", _i32, _p, _i64, _ip, _ip, _ip, ctypes.POINTER(_f64),
        ctypes.POINTER(_f64), ctypes.POINTER(_i32))
declare("polca_clustering_members", _i32, _p, _i64, _p)
declare("polca_clustering_mean", _i32, _p, _i64, _p)
declare("polca_clustering_plateau", _i32, _p, ctypes.POINTER(_f64))
declare("polca_clustering_hidden_fraction", _i32, _p, ctypes.POINTER(_f64))
declare("polca_clustering_score", _i32, _p, _p, _p, _p, _p)
declare("polca_clustering_best", _i32, _p, _p, _p, _i64, _p)
declare("polca_clustering_score_restricted", _i32, _p, _p, _p, _i64, _p, _f64, _p, _p, _p, _p,
        _p)
declare("polca_clustering_autolabel", _i32, _p, _i64, _i64, _p, _p, _p, _p)

HdbscanResult = collections.namedtuple("HdbscanResult",
                                       "labels probabilities outlier_scores n_clusters")
ClusterLabels = collections.namedtuple("ClusterLabels",
                                       "labels probabilities outlier_scores onsets")
ClusterInfo = collections.namedtuple("ClusterInfo",
                                     "direction size medoid onset plateau hidden")
Scores = collections.namedtuple("Scores", "homogeneity recall f1")
RestrictedScores = collections.namedtuple("RestrictedScores",
                                          "homogeneity recall f1 share eligible")


def hdbscan(ctx, x, **options):
    """HDBSCAN of the rows of x [n][d] (Euclidean), with the hdbscan
    package's semantics and option names (min_cluster_size, min_samples,
    alpha, cluster_selection_method, cluster_selection_epsilon,
    cluster_selection_epsilon_max, allow_single_cluster, max_cluster_size).
    Returns HdbscanResult(labels int32 [n] (-1 noise), probabilities [n],
    outlier_scores [n], n_clusters)."""
    a = f32(x, "x", ndim=2)
    n = a.shape[0]
    labels = np.empty(n, dtype=np.int32)
    prob = np.empty(n, dtype=np.float32)
    score = np.empty(n, dtype=np.float32)
    nc = _i32()
    p, keep = options_ptr(options)
    call("polca_hdbscan", ctx.ptr, n, a.shape[1], ptr(a), p, ptr(labels), ptr(prob),
         ptr(score), ctypes.byref(nc))
    return HdbscanResult(labels, prob, score, nc.value)


def _label_array(label, n):
    lab = np.asarray(label)
    if lab.dtype.kind not in "biu":
        raise TypeError(f"label: expected bools or integers 0/1, got {lab.dtype}")
    if lab.shape != (n,):
        raise ValueError(f"label: expected [{n}], got shape {lab.shape}")
    return as_c(lab, np.uint8, "label")


class Clustering(Handle):
    """Per-direction HDBSCAN of loss trajectories, with each cluster's
    members, medoid, mean trajectory, breakthrough onset and
    hidden-breakthrough flag (paper eq. 9 and 10)."""

    @classmethod
    def create(cls, ctx, trajectories, t1=None, exact_loss=None, **options):
        """trajectories: [k][n][t] (or [n][t] for one direction), float;
        t1: checkpoints (default t); exact_loss: [n][t1] (needed unless the
        option plateau is given). Options: polca_clustering_create's
        (min_cluster_size default 150, min_samples, min_samples_divisor,
        filter "decrease" | "net_decrease" | "none", smoothing, onset_of,
        plateau, plateau_epsilon, plateau_over, medoid, normalize,
        cluster_onset "mean" | "median" | "mean_curve", and HDBSCAN's)."""
        x = f32(trajectories, "trajectories")
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3:
            raise ValueError(f"trajectories: expected [k][n][t], got shape {np.shape(trajectories)}")
        k, n, t = x.shape
        t1 = t if t1 is None else int(t1)
        ex = None
        if exact_loss is not None:
            ex = f32(exact_loss, "exact_loss")
            if ex.ndim == 3 and ex.shape[0] == 1:
                ex = ex[0]
            if ex.shape != (n, t1):
                raise ValueError(f"exact_loss: expected [{n}][{t1}], got shape {ex.shape}")
        p, keep = options_ptr(options)
        return cls(new_handle("polca_clustering_create",
                              (ctx.ptr, k, n, t, ptr(x), t1, ptr(ex), p),
                              lib.polca_clustering_destroy, ctx.native))

    @classmethod
    def from_trajectories(cls, ctx, traj, kind="polca", **options):
        """Clusters one output of a polca.Trajectories (its T1 and, when it
        was computed, its exact loss for the plateau), with the per-kind
        defaults of `polca cluster` (the paper's) unless given: filter
        "none" for exact_loss, loss_change and fisher (the others keep the
        library's "decrease"), and onset_of "cumsum" for loss_change."""
        code = kind_code(kind)
        if code in (EXACT_LOSS, LOSS_CHANGE, FISHER):
            options.setdefault("filter", "none")
        if code == LOSS_CHANGE:
            options.setdefault("onset_of", "cumsum")
        exact = traj.exact_loss[0] if "exact_loss" in traj.available else None
        return cls.create(ctx, traj.view(code), t1=len(traj.steps), exact_loss=exact, **options)

    @property
    def shape(self):
        """(k, n, t, t1, n_clusters)."""
        v = [_i64() for _ in range(5)]
        call("polca_clustering_shape", self.ptr, *[ctypes.byref(x) for x in v])
        return tuple(x.value for x in v)

    @property
    def n_clusters(self):
        return self.shape[4]

    def __len__(self):
        return self.n_clusters

    def labels(self, direction=0):
        """ClusterLabels(labels int32 [n]: global cluster index, -1 noise,
        -2 left out by the filter; probabilities [n]; outlier_scores [n];
        onsets [n] float64, checkpoint indices) of one direction."""
        n = self.shape[1]
        lab = np.empty(n, dtype=np.int32)
        prob = np.empty(n, dtype=np.float32)
        score = np.empty(n, dtype=np.float32)
        on = np.empty(n, dtype=np.float64)
        call("polca_clustering_labels", self.ptr, direction, ptr(lab), ptr(prob), ptr(score),
             ptr(on))
        return ClusterLabels(lab, prob, score, on)

    def cluster(self, c):
        """ClusterInfo(direction, size, medoid, onset, plateau, hidden)."""
        d, size, med = _i64(), _i64(), _i64()
        on, pl = _f64(), _f64()
        hid = _i32()
        call("polca_clustering_cluster", self.ptr, c, ctypes.byref(d), ctypes.byref(size),
             ctypes.byref(med), ctypes.byref(on), ctypes.byref(pl), ctypes.byref(hid))
        return ClusterInfo(d.value, size.value, med.value, on.value, pl.value, bool(hid.value))

    def clusters(self):
        return [self.cluster(c) for c in range(self.n_clusters)]

    def members(self, c):
        """Sample indices of cluster c, ascending, int64."""
        size = self.cluster(c).size
        out = np.empty(size, dtype=np.int64)
        call("polca_clustering_members", self.ptr, c, ptr(out))
        return out

    def mean(self, c):
        """The members' mean trajectory, float32 [t]."""
        out = np.empty(self.shape[2], dtype=np.float32)
        call("polca_clustering_mean", self.ptr, c, ptr(out))
        return out

    @property
    def plateau(self):
        out = _f64()
        call("polca_clustering_plateau", self.ptr, ctypes.byref(out))
        return out.value

    @property
    def hidden_fraction(self):
        out = _f64()
        call("polca_clustering_hidden_fraction", self.ptr, ctypes.byref(out))
        return out.value

    def score(self, label):
        """Scores(homogeneity, recall, f1), float64 [n_clusters] each, for a
        binary label per sample (bool or 0/1 [n])."""
        lab = _label_array(label, self.shape[1])
        nc = self.n_clusters
        h, r, f = (np.empty(nc, dtype=np.float64) for _ in range(3))
        call("polca_clustering_score", self.ptr, ptr(lab), ptr(h), ptr(r), ptr(f))
        return Scores(h, r, f)

    def score_restricted(self, label, tag, allowed, min_share=0.5):
        """The paper's Appendix G rule: scores only the clusters whose
        labelled members have a tag value in `allowed` for more than
        `min_share` of them (0.5: more than half; exactly half does not
        count). label: bool or 0/1 [n]; tag: integers [n]; allowed: the tag
        values that count. Returns RestrictedScores(homogeneity, recall,
        f1: float64 [n_clusters], NaN for an ineligible cluster; share:
        float64 [n_clusters], NaN without labelled members; eligible: bool
        [n_clusters])."""
        n = self.shape[1]
        lab = _label_array(label, n)
        t = np.asarray(tag)
        if t.dtype.kind not in "iu":
            raise TypeError(f"tag: expected integers, got {t.dtype}")
        if t.shape != (n,):
            raise ValueError(f"tag: expected [{n}], got shape {t.shape}")
        a = np.asarray(allowed).reshape(-1)
        if a.size and a.dtype.kind not in "iu":  # [] is float64 in numpy
            raise TypeError(f"allowed: expected integers, got {a.dtype}")
        lo, hi = np.iinfo(np.int32).min, np.iinfo(np.int32).max
        for name, v in (("tag", t), ("allowed", a)):
            if v.size and (v.min() < lo or v.max() > hi):  # would wrap in int32
                raise ValueError(f"{name}: values must fit int32, got {v.min()}..{v.max()}")
        t, a = as_c(t, np.int32, "tag"), as_c(a, np.int32, "allowed")
        nc = self.n_clusters
        h, r, f, s = (np.empty(nc, dtype=np.float64) for _ in range(4))
        el = np.empty(nc, dtype=np.int32)
        call("polca_clustering_score_restricted", self.ptr, ptr(lab), ptr(t), len(a), ptr(a),
             float(min_share), ptr(h), ptr(r), ptr(f), ptr(s), ptr(el))
        return RestrictedScores(h, r, f, s, el.astype(bool))

    def best(self, label, n_top=3):
        """(best [k]: per direction the most homogeneous cluster or -1,
        top [n_top]: the most homogeneous clusters overall, -1 padded)."""
        k, n = self.shape[:2]
        lab = _label_array(label, n)
        best = np.empty(k, dtype=np.int64)
        top = np.empty(max(n_top, 1), dtype=np.int64)
        call("polca_clustering_best", self.ptr, ptr(lab), ptr(best), n_top, ptr(top))
        return best, top[:n_top]

    def autolabel(self, c, tags, coverage=None, max_values=None):
        """Automatic label of cluster c from categorical tags [n][positions]
        (int): for each tag position, the list of values covering at least
        `coverage` of the members (default 0.7), or [] when more than
        max_values (default 2) would be needed."""
        t = np.asarray(tags)
        if t.ndim == 1:
            t = t[:, None]
        if t.dtype.kind not in "iu":
            raise TypeError(f"tags: expected integers, got {t.dtype}")
        n = self.shape[1]
        if t.ndim != 2 or t.shape[0] != n:
            raise ValueError(f"tags: expected [{n}][positions], got shape {np.shape(tags)}")
        t = as_c(t, np.int32, "tags")
        mv = 2 if max_values is None else int(max_values)
        values = np.full((t.shape[1], max(mv, 1)), -1, dtype=np.int32)
        count = np.zeros(t.shape[1], dtype=np.int32)
        opts = Options(coverage=coverage, max_values=max_values)
        call("polca_clustering_autolabel", self.ptr, c, t.shape[1], ptr(t), opts.ptr,
             ptr(values), ptr(count))
        return [list(values[i, :count[i]]) for i in range(t.shape[1])]
