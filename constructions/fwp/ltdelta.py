"""Reset Dyck-1 with two layers: a linear Transformer counter, then a DeltaNet latch.

Layer 1 (LT, sum rule) has one head of width 1 with key and query logits 0 (``phi(0) = 1``) and
value ``[a = (] - [a = )]``, so ``y = c_t``, the number of ``(`` minus the number of ``)``; it
writes ``gamma c_t`` and ``-gamma c_t`` into two count channels. The embedding is the
layer-norm-exact one (:mod:`.embedding`), so layer 1 reads its input unchanged and its output is
``h1 = e(a_t) + gamma c_t (u_+ - u_-)``: mean 0 and ``|h1|^2 = d (1 - eps) + 2 gamma^2 c^2``.

The second layer norm therefore divides by ``s(c) = sqrt(1 + kappa c^2)`` with
``kappa = 2 gamma^2 / d``, the same for every token: a value weight ``1 / gamma`` on the count
channel reads ``f(c) = c / s(c)``, an increasing function of the count alone. Layer 2 (DeltaNet,
heads of width 1, so ``q = k = 1`` after sum normalisation and each fast weight is a scalar
``y_t = (1 - beta_t) y_{t-1} + beta_t f(c_t)``) has two heads:

* the latch A: beta logit ``+M`` on the reset symbol ``1`` and ``-M`` on ``(`` and ``)`` (times
  ``1 / s(c)``, the layer norm), so ``y_A`` holds ``f(m)``, ``m`` the count at the last reset;
* the tracker B: beta logit ``+M`` on every symbol, so ``y_B`` follows ``f(c_t)``.

Every other head has no value weight and stays exactly 0. The readout is class 1 iff
``y_B - y_A > theta``: the depth since the last reset is ``c_t - m``, positive iff
``f(c_t) > f(m)``. The layer norm's distortion ``f`` is the same on both sides and cancels in the
comparison; what it leaves is the gap ``f(m + 1) - f(m)``, which shrinks like
``(1 + kappa m^2)^(-3/2)``: once it falls below ``theta`` the string ``(^m 1 (`` is decided wrongly.
Smaller ``gamma`` moves that point out (as ``1 / gamma``); no setting removes it, since ``f`` is
bounded by ``1 / sqrt(kappa)``. The gate leak ``sigmoid(-M / s)`` only moves ``y_A`` towards
``f(c_t) >= f(m)``, the safe side at depth 0.
"""

from __future__ import annotations

import math

import numpy as np

from .embedding import BLOCK, indicator, token_embedding
from .models import LN_EPS, DeltaLayer, FeedForward, Model, SumLayer, check_shapes

GAMMA = 2.0 ** -8
"""The count channels' scale (a power of two, so ``1 / gamma`` is exact)."""
GATE = 400.0
THRESHOLD = 0.5
ALPHABET = ("(", ")", "1")


def channels(V: int = 3) -> dict[str, int]:  # noqa: N803 (maths names)
    """The named coordinates past the token blocks."""
    base = BLOCK * V
    return {"count+": base, "count-": base + 1, "latch": base + 2, "track": base + 3}


def lt_delta_reset_dyck1(gamma: float = GAMMA, gate: float = GATE, threshold: float = THRESHOLD,
                         name: str = "ltdelta-reset-dyck1") -> Model:
    """The two-layer reset Dyck-1 model (alphabet ``( ) 1``; class 1 = positive depth)."""
    if not (gamma > 0 and math.frexp(gamma)[0] == 0.5):
        raise ValueError(f"gamma={gamma}: need a positive power of two")
    V = len(ALPHABET)
    ch = channels(V)
    d = BLOCK * V + len(ch)
    H = d  # heads * d_head = d, as in the reference implementation; heads past 0 (LT) or 1
    # (DeltaNet) have no value weight and stay exactly zero
    opn, cls, rst = (indicator(a) for a in range(V))
    emb = token_embedding(V, d, LN_EPS)

    slow1 = np.zeros((3 * H, d))
    slow1[2, opn], slow1[2, cls] = 1.0, -1.0  # v = [a = (] - [a = )]; q, k logits 0
    out1 = np.zeros((d, H))
    out1[ch["count+"], 0], out1[ch["count-"], 0] = gamma, -gamma
    lt = SumLayer(H, 1, np.ones(d), np.zeros(d), slow1, out1)

    slow2 = np.zeros((4 * H, d))
    latch, track = 0, 1
    for h in (latch, track):
        slow2[4 * h + 2, ch["count+"]] = 1.0 / gamma  # v = f(c); q, k logits 0
    slow2[4 * latch + 3, [opn, cls, rst]] = -gate, -gate, gate
    slow2[4 * track + 3, [opn, cls, rst]] = gate
    out2 = np.zeros((d, H))
    out2[ch["latch"], latch] = out2[ch["track"], track] = 1.0
    delta = DeltaLayer(H, 1, np.ones(d), np.zeros(d), slow2, out2)

    out_w = np.zeros((2, d))
    out_w[1, ch["track"]], out_w[1, ch["latch"]] = 1.0, -1.0
    out_b = np.array([0.0, -threshold])
    m = Model(name, ALPHABET, emb, ((lt, FeedForward.identity(d)),
                                    (delta, FeedForward.identity(d))), out_w, out_b)
    check_shapes(m)
    return m


def gap_failure(gamma: float = GAMMA, threshold: float = THRESHOLD) -> int:
    """The least count ``m`` with ``f(m + 1) - f(m) <= threshold`` (float64; a guide for where to
    look, never a proof)."""
    V = len(ALPHABET)
    d = BLOCK * V + len(channels(V))
    kappa = 2 * gamma * gamma / d

    def f(c: float) -> float:
        return c / math.sqrt(1 + kappa * c * c)

    lo, hi = 0, 1
    while f(hi + 1) - f(hi) > threshold:
        hi *= 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if f(mid + 1) - f(mid) > threshold else (lo, mid)
    return hi
