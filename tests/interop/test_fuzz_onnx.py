"""Differential fuzzing of ``loopmlp check``: random small ONNX graphs against onnxruntime.

Each graph is a small gadget's network (or random weights) written in a random way: MatMul,
Gemm (transposed, alpha and beta of -1, a computed C), Add and Sub in either order, shape
operators (Identity, Reshape, Flatten, Squeeze, Unsqueeze, some of which change the shape),
weights as initializers, Constant nodes or overridable graph inputs, every supported element
type, fixed, free or absent batch dimension. Adversarial patterns are mixed in: large weights
that cancel ((h W + h B) - h B), large offsets that cancel or wrap around, names defined twice,
unsupported operators, non-integer weights, one weight off by one.

Every graph is checked by ``loopmlp check --json`` against the gadget's spec on every input,
and onnxruntime runs the file on every input as well. The properties:

- no PROVED where onnxruntime differs from the spec anywhere (or cannot run the file);
- every REFUTED is reproduced by onnxruntime: at the reported input it computes the reported
  network values, and they differ from the spec;
- every refusal is one line on stderr, exit code 2, naming the model file (never an internal
  error).

The tally (graphs tried and verdicts) is printed at the end of the module with ``-s``;
``LOOPMLP_ONNX_FUZZ_SCALE=K`` tries K times as many graphs per family.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from support.cli import run as _run  # noqa: E402

from constructions.gadgets.families import make as gadget  # noqa: E402
from verify.errors import LoopmlpError  # noqa: E402
from verify.interchange import onnx_io  # noqa: E402

SPECS = [("subtract", 2), ("increment", 3), ("branch", 2), ("compare", 3)]
ELEM = {"float16": (TensorProto.FLOAT16, np.float16), "float32": (TensorProto.FLOAT, np.float32),
        "float64": (TensorProto.DOUBLE, np.float64), "int32": (TensorProto.INT32, np.int32),
        "int64": (TensorProto.INT64, np.int64)}
MAX_EXP = {"float16": 15, "float32": 40, "float64": 70, "int32": 30, "int64": 62}
EXACT_EXP = {"float16": 11, "float32": 24, "float64": 53, "int32": 31, "int64": 63}
TALLY: Counter[str] = Counter()
REASONS: Counter[str] = Counter()


def _reason(err: str) -> str:
    """A refusal's reason without the names of tensors and nodes, for the tally."""
    text = err.split(": ", 3)[-1]
    text = re.sub(r"#\d+ -> '[^']*'", "#k", text)
    text = re.sub(r"'[^']*'", "'.'", text)
    return text.split(" (supported")[0].split(": [ONNX")[0].split(" | ")[0].strip()[:80]


@pytest.fixture(scope="module", autouse=True)
def _tally() -> Iterator[None]:
    yield
    if TALLY:
        print(f"\nONNX fuzz: {TALLY['graphs']} graphs; " + ", ".join(
            f"{k} {v}" for k, v in sorted(TALLY.items()) if k != "graphs"))
        print("refusals: " + "; ".join(f"{k}: {v}" for k, v in REASONS.most_common()))


