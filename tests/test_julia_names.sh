#!/bin/sh
# The Julia module's ccalls are in step with the C headers (Julia itself is
# not installable here; see bindings/julia/README.md): every function it
# calls is declared in include/polca/, with as many arguments, each of a
# fitting type (tests/julia_signatures.py). Header functions without a
# wrapper are listed (a skip line), not failed, so a new C function does not
# break the build before its wrapper exists; but a function the Python
# package calls must have a Julia wrapper too (or be a named known gap,
# PYTHON_ONLY in julia_signatures.py), so the bindings do not drift apart.
. tests/lib.sh
names=$(grep -o ':polca_[a-z0-9_]*' bindings/julia/src/Polca.jl | sort -u | tr -d ':')
[ -n "$names" ] || { fail "julia names" "no ccall found"; finish; }
missing=""
for n in $names; do
    grep -q "[ *]$n(" include/polca/*.h || missing="$missing $n"
done
if [ -z "$missing" ]; then
    ok "all $(echo $names | wc -w) functions the Julia module calls are declared"
else
    fail "julia names" "not declared in include/polca/:$missing"
fi
PY=${PYTHON:-/usr/bin/python3}
if ! command -v "$PY" >/dev/null 2>&1; then
    skip "julia signatures" "no python3"
elif out=$("$PY" tests/julia_signatures.py . 2>&1); then
    ok "ccall argument counts and types fit the headers ($(echo "$out" | grep '^wrapped'))"
    case "$out" in *"not wrapped:"*) skip "julia coverage" "$(echo "$out" | grep '^not wrapped')" ;; esac
    case "$out" in *"python only:"*) skip "julia parity" "$(echo "$out" | grep '^python only')" ;; esac
else
    fail "julia signatures" "$out"
fi
finish
