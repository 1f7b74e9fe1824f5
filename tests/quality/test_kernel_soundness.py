"""Soundness of the kernel: corrupted weights come back refuted, counterexamples replay, and every
engine agrees with a brute-force ground truth computed independently in Python ints."""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.specs import network_spec

from proofs.kernel import full_adder, relu_identity, ripple_adder
from verify import ops
from verify.domains import Bits, Constrained, IntRange, OneHot, product
from verify.errors import InternalError
from verify.layout import Layout
from verify.methods import (
    Options,
    bv_width,
    check,
    exhaustive,
    replay,
    sampled,
    smt,
    smt_bv,
    spec_bound,
)
from verify.methods.factorised import factorised
from verify.network import Layer, Network
from verify.obligation import Factorisation, Form, Obligation
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


def _truly_correct(ob: Obligation, points: list[dict[str, int]] | None = None) -> bool:
    """Ground truth by brute force: the exact forward pass equals the spec everywhere (on the
    domain's points, or on ``points`` when the members are listed by hand)."""
    for p in _domain_points(ob) if points is None else points:
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
    ob = Obligation("random", Network(tuple(mutated), "mutated"), dom, network_spec(original))
    return ob, original


# The sampled engine runs hypothesis inside these tests: that nesting is intended here.
RANDOM = settings(max_examples=20, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.nested_given])


@RANDOM
@given(_cases())
def test_engines_agree_with_brute_force_on_random_networks(
    case: tuple[Obligation, Network],
) -> None:
    _engines_agree(case)


@pytest.mark.slow
@settings(RANDOM, max_examples=200)
@given(_cases())
def test_engines_agree_with_brute_force_on_many_random_networks(
    case: tuple[Obligation, Network],
) -> None:
    _engines_agree(case)


def _engines_agree(case: tuple[Obligation, Network]) -> None:
    """Every engine's verdict is the brute-force truth; sampling never proves."""
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


# --------------------------------------------------------------------------- regressions
# Each test below held a false verdict (or a crash instead of a verdict) before its fix.
_X, _Y = Layout(["x"]), Layout(["y"])
_IDENTITY = Network((Layer.from_entries(_X, _Y, [(0, 0, 1)], [0], relu=False),), "identity")


@pytest.mark.parametrize("lo", [(1 << 63) - 4, (1 << 64) + 5, -(1 << 63) - 3, -(1 << 70)],
                         ids=["across-2^63", "beyond-2^64", "across--2^63", "below--2^70"])
def test_intranges_beyond_int64_are_enumerated_exactly(lo: int) -> None:
    dom = IntRange("x", lo, lo + 7)
    rows = np.concatenate(list(dom.chunks(3)))
    assert [int(v) for v in rows[:, 0]] == list(range(lo, lo + 8))
    # True: y = x. False: the spec is x shifted by 2^64 on the upper half of the range, which
    # a decode that wraps at 2^64 cannot tell apart from x.
    true = Obligation("big/true", _IDENTITY, dom, lambda v: {"y": v["x"]})
    cut = lo + 4
    false = Obligation("big/false", _IDENTITY, dom,
                       lambda v: {"y": v["x"] - ops.ite(v["x"] >= cut, 1 << 64, 0)})
    assert _truly_correct(true) and not _truly_correct(false)
    for r in (exhaustive(true), smt(true, SMT), smt_bv(true, SMT), check(true)):
        assert r.verdict is Verdict.PROVED, r.line()
    for r in (exhaustive(false), smt(false, SMT), smt_bv(false, SMT), check(false)):
        assert r.verdict is Verdict.REFUTED, r.line()
        _assert_replays(false, r)
        assert r.counterexample is not None and r.counterexample.inputs["x"] >= cut


def _hidden_by_ite(v: Mapping[str, Any]) -> dict[str, Any]:
    """y = x + [x > 0]: the test is of 2^104 > 0, a magnitude only the plain-integer branches
    of an ``ite`` carry; wrapped at 64 bits (or at a narrow bit-vector width) it reads 0 > 0."""
    big = ops.ite(v["x"] > 0, 1 << 40, 0) * (1 << 40) * (1 << 24)
    return {"y": v["x"] + ops.ite(big > 0, 1, 0)}


