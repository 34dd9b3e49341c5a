# tests/lib.sh - the harness for shell tests (sourced).
#   ok NAME | fail NAME WHY | skip NAME WHY ; finish   (prints RESULT, exits)
T_PASSED=0 T_FAILED=0 T_SKIPPED=0
ok() { echo "ok $1"; T_PASSED=$((T_PASSED + 1)); }
fail() { echo "FAIL $1: $2"; T_FAILED=$((T_FAILED + 1)); }
skip() { echo "skip $1: $2"; T_SKIPPED=$((T_SKIPPED + 1)); }
finish() { echo "RESULT $T_PASSED $T_FAILED $T_SKIPPED"; [ "$T_FAILED" -eq 0 ]; exit $?; }
: "${BUILD:=build}" "${LIBOUT:=lib}"
