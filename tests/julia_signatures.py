#!/usr/bin/python3
"""Checks the Julia module's ccall declarations against the C headers
(Julia itself is not installable here): for every `ccall((:polca_x,
libpolca), Ret, (T1, T2, ...), ...)` in bindings/julia/src/Polca.jl, the
function must be declared in include/polca/*.h with as many parameters, and
each Julia type must fit the C type (int32_t -> Int32, int64_t -> Int64,
uint64_t -> UInt64, double -> Float64, size_t -> Csize_t, a pointer or a
callback type -> Ptr{...}, Ref{...} or Cstring (const char * only)).
Prints one line per problem, then "wrapped W of H functions" and the
header functions without a wrapper. Exit 1 on any mismatch.

    /usr/bin/python3 tests/julia_signatures.py [ROOT]
"""
import glob
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "."

# Header functions the Python package calls that the Julia module does not
# wrap yet: a known gap, listed in the output; remove a name once Polca.jl
# wraps it (a name here that Julia wraps, or Python no longer calls, is a
# problem too, so the list cannot go stale).
PYTHON_ONLY = {
    "polca_model_create_pretrained", "polca_model_load_pretrained",
    "polca_model_save_pretrained", "polca_model_source_format", "polca_model_describe",
}


def c_functions():
    out = {}
    for path in glob.glob(os.path.join(root, "include", "polca", "*.h")):
        text = open(path).read()
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
        text = re.sub(r"^\s*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)  # preprocessor lines
        for m in re.finditer(r"POLCA_API\s+([^;]*?)\b(polca_[a-z0-9_]+)\s*\(([^;]*?)\)\s*;", text, re.S):
            ret, name, params = " ".join(m.group(1).split()), m.group(2), " ".join(m.group(3).split())
            plist = [] if params in ("", "void") else [p.strip() for p in params.split(",")]
            out[name] = (ret, plist)
    return out


def c_kind(decl):
    """'int32', 'int64', 'uint64', 'double', 'size', 'string', 'pointer' or
    'void' for a parameter declaration or a return type."""
    d = decl.replace("const ", "").strip()
    if "*" in d:
        return "string" if re.match(r"^char\s*\*\s*\w*$", d) else "pointer"
    t = d.split()[0]
    if t.startswith("polca_") and t.endswith("_fn"):
        return "pointer"
    return {"int32_t": "int32", "int64_t": "int64", "uint64_t": "uint64", "double": "double",
            "size_t": "size", "void": "void", "uint8_t": "uint8"}.get(t, "?" + t)


def julia_fits(jtype, kind):
    j = jtype.strip()
    if kind == "pointer":
        return j.startswith(("Ptr{", "Ref{")) or j == "Cstring" and False
    if kind == "string":
        return j in ("Cstring", "Ptr{UInt8}", "Ptr{Cchar}")
    return {"int32": ("Int32",), "int64": ("Int64",), "uint64": ("UInt64",), "double": ("Float64",),
            "size": ("Csize_t", "UInt"), "void": ("Cvoid", "Nothing"), "uint8": ("UInt8",)}.get(kind, ()) \
        .__contains__(j)


def split_top(s):
    """Splits a tuple body at commas outside brackets."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def matching(s, i):
    """Index of the bracket closing s[i]."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] in "({[":
            depth += 1
        elif s[j] in ")}]":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError("unbalanced")


def julia_ccalls():
    text = open(os.path.join(root, "bindings", "julia", "src", "Polca.jl")).read()
    calls = []
    for m in re.finditer(r"ccall\(\(:(polca_[a-z0-9_]+),\s*libpolca(?:_mpi)?\),", text):
        name, i = m.group(1), m.end()
        # return type up to the comma before the argument-type tuple
        rest = text[i:]
        k = 0
        depth = 0
        while True:
            ch = rest[k]
            if ch in "({[":
                depth += 1
            elif ch in ")}]":
                depth -= 1
            if ch == "," and depth == 0:
                break
            k += 1
        ret = rest[:k].strip()
        j = k + 1
        while rest[j].isspace():
            j += 1
        if rest[j] != "(":
            calls.append((name, ret, None, text[:i].count("\n") + 1))
            continue
        end = matching(rest, j)
        types = split_top(rest[j + 1:end])
        calls.append((name, ret, types, text[:i].count("\n") + 1))
    return calls


def python_calls(cfun):
    """The header functions named in the Python package's sources."""
    names = set()
    for path in glob.glob(os.path.join(root, "bindings", "python", "polca", "*.py")):
        names.update(re.findall(r"\b(polca_[a-z0-9_]+)\b", open(path).read()))
    return names & set(cfun)


def main():
    cfun = c_functions()
    problems = []
    wrapped = set()
    for name, ret, types, line in julia_ccalls():
        wrapped.add(name)
        if name not in cfun:
            problems.append(f"Polca.jl:{line}: {name} is not declared in include/polca/")
            continue
        cret, cparams = cfun[name]
        if types is None:
            problems.append(f"Polca.jl:{line}: {name}: cannot read the argument types")
            continue
        if len(types) != len(cparams):
            problems.append(f"Polca.jl:{line}: {name}: {len(types)} argument types, the header "
                            f"declares {len(cparams)}")
            continue
        if not julia_fits(ret, c_kind(cret)):
            problems.append(f"Polca.jl:{line}: {name}: returns {ret}, the header {cret}")
        for k, (jt, cp) in enumerate(zip(types, cparams)):
            if not julia_fits(jt, c_kind(cp)):
                problems.append(f"Polca.jl:{line}: {name}: argument {k + 1} is {jt}, the header "
                                f"'{cp}'")
    py = python_calls(cfun)
    for name in sorted(py - wrapped - PYTHON_ONLY):
        problems.append(f"Polca.jl: {name} is called by the Python package (bindings/python/"
                        f"polca) but not by the Julia module")
    for name in sorted(PYTHON_ONLY & wrapped):
        problems.append(f"julia_signatures.py: {name} is wrapped now: take it off PYTHON_ONLY")
    for name in sorted(PYTHON_ONLY - py):
        problems.append(f"julia_signatures.py: the Python package does not call {name}: take it "
                        f"off PYTHON_ONLY")
    for p in problems:
        print(p)
    missing = sorted(set(cfun) - wrapped)
    print(f"wrapped {len(wrapped & set(cfun))} of {len(cfun)} functions")
    if missing:
        print("not wrapped: " + " ".join(missing))
    if PYTHON_ONLY & py:
        print("python only: " + " ".join(sorted(PYTHON_ONLY & py)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
