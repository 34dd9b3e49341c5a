#!/bin/sh
# bench/torch_adapter.sh - the PyTorch adapter's exact g and c (TorchModel)
# against the built-in transformer at the reference size, with its ceiling
# (make bench). 2 threads, then 1. Needs a Python with torch (>= 1.13 with
# functorch): POLCA_TORCH_PYTHON, else $PYTHON or /usr/bin/python3 (Debian's python3-torch,
# installed by make deps).
export OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
py=${POLCA_TORCH_PYTHON:-${PYTHON:-/usr/bin/python3}}
if ! "$py" -c 'import torch' 2>/dev/null; then
    echo "bench/torch_adapter: skipped ($py has no torch; set POLCA_TORCH_PYTHON)"
    exit 0
fi
"$py" bench/torch_adapter.py 1250 2 --no-reverse --runs=3 &&
    "$py" bench/torch_adapter.py 1250 1 --no-reverse --runs=3
