"""Python bindings: the ctypes package against the library built here, run
by tests/run.sh with Debian's python3 (numpy).

References are independent of libpolca: a softmax-regression model written
in numpy (float64: losses, per-sample gradients, exact Hessian products and
directional derivatives in closed form) stands beside the built-in MLP
(hidden=()), which is the same model; POLCA trajectories are recomputed in
numpy from the closed forms. Tolerances: the MLP computes in double and
returns float32, so 1e-5 relative to the largest magnitude of each
quantity covers float32 rounding of inputs and outputs.

Under make check-asan (POLCA_SANITIZED) only the handle-lifetime tests run:
each in a fresh interpreter with the sanitizer runtimes preloaded (ctypes
cannot load the instrumented library into this uninstrumented one)."""
import ctypes
import gc
import os
import subprocess
import sys
import weakref

from pyharness import ROOT, Skip, test, run, expect_error, expect_raises, tmpdir

SANITIZED = bool(os.environ.get("POLCA_SANITIZED"))
TOL = 1e-5
TMP = tmpdir()


# ==== handle lifetimes in a fresh interpreter ==================================
# Each script wraps the C destroy functions so that every destroy prints
# "destroy <kind>" (os.write: it works during interpreter finalization).

_LIFETIME_PRELUDE = """
import os
import numpy as np
import polca
from polca import _native
_write = os.write
def _hook(name):
    real = getattr(_native.lib, name)
    def destroy(ptr, real=real, name=name, write=_write):
        write(1, ("destroy " + name[6:-8] + "\\n").encode())
        real(ptr)
    setattr(_native.lib, name, destroy)
for _n in ("context", "model", "data", "checkpoints", "basis", "trajectories"):
    _hook("polca_" + _n + "_destroy")
def say(text):
    _write(1, (text + "\\n").encode())
def setup():
    ctx = polca.Context(backend="cpu")
    rng = np.random.default_rng(0)
    model = polca.Model.mlp(ctx, 4, 3)
    data = polca.Data.features(ctx, rng.standard_normal((12, 4)).astype(np.float32),
                               rng.integers(0, 3, 12))
    series = polca.Checkpoints.create(ctx, model)
    theta = model.init(1)
    for t in range(4):
        series.append(10 * t, theta + np.float32(0.3 * t))
    basis = polca.Basis.random(ctx, model.n_params, 2, seed=1)
    return ctx, model, data, series, basis
"""


def run_lifetime_script(name, body):
    """Runs the prelude + body as a script in a new interpreter (under the
    sanitizers when this suite runs under them); it must exit 0 with no
    sanitizer report. Returns its stdout lines."""
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "bindings", "python"))
    if SANITIZED:
        cc = os.environ.get("CC", "cc")
        rts = [subprocess.run([cc, f"-print-file-name={rt}"], capture_output=True,
                              text=True).stdout.strip() for rt in ("libasan.so", "libubsan.so")]
        if not all(os.path.isabs(rt) and os.path.exists(rt) for rt in rts):
            raise Skip(f"sanitizer runtimes not found by {cc}")
        env["LD_PRELOAD"] = " ".join(rts)
        env["ASAN_OPTIONS"] = "detect_leaks=0"  # the interpreter's own
    path = os.path.join(TMP, name + ".py")
    with open(path, "w") as f:
        f.write(_LIFETIME_PRELUDE + body)
    r = subprocess.run([sys.executable, path], env=env, capture_output=True, text=True,
                       timeout=600)
    report = "Sanitizer" in r.stderr or "runtime error" in r.stderr
    assert r.returncode == 0 and not report, \
        f"{name}: exit {r.returncode}, stderr:\n{r.stderr[-3000:]}"
    return r.stdout.splitlines()


@test
def handles_at_interpreter_exit_destroyed_before_their_context():
    # Module-level handles plus a function (its globals put the module's
    # namespace in a reference cycle): at exit the context used to be
    # destroyed first, then the others (use-after-free in their destroy).
    out = run_lifetime_script("exit_order", """
ctx, model, data, series, basis = setup()
traj = polca.Trajectories.create(ctx, model, data, series, basis)
def uses_globals():
    return ctx, traj
say("end of script")
""")
    after = out[out.index("end of script") + 1:]
    kinds = ["model", "data", "checkpoints", "basis", "trajectories", "context"]
    assert sorted(after) == sorted("destroy " + k for k in kinds), out
    assert after[-1] == "destroy context", f"destroy order at exit: {after}"


@test
def handle_closed_by_a_callback_outlives_the_running_call():
    # A progress callback closes a handle the running call uses (and drops
    # the last reference to it): the C handle must survive until the call
    # returns (no destroy before the call's last progress report), which
    # then gives the same results as without the close.
    out = run_lifetime_script("close_in_callback", """
ctx, model, data, series, basis = setup()
want = polca.Trajectories.create(ctx, model, data, series, basis).polca.copy()
hes = polca.Basis.hessian(ctx, model, data, series, k=1, indices=[1]).vectors()
def closer(h, which, stage_wanted):
    def progress(stage, done, total, value):
        say("progress")
        if stage == stage_wanted and not h[which].closed:
            h[which].close()
            say("closed " + which)
    h["ctx"].set_progress(progress)
for which in ("model", "data", "series", "basis", "ctx"):
    h = dict(zip(("ctx", "model", "data", "series", "basis"), setup()))
    closer(h, which, "polca")
    t = polca.Trajectories.create(h["ctx"], h["model"], h["data"], h["series"], h["basis"])
    say("returned " + which)
    assert h[which].closed and np.array_equal(t.polca, want), which
    del t, h
h = dict(zip(("ctx", "model", "data", "series", "basis"), setup()))
closer(h, "data", "eigen")
v = polca.Basis.hessian(h["ctx"], h["model"], h["data"], h["series"], k=1, indices=[1])
say("returned hessian")
assert np.array_equal(v.vectors(), hes)
say("end of script")
""")
    kind = {"series": "checkpoints", "ctx": "context"}
    for which, call in [(w, w) for w in ("model", "data", "series", "basis", "ctx")] + \
            [("data", "hessian")]:
        i, j = out.index("closed " + which), out.index("returned " + call)
        window = out[i:j]
        last = max((k for k, line in enumerate(window) if line == "progress"), default=0)
        assert last > 0, f"{call}: no progress report after the close"
        assert "destroy " + kind.get(which, which) not in window[:last], \
            f"{which} destroyed during the {call} call: {window}"
        out = out[j:]
    assert "end of script" in out


if SANITIZED:
    run()  # the lifetime tests only; it exits

import numpy as np  # noqa: E402
import polca  # noqa: E402


def close(a, b, tol=TOL, what=""):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} vs {b.shape}"
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol} * {scale:.3g}"


# ---- the numpy reference: softmax regression, theta = A [F+1][C] row-major
# (rows 0..F-1 are layers.0.W, row F is layers.0.b: the MLP's layout) ------

