#!/bin/sh
# Every public header compiles alone as C99 (pedantic) and as C++ (polca/mpi.h with
# Open MPI's flags, skipped without mpicc).
. tests/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in include/polca/*.h; do
    name=polca/$(basename "$h")
    # polca/mpi.h (the MPI module's) needs MPI's own header: Open MPI's flags
    extra=
    if [ "$name" = polca/mpi.h ]; then
        # as system headers: Open MPI's C++ bindings warn under -Wextra
        extra=$(mpicc -showme:compile 2>/dev/null | sed 's/-I/-isystem /g') || extra=
        if [ -z "$extra" ]; then
            skip "$name" "no Open MPI mpicc (make deps installs libopenmpi-dev)"
            continue
        fi
    fi
    printf '#include "%s"\n#include "%s"\nint main(void) { return 0; }\n' "$name" "$name" >"$tmp/t.c"
    if cc -std=c99 -pedantic -Wall -Wextra -Werror -Iinclude $extra -c "$tmp/t.c" -o "$tmp/t.o" 2>"$tmp/err"; then
        ok "c99 $name"
    else
        fail "c99 $name" "$(cat "$tmp/err")"
    fi
    cp "$tmp/t.c" "$tmp/t.cpp"
    if c++ -std=c++11 -pedantic -Wall -Wextra -Werror -Iinclude $extra -c "$tmp/t.cpp" -o "$tmp/t.o" 2>"$tmp/err"; then
        ok "c++11 $name"
    else
        fail "c++11 $name" "$(cat "$tmp/err")"
    fi
done
finish
