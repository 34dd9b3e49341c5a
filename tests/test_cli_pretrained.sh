#!/bin/sh
# polca on Hugging Face checkpoints (docs/cli.md, "Checkpoints"): `polca info`
# names the layout of a save_pretrained directory (sharded too) and prints a
# --config JSON that the other commands accept; `polca import` takes step
# directories with --config naming a checkpoint or that JSON; `polca
# export` writes a basis direction and a series step back in the
# checkpoint's names and shapes (checked with numpy against the source);
# --format forces a layout; bad inputs give one stderr line and exit 2.
. tests/lib.sh
bin="$BUILD/bin/polca"
[ -x "$bin" ] || { fail cli-pretrained "not built: $bin"; finish; }
FIX=tests/fixtures/pretrained
[ -f "$FIX/gpt2/reference.safetensors" ] || { skip cli-pretrained "tests/fixtures/pretrained is not here"; finish; }
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c "import numpy" 2>/dev/null || { skip cli-pretrained "numpy is needed to check the outputs"; finish; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$PWD
bin=$(cd "$(dirname "$bin")" && pwd)/polca
export POLCA_BACKEND=${POLCA_BACKEND:-cpu}
cp -r "$FIX/llama_tied/checkpoint" "$tmp/step100"
cp -r "$FIX/llama_tied/checkpoint" "$tmp/step300"
cp -r "$FIX/gpt2/checkpoint" "$tmp/gpt2"

run() { (cd "$tmp" && "$bin" "$@" >"$tmp/out" 2>"$tmp/err"); rc=$?; }
must_ok() { # NAME ARGS...
    name=$1; shift
    run "$@"
    if [ $rc -eq 0 ]; then ok "$name"; else fail "$name" "rc=$rc: $(head -c 400 "$tmp/err")"; fi
}
must_fail() { # NAME CODE TEXT ARGS...
    name=$1 code=$2 text=$3; shift 3
    run "$@"
    lines=$(wc -l <"$tmp/err")
    if [ $rc -eq "$code" ] && [ "$lines" -eq 1 ] && grep -q -- "$text" "$tmp/err" && [ ! -s "$tmp/out" ]; then
        ok "$name: $(cat "$tmp/err")"
    else
        fail "$name" "rc=$rc (want $code), $lines stderr lines: $(head -c 400 "$tmp/err") / stdout: $(head -c 200 "$tmp/out")"
    fi
}

must_ok "info on a sharded save_pretrained directory" info step100
grep -q "step100: llama checkpoint" "$tmp/out" && grep -q '"tied_embeddings": 1' "$tmp/out" &&
    grep -q '"norm": "rmsnorm"' "$tmp/out" && ok "info names the layout and its config" ||
    fail "info names the layout" "$(cat "$tmp/out")"
grep '{"pretrained"' "$tmp/out" | sed 's/^  //' >"$tmp/model.json"
must_ok "info on a GPT-2 model.safetensors" info gpt2/model.safetensors
grep -q "as a checkpoint: gpt2 checkpoint" "$tmp/out" && ok "info on the file names gpt2" ||
    fail "info gpt2 file" "$(cat "$tmp/out")"

must_ok "import step directories (--config a checkpoint)" import --config step100 --out s.polca step300 step100/
grep -q "2 checkpoints (steps 100..300)" "$tmp/out" && ok "steps from the directory names" ||
    fail "import steps" "$(cat "$tmp/out")"
must_ok "import with --config the JSON info printed" import --config model.json --out s2.polca step100
must_ok "random basis" basis --series s.polca --method random --k 2 --seed 1 --out b.polca
must_ok "export a direction" export --config step100 --basis b.polca --direction 1 --out d1.safetensors
must_ok "export a step" export --config model.json --series s.polca --step 300 --out c300.safetensors
must_ok "basis as npy" basis --series s.polca --method random --k 2 --seed 1 --out b2.polca --npy b.npy
"$PY" - "$tmp" "$root/$FIX/llama_tied/checkpoint" <<'EOF' && ok "exports hold the checkpoint's names, shapes and values" || fail "exports" "see above"
import json, os, struct, sys
import numpy as np
tmp, ck = sys.argv[1], sys.argv[2]
def read(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8)); head = json.loads(f.read(n)); data = f.read()
    head.pop("__metadata__", None)
    return {k: np.frombuffer(data[e["data_offsets"][0]:e["data_offsets"][1]], np.float32).reshape(e["shape"]) for k, e in head.items()}
src = {}
for s in set(json.load(open(os.path.join(ck, "model.safetensors.index.json")))["weight_map"].values()):
    src.update(read(os.path.join(ck, s)))
c = read(os.path.join(tmp, "c300.safetensors"))
assert sorted(c) == sorted(src), sorted(set(c) ^ set(src))
for k in c:
    assert c[k].shape == src[k].shape and np.array_equal(c[k], src[k]), k
d = read(os.path.join(tmp, "d1.safetensors"))
assert sorted(d) == sorted(src) and all(d[k].shape == src[k].shape for k in d)
# the direction's values: the basis vector, permuted (its norm is 1)
b = np.load(os.path.join(tmp, "b.npy"))
tot = np.sqrt(sum(float((v.astype(np.float64) ** 2).sum()) for v in d.values()))
assert abs(tot - 1) < 1e-5, tot
assert np.allclose(np.sort(np.concatenate([v.ravel() for v in d.values()])), np.sort(b[1]), rtol=0, atol=0)
EOF

must_fail "a GPT-2 step into a Llama series" 2 "gpt2" import --config step100 --out s3.polca gpt2
must_fail "forced format that does not fit (a feature libpolca lacks: 3)" 3 "model_type" info --format gpt_neox step100
must_fail "export without a vector" 1 "--basis" export --config step100 --out x.safetensors
must_fail "export of a missing step" 2 "no such step" export --config step100 --series s.polca --step 7 --out x.safetensors
mkdir -p "$tmp/empty"
must_fail "a directory without weights" 2 "no model.safetensors" info empty
[ ! -e "$tmp/x.safetensors" ] && ok "nothing written on failure" || fail "x.safetensors" "written"
finish