class SoftmaxRef:
    def __init__(self, X, y, C):
        self.a = np.hstack([X.astype(np.float64), np.ones((X.shape[0], 1))])
        self.y = np.asarray(y)
        self.C = C

    def _p(self, theta, idx):
        A = np.asarray(theta, np.float64).reshape(-1, self.C)
        z = self.a[idx] @ A
        z = z - z.max(1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(1, keepdims=True)

    def losses(self, theta, idx=slice(None)):
        p = self._p(theta, idx)
        return -np.log(p[np.arange(p.shape[0]), self.y[idx]])

    def grad(self, theta, idx=slice(None)):
        p = self._p(theta, idx)
        r = p.copy()
        r[np.arange(p.shape[0]), self.y[idx]] -= 1.0
        return self.losses(theta, idx).mean(), (self.a[idx].T @ r).reshape(-1) / p.shape[0]

    def _su(self, p, u):  # (diag p - p p^T) u, row by row
        return p * u - p * (p * u).sum(1, keepdims=True)

    def hvp(self, theta, v, idx=slice(None)):
        p = self._p(theta, idx)
        u = self.a[idx] @ np.asarray(v, np.float64).reshape(-1, self.C)
        return (self.a[idx].T @ self._su(p, u)).reshape(-1) / p.shape[0]

    def dirderivs(self, theta, dirs, idx=slice(None)):
        p = self._p(theta, idx)
        r = p.copy()
        r[np.arange(p.shape[0]), self.y[idx]] -= 1.0
        g, c = [], []
        for d in np.atleast_2d(dirs):
            u = self.a[idx] @ np.asarray(d, np.float64).reshape(-1, self.C)
            g.append((r * u).sum(1))
            c.append((u * self._su(p, u)).sum(1))
        return np.array(g), np.array(c)


def problem(n=40, F=4, C=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, F)).astype(np.float32)
    y = rng.integers(0, C, n).astype(np.int32)
    return X, y, SoftmaxRef(X, y, C)


def mlp_setup(ctx, n=40, F=4, C=3, seed=0):
    X, y, ref = problem(n, F, C, seed)
    model = polca.Model.mlp(ctx, n_features=F, n_classes=C)
    data = polca.Data.features(ctx, X, y)
    return model, data, ref


def series_of(ctx, model, n_ckpt=5, seed=1, scale=0.3):
    """Checkpoints drifting from the MLP's init, like a training run."""
    rng = np.random.default_rng(seed)
    theta = model.init(3)
    s = polca.Checkpoints.create(ctx, model)
    thetas = []
    for t in range(n_ckpt):
        s.append(100 * t, theta)
        thetas.append(theta.copy())
        theta = (theta + scale * rng.standard_normal(theta.shape)).astype(np.float32)
    return s, thetas


# ==== core =====================================================================

@test
def version_and_status_codes():
    assert polca.version().count(".") == 2
    assert polca.status_string(polca.ERR_IO).strip()
    assert polca.status_string(12345) == "unknown status"


@test
def context_options_and_errors():
    with polca.Context(backend="cpu") as ctx:
        assert ctx.backend == "cpu"
        assert ctx.device.startswith("CPU")
    e = expect_error(polca.ERR_UNKNOWN_OPTION, polca.Context, backend="cpu", threadz=2,
                     mentions="threadz")
    assert "polca_context_create" in str(e)
    expect_error(polca.ERR_OPTION_TYPE, polca.Context, threads="two", mentions="threads")
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Context, backend="tpu")
    expect_raises(TypeError, polca.Options, x=[1])
    o = polca.Options(a=1, b=2.5, c="x", d=None)
    o.unset("a")
    expect_error(polca.ERR_INVALID_ARGUMENT, o.unset, "a", mentions="a")
    o.close()
    expect_raises(ValueError, o.set, "a", 1)


@test
def closed_handle_raises_not_crashes():
    ctx = polca.Context(backend="cpu")
    ctx.close()
    ctx.close()  # twice is fine
    assert ctx.closed
    expect_raises(ValueError, lambda: ctx.backend)
    expect_raises(ValueError, polca.Model.mlp, ctx, 2, 2)


@test
def log_and_progress_callbacks():
    ctx = polca.Context(backend="cpu")
    model, data, ref = mlp_setup(ctx)
    s, _ = series_of(ctx, model, 3)
    seen = []
    ctx.set_log(lambda level, msg: seen.append((level, msg)), polca.LOG_DEBUG)
    stages = []
    ctx.set_progress(lambda stage, done, total, value: stages.append(stage) and False)
    polca.Basis.hessian(ctx, model, data, s, k=1)
    assert "basis" in stages and "eigen" in stages, set(stages)
    # True from the callback cancels the running call
    ctx.set_progress(lambda stage, done, total, value: stage == "basis")
    expect_error(polca.ERR_CANCELLED, polca.Basis.hessian, ctx, model, data, s, k=1)

    # An exception in the callback cancels too and is the error's cause
    def boom(stage, done, total, value):
        raise RuntimeError("from progress")
    ctx.set_progress(boom)
    e = expect_error(polca.ERR_CANCELLED, polca.Basis.hessian, ctx, model, data, s, k=1)
    assert isinstance(e.__cause__, RuntimeError) and "from progress" in str(e.__cause__)

    def interrupt(stage, done, total, value):
        raise KeyboardInterrupt
    ctx.set_progress(interrupt)
    expect_raises(KeyboardInterrupt, polca.Basis.hessian, ctx, model, data, s, k=1)
    ctx.set_progress(None)
    ctx.set_log(None)
    polca.Basis.hessian(ctx, model, data, s, k=1)  # the next call is clean


# ==== data =====================================================================

@test
def data_tokens_features_indices():
    ctx = polca.Context(backend="cpu")
    tok = np.array([[1, 2, 3, 4], [0, 1, 0, 1], [3, 3, 3, 3]], dtype=np.int64)
    mask = np.zeros((3, 4), dtype=bool)
    mask[0, :3] = True
    mask[2, 1] = True
    d = polca.Data.tokens(ctx, tok, mask)
    assert d.n_samples == 4 and d.n_seq == 3 and len(d) == 4
    assert [d.sample_at(i) for i in range(4)] == [(0, 0), (0, 1), (0, 2), (2, 1)]
    full = polca.Data.tokens(ctx, tok.astype(np.uint8))  # no mask: all but the last
    assert full.n_samples == 9
    sub = d.subset_sequences([2, 0])
    assert sub.n_seq == 2 and sub.sample_at(0) == (0, 1)
    assert d.subset_samples([1, 3]).n_samples == 2
    f = polca.Data.features(ctx, np.ones((5, 2)), np.arange(5) % 2)
    assert f.n_samples == 5 and f.n_seq == 5
    i = polca.Data.indices(ctx, 10, [9, 0, 0])
    assert i.n_samples == 3
    assert polca.Data.indices(ctx, 7).n_samples == 7
    # bad input: Python-side type/shape checks, library-side semantics
    expect_raises(TypeError, polca.Data.tokens, ctx, tok.astype(np.float32))
    expect_raises(ValueError, polca.Data.tokens, ctx, tok, mask[:2])
    expect_raises(ValueError, polca.Data.tokens, ctx, tok[0])
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Data.tokens, ctx, -tok - 1, mentions="tokens")
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Data.tokens, ctx, tok,
                 np.zeros((3, 4), bool))  # no scored position
    bad = np.ones((5, 2))
    bad[3, 1] = np.nan
    expect_error(polca.ERR_NOT_FINITE, polca.Data.features, ctx, bad, np.zeros(5, int))
    expect_raises(ValueError, polca.Data.features, ctx, np.ones((5, 2)), np.zeros(4, int))
    expect_raises(TypeError, polca.Data.indices, ctx, 10, [0.5])
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Data.indices, ctx, 10, [10])
    expect_error(polca.ERR_INVALID_ARGUMENT, d.subset_samples, [3, 1])
    expect_error(polca.ERR_INVALID_ARGUMENT, d.sample_at, 4)


