"""``loopmlp check MODEL.onnx``: exported gadgets are proved, corrupted ones refuted with a
counterexample that onnxruntime reproduces, and hostile files are refused in one line (exit 2).

Corruptions are made with the onnx package on the exported file (one weight or bias changed by
+-1). Whether a corruption changes the function is decided independently, by onnxruntime over
the whole domain; the checker's verdict must match that ground truth, and most of the chosen
corruptions must change it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from support.cli import run  # noqa: E402

from constructions.gadgets.families import make as gadget  # noqa: E402
from loopmlp.cli.export import gadget_model  # noqa: E402
from verify.errors import LoopmlpError  # noqa: E402
from verify.interchange import onnx_io  # noqa: E402


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
                         helper.make_node("Relu", ["h"], ["h3"]),
                         helper.make_node("Add", ["h2", "h3"], ["y"])], []),
    "huge": _model([helper.make_node("MatMul", ["x", "W"], ["y"])],
                   [TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[2, 1 << 24])]),
}
REASONS = {"text": "not an ONNX model", "truncated": "not an ONNX model",
           "sigmoid": "unsupported operator Sigmoid", "conv": "unsupported operator Conv",
           "fraction": "initializer 'W' index [0, 1] has value 0.5", "nan": "index [0, 1]",
           "shape3d": "has shape [1, 2, 2]",
           "weight_shape": "not a valid ONNX model: Inference error(s): (op_type:MatMul): "
           "Incompatible dimensions",
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
    assert code == 2 and "has 6 inputs; gadget/add[bits=4] needs 8" in err
    code, _, err = run("check", str(path), "--spec", "increment", "--bits", "6")
    assert code == 2 and "input coordinates do not match gadget/increment[bits=6]" in err
    code, _, err = run("check", str(path), "--spec", "compare", "--bits", "3")
    assert code == 2 and "has 6 inputs; gadget/compare[bits=3] needs 3" in err
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
    code, out, err = run("check", str(src), "--spec", "branch", "--bits", "16", "--timeout", "5")
    # bit-vectors first: the query ran over bit-vectors, and the method says so.
    assert code == 0 and ": PROVED smt-bv 8589934592/8589934592" in out, out + err
    bad = tmp_path / "bad.onnx"
    _corrupt(src, bad, "b1", 5, -1)
    code, out, err = run("check", str(bad), "--spec", "branch", "--bits", "16", "--timeout", "5",
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
    code, out, err = run("check", str(bad), "--spec", "subtract", "--bits", "16", "--json",
                         "--timeout", "10")
    assert code == 1, out + err
    r = json.loads(out)["results"][0]
    assert r["method"] == "sampled" and r["verdict"] == "refuted"
    y = onnx_io.run_onnxruntime(str(bad), np.array([json.loads(out)["model"][
        "counterexample_input"]]))[0]
    outs = gadget("subtract", 16).network.outputs.names
    cex = r["counterexample"]
    assert all(int(y[outs.index(o)]) == v != cex["spec"][o] for o, v in cex["network"].items())


# --------------------------------------------------------------------------- soundness
# One model per way a verdict could be about something other than what the file computes; each
# is first run through onnxruntime on every input of subtract[bits=4], so the test states the
# ground truth it holds the checker to.
def _inits(model: Any) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _subtract4(dtype: str) -> Any:
    return gadget_model(gadget("subtract", 4), dtype)


def _cancelling(dtype: str, big: float) -> Any:
    """``((x W0 + x B) - x B) + b0``: the exported subtract[bits=4] whose first MatMul is
    written with a large matrix B that cancels in exact arithmetic."""
    m = _subtract4(dtype)
    g = m.graph
    w0 = _inits(m)["W0"]
    g.initializer.append(numpy_helper.from_array(np.full(w0.shape, big, dtype=w0.dtype), "B"))
    rest = list(g.node)[1:]  # MatMul(x, W0) -> h0_mm is the first node
    new = [helper.make_node("MatMul", ["x", "W0"], ["s0"]),
           helper.make_node("MatMul", ["x", "B"], ["s1"]),
           helper.make_node("Add", ["s0", "s1"], ["s2"]),
           helper.make_node("MatMul", ["x", "B"], ["s3"]),
           helper.make_node("Sub", ["s2", "s3"], ["h0_mm"])]
    del g.node[:]
    g.node.extend(new + rest)
    return m


def _wrapping() -> Any:
    """int32 subtract[bits=4] with three more hidden units: e = ReLU(x0 + x1 + 2^31 - 2) and
    copies of x0 and x1, read by output 0 as e - x0 - x1 - (2^31 - 2), which is 0 in exact
    arithmetic; at x0 = x1 = 1, e's pre-activation is 2^31 and wraps to -2^31."""
    m = _subtract4("int32")
    w = _inits(m)
    n_in, n_out = w["W0"].shape[0], w["W1"].shape[1]
    extra = np.zeros((n_in, 3), np.int32)
    extra[0, 0] = extra[1, 0] = extra[0, 1] = extra[1, 2] = 1
    rows = np.zeros((3, n_out), np.int32)
    rows[:, 0] = [1, -1, -1]
    b1 = w["b1"].astype(np.int64)
    b1[0] -= 2**31 - 2
    new = {"W0": np.concatenate([w["W0"], extra], axis=1),
           "b0": np.concatenate([w["b0"], np.array([2**31 - 2, 0, 0], np.int32)]),
           "W1": np.concatenate([w["W1"], rows]), "b1": b1.astype(np.int32)}
    for t in m.graph.initializer:
        t.CopyFrom(numpy_helper.from_array(new[t.name], t.name))
    return m


