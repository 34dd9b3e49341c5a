"""Samples and models (polca/model.h)."""
import collections
import ctypes
import json
import math
import numbers
import re
import struct

import numpy as np

from ._arrays import UINT64_MAX, as_c, as_int, c_view, f32, index_array, ptr
from ._native import lib, declare, call, stash, Native, _i32, _i64, _u64, _f64, _p, _s
from .core import Handle, new_handle, options_ptr

_pp = ctypes.POINTER(_p)
_ip = ctypes.POINTER(_i64)

declare("polca_data_create_tokens", _i32, _p, _i64, _i64, _p, _p, _pp)
declare("polca_data_create_features", _i32, _p, _i64, _i64, _p, _p, _pp)
declare("polca_data_create_indices", _i32, _p, _i64, _i64, _p, _pp)
declare("polca_data_destroy", None, _p)
declare("polca_data_n_samples", _i32, _p, _ip)
declare("polca_data_n_seq", _i32, _p, _ip)
declare("polca_data_sample_at", _i32, _p, _i64, _ip, _ip)
declare("polca_data_subset_sequences", _i32, _p, _i64, _p, _pp)
declare("polca_data_subset_samples", _i32, _p, _i64, _p, _pp)

declare("polca_model_create_transformer", _i32, _p, _p, _pp)
declare("polca_model_create_mlp", _i32, _p, _p, _pp)
declare("polca_model_create_host", _i32, _p, _i64, _i64, _p, _pp)
declare("polca_model_set_host_layout", _i32, _p, _i64, _p, _p, _p)
declare("polca_model_destroy", None, _p)
declare("polca_model_kind", _i32, _p, ctypes.POINTER(_s))
declare("polca_model_n_params", _i32, _p, _ip)
declare("polca_model_n_tensors", _i32, _p, _ip)
declare("polca_model_tensor_info", _i32, _p, _i64, ctypes.POINTER(_s),
        ctypes.POINTER(_i32), _p, _ip)
declare("polca_model_find_tensor", _i32, _p, _s, _ip)
declare("polca_model_init", _i32, _p, _u64, _p)
declare("polca_model_load_safetensors", _i32, _p, _s, _p)
declare("polca_model_save_safetensors", _i32, _p, _s, _p)
declare("polca_model_create_pretrained", _i32, _p, _s, _p, _pp)
declare("polca_model_source_format", _i32, _p, ctypes.POINTER(_s))
declare("polca_model_describe", _i32, _p, ctypes.POINTER(_s))
declare("polca_model_load_pretrained", _i32, _p, _s, _p)
declare("polca_model_save_pretrained", _i32, _p, _s, _p)
declare("polca_model_losses", _i32, _p, _p, _p, _p)
declare("polca_model_grad", _i32, _p, _p, _p, ctypes.POINTER(_f64), _p)
declare("polca_model_hvp", _i32, _p, _p, _p, _p, _p)
declare("polca_model_dirderivs", _i32, _p, _p, _p, _i64, _p, _p, _p, _p)
for _name in ("loss", "grad", "hvp", "dirderiv", "second_dirderiv"):
    declare(f"polca_model_set_{_name}_callback", _i32, _p, _p, _p)

MAX_DIMS = 4

_LOSS_FN = ctypes.CFUNCTYPE(_i32, _p, _p, _i64, _p, _p)
_GRAD_FN = ctypes.CFUNCTYPE(_i32, _p, _p, _i64, _p, _p, _p)
_HVP_FN = ctypes.CFUNCTYPE(_i32, _p, _p, _i64, _p, _p, _p)
_DIRDERIV_FN = ctypes.CFUNCTYPE(_i32, _p, _p, _i64, _p, _i64, _p, _p)


def _out_i64(fn_name, *args):
    out = _i64()
    call(fn_name, *args, ctypes.byref(out))
    return out.value


# ==== Data ===================================================================

