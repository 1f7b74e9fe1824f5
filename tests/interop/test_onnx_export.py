"""ONNX export: onnxruntime runs the exported models and agrees with the exact network.

Gadgets: every gadget on its whole small domain, onnxruntime against the exact forward pass and
the spec. Computer: the step model run by onnxruntime, step by step, on corpus programs, against
the reference interpreter and the exact forward pass, for every profile. Element types: an
export in a type that is not exact is refused, naming the bound.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from constructions.computer import ALL_PROFILES, build, decode, encode  # noqa: E402
from constructions.gadgets.families import FAMILIES as GADGETS  # noqa: E402
from constructions.gadgets.families import make as gadget  # noqa: E402
from constructions.gadgets.families import shape as gadget_size  # noqa: E402
from constructions.machine import asm, subleq  # noqa: E402
from loopmlp.cli.export import computer_dense_floor, computer_model, gadget_model  # noqa: E402
from verify.errors import ParameterError  # noqa: E402
from verify.interchange import onnx_io  # noqa: E402
from verify.obligation import Obligation  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "constructions" / "programs"
SMALL_BITS = {"match": 2, "read": 2, "write": 2, "compare": 3, "flag": 3}


def _domain_rows(ob: Obligation) -> tuple[np.ndarray, np.ndarray]:
    """The domain's members (constraints applied) and the same rows in network input order."""
    rows = np.concatenate(list(ob.domain.chunks(1 << 16)))
    keep = np.array([bool(ob.domain.accept(dict(zip(ob.domain.names, r)))) for r in rows])
    rows = rows[keep]
    order = [ob.domain.names.index(n) for n in ob.network.inputs]
    return rows, rows[:, order]


@pytest.mark.parametrize("name", list(GADGETS))
@pytest.mark.parametrize("dtype", ["float64", "float32", "int32"])
def test_gadget_export_matches_exact_network_on_whole_domain(name: str, dtype: str) -> None:
    g = gadget(name, SMALL_BITS.get(name, 3), 2)
    ob = g.obligation()
    model = gadget_model(g, dtype, batch="batch")
    raw, x = _domain_rows(ob)
    got = onnx_io.run_onnxruntime(model, x)
    exact = ob.network.forward(x, "python")
    assert got.shape == exact.shape
    assert (got.astype(np.int64) == exact.astype(np.int64)).all()
    outs = ob.network.outputs.names
    spec = ob.spec({n: raw[:, i] for i, n in enumerate(ob.domain.names)})
    for o in ob.checked_outputs:
        assert (got[:, outs.index(o)].astype(np.int64) == np.asarray(spec[o])).all(), o
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["loopmlp.dtype"] == dtype
    assert f"Exact in {dtype}" in model.doc_string
    # The fixed-batch model reads one row at a time and gives the same answers.
    one = onnx_io.run_onnxruntime(gadget_model(g, dtype), x[:5])
    assert (one == got[:5]).all()


def test_export_refuses_a_dtype_that_is_not_exact() -> None:
    g = gadget("subtract", 32)
    ob = g.obligation()
    box = [dict(zip(ob.domain.names, ob.domain.box()))[n] for n in ob.network.inputs]
    bound = onnx_io.exact_bound(ob.network, box)
    assert bound >= 1 << 31
    for dtype in ("float32", "int32"):
        with pytest.raises(ParameterError, match=str(bound)):
            gadget_model(g, dtype)
    assert gadget_model(g, "float64").graph.input[0].type.tensor_type.elem_type == 11
    with pytest.raises(ParameterError, match="int64 Relu"):
        onnx_io.check_dtype("int64", 1)


