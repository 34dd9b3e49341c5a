#!/bin/sh
# polca decompose --resume after kill -9 (issue 18 item 4): a run killed at
# random points and resumed writes exactly the bytes of an uninterrupted run
# (every output as .npy); the progress file goes once the outputs are
# published; --resume with other options refuses the progress file and
# keeps it; --resume without one starts afresh; Ctrl-C keeps the progress.
. tests/lib.sh
bin="$BUILD/bin/polca"
[ -x "$bin" ] || { fail resume "not built: $bin"; finish; }
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c "import numpy" 2>/dev/null || { skip resume "numpy is needed to write the inputs"; finish; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" tests/cli_fixtures.py "$tmp" --import-set || { fail resume "tests/cli_fixtures.py failed"; finish; }
bin=$(cd "$(dirname "$bin")" && pwd)/polca
export POLCA_BACKEND=${POLCA_BACKEND:-cpu} OPENBLAS_NUM_THREADS=1
cd "$tmp" || exit 1
"$PY" -c "import numpy as np; np.save('tok.npy', np.random.default_rng(1).integers(0, 256, (24, 32)))"
# 20 checkpoints of the larger model; a random basis of 8 directions
"$bin" import -q --config big.json --out big.polca $(ls ckpts_big/*.safetensors | head -12) &&
    "$bin" basis -q --series big.polca --out b.polca --method random --k 8 --seed 2 ||
    { fail resume "fixtures"; finish; }
decompose() { # OUT NPYDIR [ARGS...] (exec: backgrounded, $! is polca itself)
    out=$1 npy=$2; shift 2
    exec "$bin" decompose -q --config big.json --tokens tok.npy --series big.polca --basis b.polca \
        --fisher --lca 4 --out "$out" --npy-dir "$npy" --overwrite "$@"
}
t0=$(date +%s%N)
(decompose ref.polca ref) || { fail resume "uninterrupted run"; finish; }
ms=$((($(date +%s%N) - t0) / 1000000))
[ ! -e ref.polca.partial ] && ok "an uninterrupted run (${ms} ms) leaves no progress file" ||
    fail "progress file removed" "ref.polca.partial is left"

same() { # DIR: every .npy as in ref/
    for f in ref/*.npy; do cmp -s "$f" "$1/$(basename "$f")" || return 1; done
}
kills=0 resumed=0
for i in 1 2 3; do
    # a kill at a random point of the run (10%..90% of its time)
    delay=$("$PY" -c "import random; random.seed($i); print(round($ms * random.uniform(0.1, 0.9) / 1000, 3))")
    decompose k$i.polca k$i >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 $pid 2>/dev/null && kills=$((kills + 1))
    wait $pid 2>/dev/null
    had=0
    [ -e k$i.polca.partial ] && had=1
    if (decompose k$i.polca k$i --resume) && same k$i && [ ! -e k$i.polca.partial ]; then
        [ $had -eq 1 ] && resumed=$((resumed + 1))
        ok "killed after ${delay} s, resumed: the same bytes"
    else
        fail "kill -9 + --resume ($i)" "outputs differ from the uninterrupted run or progress file left"
    fi
done
[ $resumed -ge 2 ] && ok "$resumed of $kills kills left progress to resume from" ||
    fail "kills left progress" "only $resumed of $kills"

# progress of another computation is refused, and kept
decompose x.polca x >/dev/null 2>&1 &
pid=$!
sleep "$("$PY" -c "print($ms * 0.6 / 1000)")"
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if [ -e x.polca.partial ]; then
    (decompose x.polca x --resume --curvature secant) 2>err
    rc=$?
    if [ $rc -eq 3 ] || [ $rc -eq 2 ]; then
        grep -q "another computation" err && [ -e x.polca.partial ] && [ ! -e x.polca ] &&
            ok "--resume with other options: exit $rc, $(cat err)" ||
            fail "--resume with other options" "$(cat err)"
    else
        fail "--resume with other options" "rc=$rc $(cat err)"
    fi
else
    skip "--resume with other options" "the kill came before the first checkpoint"
fi
(decompose y.polca y --resume) && same y && ok "--resume without a progress file starts afresh" ||
    fail "--resume without progress" "outputs differ"
finish
