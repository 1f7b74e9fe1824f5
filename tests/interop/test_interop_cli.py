"""``loopmlp export`` and ``loopmlp check`` through ``main``: files never clobbered, exit codes,
the missing-extra message, and the float32 note on a model that float32 cannot hold exactly."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
from onnx import TensorProto, numpy_helper  # noqa: E402
from support.cli import run  # noqa: E402

from constructions.gadgets.families import make as gadget  # noqa: E402
from verify.interchange import onnx_io  # noqa: E402


def test_export_never_replaces_a_foreign_file(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs.onnx"
    theirs.write_bytes(b"precious")
    code, out, err = run("export", "--onnx", str(theirs), "--gadget", "add", "--bits", "2")
    assert code == 2 and out == "" and "not written by loopmlp" in err and "--force" in err
    assert theirs.read_bytes() == b"precious"
    assert run("export", "--onnx", str(theirs), "--gadget", "add", "--bits", "2", "--force")[0] == 0
    assert onnx_io.written_by_loopmlp(str(theirs))
    # ours may be replaced without --force
    code, out, _ = run("export", "--onnx", str(theirs), "--gadget", "add", "--bits", "3")
    assert code == 0 and "gadget/add[bits=3]" in out
    assert not list(tmp_path.glob("*.tmp*"))


def test_export_refusals_write_nothing(tmp_path: Path) -> None:
    cases = [
        (["--gadget", "subtract", "--bits", "32", "--dtype", "float32"], "not below 2^24"),
        (["--gadget", "subtract"], "--bits N"),
        (["--gadget", "read", "--bits", "2", "--words", "3"], "words=3"),
        (["--gadget", "add", "--bits", "2", "--slots", "4"], "no --slots with --gadget"),
        (["--profile", "paper", "--words", "3"], "words=3"),
        (["--gadget", "add", "--bits", "0"], "bits=0"),
    ]
    for k, (extra, reason) in enumerate(cases):
        path = tmp_path / f"m{k}.onnx"
        code, out, err = run("export", "--onnx", str(path), *extra)
        assert code == 2 and reason in err and err.count("\n") == 1, (extra, err)
        assert not path.exists()
    code, _, err = run("export", "--onnx", str(tmp_path / "no" / "dir.onnx"), "--gadget", "add",
                       "--bits", "2")
    assert code == 2 and "cannot write" in err


def test_computer_export_message(tmp_path: Path) -> None:
    path = tmp_path / "step.onnx"
    code, out, _ = run("export", "--onnx", str(path), "--profile", "paper-minimal", "--words",
                       "2", "--bits", "2", "--program-words", "2", "--dtype", "float32")
    assert code == 0
    assert out.startswith(f"{path}: paper-minimal[words=2,bits=2,slots=2] as ONNX")
    model = onnx.load(str(path))
    assert model.opset_import[0].version == onnx_io.OPSET and model.ir_version == 8
    assert sum(n.op_type == "Relu" for n in model.graph.node) == 13


def test_missing_extra_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    code, _, err = run("export", "--onnx", str(tmp_path / "m.onnx"), "--gadget", "add",
                       "--bits", "2")
    assert code == 2 and "pip install 'loopmlp[onnx]'" in err
    code, _, err = run("check", str(tmp_path / "m.onnx"), "--spec", "add", "--bits", "2")
    assert code == 2 and "pip install 'loopmlp[onnx]'" in err


def test_float32_model_beyond_2_24_is_refuted_in_float32_and_a_timeout_is_unknown(
        tmp_path: Path) -> None:
    """The float64 export is exact and the solver's timeout leaves it unknown; cast to float32
    its partial sums pass 2^24 and the file rounds: the verdict is about the file, REFUTED
    with onnxruntime's counterexample (never a verdict about the exact reading)."""
    src = tmp_path / "sub.onnx"
    assert run("export", "--onnx", str(src), "--gadget", "subtract", "--bits", "24")[0] == 0
    model = onnx.load(str(src))
    for t in model.graph.initializer:
        t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name))
    for v in (model.graph.input[0], model.graph.output[0]):
        v.type.tensor_type.elem_type = TensorProto.FLOAT
    f32 = tmp_path / "sub32.onnx"
    onnx.save(model, str(f32))
    code, out, err = run("check", str(src), "--spec", "subtract", "--bits", "24", "--method",
                         "smt", "--timeout", "0.5")
    assert code == 3 and "UNKNOWN smt" in out and "timeout" in out and err == ""
    code, out, err = run("check", str(f32), "--spec", "subtract", "--bits", "24", "--method",
                         "smt", "--timeout", "0.5", "--json")
    assert code == 1 and err == "", out + err
    doc = json.loads(out)
    assert doc["model"]["dtype_exact"] is False and doc["model"]["exactness"]["dtype"] == "float32"
    y = onnx_io.run_onnxruntime(str(f32), np.array([doc["model"]["counterexample_input"]]))[0]
    cex = doc["results"][0]["counterexample"]
    outs = gadget("subtract", 24).network.outputs.names
    assert all(int(y[outs.index(o)]) == v != cex["spec"][o] for o, v in cex["network"].items())
    # ... and float32 does go wrong on such a model: onnxruntime against the exact network.
    loaded = onnx_io.load(str(src)).network
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(2000, len(loaded.inputs)))
    wrong = (onnx_io.run_onnxruntime(str(f32), x).astype(np.int64)
             != loaded.forward(x, "int64")).any(axis=1)
    exact = (onnx_io.run_onnxruntime(str(src), x).astype(np.int64)
             == loaded.forward(x, "int64")).all()
    assert exact and wrong.sum() > 0


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full and /dev/zero")
def test_devices_are_neither_read_whole_nor_replaced() -> None:
    # /dev/zero and /dev/full read zeros for ever: the ownership check and the loader must not
    # try to read them through.
    code, _, err = run("export", "--onnx", "/dev/full", "--gadget", "subtract", "--bits", "2")
    assert code == 2 and err == ("loopmlp: error: /dev/full: exists and was not written by "
                                 "loopmlp; use --force to replace it\n")
    for device in ("/dev/zero", "/dev/null"):
        code, _, err = run("check", device, "--spec", "subtract", "--bits", "2")
        assert (code, err) == (2, f"loopmlp: error: {device}: not a regular file\n")
