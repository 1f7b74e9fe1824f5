"""A spec's meaning is what Python computes at a point; the exhaustive engines read it on numpy
columns, where ``~`` on a comparison is a logical not on a bool array but ``-2``/``-1`` (both
true) on a Python bool. The batch engines refuse it (:class:`verify.spec_terms.Column`): the
verdict is UNKNOWN with the reason, never PROVED; ``ops.logical_not`` means the same on every
backend."""

from __future__ import annotations

from verify import ops
from verify.domains import IntRange
from verify.layout import Layout
from verify.methods import Options, check, replay
from verify.network import Layer, Network
from verify.obligation import Obligation
from verify.result import Verdict


def _identity() -> Network:
    return Network((Layer.from_rows(Layout(["a"]), Layout(["y"]), {"y": ({"a": 1}, 0)}),), "n")


def test_invert_of_a_comparison_is_not_proved_by_enumeration() -> None:
    # Python: ~(0 == 0) is -2, true, so the spec is 1 at a = 0 where the network gives 0.
    ob = Obligation("invert", _identity(), IntRange("a", 0, 1),
                    lambda x: {"y": ops.ite(~(x["a"] == 0), 1, 0)})
    assert replay(ob, {"a": 0}) is not None
    for method in ("exhaustive", "auto", "smt"):
        r = check(ob, Options(method, timeout=10))
        assert r.verdict is Verdict.UNKNOWN and "'~'" in r.reason, r.line()


def test_logical_not_means_not_everywhere() -> None:
    ob = Obligation("not", _identity(), IntRange("a", 0, 1),
                    lambda x: {"y": ops.ite(ops.logical_not(x["a"] == 0), 1, 0)})
    for method in ("exhaustive", "smt"):
        assert check(ob, Options(method, timeout=10)).verdict is Verdict.PROVED


def test_invert_of_an_integer_is_still_allowed() -> None:
    # ~a on integers is -a - 1 in numpy and in Python alike: y = a is -(~a) - 1.
    ob = Obligation("int-invert", _identity(), IntRange("a", 0, 7),
                    lambda x: {"y": -(~x["a"]) - 1})
    assert check(ob, Options("exhaustive")).verdict is Verdict.PROVED