def _wrong_count(path: Path, name: str = "subtract", bits: int = 4) -> int:
    """Inputs of the domain on which onnxruntime, running the file, misses the spec."""
    ob = gadget(name, bits).obligation()
    rows = np.concatenate(list(ob.domain.chunks(1 << 16)))
    x = rows[:, [ob.domain.names.index(n) for n in ob.network.inputs]]
    got = onnx_io.run_onnxruntime(str(path), x)
    spec = ob.spec({n: rows[:, i] for i, n in enumerate(ob.domain.names)})
    outs = ob.network.outputs.names
    wrong = np.zeros(len(x), dtype=bool)
    for o in ob.checked_outputs:
        wrong |= got[:, outs.index(o)].astype(np.float64) != np.asarray(spec[o])
    return int(wrong.sum())


def _assert_reproduced(path: Path, doc: dict[str, Any], name: str = "subtract",
                       bits: int = 4) -> None:
    res = doc["results"][0]
    y = onnx_io.run_onnxruntime(str(path), np.array([doc["model"]["counterexample_input"]]))[0]
    outs = gadget(name, bits).network.outputs.names
    assert res["counterexample"]["network"]
    for o, value in res["counterexample"]["network"].items():
        assert int(y[outs.index(o)]) == value != res["counterexample"]["spec"][o]


@pytest.mark.parametrize("dtype,big", [("float64", 2.0**60), ("float32", 2.0**30)])
def test_cancelling_weights_are_judged_per_tensor(tmp_path: Path, dtype: str, big: float
                                                  ) -> None:
    """The folded network is exactly subtract (x B - x B = 0), but the file rounds x W0 away
    in x W0 + x B: onnxruntime is wrong on most inputs, so the verdict is REFUTED with its
    counterexample, and the exactness names the first node that reaches the limit."""
    path = tmp_path / "cancel.onnx"
    onnx.save(_cancelling(dtype, big), str(path))
    assert _wrong_count(path) >= 200
    code, out, err = run("check", str(path), "--spec", "subtract", "--bits", "4", "--json")
    assert code == 1 and err == "", out + err
    doc = json.loads(out)
    assert doc["model"]["dtype_exact"] is False
    assert doc["model"]["exactness"]["tensor"] == "s1"
    _assert_reproduced(path, doc)
    # The same encoding with a small B is exact, and proved.
    small = tmp_path / "small.onnx"
    onnx.save(_cancelling(dtype, 16.0), str(small))
    assert _wrong_count(small) == 0
    code, out, err = run("check", str(small), "--spec", "subtract", "--bits", "4", "--json")
    assert code == 0 and json.loads(out)["model"]["dtype_exact"] is True, out + err


