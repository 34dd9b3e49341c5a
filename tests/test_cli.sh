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
must_ok "TransformerLens config with eps 1e-6" info eps6.json
must_ok "TransformerLens Llama-style config (RMS, rotary, GQA, gated)" info --all tl_llama.json
# TransformerLens's names for this architecture: RMSNorm has no bias, rotary no W_pos, one kv head
want="embed.W_E [7, 8]
blocks.0.ln1.w [8]
blocks.0.attn.W_Q [2, 8, 4]
blocks.0.attn._W_K [1, 8, 4]
blocks.0.attn._W_V [1, 8, 4]
blocks.0.attn.W_O [2, 4, 8]
blocks.0.attn.b_Q [2, 4]
blocks.0.attn._b_K [1, 4]
blocks.0.attn._b_V [1, 4]
blocks.0.attn.b_O [8]
blocks.0.ln2.w [8]
blocks.0.mlp.W_in [8, 16]
blocks.0.mlp.W_gate [8, 16]
blocks.0.mlp.b_in [16]
blocks.0.mlp.W_out [16, 8]
blocks.0.mlp.b_out [8]
ln_final.w [8]
unembed.W_U [8, 7]
unembed.b_U [7]"
got=$(sed -n '2,$p' "$tmp/out" | awk '{name=$1; $1=""; sub(/^ +/, ""); print name, $0}')
[ "$(printf '%s\n' "$want" | sort)" = "$(printf '%s\n' "$got" | sort)" ] &&
    ok "the Llama-style config's tensors are TransformerLens's" || fail "Llama-style config tensors" "$got"
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
# the summary's sums, against the arrays it wrote (numpy, float64)
sums=$(sed -n 's/.*projected changes sum to \([^;]*\); the exact mean loss changed by \([^ ]*\).*/\1 \2/p' "$tmp/out")
if [ -n "$sums" ] && (cd "$tmp" && "$PY" - $sums <<'PY'
import sys
import numpy as np
p, e = np.load("polca.npy").astype(np.float64), np.load("exact_loss.npy").astype(np.float64)
want_p = p[:, :, -1].mean(axis=1).sum()
want_e = (e[0, :, -1] - e[0, :, 0]).mean()
got_p, got_e = float(sys.argv[1]), float(sys.argv[2])
assert abs(got_p - want_p) <= 1e-3 * abs(want_p) + 1e-6, (got_p, want_p)
assert abs(got_e - want_e) <= 1e-3 * abs(want_e) + 1e-6, (got_e, want_e)
PY
); then ok "decompose: projected and exact changes as the arrays say"
else fail "decompose summary sums" "$(cat "$tmp/out")"; fi
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
# The page as a browser lays it out (tests/report_geometry.py, when Chromium
# is installed): no text collides, line labels above the plots, legends inside.
browser=${CHROMIUM-$(command -v chromium || command -v chromium-browser || true)}
if [ -n "$browser" ] && [ -x "$browser" ]; then
    if out=$(timeout 180 "$PY" "$root/tests/report_geometry.py" "$browser" "$tmp/report.html" 1200 2>&1); then
        ok "report.html as laid out: $out"
    else
        fail "report.html as laid out" "$out"
    fi
else
    skip "report.html as laid out" "chromium is not installed"
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

# ---- basis --scales (Algorithm 1 in the optimizer's geometry) agrees with the bindings ----
if [ -n "$POLCA_SANITIZED" ]; then
    skip "basis --scales vs python" "the bindings load the plain build"
