#!/bin/sh
# `pip install ./bindings/python` installs by itself, offline (issue 17): into
# a fresh venv, with --no-index (nothing downloaded; numpy from the system
# site-packages), the package's own build backend builds libpolca and the CLI
# from the sources - nothing reused from $BUILD or $LIBOUT - and bundles
# them. Then, from outside the source tree: the bundled library is the one
# loaded, a short analysis runs (transformer losses and gradient, MLP
# gradient against central differences), the `polca` console command runs
# the bundled CLI (help, info, exit status), POLCA_LIBRARY still overrides,
# and `pip wheel` makes a platform wheel whose RECORD hashes are right.
# Where nvcc exists the install bundles the CUDA module too (about 20 s more
# at -j2); the `pip wheel` check builds without it (POLCA_CUDA=0). Where
# mpicc exists it bundles the MPI module.
. tests/lib.sh
[ -n "$POLCA_SANITIZED" ] && { skip "pip install" "not under sanitizers (the package is the plain build)"; finish; }
PYTHON=${PYTHON:-/usr/bin/python3}
"$PYTHON" -c "import numpy" 2>/dev/null || { skip "pip install" "no numpy for $PYTHON"; finish; }
"$PYTHON" -m pip --version >/dev/null 2>&1 || { skip "pip install" "no pip for $PYTHON"; finish; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$PYTHON" -m venv --system-site-packages "$tmp/venv" >"$tmp/venv.log" 2>&1 ||
    ! "$tmp/venv/bin/python" -m pip --version >/dev/null 2>&1; then
    skip "pip install" "no venv with pip for $PYTHON ($(tail -n 1 "$tmp/venv.log"))"; finish
fi
src=$(pwd)
# The environment of `make check` (an outer make's jobserver, the tests' own
# library and CUDA module) must not leak into the install or the checks.
unset MAKEFLAGS MFLAGS MAKELEVEL POLCA_LIBRARY POLCA_CUDA_MODULE
export LD_LIBRARY_PATH= PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export POLCA_MAKE_JOBS=${POLCA_MAKE_JOBS:-2}
before=$(git status --porcelain --ignored bindings/python 2>&1)

t0=$(date +%s)
if "$tmp/venv/bin/python" -m pip install --no-index ./bindings/python >"$tmp/pip.log" 2>&1; then
    ok "pip install --no-index ./bindings/python into a fresh venv ($(($(date +%s) - t0)) s)"
else
    fail "pip install" "$(tail -n 8 "$tmp/pip.log")"; finish
fi
site=$("$tmp/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
after=$(git status --porcelain --ignored bindings/python 2>&1)
[ "$before" = "$after" ] && ok "source tree untouched (the build ran in a temporary folder)" ||
    fail "source tree untouched" "before: $before; after: $after"

mkdir "$tmp/work"
cat >"$tmp/work/analysis.py" <<'PY'
import os, sys
import numpy as np
import polca
from polca import _native
site = sys.argv[1]
lib = os.path.realpath(_native.lib._name)
assert lib.startswith(os.path.realpath(site) + os.sep), (lib, site)
assert os.path.realpath(polca.__file__).startswith(os.path.realpath(site) + os.sep)
print("library", lib)
ctx = polca.Context(backend="cpu")
cfg = dict(n_layers=1, d_model=8, n_heads=2, d_head=4, d_mlp=16, d_vocab=7, n_ctx=5,
           act_fn="gelu")
m = polca.Model.transformer(ctx, cfg)
rng = np.random.default_rng(0)
data = polca.Data.tokens(ctx, rng.integers(0, 7, size=(6, 5)))
theta = m.init(3)
losses = m.losses(data, theta)
mean, g = m.grad(data, theta)
assert np.all(np.isfinite(losses)) and losses.size > 0, losses
assert abs(mean - float(np.mean(losses, dtype=np.float64))) < 1e-4 * max(1.0, abs(mean)), \
    (mean, losses.mean())
assert g.shape == (m.n_params,) and np.all(np.isfinite(g)) and np.any(g != 0)
m.save_safetensors("tiny.safetensors", theta)
# Gradient of the (double-precision) MLP against central differences.
mlp = polca.Model.mlp(ctx, 3, 2, hidden=(4,))
x = rng.standard_normal((8, 3))
y = rng.integers(0, 2, size=8)
d2 = polca.Data.features(ctx, x, y)
t = mlp.init(1)
_, gm = mlp.grad(d2, t)
worst = 0.0
for i in range(mlp.n_params):
    tp, tm = t.copy(), t.copy()
    tp[i] += np.float32(1e-2)
    tm[i] -= np.float32(1e-2)
    fd = (mlp.losses(d2, tp).astype(np.float64).mean() -
          mlp.losses(d2, tm).astype(np.float64).mean()) / (float(tp[i]) - float(tm[i]))
    worst = max(worst, abs(fd - gm[i]))
assert worst < 1e-4, worst
print("analysis ok", m.n_params, round(float(mean), 4), worst)
PY
out=$(cd "$tmp/work" && "$tmp/venv/bin/python" analysis.py "$site" 2>&1)
case "$out" in
*"analysis ok"*) ok "analysis from outside the source tree, bundled library: $(echo "$out" | tr '\n' ' ')" ;;
*) fail "analysis with the installed package" "$out" ;;
esac

# The console command: the bundled CLI, same arguments, same exit status.
polca="$tmp/venv/bin/polca"
[ -x "$polca" ] && ok "console command installed" || { fail "console command" "no $polca"; finish; }
[ -x "$site/polca/bin/polca" ] && [ -e "$site/polca/lib/libpolca.so.0" ] &&
    ok "CLI and library bundled in the package" || fail "bundled files" "$(ls -R "$site/polca")"