def test_int32_wraparound_is_never_proved(tmp_path: Path) -> None:
    path = tmp_path / "wrap.onnx"
    onnx.save(_wrapping(), str(path))
    assert _wrong_count(path) > 0
    code, out, err = run("check", str(path), "--spec", "subtract", "--bits", "4", "--json")
    assert code == 1, out + err
    doc = json.loads(out)
    assert doc["model"]["dtype_exact"] is False and doc["model"]["exactness"]["op"] == "Add"
    _assert_reproduced(path, doc)


def test_int32_offset_that_wraps_and_cancels_is_unknown(tmp_path: Path) -> None:
    """``(h + K) - K`` with K = 2^31 - 1 wraps in int32 and cancels modulo 2^32: onnxruntime
    is right everywhere, the exact reading is proved, but no bound shows the file exact, so
    the verdict is UNKNOWN with the reason, not PROVED."""
    m = _subtract4("int32")
    g = m.graph
    g.initializer.append(numpy_helper.from_array(np.full(24, 2**31 - 1, np.int32), "K"))
    first, rest = list(g.node)[:1], list(g.node)[1:]
    first[0].output[0] = "p"
    del g.node[:]
    g.node.extend(first + [helper.make_node("Add", ["p", "K"], ["q"]),
                           helper.make_node("Sub", ["q", "K"], ["h0_mm"])] + rest)
    path = tmp_path / "offset.onnx"
    onnx.save(m, str(path))
    assert _wrong_count(path) == 0
    code, out, err = run("check", str(path), "--spec", "subtract", "--bits", "4")
    assert code == 3, out + err
    assert ": UNKNOWN " in out and "int32 arithmetic is not shown exact" in out
    assert "-> 'q' (Add) reaches" in out and "the exact-integer reading is PROVED" in out


NAME_FAULTS = {
    "duplicate initializer": ("initializer name 'W' is used twice",
                              lambda w: ([helper.make_node("MatMul", ["x", "W"], ["y"])],
                                         [_w("W", w), _w("W", 2 * w)])),
    "constant shadows initializer": ("its output 'W' has the name of an initializer",
                                     lambda w: ([helper.make_node("Constant", [], ["W"],
                                                                  value=_w("v", 2 * w)),
                                                 helper.make_node("MatMul", ["x", "W"], ["y"])],
                                                [_w("W", w)])),
    "output shadows input": ("its output 'x' has the name of a graph input",
                             lambda w: ([helper.make_node("Relu", ["x"], ["x"]),
                                         helper.make_node("MatMul", ["x", "W"], ["y"])],
                                        [_w("W", w)])),
    "output twice": ("its output 'h' is computed by an earlier node too",
                     lambda w: ([helper.make_node("MatMul", ["x", "W"], ["h"]),
                                 helper.make_node("Relu", ["x"], ["h"]),
                                 helper.make_node("Relu", ["h"], ["y"])], [_w("W", w)])),
}


@pytest.mark.parametrize("fault", list(NAME_FAULTS))
def test_names_defined_twice_are_refused(tmp_path: Path, fault: str) -> None:
    """onnxruntime reads these by its own rules (the last initializer wins: wrong on most
    inputs where loopmlp would have read the first); each is refused, naming the name."""
    reason, make = NAME_FAULTS[fault]
    nodes, inits = make(np.eye(2))
    path = tmp_path / "names.onnx"
    onnx.save(_model(nodes, inits), str(path))
    code, out, err = run("check", str(path), "--spec", "compare", "--bits", "2")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"loopmlp: error: {path}: ") and reason in err, err


def _with_node_after_first_matmul(model: Any, make: Any, declared: list[int] | None) -> Any:
    g = model.graph
    first, rest = list(g.node)[:1], list(g.node)[1:]
    first[0].output[0] = "pre"
    del g.node[:]
    g.node.extend(first + make("pre", "h0_mm") + rest)
    if declared is not None:
        g.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.DOUBLE, declared))
    return model


