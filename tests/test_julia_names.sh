#!/bin/sh
# Every libpolca function the Julia module calls is declared in the public
# headers (Julia itself is not installable here; see bindings/julia/README.md).
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
finish
