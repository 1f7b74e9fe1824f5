"""Result reuse (verify/methods/memo.py) never answers a check with the result of another
obligation whose spec or domain computes differently: each case holds two obligations with the
same name, network and domain whose specs differ only in what a key built from the spec's
bytecode, constants and the ``repr`` of its closure would miss."""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

from verify import ops
from verify.domains import Constrained, IntRange
from verify.layout import Layout
from verify.methods import Options, check, memo
from verify.network import Layer, Network
from verify.obligation import Obligation
from verify.result import Verdict

Spec = Callable[[Mapping[str, Any]], dict[str, Any]]
NET = Network((Layer.from_rows(Layout(["a"]), Layout(["y"]), {"y": ({"a": 1}, 0)}),), "id")
DOM = IntRange("a", 0, 7)
OFFSET = 0  # read by a spec below, changed between two checks
CONFIG = types.ModuleType("config")  # a module whose attribute a spec reads
CONFIG.OFFSET = 0


def _ob(spec: Spec) -> Obligation:
    return Obligation("same-name", NET, DOM, spec)


def _both(first: Obligation, second: Obligation) -> tuple[Verdict, Verdict]:
    """The verdicts of ``first`` then ``second`` checked in one reuse scope."""
    opts = Options("exhaustive")
    with memo.reuse():
        return memo.checked(first, opts).verdict, memo.checked(second, opts).verdict


def _relu_spec(x: Mapping[str, Any]) -> dict[str, Any]:
    return {"y": ops.relu(x["a"])}


def _not_spec(x: Mapping[str, Any]) -> dict[str, Any]:
    return {"y": ops.logical_not(x["a"])}


def test_two_lambdas_calling_different_functions_are_both_checked() -> None:
    # Same bytecode and constants: only the attribute each reads (co_names) differs.
    good = _ob(lambda x: {"y": ops.relu(x["a"])})
    bad = _ob(lambda x: {"y": ops.logical_not(x["a"])})
    assert check(bad, Options("exhaustive")).verdict is Verdict.REFUTED
    assert _both(good, bad) == (Verdict.PROVED, Verdict.REFUTED)


def test_a_global_the_spec_reads_is_part_of_the_key() -> None:
    global OFFSET

    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        return {"y": x["a"] + OFFSET}

    opts = Options("exhaustive")
    try:
        with memo.reuse():
            assert memo.checked(_ob(spec), opts).verdict is Verdict.PROVED
            OFFSET = 1
            assert memo.checked(_ob(spec), opts).verdict is Verdict.REFUTED
    finally:
        OFFSET = 0


def test_a_module_attribute_the_spec_reads_is_part_of_the_key() -> None:
    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        return {"y": x["a"] + CONFIG.OFFSET}

    opts = Options("exhaustive")
    try:
        with memo.reuse():
            assert memo.checked(_ob(spec), opts).verdict is Verdict.PROVED
            CONFIG.OFFSET = 1
            assert memo.checked(_ob(spec), opts).verdict is Verdict.REFUTED
    finally:
        CONFIG.OFFSET = 0


def test_a_default_argument_mutated_between_checks_is_read_again() -> None:
    table = [0]

    def spec(x: Mapping[str, Any], table: list[int] = table) -> dict[str, Any]:
        return {"y": x["a"] + table[0]}

    opts = Options("exhaustive")
    with memo.reuse():
        assert memo.checked(_ob(spec), opts).verdict is Verdict.PROVED
        table[0] = 1
        assert memo.checked(_ob(spec), opts).verdict is Verdict.REFUTED


def _through(helper: Callable[[Any], Any]) -> Spec:
    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        return {"y": helper(x["a"])}
    return spec


def test_a_helper_closure_is_read_for_its_values() -> None:
    # The closures' cells hold functions whose repr is only an address.
    assert _both(_ob(_through(functools.partial(ops.wrap, bits=3))),
                 _ob(_through(functools.partial(ops.wrap, bits=2)))) == (
        Verdict.PROVED, Verdict.REFUTED)

    def adder(k: int) -> Callable[[Any], Any]:
        return lambda v: v + k

    assert _both(_ob(_through(adder(0))), _ob(_through(adder(1)))) == (
        Verdict.PROVED, Verdict.REFUTED)


def test_a_large_array_is_read_whole() -> None:
    # numpy's repr of 2000 entries elides the middle, where the two tables differ.
    same = np.zeros(2000, dtype=np.int64)
    other = same.copy()
    other[1000] = 1

    def table(t: np.ndarray) -> Spec:
        return lambda x: {"y": x["a"] + int(t[1000])}

    assert _both(_ob(table(same)), _ob(table(other))) == (Verdict.PROVED, Verdict.REFUTED)


@dataclasses.dataclass
class _Shift:
    k: int

    def __call__(self, x: Mapping[str, Any]) -> dict[str, Any]:
        return {"y": x["a"] + self.k}


class _PlainShift:
    def __init__(self, k: int) -> None:
        self.k = k

    def __call__(self, x: Mapping[str, Any]) -> dict[str, Any]:
        return {"y": x["a"] + self.k}


@pytest.mark.parametrize("kind", [_Shift, _PlainShift])
def test_callable_objects_are_read_by_their_attributes(kind: type) -> None:
    assert _both(_ob(kind(0)), _ob(kind(1))) == (Verdict.PROVED, Verdict.REFUTED)


def test_a_domain_predicate_is_read_for_its_values() -> None:
    # Constrained's repr names its predicate by address only.
    def upto(k: int) -> Constrained:
        return Constrained(IntRange("a", -4, 7), lambda v: v["a"] >= k, "a >= k")

    first = Obligation("same-name", NET, upto(0), lambda x: {"y": x["a"]})
    second = dataclasses.replace(first, domain=upto(-1))
    assert _both(first, second) == (Verdict.PROVED, Verdict.REFUTED)


def test_a_gadget_rebuilt_is_still_reused() -> None:
    from constructions.gadgets import make_read

    opts = Options()
    with memo.reuse():
        memo.checked(make_read(2, 2).obligation(), opts)
        again = memo.checked(make_read(2, 2).obligation(), opts)
    assert again.details.get("reused") is True
    assert memo.content_key(make_read(2, 2).obligation(), opts) != memo.content_key(
        make_read(2, 3).obligation(), opts)


def test_two_module_level_specs_of_one_shape_differ() -> None:
    assert _both(_ob(_relu_spec), _ob(_not_spec)) == (Verdict.PROVED, Verdict.REFUTED)
