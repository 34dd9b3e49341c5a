#!/bin/sh
# bench/checkpoints.sh - run by `make bench`: compression ratio and decode
# speed of checkpoint series files against plain zstd -3 (bench/checkpoints.c)
# on real training series, generated once by bench/gen_series.py and cached
# under out/ (never committed):
#   out/bench_series       the paper's optimizer settings (AdamW, lr 1e-5,
#                          weight decay 0.1, batch 64, every 20 steps)
#   out/bench_series_grok  100x the learning rate (lr 1e-3, wd 1.0, batch 256):
#                          weights move far more between checkpoints
# Each takes a few minutes of one CPU core to generate the first time.
BUILD=${BUILD:-build}
LIBOUT=${LIBOUT:-lib}
PY=${PYTHON:-/usr/bin/python3}
set -e
mkdir -p "$BUILD/bench" out
${CC:-cc} -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc bench/checkpoints.c "$LIBOUT/libpolca.a" \
    -lopenblas -llapacke -lzstd -lm -ldl -lpthread -o "$BUILD/bench/checkpoints"
gen() { # DIR ARGS...: generate the series if it is not cached
    dir=$1
    shift
    [ -e "$dir/series.npy" ] && return 0
    echo "generating $dir (a small transformer trained on modular addition; a few minutes)"
    # Debian's torch needs Debian's numpy 1.x ahead of any pip-installed numpy 2.
    PYTHONPATH=/usr/lib/python3/dist-packages "$PY" bench/gen_series.py "$dir" "$@" >"$dir.log" 2>&1 ||
        { echo "skip: could not generate $dir (torch missing?), see $dir.log"; return 1; }
}
echo "== bench/checkpoints: series files vs plain zstd -3 (one core)"
if gen out/bench_series 4000 20; then
    "$BUILD/bench/checkpoints" out/bench_series/series.npy out
fi
echo
if gen out/bench_series_grok 4000 20 1e-3 1.0 256; then
    "$BUILD/bench/checkpoints" out/bench_series_grok/series.npy out
fi
if command -v zstd >/dev/null; then
    echo
    echo "zstd CLI on the whole raw float32 series (one stream, for reference):"
    for d in out/bench_series out/bench_series_grok; do
        [ -e "$d/series.npy" ] || continue
        raw=$(($(stat -c %s "$d/series.npy") - 128))
        z=$(tail -c +129 "$d/series.npy" | zstd -3 -q -c | wc -c)
        echo "  $d: zstd -3 raw/size $(awk "BEGIN{printf \"%.3f\", $raw/$z}")"
    done
fi
