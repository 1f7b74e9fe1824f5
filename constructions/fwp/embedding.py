"""Token embeddings that layer norm leaves exactly unchanged, so rational models stay rational.

A block of ten coordinates ``(1, -1, x1, -x1, ..., x4, -x4)`` has mean zero; the ``x_i`` are
float64 numbers with ``2 + 2 sum x_i^2 = d (1 - eps)`` exactly (a four-square decomposition of an
integer), so on a width-``d`` vector that is zero outside the block the biased variance is
``1 - eps`` and ``LN(e) = (e - 0) / sqrt(1 - eps + eps) = e`` in exact arithmetic. Each token gets
its own block, and coordinate 0 of the block is exactly 1: the token indicator.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from verify.errors import ParameterError

BLOCK = 10


def unit_block(d: int, eps: float) -> np.ndarray:
    """The ten-entry pattern for width ``d`` and layer-norm epsilon ``eps``."""
    from sympy.solvers.diophantine.diophantine import sum_of_four_squares

    e = Fraction(eps)
    if not 0 < e < 1:
        raise ParameterError("eps", eps, "a float in (0, 1)")
    k = e.denominator.bit_length() - 1
    if e.denominator != 1 << k:
        raise ParameterError("eps", eps, "a float (a dyadic rational)")
    j = (k + 2) // 2  # 2j >= k + 1: the sum of squares below is an integer
    target = (d * (1 - e) - 2) / 2 * 4**j
    if target <= 0 or target.denominator != 1:
        raise ParameterError("d", d, f"a width of at least 3 (got target {target})")
    squares = sum_of_four_squares(int(target))
    xs = [Fraction(int(a), 1 << j) for a in squares]
    out = [1.0, -1.0]
    for x in xs:
        f = float(x)
        if Fraction(f) != x:
            raise ParameterError("d", d, "a width whose pattern is exact in float64")
        out += [f, -f]
    block = np.array(out)
    assert sum(Fraction(float(v)) ** 2 for v in block) == d * (1 - e)
    return block


def token_embedding(vocab: int, d: int, eps: float) -> np.ndarray:
    """``vocab`` rows of width ``d``: token ``a`` holds the pattern in coordinates
    ``10 a .. 10 a + 9``; the indicator of ``a`` is coordinate ``10 a``."""
    if d < BLOCK * vocab:
        raise ParameterError("d", d, f">= {BLOCK * vocab} for {vocab} tokens")
    block = unit_block(d, eps)
    emb = np.zeros((vocab, d))
    for a in range(vocab):
        emb[a, BLOCK * a:BLOCK * (a + 1)] = block
    return emb


def indicator(a: int) -> int:
    """The coordinate that is exactly 1 for token ``a`` and 0 for every other token."""
    return BLOCK * a
