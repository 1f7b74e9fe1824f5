"""The looped Transformer's enclosure against the exact network and against reference figures:
arb images of sampled points (box corners included) lie in the boxes, unwritten rows pass through,
and step deviations match those of the earlier per-column implementation."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from flint import arb, arb_mat

from constructions.looped_transformer import certify, subleq_net
from constructions.looped_transformer.layout import Layout
from constructions.looped_transformer.network import Layer, layer_forward
from constructions.machine import subleq
from proofs import giannou
from verify.real_attention import (
    Box,
    LayerCache,
    arb_matrix,
    enclose_layer,
    nonneg_matmul_up,
    precision,
    written_rows,
)

LAY = Layout(2, 2, 2, 3, 3)
EXACT_BITS = 320


def _state() -> subleq.State:
    return subleq.make_state(LAY.machine(), [3, 1], [(1, 0, 1), (1, 1, 1)], 0)


# ---- the network in arb, written from network.py's formulas -------------------------------------


def _exact_layer(layer: Layer, X: arb_mat, lam: float) -> arb_mat:  # noqa: N803
    """``layer`` on ``X`` in arb at the ambient precision (tight balls around the real image)."""
    d, n = X.nrows(), X.ncols()
    A = X
    for head in layer.heads:
        scores = (arb_matrix(head.K) * X).transpose() * (arb_matrix(head.Q) * X)
        e = [[(scores[i, j] * arb(lam)).exp() for j in range(n)] for i in range(n)]
        totals = [sum((e[i][j] for i in range(n)), arb(0)) for j in range(n)]
        S = arb_mat([[e[i][j] / totals[j] for j in range(n)] for i in range(n)])
        A = A + arb_matrix(head.V) * X * S
    Z = arb_matrix(layer.W1) * A + arb_matrix(layer.b1)
    H = arb_mat([[Z[i, j].nonnegative_part() for j in range(n)] for i in range(Z.nrows())])
    out = A + arb_matrix(layer.W2) * H + arb_matrix(layer.b2)
    assert out.nrows() == d
    return out


def _assert_inside(Y: arb_mat, box: Box, what: str) -> None:  # noqa: N803
    """Every ball of ``Y`` lies in ``[box.lo, box.hi]`` (compared exactly, no slack)."""
    lo, hi = box.lo, box.hi
    for i, j in itertools.product(range(Y.nrows()), range(Y.ncols())):
        y = Y[i, j]
        assert arb(lo[i, j]) <= y.lower() and y.upper() <= arb(hi[i, j]), \
            (what, i, j, y, lo[i, j], hi[i, j])


def _points(X: np.ndarray, eps: float, rng: np.random.Generator, k: int) -> list[np.ndarray]:  # noqa: N803
    """``k`` float points of the box of radius ``eps`` about ``X``: two opposite corners (moved
    in by 1% of the radius, so that rounding keeps them inside), then random points."""
    out = [X + 0.99 * eps * s for s in (1.0, -1.0)]
    out += [X + rng.uniform(-0.99, 0.99, X.shape) * eps for _ in range(k - 2)]
    with precision(EXACT_BITS):
        for P in out:  # every point is in the box, exactly
            assert all(abs(arb(p) - arb(x)) <= arb(eps) for p, x in zip(P.ravel(), X.ravel()))
    return out


@pytest.mark.parametrize("eps", [0.0, giannou.INVARIANT_EPS, 1e-9])
def test_step_boxes_hold_the_exact_images_of_sampled_points(eps: float) -> None:
    net = subleq_net.build(LAY, 100.0)
    enc = certify.Enclosure(net)
    rng = np.random.default_rng(11)
    st = _state()
    for last in (None, (1, 1, 1)):
        X = LAY.encode(st, last).astype(np.float64)
        box = Box(X, np.full(X.shape, eps))
        with precision(EXACT_BITS):
            images = [arb_matrix(P) for P in (_points(X, eps, rng, 3) if eps else [X])]
        for layer, cache in zip(net.layers, enc.caches):  # the step's boxes, layer by layer
            box, _ = enclose_layer(layer, box, net.lam, cache)
            with precision(EXACT_BITS):
                images = [_exact_layer(layer, Y, net.lam) for Y in images]
            for Y in images:
                _assert_inside(Y, box, f"eps={eps:g}, last={last}, {layer.label}")
        assert certify.decide(LAY, box)[0] == subleq.step(st, LAY.machine())


@pytest.mark.parametrize("radius", [1e-4, 2e-2])
def test_layer_boxes_hold_the_exact_images_of_sampled_points(radius: float) -> None:
    """Wide boxes at a soft temperature: units are undecided and the scores vary."""
    net = subleq_net.build(LAY, 5.0)
    X = LAY.encode(_state(), (1, 1, 1)).astype(np.float64)
    rng = np.random.default_rng(5)
    undecided = 0
    for layer in net.layers:
        box = Box(X, np.full(X.shape, radius))
        out, facts = enclose_layer(layer, box, net.lam, LayerCache())
        undecided += facts["undecided_units"]
        for P in _points(X, radius, rng, 4):
            with precision(EXACT_BITS):
                Y = _exact_layer(layer, arb_matrix(P), net.lam)
            _assert_inside(Y, out, layer.label)
        X = layer_forward(layer, X, net.lam)
    assert undecided > 0  # the case of undecided units is exercised


def test_rows_a_layer_does_not_write_keep_the_input_box() -> None:
    net = subleq_net.build(LAY, 100.0)
    X = LAY.encode(_state(), (1, 1, 1)).astype(np.float64)
    rad = np.random.default_rng(2).uniform(0, 1e-9, X.shape)
    with precision():  # centres that are not floats (mid: the nearest float)
        exact = arb_matrix(X) + arb_matrix(np.full(X.shape, 2.0 ** -70))
    box = Box(X + 2.0 ** -70, rad, exact)
    assert not np.array_equal(box.mid, X) and np.array_equal(box.mid[X != 0], X[X != 0])
    for layer in net.layers:
        out, _ = enclose_layer(layer, box, net.lam, LayerCache())
        keep = ~written_rows(layer)
        assert keep.any() and (~keep).any()
        assert np.array_equal(out.mid[keep], box.mid[keep])
        assert np.array_equal(out.rad[keep], rad[keep])
        for i, j in zip(*np.nonzero(keep[:, None] & np.ones(X.shape, bool))):
            assert out.exact is not None and out.exact[i, j] == exact[i, j]
            assert out.exact[i, j].rad() == 0


# ---- deviations against the earlier implementation ----------------------------------------------

# (state index in canonical_states, eps, ok, deviation as float.hex) per word width N of the
# m=2, commands=2 layout, from the implementation that bounded every column on its own with the
# full coefficient matrix and carried every row through each layer.
REFERENCE = {
    2: [
        (0, 0.0, True, '0x1.00000000c0928p-52'),
        (0, 1e-12, True, '0x1.00997dc3f4319p-52'),
        (97, 0.0, True, '0x1.0000000180e32p-52'),
        (97, 1e-12, True, '0x1.01590aac4f4e4p-52'),
        (194, 0.0, True, '0x1.00000001d8dc8p-52'),
        (194, 1e-12, True, '0x1.01a7e88a8d517p-52'),
        (291, 0.0, True, '0x1.00000000d6949p-52'),
        (291, 1e-12, True, '0x1.00ab087b434d2p-52'),
        (388, 0.0, True, '0x1.0000000d3b4fbp-52'),
        (388, 1e-12, True, '0x1.0bdcda6ec94e5p-52'),
        (485, 0.0, True, '0x1.00000001675adp-52'),
        (485, 1e-12, True, '0x1.01471f055d18fp-52'),
        (582, 0.0, True, '0x1.00000007fa6ebp-52'),
        (582, 1e-12, True, '0x1.0658f181d254ap-52'),
        (679, 0.0, True, '0x1.0000000ff224fp-52'),
        (679, 1e-12, True, '0x1.0e4bcc299d441p-52'),
        (776, 0.0, True, '0x1.00000000ec96bp-52'),
        (776, 1e-12, True, '0x1.00bc93329268cp-52'),
        (873, 0.0, True, '0x1.0000000702578p-52'),
        (873, 1e-12, True, '0x1.0648af99dab94p-52'),
        (970, 0.0, True, '0x1.0000000180e32p-52'),
        (970, 1e-12, True, '0x1.01590aac4f4e4p-52'),
        (1067, 0.0, True, '0x1.00000001d8dc8p-52'),
        (1067, 1e-12, True, '0x1.01a7e88a8d517p-52'),
        (1164, 0.0, True, '0x1.00000007df485p-52'),
        (1164, 1e-12, True, '0x1.070ea0de816cap-52'),
        (1261, 0.0, True, '0x1.00000000aa42dp-52'),
        (1261, 1e-12, True, '0x1.009d95ab56584p-52'),
        (1358, 0.0, True, '0x1.00000001189aep-52'),
        (1358, 1e-12, True, '0x1.00e46711309fep-52'),
        (1455, 0.0, True, '0x1.00000007c19c6p-52'),
        (1455, 1e-12, True, '0x1.06f43b3cb52fdp-52'),
    ],
    3: [
        (0, 0.0, True, '0x1.00000000d1141p-52'),
        (0, 1e-12, True, '0x1.00a6a5cd6f866p-52'),
        (1601, 0.0, True, '0x1.0000000bdc626p-52'),
        (1601, 1e-12, True, '0x1.095ee2576c0f5p-52'),
        (3202, 0.0, True, '0x1.0000001944bc5p-52'),
        (3202, 1e-12, True, '0x1.13e1c66e9a1b7p-52'),
        (4803, 0.0, True, '0x1.0000000620d4ep-52'),
        (4803, 1e-12, True, '0x1.04e435e2976b2p-52'),
        (6404, 0.0, True, '0x1.0000000620d4ep-52'),
        (6404, 1e-12, True, '0x1.04d31862976b3p-52'),
        (8005, 0.0, True, '0x1.00000003eabfbp-52'),
        (8005, 1e-12, True, '0x1.0382fba1b1829p-52'),
        (9606, 0.0, True, '0x1.00000017b4b98p-52'),
        (9606, 1e-12, True, '0x1.1540fdf94317ep-52'),
        (11207, 0.0, True, '0x1.0000000a6e43bp-52'),
        (11207, 1e-12, True, '0x1.095f8f2fc5525p-52'),
    ],
}


@pytest.mark.parametrize("bits", [2, 3])
def test_step_deviations_match_the_reference_figures(bits: int) -> None:
    lay = giannou._layout(2, bits, 2)
    net = subleq_net.build(lay, 100.0)
    enc = certify.Enclosure(net)
    keep = giannou.passthrough_rows(net)
    states = list(giannou.canonical_states(lay))
    for k, eps, ok, dev in REFERENCE[bits]:
        st, last = states[k]
        tol = giannou.STEP_TOLERANCE if eps == 0 else eps
        p = certify.prove_step(enc, lay, st, last, eps, tol, ignore_rows=keep)
        want = float.fromhex(dev)
        assert p.ok == ok
        # the new bound may only be tighter by what it leaves out (TINY terms and ulps of the
        # rows carried unchanged), never looser
        assert want * (1 - 1e-6) <= p.deviation <= want * (1 + 1e-6), (k, eps, p.deviation, want)



# ---- the float products behind the radii --------------------------------------------------------


def test_stacked_nonneg_products_bound_the_exact_ones() -> None:
    rng = np.random.default_rng(4)
    A = rng.uniform(0, 1, (5, 4, 7)) * 2.0 ** rng.integers(-60, 60, (5, 4, 7))
    B = rng.uniform(0, 1, (5, 7, 1)) * 2.0 ** rng.integers(-60, 60, (5, 7, 1))
    bound = nonneg_matmul_up(A, B)
    assert bound.shape == (5, 4, 1)
    for c, i in itertools.product(range(5), range(4)):
        exact = sum(Fraction(float(a)) * Fraction(float(b)) for a, b in zip(A[c, i], B[c, :, 0]))
        assert Fraction(float(bound[c, i, 0])) >= exact


def test_an_infinite_factor_makes_the_product_bound_infinite() -> None:
    A, B = np.ones((3, 2)), np.ones((2, 4))
    A[1, 0] = np.inf
    assert np.all(np.isinf(nonneg_matmul_up(A, B)))
    B[0, :] = 0.0  # the infinite bound meets only zeros: the exact product is 1 everywhere
    bound = nonneg_matmul_up(A, B)
    assert not np.any(np.isnan(bound)) and np.all(bound >= 1.0)
