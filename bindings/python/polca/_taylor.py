"""Second-order forward mode ("Taylor mode") for torch functions of theta.

taylor_gc(f, x, d) -> (g, c) with g = d/dt f(x + t d) and c = d^2/dt^2
f(x + t d) at t = 0, per output element, in one forward pass. f sees x as
a Jet: a tensor (the value) that also carries its first and second
derivatives along the line, t1 and t2 (None: zero). Every torch op f calls
on a Jet is evaluated by a rule below on (value, t1, t2).

Why not torch's nested jvp: that carries four streams per tensor (value,
two first-derivative tangents that are equal here, and the mixed one),
and under vmap over directions the derivative factors of each elementwise
op (f'(x), f''(x)) are recomputed per direction. Here they are computed
once from the value, which vmap leaves unbatched when only d is mapped,
and each op costs a few batched multiply-adds per direction.

An op without a rule raises NoRule naming it (the caller then uses nested
jvp); so do any in-place op on a Jet, out=, and a custom
autograd.Function (its own jvp or backward says how it is differentiated).
Inside torch.no_grad the derivatives propagate, as in torch's forward mode.

Rules, for y = op(x) with x(t):
  linear ops (views, indexing, sums, casts):  y_k = op(x_k)
  products B(a, b) (mul, matmul, einsum, ...): y1 = B(a1,b) + B(a,b1),
      y2 = B(a2,b) + 2 B(a1,b1) + B(a,b2)   (n operands likewise)
  elementwise f:  y1 = f'(x) x1,  y2 = f'(x) x2 + f''(x) x1^2
  softmax, log_softmax, logsumexp: their own closed forms (below)
  layer_norm, rms_norm, cross_entropy, scaled_dot_product_attention:
      written out in the ops above.
Comparisons, argmax and the like return plain tensors of the value.
"""
import inspect
import math
import threading

import torch
import torch.nn.functional as F

try:
    from torch.utils._pytree import tree_map
except ImportError:  # pragma: no cover
    tree_map = None


class NoRule(Exception):
    """f used an op that the Taylor-mode pass has no rule for."""


class Jet(torch.Tensor):
    """A tensor (its value) with derivatives t1, t2 along the line (None: 0).
    The value shares storage with the plain tensor self.p, on which the
    rules compute (so that they do not come back here)."""

    @staticmethod
    def __new__(cls, p, t1, t2):
        j = torch.Tensor._make_subclass(cls, p)
        j.p, j.t1, j.t2 = p, t1, t2
        return j

    def __init__(self, p, t1, t2):
        pass

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _name(func)
        rule = _RULES.get(name)
        if rule is None:
            raise NoRule(name)
        if kwargs.get("out") is not None:  # the value and derivatives would share it
            raise NoRule(name + " with out=")
        try:
            return rule(func, args, kwargs)
        except (IndexError, KeyError, ValueError, TypeError, AttributeError) as e:
            # a call form the rule does not read (keyword arguments, ...)
            raise NoRule(f"{name} ({type(e).__name__}: {e})") from e


def _name(func):
    name = getattr(func, "__name__", None) or repr(func)
    if name in ("__get__", "__set__"):  # a property (x.shape, x.T)
        owner = getattr(func, "__self__", None)
        return name[2:5] + ":" + getattr(owner, "__name__", "?")
    return name


def _is_jet(a):
    return isinstance(a, Jet)


def _jet(p, t1, t2):
    """A Jet (derivatives broadcast to the value's shape), or the plain value
    where both derivatives are zero."""
    if t1 is None and t2 is None:
        return p
    return Jet(p, _full(t1, p.shape), _full(t2, p.shape))


def _value(a):
    return a.p if _is_jet(a) else a


def _part(a, k):
    """Component k (0 value, 1, 2) of a Jet; None for a constant's derivative."""
    if _is_jet(a):
        return (a.p, a.t1, a.t2)[k]
    return a if k == 0 else None


def _map(fn, tree):
    if tree_map is not None:
        return tree_map(fn, tree)
    if isinstance(tree, (list, tuple)):
        return type(tree)(_map(fn, t) for t in tree)
    if isinstance(tree, dict):
        return {k: _map(fn, v) for k, v in tree.items()}
    return fn(tree)


