#!/bin/sh
# Several processes under Open MPI on localhost (docs/scaling.md,
# docs/cli.md "Several processes"): `mpirun -np 2|3 polca basis|decompose|
# cluster` against one process - decompose's .npy outputs and cluster's
# labels bit for bit, the Hessian basis within a stated tolerance (its sums
# over ranks are taken in another order); outputs written once. Failures:
# a missing or corrupt input gives one error line and the same exit status
# on every rank; a rank killed with kill -9 ends the job (no hang); a rank
# that never enters a collective makes rank 0 fail with POLCA_ERR_COMM
# naming the timeout, in time (tests/mpi_check.c, built here with mpicc,
# also checks the module's sums, broadcasts and gathers, split into small
# pieces with POLCA_MPI_CHUNK_BYTES); the launcher without the module is
# refused; a 2-rank decompose killed and resumed (--resume) gives the
# one-process file. Python: an mpi4py communicator (tests/mpi4py_check.py).
# Skips where mpirun or mpicc is missing (make deps installs them).
. tests/lib.sh
bin="$BUILD/bin/polca"
[ -x "$bin" ] || { fail mpi "not built: $bin"; finish; }
if [ "${POLCA_SANITIZED:-0}" = 1 ]; then
    skip mpi "sanitized build: the MPI module is not built there (Open MPI's own allocations would be reported)"
    finish
