"""The Taylor-mode pass (bindings/python/polca/_taylor.py) on the models
researchers use: tiny random Hugging Face GPT2LMHeadModel,
GPTNeoXForCausalLM (Pythia) and LlamaForCausalLM (rotary embeddings,
grouped-query attention), eager and sdpa attention, float32 and float64,
with and without a padding mask. Each must take the fast path
(TorchModel._taylor True, no fallback warning) and give g and c equal to an
independent reference: torch's own nested jvp (torch.func) of the same
losses on a float64 copy, with the fused norms written out (pytorch#196700)
and sdpa on its math backend (the CPU flash kernel has no forward AD).
That reference agrees with float64 central differences along d to ~1e-6
(checked by hand: step 1e-3 / |d|, with the models' internal float32 casts
made float64).

Tolerance, relative to the largest |reference|: 1e-4 for float32 models
(float32 rounding over two layers, measured <= 2.4e-6), 1e-5 for float64
models (HF computes RMSNorm, and eager softmax, in float32 even in a
float64 model: measured <= 4.4e-7). A wrong rule (a missing term, a head
repeated in the wrong order, a dropped derivative) gives errors of order 1.

Also, with torch alone: in-place ops on a Jet raise NoRule (they would
overwrite the value without its derivatives), casts carry the derivatives
into float dtypes and give the plain value in integer ones, isneginf /
isposinf give plain masks, sdpa with GQA and fully masked rows matches
torch's nested jvp.

Skips when torch (or, for the model tests, transformers) is missing; the
system python's torch 1.13 has no transformers."""
import contextlib
import io
import warnings

from pyharness import Skip, test, run, skip_if_sanitized, expect_raises

skip_if_sanitized()

import numpy as np  # noqa: E402

with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        import torch
        import torch.nn.functional as F
        import polca
        from polca.torch_model import TorchModel, _WrittenOutNorms
        from polca._taylor import NoRule, taylor_gc
        torch.zeros(1, dtype=torch.float64).sum()
        TORCH_MISSING = None
    except ImportError as e:
        torch = None
        TORCH_MISSING = str(e)
    try:
        import transformers
        transformers.logging.set_verbosity_error()
        TRANSFORMERS_MISSING = None
    except ImportError as e:
        transformers = None
        TRANSFORMERS_MISSING = str(e)

try:
    from torch.func import jvp as _jvp
except ImportError:
    _jvp = None
try:
    from torch.nn.attention import sdpa_kernel as _sdpa_kernel, SDPBackend as _SDPBackend
except ImportError:
    _sdpa_kernel = None


def need_torch():
    if torch is None:
        raise Skip(f"PyTorch is not installed ({TORCH_MISSING})")


def need_hf():
    need_torch()
    if transformers is None:
        raise Skip(f"transformers is not installed ({TRANSFORMERS_MISSING})")
    if _jvp is None or _sdpa_kernel is None:
        raise Skip("torch too old for the reference (torch.func, torch.nn.attention)")


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b)), "not finite"
    return float(np.max(np.abs(a - b)) / max(1e-12, float(np.max(np.abs(b)))))


def nested_jvp(f, x, d):
    """(g, c) of f along d by torch.func's nested jvp (the reference)."""
    return _jvp(lambda t: _jvp(f, (t,), (d,))[1], (x,), (d,))


# ---- torch alone ----