def _values(args, kwargs):
    return _map(_value, args), _map(_value, kwargs)


def _any_jet(tree):
    found = []
    _map(lambda a: found.append(a) if _is_jet(a) else None, tree)
    return bool(found)


def _add(a, b):
    return b if a is None else a if b is None else a + b


def _full(t, shape):
    return t if t is None or tuple(t.shape) == tuple(shape) else t.expand(shape)


# ---- metadata, and ops whose result does not change with t ----

def _on_value(func, args, kwargs):
    a, k = _values(args, kwargs)
    return func(*a, **k)


# ---- linear ops: y_k = op(x_k) ----

def _linear_first(zero_kw=(), zero_pos=()):
    """An op linear in its first argument (the others: shapes, indices,
    masks; zero_kw / zero_pos name a fill value, which is 0 for y1, y2)."""
    def rule(func, args, kwargs):
        x, rest = args[0], args[1:]
        if _any_jet(rest) or _any_jet(kwargs):
            raise NoRule(_name(func) + " (a Jet beyond its first argument)")
        y0 = func(_value(x), *rest, **kwargs)
        rest0 = tuple(0 if i + 1 in zero_pos else r for i, r in enumerate(rest))
        kw0 = {k: (0 if k in zero_kw else v) for k, v in kwargs.items()}
        outs = [y0] + [None if _part(x, k) is None else func(_part(x, k), *rest0, **kw0)
                       for k in (1, 2)]
        if isinstance(y0, (tuple, list)):  # split, chunk, unbind
            return type(y0)(_jet(y, None if outs[1] is None else outs[1][i],
                                 None if outs[2] is None else outs[2][i])
                            for i, y in enumerate(y0))
        return _jet(*outs)
    return rule


def _cast(func, args, kwargs):
    """to, type, type_as, float, double, half, bfloat16: linear (each part
    cast alike) into a floating or complex dtype. Into an integer or bool
    dtype the result is piecewise constant: the plain value, whose
    derivatives are 0 (as in torch's forward mode, which gives integer
    tensors no tangent). x.type() with no dtype: its type name. A tensor
    argument (x.to(other), x.type_as(other)) gives only its dtype and
    device: its value is used."""
    x, (rest, kw) = args[0], _values(args[1:], kwargs)
    y0 = func(_value(x), *rest, **kw)
    if not isinstance(y0, torch.Tensor):  # x.type(): a string
        return y0
    if not (y0.is_floating_point() or y0.is_complex()):
        return y0
    return _linear_first()(func, (x,) + tuple(rest), kw)


def _add_sub(sign):
    """a + alpha b (sign 1) or a - alpha b (sign -1); a constant's
    derivatives are 0."""
    def rule(func, args, kwargs):
        a, b = args[0], args[1] if len(args) > 1 else kwargs["other"]
        alpha = sign * kwargs.get("alpha", 1)
        vals, kw = _values(args, kwargs)
        y0 = func(*vals, **kw)
        out = [y0]
        for k in (1, 2):
            ta, tb = _part(a, k), _part(b, k)
            if tb is not None and alpha != 1:
                tb = alpha * tb
            out.append(_add(ta, tb))
        return _jet(*out)
    return rule


def _nan_to_num(func, args, kwargs):
    """The value's non-finite entries replaced (constants there: derivatives
    0); elsewhere the identity."""
    x = args[0]
    if _any_jet(args[1:]) or _any_jet(kwargs):
        raise NoRule("nan_to_num (a Jet beyond its first argument)")
    keep = torch.isfinite(x.p)
    return _jet(func(x.p, *args[1:], **kwargs),
                *(None if t is None else torch.where(keep, t, torch.zeros_like(t))
                  for t in (x.t1, x.t2)))


def _shape_of_other(func, args, kwargs):
    """view_as, reshape_as, expand_as: the other tensor gives only a shape."""
    x, other = args[0], _value(args[1])
    if not _is_jet(x):
        return func(x, other, *args[2:], **kwargs)
    return _linear_first()(func, (x, other) + tuple(args[2:]), kwargs)


