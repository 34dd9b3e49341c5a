#!/bin/sh
# Every link a reader can follow resolves inside this repository:
#   - relative Markdown links [text](path#anchor) in *.md, relative to the
#     file (a bare #anchor: the file itself);
#   - mentions of a Markdown file, "docs/<file>.md" or "docs/<file>.md#anchor"
#     and bare names such as "SEARCH.md", in *.md, include/polca/*.h,
#     examples/, src/, tools/ and bindings/ (comments and docstrings): the
#     file must exist relative to the mentioning file or the repository
#     root (a bare name may also be any file of that name in those trees),
#     and an anchor must be a heading of it.
# Anchors follow GitHub's rule: the heading's text, lowercased, punctuation
# dropped, spaces to '-', "-1", "-2" for repeats. Absolute paths and URLs
# are not checked. Files under tests/fixtures and build outputs are skipped.
# This is what keeps a reference to a file that is not shipped (the
# method's spec in the project's shared folder, once) from reaching users.
. tests/lib.sh
PY=${PYTHON:-/usr/bin/python3}
command -v "$PY" >/dev/null 2>&1 || { skip doc-links "no python3 ($PY)"; finish; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$PY" - >"$out" 2>&1 <<'EOF'
import os, re, sys

ROOT = "."
SKIP_DIRS = {".git", "build", "build-asan", "lib", "out", "dist", "__pycache__",
             "node_modules", "fixtures"}
# Named in the text as living outside the repository, on purpose:
#   DESIGN.md - docs/design.md: "DESIGN.md (in the project's shared folder)
#               is the guide"; the page restates what it needs.
OUTSIDE = {"DESIGN.md"}

def walk(top, exts):
    for d, dirs, files in os.walk(top):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS and not x.startswith("build")
                         and not x.endswith(".egg-info") and not x.startswith("."))
        for f in sorted(files):
            if exts is None or f.endswith(exts):
                yield os.path.normpath(os.path.join(d, f))

md_files = [f for f in sorted(os.listdir(ROOT)) if f.endswith(".md")]
for top in ("docs", "examples", "bindings", "include", "src", "tools"):
    md_files += list(walk(top, (".md",)))
sources = [os.path.join("include/polca", f) for f in sorted(os.listdir("include/polca"))
           if f.endswith(".h")]
sources += list(walk("examples", (".c", ".h", ".py", ".sh", ".txt")))
sources += [f for f in walk("examples", None) if os.path.basename(f) == "Makefile"]
sources += list(walk("src", (".c", ".h", ".cu", ".cuh")))
sources += list(walk("tools", (".c", ".h", ".py")))
sources += list(walk("bindings", (".py", ".jl", ".h", ".c")))

by_name = {}
for f in md_files:
    by_name.setdefault(os.path.basename(f), []).append(f)

FENCE = re.compile(r"^\s*(```|~~~)")
ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ID = re.compile(r"""<a\s+(?:id|name)\s*=\s*["']([^"']+)["']""")

def heading_text(h):
    h = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", h)   # links, images: their text
    h = h.replace("`", "")
    h = re.sub(r"<[^>]+>", "", h)                       # inline HTML tags
    h = re.sub(r"(\*\*|__|\*|~~)", "", h)               # emphasis markers
    return h

def slug(text):
    s = "".join(ch for ch in heading_text(text).strip().lower()
                if ch.isalnum() or ch in " -_")
    return s.replace(" ", "-")

_anchors = {}
def anchors(path):
    if path in _anchors:
        return _anchors[path]
    seen, out, fenced, prev = {}, set(), False, ""
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    for line in lines:
        if FENCE.match(line):
            fenced = not fenced
            prev = ""
            continue
        if fenced:
            continue
        for m in HTML_ID.finditer(line):
            out.add(m.group(1))
        text = None
        m = ATX.match(line)
        if m:
            text = m.group(2)
        elif prev.strip() and not prev.lstrip().startswith(("|", "-", "*", ">")) and \
                re.match(r"^\s{0,3}(=+|-+)\s*$", line):
            text = prev.strip()
        if text is not None:
            base = slug(text)
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else "%s-%d" % (base, n))
        prev = line
    _anchors[path] = out
    return out

errors = []
checked = 0

def check_anchor(where, target, path, anchor):
    if not anchor:
        return
    if not path.endswith(".md"):
        return
    if anchor not in anchors(path):
        errors.append("%s: %s: no heading with anchor '#%s' in %s" % (where, target, anchor, path))

URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
MENTION = re.compile(r"(?<![\w./~$-])((?:\.{1,2}/)*[\w.-]+(?:/[\w.-]+)*\.md)(?![\w])(#[\w-]+)?")

def check_link(where, src, target):
    global checked
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("/"):
        return
    checked += 1
    path, _, anchor = target.partition("#")
    resolved = os.path.normpath(os.path.join(os.path.dirname(src), path)) if path else src
    if not os.path.exists(resolved):
        errors.append("%s: link to %s: %s does not exist" % (where, target, resolved))
        return
    check_anchor(where, target, resolved, anchor)

def check_mention(where, src, name, anchor):
    global checked
    checked += 1
    cands = [os.path.normpath(os.path.join(os.path.dirname(src), name)), os.path.normpath(name)]
    if "/" not in name:
        cands += by_name.get(name, [])
    found = [c for c in cands if os.path.isfile(c)]
    if not found:
        if name in OUTSIDE:
            return
        errors.append("%s: mentions %s%s, which is not a file of this repository" %
                      (where, name, anchor or ""))
        return
    if anchor:
        good = [c for c in found if anchor[1:] in anchors(c)]
        if not good:
            errors.append("%s: %s%s: no heading with that anchor in %s" %
                          (where, name, anchor, found[0]))

for src in md_files + sources:
    with open(src, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().split("\n")
    is_md = src.endswith(".md")
    for no, line in enumerate(lines, 1):
        where = "%s:%d" % (src, no)
        if is_md:
            for m in LINK.finditer(line):
                check_link(where, src, m.group(1))
            m = REFDEF.match(line)
            if m:
                check_link(where, src, m.group(1))
        bare = URL.sub(" ", line)
        for m in MENTION.finditer(bare):
            name = m.group(1)
            if m.start() > 0 and bare[m.start() - 1] == "(" and is_md and \
                    bare[:m.start()].rstrip().endswith("]("):
                continue  # a link target, checked above relative to the file
            check_mention(where, src, name, m.group(2))

for e in errors:
    print("BROKEN " + e)
print("CHECKED %d references in %d files" % (checked, len(md_files) + len(sources)))
sys.exit(1 if errors else 0)
EOF
rc=$?
if [ $rc -eq 0 ]; then
    ok "doc links: $(grep '^CHECKED' "$out")"
else
    fail "doc links" "$(grep -v '^CHECKED' "$out")"
fi
finish
