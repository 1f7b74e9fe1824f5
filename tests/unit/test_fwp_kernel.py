"""The real-valued kernel: backends, exact layer norm embeddings, certified decisions."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from constructions.fwp.embedding import token_embedding, unit_block
from verify.real import ops
from verify.real.numbers import ARB, EXACT, F64, NotRationalError, exact_sqrt


def test_exact_sqrt_of_squares_and_refusal() -> None:
    assert exact_sqrt(Fraction(9, 4)) == Fraction(3, 2)
    with pytest.raises(NotRationalError):
        exact_sqrt(Fraction(2))


@pytest.mark.parametrize("fn", ["exp", "tanh", "sigmoid"])
def test_transcendental_is_not_rational(fn: str) -> None:
    with pytest.raises(NotRationalError):
        getattr(EXACT, fn)(EXACT.array([0.5]))


def test_elu_p1_rational_only_for_non_negative() -> None:
    assert list(EXACT.elu_p1(EXACT.array([0.0, 2.0]))) == [1, 3]
    with pytest.raises(NotRationalError):
        EXACT.elu_p1(EXACT.array([-1.0]))


def test_arb_elu_straddling_zero_encloses_both_branches() -> None:
    ball = ARB.ball(0.0, 0.5)
    out = ARB.elu_p1(np.array([ball], dtype=object))[0]
    for x in (-0.5, -0.1, 0.0, 0.3, 0.5):
        want = x + 1 if x > 0 else float(np.exp(x))
        assert out.contains(ARB.scalar(want)) or abs(float(out.mid()) - want) <= float(out.rad())


def test_softmax_enclosure_contains_float() -> None:
    x = np.array([3.0, -1.0, 0.5])
    f = F64.softmax(x)
    a = ARB.softmax(ARB.array(x))
    for fv, av in zip(f, a):
        assert abs(float(av.mid()) - fv) <= float(av.rad()) + 1e-15


@pytest.mark.parametrize("d", [23, 26, 42, 60, 100])
def test_unit_block_makes_layer_norm_the_identity(d: int) -> None:
    block = unit_block(d, 1e-5)
    assert sum(Fraction(float(v)) ** 2 for v in block) == d * (1 - Fraction(1e-5))
    emb = token_embedding(d // 10, d, 1e-5)
    ones, zeros = EXACT.array(np.ones(d)), EXACT.array(np.zeros(d))
    for row in emb:
        e = EXACT.array(row)
        assert list(ops.layer_norm(EXACT, e, ones, zeros, EXACT.scalar(1e-5))) == list(e)


def test_argmax_margin_is_certified_and_can_fail() -> None:
    good = ARB.array([1.0, 0.25])
    dec = ops.argmax_decision(ARB, good)
    assert dec.winner == 0 and dec.certain and 0.74 < dec.margin_low <= 0.75
    tie = np.array([ARB.ball(1.0, 0.1), ARB.ball(1.05, 0.1)], dtype=object)
    assert not ops.argmax_decision(ARB, tie).certain
    assert ops.class_wrong(ARB, good, 1) == 0
    assert ops.class_wrong(ARB, tie, 0) is None


def test_threshold_decision() -> None:
    d = ops.threshold_decision(EXACT, EXACT.scalar(0.75), EXACT.scalar(0.5))
    assert d.winner == 1 and d.margin_low == 0.25 and d.certain


# ---- NaN and overflow never pass a comparison ---------------------------------------------------


def test_nan_ball_bounds_nothing() -> None:
    from flint import arb

    nan = arb("nan")
    assert ARB.lower(nan) == float("-inf") and ARB.upper(nan) == float("inf")
    assert ARB.positive(nan) is None


def test_a_nan_logit_is_never_a_margin() -> None:
    from flint import arb

    # class 0 leads class 1 by 1, but its lead over class 2 is NaN: min() would keep 1.0
    logits = np.array([ARB.scalar(2.0), ARB.scalar(1.0), arb("nan")], dtype=object)
    assert ops.class_margin(ARB, logits, 0) == float("-inf")
    assert not ops.argmax_decision(ARB, logits).certain
    two = np.array([ARB.scalar(1.0), arb("nan")], dtype=object)
    assert not ops.class_margin(ARB, two, 0) > 0
    assert ops.least([1.0, float("nan")]) == float("-inf")


def test_transcendental_functions_stay_finite_and_in_range() -> None:
    from flint import arb

    # 1 / (1 + exp(1e300)) is NaN in plain arb; the enclosure is now the function's range
    x = np.array([arb(-1e300), arb(1e300), arb(0, 1e20), ARB.scalar(2.0)], dtype=object)
    for f, lo, hi in ((ARB.sigmoid, 0, 1), (ARB.tanh, -1, 1)):
        for v, exact in zip(f(x), (None, None, None, 2.0)):
            assert v.is_finite() and v.lower() >= lo - 1e-8 and v.upper() <= hi + 1e-8
            if exact is not None:
                want = 1 / (1 + np.exp(-exact)) if f == ARB.sigmoid else np.tanh(exact)
                assert abs(float(v.mid()) - want) <= float(v.rad()) + 1e-15
    sm = ARB.softmax(ARB.array([1e300, 0.0, -3.0]))
    assert all(v.is_finite() and v.contains(ARB.scalar(w)) for v, w in zip(sm, (1.0, 0.0, 0.0)))


# ---- caches never serve weights that changed ---------------------------------------------------


def test_sparse_rows_of_a_writable_array_are_read_again() -> None:
    W = ARB.array(np.array([[1.0, 0.0], [0.0, 2.0]]))
    x = ARB.array(np.array([1.0, 1.0]))
    assert [float(v.mid()) for v in ops.affine(ARB, W, None, x)] == [1.0, 2.0]
    W[0, 1] = ARB.scalar(5.0)  # a writable array changed in place
    assert [float(v.mid()) for v in ops.affine(ARB, W, None, x)] == [6.0, 2.0]


def test_model_weights_are_frozen_and_a_changed_copy_is_converted_afresh() -> None:
    from constructions.fwp.counters import lt_dyck1
    from constructions.fwp.models import replace_array, run

    m = lt_dyck1()
    with pytest.raises(ValueError):
        m.out_b[1] = -1.5
    before = run(m, EXACT, [0])[-1]  # fills m's conversion cache
    bias = m.out_b.copy()
    bias[1] = -1.5
    bad = replace_array(m, "out_b", bias)
    after = run(bad, EXACT, [0])[-1]
    assert after[1] - before[1] == Fraction(-3, 2)  # the copy's own weights, not m's cache
    assert run(m, EXACT, [0])[-1][1] == before[1]


def test_layer_norm_of_balls_that_contain_zero_is_finite_and_encloses() -> None:
    # arb's power of a ball around 0 is NaN; the variance used to be NaN for such inputs (a
    # layer norm after a residual that is 0 up to rounding), so nothing could be certified
    x = np.array([1.0, -1.0, 0.0, 0.0])  # centred entries 2 and 3 straddle 0
    with ARB.context():
        balls = ARB.array(x)
        balls[2] = ARB.ball(0.0, 1e-19)
        one, zero = ARB.array(np.ones(4)), ARB.array(np.zeros(4))
        got = ops.layer_norm(ARB, balls, one, zero, ARB.scalar(1e-5))
    want = ops.layer_norm(F64, x, np.ones(4), np.zeros(4), 1e-5)
    for g, w in zip(got, want):
        assert g.is_finite() and ARB.lower(g) <= w <= ARB.upper(g)
