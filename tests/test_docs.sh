#!/bin/sh
# docs/python.md and docs/cli.md stay true: their code blocks run. A doc's
# python blocks run first, as one program (later blocks use earlier
# variables), then its sh blocks as one `set -e` script, in a temporary
# directory with polca on PATH (tests/doc_blocks.py extracts them; blocks
# marked "norun" are shown code only; "torch" blocks run where PyTorch is
# installed).
. tests/lib.sh
[ -n "$POLCA_SANITIZED" ] && { skip docs "the examples use the Python bindings (plain build)"; finish; }
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c "import numpy" 2>/dev/null || { skip docs "no numpy for $PY"; finish; }
root=$PWD
export POLCA_LIBRARY="$root/$LIBOUT/libpolca.so.0" PYTHONPATH="$root/bindings/python"
export PATH="$root/$BUILD/bin:$PATH" POLCA_BACKEND=${POLCA_BACKEND:-cpu}
with=""
"$PY" -c "import torch" >/dev/null 2>&1 && with="--with torch"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for doc in docs/python.md docs/cli.md; do
    dir="$tmp/$(basename "$doc" .md)"
    mkdir -p "$dir"
    ran=0
    if "$PY" tests/doc_blocks.py "$doc" python $with >"$dir/blocks.py"; then
        ran=1
        if (cd "$dir" && "$PY" blocks.py) >"$dir/py.log" 2>&1; then
            ok "$doc: python blocks run"
        else
            fail "$doc: python blocks" "$(tail -n 15 "$dir/py.log")"; continue
        fi
    fi
    if "$PY" tests/doc_blocks.py "$doc" sh >"$dir/blocks.sh"; then
        ran=1
        if (cd "$dir" && sh -e blocks.sh) >"$dir/sh.log" 2>&1; then
            ok "$doc: sh blocks run"
        else
            fail "$doc: sh blocks" "$(tail -n 15 "$dir/sh.log")"
        fi
    fi
    [ $ran -eq 1 ] || fail "$doc" "no runnable code block"
done
[ -z "$with" ] && skip "docs torch blocks" "PyTorch is not installed"
# the report the CLI walk-through writes is a real page
grep -q "<svg" "$tmp/cli/report.html" 2>/dev/null && ok "docs/cli.md: report.html written" ||
    fail "docs/cli.md report" "no report.html"
finish
