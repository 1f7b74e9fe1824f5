"""Linear Transformer counters: one LT layer whose heads sum token counts, read out linearly.

Heads have ``d_head = 1`` and key and query logits in {0, 1}: ``phi(0) = 1`` and ``phi(1) = 2``
exactly, so ``y`` is a running sum. For every count ``n_f`` there is a base head (query logit 0,
``y = n_f``) and one gated head per current token ``tau`` (query logit ``[a_t = tau]``,
``y = n_f (1 + [a_t = tau])``); their difference is ``n_f [a_t = tau]``, so the output can be any
linear function of the counts chosen by the current token:
``logits = sum_tau [a_t = tau] (A_tau n + b_tau)``. The embedding is the layer-norm-exact one
(:mod:`.embedding`), the feed-forward block is zero, and every value is a dyadic rational:
the network is exact in rationals for every length (float32 up to 2^24).

Hidden width ``d = 10 V + V (V + 1)`` with ``V`` symbols; ``d`` heads of width 1 (``heads *
d_head = d`` as in the reference implementation; the heads past ``V (V + 1)`` are zero).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from .embedding import BLOCK, indicator, token_embedding
from .models import LN_EPS, FeedForward, Model, SumLayer, check_shapes

Readout = dict[int, tuple[Sequence[Sequence[Fraction | int]], Sequence[Fraction | int]]]


def counter_lt(name: str, alphabet: Sequence[str], readout: Readout) -> Model:
    """The LT counter model with ``readout[tau] = (A_tau, b_tau)``: class ``c`` logit
    ``sum_f A_tau[c][f] n_f + b_tau[c]`` when the current token is ``tau``."""
    V = len(alphabet)
    C = len(readout[0][1])
    used = V * (V + 1)
    d = BLOCK * V + used
    H = d

    def base(f: int) -> int:
        return f * (V + 1)

    def gated(f: int, tau: int) -> int:
        return f * (V + 1) + 1 + tau

    def feat(h: int) -> int:
        return BLOCK * V + h

    emb = token_embedding(V, d, LN_EPS)
    slow = np.zeros((3 * H, d))
    out = np.zeros((d, H))
    for f in range(V):
        for h in [base(f)] + [gated(f, t) for t in range(V)]:
            slow[3 * h + 2, indicator(f)] = 1.0  # v = [a = f]: the head sums n_f
            out[feat(h), h] = 1.0
        for t in range(V):
            slow[3 * gated(f, t), indicator(t)] = 1.0  # q logit [a = t]
    out_w = np.zeros((C, d))
    out_b = np.zeros(C)
    for t in range(V):
        A, b = readout[t]
        for c in range(C):
            out_w[c, indicator(t)] = float(b[c])
            for f in range(V):
                coef = float(A[c][f])
                out_w[c, feat(gated(f, t))] += coef
                out_w[c, feat(base(f))] -= coef
    layer = SumLayer(H, 1, np.ones(d), np.zeros(d), slow, out)
    m = Model(name, tuple(alphabet), emb, ((layer, FeedForward.identity(d)),), out_w, out_b)
    check_shapes(m)
    return m


HALF = Fraction(1, 2)


def lt_dyck1() -> Model:
    """Dyck-1: class 1 logit ``n( - n) - 1/2``, class 0 logit 0."""
    r: tuple[list[list[int]], list[Fraction | int]] = ([[0, 0], [1, -1]], [0, -HALF])
    return counter_lt("lt-dyck1", ("(", ")"), {0: r, 1: r})


def lt_anbn() -> Model:
    """a^n b^n: after an ``a`` class {a,b}; after a ``b``, {b} (logit ``n_a - n_b - 1/2``) or
    {end} (logit 0)."""
    return counter_lt("lt-anbn", ("a", "b"), {
        0: ([[0, 0], [0, 0], [0, 0]], [1, 0, 0]),
        1: ([[0, 0], [1, -1], [0, 0]], [-1, -HALF, 0]),
    })


def lt_anbncn() -> Model:
    """a^n b^n c^n: after ``a`` {a,b}; after ``b`` {b} (``n_a - n_b - 1/2``) or {c} (0); after
    ``c`` {c} (``n_b - n_c - 1/2``) or {end} (0)."""
    z = [0, 0, 0]
    return counter_lt("lt-anbncn", ("a", "b", "c"), {
        0: ([z, z, z, z], [1, 0, 0, 0]),
        1: ([z, [1, -1, 0], z, z], [-1, -HALF, 0, -1]),
        2: ([z, z, [0, 1, -1], z], [-1, -1, -HALF, 0]),
    })


def lt_shuffle2() -> Model:
    """Shuffle-2: class ``2 b1 + b2`` logit ``s(b1) (d1 - 1/2) + s(b2) (d2 - 1/2)`` with
    ``s(1) = 1, s(0) = -1`` and the depths ``d1 = n( - n)``, ``d2 = n[ - n]``."""
    A, b = [], []
    for cls in range(4):
        s1 = 1 if cls & 2 else -1
        s2 = 1 if cls & 1 else -1
        A.append([s1, -s1, s2, -s2])
        b.append(-HALF * (s1 + s2))
    return counter_lt("lt-shuffle2", ("(", ")", "[", "]"), {t: (A, b) for t in range(4)})
