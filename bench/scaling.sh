#!/bin/sh
# bench/scaling.sh - strong scaling over 1 and 2 ranks, 1 thread each (make bench).
BUILD=${BUILD:-build}
export OPENBLAS_NUM_THREADS=1
exec "$BUILD/bench/scaling" "$@"
