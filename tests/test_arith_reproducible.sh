#!/bin/sh
# The arithmetic example is bit-reproducible run to run on one machine with
# one thread count (examples/arithmetic/README.md, "Reproducibility"): a tiny
# configuration run twice gives byte-identical Table 1 (stdout), .npy and
# .polca files, and the same summary.json and report.html once the wall-clock
# timings are taken out. The second run fills fresh allocations with a byte
# pattern (glibc MALLOC_PERTURB_), so a result that read uninitialised memory
# would likely differ; both runs use two BLAS/kernel threads, so a reduction
# whose order followed thread finishing order could differ too (the thread
# count is fixed: results may depend on it, the README says so).
. tests/lib.sh
: "${PYTHON:=python3}"
bin="$BUILD/examples/arithmetic/arithmetic"
[ -x "$bin" ] || { fail arith-repro "not built: $bin"; finish; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
args="--steps 100 --polca-every 10 --basis-every 50 --val 100 --min-cluster-size 10"
run() { # run NAME [ENV=VALUE...]
    name=$1
    shift
    env POLCA_BACKEND=cpu OPENBLAS_NUM_THREADS=2 "$@" "$bin" $args --out "$dir/$name" \
        >"$dir/$name.stdout" 2>"$dir/$name.stderr"
}
if ! run a; then
    fail "tiny run a" "$(tail -n 5 "$dir/a.stderr")"
    finish
fi
if ! run b MALLOC_PERTURB_=165; then
    fail "tiny run b" "$(tail -n 5 "$dir/b.stderr")"
    finish
fi
if grep -q "Table 1" "$dir/a.stdout" && cmp -s "$dir/a.stdout" "$dir/b.stdout"; then
    ok "Table 1 (stdout) identical across two runs"
else
    fail "Table 1 (stdout)" "$(diff "$dir/a.stdout" "$dir/b.stdout" | head -n 10)"
fi
n=0
for f in "$dir"/a/*.npy "$dir"/a/*.polca; do
    [ -e "$f" ] || continue
    b=$(basename "$f")
    n=$((n + 1))
    if cmp -s "$f" "$dir/b/$b"; then ok "$b identical"; else fail "$b" "differs between two identical runs"; fi
done
[ "$n" -ge 6 ] || fail "outputs" "expected the .npy and .polca outputs, found $n"
# summary.json and report.html: equal except the wall-clock timings.
out=$("$PYTHON" - "$dir/a" "$dir/b" <<'EOF' 2>&1
import json, re, sys
a, b = sys.argv[1], sys.argv[2]
def summary(d):
    s = json.load(open(d + "/summary.json"))
    assert "timings" in s, "summary.json has no timings block"
    del s["timings"]
    return s
def report(d):
    h = open(d + "/report.html", encoding="utf-8").read()
    h2, n = re.subn(r"<h2>Timings</h2>.*?</table>", "", h, flags=re.S)
    assert n == 1, "report.html: no Timings table found"
    return h2
bad = []
if summary(a) != summary(b): bad.append("summary.json")
if report(a) != report(b): bad.append("report.html")
print("differ: " + " ".join(bad) if bad else "same")
EOF
)
if [ "$out" = same ]; then
    ok "summary.json and report.html identical apart from timings"
else
    fail "summary.json/report.html" "$out"
fi
finish
