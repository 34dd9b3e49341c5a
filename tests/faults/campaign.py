#!/usr/bin/python3
"""tests/faults/campaign.py - the hostile-input and concurrency campaign of
issue 21, rerunnable by anyone (make check-faults; a quick subset runs in
make check through tests/test_faults_quick.sh).

Each attack prints one line:

    NAME  tries T  errors E  correct C  crashes 0  hangs 0  wrong 0  lost 0  unclear 0  ok|FAIL

tries    runs of a command (or rounds of a scenario) under attack;
errors   runs refused with a clear error: the documented exit status and
         one line "polca CMD: error: ..." on stderr (a helper program's
         "err ..." line), and no output file left behind;
correct  runs that succeeded with exactly the result an independent
         reference gives (the intact file's result, numpy's or Python's
         reading of the same bytes, the committed checkpoints);
crashes  exit by a signal or status >= 128 (other than the documented 130
         for SIGINT), or any AddressSanitizer / UBSan report;
hangs    runs still going after the time limit (or still running well after
         SIGINT);
wrong    accepted with a result that differs from the reference, an input
         the reference refuses accepted, or a partial output left behind;
lost     committed checkpoints missing afterwards, or an existing file (or
         a symlink's target) changed without --overwrite;
unclear  refused, but with another exit status than documented or not one
         clear line, or an error where none was due (a reader of a healthy
         series).

An attack passes when crashes, hangs, wrong, lost and unclear are all 0.
The last line is "N passed, N failed" over attacks (exit status 1 when any
failed). Failing inputs are kept under OUT/repro with the command that
shows the failure; sanitizer reports under OUT/sanitizer.

    /usr/bin/python3 tests/faults/campaign.py [--quick] [--only REGEX] [--seed N] [--out DIR]

Environment: BUILD (default build) picks build/bin/polca and
build/tests/faults/series_tool; BUILD=build-asan runs the ASan+UBSan build
(make check-faults ASAN=1).
"""
import argparse
import json
import os
import random
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import cli_fixtures  # noqa: E402  (the numpy-only writer of the CLI test inputs)

BUILD = os.environ.get("BUILD", "build")
POLCA = os.path.join(ROOT, BUILD, "bin", "polca")
TOOL = os.path.join(ROOT, BUILD, "tests", "faults", "series_tool")
SANITIZED = "asan" in BUILD or bool(os.environ.get("POLCA_SANITIZED"))
SAN_MARKERS = (b"AddressSanitizer", b"LeakSanitizer", b"UndefinedBehaviorSanitizer",
               b"runtime error:", b"ThreadSanitizer")

ENV = dict(os.environ)
ENV["POLCA_BACKEND"] = "cpu"
ENV["OPENBLAS_NUM_THREADS"] = "1"
ENV.setdefault("ASAN_OPTIONS", "detect_leaks=1:allocator_may_return_null=1")
ENV.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")

# the model of tests/cli_fixtures.py, and a bigger one for the attacks that
# need a command to run long enough to be interrupted
SMALL = cli_fixtures.CFG
BIG = dict(n_layers=2, d_model=64, n_heads=4, d_head=16, d_mlp=256, d_vocab=256, n_ctx=32,
           act_fn="gelu_new")

OUT = None          # results directory (repro/, sanitizer/)
CURRENT = ["-"]     # the attack running (names sanitizer reports)
HANG_S = 20.0       # a run longer than this is a hang
VERBOSE = False     # every failure's note, not the first 3 per attack


# ---------------------------------------------------------------- processes

def _limits():
    # a plain build gets an address-space limit, so that a size read from a
    # hostile file becomes a refused allocation instead of a swapping machine
    if not SANITIZED:
        lim = 4 << 30
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Res:
    def __init__(self, rc, out, err, hung, secs):
        self.rc, self.out, self.err, self.hung, self.secs = rc, out, err, hung, secs

    def errline(self):
        return self.err.decode(errors="replace").strip()


def san_report(err):
    if any(m in err for m in SAN_MARKERS):
        d = os.path.join(OUT, "sanitizer")
        os.makedirs(d, exist_ok=True)
        n = len(os.listdir(d))
        with open(os.path.join(d, f"{CURRENT[0]}-{n}.txt"), "wb") as f:
            f.write(err)
        return True
    return False


def run(args, cwd, timeout=None, stdin_data=None):
    t0 = time.monotonic()
    p = subprocess.Popen(args, cwd=cwd, env=ENV, stdin=subprocess.PIPE if stdin_data else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_limits,
                         start_new_session=True)
    try:
        out, err = p.communicate(stdin_data, timeout=timeout or HANG_S)
        hung = False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        hung = True
    return Res(p.returncode, out, err, hung, time.monotonic() - t0)


def polca(args, cwd, timeout=None):
    return run([POLCA, "--quiet"] + args, cwd, timeout)


def verdict(r, codes=(2,)):
    """hang | crash | ok (exit 0) | error (clear) | unclear"""
    if r.hung:
        return "hang"
    if san_report(r.err) or r.rc < 0 or (r.rc >= 128 and r.rc != 130):
        return "crash"
    if r.rc == 0:
        return "ok"
    lines = r.errline().split("\n")
    if r.rc in codes and len(lines) == 1 and re.match(r"polca( \w+)?: error: ", lines[0]):
        return "error"
    return "unclear"


# ---------------------------------------------------------------- tallies

class Tally:
    KEYS = ("errors", "correct", "crashes", "hangs", "wrong", "lost", "unclear")
    BAD = ("crashes", "hangs", "wrong", "lost", "unclear")
    all = []

    def __init__(self, name):
        self.name, self.tries, self.notes = name, 0, []
        self.c = {k: 0 for k in self.KEYS}
        self.skipped = None
        CURRENT[0] = name
        self.t0 = time.monotonic()
        Tally.all.append(self)

    def add(self, key, note=None):
        self.c[key] += 1
        if key in self.BAD and note and (VERBOSE or len(self.notes) < 3):
            self.notes.append(note.replace("\n", " | "))

    def run_verdict(self, v, what, ok_check=None, note=""):
        """one try: v from verdict(); ok_check() -> None if right, else why"""
        self.tries += 1
        if v == "ok":
            why = ok_check() if ok_check else None
            if why is None:
                self.add("correct")
            else:
                self.add("wrong", f"{what}: {why}{note}")
        elif v == "error":
            self.add("errors")
        elif v == "crash":
            self.add("crashes", f"{what}: crashed{note}")
        elif v == "hang":
            self.add("hangs", f"{what}: no answer in {HANG_S:.0f} s{note}")
        else:
            self.add("unclear", f"{what}: unclear refusal{note}")

    def passed(self):
        return self.skipped is None and all(self.c[k] == 0 for k in self.BAD)

    def report(self):
        secs = time.monotonic() - self.t0
        if self.skipped:
            print(f"{self.name:<28} skipped: {self.skipped}", flush=True)
            return
        cols = "  ".join(f"{k} {self.c[k]}" for k in self.KEYS)
        print(f"{self.name:<28} tries {self.tries:<4} {cols}  ({secs:.1f} s)  "
              f"{'ok' if self.passed() else 'FAIL'}", flush=True)
        for n in self.notes:
            print(f"    {n}", flush=True)


def keep(t, src_bytes, fname):
    """saves a failing input under OUT/repro; returns its path"""
    d = os.path.join(OUT, "repro")
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, f"{t.name}-{t.tries}-{fname}")
    with open(p, "wb") as f:
        f.write(src_bytes)
    return p


def rd(p):
    with open(p, "rb") as f:
        return f.read()


def wr(p, b):
    with open(p, "wb") as f:
        f.write(b)


def rm(*paths):
    for p in paths:
        if os.path.islink(p) or os.path.isfile(p):
            os.unlink(p)
        elif os.path.isdir(p):
            shutil.rmtree(p)


def leftovers(d, before):
    return sorted(set(os.listdir(d)) - set(before))


# ---------------------------------------------------------------- fixtures

def make_fixtures(d, cfg, steps, n_seq, seed):
    """cli_fixtures' writer with another model and size"""
    rng = np.random.default_rng(seed)
    with open(os.path.join(d, "model.json"), "w") as f:
        json.dump(cfg, f)
    shapes = cli_fixtures.tensors(cfg)
    theta = {n: (1.0 + 0.1 * rng.standard_normal(s) if n.endswith(".w") else
                 0.3 * rng.standard_normal(s)).astype(np.float32) for n, s in shapes}
    drift = {n: 0.05 * rng.standard_normal(s).astype(np.float32) for n, s in shapes}
    os.makedirs(os.path.join(d, "ckpts"), exist_ok=True)
    for i, step in enumerate(steps):
        arrays = {n: theta[n] + (i + 0.3 * i * i) * drift[n] for n, _ in shapes}
        cli_fixtures.save_safetensors(os.path.join(d, "ckpts", f"ckpt_{step:06d}.safetensors"), arrays)
    T = cfg["n_ctx"]
    tokens = rng.integers(0, cfg["d_vocab"], (n_seq, T)).astype(np.int64)
    np.save(os.path.join(d, "tokens.npy"), tokens)
    mask = np.zeros((n_seq, T), dtype=bool)
    mask[:, 1:T - 1] = True
    np.save(os.path.join(d, "mask.npy"), mask)
    np.save(os.path.join(d, "labels.npy"), (np.roll(tokens, -1, axis=1) % 2 == 0)[mask])


