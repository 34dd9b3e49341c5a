#!/bin/sh
# bench/transformer.sh - the transformer kernels at the reference size against
# PyTorch (make bench). 2 threads; Debian's OpenBLAS picks its slower Haswell
# kernels on AVX-512 CPUs unless told SkylakeX.
BUILD=${BUILD:-build}
export OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
export PYTHON=${PYTHON:-/usr/bin/python3}
exec "$BUILD/bench/transformer" "$@"