else
    if out=$(cd "$tmp" && POLCA_BIN="$bin" POLCA_LIBRARY="$root/$LIBOUT/libpolca.so.0" \
        PYTHONPATH="$root/bindings/python" "$PY" - 2>&1 <<'PY'
import json, os, subprocess
import numpy as np
import polca
ctx = polca.Context(backend="cpu")
model = polca.Model.transformer(ctx, json.load(open("model.json")))
series = polca.Checkpoints.open(ctx, "series.polca")
rng = np.random.default_rng(2)
sc = polca.Checkpoints.create(ctx, model)
for i, step in enumerate(series.steps):
    sc.append(int(step), (10.0 ** rng.uniform(-1, 1, series.n_params)).astype(np.float32))
sc.save("scales.polca")
r = subprocess.run([os.environ["POLCA_BIN"], "basis", "--config", "model.json", "--tokens",
                    "tokens.npy", "--mask", "mask.npy", "--series", "series.polca", "--scales",
                    "scales.polca", "--out", "scaled.polca", "--checkpoints", "0:6:2", "--k", "2",
                    "--tol", "1e-5"], capture_output=True, text=True)
assert r.returncode == 0, r.stderr
assert "hessian (scaled)" in r.stdout, r.stdout
data = polca.Data.tokens(ctx, np.load("tokens.npy"), np.load("mask.npy"))
ref = polca.Basis.hessian(ctx, model, data, series, k=2, indices=[0, 2, 4], tol=1e-5, scales=sc)
cli = polca.Basis.load(ctx, "scaled.polca")
assert np.array_equal(ref.vectors(), cli.vectors())
assert [i.kind for i in cli.infos()] == ["hessian_scaled"] * 6
plain = polca.Basis.load(ctx, "basis.polca")
assert not np.array_equal(plain.vectors(), cli.vectors())
print("6 vectors")
PY
    ); then
        ok "basis --scales matches the bindings ($out)"
    else
        fail "basis --scales vs python" "$out"
    fi
fi
must_fail "scales that are not step scales (negative)" 2 "must be finite and >= 0" basis \
    --config model.json --tokens tokens.npy --series series.polca --scales series.polca --out x.polca
must_fail "--scales with --method random" 1 "--method hessian only" basis --series series.polca \
    --out x.polca --method random --k 2 --scales series.polca

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
must_fail "config unsupported" 2 '"normalization_type": "LNPre"' import --config lnpre.json --out x.polca ckpts/ckpt_000000.safetensors
must_fail "config without norm" 2 '"normalization_type": null' info norm_null.json
must_fail "config adjacent-pair rotary" 2 '"rotary_adjacent_pairs": true' info adjacent.json
must_fail "config eps reaches norm_eps" 2 "norm_eps" info eps0.json
must_fail "checkpoints of another model" 2 "embed.W_E" import --config other.json --out x.polca ckpts/ckpt_000000.safetensors
must_fail "duplicate step" 2 "step" import --config model.json --out x.polca ckpts/ckpt_000000.safetensors ckpts/ckpt_000000.safetensors
must_fail "float tokens" 2 "integer array" decompose --config model.json --tokens tokens_float.npy --series series.polca --basis basis.polca --out x.polca
must_fail "token out of vocabulary" 2 "7" basis --config model.json --tokens tokens_big.npy --series series.polca --out x.polca
must_fail "series of another model" 2 "layout" decompose --config other.json --tokens tokens.npy --series series.polca --basis basis.polca --out x.polca
must_fail "basis of another size" 2 "basis" decompose --config model.json --tokens tokens.npy --series series.polca --basis series.polca --out x.polca
must_fail "labels of the wrong length" 2 "labels for" score traj.polca --labels labels_short.npy --min-cluster-size 8
must_fail "labels not binary" 2 "not 0 or 1" score traj.polca --labels labels_three.npy --min-cluster-size 8
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

