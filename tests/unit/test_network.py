"""Layers, layouts and networks: orientation checks, exact arithmetic and its selection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verify.domains import IntRange
from verify.errors import LayoutError, LoopmlpError, ParameterError, ShapeError
from verify.layout import Layout, bit_names
from verify.methods import Options, exhaustive
from verify.network import EXACT_LIMITS, Layer, Network
from verify.obligation import Obligation

ARITHMETICS = ("float32", "float64", "int64", "python")


def _scalar_net(*weights: int, bias: int = 0) -> Network:
    """y = ReLU(w_1 x_1 + ... + bias): one layer over inputs x0, x1, ..."""
    ins = Layout([f"x{i}" for i in range(len(weights))])
    out = Layout(["y"])
    return Network((Layer.from_rows(ins, out, {"y": ({f"x{i}": w for i, w in
                                                      enumerate(weights)}, bias)}),))


# --------------------------------------------------------------------------- layout
def test_layout_resolves_names_in_order() -> None:
    lay = Layout(bit_names("PC", 3))
    assert lay.names == ("PC.bit[0]", "PC.bit[1]", "PC.bit[2]")
    assert lay.index("PC.bit[2]") == 2
    assert lay.indices(["PC.bit[1]", "PC.bit[0]"]) == [1, 0]
    assert lay.extend(["MEM[0].bit[0]"], owner="write") == [3]
    assert lay.owner("MEM[0].bit[0]") == "write"
    assert "PC.bit[0]" in lay and "PC.bit[9]" not in lay
    assert Layout(["a", "b"]) == Layout(["a", "b"]) != Layout(["b", "a"])


def test_layout_collision_names_the_coordinate_and_both_writers() -> None:
    lay = Layout(["PC.bit[0]"], owner="fetch")
    with pytest.raises(LayoutError) as e:
        lay.add("PC.bit[0]", owner="branch")
    msg = str(e.value)
    assert "PC.bit[0]" in msg and "'fetch'" in msg and "'branch'" in msg


def test_layout_collision_inside_one_constructor() -> None:
    with pytest.raises(LayoutError, match=r"MEM\[1\]\.bit\[0\]"):
        Layout(["MEM[1].bit[0]", "MEM[1].bit[1]", "MEM[1].bit[0]"], owner="memory")


def test_unknown_coordinate_is_a_layout_error() -> None:
    lay = Layout(["a", "b"])
    with pytest.raises(LayoutError, match=r"unknown coordinate 'c' \(layout has 2 names\)"):
        lay.index("c")
    with pytest.raises(LayoutError, match="'zz'"):
        Layer.from_rows(lay, Layout(["y"]), {"y": ({"zz": 1}, 0)})
    with pytest.raises(LayoutError, match="'nope'"):
        Layer.from_rows(lay, Layout(["y"]), {"nope": ({"a": 1}, 0)})


def test_errors_share_one_root() -> None:
    for kind in (LayoutError, ShapeError, ParameterError):
        assert issubclass(kind, LoopmlpError)


# --------------------------------------------------------------------------- orientation
def test_from_dense_takes_w_out_in() -> None:
    ins, outs = Layout(["a", "b", "c"]), Layout(["p", "q"])
    w = [[1, 0, 2], [0, -3, 0]]
    layer = Layer.from_dense(w, [5, 0], ins, outs, label="dense")
    assert layer.shape == (2, 3)
    assert layer.row("p") == ({"a": 1, "c": 2}, 5)
    assert layer.row("q") == ({"b": -3}, 0)
    assert np.array_equal(layer.csr.toarray(), np.array(w))


def test_from_dense_refuses_the_transposed_matrix() -> None:
    ins, outs = Layout(["a", "b", "c"]), Layout(["p", "q"])
    wt = [[1, 0], [0, -3], [2, 0]]  # shape (3, 2) = (inputs, outputs)
    with pytest.raises(ShapeError) as e:
        Layer.from_dense(wt, [0, 0], ins, outs, label="fetch")
    msg = str(e.value)
    assert "'fetch'" in msg and "(3, 2)" in msg and "(2, 3)" in msg
    assert "transposed" in msg and "W[out, in]" in msg


def test_from_dense_refuses_a_wrong_shape_without_claiming_transposition() -> None:
    with pytest.raises(ShapeError) as e:
        Layer.from_dense([[1, 2]], [0, 0], Layout(["a", "b", "c"]), Layout(["p", "q"]))
    assert "(1, 2)" in str(e.value) and "transposed" not in str(e.value)


def test_entries_outside_w_out_in_are_refused_and_named() -> None:
    ins, outs = Layout(["a", "b", "c"]), Layout(["p", "q"])
    with pytest.raises(ShapeError) as e:
        Layer(ins, outs, (0, 2), (1, 0), (1, 1), (0, 0), label="read")
    msg = str(e.value)
    assert "'read'" in msg and "W[2, " in msg and "(2, 3)" in msg and "W[out, in]" in msg


def test_entries_given_as_w_in_out_get_the_transposition_hint() -> None:
    ins, outs = Layout(["a", "b", "c"]), Layout(["p", "q"])
    # Entry (in=2, out=1) written as (row=2, col=1): row 2 is not an output.
    with pytest.raises(ShapeError, match="look transposed"):
        Layer.from_entries(ins, outs, [(2, 1, 7)])


def test_negative_indices_and_mismatched_entry_lists_are_refused() -> None:
    ins, outs = Layout(["a"]), Layout(["p"])
    with pytest.raises(ShapeError, match=r"W\[-1, 0\]"):
        Layer(ins, outs, (-1,), (0,), (1,), (0,))
    with pytest.raises(ShapeError, match="must match"):
        Layer(ins, outs, (0,), (0, 0), (1,), (0,))
    with pytest.raises(ShapeError, match="bias has 2 entries for 1 outputs"):
        Layer(ins, outs, (0,), (0,), (1,), (0, 0))
    with pytest.raises(ShapeError, match="bias has 3 entries for 1 outputs"):
        Layer.from_dense([[1]], [0, 0, 0], ins, outs)


def test_non_integer_weights_are_refused_by_name() -> None:
    with pytest.raises(ParameterError, match=r"W\[0, 0\]=0\.5"):
        Layer.from_entries(Layout(["a"]), Layout(["p"]), [(0, 0, 0.5)])
    with pytest.raises(ParameterError, match=r"b\[0\]"):
        Layer.from_entries(Layout(["a"]), Layout(["p"]), [(0, 0, 1)], [1.25])
    # Integral floats are accepted as the integers they are.
    assert Layer.from_entries(Layout(["a"]), Layout(["p"]), [(0, 0, 2.0)]).vals == (2,)


def test_repeated_entries_add_and_zeros_are_dropped() -> None:
    layer = Layer.from_entries(Layout(["a", "b"]), Layout(["p"]),
                               [(0, 0, 2), (0, 0, 3), (0, 1, 1), (0, 1, -1)])
    assert (layer.rows, layer.cols, layer.vals) == ((0,), (0,), (5,))
    assert layer.nnz == 1


def test_network_layouts_must_chain() -> None:
    a = Layer.identity(Layout(["x", "y"]), label="first")
    b = Layer.identity(Layout(["x", "z"]), label="second")
    with pytest.raises(ShapeError) as e:
        Network((a, b), "chain")
    msg = str(e.value)
    assert "'chain'" in msg and "'first'" in msg and "'second'" in msg
    with pytest.raises(ShapeError, match="at least one layer"):
        Network((), "empty")


def test_identity_and_network_views() -> None:
    lay = Layout(["x", "y"])
    ident = Layer.identity(lay)
    assert ident.is_identity
    assert not Layer.from_rows(lay, lay, {"x": ({"x": 1}, 0), "y": ({"y": 1}, 1)}).is_identity
    lin = Layer.from_rows(lay, Layout(["s"]), {"s": ({"x": 1, "y": -1}, 0)}, relu=False)
    net = Network((ident, lin), "n")
    assert net.depth == 1 and net.nnz == 4 and net.widest == 2
    assert net.inputs == lay and net.outputs.names == ("s",)
    both = net.then(Network((Layer.identity(Layout(["s"])),), "m"))
    assert both.name == "n>m" and len(both.layers) == 3
    assert both.forward_exact({"x": 2, "y": 5}) == {"s": 0}
    assert net.forward_exact({"x": 2, "y": 5}) == {"s": -3}
    with pytest.raises(ParameterError, match="a value for y"):
        net.forward_exact({"x": 2})


# --------------------------------------------------------------------------- plan thresholds
@pytest.mark.parametrize(
    ("weight", "arithmetic"),
    [
        (1, "float32"),
        ((1 << 24) - 1, "float32"),
        (1 << 24, "float64"),
        ((1 << 53) - 1, "float64"),
        (1 << 53, "int64"),
        ((1 << 62) - 1, "int64"),
        (1 << 62, "python"),
        (1 << 70, "python"),
    ],
)
def test_plan_picks_the_cheapest_exact_arithmetic(weight: int, arithmetic: str) -> None:
    net = _scalar_net(weight)
    plan = net.plan([(0, 1)])
    assert plan.arithmetic == arithmetic
    assert plan.max_partial_sum == weight
    # Negative weights bound the same magnitude.
    assert _scalar_net(-weight).plan([(0, 1)]).arithmetic == arithmetic


def test_plan_bounds_every_partial_sum_not_just_the_result() -> None:
    # 2^23 x0 - 2^23 x1 + 2^23 lies in [0, 2^24], but partial sums reach 2^24 + 2^23.
    net = _scalar_net(1 << 23, -(1 << 23), bias=1 << 23)
    plan = net.plan([(0, 1), (0, 1)])
    assert plan.max_partial_sum == 3 << 23
    assert plan.arithmetic == "float64"
    assert plan.layer_bounds == ((0, 1 << 24),)


def test_plan_counts_the_input_box_and_the_bias() -> None:
    assert _scalar_net(1).plan([(0, (1 << 24) - 1)]).arithmetic == "float32"
    assert _scalar_net(1).plan([(0, 1 << 24)]).arithmetic == "float64"
    assert _scalar_net(1).plan([(-(1 << 24), 0)]).arithmetic == "float64"
    assert _scalar_net(1, bias=(1 << 24) - 1).plan([(0, 0)]).arithmetic == "float32"
    assert _scalar_net(1, bias=-(1 << 24)).plan([(0, 0)]).arithmetic == "float64"
    with pytest.raises(ShapeError, match="box has 2 intervals for 1 inputs"):
        _scalar_net(1).plan([(0, 1), (0, 1)])


def test_plan_propagates_bounds_through_relu_and_linear_layers() -> None:
    x, h, y = Layout(["x"]), Layout(["p", "n"]), Layout(["y"])
    split = Layer.from_rows(x, h, {"p": ({"x": 1}, 0), "n": ({"x": -1}, 0)})
    join = Layer.from_rows(h, y, {"y": ({"p": 3, "n": -3}, 0)}, relu=False)
    plan = Network((split, join)).plan([(-5, 7)])
    assert plan.layer_bounds == ((-7, 7), (-15, 21))
    assert plan.max_partial_sum == 21 + 15


def test_the_float32_limit_is_real() -> None:
    """Just above 2^24, float32 rounds; the plan moves to float64 and stays exact."""
    net = _scalar_net(1 << 24, 1)
    x = np.array([[1, 1]], dtype=np.int64)
    assert net.plan([(0, 1), (0, 1)]).arithmetic == "float64"
    assert int(net.forward(x, "float32")[0, 0]) != (1 << 24) + 1  # why the limit exists
    for arith in ("float64", "int64", "python"):
        assert int(net.forward(x, arith)[0, 0]) == (1 << 24) + 1


# --------------------------------------------------------------------------- beyond int64
def _big_network() -> Network:
    """y = 2^40 * ReLU(2^40 x + 1) - 3 and z = ReLU(2^40 h - 2^80 x): values near 2^82."""
    x, h, o = Layout(["x"]), Layout(["h"]), Layout(["y", "z"])
    l1 = Layer.from_rows(x, h, {"h": ({"x": 1 << 40}, 1)}, label="up")
    l2 = Layer.from_rows(h, o, {"y": ({"h": 1 << 40}, -3), "z": ({"h": 1 << 40}, 0)},
                         relu=False, label="up again")
    return Network((l1, l2), "big")


def _big_exact(x: int) -> dict[str, int]:
    h = max((x << 40) + 1, 0)
    return {"y": (h << 40) - 3, "z": h << 40}


def test_values_beyond_int64_are_evaluated_exactly_in_python_ints() -> None:
    net = _big_network()
    plan = net.plan([(0, 7)])
    assert plan.arithmetic == "python"
    assert plan.max_partial_sum == (((7 << 40) + 1) << 40) + 3
    xs = np.arange(8, dtype=np.int64)[:, None]
    y = net.forward(xs, "python")
    assert y.dtype == object
    for x in range(8):
        want = _big_exact(x)
        assert [int(v) for v in y[x]] == [want["y"], want["z"]]
        assert net.forward_exact({"x": x}) == want
    assert _big_exact(7)["z"] > 1 << 82


def _exact(v: Any) -> Any:
    """A numpy batch as Python ints (object array), so a spec's big products stay exact."""
    return np.asarray(v, dtype=object) if isinstance(v, np.ndarray) else v


