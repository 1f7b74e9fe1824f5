"""float64, arb and exact rationals run the same model text: the enclosures contain the float64
values (up to float rounding) and the exact values, on random models of every kind."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions.fwp.models import (
    DeltaLayer,
    FeedForward,
    Model,
    RecDeltaLayer,
    SrwmLayer,
    SumLayer,
    check_shapes,
    run,
)
from verify.real.numbers import ARB, EXACT, F64


def _random_model(kind: str, seed: int, dyadic: bool = False) -> Model:
    rng = np.random.default_rng(seed)
    H, dh = 2, 2
    d, V, C, f = H * dh, 3, 2, 3

    def w(*shape: int) -> np.ndarray:
        x = rng.normal(size=shape)
        return np.round(x * 8) / 8 if dyadic else x

    rows = {"lt": 3 * dh, "deltanet": 3 * dh + 1, "recdelta": 3 * dh + 1}.get(kind, 0) * H
    ln = (1 + 0.1 * w(d), 0.1 * w(d))
    if kind == "lt":
        layer = SumLayer(H, dh, *ln, w(rows, d), w(d, H * dh))
    elif kind == "deltanet":
        layer = DeltaLayer(H, dh, *ln, w(rows, d), w(d, H * dh))
    elif kind == "recdelta":
        layer = RecDeltaLayer(H, dh, *ln, w(rows, d), w(H, dh, dh), w(H, dh, dh), w(H, dh, dh),
                              w(H, dh), w(d, H * dh))
    else:
        layer = SrwmLayer(H, dh, w(H, dh, dh), w(H, dh, dh), w(H, dh, dh), w(H, dh, 4), *ln,
                          w(d, H * dh))
    ff = FeedForward(1 + 0.1 * w(d), 0.1 * w(d), w(f, d), w(f), w(d, f), w(d))
    m = Model(kind, ("a", "b", "c"), w(V, d), ((layer, ff),), w(C, d), w(C))
    check_shapes(m)
    return m


@settings(max_examples=12, deadline=None, derandomize=True)
@given(kind=st.sampled_from(["lt", "deltanet", "recdelta", "srwm"]),
       seed=st.integers(0, 10**6), tokens=st.lists(st.integers(0, 2), min_size=1, max_size=6))
def test_arb_encloses_float64(kind: str, seed: int, tokens: list[int]) -> None:
    m = _random_model(kind, seed)
    fl = run(m, F64, tokens)
    ab = run(m, ARB, tokens)
    for f_logits, a_logits in zip(fl, ab):
        for fv, av in zip(f_logits, a_logits):
            slack = 1e-9 * (1 + abs(fv))
            assert abs(float(av.mid()) - fv) <= float(av.rad()) + slack, (kind, tokens)


def _rational_model(seed: int) -> Model:
    """An LT whose key and query logits are non-negative (phi is then rational) and whose layer
    norms see exact-variance inputs (eps taken so that sqrt(var + eps) is rational)."""
    from constructions.fwp.counters import lt_dyck1

    rng = np.random.default_rng(seed)
    base = lt_dyck1()
    layer, ff = base.blocks[0]
    slow = layer.slow.copy()
    slow[2::3] = np.round(rng.normal(size=slow[2::3].shape) * 4) / 4 * (slow[2::3] != 0)
    q_rows = slow[0::3]
    slow[0::3] = np.abs(np.round(rng.normal(size=q_rows.shape) * 4) / 4) * (q_rows != 0)
    layer = SumLayer(layer.heads, 1, layer.ln_w, layer.ln_b, slow, layer.out)
    out_w = np.round(rng.normal(size=base.out_w.shape) * 4) / 4
    return Model("rational", base.alphabet, base.embedding, ((layer, ff),), out_w, base.out_b)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10**6), tokens=st.lists(st.integers(0, 1), min_size=1, max_size=8))
def test_exact_inside_arb_and_equal_to_float(seed: int, tokens: list[int]) -> None:
    m = _rational_model(seed)
    ex = run(m, EXACT, tokens)
    ab = run(m, ARB, tokens)
    fl = run(m, F64, tokens)
    for e_l, a_l, f_l in zip(ex, ab, fl):
        for ev, av, fv in zip(e_l, a_l, f_l):
            assert isinstance(ev, Fraction)
            assert av.contains(ARB.scalar(ev))
            assert abs(float(ev) - fv) <= 1e-9 * (1 + abs(fv))
