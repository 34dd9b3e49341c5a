#!/bin/sh
# The shared library as users see it: file names, soname, exported symbols,
# no CUDA dependency; the CUDA module exports its entry symbol only.
. tests/lib.sh
so=$(ls "$LIBOUT"/libpolca.so.*.*.* 2>/dev/null | head -n 1)
if [ -z "$so" ]; then fail "library built" "no $LIBOUT/libpolca.so.X.Y.Z"; finish; fi
ok "library built ($so)"

soname=$(objdump -p "$so" | awk '/SONAME/ {print $2}')
case "$soname" in
libpolca.so.[0-9]*) case "$soname" in *.*.*.*) fail soname "$soname has more than the major version" ;; *) ok "soname $soname" ;; esac ;;
*) fail soname "unexpected soname '$soname'" ;;
esac
[ -L "$LIBOUT/$soname" ] && [ -L "$LIBOUT/libpolca.so" ] && ok "symlinks" || fail symlinks "missing $LIBOUT/$soname or libpolca.so"
[ -f "$LIBOUT/libpolca.a" ] && ok "static library" || fail "static library" "missing"

bad=$(nm -D --defined-only "$so" | awk '$2 != "A" {print $3}' | sed 's/@.*//' | grep -v '^polca_[a-z]')
[ -z "$bad" ] && ok "exports only polca_*" || fail "exports only polca_*" "also exports: $bad"
n=$(nm -D --defined-only "$so" | awk '$2 == "T"' | wc -l)
[ "$n" -gt 0 ] && ok "exports $n functions" || fail "exports functions" "none"

if ldd "$so" | grep -qi -E 'cuda|cublas'; then
    fail "no CUDA in ldd" "$(ldd "$so" | grep -i -E 'cuda|cublas')"
else
    ok "no CUDA in ldd"
fi

mod="$LIBOUT/libpolca_cuda.so.0"
if [ -e "$mod" ]; then
    syms=$(nm -D --defined-only "$mod" | awk '$2 != "A" {print $3}' | sed 's/@.*//')
    [ "$syms" = "polca_cuda_backend_v1" ] && ok "CUDA module exports its entry only" ||
        fail "CUDA module exports" "$syms"
else
    skip "CUDA module exports" "no CUDA module built (nvcc absent)"
fi
finish