def test_exhaustive_proves_beyond_int64_in_python_arithmetic() -> None:
    def spec(v: Mapping[str, Any]) -> dict[str, Any]:
        x = _exact(v["x"])
        h = x * (1 << 40) + 1
        return {"y": h * (1 << 40) - 3, "z": h * (1 << 40)}

    ob = Obligation("big/exact", _big_network(), IntRange("x", 0, 1000), spec)
    r = exhaustive(ob, Options("exhaustive"))
    assert r.verdict.name == "PROVED", r.line()
    assert r.details["arithmetic"] == "python"
    assert r.checked == r.total == 1001


def test_exhaustive_refutes_beyond_int64_by_one_unit() -> None:
    def spec(v: Mapping[str, Any]) -> dict[str, Any]:
        x = _exact(v["x"])
        h = x * (1 << 40) + 1
        return {"y": h * (1 << 40) - 3 + (x == 999), "z": h * (1 << 40)}

    ob = Obligation("big/off-by-one", _big_network(), IntRange("x", 0, 1000), spec)
    r = exhaustive(ob, Options("exhaustive"))
    assert r.verdict.name == "REFUTED"
    assert r.counterexample is not None and r.counterexample.inputs == {"x": 999}
    assert r.counterexample.spec["y"] - r.counterexample.network["y"] == 1


