"""The four fast weight programmers and their wrapper, one step at a time, for every backend.

A :class:`Model` is token embedding -> N x [sequence layer + feed-forward block] -> output layer,
with no positional encoding. Per head (``W_0 = 0``), with ``LN`` the layer norm of the layer:

* :class:`SumLayer` (linear Transformer, sum rule): ``[q,k,v] = W LN(h)``, ``phi = elu + 1`` on q
  and k, ``W_t = W_{t-1} + v (x) phi(k)``, ``y = W_t phi(q)``, ``h' = h + W_o y``.
* :class:`DeltaLayer` (DeltaNet): ``[q,k,v,b] = W LN(h)``, q and k through ``phi`` and divided by
  their sum, ``beta = sigmoid(b)``, ``W_t = W_{t-1} + beta (v - W_{t-1} k) (x) k``, ``y = W_t q``.
* :class:`RecDeltaLayer` (Recurrent Delta): as DeltaNet, but with ``r = tanh(y_{t-1})``:
  ``q = softmax(q_x + r R_q)``, ``k = softmax(k_x + r R_k)``, ``v = v_x + r R_v``,
  ``beta = sigmoid(b_x + r . r_b)`` (``r R`` is the row vector r times R, as the reference loop).
* :class:`SrwmLayer` (self-referential weight matrix): per head the input is
  ``x = softmax(h_head)``; ``y = x W_y``, ``q = softmax(x W_q)``, ``k = softmax(x W_k)``,
  ``beta = sigmoid(x w_b)`` (four rates: y, q, k, b); every sub-matrix ``M`` gets
  ``M += k (x) beta_M (q M - k M)`` (rows indexed by k); y uses the matrix before the update;
  the layer output is ``LN(h) + W_o y``.

Feed-forward block: ``x + W2 ReLU(W1 LN(x) + b1) + b2``. Output: ``logits = W_out h + b_out``.
The text runs unchanged on float64, arb balls and rationals (:mod:`verify.real.numbers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from verify.errors import ParameterError, ShapeError
from verify.real import ops
from verify.real.numbers import Backend, is_zero_array

LN_EPS = 1e-5
"""PyTorch's default LayerNorm epsilon, used by the reference implementation."""


@dataclass(frozen=True)
class FeedForward:
    """``x + W2 ReLU(W1 LN(x) + b1) + b2`` (pre-LN residual)."""

    ln_w: np.ndarray
    ln_b: np.ndarray
    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray

    @staticmethod
    def identity(d: int, hidden: int = 1) -> FeedForward:
        """All-zero weights: the block adds nothing."""
        return FeedForward(np.ones(d), np.zeros(d), np.zeros((hidden, d)), np.zeros(hidden),
                           np.zeros((d, hidden)), np.zeros(d))


@dataclass(frozen=True)
class SumLayer:
    """Linear Transformer layer, sum rule. ``slow[h*3*dh + (0|1|2)*dh + j]`` = q, k, v rows."""

    heads: int
    d_head: int
    ln_w: np.ndarray
    ln_b: np.ndarray
    slow: np.ndarray
    out: np.ndarray
    kind: str = field(default="lt", init=False)


@dataclass(frozen=True)
class DeltaLayer:
    """DeltaNet layer: per head ``3*dh + 1`` slow rows, q, k, v then the beta logit."""

    heads: int
    d_head: int
    ln_w: np.ndarray
    ln_b: np.ndarray
    slow: np.ndarray
    out: np.ndarray
    kind: str = field(default="deltanet", init=False)


@dataclass(frozen=True)
class RecDeltaLayer:
    """Recurrent Delta layer: DeltaNet's slow rows plus ``R_q, R_k, R_v`` (heads, dh, dh) and
    ``r_b`` (heads, dh)."""

    heads: int
    d_head: int
    ln_w: np.ndarray
    ln_b: np.ndarray
    slow: np.ndarray
    R_q: np.ndarray
    R_k: np.ndarray
    R_v: np.ndarray
    r_b: np.ndarray
    out: np.ndarray
    kind: str = field(default="recdelta", init=False)


@dataclass(frozen=True)
class SrwmLayer:
    """SRWM layer: initial ``W_y, W_q, W_k`` (heads, dh, dh) and ``w_b`` (heads, dh, 4)."""

    heads: int
    d_head: int
    W_y: np.ndarray
    W_q: np.ndarray
    W_k: np.ndarray
    w_b: np.ndarray
    ln_w: np.ndarray
    ln_b: np.ndarray
    out: np.ndarray
    kind: str = field(default="srwm", init=False)


Layer = SumLayer | DeltaLayer | RecDeltaLayer | SrwmLayer
KINDS = ("lt", "deltanet", "recdelta", "srwm")