def test_magnitudes_in_plain_integer_ite_branches_are_tracked() -> None:
    ob = Obligation("ite/hidden", _IDENTITY, IntRange("x", 0, 3), _hidden_by_ite)
    assert not _truly_correct(ob)
    bound = spec_bound(ob)
    assert bound is not None and bound >= 1 << 104
    for r in (exhaustive(ob), smt(ob, SMT), smt_bv(ob, SMT), check(ob)):
        assert r.verdict is Verdict.REFUTED, r.line()
        _assert_replays(ob, r)


_ONE_HOT_20 = [{f"h{i}": int(i == k) for i in range(20)} for k in range(20)]


def _one_hot_pair() -> Obligation:
    """y = h0 + h1 against ``h1 if h0 == 0 else 1``: equal on a one-hot domain of 20, unequal
    at h0 = h1 = 1, which a sum taken modulo 16 lets in with 15 more ones."""
    names = tuple(f"h{i}" for i in range(20))
    net = Network((Layer.from_entries(Layout(list(names)), _Y, [(0, 0, 1), (0, 1, 1)], [0],
                                      relu=False),), "pair")
    return Obligation("onehot/pair", net, OneHot(names),
                      lambda v: {"y": ops.ite(v["h0"] == 1, 1, v["h1"])})


def _excluded_by_wrap() -> Obligation:
    """A zero network against a spec that is 1 at w = 10, on the members w >= 6 of a 4-bit
    word (w * 10 >= 60): at a width chosen from the spec alone, 100 wraps below 60."""
    names = tuple(f"b{i}" for i in range(4))
    net = Network((Layer.from_entries(Layout(list(names)), _Y, [], [0], relu=False),), "zero")

    def w(v: Mapping[str, Any]) -> Any:
        return ops.word([v[n] for n in names])

    dom = Constrained(Bits(names), lambda v: w(v) * 10 >= 60, "w * 10 >= 60")
    return Obligation("pred/wrap", net, dom, lambda v: {"y": ops.ite(w(v) == 10, 1, 0)})


def test_bit_vector_widths_cover_the_domain_constraints() -> None:
    true = _one_hot_pair()
    assert _truly_correct(true, _ONE_HOT_20)
    for r in (smt_bv(true, SMT), smt(true, SMT), exhaustive(true)):
        assert r.verdict is Verdict.PROVED, r.line()
    false = _excluded_by_wrap()
    assert not _truly_correct(false)
    for r in (smt_bv(false, SMT), smt(false, SMT), exhaustive(false)):
        assert r.verdict is Verdict.REFUTED, r.line()
        _assert_replays(false, r)
    width = bv_width(false)
    assert width is not None and 1 << (width - 1) > 150  # w * 10 reaches 150


def test_factorised_compares_constant_outputs_with_the_network() -> None:
    one = Network((Layer.from_entries(_X, _Y, [], [1], relu=False),), "one")
    fz = Factorisation((Form("f", {"x": 1}),), lambda f: {"y": 0})
    ob = Obligation("fact/const", one, IntRange("x", 0, 1 << 32), lambda v: {"y": 0},
                    factorisation=fz)
    r = factorised(ob, SMT)
    assert r.verdict is Verdict.REFUTED, r.line()
    _assert_replays(ob, r)
    good = Obligation("fact/const-ok", one, ob.domain, lambda v: {"y": 1},
                      factorisation=Factorisation(fz.forms, lambda f: {"y": 1}))
    assert factorised(good, SMT).verdict is Verdict.PROVED


def test_factorised_checks_outputs_left_out_of_every_group() -> None:
    two = Layout(["y", "z"])
    net = Network((Layer.from_entries(_X, two, [(0, 0, 1), (1, 0, 1)], [0, 1], relu=False),),
                  "two")
    fz = Factorisation((Form("f", {"x": 1}),), lambda f: {"y": f["f"], "z": f["f"]},
                       groups=(("y",),))
    ob = Obligation("fact/ungrouped", net, IntRange("x", 0, 1 << 32),
                    lambda v: {"y": v["x"], "z": v["x"]}, factorisation=fz)
    r = factorised(ob, SMT)
    assert r.verdict is Verdict.REFUTED, r.line()
    _assert_replays(ob, r)