class Data(Handle):
    """The samples a model is evaluated on (copied from host arrays).
    Make one with Data.tokens (transformer), Data.features (MLP) or
    Data.indices (host model)."""

    def __init__(self, native):
        super().__init__(native)

    @classmethod
    def _make(cls, ctx, name, *args):
        return cls(new_handle(name, (ctx.ptr,) + args, lib.polca_data_destroy, ctx.native))

    @classmethod
    def tokens(cls, ctx, tokens, mask=None):
        """tokens [n_seq][n_ctx] integer token ids; mask [n_seq][n_ctx] (bool
        or integers, nonzero = position scored, its target the next token) or
        None (every position but the last). Samples are the scored positions
        in row-major order."""
        t = np.asarray(tokens)
        if t.dtype.kind not in "iu":
            raise TypeError(f"tokens: expected integers, got {t.dtype}")
        if t.ndim != 2:
            raise ValueError(f"tokens: expected [n_seq][n_ctx], got shape {t.shape}")
        if t.size and (t.max() > np.iinfo(np.int32).max or t.min() < np.iinfo(np.int32).min):
            raise ValueError("tokens: a token id does not fit in int32")
        t = as_c(t, np.int32, "tokens")
        m = None
        if mask is not None:
            m = np.asarray(mask)
            if m.shape != t.shape:
                raise ValueError(f"mask: shape {m.shape} differs from the tokens' {t.shape}")
            m = as_c(m != 0, np.uint8, "mask")
        return cls._make(ctx, "polca_data_create_tokens", t.shape[0], t.shape[1], ptr(t), ptr(m))

    @classmethod
    def features(cls, ctx, features, labels):
        """features [n][n_features] floats, labels [n] class indices."""
        x = f32(features, "features", ndim=2)
        y = np.asarray(labels)
        if y.dtype.kind not in "iu":
            raise TypeError(f"labels: expected integers, got {y.dtype}")
        y = as_c(y, np.int32, "labels", ndim=1, shape=(x.shape[0],))
        return cls._make(ctx, "polca_data_create_features", x.shape[0], x.shape[1], ptr(x),
                         ptr(y))

    @classmethod
    def indices(cls, ctx, n_total, indices=None):
        """Sample numbers into a host model's sample set of n_total samples;
        None = all of them in order."""
        n_total = as_int(n_total, "n_total")
        if indices is None:
            return cls._make(ctx, "polca_data_create_indices", n_total, n_total, None)
        i = index_array(indices, "indices")
        return cls._make(ctx, "polca_data_create_indices", n_total, i.shape[0], ptr(i))

    @property
    def n_samples(self):
        return _out_i64("polca_data_n_samples", self.ptr)

    def __len__(self):
        return self.n_samples

    @property
    def n_seq(self):
        return _out_i64("polca_data_n_seq", self.ptr)

    def sample_at(self, sample):
        """(sequence, position) of sample `sample`."""
        seq, pos = _i64(), _i64()
        call("polca_data_sample_at", self.ptr, as_int(sample, "sample"), ctypes.byref(seq),
             ctypes.byref(pos))
        return seq.value, pos.value

    def subset_sequences(self, seq):
        """A new Data of the sequences seq (any order, repeats allowed)."""
        s = index_array(seq, "seq")
        return Data(new_handle("polca_data_subset_sequences", (self.ptr, s.shape[0], ptr(s)),
                               lib.polca_data_destroy, self._native.parent))

    def subset_samples(self, samples):
        """A new Data of the given samples (strictly increasing)."""
        s = index_array(samples, "samples")
        return Data(new_handle("polca_data_subset_samples", (self.ptr, s.shape[0], ptr(s)),
                               lib.polca_data_destroy, self._native.parent))


# ==== Models =================================================================

TensorInfo = collections.namedtuple("TensorInfo", "name shape offset size")
Dirderivs = collections.namedtuple("Dirderivs", "g c losses")

TRANSFORMER_KEYS = ("n_layers", "d_model", "n_heads", "d_head", "d_mlp", "d_vocab", "n_ctx",
                    "act_fn")