@test
def inplace_on_a_jet_raises_norule():
    need_torch()
    x = torch.randn(5, dtype=torch.float64)
    d = torch.randn(5, dtype=torch.float64)
    plain = torch.zeros(5, dtype=torch.float64)

    def setitem(t):
        t[0] = 1.0
        return t

    cases = {
        "silu inplace": lambda t: F.silu(t, inplace=True),
        "relu inplace (positional)": lambda t: F.relu(t, True),
        "add_": lambda t: t.add_(1.0),
        "mul_": lambda t: t.mul_(2.0),
        "masked_fill_": lambda t: t.masked_fill_(t.detach() > 0, 0.0),
        "setitem": setitem,
        "copy_ into a plain tensor": lambda t: plain.copy_(t),
        "add_ of a Jet into a plain tensor": lambda t: plain.clone().add_(t),
    }
    for what, f in cases.items():
        expect_raises(NoRule, taylor_gc, f, x.clone(), d)
        assert torch.equal(plain, torch.zeros(5, dtype=torch.float64)), what
    # inplace=False (nn.SiLU's default flag, passed by keyword) is the plain op:
    # silu(x) = x s(x), s' = s(1-s): silu' = s + x s', silu'' = s'(2 + x(1 - 2s))
    for f in (lambda t: F.silu(t, inplace=False), lambda t: F.relu(t, False) * t):
        g, c = taylor_gc(f, x, d)
        gr, cr = nested_jvp(f, x, d) if _jvp is not None else (None, None)
        if gr is not None:
            assert rel_err(g, gr) < 1e-12 and rel_err(c, cr) < 1e-12
    s = torch.sigmoid(x)
    ds = s * (1 - s)
    g, c = taylor_gc(lambda t: F.silu(t, inplace=False), x, d)
    assert rel_err(g, (s + x * ds) * d) < 1e-12
    assert rel_err(c, ds * (2 + x * (1 - 2 * s)) * d * d) < 1e-12


@test
def casts_and_infinity_tests():
    need_torch()
    x = torch.tensor([0.3, -1.2, 2.5], dtype=torch.float64)
    d = torch.tensor([1.0, 0.5, -2.0], dtype=torch.float64)
    ref = torch.zeros(1, dtype=torch.float32)

    # f = (x^3 as float32, back to float64) + floor(x) as float
    def f(t):
        y = (t ** 3).type(torch.float32).type_as(t) + t.to(torch.long).to(t.dtype)
        assert isinstance(t.type(), str)
        return y + t.float().type(ref.type()).double() + t.to(dtype=torch.float32).to(t)
    g, c = taylor_gc(f, x, d)
    assert g.dtype == torch.float64
    # d/dt: 3x^2 d + d + d; d2/dt2: 6 x d^2
    assert rel_err(g, 3 * x * x * d + 2 * d) < 1e-6
    assert rel_err(c, 6 * x * d * d) < 1e-6
    # an integer cast carries no derivatives: the plain value comes back
    g, c = taylor_gc(lambda t: t.to(torch.long).to(t.dtype) * 1.0, x, d)
    assert float(g.abs().max()) == 0.0 and float(c.abs().max()) == 0.0
    # isneginf / isposinf (TransformerLens 4's attention masking) are
    # comparisons: a plain bool tensor of the value
    keep = torch.tensor([True, False, True])

    def masked_square(t):
        s = t.masked_fill(~keep, float("-inf")) * torch.tensor([1.0, 1.0, -1.0],
                                                               dtype=t.dtype)
        hidden = torch.isneginf(s) | torch.isposinf(s)
        assert not hidden.requires_grad and type(hidden) is torch.Tensor
        return torch.where(hidden, torch.zeros_like(t), t * t)
    g, c = taylor_gc(masked_square, x, d)
    assert rel_err(g, torch.where(keep, 2 * x * d, torch.zeros_like(x))) < 1e-15
    assert rel_err(c, torch.where(keep, 2 * d * d, torch.zeros_like(x))) < 1e-15


@test
def sdpa_with_gqa_and_a_query_that_sees_no_key():
    need_torch()
    if _jvp is None or _sdpa_kernel is None:
        raise Skip("torch too old (torch.func, torch.nn.attention)")
    sdpa = F.scaled_dot_product_attention
    torch.manual_seed(0)
    q0 = torch.randn(2, 4, 5, 3, dtype=torch.float64)
    k = torch.randn(2, 2, 5, 3, dtype=torch.float64)
    v = torch.randn(2, 2, 5, 3, dtype=torch.float64)
    dq = torch.randn_like(q0)
    mask = torch.ones(5, 5, dtype=torch.bool).tril()
    mask[0] = False  # query 0 sees no key: torch gives 0 there, not NaN
    fmask = torch.zeros(5, 5, dtype=torch.float64).masked_fill(~mask, float("-inf"))
    for m in (mask, fmask):
        # q and k, v all move along the line: k = k0 + t q[:, ::2]-shaped tangent
        def f(q):
            kk = k + 0.5 * q[:, ::2]
            vv = v * (1 + q[:, 1::2])
            return sdpa(q, kk, vv, attn_mask=m, enable_gqa=True)
        g, c = taylor_gc(f, q0, dq)
        with _sdpa_kernel(_SDPBackend.MATH):
            gr, cr = nested_jvp(f, q0, dq)
        assert rel_err(g, gr) < 1e-12 and rel_err(c, cr) < 1e-12
        assert float(g[:, :, 0].abs().max()) == 0.0