def _rsub(func, args, kwargs):  # rsub(x, c) = c - alpha x (also x.__rsub__(c))
    return -kwargs.get("alpha", 1) * args[0] + args[1]


def _concat(func, args, kwargs):
    """cat, stack: linear in the listed tensors jointly (a constant's
    derivatives: zeros)."""
    tensors = args[0]
    y0 = func([_value(t) for t in tensors], *args[1:], **kwargs)
    out = [y0]
    for k in (1, 2):
        parts = [_part(t, k) for t in tensors]
        if all(p is None for p in parts):
            out.append(None)
        else:
            out.append(func([torch.zeros_like(_value(t)) if p is None else p
                             for t, p in zip(tensors, parts)], *args[1:], **kwargs))
    return _jet(*out)


def _zero_for(a):
    return torch.zeros_like(_value(a)) if isinstance(a, torch.Tensor) else 0.0


def _embedding(func, args, kwargs):
    """F.embedding(indices, weight): linear in the weight; max_norm would
    renormalize the weight in place, so it is refused."""
    if kwargs.get("max_norm") is not None or (len(args) > 3 and args[3] is not None):
        raise NoRule("embedding with max_norm (renormalizes the weight in place)")
    return _product(lambda i, w: F.embedding(i, w, *args[2:], **kwargs), args[:2], {})


def _where(func, args, kwargs):
    if func is torch.Tensor.where:  # x.where(cond, other) = where(cond, x, other)
        args = (args[1], args[0]) + tuple(args[2:])
    cond, a, b = (list(args) + [kwargs.get("input"), kwargs.get("other")])[:3]
    if _is_jet(cond):
        raise NoRule("where (a Jet condition)")
    y0 = torch.where(cond, _value(a), _value(b))
    out = [y0]
    for k in (1, 2):
        ta, tb = _part(a, k), _part(b, k)
        if ta is None and tb is None:
            out.append(None)
        else:
            out.append(torch.where(cond, _zero_for(a) if ta is None else ta,
                                   _zero_for(b) if tb is None else tb))
    return _jet(*out)


# ---- products ----

def _multilinear(f, ops):
    """f multilinear in ops (Jets or constants): value, y1, y2."""
    vals = [_value(o) for o in ops]

    def at(subs):
        a = list(vals)
        for i, t in subs:
            a[i] = t
        return f(*a)
    n = len(ops)
    y1 = y2 = None
    for i in range(n):
        t1, t2 = _part(ops[i], 1), _part(ops[i], 2)
        if t1 is not None:
            y1 = _add(y1, at([(i, t1)]))
        if t2 is not None:
            y2 = _add(y2, at([(i, t2)]))
        for j in range(i + 1, n):
            u1 = _part(ops[j], 1)
            if t1 is not None and u1 is not None:
                cross = at([(i, t1), (j, u1)])
                y2 = 2 * cross if y2 is None else torch.add(y2, cross, alpha=2)
    return f(*vals), y1, y2


def _mul2(a, b):
    """a * b elementwise for two Jets, the product rule fused into
    addcmul (fewer passes over the batched derivatives than _multilinear's
    separate products and sums): value, y1, y2."""
    a0, a1, a2 = a.p, a.t1, a.t2
    b0, b1, b2 = b.p, b.t1, b.t2
    y1 = None
    if a1 is not None:
        y1 = a1 * b0
    if b1 is not None:
        y1 = a0 * b1 if y1 is None else torch.addcmul(y1, a0, b1)
    y2 = None if a2 is None else a2 * b0
    if a1 is not None and b1 is not None:
        y2 = 2 * (a1 * b1) if y2 is None else torch.addcmul(y2, a1, b1, value=2)
    if b2 is not None:
        y2 = a0 * b2 if y2 is None else torch.addcmul(y2, a0, b2)
    return a0 * b0, y1, y2


_ELEMENTWISE_MUL = ("mul", "multiply", "__mul__", "__rmul__")


