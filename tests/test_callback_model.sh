#!/bin/sh
# The callback-model example runs: a host-defined model through the public
# API, whose finite-difference g and c it checks against closed forms
# (it exits 1 when they miss their documented error).
. tests/lib.sh
bin="$BUILD/examples/callback_model/callback_model"
[ -x "$bin" ] || { fail callback_model "not built: $bin"; finish; }
if out=$("$bin" 2>&1); then
    case "$out" in
    *"worst relative error"*) ok "callback_model: $(echo "$out" | tail -n 1)" ;;
    *) fail callback_model "unexpected output: $out" ;;
    esac
else
    fail callback_model "exit $?: $out"
fi
finish