@pytest.mark.parametrize("point", [
    {f"h{i}": int(i < 17) for i in range(20)},  # 17 ones: no member of a one-hot domain
    {f"h{i}": 2 * int(i == 0) for i in range(20)},  # a 2 where only 0 and 1 are allowed
], ids=["seventeen-ones", "not-a-bit"])
def test_replay_refuses_a_point_outside_the_domain(point: dict[str, int]) -> None:
    ob = _one_hot_pair()
    assert point not in _ONE_HOT_20
    with pytest.raises(InternalError, match="outside the domain"):
        replay(ob, point)


def test_a_solver_model_outside_the_domain_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from verify.methods.solvers import Answer, Decision

    smt_module = importlib.import_module("verify.methods.smt")  # not the function of that name

    ob = _one_hot_pair()
    bogus = {f"h{i}": int(i < 17) for i in range(20)}

    def lying(*args: Any, **kwargs: Any) -> Decision:
        return Decision("lie", "sat", (Answer("z3", "sat", 0.0, model=bogus),))

    monkeypatch.setattr(smt_module, "decide", lying)
    for engine in (smt, smt_bv):
        with pytest.raises(InternalError, match="outside the domain"):
            engine(ob, SMT)


def test_a_predicate_without_an_interval_bound_runs_on_python_ints() -> None:
    """x * 2^80 wraps to 0 in int64, so the members x = 1, 2 (x * 2^80 not divisible by 3)
    vanished and a zero network was proved equal to y = x."""
    zero = Network((Layer.from_entries(_X, _Y, [], [0], relu=False),), "zero")
    dom = Constrained(IntRange("x", 1, 3), lambda v: v["x"] * (1 << 40) * (1 << 40) % 3 != 0,
                      "3 does not divide x * 2^80")
    ob = Obligation("pred/mod", zero, dom, lambda v: {"y": v["x"]})
    assert not _truly_correct(ob)
    for r in (exhaustive(ob), smt(ob, SMT), smt_bv(ob, SMT), check(ob)):
        assert r.verdict is Verdict.REFUTED, r.line()
        _assert_replays(ob, r)


# --------------------------------------------------------------------------- the registry
def test_an_obligation_module_that_fails_to_import_is_a_hard_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
) -> None:
    import sys
    from io import StringIO

    import proofs.registry
    from loopmlp.cli import main
    from verify.errors import LoopmlpError

    (tmp_path / "broken_obligations.py").write_text("raise RuntimeError('half written')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for missing, why in (("proofs.no_such_module", "No module named 'proofs.no_such_module'"),
                         ("broken_obligations", "RuntimeError: half written")):
        monkeypatch.setattr(proofs.registry, "MODULES", ("proofs.kernel", missing))
        sys.modules.pop(missing, None)
        with pytest.raises(LoopmlpError, match=missing):
            proofs.registry.all_entries()
        for argv in (["list"], ["prove", "--only", "kernel/full-adder"]):
            out, err = StringIO(), StringIO()
            assert main(argv, out, err) == 2, argv
            lines = err.getvalue().splitlines()
            assert len(lines) == 1 and missing in lines[0] and why in lines[0], lines
            assert "Traceback" not in err.getvalue()


# --------------------------------------------------------------------------- found by fuzzing
def test_a_case_split_keeps_the_outputs_of_a_one_layer_network() -> None:
    """A dead unit of the first layer was dropped even when it was an output itself: the
    case split then crashed on the missing output instead of comparing it with the spec."""
    ins, outs = Layout(["a", "b"]), Layout(["y", "z"])
    net = Network((Layer.from_entries(ins, outs, [(0, 0, 1), (1, 0, -1), (1, 1, -1)], [0, 0]),),
                  "one-layer")
    fz = Factorisation((Form("a", {"a": 1}), Form("b", {"b": 1})),
                       lambda f: {"y": f["a"], "z": 0}, split=("a",))
    good = Obligation("split/one-layer", net, Bits(("a", "b")), lambda v: {"y": v["a"], "z": 0},
                      factorisation=fz)
    assert factorised(good, SMT).verdict is Verdict.PROVED
    bad = Obligation("split/one-layer-bad", net, good.domain, lambda v: {"y": v["a"], "z": 1},
                     factorisation=fz)
    r = factorised(bad, SMT)
    assert r.verdict is Verdict.REFUTED, r.line()
    _assert_replays(bad, r)


