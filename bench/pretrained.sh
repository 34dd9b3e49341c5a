#!/bin/sh
# bench/pretrained.sh - the kernels on Pythia- and Llama-shaped models against
# PyTorch 2.x (make bench). 2 threads; Debian's OpenBLAS picks its slower
# Haswell kernels on AVX-512 CPUs unless told SkylakeX. PyTorch's side needs
# a Python with torch >= 2 and transformers: POLCA_TORCH_PYTHON, else
# python3 when it has them; without one the table has no PyTorch column.
BUILD=${BUILD:-build}
export OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
if [ -z "${POLCA_TORCH_PYTHON:-}" ] &&
    python3 -c 'import torch, transformers; assert int(torch.__version__.split(".")[0]) >= 2' 2>/dev/null; then
    POLCA_TORCH_PYTHON=python3
fi
export POLCA_TORCH_PYTHON
exec "$BUILD/bench/pretrained" "$@"
