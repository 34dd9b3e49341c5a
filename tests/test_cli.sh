#!/bin/sh
# The polca command-line tool end to end on a TransformerLens-style run
# (tests/cli_fixtures.py writes the inputs with numpy alone): import ->
# basis -> decompose -> cluster -> score -> report; the files it writes
# agree bit for bit with the Python bindings on the same inputs (plain
# build); --help everywhere; every bad argument or bad file gives exactly
# one line on stderr and the documented exit status; progress bars only on
# a terminal; Ctrl-C stops a long call with status 130; make install puts
# the tool in $PREFIX/bin.
. tests/lib.sh
bin="$BUILD/bin/polca"
[ -x "$bin" ] || { fail cli "not built: $bin"; finish; }
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c "import numpy" 2>/dev/null || { skip cli "numpy is needed to write the inputs"; finish; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" tests/cli_fixtures.py "$tmp" || { fail cli "tests/cli_fixtures.py failed"; finish; }
bin=$(cd "$(dirname "$bin")" && pwd)/polca
root=$PWD
# The CPU unless the suite runs on a GPU (POLCA_BACKEND=cuda make check):
# "auto" would load the CUDA module in every one of ~60 runs.
export POLCA_BACKEND=${POLCA_BACKEND:-cpu}

# run ARGS...: runs polca in $tmp; $rc, $tmp/out, $tmp/err
run() { (cd "$tmp" && "$bin" "$@" >"$tmp/out" 2>"$tmp/err"); rc=$?; }
must_ok() { # NAME ARGS...
    name=$1; shift
    run "$@"
    if [ $rc -eq 0 ] && ! grep -q "$(printf '\r')" "$tmp/err"; then ok "$name"
    else fail "$name" "rc=$rc: $(head -c 400 "$tmp/err")"; fi
}
must_fail() { # NAME CODE TEXT ARGS...: exit CODE, one stderr line containing TEXT, no stdout
    name=$1 code=$2 text=$3; shift 3
    run "$@"
    lines=$(wc -l <"$tmp/err")
    if [ $rc -eq "$code" ] && [ "$lines" -eq 1 ] && grep -q -- "$text" "$tmp/err" && [ ! -s "$tmp/out" ]; then
        ok "$name: $(cat "$tmp/err")"
    else
        fail "$name" "rc=$rc (want $code), $lines stderr lines: $(head -c 400 "$tmp/err") / stdout: $(head -c 200 "$tmp/out")"
    fi
}

# ---- help and version ----
run --help
[ $rc -eq 0 ] && grep -q "^commands:" "$tmp/out" && ok "polca --help" || fail "polca --help" "rc=$rc"
run --version
case "$(cat "$tmp/out")" in "polca "[0-9]*) ok "polca --version" ;; *) fail "--version" "$(cat "$tmp/out")" ;; esac
for c in info import basis decompose cluster score report; do
    run "$c" --help
    if [ $rc -eq 0 ] && grep -q "^usage: polca $c" "$tmp/out" && grep -q "exit status" "$tmp/out"; then
        ok "polca $c --help"
    else
        fail "polca $c --help" "rc=$rc $(head -c 200 "$tmp/out")"
    fi
done
run help score
[ $rc -eq 0 ] && grep -q "^usage: polca score" "$tmp/out" && ok "polca help score" || fail "polca help score" "rc=$rc"

# ---- the pipeline ----
must_ok "info on the inputs" info model.json tl.json ckpts/ckpt_000100.safetensors tokens.npy mask.npy
grep -q '"d_mlp": 16, "d_vocab": 7, "n_ctx": 6' "$tmp/out" && ok "info infers the model config of a state_dict" ||
    fail "info infers the config" "$(cat "$tmp/out")"
must_ok "import" import --config model.json --out series.polca ckpts/ckpt_000250.safetensors \
    ckpts/ckpt_000000.safetensors ckpts/ckpt_000050.safetensors ckpts/ckpt_000100.safetensors \
    ckpts/ckpt_000150.safetensors ckpts/ckpt_000200.safetensors
must_ok "import a TransformerLens config" import --config tl.json --out series_tl.polca ckpts/ckpt_000000.safetensors
must_ok "info on the series" info series.polca
grep -q "steps:        0 50 100 150 200 250" "$tmp/out" && ok "series sorted by step" ||
    fail "series steps" "$(cat "$tmp/out")"
must_ok "basis (Algorithm 1)" basis --config model.json --tokens tokens.npy --mask mask.npy \
    --series series.polca --out basis.polca --checkpoints 0:6:2 --k 2 --tol 1e-5 --npy basis.npy
