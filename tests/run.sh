#!/bin/sh
# tests/run.sh - runs every test binary and script, prints one summary line.
#
# Each test prints "ok/FAIL/skip" lines and ends with "RESULT passed failed
# skipped"; a program that crashes or prints no RESULT counts as one failure.
# The last line is "N passed, N failed, N skipped"; exit status 1 on failure.
BUILD=${BUILD:-build}
LIBOUT=${LIBOUT:-lib}
export BUILD LIBOUT
export PYTHON=${PYTHON:-/usr/bin/python3}
# Tests use the CUDA module built here, if any, rather than an installed one.
if [ -z "$POLCA_CUDA_MODULE" ] && [ -e "$LIBOUT/libpolca_cuda.so.0" ]; then
    export POLCA_CUDA_MODULE="$PWD/$LIBOUT/libpolca_cuda.so.0"
fi
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}

passed=0 failed=0 skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for t in "$BUILD"/tests/test_* tests/test_*.sh tests/test_*.py; do
    [ -e "$t" ] || continue
    case "$t" in *.d|*.o) continue ;; esac
    name=$(basename "$t")
    # TEST_FILTER (an extended regex) runs a subset, e.g. on a GPU machine
    # that lacks the tools the packaging tests need.
    if [ -n "$TEST_FILTER" ] && ! echo "$name" | grep -qE "$TEST_FILTER"; then continue; fi
    echo "== $name"
    case "$t" in
    *.sh) sh "$t" >"$log" 2>&1 ;;
    *.py) "$PYTHON" "$t" >"$log" 2>&1 ;;
    *) "$t" >"$log" 2>&1 ;;
    esac
    rc=$?
    grep -v '^RESULT ' "$log"
    result=$(grep '^RESULT ' "$log" | tail -n 1)
    if [ -z "$result" ]; then
        echo "FAIL $name: exited with status $rc before printing its RESULT line"
        failed=$((failed + 1))
        continue
    fi
    set -- $result
    passed=$((passed + $2)) failed=$((failed + $3)) skipped=$((skipped + $4))
    if [ "$rc" -ne 0 ] && [ "$3" -eq 0 ]; then
        echo "FAIL $name: exited with status $rc"
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