# The CUDA module, where the Makefile builds one (nvcc found), is bundled
# beside the library, where libpolca looks for it.
nvcc=$(printf 'include Makefile\nprint-nvcc: ; @echo $(NVCC)\n' |
    make -s --no-print-directory -f - print-nvcc 2>/dev/null)
if [ -n "$nvcc" ]; then
    [ -e "$site/polca/lib/libpolca_cuda.so.0" ] && ok "CUDA module bundled (nvcc found)" ||
        fail "CUDA module bundled" "nvcc found but no $site/polca/lib/libpolca_cuda.so.0"
    out=$(cd "$tmp/work" && "$tmp/venv/bin/python" -c '
import polca
try:
    polca.Context(backend="cuda"); print("cuda context")
except polca.PolcaError as e:
    print(e.message)' 2>&1)
    case "$out" in
    *"not found"*|*Traceback*) fail "bundled CUDA module found by libpolca" "$out" ;;
    *) ok "bundled CUDA module found by libpolca: $out" ;;
    esac
else
    skip "CUDA module bundled" "no nvcc"
fi
# The MPI module likewise where mpicc is found; polca.mpi loads it from
# beside the bundled library.
if command -v mpicc >/dev/null 2>&1; then
    out=$(cd "$tmp/work" && "$tmp/venv/bin/python" -c '
import polca.mpi
print(polca.mpi.module()._name)' 2>&1)
    [ "$out" = "$site/polca/lib/libpolca_mpi.so.0" ] && ok "MPI module bundled and found by polca.mpi" ||
        fail "MPI module bundled" "mpicc found; polca.mpi loaded: $out"
else
    skip "MPI module bundled" "no mpicc"
fi
out=$(cd "$tmp/work" && "$polca" --help 2>&1); rc=$?
case "$rc:$out" in
0:*info*) ok "polca --help" ;;
*) fail "polca --help" "status $rc: $out" ;;
esac
out=$(cd "$tmp/work" && "$polca" info tiny.safetensors 2>&1); rc=$?
case "$rc:$out" in
0:*d_model*8*) ok "polca info on a file the analysis wrote" ;;
*) fail "polca info" "status $rc: $out" ;;
esac
out=$(cd "$tmp/work" && "$polca" info missing.polca 2>&1); rc=$?
case "$rc:$out" in
2:*missing.polca*) ok "polca exit status kept (2 for a missing file)" ;;
*) fail "polca exit status" "status $rc: $out" ;;
esac

# POLCA_LIBRARY still comes first.
mkdir "$tmp/other" && cp "$site/polca/lib/libpolca.so.0" "$tmp/other/"
out=$(cd "$tmp/work" && POLCA_LIBRARY="$tmp/other/libpolca.so.0" "$tmp/venv/bin/python" -c \
    'from polca import _native; print(_native.lib._name)' 2>&1)
[ "$out" = "$tmp/other/libpolca.so.0" ] && ok "POLCA_LIBRARY overrides the bundled copy" ||
    fail "POLCA_LIBRARY override" "$out"

# pip wheel: a platform wheel, its RECORD complete and hashed.
if POLCA_CUDA=0 "$tmp/venv/bin/python" -m pip wheel --no-index --no-deps -w "$tmp/wheels" ./bindings/python \
    >"$tmp/wheel.log" 2>&1; then
    out=$(cd "$tmp" && "$tmp/venv/bin/python" - "$tmp"/wheels/*.whl <<'PY' 2>&1
import base64, hashlib, sys, sysconfig, zipfile
path = sys.argv[1]
plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
assert path.endswith(f"-py3-none-{plat}.whl"), path
z = zipfile.ZipFile(path)
names = set(z.namelist())
rec = [n for n in names if n.endswith(".dist-info/RECORD")][0]
seen = set()
for line in z.read(rec).decode().splitlines():
    name, h, size = line.rsplit(",", 2)
    seen.add(name)
    if name == rec:
        continue
    data = z.read(name)
    want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    assert h == want and int(size) == len(data), name
assert seen == names, names ^ seen
wheel = z.read(rec.replace("RECORD", "WHEEL")).decode()
assert "Root-Is-Purelib: false" in wheel and f"Tag: py3-none-{plat}" in wheel, wheel
assert "polca = polca._cli:main" in z.read(rec.replace("RECORD", "entry_points.txt")).decode()
assert {"polca/lib/libpolca.so.0", "polca/bin/polca"} <= names
print("wheel ok", path.rsplit("/", 1)[1], len(names), "files")
PY
)
    case "$out" in
    "wheel ok"*) ok "pip wheel: $out" ;;
    *) fail "pip wheel contents" "$out" ;;
    esac
else
    fail "pip wheel" "$(tail -n 8 "$tmp/wheel.log")"
fi

# Without any library (the package files alone, not pip-installed): an
# ImportError that says what to do.
if /sbin/ldconfig -p 2>/dev/null | grep -q libpolca.so.0; then
    skip "missing library" "a libpolca is installed system-wide"
else
    cp -r bindings/python/polca "$tmp/bare"
    rm -rf "$tmp/bare/lib" "$tmp/bare"/libpolca.so*
    out=$(cd "$tmp/work" && POLCA_LIBRARY=/nonexistent/libpolca.so.0 PYTHONPATH="$tmp" \
        "$PYTHON" -c 'import sys; sys.modules.pop("polca", None); import importlib; importlib.import_module("bare")' 2>&1)
    case "$out" in
    *ImportError*"pip install"*POLCA_LIBRARY*) ok "missing library: ImportError naming pip install and POLCA_LIBRARY" ;;
    *) fail "missing library" "$out" ;;
    esac
fi
cd "$src" && finish
