"""A compiler from a DFA to an SRWM network: the self-referential matrix copies records.

Head 0 has ``dh = 1 + V + S V`` rows: row 0 holds the record of the current state, row
``F(a) = 1 + a`` the instruction of symbol ``a``, row ``P(s, a) = 1 + V + s V + a`` the record
of ``delta(s, a)``. The embedding of ``a`` is ``M_x (e_0 + e_F(a))``, so the cell's input
``x = softmax(h)`` is about ``(e_0 + e_F(a)) / 2``.

* ``W_k``: every row is ``M_k e_0``, so ``k = softmax(M_k e_0)`` (about ``e_0``) whatever the
  input, and ``W_k`` never changes (``q W_k - k W_k = 0`` as both sum to 1).
* ``w_b``: every row is ``(M_b, M_b, 0, 0)``: constant rates, ``beta_y = beta_q`` near 1.
* ``W_q``: the record of s has ``2 M_q`` at every ``P(s, .)``, the instruction of ``a`` has
  ``2 M_q`` at every ``P(., a)``: ``x W_q`` peaks (``2 M_q`` against ``M_q``) at ``P(s, a)``,
  so ``q`` is about ``e_P(s,a)`` and the update writes row ``P(s, a)``, the record of
  ``delta(s, a)``, into row 0.
* ``W_y``: the same pattern with height ``2 G``: ``y = x W_y`` (before the update) is ``2 G`` at
  ``P(s, a)``, ``G`` at the other pairs of ``s`` or of ``a``, 0 elsewhere.

``W_o`` copies ``y`` into head 1's coordinates (head 1 is zero). The feed-forward block has one
unit per pair: ``ReLU(gamma (LN(x)_P - l))`` with ``l`` halfway between the layer-normed levels of
``G`` and ``2 G`` (the same for every ``(s, a)``: the levels form the same multiset), which fires
only for ``P(s, a)`` and adds ``K`` to the output coordinate of the class of ``delta(s, a)``.

Errors are of order ``exp(-M)`` and do not accumulate: with ``k`` and the rates constant, every
matrix stays ``Z_0 + k (x) w`` and the step is a strong contraction in ``w`` (see
:mod:`proofs.fwp_boxes`).
"""

from __future__ import annotations

import numpy as np

from .languages import Dfa
from .models import LN_EPS, FeedForward, Model, SrwmLayer, check_shapes

M_X = 20.0
M_Q = 20.0
M_K = 20.0
M_B = 20.0
GAIN = 1.0
OUT = 4.0


def layout(dfa: Dfa) -> tuple[int, int, int]:
    """(V, S, dh) for a DFA."""
    V, S = len(dfa.alphabet), dfa.states
    return V, S, 1 + V + S * V


def srwm_dfa(dfa: Dfa, name: str = "srwm-dfa") -> Model:
    """The SRWM network deciding ``dfa`` at every prefix (class = ``dfa.accept`` of the state)."""
    V, S, dh = layout(dfa)
    H = 2
    d = H * dh

    def F(a: int) -> int:
        return 1 + a

    def P(s: int, a: int) -> int:
        return 1 + V + s * V + a

    def record(s: int, height: float) -> np.ndarray:
        r = np.zeros(dh)
        for a in range(V):
            r[P(s, a)] = 2 * height
        return r

    def instruction(a: int, height: float) -> np.ndarray:
        r = np.zeros(dh)
        for s in range(S):
            r[P(s, a)] = 2 * height
        return r

    W_q = np.zeros((H, dh, dh))
    W_y = np.zeros((H, dh, dh))
    W_k = np.zeros((H, dh, dh))
    w_b = np.zeros((H, dh, 4))
    for Z, height in ((W_q, M_Q), (W_y, GAIN)):
        Z[0, 0] = record(dfa.start, height)
        for a in range(V):
            Z[0, F(a)] = instruction(a, height)
            for s in range(S):
                Z[0, P(s, a)] = record(dfa.delta[s][a], height)
    W_k[0, :, 0] = M_K
    w_b[0, :, 0] = M_B
    w_b[0, :, 1] = M_B
    emb = np.zeros((V, d))
    for a in range(V):
        emb[a, 0] = M_X
        emb[a, F(a)] = M_X
    out = np.zeros((d, dh))
    out = np.zeros((d, H * dh))
    for j in range(dh):
        out[dh + j, j] = 1.0
    layer = SrwmLayer(H, dh, W_y, W_q, W_k, w_b, np.ones(d), np.zeros(d), out)
    ff = _readout_block(dfa, d, dh, emb, P)
    out_w = np.zeros((2, d))
    out_w[0, dh + 0] = 1.0
    out_w[1, dh + 1] = 1.0
    m = Model(name, dfa.alphabet, emb, ((layer, ff),), out_w, np.zeros(2))
    check_shapes(m)
    return m


def _ln(x: np.ndarray) -> np.ndarray:
    c = x - x.mean()
    return c / np.sqrt((c * c).mean() + LN_EPS)


def _readout_block(dfa: Dfa, d: int, dh: int, emb: np.ndarray, P: object) -> FeedForward:  # noqa: N803 (maths names)
    """One unit per pair (s, a), thresholds from the ideal layer-normed levels (float64)."""
    V, S = len(dfa.alphabet), dfa.states
    pairs = [(s, a) for s in range(S) for a in range(V)]
    # the ideal layer output for (s0, a0) = (0, 0): LN(embedding) + y in head 1's coordinates
    s0, a0 = 0, 0
    y = np.zeros(dh)
    for s, a in pairs:
        y[P(s, a)] = GAIN * ((2 if s == s0 else 0) + (2 if a == a0 else 0)) / 2  # type: ignore
    x = _ln(emb[a0])
    x[dh:] += y
    z = _ln(x)
    hi = z[dh + P(s0, a0)]  # type: ignore[operator]
    mid = z[dh + P(s0, 1 % V if V > 1 else 0)] if V > 1 else None  # type: ignore[operator]
    if mid is None:  # one symbol: the near misses are the other states' pairs
        mid = z[dh + P(1 % S, a0)] if S > 1 else hi - 1.0  # type: ignore[operator]
    level = (hi + mid) / 2
    gamma = 1.0 / max(hi - level, 1e-9)
    W1 = np.zeros((len(pairs), d))
    b1 = np.zeros(len(pairs))
    W2 = np.zeros((d, len(pairs)))
    for u, (s, a) in enumerate(pairs):
        W1[u, dh + P(s, a)] = gamma  # type: ignore[operator]
        b1[u] = -gamma * level
        W2[dh + dfa.accept[dfa.delta[s][a]], u] = OUT
    return FeedForward(np.ones(d), np.zeros(d), W1, b1, W2, np.zeros(d))
