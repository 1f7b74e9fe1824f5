"""Engines and results: verdict order, exhaustive and sampled checks, replay, dispatch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from proofs.kernel import full_adder, relu_identity, ripple_adder
from verify import ops
from verify.domains import Bits, Constrained, IntRange, Word, product
from verify.errors import InternalError, ParameterError
from verify.layout import Layout, bit_names
from verify.methods import Options, check, exhaustive, replay, sampled
from verify.network import Layer, Network
from verify.obligation import Obligation
from verify.result import Counterexample, Result, Verdict, combine, summary

Corrupt = Callable[[Obligation, int, int, int], Obligation]


def _result(verdict: Verdict, name: str = "ob") -> Result:
    return Result(name, verdict, "exhaustive", 1, 1, 0.0, "test")


def _wrong_adder() -> Obligation:
    """The full adder checked against a spec whose carry is an OR: wrong on a+b+c = 1."""
    ob = full_adder()
    return Obligation("wrong/full-adder", ob.network, ob.domain,
                      lambda v: {"sum": ops.bit(v["a"] + v["b"] + v["c"], 0),
                                 "carry": ops.ite(v["a"] + v["b"] + v["c"] >= 1, 1, 0)})


# --------------------------------------------------------------------------- verdicts
def test_verdicts_are_ordered_refuted_unknown_proved() -> None:
    assert Verdict.REFUTED < Verdict.UNKNOWN < Verdict.PROVED
    assert [v.label for v in Verdict] == ["refuted", "unknown", "proved"]
    assert min(Verdict.PROVED, Verdict.UNKNOWN) is Verdict.UNKNOWN


@pytest.mark.parametrize(
    ("verdicts", "combined"),
    [
        ([], Verdict.PROVED),
        ([Verdict.PROVED], Verdict.PROVED),
        ([Verdict.PROVED, Verdict.UNKNOWN], Verdict.UNKNOWN),
        ([Verdict.UNKNOWN, Verdict.REFUTED, Verdict.PROVED], Verdict.REFUTED),
        ([Verdict.REFUTED, Verdict.REFUTED], Verdict.REFUTED),
    ],
)
def test_combine_takes_the_weakest(verdicts: list[Verdict], combined: Verdict) -> None:
    results = [_result(v, f"ob{i}") for i, v in enumerate(verdicts)]
    assert combine(results) is combined
    counts = summary(results)
    assert counts == {v.label: verdicts.count(v) for v in Verdict}


def test_result_line_and_json() -> None:
    r = exhaustive(ripple_adder(4))
    assert r.line().startswith("kernel/ripple-adder[bits=4]: PROVED exhaustive 256/256 ")
    doc = r.to_json()
    assert doc["verdict"] == "proved" and doc["counterexample"] is None
    assert doc["details"]["arithmetic"] == "float32"
    big = Result("x", Verdict.UNKNOWN, "smt", 0, 1 << 64, 1.0, "z3: timeout after 1s")
    assert "0/2^64" in big.line() and big.line().endswith("(z3: timeout after 1s)")


def test_counterexample_groups_word_bits() -> None:
    cex = Counterexample({"X.bit[0]": 1, "X.bit[1]": 1, "c": 0}, {"y": 3}, {"y": 2},
                         {"X": ("X.bit[0]", "X.bit[1]")})
    assert cex.compact_inputs() == {"X": 3, "c": 0}
    assert cex.describe("gadget") == "gadget(X=3, c=0): y network=3 spec=2"
    assert cex.to_json()["coordinates"] == {"X.bit[0]": 1, "X.bit[1]": 1, "c": 0}


def test_options_refuse_bad_values_by_name() -> None:
    with pytest.raises(ParameterError, match="method='magic': need one of auto, exhaustive"):
        Options("magic")
    with pytest.raises(ParameterError, match="timeout=0: need a positive number"):
        Options(timeout=0)


# --------------------------------------------------------------------------- exhaustive
@pytest.mark.parametrize("ob", [full_adder(), ripple_adder(4), relu_identity(1000)],
                         ids=lambda o: o.name)
def test_exhaustive_proves_the_kernel_obligations(ob: Obligation) -> None:
    seen: list[tuple[int, int]] = []
    r = exhaustive(ob, Options("exhaustive", chunk=100, progress=lambda d, t: seen.append((d, t))))
    assert r.verdict is Verdict.PROVED, r.line()
    assert r.method == "exhaustive" and r.checked == r.total == ob.domain.count
    assert r.counterexample is None
    assert seen[-1] == (ob.domain.count, ob.domain.count)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_exhaustive_refutes_and_the_counterexample_replays() -> None:
    ob = _wrong_adder()
    r = exhaustive(ob)
    assert r.verdict is Verdict.REFUTED
    cex = r.counterexample
    assert cex is not None
    assert sum(cex.inputs.values()) == 1
    assert cex.network == {"carry": 0} and cex.spec == {"carry": 1}
    again = replay(ob, cex.inputs)
    assert again is not None and again.network == cex.network and again.spec == cex.spec
    # Enumeration stops at the first bad input (index 1: a=1, b=c=0).
    assert r.checked == 2 and r.total == 8


def test_replay_is_none_on_agreement_and_refuses_points_outside_the_domain() -> None:
    ob = full_adder()
    assert replay(ob, {"a": 1, "b": 1, "c": 0}) is None
    wrong = _wrong_adder()
    restricted = Obligation("wrong/restricted", wrong.network,
                            Constrained(wrong.domain, lambda v: v["a"] + v["b"] + v["c"] != 1,
                                        "a+b+c != 1"), wrong.spec)
    assert replay(wrong, {"a": 0, "b": 0, "c": 1}) is not None
    assert replay(restricted, {"a": 1, "b": 1, "c": 1}) is None
    # A point outside the domain is no counterexample: an engine that reports one is wrong.
    for point in ({"a": 0, "b": 0, "c": 1}, {"a": 2, "b": 0, "c": 0}, {"a": 0, "b": 0}):
        with pytest.raises(InternalError, match="outside the domain|not an integer"):
            replay(restricted, point)


def test_replay_refuses_a_spec_that_is_not_an_integer() -> None:
    ob = full_adder()
    floats = Obligation("float-spec", ob.network, ob.domain,
                        lambda v: {k: w * 1.0 for k, w in ob.spec(v).items()})
    with pytest.raises(ParameterError, match="an integer value for every output"):
        replay(floats, {"a": 1, "b": 0, "c": 0})
    with pytest.raises(ParameterError, match="integer values? for every output"):
        exhaustive(floats)


def test_points_outside_a_constrained_domain_are_not_counterexamples() -> None:
    wrong = _wrong_adder()
    restricted = Obligation("wrong/restricted", wrong.network,
                            Constrained(wrong.domain, lambda v: v["a"] + v["b"] + v["c"] != 1,
                                        "a+b+c != 1"), wrong.spec)
    r = exhaustive(restricted)
    assert r.verdict is Verdict.PROVED and r.checked == r.total == 8


def test_only_the_listed_outputs_are_checked() -> None:
    ob = _wrong_adder()
    only_sum = Obligation("sum-only", ob.network, ob.domain, ob.spec, outputs=("sum",))
    assert exhaustive(only_sum).verdict is Verdict.PROVED
    assert exhaustive(ob).verdict is Verdict.REFUTED


def test_a_counterexample_that_does_not_replay_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ob = full_adder()

    def lying_forward(self: Network, x: np.ndarray, arithmetic: str) -> np.ndarray:
        return np.full((len(x), len(self.outputs)), 7, dtype=np.int64)

    monkeypatch.setattr(Network, "forward", lying_forward)
    with pytest.raises(InternalError, match="does not replay"):
        exhaustive(ob)


def test_obligation_inputs_must_match_the_domain() -> None:
    from verify.errors import LayoutError

    ob = full_adder()
    with pytest.raises(LayoutError, match=r"domain only: \['d'\], network only: \['c'\]"):
        Obligation("mismatch", ob.network, Bits(("a", "b", "d")), ob.spec)
    with pytest.raises(LayoutError, match="'nope'"):
        Obligation("bad-output", ob.network, ob.domain, ob.spec, outputs=("nope",))


# --------------------------------------------------------------------------- sampled
@pytest.mark.parametrize("ob", [full_adder(), ripple_adder(4), relu_identity(1 << 20)],
                         ids=lambda o: o.name)
def test_sampled_never_proves(ob: Obligation) -> None:
    r = sampled(ob, Options("sampled", samples=200))
    assert r.verdict is Verdict.UNKNOWN
    assert r.counterexample is None
    assert "never proves" in r.reason
    assert 0 < r.checked <= 200 and r.total == ob.domain.count


def test_sampled_refutes_a_wrong_network(corrupt: Corrupt) -> None:
    ob = corrupt(ripple_adder(4), 2, 0, 1)
    r = sampled(ob, Options("sampled", samples=500))
    assert r.verdict is Verdict.REFUTED
    assert r.counterexample is not None
    again = replay(ob, r.counterexample.inputs)
    assert again is not None and again.network == r.counterexample.network
    assert exhaustive(ob).verdict is Verdict.REFUTED


def test_sampled_stops_at_its_timeout_quietly(capfd: pytest.CaptureFixture[str]) -> None:
    from constructions.gadgets import make_subtract

    ob = make_subtract(28).obligation()
    r = sampled(ob, Options("sampled", timeout=0.5, samples=10**6))
    assert r.verdict is Verdict.UNKNOWN and r.reason.startswith("timeout after 0.5s")
    assert 0 < r.checked < 10**6
    # The timeout ends the search at once (it is not shrunk as if it were a failure), with
    # nothing printed; the slack is for a loaded machine.
    assert r.seconds < 10
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# --------------------------------------------------------------------------- dispatch
def test_auto_enumerates_small_domains_and_solves_large_ones() -> None:
    ob = ripple_adder(3)
    assert check(ob).method == "exhaustive"
    r = check(ob, Options(exhaustive_limit=10))
    assert r.method == "smt" and r.verdict is Verdict.PROVED


def test_exhaustive_refuses_huge_domains_without_running() -> None:
    names = bit_names("X", 40)
    net = Network((Layer.identity(Layout(names)),))
    ob = Obligation("huge", net, Word("X", 40), lambda v: {n: v[n] for n in names})
    r = check(ob, Options("exhaustive"))
    assert r.verdict is Verdict.UNKNOWN and r.checked == 0 and r.total == 1 << 40
    assert "beyond the exhaustive limit" in r.reason


def test_factorised_without_a_factorisation_is_unknown() -> None:
    r = check(full_adder(), Options("factorised"))
    assert r.verdict is Verdict.UNKNOWN and r.method == "factorised"
    assert "no factorisation" in r.reason


def test_product_domains_over_words_check_like_plain_bits() -> None:
    ob = ripple_adder(2)
    flat = Obligation("flat", ob.network,
                      Bits(tuple(ob.domain.names)), ob.spec)
    assert exhaustive(flat).verdict is exhaustive(ob).verdict is Verdict.PROVED
    assert product(Word("X", 2), Word("Y", 2)).count == flat.domain.count == 16


def test_intrange_domains_with_negative_values() -> None:
    ob = relu_identity(50)
    assert ob.domain == IntRange("x", -50, 50)
    r = exhaustive(ob)
    assert r.verdict is Verdict.PROVED and r.checked == 101


# --------------------------------------------------------------------------- edge cases
def _identity(lo: int, hi: int) -> Obligation:
    x, y = Layout(["x"]), Layout(["y"])
    net = Network((Layer.from_entries(x, y, [(0, 0, 1)], [0], relu=False),), "identity")
    return Obligation("identity", net, IntRange("x", lo, hi), lambda v: {"y": v["x"]})


def test_an_obligation_that_checks_no_output_is_refused() -> None:
    ob = full_adder()
    with pytest.raises(ParameterError, match="at least one output to check"):
        Obligation("nothing", ob.network, ob.domain, ob.spec, outputs=())
    empty = Network((Layer.from_entries(Layout(["a"]), Layout([]), [], []),), "no-outputs")
    with pytest.raises(ParameterError, match="at least one output to check"):
        Obligation("no-outputs", empty, Bits(("a",)), lambda v: {})


def test_a_domain_with_no_member_is_proved_vacuously_and_never_refuted() -> None:
    ob = _wrong_adder()
    nowhere = Obligation("nowhere", ob.network,
                         Constrained(ob.domain, lambda v: v["a"] + v["b"] > 5, "never"), ob.spec)
    for r in (exhaustive(nowhere), check(nowhere, Options(exhaustive_limit=1))):
        assert r.verdict is Verdict.PROVED, r.line()
    r = sampled(nowhere, Options("sampled", samples=50))
    assert r.verdict is Verdict.UNKNOWN and "never proves" in r.reason


def test_a_spec_that_raises_is_never_proved() -> None:
    ob = full_adder()

    def broken(v: object) -> dict[str, int]:
        raise ValueError("no spec here")

    bad = Obligation("broken", ob.network, ob.domain, broken)
    for engine in (exhaustive, sampled, check, lambda o: check(o, Options(exhaustive_limit=1))):
        with pytest.raises(ValueError, match="no spec here"):
            engine(bad)


def test_smt_bv_asks_over_integers_when_a_predicate_has_no_bound() -> None:
    from verify.methods import bv_width, smt_bv

    ob = _wrong_adder()
    odd = Obligation("odd", ob.network,
                     Constrained(ob.domain, lambda v: (v["a"] + v["b"] + v["c"]) % 2 == 1,
                                 "odd"), ob.spec)
    assert bv_width(odd) is None
    r = smt_bv(odd, Options("smt", timeout=30))
    assert r.verdict is Verdict.REFUTED and "integers" in r.details["theory"]
    assert r.counterexample is not None and sum(r.counterexample.inputs.values()) == 1


def test_sampled_reports_no_more_points_than_the_domain_has() -> None:
    ob = _wrong_adder()
    r = sampled(ob, Options("sampled", samples=500))
    assert r.verdict is Verdict.REFUTED and r.checked <= r.total == 8


@pytest.mark.parametrize(("lo", "arithmetic"), [
    ((1 << 24) - 8, "float32"), (-(1 << 24) + 1, "float32"), ((1 << 24) - 4, "float64"),
    ((1 << 53) - 4, "int64"), (-(1 << 53) - 3, "int64"), ((1 << 62) - 4, "python"),
])
def test_each_exact_arithmetic_is_taken_up_to_its_edge(lo: int, arithmetic: str) -> None:
    """The identity over eight integers at each edge of exactness: float32 below 2^24, float64
    below 2^53, int64 below 2^62, Python ints beyond; a spec one off at the last point is
    refuted there, whatever the arithmetic."""
    ob = _identity(lo, lo + 7)
    r = exhaustive(ob)
    assert r.verdict is Verdict.PROVED and r.details["arithmetic"] == arithmetic, r.line()
    off = Obligation("off", ob.network, ob.domain,
                     lambda v: {"y": v["x"] + ops.ite(v["x"] == lo + 7, 1, 0)})
    r = exhaustive(off)
    assert r.verdict is Verdict.REFUTED and r.counterexample is not None
    assert r.counterexample.inputs == {"x": lo + 7}