def test_a_one_hot_domain_of_one_coordinate_reads_in_cvc5() -> None:
    """z3 printed the one-term sum of a one-hot domain as ``(+ h)``, which cvc5 refuses: every
    cvc5 query over such a domain came back unknown."""
    pytest.importorskip("cvc5", reason="the cvc5 extra is not installed")
    net = Network((Layer.from_entries(Layout(["h"]), _Y, [(0, 0, 2)], [0], relu=False),), "2h")
    ob = Obligation("onehot/one", net, OneHot(("h",)), lambda v: {"y": 2})
    for r in (smt(ob, Options("smt", 30, solver="cvc5")),
              smt_bv(ob, Options("smt", 30, solver="cvc5"))):
        assert r.verdict is Verdict.PROVED, r.line()


def test_a_form_spec_undefined_off_the_domain_does_not_stop_the_factorised_engine() -> None:
    """The reduced check evaluates the form spec on the whole box of form values (and with
    the forms a group does not read at 0), where a form spec may be undefined; it raised out of
    the engine. Now such a group is decided over the real inputs."""
    net = Network((Layer.from_entries(Layout(["a", "b"]), _Y, [(0, 0, 1)], [0]),), "a")

    def defined_on_bits(f: Mapping[str, Any]) -> dict[str, Any]:
        a, b = f["f:a"] - 5, f["f:b"] - 5
        for x in (a, b):  # concrete values (ints or batches) must be bits
            if isinstance(x, (int, np.ndarray)) and np.any((np.asarray(x) < 0) |
                                                           (np.asarray(x) > 1)):
                raise ValueError("only bits have a value")
        return {"y": a}

    fz = Factorisation((Form("f:a", {"a": 1}, 5), Form("f:b", {"b": 1}, 5)), defined_on_bits)
    good = Obligation("fact/partial", net, Bits(("a", "b")), lambda v: {"y": v["a"]},
                      factorisation=fz)
    assert factorised(good, SMT).verdict is Verdict.PROVED
    bad = Obligation("fact/partial-bad", net, good.domain, lambda v: {"y": v["a"] * v["b"]},
                     factorisation=Factorisation(fz.forms, lambda f: {
                         **defined_on_bits(f), "y": (f["f:a"] - 5) * (f["f:b"] - 5)}))
    r = factorised(bad, SMT)
    assert r.verdict is Verdict.REFUTED, r.line()
    _assert_replays(bad, r)


def test_select_gives_the_last_value_off_its_range_on_every_backend() -> None:
    """``values[index]`` raised in Python for an index the z3 term maps to the last value, so
    the solver engines proved a claim the concrete engines could not evaluate."""
    values = [3, 5, 7]
    ob = Obligation("select/off-range", _IDENTITY, IntRange("x", -2, 4),
                    lambda v: {"y": ops.select(values, v["x"] + 1) * 0 + v["x"]})
    for r in (exhaustive(ob), smt(ob, SMT), smt_bv(ob, SMT)):
        assert r.verdict is Verdict.PROVED, r.line()
    assert [ops.select(values, i) for i in (-1, 0, 1, 2, 3, 1 << 70)] == [7, 3, 5, 7, 7, 7]
    batch = np.array([-1, 0, 1, 2, 3], dtype=np.int64)
    assert ops.select(values, batch).tolist() == [7, 3, 5, 7, 7]


def test_a_float_spec_is_refused_not_compared_approximately() -> None:
    """numpy compared the network's int64 x + 1 with the spec's float64 x * 1.0 in float64,
    where 2^60 + 1 == 2^60: a false PROVED. Spec values must be integers."""
    from verify.errors import ParameterError

    inc = Network((Layer.from_entries(_X, _Y, [(0, 0, 1)], [1], relu=False),), "inc")
    ob = Obligation("float/spec", inc, IntRange("x", 1 << 60, (1 << 60) + 3),
                    lambda v: {"y": v["x"] * 1.0})
    for engine in (exhaustive, check):
        with pytest.raises(ParameterError, match="integer value"):
            engine(ob)