# ==== models ===================================================================

@test
def mlp_matches_numpy_reference():
    ctx = polca.Context(backend="cpu")
    model, data, ref = mlp_setup(ctx)
    assert model.kind == "mlp" and model.n_params == 15
    assert [t.name for t in model.tensors] == ["layers.0.W", "layers.0.b"]
    assert model.tensors[0].shape == (4, 3) and model.tensors[1].offset == 12
    assert model.find_tensor("layers.0.b") == 1
    theta = model.init(7)
    assert np.array_equal(theta, model.init(7)) and not np.array_equal(theta, model.init(8))
    rng = np.random.default_rng(2)
    close(model.losses(data, theta), ref.losses(theta), what="losses")
    mean, g = model.grad(data, theta)
    rmean, rg = ref.grad(theta)
    close(mean, rmean, what="mean loss")
    close(g, rg, what="grad")
    v = rng.standard_normal(15)
    close(model.hvp(data, theta, v), ref.hvp(theta, v), what="hvp")
    dirs = rng.standard_normal((3, 15))
    dd = model.dirderivs(data, theta, dirs, losses=True)
    rg, rc = ref.dirderivs(theta, dirs)
    close(dd.g, rg, what="g")
    close(dd.c, rc, what="c")
    close(dd.losses, ref.losses(theta), what="losses")
    one = model.dirderivs(data, theta, dirs[0], second=False)
    assert one.c is None and one.losses is None and one.g.shape == (1, 40)
    # unflatten / flatten
    parts = model.unflatten(theta)
    assert parts["layers.0.W"].shape == (4, 3)
    assert np.array_equal(model.flatten(parts), theta)


@test
def model_bad_input():
    ctx = polca.Context(backend="cpu")
    model, data, ref = mlp_setup(ctx)
    theta = model.init(0)
    expect_raises(ValueError, model.losses, data, theta[:-1])
    expect_raises(ValueError, model.hvp, data, theta, theta[:3])
    expect_raises(ValueError, model.dirderivs, data, theta, np.ones((2, 3)))
    bad = theta.copy()
    bad[4] = np.inf
    expect_error(polca.ERR_NOT_FINITE, model.losses, data, bad, mentions="theta")
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Model.mlp, ctx, 0, 3, mentions="n_features")
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Model.mlp, ctx, 2, 3, activation="sigmoid")
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Model.transformer, ctx, d_model=8)
    expect_error(polca.ERR_UNKNOWN_OPTION, polca.Model.transformer, ctx, n_layers=1, d_model=8,
                 n_heads=2, d_vocab=5, n_ctx=4, d_mpl=3, mentions="d_mpl")
    # data of another kind, data of another context
    tok = polca.Data.tokens(ctx, np.zeros((2, 3), int))
    expect_error(polca.ERR_INVALID_ARGUMENT, model.losses, tok, theta)
    other = polca.Context(backend="cpu")
    X, y, _ = problem()
    expect_error(polca.ERR_WRONG_CONTEXT, model.losses, polca.Data.features(other, X, y), theta)
    # labels out of range for the model
    expect_error(polca.ERR_INVALID_ARGUMENT, model.losses,
                 polca.Data.features(ctx, X, np.full(40, 3)), theta)
    expect_error(polca.ERR_IO, model.load_safetensors, os.path.join(TMP, "missing.safetensors"))
    expect_error(polca.ERR_UNSUPPORTED, polca.Model.host(ctx, 3, 2, lambda t, s: s, None).init)


@test
def transformer_safetensors_round_trip_and_config_inference():
    ctx = polca.Context(backend="cpu")
    cfg = dict(n_layers=2, d_model=8, n_heads=2, d_head=3, d_mlp=0, d_vocab=7, n_ctx=5,
               act_fn="relu")
    m = polca.Model.transformer(ctx, cfg)
    assert m.kind == "transformer"
    names = [t.name for t in m.tensors]
    assert names[:3] == ["embed.W_E", "pos_embed.W_pos", "blocks.0.ln1.w"]
    assert "blocks.0.mlp.W_in" not in names  # attention-only
    theta = m.init(5)
    path = os.path.join(TMP, "tf.safetensors")
    m.save_safetensors(path, theta)
    assert np.array_equal(m.load_safetensors(path), theta)
    got = polca.transformer_config_from_safetensors(path, act_fn="relu")
    assert got == cfg, got
    expect_raises(ValueError, polca.transformer_config_from_safetensors, path)
    m2, theta2 = polca.Model.transformer_from_safetensors(ctx, path, act_fn="relu")
    assert m2.n_params == m.n_params and np.array_equal(theta2, theta)
    tensors, meta = polca.read_safetensors_header(path)
    assert tensors["blocks.1.attn.W_Q"]["shape"] == [2, 8, 3]
    # A TransformerLens config, attribute-style, with settings we lack
    class Cfg:
        n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx = 1, 8, 2, 4, 16, 7, 5
        act_fn, normalization_type, attn_only, d_vocab_out = "gelu_new", "LN", False, -1
    assert polca.transformer_config(Cfg)["d_mlp"] == 16
    Cfg.attn_only = True
    assert polca.transformer_config(Cfg)["d_mlp"] == 0
    Cfg.normalization_type = "RMS"  # computed now
    assert polca.transformer_config(Cfg)["norm"] == "rmsnorm"
    Cfg.normalization_type = "LNPre"  # folded norms: no weights
    assert "LNPre" in str(expect_raises(ValueError, polca.transformer_config, Cfg))
    # TransformerLens 4's bridge config: it does not describe the weights
    # (the first-hour user got an untied model with b_U for a tied GPT-2)
    bridge_cfg = type("TransformerBridgeConfig", (), dict(vars(Cfg), normalization_type="LN"))
    for c in (bridge_cfg, bridge_cfg()):
        e = expect_raises(ValueError, polca.transformer_config, c)
        assert "from_pretrained" in str(e), str(e)
    # A file of another model
    other = polca.Model.transformer(ctx, dict(cfg, d_model=12))
    expect_error(polca.ERR_LAYOUT_MISMATCH, other.load_safetensors, path, mentions="embed.W_E")


