"""The split path of the exhaustive engine against a naive reference.

The reference walks the domain's own enumeration (``decode``) one point at a time, runs the
plain-Python forward pass and the spec on Python ints, and stops at the first accepted point
where they differ. The engine must return the same verdict, the same count of points checked
and the same first counterexample, whatever the block size, the number of threads or the
integer type its bounds pick.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.exhaustive_cases import (
    affine_sum,
    assert_matches_reference,
    cases,
    domains,
    flipped,
    wrong_at,
)

import verify.network as network
from constructions.gadgets import make_subtract
from verify import ops
from verify.domains import Constrained, Domain, IntRange, Product, Word, product
from verify.errors import InternalError
from verify.layout import Layout
from verify.methods import Options, exhaustive
from verify.network import Layer, Network, SplitEvaluator, narrowest_int
from verify.obligation import Obligation
from verify.result import Verdict

# The module (the package's name ``exhaustive`` is the function it defines).
engines = importlib.import_module("verify.methods.exhaustive")
Spec = Callable[[Mapping[str, Any]], Mapping[str, Any]]


# --------------------------------------------------------------------------- layout
def _split_taken(ob: Obligation, chunk: int) -> bool:
    """Whether the engine takes the split path for this obligation and block size."""
    limit = max(chunk // engines._INNER_SHARE, 2)
    parts = ob.domain.split(limit)
    plan = ob.network.plan([dict(zip(ob.domain.names, ob.domain.box()))[n]
                            for n in ob.network.inputs])
    return (plan.arithmetic != "python" and parts is not None
            and parts[0].count * engines._INNER_SHARE >= limit)


# --------------------------------------------------------------------------- split
@settings(max_examples=100, deadline=None)
@given(domains(), st.integers(1, 64))
def test_split_enumerates_exactly_like_decode(dom: Domain, limit: int) -> None:
    parts = dom.split(limit)
    if parts is None:
        return
    inner, outer = parts
    assert 1 <= inner.count <= limit and outer.count >= 1
    assert inner.count * outer.count == dom.count
    assert sorted(inner.names + outer.names) == sorted(dom.names)
    rows = dom.decode(np.arange(dom.count, dtype=np.int64))
    a = inner.decode(np.arange(inner.count, dtype=np.int64))
    b = outer.decode(np.arange(outer.count, dtype=np.int64))
    for idx in range(dom.count):
        i, o = idx % inner.count, idx // inner.count
        merged = dict(zip(inner.names, a[i], strict=True)) | dict(zip(outer.names, b[o],
                                                                      strict=True))
        assert [merged[n] for n in dom.names] == list(rows[idx])


def test_split_fills_the_inner_part_from_the_next_factor() -> None:
    dom = product(Word("A", 3), Word("B", 6))
    parts = dom.split(64)
    assert parts is not None
    inner, outer = parts
    assert inner.names == Word("A", 3).names + Word("B", 6).names[:3]
    assert outer.names == Word("B", 6).names[3:]
    assert Constrained(dom, lambda v: True, "all").split(64) is not None
    assert IntRange("x", 0, 1000).split(64) is None
    assert product(IntRange("x", 0, 1000), Word("B", 6)).split(64) is None
    assert dom.split(dom.count) is None


# --------------------------------------------------------------------------- engine
@settings(max_examples=100, deadline=None)
@given(cases())
def test_fast_path_agrees_with_the_reference(case: tuple[Obligation, int]) -> None:
    ob, chunk = case
    r = exhaustive(ob, Options("exhaustive", chunk=chunk), path="split")
    assert_matches_reference(ob, r)
    box = dict(zip(ob.domain.names, ob.domain.box()))
    plan = ob.network.plan([box[n] for n in ob.network.inputs])
    if _split_taken(ob, chunk):
        weight = max(abs(v) for layer in ob.network.layers for v in (*layer.vals, 0))
        assert r.details["arithmetic"] == narrowest_int(max(plan.max_partial_sum, weight))
    else:
        assert r.details["arithmetic"] == plan.arithmetic


@settings(max_examples=40, deadline=None)
@given(cases())
def test_dense_layers_agree_with_the_reference(case: tuple[Obligation, int]) -> None:
    """The same cases with every layer after the first run as a matrix product (the path of
    fuller layers than these small ones) instead of one pass per nonzero."""
    ob, chunk = case
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(network, "ROWS_MAX_NNZ", -1)
        mp.setattr(network, "ROWS_MAX_DENSITY", -1.0)
        r = exhaustive(ob, Options("exhaustive", chunk=chunk), path="split")
    assert_matches_reference(ob, r)


@pytest.mark.parametrize("index", [0, 1, 255, 256, 257, 1000, 4095])
def test_a_one_point_mutant_of_subtract_is_found_at_its_index(index: int) -> None:
    ob = make_subtract(6).obligation()
    row = ob.domain.decode(np.array([index], dtype=np.int64))[0]
    point = {n: int(v) for n, v in zip(ob.domain.names, row, strict=True)}
    bad = Obligation("subtract/one-point", ob.network, ob.domain,
                     flipped(ob.spec, point, "R.bit[3]"), outputs=ob.outputs)
    r = exhaustive(bad, Options("exhaustive", chunk=256), path="split")
    assert r.details["arithmetic"] == "int16"
    assert r.verdict is Verdict.REFUTED and r.checked == index + 1
    assert r.counterexample is not None and r.counterexample.inputs == point
    assert set(r.counterexample.network) == {"R.bit[3]"}


def test_subtract_is_proved_on_the_split_path_with_progress() -> None:
    ob = make_subtract(6).obligation()
    seen: list[tuple[int, int]] = []
    r = exhaustive(ob, Options("exhaustive", chunk=512, progress=lambda d, t: seen.append((d, t))),
                   path="split")
    assert r.verdict is Verdict.PROVED and r.checked == r.total == 4096, r.line()
    assert r.details == {"arithmetic": "int16", "max_partial_sum": 381}
    assert [d for d, _ in seen] == list(range(512, 4097, 512))
    assert {t for _, t in seen} == {4096}


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_threads_do_not_change_the_first_counterexample(
    monkeypatch: pytest.MonkeyPatch, workers: int,
) -> None:
    bad, point = wrong_at(make_subtract(6).obligation(), 3000, "R.bit[0]")
    monkeypatch.setattr(engines, "_workers", lambda: workers)
    r = exhaustive(bad, Options("exhaustive", chunk=128), path="split")
    assert r.checked == 3001 and r.counterexample is not None
    assert r.counterexample.inputs == point




@pytest.mark.parametrize(("bias", "scale", "arithmetic"), [
    (127, 64, "int16"), (128, 64, "int32"), (-100, 64, "int16"), (0, 1 << 20, "int32"),
    (0, 1 << 40, "int64"),
])
def test_the_integer_type_is_the_narrowest_the_bounds_allow(
    bias: int, scale: int, arithmetic: str,
) -> None:
    ob = affine_sum(bias, scale)
    r = exhaustive(ob, Options("exhaustive", chunk=4096))
    assert r.verdict is Verdict.PROVED, r.line()
    assert r.details["arithmetic"] == arithmetic
    assert r.details["max_partial_sum"] == 510 * scale + abs(bias)


@pytest.mark.parametrize(("scale", "product"), [
    (64, "float32"), (1 << 30, "float64"), (1 << 50, "int64"),
])
@pytest.mark.parametrize("flip", [None, 0, 700, 1023])
def test_a_dense_second_layer_in_each_exact_product(
    monkeypatch: pytest.MonkeyPatch, scale: int, product: str, flip: int | None,
) -> None:
    ob = affine_sum(-5, scale, bits=5)
    hid = ob.network.outputs
    out = Layout(["z"])
    second = Layer.from_rows(hid, out, {"z": ({"y": 1}, -(scale * 3))})
    net = ob.network.then(Network((second,), "relu"))

    def spec(v: Mapping[str, Any]) -> dict[str, Any]:
        return {"z": ops.relu(ob.spec(v)["y"] - scale * 3)}

    want: Spec = spec
    if flip is not None:
        row = ob.domain.decode(np.array([flip], dtype=np.int64))[0]
        want = flipped(spec, dict(zip(ob.domain.names, map(int, row), strict=True)), "z")
    full = Obligation("affine+relu", net, ob.domain, want)
    monkeypatch.setattr(network, "ROWS_MAX_NNZ", -1)
    monkeypatch.setattr(network, "ROWS_MAX_DENSITY", -1.0)
    plan = net.plan(ob.domain.box())
    evaluator = SplitEvaluator(net, plan, ("A.bit[0]",), np.array([[0], [1]]),
                               ob.domain.names[1:])
    assert evaluator.product == product
    r = exhaustive(full, Options("exhaustive", chunk=256), path="split")
    assert r.details["arithmetic"] == evaluator.arithmetic
    assert evaluator.arithmetic == narrowest_int(max(plan.max_partial_sum, 16 * scale))
    assert_matches_reference(full, r)


def test_a_one_point_mutant_at_the_edge_of_int16_is_found() -> None:
    ob = affine_sum(127)
    top = {n: 1 for n in ob.domain.names}  # y = 32767, the largest int16
    bad = Obligation("affine/top", ob.network, ob.domain, flipped(ob.spec, top, "y"))
    r = exhaustive(bad, Options("exhaustive", chunk=4096))
    assert r.details["arithmetic"] == "int16"
    assert r.verdict is Verdict.REFUTED and r.checked == r.total == 1 << 16
    assert r.counterexample is not None and r.counterexample.network == {"y": 32767}
    assert r.counterexample.spec == {"y": 32768}


def test_beyond_int64_the_batch_path_runs_in_python_ints() -> None:
    r = exhaustive(affine_sum(0, 1 << 60), Options("exhaustive", chunk=4096))
    assert r.verdict is Verdict.PROVED and r.details["arithmetic"] == "python"


def test_constrained_members_only_on_the_split_path() -> None:
    ob = make_subtract(5).obligation()
    wrong = Obligation("subtract/wrong", ob.network, ob.domain,
                       lambda v: {**ob.spec(v), "R.bit[0]": 1 - ob.spec(v)["R.bit[0]"]},
                       outputs=ob.outputs)
    nowhere = Constrained(ob.domain, lambda v: v["DA.bit[4]"] + v["DB.bit[4]"] > 2, "never")
    some = Constrained(ob.domain, lambda v: v["DA.bit[4]"] * v["DB.bit[3]"] == 1, "late")
    for dom in (nowhere, some):
        bad = Obligation("subtract/constrained", ob.network, dom, wrong.spec, outputs=ob.outputs)
        assert _split_taken(bad, 64)
        assert_matches_reference(bad, exhaustive(bad, Options("exhaustive", chunk=64),
                                                  path="split"))


def test_a_spec_that_cannot_run_on_intervals_runs_on_python_ints() -> None:
    ob = make_subtract(4).obligation()

    def spec(v: Mapping[str, Any]) -> dict[str, Any]:
        want = dict(ob.spec(v))
        # np.where on an interval condition has no single truth value: no bound, object columns
        want["R.bit[1]"] = np.where(v["DA.bit[0]"] == 1, want["R.bit[1]"], want["R.bit[1]"])
        return want

    assert engines.spec_bound(Obligation("x", ob.network, ob.domain, spec)) is None
    seen: list[Any] = []

    def recording(v: Mapping[str, Any]) -> dict[str, Any]:
        seen.append(v["DA.bit[0]"].dtype if isinstance(v["DA.bit[0]"], np.ndarray)
                    else type(v["DA.bit[0]"]))
        return spec(v)

    r = exhaustive(Obligation("x", ob.network, ob.domain, recording, outputs=ob.outputs),
                   Options("exhaustive", chunk=32))
    assert r.verdict is Verdict.PROVED, r.line()
    # Without a bound nothing says numpy arithmetic is exact for it: one point at a time.
    assert int in seen and not any(isinstance(d, np.dtype) for d in seen)


# --------------------------------------------------------------------------- soundness
def test_a_split_counterexample_that_does_not_replay_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = SplitEvaluator.block

    def lying(self: SplitEvaluator, outer_rows: np.ndarray) -> np.ndarray:
        y = real(self, outer_rows)
        y[0, -1] ^= 1
        return y

    monkeypatch.setattr(SplitEvaluator, "block", lying)
    with pytest.raises(InternalError, match="does not replay"):
        exhaustive(make_subtract(5).obligation(), Options("exhaustive", chunk=64), path="split")


def test_a_split_that_disagrees_with_decode_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = Product.split

    def swapped(self: Product, limit: int) -> tuple[Domain, Domain] | None:
        parts = real(self, limit)
        return None if parts is None else (parts[1], parts[0])

    monkeypatch.setattr(Product, "split", swapped)
    with pytest.raises(InternalError, match="enumerates"):
        exhaustive(make_subtract(3).obligation(), Options("exhaustive", chunk=128),
                   path="split")
