"""Sound enclosures of the looped Transformer over the reals: every float run from a point of
a box lies in the layer's enclosure, certified runs, and the step obligation."""

from __future__ import annotations

import numpy as np
import pytest
from flint import arb_mat

from constructions.looped_transformer import certify, examples, runner, subleq_net
from constructions.looped_transformer.layout import Layout
from constructions.looped_transformer.network import layer_forward
from constructions.machine import subleq
from proofs import giannou
from verify.real_attention import Box, LayerCache, enclose_layer, precision, softmax_columns
from verify.result import Verdict

LAY = Layout(2, 2, 2, 3, 3)


def _state() -> subleq.State:
    return subleq.make_state(LAY.machine(), [3, 1], [(1, 0, 1), (1, 1, 1)], 0)


def test_softmax_enclosure_holds_the_float_value() -> None:
    Z = np.array([[3.0, -1.0, 700.0], [2.5, 4.0, 699.0], [0.0, 4.0, -5.0]])
    E = np.exp(Z - Z.max(axis=0))
    want = E / E.sum(axis=0)
    with precision():
        for stable in (False, True):
            S = softmax_columns(arb_mat(Z.tolist()), stable).tolist()
            for i in range(3):
                for j in range(3):
                    lo, hi = float(S[i][j].lower()), float(S[i][j].upper())
                    assert lo - 1e-15 <= want[i, j] <= hi + 1e-15
                    assert hi - lo < 1e-20


@pytest.mark.parametrize("radius", [1e-4, 2e-2])
def test_layer_enclosures_hold_sampled_float_runs(radius: float) -> None:
    net = subleq_net.build(LAY, 5.0)
    X = LAY.encode(_state(), (1, 1, 1)).astype(np.float64)
    rng = np.random.default_rng(7)
    box = Box(X, np.full(X.shape, radius))
    for layer in net.layers:
        out, _ = enclose_layer(layer, box, net.lam, LayerCache())
        for _ in range(20):
            P = box.mid + rng.uniform(-1, 1, X.shape) * box.rad
            Y = layer_forward(layer, P, net.lam)
            slack = 1e-9 * (1 + np.abs(Y))
            assert np.all(Y >= out.lo - slack) and np.all(Y <= out.hi + slack), layer.label
        # the next layer starts from a point of this one's image
        box = Box(layer_forward(layer, box.mid, net.lam), np.full(X.shape, radius))


def test_certified_run_of_a_small_program() -> None:
    state = _state()
    net = subleq_net.build(LAY, 100.0)
    c = certify.certified_run(net, LAY, LAY.encode(state), max_steps=20)
    want = subleq.run(state, LAY.machine(), 20)
    assert c.failure is None and c.halted
    assert c.state == want.state and c.steps == want.steps
    assert c.min_margin > 0.99


def test_a_wrong_temperature_is_certified_wrong_or_undecided() -> None:
    net = subleq_net.build(LAY, 0.5)  # far too soft: the read mixes every column
    c = certify.certified_run(net, LAY, LAY.encode(_state()), max_steps=20)
    assert c.failure is not None and c.failure.status in ("certified wrong", "undecided")


@pytest.mark.slow
def test_factorial_at_lambda_10_is_certified_wrong_at_step_5() -> None:
    lay, state = runner.state_of_program(examples.FACTORIAL)
    c = certify.certified_run(subleq_net.build(lay, 10.0), lay, lay.encode(state))
    assert c.failure is not None and c.failure.status == "certified wrong"
    assert c.failure.step == 5


def test_step_obligation_at_the_cheap_size() -> None:
    r = giannou.check_steps(2, 2, 1, 100.0)
    assert r.verdict is Verdict.PROVED and r.checked == r.total == 112
    assert r.details["max_deviation"] < giannou.STEP_TOLERANCE


def test_step_proof_fails_on_a_corrupted_network() -> None:
    net = subleq_net.build(LAY, 100.0)
    net.layers[9].b2[LAY.pc, :] = -0.5  # error correction of the PC's first bit shifted
    enc = certify.Enclosure(net)
    proof = certify.prove_step(enc, LAY, _state(), None, 0.0, giannou.STEP_TOLERANCE)
    assert not proof.ok and proof.deviation > 0.1


def test_registered_obligations() -> None:
    names = {e.name: e.slow for e in giannou.entries()}
    assert names["giannou/step[m=2,N=2,commands=1,lam=100]"] is False
    assert names["giannou/invariant[m=2,N=2,commands=1,lam=100,eps=1e-12]"] is False
    assert names["giannou/step[m=2,N=3,commands=2,lam=100]"] is True


def test_invariant_at_the_cheap_size_and_where_it_is_not_decided() -> None:
    r = giannou.check_steps(2, 2, 1, 100.0, giannou.INVARIANT_EPS)
    assert r.verdict is Verdict.PROVED and r.checked == 112
    wide = giannou.check_steps(2, 2, 1, 100.0, 1e-6)
    assert wide.verdict is Verdict.UNKNOWN and wide.counterexample is None
