"""``loopmlp check MODEL.onnx``: exported gadgets are proved, corrupted ones refuted with a
counterexample that onnxruntime reproduces, and hostile files are refused in one line (exit 2).

Corruptions are made with the onnx package on the exported file (one weight or bias changed by
+-1). Whether a corruption changes the function is decided independently, by onnxruntime over
the whole domain; the checker's verdict must match that ground truth, and most of the chosen
corruptions must change it.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from proofs.cli import main  # noqa: E402
from proofs.interop_cli import gadget, gadget_model  # noqa: E402
from verify import onnx_io  # noqa: E402


def run(*argv: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def _export(tmp_path: Path, name: str, bits: int, dtype: str = "float64") -> Path:
    path = tmp_path / f"{name}{bits}.onnx"
    code, _, err = run("export", "--onnx", str(path), "--gadget", name, "--bits", str(bits),
                       "--dtype", dtype)
    assert code == 0, err
    return path


def _corrupt(src: Path, dst: Path, init: str, flat_index: int, delta: int) -> None:
    model = onnx.load(str(src))
    for t in model.graph.initializer:
        if t.name == init:
            arr = numpy_helper.to_array(t).copy()
            arr.reshape(-1)[flat_index] += delta
            t.CopyFrom(numpy_helper.from_array(arr, init))
    onnx.save(model, str(dst))


def _wrong_somewhere(path: Path, name: str, bits: int) -> bool:
    """Ground truth by onnxruntime over the whole domain: does any output differ from spec?"""
    ob = gadget(name, bits).obligation()
    rows = np.concatenate(list(ob.domain.chunks(1 << 16)))
    x = rows[:, [ob.domain.names.index(n) for n in ob.network.inputs]]
    got = onnx_io.run_onnxruntime(str(path), x).astype(np.int64)
    spec = ob.spec({n: rows[:, i] for i, n in enumerate(ob.domain.names)})
    outs = ob.network.outputs.names
    return any((got[:, outs.index(o)] != np.asarray(spec[o])).any() for o in ob.checked_outputs)


@pytest.mark.parametrize("method", ["exhaustive", "smt", "smt-bv"])
def test_exported_gadget_is_proved(tmp_path: Path, method: str) -> None:
    path = _export(tmp_path, "subtract", 3)
    code, out, err = run("check", str(path), "--spec", "subtract", "--bits", "3",
                         "--method", method)
    assert code == 0, out + err
    assert out.startswith(f"{path.name}:gadget/subtract[bits=3]: PROVED")


@pytest.mark.parametrize("name,bits", [("subtract", 3), ("branch", 2), ("compare", 3)])
def test_corrupted_exports_are_refuted_and_reproduced_by_onnxruntime(
        tmp_path: Path, name: str, bits: int) -> None:
    src = _export(tmp_path, name, bits)
    model = onnx.load(str(src))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    places = []
    for init, arr in inits.items():
        flat = arr.reshape(-1)
        nz = np.flatnonzero(flat)
        ends = (int(nz[0]), int(nz[-1])) if init.startswith("W") and nz.size else (0, flat.size - 1)
        picks = sorted(set(ends))
        places += [(init, i, d) for i in picks for d in (1, -1)]
    refuted = 0
    for k, (init, idx, delta) in enumerate(places):
        bad = tmp_path / f"bad{k}.onnx"
        _corrupt(src, bad, init, idx, delta)
        truth = _wrong_somewhere(bad, name, bits)
        code, out, err = run("check", str(bad), "--spec", name, "--bits", str(bits), "--json")
        assert err == "" and code == (1 if truth else 0), (init, idx, delta, out, err)
        if not truth:
            continue
        refuted += 1
        doc = json.loads(out)
        res = doc["results"][0]
        assert res["verdict"] == "refuted" and res["counterexample"] is not None
        x = np.array([doc["model"]["counterexample_input"]])
        y = onnx_io.run_onnxruntime(str(bad), x)[0]
        outs = gadget(name, bits).network.outputs.names
        for o, value in res["counterexample"]["network"].items():
            assert int(y[outs.index(o)]) == value != res["counterexample"]["spec"][o]
    assert refuted >= len(places) // 2, f"only {refuted} of {len(places)} corruptions changed it"


def test_refuted_text_line_and_pasteable_input(tmp_path: Path) -> None:
    src = _export(tmp_path, "increment", 3)
    bad = tmp_path / "bad.onnx"
    _corrupt(src, bad, "b0", 0, 1)
    code, out, _ = run("check", str(bad), "--spec", "gadget/increment[bits=3]")
    assert code == 1
    first, second = out.splitlines()
    assert first.startswith("bad.onnx:gadget/increment[bits=3]: REFUTED exhaustive")
    assert "network=" in first and "spec=" in first
    assert second.startswith("  x = [")


def test_unnamed_model_matched_by_position(tmp_path: Path) -> None:
    src = _export(tmp_path, "subtract", 2)
    model = onnx.load(str(src))
    del model.metadata_props[:]
    path = tmp_path / "plain.onnx"
    onnx.save(model, str(path))
    assert run("check", str(path), "--spec", "subtract", "--bits", "2")[0] == 0
    code, _, err = run("check", str(path), "--spec", "subtract", "--bits", "3")
    assert code == 2 and "has 4 inputs" in err and err.count("\n") == 1


def _model(nodes: list[Any], inits: list[Any], n_in: int = 2, n_out: int = 2,
           elem: int = TensorProto.FLOAT, shape: list[int] | None = None) -> Any:
    x = helper.make_tensor_value_info("x", elem, shape or [1, n_in])
    g = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info("y", elem, [1, n_out])],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 8
    return m


def _w(name: str, arr: Any) -> Any:
    return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)


HOSTILE = {
    "text": None,
    "truncated": None,
    "sigmoid": _model([helper.make_node("MatMul", ["x", "W"], ["h"]),
                       helper.make_node("Sigmoid", ["h"], ["y"])], [_w("W", np.eye(2))]),
    "conv": _model([helper.make_node("Conv", ["x", "W"], ["y"])], [_w("W", np.ones((2, 2, 1)))]),
    "fraction": _model([helper.make_node("MatMul", ["x", "W"], ["y"])],
                       [_w("W", [[1.0, 0.5], [0.0, 1.0]])]),
    "nan": _model([helper.make_node("MatMul", ["x", "W"], ["y"])],
                  [_w("W", [[1.0, np.nan], [0.0, 1.0]])]),
    "shape3d": _model([helper.make_node("Relu", ["x"], ["y"])], [], shape=[1, 2, 2]),
    "weight_shape": _model([helper.make_node("MatMul", ["x", "W"], ["y"])],
                           [_w("W", np.ones((3, 2)))]),
    "dangling": _model([helper.make_node("Add", ["x", "z"], ["y"])], []),
    "two_inputs": None,
    "skip": _model([helper.make_node("Relu", ["x"], ["h"]),
                    helper.make_node("Add", ["h", "x"], ["y"])], []),
    "skip_relu": _model([helper.make_node("Relu", ["x"], ["h"]),
                         helper.make_node("Relu", ["h"], ["h2"]),
                         helper.make_node("Relu", ["h"], ["y"])], []),
    "huge": _model([helper.make_node("MatMul", ["x", "W"], ["y"])],
                   [TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[2, 1 << 24])]),
}
REASONS = {"text": "not an ONNX model", "truncated": "not an ONNX model",
           "sigmoid": "unsupported operator Sigmoid", "conv": "unsupported operator Conv",
           "fraction": "initializer 'W' index [0, 1] has value 0.5", "nan": "index [0, 1]",
           "shape3d": "has shape [1, 2, 2]", "weight_shape": "has shape [3, 2]",
           "dangling": "'z', which no earlier node computes",
           "two_inputs": "exactly one input", "skip": "skip connections are not supported",
           "skip_relu": "skip connections are not supported",
           "huge": "initializers hold 33554432 numbers"}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_models_exit_2_in_one_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.onnx"
    good = gadget_model(gadget("compare", 2), "float32")
    if kind == "text":
        path.write_text("this is not a model\n")
    elif kind == "truncated":
        path.write_bytes(good.SerializeToString()[:100])
    elif kind == "two_inputs":
        m = _model([helper.make_node("Add", ["x", "x2"], ["y"])], [])
        m.graph.input.append(helper.make_tensor_value_info("x2", TensorProto.FLOAT, [1, 2]))
        onnx.save(m, str(path))
    else:
        onnx.save(HOSTILE[kind], str(path))
    code, out, err = run("check", str(path), "--spec", "compare", "--bits", "2")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"loopmlp: error: {path}: "), err
    assert REASONS[kind] in err, err


def test_spec_mismatch_and_missing_file(tmp_path: Path) -> None:
    path = _export(tmp_path, "subtract", 3)
    code, _, err = run("check", str(path), "--spec", "add", "--bits", "4")
    assert code == 2 and "do not match gadget/add[bits=4]" in err
    code, _, err = run("check", str(path), "--spec", "compare", "--bits", "3")
    assert code == 2 and "input coordinates do not match" in err
    code, _, err = run("check", str(tmp_path / "none.onnx"), "--spec", "add", "--bits", "2")
    assert code == 2 and "no such file" in err
    code, _, err = run("check", str(path), "--spec", "sigmoid", "--bits", "2")
    assert code == 2 and "gadget='sigmoid'" in err
    code, _, err = run("check", str(path), "--spec", "subtract")
    assert code == 2 and "--bits" in err


def test_gemm_sub_identity_and_reshape_are_read_exactly(tmp_path: Path) -> None:
    """A hand-written compare[bits=2] (F = [signed(R) <= 0]) in other operators: Gemm with
    transB, Sub, Identity, Reshape, and an int64 weight."""
    # F = R1 + ReLU(1 - R0 - R1): R1 is the sign bit; R = 0 gives 1.
    w1 = np.array([[0.0, 1.0], [-1.0, -1.0]])  # Gemm with transB: rows are units
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["xr"]),
        helper.make_node("Gemm", ["xr", "W1", "c1"], ["p"], transB=1),
        helper.make_node("Sub", ["p", "s1"], ["q"]),
        helper.make_node("Relu", ["q"], ["h"]),
        helper.make_node("Identity", ["h"], ["hi"]),
        helper.make_node("MatMul", ["hi", "W2"], ["y"]),
    ]
    inits = [numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "shape"),
             _w("W1", w1), _w("c1", [0.0, 2.0]), _w("s1", [0.0, 1.0]),
             numpy_helper.from_array(np.array([[1], [1]], dtype=np.int64).astype(np.float32),
                                     "W2")]
    path = tmp_path / "hand.onnx"
    onnx.save(_model(nodes, inits, 2, 1), str(path))
    code, out, err = run("check", str(path), "--spec", "compare", "--bits", "2")
    assert code == 0, out + err


def test_auto_beyond_enumeration_uses_the_solvers(tmp_path: Path) -> None:
    """branch at 16 bits has 2^33 inputs: auto goes to z3 (bit-vectors first), proves the
    export, and refutes a corrupted copy with a replayed counterexample."""
    src = _export(tmp_path, "branch", 16)
    code, out, err = run("check", str(src), "--spec", "branch", "--bits", "16", "--timeout", "30")
    assert code == 0 and ": PROVED smt 8589934592/8589934592" in out, out + err
    bad = tmp_path / "bad.onnx"
    _corrupt(src, bad, "b1", 5, -1)
    code, out, err = run("check", str(bad), "--spec", "branch", "--bits", "16", "--timeout", "30",
                         "--json")
    assert code == 1, out + err
    doc = json.loads(out)
    cex = doc["results"][0]["counterexample"]
    y = onnx_io.run_onnxruntime(str(bad), np.array([doc["model"]["counterexample_input"]]))[0]
    outs = gadget("branch", 16).network.outputs.names
    assert all(int(y[outs.index(o)]) == v != cex["spec"][o] for o, v in cex["network"].items())


def test_auto_searches_before_solving_on_wide_gadgets(tmp_path: Path) -> None:
    """subtract at 16 bits (2^32 inputs, beyond enumeration, slow for the solvers): a top-bit
    weight moved by one is found by the short random search that auto runs first, and the
    counterexample is replayed and reproduced by onnxruntime."""
    src = _export(tmp_path, "subtract", 16)
    bad = tmp_path / "bad.onnx"
    model = onnx.load(str(src))
    last = numpy_helper.to_array(model.graph.initializer[0])
    rows, cols = np.nonzero(last)
    _corrupt(src, bad, model.graph.initializer[0].name,
             int(np.ravel_multi_index((rows[-1], cols[-1]), last.shape)), 1)
    code, out, err = run("check", str(bad), "--spec", "subtract", "--bits", "16", "--json")
    assert code == 1, out + err
    r = json.loads(out)["results"][0]
    assert r["method"] == "sampled" and r["verdict"] == "refuted"
    y = onnx_io.run_onnxruntime(str(bad), np.array([json.loads(out)["model"][
        "counterexample_input"]]))[0]
    outs = gadget("subtract", 16).network.outputs.names
    cex = r["counterexample"]
    assert all(int(y[outs.index(o)]) == v != cex["spec"][o] for o, v in cex["network"].items())
