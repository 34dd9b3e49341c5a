#!/bin/sh
# The arithmetic example's planted late skill (--scale late) end to end on a
# small run: it writes late_skill.npy, summary.json's "late_skill" section
# with the keys report_late.h documents, and report.html's section; numpy
# (examples/arithmetic/recheck_late.py, and recheck_onsets.py for the Table 1
# clusterings) agrees with every number of that section; and the recheck
# fails, naming each, when summary.json's numbers are changed.
. tests/lib.sh
bin="$BUILD/examples/arithmetic/arithmetic"
[ -x "$bin" ] || { fail late "not built: $bin"; finish; }
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c "import numpy" 2>/dev/null || { skip late "numpy is needed for the recheck"; finish; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$PWD
# The CPU unless the suite runs on a GPU (POLCA_BACKEND=cuda make check).
export POLCA_BACKEND=${POLCA_BACKEND:-cpu}

out="$tmp/run"
mkdir -p "$out"
# 800 steps, the rule learnable from step 200: the '#' tokens' mean loss
# falls below ln 2 at step ~680, so the ground truth is a step (~15 s).
# Sanitized builds (no numpy recheck there) run 300 steps.
set -- --steps 800 --polca-every 40 --basis-every 200 --late-from-step 200
[ -n "$POLCA_SANITIZED" ] && set -- --steps 300 --polca-every 20 --basis-every 100 --late-from-step 150
if "$bin" --scale late "$@" --val 200 --min-cluster-size 20 --out "$out" >"$tmp/run.log" 2>&1; then
    ok "arithmetic --scale late ($2 steps, 200 problems)"
else
    fail "arithmetic --scale late" "$(tail -n 5 "$tmp/run.log")"
    finish
fi

if grep -q '<h2>A hidden breakthrough with ground truth</h2>' "$out/report.html"; then
    ok "report.html has the late-skill section"
else
    fail "report.html" "no <h2>A hidden breakthrough with ground truth</h2>"
fi

# the keys report_late.h documents for report_late_json
if msg=$("$PY" - "$out" 2>&1 <<'PY'
import json, os, sys
import numpy as np
out = sys.argv[1]
s = json.load(open(os.path.join(out, "summary.json")))["late_skill"]
top = {"val_share", "train_share", "from_step", "steps", "needs_fraction", "max_mean_drop",
       "plateau_band", "tau_step", "truth_step", "needs_accuracy", "rule", "needs_places",
       "default_rule", "rules", "clusterings"}
assert set(s) == top, sorted(set(s) ^ top)
assert s["rules"] == ["mean", "median", "mean_curve"] and s["default_rule"] in s["rules"]
assert sorted(s["clusterings"]) == ["none", "unit"], list(s["clusterings"])
methods = ["exact_loss", "loss_change", "fisher", "lca", "polca_first_order", "polca"]
keys = {"n_clusters", "hidden_fraction", "homogeneity", "recall", "f1", "size", "direction",
        "onset_step", "meets_goal"}
for z, ms in s["clusterings"].items():
    assert list(ms) == methods, (z, list(ms))
    for m, row in ms.items():
        assert set(row) == keys, (z, m, sorted(set(row) ^ keys))
        assert list(row["onset_step"]) == s["rules"], (z, m)
        assert isinstance(row["meets_goal"], bool), (z, m)
needs = np.load(os.path.join(out, "late_skill.npy"))
assert needs.dtype == np.uint8 and set(np.unique(needs)) <= {0, 1}, needs.dtype
print(f"{len(needs)} tokens, {int(needs.sum())} need the skill; tau step {s['tau_step']}, "
      f"ground truth step {s['truth_step']}")
PY
); then
    ok "summary.json has report_late.h's late_skill keys; late_skill.npy is uint8 0/1 ($msg)"
else
    fail "late_skill keys" "$msg"
fi
# The recheck of the ground truth needs a run where the skill is learned.
[ -z "$POLCA_SANITIZED" ] && case "$msg" in
*"ground truth step None"*) skip "ground truth is a step" "the late skill was not learned: $msg" ;;
*"ground truth step "*) ok "the late skill is learned: the ground truth is a step" ;;
esac

