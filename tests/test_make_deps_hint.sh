#!/bin/sh
# `make` on a machine without the build dependencies says which Debian
# packages are missing and to run `make deps`, before compiling anything,
# instead of failing with a compiler error (issue 17). A missing zstd is
# simulated with CPATH pointing at a zstd.h that #errors (CPATH directories
# are searched before the system's); make -n: nothing is built either way.
. tests/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/nozstd"
printf '#error "simulated: libzstd-dev not installed"\n' >"$tmp/nozstd/zstd.h"
args="BUILD=$tmp/build LIBOUT=$tmp/lib"
make_in() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "$@" >"$tmp/out" 2>&1; }

for goal in "" lib examples tests cli; do
    what="make ${goal:-(default goal)} without zstd.h"
    if CPATH="$tmp/nozstd" make_in make -n $goal $args; then
        fail "$what" "exit status 0: $(head -c 400 "$tmp/out")"
    elif ! grep -q 'libzstd-dev' "$tmp/out" || ! grep -q 'make deps' "$tmp/out" ||
            ! grep -q 'apt-get install -y libzstd-dev' "$tmp/out"; then
        fail "$what" "the message does not name libzstd-dev and make deps: $(head -c 400 "$tmp/out")"
    elif grep -qE '(^| )(cc|gcc|clang) .*-c ' "$tmp/out" || grep -q 'error: #error' "$tmp/out"; then
        fail "$what" "compiled something: $(head -c 400 "$tmp/out")"
    elif grep -qE 'openblas|lapacke' "$tmp/out"; then
        fail "$what" "names packages that are installed: $(head -c 400 "$tmp/out")"
    else
        ok "$what: stops naming libzstd-dev and make deps"
    fi
done

# where everything is present (make check ran make deps) there is no hint
if make_in make -n lib $args && ! grep -q 'make deps' "$tmp/out"; then
    ok "make -n lib with the dependencies present: no hint, no stop"
else
    fail "make -n lib with the dependencies present" "$(head -c 400 "$tmp/out")"
fi
# goals that build nothing are not stopped (make deps must be able to run)
if CPATH="$tmp/nozstd" make_in make -n clean $args; then
    ok "make clean is not stopped by missing build dependencies"
else
    fail "make clean without zstd.h" "$(head -c 400 "$tmp/out")"
fi
finish
