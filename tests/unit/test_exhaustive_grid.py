"""The grid path of the exhaustive engine against the split path and a naive reference.

Random networks and specs (hypothesis, derandomized), every gadget family at small widths and
one-weight mutants of them, partial sums at the edges of int16 and int32 and beyond int64: the
grid path must give the verdict, the count of points checked and the first counterexample that
the split path and the reference give, in the narrowest integer type its bounds allow, and
leave to the other paths what it cannot take (a spec that does not broadcast, no bound).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.exhaustive_cases import affine_sum, assert_matches_reference, cases, flipped, wrong_at
from support.mutation import corrupt_bias, corrupt_weight
from support.specs import network_spec

from constructions.gadgets import make_subtract
from constructions.gadgets.families import FAMILIES
from verify import ops
from verify.domains import Bits, Constrained, Domain, Word, product
from verify.errors import InternalError, ParameterError
from verify.layout import Layout
from verify.methods import Options, exhaustive
from verify.methods.grid import GridEvaluator, grid_layout
from verify.network import Layer, Network
from verify.obligation import Obligation
from verify.result import Result, Verdict

engines = importlib.import_module("verify.methods.exhaustive")
grid_module = importlib.import_module("verify.methods.grid")


def _same(a: Result, b: Result) -> None:
    assert (a.verdict, a.checked, a.total) == (b.verdict, b.checked, b.total), (a.line(), b.line())
    assert a.counterexample == b.counterexample
    assert a.details["arithmetic"] == b.details["arithmetic"] or b.details["arithmetic"] in (
        "float32", "float64", "python")


def _grid(ob: Obligation, chunk: int) -> Result:
    """The obligation on the grid path, which must be the path taken."""
    r = exhaustive(ob, Options("exhaustive", chunk=chunk))
    assert r.details.get("path") == "grid", r.details
    return r


# --------------------------------------------------------------------------- random
@settings(max_examples=120, deadline=None, derandomize=True)
@given(cases(), st.sampled_from([16, 32, 64]))
def test_grid_agrees_with_the_reference_and_the_split_path(
    case: tuple[Obligation, int], chunk: int,
) -> None:
    ob, _ = case
    r = exhaustive(ob, Options("exhaustive", chunk=chunk))
    assert_matches_reference(ob, r)
    if engines._grid_blocks(ob, chunk) is not None:
        assert r.details["path"] == "grid"
        weight = max(abs(v) for layer in ob.network.layers for v in (*layer.vals, 0))
        box = dict(zip(ob.domain.names, ob.domain.box()))
        plan = ob.network.plan([box[n] for n in ob.network.inputs])
        want = engines.narrowest_int(max(plan.max_partial_sum, weight))
        assert r.details["arithmetic"] == want
    _same(r, exhaustive(ob, Options("exhaustive", chunk=chunk), path="split"))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(6, 12), st.integers(1, 3), st.integers(0, 2 ** 32 - 1))
def test_random_networks_over_words_take_the_grid(bits: int, depth: int, seed: int) -> None:
    """Two words of ``bits / 2`` bits, 1-3 layers of random small weights (some units reading
    only low bits, so values over few axes occur), a one-point mutant half the time."""
    rng = np.random.default_rng(seed)
    dom = product(Word("A", bits // 2), Word("B", bits - bits // 2))
    cur = Layout(list(dom.names))
    layers = []
    for k in range(depth):
        width = int(rng.integers(1, 6))
        mat = rng.integers(-3, 4, size=(width, len(cur)))
        mat[:, int(rng.integers(1, len(cur) + 1)):] *= rng.integers(0, 2, size=(width, 1))
        nxt = Layout([f"h{k}.{i}" for i in range(width)])
        layers.append(Layer.from_dense(mat.tolist(), rng.integers(-4, 5, size=width).tolist(),
                                       cur, nxt, relu=bool(rng.integers(0, 4))))
        cur = nxt
    net = Network(tuple(layers), "random")
    spec = network_spec(net)
    if rng.integers(0, 2):
        row = dom.decode(np.array([int(rng.integers(0, dom.count))], dtype=np.int64))[0]
        spec = flipped(spec, dict(zip(dom.names, map(int, row), strict=True)),
                       net.outputs.names[int(rng.integers(0, len(net.outputs)))])
    ob = Obligation("random-words", net, dom, spec)
    r = _grid(ob, 16)
    assert_matches_reference(ob, r)


# --------------------------------------------------------------------------- gadgets
def _small(name: str) -> list[int]:
    fam = FAMILIES[name]
    return [b for b in (2, 3, 4) if fam.lowest <= b <= fam.highest]


GADGETS = [(name, bits) for name in sorted(FAMILIES) for bits in _small(name)]


@pytest.mark.parametrize(("name", "bits"), GADGETS)
def test_every_gadget_family_is_proved_on_the_grid(name: str, bits: int) -> None:
    ob = FAMILIES[name].make(bits, 2).obligation()
    grid, split = (exhaustive(ob, Options("exhaustive", chunk=16), path=p)
                   for p in ("grid", "split"))
    assert split.verdict is Verdict.PROVED, split.line()
    _same(grid, split)
    assert grid.details["path"] == "grid"


@pytest.mark.parametrize(("name", "bits"), GADGETS)
def test_mutants_of_every_gadget_family_are_refuted_alike(name: str, bits: int) -> None:
    """One weight and one bias of each layer changed by one: the same verdict and the same
    first counterexample on both paths (replayed, inside the domain)."""
    ob = FAMILIES[name].make(bits, 2).obligation()
    for li, layer in enumerate(ob.network.layers):
        for bad in (corrupt_weight(ob, li, layer.nnz // 2, 1), corrupt_bias(ob, li, 0, -1)):
            grid = exhaustive(bad, Options("exhaustive", chunk=16))
            split = exhaustive(bad, Options("exhaustive", chunk=16), path="split")
            _same(grid, split)
            if grid.verdict is Verdict.REFUTED:
                assert grid.counterexample is not None
                assert bad.domain.contains(grid.counterexample.inputs)


@pytest.mark.parametrize("index", [0, 1, 63, 64, 1000, 2047, 2048, 4095])
def test_a_one_point_mutant_of_subtract_is_found_at_its_index(index: int) -> None:
    ob = make_subtract(6).obligation()
    row = ob.domain.decode(np.array([index], dtype=np.int64))[0]
    point = {n: int(v) for n, v in zip(ob.domain.names, row, strict=True)}
    for output in ("R.bit[0]", "R.bit[5]"):
        bad = Obligation("subtract/one-point", ob.network, ob.domain,
                         flipped(ob.spec, point, output), outputs=ob.outputs)
        r = _grid(bad, 16)
        assert r.verdict is Verdict.REFUTED and r.checked == index + 1, r.line()
        assert r.counterexample is not None and r.counterexample.inputs == point
        assert set(r.counterexample.network) == {output}


def test_values_are_held_only_over_their_axes() -> None:
    """On subtract, output bit 0 reads two coordinates: over a grid it is computed once, on the
    two axes that hold them, never per block; the top bit depends on the outer part."""
    ob = make_subtract(8).obligation()
    blocks = engines._grid_blocks(ob, 64)
    assert blocks is not None and blocks.count > 1
    ev = blocks.evaluator
    outer, rows, _, full = blocks.span(1)
    ys = ev.block(outer, rows)
    assert ys[0].size <= 4 * 16 < ys[-1].size == int(np.prod(full))
    assert ev.out_idx[0] in ev._fixed and ev.out_idx[-1] not in ev._fixed


# --------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(("bias", "scale", "arithmetic"), [
    (127, 64, "int16"), (128, 64, "int32"), (-100, 64, "int16"), (0, 1 << 20, "int32"),
    (0, (1 << 22) - 1, "int32"), (0, 1 << 23, "int64"), (0, 1 << 40, "int64"),
])
def test_the_narrowest_type_the_bounds_allow_and_the_top_point(
    bias: int, scale: int, arithmetic: str,
) -> None:
    """Each edge: proved in that type, and a spec one off at the point of the largest value
    refuted there (a wrapped sum would be off everywhere near it)."""
    ob = affine_sum(bias, scale)
    r = _grid(ob, 256)
    assert r.verdict is Verdict.PROVED and r.details["arithmetic"] == arithmetic, r.line()
    top = {n: 1 for n in ob.domain.names}
    bad = Obligation("affine/top", ob.network, ob.domain, flipped(ob.spec, top, "y"))
    r = _grid(bad, 256)
    assert r.verdict is Verdict.REFUTED and r.checked == r.total, r.line()
    assert r.counterexample is not None
    assert r.counterexample.network == {"y": 510 * scale + bias}


def test_beyond_int64_the_grid_is_not_taken() -> None:
    r = exhaustive(affine_sum(0, 1 << 60), Options("exhaustive", chunk=256))
    assert r.verdict is Verdict.PROVED and r.details["arithmetic"] == "python"
    assert "path" not in r.details


def test_a_second_layer_beyond_int16_is_not_wrapped() -> None:
    """Layer 1 stays small, layer 2 sums it to beyond int16: the type is the whole network's."""
    ob = affine_sum(0, 1, bits=8)
    hid = ob.network.outputs
    second = Layer.from_rows(hid, Layout(["z"]), {"z": ({"y": 200}, 0)})
    net = ob.network.then(Network((second,), "big"))

    def spec(v: Mapping[str, Any]) -> dict[str, Any]:
        return {"z": ops.relu(200 * ob.spec(v)["y"])}

    good = Obligation("affine*200", net, ob.domain, spec)
    r = _grid(good, 256)
    assert r.verdict is Verdict.PROVED and r.details["arithmetic"] == "int32", r.line()
    top = {n: 1 for n in ob.domain.names}
    r = _grid(Obligation("affine*200/top", net, ob.domain, flipped(spec, top, "z")), 256)
    assert r.counterexample is not None and r.counterexample.network == {"z": 200 * 510}