fi
command -v mpirun >/dev/null 2>&1 || { skip mpi "mpirun not found (make deps installs openmpi-bin)"; finish; }
command -v mpicc >/dev/null 2>&1 || { skip mpi "mpicc not found (make deps installs libopenmpi-dev)"; finish; }
[ -e "$LIBOUT/libpolca_mpi.so.0" ] ||
    { fail mpi "mpicc is here but $LIBOUT/libpolca_mpi.so.0 is not built (make mpi)"; finish; }
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c "import numpy" 2>/dev/null || { skip mpi "numpy is needed to write the inputs"; finish; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" tests/cli_fixtures.py "$tmp" || { fail mpi "tests/cli_fixtures.py failed"; finish; }
bin=$(cd "$(dirname "$bin")" && pwd)/polca
root=$PWD
# one thread per rank (the reference too); a short collective timeout so a
# broken job cannot outlive the test
export POLCA_BACKEND=cpu OPENBLAS_NUM_THREADS=1 POLCA_MPI_TIMEOUT=30
# ranks > 0 write their discarded copies under TMPDIR (and Open MPI its session)
export TMPDIR="$tmp/scratch"
mkdir -p "$TMPDIR"
MPIRUN="mpirun --oversubscribe --allow-run-as-root"

# job NAME NP ARGS...: polca on NP ranks in $tmp, bounded by `timeout`.
# Every rank's exit status in $tmp/status.R (a wrapper records it and exits
# 0, so mpirun does not end the job early); $rc: mpirun's, $tmp/out, $tmp/err.
job() {
    name=$1 np=$2
    shift 2
    rm -f "$tmp"/status.*
    start=$(date +%s)
    (cd "$tmp" && POLCA_TEST_DIR="$tmp" timeout 60 $MPIRUN -np "$np" sh -c \
        'eval "$POLCA_TEST_PRE"; "$0" "$@"; echo $? >"$POLCA_TEST_DIR/status.$OMPI_COMM_WORLD_RANK"' \
        "$bin" "$@" >"$tmp/out" 2>"$tmp/err")
    rc=$? took=$(($(date +%s) - start))
    statuses=$(cat "$tmp"/status.* 2>/dev/null | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')
    errlines=$(grep -c '^polca' "$tmp/err")
}
# job_ok NAME NP ARGS...: every rank 0, no error line
job_ok() {
    job "$@"
    if [ "$statuses" = "0x$np " ] && [ "$errlines" -eq 0 ]; then ok "$name"
    else fail "$name" "rc=$rc statuses '$statuses': $(head -c 600 "$tmp/err")"; fi
}
# job_fail NAME NP CODE TEXT ARGS...: every rank exits CODE, one error line with TEXT
job_fail() {
    name=$1 np=$2 code=$3 text=$4
    shift 4
    job "$name" "$np" "$@"
    if [ "$statuses" = "${code}x$np " ] && [ "$errlines" -eq 1 ] && grep '^polca' "$tmp/err" | grep -q -- "$text"; then
        ok "$name: $(grep '^polca' "$tmp/err")"
    else
        fail "$name" "statuses '$statuses' (want ${code}x$np), $errlines error lines: $(head -c 600 "$tmp/err")"
    fi
}
one() { (cd "$tmp" && "$bin" "$@" >"$tmp/out" 2>"$tmp/err") || fail "one process: $*" "$(head -c 400 "$tmp/err")"; }
no_tmp_files() { # NAME: nothing left behind by a temporary file
    left=$(ls -A "$tmp" | grep 'polca-tmp' | head -3)
    [ -z "$left" ] && ok "$1: no temporary file left" || fail "$1: temporary files left" "$left"
}

# ---- one process: the references ----
one import --config model.json --out series.polca ckpts/ckpt_000000.safetensors \
    ckpts/ckpt_000050.safetensors ckpts/ckpt_000100.safetensors ckpts/ckpt_000150.safetensors \
    ckpts/ckpt_000200.safetensors ckpts/ckpt_000250.safetensors
BASIS="--config model.json --tokens tokens.npy --mask mask.npy --series series.polca --checkpoints 0:6:2 --k 2 --tol 1e-5"
one basis $BASIS --out ref_basis.polca --npy ref_basis.npy
DECOMP="--config model.json --tokens tokens.npy --mask mask.npy --series series.polca --basis ref_basis.polca --fisher --lca 4"
one decompose $DECOMP --out ref_traj.polca --npy-dir ref_npy
one cluster ref_traj.polca --min-cluster-size 8 --out ref_clusters.json --labels-out ref_labels.npy

# ---- 2 and 3 ranks against it ----
for np in 2 3; do
    job_ok "basis on $np ranks" "$np" basis $BASIS --out b$np.polca --npy b$np.npy
    [ "$(grep -c "^b$np.polca: 6 hessian vectors" "$tmp/out")" -eq 1 ] && ok "basis on $np ranks: one summary" ||
        fail "basis on $np ranks: one summary" "$(head -c 300 "$tmp/out")"
    # the tolerance: every rank sums the Hessian-vector products over the
    # ranks' shards in another order than one process; both solves converge
    # to --tol 1e-5, so each vector may turn by about tol / (eigenvalue gap):
    # |cos| >= 1 - 1e-6 allows 1.4e-3 rad (gaps down to ~0.01), and no more
    if "$PY" - "$tmp/ref_basis.npy" "$tmp/b$np.npy" <<'EOF' >"$tmp/cmp" 2>&1; then
import sys
import numpy as np
a, b = (np.load(p).astype(np.float64) for p in sys.argv[1:3])
assert a.shape == b.shape, (a.shape, b.shape)
cos = np.abs(np.sum(a * b, axis=1)) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
print("smallest |cos| %.12f" % cos.min())
assert cos.min() >= 1 - 1e-6
EOF
        ok "basis on $np ranks: the one-process vectors within |cos| >= 1 - 1e-6 ($(cat "$tmp/cmp"))"
    else
        fail "basis on $np ranks: vectors" "$(cat "$tmp/cmp")"
    fi
    job_ok "decompose on $np ranks" "$np" decompose $DECOMP --out t$np.polca --npy-dir d$np
    [ "$(grep -c "^t$np.polca: " "$tmp/out")" -eq 1 ] && ok "decompose on $np ranks: one summary" ||
        fail "decompose on $np ranks: one summary" "$(head -c 300 "$tmp/out")"
    same=1
    for f in "$tmp"/ref_npy/*.npy; do
        cmp -s "$f" "$tmp/d$np/$(basename "$f")" || { same=0; fail "decompose on $np ranks: $(basename "$f")" "differs from one process"; }
    done
    [ "$(ls "$tmp/d$np" | wc -l)" -eq "$(ls "$tmp/ref_npy" | wc -l)" ] || { same=0; fail "decompose on $np ranks: npy files" "$(ls "$tmp/d$np")"; }
    [ $same -eq 1 ] && ok "decompose on $np ranks: every .npy bit for bit one process's ($(ls "$tmp/ref_npy" | tr '\n' ' '))"
    job_ok "cluster on $np ranks" "$np" cluster ref_traj.polca --min-cluster-size 8 --out c$np.json --labels-out l$np.npy
    cmp -s "$tmp/ref_labels.npy" "$tmp/l$np.npy" && cmp -s "$tmp/ref_clusters.json" "$tmp/c$np.json" &&
        ok "cluster on $np ranks: labels and clusters identical to one process" ||
        fail "cluster on $np ranks" "labels or clusters.json differ"
    [ "$(grep -c "^polca: [0-9]* clusters over" "$tmp/out")" -eq 1 ] && ok "cluster on $np ranks: printed once" ||
        fail "cluster on $np ranks: printed once" "$(head -c 300 "$tmp/out")"
done
no_tmp_files "the jobs"
left=$(ls -A "$TMPDIR" | grep '^polca-rank')
[ -z "$left" ] && ok "ranks > 0 leave no scratch directory" || fail "scratch directories left" "$left"

# ---- failures ----
job_fail "a missing input on 3 ranks" 3 2 "rank 0: .*missing.npy" basis $BASIS --out never.polca --tokens missing.npy
head -c 700 "$tmp/series.polca" >"$tmp/cut.polca"
job_fail "a corrupt series on 2 ranks" 2 2 "cut.polca" decompose $DECOMP --out never.polca --series cut.polca
job_fail "an existing output on 2 ranks" 2 1 "exists" cluster ref_traj.polca --min-cluster-size 8 --out c2.json
[ ! -e "$tmp/never.polca" ] && ok "no output after a failure" || fail "failures" "never.polca written"
export POLCA_MPI_MODULE="$tmp/none.so"
job_fail "the module missing under mpirun: refused, not run twice" 2 2 "MPI module" info model.json
unset POLCA_MPI_MODULE
# a bad file on one rank only: rank 1 runs in r1/, where the tokens and the
# trajectories are cut short; every rank stops at once (before the
# collective call rank 0 would wait in until the timeout, 30 s here)
mkdir "$tmp/r1"
for f in model.json mask.npy series.polca ref_basis.polca; do ln -s "../$f" "$tmp/r1/$f"; done
head -c 100 "$tmp/tokens.npy" >"$tmp/r1/tokens.npy"
head -c 100 "$tmp/ref_traj.polca" >"$tmp/r1/ref_traj.polca"
export POLCA_TEST_PRE='[ "$OMPI_COMM_WORLD_RANK" = 1 ] && cd r1'
for c in "basis $BASIS --out never.polca" "decompose $DECOMP --out never.polca" \
    "cluster ref_traj.polca --min-cluster-size 8 --out never.json"; do
    job_fail "a bad file on rank 1 only: ${c%% *}" 2 2 "rank 1: " $c
    [ "$took" -lt 15 ] && ok "a bad file on rank 1 only: ${c%% *} ends in ${took} s" ||
        fail "a bad file on rank 1 only: ${c%% *}" "took ${took} s: the ranks waited for each other"
done
unset POLCA_TEST_PRE
[ ! -e "$tmp/never.polca" ] && [ ! -e "$tmp/never.json" ] && ok "no output after a failure on one rank" ||
    fail "failure on one rank" "an output was written"
# a long basis; rank 1 killed with kill -9 after 1 s
"$PY" -c "import numpy as np; np.save('$tmp/long.npy', np.random.default_rng(1).integers(0, 7, (3000, 6)))"
start=$(date +%s)
(cd "$tmp" && timeout 60 $MPIRUN -np 2 sh -c \
    'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then (sleep 1; kill -9 $$) & fi; exec "$0" "$@"' \
    "$bin" basis --config model.json --tokens long.npy --series series.polca --k 4 --tol 1e-9 \
    --out killed.polca >"$tmp/out" 2>"$tmp/err")
rc=$? took=$(($(date +%s) - start))
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$(grep -c '^polca' "$tmp/err")" -le 1 ] && [ ! -e "$tmp/killed.polca" ]; then
    ok "rank 1 killed mid-run: the job ends (status $rc after ${took} s), no output"
else
    fail "rank 1 killed mid-run" "rc=$rc after ${took} s: $(head -c 600 "$tmp/err")"
fi
no_tmp_files "the failed jobs"

# ---- --resume over 2 ranks: a decompose killed mid-run (kill -9 of rank
# 1 once it has committed a checkpoint to its progress file) continues from
# every rank's progress file and gives the one-process file bit for bit ----
"$PY" -c "import numpy as np; np.save('$tmp/many.npy', np.random.default_rng(2).integers(0, 7, (12000, 6)))"
RES="--config model.json --tokens many.npy --series series.polca --basis ref_basis.polca --quiet"
one decompose $RES --out res1.polca
rm -f "$tmp/pid.1"
(cd "$tmp" && timeout 60 $MPIRUN -np 2 sh -c \
    'echo $$ >"pid.$OMPI_COMM_WORLD_RANK.tmp" && mv "pid.$OMPI_COMM_WORLD_RANK.tmp" "pid.$OMPI_COMM_WORLD_RANK"; exec "$0" "$@"' \
    "$bin" decompose $RES --out res2.polca >"$tmp/out" 2>"$tmp/err") &
job_pid=$!
# a record past the header (about 200 bytes) is a committed checkpoint
for i in $(seq 300); do
    size=$(stat -c %s "$tmp/res2.polca.partial.1-of-2" 2>/dev/null || echo 0)
    [ "$size" -gt 1000 ] && [ -e "$tmp/pid.1" ] && { kill -9 "$(cat "$tmp/pid.1")" 2>/dev/null; break; }
    kill -0 $job_pid 2>/dev/null || break
    sleep 0.1
done
wait $job_pid
rc=$?
partial=$(ls "$tmp" | grep -c '^res2.polca.partial.[01]-of-2$')
if [ $rc -eq 0 ] && [ -e "$tmp/res2.polca" ]; then
    skip "decompose on 2 ranks killed and resumed" "the run ended before rank 1 committed a checkpoint"
elif [ $rc -ne 0 ] && [ ! -e "$tmp/res2.polca" ] && [ "$partial" -ge 1 ]; then
    ok "decompose on 2 ranks killed: status $rc, no output, $partial progress files"
    job_ok "decompose --resume on 2 ranks" 2 decompose $RES --out res2.polca --resume
    cmp -s "$tmp/res1.polca" "$tmp/res2.polca" && ok "resumed on 2 ranks: the one-process file bit for bit" ||
        fail "resumed on 2 ranks" "res2.polca differs from one process's"
    left=$(ls "$tmp" | grep '^res2.polca.partial')
    [ -z "$left" ] && ok "resumed on 2 ranks: progress files removed" || fail "progress files left" "$left"
else
    fail "decompose on 2 ranks killed" "rc=$rc, $partial progress files: $(head -c 300 "$tmp/err")"
fi
# rank 0's publish step itself fails (--overwrite of a file a writer holds
# locked): every rank fails with it and keeps its progress for --resume
if command -v flock >/dev/null 2>&1; then
    echo other >"$tmp/held.polca"
    flock -x "$tmp/held.polca" sleep 30 &
    holder=$!
    sleep 0.3
    job_fail "publishing fails on rank 0 (2 ranks)" 2 3 "a writer holds" decompose $RES --out held.polca --overwrite
    kill $holder 2>/dev/null
    wait $holder 2>/dev/null
    n=$(ls "$tmp" | grep -c '^held.polca.partial.[01]-of-2$')
    [ "$n" -eq 2 ] && [ "$(cat "$tmp/held.polca")" = other ] &&
        ok "publishing failed: the held file kept, every rank's progress file kept" ||
        fail "publishing failed on rank 0" "$n progress files kept (want 2): $(ls "$tmp" | grep held)"
else
    skip "publishing fails on rank 0" "no flock(1)"
fi

# ---- the module's collectives and timeouts (tests/mpi_check.c) ----
if mpicc -std=c11 -O1 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc -o "$tmp/mpi_check" tests/mpi_check.c \
    src/mpi/comm_mpi.c "$LIBOUT/libpolca.a" -lopenblas -llapacke -lzstd -lm -ldl -lpthread 2>"$tmp/cc"; then
    # report LABEL: the ok/FAIL lines of $tmp/out
    report() {
        grep '^ok ' "$tmp/out" | while read -r _ line; do echo "ok $1: $line"; done
        grep '^FAIL ' "$tmp/out" | while read -r _ line; do echo "FAIL $1: $line"; done
        n_ok=$(grep -c '^ok ' "$tmp/out") n_fail=$(grep -c '^FAIL ' "$tmp/out")
        T_PASSED=$((T_PASSED + n_ok)) T_FAILED=$((T_FAILED + n_fail))
    }
    for np in 2 3; do
        timeout 60 $MPIRUN -np $np "$tmp/mpi_check" ops >"$tmp/out" 2>"$tmp/err"
        rc=$?
        report "$np ranks"
        [ $rc -eq 0 ] && [ "$n_ok" -ge 12 ] || fail "mpi_check ops on $np ranks" "rc=$rc, $n_ok ok: $(head -c 400 "$tmp/err")"
    done
    POLCA_MPI_CHUNK_BYTES=24 timeout 60 $MPIRUN -np 3 "$tmp/mpi_check" ops >"$tmp/out" 2>"$tmp/err"
    rc=$?
    report "3 ranks, 24-byte pieces"
    [ $rc -eq 0 ] && [ "$n_ok" -ge 12 ] || fail "mpi_check ops in 24-byte pieces" "rc=$rc, $n_ok ok: $(head -c 400 "$tmp/err")"
    start=$(date +%s)
    timeout 30 $MPIRUN -np 2 "$tmp/mpi_check" timeout 1 >"$tmp/out" 2>"$tmp/err"
    rc=$? took=$(($(date +%s) - start))
    report "timeout 1 s"
    if [ $rc -ne 124 ] && grep -q '^RANK0_DONE' "$tmp/out" && [ "$took" -lt 15 ]; then
        ok "a rank that never arrives: the job ends in ${took} s ($(grep '^#' "$tmp/out"))"
    else
        fail "a rank that never arrives" "rc=$rc after ${took} s: $(head -c 400 "$tmp/out")"
    fi
else
    fail "mpicc tests/mpi_check.c" "$(head -c 600 "$tmp/cc")"
fi

# ---- Python: an mpi4py communicator ----
if "$PY" -c "import mpi4py" 2>/dev/null; then
    PYTHONPATH="$root/bindings/python" POLCA_LIBRARY="$root/$LIBOUT/libpolca.so.0" \
        timeout 60 $MPIRUN -np 2 "$PY" tests/mpi4py_check.py "$tmp" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    grep -E '^(ok|FAIL) ' "$tmp/out" | sed 's/^\(ok\|FAIL\) /\1 mpi4py: /'
    n_ok=$(grep -c '^ok ' "$tmp/out") n_fail=$(grep -c '^FAIL ' "$tmp/out")
    T_PASSED=$((T_PASSED + n_ok)) T_FAILED=$((T_FAILED + n_fail))
    [ $rc -eq 0 ] && [ "$n_ok" -ge 7 ] || fail "mpi4py on 2 ranks" "rc=$rc, $n_ok ok: $(head -c 600 "$tmp/err")"
else
    skip mpi4py "python3-mpi4py is not installed (make deps installs it)"
fi
finish
