#!/bin/sh
# The smallest example runs, and asking for CUDA where it cannot run fails
# with a message that says why (exit 1, no crash).
. tests/lib.sh
bin="$BUILD/examples/hello/hello"
[ -x "$bin" ] || { fail hello "not built: $bin"; finish; }
out=$(POLCA_BACKEND=cpu "$bin" 2>&1) && case "$out" in *"backend cpu"*) ok "hello on cpu" ;; *) fail "hello on cpu" "$out" ;; esac ||
    fail "hello on cpu" "$out"
out=$(POLCA_BACKEND=cuda CUDA_VISIBLE_DEVICES= "$bin" 2>&1)
rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "backend unavailable"; then
    ok "cuda without a visible device fails clearly: $(echo "$out" | head -c 200)"
else
    fail "cuda without a visible device" "rc=$rc: $out"
fi
out=$(POLCA_BACKEND=auto CUDA_VISIBLE_DEVICES= "$bin" 2>&1) && case "$out" in *"backend cpu"*"CUDA not used"*) ok "auto falls back to cpu" ;; *) fail "auto falls back" "$out" ;; esac ||
    fail "auto falls back" "$out"
finish