def _product(func, args, kwargs):
    """mul, matmul, mm, bmm, dot, outer, ...: bilinear in the first two
    arguments."""
    if _any_jet(args[2:]) or _any_jet(kwargs):
        raise NoRule(_name(func) + " (a Jet beyond its two factors)")
    if _name(func) in _ELEMENTWISE_MUL and len(args) == 2 and _is_jet(args[0]) and \
            _is_jet(args[1]) and not kwargs:
        return _jet(*_mul2(args[0], args[1]))
    return _jet(*_multilinear(lambda a, b: func(a, b, *args[2:], **kwargs), args[:2]))


def _rproduct(func, args, kwargs):  # __rmul__, __rmatmul__: self is the right factor
    return _product(lambda a, b, **kw: func(b, a, **kw), (args[1], args[0]) + tuple(args[2:]),
                    kwargs)


def _einsum(func, args, kwargs):
    eq, ops = args[0], args[1:]
    if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
        ops = tuple(ops[0])
    return _jet(*_multilinear(lambda *a: torch.einsum(eq, *a), ops))


def _div(func, args, kwargs):
    a, b = args[0], args[1]
    if kwargs.get("rounding_mode") is not None:
        if _is_jet(b):
            raise NoRule("div with rounding_mode")
        return _on_value(func, args, kwargs)  # piecewise constant: derivatives 0
    if _is_jet(b):
        return a * torch.reciprocal(b) if isinstance(a, torch.Tensor) else \
            torch.reciprocal(b) * a
    return _linear_first()(func, args, kwargs)


def _rdiv(func, args, kwargs):  # c / x
    return torch.reciprocal(args[0]) * args[1]


def _linear_fn(func, args, kwargs):  # F.linear(x, W, b): x W^T + b
    x, w = args[0], args[1] if len(args) > 1 else kwargs["weight"]
    b = args[2] if len(args) > 2 else kwargs.get("bias")
    y = _product(lambda a, c: F.linear(a, c), (x, w), {})
    return y if b is None else y + b


def _addmm(func, args, kwargs):  # beta * b + alpha * (m1 @ m2); baddbmm, addmv likewise
    b, m1, m2 = args[:3]
    beta, alpha = kwargs.get("beta", 1), kwargs.get("alpha", 1)
    mm = {"addmm": torch.mm, "baddbmm": torch.bmm, "addmv": torch.mv}[_name(func)]
    y = _product(lambda p, q: mm(p, q), (m1, m2), {})
    return (y if alpha == 1 else alpha * y) + (b if beta == 1 else beta * b)


# ---- elementwise functions: y1 = f' x1, y2 = f' x2 + f'' x1^2 ----

def _chain(y0, d1, d2, x):
    """The Jet of f(x) from f(x) = y0, f'(x) = d1, f''(x) = d2 (d2 None: 0)."""
    t1, t2 = x.t1, x.t2
    y1 = None if t1 is None else d1 * t1
    y2 = None if t2 is None else d1 * t2
    if t1 is not None and d2 is not None:
        y2 = d2 * t1 * t1 if y2 is None else torch.addcmul(y2, d2 * t1, t1)
    return _jet(y0, y1, y2)


def _elementwise(derivs):
    """derivs(x, y) -> (f'(x), f''(x)) from the value x and f(x) = y."""
    def rule(func, args, kwargs):
        x = args[0]
        if _any_jet(args[1:]) or _any_jet(kwargs):
            raise NoRule(_name(func) + " (a Jet beyond its first argument)")
        if kwargs.get("inplace"):
            raise NoRule(_name(func) + " in place")
        y0 = func(x.p, *args[1:], **kwargs)
        d1, d2 = derivs(x.p, y0, *args[1:],
                        **{k: v for k, v in kwargs.items() if k != "inplace"})
        return _chain(y0, d1, d2, x)
    return rule


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _gelu_derivs(x, y, approximate="none"):
    if approximate == "tanh":
        u1 = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
        t = torch.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
        s = 1 - t * t
        d1 = 0.5 * (1 + t) + 0.5 * x * s * u1
        d2 = s * u1 + 0.5 * x * (s * _SQRT_2_OVER_PI * 6 * 0.044715 * x - 2 * t * s * u1 * u1)
        return d1, d2
    phi = torch.exp(-0.5 * x * x) * _INV_SQRT_2PI
    return 0.5 * (1 + torch.erf(x / math.sqrt(2))) + x * phi, phi * (2 - x * x)