# ==== cli helper block: outputs, inputs and Ctrl-C (issue 21: defects 5, 6, 8, 9) ====
# Every output goes through one path (tools/polca/output.c): an existing
# file or symlink is refused without --overwrite and left as it was, a
# symlink is never followed, two creators of one name get one winner, a
# write error (a file size limit; a full tmpfs where mounting works) or
# Ctrl-C leaves no partial output and keeps the old file; a FIFO given as
# an input is refused at once.
notmp() { [ -z "$(find "$tmp" -name '*polca-tmp*' 2>/dev/null)" ]; }
refuses_existing() { # NAME FILE ARGS...: FILE (under $tmp) exists; polca ARGS refuses and keeps it
    name=$1 file=$2; shift 2
    echo old >"$tmp/$file"
    run "$@"
    if [ $rc -eq 1 ] && grep -q "$file: exists (--overwrite replaces it)" "$tmp/err" &&
        [ "$(wc -l <"$tmp/err")" -eq 1 ] && [ "$(cat "$tmp/$file")" = old ] && notmp; then
        ok "$name: an existing output is refused and kept"
    else
        fail "$name: existing output" "rc=$rc $(head -c 300 "$tmp/err") / $(head -c 80 "$tmp/$file")"
    fi
    rm -f "$tmp/$file"
}
refuses_existing "cluster --out" o_c.json cluster traj.polca --min-cluster-size 8 --out o_c.json
refuses_existing "cluster --labels-out" o_l.npy cluster traj.polca --min-cluster-size 8 --labels-out o_l.npy
refuses_existing "score --out" o_s.json score traj.polca --labels labels.npy --min-cluster-size 8 --out o_s.json
refuses_existing "report --out" o_r.html report traj.polca --min-cluster-size 8 --out o_r.html
refuses_existing "basis --npy" o_b.npy basis --series series.polca --out o_b.polca --method random --k 2 --npy o_b.npy
refuses_existing "import --out" o_i.polca import --config model.json --out o_i.polca ckpts/ckpt_000000.safetensors
refuses_existing "decompose --basis-out" o_k.polca decompose --config model.json --tokens tokens.npy \
    --mask mask.npy --series series.polca --basis basis.polca --out o_d.polca --drop-rising --basis-out o_k.polca
mkdir "$tmp/o_npy"
refuses_existing "decompose --npy-dir" o_npy/steps.npy decompose --config model.json --tokens tokens.npy \
    --mask mask.npy --series series.polca --basis basis.polca --out o_d.polca --npy-dir o_npy
if [ -z "$(ls "$tmp/o_npy")" ] && [ ! -e "$tmp/o_d.polca" ] && [ ! -e "$tmp/o_b.polca" ]; then
    ok "an output refused: the command writes none of its outputs"
else
    fail "refused output" "written: $(ls "$tmp/o_npy") $(ls "$tmp" | grep '^o_')"
fi
echo target >"$tmp/o_target"
ln -s o_target "$tmp/o_link.json"
ln -s o_nowhere "$tmp/o_dangling.json"
run cluster traj.polca --min-cluster-size 8 --out o_link.json
r1=$rc
run cluster traj.polca --min-cluster-size 8 --out o_dangling.json
if [ $r1 -eq 1 ] && [ $rc -eq 1 ] && [ "$(cat "$tmp/o_target")" = target ] && [ ! -e "$tmp/o_nowhere" ]; then
    ok "a symlink (even dangling) at an output is refused, its target untouched"
else
    fail "symlink output" "rc=$r1, $rc; target: $(head -c 80 "$tmp/o_target"); $(ls "$tmp" | grep o_nowhere)"
fi
run cluster traj.polca --min-cluster-size 8 --out o_link.json --overwrite
if [ $rc -eq 0 ] && [ ! -L "$tmp/o_link.json" ] && [ "$(cat "$tmp/o_target")" = target ] &&
    "$PY" -c "import json, sys; json.load(open(sys.argv[1]))" "$tmp/o_link.json"; then
    ok "--overwrite replaces the symlink itself, never its target"
else
    fail "--overwrite on a symlink" "rc=$rc $(head -c 300 "$tmp/err"); target: $(head -c 80 "$tmp/o_target")"
fi
echo old >"$tmp/o_s.json"
must_ok "score --out --overwrite" score traj.polca --labels labels.npy --min-cluster-size 8 --out o_s.json --overwrite
"$PY" -c "import json, sys; assert json.load(open(sys.argv[1]))['format'] == 'polca-scores-1'" "$tmp/o_s.json" &&
    ok "--overwrite: the old file replaced by the complete new one" || fail "score --overwrite" "$(head -c 200 "$tmp/o_s.json")"
mkdir "$tmp/o_dir"
must_fail "a directory is never replaced" 1 "o_dir: exists and is a directory" cluster traj.polca --out o_dir --overwrite

