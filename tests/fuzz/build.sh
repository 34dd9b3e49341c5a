#!/bin/sh
# tests/fuzz/build.sh OUT_DIR [libfuzzer|replay] - builds the fuzz harnesses
# (tests/fuzz/fuzz_*.c) with the library sources they exercise (fuzz_json.c
# and fuzz_npy.c #include the polca tool's reader they test).
#   libfuzzer  clang + libFuzzer + ASan/UBSan: OUT_DIR/fuzz_<name>
#   replay     the system compiler, corpus replay main(), ASan/UBSan where
#              the compiler has them: OUT_DIR/replay_<name>
# Run from the repository root. FUZZ_CC / CC pick the compiler.
set -e
out=$1
mode=${2:-libfuzzer}
[ -n "$out" ] || { echo "usage: $0 OUT_DIR [libfuzzer|replay]" >&2; exit 2; }
mkdir -p "$out/obj-$mode"
SRC="src/container.c src/safetensors.c src/fileio.c src/crc32c.c src/precond.c src/layout.c src/strset.c
     src/error.c src/handle.c src/version.c"
CFLAGS="-std=c11 -O1 -g -fno-omit-frame-pointer -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc -Itests/fuzz"
if [ "$mode" = libfuzzer ]; then
    cc=${FUZZ_CC:-clang}
    san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
    objsan="$san -fsanitize=fuzzer-no-link"
    linksan="$san -fsanitize=fuzzer"
    def=-DPOLCA_LIBFUZZER
    prefix=fuzz
else
    cc=${CC:-cc}
    san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
    if ! echo 'int main(void){return 0;}' | $cc $san -x c - -o "$out/obj-$mode/probe" 2>/dev/null; then
        san=
    fi
    objsan=$san
    linksan=$san
    def=
    prefix=replay
fi
rm -f "$out/obj-$mode"/*.o "$out/${prefix}"_*
objs=
for s in $SRC; do
    o="$out/obj-$mode/$(basename "$s" .c).o"
    objs="$objs $o"
    $cc $CFLAGS $objsan -c "$s" -o "$o" &
done
wait
for o in $objs; do [ -s "$o" ] || { echo "build.sh: compiling $o failed" >&2; exit 1; }; done
for h in tests/fuzz/fuzz_*.c; do
    name=$(basename "$h" .c | sed 's/^fuzz_//')
    $cc $CFLAGS $def $linksan "$h" $objs -lzstd -lpthread -o "$out/${prefix}_$name" &
done
wait
for h in tests/fuzz/fuzz_*.c; do
    name=$(basename "$h" .c | sed 's/^fuzz_//')
    [ -x "$out/${prefix}_$name" ] || { echo "build.sh: linking ${prefix}_$name failed" >&2; exit 1; }
done
