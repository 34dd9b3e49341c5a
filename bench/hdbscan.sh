#!/bin/sh
# bench/hdbscan.sh - polca_hdbscan against the hdbscan package on POLCA-like
# trajectories (n = 5000 and 20000, dimension 500, min_cluster_size 150,
# min_samples 333), both measured in this run: seconds, peak memory, ratios.
# The package is looked up on PYTHONPATH, else in $HDBSCAN_PYTHONPATH
# (default /tmp/polca-hdbscan-ref: pip install --target there, see
# tests/gen_hdbscan_fixtures.py); without it, ours is reported alone.
# BENCH_HDBSCAN_SIZES overrides the sizes (e.g. "5000"); POLCA_BACKEND=cuda
# runs ours on the GPU (default cpu).
set -e
BUILD=${BUILD:-build}
LIBOUT=${LIBOUT:-lib}
PYTHON=${PYTHON:-/usr/bin/python3}
REF=${HDBSCAN_PYTHONPATH:-/tmp/polca-hdbscan-ref}
# the CUDA module built here, if any (the binary links libpolca statically)
if [ -z "$POLCA_CUDA_MODULE" ] && [ -e "$LIBOUT/libpolca_cuda.so.0" ]; then
    export POLCA_CUDA_MODULE="$PWD/$LIBOUT/libpolca_cuda.so.0"
fi
mkdir -p "$BUILD/bench"
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Iinclude -o "$BUILD/bench/hdbscan" bench/hdbscan.c \
    "$LIBOUT/libpolca.a" -lopenblas -llapacke -lzstd -lm -ldl -lpthread
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "== hdbscan: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for n in ${BENCH_HDBSCAN_SIZES:-5000 20000}; do
    ours=$("$BUILD/bench/hdbscan" "$n" 500 150 333 "$tmp/x.f32" "$tmp/labels.i32")
    echo "$ours"
    set +e
    ref=$(PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$REF" "$PYTHON" bench/hdbscan_ref.py \
        "$tmp/x.f32" "$tmp/labels.i32" "$n" 500 150 333)
    rc=$?
    set -e
    echo "$ref"
    [ "$rc" -eq 0 ] || continue
    echo "$ours
$ref" | awk -v n="$n" '
        { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[$1, kv[1]] = kv[2] } }
        END {
            printf "ratio n=%d: package/ours time %.1fx, peak memory %.2fx, added memory %.2fx\n", n,
                v["package:", "seconds"] / v["ours:", "seconds"],
                v["package:", "peak_rss_mb"] / v["ours:", "peak_rss_mb"],
                v["package:", "added_mb"] / (v["ours:", "added_mb"] > 0.1 ? v["ours:", "added_mb"] : 0.1)
        }'
done
