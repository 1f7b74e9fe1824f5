"""Soundness of the kernel: corrupted weights come back refuted, counterexamples replay, and every
engine agrees with a brute-force ground truth computed independently in Python ints."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofs.kernel import full_adder, relu_identity, ripple_adder
from verify import ops
from verify.domains import Bits, IntRange, product
from verify.engines import Options, exhaustive, replay, sampled, smt
from verify.layout import Layout
from verify.network import Layer, Network
from verify.obligation import Obligation
from verify.result import Result, Verdict

Corrupt = Callable[[Obligation, int, int, int], Obligation]
Mutants = Callable[[Obligation], list[Obligation]]
SMT = Options("smt", timeout=30)


@pytest.fixture
def mutants(corrupt: Corrupt, corrupt_b: Corrupt) -> Mutants:
    """``mutants(ob)``: every change by +-1 of one nonzero weight or one bias of the network."""

    def make(ob: Obligation) -> list[Obligation]:
        out = []
        for li, layer in enumerate(ob.network.layers):
            for k in range(layer.nnz):
                out += [corrupt(ob, li, k, d) for d in (-1, 1)]
            for r in range(len(layer.bias)):
                out += [corrupt_b(ob, li, r, d) for d in (-1, 1)]
        return out

    return make


def _domain_points(ob: Obligation) -> list[dict[str, int]]:
    """Every member of a small domain, listed without the domain's own decoder."""
    ranges = [range(lo, hi + 1) for lo, hi in ob.domain.box()]
    points = [dict(zip(ob.domain.names, p, strict=True)) for p in itertools.product(*ranges)]
    return [p for p in points if bool(ob.domain.accept(p))]


def _truly_correct(ob: Obligation) -> bool:
    """Ground truth by brute force: the exact forward pass equals the spec everywhere."""
    for p in _domain_points(ob):
        net, want = ob.network.forward_exact(p), ob.spec(p)
        if any(int(net[o]) != int(want[o]) for o in ob.checked_outputs):
            return False
    return True


def _assert_replays(ob: Obligation, r: Result) -> None:
    """A refutation's counterexample is in the domain and really differs."""
    cex = r.counterexample
    assert cex is not None, r.line()
    again = replay(ob, cex.inputs)
    assert again is not None, f"{r.line()} does not replay"
    assert again.network == cex.network and again.spec == cex.spec
    net = ob.network.forward_exact(cex.inputs)
    want = ob.spec(cex.inputs)
    assert any(net[o] != want[o] for o in ob.checked_outputs)
    assert set(cex.network) == {o for o in ob.checked_outputs if net[o] != want[o]}


# --------------------------------------------------------------------------- (a)
@pytest.mark.parametrize("ob", [full_adder(), ripple_adder(3), relu_identity(300)],
                         ids=lambda o: o.name)
def test_correct_networks_are_proved_by_exhaustive_and_smt(ob: Obligation) -> None:
    assert _truly_correct(ob)
    for r in (exhaustive(ob), smt(ob, SMT)):
        assert r.verdict is Verdict.PROVED, r.line()
        assert r.checked == r.total == ob.domain.count


@pytest.mark.parametrize("ob", [full_adder(), ripple_adder(3)], ids=lambda o: o.name)
def test_one_wrong_weight_is_refuted_by_both_and_both_counterexamples_replay(
    ob: Obligation, corrupt: Corrupt,
) -> None:
    bad = corrupt(ob, len(ob.network.layers) - 1, 0, 1)
    assert not _truly_correct(bad)
    for r in (exhaustive(bad), smt(bad, SMT)):
        assert r.verdict is Verdict.REFUTED, r.line()
        _assert_replays(bad, r)


def test_every_corruption_of_the_full_adder_is_refuted_by_both_engines(mutants: Mutants) -> None:
    bad_ones = mutants(full_adder())
    assert len(bad_ones) == 46
    for bad in bad_ones:
        for r in (exhaustive(bad), smt(bad, SMT)):
            assert r.verdict is Verdict.REFUTED, r.line()
            _assert_replays(bad, r)


def test_exhaustive_matches_brute_force_on_every_corruption_of_a_3_bit_adder(
    mutants: Mutants,
) -> None:
    bad_ones = mutants(ripple_adder(3))
    refuted = 0
    for bad in bad_ones:
        r = exhaustive(bad)
        assert (r.verdict is Verdict.PROVED) == _truly_correct(bad), r.line()
        if r.verdict is Verdict.REFUTED:
            refuted += 1
            _assert_replays(bad, r)
    # The few survivors change units that are provably dead (e.g. ReLU(x0 + y0 - 2) with no
    # carry in); the brute force above confirms each is equivalent.
    assert refuted >= len(bad_ones) - 10


def _smt_agrees_with_exhaustive(mutants: list[Obligation]) -> None:
    for bad in mutants:
        a, b = exhaustive(bad), smt(bad, SMT)
        assert a.verdict is b.verdict, f"{a.line()} / {b.line()}"
        if b.verdict is Verdict.REFUTED:
            _assert_replays(bad, b)


