#!/bin/sh
# The ABI check: the library matches docs/abi/libpolca.abi, and the check
# itself catches a removed function (so it can fail).
. tests/lib.sh
[ -n "$POLCA_SANITIZED" ] && { skip abi "the baseline describes the plain build"; finish; }
so=$(ls "$LIBOUT"/libpolca.so.*.*.* | head -n 1)
if out=$(tests/abi_check.sh "$so" docs/abi/libpolca.abi 2>&1); then
    ok "abi-check: $out"
else
    fail "abi-check" "$out"
fi

# A library that had one more public function than ours: checking ours
# against its baseline must report the removal as incompatible.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/extra.c" <<'C'
#include <stdint.h>
__attribute__((visibility("default"))) int32_t polca_abi_probe_removed(int32_t x) { return x + 1; }
C
objs=$(ls "$BUILD"/src/*.o "$BUILD"/src/cpu/*.o)
if cc -g -fPIC -c "$tmp/extra.c" -o "$tmp/extra.o" &&
    cc -shared -Wl,-soname,libpolca.so.0 -Wl,--version-script=src/libpolca.map -o "$tmp/libpolca.so.0.0.1" \
        $objs "$tmp/extra.o" -lopenblas -llapacke -lzstd -lm -ldl -lpthread &&
    abidw --no-corpus-path --headers-dir include/polca --drop-private-types "$tmp/libpolca.so.0.0.1" >"$tmp/old.abi"; then
    if out=$(tests/abi_check.sh "$so" "$tmp/old.abi" 2>&1); then
        fail "abi-check catches a removed function" "it passed: $out"
    else
        case "$out" in
        *INCOMPATIBLE*polca_abi_probe_removed*) ok "abi-check catches a removed function" ;;
        *) fail "abi-check catches a removed function" "unexpected report: $out" ;;
        esac
    fi
else
    fail "abi-check catches a removed function" "could not build the probe library"
fi
finish
