#!/bin/sh
# The arithmetic report renders in a real browser: headless Chromium loads the
# page written by build/tests/test_arith_report (synthetic run), its DOM holds
# the 5 figures (1 + 2 per direction) with their curves, its layout as
# rendered has no colliding text (marker labels stacked above the plot, none
# over the curves, legends inside their panels, tables inside a 1200 px
# window: tests/report_geometry.py), and the screenshot shows the curves'
# colours. summary.json also parses with Python's json.
# Skips when Chromium (Debian's chromium package) is not installed.
#   KEEP_REPORT_SCREENSHOT=FILE.png keeps the screenshot.
. tests/lib.sh
PY=${PYTHON:-/usr/bin/python3}
gen="$BUILD/tests/test_arith_report"
[ -x "$gen" ] || { fail render "not built: $gen"; finish; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! ARITH_REPORT_OUT="$tmp/out" "$gen" >"$tmp/gen.log" 2>&1; then
    fail "synthetic report" "$(tail -n 5 "$tmp/gen.log")"
    finish
fi
ok "synthetic report written"

if "$PY" -c 'import json' 2>/dev/null; then
    if out=$("$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
for m in ("exact_loss", "loss_change", "fisher", "lca", "polca_first_order", "polca"):
    assert set(("faithful", "unrestricted", "eligible_clusters", "hidden_fraction")) <= set(d[m]), m
    for v in ("faithful", "unrestricted"):
        s = d[m][v]
        assert len(s["homogeneity"]) == len(s["recall"]) == len(s["f1"]) == len(s["carry_mid_share"]) <= 3, m
assert isinstance(d["val_token_accuracy"], float) and d["backend"] == "cpu"
assert isinstance(d["config"], dict) and isinstance(d["timings"], dict)
' "$tmp/out/summary.json" 2>&1); then
        ok "summary.json parses with Python's json"
    else
        fail "summary.json with Python's json" "$out"
    fi
else
    skip "summary.json with Python's json" "no python at $PY"
fi

# CHROMIUM=/path chooses the browser (an empty or missing one: skip).
browser=${CHROMIUM-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$browser" ] || ! [ -x "$browser" ]; then
    skip "render in chromium" "chromium is not installed (apt-get install chromium)"
    finish
fi
# A private profile; no sandbox (root in containers); /tmp instead of /dev/shm.
flags="--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
--hide-scrollbars --user-data-dir=$tmp/profile"
url="file://$tmp/out/report.html"
# shellcheck disable=SC2086
if ! timeout 120 "$browser" $flags --dump-dom "$url" >"$tmp/dom.html" 2>"$tmp/dom.err"; then
    fail "chromium --dump-dom" "$(tail -n 5 "$tmp/dom.err")"
    finish
fi
# Per <svg>: the number of polylines with points; the place panel has 4 curves
# (two broken by a NaN / an Inf: 6 polylines), each direction panel 3.
if out=$("$PY" - "$tmp/dom.html" <<'PYEOF' 2>&1
import sys
from html.parser import HTMLParser

class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.svgs, self.depth, self.tables = [], 0, 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg":
            self.depth += 1
            self.svgs.append(0)
        elif tag == "polyline" and self.depth and len(a.get("points", "").split()) >= 2:
            self.svgs[-1] += 1
        elif tag == "table" and "table1" in (a.get("class") or ""):
            self.tables += 1
    def handle_endtag(self, tag):
        if tag == "svg":
            self.depth -= 1

p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
print("svg polylines:", p.svgs, "table1:", p.tables)
assert p.svgs == [6, 3, 3, 3, 3], p.svgs
assert p.tables == 1
PYEOF
); then
    ok "rendered DOM has the 5 figures with their curves and Table 1 ($out)"
else
    fail "rendered DOM" "$out"
fi

# The page as laid out: text boxes measured by the browser.
if out=$(timeout 180 "$PY" tests/report_geometry.py "$browser" "$tmp/out/report.html" 1200 2>&1); then
    ok "rendered layout: no text collides, labels above the plot, legends inside ($out)"
else
    fail "rendered layout" "$out"
fi

# shellcheck disable=SC2086
if ! timeout 120 "$browser" $flags --window-size=1200,2400 --screenshot="$tmp/shot.png" "$url" \
    >"$tmp/shot.log" 2>&1 || [ ! -s "$tmp/shot.png" ]; then
    fail "chromium --screenshot" "$(tail -n 5 "$tmp/shot.log")"
    finish
fi
# The first three palette colours (the curves) must be on the page, and the
# page must not be blank: not one colour, not nearly all white.
stats=$("$PY" tests/png_check.py "$tmp/shot.png" '#0072b2' '#d55e00' '#009e73' 2>&1)
if echo "$stats" | "$PY" -c '
import sys
lines = sys.stdin.read().split("\n")
w, h, colours, ink = lines[0].split()
counts = [int(l.split()[1]) for l in lines[1:4]]
assert int(w) == 1200 and int(h) == 2400, (w, h)
assert int(colours) > 50 and float(ink) > 0.02, (colours, ink)
assert min(counts) >= 100, counts
'; then
    ok "screenshot shows the curves: $(echo "$stats" | tr '\n' ' ')"
else
    fail "screenshot" "$stats"
fi
if [ -n "$KEEP_REPORT_SCREENSHOT" ]; then cp "$tmp/shot.png" "$KEEP_REPORT_SCREENSHOT"; fi
finish