must_ok "basis random" basis --series series.polca --out random.polca --method random --k 5 --seed 3
must_ok "basis axis" basis --series series.polca --out axis.polca --method axis --k 4
must_ok "basis on a random half of the sequences" basis --config model.json --tokens tokens.npy \
    --mask mask.npy --series series.polca --out half.polca --every 3 --max-seqs 20 --seed 1
must_ok "info on a basis" info basis.polca
[ "$(grep -c ' hessian ' "$tmp/out")" -eq 6 ] && ok "6 Hessian vectors listed" || fail "basis info" "$(cat "$tmp/out")"
must_ok "decompose" decompose --config model.json --tokens tokens.npy --mask mask.npy \
    --series series.polca --basis basis.polca --out traj.polca --fisher --lca 4 --npy-dir .
must_ok "decompose --drop-rising" decompose --config model.json --tokens tokens.npy --mask mask.npy \
    --series series.polca --basis basis.polca --out kept.polca --drop-rising --basis-out kept_basis.polca
must_ok "info on trajectories" info traj.polca
grep -q "polca         \[6 directions\]\[120 samples\]\[6\]" "$tmp/out" && ok "trajectories shape" ||
    fail "trajectories shape" "$(cat "$tmp/out")"
must_ok "cluster" cluster traj.polca --min-cluster-size 8 --out clusters.json --labels-out labels_out.npy \
    --mask mask.npy
grep -q "^polca: [0-9]* clusters over 6 directions" "$tmp/out" && ok "cluster summary line" ||
    fail "cluster summary" "$(head -3 "$tmp/out")"
must_ok "cluster --kind all" cluster traj.polca --kind all --min-cluster-size 8
[ "$(grep -c ' clusters over ' "$tmp/out")" -eq 6 ] && ok "every kind clustered" || fail "kind all" "$(cat "$tmp/out")"
must_ok "score" score traj.polca --labels labels.npy --min-cluster-size 8 --out scores.json
grep -q "homogeneity" "$tmp/out" && grep -q "^exact loss" "$tmp/out" && ok "score lists kinds and homogeneity" ||
    fail "score output" "$(cat "$tmp/out")"
must_ok "score with per-position labels" score traj.polca --labels labels2d.npy --mask mask.npy \
    --min-cluster-size 8 --kind polca
must_ok "report" report traj.polca --labels labels.npy --basis basis.polca --min-cluster-size 8 \
    --out report.html --title "CLI test"
if grep -q "<svg" "$tmp/report.html" && grep -q "<title>CLI test</title>" "$tmp/report.html" &&
    ! grep -qi "<script" "$tmp/report.html" && grep -q "Clusters against the label" "$tmp/report.html"; then
    ok "report.html: static page with plots and scores"
else
    fail "report.html" "$(head -c 300 "$tmp/report.html")"
fi
must_ok "quiet run prints nothing" --quiet basis --series series.polca --out q.polca --method random --k 2
[ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ] && ok "--quiet is quiet" || fail "--quiet" "$(cat "$tmp/out" "$tmp/err")"

# ---- the files agree with the Python bindings on the same inputs ----
if [ -n "$POLCA_SANITIZED" ]; then
    skip "cli vs python" "the bindings load the plain build"