@test
def transformer_config_maps_transformerlens_fields():
    # The cases of tests/test_cli.sh's model configs (tests/cli_fixtures.py)
    ctx = polca.Context(backend="cpu")
    cfg = dict(n_layers=1, d_model=8, n_heads=2, d_head=4, d_mlp=16, d_vocab=7, n_ctx=6,
               act_fn="gelu_new")
    llama = dict(cfg, normalization_type="RMS", positional_embedding_type="rotary",
                 rotary_dim=4, rotary_base=500000.0, rotary_adjacent_pairs=False,
                 n_key_value_heads=1, gated_mlp=True, act_fn="silu", eps=1e-6, final_rms=True,
                 use_attn_scale=True, attn_scale=2.0, parallel_attn_mlp=False,
                 use_NTK_by_parts_rope=False, use_qk_norm=False, tie_word_embeddings=False,
                 d_vocab_out=-1, attn_only=False, model_name="tiny-llama")
    opts = polca.transformer_config(llama)
    assert opts == dict(n_layers=1, d_model=8, n_heads=2, d_head=4, d_mlp=16, d_vocab=7,
                        n_ctx=6, act_fn="silu", norm="rmsnorm", positions="rotary",
                        rotary_dim=4, rope_theta=500000.0, n_kv_heads=1, mlp_gated=1,
                        norm_eps=1e-6, parallel_residual=0, tied_embeddings=0), opts
    m = polca.Model.transformer(ctx, opts)
    got = {t.name: tuple(t.shape) for t in m.tensors}
    # TransformerLens's names for this architecture: RMSNorm has no bias, rotary no W_pos
    want = {"embed.W_E": (7, 8), "blocks.0.ln1.w": (8,), "blocks.0.attn.W_Q": (2, 8, 4),
            "blocks.0.attn._W_K": (1, 8, 4), "blocks.0.attn._W_V": (1, 8, 4),
            "blocks.0.attn.W_O": (2, 4, 8), "blocks.0.attn.b_Q": (2, 4),
            "blocks.0.attn._b_K": (1, 4), "blocks.0.attn._b_V": (1, 4),
            "blocks.0.attn.b_O": (8,), "blocks.0.ln2.w": (8,), "blocks.0.mlp.W_in": (8, 16),
            "blocks.0.mlp.W_gate": (8, 16), "blocks.0.mlp.b_in": (16,),
            "blocks.0.mlp.W_out": (16, 8), "blocks.0.mlp.b_out": (8,), "ln_final.w": (8,),
            "unembed.W_U": (8, 7), "unembed.b_U": (7,)}
    assert got == want, got
    # the same as an attribute-style config (a HookedTransformerConfig)
    assert polca.transformer_config(type("Cfg", (), llama)) == opts
    assert polca.transformer_config(dict(cfg, eps=1e-6))["norm_eps"] == 1e-6
    polca.Model.transformer(ctx, polca.transformer_config(dict(cfg, eps=1e-6)))
    # our own option names pass through; bools become 0/1
    own = polca.transformer_config(dict(cfg, norm="layernorm_nobias", positions="none",
                                        qkv_bias=False, tied_embeddings=True, norm_eps=1e-6))
    assert own == dict(cfg, norm="layernorm_nobias", positions="none", qkv_bias=0,
                       tied_embeddings=1, norm_eps=1e-6), own
    # refusals name the key and the value
    for bad, text in [(dict(normalization_type=None), "normalization_type': null"),
                      (dict(normalization_type="LNPre"), "LNPre"),
                      (dict(positional_embedding_type="alibi"), "alibi"),
                      (dict(positional_embedding_type="rotary", rotary_dim=4,
                            rotary_adjacent_pairs=True), "rotary_adjacent_pairs"),
                      (dict(positional_embedding_type="rotary", rotary_dim=None), "rotary_dim"),
                      (dict(use_attn_scale=False), "use_attn_scale"),
                      (dict(attn_scale=3.0), "attn_scale"),
                      (dict(final_rms=True), "final_rms"),
                      (dict(norm="rmsnorm", normalization_type="RMS"), "both set norm"),
                      (dict(d_mpl=16), "d_mpl")]:
        e = expect_raises(ValueError, polca.transformer_config, dict(cfg, **bad))
        assert text in str(e), (bad, str(e))
    # eps reaches norm_eps: the library checks it
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Model.transformer, ctx,
                 polca.transformer_config(dict(cfg, eps=0.0)), mentions="norm_eps")


@test
def transformer_losses_and_derivatives_are_consistent():
    """Binding plumbing for token data: the mean of losses is grad's mean
    loss; g along the gradient direction averages to |grad|^2; HVP is
    symmetric (u^T H v = v^T H u) and matches the mean of c for one
    direction (d^T H d = mean_i c_i)."""
    ctx = polca.Context(backend="cpu")
    m = polca.Model.transformer(ctx, n_layers=1, d_model=8, n_heads=2, d_mlp=16, d_vocab=7,
                                n_ctx=6, act_fn="gelu")
    rng = np.random.default_rng(0)
    data = polca.Data.tokens(ctx, rng.integers(0, 7, (5, 6)))
    theta = m.init(1)
    losses = m.losses(data, theta)
    mean, g = m.grad(data, theta)
    close(losses.mean(), mean, 1e-6, "mean")
    dd = m.dirderivs(data, theta, g[None], losses=True)
    close(dd.g.mean(), float(g.astype(np.float64) @ g), 1e-5, "g along grad")
    u, v = rng.standard_normal((2, m.n_params)).astype(np.float32)
    close(u @ m.hvp(data, theta, v), v @ m.hvp(data, theta, u), 1e-4, "symmetry")
    c = m.dirderivs(data, theta, v).c
    close(c.mean(), float(v.astype(np.float64) @ m.hvp(data, theta, v)), 1e-4, "d^T H d")
    # a token id >= d_vocab is named when used
    bad = polca.Data.tokens(ctx, np.full((1, 6), 7))
    expect_error(polca.ERR_INVALID_ARGUMENT, m.losses, bad, theta, mentions="7")


@test
def host_model_callbacks_match_builtin():
    ctx = polca.Context(backend="cpu")
    model, data, ref = mlp_setup(ctx)
    calls = []

    def loss(theta, samples):
        calls.append("loss")
        assert not theta.flags.writeable and samples.dtype == np.int64
        return ref.losses(theta, samples)
    host = polca.Model.host(
        ctx, 15, 40, loss=loss,
        grad=lambda th, s: ref.grad(th, s),
        hvp=lambda th, s, v: ref.hvp(th, v, s),
        dirderiv=lambda th, s, d: ref.dirderivs(th, d, s)[0],
        second_dirderiv=lambda th, s, d: ref.dirderivs(th, d, s)[1])
    assert host.kind == "host" and [t.name for t in host.tensors] == ["theta"]
    idx = polca.Data.indices(ctx, 40)
    theta = model.init(4)
    rng = np.random.default_rng(5)
    v = rng.standard_normal(15)
    dirs = rng.standard_normal((2, 15))
    close(host.losses(idx, theta), model.losses(data, theta), what="losses")
    close(host.grad(idx, theta)[1], model.grad(data, theta)[1], what="grad")
    close(host.hvp(idx, theta, v), model.hvp(data, theta, v), what="hvp")
    a, b = host.dirderivs(idx, theta, dirs), model.dirderivs(data, theta, dirs)
    close(a.g, b.g, what="g")
    close(a.c, b.c, what="c")
    assert "loss" in calls
    # A subset of samples reaches the callbacks as their numbers
    sub = polca.Data.indices(ctx, 40, [39, 2, 2])
    close(host.losses(sub, theta), ref.losses(theta)[[39, 2, 2]], what="subset")

    # Only loss and grad: libpolca's central differences (documented error
    # ~1e-5 for HVP and g, ~4e-4 for c from losses; 1e-3 here)
    fd = polca.Model.host(ctx, 15, 40, loss=lambda th, s: ref.losses(th, s),
                          grad=lambda th, s: ref.grad(th, s))
    close(fd.hvp(idx, theta, v), model.hvp(data, theta, v), 1e-3, "fd hvp")
    a = fd.dirderivs(idx, theta, dirs)
    close(a.g, b.g, 1e-3, "fd g")
    close(a.c, b.c, 1e-2, "fd c")