def _silu_derivs(x, y):
    s = torch.sigmoid(x)
    ds = s * (1 - s)
    return s + x * ds, ds * (2 + x * (1 - 2 * s))


def _softplus_derivs(x, y, beta=1.0, threshold=20.0):
    s = torch.sigmoid(beta * x)
    linear = beta * x > threshold
    return torch.where(linear, torch.ones_like(s), s), \
        torch.where(linear, torch.zeros_like(s), beta * s * (1 - s))


def _pow_derivs(x, y, p):
    if not isinstance(p, (int, float)) or isinstance(p, bool):
        raise NoRule("pow with a tensor exponent")
    if p == 0:
        return torch.zeros_like(x), None
    if p == 1:
        return torch.ones_like(x), None
    if p == 2:
        return 2 * x, torch.full_like(x, 2.0)
    return p * x.pow(p - 1), p * (p - 1) * x.pow(p - 2)


def _sign_derivs(x, y):
    return torch.sign(x), None


_ELEMENTWISE = {
    "exp": lambda x, y: (y, y),
    "expm1": lambda x, y: (y + 1, y + 1),
    "log": lambda x, y: (1 / x, -1 / (x * x)),
    "log1p": lambda x, y: (1 / (1 + x), -1 / ((1 + x) * (1 + x))),
    "tanh": lambda x, y: (1 - y * y, -2 * y * (1 - y * y)),
    "sigmoid": lambda x, y: (y * (1 - y), y * (1 - y) * (1 - 2 * y)),
    "erf": lambda x, y: ((2 / math.sqrt(math.pi)) * torch.exp(-x * x),
                         (-4 / math.sqrt(math.pi)) * x * torch.exp(-x * x)),
    "sqrt": lambda x, y: (0.5 / y, -0.25 / (y * y * y)),
    "rsqrt": lambda x, y: (-0.5 * y * y * y, 0.75 * y * y * y * y * y),
    "reciprocal": lambda x, y: (-y * y, 2 * y * y * y),
    "square": lambda x, y: (2 * x, torch.full_like(x, 2.0)),
    "sin": lambda x, y: (torch.cos(x), -y),
    "cos": lambda x, y: (-torch.sin(x), -y),
    "relu": lambda x, y: ((x > 0).to(x.dtype), None),
    "abs": _sign_derivs,
    "gelu": _gelu_derivs,
    "silu": _silu_derivs,
    "softplus": _softplus_derivs,
}


def _pow(func, args, kwargs):
    if not _is_jet(args[0]):  # c ** x, with a Jet exponent
        return _rpow(func, (args[1], args[0]), kwargs)
    return _elementwise(_pow_derivs)(func, args, kwargs)


def _rpow(func, args, kwargs):  # c ** x = exp(x log c)
    x, c = args[0], args[1]
    if not isinstance(c, (int, float)):
        raise NoRule("__rpow__ with a tensor base")
    return torch.exp(x * math.log(c))


# ---- softmax family ----

def _dim_arg(args, kwargs, default=None):
    if len(args) > 1:
        return args[1]
    return kwargs.get("dim", default)


def _softmax_parts(x, dim):
    """s = softmax(x.p), a = x1 - <s, x1>, and <s, x2>, along dim."""
    s = torch.softmax(x.p, dim)
    a = None if x.t1 is None else x.t1 - (s * x.t1).sum(dim, keepdim=True)
    sx2 = None if x.t2 is None else (s * x.t2).sum(dim, keepdim=True)
    return s, a, sx2


def _cast_for(args, kwargs, x):
    dtype = kwargs.get("dtype") or (args[2] if len(args) > 2 else None)
    return x if dtype is None else x.to(dtype)