else
    if out=$(cd "$tmp" && POLCA_LIBRARY="$root/$LIBOUT/libpolca.so.0" PYTHONPATH="$root/bindings/python" \
        "$PY" - 2>&1 <<'PY'
import glob, json
import numpy as np
import polca
ctx = polca.Context(backend="cpu")
cfg = json.load(open("model.json"))
model = polca.Model.transformer(ctx, cfg)
files = sorted(glob.glob("ckpts/*.safetensors"))
series = polca.Checkpoints.open(ctx, "series.polca")
assert list(series.steps) == [0, 50, 100, 150, 200, 250]
for i, f in enumerate(files):
    assert np.array_equal(series.read(i), model.load_safetensors(f)), f
data = polca.Data.tokens(ctx, np.load("tokens.npy"), np.load("mask.npy"))
basis = polca.Basis.hessian(ctx, model, data, series, k=2, indices=[0, 2, 4], tol=1e-5)
cli_basis = polca.Basis.load(ctx, "basis.polca")
assert np.array_equal(basis.vectors(), cli_basis.vectors())
assert np.array_equal(np.load("basis.npy"), cli_basis.vectors())
lca = polca.Basis.axis(ctx, series.read(5), 4)
traj = polca.Trajectories.create(ctx, model, data, series, cli_basis, lca, fisher=1)
cli = polca.Trajectories.load(ctx, "traj.polca")
for kind in traj.available:
    assert np.array_equal(traj.view(kind), cli.view(kind)), kind
    assert np.array_equal(np.load(kind + ".npy"), cli.view(kind)), kind
assert np.array_equal(np.load("steps.npy"), cli.steps)
kept = polca.Basis.load(ctx, "kept_basis.polca")
rising = np.flatnonzero(traj.final_means() > 0)
assert len(kept) == 6 - len(rising)
cl = polca.Clustering.from_trajectories(ctx, cli, min_cluster_size=8)
lab = np.load("labels_out.npy")
assert lab.shape == (6, 120)
for d in range(6):
    assert np.array_equal(cl.labels(d).labels, lab[d]), d
js = json.load(open("clusters.json"))
assert len(js["kinds"]["polca"]["clusters"]) == len(cl)
for c, info in enumerate(js["kinds"]["polca"]["clusters"]):
    assert info["members"] == list(cl.members(c)) and info["hidden"] == cl.cluster(c).hidden
sc = json.load(open("scores.json"))["kinds"]["polca"]["clusters"]
ref = cl.score(np.load("labels.npy"))
assert np.allclose([c["homogeneity"] for c in sc], ref.homogeneity, rtol=0, atol=1e-15)
print("agree", len(cl), "clusters")
PY
    ); then
        ok "series, basis, trajectories, clusters and scores match the bindings ($out)"
    else
        fail "cli vs python" "$out"
    fi
fi

# ---- errors: one line, documented status ----
must_fail "no command" 1 "no command given"
must_fail "unknown command" 1 "unknown command 'frobnicate'" frobnicate
must_fail "unknown option" 1 "unknown option '--colour'" info --colour x model.json
must_fail "missing value" 1 "needs a value" basis --series
must_fail "missing required option" 1 "'--out' is required" basis --series series.polca
must_fail "bad integer" 1 "not an integer" basis --series series.polca --out x.polca --method random --k two
must_fail "bad list" 1 "not a list" basis --config model.json --tokens tokens.npy --series series.polca --out x.polca --checkpoints 1,,x
must_fail "list out of range" 1 "out of range" basis --config model.json --tokens tokens.npy --series series.polca --out x.polca --checkpoints 0,9
must_fail "existing output" 1 "exists" basis --series series.polca --out basis.polca --method random --k 2
must_fail "hessian-only option" 1 "--method hessian only" basis --series series.polca --out x.polca --method random --k 2 --tol 1e-3
must_fail "missing file" 2 "nope.polca" info nope.polca
printf 'hello' >"$tmp/hello.txt"
must_fail "unknown file type" 2 "not a file polca knows" info hello.txt
must_fail "truncated npy" 2 "data bytes" info tokens_cut.npy
must_fail "config syntax" 2 "line 2, column" info bad_syntax.json
must_fail "config unknown key" 2 'unknown key "d_mpl"' import --config bad_key.json --out x.polca ckpts/ckpt_000000.safetensors
must_fail "config unsupported" 2 "normalization_type" import --config rms.json --out x.polca ckpts/ckpt_000000.safetensors
must_fail "checkpoints of another model" 2 "embed.W_E" import --config other.json --out x.polca ckpts/ckpt_000000.safetensors
must_fail "duplicate step" 2 "step" import --config model.json --out x.polca ckpts/ckpt_000000.safetensors ckpts/ckpt_000000.safetensors
must_fail "float tokens" 2 "integer array" decompose --config model.json --tokens tokens_float.npy --series series.polca --basis basis.polca --out x.polca
must_fail "token out of vocabulary" 2 "7" basis --config model.json --tokens tokens_big.npy --series series.polca --out x.polca
must_fail "series of another model" 2 "layout" decompose --config other.json --tokens tokens.npy --series series.polca --basis basis.polca --out x.polca
must_fail "basis of another size" 2 "basis" decompose --config model.json --tokens tokens.npy --series series.polca --basis series.polca --out x.polca
must_fail "labels of the wrong length" 2 "labels for" score traj.polca --labels labels_short.npy --min-cluster-size 8
must_fail "labels not binary" 2 "not 0 or 1" score traj.polca --labels labels_three.npy --min-cluster-size 8
must_fail "per-position labels without a mask" 1 "need --mask" score traj.polca --labels labels2d.npy
must_fail "kind not computed" 2 "no fisher output" cluster kept.polca --kind fisher
must_fail "bad kind" 1 "--kind 'fishr'" cluster traj.polca --kind fishr
must_fail "bad cluster option" 2 "min_cluster_size" cluster traj.polca --min-cluster-size 1
must_fail "bad backend name" 1 "--backend 'tpu'" --backend tpu info series.polca
CUDA_VISIBLE_DEVICES= must_fail "unavailable backend" 3 "backend" --backend cuda info series.polca
[ -z "$(ls "$tmp"/x.polca* 2>/dev/null)" ] && ok "failed commands leave no output file" || fail "no partial files" "$(ls "$tmp")"