def test_flatten_that_changes_the_shape_is_modelled_not_ignored(tmp_path: Path) -> None:
    """Flatten(axis=2) turns the hidden row [1, 24] into [24, 1] and the bias Add broadcasts
    it to [24, 24]: onnxruntime's output has 24 rows. Declared as [24, 4] the model is valid
    and refused for its output shape; declared as [1, 4] it is not valid ONNX. Flatten(axis=1)
    changes nothing and is proved."""
    def flatten(axis: int) -> Any:
        return lambda a, b: [helper.make_node("Flatten", [a], [b], axis=axis)]

    wide = tmp_path / "wide.onnx"
    onnx.save(_with_node_after_first_matmul(_subtract4("float64"), flatten(2), [24, 4]),
              str(wide))
    assert onnx_io.run_onnxruntime(str(wide), np.zeros((1, 8))).shape == (1, 96)
    code, _, err = run("check", str(wide), "--spec", "subtract", "--bits", "4")
    assert code == 2 and "output 'y' has shape [24, 4]" in err, err
    narrow = tmp_path / "narrow.onnx"
    onnx.save(_with_node_after_first_matmul(_subtract4("float64"), flatten(2), None), str(narrow))
    code, _, err = run("check", str(narrow), "--spec", "subtract", "--bits", "4")
    assert code == 2 and "not a valid ONNX model" in err and err.count("\n") == 1, err
    same = tmp_path / "same.onnx"
    onnx.save(_with_node_after_first_matmul(_subtract4("float64"), flatten(1), None), str(same))
    assert run("check", str(same), "--spec", "subtract", "--bits", "4")[0] == 0


def test_shape_operators_are_followed_exactly(tmp_path: Path) -> None:
    """Squeeze to a vector [24], then Unsqueeze back: both change the shape, the loader
    follows them, and the model is proved (onnxruntime agrees on every input)."""
    i64 = np.int64

    def squeeze_unsqueeze(a: str, b: str) -> list[Any]:
        return [helper.make_node("Squeeze", [a, "ax"], ["v"]),
                helper.make_node("Unsqueeze", ["v", "ax"], [b])]

    m = _with_node_after_first_matmul(_subtract4("float64"), squeeze_unsqueeze, None)
    m.graph.initializer.append(numpy_helper.from_array(np.array([0], i64), "ax"))
    path = tmp_path / "squeeze.onnx"
    onnx.save(m, str(path))
    assert _wrong_count(path) == 0
    assert run("check", str(path), "--spec", "subtract", "--bits", "4")[0] == 0


def test_unsqueeze_that_onnxruntime_cannot_load_is_refused(tmp_path: Path) -> None:
    """At opset 14 Unsqueeze takes its axes as an input; with the old attribute the model is
    not valid ONNX (onnxruntime refuses to load it)."""
    m = _with_node_after_first_matmul(
        _subtract4("float64"), lambda a, b: [helper.make_node("Unsqueeze", [a], ["u"], axes=[0]),
                                             helper.make_node("Squeeze", ["u"], [b])], None)
    path = tmp_path / "unsqueeze.onnx"
    onnx.save(m, str(path))
    with pytest.raises(LoopmlpError, match="cannot load"):
        onnx_io.run_onnxruntime(str(path), np.zeros((1, 8)))
    code, out, err = run("check", str(path), "--spec", "subtract", "--bits", "4")
    assert code == 2 and out == "" and "not a valid ONNX model" in err and err.count("\n") == 1


def test_gemm_with_a_computed_c_is_read(tmp_path: Path) -> None:
    """``Gemm(x, W0 - Z, x Z + b0)`` is the first layer: proved, and onnxruntime agrees."""
    m = _subtract4("float64")
    g = m.graph
    w = _inits(m)
    z = np.tile(np.arange(24, dtype=np.float64) % 3 - 1, (8, 1))
    g.initializer.extend([numpy_helper.from_array(w["W0"] - z, "Wz"),
                          numpy_helper.from_array(z, "Z")])
    rest = list(g.node)[2:]  # after MatMul(x, W0) and Add(., b0) -> h0_pre
    del g.node[:]
    g.node.extend([helper.make_node("MatMul", ["x", "Z"], ["xz"]),
                   helper.make_node("Add", ["xz", "b0"], ["c"]),
                   helper.make_node("Gemm", ["x", "Wz", "c"], ["h0_pre"])] + rest)
    path = tmp_path / "gemm.onnx"
    onnx.save(m, str(path))
    assert _wrong_count(path) == 0
    code, out, err = run("check", str(path), "--spec", "subtract", "--bits", "4")
    assert code == 0, out + err