# two processes create the same new output: one wins, the other exits 1 and
# the winner's file is complete (each round also runs both publish orders)
bad=
for round in 1 2 3 4 5 6; do
    rm -f "$tmp/o_race.json"
    (cd "$tmp" && exec "$bin" cluster traj.polca --min-cluster-size 8 --out o_race.json >/dev/null 2>"$tmp/race1") &
    p1=$!
    (cd "$tmp" && exec "$bin" cluster traj.polca --min-cluster-size 8 --out o_race.json >/dev/null 2>"$tmp/race2") &
    p2=$!
    wait $p1
    r1=$?
    wait $p2
    r2=$?
    case "$r1$r2" in 01 | 10) ;; *) bad="$bad round $round: $r1 $r2 $(cat "$tmp/race1" "$tmp/race2");" ;; esac
    "$PY" -c "import json, sys; json.load(open(sys.argv[1]))" "$tmp/o_race.json" 2>/dev/null || bad="$bad round $round: bad JSON;"
done
[ -z "$bad" ] && notmp && ok "two creators of one output: one wins, one exits 1, the file is complete" ||
    fail "two creators" "$bad"

# a write error (a file size limit makes writes fail, as a full disk does):
# status 2 naming the output, the old file kept, no temporary file left
echo old >"$tmp/o_full.json"
cp "$tmp/basis.polca" "$tmp/o_full.polca"
(cd "$tmp" && trap '' XFSZ && ulimit -f 1 && exec "$bin" cluster traj.polca --min-cluster-size 8 \
    --out o_full.json --overwrite >/dev/null 2>"$tmp/err")
r1=$?
e1=$(cat "$tmp/err")
(cd "$tmp" && trap '' XFSZ && ulimit -f 1 && exec "$bin" basis --series series.polca --method random --k 6 \
    --out o_full.polca --overwrite >/dev/null 2>"$tmp/err")
r2=$?
if [ $r1 -eq 2 ] && [ $r2 -eq 2 ] && [ "$(cat "$tmp/o_full.json")" = old ] &&
    cmp -s "$tmp/basis.polca" "$tmp/o_full.polca" && notmp &&
    echo "$e1" | grep -q -- "--out o_full.json: cannot write" && grep -q -- "--out o_full.polca" "$tmp/err"; then
    ok "a write error: status 2, the old files kept"
else
    fail "write error" "rc=$r1, $r2: $e1 / $(cat "$tmp/err")"
fi
# a full disk, where this machine lets the test mount a small tmpfs
mkdir "$tmp/fs"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=64k polca-test "$tmp/fs" 2>/dev/null; then
    echo old >"$tmp/fs/c.json"
    cp "$tmp/basis.polca" "$tmp/fs/b.polca"
    dd if=/dev/zero of="$tmp/fs/fill" bs=1k count=100 2>/dev/null
    r=
    run cluster traj.polca --min-cluster-size 8 --out fs/c.json --overwrite
    [ $rc -eq 2 ] && grep -q "fs/c.json: cannot write: No space left" "$tmp/err" || r="$r cluster $rc $(cat "$tmp/err");"
    run score traj.polca --labels labels.npy --min-cluster-size 8 --out fs/s.json
    [ $rc -eq 2 ] || r="$r score $rc;"
    run basis --series series.polca --out fs/b.polca --overwrite --method random --k 6 --npy fs/b.npy
    [ $rc -eq 2 ] || r="$r basis $rc;"
    run import --config model.json --out fs/i.polca ckpts/ckpt_000000.safetensors ckpts/ckpt_000050.safetensors
    [ $rc -eq 2 ] || r="$r import $rc;"
    run report traj.polca --min-cluster-size 8 --out fs/r.html
    [ $rc -eq 2 ] || r="$r report $rc;"
    [ "$(cat "$tmp/fs/c.json")" = old ] && cmp -s "$tmp/basis.polca" "$tmp/fs/b.polca" || r="$r old files changed;"
    left=$(ls -A "$tmp/fs" | grep -v '^c.json$\|^b.polca$\|^fill$')
    [ -z "$left" ] || r="$r left: $left;"
    umount "$tmp/fs"
    [ -z "$r" ] && ok "a full disk (64 KiB tmpfs): status 2, old files kept, nothing partial" || fail "full disk" "$r"
else
    skip "full disk" "cannot mount a tmpfs here (the file size limit test above covers write errors)"
fi

