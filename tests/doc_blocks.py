#!/usr/bin/python3
"""Extracts the runnable code blocks of a Markdown file for tests/test_docs.sh.

    doc_blocks.py DOC.md LANG [--with torch] > script

Prints the fenced blocks whose info string starts with LANG ("python" or
"sh"), in order, concatenated into one script. A block whose info string
also says "norun" is skipped; one that says "torch" is kept only with
--with torch. Exit status 3 when the file has no such block.
"""
import re
import sys

doc, lang = sys.argv[1], sys.argv[2]
have = set(sys.argv[4:5]) if len(sys.argv) > 4 and sys.argv[3] == "--with" else set()
text = open(doc).read()
blocks = []
for m in re.finditer(r"^```([^\n]*)\n(.*?)^```\s*$", text, re.S | re.M):
    info = m.group(1).split()
    if not info or info[0] != lang or "norun" in info:
        continue
    needs = set(info[1:]) - {"norun"}
    if needs - have:
        continue
    line = text[:m.start()].count("\n") + 2
    comment = "#" if lang in ("python", "sh") else "//"
    blocks.append(f"{comment} ---- {doc}:{line}\n{m.group(2)}")
if not blocks:
    sys.exit(3)
print("\n".join(blocks))