class Fixture:
    """a directory with the inputs and the intact outputs of every command"""

    def __init__(self, d, big=False):
        self.d = d
        os.makedirs(d)
        if big:
            # the small model over more samples and checkpoints, and a
            # bigger model's checkpoints for an import that takes a while
            make_fixtures(d, SMALL, list(range(0, 2000, 100)), 300, 11)
            os.makedirs(os.path.join(d, "mid"))
            make_fixtures(os.path.join(d, "mid"), BIG, list(range(0, 1000, 100)), 4, 12)
            self.mcs = "40"
        else:
            cli_fixtures.main(d)
            self.mcs = "8"
        self.ckpts = sorted(os.path.join("ckpts", f) for f in os.listdir(os.path.join(d, "ckpts")))
        self.cmd = {
            "import": ["import", "--config", "model.json", "--out", "series.polca"] + self.ckpts,
            "basis": ["basis", "--config", "model.json", "--tokens", "tokens.npy", "--mask", "mask.npy",
                      "--series", "series.polca", "--out", "basis.polca", "--checkpoints",
                      "0:20:6" if big else "0:6:3", "--k", "2", "--npy", "basis.npy"],
            "decompose": ["decompose", "--config", "model.json", "--tokens", "tokens.npy", "--mask",
                          "mask.npy", "--series", "series.polca", "--basis", "basis.polca", "--out",
                          "traj.polca", "--fisher", "--lca", "2"],
            "cluster": ["cluster", "traj.polca", "--min-cluster-size", self.mcs,
                        "--out", "clusters.json", "--labels-out", "labels_out.npy"],
            "score": ["score", "traj.polca", "--labels", "labels.npy", "--min-cluster-size", self.mcs,
                      "--out", "scores.json"],
            "report": ["report", "traj.polca", "--labels", "labels.npy", "--basis", "basis.polca",
                       "--min-cluster-size", self.mcs, "--out", "report.html"],
            "info": ["info", "--all", "series.polca", "basis.polca", "traj.polca", "model.json",
                     "tokens.npy", self.ckpts[0]],
        }
        # the extra outputs of the other commands
        self.cmd["decompose_rising"] = ["decompose", "--config", "model.json", "--tokens", "tokens.npy",
                                        "--mask", "mask.npy", "--series", "series.polca", "--basis",
                                        "basis.polca", "--out", "kept.polca", "--drop-rising",
                                        "--basis-out", "kept_basis.polca", "--npy-dir", "npy"]
        self.outputs = {"import": ["series.polca"], "basis": ["basis.polca", "basis.npy"],
                        "decompose": ["traj.polca"], "cluster": ["clusters.json", "labels_out.npy"],
                        "score": ["scores.json"], "report": ["report.html"], "info": [],
                        "decompose_rising": ["kept.polca", "kept_basis.polca", "npy"]}
        self.ref = {}
        self.stdout = {}
        os.makedirs(self.path("npy"))
        self.commands = ("import", "basis", "decompose", "decompose_rising", "cluster", "score", "report", "info")
        if big:
            r = polca(self.cmd["import"], d, timeout=600)
            if r.rc != 0:
                raise SystemExit(f"fixture command failed: polca import: {r.errline()}")
            mid = sorted(os.path.join("mid", "ckpts", f) for f in os.listdir(os.path.join(d, "mid", "ckpts")))
            self.cmd["import"] = ["import", "--config", "mid/model.json", "--out", "mid.polca", "--zstd-level",
                                  "15"] + mid
            self.outputs["import"] = ["mid.polca"]
            self.commands = ("import", "basis", "decompose", "cluster", "score", "report", "info")
        for c in self.commands:
            t0 = time.monotonic()
            r = polca(self.cmd[c], d, timeout=600)
            if r.rc != 0:
                raise SystemExit(f"fixture command failed: polca {' '.join(self.cmd[c])}: {r.errline()}")
            self.stdout[c] = r.out
            self.ref[c] = {o: self.snap(o) for o in self.outputs[c]}
            self.ref[c]["_secs"] = time.monotonic() - t0

    def path(self, p):
        return os.path.join(self.d, p)

    def relocate(self, args, outs, outdir):
        """args with the inputs as absolute paths into the fixture, the
        outputs in outdir (None: relative)"""
        return [(os.path.join(outdir, a) if outdir else a) if a in outs else
                self.path(a) if os.path.exists(self.path(a)) else a for a in args]

    def restore(self, outs):
        """puts the intact outputs back (some are other commands' inputs)"""
        for o in outs:
            rm(self.path(o))
            for c, files in self.ref.items():
                if o in files:
                    if isinstance(files[o], dict):
                        os.makedirs(self.path(o))
                        for f, b in files[o].items():
                            wr(os.path.join(self.path(o), f), b)
                    else:
                        wr(self.path(o), files[o])
                    break

    def snap(self, o):
        p = self.path(o)
        if os.path.isdir(p):
            return {f: rd(os.path.join(p, f)) for f in sorted(os.listdir(p))}
        return rd(p)

    def same_outputs(self, c, d=None, names=None):
        """None when the outputs of command c in directory d equal the intact ones"""
        d = d or self.d
        for o in names or self.outputs[c]:
            p = os.path.join(d, o)
            if not os.path.exists(p):
                return f"{o} missing"
            got = ({f: rd(os.path.join(p, f)) for f in sorted(os.listdir(p))}
                   if os.path.isdir(p) else rd(p))
            want = self.ref[c][o] if "/" not in o else self.ref[c][o.split("/")[0]][o.split("/")[1]]
            if got != want:
                return f"{o} differs from the intact result"
        return None


def dump_series(path, cwd):
    """(steps, [P] arrays) of a series by series_tool dump, or None"""
    fd, tmp = tempfile.mkstemp(dir=OUT)
    os.close(fd)
    r = run([TOOL, path, "dump", tmp], cwd)
    try:
        if r.rc != 0:
            return None
        n, p = map(int, r.out.split()[1:3])
        raw = rd(tmp)
        rec = 8 + 4 * p
        steps = [struct.unpack_from("<q", raw, i * rec)[0] for i in range(n)]
        vecs = [np.frombuffer(raw, np.float32, p, i * rec + 8) for i in range(n)]
        return steps, vecs
    finally:
        os.unlink(tmp)


# ---------------------------------------------------------------- mutations

def flips(b, n, rng, lo=0):
    for _ in range(n):
        m = bytearray(b)
        i = rng.randrange(lo, len(b))
        m[i] ^= 1 << rng.randrange(8)
        yield f"bit flip at byte {i}", bytes(m)


def truncations(b, n, rng):
    cuts = {0, 1, 7, 8, len(b) // 2, len(b) - 1}
    while len(cuts) < n:
        cuts.add(rng.randrange(0, len(b)))
    for c in sorted(cuts)[:n]:
        yield f"truncated to {c} bytes", b[:c]


# ------------------------------------------- independent references (readers)

ST_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16,
           "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64,
           "U64": 64, "F64": 64, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}
EITHER = "either"


def st_reference(b):
    """docs/format.md section 2 read independently: {name: (dtype, shape,
    bytes)}, None when the file breaks the format, EITHER when the format
    leaves it open (a dtype polca does not know)"""
    if len(b) < 8:
        return None
    n = struct.unpack_from("<Q", b)[0]
    if n > 100_000_000 or 8 + n > len(b):
        return None
    data = b[8 + n:]

    def nodup(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)

    def noconst(c):
        raise ValueError(c)
    try:
        h = json.loads(b[8:8 + n].decode("utf-8"), object_pairs_hook=nodup, parse_constant=noconst)
    except (ValueError, RecursionError):
        return None
    if not isinstance(h, dict):
        return None
    out, either = {}, False
    for k, v in h.items():
        if "\0" in k or any(0xD800 <= ord(ch) <= 0xDFFF for ch in k):
            return None
        if k == "__metadata__":
            if v is not None and not (isinstance(v, dict) and all(isinstance(x, str) for x in v.values())):
                return None
            continue
        if not isinstance(v, dict) or not {"dtype", "shape", "data_offsets"} <= set(v):
            return None
        dt, shape, offs = v["dtype"], v["shape"], v["data_offsets"]
        isint = lambda x: isinstance(x, int) and not isinstance(x, bool) and x >= 0  # noqa: E731
        if not isinstance(dt, str) or not isinstance(shape, list) or len(shape) > 8 or \
                not all(isint(x) for x in shape) or not isinstance(offs, list) or len(offs) != 2 or \
                not all(isint(x) for x in offs):
            return None
        count = 1
        for x in shape:
            count *= x
        if count >= 2 ** 63 or offs[0] > offs[1] or offs[1] > len(data):
            return None
        if dt not in ST_BITS:
            either = True
            continue
        if (count * ST_BITS[dt] + 7) // 8 != offs[1] - offs[0]:
            return None
        out[k] = (dt, shape, data[offs[0]:offs[1]])
    return EITHER if either else out


def st_checkpoint(b, cfg):
    """the float32 vector an import of safetensors bytes b gives for model
    cfg (docs/format.md section 2), None when import must refuse"""
    t = st_reference(b)
    if t is None or t is EITHER:
        return t
    parts = []
    for name, shape in cli_fixtures.tensors(cfg):
        if name not in t or tuple(t[name][1]) != tuple(shape):
            return None
        dt, _, raw = t[name]
        if dt == "F32":
            a = np.frombuffer(raw, "<f4")
        elif dt == "F64":
            a = np.frombuffer(raw, "<f8").astype(np.float32)
        elif dt == "F16":
            a = np.frombuffer(raw, "<f2").astype(np.float32)
        elif dt == "BF16":
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            return None
        if not np.all(np.isfinite(a)):
            return None
        parts.append(a.astype(np.float32))
    return np.concatenate(parts)


def npy_reference(b):
    """numpy's reading of .npy bytes, or None"""
    import io
    try:
        return np.load(io.BytesIO(b), allow_pickle=False)
    except Exception:  # numpy raises many kinds on broken files
        return None


