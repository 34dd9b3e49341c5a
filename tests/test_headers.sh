#!/bin/sh
# Every public header compiles alone as C99 (pedantic) and as C++.
. tests/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in include/polca/*.h; do
    name=polca/$(basename "$h")
    printf '#include "%s"\n#include "%s"\nint main(void) { return 0; }\n' "$name" "$name" >"$tmp/t.c"
    if cc -std=c99 -pedantic -Wall -Wextra -Werror -Iinclude -c "$tmp/t.c" -o "$tmp/t.o" 2>"$tmp/err"; then
        ok "c99 $name"
    else
        fail "c99 $name" "$(cat "$tmp/err")"
    fi
    cp "$tmp/t.c" "$tmp/t.cpp"
    if c++ -std=c++11 -pedantic -Wall -Wextra -Werror -Iinclude -c "$tmp/t.cpp" -o "$tmp/t.o" 2>"$tmp/err"; then
        ok "c++11 $name"
    else
        fail "c++11 $name" "$(cat "$tmp/err")"
    fi
done
finish