def test_exhaustive_runs_a_plain_spec_beyond_int64() -> None:
    ob = Obligation("big/plain-spec", _big_network(), IntRange("x", 0, 7),
                    lambda v: {"y": v["x"] * (1 << 80) + (1 << 40) - 3,
                               "z": v["x"] * (1 << 80) + (1 << 40)})
    assert exhaustive(ob, Options("exhaustive")).verdict.name == "PROVED"


def test_weights_beyond_int64_force_python_and_have_no_int64_matrix() -> None:
    net = _scalar_net(1 << 63)
    plan = net.plan([(0, 0)])
    assert plan.arithmetic == "python"  # even though every value over the box is 0
    with pytest.raises(ShapeError, match="do not fit int64"):
        _ = net.layers[0].csr
    assert int(net.forward(np.array([[1]]), "python")[0, 0]) == 1 << 63


# --------------------------------------------------------------------------- random networks
@st.composite
def _networks(draw: st.DrawFn) -> tuple[Network, list[tuple[int, int]], np.ndarray]:
    """A random integer network, an input box, and a batch of points in that box."""
    scale = draw(st.sampled_from([3, 1 << 10, 1 << 20, 1 << 28, 1 << 36, 1 << 45, 1 << 55]))
    widths = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4))
    layers = []
    cur = Layout([f"x{i}" for i in range(widths[0])])
    for k, w in enumerate(widths[1:]):
        nxt = Layout([f"h{k}.{i}" for i in range(w)])
        mat = draw(st.lists(st.lists(st.integers(-scale, scale), min_size=len(cur),
                                     max_size=len(cur)), min_size=w, max_size=w))
        bias = draw(st.lists(st.integers(-scale, scale), min_size=w, max_size=w))
        relu = draw(st.booleans())
        layers.append(Layer.from_dense(mat, bias, cur, nxt, relu=relu, label=f"L{k}"))
        cur = nxt
    box = [tuple(sorted(draw(st.tuples(st.integers(-50, 50), st.integers(-50, 50)))))
           for _ in range(widths[0])]
    n = draw(st.integers(1, 8))
    pts = np.array([[draw(st.integers(lo, hi)) for lo, hi in box] for _ in range(n)],
                   dtype=np.int64)
    return Network(tuple(layers), "random"), box, pts