# ---- progress bars on a terminal only ----
if command -v script >/dev/null 2>&1; then
    (cd "$tmp" && script -qec "'$bin' basis --config model.json --tokens tokens.npy --series series.polca --out tty.polca --k 2" /dev/null) >"$tmp/tty" 2>&1
    if grep -q "$(printf '\r')" "$tmp/tty" && grep -q "eigen\|basis" "$tmp/tty"; then
        ok "progress bar drawn on a terminal"
    else
        fail "progress on a terminal" "$(head -c 300 "$tmp/tty")"
    fi
else
    skip "progress on a terminal" "no script(1)"
fi

# ---- Ctrl-C stops a long call ----
(cd "$tmp" && exec "$bin" basis --config model.json --tokens tokens.npy --series series.polca \
    --out long.polca --k 8 --tol 1e-12 --max-products 10000000 >"$tmp/out" 2>"$tmp/err") &
pid=$!
sleep 1
kill -INT $pid 2>/dev/null
wait $pid
rc=$?
if [ $rc -eq 130 ] && grep -q "interrupted" "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ] && [ ! -e "$tmp/long.polca" ]; then
    ok "Ctrl-C: status 130, one line, no output file"
else
    fail "Ctrl-C" "rc=$rc $(cat "$tmp/err")"
fi

# ---- make install ----
if [ -n "$POLCA_SANITIZED" ]; then
    skip "install" "the installed copy is the plain build"
elif make -s install DESTDIR="$tmp/stage" PREFIX=/opt/polca-cli >"$tmp/log" 2>&1; then
    out=$(env -u LD_LIBRARY_PATH "$tmp/stage/opt/polca-cli/bin/polca" --version 2>&1)
    ldd_out=$(env -u LD_LIBRARY_PATH ldd "$tmp/stage/opt/polca-cli/bin/polca" | grep libpolca)
    case "$ldd_out" in
    *"$tmp/stage/opt/polca-cli/bin/../lib/libpolca.so.0"*) ok "installed polca runs against the installed library: $out" ;;
    *) fail "installed polca" "$out / $ldd_out" ;;
    esac
else
    fail "make install" "$(tail -n 5 "$tmp/log")"
fi

# ---- info and import on hostile safetensors files (issue 21: defects 1, 2,
# 7, 13). Each bad file: exit 2, one line naming it, no stdout; under
# check-asan also no sanitizer report (that would add lines). ----
"$PY" - "$tmp" <<'PY' || fail "hostile safetensors" "could not write the files"
import json, os, struct, sys
d = sys.argv[1]
def put(name, header, data, raw=False):
    h = (header if raw else json.dumps(header)).encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"\0" * data)
T = lambda dt="F32", sh=(2,), off=(0, 8): {"dtype": dt, "shape": list(sh), "data_offsets": list(off)}
put("st_nodtype.safetensors", {"w": {"shape": [2], "data_offsets": [0, 8]}}, 8)
put("st_noshape.safetensors", {"w": {"dtype": "F32", "data_offsets": [0, 8]}}, 8)
put("st_negdim.safetensors", {"w": T(sh=(-2,))}, 8)
put("st_fracdim.safetensors", {"w": T(sh=(2.5,))}, 8)
put("st_bigdim.safetensors", '{"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}', 8, raw=True)
put("st_overflow.safetensors", {"w": T(sh=(4294967296, 4294967296, 4294967296))}, 8)
put("st_overflow2.safetensors", {"w": T(dt="U8", sh=(3037000500, 3037000500))}, 8)
put("st_unknown_dtype.safetensors", {"w": T(dt="F31")}, 8)
put("st_overlap.safetensors", {"a": T(), "b": T(off=(4, 12))}, 12)
put("st_hole.safetensors", {"a": T(sh=(1,), off=(0, 4)), "b": T(sh=(1,), off=(8, 12))}, 12)
put("st_trailing.safetensors", {"a": T()}, 12)
put("st_short.safetensors", {"a": T(sh=(4,), off=(0, 16))}, 8)
# out of order in the header but tiling the buffer: fine
put("st_unordered.safetensors", {"b": T(sh=(1,), off=(4, 8)), "a": T(sh=(1,), off=(0, 4))}, 8)
# 100k tensors (and a copy whose last name repeats the first), 100k metadata keys
n = 100000
many = {"t%d" % i: T(sh=(1,), off=(4 * i, 4 * i + 4)) for i in range(n)}
put("st_many.safetensors", many, 4 * n)
text = json.dumps(many)[:-1] + ', "t0": ' + json.dumps(T(sh=(0,), off=(0, 0))) + "}"
put("st_many_dup.safetensors", text, 4 * n, raw=True)
put("st_many_meta.safetensors", {"__metadata__": {"k%d" % i: str(i) for i in range(n)}}, 0)
# a real checkpoint, truncated by one byte; with 4 bytes appended; with an
# integer tensor where the model wants floats
with open(os.path.join(d, "ckpts", "ckpt_000000.safetensors"), "rb") as f:
    b = f.read()
