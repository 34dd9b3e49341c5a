#!/usr/bin/python3
"""Re-checks one late-skill run's summary.json "late_skill" section in numpy,
from the files the example writes (--scale late; late_skill.h):

    /usr/bin/python3 examples/arithmetic/recheck_late.py out/arithmetic-late

Independent of the library and of the example's C code, from
docs/method.md and late_skill.h: the label (late_skill.npy, checked
against tags.npy: the digits of a '#' problem that summary.json's
needs_places names, all or none per problem, no other, and
round(val_share * n_val) problems); needs_fraction,
max_mean_drop (needs_fraction * ln 2) and plateau_band (eps * D);
tau (docs/method.md#the-plateau, eps = 0.05, over the mean exact loss of
all tokens); the ground truth (the first checkpoint from which on the mean
exact loss of the late-skill tokens stays below ln 2); and for every
clustering of late_skill.clusterings (normalize "none" and "unit") and
every method of Table 1: every sample's onset (eq. 9, "smoothing" and, for
the change in exact loss, "onset_of" = "cumsum"), each cluster's onset
under the three rules (members' mean, members' median as numpy.median,
eq. 9 of the members' mean curve), the hidden fraction (eq. 10 with the
summary's default_rule), the homogeneity, recall (over the labelled
samples in some cluster of the same direction) and F1 of every cluster
for the late label, the best cluster (highest homogeneity, the lower index
on ties), its size, basis direction and onsets in training steps (linear
interpolation between checkpoint steps), and the goal (homogeneity >= 0.8,
onset under the default rule after tau, within 10% of the steps of the
ground truth).

Taken from the library: only the cluster memberships (HDBSCAN, re-run here
through the Python bindings with the run's settings on the directions the
example clusters: the POLCA basis's kept directions (mean final projected
loss <= 0) for POLCA, first-order POLCA and Fisher, the LCA basis's for
LCA, the one row of the whole-loss kinds; filter "decrease" for the
projected kinds, "none" for the others) and the checkpoint steps
(trajectories.polca). The library's per-sample onsets (labels().onsets),
cluster onsets under each rule, plateau and hidden fraction are compared
with numpy's as well, and the memberships must not depend on the onset
rule. Not rechecked: needs_accuracy (the final predictions are not
exported).

Tolerances: 1e-6 relative (absolute below 1) for fractions and scores,
1e-6 steps (or 1e-9 relative, the JSON's 10 digits) for steps; counts,
sizes, directions and flags exactly. Prints the table and every
comparison that fails; exits 1 on any disagreement ("DISAGREE"), 2 when
OUT_DIR is not a late-skill run.
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

EPS = 0.05               # plateau_epsilon, the library's default
LN2 = math.log(2.0)      # the least mean loss without the skill (late_skill.h)
GOAL_HOMOGENEITY = 0.8
GOAL_WITHIN = 0.1        # of the run's steps
TOL_SCORE = 1e-6
TOL_STEP = 1e-6
RULES = ("mean", "median", "mean_curve")
N_OUT = 4                # scored tokens per problem (addition.h)
PLACE_1000 = 0           # tags.npy column 0

# name in summary.json -> (trajectory kind, clustering filter, directions)
METHODS = [("exact_loss", "exact_loss", "none", "whole"),
           ("loss_change", "loss_change", "none", "whole"),
           ("fisher", "fisher", "none", "polca_kept"),
           ("lca", "lca", "decrease", "lca_kept"),
           ("polca_first_order", "first_order", "decrease", "polca_kept"),
           ("polca", "polca", "decrease", "polca_kept")]

problems = []


def disagree(what):
    problems.append(what)
    print(f"  DISAGREE {what}")


def kept(traj):
    """Algorithm 1's filter as the example applies it: directions whose mean
    final projected loss is <= 0."""
    return np.nonzero(traj[:, :, -1].astype(np.float64).mean(axis=1) <= 0.0)[0]


def plateau(mean_exact):
    """tau as a checkpoint index: the first u with |m(v) - m(T)| <= eps D
    for every v >= u."""
    last = mean_exact[-1]
    inside = np.abs(mean_exact - last) <= EPS * abs(mean_exact[0] - last)
    u = len(inside)
    while u > 0 and inside[u - 1]:
        u -= 1
    return min(u, len(inside) - 1)


def smooth(x, w):
    """Centred moving average of odd width w along rows, the window cut at
    the ends."""
    h = (w - 1) // 2
    if h == 0:
        return x
    t = x.shape[1]
    prefix = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    lo = np.maximum(np.arange(t) - h, 0)
    hi = np.minimum(np.arange(t) + h, t - 1)
    return (prefix[:, hi + 1] - prefix[:, lo]) / (hi - lo + 1)


def onsets(x, w, cumsum, t1):
    """eq. 9 for every row of x [n][t]: checkpoint indices (column j of a
    curve of t < t1 columns is checkpoint j + t1 - t). cumsum: eq. 9 of the
    running sum (onset_of "cumsum"), smoothed after summing."""
    f = x.astype(np.float64)
    if cumsum:
        f = np.cumsum(f, axis=1)
    f = smooth(f, w)
    acc = -(f[:, 2:] - 2.0 * f[:, 1:-1] + f[:, :-2])  # j = 1..t-2
    return (np.argmax(acc, axis=1) + 1 + (t1 - x.shape[1])).astype(np.float64)


def to_step(column, steps):
    """A checkpoint column, possibly fractional, as a training step."""
    if column is None or not np.isfinite(column) or column < 0 or column > len(steps) - 1:
        return math.nan
    return float(np.interp(column, np.arange(len(steps)), steps.astype(np.float64)))


def ground_truth(exact, needs):
    """The first column from which on the late-skill tokens' mean exact loss
    stays below ln 2, or -1."""
    if not needs.any():
        return -1
    m = exact[needs].astype(np.float64).mean(axis=0)
    below = m < LN2
    u = len(below)
    while u > 0 and below[u - 1]:
        u -= 1
    return u if u < len(below) else -1


def same(got, want, tol, what):
    """got (numpy) against want (summary.json; None for NaN)."""
    if isinstance(want, str):
        ok = False
    elif isinstance(got, (bool, np.bool_)) or isinstance(want, bool):
        ok = bool(got) == want
    elif isinstance(got, (int, np.integer)) and isinstance(want, int):
        ok = int(got) == want
    elif want is None or (isinstance(got, float) and math.isnan(got)):
        ok = want is None and (got is None or math.isnan(got))
    else:
        ok = abs(got - want) <= max(tol * max(1.0, abs(want)), 1e-9 * abs(want))
    if not ok:
        disagree(f"{what}: numpy {got!r}, summary {want!r}")
    return ok


PLACE_NAMES = ["1000s", "100s", "10s", "1s"]


def label_check(needs, tags, n_val, share, needs_places):
    """late_skill.npy against late_skill.h: per problem, the digits of the
    summary's needs_places all or none, the others never; round(share *
    n_val) problems."""
    place = tags[:, 0]
    per = needs.reshape(n_val, N_OUT)
    places = place.reshape(n_val, N_OUT)
    wanted = np.isin(places, [PLACE_NAMES.index(p) for p in needs_places])
    shift = per.any(axis=1)
    if (needs & ~wanted.reshape(-1)).any():
        disagree(f"late_skill.npy marks a digit outside needs_places {needs_places}")
    if not np.array_equal(per, (shift[:, None] & wanted)):
        disagree(f"late_skill.npy: a problem with some but not all of its {needs_places} digits")
    want = math.floor(share * n_val + 0.5)
    if int(shift.sum()) != want:
        disagree(f"late_skill.npy: {int(shift.sum())} '#' problems, late_skill.h: round("
                 f"{share} x {n_val}) = {want}")


def recheck_method(ctx, name, kind, filt, which, x, dirs, exact, steps, needs, cfg, norm,
                   rule, tau, truth_step, n_steps):
    """One method under one normalization: numpy's row of the late_skill
    table, after checking the library's onsets against numpy's."""
    t1 = len(steps)
    w = int(cfg.get("onset_smoothing", 1))
    cumsum = kind == "loss_change"
    opts = dict(t1=t1, exact_loss=exact, min_cluster_size=cfg["min_cluster_size"],
                min_samples_divisor=cfg["min_samples_divisor"], filter=filt, normalize=norm,
                smoothing=w)
    if cumsum:
        opts["onset_of"] = "cumsum"
    libs = {r: polca.Clustering.create(ctx, x, cluster_onset=r, **opts) for r in RULES}
    cl = libs[rule]
    k = x.shape[0]
    labels = [cl.labels(d) for d in range(k)]
    nc = cl.n_clusters
    where = f"{norm}/{name}"
    # memberships: from the labels, the same under every rule
    members, direction = [], []
    for c in range(nc):
        d = cl.cluster(c).direction
        members.append(np.nonzero(labels[d].labels == c)[0])
        direction.append(d)
        if not np.array_equal(members[c], cl.members(c)):
            disagree(f"{where}: cluster {c}: members() differs from labels()")
    for r in RULES:
        if r == rule:
            continue
        other = libs[r]
        if other.n_clusters != nc or any(
                not np.array_equal(other.labels(d).labels, labels[d].labels) for d in range(k)):
            disagree(f"{where}: the memberships change with cluster_onset {r}")
    # per-sample onsets: numpy's eq. 9 against the library's
    on = [onsets(x[d], w, cumsum, t1) for d in range(k)]
    compared = 0
    for d in range(k):
        lib_on = labels[d].onsets
        clustered = labels[d].labels >= 0
        fin = np.isfinite(lib_on)
        if (clustered & ~fin).any():
            disagree(f"{where}: direction row {d}: a clustered sample without a library onset")
        bad = fin & (np.abs(lib_on - on[d]) > 1e-9)
        compared += int(fin.sum())
        if bad.any():
            i = int(np.nonzero(bad)[0][0])
            disagree(f"{where}: direction row {d}: {int(bad.sum())} sample onsets differ "
                     f"(sample {i}: numpy {on[d][i]}, library {lib_on[i]})")
    # each cluster's onset under each rule, in checkpoint columns
    col = {r: np.full(nc, math.nan) for r in RULES}
    for c in range(nc):
        d, mem = direction[c], members[c]
        o = on[d][mem]
        col["mean"][c] = o.mean()
        col["median"][c] = np.median(o)
        mean_curve = x[d][mem].astype(np.float64).mean(axis=0)
        col["mean_curve"][c] = onsets(mean_curve[None], w, cumsum, t1)[0]
        for r in RULES:
            lib_c = libs[r].cluster(c)
            if not abs(lib_c.onset - col[r][c]) <= 1e-6:
                disagree(f"{where}: cluster {c}: {r} onset numpy {col[r][c]}, library "
                         f"{lib_c.onset} (columns)")
            if lib_c.plateau != tau:
                disagree(f"{where}: cluster {c}: library tau {lib_c.plateau}, numpy {tau}")
    hidden = col[rule] > tau
    hidden_fraction = float(hidden.mean()) if nc else 0.0
    if abs(cl.hidden_fraction - hidden_fraction) > 1e-12:
        disagree(f"{where}: hidden fraction numpy {hidden_fraction}, library "
                 f"{cl.hidden_fraction}")
    # scores for the late label
    labelled = [int(needs[labels[d].labels >= 0].sum()) for d in range(k)]
    h = np.array([needs[m].mean() for m in members]) if nc else np.zeros(0)
    pos = np.array([needs[m].sum() for m in members], dtype=np.float64)
    den = np.array([labelled[d] for d in direction], dtype=np.float64)
    rec = np.divide(pos, den, out=np.zeros(nc), where=den > 0)
    f1 = np.divide(2 * h * rec, h + rec, out=np.zeros(nc), where=(h + rec) > 0)
    row = dict(n_clusters=nc, hidden_fraction=hidden_fraction, homogeneity=math.nan,
               recall=math.nan, f1=math.nan, size=0, direction=-1,  # -1: no direction
               onset_step={r: math.nan for r in RULES}, meets_goal=False)
    if nc:
        best = int(np.argmax(h))  # the first maximum: the lower index on ties
        row.update(best=best, homogeneity=float(h[best]), recall=float(rec[best]),
                   f1=float(f1[best]), size=len(members[best]),
                   direction=-1 if which == "whole" else int(dirs[direction[best]]),
                   onset_step={r: to_step(col[r][best], steps) for r in RULES})
        on_step = row["onset_step"][rule]
        row["meets_goal"] = bool(row["homogeneity"] >= GOAL_HOMOGENEITY and
                                 on_step > to_step(tau, steps) and
                                 abs(on_step - truth_step) <= GOAL_WITHIN * n_steps)
    row["compared_onsets"] = compared
    return row


def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    out = argv[1]
    try:
        summ = json.load(open(os.path.join(out, "summary.json")))
    except (OSError, ValueError) as e:
        print(f"{out}/summary.json: {e}", file=sys.stderr)
        return 2
    late = summ.get("late_skill")
    if not isinstance(late, dict):
        print(f"{out}/summary.json: no \"late_skill\" section (run with --scale late)",
              file=sys.stderr)
        return 2
    cfg = summ["config"]
    arrays = {"polca": np.load(os.path.join(out, "polca.npy")),
              "lca": np.load(os.path.join(out, "lca.npy"))}
    exact = np.load(os.path.join(out, "exact_loss.npy"))
    exact = exact.reshape(exact.shape[-2], exact.shape[-1])  # [N][T1]
    tags = np.load(os.path.join(out, "tags.npy"))
    needs = np.load(os.path.join(out, "late_skill.npy")).astype(bool)
    n, t1 = exact.shape
    if needs.shape != (n,) or tags.shape[0] != n:
        print(f"{out}: late_skill.npy {needs.shape} / tags.npy {tags.shape} do not match "
              f"exact_loss.npy's {n} samples", file=sys.stderr)
        return 2
    arrays["exact_loss"] = exact[None]
    rule = late["default_rule"]
    n_steps = int(cfg["steps"])

    print(f"{out}: {n} tokens, {t1} checkpoints; the label")
    label_check(needs, tags, int(cfg["validation_sequences"]), float(cfg["late_val_share"]),
                late["needs_places"])
    mean_exact = exact.astype(np.float64).mean(axis=0)
    tau = plateau(mean_exact)
    truth = ground_truth(exact, needs)
    needs_fraction = float(needs.mean())
    top = dict(val_share=float(cfg["late_val_share"]), train_share=float(cfg["late_train_share"]),
               from_step=int(cfg["late_from_step"]), steps=n_steps,
               needs_fraction=needs_fraction, max_mean_drop=needs_fraction * LN2,
               plateau_band=EPS * abs(mean_exact[0] - mean_exact[-1]))
    ok_rules = late.get("rules") == list(RULES) and rule in RULES
    if not ok_rules:
        disagree(f"rules {late.get('rules')} / default_rule {rule!r}: expected "
                 f"{list(RULES)} and one of them")
        rule = "mean"

    with polca.Context(backend="cpu") as ctx:
        traj = polca.Trajectories.load(ctx, os.path.join(out, "trajectories.polca"))
        steps = np.array(traj.steps, dtype=np.int64)
        if len(steps) != t1 or not np.array_equal(np.asarray(traj.view("polca")),
                                                  arrays["polca"]):
            disagree("trajectories.polca differs from polca.npy or from exact_loss.npy's "
                     "checkpoints")
        for kind in ("first_order", "fisher", "loss_change"):
            if kind in traj.available:
                arrays[kind] = np.array(traj.view(kind))
        top["tau_step"] = to_step(tau, steps)
        top["truth_step"] = float(steps[truth]) if truth >= 0 else math.nan
        print(f"  tau: checkpoint {tau} = step {top['tau_step']:.0f} (summary "
              f"{late['tau_step']}, results.plateau_tau_step {summ['results']['plateau_tau_step']})"
              f"; ground truth: checkpoint {truth} = step {top['truth_step']:.0f} (summary "
              f"{late['truth_step']})")
        print(f"  needs_fraction {needs_fraction:.4f}, max_mean_drop {top['max_mean_drop']:.4f}, "
              f"plateau_band {top['plateau_band']:.4f}")
        for key, v in top.items():
            tol = TOL_STEP if key.endswith("_step") else TOL_SCORE
            same(v, late.get(key, "missing"), tol, key)
        same(top["tau_step"], summ["results"]["plateau_tau_step"], TOL_STEP,
             "results.plateau_tau_step")

        dirs_of = {"polca_kept": kept(arrays["polca"]), "lca_kept": kept(arrays["lca"]),
                   "whole": np.array([0])}
        norms = list(late["clusterings"])
        if sorted(norms) != ["none", "unit"]:
            disagree(f"clusterings {norms}: expected none and unit")
        print(f"\nbest cluster per method for the late label; onsets in steps; default rule "
              f"{rule}; goal: homogeneity >= {GOAL_HOMOGENEITY}, onset > tau step "
              f"{top['tau_step']:.0f}, within {GOAL_WITHIN * n_steps:.0f} of {top['truth_step']}")
        print(f"{'normalize':9} {'method':18} {'clusters':>8} {'hidden':>6} {'homog':>6} "
              f"{'recall':>6} {'F1':>6} {'size':>5} {'dir':>4} {'mean':>8} {'median':>8} "
              f"{'mean_curve':>10} goal (sample onsets = library's)")
        for norm in norms:
            for name, kind, filt, which in METHODS:
                want = late["clusterings"][norm].get(name)
                if want is None:
                    disagree(f"{norm}/{name}: missing in summary.json")
                    continue
                if kind not in arrays:
                    disagree(f"{norm}/{name}: no {kind} output in the run's files: NOT RECHECKED")
                    continue
                dirs = dirs_of[which]
                x = np.ascontiguousarray(arrays[kind][dirs])
                got = recheck_method(ctx, name, kind, filt, which, x, dirs, exact, steps, needs,
                                     cfg, norm, rule, tau, top["truth_step"], n_steps)
                o = got["onset_step"]
                print(f"{norm:9} {name:18} {got['n_clusters']:8d} {got['hidden_fraction']:6.3f} "
                      f"{got['homogeneity']:6.3f} {got['recall']:6.3f} {got['f1']:6.3f} "
                      f"{got['size']:5d} {str(got['direction']):>4} {o['mean']:8.1f} "
                      f"{o['median']:8.1f} {o['mean_curve']:10.1f} "
                      f"{'met' if got['meets_goal'] else 'not met'} ({got['compared_onsets']})")
                where = f"{norm}/{name}"
                for key in ("n_clusters", "size", "meets_goal"):
                    same(got[key], want.get(key, "missing"), 0, f"{where} {key}")
                for key in ("hidden_fraction", "homogeneity", "recall", "f1"):
                    same(got[key], want.get(key, "missing"), TOL_SCORE, f"{where} {key}")
                same(got["direction"], want.get("direction", "missing"), 0, f"{where} direction")
                for r in RULES:
                    same(o[r], (want.get("onset_step") or {}).get(r, "missing"), TOL_STEP,
                         f"{where} onset_step.{r}")
    if problems:
        print(f"\nDISAGREE ({len(problems)}):")
        for p in problems:
            print(f"  {p}")
        return 1
    print("\nagree")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
