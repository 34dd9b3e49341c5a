#!/bin/sh
# `polca basis` killed with SIGKILL at random moments and continued with
# --resume gives, byte for byte, the basis of an uninterrupted run: the
# exported .npy and the basis file are compared with cmp. The progress file
# OUT.partial is removed once OUT is saved; --resume without one starts
# afresh; a progress file of another computation is refused (naming
# it, exit 3 as for decompose) and left alone.
. tests/lib.sh
bin="$BUILD/bin/polca"
[ -x "$bin" ] || { fail resume_basis "not built: $bin"; finish; }
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c "import numpy" 2>/dev/null || { skip resume_basis "numpy is needed to write the inputs"; finish; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" tests/cli_fixtures.py "$tmp" >/dev/null || { fail resume_basis "tests/cli_fixtures.py failed"; finish; }
bin=$(cd "$(dirname "$bin")" && pwd)/polca
export POLCA_BACKEND=cpu
cd "$tmp" || exit 1
"$bin" import --config model.json --out series.polca ckpts/*.safetensors >/dev/null ||
    { fail resume_basis "import failed"; finish; }

# Six basis checkpoints of k = 8 eigenvectors; one thread, so every run
# computes the same bits.
# (through a script that execs the tool, so that $! of a background run is
# the tool's own process and kill -9 reaches it)
cat >basis.sh <<EOF
exec "$bin" --quiet --threads 1 basis --config model.json --tokens tokens.npy --mask mask.npy \\
    --series series.polca --k "\${K:-8}" --tol 1e-6 "\$@"
EOF
basis() { sh ./basis.sh "$@"; }
now_ms() { date +%s%3N; }

t0=$(now_ms)
basis --out full.polca --npy full.npy 2>/dev/null || { fail "uninterrupted run" "exit $?"; finish; }
t1=$(now_ms)
ms=$((t1 - t0))
[ -e full.polca.partial ] && fail "progress file removed after the save" "full.polca.partial is left" ||
    ok "uninterrupted run (${ms} ms); its progress file is removed after the save"

# Kill at random moments within the first 60% of the uninterrupted run's
# time, resume, until a run completes; at most 12 kills.
seed=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
kills=0 with_progress=0 attempt=0 done_=0 resume=""
while [ $attempt -lt 13 ]; do
    attempt=$((attempt + 1))
    sh ./basis.sh --out r.polca --npy r.npy --overwrite $resume 2>/dev/null &
    pid=$!
    if [ $attempt -le 12 ]; then
        delay=$(awk -v s="$seed" -v a="$attempt" -v ms="$ms" 'BEGIN { srand(s + 7 * a); printf "%.3f", rand() * 0.6 * ms / 1000 }')
        sleep "$delay"
        if kill -9 $pid 2>/dev/null; then
            kills=$((kills + 1))
            [ -s r.polca.partial ] && with_progress=$((with_progress + 1))
        fi
    fi
    wait $pid 2>/dev/null
    rc=$?
    [ $rc -eq 0 ] && [ -e r.npy ] && { done_=1; break; }
    resume=--resume
done
if [ $done_ -eq 1 ] && cmp -s full.npy r.npy && cmp -s full.polca r.polca; then
    ok "killed $kills times at random moments ($with_progress with progress on disk; seed $seed), resumed: the same bytes"
else
    fail "kill and resume" "done=$done_ rc=$rc kills=$kills seed=$seed; npy $(cmp full.npy r.npy 2>&1)"
fi
[ ! -e r.polca.partial ] && ok "progress file removed after the resumed save" ||
    fail "progress file after resume" "r.polca.partial is left"

# --resume without a progress file starts afresh
basis --out s.polca --npy s.npy --resume 2>/dev/null && cmp -s full.npy s.npy &&
    ok "--resume without a progress file computes from the start" || fail "--resume, no progress" "exit $?"

# a progress file of another computation (k = 4): killed once its
# progress file is on disk, then resumed with k = 8
caught=0
for try in 1 2 3; do
    K=4 sh ./basis.sh --out u.polca 2>/dev/null &
    pid=$!
    n=0
    while [ $n -lt 1000 ] && [ ! -s u.polca.partial ] && kill -0 $pid 2>/dev/null; do
        sleep 0.005
        n=$((n + 1))
    done
    kill -9 $pid 2>/dev/null && [ -s u.polca.partial ] && caught=1
    wait $pid 2>/dev/null
    [ $caught -eq 1 ] && break
    rm -f u.polca u.polca.partial
done
if [ $caught -eq 1 ]; then
    cp u.polca.partial keep.partial
    basis --out u.polca --resume 2>err
    rc=$?
    if [ $rc -eq 3 ] && grep -q "u.polca.partial" err && grep -q "another computation" err &&
        [ ! -e u.polca ] && cmp -s keep.partial u.polca.partial; then
        ok "a progress file of another computation: exit 3 (as decompose), named, left alone"
    else
        fail "another computation" "rc=$rc: $(cat err)"
    fi
else
    skip "another computation" "the k = 4 run finished each time before it was killed"
fi
finish