def test_smt_agrees_with_exhaustive_on_a_sample_of_adder_corruptions(mutants: Mutants) -> None:
    _smt_agrees_with_exhaustive(mutants(ripple_adder(3))[::7])


@pytest.mark.slow
def test_smt_agrees_with_exhaustive_on_every_adder_corruption(mutants: Mutants) -> None:
    _smt_agrees_with_exhaustive(mutants(ripple_adder(3)) + mutants(ripple_adder(4))[::3])


# --------------------------------------------------------------------------- random networks
def _symbolic(net: Network) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A spec that is ``net`` itself, written with :mod:`verify.ops`: it runs on ints, numpy
    batches and z3 terms alike, and shares no code with the network's evaluators."""

    def spec(v: Mapping[str, Any]) -> dict[str, Any]:
        x = [v[n] for n in net.inputs]
        for layer in net.layers:
            acc: list[Any] = list(layer.bias)
            for r, c, w in zip(layer.rows, layer.cols, layer.vals, strict=True):
                acc[r] = acc[r] + w * x[c]
            x = [ops.relu(a) for a in acc] if layer.relu else acc
        return dict(zip(net.outputs.names, x, strict=True))

    return spec


@st.composite
def _cases(draw: st.DrawFn) -> tuple[Obligation, Network]:
    """A random small network, and an obligation that checks a possibly mutated copy of it
    against the original (so the truth can be either way)."""
    widths = [3] + draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    layers = []
    cur = Layout(["a", "b", "c"])
    for k, w in enumerate(widths[1:]):
        nxt = Layout([f"h{k}.{i}" for i in range(w)])
        mat = draw(st.lists(st.lists(st.integers(-4, 4), min_size=len(cur), max_size=len(cur)),
                            min_size=w, max_size=w))
        bias = draw(st.lists(st.integers(-4, 4), min_size=w, max_size=w))
        layers.append(Layer.from_dense(mat, bias, cur, nxt, relu=draw(st.booleans())))
        cur = nxt
    original = Network(tuple(layers), "original")
    dom = product(Bits(("a", "b")), IntRange("c", -3, 3))
    mutated = list(layers)
    if draw(st.booleans()):
        li = draw(st.integers(0, len(layers) - 1))
        layer = layers[li]
        bias = list(layer.bias)
        bias[draw(st.integers(0, len(bias) - 1))] += draw(st.sampled_from([-1, 1]))
        mutated[li] = Layer(layer.inputs, layer.outputs, layer.rows, layer.cols, layer.vals,
                            tuple(bias), layer.relu, layer.label)
    ob = Obligation("random", Network(tuple(mutated), "mutated"), dom, _symbolic(original))
    return ob, original


# The sampled engine runs hypothesis inside this test: that nesting is intended here.
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.nested_given])
@given(_cases())
def test_engines_agree_with_brute_force_on_random_networks(
    case: tuple[Obligation, Network],
) -> None:
    ob, _ = case
    truth = Verdict.PROVED if _truly_correct(ob) else Verdict.REFUTED
    ex = exhaustive(ob)
    assert ex.verdict is truth, ex.line()
    assert ex.details["arithmetic"] == "float32"
    so = smt(ob, SMT)
    assert so.verdict is truth, so.line()
    sa = sampled(ob, Options("sampled", samples=25))
    assert sa.verdict is not Verdict.PROVED
    if sa.verdict is Verdict.REFUTED:
        assert truth is Verdict.REFUTED
    for r in (ex, so, sa):
        if r.verdict is Verdict.REFUTED:
            _assert_replays(ob, r)


# --------------------------------------------------------------------------- known gaps
def test_a_spec_beyond_int64_cannot_make_a_wrong_network_proved() -> None:
    x, y = Layout(["x"]), Layout(["y"])
    zero = Network((Layer.from_entries(x, y, [], [0]),), "zero")
    ob = Obligation("wrap", zero, IntRange("x", 0, 5),
                    lambda v: {"y": v["x"] * (1 << 40) * (1 << 40)})
    assert not _truly_correct(ob)
    assert smt(ob, SMT).verdict is Verdict.REFUTED
    assert exhaustive(ob).verdict is Verdict.REFUTED


def test_float_fast_paths_agree_with_python_ints_on_the_kernel_obligations() -> None:
    """Differential test of the float engines against the exact reference, whole domain."""
    for ob in (full_adder(), ripple_adder(4), relu_identity(5000)):
        rows = np.concatenate(list(ob.domain.chunks(1 << 16)))
        order = [ob.domain.names.index(n) for n in ob.network.inputs]
        x = rows[:, order]
        ref = ob.network.forward(x.astype(object), "python")
        for arith in ("float32", "float64", "int64"):
            got = ob.network.forward(x, arith)
            assert np.array_equal(got.astype(object), ref), (ob.name, arith)
