#!/bin/sh
# tests/test_faults_quick.sh - the quick subset of the fault campaign of
# issue 21 (tests/faults/campaign.py --quick; the full one is make
# check-faults): every attack once or a few times - corrupted and crafted
# files of each kind, kill -9 and SIGINT during commands, existing outputs
# and symlinks, a full disk and a read-only directory (tmpfs, when the
# machine lets root mount one), two writers, a writer and a replacer,
# readers during appends. One test per attack. An attack listed in
# tests/faults/known_failures that fails is a skip naming its defect.
. tests/lib.sh
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c "import numpy" 2>/dev/null || { skip faults "numpy is needed to write the inputs"; finish; }
[ -x "$BUILD/tests/faults/series_tool" ] && [ -x "$BUILD/bin/polca" ] ||
    { fail faults "not built: $BUILD/tests/faults/series_tool, $BUILD/bin/polca (make tests)"; finish; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
BUILD=$BUILD "$PY" tests/faults/campaign.py --quick --out "$BUILD/faults-quick" >"$log" 2>&1
known=$(grep -v '^#' tests/faults/known_failures | awk 'NF { print $1 }')
while IFS= read -r line; do
    case "$line" in
    "    "*) echo "$line"; continue ;;
    esac
    set -- $line
    name=$1
    shift $(($# - 1))
    verdict=$1
    case "$line" in
    *" skipped: "*) skip "$name" "${line#*skipped: }" ;;
    *" tries "*)
        listed=$(echo "$known" | grep -qx "$name" && echo yes)
        if [ "$verdict" = ok ]; then
            ok "$line"
            [ -n "$listed" ] && echo "  note: $name passes: remove it from tests/faults/known_failures"
        elif [ -n "$listed" ]; then
            skip "$line" "known failure, issue 21 defect $(grep "^$name " tests/faults/known_failures | sed 's/^[^ ]* *//')"
        else
            fail "$line" "an attack failed"
        fi ;;
    *) echo "$line" ;;
    esac
done <"$log"
tail -n 1 "$log" | grep -Eq '^[0-9]+ passed, [0-9]+ failed$' ||
    fail "fault campaign" "did not finish: $(tail -n 5 "$log")"
echo "quick campaign took $(($(date +%s) - start)) s"
finish