def _softmax(func, args, kwargs):
    x = _cast_for(args, kwargs, args[0])
    dim = _dim_arg(args, kwargs)
    if not _is_jet(x):
        return torch.softmax(x, dim)
    s, a, sx2 = _softmax_parts(x, dim)
    y1 = None if a is None else s * a
    y2 = None
    if a is not None:  # s'' = s' a + s (x2 - <s', x1> - <s, x2>)
        y2 = y1 * a - s * (y1 * x.t1).sum(dim, keepdim=True)
    if x.t2 is not None:
        y2 = _add(y2, s * (x.t2 - sx2))
    return _jet(s, y1, y2)


def _log_softmax(func, args, kwargs):
    x = _cast_for(args, kwargs, args[0])
    dim = _dim_arg(args, kwargs)
    if not _is_jet(x):
        return torch.log_softmax(x, dim)
    y0 = torch.log_softmax(x.p, dim)
    s, a, sx2 = _softmax_parts(x, dim)
    y1 = a
    y2 = None if a is None else -(s * a * a).sum(dim, keepdim=True)  # -Var_s(x1)
    if x.t2 is not None:
        y2 = _add(y2, x.t2 - sx2)
    return _jet(y0, y1, y2)


def _logsumexp(func, args, kwargs):
    x, dim = args[0], _dim_arg(args, kwargs)
    keep = kwargs.get("keepdim", args[2] if len(args) > 2 else False)
    y0 = torch.logsumexp(x.p, dim, keepdim=True)
    s, a, sx2 = _softmax_parts(x, dim)
    y1 = None if x.t1 is None else (s * x.t1).sum(dim, keepdim=True)
    y2 = None if a is None else (s * a * a).sum(dim, keepdim=True)
    if x.t2 is not None:
        y2 = _add(y2, sx2)
    squeeze = (lambda t: t) if keep else (lambda t: None if t is None else t.squeeze(dim))
    return _jet(squeeze(y0), squeeze(y1), squeeze(y2))


# ---- written out in the ops above ----

