"""Recurrent Delta parity with one head of width 1.

Softmax over one entry is exactly 1, so ``k = q = 1`` and the fast weight is a scalar ``y`` with
``y_t = (1 - beta_t) y_{t-1} + beta_t v_t``. The slow net sets ``v_x = D`` for both symbols, the
recurrent value weight ``R_v = -A`` (so ``v_t = D - A tanh(y_{t-1})``), ``r_b = 0`` and the beta
logit ``+L`` for ``1`` and ``-L`` for ``0``. With ``A = 3``, ``L = 40`` and ``D`` the non-zero
fixed point of ``D = A tanh D`` (about 2.984705), a ``1`` maps ``y`` near 0 to near ``D`` and back
(an attracting 2-cycle), and a ``0`` keeps ``y`` up to the leak ``sigmoid(-L) (v - y)`` per step.
The readout says "odd" when ``y > T`` with ``T = D / 2``.

The leak drifts ``y`` towards the fixed point ``y*`` of ``y = D - A tanh y`` (about 0.88): the
construction is correct for astronomically long strings, not for every length.
"""

from __future__ import annotations

import math

import numpy as np

from .embedding import BLOCK, indicator, token_embedding
from .models import LN_EPS, FeedForward, Model, RecDeltaLayer, check_shapes

A_GAIN = 3.0
L_GATE = 40.0


def fixed_point(a: float = A_GAIN) -> float:
    """The positive solution of ``D = a tanh D`` (Newton's method in float64)."""
    d = a
    for _ in range(60):
        d -= (d - a * math.tanh(d)) / (1 - a / math.cosh(d) ** 2)
    return d


def rd_parity(a: float = A_GAIN, gate: float = L_GATE, threshold: float | None = None,
              name: str = "recdelta-parity") -> Model:
    """The Recurrent Delta parity model (alphabet ``0 1``; class 1 = even, 0 = odd)."""
    V = 2
    d = BLOCK * V + 1
    H = d
    D = fixed_point(a)
    T = D / 2 if threshold is None else threshold
    feat = BLOCK * V
    emb = token_embedding(V, d, LN_EPS)
    slow = np.zeros((H * 4, d))
    slow[2, indicator(0)] = slow[2, indicator(1)] = D  # v_x = D
    slow[3, indicator(0)], slow[3, indicator(1)] = -gate, gate  # beta logit -L / +L
    R_v = np.zeros((H, 1, 1))
    R_v[0, 0, 0] = -a
    zeros = np.zeros((H, 1, 1))
    out = np.zeros((d, H))
    out[feat, 0] = 1.0
    layer = RecDeltaLayer(H, 1, np.ones(d), np.zeros(d), slow, zeros, zeros.copy(), R_v,
                          np.zeros((H, 1)), out)
    out_w = np.zeros((2, d))
    out_w[0, feat] = 1.0
    out_b = np.array([-T, 0.0])
    m = Model(name, ("0", "1"), emb, ((layer, FeedForward.identity(d)),), out_w, out_b)
    check_shapes(m)
    return m