@test
def host_model_errors_become_polca_errors():
    ctx = polca.Context(backend="cpu")
    _, _, ref = mlp_setup(ctx)
    idx = polca.Data.indices(ctx, 40)
    theta = np.zeros(15, np.float32)

    def broken(theta, samples):
        raise ZeroDivisionError("inside the loss")
    m = polca.Model.host(ctx, 15, 40, loss=broken, grad=lambda th, s: ref.grad(th, s))
    e = expect_error(polca.ERR_BACKEND, m.losses, idx, theta, mentions="loss")
    assert isinstance(e.__cause__, ZeroDivisionError)
    # the reason is in the message too (a user who prints str(e) sees it)
    assert "the callback raised ZeroDivisionError: inside the loss" in str(e), str(e)
    m.set_callbacks(loss=lambda th, s: np.zeros(3))  # wrong length
    e = expect_error(polca.ERR_BACKEND, m.losses, idx, theta)
    assert isinstance(e.__cause__, ValueError) and "shape" in str(e.__cause__)
    m.set_callbacks(loss=None)
    expect_error(polca.ERR_STATE, m.losses, idx, theta)
    expect_raises(TypeError, m.set_callbacks, lossy=broken)
    # A host model's callbacks on a built-in model
    mlp = polca.Model.mlp(ctx, 2, 2)
    expect_error(polca.ERR_INVALID_ARGUMENT, mlp.set_callbacks, loss=broken)
    # Index data out of the sample set
    expect_error(polca.ERR_INVALID_ARGUMENT, m.losses, polca.Data.indices(ctx, 41), theta)


# ==== checkpoints ==============================================================

@test
def checkpoints_memory_file_import_export():
    ctx = polca.Context(backend="cpu")
    model, data, ref = mlp_setup(ctx)
    rng = np.random.default_rng(0)
    thetas = [rng.standard_normal(15).astype(np.float32) for _ in range(4)]
    mem = polca.Checkpoints.create(ctx, model)
    path = os.path.join(TMP, "series.polca")
    f = polca.Checkpoints.create(ctx, model, path, overwrite=1, sync=0)
    for i, t in enumerate(thetas):
        mem.append(10 * i, t)
        f.append(10 * i, t.astype(np.float64))  # converted to float32
    assert len(mem) == 4 and mem.n_params == 15 and mem.path is None
    assert f.path == path and mem.layout_hash == f.layout_hash
    assert list(f.steps) == [0, 10, 20, 30] and f.step(2) == 20
    assert f.find_step(30) == 3 and f.find_step(31) is None
    assert all(np.array_equal(f.read(i), thetas[i]) for i in range(4))
    assert np.array_equal(mem[-1], thetas[3])
    assert [s for s, _ in mem] == [0, 10, 20, 30]
    expect_raises(IndexError, mem.__getitem__, 4)
    f.close()
    r = polca.Checkpoints.open(ctx, path)
    assert len(r) == 4 and np.array_equal(r.read(1), thetas[1])
    expect_error(polca.ERR_STATE, r.append, 40, thetas[0])
    w = polca.Checkpoints.open(ctx, path, writable=1, sync=0)
    w.append(40, thetas[0])
    expect_error(polca.ERR_INVALID_ARGUMENT, w.append, 40, thetas[0], mentions="step")
    nan = thetas[0].copy()
    nan[3] = np.nan
    expect_error(polca.ERR_NOT_FINITE, w.append, 50, nan)
    expect_error(polca.ERR_INVALID_ARGUMENT, w.append, 50, thetas[0][:10], mentions="n_params")
    expect_error(polca.ERR_INVALID_ARGUMENT, w.read, 5)
    mem.save(os.path.join(TMP, "saved.polca"))
    assert len(polca.Checkpoints.open(ctx, os.path.join(TMP, "saved.polca"))) == 4
    mem.export_npy(2, os.path.join(TMP, "ck2.npy"))
    assert np.array_equal(np.load(os.path.join(TMP, "ck2.npy")), thetas[2])
    expect_error(polca.ERR_IO, polca.Checkpoints.open, ctx, os.path.join(TMP, "nope.polca"))
    junk = os.path.join(TMP, "junk.polca")
    with open(junk, "wb") as fh:
        fh.write(b"not a libpolca file " * 10)
    expect_error(polca.ERR_CORRUPT, polca.Checkpoints.open, ctx, junk, mentions="junk.polca")
    expect_error(polca.ERR_IO, polca.Checkpoints.create, ctx, model, path)  # exists

    # safetensors: one file per step, out of order, steps from the names
    files = []
    for i, t in enumerate(thetas):
        p = os.path.join(TMP, f"ckpt_{(3 - i) * 100:06d}.safetensors")
        model.save_safetensors(p, t)
        files.append(p)
    imp = polca.Checkpoints.import_safetensors(ctx, model, files)
    assert list(imp.steps) == [0, 100, 200, 300]
    assert np.array_equal(imp.read(0), thetas[3])
    imp_f = polca.Checkpoints.import_safetensors(ctx, model, files,
                                                 os.path.join(TMP, "imported.polca"))
    assert len(imp_f) == 4
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Checkpoints.import_safetensors, ctx, model,
                 files + [files[0]])
    other = polca.Model.mlp(ctx, 5, 3)
    expect_error(polca.ERR_LAYOUT_MISMATCH, polca.Checkpoints.import_safetensors, ctx, other,
                 files, mentions="layers.0.W")


@test
def safetensors_written_by_the_safetensors_package():
    try:
        from safetensors.numpy import save_file
    except ImportError:
        raise Skip("the safetensors package is not installed")
    ctx = polca.Context(backend="cpu")
    m = polca.Model.transformer(ctx, n_layers=1, d_model=8, n_heads=2, d_mlp=8, d_vocab=5,
                                n_ctx=4, act_fn="gelu_new")
    theta = m.init(2)
    tensors = {k: np.ascontiguousarray(v) for k, v in m.unflatten(theta).items()}
    tensors["blocks.0.attn.mask"] = np.tril(np.ones((4, 4), bool))  # a TL buffer, ignored
    files = []
    for step in (5, 50):
        p = os.path.join(TMP, f"tl_{step}.safetensors")
        save_file(tensors, p, metadata={"step": str(step * 2)})
        files.append(p)
    s = polca.Checkpoints.import_safetensors(ctx, m, files)
    assert list(s.steps) == [10, 100]  # metadata "step" wins over the name
    assert np.array_equal(s.read(1), theta)


# ==== eigensolver ==============================================================