@dataclass(frozen=True)
class Model:
    """A whole network: embedding, blocks of (sequence layer, feed-forward), output layer."""

    name: str
    alphabet: tuple[str, ...]
    embedding: np.ndarray
    blocks: tuple[tuple[Layer, FeedForward], ...]
    out_w: np.ndarray
    out_b: np.ndarray
    ln_eps: float = LN_EPS
    # Per-backend conversions of the weights. Not an init field: a copy made with
    # dataclasses.replace (a changed weight) starts with an empty cache of its own.
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # eps > 0 keeps every layer norm finite, which the zero-W1 shortcut of feed_forward needs
        if not (isinstance(self.ln_eps, (int, float)) and 0 < float(self.ln_eps) < float("inf")):
            raise ParameterError("ln_eps", self.ln_eps, "a positive finite number")
        # The weights are frozen: the conversions above are cached, and a weight changed in
        # place after a conversion would leave a proof running on the old value. A changed
        # model is a new one (:func:`replace_array`).
        for a in self.arrays().values():
            if isinstance(a, np.ndarray):
                a.flags.writeable = False

    @property
    def d(self) -> int:
        return int(self.embedding.shape[1])

    @property
    def classes(self) -> int:
        return int(self.out_w.shape[0])

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(layer.kind for layer, _ in self.blocks)

    def arrays(self) -> dict[str, Any]:
        """Every weight array by a dotted name (the order used everywhere)."""
        out: dict[str, Any] = {"embedding": self.embedding}
        for i, (layer, ff) in enumerate(self.blocks):
            for k, v in vars(layer).items():
                if isinstance(v, np.ndarray):
                    out[f"blocks.{i}.{k}"] = v
            for k, v in vars(ff).items():
                out[f"blocks.{i}.ff.{k}"] = v
        out["out_w"], out["out_b"] = self.out_w, self.out_b
        return out

    def converted(self, nb: Backend) -> dict[str, Any]:
        """The weights in backend ``nb``'s number system (cached per backend)."""
        key = (nb.name, getattr(nb, "prec", None))
        if key not in self._cache:
            conv: dict[str, Any] = {k: nb.array(v) for k, v in self.arrays().items()}
            for v in conv.values():
                v.flags.writeable = False
            conv["ln_eps"] = nb.scalar(self.ln_eps)
            conv["zero_ff"] = {i: is_zero_array(ff.W1) for i, (_, ff) in enumerate(self.blocks)}
            self._cache[key] = conv
        return self._cache[key]


def replace_array(m: Model, name: str, value: Any) -> Model:
    """A copy of ``m`` with the weight ``name`` (a key of :meth:`Model.arrays`, e.g.
    ``blocks.0.W_q`` or ``blocks.0.ff.b1``) replaced by ``value``; every other array is shared."""
    import dataclasses

    value = np.array(value, dtype=np.float64)
    if name not in m.arrays():
        raise KeyError(f"{name!r}: not a weight of {m.name} ({', '.join(m.arrays())})")
    if name in ("embedding", "out_w", "out_b"):
        return dataclasses.replace(m, **{name: value})
    _, i, *rest = name.split(".")
    blocks = list(m.blocks)
    layer, ff = blocks[int(i)]
    if rest[0] == "ff":
        ff = dataclasses.replace(ff, **{rest[1]: value})
    else:
        layer = dataclasses.replace(layer, **{rest[0]: value})
    blocks[int(i)] = (layer, ff)
    return dataclasses.replace(m, blocks=tuple(blocks))


def check_shapes(m: Model) -> None:
    """Raise ShapeError naming the first array whose shape does not fit the model."""
    d = m.d
    V = len(m.alphabet)
    if m.embedding.shape != (V, d):
        raise ShapeError(f"embedding: shape {m.embedding.shape}, need ({V}, {d})")
    for i, (layer, ff) in enumerate(m.blocks):
        H, dh = layer.heads, layer.d_head
        want: dict[str, tuple[int, ...]] = {"ln_w": (d,), "ln_b": (d,), "out": (d, H * dh)}
        if isinstance(layer, SumLayer):
            want["slow"] = (H * 3 * dh, d)
        elif isinstance(layer, (DeltaLayer, RecDeltaLayer)):
            want["slow"] = (H * (3 * dh + 1), d)
        if isinstance(layer, RecDeltaLayer):
            want.update(R_q=(H, dh, dh), R_k=(H, dh, dh), R_v=(H, dh, dh), r_b=(H, dh))
        if isinstance(layer, SrwmLayer):
            if H * dh != d:
                raise ShapeError(f"blocks.{i}: heads*d_head = {H * dh}, need the width {d}")
            want.update(W_y=(H, dh, dh), W_q=(H, dh, dh), W_k=(H, dh, dh), w_b=(H, dh, 4))
        for k, shape in want.items():
            got = getattr(layer, k).shape
            if got != shape:
                raise ShapeError(f"blocks.{i}.{k}: shape {got}, need {shape}")
        f = ff.W1.shape[0]
        for k, shape in {"ln_w": (d,), "ln_b": (d,), "W1": (f, d), "b1": (f,), "W2": (d, f),
                         "b2": (d,)}.items():
            got = getattr(ff, k).shape
            if got != shape:
                raise ShapeError(f"blocks.{i}.ff.{k}: shape {got}, need {shape}")
    if m.out_w.shape[1:] != (d,) or m.out_b.shape != (m.out_w.shape[0],):
        raise ShapeError(f"out: shapes {m.out_w.shape} and {m.out_b.shape}, need (C, {d}) "
                         "and (C,)")


