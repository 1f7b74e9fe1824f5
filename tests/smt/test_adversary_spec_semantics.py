"""Specs written outside :mod:`verify.ops` whose reading on z3 terms is not their reading on
Python ints: the solver would prove the z3 reading, false at a point Python gives. Every method
that reads the spec on solver terms refuses those operations (:mod:`verify.spec_terms`): the
verdict is UNKNOWN with the reason, never PROVED."""

from __future__ import annotations

import pytest

from verify.domains import IntRange, product
from verify.errors import ParameterError
from verify.layout import Layout
from verify.methods import Options, check, replay
from verify.network import Layer, Network
from verify.obligation import Obligation
from verify.result import Verdict


def _net(inputs: list[str], coeffs: dict[str, int]) -> Network:
    return Network((Layer.from_rows(Layout(inputs), Layout(["y"]), {"y": (coeffs, 0)}),), "n")


def test_python_modulo_by_a_negative_number_is_not_proved() -> None:
    ob = Obligation("mod", _net(["a"], {"a": 1}), IntRange("a", 0, 2),
                    lambda x: {"y": x["a"] % -3})
    assert replay(ob, {"a": 1}) is not None
    _refused(ob, "'%'")


def test_a_python_branch_on_an_equality_is_not_proved() -> None:
    ob = Obligation("eq", _net(["a", "b"], {}), product(IntRange("a", 0, 3), IntRange("b", 0, 3)),
                    lambda x: {"y": 1 if x["a"] == x["b"] else 0})
    assert replay(ob, {"a": 0, "b": 0}) is not None
    _refused(ob, "symbolic condition")


def test_true_division_of_a_term_is_refused() -> None:
    ob = Obligation("div", _net(["a"], {}), IntRange("a", 0, 3), lambda x: {"y": x["a"] / 4})
    _refused(ob, "'/'", enumerate_too=False)
    with pytest.raises(ParameterError, match="an integer value for every output"):
        check(ob, Options("exhaustive"))  # in Python the spec gives floats: refused as such


def test_what_verify_ops_offers_still_reads_the_same() -> None:
    # bit, wrap (% by a positive constant) and ite on solver terms: proved as before.
    from verify import ops

    ob = Obligation("ok", _net(["a"], {"a": 1}), IntRange("a", 0, 7),
                    lambda x: {"y": ops.ite(x["a"] >= 0, ops.wrap(x["a"], 3), 0)
                               + 0 * ops.bit(x["a"], 1)})
    assert check(ob, Options("smt", timeout=10)).verdict is Verdict.PROVED
    assert check(ob, Options("exhaustive")).verdict is Verdict.PROVED


def _refused(ob: Obligation, what: str, enumerate_too: bool = True) -> None:
    """Never proved by a method that reads the spec on solver terms; smt names the reason."""
    for method in ("smt", "auto"):
        r = check(ob, Options(method, timeout=10, exhaustive_limit=0))
        assert r.verdict is not Verdict.PROVED, r.line()
    r = check(ob, Options("smt", timeout=10))
    assert r.verdict is Verdict.UNKNOWN and what in r.reason, r.line()
    if not enumerate_too:
        return
    # Enumeration reads the spec in Python: the point where it is false is found.
    r = check(ob, Options("exhaustive"))
    assert r.verdict is Verdict.REFUTED and replay(ob, r.counterexample.inputs) is not None
