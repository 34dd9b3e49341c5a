#!/bin/sh
# The language example (examples/language, the paper's section 5) on the
# committed tiny data set tests/fixtures/language (prepare.py's output for
# the first FOLDOC paragraphs, vocabulary 200): a tiny run writes the
# label table, summary.json, report.html, tags.npy and clusters_*.npy;
# recheck_labels.py recomputes every cluster's automatic label and the
# table in numpy from those arrays and the data's val.tags and agrees; a
# summary.json with one flag flipped is caught; malformed data exits 2
# naming the file, before any output is written.
. tests/lib.sh
: "${PYTHON:=/usr/bin/python3}"
bin="$BUILD/examples/language/language"
data=tests/fixtures/language
[ -x "$bin" ] || { fail language "not built: $bin"; finish; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
args="--data $data --steps 100 --polca-every 10 --basis-every 50 --val 60 --ctx 16 --batch 16 --basis-seq 16 --min-cluster-size 15 --fine-min-cluster-size 8"
if POLCA_BACKEND=cpu "$bin" $args --out "$dir/run" >"$dir/stdout" 2>"$dir/stderr"; then
    ok "tiny run"
else
    fail "tiny run" "$(tail -n 5 "$dir/stderr")"
    finish
fi
grep -q "^Automatic labels" "$dir/stdout" && grep -q "^POLCA " "$dir/stdout" &&
    ok "label table printed" || fail "label table" "$(head -n 5 "$dir/stdout")"
for f in summary.json report.html tags.npy polca.npy exact_loss.npy trajectories.polca \
    clusters_paper_exact_loss.npy clusters_paper_loss_change.npy clusters_paper_fisher.npy \
    clusters_paper_lca.npy clusters_paper_polca_first_order.npy clusters_paper_polca.npy \
    clusters_fine_polca.npy clusters_fine_lca.npy clusters_fine_exact_loss.npy; do
    [ -s "$dir/run/$f" ] || fail "output $f" "missing or empty"
done
ls "$dir/run" | grep -q '\.tmp\.' && fail "outputs" "temporary files left: $(ls "$dir/run")"
out=$("$PYTHON" - "$dir/run" <<'PY' 2>&1
import json, sys
s = json.load(open(sys.argv[1] + "/summary.json"))
assert s["format"] == "libpolca-language-summary-1", s["format"]
assert s["methods"] == ["exact_loss", "loss_change", "fisher", "lca", "polca_first_order", "polca"]
assert s["tagset"][-1] == "PAD" and "NOUN" in s["tagset"]
assert s["results"]["samples"] == 60 * 15, s["results"]["samples"]
assert list(s["settings"]) == ["paper", "fine"], s["settings"]
for st, m in [(st, m) for st in s["settings"] for m in s["methods"]]:
    t = s["tables"][st][m]
    assert len(t["clusters_detail"]) == t["clusters"]
    assert 0 <= t["labelled"] <= t["clusters"] and 0 <= t["chance_labelled"] <= t["clusters"]
    for c in t["clusters_detail"]:
        assert len(c["values"]) == 4 and len(c["simple"]) == 4
        assert 1 <= len(c["contexts"]) <= 5 and all("[" in x for x in c["contexts"])
        assert bool(c["label"]) == bool(c["labelled"])
h = open(sys.argv[1] + "/report.html", encoding="utf-8").read()
assert h.rstrip().endswith("</html>") and "The label table" in h and "<svg" in h
print("ok")
PY
)
[ "$out" = ok ] && ok "summary.json and report.html structure" || fail "structure" "$out"
if out=$("$PYTHON" examples/language/recheck_labels.py "$dir/run" "$data" 2>&1); then
    ok "recheck_labels.py agrees"
else
    fail "recheck_labels.py" "$(echo "$out" | tail -n 5)"
fi
# the recheck is not vacuous: flip one cluster's labelled flag (or the count;
# the fine setting's POLCA row)
"$PYTHON" - "$dir/run/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t = s["tables"]["fine"]["polca"]
if t["clusters_detail"]:
    t["clusters_detail"][0]["labelled"] ^= 1
else:
    t["labelled"] += 1
json.dump(s, open(sys.argv[1], "w"))
PY
if "$PYTHON" examples/language/recheck_labels.py "$dir/run" "$data" >"$dir/recheck2" 2>&1; then
    fail "recheck catches a wrong table" "it agreed with a flipped flag"
else
    grep -q DISAGREE "$dir/recheck2" && ok "recheck catches a wrong table" ||
        fail "recheck catches a wrong table" "$(tail -n 3 "$dir/recheck2")"
fi
# malformed data: exit 2, the message names the file, no output directory
bad() { # NAME FILE SED-EXPRESSION EXPECTED-TEXT
    rm -rf "$dir/bad" "$dir/out-$1"
    cp -r "$data" "$dir/bad"
    sed -i "$3" "$dir/bad/$2"
    "$bin" --data "$dir/bad" --out "$dir/out-$1" --steps 100 --basis-every 50 --polca-every 10 \
        --val 10 --ctx 16 >/dev/null 2>"$dir/err"
    rc=$?
    if [ "$rc" -eq 2 ] && grep -q "$2" "$dir/err" && grep -q "$4" "$dir/err" && [ ! -e "$dir/out-$1" ]; then
        ok "bad data: $1"
    else
        fail "bad data: $1" "exit $rc: $(cat "$dir/err")"
    fi
}
bad "tag out of range" val.tags '1s/^[0-9]*/19/' "not an integer in \[0, 19)"
bad "token id not a number" val.ids '2s/^[0-9]*/x1/' '"x1"'
bad "tags shorter than the text" val.tags '$d' "val.tags"
bad "empty vocabulary line" vocab.txt '5s/.*//' "line 5 is empty"
bad "no PAD tag" tagset.txt '/^PAD$/d' "no PAD tag"
"$bin" --data "$data" --out "$dir/out-big" --val 100000 >/dev/null 2>"$dir/err"
rc=$?
[ "$rc" -eq 2 ] && grep -q "too few" "$dir/err" && ok "too many windows asked" || fail "too many windows" "exit $rc: $(cat "$dir/err")"
finish
