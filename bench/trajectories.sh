#!/bin/sh
# bench/trajectories.sh - POLCA decomposition cost per checkpoint interval
# (make bench). 2 threads, as the other CPU benchmarks.
BUILD=${BUILD:-build}
export OPENBLAS_NUM_THREADS=2
exec "$BUILD/bench/trajectories" "$@"