# a FIFO (or any non-regular file) given as an input: status 2 at once,
# naming the option and the path (it used to block in open() forever)
mkfifo "$tmp/fifo"
refuses_fifo() { # NAME WHAT ARGS...
    name=$1 what=$2
    shift 2
    (cd "$tmp" && timeout 20 "$bin" "$@" >"$tmp/out" 2>"$tmp/err")
    rc=$?
    if [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- "$what fifo: a FIFO, not a regular file" "$tmp/err"; then
        ok "$name: a FIFO is refused at once"
    else
        fail "$name: FIFO input" "rc=$rc (124: blocked) $(head -c 300 "$tmp/err")"
    fi
}
if command -v timeout >/dev/null 2>&1; then
    refuses_fifo "import --config" --config import --config fifo --out o_f.polca ckpts/ckpt_000000.safetensors
    refuses_fifo "import CHECKPOINT" CHECKPOINT import --config model.json --out o_f.polca ckpts/ckpt_000000.safetensors fifo
    for opt in config tokens mask series basis; do
        set -- --config model.json --tokens tokens.npy --series series.polca --basis basis.polca
        refuses_fifo "decompose --$opt" "--$opt" decompose "$@" --$opt fifo --out o_f.polca
    done
    refuses_fifo "basis --tokens" --tokens basis --config model.json --tokens fifo --series series.polca --out o_f.polca
    refuses_fifo "score --labels" --labels score traj.polca --labels fifo
    refuses_fifo "cluster TRAJ" TRAJ.polca cluster fifo
    refuses_fifo "report --basis" --basis report traj.polca --basis fifo --out o_f.html
    must_fail "a directory as input" 2 "ckpts: no metadata 'step'" import --config model.json --out o_f.polca ckpts
    mkdir -p "$tmp/step7" && must_fail "a directory without weights" 2 "step7 has no model.safetensors" import --config model.json --out o_f.polca step7
else
    skip "FIFO inputs" "no timeout(1)"
fi

# Ctrl-C during a command: status 130, one line, no output (an old file kept)
sigint_when_ready() { # PID: SIGINT as soon as polca (not the shell before exec) catches it, else after 1 s
    i=0
    if [ -r /proc/self/status ]; then
        while [ $i -lt 500 ] && kill -0 "$1" 2>/dev/null; do
            m=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
            [ "$(cat "/proc/$1/comm" 2>/dev/null)" = polca ] && [ -n "$m" ] && [ $((0x$m & 2)) -ne 0 ] && break
            sleep 0.02
            i=$((i + 1))
        done
    else
        sleep 1
    fi
    kill -INT "$1" 2>/dev/null
}
interrupts() { # NAME FILES ARGS...: FILES (under $tmp) must not appear, or still hold "old"
    name=$1 files=$2
    shift 2
    (cd "$tmp" && exec "$bin" "$@" >"$tmp/out" 2>"$tmp/err") &
    pid=$!
    sigint_when_ready $pid
    wait $pid
    rc=$?
    left=
    for f in $files; do [ ! -e "$tmp/$f" ] || [ "$(cat "$tmp/$f")" = old ] || left="$left $f"; done
    if [ $rc -eq 130 ] && grep -q "error: interrupted" "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
        [ -z "$left" ] && notmp; then
        ok "Ctrl-C during $name: status 130, no partial output"
    else
        fail "Ctrl-C during $name" "rc=$rc $(head -c 300 "$tmp/err"), written:$left"
    fi
}
must_ok "a larger run for Ctrl-C" basis --series series.polca --out o_rb.polca --method random --k 24 --seed 2
must_ok "a larger run for Ctrl-C" decompose --config model.json --tokens tokens_many.npy --series series.polca \
    --basis o_rb.polca --out o_many.polca --fisher
mkdir "$tmp/o_npy2"
interrupts "decompose" "o_m.polca o_m_basis.polca o_npy2/polca.npy o_npy2/steps.npy" decompose --config model.json \
    --tokens tokens_many.npy --series series.polca --basis o_rb.polca --out o_m.polca --fisher --npy-dir o_npy2 \
    --drop-rising --basis-out o_m_basis.polca
interrupts "score --out" o_sm.json score o_many.polca --labels labels_many.npy --kind all --out o_sm.json
echo old >"$tmp/o_sm.json"
interrupts "score --out --overwrite" o_sm.json score o_many.polca --labels labels_many.npy --kind all \
    --out o_sm.json --overwrite
interrupts "cluster" "o_cm.json o_cm.npy" cluster o_many.polca --kind fisher --out o_cm.json --labels-out o_cm.npy
interrupts "report" o_rm.html report o_many.polca --labels labels_many.npy --out o_rm.html
# polca import: Ctrl-C must stop it promptly (issue 21, defect 8). The
# library's import reports progress (and so sees the cancel) only with the
# "files" branch; this tree's tool checks its own half either way: the
# handler is installed and nothing is published after Ctrl-C. Once a
# progress bar shows that the library reports, the test also requires the
# import to end within 4 s of Ctrl-C on an import that takes far longer.
if "$PY" tests/cli_fixtures.py "$tmp" --import-set; then
    reports=0
    if command -v script >/dev/null 2>&1; then
        (cd "$tmp" && script -qec "'$bin' import --config big.json --out o_probe.polca ckpts_big/c_0000.safetensors \
            ckpts_big/c_0001.safetensors" /dev/null) >"$tmp/tty" 2>&1
        grep -q "$(printf '\033')\[K" "$tmp/tty" && reports=1 # a progress bar was drawn
        rm -f "$tmp/o_probe.polca"
    fi
    level=12
    [ $reports -eq 1 ] && level=19
    (cd "$tmp" && exec "$bin" import --config big.json --zstd-level $level --out o_imp.polca ckpts_big/*.safetensors \
        >"$tmp/out" 2>"$tmp/err") &
    pid=$!
    sigint_when_ready $pid
    t0=$(date +%s%N)
    i=0
    while kill -0 $pid 2>/dev/null && { [ $reports -eq 0 ] || [ $i -lt 40 ]; }; do
        sleep 0.1
        i=$((i + 1))
    done
    took=$((($(date +%s%N) - t0) / 1000000))
    if kill -0 $pid 2>/dev/null; then
        kill -9 $pid
        wait $pid
        fail "Ctrl-C during import" "still running ${took} ms after Ctrl-C"
    else
        wait $pid
        rc=$?
        if [ $rc -eq 130 ] && grep -q "error: interrupted" "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
            [ ! -e "$tmp/o_imp.polca" ] && notmp; then
            if [ $reports -eq 1 ]; then ok "Ctrl-C during import: ended ${took} ms later, status 130, no output"
            else ok "Ctrl-C during import: status 130, no output (the library does not report import progress here: promptness untested)"; fi
        else
            fail "Ctrl-C during import" "rc=$rc $(head -c 300 "$tmp/err") $(ls "$tmp" | grep o_imp)"
        fi
    fi
else
    fail "Ctrl-C during import" "tests/cli_fixtures.py --import-set failed"
fi
# ==== end of the cli helper block ====

# ---- issue 17 item 2: the CLI reaches what the library and the demo use:
# --normalize, a note on 0 clusters, --npy-dir created, per-position labels
# at the default mask, score --help's real defaults ----
"$PY" - "$tmp" <<'PY' || fail "issue 17 inputs" "could not write them"
import os, sys
import numpy as np
d = sys.argv[1]
tok = np.load(os.path.join(d, "tokens.npy"))
np.save(os.path.join(d, "lab_pos.npy"), np.roll(tok, -1, axis=1) % 2 == 0)  # every position
m = np.ones(tok.shape, dtype=bool)
m[:, -1] = False  # written out by hand: every position but the last
np.save(os.path.join(d, "mask_default.npy"), m)
PY
must_ok "decompose without --mask, --npy-dir created" decompose --config model.json --tokens tokens.npy \
    --series series.polca --basis basis.polca --out o_dm.polca --npy-dir o_newdir/
[ -f "$tmp/o_newdir/polca.npy" ] && [ -f "$tmp/o_newdir/steps.npy" ] && ok "--npy-dir made the directory" ||
    fail "--npy-dir missing" "$(ls "$tmp/o_newdir" 2>&1)"
must_fail "--npy-dir: a missing parent is refused" 1 "its parent o_nodir is not a directory" decompose \
    --config model.json --tokens tokens.npy --series series.polca --basis basis.polca --out o_x.polca \
    --npy-dir o_nodir/sub
must_fail "--npy-dir: a file is refused" 1 "exists and is not a directory" decompose --config model.json \
    --tokens tokens.npy --series series.polca --basis basis.polca --out o_x.polca --npy-dir model.json
[ ! -e "$tmp/o_x.polca" ] && ok "refused --npy-dir: no output" || fail "refused --npy-dir" "o_x.polca written"
must_ok "score: per-position labels, default mask" score o_dm.polca --labels lab_pos.npy --kind polca \
    --min-cluster-size 8 --out o_sd1.json
must_ok "score: per-position labels, the same mask by hand" score o_dm.polca --labels lab_pos.npy \
    --mask mask_default.npy --kind polca --min-cluster-size 8 --out o_sd2.json
cmp -s "$tmp/o_sd1.json" "$tmp/o_sd2.json" && ok "the default mask is decompose's" ||
    fail "default mask for labels" "scores differ"
must_fail "per-position labels of another mask" 2 "give --mask" score traj.polca --labels lab_pos.npy
must_fail "--normalize: a bad value" 1 "--normalize 'shape'" cluster traj.polca --normalize shape
must_ok "cluster --normalize unit" cluster traj.polca --min-cluster-size 8 --normalize unit --labels-out o_nu.npy
must_ok "score --normalize unit" score traj.polca --labels labels.npy --min-cluster-size 8 --normalize unit
must_ok "report --normalize unit" report traj.polca --min-cluster-size 8 --normalize unit --out o_nu.html
for k in exact_loss loss_change fisher; do
    must_ok "cluster --kind $k" cluster traj.polca --kind $k --min-cluster-size 8 --labels-out o_k_$k.npy
done
# --normalize unit is HDBSCAN on the trajectories divided by their norms;
# Python's from_trajectories has the CLI's per-kind defaults
if [ -n "$POLCA_SANITIZED" ]; then
    skip "--normalize unit vs python" "the bindings load the plain build"
elif out=$(cd "$tmp" && POLCA_LIBRARY="$root/$LIBOUT/libpolca.so.0" PYTHONPATH="$root/bindings/python" \
    "$PY" - 2>&1 <<'PY'
import numpy as np
import polca
ctx = polca.Context(backend="cpu")
t = polca.Trajectories.load(ctx, "traj.polca")
x = np.array(t.polca, dtype=np.float64)
norm = np.linalg.norm(x, axis=2, keepdims=True)
x = np.where(norm > 0, x / np.where(norm > 0, norm, 1), 0).astype(np.float32)
ref = polca.Clustering.create(ctx, x, t1=len(t.steps), exact_loss=t.exact_loss[0], min_cluster_size=8)
lab = np.load("o_nu.npy")
assert ref.n_clusters > 0
for d in range(x.shape[0]):
    assert np.array_equal(ref.labels(d).labels, lab[d]), d
n = {}
for k in ("exact_loss", "loss_change", "fisher"):
    py = polca.Clustering.from_trajectories(ctx, t, k, min_cluster_size=8)
    cli = np.load("o_k_%s.npy" % k)
    assert cli.shape[0] == py.shape[0], k
    for d in range(cli.shape[0]):
        assert np.array_equal(py.labels(d).labels, cli[d]), (k, d)
    n[k] = py.n_clusters
assert n["exact_loss"] > 0, n
print(ref.n_clusters, "clusters; per kind", n)
PY
); then
    ok "--normalize unit: the clusters of the normalized trajectories; python = CLI per kind ($out)"
else
    fail "--normalize unit vs python" "$out"
fi
run cluster traj.polca --kind exact_loss
note=$(grep "^note: exact loss: 0 clusters" "$tmp/out")
if [ $rc -eq 0 ] && [ ! -s "$tmp/err" ] && [ "$(echo "$note" | wc -l)" -eq 1 ] &&
    echo "$note" | grep -q -- "--min-cluster-size" && echo "$note" | grep -q -- "--normalize" &&
    echo "$note" | grep -q -- "--filter" && grep -q "^exact_loss: 0 clusters" "$tmp/out"; then
    ok "0 clusters: one line names the knobs: $note"
else
    fail "0 clusters note" "rc=$rc $(cat "$tmp/err") / $(head -c 300 "$tmp/out")"
fi
run --quiet cluster traj.polca --kind exact_loss
[ $rc -eq 0 ] && ! grep -q "note:" "$tmp/out" && [ ! -s "$tmp/err" ] && ok "0 clusters: no note with --quiet" ||
    fail "0 clusters --quiet" "rc=$rc $(cat "$tmp/out" "$tmp/err")"
run score --help
grep -q -- "--kind NAME *all (default" "$tmp/out" && grep -q -- "--normalize HOW *none (default" "$tmp/out" &&
    ok "score --help: --kind all and --normalize none are the defaults" ||
    fail "score --help defaults" "$(grep -e --kind -e --normalize "$tmp/out")"

# ---- --cluster-onset (issue 16 item 5): cluster, score and report take it;
# the onsets written are the members' mean or median (numpy) or eq. 9 on the
# mean trajectory, as the bindings give them; a bad value is a usage error ----
must_fail "--cluster-onset: a bad value" 1 "--cluster-onset 'middle': expected mean, median or mean_curve" \
    cluster traj.polca --cluster-onset middle
for r in mean median mean_curve; do
    must_ok "cluster --cluster-onset $r" cluster traj.polca --kind all --min-cluster-size 8 \
        --cluster-onset $r --out o_co_$r.json
done
must_ok "score --cluster-onset median" score traj.polca --labels labels.npy --min-cluster-size 8 \
    --cluster-onset median
must_ok "report --cluster-onset mean_curve" report traj.polca --min-cluster-size 8 \
    --cluster-onset mean_curve --out o_co.html
if [ -n "$POLCA_SANITIZED" ]; then
    skip "--cluster-onset vs numpy" "the bindings load the plain build"
elif out=$(cd "$tmp" && POLCA_LIBRARY="$root/$LIBOUT/libpolca.so.0" PYTHONPATH="$root/bindings/python" \
    "$PY" - 2>&1 <<'PY'
import json
import numpy as np
import polca
ctx = polca.Context(backend="cpu")
t = polca.Trajectories.load(ctx, "traj.polca")
t1 = len(t.steps)
def eq9(f, cumsum):  # docs/method.md#onset-eq-9, no smoothing
    f = np.cumsum(f, dtype=np.float64) if cumsum else np.asarray(f, np.float64)
    return float(np.argmax(-(f[2:] - 2 * f[1:-1] + f[:-2])) + 1 + t1 - len(f))
onsets = {}
for r in ("mean", "median", "mean_curve"):
    js = json.load(open("o_co_%s.json" % r))["kinds"]
    for kind, v in js.items():
        py = polca.Clustering.from_trajectories(ctx, t, kind, min_cluster_size=8, cluster_onset=r)
        assert len(v["clusters"]) == py.n_clusters, (r, kind)
        for c, info in enumerate(v["clusters"]):
            m = py.members(c)
            on = py.labels(info["direction"]).onsets[m]
            want = {"mean": lambda: np.mean(on), "median": lambda: np.median(on),
                    "mean_curve": lambda: eq9(py.mean(c), kind == "loss_change")}[r]()
            assert info["members"] == list(m) and abs(info["onset"] - want) < 1e-12, (r, kind, c)
            assert info["hidden"] == (info["onset"] > info["plateau"]), (r, kind, c)
        onsets[r, kind] = [c["onset"] for c in v["clusters"]]
assert onsets["mean", "polca"] != onsets["median", "polca"] != onsets["mean_curve", "polca"]
print(len(onsets), "kind x rule")
PY
); then
    ok "--cluster-onset: the onsets are numpy's mean, median and eq. 9 of the mean curve ($out)"
else
    fail "--cluster-onset vs numpy" "$out"
fi
run cluster --help
grep -q -- "--cluster-onset RULE *a cluster's onset: mean (default" "$tmp/out" &&
    ok "cluster --help: --cluster-onset, mean the default" || fail "cluster --help --cluster-onset" "$(grep -e --cluster "$tmp/out")"

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