@test
def eigen_solve_matches_numpy():
    ctx = polca.Context(backend="cpu")
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    lam = np.linspace(-3.0, 10.0, 30)
    A = (Q * lam) @ Q.T
    r = polca.eigen_solve(ctx, 30, lambda x: A @ x, 3, tol=1e-5)
    close(r.values, lam[::-1][:3], 1e-4, "largest")
    assert r.converged.all() and r.products > 0
    for i in range(3):
        assert abs(abs(float(r.vectors[i] @ Q[:, 29 - i])) - 1) < 1e-4
    small = polca.eigen_solve(ctx, 30, A, 2, which="smallest_algebraic")  # a matrix works too
    close(small.values, lam[:2], 1e-4, "smallest")
    warm = polca.eigen_solve(ctx, 30, A, 3, start=r.vectors)
    assert warm.products <= r.products
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.eigen_solve, ctx, 30, A, 31, mentions="k")
    expect_raises(ValueError, polca.eigen_solve, ctx, 30, A, 2, start=np.ones(29))
    expect_error(polca.ERR_UNKNOWN_OPTION, polca.eigen_solve, ctx, 30, A, 2, whitch="x")

    def broken(x):
        raise ArithmeticError("operator")
    e = expect_error(polca.ERR_CANCELLED, polca.eigen_solve, ctx, 30, broken, 2)
    assert isinstance(e.__cause__, ArithmeticError)
    expect_error(polca.ERR_CANCELLED, polca.eigen_solve, ctx, 30, lambda x: x[:3], 2)
    expect_error(polca.ERR_NOT_FINITE, polca.eigen_solve, ctx, 30, lambda x: x * np.nan, 2)
    e = expect_error(polca.ERR_NOT_CONVERGED, polca.eigen_solve, ctx, 30, A, 3,
                     max_products=6, tol=1e-7)
    assert e.result.values.shape == (3,) and not e.result.converged.all()
    best = polca.eigen_solve(ctx, 30, A, 3, max_products=6, tol=1e-7, allow_unconverged=True)
    assert best.products <= 6


# ==== bases ====================================================================

@test
def bases_random_axis_vectors_hessian():
    ctx = polca.Context(backend="cpu")
    b = polca.Basis.random(ctx, 50, 4, seed=3)
    V = b.vectors()
    close(V @ V.T, np.eye(4), 1e-5, "orthonormal")
    assert np.array_equal(V, polca.Basis.random(ctx, 50, 4, seed=3).vectors())
    assert b.info(2) .kind == "random" and b.info(2).source_index == 2
    assert np.isnan(b.info(0).eigenvalue) and b.info(0).source_step == -1
    theta = np.array([0.1, -5, 2, 0.3, 4], np.float32)
    ax = polca.Basis.axis(ctx, theta, 2)
    assert np.array_equal(ax.vectors(), np.eye(5, dtype=np.float32)[[1, 4]])
    assert [i.source_index for i in ax.infos()] == [1, 4]
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 20))
    hb = polca.Basis.from_vectors(ctx, W)
    Qn, _ = np.linalg.qr(W.T)
    close(np.abs(hb.vectors()), np.abs(Qn.T), 1e-5, "gram-schmidt")
    hb.drop([0, 2])
    assert len(hb) == 1 and hb.info(0).source_index == 1
    hb.drop([])
    path = os.path.join(TMP, "basis.polca")
    b.save(path)
    back = polca.Basis.load(ctx, path)
    assert np.array_equal(back.vectors(), V)
    assert [(i.kind, i.source_index, i.source_step, np.isnan(i.eigenvalue)) for i in back.infos()] \
        == [(i.kind, i.source_index, i.source_step, True) for i in b.infos()]
    b.export_npy(os.path.join(TMP, "basis.npy"))
    assert np.array_equal(np.load(os.path.join(TMP, "basis.npy")), V)
    # bad input
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Basis.random, ctx, 5, 6, mentions="k")
    expect_error(polca.ERR_RANK_DEFICIENT, polca.Basis.from_vectors, ctx, np.vstack([W, W[1]]),
                 mentions="3")
    expect_error(polca.ERR_NOT_FINITE, polca.Basis.axis, ctx, np.array([1, np.nan]), 1)
    expect_error(polca.ERR_INVALID_ARGUMENT, b.drop, [1, 1])
    expect_error(polca.ERR_INVALID_ARGUMENT, b.vector, 4)
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Basis.load, ctx,
                 os.path.join(TMP, "series.polca"))  # a checkpoint series
    expect_raises(TypeError, b.drop, [0.0, 1.5])

    # Algorithm 1 against the dense numpy Hessian of softmax regression
    model, data, ref = mlp_setup(ctx)
    s, thetas = series_of(ctx, model, 3)
    H = np.array([ref.hvp(thetas[0], e) for e in np.eye(15)])
    w = np.linalg.eigvalsh(H)[::-1]
    hb = polca.Basis.hessian(ctx, model, data, s, k=2, indices=[0], tol=1e-6)
    assert [i.kind for i in hb.infos()] == ["hessian", "hessian"]
    close([i.eigenvalue for i in hb.infos()], w[:2], 1e-4, "top eigenvalues")
    assert hb.info(1).source_step == 0 and hb.info(0).converged
    full = polca.Basis.hessian(ctx, model, data, s, k=1, shuffle=1)
    assert len(full) == 3 and full.info(0).kind == "hessian_shuffled"
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Basis.hessian, ctx, model, data, s, k=1,
                 indices=[5])
    e = expect_error(polca.ERR_NOT_CONVERGED, polca.Basis.hessian, ctx, model, data, s, k=2,
                     max_products=4, tol=1e-7)
    assert isinstance(e.result, polca.Basis) and len(e.result) == 6
    assert len(polca.Basis.hessian(ctx, model, data, s, k=2, max_products=4, tol=1e-7,
                                   allow_unconverged=True)) == 6

    # Algorithm 1 in the optimizer's geometry (scales=): at one checkpoint,
    # the top-2 eigenvectors w of S^1/2 H S^1/2 mapped to u = S^1/2 w and
    # Gram-Schmidt'ed, against numpy
    rng = np.random.default_rng(4)
    sv = (10.0 ** rng.uniform(-1, 1, 15)).astype(np.float32)
    sc = polca.Checkpoints.create(ctx, model)
    for step in (0, 100, 200):
        sc.append(step, sv)
    R = np.sqrt(sv.astype(np.float64))
    lam, W = np.linalg.eigh(R[:, None] * H * R[None, :])
    U = R[:, None] * W[:, ::-1][:, :2]
    U[:, 0] /= np.linalg.norm(U[:, 0])
    U[:, 1] -= (U[:, 0] @ U[:, 1]) * U[:, 0]
    U[:, 1] /= np.linalg.norm(U[:, 1])
    sb = polca.Basis.hessian(ctx, model, data, s, k=2, indices=[0], tol=1e-6, scales=sc)
    assert [i.kind for i in sb.infos()] == ["hessian_scaled", "hessian_scaled"]
    close([i.eigenvalue for i in sb.infos()], lam[::-1][:2], 1e-4, "scaled top eigenvalues")
    cos = np.abs(np.sum(sb.vectors().astype(np.float64) * U.T, axis=1))
    assert np.all(cos > 1 - 1e-4), cos
    assert polca.Basis.hessian(ctx, model, data, s, k=1, shuffle=1, scales=sc).info(0).kind \
        == "hessian_scaled_shuffled"
    part = polca.Checkpoints.create(ctx, model)
    part.append(0, sv)
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Basis.hessian, ctx, model, data, s, k=1,
                 scales=part, mentions="step 100")
    expect_raises(TypeError, polca.Basis.hessian, ctx, model, data, s, k=1, scales=sv)