def json_reference(b):
    try:
        v = json.loads(b.decode("utf-8"), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except (ValueError, RecursionError):
        return None
    return v


# ------------------------------------------- container (docs/format.md 1)

def crc32c(data, crc=0):
    if not hasattr(crc32c, "t"):
        t = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            t.append(c)
        crc32c.t = t
    t = crc32c.t
    crc ^= 0xFFFFFFFF
    for x in data:
        crc = t[(crc ^ x) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def ct_fields(b):
    H = struct.unpack_from("<Q", b, 16)[0]
    pos, fields = 96, []
    while True:
        tag, _, ln = struct.unpack_from("<IIQ", b, pos)
        if tag == 0:
            break
        fields.append((tag, b[pos + 16:pos + 16 + ln]))
        pos += 16 + ln + (-ln % 8)
    return H, fields


def ct_header(kind, fields, count=0, end=None, H_override=None):
    body = b""
    for tag, val in fields:
        body += struct.pack("<IIQ", tag, 0, len(val)) + val + b"\0" * (-len(val) % 8)
    body += struct.pack("<IIQ", 0, 0, 0) + b"\0" * 4
    H = 96 + len(body) + 4
    body += struct.pack("<I", crc32c(body))
    fixed = b"\x89POLCA\r\n" + struct.pack("<IIQI", 1, kind, H_override or H, 0)
    fixed += struct.pack("<I", crc32c(fixed))
    slot = struct.pack("<QQQI", 1, H if end is None else end, count, 0)
    slot += struct.pack("<I", crc32c(slot))
    return fixed + slot + b"\0" * 32 + body


def layout_field(tensors):
    """tensors: [(name, shape)] -> (layout value, hash value)"""
    P = 0
    lay = b""
    fnv = 0xcbf29ce484222325

    def f64(h, x):
        for byte in struct.pack("<Q", x & (2 ** 64 - 1)):
            h = ((h ^ byte) * 0x100000001b3) & (2 ** 64 - 1)
        return h
    fnv = f64(fnv, len(tensors))
    for name, shape in tensors:
        nb = name.encode()
        lay += struct.pack("<I", len(nb)) + nb + struct.pack("<I", len(shape))
        lay += b"".join(struct.pack("<q", x) for x in shape) + struct.pack("<q", P)
        for byte in nb + b"\0":
            fnv = ((fnv ^ byte) * 0x100000001b3) & (2 ** 64 - 1)
        fnv = f64(fnv, len(shape))
        for x in shape:
            fnv = f64(fnv, x)
        fnv = f64(fnv, P)
        n = 1
        for x in shape:
            n *= x
        P += n
    return struct.pack("<QQ", len(tensors), P) + lay, struct.pack("<Q", fnv)


def rec_patch(b, H, field_off, fmt, value):
    """the series b with a field of its first record header changed (CRC fixed)"""
    m = bytearray(b)
    R = struct.unpack_from("<H", m, H + 4)[0]
    struct.pack_into(fmt, m, H + field_off, value)
    struct.pack_into("<I", m, H + R - 4, crc32c(bytes(m[H:H + R - 4])))
    return bytes(m)


def slot_patch(b, end=None, count=None):
    m = bytearray(b)
    # the slot in force: the higher sequence number with a valid CRC
    best = None
    for off in (32, 64):
        seq, e, c, _, crc = struct.unpack_from("<QQQII", m, off)
        if crc == crc32c(bytes(m[off:off + 28])) and (best is None or seq > best[1]):
            best = (off, seq, e, c)
    off, seq, e, c = best
    struct.pack_into("<QQQI", m, off, seq, e if end is None else end, c if count is None else count, 0)
    struct.pack_into("<I", m, off + 28, crc32c(bytes(m[off:off + 28])))
    return bytes(m)


# ================================================================ attacks

class Campaign:
    def __init__(self, args):
        self.a = args
        self.q = args.quick
        self.rng = random.Random(args.seed)
        self.tmp = tempfile.mkdtemp(prefix="polca_faults_")
        self.fx = Fixture(os.path.join(self.tmp, "small"))

    def n(self, quick, full):
        return quick if self.q else full

    # ---------------------------------------------------- file corruption
    def corrupt(self, name, victim, consumers, mutations, judge):
        """runs each consumer on each mutated victim; judge(bytes, consumer)
        -> None (the intact result is expected when accepted), a callable
        giving None/why, or 'refuse' (acceptance is wrong)"""
        t = Tally(name)
        fx = self.fx
        vp = fx.path(victim)
        intact = rd(vp)
        try:
            for what, m in mutations:
                wr(vp, m)
                for cname, args, outs, check in consumers:
                    rm(*(fx.path(o) for o in outs))
                    before = os.listdir(fx.d)
                    r = polca(args, fx.d) if args[0] != "@tool" else run([TOOL] + args[1:], fx.d)
                    if args[0] == "@tool":  # series_tool answers "err ..." with status 2
                        v = "hang" if r.hung else "crash" if (san_report(r.err) or r.rc < 0 or r.rc >= 128) \
                            else "ok" if r.rc == 0 else "error" if r.rc == 2 and b"\nerr " in b"\n" + r.out \
                            else "unclear"
                    else:
                        v = verdict(r)
                    expect = judge(m, cname)
                    left = [x for x in leftovers(fx.d, before) if x not in outs]
                    if v == "error" and any(os.path.exists(fx.path(o)) for o in outs):
                        left.append("output")

                    def ok_check():
                        if expect == "refuse":
                            return "accepted a file the format refuses"
                        if callable(expect):
                            return expect(r)
                        return check(r)
                    shown = ("series_tool " + " ".join(args[1:])) if args[0] == "@tool" else \
                        ("polca " + " ".join(args))
                    if left:
                        t.tries += 1
                        rp = keep(t, m, os.path.basename(victim))
                        t.add("wrong", f"{what}: {cname}: left {left} behind (input {rp})")
                        rm(*(fx.path(x) for x in left))
                        continue
                    note = ""
                    if v not in ("ok", "error") or (v == "ok" and ok_check() is not None):
                        rp = keep(t, m, os.path.basename(victim))
                        note = f" - input kept as {rp}; in {fx.d}: cp {rp} {victim}; {shown}" + \
                               (f" -> rc {r.rc}: {r.errline()[:160]}" if v != "ok" else "")
                    t.run_verdict(v, f"{what}: {cname}", ok_check, note)
        finally:
            wr(vp, intact)
            for _, _, outs, _ in consumers:
                fx.restore(outs)
        return t

    def same_as_intact(self, c, names=None, stdout=True):
        fx = self.fx

        def check(r):
            if stdout and r.out != fx.stdout[c]:
                return "printed something else than for the intact file"
            return fx.same_outputs(c, names=names)
        return check

    def file_attacks(self):
        fx = self.fx
        rng = self.rng
        nf, nt = self.n(12, 120), self.n(6, 40)
        # flips concentrated on the headers, where a flip is not just caught by a CRC
        def muts(victim, head=None):
            b = rd(fx.path(victim))
            out = list(flips(b, nf // 2, rng))
            if head:
                out += list(flips(b[:head], nf - nf // 2, rng))
                out = [(w, m + b[head:]) for w, m in out[nf // 2:]] + out[:nf // 2]
            return out, list(truncations(b, nt, rng))

        # -- series: info, a full read by series_tool, decompose
        H = struct.unpack_from("<Q", rd(fx.path("series.polca")), 16)[0]
        f, tr = muts("series.polca", H + 64)
        self.series_ref = dump_series("series.polca", fx.d)
        series_consumers = [
            ("info", ["info", "--all", "series.polca"], [], self.same_as_intact_info("series.polca")),
            ("series_tool", ["@tool", "series.polca", "check", "99999999999"], [],
             lambda r: self.series_contents_check_now()),
            ("decompose", fx.cmd["decompose"], ["traj.polca"], self.same_as_intact("decompose")),
        ]
        self.corrupt("flip-series", "series.polca", series_consumers, f, lambda m, c: None).report()
        self.corrupt("truncate-series", "series.polca", series_consumers, tr, lambda m, c: None).report()

        # -- basis: info, decompose
        H = struct.unpack_from("<Q", rd(fx.path("basis.polca")), 16)[0]
        f, tr = muts("basis.polca", H + 64)
        cons = [("info", ["info", "--all", "basis.polca"], [], self.same_as_intact_info("basis.polca")),
                ("decompose", fx.cmd["decompose"], ["traj.polca"], self.same_as_intact("decompose"))]
        self.corrupt("flip-basis", "basis.polca", cons, f, lambda m, c: None).report()
        self.corrupt("truncate-basis", "basis.polca", cons, tr, lambda m, c: None).report()

        # -- trajectories: info, cluster (every kind), score
        H = struct.unpack_from("<Q", rd(fx.path("traj.polca")), 16)[0]
        f, tr = muts("traj.polca", H + 64)
        cons = [("info", ["info", "--all", "traj.polca"], [], self.same_as_intact_info("traj.polca")),
                ("cluster", fx.cmd["cluster"], fx.outputs["cluster"], self.same_as_intact("cluster")),
                ("score", fx.cmd["score"], fx.outputs["score"], self.same_as_intact("score"))]
        self.corrupt("flip-trajectories", "traj.polca", cons, f, lambda m, c: None).report()
        self.corrupt("truncate-trajectories", "traj.polca", cons, tr, lambda m, c: None).report()

        # -- safetensors (one checkpoint of the import): info, import
        victim = fx.ckpts[2]
        b = rd(fx.path(victim))
        hlen = 8 + struct.unpack_from("<Q", b)[0]
        f, tr = muts(victim, hlen)
        self.corrupt("flip-safetensors", victim, self.st_consumers(victim), f, self.st_judge(victim)).report()
        self.corrupt("truncate-safetensors", victim, self.st_consumers(victim), tr,
                     self.st_judge(victim)).report()

        # -- .npy: tokens (info, decompose), labels (score)
        for victim, cname in (("tokens.npy", "decompose"), ("labels.npy", "score")):
            b = rd(fx.path(victim))
            f, tr = muts(victim, 128)
            cons = [("info", ["info", victim], [], None),
                    (cname, fx.cmd[cname], fx.outputs[cname], None)]
            judge = self.differential(victim, cons, npy_reference,
                                      lambda v: (lambda p: np.save(p, v)), same_value=_np_same)
            kind = victim.split(".")[0]
            self.corrupt(f"flip-npy-{kind}", victim, cons, f, judge).report()
            self.corrupt(f"truncate-npy-{kind}", victim, cons, tr, judge).report()

        # -- JSON model config: info, import
        b = rd(fx.path("model.json"))
        f, tr = list(flips(b, nf, rng)), list(truncations(b, nt, rng))
        cons = [("info", ["info", "model.json"], [], None),
                ("import", ["import", "--config", "model.json", "--out", "x.polca"] + fx.ckpts, ["x.polca"],
                 None)]
        judge = self.differential("model.json", cons, json_reference,
                                  lambda v: (lambda p: wr(p, json.dumps(v).encode())), same_value=lambda a, b: a == b)
        self.corrupt("flip-json-config", "model.json", cons, f, judge).report()
        self.corrupt("truncate-json-config", "model.json", cons, tr, judge).report()

    def series_contents_check_now(self):
        got = dump_series("series.polca", self.fx.d)
        ref = self.series_ref
        if got is None:
            return "series_tool check accepted it but dump refuses"
        if got[0] != ref[0] or any(not np.array_equal(a, b) for a, b in zip(got[1], ref[1])):
            return "checkpoints differ from the intact file's"
        return None

    def same_as_intact_info(self, fname):
        """info prints the file's size and name: compare with the intact
        file's info run the same way"""
        fx = self.fx
        key = ("info1", fname)
        if key not in fx.stdout:
            fx.stdout[key] = polca(["info", "--all", fname], fx.d).out

        def check(r):
            return None if r.out == fx.stdout[key] else "info describes it differently from the intact file"
        return check

    def st_consumers(self, victim):
        fx = self.fx
        return [("info", ["info", victim], [], None),
                ("import", ["import", "--config", "model.json", "--out", "x.polca"] + fx.ckpts, ["x.polca"],
                 None)]

    def st_judge(self, victim, cfg=None):
        fx = self.fx
        cfg = cfg or SMALL
        ref = dump_series("series.polca", fx.d)
        idx = fx.ckpts.index(victim)

        def judge(m, cname):
            if cname == "info":
                t = st_reference(m)
                return "refuse" if t is None else (lambda r: None)
            vec = st_checkpoint(m, cfg)
            if vec is None:
                return "refuse"
            if vec is EITHER:
                return lambda r: None

            def check(r):
                got = dump_series("x.polca", fx.d)
                if got is None:
                    return "import succeeded but its series does not read back"
                want = list(ref[1])
                want[idx] = vec
                if got[0] != ref[0] or any(not np.array_equal(a, b) for a, b in zip(got[1], want)):
                    return "imported checkpoints differ from the file's tensors"
                return None
            return check
        return judge

    def differential(self, victim, consumers, reader, writer, same_value):
        """judge for inputs without a checksum: read the mutated bytes with
        an independent reader; if it reads the intact value, polca must give
        the intact result; if another valid value, polca must give what it
        gives on that value written canonically; if it refuses, polca must
        refuse or give the intact result"""
        fx = self.fx
        intact = reader(rd(fx.path(victim)))
        canon = os.path.join(self.tmp, "canon")

        def results(d, cname):
            args, outs = [(a, o) for c, a, o, _ in consumers if c == cname][0]
            rm(*(os.path.join(d, o) for o in outs))
            r = polca(args, d)
            files = {}
            for o in outs:
                p = os.path.join(d, o)
                if os.path.exists(p):
                    files[o] = rd(p)
            return r, files
        intact_res = {c: results(fx.d, c) for c, _, _, _ in consumers}

        def judge(m, cname):
            v = reader(m)
            if v is None or same_value(v, intact):
                want_r, want_f = intact_res[cname]
            else:
                rm(canon)
                shutil.copytree(fx.d, canon, symlinks=True)
                writer(v)(os.path.join(canon, victim))
                want_r, want_f = results(canon, cname)
                if want_r.rc != 0:
                    return "refuse"

            def check(r):
                if r.out != want_r.out:
                    return "prints something else than the reference reading gives"
                for o, data in want_f.items():
                    p = fx.path(o)
                    if not os.path.exists(p) or rd(p) != data:
                        return f"{o} differs from the result on the reference reading"
                return None
            return check
        return judge

    # ---------------------------------------------------- crafted headers
    def crafted(self):
        fx = self.fx
        big_n = self.n(100_000, 100_000)
        # -- safetensors
        b = rd(fx.path(fx.ckpts[0]))
        n = struct.unpack_from("<Q", b)[0]
        hdr = json.loads(b[8:8 + n])
        data = b[8 + n:]

        def st(h, d=data, hl=None):
            text = json.dumps(h).encode() if not isinstance(h, bytes) else h
            text += b" " * (-len(text) % 8)
            return struct.pack("<Q", len(text) if hl is None else hl) + text + d

        def ent(**kw):
            h = json.loads(json.dumps(hdr))
            h["embed.W_E"].update(kw)
            return h
        E = hdr["embed.W_E"]
        cases = [
            ("header length 2^64-1", st(hdr, hl=2 ** 64 - 1)),
            ("header length 2^63", st(hdr, hl=2 ** 63)),
            ("header length 100000001", st(hdr, hl=100_000_001)),
            ("header length past the file", st(hdr, hl=len(b) + 8)),
            ("header length 0", st(b"", hl=0)),
            ("offsets past the file", st(ent(data_offsets=[len(data) - 4, len(data) + 220]))),
            ("offsets begin after end", st(ent(data_offsets=[E["data_offsets"][1], E["data_offsets"][0]]))),
            ("offsets 2^64-1", st(ent(data_offsets=[0, 2 ** 64 - 1]))),
            ("offsets not matching the shape", st(ent(shape=[7, 9]))),
            ("shape [2^62, 2^62]", st(ent(shape=[2 ** 62, 2 ** 62]))),
            ("shape [2^32, 2^32, 2^32]", st(ent(shape=[2 ** 32, 2 ** 32, 2 ** 32]))),
            ("shape [2^63-1, 2]", st(ent(shape=[2 ** 63 - 1, 2]))),
            ("shape [2^64]", st(ent(shape=[2 ** 64]))),
            ("shape [-1, 8]", st(ent(shape=[-1, 8]))),
            ("shape [7.5, 8]", st(ent(shape=[7.5, 8]))),
            # a valid file with a feature libpolca lacks: exit 3 (docs/cli.md)
            ("shape of 9 dimensions", st(ent(shape=[1] * 7 + [7, 8])), (3,)),
            ("shape not a list", st(ent(shape=56))),
            ("no dtype", st({k: ({kk: vv for kk, vv in v.items() if kk != "dtype"} if k == "embed.W_E" else v)
                             for k, v in hdr.items()})),
            ("no shape", st({k: ({kk: vv for kk, vv in v.items() if kk != "shape"} if k == "embed.W_E" else v)
                             for k, v in hdr.items()})),
            ("no data_offsets", st({k: ({kk: vv for kk, vv in v.items() if kk != "data_offsets"}
                                        if k == "embed.W_E" else v) for k, v in hdr.items()})),
            ("dtype I32 (a type that does not convert)", st(ent(dtype="I32"))),
            ("dtype unknown", st(ent(dtype="F33"))),
            ("dtype a number", st(ent(dtype=32))),
            ("duplicate tensor", st(b"{" + json.dumps(hdr)[1:-1].encode() + b", " +
                                    json.dumps({"embed.W_E": E})[1:-1].encode() + b"}")),
            ("NUL in a name", st(dict(hdr, **{"x\u0000y": E}))),
            ("invalid UTF-8 in a name", st(json.dumps(hdr).encode()[:-1] + b', "\xff\xfe": ' +
                                           json.dumps(E).encode() + b"}")),
            ("lone surrogate in a name", st(json.dumps(hdr).encode()[:-1] + b', "\\ud800": ' +
                                            json.dumps(E).encode() + b"}")),
            ("nesting 100000 deep", st(json.dumps(hdr).encode()[:-1] + b', "deep": {"dtype": "F32", "x": ' +
                                       b"[" * 100000 + b"]" * 100000 + b"}}")),
            ("number 1e999999", st(ent(shape=["@"]).__repr__().encode() if False else
                                   json.dumps(ent(shape=[1, 1])).replace("[1, 1]", "[1e999999, 8]").encode())),
            ("integer of 400 digits", st(json.dumps(ent(shape=[1, 1])).replace("[1, 1]", "[" + "9" * 400 + ", 8]")
                                         .encode())),
            ("metadata not strings", st(dict(hdr, __metadata__={"step": 3}))),
            ("overlapping offsets (accepted)", st(dict(hdr, **{"blocks.0.attn.W_K": hdr["blocks.0.attn.W_Q"]}))),
            ("holes between tensors (accepted)", st({k: (dict(v, data_offsets=[v["data_offsets"][0] + 64,
                                                                               v["data_offsets"][1] + 64]))
                                                     for k, v in hdr.items()}, d=b"\0" * 64 + data)),
        ]
        extra = {f"extra.{i}": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]} for i in range(big_n)}
        cases.append((f"{big_n} tensor entries (accepted)", st(dict(hdr, **extra))))
        cases.append((f"{big_n} metadata keys (accepted)",
                      st(dict(hdr, __metadata__={f"k{i}": "v" for i in range(big_n)}))))
        cases.append(("a 20 MB metadata string (accepted)", st(dict(hdr, __metadata__={"note": "x" * 20_000_000}))))
        t = Tally("crafted-safetensors")
        victim = fx.ckpts[0]
        judge = self.st_judge(victim)
        self.crafted_run(t, victim, cases, self.st_consumers(victim), judge)
        t.report()

        # -- .npy (tokens)
        tok = np.load(fx.path("tokens.npy"))
        raw = tok.astype("<i8").tobytes()

        def npy(header, body=raw, version=1):
            h = header.encode("latin1")
            pre = 10 if version == 1 else 12
            h += b" " * (-(len(h) + pre + 1) % 64) + b"\n"
            ln = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
            return b"\x93NUMPY" + bytes([version, 0]) + ln + h + body
        s = tok.shape
        cases = [
            ("shape (2^62, 2^62)", npy(f"{{'descr': '<i8', 'fortran_order': False, 'shape': ({2**62}, {2**62}), }}")),
            ("shape (2^40, n_ctx)", npy(f"{{'descr': '<i8', 'fortran_order': False, 'shape': ({2**40}, {s[1]}), }}")),
            ("shape (-1, n_ctx)", npy(f"{{'descr': '<i8', 'fortran_order': False, 'shape': (-1, {s[1]}), }}")),
            ("shape of 400 digits", npy(f"{{'descr': '<i8', 'fortran_order': False, 'shape': ({'9'*400}, {s[1]}), }}")),
            ("shape with 3 dims", npy(f"{{'descr': '<i8', 'fortran_order': False, 'shape': ({s[0]}, {s[1]}, 1), }}")),
            ("fortran order", npy(f"{{'descr': '<i8', 'fortran_order': True, 'shape': {s}, }}",
                                  np.asfortranarray(tok).astype("<i8").tobytes(order="F"))),
            ("big-endian", npy(f"{{'descr': '>i8', 'fortran_order': False, 'shape': {s}, }}",
                               tok.astype(">i8").tobytes())),
            ("data short by 1 byte", npy(f"{{'descr': '<i8', 'fortran_order': False, 'shape': {s}, }}", raw[:-1])),
            ("version 2, header 4 GiB", b"\x93NUMPY\x02\x00" + struct.pack("<I", 2 ** 32 - 1) + b"{" + raw),
            ("header length past the file", b"\x93NUMPY\x01\x00" + struct.pack("<H", 65535) + b"{'descr'"),
            ("header not a dict", npy("[1, 2, 3]")),
            ("descr object", npy(f"{{'descr': '|O', 'fortran_order': False, 'shape': {s}, }}")),
            ("descr a structured type", npy(f"{{'descr': [('a', '<i8')], 'fortran_order': False, 'shape': {s}, }}")),
            ("100000 nested parens", npy("{'descr': '<i8', 'fortran_order': False, 'shape': " + "(" * 100000 +
                                         ")" * 100000 + "}", version=2)),
        ]
        t = Tally("crafted-npy")
        cons = [("info", ["info", "tokens.npy"], [], None),
                ("decompose", fx.cmd["decompose"], fx.outputs["decompose"], None)]
        judge = self.differential("tokens.npy", cons, npy_reference, lambda v: (lambda p: np.save(p, v)),
                                  same_value=_np_same)
        self.crafted_run(t, "tokens.npy", cases, cons, judge)
        t.report()

        # -- JSON model config
        cfg = json.loads(rd(fx.path("model.json")))
        J = lambda **kw: json.dumps(dict(cfg, **kw)).encode()  # noqa: E731
        cases = [
            ("nesting 100000 deep", b'{"n_layers": ' + b"[" * 100000 + b"]" * 100000 + b"}"),
            ("n_layers 1e400", J(n_layers=1).replace(b'"n_layers": 1', b'"n_layers": 1e400')),
            ("n_layers of 400 digits", J(n_layers=1).replace(b'"n_layers": 1', b'"n_layers": ' + b"9" * 400)),
            ("d_model -8", J(d_model=-8)),
            ("d_model 2^24, d_vocab 2^24", J(d_model=2 ** 24, d_vocab=2 ** 24, d_head=1, n_heads=2 ** 24)),
            ("d_model 2^62", J(d_model=2 ** 62, d_head=1)),
            ("d_mlp 2^31", J(d_mlp=2 ** 31)),
            ("n_heads 0", J(n_heads=0)),
            ("a 20 MB model_name (accepted)", J(model_name="x" * 20_000_000)),
            ("invalid UTF-8", J()[:-1] + b', "model_name": "\xff"}'),
            ("NUL in a key", J()[:-1] + b', "n_\\u0000layers": 1}'),
            ("trailing garbage", J() + b"}"),
            ("not an object", b"[1, 2]"),
            ("empty", b""),
        ]
        t = Tally("crafted-json-config")
        cons = [("info", ["info", "model.json"], [], None),
                ("import", ["import", "--config", "model.json", "--out", "x.polca"] + fx.ckpts, ["x.polca"], None)]
        judge = self.differential("model.json", cons, json_reference,
                                  lambda v: (lambda p: wr(p, json.dumps(v).encode())), same_value=lambda a, b: a == b)
        self.crafted_run(t, "model.json", cases, cons, judge, codes=(2, 3))
        t.report()

        # -- container (a series)
        sb = rd(fx.path("series.polca"))
        H, fields = ct_fields(sb)
        R = struct.unpack_from("<H", sb, H + 4)[0]
        fixed = lambda H2: (b"\x89POLCA\r\n" + struct.pack("<IIQI", 1, 1, H2, 0) +  # noqa: E731
                            struct.pack("<I", crc32c(b"\x89POLCA\r\n" + struct.pack("<IIQI", 1, 1, H2, 0))))
        lay = dict(fields)[1]
        many = [(f"t{i}.w", [3]) for i in range(self.n(50_000, 50_000))]
        lay_many, hash_many = layout_field(many)
        # a layout field claiming 2^60 tensors (hash of the real layout)
        lay_huge = struct.pack("<QQ", 2 ** 60, struct.unpack_from("<Q", lay, 8)[0]) + lay[16:]
        other = [(t_, v) for t_, v in fields if t_ not in (1, 2)]
        cases = [
            ("header length 2^63", fixed(2 ** 63) + sb[32:]),
            ("header length 64 MiB + 8", fixed(64 * 2 ** 20 + 8) + sb[32:]),
            ("header length 8", fixed(8) + sb[32:]),
            ("field length 2^62", sb[:96] + struct.pack("<IIQ", 3, 0, 2 ** 62) + sb[112:]),
            ("layout with 2^60 tensors", ct_header(1, other + [(1, lay_huge), (2, dict(fields)[2])])),
            (f"layout with {len(many)} tensors (accepted)", ct_header(1, other + [(1, lay_many), (2, hash_many)])),
            ("committed end past the file", slot_patch(sb, end=len(sb) + 4096)),
            ("committed end 2^63", slot_patch(sb, end=2 ** 63)),
            ("record count 2^62", slot_patch(sb, count=2 ** 62)),
            ("record count 0 with records", slot_patch(sb, count=0)),
            ("record payload length 2^62", rec_patch(sb, H, 32, "<Q", 2 ** 62)),
            ("record n 2^62", rec_patch(sb, H, 24, "<Q", 2 ** 62)),
            ("record header length 65535", rec_patch(sb, H, 4, "<H", 65528)),
            ("record block log2 63", rec_patch(sb, H, 12, "<B", 63)),
            ("record referencing itself", rec_patch(rec_patch(sb, H, 7, "<B", 4), H, 40, "<q", 0)),
            ("record referencing a later record", rec_patch(rec_patch(sb, H, 7, "<B", 4), H, 40, "<q", 3)),
            ("record referencing -2", rec_patch(rec_patch(sb, H, 7, "<B", 4), H, 40, "<q", -2)),
        ]
        del R
        t = Tally("crafted-series")
        cons = [("info", ["info", "--all", "series.polca"], [], None),
                ("series_tool", ["@tool", "series.polca", "check", "99999999999"], [], None)]

        def judge(m, cname):
            return (lambda r: None) if m is cases[5][1] else "refuse"
        self.crafted_run(t, "series.polca", cases, cons, judge)
        t.report()

    def crafted_run(self, t, victim, cases, consumers, judge, codes=(2,)):
        fx = self.fx
        vp = fx.path(victim)
        intact = rd(vp)
        try:
            for case in cases:
                # (what, bytes) or (what, bytes, the exit codes that refuse it clearly)
                what, m = case[:2]
                case_codes = case[2] if len(case) > 2 else codes
                wr(vp, m)
                for cname, args, outs, _ in consumers:
                    if self.q and re.search(r"\d{5} (tensor|metadata)", what) and cname != "info":
                        continue  # quick: the slow-parse cases on info only
                    rm(*(fx.path(o) for o in outs))
                    before = os.listdir(fx.d)
                    tool = args[0] == "@tool"
                    r = run([TOOL] + args[1:], fx.d) if tool else polca(args, fx.d)
                    if tool:
                        v = "hang" if r.hung else "crash" if (san_report(r.err) or r.rc < 0 or r.rc >= 128) \
                            else "ok" if r.rc == 0 else "error" if r.rc == 2 and b"\nerr " in b"\n" + r.out \
                            else "unclear"
                    else:
                        v = verdict(r, case_codes)
                    left = [x for x in leftovers(fx.d, before) if x not in outs]
                    if v == "error" and any(os.path.exists(fx.path(o)) for o in outs):
                        left.append("output")
                    exp = judge(m, cname)
                    note = ""
                    check = (lambda: "accepted a file the format refuses") if exp == "refuse" else \
                        (lambda: exp(r))
                    if left or v not in ("ok", "error") or (v == "ok" and check() is not None):
                        rp = keep(t, m, os.path.basename(victim))
                        note = f" ({r.secs:.1f} s, rc {r.rc}: {r.errline()[:120]!r}; input {rp}, " \
                               f"command in {fx.d}: {' '.join(['series_tool'] + args[1:] if tool else ['polca'] + args)})"
                    if left:
                        t.tries += 1
                        t.add("wrong", f"{what}: {cname}: left {left} behind{note}")
                        rm(*(fx.path(x) for x in left))
                        continue
                    t.run_verdict(v, f"{what}: {cname}", check, note)
        finally:
            wr(vp, intact)
            for _, _, outs, _ in consumers:
                fx.restore(outs)

    # ---------------------------------------------------- kill -9
    def kill_appends(self):
        t = Tally("kill9-appends")
        d = os.path.join(self.tmp, "k9")
        os.makedirs(d)
        path = os.path.join(d, "s.polca")
        big = ["-c", "d_model=48", "-c", "d_head=12", "-c", "n_heads=4", "-c", "d_mlp=192", "-c", "d_vocab=64",
               "-c", "n_ctx=24"]
        r = run([TOOL] + big + [path], d, stdin_data=b"create\nclose\n")
        if r.out.split() != [b"ok", b"ok"]:
            t.skipped = f"series_tool create failed: {r.out!r} {r.err!r}"
            return t.report()
        reported = []
        for rnd in range(self.n(10, 60)):
            nxt = reported[-1] + 1 if reported else 1
            p = subprocess.Popen([TOOL] + big + (["-n"] if rnd % 3 == 2 else []) + [path], cwd=d, env=ENV,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 preexec_fn=_limits)
            p.stdin.write(f"open\nappendn {nxt} 1 1000000\n".encode())
            p.stdin.flush()
            time.sleep(self.rng.uniform(0.05, 0.6))
            p.kill()
            out, err = p.communicate()
            t.tries += 1
            lines = out.decode().split("\n")
            if san_report(err):
                t.add("crashes", f"round {rnd}: sanitizer report")
                continue
            if lines[0] != "ok":
                t.add("unclear", f"round {rnd}: open after a kill: {lines[0]}")
                continue
            got = [int(x.split()[1]) for x in lines[1:] if x.startswith("ok ")]
            bad = [x for x in lines[1:] if x.startswith("err")]
            reported += got
            c = run([TOOL] + big + [path, "check", "1"], d)
            if c.rc != 0:
                t.add("crashes" if c.rc >= 128 or c.rc < 0 else "wrong", f"round {rnd}: check: {c.out[-200:]!r}")
                continue
            steps = [int(x) for x in c.out.split(b"\n")[0].split()[1:]]
            missing = sorted(set(reported) - set(steps))
            if missing:
                t.add("lost", f"round {rnd}: reported-committed steps {missing[:5]} missing")
            elif bad:
                t.add("unclear", f"round {rnd}: {bad[0]}")
            elif steps[:len(reported)] != reported or len(steps) > len(reported) + 1:
                t.add("wrong", f"round {rnd}: steps {steps[-5:]} after reported {reported[-5:]}")
            else:
                t.add("correct")
                reported = steps  # a commit that came before its report counts from now on
        t.report()

    def kill_commands(self, big):
        """kill -9 at a random moment of every command that writes a file:
        the output is then absent (or the old one, with --overwrite) or
        complete"""
        t = Tally("kill9-commands")
        fx = big
        for c in fx.commands:
            if c == "info":
                continue
            dur = fx.ref[c]["_secs"]
            for rnd in range(self.n(1, 6)):
                over = rnd % 2 == 1 if not self.q else self.rng.random() < 0.5
                outs = fx.outputs[c]
                work = os.path.join(self.tmp, "kill")
                rm(work)
                shutil.copytree(fx.d, work, symlinks=True)
                old = {}
                os.makedirs(os.path.join(work, "npy"), exist_ok=True)
                for o in outs:
                    if o == "npy":
                        continue
                    rm(os.path.join(work, o))
                    if over and not o.endswith("npy"):
                        wr(os.path.join(work, o), b"old contents\n")
                        old[o] = b"old contents\n"
                args = [POLCA, "--quiet"] + fx.cmd[c] + (["--overwrite"] if over else [])
                p = subprocess.Popen(args, cwd=work, env=ENV, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, preexec_fn=_limits)
                time.sleep(self.rng.uniform(0, dur))
                p.kill()
                _, err = p.communicate()
                t.tries += 1
                if san_report(err):
                    t.add("crashes", f"{c}: sanitizer report")
                    continue
                bad = None
                for o in outs:
                    pth = os.path.join(work, o)
                    if o == "npy":
                        if os.path.isdir(pth):
                            for f_ in os.listdir(pth):
                                if not f_.startswith("tmp") and ".tmp-" not in f_ and \
                                        rd(os.path.join(pth, f_)) != fx.ref[c][o].get(f_):
                                    bad = f"npy/{f_} partial"
                        continue
                    if not os.path.exists(pth):
                        if o in old:
                            bad = f"{o}: old file gone, no new one"
                        continue
                    data = rd(pth)
                    if data != fx.ref[c][o] and data != old.get(o):
                        bad = f"{o} is neither the old file nor the complete output ({len(data)} bytes)"
                if bad:
                    t.add("wrong", f"{c}{' --overwrite' if over else ''} killed: {bad}")
                else:
                    t.add("correct")
        t.report()

    # ---------------------------------------------------- SIGINT
    def sigint(self, big):
        t = Tally("sigint-commands")
        fx = big
        for c in fx.commands:
            dur = fx.ref[c]["_secs"]
            for rnd in range(self.n(2 if c == "import" else 1, 6)):
                over = (rnd % 2 == 1 if not self.q else self.rng.random() < 0.5) and c != "info"
                outs = fx.outputs[c]
                work = os.path.join(self.tmp, "int")
                rm(work)
                shutil.copytree(fx.d, work, symlinks=True)
                old = {}
                os.makedirs(os.path.join(work, "npy"), exist_ok=True)
                for o in outs:
                    if o == "npy":
                        continue
                    rm(os.path.join(work, o))
                    if over:
                        wr(os.path.join(work, o), b"old contents\n")
                        old[o] = b"old contents\n"
                args = [POLCA] + fx.cmd[c] + (["--overwrite"] if over else [])
                p = subprocess.Popen(args, cwd=work, env=ENV, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, preexec_fn=_limits)
                time.sleep(self.rng.uniform(0.1 * dur, 0.6 * dur))
                sent = time.monotonic()
                p.send_signal(signal.SIGINT)
                try:
                    _, err = p.communicate(timeout=max(3.0, 0.5 * dur) + 2)
                    late = time.monotonic() - sent
                except subprocess.TimeoutExpired:
                    p.kill()
                    _, err = p.communicate()
                    late = None
                t.tries += 1
                what = f"{c}{' --overwrite' if over else ''}"
                if late is None:
                    t.add("hangs", f"{what}: still running {max(3.0, 0.5 * dur) + 2:.0f} s after SIGINT")
                    continue
                if san_report(err) or (p.returncode < 0 and p.returncode != -signal.SIGINT):
                    t.add("crashes", f"{what}: rc {p.returncode}")
                    continue
                bad = None
                for o in outs:
                    pth = os.path.join(work, o)
                    if o == "npy":
                        if os.path.isdir(pth):
                            for f_ in os.listdir(pth):
                                if rd(os.path.join(pth, f_)) != fx.ref[c][o].get(f_) and \
                                        (p.returncode == 0 or ".tmp-" not in f_):
                                    bad = f"npy/{f_} partial or left"
                        continue
                    exists = os.path.exists(pth)
                    data = rd(pth) if exists else None
                    if p.returncode == 0:
                        if data != fx.ref[c][o]:
                            bad = f"exit 0 but {o} incomplete"
                    elif exists and data != old.get(o):
                        bad = f"interrupted, but {o} was written ({len(data)} bytes)" if o not in old else \
                            f"interrupted, old {o} changed"
                    elif not exists and o in old:
                        bad = f"interrupted, old {o} removed"
                tmp_left = [f_ for f_ in os.listdir(work) if ".tmp-" in f_]
                e = err.decode(errors="replace").strip().split("\n")
                if bad:
                    t.add("wrong", f"{what}: {bad}")
                elif p.returncode == 0:
                    # finished: fine if the signal came at the very end
                    if late > max(1.0, 0.25 * dur) and c != "info":
                        t.add("hangs", f"{what}: SIGINT ignored, finished {late:.1f} s later with exit 0")
                    else:
                        t.add("correct")
                elif p.returncode == 130 and len(e) == 1 and "interrupted" in e[0] and not tmp_left:
                    t.add("errors")
                elif p.returncode == -signal.SIGINT and not tmp_left:
                    t.add("errors")  # the signal came before the handler was set
                else:
                    t.add("unclear", f"{what}: rc {p.returncode}, {len(e)} lines: {e[0][:100]!r}"
                          f"{', left ' + str(tmp_left) if tmp_left else ''}")
        t.report()

    # ---------------------------------------------------- existing outputs, symlinks
    def existing_outputs(self):
        fx = self.fx
        t = Tally("existing-outputs")
        t2 = Tally("symlink-outputs")
        pairs = [("import", "series.polca"), ("basis", "basis.polca"), ("basis", "basis.npy"),
                 ("decompose", "traj.polca"), ("decompose_rising", "kept.polca"),
                 ("decompose_rising", "kept_basis.polca"), ("decompose_rising", "npy/polca.npy"),
                 ("cluster", "clusters.json"), ("cluster", "labels_out.npy"), ("score", "scores.json"),
                 ("report", "report.html")]
        work = os.path.join(self.tmp, "exist")
        for c, o in pairs:
            for mode in ("file", "link", "dangling", "link --overwrite"):
                rm(work)
                shutil.copytree(fx.d, work, symlinks=True)
                for x in fx.outputs[c]:
                    if x != "npy":
                        rm(os.path.join(work, x))
                os.makedirs(os.path.join(work, "npy"), exist_ok=True)
                target = os.path.join(self.tmp, "target")
                rm(target)
                pth = os.path.join(work, o)
                rm(pth)
                sentinel = b"precious user data\n"
                if mode == "file":
                    wr(pth, sentinel)
                elif mode in ("link", "link --overwrite"):
                    wr(target, sentinel)
                    os.symlink(target, pth)
                else:
                    os.symlink(target, pth)
                st0 = os.lstat(pth)
                over = mode.endswith("--overwrite")
                r = polca(fx.cmd[c] + (["--overwrite"] if over else []), work)
                v = verdict(r, codes=(1,))
                tt = t if mode == "file" else t2
                what = f"{c} -> {o} ({mode})"
                tt.tries += 1
                if v in ("crash", "hang"):
                    tt.add("crashes" if v == "crash" else "hangs", f"{what}: {v}")
                    continue
                # the existing file / the link's target must be untouched
                if mode == "dangling":
                    if os.path.exists(target):
                        tt.add("lost", f"{what}: followed the dangling link and created its target")
                        continue
                elif rd(target if mode != "file" else pth) != sentinel:
                    tt.add("lost", f"{what}: {'the link target' if mode != 'file' else 'the file'} was "
                                   f"overwritten (rc {r.rc})")
                    continue
                if over:
                    if v == "ok":
                        if os.path.islink(pth):
                            tt.add("wrong", f"{what}: exit 0 but the link is still there")
                        elif fx.same_outputs(c, work, names=[o]) is not None:
                            tt.add("wrong", f"{what}: {fx.same_outputs(c, work, names=[o])}")
                        else:
                            tt.add("correct")
                    elif v == "error" or r.rc in (1, 2, 3):
                        tt.add("errors")
                    else:
                        tt.add("unclear", f"{what}: rc {r.rc}")
                    continue
                if v == "ok":
                    tt.add("lost" if mode == "file" else "wrong",
                           f"{what}: {'replaced' if mode == 'file' else 'the link replaced'} without --overwrite "
                           f"(exit 0)")
                elif v == "error" and "exist" in r.errline() and os.lstat(pth).st_ino == st0.st_ino:
                    tt.add("errors")
                elif mode != "file" and r.rc in (1, 2) and verdict(r, codes=(1, 2)) == "error" and \
                        os.lstat(pth).st_ino == st0.st_ino:
                    tt.add("errors")  # a link at the output path refused in other words
                elif v == "error":
                    tt.add("unclear", f"{what}: {r.errline()[:120]}")
                else:
                    tt.add("unclear", f"{what}: rc {r.rc} (want 1): {r.errline()[:120]}")
        t.report()
        t2.report()

    # ---------------------------------------------------- full disk, read-only directory
    def mount_tmpfs(self, d, size):
        os.makedirs(d, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", d],
                           capture_output=True)
        return r.returncode == 0, r.stderr.decode(errors="replace").strip()

    def full_disk(self):
        fx = self.fx
        t = Tally("full-disk")
        mnt = os.path.join(self.tmp, "tmpfs")
        ok, why = self.mount_tmpfs(mnt, "2m") if os.geteuid() == 0 else (False, "not root")
        if not ok:
            t.skipped = f"cannot mount a tmpfs ({why})"
            return t.report()
        try:
            pairs = [(c, fx.outputs[c]) for c in ("import", "basis", "decompose", "decompose_rising", "cluster",
                                                  "score", "report")]
            for c, outs in pairs:
                total = sum(len(v) if isinstance(v, bytes) else sum(len(x) for x in v.values())
                            for k, v in fx.ref[c].items() if k != "_secs")
                levels = sorted({0, total // 2, total + 8192} | ({4096, total - 1} if not self.q else set()) |
                                {self.rng.randrange(0, total + 8192) for _ in range(self.n(0, 6))})
                for free in levels:
                    for over in ((False, True) if not self.q else (self.rng.random() < 0.5,)):
                        self.fill(mnt, None)
                        work = os.path.join(mnt, "w")
                        os.makedirs(work)
                        # inputs from the fixture directory, outputs on the small disk
                        args = fx.relocate(fx.cmd[c], outs, None)
                        old = {}
                        if over:
                            for o in outs:
                                if o != "npy":
                                    wr(os.path.join(work, o), b"old contents\n" * 100)
                                    old[o] = b"old contents\n" * 100
                            args.append("--overwrite")
                        if "npy" in outs:
                            os.makedirs(os.path.join(work, "npy"), exist_ok=True)
                        self.fill(mnt, free)
                        r = polca(args, work)
                        v = verdict(r, codes=(2, 3))
                        t.tries += 1
                        what = f"{c}{' --overwrite' if over else ''} with {free} bytes free"
                        if v in ("crash", "hang", "unclear"):
                            t.add({"crash": "crashes", "hang": "hangs", "unclear": "unclear"}[v],
                                  f"{what}: rc {r.rc} {r.errline()[:120]!r}")
                            continue
                        bad = None
                        for o in outs:
                            pth = os.path.join(work, o)
                            if o == "npy":
                                for f_ in os.listdir(pth):
                                    if rd(os.path.join(pth, f_)) != fx.ref[c][o].get(f_):
                                        bad = f"npy/{f_} partial or left"
                                continue
                            data = rd(pth) if os.path.exists(pth) else None
                            if data is not None and o.endswith((".json", ".html")):
                                # these name their inputs, which this run gave
                                # as paths into the fixture directory
                                data = data.replace((fx.d + os.sep).encode(), b"")
                            if v == "ok" and data != fx.ref[c][o]:
                                bad = f"exit 0 but {o} is {'missing' if data is None else 'incomplete'}"
                            elif v == "error" and data not in (None, old.get(o), fx.ref[c][o]):
                                bad = f"{o} {'changed' if o in old else 'written'} ({len(data)} bytes) " \
                                      f"though the command failed"
                            elif v == "error" and o in old and data is None:
                                bad = f"old {o} removed though the command failed"
                        left = [f_ for f_ in os.listdir(work) if ".tmp-" in f_]
                        if bad:
                            t.add("lost" if "old" in bad or "changed" in bad else "wrong", f"{what}: {bad}")
                        elif left:
                            t.add("wrong", f"{what}: left {left}")
                        else:
                            t.add("correct" if v == "ok" else "errors")
        finally:
            subprocess.run(["umount", mnt])
        t.report()

    def fill(self, mnt, free):
        """empties the tmpfs (free None) or fills it to `free` bytes left"""
        if free is None:
            for f_ in os.listdir(mnt):
                rm(os.path.join(mnt, f_))
            return
        filler = os.path.join(mnt, "filler")
        st = os.statvfs(mnt)
        avail = st.f_bavail * st.f_frsize
        n = max(0, avail - free)
        with open(filler, "wb") as f:
            try:
                f.write(b"\0" * n)
            except OSError:
                pass

    def readonly_dir(self):
        fx = self.fx
        t = Tally("readonly-dir")
        mnt = os.path.join(self.tmp, "ro")
        ok, why = self.mount_tmpfs(mnt, "4m") if os.geteuid() == 0 else (False, "not root")
        if not ok and os.geteuid() == 0:
            t.skipped = f"cannot mount a tmpfs ({why})"
            return t.report()
        try:
            if ok:
                wr(os.path.join(mnt, "clusters.json"), b"old\n")
                os.makedirs(os.path.join(mnt, "npy"))
                subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
            else:
                os.makedirs(mnt)
                wr(os.path.join(mnt, "clusters.json"), b"old\n")
                os.makedirs(os.path.join(mnt, "npy"))
                os.chmod(mnt, 0o555)
            for c in ("import", "basis", "decompose", "decompose_rising", "cluster", "score", "report"):
                for over in (False, True):
                    outs = fx.outputs[c]
                    args = fx.relocate(fx.cmd[c], outs, mnt)
                    r = polca(args + (["--overwrite"] if over else []), fx.d)
                    v = verdict(r, codes=(1, 2, 3) if not over else (2, 3))
                    t.tries += 1
                    what = f"{c}{' --overwrite' if over else ''} into a read-only directory"
                    if v == "ok":
                        t.add("wrong", f"{what}: exit 0")
                    elif v == "error":
                        t.add("errors")
                    else:
                        t.add({"crash": "crashes", "hang": "hangs", "unclear": "unclear"}[v],
                              f"{what}: rc {r.rc} {r.errline()[:120]!r}")
            if rd(os.path.join(mnt, "clusters.json")) != b"old\n":
                t.add("lost", "clusters.json changed")
        finally:
            if ok:
                subprocess.run(["umount", mnt])
            else:
                os.chmod(mnt, 0o755)
        t.report()

    # ---------------------------------------------------- concurrency
    def two_writers(self):
        t = Tally("two-writers-create")
        d = os.path.join(self.tmp, "tw")
        os.makedirs(d)
        for rnd in range(self.n(8, 40)):
            path = os.path.join(d, f"s{rnd}.polca")
            procs = [subprocess.Popen([TOOL, path], cwd=d, env=ENV, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_limits)
                     for _ in range(2)]
            time.sleep(0.05)
            for w, p in enumerate(procs):
                p.stdin.write(f"create\nappendn {(w + 1) * 1000000} 1 6\n".encode())
                p.stdin.flush()
            res = []
            for p in procs:
                try:
                    out, err = p.communicate(timeout=HANG_S)
                except subprocess.TimeoutExpired:
                    p.kill()
                    out, err = p.communicate()
                    err += b" (hang)"
                res.append((out.decode(), err))
            t.tries += 1
            if any(san_report(e) or b"(hang)" in e for _, e in res):
                t.add("crashes", f"round {rnd}: {[e[-200:] for _, e in res]}")
                continue
            c = run([TOOL, path, "check"], d)
            steps = [int(x) for x in c.out.split(b"\n")[0].split()[1:]] if c.rc == 0 else []
            reported = [int(x.split()[1]) for out, _ in res for x in out.split("\n") if x.startswith("ok ")]
            missing = sorted(set(reported) - set(steps))
            creates = [out.split("\n")[0] for out, _ in res]
            if c.rc != 0:
                t.add("wrong", f"round {rnd}: the series does not check: {c.out[-200:]!r}")
            elif missing:
                t.add("lost", f"round {rnd}: both creates {creates}; {len(missing)} reported-committed "
                              f"appends missing (steps {missing[:3]}...)")
            elif sum(x == "ok" for x in creates) == 2:
                t.add("wrong", f"round {rnd}: both creates succeeded")
            else:
                t.add("errors" if any(x.startswith("err") for x in creates) else "correct")
        t.report()

    def writer_replacer(self):
        fx = self.fx
        for how in ("library", "cli"):
            t = Tally(f"writer-vs-replace-{how}")
            d = os.path.join(self.tmp, f"wr-{how}")
            os.makedirs(d)
            for rnd in range(self.n(3, 10)):
                path = os.path.join(d, f"s{rnd}.polca")
                r = run([TOOL, path], d, stdin_data=b"create\nappendn 1000 1 3\nclose\n")
                if r.out.split() != b"ok ok 1000 ok 1001 ok 1002 ok".split():
                    t.tries += 1
                    t.add("unclear", f"round {rnd}: could not make the series: {r.out[-200:]!r}")
                    continue
                w = subprocess.Popen([TOOL, path], cwd=d, env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=_limits, text=True)

                def ask(line):
                    w.stdin.write(line + "\n")
                    w.stdin.flush()
                    return w.stdout.readline().strip()
                first = [ask("open"), ask("append 1003"), ask("append 1004")]
                if how == "library":
                    rr = run([TOOL, path], d, stdin_data=b"replace\nappend 5000\nclose\n")
                    replaced = rr.out.split(b"\n")[0] == b"ok"
                else:
                    rr = polca(["import", "--config", fx.path("model.json"), "--out", path, "--overwrite"] +
                               [fx.path(x) for x in fx.ckpts], d)
                    replaced = rr.rc == 0
                after = [ask(f"append {2000 + i}") for i in range(3)]
                w.stdin.close()
                w.wait()
                t.tries += 1
                c = run([TOOL, path, "check", "1000"], d)
                steps = [int(x) for x in c.out.split(b"\n")[0].split()[1:]] if c.rc == 0 else []
                ok_after = [int(x.split()[1]) for x in after if x.startswith("ok ")]
                # every append the writer was told is committed, before the
                # replacement attempt or after it, must be in the final file
                ok_first = [int(x.split()[1]) for x in first[1:] if x.startswith("ok ")]
                missing = sorted(set(ok_first + ok_after) - set(steps))
                if c.rc != 0:
                    t.add("wrong", f"round {rnd}: final series does not check: {c.out[-200:]!r}")
                elif any(x.startswith("ok") is False for x in first):
                    t.add("unclear", f"round {rnd}: writer failed before the replacement: {first}")
                elif missing:
                    t.add("lost", f"round {rnd}: replacer {'succeeded' if replaced else 'refused'}; the writer "
                                  f"was told {len(ok_first) + len(ok_after)} appends committed, {len(missing)} are "
                                  f"not in the file")
                elif not replaced and (rr.rc != 0 if how == "cli" else True):
                    t.add("errors")
                else:
                    t.add("errors" if len(ok_after) < 3 else "correct")
            t.report()

    def readers(self):
        t = Tally("readers-during-appends")
        d = os.path.join(self.tmp, "rd")
        os.makedirs(d)
        path = os.path.join(d, "s.polca")
        secs = self.n(3, 12)
        run([TOOL, path], d, stdin_data=b"create\nappend 1\nclose\n")
        w = subprocess.Popen([TOOL, "-n", path], cwd=d, env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, preexec_fn=_limits)
        w.stdin.write(b"open\nappendn 2 1 100000000\n")
        w.stdin.flush()
        rs = [subprocess.Popen([TOOL, path, mode, str(secs)], cwd=d, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, preexec_fn=_limits)
              for mode in ("readloop", "openloop", "openloop", "openloop")]
        outs = []
        for r in rs:
            try:
                out, err = r.communicate(timeout=secs + HANG_S)
            except subprocess.TimeoutExpired:
                r.kill()
                out, err = r.communicate()
                t.add("hangs", "a reader hung")
            outs.append((out, err, r.returncode))
        w.kill()
        wout, werr = w.communicate()
        appended = sum(1 for x in wout.split(b"\n") if x.startswith(b"ok "))
        for out, err, rc in outs:
            if san_report(err) or rc != 0:
                t.add("crashes", f"reader rc {rc}")
            for line in out.decode().split("\n"):
                if not line:
                    continue
                m = re.match(r"opens (\d+) errors (\d+)", line)
                if m:  # openloop's summary: its error lines came before
                    n_open, n_err = int(m.group(1)), int(m.group(2))
                    t.tries += n_open
                    t.c["correct"] += n_open - n_err
                    t.c["unclear"] += max(0, n_err - min(n_err, 5))
                    continue
                t.tries += 1
                if line.startswith("ok "):
                    t.add("correct")
                elif line.startswith("WRONG"):
                    t.add("wrong", line)
                else:
                    t.add("unclear", f"spurious error on a healthy series: {line[:160]}")
        t.notes.insert(0, f"(the writer committed {appended} appends meanwhile)") if t.notes else None
        t.report()


def _np_same(a, b):
    return a is not None and b is not None and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


ATTACKS = ["files", "crafted", "kill9-appends", "kill9-commands", "sigint", "existing", "full-disk",
           "readonly", "two-writers", "writer-replacer", "readers"]


def main():
    global OUT, HANG_S, VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer tries per attack (make check)")
    ap.add_argument("--only", default="", help="regex over attack groups: " + " ".join(ATTACKS))
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--out", default=os.path.join(ROOT, BUILD, "faults"))
    ap.add_argument("--hang", type=float, default=None, help="seconds after which a run is a hang (default 20, quick 10)")
    ap.add_argument("-v", "--verbose", action="store_true", help="a note for every failure")
    a = ap.parse_args()
    VERBOSE = a.verbose
    if os.geteuid() == 0 and not os.environ.get("POLCA_FAULTS_NS") and shutil.which("unshare"):
        # a private mount namespace: the tmpfs mounts of the full-disk and
        # read-only attacks vanish with the campaign, however it ends
        env = dict(os.environ, POLCA_FAULTS_NS="1")
        ns = ["unshare", "-m", "--propagation", "private"]
        if subprocess.run(ns + ["true"], capture_output=True).returncode == 0:
            return subprocess.run(ns + [sys.executable] + sys.argv, env=env).returncode
    if a.seed is None:
        a.seed = int(time.time()) % 100000
    HANG_S = a.hang or (10.0 if a.quick else 20.0)
    OUT = os.path.abspath(a.out)
    rm(OUT)
    os.makedirs(OUT)
    for p in (POLCA, TOOL):
        if not os.access(p, os.X_OK):
            print(f"not built: {p} (make tests)")
            print("0 passed, 1 failed")
            return 1
    t0 = time.monotonic()
    print(f"fault campaign: {'quick' if a.quick else 'full'}, seed {a.seed}, {POLCA}"
          f"{' (ASan+UBSan)' if SANITIZED else ''}, hang limit {HANG_S:.0f} s", flush=True)
    c = Campaign(a)
    try:
        sel = [x for x in ATTACKS if re.search(a.only, x)]
        big = None
        if {"kill9-commands", "sigint"} & set(sel):
            big = Fixture(os.path.join(c.tmp, "big"), big=True)
        for x in sel:
            {"files": c.file_attacks, "crafted": c.crafted, "kill9-appends": c.kill_appends,
             "kill9-commands": lambda: c.kill_commands(big), "sigint": lambda: c.sigint(big),
             "existing": c.existing_outputs, "full-disk": c.full_disk, "readonly": c.readonly_dir,
             "two-writers": c.two_writers, "writer-replacer": c.writer_replacer, "readers": c.readers}[x]()
    finally:
        shutil.rmtree(c.tmp, ignore_errors=True)
    passed = sum(t.passed() for t in Tally.all)
    failed = sum(not t.passed() and t.skipped is None for t in Tally.all)
    skipped = sum(t.skipped is not None for t in Tally.all)
    san = os.path.join(OUT, "sanitizer")
    if os.path.isdir(san) and os.listdir(san):
        print(f"sanitizer reports: {len(os.listdir(san))} in {san}")
        for f_ in sorted(os.listdir(san))[:5]:
            txt = rd(os.path.join(san, f_)).decode(errors="replace").split("\n")
            first = [x for x in txt if "ERROR" in x or "runtime error" in x][:1]
            print(f"    {f_}: {first[0][:200] if first else txt[0][:200]}")
    print(f"campaign took {time.monotonic() - t0:.0f} s; {skipped} skipped; seed {a.seed}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