def test_only_matmul_add_relu_and_names_in_metadata(tmp_path: Path) -> None:
    c = build("compact", subleq.MachineSize(2, 2, 2))
    model = computer_model("compact", c.size, "float64")
    assert {n.op_type for n in model.graph.node} == {"MatMul", "Add", "Relu"}
    # compact ends in an affine decode layer: no Relu on the output
    assert model.graph.node[-1].op_type == "Add"
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["loopmlp.inputs"]) == list(c.network.inputs.names)
    assert json.loads(meta["loopmlp.outputs"]) == list(c.network.outputs.names)
    assert "PC.bit[0]" in model.doc_string
    path = str(tmp_path / "step.onnx")
    onnx_io.save(model, path)
    back = onnx_io.load(path)
    assert back.named == (True, True) and back.dtype == "float64"
    assert back.network.inputs == c.network.inputs and back.network.outputs == c.network.outputs
    for a, b in zip(back.network.layers, c.network.layers):
        assert (a.rows, a.cols, a.vals, a.bias, a.relu) == (b.rows, b.cols, b.vals, b.bias, b.relu)


@functools.cache
def _session(profile: str, size: subleq.MachineSize) -> Any:
    import onnxruntime as ort

    model = computer_model(profile, size, "float64")
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _run_program(profile: str, program: asm.Program, max_steps: int) -> int:
    size = program.size
    sess = _session(profile, size)
    net = build(profile, size).network
    arith = net.plan([(0, 1)] * len(net.inputs)).arithmetic
    state = program.state
    x = encode(state, size)
    steps = 0
    for steps in range(1, max_steps + 1):
        y = sess.run(None, {"x": x[None].astype(np.float64)})[0][0]
        assert (y == np.round(y)).all()
        y = y.astype(np.int64)
        exact = net.forward(x[None], arith)[0]
        assert (y == exact).all(), f"{profile} step {steps}: onnxruntime != exact network"
        want = subleq.step(state, size)
        assert decode(y, size) == want, f"{profile} step {steps}: != interpreter"
        if want == state:
            break
        state, x = want, y
    return steps


@pytest.mark.parametrize("profile", ALL_PROFILES)
@pytest.mark.parametrize("program", ["countdown.sq", "multiply.sq"])
def test_step_model_runs_corpus_programs_like_the_interpreter(profile: str, program: str) -> None:
    p = asm.load(CORPUS / program)
    steps = _run_program(profile, p, 400)
    assert steps > 3


@pytest.mark.slow
@pytest.mark.parametrize("profile", ALL_PROFILES)
@pytest.mark.parametrize("program", sorted(p.name for p in CORPUS.glob("*.sq")))
def test_step_model_runs_whole_corpus(profile: str, program: str) -> None:
    p = asm.load(CORPUS / program)
    _run_program(profile, p, 5000)


SIZES = [(1, 2), (2, 2), (3, 4), (4, 8), (8, 2), (5, 16)]


@pytest.mark.parametrize("name", list(GADGETS))
def test_gadget_sizes_are_estimated_exactly_before_building(name: str) -> None:
    """The sizes ``check`` and ``export`` refuse by are computed without building; they must
    be the built gadget's: inputs, outputs, every layer's width, and the obligation name."""
    for bits, words in SIZES:
        try:
            g = gadget(name, bits, words)
        except ParameterError:  # a size this family does not take (compare at 1 bit)
            continue
        net = g.obligation().network
        size = gadget_size(name, bits, words)
        assert (size.inputs, size.outputs) == (len(net.inputs), len(net.outputs)), (bits, words)
        assert size.widths == tuple(len(layer.outputs) for layer in net.layers), (bits, words)
        assert size.dense == sum(a * b + a for a, b in (layer.shape for layer in net.layers))
        assert GADGETS[name].obligation_name(bits, words) == g.obligation_name


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_computer_dense_floor_is_a_lower_bound(profile: str) -> None:
    """``export --onnx`` refuses a machine whose floor exceeds the limit before building it:
    the floor must never exceed the built network's dense size."""
    for size in (subleq.MachineSize(2, 2, 2), subleq.MachineSize(4, 3, 8),
                 subleq.MachineSize(8, 8, 16)):
        net = build(profile, size).network
        dense = sum(a * b + a for a, b in (layer.shape for layer in net.layers))
        assert 0 < computer_dense_floor(profile, size) <= dense, size
