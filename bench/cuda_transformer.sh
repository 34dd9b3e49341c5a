#!/bin/sh
# bench/cuda_transformer.sh - the CUDA transformer kernels at the paper's
# size (make bench). Prints that there is nothing to time without a GPU.
BUILD=${BUILD:-build}
LIBOUT=${LIBOUT:-lib}
if [ ! -x "$BUILD/bench/cuda_transformer" ]; then
    echo "cuda_transformer: not built (no nvcc here)"
    exit 0
fi
# the CUDA module built here, not an installed one
if [ -z "$POLCA_CUDA_MODULE" ] && [ -e "$LIBOUT/libpolca_cuda.so.0" ]; then
    export POLCA_CUDA_MODULE="$PWD/$LIBOUT/libpolca_cuda.so.0"
fi
exec "$BUILD/bench/cuda_transformer" "$@"