# ---- Hugging Face models ----

VOCAB, SEQ = 11, 7


def build(kind, attn, dtype):
    T = transformers
    torch.manual_seed(0)
    if kind == "gpt2":
        cfg = T.GPT2Config(vocab_size=VOCAB, n_positions=16, n_embd=8, n_layer=2, n_head=2,
                           resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                           bos_token_id=0, eos_token_id=0)
        cls = T.GPT2LMHeadModel
    elif kind == "neox":  # Pythia: parallel residual, partial rotary, GELU
        cfg = T.GPTNeoXConfig(vocab_size=VOCAB, hidden_size=8, num_hidden_layers=2,
                              num_attention_heads=2, intermediate_size=12,
                              max_position_embeddings=16, rotary_pct=0.5,
                              hidden_dropout=0.0, attention_dropout=0.0,
                              bos_token_id=0, eos_token_id=0)
        cls = T.GPTNeoXForCausalLM
    else:  # Llama: RMSNorm, rotary, SwiGLU (nn.SiLU), 2 query heads per key/value head
        cfg = T.LlamaConfig(vocab_size=VOCAB, hidden_size=8, num_hidden_layers=2,
                            num_attention_heads=2, num_key_value_heads=1,
                            intermediate_size=12, max_position_embeddings=16,
                            bos_token_id=0, eos_token_id=0)
        cls = T.LlamaForCausalLM
    cfg._attn_implementation = attn
    model = cls(cfg).to(dtype).eval()
    with torch.no_grad():  # norms' weights and biases away from 1 and 0
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def token_losses(tokens, mask, attention_mask):
    """Next-token cross entropy per scored position (row-major), as
    test_python_torch.token_losses, through a Hugging Face causal LM."""
    tok = torch.tensor(tokens.tolist(), dtype=torch.long)
    seq, pos = np.nonzero(mask)
    seq_t = torch.tensor(seq.tolist(), dtype=torch.long)
    pos_t = torch.tensor(pos.tolist(), dtype=torch.long)

    def losses(module, samples):
        out = module(tok, attention_mask=attention_mask)
        logits = out if torch.is_tensor(out) else out.logits  # a TL4 bridge: the logits
        logp = torch.log_softmax(logits, dim=-1)
        s, p = seq_t[samples], pos_t[samples]
        return -logp[s, p, tok[s, p + 1]]
    return losses


def data(padding):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCAB, (3, SEQ))
    mask = rng.random(tokens.shape) < 0.7
    mask[:, -1] = False
    mask[0, 0] = True
    am = None
    if padding == "hole":  # one padded position inside a row
        am = torch.ones(3, SEQ, dtype=torch.long)
        am[1, 3] = 0
        mask[1, 3] = False
    elif padding == "left":  # left padding: queries that see no key at all
        am = torch.ones(3, SEQ, dtype=torch.long)
        am[2, :2] = 0
        mask[2, :2] = False
    return tokens, mask, am


def check_model(kind, attn, dtype, padding=None):
    ctx = polca.Context(backend="cpu")
    tokens, mask, am = data(padding)
    fn = token_losses(tokens, mask, am)
    n = int(mask.sum())
    tm = TorchModel(ctx, build(kind, attn, dtype), fn, n)
    theta = tm.flatten()
    samples = np.arange(n, dtype=np.int64)
    dirs = np.random.default_rng(1).standard_normal((2, tm.n_params)).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g, c = tm._forward_gc(theta, samples, dirs, True)
    what = f"{kind} {attn} {dtype} padding={padding}"
    fallback = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert tm._taylor is True and not fallback, f"{what}: no fast path: {fallback}"

    tm64 = TorchModel(ctx, build(kind, attn, torch.float64), fn, n, dtype=torch.float64)
    x = torch.tensor(theta.tolist(), dtype=torch.float64)
    s = torch.tensor(samples.tolist(), dtype=torch.long)
    gr, cr = [], []
    with _WrittenOutNorms(), _sdpa_kernel(_SDPBackend.MATH):
        for j in range(dirs.shape[0]):
            dj = torch.tensor(dirs[j].tolist(), dtype=torch.float64)
            a, b = nested_jvp(lambda t: tm64._f(t, s), x, dj)
            gr.append(a.detach().numpy())
            cr.append(b.detach().numpy())
    tol = 1e-4 if dtype == torch.float32 else 1e-5
    eg, ec = rel_err(g, np.array(gr)), rel_err(c, np.array(cr))
    assert eg <= tol and ec <= tol, f"{what}: relative error g {eg:.2g}, c {ec:.2g} > {tol}"