def layer_norm_written_out(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """F.layer_norm in elementary ops (also what torch_model's nested-jvp
    path substitutes for the fused kernel, pytorch#196700)."""
    dims = tuple(range(-len(normalized_shape), 0))
    x = x - x.mean(dims, keepdim=True)
    y = x / (x.pow(2).mean(dims, keepdim=True) + eps).sqrt()
    if weight is not None:
        y = y * weight
    return y + bias if bias is not None else y


def rms_norm_written_out(x, normalized_shape, weight=None, eps=None):
    dims = tuple(range(-len(normalized_shape), 0))
    if eps is None:
        eps = torch.finfo(x.dtype).eps
    y = x / (x.pow(2).mean(dims, keepdim=True) + eps).sqrt()
    return y * weight if weight is not None else y


def _layer_norm(func, args, kwargs):
    return layer_norm_written_out(*args, **kwargs)


def _rms_norm(func, args, kwargs):
    return rms_norm_written_out(*args, **kwargs)


def _cross_entropy(func, args, kwargs):
    names = ("input", "target", "weight", "size_average", "ignore_index", "reduce",
             "reduction", "label_smoothing")
    a = dict(zip(names, args), **kwargs)
    x, target = a["input"], a["target"]
    if a.get("weight") is not None or a.get("label_smoothing", 0.0) or \
            a.get("size_average") is not None or a.get("reduce") is not None or \
            _is_jet(target) or target.is_floating_point():
        raise NoRule("cross_entropy (class weights, smoothing or probabilities)")
    ignore = a.get("ignore_index", -100)
    cls_dim = 1 if x.dim() > 1 else 0
    keep = target != ignore
    safe = torch.where(keep, target, torch.zeros_like(target))
    nll = -torch.log_softmax(x, cls_dim).gather(cls_dim, safe.unsqueeze(cls_dim)) \
        .squeeze(cls_dim)
    nll = torch.where(keep, nll, torch.zeros_like(_value(nll)))
    reduction = a.get("reduction", "mean")
    if reduction == "none":
        return nll
    if reduction == "sum":
        return nll.sum()
    return nll.sum() / keep.sum()


def _sdpa(func, args, kwargs):
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale")
    a = dict(zip(names, args), **kwargs)
    if a.get("dropout_p", 0.0) or _is_jet(a.get("attn_mask")):
        raise NoRule("scaled_dot_product_attention (dropout or a Jet mask)")
    q, k, v = a["query"], a["key"], a["value"]
    if a.get("enable_gqa", False):  # each key/value head serves Hq/Hkv query heads in turn
        k = k.repeat_interleave(q.shape[-3] // k.shape[-3], -3)
        v = v.repeat_interleave(q.shape[-3] // v.shape[-3], -3)
    scale = a.get("scale") or 1 / math.sqrt(q.shape[-1])
    scores = (q @ k.transpose(-2, -1)) * scale
    L, S = q.shape[-2], k.shape[-2]
    mask = a.get("attn_mask")
    if a.get("is_causal", False):
        causal = torch.ones(L, S, dtype=torch.bool, device=_value(q).device).tril()
        mask = causal if mask is None else mask & causal
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    p = torch.softmax(scores, -1)
    if mask is not None:  # a query that sees no key (left padding) gets 0, as torch >= 2.5's
        s0 = _value(scores)  # sdpa does (_safe_softmax), not NaN that p @ v spreads to the
        dead = torch.isneginf(s0).all(-1, keepdim=True)  # rows that see its position
        p = torch.where(dead, torch.zeros((), dtype=s0.dtype, device=s0.device), p)
    return p @ v


def _dropout(func, args, kwargs):
    names = ("input", "p", "training", "inplace")
    a = dict(zip(names, args), **kwargs)
    if a.get("training", True) and a.get("p", 0.5) > 0:
        raise NoRule("dropout in training mode")
    return a["input"]


_LINEAR_NAMES = (
    "view", "reshape", "permute", "transpose", "swapaxes", "t",
    "__getitem__", "sum", "mean", "neg", "__neg__", "negative", "squeeze", "unsqueeze",
    "expand", "broadcast_to", "contiguous", "flatten", "unflatten", "repeat",
    "repeat_interleave", "clone",
    "narrow", "select", "split", "chunk", "unbind", "tensor_split", "roll", "flip", "tril",
    "triu", "diagonal", "diag", "index_select", "gather", "take_along_dim", "movedim",
    "moveaxis", "cumsum", "trace", "get:T", "get:mT", "get:mH", "get:H", "get:real",
    "cpu", "cuda", "conj", "resolve_conj", "resolve_neg",
)
_META_NAMES = (
    "get:shape", "get:dtype", "get:device", "get:ndim", "get:is_cuda", "get:requires_grad",
    "get:layout", "get:is_sparse", "get:is_quantized", "get:is_meta", "get:names",
    "get:grad_fn", "get:is_leaf", "get:grad", "get:is_nested", "get:is_mps", "get:is_xpu",
    "size", "dim", "numel", "nelement", "element_size", "is_floating_point", "is_complex",
    "is_contiguous", "stride", "storage_offset", "__len__", "__bool__", "__format__",
    "__repr__",
    "eq", "ne", "gt", "lt", "ge", "le", "__eq__", "__ne__", "__gt__", "__lt__", "__ge__",
    "__le__", "argmax", "argmin", "argsort", "isnan", "isinf", "isfinite", "isclose",
    "isneginf", "isposinf",
    "sign", "signbit", "floor", "ceil", "round", "trunc", "zeros_like", "ones_like",
    "empty_like", "full_like", "rand_like", "randn_like", "new_zeros", "new_ones",
    "new_empty", "new_full", "new_tensor", "detach", "allclose", "equal", "__hash__",
    "logical_not", "all", "any", "nonzero", "count_nonzero",
    "bool", "long", "int", "__and__", "__or__", "__invert__",
)

_RULES = {}
for _n in _LINEAR_NAMES:
    _RULES[_n] = _linear_first()
for _n in _META_NAMES:
    _RULES[_n] = _on_value
for _n in ("to", "type", "type_as", "float", "double", "half", "bfloat16"):
    _RULES[_n] = _cast
_RULES.update({
    "masked_fill": _linear_first(zero_kw=("value",), zero_pos=(2,)),
    "pad": _linear_first(zero_kw=("value",), zero_pos=(3,)),
    "embedding": _embedding,
    "add": _add_sub(1), "__add__": _add_sub(1), "__radd__": _add_sub(1),
    "sub": _add_sub(-1), "subtract": _add_sub(-1), "__sub__": _add_sub(-1),
    "rsub": _rsub, "__rsub__": _rsub, "nan_to_num": _nan_to_num,
    "view_as": _shape_of_other, "reshape_as": _shape_of_other, "expand_as": _shape_of_other,
    "where": _where, "pow": _pow, "__pow__": _pow,
    "cat": _concat, "concat": _concat, "concatenate": _concat, "stack": _concat,
    "hstack": _concat, "vstack": _concat,
    "mul": _product, "multiply": _product, "__mul__": _product, "__rmul__": _rproduct,
    "matmul": _product, "__matmul__": _product, "__rmatmul__": _rproduct, "mm": _product,
    "bmm": _product, "mv": _product, "dot": _product, "outer": _product, "inner": _product,
    "kron": _product, "tensordot": _product,
    "einsum": _einsum, "linear": _linear_fn,
    "addmm": _addmm, "baddbmm": _addmm, "addmv": _addmm,
    "div": _div, "divide": _div, "true_divide": _div, "__truediv__": _div,
    "__rtruediv__": _rdiv, "__rdiv__": _rdiv, "__rpow__": _rpow,
    "softmax": _softmax, "log_softmax": _log_softmax,
    "logsumexp": _logsumexp,
    "layer_norm": _layer_norm, "rms_norm": _rms_norm, "cross_entropy": _cross_entropy,
    "scaled_dot_product_attention": _sdpa, "dropout": _dropout,
})
for _n, _d in _ELEMENTWISE.items():
    _RULES[_n] = _elementwise(_d)


_FUNCTION = torch.autograd.Function
_MISSING = object()


def _apply_refusing_jets(descriptor):
    """autograd.Function.apply that refuses Jets: a custom Function says how
    it is differentiated (its jvp, its backward), which its forward run on a
    Jet would ignore (torch runs forward on a tensor subclass as given)."""
    def apply(cls, *args, **kwargs):
        if any(_is_jet(a) for a in args) or any(_is_jet(v) for v in kwargs.values()):
            raise NoRule(f"custom autograd.Function {cls.__name__}")
        return descriptor.__get__(None, cls)(*args, **kwargs)
    return classmethod(apply)


class _CustomFunctionsRefused:
    """While a pass runs (in any thread), autograd.Function.apply raises
    NoRule for a Jet and is the original for anything else; the first pass
    in patches it, the last out restores it."""
    _lock = threading.Lock()
    _depth = 0
    _saved = {}  # "apply": Function's own attribute (in a dict: no descriptor binding)

    def __enter__(self):
        with self._lock:
            cls = _CustomFunctionsRefused
            if cls._depth == 0:
                cls._saved["apply"] = _FUNCTION.__dict__.get("apply", _MISSING)  # torch 2 has one
                _FUNCTION.apply = _apply_refusing_jets(inspect.getattr_static(_FUNCTION, "apply"))
            cls._depth += 1

    def __exit__(self, *exc):
        with self._lock:
            cls = _CustomFunctionsRefused
            cls._depth -= 1
            if cls._depth == 0:
                own = cls._saved.pop("apply")
                if own is _MISSING:  # torch 1.13 inherits it from _C._FunctionBase
                    del _FUNCTION.apply
                else:
                    _FUNCTION.apply = own


def taylor_gc(f, x, d):
    """(g, c): the first and second derivatives of f(x + t d) at t = 0
    (tensors shaped like f(x)). x: the point (a plain tensor), d: the
    direction, same shape. Raises NoRule naming an op without a rule (or a
    custom autograd.Function). Under torch.no_grad the derivatives still
    propagate, as in torch's forward mode."""
    with _CustomFunctionsRefused():
        y = f(Jet(x, d, None))
    if not _is_jet(y):
        z = torch.zeros_like(y)
        return z, z
    t1 = torch.zeros_like(y.p) if y.t1 is None else _full(y.t1, y.p.shape)
    t2 = torch.zeros_like(y.p) if y.t2 is None else _full(y.t2, y.p.shape)
    return t1, t2
