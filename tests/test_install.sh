#!/bin/sh
# make install into a staging tree, then build and run a program against the
# installed copy with pkg-config, as a user would.
. tests/lib.sh
[ -n "$POLCA_SANITIZED" ] && { skip install "not under sanitizers (the installed copy is the plain build)"; finish; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=/opt/polca-test
if make -s install DESTDIR="$tmp/stage" PREFIX=$prefix >"$tmp/log" 2>&1; then
    ok "make install DESTDIR PREFIX"
else
    fail "make install" "$(tail -n 5 "$tmp/log")"; finish
fi
for f in include/polca/polca.h include/polca/core.h lib/libpolca.a lib/pkgconfig/polca.pc; do
    [ -e "$tmp/stage$prefix/$f" ] && ok "installed $f" || fail "installed $f" "missing"
done
ls "$tmp/stage$prefix"/lib/libpolca.so.*.*.* >/dev/null 2>&1 && ok "installed shared library" ||
    fail "installed shared library" "missing"
if [ -e "$LIBOUT/libpolca_cuda.so.0" ]; then
    [ -e "$tmp/stage$prefix/lib/libpolca_cuda.so.0" ] && ok "installed CUDA module" || fail "installed CUDA module" "missing"
fi
grep -q "^prefix=$prefix\$" "$tmp/stage$prefix/lib/pkgconfig/polca.pc" && ok "polca.pc prefix" ||
    fail "polca.pc prefix" "$(head -n 3 "$tmp/stage$prefix/lib/pkgconfig/polca.pc")"

cat >"$tmp/user.c" <<'C'
#include <polca/polca.h>
#include <stdio.h>
int main(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    const char *name = NULL;
    if (polca_version() != POLCA_VERSION) return 2;
    if (polca_options_create(&o) || polca_options_set_string(o, "backend", "cpu")) return 3;
    if (polca_context_create(o, &ctx) || polca_context_backend(ctx, &name)) {
        fprintf(stderr, "%s\n", polca_last_error());
        return 4;
    }
    printf("%s %s\n", polca_version_string(), name);
    polca_context_destroy(ctx);
    polca_options_destroy(o);
    return 0;
}
C
export PKG_CONFIG_PATH="$tmp/stage$prefix/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$tmp/stage"
flags=$(pkg-config --cflags --libs polca)
if cc -o "$tmp/user" "$tmp/user.c" $flags 2>"$tmp/err"; then
    ok "compile with pkg-config ($flags)"
else
    fail "compile with pkg-config" "$(cat "$tmp/err")"; finish
fi
out=$(LD_LIBRARY_PATH="$tmp/stage$prefix/lib" "$tmp/user" 2>&1)
case "$out" in
*" cpu") ok "run against installed copy: $out" ;;
*) fail "run against installed copy" "$out" ;;
esac
LD_LIBRARY_PATH="$tmp/stage$prefix/lib" ldd "$tmp/user" | grep -q "$tmp/stage$prefix/lib/libpolca.so" &&
    ok "linked the installed libpolca" || fail "linked the installed libpolca" "$(LD_LIBRARY_PATH="$tmp/stage$prefix/lib" ldd "$tmp/user")"
finish