# --------------------------------------------------------------------------- other paths
def test_a_spec_that_does_not_broadcast_goes_the_split_path() -> None:
    """A spec whose arrays change shape (``ravel``) gives on the grid what it does not give on
    flat columns: the probe sees it and the split path runs instead, with the right verdict."""
    ob = make_subtract(5).obligation()

    def flat_only(v: Mapping[str, Any]) -> dict[str, Any]:
        return {k: np.ravel(x) if isinstance(x, np.ndarray) else x
                for k, x in ob.spec(v).items()}

    odd = Obligation("subtract/ravel", ob.network, ob.domain, flat_only, outputs=ob.outputs)
    assert engines._grid_blocks(odd, 16) is None
    r = exhaustive(odd, Options("exhaustive", chunk=16))
    assert r.verdict is Verdict.PROVED and "path" not in r.details


def test_constrained_members_only_on_the_grid() -> None:
    ob = make_subtract(5).obligation()

    def wrong(v: Mapping[str, Any]) -> dict[str, Any]:
        return {**ob.spec(v), "R.bit[0]": 1 - ob.spec(v)["R.bit[0]"]}

    nowhere = Constrained(ob.domain, lambda v: v["DA.bit[4]"] + v["DB.bit[4]"] > 2, "never")
    some = Constrained(ob.domain, lambda v: v["DA.bit[4]"] * v["DB.bit[3]"] == 1, "late")
    for dom in (nowhere, some):
        bad = Obligation("subtract/constrained", ob.network, dom, wrong, outputs=ob.outputs)
        assert_matches_reference(bad, _grid(bad, 16))


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_threads_do_not_change_the_first_counterexample(
    monkeypatch: pytest.MonkeyPatch, workers: int,
) -> None:
    bad, point = wrong_at(make_subtract(6).obligation(), 3000, "R.bit[0]")
    monkeypatch.setattr(engines, "_workers", lambda: workers)
    r = _grid(bad, 16)
    assert r.checked == 3001 and r.counterexample is not None
    assert r.counterexample.inputs == point