# ==== trajectories =============================================================

def polca_reference(ref, thetas, B):
    """[K][N][T1] POLCA (exact curvature) and first order, from the closed
    forms: L(0) = 0, L(t+1) = L(t) + g s + c s^2 / 2."""
    K, T1 = B.shape[0], len(thetas)
    N = ref.a.shape[0]
    L2, L1 = np.zeros((K, N, T1)), np.zeros((K, N, T1))
    for t in range(T1 - 1):
        g, c = ref.dirderivs(thetas[t], B)
        s = B.astype(np.float64) @ (thetas[t + 1].astype(np.float64) - thetas[t])
        L2[:, :, t + 1] = L2[:, :, t] + g * s[:, None] + 0.5 * c * s[:, None] ** 2
        L1[:, :, t + 1] = L1[:, :, t] + g * s[:, None]
    return L2, L1


@test
def trajectories_match_reference_and_views_share_memory():
    ctx = polca.Context(backend="cpu")
    model, data, ref = mlp_setup(ctx)
    s, thetas = series_of(ctx, model, 5)
    basis = polca.Basis.random(ctx, 15, 4, seed=1)
    lca = polca.Basis.axis(ctx, thetas[-1], 3)
    t = polca.Trajectories.create(ctx, model, data, s, basis, lca, fisher=1, block=3)
    assert set(t.available) == {"polca", "first_order", "fisher", "lca", "exact_loss",
                                "loss_change"}
    B = basis.vectors()
    L2, L1 = polca_reference(ref, thetas, B)
    v = t.polca
    assert v.shape == (4, 40, 5) and v.dtype == np.float32
    close(v, L2, 1e-5, "polca")
    close(t.first_order, L1, 1e-5, "first order")
    exact = np.array([ref.losses(th) for th in thetas]).T[None]
    close(t.exact_loss, exact, 1e-5, "exact loss")
    close(t.loss_change, np.diff(exact, axis=2), 1e-5, "loss change")
    g0 = np.stack([ref.dirderivs(th, B)[0] for th in thetas], axis=2)
    close(t.fisher, g0 ** 2, 1e-5, "fisher")
    L1lca = polca_reference(ref, thetas, lca.vectors())[1]
    close(t.lca, L1lca, 1e-5, "lca")
    assert list(t.steps) == [0, 100, 200, 300, 400]
    close(t.final_means(), v[:, :, -1].astype(np.float64).mean(1), 1e-6, "final means")
    assert np.array_equal(t.decreasing("polca", 2), v[2, :, -1] < 0)
    close(t.final_means("lca"), t.lca[:, :, -1].mean(1), 1e-6, "lca means")

    # zero copy: the view is the library's buffer
    addr, k, n, tt = ctypes.c_void_p(), ctypes.c_int64(), ctypes.c_int64(), ctypes.c_int64()
    polca._lib.polca_trajectories_view(t.ptr, polca.POLCA, ctypes.byref(addr), ctypes.byref(k),
                                       ctypes.byref(n), ctypes.byref(tt))
    assert v.ctypes.data == addr.value
    assert np.shares_memory(v, t.view("polca")) and not np.shares_memory(v, t.fisher)
    assert not v.flags.writeable and not v.flags.owndata
    expect_raises(ValueError, setattr, v.flags, "writeable", True)
    expect_raises(ValueError, v.__setitem__, (0, 0, 0), 1.0)

    # a view outlives the Python handle; the C handle goes with the last view
    native = weakref.ref(t._native)
    snapshot = v.copy()
    steps = t.steps
    del t
    gc.collect()
    assert native() is not None and native().ptr
    junk = [np.ones(10000) for _ in range(50)]  # reuse freed memory if it were freed
    assert np.array_equal(v, snapshot) and list(steps) == [0, 100, 200, 300, 400]
    del junk
    del v
    gc.collect()
    assert native() is not None  # steps still holds it
    del steps
    gc.collect()
    assert native() is None

    # close() keeps the views valid too
    t = polca.Trajectories.create(ctx, model, data, s, basis, curvature="secant",
                                  first_order=0)
    v = t.polca
    with t:
        pass
    assert t.closed
    expect_raises(ValueError, t.view)
    assert np.isfinite(v).all() and v.shape == (4, 40, 5)


@test
def trajectories_files_and_errors():
    ctx = polca.Context(backend="cpu")
    model, data, ref = mlp_setup(ctx)
    s, thetas = series_of(ctx, model, 4)
    basis = polca.Basis.random(ctx, 15, 2, seed=1)
    t = polca.Trajectories.create(ctx, model, data, s, basis, curvature="none")
    path = os.path.join(TMP, "traj.polca")
    t.save(path)
    back = polca.Trajectories.load(ctx, path)
    assert back.available == t.available
    assert np.array_equal(back.polca, t.polca) and np.array_equal(back.steps, t.steps)
    t.export_npy("first_order", os.path.join(TMP, "fo.npy"))
    assert np.array_equal(np.load(os.path.join(TMP, "fo.npy")), t.first_order)
    expect_error(polca.ERR_STATE, t.view, "fisher", mentions="fisher")
    expect_error(polca.ERR_STATE, lambda: t.lca)
    expect_raises(ValueError, t.view, "fishr")
    expect_error(polca.ERR_INVALID_ARGUMENT, t.view, 17)
    expect_error(polca.ERR_INVALID_ARGUMENT, t.decreasing, "polca", 2)
    expect_error(polca.ERR_UNKNOWN_OPTION, polca.Trajectories.create, ctx, model, data, s, basis,
                 curvatur="none")
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Trajectories.create, ctx, model, data, s,
                 polca.Basis.random(ctx, 14, 2))
    one = polca.Checkpoints.create(ctx, model)
    one.append(0, thetas[0])
    expect_error(polca.ERR_INVALID_ARGUMENT, polca.Trajectories.create, ctx, model, data, one,
                 basis)
    expect_error(polca.ERR_CORRUPT, polca.Trajectories.load, ctx,
                 os.path.join(TMP, "junk.polca"))
    other = polca.Context(backend="cpu")
    expect_error(polca.ERR_WRONG_CONTEXT, polca.Trajectories.create, ctx, model, data, s,
                 polca.Basis.random(other, 15, 2))


# ==== lifetimes ================================================================

