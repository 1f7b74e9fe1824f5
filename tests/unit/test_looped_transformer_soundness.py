"""Ways the looped-Transformer proofs could say PROVED wrongly, each closed: rows taken as passed
through, the canonical states enumerated, float radii rounded outward, corrupted networks."""

from __future__ import annotations

import itertools
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from flint import arb, arb_mat

from constructions.looped_transformer import certify, subleq_net
from constructions.looped_transformer.layout import Layout
from constructions.looped_transformer.network import Head, Layer, LoopedTransformer, layer_forward
from constructions.machine import subleq
from proofs import giannou
from verify.real_attention import (
    MAX_INNER,
    Box,
    LayerCache,
    enclose_layer,
    matmul_error,
    mid_rad,
    nonneg_matmul_up,
    precision,
)
from verify.result import Verdict

LAY = Layout(2, 2, 2, 3, 3)


def _without_rows(net: LoopedTransformer, rows: slice) -> LoopedTransformer:
    """``net`` with every write into ``rows`` removed (V, W2 and b2 rows zero)."""
    layers = []
    for layer in net.layers:
        W2, b2 = layer.W2.copy(), layer.b2.copy()
        W2[rows], b2[rows] = 0.0, 0.0
        heads = []
        for h in layer.heads:
            V = h.V.copy()
            V[rows] = 0.0
            heads.append(Head(h.Q, h.K, V))
        layers.append(Layer(tuple(heads), layer.W1, layer.b1, W2, b2, layer.label))
    return LoopedTransformer(tuple(layers), net.lam)


def test_a_row_no_layer_writes_is_still_compared_where_the_successor_differs() -> None:
    # A network that never writes the PC: the PC rows pass through, but the successor's PC
    # differs from the input's, so the step is wrong (this was ignored, and proved).
    bad = _without_rows(subleq_net.build(LAY, 100.0), slice(LAY.pc, LAY.pc + LAY.logn))
    keep = giannou.passthrough_rows(bad)
    assert keep[LAY.pc:LAY.pc + LAY.logn].all()
    st = subleq.make_state(LAY.machine(), [3, 1], [(1, 0, 1), (1, 1, 1)], 0)
    assert subleq.step(st, LAY.machine()).pc == 1
    proof = certify.prove_step(certify.Enclosure(bad), LAY, st, None, 0.0,
                               giannou.STEP_TOLERANCE, ignore_rows=keep)
    assert not proof.ok and proof.where[0] in range(LAY.pc, LAY.pc + LAY.logn)
    for eps in (None, giannou.INVARIANT_EPS):  # both obligations, through check_steps
        wrong = giannou.check_steps(2, 3, 2, 100.0, eps, net=_without_rows(
            subleq_net.build(giannou._layout(2, 3, 2), 100.0),
            slice(giannou._layout(2, 3, 2).pc, giannou._layout(2, 3, 2).pc + 3)))
        assert wrong.verdict is not Verdict.PROVED, wrong.line()


@pytest.mark.parametrize("eps", [None, giannou.INVARIANT_EPS])
def test_corrupted_network_is_not_proved_at_the_cheap_size(eps: float | None) -> None:
    lay = giannou._layout(2, 2, 1)
    net = subleq_net.build(lay, 100.0)
    net.layers[9].b2[lay.mem, :] += 0.3  # the error correction shifts a memory bit
    r = giannou.check_steps(2, 2, 1, 100.0, eps, net=net)
    assert r.verdict is not Verdict.PROVED, r.line()


@pytest.mark.parametrize("m, bits, commands", [(2, 2, 1), (2, 2, 2), (1, 3, 2)])
def test_canonical_states_are_every_state_that_stays_on_the_commands(m: int, bits: int,
                                                                      commands: int) -> None:
    """Against a brute force written from the machine's own step: a state is left out exactly
    when its step does not jump (the new word is positive) and its PC is the last command."""
    lay = giannou._layout(m, bits, commands)
    size = lay.machine()
    want = set()
    left_out = 0
    ins = list(itertools.product(range(m), range(m), range(commands)))
    for memory in itertools.product(range(1 << bits), repeat=m):
        for code in itertools.product(ins, repeat=commands):
            for pc in range(commands):
                st = subleq.make_state(size, list(memory), list(code), pc)
                nxt = subleq.step(st, size)
                b = st.code[pc][1]
                positive = subleq.signed_memory(nxt, size)[b] > 0
                lasts = [None, *set(code)]
                if positive and pc == commands - 1:
                    left_out += len(lasts)
                    continue
                want |= {(st, last) for last in lasts}
    got = list(giannou.canonical_states(lay))
    assert len(got) == len(set(got)) and set(got) == want
    assert giannou.count_left_out(lay) == left_out


def test_step_result_names_the_states_left_out() -> None:
    r = giannou.check_steps(2, 2, 1, 100.0)
    assert r.verdict is Verdict.PROVED
    assert r.details["left_out_falls_off"] > 0 and "falls off" in r.reason


# ---- float radii are rounded outward -----------------------------------------------------------