# The model config's keys, as in tools/polca/inputs.c (cfg_keys; docs/cli.md
# "Model config"): key -> (kind, option or required value, why refused).
_CFG_KEYS = {
    **{k: ("int", k, None) for k in ("n_layers", "d_model", "n_heads", "d_head", "d_mlp",
                                     "d_vocab", "n_ctx", "n_kv_heads", "rotary_dim")},
    **{k: ("string", k, None) for k in ("act_fn", "norm", "positions")},
    **{k: ("double", k, None) for k in ("norm_eps", "rope_theta")},
    **{k: ("switch", k, None) for k in ("qkv_bias", "out_bias", "mlp_bias", "mlp_gated",
                                        "parallel_residual", "tied_embeddings",
                                        "unembed_bias")},
    # TransformerLens HookedTransformerConfig
    "normalization_type": ("norm", "norm", None),
    "positional_embedding_type": ("pos", "positions", None),
    "eps": ("double", "norm_eps", None),
    "n_key_value_heads": ("int", "n_kv_heads", None),
    "gated_mlp": ("bool", "mlp_gated", None),
    "parallel_attn_mlp": ("bool", "parallel_residual", None),
    "tie_word_embeddings": ("bool", "tied_embeddings", None),
    "rotary_base": ("double", "rope_theta", None),
    "attn_only": ("attn_only", None, None),
    "d_vocab_out": ("vocab_out", None, None),
    "attn_scale": ("attn_scale", None, None),
    "final_rms": ("rms_only", None, "an RMSNorm final norm with another norm in the blocks"),
    "uses_rms_norm": ("rms_only", None, "RMSNorm where normalization_type says otherwise"),
    "use_attn_scale": ("true", None, "attention scores are always scaled by 1/sqrt(d_head)"),
    "rotary_adjacent_pairs": ("false", None, "GPT-J interleaved pairs; the built-in transformer "
                              "rotates halves (GPT-NeoX, Llama)"),
    "use_NTK_by_parts_rope": ("false", None, "rotary frequency scaling is not supported"),
    "use_qk_norm": ("false", None, "query/key norms are not supported"),
    "post_embedding_ln": ("false", None, "a norm after the embedding is not supported"),
    "scale_attn_by_inverse_layer_idx": ("false", None,
                                        "per-layer attention scaling is not supported"),
    "use_normalization_before_and_after": ("false", None,
                                           "norms after attention and MLP are not supported"),
    "rmsnorm_uses_offset": ("false", None, "RMSNorm weights are used as they are (no 1 + w)"),
    "use_local_attn": ("false", None, "attention is always global"),
    "rope_scaling": ("null", None, "rotary frequency scaling is not supported"),
    "num_experts": ("null", None, "mixture-of-experts MLPs are not supported"),
    "attention_dir": ("str_eq", "causal", "attention is always causal"),
    "attn_scores_soft_cap": ("cap", None, "soft-capping is not supported"),
    "output_logits_soft_cap": ("cap", None, "soft-capping is not supported"),
    **{k: ("ignore", None, None) for k in ("model_name", "NTK_by_parts_low_freq_factor",
                                           "NTK_by_parts_high_freq_factor", "NTK_by_parts_factor",
                                           "NTK_original_ctx_len")},
}
_NORMS = {"LN": "layernorm", "RMS": "rmsnorm"}
_POSITIONS = {"standard": "learned", "rotary": "rotary"}


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _js(v):
    """v as the CLI's messages write JSON values."""
    return "null" if v is None else json.dumps(v) if isinstance(v, (bool, str)) else repr(v)