@test
def handles_close_in_any_order():
    natives = []

    def build():
        ctx = polca.Context(backend="cpu")
        model, data, ref = mlp_setup(ctx)
        s, _ = series_of(ctx, model, 3)
        b = polca.Basis.random(ctx, 15, 2)
        t = polca.Trajectories.create(ctx, model, data, s, b)
        hs = [ctx, model, data, s, b, t]
        natives.extend(weakref.ref(h._native) for h in hs)
        return hs, t.polca

    # the context closed first: its children still work, then everything goes
    (ctx, model, data, s, b, t), v = build()
    ctx.close()
    assert model.losses(data, model.init(0)).shape == (40,)
    assert t.polca.shape == (2, 40, 3)
    expect_raises(ValueError, polca.Basis.random, ctx, 15, 2)  # no new handles from it
    for h in (t, b, s, data, model):
        h.close()
    del v, ctx, model, data, s, b, t
    gc.collect()
    assert all(n() is None for n in natives), "a handle outlived every reference"

    # every order of closing, with `with` blocks and del
    rng = np.random.default_rng(0)
    for trial in range(5):
        natives.clear()
        hs, v = build()
        for i in rng.permutation(len(hs)):
            hs[i].close()
        del v
        hs = None
        gc.collect()
        assert all(n() is None for n in natives)

    # a reference cycle through a host model's callback and the context:
    # collected as a whole, children are destroyed before the context
    natives.clear()
    ctx = polca.Context(backend="cpu")
    holder = {}
    m = polca.Model.host(ctx, 3, 2, loss=lambda th, s: holder["m"].n_params * 0 + np.zeros(len(s)),
                         grad=lambda th, s: (0.0, np.zeros(3)))
    holder["m"] = m
    holder["ctx"] = ctx
    natives += [weakref.ref(ctx._native), weakref.ref(m._native)]
    assert np.array_equal(m.losses(polca.Data.indices(ctx, 2), np.zeros(3)), [0, 0])
    del ctx, m, holder
    gc.collect()
    assert all(n() is None for n in natives)



# ==== Python inputs (issue 17, item 4) ============================================

@test
def numpy_integer_scalars_are_accepted_wherever_ints_are():
    """np.int32/np.int64/np.uint8/... scalars (what indexing an integer array
    or a numpy sum gives) work wherever a Python int does, with the same
    results; bools and floats are refused where an integer count, index or
    step is expected (an option may still be a flag)."""
    ctx = polca.Context(backend="cpu", threads=np.int64(1))
    assert ctx.backend == "cpu"
    polca.Options(a=np.int32(3), b=np.uint8(1), c=np.float32(0.5), d=np.bool_(True))
    X, y, _ = problem()
    ref = polca.Model.mlp(ctx, n_features=4, n_classes=3, hidden=(5,))
    m = polca.Model.mlp(ctx, n_features=np.int64(4), n_classes=np.uint8(3),
                        hidden=np.array([5], dtype=np.int16))
    assert m.n_params == ref.n_params
    assert np.array_equal(m.init(np.uint32(7)), ref.init(7))
    assert m.tensor_info(np.int64(1)) == ref.tensor_info(1)
    data = polca.Data.features(ctx, X, y)
    assert data.sample_at(np.int32(3)) == data.sample_at(3)
    assert len(polca.Data.indices(ctx, np.int64(5))) == 5
    host = polca.Model.host(ctx, np.int64(3), np.int32(4),
                            loss=lambda th, smp: np.zeros(len(smp)),
                            grad=lambda th, smp: (0.0, np.zeros(3)))
    assert host.n_params == 3
    steps = np.array([0, 10, 20], dtype=np.int64)
    series = polca.Checkpoints.create(ctx, m)
    theta = m.init(1)
    for i in range(3):
        series.append(steps[i], theta + np.float32(0.1 * i))
    assert list(series.steps) == [0, 10, 20]
    assert series.step(np.int64(2)) == 20 and series.find_step(np.uint8(10)) == 1
    assert np.array_equal(series.read(np.int32(1)), series[np.int64(1)])
    assert np.array_equal(series[np.int64(-1)], series.read(2))
    series.export_npy(np.int64(0), os.path.join(TMP, "np_index.npy"))
    b = polca.Basis.random(ctx, np.int64(m.n_params), np.int32(2), seed=np.uint16(1))
    b_ref = polca.Basis.random(ctx, m.n_params, 2, seed=1)
    assert np.array_equal(b.vectors(), b_ref.vectors())
    assert np.array_equal(b.vector(np.int64(1)), b_ref.vector(1))
    assert b.info(np.uint8(0))[:3] == b_ref.info(0)[:3]  # eigenvalue: NaN
    assert len(polca.Basis.axis(ctx, theta, np.int64(3))) == 3
    r = polca.eigen_solve(ctx, np.int64(4), np.diag([1.0, 2, 3, 4]), np.int32(1), tol=1e-6)
    close(r.values, [4.0], 1e-5, "eigenvalue")
    t = polca.Trajectories.create(ctx, m, data, series, b)
    assert np.array_equal(t.decreasing(np.int64(polca.POLCA), np.int64(1)),
                          t.decreasing(polca.POLCA, 1))
    assert np.array_equal(t.final_means(np.int32(0)), t.final_means("polca"))
    # refused as before (bool arrays as indices) and now also as scalars,
    # naming the argument; floats are refused rather than truncated
    expect_raises(TypeError, polca.Data.indices, ctx, 5, [True, False])
    e = expect_raises(TypeError, series.append, True, theta)
    assert "step" in str(e) and "bool" in str(e), str(e)
    e = expect_raises(TypeError, series.append, 30.5, theta)
    assert "step" in str(e) and "float" in str(e), str(e)
    expect_raises(TypeError, series.read, np.float64(1.0))
    expect_raises(TypeError, b.vector, np.bool_(True))
    assert len(series) == 3  # nothing appended by the refused calls
    e = expect_raises(ValueError, m.init, -1)
    assert "seed" in str(e), str(e)


@test
def float64_beyond_float32_range_says_so():
    """A finite float64 that float32 cannot hold (|x| > 3.4028235e38) in an
    input the library takes as float32 raises ValueError naming the element
    and saying it is beyond float32's range (not that it is infinite, which
    it is not); genuine infinities are still the library's NOT_FINITE error.
    No numpy overflow warning leaks out."""
    import warnings
    ctx = polca.Context(backend="cpu")
    model, data, _ = mlp_setup(ctx)
    theta = model.init(1).astype(np.float64)
    theta[3] = 1e39
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (lambda: model.losses(data, theta),
                   lambda: polca.Checkpoints.create(ctx, model).append(0, theta)):
            e = expect_raises(ValueError, fn)
            assert "theta[3]" in str(e) and "beyond float32's range" in str(e), str(e)
            assert "infinite" not in str(e), str(e)
        X = np.zeros((6, 2))
        X[4, 1] = -2e40
        e = expect_raises(ValueError, polca.hdbscan, ctx, X, min_cluster_size=2)
        assert "x[4][1]" in str(e) and "beyond float32's range" in str(e), str(e)
        e = expect_raises(ValueError, polca.Data.features, ctx, [[1.0, 3.5e38]], [0])
        assert "features[0][1]" in str(e) and "beyond float32's range" in str(e), str(e)
        # a host model's result beyond float32: the call fails and says why
        host = polca.Model.host(ctx, 3, 4, loss=lambda th, smp: np.full(len(smp), 1e39),
                                grad=lambda th, smp: (0.0, np.zeros(3)))
        e = expect_error(polca.ERR_BACKEND, host.losses, polca.Data.indices(ctx, 4),
                         np.zeros(3))
        assert isinstance(e.__cause__, ValueError), repr(e.__cause__)
        assert "beyond float32's range" in str(e.__cause__), str(e.__cause__)
    # float32's own largest value passes; a real infinity is the library's to name
    ok = model.init(1).astype(np.float64)
    ok[3] = float(np.finfo(np.float32).max)
    polca.Checkpoints.create(ctx, model).append(0, ok)
    theta[3] = np.inf
    expect_error(polca.ERR_NOT_FINITE, polca.Checkpoints.create(ctx, model).append, 0, theta)


if __name__ == "__main__":
    run()
