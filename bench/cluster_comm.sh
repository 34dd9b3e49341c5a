#!/bin/sh
# bench/cluster_comm.sh - clustering's directions spread over ranks (make
# bench): K directions clustered by 1 and by 2 thread-ranks of one thread
# each, parallel efficiency t1 / (2 t2) measured in the same run
# (docs/scaling.md#clustering). Arguments: [K [N [T [REPEATS]]]].
BUILD=${BUILD:-build}
export OPENBLAS_NUM_THREADS=1
exec "$BUILD/bench/cluster_comm" "$@"
