#!/bin/sh
# tests/test_openblas_kernels.sh - the test programs whose numbers go through
# OpenBLAS, once more under another of OpenBLAS's kernel sets.
#
# Debian's OpenBLAS carries kernels for many CPUs and picks one set at load
# time (OPENBLAS_CORETYPE overrides the choice). Sets round differently, and
# some round a row of a product differently with the product's size, so a
# claim that holds with this machine's kernels can fail on a user's: the
# transformer test once required bitwise equality that held with the AVX-512
# kernels and not with the Haswell ones AMD Zen machines get. Here the
# programs run with the Haswell kernels (AVX2 + FMA), or with the Sandybridge
# ones (AVX) where the rest of the suite already runs Haswell's. Skipped
# where the CPU lacks the instructions or OpenBLAS ignores OPENBLAS_CORETYPE
# (a build for one CPU: it then reports no forced core). About 10 s.
. tests/lib.sh

PROGRAMS="test_transformer test_model_transformer test_model_mlp test_model_api
test_model_host test_backend test_eigen test_basis_hessian test_basis_model
test_trajectories test_polca_engine"

# The kernel set OpenBLAS loads, as it reports it with OPENBLAS_VERBOSE=2.
core_of() {
    OPENBLAS_VERBOSE=2 OPENBLAS_CORETYPE=$1 "$BUILD/tests/test_core" 2>&1 >/dev/null |
        sed -n 's/^Core: //p' | head -n 1
}

has_flags() {
    for f in "$@"; do grep -qw "$f" /proc/cpuinfo 2>/dev/null || return 1; done
}

if [ ! -x "$BUILD/tests/test_core" ]; then
    skip openblas_kernels "$BUILD/tests/test_core not built"
    finish
fi
# the set the rest of the suite runs with (OPENBLAS_CORETYPE as it is set)
own=$(OPENBLAS_VERBOSE=2 "$BUILD/tests/test_core" 2>&1 >/dev/null | sed -n 's/^Core: //p' | head -n 1)
case "$own" in
Haswell | Zen) want=Sandybridge flags="avx" ;;
*) want=Haswell flags="avx2 fma" ;;
esac
if ! has_flags $flags; then
    skip openblas_kernels "the CPU lacks $flags for OpenBLAS's $want kernels"
    finish
fi
if [ "$(core_of "$want")" != "$want" ]; then
    skip openblas_kernels "this OpenBLAS does not switch to its $want kernels (not a dynamic-arch build?)"
    finish
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for p in $PROGRAMS; do
    if [ ! -x "$BUILD/tests/$p" ]; then
        fail "$p ($want kernels)" "$BUILD/tests/$p not built"
        continue
    fi
    OPENBLAS_CORETYPE=$want "$BUILD/tests/$p" >"$log" 2>&1
    rc=$?
    result=$(grep '^RESULT ' "$log" | tail -n 1)
    set -- $result
    if [ "$rc" -eq 0 ] && [ -n "$result" ] && [ "$3" -eq 0 ]; then
        ok "$p ($want kernels)"
    else
        grep -E '^FAIL|^  [^ ]+:[0-9]+: ' "$log" | head -n 20
        fail "$p ($want kernels)" "exit status $rc, ${result:-no RESULT line}"
    fi
done
finish
