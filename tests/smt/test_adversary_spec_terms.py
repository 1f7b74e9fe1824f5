"""Specs whose reading on z3 terms silently differs from their reading on Python ints through a
lookup by hash (``dict.get``, ``in`` a set) or a power with a symbolic or negative exponent:
the solver would prove the z3 reading, false where Python gives another value. Those
operations are refused on solver terms (:mod:`verify.spec_terms`): UNKNOWN with the reason,
never PROVED; the same spec replayed on Python ints shows the point where it is false."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from verify.domains import IntRange
from verify.layout import Layout
from verify.methods import Options, check, replay, smt_bv
from verify.network import Layer, Network
from verify.obligation import Obligation
from verify.result import Verdict
from verify.spec_terms import SpecReadingError, reading


def _constant(c: int) -> Network:
    """The one-output network y = c on one input a."""
    return Network((Layer.from_rows(Layout(["a"]), Layout(["y"]), {"y": ({}, c)}),), "n")


def _ob(name: str, c: int, lo: int, hi: int, spec: Callable[[Any], Any]) -> Obligation:
    return Obligation(name, _constant(c), IntRange("a", lo, hi), spec)


def _never_proved(ob: Obligation, what: str) -> None:
    for method in ("smt", "auto"):
        r = check(ob, Options(method, timeout=10, exhaustive_limit=0))
        assert r.verdict is not Verdict.PROVED, r.line()
    r = check(ob, Options("smt", timeout=10))
    assert r.verdict is Verdict.UNKNOWN and what in r.reason, r.line()
    with reading(), pytest.raises(SpecReadingError, match=what):
        smt_bv(ob, Options("smt", timeout=10))


def test_a_dict_lookup_keyed_by_a_term_is_not_proved() -> None:
    # On a z3 term the lookup misses every key (a term hashes as its expression): y = 0.
    ob = _ob("get", 0, 0, 3, lambda x: {"y": {0: 5, 1: 7}.get(x["a"], 0)})
    assert replay(ob, {"a": 0}) is not None  # Python: 5, the network: 0
    _never_proved(ob, "hashes")


def test_membership_in_a_set_of_ints_is_not_proved() -> None:
    ob = _ob("in-set", 0, 0, 3, lambda x: {"y": 1 if x["a"] in {0, 1} else 0})
    assert replay(ob, {"a": 1}) is not None
    _never_proved(ob, "hashes")


def test_a_power_with_a_symbolic_exponent_is_not_proved() -> None:
    # 2 ** a is 0.25 or 0.5 in Python on this domain; z3's integer power read it as 0.
    ob = _ob("rpow", 0, -2, -1, lambda x: {"y": 2 ** x["a"]})
    _never_proved(ob, "power")


def test_a_negative_constant_exponent_is_not_proved() -> None:
    ob = _ob("pow", 0, 2, 3, lambda x: {"y": x["a"] ** -1})
    _never_proved(ob, "power")


def test_squares_and_hash_free_terms_still_read_the_same() -> None:
    # a ** 2 - a * a is 0 on both readings; abs is z3's Abs.
    ob = _ob("square", 0, -3, 3, lambda x: {"y": x["a"] ** 2 - x["a"] * x["a"]})
    assert check(ob, Options("smt", timeout=10)).verdict is Verdict.PROVED
    assert check(ob, Options("exhaustive")).verdict is Verdict.PROVED
    wrong = _ob("abs", 0, -3, 3, lambda x: {"y": abs(x["a"]) - x["a"]})
    r = check(wrong, Options("smt", timeout=10))
    assert r.verdict is Verdict.REFUTED and replay(wrong, r.counterexample.inputs) is not None


def test_bitwise_not_of_a_condition_is_not_proved() -> None:
    # y = [a != 0]; the spec's ~(a == 0) is z3's Not, but -2 or -1 (both true) on a bool.
    from verify import ops

    first = Layer.from_rows(Layout(["a"]), Layout(["p", "q"]),
                            {"p": ({"a": 1}, 0), "q": ({"a": 1}, -1)})
    second = Layer.from_rows(Layout(["p", "q"]), Layout(["y"]), {"y": ({"p": 1, "q": -1}, 0)})
    ob = Obligation("invert", Network((first, second), "n"), IntRange("a", 0, 3),
                    lambda x: {"y": ops.ite(~(x["a"] == 0), 1, 0)})
    assert replay(ob, {"a": 0}) is not None  # Python: ~True is -2, true: 1; the network: 0
    _never_proved(ob, "'~'")


@pytest.mark.parametrize("spec", [lambda x: {"y": x["a"] + 1e17 - 1e17},
                                  lambda x: {"y": x["a"] * 0.1 * 10}])
def test_a_float_meeting_a_term_is_not_proved(spec: Callable[[Any], Any]) -> None:
    # z3 reads 1e17 and 0.1 as exact rationals, so the term is a: the identity network would
    # be proved; Python rounds (0.0 and 3.0000000000000004), and a spec's value must be an int.
    net = Network((Layer.from_rows(Layout(["a"]), Layout(["y"]), {"y": ({"a": 1}, 0)}),), "n")
    ob = Obligation("float", net, IntRange("a", 0, 7), spec)
    _never_proved(ob, "float")
