#!/bin/sh
# `pip install ./bindings/python` works: installed (offline: no build
# isolation, no dependency downloads) into a temporary target from a copy of
# the package folder, the package imports from there and finds libpolca
# (1) through POLCA_LIBRARY and (2) as a copy bundled in the package folder.
. tests/lib.sh
[ -n "$POLCA_SANITIZED" ] && { skip "pip install" "not under sanitizers (ctypes loads the plain build)"; finish; }
PYTHON=${PYTHON:-/usr/bin/python3}
"$PYTHON" -c "import numpy" 2>/dev/null || { skip "pip install" "no numpy for $PYTHON"; finish; }
"$PYTHON" -m pip --version >/dev/null 2>&1 || { skip "pip install" "no pip for $PYTHON"; finish; }
"$PYTHON" -c "import setuptools" 2>/dev/null || { skip "pip install" "no setuptools for $PYTHON"; finish; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
so=$(ls "$LIBOUT"/libpolca.so.*.*.* | head -n 1)
lib_abs=$(cd "$(dirname "$so")" && pwd)/libpolca.so.0

install_copy() { # $1: source copy, $2: target
    "$PYTHON" -m pip install --quiet --no-build-isolation --no-deps --no-index \
        --disable-pip-version-check --target "$2" "$1" >"$tmp/pip.log" 2>&1
}
probe='import polca, sys; ctx = polca.Context(backend="cpu"); m = polca.Model.mlp(ctx, 2, 2); print(polca.__file__, polca.version(), m.n_params)'

cp -r bindings/python "$tmp/src"
rm -rf "$tmp/src/build" "$tmp/src"/*.egg-info
if install_copy "$tmp/src" "$tmp/site"; then
    ok "pip install --target (no build isolation)"
else
    fail "pip install" "$(tail -n 5 "$tmp/pip.log")"; finish
fi
out=$(cd "$tmp" && POLCA_LIBRARY="$lib_abs" PYTHONPATH="$tmp/site" "$PYTHON" -c "$probe" 2>&1)
case "$out" in
"$tmp/site/polca/__init__.py "*" 6") ok "installed package runs (POLCA_LIBRARY): $out" ;;
*) fail "installed package runs" "$out" ;;
esac
[ -e "$tmp/site/polca/torch_model.py" ] && ok "torch adapter installed" || fail "torch adapter installed" "missing"

# A copy of the library inside the package folder is installed with it and
# found without POLCA_LIBRARY.
cp "$so" "$tmp/src/polca/libpolca.so.0"
if install_copy "$tmp/src" "$tmp/site2"; then
    out=$(cd "$tmp" && env -u POLCA_LIBRARY LD_LIBRARY_PATH= PYTHONPATH="$tmp/site2" "$PYTHON" -c "$probe" 2>&1)
    case "$out" in
    *" 6") ok "bundled libpolca found in the package folder" ;;
    *) fail "bundled libpolca" "$out" ;;
    esac
else
    fail "pip install with a bundled library" "$(tail -n 5 "$tmp/pip.log")"
fi

# No library anywhere: an ImportError that says what to set.
if /sbin/ldconfig -p 2>/dev/null | grep -q libpolca.so.0; then
    skip "missing library" "a libpolca is installed system-wide"; finish
fi
out=$(cd "$tmp" && POLCA_LIBRARY=/nonexistent/libpolca.so.0 LD_LIBRARY_PATH= PYTHONPATH="$tmp/site" \
    "$PYTHON" -c 'import polca' 2>&1)
case "$out" in
*ImportError*POLCA_LIBRARY*) ok "missing library: ImportError naming POLCA_LIBRARY" ;;
*) fail "missing library" "$out" ;;
esac
finish