def _trace(net: Network, point: list[int]) -> tuple[int, list[list[int]]]:
    """The largest sum_j |W_ij x_j| + |b_i| met on one input, and each layer's pre-activations."""
    worst = max((abs(v) for v in point), default=0)
    pres = []
    x = list(point)
    for layer in net.layers:
        mag = [abs(b) for b in layer.bias]
        acc = list(layer.bias)
        for r, c, v in zip(layer.rows, layer.cols, layer.vals, strict=True):
            mag[r] += abs(v * x[c])
            acc[r] += v * x[c]
        worst = max([worst, *mag])
        pres.append(acc)
        x = [max(a, 0) for a in acc] if layer.relu else acc
    return worst, pres


@settings(max_examples=150, deadline=None)
@given(_networks())
def test_every_allowed_path_agrees_with_python_ints(
    case: tuple[Network, list[tuple[int, int]], np.ndarray],
) -> None:
    net, box, pts = case
    plan = net.plan(box)
    # The choice is the cheapest whose limit the bound respects.
    limits = dict(EXACT_LIMITS)
    cheaper = ARITHMETICS[: ARITHMETICS.index(plan.arithmetic)]
    assert all(plan.max_partial_sum >= limits[a] for a in cheaper)
    if plan.arithmetic != "python":
        assert plan.max_partial_sum < limits[plan.arithmetic]
    names = net.inputs.names
    reference = [net.forward_exact(dict(zip(names, map(int, p), strict=True))) for p in pts]
    for p in pts:
        worst, pres = _trace(net, [int(v) for v in p])
        assert worst <= plan.max_partial_sum
        for (lo, hi), pre in zip(plan.layer_bounds, pres, strict=True):
            assert lo <= min(pre) and max(pre) <= hi
    allowed = ARITHMETICS[ARITHMETICS.index(plan.arithmetic):]
    for arith in allowed:
        got = net.forward(pts.astype(object) if arith == "python" else pts, arith)
        assert [[int(v) for v in row] for row in got] == [
            [ref[n] for n in net.outputs.names] for ref in reference
        ], arith


@settings(max_examples=40, deadline=None)
@given(_networks())
def test_forward_z3_agrees_with_forward_exact(
    case: tuple[Network, list[tuple[int, int]], np.ndarray],
) -> None:
    import z3

    net, _, pts = case
    ctx = z3.Context()
    v = {n: z3.Int(n, ctx) for n in net.inputs}
    terms = net.forward_z3(v)
    for p in pts:
        point = dict(zip(net.inputs.names, map(int, p), strict=True))
        subst = [(v[n], z3.IntVal(point[n], ctx)) for n in net.inputs]
        ref = net.forward_exact(point)
        for o in net.outputs:
            assert z3.simplify(z3.substitute(terms[o], *subst)).as_long() == ref[o]