# --------------------------------------------------------------------------- building graphs
class Builder:
    """Nodes and initializers of one graph in one element type."""

    def __init__(self, dtype: str, draw: Any, weights_as: str) -> None:
        self.dtype, self.draw, self.weights_as = dtype, draw, weights_as
        self.elem, self.np = ELEM[dtype]
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.overridable: list[Any] = []
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def const(self, arr: Any, stem: str = "w", np_type: Any = None) -> str:
        a = np.asarray(arr)
        t = np_type or self.np
        with np.errstate(over="ignore", invalid="ignore"):
            a = a.astype(np.float64).astype(t) if a.dtype.kind == "f" else a.astype(t)
        name = self.name(stem)
        how = self.weights_as if np_type is None else "init"
        tensor = numpy_helper.from_array(a, name)
        if how == "node":
            self.nodes.append(helper.make_node("Constant", [], [name], value=tensor))
        else:
            self.inits.append(tensor)
            if how == "input":
                self.overridable.append(helper.make_tensor_value_info(
                    name, tensor.data_type, list(a.shape)))
        return name

    def op(self, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def int_array(self, shape: tuple[int, ...], exp: int) -> np.ndarray:
        """Integers of magnitude up to 2^exp, of the given shape."""
        flat = [self.draw(st.integers(-(1 << exp), 1 << exp)) for _ in range(int(np.prod(shape)))]
        return np.array(flat, dtype=object).reshape(shape)


def _shape_op(b: Builder, h: str, rank: int, n: int, breaking: bool) -> tuple[str, int]:
    """A shape operator on a row [1, n] (rank 2) or a vector [n] (rank 1); with ``breaking``,
    also one that changes the shape."""
    i64 = np.int64
    if rank == 2:
        kinds = ["Identity", "Reshape1n", "Reshape-1", "Flatten1", "Flatten0", "Squeeze",
                 "UnsqueezeSqueeze"]
        if breaking:
            kinds += ["Flatten2", "Reshapen1", "Unsqueeze"]
    else:
        kinds = ["Identity", "Unsqueeze0", "Reshape1n"]
        if breaking:
            kinds += ["Reshapen1"]
    kind = b.draw(st.sampled_from(kinds))
    if kind == "Identity":
        return b.op("Identity", [h]), rank
    if kind == "Reshape1n":
        return b.op("Reshape", [h, b.const([1, n], "s", i64)]), 2
    if kind == "Reshape-1":
        return b.op("Reshape", [h, b.const([-1], "s", i64)]), 1
    if kind == "Reshapen1":
        return b.op("Reshape", [h, b.const([n, 1], "s", i64)]), 2
    if kind.startswith("Flatten"):
        return b.op("Flatten", [h], axis=int(kind[-1])), 2
    if kind == "Squeeze":
        return b.op("Squeeze", [h, b.const([0], "a", i64)]), 1
    if kind == "Unsqueeze0":
        return b.op("Unsqueeze", [h, b.const([0], "a", i64)]), 2
    if kind == "Unsqueeze":
        return b.op("Unsqueeze", [h, b.const([0], "a", i64)]), 3
    u = b.op("Unsqueeze", [h, b.const([0], "a", i64)])
    return b.op("Squeeze", [u, b.const([0], "a", i64)]), rank


def _affine(b: Builder, h: str, rank: int, w: np.ndarray, bias: np.ndarray, big: int,
            adversarial: bool) -> str:
    """``h @ w + bias`` (w is [in, out]) written one of several equivalent ways; ``big`` is the
    exponent of the adversarial magnitudes."""
    kinds = ["split", "cancel", "offset"]
    if not adversarial:
        kinds += ["matmul_add", "add_first", "matmul_sub"]
        if rank == 2 and b.dtype.startswith("float"):
            kinds += ["gemm", "gemm_neg", "gemm_c"]
        if rank == 1:
            kinds += ["const_left"]
        if rank == 2 and b.dtype.startswith("float"):
            kinds += ["column_gemm"]
    kind = b.draw(st.sampled_from(kinds))
    if kind == "const_left":  # W^T h on a vector h
        return b.op("Add", [b.op("MatMul", [b.const(w.T), h]), b.const(bias)])
    if kind == "column_gemm":  # (W^T h^T + b^T)^T on the row as a column
        col = b.op("Reshape", [h, b.const([w.shape[0], 1], "s", np.int64)])
        trans = b.draw(st.booleans())
        g = b.op("Gemm", [b.const(w if trans else w.T), col,
                          b.const(bias.reshape(-1, 1))], transA=int(trans))
        return b.op("Reshape", [g, b.const([1, w.shape[1]], "s", np.int64)])
    if kind == "matmul_add":
        return b.op("Add", [b.op("MatMul", [h, b.const(w)]), b.const(bias)])
    if kind == "add_first":
        return b.op("Add", [b.const(bias), b.op("MatMul", [h, b.const(w)])])
    if kind == "matmul_sub":
        return b.op("Sub", [b.op("MatMul", [h, b.const(w)]), b.const(-bias)])
    if kind == "gemm":
        trans = b.draw(st.booleans())
        return b.op("Gemm", [h, b.const(w.T if trans else w), b.const(bias)], transB=int(trans))
    if kind == "gemm_neg":
        return b.op("Gemm", [h, b.const(-w), b.const(-bias)], alpha=-1.0, beta=-1.0)
    if kind == "gemm_c":
        z = b.int_array(w.shape, min(big, 4))
        c = b.op("Add", [b.op("MatMul", [h, b.const(z)]), b.const(bias)])
        return b.op("Gemm", [h, b.const(w - z), c])
    if kind == "split":
        d = b.int_array(w.shape, big)
        s = b.op("Add", [b.op("MatMul", [h, b.const(w - d)]), b.op("MatMul", [h, b.const(d)])])
        return b.op("Add", [s, b.const(bias)])
    if kind == "cancel":
        d = b.const(np.full(w.shape, 1 << big, dtype=object))
        s = b.op("Add", [b.op("MatMul", [h, b.const(w)]), b.op("MatMul", [h, d])])
        return b.op("Add", [b.op("Sub", [s, b.op("MatMul", [h, d])]), b.const(bias)])
    k = b.const(np.full(w.shape[1], (1 << big) - 1, dtype=object))
    s = b.op("Add", [b.op("MatMul", [h, b.const(w)]), k])
    return b.op("Add", [b.op("Sub", [s, k]), b.const(bias)])


@st.composite
def graphs(draw: Any, family: str) -> tuple[bytes, str, int]:
    """A model (serialised), the gadget it is checked against and its width."""
    name, bits = draw(st.sampled_from(SPECS))
    dtype = draw(st.sampled_from(list(ELEM)))
    weights_as = draw(st.sampled_from(["init", "init", "node", "input"]))
    b = Builder(dtype, draw, weights_as)
    net = gadget(name, bits).network
    layers = [(np.array(layer_dense(layer), dtype=object).T, np.array(layer.bias, dtype=object),
               layer.relu) for layer in net.layers]
    if family == "random":
        layers = [(b.int_array(w.shape, 2), b.int_array(c.shape, 2), r) for w, c, r in layers]
    if family == "corrupt":
        k = draw(st.integers(0, len(layers) - 1))
        w, c, r = layers[k]
        w, c = w.copy(), c.copy()
        if draw(st.booleans()):
            i, j = draw(st.integers(0, w.shape[0] - 1)), draw(st.integers(0, w.shape[1] - 1))
            w[i, j] += draw(st.sampled_from([-1, 1]))
        else:
            c[draw(st.integers(0, len(c) - 1))] += draw(st.sampled_from([-1, 1]))
        layers[k] = (w, c, r)
    adversarial = family == "adversarial"
    big = draw(st.integers(EXACT_EXP[dtype] - 4, MAX_EXP[dtype])) if adversarial else \
        draw(st.integers(0, 6))
    input_shape = draw(st.sampled_from([[1, "n"], ["batch", "n"], ["n"]]))
    n_in = len(net.inputs)
    shape = [n_in if d == "n" else d for d in input_shape]
    h, rank = "x", len(shape)
    for w, c, relu in layers:
        if family in ("shapes", "faithful") and draw(st.booleans()):
            h, rank = _shape_op(b, h, rank, w.shape[0], family == "shapes")
        h = _affine(b, h, rank, w, c, big, adversarial and draw(st.booleans()))
        if relu:
            h = b.op("Relu", [h])
    if family == "shapes" and draw(st.booleans()):
        h, rank = _shape_op(b, h, rank, layers[-1][0].shape[1], True)
    h = b.op("Identity", [h])
    b.nodes[-1].output[0] = "y"
    if family == "unsupported":
        _unsupported(b, draw)
    if family == "names":
        _name_fault(b, draw)
    graph = helper.make_graph(b.nodes, "fuzz", [helper.make_tensor_value_info(
        "x", b.elem, shape)] + b.overridable, [helper.make_tensor_value_info(
            "y", b.elem, None)], b.inits)
    opset = draw(st.sampled_from([14, 14, 17]))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    declared = model.graph.output[0].type.tensor_type
    try:  # declare the output shape ONNX infers, so that most graphs are valid
        inferred = onnx.shape_inference.infer_shapes(model)
        declared.shape.CopyFrom(inferred.graph.output[0].type.tensor_type.shape)
    except Exception:  # noqa: BLE001 - an invalid graph stays as it is: it must be refused
        pass
    if not declared.HasField("shape"):
        declared.shape.CopyFrom(helper.make_tensor_type_proto(b.elem, [1, len(net.outputs)]
                                                              ).tensor_type.shape)
    return model.SerializeToString(), name, bits


def layer_dense(layer: Any) -> list[list[int]]:
    w = [[0] * len(layer.inputs) for _ in range(len(layer.outputs))]
    for r, c, v in zip(layer.rows, layer.cols, layer.vals):
        w[r][c] = v
    return w


def _unsupported(b: Builder, draw: Any) -> None:
    k = draw(st.integers(0, len(b.nodes) - 2))  # not the final Identity
    node = b.nodes[k]
    choice = draw(st.sampled_from(["Sigmoid", "LeakyRelu", "Neg", "Abs", "fraction", "Mul"]))
    if choice == "fraction" and b.dtype.startswith("float"):
        b.inits.append(numpy_helper.from_array(np.array([0.5], dtype=b.np), "half"))
        b.nodes.insert(k + 1, helper.make_node("Add", [node.output[0], "half"], ["fx"]))
        _rename_uses(b, node.output[0], "fx", k + 2)
    elif choice == "Mul":
        b.inits.append(numpy_helper.from_array(np.array([1], dtype=b.np), "one"))
        b.nodes.insert(k + 1, helper.make_node("Mul", [node.output[0], "one"], ["fx"]))
        _rename_uses(b, node.output[0], "fx", k + 2)
    elif node.op_type == "Relu" or choice in ("Neg", "Abs", "fraction"):
        b.nodes.insert(k + 1, helper.make_node(choice if choice != "fraction" else "Neg",
                                               [node.output[0]], ["fx"]))
        _rename_uses(b, node.output[0], "fx", k + 2)
    else:
        b.nodes.insert(k + 1, helper.make_node(choice, [node.output[0]], ["fx"]))
        _rename_uses(b, node.output[0], "fx", k + 2)


def _rename_uses(b: Builder, old: str, new: str, start: int) -> None:
    for node in b.nodes[start:]:
        for i, n in enumerate(node.input):
            if n == old:
                node.input[i] = new


def _name_fault(b: Builder, draw: Any) -> None:
    kind = draw(st.sampled_from(["dup_init", "shadow", "dup_output", "output_is_input"]))
    if kind == "dup_init" and b.inits:
        t = b.inits[draw(st.integers(0, len(b.inits) - 1))]
        arr = numpy_helper.to_array(t)
        b.inits.append(numpy_helper.from_array((arr * 2).astype(arr.dtype), t.name))
    elif kind == "shadow" and b.inits:
        t = b.inits[draw(st.integers(0, len(b.inits) - 1))]
        arr = numpy_helper.to_array(t)
        b.nodes.insert(0, helper.make_node("Constant", [], [t.name], value=numpy_helper.from_array(
            (arr * 2).astype(arr.dtype), "v")))
    elif kind == "output_is_input":
        b.nodes.insert(0, helper.make_node("Identity", ["x"], ["x"]))
    else:
        k = draw(st.integers(1, len(b.nodes) - 1))
        j = draw(st.integers(0, k - 1))
        b.nodes[k].output[0] = b.nodes[j].output[0]


# --------------------------------------------------------------------------- the property


def _truth(path: Path, name: str, bits: int) -> tuple[np.ndarray | None, np.ndarray, Any]:
    """onnxruntime's outputs on every input (None when it cannot run the file), the inputs in
    network order, and the spec's outputs."""
    ob = gadget(name, bits).obligation()
    rows = np.concatenate(list(ob.domain.chunks(1 << 16)))
    x = rows[:, [ob.domain.names.index(n) for n in ob.network.inputs]]
    spec = ob.spec({n: rows[:, i] for i, n in enumerate(ob.domain.names)})
    try:
        got = onnx_io.Reference(str(path), str(path)).run(x)
    except LoopmlpError:
        return None, x, spec
    return got, x, spec


def _check_one(path: Path, data: bytes, name: str, bits: int) -> None:
    path.write_bytes(data)
    TALLY["graphs"] += 1
    code, out, err = _run("check", str(path), "--spec", name, "--bits", str(bits), "--json",
                          "--timeout", "10")
    ob = gadget(name, bits).obligation()
    outs = ob.network.outputs.names
    if code == 2:
        TALLY["refused"] += 1
        REASONS[_reason(err)] += 1
        assert out == "" and err.count("\n") == 1, err
        assert err.startswith(f"loopmlp: error: {path}: "), err
        return
    assert err == "", err
    doc = json.loads(out)
    verdict = doc["results"][0]["verdict"]
    TALLY[verdict] += 1
    TALLY[f"{path.parent.name[:-1]} {verdict}"] += 1
    got, x, spec = _truth(path, name, bits)
    if code == 0:
        assert verdict == "proved"
        assert got is not None, "PROVED but onnxruntime cannot run the file"
        for o in ob.checked_outputs:
            col = got[:, outs.index(o)].astype(np.float64)
            assert (col == np.asarray(spec[o]).astype(np.float64)).all(), (o, out)
    elif code == 1:
        assert verdict == "refuted"
        cex = doc["results"][0]["counterexample"]
        y = onnx_io.Reference(str(path), str(path)).run(
            np.array([doc["model"]["counterexample_input"]]))[0]
        for o, value in cex["network"].items():
            mine = float(y[outs.index(o)])
            shown = float(value)  # an integer, or "inf", "nan", "0.5" written as text
            assert (np.isnan(mine) and np.isnan(shown)) or mine == shown, (o, value, mine)
            assert mine != float(cex["spec"][o])
    else:
        assert code == 3 and verdict == "unknown", out
    if got is not None:
        wrong = any((got[:, outs.index(o)].astype(np.float64)
                     != np.asarray(spec[o]).astype(np.float64)).any() for o in ob.checked_outputs)
        TALLY["onnxruntime wrong somewhere" if wrong else "onnxruntime right everywhere"] += 1


SCALE = int(os.environ.get("LOOPMLP_ONNX_FUZZ_SCALE", "1"))
FAMILIES = {"faithful": 40, "adversarial": 40, "corrupt": 40, "shapes": 45, "names": 40,
            "unsupported": 40, "random": 30}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_check_agrees_with_onnxruntime(family: str, tmp_path_factory: pytest.TempPathFactory
                                       ) -> None:
    folder = tmp_path_factory.mktemp(family)

    @settings(max_examples=FAMILIES[family] * SCALE, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(graphs(family))
    def prop(g: tuple[bytes, str, int]) -> None:
        data, name, bits = g
        _check_one(folder / "model.onnx", data, name, bits)

    prop()