def transformer_config(cfg):
    """The built-in transformer's options (a dict for Model.transformer) from
    a model config: a dict of options of Model.transformer and/or
    TransformerLens HookedTransformerConfig fields, or a
    HookedTransformerConfig itself (any object: its attributes of those
    names are read). The mapping is the CLI's model config (docs/cli.md
    "Model config"): normalization_type "LN"/"RMS" -> norm,
    positional_embedding_type "standard"/"rotary" -> positions, eps ->
    norm_eps, n_key_value_heads -> n_kv_heads, gated_mlp -> mlp_gated,
    parallel_attn_mlp -> parallel_residual, rotary_base -> rope_theta, ...
    Raises ValueError naming the key for a dict key it does not know and for
    a value that changes the math from what the built-in model computes
    (normalization_type None or "LNPre", alibi, rotary_adjacent_pairs, ...).
    A TransformerLens 4 TransformerBridgeConfig is refused: the bridge keeps
    its source model's weights (tied embeddings, which biases), which its
    config does not describe; Model.from_pretrained reads them from a
    checkpoint."""
    if (cfg if isinstance(cfg, type) else type(cfg)).__name__ == "TransformerBridgeConfig":
        raise ValueError("a TransformerLens 4 TransformerBridgeConfig does not say which biases "
                         "and tied weights the bridged model has; read the config from one of "
                         "its checkpoints instead: polca.Model.from_pretrained(ctx, path) (the "
                         "CLI: the checkpoint itself as --config; docs/models.md)")
    if isinstance(cfg, dict):
        for key in cfg:
            if key not in _CFG_KEYS:
                raise ValueError(f"unknown key {key!r} (the keys are the options of the built-in "
                                 "transformer and TransformerLens HookedTransformerConfig fields; "
                                 "docs/cli.md \"Model config\")")
        items = list(cfg.items())
    else:
        missing = object()
        items = [(k, getattr(cfg, k, missing)) for k in _CFG_KEYS]
        items = [(k, v) for k, v in items if v is not missing]
    out, set_by = {}, {}
    norm = positions = rms_only = attn_scale = None
    rotary_dim_null = attn_only = False
    for key, v in items:
        kind, opt, why = _CFG_KEYS[key]
        if opt is not None and kind != "str_eq":
            if opt in set_by:
                raise ValueError(f"{set_by[opt]!r} and {key!r} both set {opt}")
            set_by[opt] = key
        if kind == "int":
            if v is None:
                rotary_dim_null |= opt == "rotary_dim"
                continue
            if not _is_int(v):
                raise ValueError(f"{key!r} must be an integer or None, not {v!r}")
            out[opt] = int(v)
        elif kind == "switch":
            if not (isinstance(v, bool) or (_is_int(v) and v in (0, 1))):
                raise ValueError(f"{key!r} must be True, False, 0 or 1, not {v!r}")
            out[opt] = int(v)
        elif kind == "bool":
            if not isinstance(v, bool):
                raise ValueError(f"{key!r} must be True or False, not {v!r}")
            out[opt] = int(v)
        elif kind == "double":
            if not _is_num(v):
                raise ValueError(f"{key!r} must be a number, not {v!r}")
            out[opt] = float(v)
        elif kind == "string":
            if not isinstance(v, str):
                raise ValueError(f"{key!r} must be a string, not {v!r}")
            out[opt] = v
            norm = v if opt == "norm" else norm
            positions = v if opt == "positions" else positions
        elif kind in ("norm", "pos"):
            table = _NORMS if kind == "norm" else _POSITIONS
            if isinstance(v, str) and v in table:
                out[opt] = table[v]
                if kind == "norm":
                    norm = table[v]
                else:
                    positions = table[v]
                continue
            if kind == "pos":
                msg = 'not supported ("standard" or "rotary")'
            elif v is None:
                msg = 'no normalization is not supported ("LN" or "RMS")'
            elif isinstance(v, str) and "Pre" in v:
                msg = 'norms without weights (folded) are not supported ("LN" or "RMS")'
            else:
                msg = 'not supported ("LN" or "RMS")'
            raise ValueError(f"{key!r}: {_js(v)}: {msg}")
        elif kind in ("true", "false"):
            if not isinstance(v, bool):
                raise ValueError(f"{key!r} must be True or False, not {v!r}")
            if v != (kind == "true"):
                raise ValueError(f"{key!r}: {_js(v)}: {why}")
        elif kind == "null":
            if v is not None:
                raise ValueError(f"{key!r} is not None: {why}")
        elif kind == "str_eq":
            if v != opt:
                raise ValueError(f"{key!r} is not {opt!r}: {why}")
        elif kind == "cap":
            if not _is_num(v):
                raise ValueError(f"{key!r} must be a number, not {v!r}")
            if v > 0:
                raise ValueError(f"{key!r}: {v}: {why}")
        elif kind == "rms_only":
            if not isinstance(v, bool):
                raise ValueError(f"{key!r} must be True or False, not {v!r}")
            if v:
                rms_only = (key, why)
        elif kind == "attn_only":
            if not isinstance(v, bool):
                raise ValueError(f"'attn_only' must be True or False, not {v!r}")
            attn_only = v
        elif kind == "vocab_out":
            if not _is_int(v):
                raise ValueError(f"'d_vocab_out' must be an integer, not {v!r}")
        elif kind == "attn_scale":
            if not _is_num(v):
                raise ValueError(f"'attn_scale' must be a number, not {v!r}")
            attn_scale = float(v)
    # the checks that need several keys
    values = dict(items)
    d_out = values.get("d_vocab_out")
    if d_out is not None and d_out != -1 and d_out != values.get("d_vocab"):
        raise ValueError(f"'d_vocab_out' {d_out} differs from 'd_vocab': not supported by "
                         "the built-in transformer")
    norm, positions = norm or "layernorm", positions or "learned"
    if rms_only and norm != "rmsnorm":
        raise ValueError(f"{rms_only[0]!r}: true: {rms_only[1]} (the norm is {norm!r}): the "
                         "built-in transformer uses one norm throughout")
    if rotary_dim_null and positions == "rotary":
        raise ValueError("'rotary_dim': None with rotary positions: give the rotated dims of "
                         "each head")
    if attn_scale is not None and attn_scale != -1.0:
        d_model, n_heads = out.get("d_model", 0), out.get("n_heads", 0)
        d_head = out.get("d_head", d_model // n_heads if n_heads > 0 else 0)
        want = math.sqrt(d_head)
        if d_head <= 0 or abs(attn_scale - want) > 1e-6 * want:
            raise ValueError(f"'attn_scale': {attn_scale:g}: the built-in transformer divides "
                             f"attention scores by sqrt(d_head) = {want:g}")
    if attn_only:  # TransformerLens builds no MLP whatever d_mlp says
        out["d_mlp"] = 0
    return out


def read_safetensors_header(path):
    """(tensors, metadata) of a safetensors file: tensors maps each name to
    {"dtype", "shape", "data_offsets"}; metadata is the "__metadata__" dict
    (or {})."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: not a safetensors file (too short)")
        (n,) = struct.unpack("<Q", head)
        if n > 100 << 20:
            raise ValueError(f"{path}: not a safetensors file (header of {n} bytes)")
        text = f.read(n)
    try:
        header = json.loads(text)
    except ValueError as e:
        raise ValueError(f"{path}: not a safetensors file ({e})") from None
    meta = header.pop("__metadata__", None) or {}
    return header, meta


def transformer_config_from_safetensors(path, act_fn=None):
    """The built-in transformer's options inferred from the tensor shapes of
    a TransformerLens state_dict saved as safetensors. act_fn is not visible
    in the shapes: pass it, or store it in the file's metadata ("act_fn")."""
    tensors, meta = read_safetensors_header(path)

    def shape(name):
        if name not in tensors:
            raise ValueError(f"{path}: no tensor {name!r} (not a TransformerLens state_dict?)")
        return tensors[name]["shape"]

    d_vocab, d_model = shape("embed.W_E")
    n_ctx = shape("pos_embed.W_pos")[0]
    layers = {int(m.group(1)) for k in tensors for m in [re.match(r"blocks\.(\d+)\.", k)] if m}
    if not layers:
        raise ValueError(f"{path}: no blocks.<l>.* tensors")
    n_heads, _, d_head = shape("blocks.0.attn.W_Q")
    d_mlp = tensors["blocks.0.mlp.W_in"]["shape"][1] if "blocks.0.mlp.W_in" in tensors else 0
    act = act_fn or meta.get("act_fn")
    if act is None:
        raise ValueError(f"{path}: act_fn cannot be inferred from the tensors; pass act_fn= "
                         "('gelu', 'gelu_new' or 'relu')")
    return dict(n_layers=max(layers) + 1, d_model=d_model, n_heads=n_heads, d_head=d_head,
                d_mlp=d_mlp, d_vocab=d_vocab, n_ctx=n_ctx, act_fn=act)


class Model(Handle):
    """A model: the built-in transformer (Model.transformer), the built-in
    MLP (Model.mlp), or a host model made of Python functions (Model.host).
    Parameters are flat float32 vectors theta[n_params]."""

    @classmethod
    def _make(cls, ctx, name, *args):
        return cls(new_handle(name, (ctx.ptr,) + args, lib.polca_model_destroy, ctx.native))

    @classmethod
    def transformer(cls, ctx, config=None, **options):
        """Built-in HookedTransformer-compatible transformer. Options (or a
        config dict, e.g. from transformer_config): n_layers, d_model,
        n_heads, d_vocab, n_ctx (required), d_head, d_mlp, act_fn."""
        opts = dict(config or {})
        opts.update(options)
        p, keep = options_ptr(opts)
        return cls._make(ctx, "polca_model_create_transformer", p)

    @classmethod
    def transformer_from_safetensors(cls, ctx, path, act_fn=None, **overrides):
        """(model, theta): a built-in transformer shaped after the tensors of
        a TransformerLens state_dict in a safetensors file, and its
        parameters read from it."""
        cfg = transformer_config_from_safetensors(path, act_fn)
        cfg.update(overrides)
        model = cls.transformer(ctx, cfg)
        return model, model.load_safetensors(path)

    @classmethod
    def from_pretrained(cls, ctx, path, format=None, **overrides):
        """A built-in transformer configured from a checkpoint: a Hugging Face
        save_pretrained directory (config.json, model.safetensors or shards
        with their index), a .safetensors file, or a TransformerLens 2/3/4
        state_dict file (polca_model_create_pretrained). The layout is
        detected from the tensor names unless format names it
        ("transformerlens", "transformerlens4", "gpt2", "gpt_neox", "llama",
        "qwen2"); overrides are options of Model.transformer that replace what
        the checkpoint implies (e.g. n_ctx=512 for a rotary model, n_heads
        where there is no config.json; True/False for the 0/1 switches).
        The parameters are not read: theta = model.load_pretrained(path)."""
        opts = {k: (int(v) if isinstance(v, bool) else v) for k, v in overrides.items()}
        opts["format"] = format
        p, keep = options_ptr(opts)
        return cls._make(ctx, "polca_model_create_pretrained", str(path).encode(), p)

    @property
    def source_format(self):
        """The checkpoint layout this transformer reads and writes: "gpt2",
        "gpt_neox", "llama", "qwen2", "transformerlens", "transformerlens4",
        or "native" (Model.transformer: the built-in names)."""
        out = _s()
        call("polca_model_source_format", self.ptr, ctypes.byref(out))
        return out.value.decode()

    def describe(self):
        """{"format", "path", "config", "options", "notes"}: the layout, the
        checkpoint and config.json it came from, the Model.transformer options
        that make the same model, and which values are defaults rather than
        read (polca_model_describe)."""
        out = _s()
        call("polca_model_describe", self.ptr, ctypes.byref(out))
        return json.loads(out.value.decode())

    @classmethod
    def mlp(cls, ctx, n_features, n_classes, hidden=(), activation=None):
        """Built-in MLP softmax classifier (double precision on the host).
        hidden: widths of the hidden layers; activation "tanh" (default),
        "relu" or "gelu"."""
        hid = hidden if isinstance(hidden, str) else \
            ",".join(str(as_int(h, "hidden")) for h in hidden)
        p, keep = options_ptr(dict(n_features=n_features, n_classes=n_classes, hidden=hid,
                                   activation=activation))
        return cls._make(ctx, "polca_model_create_mlp", p)

    @classmethod
    def host(cls, ctx, n_params, n_samples, loss, grad, hvp=None, dirderiv=None,
             second_dirderiv=None, fd_step=None, fd_step2=None):
        """A model computed by Python functions over a sample set of n_samples
        samples (evaluate it on Data.indices). theta and the other arrays the
        functions receive are read-only views valid only during the call
        (copy what you keep); samples is an int64 array of sample numbers.
          loss(theta, samples)                 -> [n] per-sample losses
          grad(theta, samples)                 -> (mean loss, gradient [P])
          hvp(theta, samples, v)               -> H v [P] (Hessian of the mean)
          dirderiv(theta, samples, dirs[k,P])  -> g [k, n]
          second_dirderiv(theta, samples, dirs) -> c [k, n]
        Missing derivative functions are replaced by libpolca's central
        differences (fd_step, fd_step2: see polca/model.h). An exception in a
        function fails the libpolca call with a PolcaError whose __cause__ it
        is."""
        p, keep = options_ptr(dict(fd_step=fd_step, fd_step2=fd_step2))
        m = cls._make(ctx, "polca_model_create_host", as_int(n_params, "n_params"),
                      as_int(n_samples, "n_samples"), p)
        m.set_callbacks(loss=loss, grad=grad, hvp=hvp, dirderiv=dirderiv,
                        second_dirderiv=second_dirderiv)
        return m

    def set_callbacks(self, **fns):
        """Sets (or, with None, unsets) host-model functions by name: loss,
        grad, hvp, dirderiv, second_dirderiv (see Model.host)."""
        makers = {"loss": _loss_bridge, "grad": _grad_bridge, "hvp": _hvp_bridge,
                  "dirderiv": _dirderiv_bridge, "second_dirderiv": _dirderiv_bridge}
        for name, fn in fns.items():
            if name not in makers:
                raise TypeError(f"unknown host-model callback {name!r}")
            cb = makers[name](fn, self) if fn is not None else None
            call(f"polca_model_set_{name}_callback", self.ptr,
                 ctypes.cast(cb, _p) if cb else None, None)
            self._native.keep[name] = cb

    def set_layout(self, tensors):
        """Host models: names the tensors that make up theta, [(name, shape)]
        back to back in that order (the default is one tensor "theta" [P]),
        so that series created from this model carry that layout and a
        series of another layout is refused (POLCA_ERR_LAYOUT_MISMATCH
        naming the first tensor that differs); safetensors files are then
        read by these names (polca_model_set_host_layout). Shapes have at
        most 4 dimensions; the sizes must add up to n_params."""
        tensors = [(str(n), tuple(as_int(d, "shape") for d in shape)) for n, shape in tensors]
        n = len(tensors)
        names = (ctypes.c_char_p * max(n, 1))(*[t[0].encode() for t in tensors])
        ndims = (_i32 * max(n, 1))(*[len(t[1]) for t in tensors])
        shapes = (_i64 * (max(n, 1) * MAX_DIMS))()
        for i, (_, shape) in enumerate(tensors):
            if len(shape) > MAX_DIMS:
                raise ValueError(f"tensor {tensors[i][0]!r}: {len(shape)} dimensions "
                                 f"(at most {MAX_DIMS})")
            for d, x in enumerate(shape):
                shapes[i * MAX_DIMS + d] = x
        call("polca_model_set_host_layout", self.ptr, n, ctypes.addressof(names),
             ctypes.addressof(ndims), ctypes.addressof(shapes))

    # ---- layout ----
    @property
    def kind(self):
        out = _s()
        call("polca_model_kind", self.ptr, ctypes.byref(out))
        return out.value.decode()

    @property
    def n_params(self):
        p = self.ptr  # raises when closed
        n = self._native.keep.get("n_params")
        if n is None:
            n = self._native.keep["n_params"] = _out_i64("polca_model_n_params", p)
        return n

    @property
    def n_tensors(self):
        return _out_i64("polca_model_n_tensors", self.ptr)

    def tensor_info(self, index):
        name, ndim, off = _s(), _i32(), _i64()
        shape = (_i64 * MAX_DIMS)()
        call("polca_model_tensor_info", self.ptr, as_int(index, "index"), ctypes.byref(name),
             ctypes.byref(ndim), ctypes.addressof(shape), ctypes.byref(off))
        shp = tuple(shape[:ndim.value])
        return TensorInfo(name.value.decode(), shp, off.value, int(np.prod(shp, dtype=np.int64)))

    @property
    def tensors(self):
        """[TensorInfo(name, shape, offset, size)] in offset order."""
        return [self.tensor_info(i) for i in range(self.n_tensors)]

    def find_tensor(self, name):
        return _out_i64("polca_model_find_tensor", self.ptr, name.encode())

    def unflatten(self, theta):
        """{name: view of theta reshaped to the tensor's shape}."""
        theta = np.asarray(theta)
        return {t.name: theta[t.offset:t.offset + t.size].reshape(t.shape) for t in self.tensors}

    def flatten(self, tensors):
        """theta[P] float32 from {name: array} holding every tensor."""
        theta = np.empty(self.n_params, dtype=np.float32)
        for t in self.tensors:
            if t.name not in tensors:
                raise KeyError(f"tensor {t.name!r} missing")
            a = np.asarray(tensors[t.name], dtype=np.float32)
            if a.shape != t.shape:
                raise ValueError(f"tensor {t.name!r}: shape {a.shape}, expected {t.shape}")
            theta[t.offset:t.offset + t.size] = a.ravel()
        return theta

    # ---- parameters ----
    def _theta(self, theta, name="theta"):
        return f32(theta, name, ndim=1, shape=(self.n_params,))

    def init(self, seed=0):
        """Seeded initialization (TransformerLens's scheme for the
        transformer, PyTorch's nn.Linear for the MLP) -> theta[P]."""
        theta = np.empty(self.n_params, dtype=np.float32)
        call("polca_model_init", self.ptr, as_int(seed, "seed", 0, UINT64_MAX), ptr(theta))
        return theta

    def load_safetensors(self, path):
        """theta[P] read from a safetensors file (tensors by name)."""
        theta = np.empty(self.n_params, dtype=np.float32)
        call("polca_model_load_safetensors", self.ptr, str(path).encode(), ptr(theta))
        return theta

    def save_safetensors(self, path, theta):
        t = self._theta(theta)
        call("polca_model_save_safetensors", self.ptr, str(path).encode(), ptr(t))

    def load_pretrained(self, path):
        """theta[P] read from a checkpoint (file or save_pretrained directory;
        its layout detected, else the model's source layout), converted
        exactly to the built-in layout. Also reads a vector written by
        save_pretrained (a direction, a gradient)."""
        theta = np.empty(self.n_params, dtype=np.float32)
        call("polca_model_load_pretrained", self.ptr, str(path).encode(), ptr(theta))
        return theta

    def save_pretrained(self, path, vector):
        """Writes any vector[P] (parameters, a basis direction, a gradient) as
        a safetensors file in the model's source layout (e.g. Hugging Face
        names and shapes; a tied embedding once), atomically. In PyTorch:
        delta = safetensors.torch.load_file(path), a state_dict delta."""
        v = self._theta(vector, "vector")
        call("polca_model_save_pretrained", self.ptr, str(path).encode(), ptr(v))

    # ---- the five quantities ----
    def losses(self, data, theta):
        """Per-sample losses [N]."""
        t = self._theta(theta)
        out = np.empty(data.n_samples, dtype=np.float32)
        call("polca_model_losses", self.ptr, data.ptr, ptr(t), ptr(out))
        return out

    def grad(self, data, theta):
        """(mean loss, gradient [P])."""
        t = self._theta(theta)
        mean = _f64()
        g = np.empty(self.n_params, dtype=np.float32)
        call("polca_model_grad", self.ptr, data.ptr, ptr(t), ctypes.byref(mean), ptr(g))
        return mean.value, g

    def hvp(self, data, theta, v):
        """H v [P], H the Hessian of the mean loss."""
        t = self._theta(theta)
        vv = self._theta(v, "v")
        out = np.empty(self.n_params, dtype=np.float32)
        call("polca_model_hvp", self.ptr, data.ptr, ptr(t), ptr(vv), ptr(out))
        return out

    def dirderivs(self, data, theta, dirs, second=True, losses=False):
        """Directional derivatives of every sample's loss along each row of
        dirs [k][P] (or one direction [P]): Dirderivs(g [k][N], c [k][N] or
        None when second=False, losses [N] or None)."""
        t = self._theta(theta)
        d = f32(dirs, "dirs")
        if d.ndim == 1:
            d = d[None, :]
        if d.ndim != 2 or d.shape[1] != self.n_params:
            raise ValueError(f"dirs: expected [k][{self.n_params}], got shape {np.shape(dirs)}")
        n = data.n_samples
        g = np.empty((d.shape[0], n), dtype=np.float32)
        c = np.empty_like(g) if second else None
        lo = np.empty(n, dtype=np.float32) if losses else None
        call("polca_model_dirderivs", self.ptr, data.ptr, ptr(t), d.shape[0], ptr(d), ptr(lo),
             ptr(g), ptr(c))
        return Dirderivs(g, c, lo)


# ---- host-model trampolines ---------------------------------------------------
# Each returns 0, or 1 after stashing the exception (the libpolca call then
# fails with POLCA_ERR_BACKEND and check() raises from the exception). The
# model is referenced weakly through its n_params only (no cycle).

def _result(value, shape, name):
    a = as_c(value, np.float32, f"host model {name}")
    if a.shape != shape:
        if a.size == int(np.prod(shape)) and a.ndim <= len(shape):
            a = a.reshape(shape)
        else:
            raise ValueError(f"host model {name}: returned shape {a.shape}, expected {shape}")
    return a


def _loss_bridge(fn, model):
    P = model.n_params

    def bridge(user, theta, n, samples, out):
        try:
            th = c_view(theta, P, ctypes.c_float)
            s = c_view(samples, n, ctypes.c_int64)
            c_view(out, n, ctypes.c_float, writable=True)[:] = _result(fn(th, s), (n,), "loss")
            return 0
        except BaseException as e:  # noqa: B036 - must not cross into C
            stash(e)
            return 1
    return _LOSS_FN(bridge)


def _grad_bridge(fn, model):
    P = model.n_params

    def bridge(user, theta, n, samples, mean_out, grad_out):
        try:
            th = c_view(theta, P, ctypes.c_float)
            s = c_view(samples, n, ctypes.c_int64)
            mean, g = fn(th, s)
            c_view(grad_out, P, ctypes.c_float, writable=True)[:] = _result(g, (P,), "grad")
            ctypes.c_double.from_address(mean_out).value = float(mean)
            return 0
        except BaseException as e:  # noqa: B036
            stash(e)
            return 1
    return _GRAD_FN(bridge)


def _hvp_bridge(fn, model):
    P = model.n_params

    def bridge(user, theta, n, samples, v, out):
        try:
            th = c_view(theta, P, ctypes.c_float)
            s = c_view(samples, n, ctypes.c_int64)
            vv = c_view(v, P, ctypes.c_float)
            c_view(out, P, ctypes.c_float, writable=True)[:] = _result(fn(th, s, vv), (P,), "hvp")
            return 0
        except BaseException as e:  # noqa: B036
            stash(e)
            return 1
    return _HVP_FN(bridge)


def _dirderiv_bridge(fn, model):
    P = model.n_params

    def bridge(user, theta, n, samples, k, dirs, out):
        try:
            th = c_view(theta, P, ctypes.c_float)
            s = c_view(samples, n, ctypes.c_int64)
            d = c_view(dirs, k * P, ctypes.c_float, shape=(k, P))
            c_view(out, k * n, ctypes.c_float, shape=(k, n), writable=True)[:] = \
                _result(fn(th, s, d), (k, n), "dirderiv")
            return 0
        except BaseException as e:  # noqa: B036
            stash(e)
            return 1
    return _DIRDERIV_FN(bridge)