open(os.path.join(d, "st_cut_000000.safetensors"), "wb").write(b[:-1])
open(os.path.join(d, "st_padded_000000.safetensors"), "wb").write(b + b"\0" * 4)
hl = int.from_bytes(b[:8], "little")
open(os.path.join(d, "st_i32_000000.safetensors"), "wb").write(
    b[:8] + b[8:8 + hl].replace(b'"F32"', b'"I32"', 1) + b[8 + hl:])
PY
must_fail "info: tensor without dtype" 2 'tensor "w" has no dtype' info st_nodtype.safetensors
must_fail "info: tensor without shape" 2 'tensor "w" has no shape' info st_noshape.safetensors
must_fail "info: negative dimension" 2 'tensor "w" has a bad shape' info st_negdim.safetensors
must_fail "info: non-integer dimension" 2 'tensor "w" has a bad shape' info st_fracdim.safetensors
must_fail "info: dimension beyond int64" 2 'tensor "w" has a bad shape' info st_bigdim.safetensors
must_fail "info: element count overflows" 2 'tensor "w": its element count overflows' info st_overflow.safetensors
must_fail "info: element count just past int64" 2 "overflows" info st_overflow2.safetensors
must_fail "info: unknown dtype" 2 'unknown dtype "F31"' info st_unknown_dtype.safetensors
must_fail "info: overlapping tensors" 2 'tensor "b" (data_offsets \[4, 12\]) overlaps tensor "a"' info st_overlap.safetensors
must_fail "info: hole between tensors" 2 'before tensor "b"' info st_hole.safetensors
must_fail "info: bytes after the last tensor" 2 "4 bytes after the last tensor" info st_trailing.safetensors
must_fail "info: data past the end" 2 "past the end of the file" info st_short.safetensors
must_fail "info: truncated checkpoint" 2 "st_cut_000000.safetensors: tensor .* past the end of the file" info st_cut_000000.safetensors
must_fail "info: padded checkpoint" 2 "4 bytes after the last tensor" info st_padded_000000.safetensors
must_ok "info: tensors out of header order" info st_unordered.safetensors
must_ok "info: 100k tensors" info st_many.safetensors
grep -q "st_many.safetensors: safetensors, 100000 tensors, 100000 elements" "$tmp/out" &&
    ok "info counts 100k tensors" || fail "info 100k" "$(head -2 "$tmp/out")"
must_fail "info: duplicate name after 100k tensors" 2 'duplicate key "t0"' info st_many_dup.safetensors
must_ok "info: 100k metadata keys" info st_many_meta.safetensors
[ "$(grep -c "^  metadata k" "$tmp/out")" -eq 100000 ] && ok "info lists 100k metadata keys" ||
    fail "info 100k metadata" "$(grep -c "^  metadata k" "$tmp/out") lines"
must_fail "import: truncated checkpoint" 2 "st_cut_000000.safetensors" import --config model.json --out x.polca st_cut_000000.safetensors
must_fail "import: padded checkpoint" 2 "after the last tensor" import --config model.json --out x.polca st_padded_000000.safetensors
must_fail "import: integer tensor" 2 "tensor 'embed.W_E' has dtype I32" import --config model.json --out x.polca st_i32_000000.safetensors
must_fail "import: duplicate name after 100k tensors" 2 "duplicate tensor name" import --config model.json --out x.polca st_many_dup.safetensors
[ -z "$(ls "$tmp"/x.polca* 2>/dev/null)" ] && ok "failed imports leave no output file" || fail "no partial files" "$(ls "$tmp")"
finish