# ---- state -------------------------------------------------------------------------------------

State = tuple[dict[str, Any], ...]


def init_state(m: Model, nb: Backend, batch: tuple[int, ...] = ()) -> State:
    """Zero fast weights for every layer (SRWM: its initial matrices)."""
    w = m.converted(nb)
    out = []
    for i, (layer, _) in enumerate(m.blocks):
        H, dh = layer.heads, layer.d_head
        if isinstance(layer, SrwmLayer):
            out.append({k: _tile(w[f"blocks.{i}.{k}"], batch) for k in ("W_y", "W_q", "W_k",
                                                                        "w_b")})
            continue
        zero = nb.array(np.zeros(batch + (H, dh, dh)))
        st = {"W": zero}
        if isinstance(layer, RecDeltaLayer):
            st["y"] = nb.array(np.zeros(batch + (H, dh)))
        out.append(st)
    return tuple(out)


def _tile(a: Any, batch: tuple[int, ...]) -> Any:
    if not batch:
        return a
    return np.broadcast_to(a, batch + a.shape).copy()


# ---- one step ----------------------------------------------------------------------------------


def step(m: Model, nb: Backend, state: State, token: Any) -> tuple[State, Any]:
    """Read one token (an index, or an int array of indices for float64 batches): the new state
    and the logits at this position."""
    w = m.converted(nb)
    h = w["embedding"][token]
    new: list[dict[str, Any]] = []
    for i, (layer, _) in enumerate(m.blocks):
        h, st = layer_step(m, nb, i, layer, state[i], h)
        new.append(st)
        h = feed_forward(nb, w, i, h)
    logits = ops.affine(nb, w["out_w"], w["out_b"], h)
    return tuple(new), logits


def feed_forward(nb: Backend, w: dict[str, Any], i: int, x: Any) -> Any:
    """``x + W2 ReLU(W1 LN(x) + b1) + b2``; with ``W1 = 0`` the LN term is skipped (exactly zero
    whatever its value), so rational models stay rational."""
    p = f"blocks.{i}.ff."
    if w["zero_ff"][i]:
        hidden = ops.relu(nb, np.broadcast_to(w[p + "b1"], x.shape[:-1] + w[p + "b1"].shape))
    else:
        z = ops.layer_norm(nb, x, w[p + "ln_w"], w[p + "ln_b"], w["ln_eps"])
        hidden = ops.relu(nb, ops.affine(nb, w[p + "W1"], w[p + "b1"], z))
    return x + ops.affine(nb, w[p + "W2"], w[p + "b2"], hidden)