if [ -n "$POLCA_SANITIZED" ]; then
    skip "recheck_late.py" "the bindings load the plain build"
    finish
fi
export POLCA_LIBRARY="$root/$LIBOUT/libpolca.so.0"
if "$PY" examples/arithmetic/recheck_late.py "$out" >"$tmp/late.log" 2>&1 &&
    [ "$(tail -n 1 "$tmp/late.log")" = agree ]; then
    ok "recheck_late.py: numpy agrees with summary.json's late_skill section"
else
    fail "recheck_late.py" "$(grep -E 'DISAGREE|Error|error' "$tmp/late.log" | head -n 12)"
fi
if "$PY" examples/arithmetic/recheck_onsets.py "$out" >"$tmp/onsets.log" 2>&1 &&
    [ "$(tail -n 1 "$tmp/onsets.log")" = agree ]; then
    ok "recheck_onsets.py agrees on the late run's Table 1 clusterings"
else
    fail "recheck_onsets.py" "$(tail -n 12 "$tmp/onsets.log")"
fi

# Changed numbers must be caught, each by name: a copy of the run whose
# summary.json has one homogeneity, one median onset, tau, the ground truth,
# one goal flag and needs_fraction changed.
bad="$tmp/bad"
cp -r "$out" "$bad"
if ! changed=$("$PY" - "$bad/summary.json" 2>&1 <<'PY'
import json, sys
path = sys.argv[1]
d = json.load(open(path))
s = d["late_skill"]
rows = [(z, m, r) for z, ms in s["clusterings"].items() for m, r in ms.items() if r["size"]]
assert len(rows) >= 2, "fewer than two methods with a cluster: nothing to change"
(z1, m1, r1), (z2, m2, r2) = rows[0], rows[-1]
r1["homogeneity"] += 0.01
r2["onset_step"]["median"] += 1.0
r2["meets_goal"] = not r2["meets_goal"]
s["tau_step"] += 20
s["truth_step"] = s["tau_step"] if s["truth_step"] is None else None
s["needs_fraction"] *= 1.01
json.dump(d, open(path, "w"), indent=1)
for name in (f"{z1}/{m1} homogeneity", f"{z2}/{m2} onset_step.median", f"{z2}/{m2} meets_goal",
             "tau_step", "truth_step", "needs_fraction"):
    print(name)
PY
); then
    fail "corrupted summary.json" "$changed"
    finish
fi
"$PY" examples/arithmetic/recheck_late.py "$bad" >"$tmp/bad.log" 2>&1
rc=$?
if [ $rc -eq 1 ] && [ "$(tail -n 1 "$tmp/bad.log" | cut -c1-8)" != agree ]; then
    ok "recheck_late.py exits 1 on a changed summary.json"
else
    fail "recheck_late.py on a changed summary.json" "rc=$rc: $(tail -n 3 "$tmp/bad.log")"
fi
echo "$changed" | while IFS= read -r name; do
    if grep -q "^  DISAGREE $name: " "$tmp/bad.log"; then
        echo "ok recheck names the changed $name"
    else
        echo "FAIL recheck names the changed $name: not in $(grep -c DISAGREE "$tmp/bad.log") DISAGREE lines"
    fi
done >"$tmp/names"
cat "$tmp/names"
T_PASSED=$((T_PASSED + $(grep -c '^ok ' "$tmp/names")))
T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$tmp/names")))
"$PY" examples/arithmetic/recheck_late.py >/dev/null 2>&1
rc=$?
if [ $rc -eq 2 ]; then ok "recheck_late.py without OUT_DIR: exit 2"; else fail "usage" "rc=$rc"; fi
"$PY" examples/arithmetic/recheck_late.py "$tmp" >"$tmp/nolate.log" 2>&1
rc=$?
if [ $rc -eq 2 ]; then ok "recheck_late.py on a directory without summary.json: exit 2"
else fail "no summary.json" "rc=$rc: $(tail -n 2 "$tmp/nolate.log")"; fi
finish
