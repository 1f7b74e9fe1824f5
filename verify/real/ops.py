"""The operations of real-valued sequence models, written once for every backend.

Each function takes a backend ``nb`` (:mod:`verify.real.numbers`) and arrays already in that
backend's number system (weights converted once with :meth:`Backend.array`). Vectors are the last
axis; float64 arrays may carry leading batch axes. Conventions: ``W[out, in]`` for affine maps,
fast weights ``W[value, key]`` with ``y = W q``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .numbers import Backend


def affine(nb: Backend, W: Any, b: Any, x: Any) -> Any:  # noqa: N803 (maths names)
    """``W x + b`` (``b`` may be None). On object arrays only the non-zero weights are used
    (hand-set weights are sparse; a zero weight contributes exactly nothing)."""
    if getattr(getattr(W, "dtype", None), "kind", "") == "O" and np.ndim(x) == 1:
        y = np.empty(W.shape[0], dtype=object)
        zero = nb.scalar(0)
        for r, (cols, ws) in enumerate(_sparse_rows(nb, W)):
            acc = zero
            for c, w in zip(cols, ws):
                acc = acc + w * x[c]
            y[r] = acc
    else:
        y = x @ np.swapaxes(W, -1, -2)
    return y if b is None else y + b


_SPARSE: dict[int, tuple[Any, list[tuple[list[int], list[Any]]]]] = {}


def _sparse_rows(nb: Backend, W: Any) -> list[tuple[list[int], list[Any]]]:  # noqa: N803 (maths names)
    # Only a read-only array is cached (model weights, see Model.converted): an array that can
    # still be written to could change after its rows were read, and a stale row would evaluate
    # another network than the one asked for.
    cache = not W.flags.writeable
    hit = _SPARSE.get(id(W)) if cache else None
    if hit is not None and hit[0] is W:
        return hit[1]
    rows = []
    for r in range(W.shape[0]):
        cols = [c for c in range(W.shape[1]) if not nb.is_zero(W[r, c])]
        rows.append((cols, [W[r, c] for c in cols]))
    if cache:
        if len(_SPARSE) > 4096:
            _SPARSE.clear()
        _SPARSE[id(W)] = (W, rows)
    return rows


def relu(nb: Backend, x: Any) -> Any:
    """max(x, 0)."""
    return nb.relu(x)


def elu_p1(nb: Backend, x: Any) -> Any:
    """phi(x) = elu(x) + 1, positive everywhere."""
    return nb.elu_p1(x)


def sigmoid(nb: Backend, x: Any) -> Any:
    """1 / (1 + exp(-x))."""
    return nb.sigmoid(x)


def tanh(nb: Backend, x: Any) -> Any:
    """tanh(x)."""
    return nb.tanh(x)


def softmax(nb: Backend, x: Any) -> Any:
    """exp(x_i) / sum_j exp(x_j) over the last axis."""
    return nb.softmax(x)


def sum_norm(nb: Backend, x: Any) -> Any:
    """x / sum(x) over the last axis (the entries are positive where it is used)."""
    return x / x.sum(axis=-1, keepdims=True)


def layer_norm(nb: Backend, x: Any, w: Any, b: Any, eps: Any) -> Any:
    """``(x - mean) / sqrt(var + eps) * w + b`` over the last axis, var the biased variance."""
    d = x.shape[-1]
    mean = x.sum(axis=-1, keepdims=True) / d
    c = x - mean
    var = (c * c).sum(axis=-1, keepdims=True) / d if nb.name == "float64" else \
        _square_sum(nb, c) / d
    return c / nb.sqrt(var + eps) * w + b


def _square_sum(nb: Backend, c: Any) -> Any:
    # c_i^2 taken as a square (non-negative for balls that straddle zero), summed.
    if nb.name == "arb":
        sq = np.empty(c.shape, dtype=object)
        s, cc = sq.reshape(-1), c.reshape(-1)
        for i, v in enumerate(cc):
            # arb's power of a ball that contains 0 is NaN; the square of such a ball lies in
            # [0, max |v|^2]
            s[i] = v ** 2 if (v > 0 or v < 0) else type(v).union(type(v)(0), v.abs_upper() ** 2)
        return sq.sum(axis=-1, keepdims=True)
    return (c * c).sum(axis=-1, keepdims=True)


def outer(nb: Backend, v: Any, k: Any) -> Any:
    """The outer product ``v k^T`` (``[..., value, key]``)."""
    return v[..., :, None] * k[..., None, :]


def matvec(nb: Backend, W: Any, x: Any) -> Any:  # noqa: N803 (maths names)
    """``W x`` for stacks of matrices ``W[..., i, j]`` and vectors ``x[..., j]``."""
    return (W * x[..., None, :]).sum(axis=-1)


def vecmat(nb: Backend, x: Any, W: Any) -> Any:  # noqa: N803 (maths names)
    """``x^T W`` (row vector times matrix): ``sum_i x_i W[i, :]``."""
    return (x[..., :, None] * W).sum(axis=-2)


def sum_update(nb: Backend, W: Any, v: Any, k: Any) -> Any:  # noqa: N803 (maths names)
    """Sum rule: ``W + v (x) k``."""
    return W + outer(nb, v, k)


def delta_increment(nb: Backend, W: Any, v: Any, k: Any, beta: Any) -> Any:  # noqa: N803 (maths names)
    """Delta rule increment ``beta (v - W k) (x) k``; the new fast weight is ``W`` plus it."""
    vbar = matvec(nb, W, k)
    return outer(nb, beta * (v - vbar), k)


@dataclass(frozen=True)
class Decision:
    """A decision with its certified margin.

    ``winner``: the class chosen (argmax of midpoints); ``margin_low``: a lower bound on
    ``logit[winner] - max other logit`` (or on the signed distance to a threshold);
    ``certain``: the enclosure proves the winner (margin_low > 0).
    """

    winner: int
    margin_low: float
    certain: bool


def least(values: Any) -> float:
    """The smallest of some lower bounds, ``-inf`` when one is NaN (Python's ``min`` would skip a
    NaN that is not first, and a NaN bound proves nothing), ``inf`` for none."""
    out = float("inf")
    for v in values:
        v = float(v)
        if v != v:
            return float("-inf")
        out = min(out, v)
    return out


def argmax_decision(nb: Backend, logits: Any) -> Decision:
    """The argmax class and a sound lower bound on its lead over every other class; ``certain``
    only when every lead is certified positive (never for a NaN enclosure)."""
    vals = list(np.asarray(logits).reshape(-1))
    mids = [nb.mid(v) for v in vals]
    win = int(np.nanargmax(mids)) if not all(m != m for m in mids) else 0
    if len(vals) == 1:
        return Decision(win, float("inf"), True)
    low = least(nb.lower(vals[win] - vals[j]) for j in range(len(vals)) if j != win)
    certain = low > 0 and all(nb.positive(vals[win] - vals[j]) is True
                              for j in range(len(vals)) if j != win)
    return Decision(win, low, bool(certain))


def class_margin(nb: Backend, logits: Any, target: int) -> float:
    """A sound lower bound on ``logit[target] - max other logit`` (not above 0: maybe wrong;
    ``-inf`` when an enclosure is NaN)."""
    vals = list(np.asarray(logits).reshape(-1))
    if not 0 <= target < len(vals):
        raise IndexError(f"target class {target}: the network has {len(vals)} classes")
    return least(nb.lower(vals[target] - vals[j]) for j in range(len(vals)) if j != target)


def class_wrong(nb: Backend, logits: Any, target: int) -> int | None:
    """A class provably above the target (the enclosure certifies the error), else None."""
    vals = list(np.asarray(logits).reshape(-1))
    for j in range(len(vals)):
        if j != target and nb.positive(vals[j] - vals[target]) is True:
            return j
    return None


def threshold_decision(nb: Backend, value: Any, threshold: Any) -> Decision:
    """1 when ``value > threshold``; the margin is the certified distance to the threshold."""
    diff = value - threshold
    win = 1 if nb.mid(diff) > 0 else 0
    low = nb.lower(diff) if win else nb.lower(-diff)
    return Decision(win, low, low > 0)