def check_all(kind):
    need_hf()
    for attn in ("eager", "sdpa"):
        for dtype in (torch.float32, torch.float64):
            check_model(kind, attn, dtype)
        check_model(kind, attn, torch.float32, padding="hole")
    # left padding: torch's sdpa gives 0 for a query that sees no key (HF's
    # eager attention gives NaN there in float64: its own softmax in float32)
    check_model(kind, "sdpa", torch.float32, padding="left")


@test
def gpt2_takes_the_fast_path():
    check_all("gpt2")  # eager: attn_weights.type(value.dtype); Conv1D's addmm


@test
def pythia_neox_takes_the_fast_path():
    check_all("neox")  # partial rotary: slicing, cat, neg; parallel residual


@test
def llama_takes_the_fast_path():
    check_all("llama")  # nn.SiLU passes inplace=False; sdpa passes enable_gqa=True


@test
def transformerlens4_bridges_take_the_fast_path_with_their_tied_weights():
    """A TransformerLens 4 TransformerBridge over GPT-2 (tied unembedding,
    q/k/v views of a fused qkv; its named_parameters() are the HF model's)
    and over GPT-NeoX (its norm hooks run under torch.no_grad): the Taylor
    pass runs, g and c equal nested jvp's, and the gradient equals plain
    autograd on the bridge (the tied unembedding's part included)."""
    need_hf()
    try:
        from transformer_lens.model_bridge import TransformerBridge
    except ImportError as e:
        raise Skip(f"TransformerLens 4 is not installed ({e})")
    import tempfile
    ctx = polca.Context(backend="cpu")
    tokens, mask, _ = data(None)
    fn = token_losses(tokens, mask, None)
    n = int(mask.sum())
    for kind in ("gpt2", "neox"):
        hf = build(kind, "eager", torch.float32)
        with tempfile.TemporaryDirectory() as d, contextlib.redirect_stderr(io.StringIO()):
            hf.save_pretrained(d)
            bridge = TransformerBridge.boot_transformers(d, hf_model=hf, tokenizer=None)
        bridge.eval()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tm = TorchModel(ctx, bridge, fn, n)
            theta = tm.flatten()
            samples = np.arange(n, dtype=np.int64)
            dirs = np.random.default_rng(1).standard_normal((2, tm.n_params)).astype(np.float32)
            g, c = tm._forward_gc(theta, samples, dirs, True)
        fallback = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)
                    and "share memory" not in str(w.message)]
        assert tm._taylor is True and not fallback, f"{kind} bridge: no fast path: {fallback}"
        tm._taylor = False  # the same losses by torch's nested jvp
        gn, cn = tm._forward_gc(theta, samples, dirs, True)
        eg, ec = rel_err(g, gn), rel_err(c, cn)
        assert eg <= 1e-4 and ec <= 1e-4, f"{kind} bridge: g {eg:.2g}, c {ec:.2g} vs nested jvp"
        _, grad = tm.model.grad(polca.Data.indices(ctx, n), theta)
        bridge.zero_grad()
        fn(bridge, torch.arange(n)).mean().backward()
        params = dict(bridge.named_parameters())
        want = np.concatenate([np.zeros(params[k].numel(), np.float32) if params[k].grad is None
                               else params[k].grad.reshape(-1).numpy() for k in tm.names])
        eg = rel_err(grad, want)
        assert eg <= 1e-5, f"{kind} bridge: gradient {eg:.2g} from plain autograd"


if __name__ == "__main__":
    run()
