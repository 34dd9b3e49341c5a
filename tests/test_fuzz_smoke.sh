#!/bin/sh
# tests/test_fuzz_smoke.sh - a short run of each fuzz harness (tests/fuzz/):
# a replay of the committed seed corpus (any compiler), then libFuzzer for
# FUZZ_SMOKE_SECONDS (default 4) per harness where clang has libFuzzer
# (skipped with the reason otherwise). `make fuzz` runs them for longer.
. tests/lib.sh
out=$BUILD/fuzz
log=$BUILD/fuzz.log
secs=${FUZZ_SMOKE_SECONDS:-4}
mkdir -p "$out"
: >"$log"
harnesses="container safetensors json npy"

if sh tests/fuzz/build.sh "$out" replay >>"$log" 2>&1; then
    for h in $harnesses; do
        if "$out/replay_$h" tests/fuzz/corpus/$h/* >>"$log" 2>&1; then
            ok "fuzz_replay_$h"
        else
            fail "fuzz_replay_$h" "replaying tests/fuzz/corpus/$h failed (see $log)"
        fi
    done
else
    fail fuzz_replay_build "building the replay harnesses failed (see $log)"
fi

probe=$out/probe.c
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' >"$probe"
if ! command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1; then
    skip fuzz_libfuzzer "clang not found (apt-get install clang); only the corpus was replayed"
elif ! "${FUZZ_CC:-clang}" -fsanitize=fuzzer "$probe" -o "$out/probe" >>"$log" 2>&1; then
    skip fuzz_libfuzzer "clang has no libFuzzer; only the corpus was replayed"
elif ! sh tests/fuzz/build.sh "$out" libfuzzer >>"$log" 2>&1; then
    fail fuzz_libfuzzer_build "building the libFuzzer harnesses failed (see $log)"
else
    for h in $harnesses; do
        work=$(mktemp -d)
        if "$out/fuzz_$h" -max_total_time="$secs" -malloc_limit_mb=256 -rss_limit_mb=2048 \
            -artifact_prefix="$out/" "$work" tests/fuzz/corpus/$h >"$out/$h.log" 2>&1; then
            ok "fuzz_$h ($(grep -o 'Done [0-9]* runs' "$out/$h.log"))"
        else
            fail "fuzz_$h" "$(grep -m1 -E 'ERROR|SUMMARY' "$out/$h.log") - input saved in $out/, log $out/$h.log"
        fi
        rm -rf "$work"
    done
fi
finish
