"""The looped-Transformer network kind and its floating-point evaluation.

The state is a matrix ``X`` (d rows, n columns: one column per token). A layer is::

    A  = X + sum_h V_h X S_h,     S_h = softmax_over_rows(lam * X^T K_h^T Q_h X)
    X' = A + W2 ReLU(W1 A + b1) + b2

where ``softmax_over_rows`` normalises each column of its argument to sum 1 and the biases
``b1`` (width x n) and ``b2`` (d x n) have one column per token. The softmax is evaluated as
written, ``exp(z) / sum(exp(z))`` with no maximum subtracted, so in a float format a large
``lam * score`` overflows to inf and the quotient becomes NaN; ``max_subtract=True`` gives the
usual stable variant (the same real number). :func:`layer_forward` follows the order of
operations of the reference implementation (``((X^T K^T) Q) X``, ``(V X) S``, heads summed left
to right), so a float run reproduces its rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from verify.errors import ShapeError

DTYPES = {"float64": np.float64, "float32": np.float32}
"""Float formats a network is evaluated in."""


@dataclass(frozen=True)
class Head:
    """One attention head: ``Q``, ``K`` (q x d) and ``V`` (d x d)."""

    Q: np.ndarray
    K: np.ndarray
    V: np.ndarray


@dataclass(frozen=True)
class Layer:
    """One layer: its heads, then the feed-forward part ``W1`` (w x d), ``b1`` (w x n),
    ``W2`` (d x w), ``b2`` (d x n). ``label`` says what the layer does."""

    heads: tuple[Head, ...]
    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray
    label: str = ""

    @property
    def width(self) -> int:
        return int(self.W1.shape[0])

    def check(self, d: int, n: int, where: str) -> None:
        """Raise :class:`~verify.errors.ShapeError` unless every array fits a d x n state."""
        if not self.heads:
            raise ShapeError(f"{where}: no attention head")
        q = self.heads[0].Q.shape[0] if self.heads[0].Q.ndim == 2 else -1
        w = self.width if self.W1.ndim == 2 else -1
        need = {"W1": (w, d), "b1": (w, n), "W2": (d, w), "b2": (d, n)}
        for h in range(1, len(self.heads) + 1):
            need |= {f"Q{h}": (q, d), f"K{h}": (q, d), f"V{h}": (d, d)}
        got = {"W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}
        for h, head in enumerate(self.heads, start=1):
            got |= {f"Q{h}": head.Q, f"K{h}": head.K, f"V{h}": head.V}
        for name, shape in need.items():
            if got[name].shape != shape:
                raise ShapeError(f"{where}: {name} has shape {got[name].shape}, need {shape}")


@dataclass(frozen=True)
class LoopedTransformer:
    """Layers applied in order once per step, with the softmax temperature ``lam``."""

    layers: tuple[Layer, ...]
    lam: float

    def check(self, d: int, n: int) -> None:
        for i, layer in enumerate(self.layers):
            layer.check(d, n, f"layer {i}")

    def astype(self, dtype: type) -> LoopedTransformer:
        """The same network with every array cast to ``dtype``."""
        def cast(a: np.ndarray) -> np.ndarray:
            return np.asarray(a, dtype=dtype)

        return LoopedTransformer(tuple(
            Layer(tuple(Head(cast(h.Q), cast(h.K), cast(h.V)) for h in layer.heads),
                  cast(layer.W1), cast(layer.b1), cast(layer.W2), cast(layer.b2), layer.label)
            for layer in self.layers), self.lam)


def softmax_columns(Z: np.ndarray, max_subtract: bool = False) -> np.ndarray:  # noqa: N803
    """Each column of ``Z`` through softmax, as their code computes it (or max-subtracted)."""
    if max_subtract:
        Z = Z - np.max(Z, axis=0, keepdims=True)
    E = np.exp(Z)
    return E / (np.sum(E, axis=0, keepdims=True) * np.ones((Z.shape[0], 1), dtype=Z.dtype))


def attention(layer: Layer, X: np.ndarray, lam: float, max_subtract: bool = False  # noqa: N803
              ) -> np.ndarray:
    """``A = X + sum_h V_h X S_h`` in the dtype of ``X``."""
    scale = X.dtype.type(lam)
    A = X
    for head in layer.heads:
        scores = X.T @ head.K.T @ head.Q @ X
        S = softmax_columns(scale * scores, max_subtract)
        A = A + head.V @ X @ S
    return A


def layer_forward(layer: Layer, X: np.ndarray, lam: float, max_subtract: bool = False  # noqa: N803
                  ) -> np.ndarray:
    """One layer on ``X`` in the dtype of ``X`` (overflow gives inf and NaN, silently)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        A = attention(layer, X, lam, max_subtract)
        hidden = np.maximum(layer.W1 @ A + layer.b1, X.dtype.type(0))
        # np.maximum(NaN, 0) is NaN, as the reference ReLU gives.
        return A + layer.W2 @ hidden + layer.b2


def step_forward(net: LoopedTransformer, X: np.ndarray, max_subtract: bool = False,  # noqa: N803
                 trace: list[np.ndarray] | None = None) -> np.ndarray:
    """Every layer once; ``trace`` (when given) receives the state after each layer."""
    for layer in net.layers:
        X = layer_forward(layer, X, net.lam, max_subtract)
        if trace is not None:
            trace.append(X)
    return X


def first_nonfinite(states: Sequence[np.ndarray]) -> int | None:
    """Index of the first matrix with an inf or NaN entry, or None."""
    for i, X in enumerate(states):
        if not np.all(np.isfinite(X)):
            return i
    return None
