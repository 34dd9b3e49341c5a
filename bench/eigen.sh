#!/bin/sh
# bench/eigen.sh - the eigensolver's product counts and overhead on a
# Hessian-like spectrum (bench/eigen.c), and, where scipy is installed,
# ARPACK's (scipy.sparse.linalg.eigsh) product count on the same operator
# at the same tolerance, in the same run. Needs lib/libpolca.a (make all).
BUILD=${BUILD:-build}
LIBOUT=${LIBOUT:-lib}
PYTHON=${PYTHON:-/usr/bin/python3}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
bin="$BUILD/bench/eigen"
if [ ! -x "$bin" ] || [ bench/eigen.c -nt "$bin" ] || [ "$LIBOUT/libpolca.a" -nt "$bin" ]; then
    mkdir -p "$BUILD/bench"
    cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Iinclude -o "$bin" bench/eigen.c \
        "$LIBOUT/libpolca.a" -lopenblas -llapacke -lzstd -lm -ldl -lpthread || exit 1
fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$bin" "$tmp" || exit 1
"$PYTHON" - "$tmp" <<'PY'
import sys
try:
    import numpy as np
    from scipy.sparse.linalg import LinearOperator, eigsh
except ImportError as e:
    print("scipy comparison skipped:", e)
    sys.exit(0)
d = np.fromfile(sys.argv[1], dtype=np.float64).astype(np.float32)
n = d.size
for k in (1, 4):
    calls = [0]
    def mv(x):
        calls[0] += 1
        return d * x.ravel().astype(np.float32)
    op = LinearOperator((n, n), matvec=mv, dtype=np.float32)
    v0 = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    ncv = max(2 * k + 1, 20)
    w = eigsh(op, k=k, which="LA", tol=1e-5, ncv=ncv, v0=v0, return_eigenvectors=False)
    print("k=%d: ARPACK (scipy eigsh, ncv %d): top eigenvalue %.6f; products per pair %.1f (%d)"
          % (k, ncv, max(w), calls[0] / k, calls[0]))
PY
