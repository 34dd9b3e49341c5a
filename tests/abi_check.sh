#!/bin/sh
# tests/abi_check.sh LIBRARY BASELINE - compares the library's ABI with the
# baseline made by abidw (`make abi-baseline`).
#   exit 0  identical
#   exit 1  a symbol or type of the baseline was removed or changed
#           (incompatible), or the library adds to the ABI without the
#           baseline recording it (run `make abi-baseline` and add a
#           CHANGELOG.md entry), or abidiff failed.
so=$1 baseline=$2
if ! command -v abidiff >/dev/null 2>&1; then
    echo "abidiff not found (Debian package abigail-tools; make deps installs it)"
    exit 1
fi
if [ ! -f "$baseline" ]; then
    echo "no ABI baseline at $baseline: run make abi-baseline"
    exit 1
fi
report=$(abidiff --no-added-syms --headers-dir2 include/polca "$baseline" "$so" 2>&1)
rc=$?
if [ $((rc & 8)) -ne 0 ]; then
    echo "INCOMPATIBLE ABI CHANGE against $baseline:"
    echo "$report"
    exit 1
fi
if [ $((rc & 3)) -ne 0 ]; then
    echo "abidiff failed (status $rc):"
    echo "$report"
    exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
    echo "ABI changed (compatible, but not in the baseline): run make abi-baseline and record it in CHANGELOG.md"
    echo "$report"
    exit 1
fi
added=$(abidiff --headers-dir2 include/polca "$baseline" "$so" 2>&1)
if [ $? -ne 0 ]; then
    echo "ABI additions not in the baseline: run make abi-baseline and record them in CHANGELOG.md"
    echo "$added"
    exit 1
fi
echo "ABI matches $baseline"