def test_float_radius_covers_the_rounding_of_the_centre() -> None:
    # exact centre 1/3 at 128 bits, radius 1: the point 1/3 + 1 is in the box. Adding the
    # centre's rounding (about 1.9e-17) to 1.0 in float64 rounds back to 1.0, so the radius
    # about the float mid must be rounded up, not to nearest.
    with precision():
        third = arb(1) / 3
        box = Box(np.array([[float(third)]]), np.array([[1.0]]), mid_rad(arb_mat([[third]])).exact)
        far = third + 1
        assert arb(box.mid[0, 0]) + arb(box.float_rad[0, 0]) >= far
        assert arb(box.hi[0, 0]) >= far and arb(box.lo[0, 0]) <= third - 1
        assert arb(box.within(np.array([[0.0]]))[0, 0]) >= far


def test_nonneg_product_bound_holds_where_a_relative_slack_of_1e_12_does_not() -> None:
    # 1 + k * 2^-53 summed left to right: every addition ties back to 1, so the float sum is 1
    # and the exact one 1 + k u, 2.2e-12 above it for k = 20000. A BLAS may sum in that order,
    # so a fixed relative slack of 1e-12 is not a bound; the product bound must hold whatever
    # the order.
    k = 20000
    exact = 1 + Fraction(k, 2 ** 53)
    assert sum([1.0] + [2.0 ** -53] * k) == 1.0 and Fraction(1.0 * (1 + 1e-12)) < exact
    row = np.full(k + 1, 2.0 ** -53)
    row[0] = 1.0
    for A, B in ((np.tile(row, (3, 1)), np.ones((k + 1, 3))), (row[None, :], np.ones(k + 1)),
                 (row[None, ::-1].copy(), np.ones((k + 1, 1)))):
        bound = nonneg_matmul_up(A, B)
        assert all(Fraction(float(v)) >= exact for v in np.reshape(bound, -1))
        fl, err = A @ B, matmul_error(A, B)
        assert all(Fraction(float(f)) + Fraction(float(e)) >= exact
                   for f, e in zip(np.reshape(fl, -1), np.reshape(err, -1)))


def test_products_beyond_the_bounded_dimension_are_refused() -> None:
    A = np.broadcast_to(np.zeros(1), (1, MAX_INNER + 1))
    B = np.broadcast_to(np.zeros(1), (MAX_INNER + 1, 1))
    with pytest.raises(ValueError, match="inner dimension"):
        nonneg_matmul_up(A, B)


def test_nonfinite_radius_never_decides() -> None:
    net = subleq_net.build(LAY, 100.0)
    X = LAY.encode(subleq.make_state(LAY.machine(), [3, 1], [(1, 0, 1), (1, 1, 1)], 0))
    rad = np.zeros(X.shape)
    rad[LAY.mem, LAY.s] = np.inf
    out, _ = enclose_layer(net.layers[1], Box(X.astype(float), rad), net.lam, LayerCache())
    assert not np.any(np.isnan(out.rad)) and np.any(np.isinf(out.rad))
    assert not np.any(np.isnan(out.within(X)))
    state, margin, why = certify.decide(LAY, out)  # memory word 0 is read by its sign
    assert state is None and margin == float("-inf") and "not finite" in why


@pytest.mark.parametrize("radius", [1e-9, 1e-3])
def test_point_enclosures_lie_in_the_box_enclosure(radius: float) -> None:
    """A point of the box, enclosed on its own (a tight ball around its exact image), must meet
    the box's enclosure in every entry; compared as arb balls, with no slack."""
    net = subleq_net.build(LAY, 5.0)
    X = LAY.encode(subleq.make_state(LAY.machine(), [3, 1], [(1, 0, 1), (1, 1, 1)], 0),
                   (1, 1, 1)).astype(np.float64)
    rng = np.random.default_rng(3)
    for layer in net.layers[:6]:
        box = Box(X, np.full(X.shape, radius))
        wide, _ = enclose_layer(layer, box, net.lam, LayerCache())
        for _ in range(3):
            P = X + rng.uniform(-1, 1, X.shape) * radius * 0.999
            pt, _ = enclose_layer(layer, Box.point(P), net.lam, LayerCache())
            assert np.all(pt.hi >= wide.lo) and np.all(pt.lo <= wide.hi), layer.label
        X = layer_forward(layer, X, net.lam)


def test_certified_trace_of_a_corrupted_file_is_not_certified(tmp_path: Path) -> None:
    from io import StringIO

    from loopmlp.cli import main

    npz = tmp_path / "cd.npz"
    program = str(Path(__file__).resolve().parents[2] / "constructions" / "programs" /
                  "countdown.sq")
    assert main(["export", "--giannou-network", str(npz), "--program", program],
                StringIO(), StringIO()) == 0
    with np.load(npz) as z:
        arrays = {k: z[k] for k in z.files}
    lay = Layout(int(arrays["s"]), int(arrays["m"]), int(arrays["n"] - arrays["s"] -
                 arrays["m"]), int(arrays["N"]), int(arrays["logn"]))
    arrays["L9.b2"][lay.mem, :] += 0.3  # the error correction shifts a memory bit
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)  # type: ignore[arg-type]
    out, err = StringIO(), StringIO()
    code = main(["run", "--giannou-network", str(bad), "--dtype", "exact", "--check",
                 "--max-steps", "3", "--json"], out, err)
    doc = json.loads(out.getvalue())
    assert code in (1, 3) and doc["failure"] is not None, (code, doc, err.getvalue())
