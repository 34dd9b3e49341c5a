#!/bin/sh
# bench/safetensors.sh - run by `make bench`: parse time of large
# safetensors headers and parameter layouts (bench/safetensors.c: CPU seconds,
# seconds per MB of header, the 200k/100k ratio: about 2 when parsing is
# linear, 4 when quadratic), then `polca info` on files of 100k and 200k
# tensors and of 100k metadata keys (wall seconds, the whole command).
BUILD=${BUILD:-build}
set -e
"$BUILD/bench/safetensors"
polca="$BUILD/bin/polca"
[ -x "$polca" ] || { echo "skip polca info: $polca not built"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
secs() { # COMMAND...: wall seconds
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l 2>/dev/null || awk "BEGIN{print $t1 - $t0}"
}
"$BUILD/bench/safetensors" --write "$tmp/t100k.safetensors" 100000
"$BUILD/bench/safetensors" --write "$tmp/t200k.safetensors" 200000
"$BUILD/bench/safetensors" --write "$tmp/m100k.safetensors" 0 100000
a=$(secs "$polca" info "$tmp/t100k.safetensors")
b=$(secs "$polca" info "$tmp/t200k.safetensors")
m=$(secs "$polca" info "$tmp/m100k.safetensors")
awk -v a="$a" -v b="$b" -v m="$m" 'BEGIN {
    printf "polca info: 100k tensors %.3f s, 200k tensors %.3f s (ratio %.2f), 100k metadata keys %.3f s\n",
        a, b, (a > 0 ? b / a : 0), m }'