def test_progress_covers_every_point_once() -> None:
    ob = make_subtract(6).obligation()
    seen: list[tuple[int, int]] = []
    r = exhaustive(ob, Options("exhaustive", chunk=16, progress=lambda d, t: seen.append((d, t))))
    assert r.verdict is Verdict.PROVED and r.checked == r.total == 4096, r.line()
    assert r.details["path"] == "grid" and len(seen) > 1
    assert [d for d, _ in seen] == sorted({d for d, _ in seen}) and seen[-1] == (4096, 4096)


def test_the_layout_has_a_long_fast_axis_and_consecutive_members() -> None:
    dom = product(Word("A", 12), Word("B", 12))
    grid = grid_layout(dom, 4096, 1 << 20)
    assert grid is not None
    assert [a.count for a in grid.axes] == [4096, 4, 4, 4, 4] and grid.outer.count == 16
    assert grid_layout(Bits(("x", "y")), 4096, 1 << 20) is None  # too short an inner loop


# --------------------------------------------------------------------------- soundness
def test_a_counterexample_that_does_not_replay_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A block beyond the probed ones made to lie: its counterexample is replayed, and the
    replay refuses it."""
    real = GridEvaluator.block
    calls = {"n": 0}

    def lying(self: GridEvaluator, outer_rows: np.ndarray, rows: slice = slice(None)) -> Any:
        ys = [np.array(y) for y in real(self, outer_rows, rows)]
        calls["n"] += 1
        if calls["n"] == 4:  # past the two probed blocks
            ys[-1] = np.broadcast_to(ys[-1], ys[-1].shape).copy()
            ys[-1].reshape(-1)[-1] ^= 1
        return ys

    monkeypatch.setattr(GridEvaluator, "block", lying)
    monkeypatch.setattr(engines, "_workers", lambda: 1)  # the blocks in order, one at a time
    with pytest.raises(InternalError, match="does not replay"):
        _grid(make_subtract(5).obligation(), 16)


def test_an_evaluator_that_disagrees_on_a_probed_block_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = GridEvaluator.block

    def lying(self: GridEvaluator, outer_rows: np.ndarray, rows: slice = slice(None)) -> Any:
        ys = [np.array(y) for y in real(self, outer_rows, rows)]
        ys[0] = ys[0] + 1
        return ys

    monkeypatch.setattr(GridEvaluator, "block", lying)
    with pytest.raises(InternalError, match="disagree"):
        exhaustive(make_subtract(5).obligation(), Options("exhaustive", chunk=16))


def test_a_grid_that_disagrees_with_decode_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = Bits.split

    def shifted(self: Bits, limit: int) -> tuple[Domain, Domain] | None:
        parts = real(self, limit)
        if parts is None:
            return None
        inner, outer = parts
        return Bits(inner.names[::-1]), outer  # the right coordinates, in the wrong order

    monkeypatch.setattr(Bits, "split", shifted)
    with pytest.raises(InternalError, match="enumerates"):
        exhaustive(make_subtract(4).obligation(), Options("exhaustive", chunk=16))


# --------------------------------------------------------------------------- steps
@settings(max_examples=80, deadline=None, derandomize=True)
@given(st.integers(0, 2 ** 32 - 1), st.sampled_from(["step", "bias", "weight", "reader"]),
       st.booleans())
def test_step_pairs_and_their_near_misses(seed: int, change: str, compare: bool) -> None:
    """Layer 1 built from pairs ``ReLU(z + 1), ReLU(z)`` read with opposite weights (a step,
    which the grid adds up as one term: one comparison, or ``min(max(z, 0), 1)`` where ``1 -
    z`` could leave the type), or a pair that is one change away from a step (a bias, a weight
    of layer 1, or a weight that reads them): the grid, the split path and the reference
    agree, and only true steps are fused."""
    with pytest.MonkeyPatch.context() as mp:
        if not compare:
            mp.setattr(grid_module, "INT_LIMITS", (("int16", 0), ("int32", 0), ("int64", 0)))
        _steps(seed, change)


def _steps(seed: int, change: str) -> None:
    rng = np.random.default_rng(seed)
    dom = product(Word("A", 4), Word("B", 4))
    names = list(dom.names)
    hidden: dict[str, tuple[dict[str, int], int]] = {}
    second: dict[str, tuple[dict[str, int], int]] = {f"y{j}": ({}, 0) for j in range(2)}
    for k in range(3):
        coeffs = {n: int(rng.integers(-3, 4)) for n in names}
        coeffs[names[-1]] = int(rng.integers(1, 4))  # every pair reads the outer part
        b = int(rng.integers(-6, 7))
        hidden[f"p{k}"], hidden[f"q{k}"] = (coeffs, b + 1), (dict(coeffs), b)
        for j in range(2):
            w = int(rng.integers(1, 3)) * (1 if rng.integers(0, 2) else -1)
            second[f"y{j}"][0][f"p{k}"], second[f"y{j}"][0][f"q{k}"] = w, -w
    if change == "bias":
        coeffs, b = hidden["q0"]
        hidden["q0"] = (coeffs, b - 1)
    elif change == "weight":
        hidden["q0"][0][names[0]] += 1
    elif change == "reader":
        second["y1"][0]["q0"] -= 1
    keys = list(hidden)
    hidden = {keys[i]: hidden[keys[i]] for i in rng.permutation(len(keys))}  # q before p too
    hid = Layout(list(hidden))
    net = Network((Layer.from_rows(Layout(names), hid, hidden),
                   Layer.from_rows(hid, Layout(list(second)), second, relu=False)), "steps")
    ob = Obligation("steps", net, dom, network_spec(net))
    blocks = engines._grid_blocks(ob, 16)
    assert blocks is not None
    fused = sum(step for _, step in blocks.evaluator._steps)
    assert fused == (3 if change == "step" else 2)
    r = _grid(ob, 16)
    assert r.verdict is Verdict.PROVED, r.line()
    row = dom.decode(np.array([int(rng.integers(0, dom.count))], dtype=np.int64))[0]
    bad = Obligation("steps/one-point", net, dom,
                     flipped(ob.spec, dict(zip(names, map(int, row), strict=True)), "y1"))
    r = _grid(bad, 16)
    assert_matches_reference(bad, r)
    _same(r, exhaustive(bad, Options("exhaustive", chunk=16), path="split"))


# --------------------------------------------------------------------------- figure
def test_throughput_counts_every_point_on_both_paths() -> None:
    ob = make_subtract(6).obligation()
    for path in ("grid", "split"):
        n, wall, cpu = engines.throughput(ob, path)
        assert n == 4096 and wall > 0 and cpu > 0
    wrong = Obligation("subtract/wrong", ob.network, ob.domain,
                       lambda v: {**ob.spec(v), "R.bit[0]": 1 - ob.spec(v)["R.bit[0]"]},
                       outputs=ob.outputs)
    with pytest.raises(ParameterError, match="proved"):
        engines.throughput(wrong)


@pytest.mark.parametrize("wrong", [False, True])
def test_values_smaller_than_the_block_under_a_predicate(wrong: bool) -> None:
    """Network, spec and predicate each over a few axes, none over the whole block: the
    comparison broadcasts the three together (and the first counterexample is the first member
    the predicate accepts)."""
    base = product(Word("A", 6), Word("B", 6))
    dom = Constrained(base, lambda v: v["A.bit[3]"] + v["B.bit[5]"] == 2, "A.bit[3], B.bit[5] set")
    layer = Layer.from_rows(Layout(list(dom.names)), Layout(["y"]), {"y": ({"A.bit[0]": 1}, 0)})

    def spec(v: Mapping[str, Any]) -> dict[str, Any]:
        return {"y": 1 - v["A.bit[0]"] if wrong else v["A.bit[0]"]}

    ob = Obligation("small-values", Network((layer,), "one"), dom, spec)
    assert_matches_reference(ob, _grid(ob, 16))


# --------------------------------------------------------------------------- ops on grids
@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64])
@pytest.mark.parametrize("bits", [1, 5, 12, 15])
def test_wrap_on_integer_arrays_is_the_residue(dtype: Any, bits: int) -> None:
    x = np.arange(-40000, 40000, 7).astype(dtype) if dtype != np.int16 else \
        np.arange(-32768, 32768, 7).astype(dtype)
    got = ops.wrap(x, bits)
    assert got.dtype == x.dtype
    assert [int(v) for v in got] == [int(v) % (1 << bits) for v in x]


def test_select_broadcasts_its_values_and_index_together() -> None:
    index = np.array([[0], [1], [2], [7]])  # over one axis; 7 is out of range: the last value
    values = [np.array([[10, 11, 12]]), 20, np.array([[30], [31], [32], [33]])]
    got = ops.select(values, index)
    want = [[values[0][0][j] if i == 0 else 20 if i == 1 else values[2][r][0]
             for j in range(3)] for r, i in enumerate([0, 1, 2, 7])]
    assert got.shape == (4, 3) and got.tolist() == want