def _heads(z: Any, H: int) -> Any:  # noqa: N803 (maths names)
    return z.reshape(z.shape[:-1] + (H, z.shape[-1] // H))


def _flat(y: Any) -> Any:
    return y.reshape(y.shape[:-2] + (y.shape[-2] * y.shape[-1],))


def layer_step(m: Model, nb: Backend, i: int, layer: Layer, st: dict[str, Any],
               h: Any) -> tuple[Any, dict[str, Any]]:
    """One sequence layer on one position: (layer output, new layer state)."""
    w = m.converted(nb)
    p = f"blocks.{i}."
    H, dh = layer.heads, layer.d_head
    if isinstance(layer, SrwmLayer):
        x = ops.softmax(nb, _heads(h, H))
        y, new = srwm_update(nb, st, x)
        z = ops.layer_norm(nb, h, w[p + "ln_w"], w[p + "ln_b"], w["ln_eps"])
        return z + ops.affine(nb, w[p + "out"], None, _flat(y)), new
    qkv = slow_outputs(m, nb, i, h)
    q, k, v = qkv[..., :dh], qkv[..., dh:2 * dh], qkv[..., 2 * dh:3 * dh]
    W = st["W"]
    if isinstance(layer, SumLayer):
        W = ops.sum_update(nb, W, v, ops.elu_p1(nb, k))
        y = ops.matvec(nb, W, ops.elu_p1(nb, q))
        new = {"W": W}
    elif isinstance(layer, DeltaLayer):
        q, k, v, beta = delta_inputs(nb, qkv, dh)
        W = W + ops.delta_increment(nb, W, v, k, beta)
        y = ops.matvec(nb, W, q)
        new = {"W": W}
    else:
        W = W + recdelta_increment(nb, w, i, st, qkv, dh)
        q = recdelta_query(nb, w, i, st, qkv, dh)
        y = ops.matvec(nb, W, q)
        new = {"W": W, "y": y}
    return h + ops.affine(nb, w[p + "out"], None, _flat(y)), new


def delta_inputs(nb: Backend, qkv: Any, dh: int) -> tuple[Any, Any, Any, Any]:
    """DeltaNet's (q, k, v, beta) per head from the slow outputs ``qkv`` (heads, 3 dh + 1): q and
    k through ``phi`` and divided by their sum, ``beta = sigmoid(b)``."""
    q = ops.sum_norm(nb, ops.elu_p1(nb, qkv[..., :dh]))
    k = ops.sum_norm(nb, ops.elu_p1(nb, qkv[..., dh:2 * dh]))
    return q, k, qkv[..., 2 * dh:3 * dh], ops.sigmoid(nb, qkv[..., 3 * dh:])


def slow_outputs(m: Model, nb: Backend, i: int, h: Any) -> Any:
    """The slow net's outputs of layer ``i`` (LT, DeltaNet, Recurrent Delta) on the layer input
    ``h``, per head: ``W LN(h)`` reshaped to (heads, rows per head)."""
    w = m.converted(nb)
    p = f"blocks.{i}."
    z = ops.layer_norm(nb, h, w[p + "ln_w"], w[p + "ln_b"], w["ln_eps"])
    return _heads(ops.affine(nb, w[p + "slow"], None, z), m.blocks[i][0].heads)


def recdelta_inputs(nb: Backend, w: dict[str, Any], i: int, st: dict[str, Any], qkv: Any,
                    dh: int) -> tuple[Any, Any, Any, Any]:
    """Recurrent Delta's (q, k, v, beta) from the slow outputs and ``r = tanh(y_{t-1})``."""
    p = f"blocks.{i}."
    r = ops.tanh(nb, st["y"])
    q = ops.softmax(nb, qkv[..., :dh] + ops.vecmat(nb, r, w[p + "R_q"]))
    k = ops.softmax(nb, qkv[..., dh:2 * dh] + ops.vecmat(nb, r, w[p + "R_k"]))
    v = qkv[..., 2 * dh:3 * dh] + ops.vecmat(nb, r, w[p + "R_v"])
    b = qkv[..., 3 * dh:] + (r * w[p + "r_b"]).sum(axis=-1, keepdims=True)
    return q, k, v, ops.sigmoid(nb, b)


def recdelta_increment(nb: Backend, w: dict[str, Any], i: int, st: dict[str, Any], qkv: Any,
                       dh: int) -> Any:
    """The fast-weight increment ``beta (v - W k) (x) k`` of a Recurrent Delta layer."""
    _, k, v, beta = recdelta_inputs(nb, w, i, st, qkv, dh)
    return ops.delta_increment(nb, st["W"], v, k, beta)


def recdelta_query(nb: Backend, w: dict[str, Any], i: int, st: dict[str, Any], qkv: Any,
                   dh: int) -> Any:
    return recdelta_inputs(nb, w, i, st, qkv, dh)[0]


SRWM_PARTS = ("W_y", "W_q", "W_k", "w_b")


def srwm_update(nb: Backend, st: dict[str, Any], x: Any) -> tuple[Any, dict[str, Any]]:
    """One SRWM cell step on inputs ``x`` (heads, dh): (y from the old matrices, new matrices)."""
    y = ops.vecmat(nb, x, st["W_y"])
    q = ops.softmax(nb, ops.vecmat(nb, x, st["W_q"]))
    k = ops.softmax(nb, ops.vecmat(nb, x, st["W_k"]))
    beta = ops.sigmoid(nb, ops.vecmat(nb, x, st["w_b"]))
    new = {}
    for j, name in enumerate(SRWM_PARTS):
        M = st[name]
        ins = beta[..., j:j + 1] * (ops.vecmat(nb, q, M) - ops.vecmat(nb, k, M))
        new[name] = M + ops.outer(nb, k, ins)
    return y, new


def run(m: Model, nb: Backend, tokens: list[int]) -> list[Any]:
    """The logits at every prefix of ``tokens``."""
    st = init_state(m, nb)
    out = []
    for t in tokens:
        st, logits = step(m, nb, st, t)
        out.append(logits)
    return out
