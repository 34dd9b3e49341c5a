#!/bin/sh
# `polca score --tag` and `polca report --tag`: the paper's Appendix G rule
# (a cluster counts only if more than --min-share of its labelled members
# have a tag value in --tag-values). On a small TransformerLens-style run
# (tests/cli_fixtures.py): the restricted scores are listed first and the
# unrestricted after them, labelled; the JSON agrees with a numpy
# recomputation from the cluster memberships (Python bindings) for
# min-share 0.5 and 0; tags as [N], [N][C] with --tag-column and
# [n_seq][n_ctx] with --mask give the same scores; every bad option or tag
# file gives one line on stderr and the documented exit status.
. tests/lib.sh
bin="$BUILD/bin/polca"
[ -x "$bin" ] || { fail cli-score "not built: $bin"; finish; }
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c "import numpy" 2>/dev/null || { skip cli-score "numpy is needed to write the inputs"; finish; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" tests/cli_fixtures.py "$tmp" || { fail cli-score "tests/cli_fixtures.py failed"; finish; }
bin=$(cd "$(dirname "$bin")" && pwd)/polca
root=$PWD
export POLCA_BACKEND=${POLCA_BACKEND:-cpu}

run() { (cd "$tmp" && "$bin" "$@" >"$tmp/out" 2>"$tmp/err"); rc=$?; }
must_ok() { # NAME ARGS...
    name=$1; shift
    run "$@"
    if [ $rc -eq 0 ]; then ok "$name"; else fail "$name" "rc=$rc: $(head -c 400 "$tmp/err")"; fi
}
must_fail() { # NAME CODE TEXT ARGS...: exit CODE, one stderr line containing TEXT, no stdout
    name=$1 code=$2 text=$3; shift 3
    run "$@"
    lines=$(wc -l <"$tmp/err")
    if [ $rc -eq "$code" ] && [ "$lines" -eq 1 ] && grep -q -- "$text" "$tmp/err" && [ ! -s "$tmp/out" ]; then
        ok "$name: $(cat "$tmp/err")"
    else
        fail "$name" "rc=$rc (want $code), $lines stderr lines: $(head -c 400 "$tmp/err") / stdout: $(head -c 200 "$tmp/out")"
    fi
}

must_ok "import" import --config model.json --out series.polca ckpts/ckpt_000000.safetensors \
    ckpts/ckpt_000050.safetensors ckpts/ckpt_000100.safetensors ckpts/ckpt_000150.safetensors \
    ckpts/ckpt_000200.safetensors ckpts/ckpt_000250.safetensors
must_ok "basis" basis --series series.polca --out random.polca --method random --k 6 --seed 3
must_ok "decompose" decompose --config model.json --tokens tokens.npy --mask mask.npy \
    --series series.polca --basis random.polca --out traj.polca
# Tags: [N] random values 0..3 (seeded), the same as column 2 of [N][3], and
# per token position at the mask's positions.
(cd "$tmp" && "$PY" -c '
import numpy as np
mask = np.load("mask.npy")
n = int(mask.sum())
tag = np.random.default_rng(5).integers(0, 4, n).astype(np.int32)
np.save("tag.npy", tag)
np.save("tag3.npy", np.stack([tag + 7, -tag, tag], axis=1).astype(np.int64))
t2 = np.full(mask.shape, 99, np.int16)
t2[mask] = tag
np.save("tag2d.npy", t2)
np.save("tag_float.npy", tag.astype(np.float32))
np.save("tag_short.npy", tag[:-1])
big = tag.astype(np.int64)
big[7] = 2**40
np.save("tag_big.npy", big)
') || { fail cli-score "writing the tags failed"; finish; }

# ---- output ----
must_ok "score without --tag" score traj.polca --labels labels.npy --min-cluster-size 8 --kind polca
if ! grep -q "restricted" "$tmp/out" && grep -q "homogeneity" "$tmp/out"; then
    ok "no restricted scores without --tag"
else
    fail "score without --tag" "$(cat "$tmp/out")"
fi
must_ok "score --tag" score traj.polca --labels labels.npy --min-cluster-size 8 --kind all \
    --tag tag.npy --tag-values 1,2 --min-share 0.5 --out s_half.json
# restricted first, then unrestricted, for every kind
if awk '/^ restricted \(the paper.s rule: more than 0.5 of the labelled members with a tag in \{1,2\}\)/ {r++; next}
        /^ unrestricted \(every cluster\)/ {if (r == u + 1) u++; next}
        END {exit !(r >= 2 && r == u)}' "$tmp/out"; then
    ok "restricted scores listed first, unrestricted after, labelled ($(grep -c '^ restricted' "$tmp/out") kinds)"
else
    fail "score --tag stdout" "$(cat "$tmp/out")"
fi
grep -q "tag share" "$tmp/out" && ok "the tag share is shown" || fail "tag share" "$(cat "$tmp/out")"
must_ok "score --tag, min-share 0" score traj.polca --labels labels.npy --min-cluster-size 8 --kind all \
    --tag tag.npy --tag-values 1:3 --min-share 0 --out s_zero.json
must_ok "score --tag with --tag-column" score traj.polca --labels labels.npy --min-cluster-size 8 \
    --kind all --tag tag3.npy --tag-column 2 --tag-values 2,1 --out s_col.json
must_ok "score --tag per position with --mask" score traj.polca --labels labels2d.npy --mask mask.npy \
    --min-cluster-size 8 --kind all --tag tag2d.npy --tag-values 1,2 --out s_2d.json
must_ok "score --tag, default min-share" score traj.polca --labels labels.npy --min-cluster-size 8 \
    --kind all --tag tag.npy --tag-values 1,2 --out s_default.json

if [ -n "$POLCA_SANITIZED" ]; then
    skip "scores against numpy" "the Python bindings need the plain build"
elif out=$(cd "$tmp" && POLCA_LIBRARY="$root/$LIBOUT/libpolca.so.0" PYTHONPATH="$root/bindings/python" \
    "$PY" - 2>&1 <<'PY'
import json
import math
import numpy as np
import polca

ctx = polca.Context(backend="cpu")
traj = polca.Trajectories.load(ctx, "traj.polca")
label = np.load("labels.npy").astype(bool)
tag = np.load("tag.npy")
filters = {"exact_loss": "none", "loss_change": "none", "fisher": "none"}
checked = 0
for path, min_share in (("s_half.json", 0.5), ("s_zero.json", 0.0)):
    js = json.load(open(path))
    assert js["restriction"]["values"] in ([1, 2], [1, 2]) and js["restriction"]["min_share"] == min_share
    for kind in traj.available:
        opts = dict(min_cluster_size=8, filter=filters.get(kind, "decrease"))
        if kind == "loss_change":
            opts["onset_of"] = "cumsum"
        cl = polca.Clustering.from_trajectories(ctx, traj, kind, **opts)
        got = js["kinds"][kind]
        assert len(got["clusters"]) == cl.n_clusters, kind
        rows = []
        for c in range(cl.n_clusters):
            m = cl.members(c)
            lab = cl.labels(cl.cluster(c).direction).labels
            pos = label[m].sum()
            h = pos / len(m)
            r = pos / max(1, label[lab >= 0].sum())
            f = 0.0 if h + r == 0 else 2 * h * r / (h + r)
            share = np.isin(tag[m][label[m]], [1, 2]).mean() if pos else math.nan
            el = bool(pos > 0 and share > min_share)
            g = got["clusters"][c]
            assert g["eligible"] == el, (kind, c, g, share)
            assert (g["tag_share"] is None and math.isnan(share)) or abs(g["tag_share"] - share) < 1e-12
            assert abs(g["homogeneity"] - h) < 1e-12 and abs(g["recall"] - r) < 1e-12
            rows.append((h, r, f, el))
        assert got["eligible_clusters"] == sum(x[3] for x in rows), kind
        for key, only in (("restricted", True), ("unrestricted", False)):
            top = sorted([c for c in range(len(rows)) if rows[c][3] or not only],
                         key=lambda c: (-rows[c][0], c))[:3]
            assert got[key]["top"] == top, (kind, key, got[key]["top"], top)
            for q, name in enumerate(("homogeneity", "recall", "f1")):
                assert np.allclose(got[key][name], [rows[c][q] for c in top], rtol=0, atol=1e-12)
        checked += 1
# the same tags given three other ways give the same file
base = json.load(open("s_half.json"))
for other in ("s_col.json", "s_2d.json", "s_default.json"):
    o = json.load(open(other))
    assert o["kinds"] == base["kinds"], other
print("agree on", checked, "kinds x shares")
PY
); then
    ok "restricted and unrestricted scores match numpy ($out)"
else
    fail "scores against numpy" "$out"
fi

must_ok "report --tag" report traj.polca --labels labels.npy --min-cluster-size 8 --tag tag.npy \
    --tag-values 1,2 --out report.html
if grep -q "The paper's rule</th><th colspan=\"6\">Every cluster" "$tmp/report.html" &&
    grep -q "more than 0.5 of the labelled members with a tag in {1,2}" "$tmp/report.html"; then
    ok "report: the paper's rule first, every cluster beside it"
else
    fail "report --tag" "$(grep -o '<h2>Clusters against.*' "$tmp/report.html" | head -c 600)"
fi
must_ok "report without --tag" report traj.polca --labels labels.npy --min-cluster-size 8 --out plain.html
grep -q "The paper's rule" "$tmp/plain.html" && fail "report without --tag" "restricted columns shown" ||
    ok "report without --tag: one column group"

# ---- errors ----
S="score traj.polca --labels labels.npy --min-cluster-size 8"
must_fail "--tag-values without --tag" 1 "needs --tag" $S --tag-values 1,2
must_fail "--min-share without --tag" 1 "needs --tag" $S --min-share 0.4
must_fail "--tag without --tag-values" 1 "tag-values" $S --tag tag.npy
must_fail "--min-share 1" 1 "min-share" $S --tag tag.npy --tag-values 1 --min-share 1
must_fail "--min-share negative" 1 "min-share" $S --tag tag.npy --tag-values 1 --min-share -0.1
must_fail "--min-share not a number" 1 "min-share" $S --tag tag.npy --tag-values 1 --min-share half
must_fail "--tag-values not integers" 1 "tag-values" $S --tag tag.npy --tag-values a,b
must_fail "--tag-values negative" 1 "tag-values" $S --tag tag.npy --tag-values -1
must_fail "float tags" 2 "tag_float.npy: tags must be integers" $S --tag tag_float.npy --tag-values 1
must_fail "too few tags" 2 "tag_short.npy" $S --tag tag_short.npy --tag-values 1
must_fail "a tag beyond int32" 2 "tag \[7\] does not fit int32" $S --tag tag_big.npy --tag-values 1
must_fail "missing tag file" 2 "nothere.npy" $S --tag nothere.npy --tag-values 1
must_fail "--tag-column out of range" 1 "tag-column 3" $S --tag tag3.npy --tag-column 3 --tag-values 1
must_fail "[N][C] tags without --tag-column" 2 "tag3.npy" $S --tag tag3.npy --tag-values 1
must_fail "report --tag without --labels" 1 "give --labels" report traj.polca --tag tag.npy \
    --tag-values 1 --out r.html
finish