def test_add_with_one_input_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "add1.onnx"
    onnx.save(_model([helper.make_node("Add", ["x"], ["y"])], []), str(path))
    code, out, err = run("check", str(path), "--spec", "compare", "--bits", "2")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"loopmlp: error: {path}: not a valid ONNX model"), err


@pytest.mark.parametrize("n", [16000, 30000])
def test_a_declared_size_is_checked_before_allocation(tmp_path: Path, n: int) -> None:
    """A model of under 100 bytes declaring a wide input: refused at once, in little memory,
    both against a spec and when loaded on its own (the affine forms it would need are
    counted before they are built)."""
    import time
    import tracemalloc

    path = tmp_path / "wide.onnx"
    onnx.save(_model([helper.make_node("Add", ["x", "x"], ["y"])], [], n, n), str(path))
    assert path.stat().st_size < 100
    tracemalloc.start()
    t0 = time.perf_counter()
    code, _, err = run("check", str(path), "--spec", "subtract", "--bits", "4")
    with pytest.raises(LoopmlpError, match=f"needs {n} x {n} coefficients"):
        onnx_io.load(str(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert code == 2 and f"has {n} inputs; gadget/subtract[bits=4] needs 8" in err, err
    assert time.perf_counter() - t0 < 2 and peak < 50 << 20


@pytest.mark.parametrize("argv,reason", [
    (["check", "/nonexistent.onnx", "--spec", "gadget/write[words=4096,bits=64]"],
     "/nonexistent.onnx: no such file"),
    (["check", "MODEL", "--spec", "gadget/write[words=4096,bits=64]"],
     "this one would have about 1,048,576 units and 262,220 inputs"),
    (["export", "--onnx", "OUT", "--gadget", "write", "--words", "4096", "--bits", "64"],
     "it would hold about 412,377,677,824"),
    (["export", "--onnx", "OUT", "--words", "4096", "--bits", "64"],
     "the paper step would hold at least"),
])
def test_sizes_are_refused_before_anything_is_built(tmp_path: Path, argv: list[str],
                                                    reason: str) -> None:
    import time
    import tracemalloc

    model = _export(tmp_path, "compare", 2)
    argv = [str(model) if a == "MODEL" else str(tmp_path / "out.onnx") if a == "OUT" else a
            for a in argv]
    tracemalloc.start()
    t0 = time.perf_counter()
    code, out, err = run(*argv)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert code == 2 and out == "" and err.count("\n") == 1 and reason in err, err
    assert time.perf_counter() - t0 < 2 and peak < 50 << 20
    assert not (tmp_path / "out.onnx").exists()


def _as_float16(model: Any) -> Any:
    for t in model.graph.initializer:
        t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
    for vi in list(model.graph.input) + list(model.graph.output):
        vi.type.tensor_type.elem_type = TensorProto.FLOAT16
    return model


def test_float16_models_are_read_with_their_own_limit(tmp_path: Path) -> None:
    """float16 holds integers below 2^11: an exported gadget cast to float16 is proved; with
    weights that cancel at 2^12 it is not (onnxruntime computes these float16 nodes in float32
    and happens to be right: UNKNOWN, or REFUTED were it wrong, never PROVED)."""
    path = tmp_path / "half.onnx"
    onnx.save(_as_float16(_subtract4("float32")), str(path))
    code, out, err = run("check", str(path), "--spec", "subtract", "--bits", "4", "--json")
    assert code == 0, out + err
    assert json.loads(out)["model"]["exactness"]["limit"] == 2048
    big = tmp_path / "big.onnx"
    onnx.save(_as_float16(_cancelling("float32", 2.0**12)), str(big))
    code, out, err = run("check", str(big), "--spec", "subtract", "--bits", "4", "--json")
    assert code in (1, 3) and json.loads(out)["model"]["dtype_exact"] is False, out + err


# --------------------------------------------------------------------------- self-check
def test_a_loader_that_disagrees_with_onnxruntime_is_an_internal_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the loaded network were not the file (simulated: one bias changed after loading),
    the refutation it gives is run through onnxruntime, which disagrees: exit 2 naming the
    model, the input and both values, and no verdict."""
    import dataclasses

    from verify.network import Network

    path = _export(tmp_path, "subtract", 3)
    real = onnx_io.load

    def corrupted(*a: Any, **k: Any) -> onnx_io.Loaded:
        loaded = real(*a, **k)
        first = loaded.network.layers[0]
        bias = (first.bias[0] + 1,) + first.bias[1:]
        layers = (dataclasses.replace(first, bias=bias),) + loaded.network.layers[1:]
        return dataclasses.replace(loaded, network=Network(layers, loaded.network.name))

    monkeypatch.setattr(onnx_io, "load", corrupted)
    code, out, err = run("check", str(path), "--spec", "subtract", "--bits", "3")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"loopmlp: internal error: {path}: onnxruntime and the loader "
                          "disagree at input ["), err
    assert "onnxruntime=" in err and "loader=" in err


def test_a_proved_verdict_is_confirmed_by_onnxruntime(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A PROVED over 64 points is compared with onnxruntime on all 64 (reported in the JSON);
    an onnxruntime that answered differently (simulated) turns it into an internal error."""
    path = _export(tmp_path, "subtract", 3)
    code, out, _ = run("check", str(path), "--spec", "subtract", "--bits", "3", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["model"]["reference_points"] == 64
    assert doc["model"]["reference"].startswith("onnxruntime ")
    shifted = onnx_io.Reference.run

    def off_by_one(self: onnx_io.Reference, rows: np.ndarray) -> np.ndarray:
        y = shifted(self, rows)
        y[-1, 0] += 1
        return y

    monkeypatch.setattr(onnx_io.Reference, "run", off_by_one)
    monkeypatch.setattr(onnx_io.Reference, "run_many", off_by_one)
    code, out, err = run("check", str(path), "--spec", "subtract", "--bits", "3")
    assert code == 2 and "internal error" in err and "input [1, 1, 1, 1, 1, 1]" in err, err


def test_without_onnxruntime_nothing_unconfirmed_is_claimed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without onnxruntime an exact model is still proved (its meaning is the folded network),
    but a counterexample found by numpy's run of an inexact model is not confirmed: UNKNOWN,
    naming the input."""
    from verify.interchange import onnx_check

    monkeypatch.setattr(onnx_check, "onnxruntime_available", lambda: False)
    path = _export(tmp_path, "subtract", 3)
    code, out, _ = run("check", str(path), "--spec", "subtract", "--bits", "3", "--json")
    assert code == 0 and json.loads(out)["model"]["reference"] is None
    bad = tmp_path / "cancel.onnx"
    onnx.save(_cancelling("float64", 2.0**60), str(bad))
    code, out, _ = run("check", str(bad), "--spec", "subtract", "--bits", "4")
    assert code == 3 and "differs from the spec at x = [1, 0, 0, 0, 0, 0, 0, 0], but " \
        "onnxruntime is not installed to confirm it" in out, out


def test_node_by_node_semantics_agree_with_the_folded_network_and_onnxruntime(
        tmp_path: Path) -> None:
    path = tmp_path / "gemm.onnx"
    m = _cancelling("float64", 16.0)
    onnx.save(m, str(path))
    loaded = onnx_io.load(str(path))
    x = np.array([[(i >> k) & 1 for k in range(8)] for i in range(256)])
    exact = loaded.semantics.run_exact(x)
    assert (exact == loaded.network.forward(x, "python")).all()
    assert (loaded.semantics.run(x) == onnx_io.run_onnxruntime(str(path), x)).all()


def test_a_cmpbranch_obligation_name_sets_its_pc_width(tmp_path: Path) -> None:
    # The name export prints (gadget/cmpbranch[bits=4,pc=2]) is accepted back as the spec.
    path = tmp_path / "cb.onnx"
    code, out, err = run("export", "--onnx", str(path), "--gadget", "cmpbranch", "--bits", "3",
                         "--words", "2")
    assert code == 0, err
    assert "gadget/cmpbranch[bits=3,pc=2]" in out
    code, out, _ = run("check", str(path), "--spec", "gadget/cmpbranch[bits=3,pc=2]")
    assert code == 0 and "PROVED" in out
    code, _, err = run("check", str(path), "--spec", "gadget/cmpbranch[bits=3,pc=3]")
    assert code == 2 and "needs 9" in err  # another PC width: another gadget
    code, _, err = run("check", str(path), "--spec", "gadget/subtract[bits=3,pc=2]")
    assert code == 2 and "(not pc)" in err
