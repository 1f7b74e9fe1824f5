"""The factorised engine (verify/methods/factorised.py) never proves a false obligation built to
slip through one of its steps: a declared form named like the form it makes for a unit outside
the declared forms' span, a weight given as repeated entries, and specs whose bit-vector
reading needs more bits than their values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verify import ops
from verify.domains import IntRange, product
from verify.layout import Layout
from verify.methods import Options, replay
from verify.methods.factorised import factorised
from verify.methods.smt import smt_bv
from verify.network import Layer, Network
from verify.obligation import Factorisation, Form, Obligation
from verify.result import Verdict


def _sum_net() -> Network:
    """y = ReLU(a + b)."""
    return Network((Layer.from_rows(Layout(["a", "b"]), Layout(["y"]),
                                    {"y": ({"a": 1, "b": 1}, 0)}),), "sum")


def _assert_refuted(ob: Obligation, verdict: Verdict, cex: Any) -> None:
    assert verdict is Verdict.REFUTED
    assert cex is not None and ob.domain.contains(dict(cex.inputs))
    assert replay(ob, cex.inputs) is not None


def test_a_declared_form_named_like_a_units_own_form_does_not_take_its_place() -> None:
    # The unit y reads a + b, outside the span of the one declared form (a): the engine gives it
    # a form of its own, named "unit:y". A declared form of that name, which the form spec reads,
    # must not replace it: the network is a + b, the spec a.
    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        return {"y": x["a"]}

    fz = Factorisation((Form("unit:y", {"a": 1}),), lambda f: {"y": f["unit:y"]})
    ob = Obligation("collide", _sum_net(), product(IntRange("a", 0, 7), IntRange("b", 0, 7)),
                    spec, factorisation=fz)
    assert replay(ob, {"a": 0, "b": 1}) is not None  # false at a member
    r = factorised(ob, Options("factorised", timeout=10))
    assert r.verdict is not Verdict.PROVED, r.line()
    _assert_refuted(ob, r.verdict, r.counterexample)


def test_two_units_outside_the_span_never_share_a_form_name() -> None:
    # Units u = a + c and u' = b + c are outside the span of the declared forms (u' is G / 2, no
    # integer combination). The declared "unit:u" moves u's own form to another name, which
    # must not be the one u' gets: the network is a + b + 2c, the spec (and 2 u') 2b + 2c.
    first = Layer.from_rows(Layout(["a", "b", "c"]), Layout(["u", "u'"]),
                            {"u": ({"a": 1, "c": 1}, 0), "u'": ({"b": 1, "c": 1}, 0)})
    second = Layer.from_rows(Layout(["u", "u'"]), Layout(["y"]), {"y": ({"u": 1, "u'": 1}, 0)})
    fz = Factorisation((Form("unit:u", {"b": 1}), Form("G", {"b": 2, "c": 2})),
                       lambda f: {"y": f["G"]})
    ob = Obligation("collide", Network((first, second), "two"),
                    product(IntRange("a", 0, 3), IntRange("b", 0, 3), IntRange("c", 0, 3)),
                    lambda x: {"y": 2 * x["b"] + 2 * x["c"]}, factorisation=fz)
    assert replay(ob, {"a": 1, "b": 0, "c": 0}) is not None
    r = factorised(ob, Options("factorised", timeout=10))
    assert r.verdict is not Verdict.PROVED, r.line()
    _assert_refuted(ob, r.verdict, r.counterexample)


def test_repeated_entries_of_a_weight_add_up() -> None:
    # W[y, a] given as two entries of 1: the network is ReLU(2a), as the forward pass reads it.
    layer = Layer(Layout(["a", "b"]), Layout(["y"]), (0, 0), (0, 0), (1, 1), (0,), True, "twice")
    net = Network((layer,), "twice")
    fz = Factorisation((Form("A", {"a": 1}),), lambda f: {"y": f["A"]})
    ob = Obligation("twice", net, product(IntRange("a", 0, 7), IntRange("b", 0, 7)),
                    lambda x: {"y": x["a"]}, factorisation=fz)
    assert net.forward_exact({"a": 3, "b": 0}) == {"y": 6}
    assert layer.row("y") == ({"a": 2}, 0)
    r = factorised(ob, Options("factorised", timeout=10))
    assert r.verdict is not Verdict.PROVED, r.line()
    _assert_refuted(ob, r.verdict, r.counterexample)


def _zero_net() -> Network:
    return Network((Layer.from_rows(Layout(["i"]), Layout(["y"]), {"y": ({}, 0)}),), "zero")


def test_select_at_a_negative_index_keeps_every_position_in_the_bit_vector_sort() -> None:
    # ops.select gives the last value for an index outside the list, here 1 for i < 0. Over
    # bit-vectors just wide enough for i and the values, position 13 would read as -3.
    values = [0] * 40 + [1]

    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        return {"y": ops.select(values, x["i"])}

    ob = Obligation("select", _zero_net(), IntRange("i", -3, 3), spec)
    assert replay(ob, {"i": -3}) is not None
    r = smt_bv(ob, Options("smt", timeout=10))
    _assert_refuted(ob, r.verdict, r.counterexample)
    fz = Factorisation((Form("I", {"i": 1}),), lambda f: {"y": ops.select(values, f["I"])})
    ob = Obligation("select", _zero_net(), IntRange("i", -3, 3), spec, factorisation=fz)
    r = factorised(ob, Options("factorised", timeout=10))
    _assert_refuted(ob, r.verdict, r.counterexample)
