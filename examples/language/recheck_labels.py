#!/usr/bin/python3
"""Re-checks one language run's label table in numpy, from the files the
example writes:

    /usr/bin/python3 examples/language/recheck_labels.py out/language [DATA_DIR]

Independent of the library's labelling: for every cluster of every method,
its members are read from clusters_<setting>_<method>.npy ([rows][samples]: the
cluster index of each sample in each clustered direction, -1 noise, -2 left
out by the filter); at each of the four tag positions (tags.npy columns:
the token, then 1, 2 and 3 before it) the smallest set of tags covering at
least the run's coverage of the members is found by counting (exact
rational arithmetic; ties: the smaller tag id first), and the cluster is
labelled at that position when the set has at most max_tags tags besides
PAD. Both HDBSCAN settings ("paper", "fine"). Checked against
summary.json's "tables": each cluster's row, size, tag sets,
simple flags and labelled flag, and each method's labelled count, counts by
position and directions with a label; also that the tags of each sample
are the held-out text's tags shifted (tags.npy column j of a sample is
the tag of the held-out token j positions before the sample's token in
val.tags of the run's data directory, PAD before the window's start). Prints the recomputed table; exits 1 on any disagreement
("DISAGREE").
"""
import json
import os
import sys
from fractions import Fraction

import numpy as np


def cover(col, coverage, n_tags):
    counts = np.bincount(col, minlength=n_tags)
    order = sorted(range(n_tags), key=lambda v: (-counts[v], v))
    need = Fraction(repr(coverage)) * len(col)
    got, chosen = 0, []
    for v in order:
        if got >= need or counts[v] == 0:
            break
        chosen.append(v)
        got += int(counts[v])
    return chosen


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "out/language"
    s = json.load(open(os.path.join(out, "summary.json")))
    tags = np.load(os.path.join(out, "tags.npy"))
    tagset = s["tagset"]
    pad = tagset.index("PAD")
    cov, max_tags = s["config"]["coverage"], int(s["config"]["max_tags"])
    max_values = max_tags + 1
    ctx = int(s["config"]["context"])
    bad = []
    n, npos = tags.shape
    if npos != 4 or n != s["results"]["samples"]:
        bad.append(f"tags.npy has shape {tags.shape}")
    # the tags from the data directory: sample i is held-out window i // (ctx-1),
    # target position p = i % (ctx-1) + 1; column j is the tag at p - j, PAD before 0
    data = sys.argv[2] if len(sys.argv) > 2 else s["config"]["data"]
    val_tags = np.array(open(os.path.join(data, "val.tags")).read().split(), dtype=np.int64)
    per = ctx - 1
    i = np.arange(n)
    w, p = i // per, i % per + 1
    for j in range(4):
        want = np.where(p - j >= 0, val_tags[np.clip(w * ctx + p - j, 0, None)], pad)
        wrong = np.nonzero(tags[:, j] != want)[0]
        if len(wrong):
            bad.append(f"tags.npy column {j}: sample {wrong[0]} is {tags[wrong[0], j]}, "
                       f"the data says {want[wrong[0]]}")
    print(f"{'setting':<6} {'method':<20} {'clusters':>8} {'labelled':>8} {'token':>6} {'-1':>4} {'-2':>4} {'-3':>4} "
          f"{'directions':>10}")
    for setting, name in [(st, m) for st in s["settings"] for m in s["methods"]]:
        t = s["tables"][setting][name]
        name = f"{setting}_{name}"
        lab = np.load(os.path.join(out, f"clusters_{name}.npy"))
        detail = t["clusters_detail"]
        if lab.shape != (len(t["directions"]), n):
            bad.append(f"{name}: clusters_{name}.npy has shape {lab.shape}")
            continue
        nc = int(lab.max()) + 1 if lab.size and lab.max() >= 0 else 0
        if nc != t["clusters"] or len(detail) != nc:
            bad.append(f"{name}: {nc} clusters in the array, summary {t['clusters']}")
            continue
        labelled, by_pos, rows_with = 0, [0, 0, 0, 0], set()
        for c in range(nc):
            rows = np.nonzero((lab == c).any(axis=1))[0]
            if len(rows) != 1:
                bad.append(f"{name} c{c}: in rows {rows.tolist()}")
                continue
            r = int(rows[0])
            members = np.nonzero(lab[r] == c)[0]
            d = detail[c]
            if d["row"] != r or d["size"] != len(members):
                bad.append(f"{name} c{c}: row {r}, size {len(members)}; summary {d['row']}, {d['size']}")
            simple = []
            for p in range(4):
                chosen = cover(tags[members, p], cov, len(tagset))
                if len(chosen) > max_values:
                    chosen = []
                names = [tagset[v] for v in chosen]
                if names != d["values"][p]:
                    bad.append(f"{name} c{c} position {p}: {names}, summary {d['values'][p]}")
                simple.append(int(bool(chosen) and sum(v != pad for v in chosen) <= max_tags))
            if simple != d["simple"]:
                bad.append(f"{name} c{c}: simple {simple}, summary {d['simple']}")
            is_lab = int(any(simple))
            if is_lab != d["labelled"]:
                bad.append(f"{name} c{c}: labelled {is_lab}, summary {d['labelled']}")
            labelled += is_lab
            for p in range(4):
                by_pos[p] += simple[p]
            if is_lab:
                rows_with.add(r)
        print(f"{setting:<6} {name[len(setting) + 1:]:<20} {nc:>8} {labelled:>8} {by_pos[0]:>6} {by_pos[1]:>4} {by_pos[2]:>4} {by_pos[3]:>4} "
              f"{len(rows_with):>6} of {len(t['directions'])}")
        if (labelled, by_pos, len(rows_with)) != (t["labelled"], t["by_position"], t["directions_labelled"]):
            bad.append(f"{name}: labelled {labelled} {by_pos} rows {len(rows_with)}; summary "
                       f"{t['labelled']} {t['by_position']} {t['directions_labelled']}")
    for b in bad[:20]:
        print("DISAGREE:", b)
    if bad:
        return 1
    print("recheck_labels: the label table agrees")
    return 0


if __name__ == "__main__":
    sys.exit(main())
