"""ONNX model exchange: exact integer networks to ONNX and back.

Design notes: docs/design/verify.interchange.onnx_io.md.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any

import numpy as np

from verify import files
from verify.errors import InputError, LoopmlpError, ParameterError
from verify.exact.limits import LIMITS as TYPE_LIMITS
from verify.network import Network

from .onnx_semantics import (
    LIMITS,
    NUMPY,
    SHAPE_OPS,
    SUPPORTED,
    Const,
    ModelError,
    Semantics,
    Step,
    numel,
    read,
)

OPSET = 14  # the first opset whose Relu accepts int32
IR_VERSION = 8
PRODUCER = "loopmlp"
INPUT, OUTPUT = "x", "y"
META_INPUTS, META_OUTPUTS = "loopmlp.inputs", "loopmlp.outputs"
DTYPES: dict[str, int] = {t: TYPE_LIMITS[t] for t in ("float32", "float64", "int32")}
EXTRA = "pip install 'loopmlp[onnx]'"
# Dense weights an export may hold (float64: 8 bytes each); protobuf refuses files over 2 GiB.
MAX_DENSE = 1 << 26
# Numbers a model read back may hold (each becomes an exact Python int).
MAX_WEIGHTS = 1 << 24


def require_onnx() -> Any:
    """The onnx module, or a one-line error naming the extra to install."""
    try:
        import onnx
    except ImportError:
        raise LoopmlpError(f"ONNX support is not installed: {EXTRA}") from None
    return onnx


# --------------------------------------------------------------------------- export
def exact_bound(net: Network, box: Sequence[tuple[int, int]]) -> int:
    """Largest magnitude of any partial sum, weight or bias of ``net`` over ``box``."""
    plan = net.plan(box)
    weights = max((abs(v) for layer in net.layers for v in layer.vals + layer.bias), default=0)
    return max(plan.max_partial_sum, weights)


def exact_dtypes(bound: int) -> list[str]:
    """The element types of :data:`DTYPES` that hold every value up to ``bound`` exactly."""
    return [name for name, limit in DTYPES.items() if bound < limit]


def check_dtype(dtype: str, bound: int) -> None:
    """Refuse an element type that is not exact for a network with this bound."""
    if dtype not in DTYPES:
        raise ParameterError("dtype", dtype, f"one of {', '.join(DTYPES)} (onnxruntime has no "
                             "int64 Relu)")
    limit = DTYPES[dtype]
    if bound >= limit:
        ok = exact_dtypes(bound)
        hint = f"; use --dtype {ok[-1] if 'float64' not in ok else 'float64'}" if ok else ""
        raise ParameterError(
            "dtype", dtype,
            f"a type exact for this network: a partial sum or weight reaches {bound} "
            f"(about 2^{bound.bit_length() - 1}), not below 2^{limit.bit_length() - 1}{hint}")


def _np_dtype(dtype: str) -> Any:
    return {"float32": np.float32, "float64": np.float64, "int32": np.int32}[dtype]


def to_model(net: Network, box: Sequence[tuple[int, int]], *, dtype: str = "float64",
             batch: int | str = 1, doc: str = "", meta: dict[str, str] | None = None) -> Any:
    """The ONNX model of ``net`` (see the module docstring), exact in ``dtype`` over ``box``."""
    onnx = require_onnx()
    from onnx import TensorProto, helper, numpy_helper

    bound = exact_bound(net, box)
    check_dtype(dtype, bound)
    dense = sum(a * b + a for a, b in (layer.shape for layer in net.layers))
    if dense > MAX_DENSE:
        raise ParameterError("network", net.name, f"at most {MAX_DENSE} dense weights for an "
                             f"ONNX export (this one has {dense}); choose a smaller size")
    npdt = _np_dtype(dtype)
    elem = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE,
            "int32": TensorProto.INT32}[dtype]
    nodes, inits = [], []
    cur = INPUT
    for k, layer in enumerate(net.layers):
        n_out, n_in = layer.shape
        w = np.zeros((n_in, n_out), dtype=npdt)
        w[list(layer.cols), list(layer.rows)] = np.array(layer.vals, dtype=npdt)
        inits.append(numpy_helper.from_array(w, f"W{k}"))
        inits.append(numpy_helper.from_array(np.array(layer.bias, dtype=npdt), f"b{k}"))
        last = k == len(net.layers) - 1
        mm, add = f"h{k}_mm", (OUTPUT if last and not layer.relu else f"h{k}_pre")
        nodes.append(helper.make_node("MatMul", [cur, f"W{k}"], [mm], name=f"matmul{k}"))
        nodes.append(helper.make_node("Add", [mm, f"b{k}"], [add], name=f"add{k}"))
        cur = add
        if layer.relu:
            cur = OUTPUT if last else f"h{k}"
            nodes.append(helper.make_node("Relu", [add], [cur], name=f"relu{k}"))
    ins, outs = net.inputs.names, net.outputs.names
    text = (f"{doc}\n" if doc else "") + (
        f"Exact in {dtype}: every partial sum, weight and bias over the input box is at most "
        f"{bound} < 2^{DTYPES[dtype].bit_length() - 1}. Input x[:, i] (i = 0..{len(ins) - 1}): "
        f"{', '.join(ins)}. Output y[:, j] (j = 0..{len(outs) - 1}): {', '.join(outs)}.")
    graph = helper.make_graph(
        nodes, net.name, [helper.make_tensor_value_info(INPUT, elem, [batch, len(ins)])],
        [helper.make_tensor_value_info(OUTPUT, elem, [batch, len(outs)])], inits, doc_string=text)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name=PRODUCER, doc_string=text)
    model.ir_version = IR_VERSION
    props = {META_INPUTS: json.dumps(list(ins)), META_OUTPUTS: json.dumps(list(outs)),
             "loopmlp.dtype": dtype, "loopmlp.exact_bound": str(bound), **(meta or {})}
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return model


MAX_MODEL_BYTES = 1 << 31
"""Largest model file read (protobuf's own limit is 2 GiB)."""


OWNED = re.compile(rb"\A\x08[\x00-\x7f]\x12"
                   + re.escape(bytes([len(PRODUCER)]) + PRODUCER.encode()))
"""How every model this module writes begins: its IR version (field 1), then its producer name
(field 2), as protobuf serialises a model's fields in order."""


def written_by_loopmlp(path: str) -> bool:
    """True when ``path`` is an ONNX model this module wrote (so it may be replaced)."""
    return files.written_by_loopmlp(path, OWNED)


def check_target(path: str, force: bool = False) -> None:
    """Refuse to write a model to a directory or over a file loopmlp did not write
    (:func:`verify.files.check_replaceable`)."""
    files.check_replaceable(path, OWNED, "ONNX model", force=force)


def save(model: Any, path: str, *, force: bool = False) -> None:
    """Write ``model`` to ``path``; refuse to replace a file loopmlp did not write."""
    check_target(path, force)
    files.write_file(path, model.SerializeToString())


# --------------------------------------------------------------------------- import
@dataclass(frozen=True)
class Loaded:
    """A model read back: the folded exact network, the element type, whether the input and
    the output coordinate names came from the model's metadata, the input tensor, and the
    node-by-node semantics (:class:`~verify.interchange.onnx_semantics.Semantics`), which says
    over a box whether the folded network is what the file computes."""

    network: Network
    dtype: str
    named: tuple[bool, bool]
    input_name: str
    input_shape: tuple[int | str, ...]
    semantics: Semantics


_ELEM = {1: "float32", 11: "float64", 7: "int64", 6: "int32", 10: "float16", 16: "bfloat16",
         3: "int8", 5: "int16", 2: "uint8", 4: "uint16", 12: "uint32", 13: "uint64", 9: "bool"}
MAX_TENSOR = 1 << 16
"""Elements any one tensor of a model read back may have."""
_EXACT_INT = TYPE_LIMITS["float64"]  # every float64 integer below it converts to int64 and back


def check_path(path: str) -> None:
    """Refuse a model path that is missing, not a regular file, or larger than protobuf reads,
    before anything else is done."""
    if not os.path.exists(path):
        raise InputError(path, None, "no such file")
    if not os.path.isfile(path):
        raise InputError(path, None, "not a regular file")
    if os.path.getsize(path) > MAX_MODEL_BYTES:
        raise InputError(path, None, f"file larger than {MAX_MODEL_BYTES} bytes")


def _int_array(path: str, name: str, arr: np.ndarray) -> np.ndarray:
    """A constant as Python ints; a non-integer or non-finite entry is refused."""
    a = np.asarray(arr)
    if a.dtype.kind in "iu":
        return a.astype(object)
    if a.dtype.kind != "f":
        raise InputError(path, None, f"initializer {name!r} has element type {a.dtype}, not a "
                         "number")
    flat = a.reshape(-1).astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(flat) | (flat != np.round(flat)))
    if bad.size:
        idx = np.unravel_index(int(bad[0]), a.shape) if a.ndim else ()
        raise InputError(path, None, f"initializer {name!r} index {list(map(int, idx))} has value "
                         f"{float(flat[bad[0]])!r}, not an integer (loopmlp checks exact integer "
                         "networks)")
    if flat.size and float(np.max(np.abs(flat))) < _EXACT_INT:
        return flat.astype(np.int64).astype(object).reshape(a.shape)
    return np.array([int(v) for v in flat], dtype=object).reshape(a.shape)


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = " ".join(lines[:2]) if lines else type(e).__name__
    text = text.replace("[ShapeInferenceError] ", "").replace("[TypeInferenceError] ", "")
    return text if len(text) <= 300 else text[:297] + "..."


def _dims(value_info: Any) -> tuple[int | str, ...]:
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                 for d in value_info.type.tensor_type.shape.dim)


def _label(k: int, node: Any) -> str:
    """A node for messages: its name, else its place in the file and what it computes."""
    if node.name:
        return repr(node.name)
    out = node.output[0] if len(node.output) else ""
    return f"#{k} -> {out!r}" if out else f"#{k}"


def _check_names(path: str, g: Any) -> None:
    """Names resolved as ONNX resolves them, each value defined once: no initializer or graph
    input named twice, no node output named like an initializer, a graph input or another
    node's output, and every operand defined before the node that reads it."""
    inits: set[str] = set()
    for t in g.initializer:
        if t.name in inits:
            raise InputError(path, None, f"initializer name {t.name!r} is used twice (ONNX "
                             "defines every name once)")
        inits.add(t.name)
    graph_inputs: set[str] = set()
    for i in g.input:
        if i.name in graph_inputs:
            raise InputError(path, None, f"graph input {i.name!r} is declared twice")
        graph_inputs.add(i.name)
    defined = inits | graph_inputs
    produced: set[str] = set()
    for k, node in enumerate(g.node):
        where = f"node {_label(k, node)} ({node.op_type})"
        for n in node.input:
            if n and n not in defined:
                raise InputError(path, None, f"{where} reads {n!r}, which no earlier node "
                                 "computes")
        for n in node.output:
            if not n:
                continue
            if n in inits:
                raise InputError(path, None, f"{where}: its output {n!r} has the name of an "
                                 "initializer (ONNX defines every name once)")
            if n in graph_inputs:
                raise InputError(path, None, f"{where}: its output {n!r} has the name of a "
                                 "graph input (ONNX defines every name once)")
            if n in produced:
                raise InputError(path, None, f"{where}: its output {n!r} is computed by an "
                                 "earlier node too (ONNX defines every name once)")
            produced.add(n)
            defined.add(n)


def _shapes(path: str, model: Any, input_name: str, dims: tuple[int | str, ...]
            ) -> dict[str, tuple[int | str, ...]]:
    """Every tensor's shape from ONNX shape inference (strict, with data propagation) on a
    copy whose input has batch 1."""
    onnx = require_onnx()
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for i in fixed.graph.input:
        if i.name == input_name and len(dims) == 2 and isinstance(dims[0], str):
            i.type.tensor_type.shape.dim[0].Clear()
            i.type.tensor_type.shape.dim[0].dim_value = 1
    try:
        inferred = onnx.shape_inference.infer_shapes(fixed, check_type=True, strict_mode=True,
                                                     data_prop=True)
    except Exception as e:  # noqa: BLE001 - inference raises several kinds
        raise InputError(path, None, f"shape inference fails with batch 1: {_first_line(e)}"
                         ) from None
    g = inferred.graph
    out: dict[str, tuple[int | str, ...]] = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        if vi.type.tensor_type.HasField("shape"):
            out[vi.name] = _dims(vi)
    return out


def _needed(nodes: Sequence[Any], output: str) -> list[tuple[int, Any]]:
    """The nodes the output depends on, with their places in the file, in the file's order
    (the others cannot change it)."""
    want = {output}
    keep = []
    for k in range(len(nodes) - 1, -1, -1):
        node = nodes[k]
        if want.intersection(node.output):
            keep.append((k, node))
            want.update(n for n in node.input if n)
    return keep[::-1]


def _constant(path: str, node: Any) -> np.ndarray:
    onnx = require_onnx()
    from onnx import numpy_helper

    attr = {a.name: a for a in node.attribute}
    if "value" in attr:
        return numpy_helper.to_array(attr["value"].t)
    if "value_float" in attr or "value_floats" in attr:
        v = onnx.helper.get_attribute_value(attr.get("value_float") or attr["value_floats"])
        return np.asarray(v, dtype=np.float32)
    if "value_int" in attr or "value_ints" in attr:
        v = onnx.helper.get_attribute_value(attr.get("value_int") or attr["value_ints"])
        return np.asarray(v, dtype=np.int64)
    raise InputError(path, None, f"node {node.name or 'Constant'!r} (Constant): only numeric "
                     "tensor constants are supported")


def load(path: str, *, inputs: int | None = None, spec: str = "the spec") -> Loaded:
    """Read an ONNX model into its node-by-node semantics and the folded exact network (see
    :mod:`verify.interchange.onnx_semantics`). With ``inputs``, a model whose input does not
    have that many coordinates is refused before anything proportional to its size is built.

    The model must be valid ONNX (``onnx.checker`` with full shape inference), name every value
    once, and use only the operators of :data:`~verify.interchange.onnx_semantics.SUPPORTED`."""
    onnx = require_onnx()
    model = _read_model(path)
    g = model.graph
    inp, dtype, dims = _input(path, g)
    n_in = dims[-1]
    assert isinstance(n_in, int)
    if inputs is not None and n_in != inputs:
        raise InputError(path, None, f"has {n_in} inputs; {spec} needs {inputs}")
    if n_in > MAX_TENSOR:
        raise InputError(path, None, f"input {inp.name!r} has {n_in} coordinates; at most "
                         f"{MAX_TENSOR} are read")
    names_in, names_out, named = _names(model, path)
    if names_in is not None and len(names_in) != n_in:
        raise InputError(path, None, f"metadata {META_INPUTS} names {len(names_in)} coordinates "
                         f"but input {inp.name!r} has {n_in}")
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001 - the checker raises several kinds
        raise InputError(path, None, f"not a valid ONNX model: {_first_line(e)}") from None
    shapes = _shapes(path, model, inp.name, dims)
    output = g.output[0].name
    nodes = _needed(list(g.node), output)
    if output == inp.name or not nodes:
        raise InputError(path, None, f"output {output!r} is not computed by any node")
    raw = _initializers(path, g, {n for _, node in nodes for n in node.input if n})
    steps: list[Step] = []
    for k, node in nodes:  # in order: a Constant node adds to ``raw`` for the nodes after it
        step = _step(path, k, node, shapes, raw)
        if step is not None:
            steps.append(step)
    try:
        sem = read(dtype, inp.name, (1, n_in) if len(dims) == 2 else (n_in,), output, steps,
                   _constants(path, steps, raw, dtype), (names_in, names_out),
                   os.path.basename(path))
    except ModelError as e:
        raise InputError(path, None, str(e)) from None
    return Loaded(sem.network, dtype, named, inp.name, dims, sem)


def _read_model(path: str) -> Any:
    """The model at ``path``, refused unless its graph is one loopmlp can read: the default
    operator set, dense initializers stored in the file and not too many of them, and only the
    supported operators."""
    onnx = require_onnx()
    check_path(path)
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises several kinds
        raise InputError(path, None, f"not an ONNX model ({type(e).__name__})") from None
    g = model.graph
    if not g.node and not g.output:
        raise InputError(path, None, "not an ONNX model (no graph)")
    for imp in model.opset_import:
        if imp.domain not in ("", "ai.onnx"):
            raise InputError(path, None, f"operator set {imp.domain!r} is not supported")
    if len(g.sparse_initializer):
        raise InputError(path, None, "sparse initializers are not supported")
    size = 0
    for t in g.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            raise InputError(path, None, f"initializer {t.name!r} is stored in an external file")
        size += numel(max(int(d), 0) for d in t.dims)
    if size > MAX_WEIGHTS:
        raise InputError(path, None, f"initializers hold {size} numbers; at most {MAX_WEIGHTS} "
                         "are read")
    for k, node in enumerate(g.node):
        where = f"node {_label(k, node)} ({node.op_type})"
        if node.domain not in ("", "ai.onnx"):
            raise InputError(path, None, f"{where}: operator domain {node.domain!r} is not "
                             "supported")
        if node.op_type not in SUPPORTED:
            raise InputError(path, None, f"{where}: unsupported operator {node.op_type} "
                             f"(supported: {', '.join(SUPPORTED)})")
    _check_names(path, g)
    return model


def _input(path: str, g: Any) -> tuple[Any, str, tuple[int | str, ...]]:
    """The graph's one input tensor, its element type and its shape (``[1, n]``, ``[batch, n]``
    or ``[n]`` with ``n >= 1``)."""
    init_names = {t.name for t in g.initializer}
    real = [i for i in g.input if i.name not in init_names]
    if len(real) != 1 or len(g.output) != 1:
        raise InputError(path, None, f"needs exactly one input and one output tensor, has "
                         f"{len(real)} inputs and {len(g.output)} outputs")
    inp = real[0]
    ttype = inp.type.tensor_type
    dtype = _ELEM.get(ttype.elem_type, f"element type {ttype.elem_type}")
    if dtype not in LIMITS:
        raise InputError(path, None, f"input {inp.name!r} has {dtype}; supported element types: "
                         f"{', '.join(LIMITS)}")
    dims = _dims(inp)
    if len(dims) == 2 and (dims[0] == 1 or isinstance(dims[0], str)) and isinstance(dims[1], int):
        n_in = dims[1]
    elif len(dims) == 1 and isinstance(dims[0], int):
        n_in = dims[0]
    else:
        raise InputError(path, None, f"input {inp.name!r} has shape {list(dims)}; need [1, n], "
                         "[batch, n] or [n]")
    if n_in < 1:
        raise InputError(path, None, f"input {inp.name!r} has no coordinates")
    return inp, dtype, dims


def _initializers(path: str, g: Any, used: set[str]) -> dict[str, np.ndarray]:
    """The initializers the needed nodes read, as numpy arrays."""
    from onnx import numpy_helper

    raw: dict[str, np.ndarray] = {}
    for t in g.initializer:
        if t.name in used:
            try:
                raw[t.name] = numpy_helper.to_array(t)
            except (ValueError, TypeError) as e:
                raise InputError(path, None, f"initializer {t.name!r} cannot be read ({e})"
                                 ) from None
    return raw


def _step(path: str, k: int, node: Any, shapes: dict[str, Any],
          raw: dict[str, np.ndarray]) -> Step | None:
    """The step of one node, its output's shape known and of a size that is read; a
    ``Constant`` adds its value to ``raw`` instead (None)."""
    import onnx

    op = node.op_type
    label = _label(k, node)
    where = f"node {label} ({op})"
    if op == "Constant":
        raw[node.output[0]] = _constant(path, node)
        return None
    shape = shapes.get(node.output[0])
    if shape is None or not all(isinstance(d, int) for d in shape):
        raise InputError(path, None, f"{where}: the shape of {node.output[0]!r} is not "
                         f"known statically ({list(shape) if shape else 'not inferred'})")
    if numel(shape) > MAX_TENSOR or numel(shape) < 1:
        raise InputError(path, None, f"{where}: {node.output[0]!r} has shape {list(shape)}; "
                         f"a tensor of 1 to {MAX_TENSOR} elements is needed")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    alpha = beta = 1
    if op == "Gemm":
        vals = []
        for key in ("alpha", "beta"):
            v = float(attrs.get(key, 1.0))
            if not v.is_integer():
                raise InputError(path, None, f"{where}: {key}={v} is not an integer")
            vals.append(int(v))
        alpha, beta = vals
    data = node.input[:1] if op in SHAPE_OPS else node.input
    for n in data:
        if n in raw and op in ("MatMul", "Gemm") and raw[n].ndim > 2:
            raise InputError(path, None, f"{where}: constant {n!r} has shape "
                             f"{list(raw[n].shape)}; a weight of rank 1 or 2 is needed")
    return Step(op, label, tuple(node.input), node.output[0], tuple(int(d) for d in shape),
                alpha, beta, bool(attrs.get("transA", 0)), bool(attrs.get("transB", 0)))


def _constants(path: str, steps: list[Step], raw: dict[str, np.ndarray],
               dtype: str) -> dict[str, Const]:
    """Every constant the steps read, exact, in the model's element type."""
    consts: dict[str, Const] = {}
    np_type = NUMPY[dtype]
    for step in steps:
        for n in step.data_inputs:
            if n and n in raw and n not in consts:
                arr = raw[n]
                if arr.dtype != np_type:
                    raise InputError(path, None, f"constant {n!r} has element type {arr.dtype}, "
                                     f"not the model's {dtype}")
                consts[n] = Const(_int_array(path, n, arr), arr)
    return consts


def _names(model: Any, path: str) -> tuple[list[str] | None, list[str] | None,
                                          tuple[bool, bool]]:
    props = {p.key: p.value for p in model.metadata_props}
    got: list[list[str] | None] = []
    for key in (META_INPUTS, META_OUTPUTS):
        if key not in props:
            got.append(None)
            continue
        try:
            names = json.loads(props[key])
        except ValueError:
            raise InputError(path, None, f"metadata {key} is not JSON") from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or (
                len(set(names)) != len(names)):
            raise InputError(path, None, f"metadata {key} must be a JSON list of distinct names")
        got.append(names)
    return got[0], got[1], (got[0] is not None, got[1] is not None)


# --------------------------------------------------------------------------- the reference
_ORT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
              "tensor(float16)": np.float16, "tensor(int32)": np.int32,
              "tensor(int64)": np.int64}


def onnxruntime_available() -> bool:
    """True when onnxruntime can be imported."""
    return find_spec("onnxruntime") is not None


def _session(src: bytes | str) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4  # fatal only: nothing of its own on the user's terminal
    return ort.InferenceSession(src, sess_options=opts, providers=["CPUExecutionProvider"])


class Reference:
    """onnxruntime's CPU provider running a model: the reference for what the file computes.

    :meth:`run` feeds one row at a time to a model whose batch is fixed, exactly as the file
    is; :meth:`run_many` first tries a copy whose batch dimension is left free (for speed), and
    the caller re-runs through :meth:`run` any row on which it matters."""

    def __init__(self, model_or_path: Any, label: str = "model",
                 input_name: str | None = None) -> None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise LoopmlpError(f"onnxruntime is not installed: {EXTRA}") from None
        self.label = label
        if isinstance(model_or_path, str):
            with open(model_or_path, "rb") as f:
                self.data = f.read()
        else:
            self.data = model_or_path.SerializeToString()
        try:
            self.sess = _session(self.data)
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own kinds
            raise InputError(label, None, "onnxruntime (the reference) cannot load it: "
                             f"{_first_line(e)}") from None
        ins = self.sess.get_inputs()
        inp = next((i for i in ins if i.name == input_name), ins[0])
        self.input = inp.name
        self.np_type = _ORT_TYPES.get(inp.type)
        if self.np_type is None:
            raise InputError(label, None, f"onnxruntime reads input {inp.name!r} as {inp.type}")
        self.shape = list(inp.shape)
        self._batched: Any = None

    def _feed(self, sess: Any, x: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(sess.run(None, {self.input: x})[0])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own kinds
            raise InputError(self.label, None, "onnxruntime (the reference) cannot run it: "
                             f"{_first_line(e)}") from None

    def run(self, rows: np.ndarray) -> np.ndarray:
        """Outputs (B, m) for rows (B, n): the model as it is, fed one row at a time (a batch
        dimension, fixed or free, of 1)."""
        x = np.asarray(rows).astype(self.np_type)
        one = [1, x.shape[1]] if len(self.shape) == 2 else [x.shape[1]]
        outs = [self._feed(self.sess, x[i].reshape(one)).reshape(-1) for i in range(len(x))]
        return np.stack(outs) if outs else np.zeros((0, 0), dtype=self.np_type)

    def run_many(self, rows: np.ndarray) -> np.ndarray:
        """Outputs (B, m) for rows (B, n), all rows in one call where the model (or a copy of
        it with a free batch dimension) loads, runs and gives one output row per input row;
        else as :meth:`run`. Any row whose result matters is to be confirmed by :meth:`run`:
        a batch of B rows is not the model's input of batch 1."""
        if len(self.shape) != 2 or len(rows) < 2:
            return self.run(rows)
        if self._batched is None:
            free = not isinstance(self.shape[0], int)
            self._batched = self.sess if free else (self._free_batch() or False)
        if self._batched is False:
            return self.run(rows)
        x = np.asarray(rows).astype(self.np_type)
        try:
            y = np.asarray(self._batched.run(None, {self.input: x})[0])
        except Exception:  # noqa: BLE001 - fall back to the model as it is
            self._batched = False
            return self.run(rows)
        if y.ndim != 2 or y.shape[0] != len(x):
            self._batched = False
            return self.run(rows)
        return y

    def _free_batch(self) -> Any:
        onnx = require_onnx()
        model = onnx.load_from_string(self.data)
        g = model.graph
        del g.value_info[:]
        for vi in list(g.input) + list(g.output):
            if vi.name == self.input or vi in g.output:
                dims = vi.type.tensor_type.shape.dim
                if len(dims) == 2:
                    dims[0].Clear()
                    dims[0].dim_param = "loopmlp_batch"
        try:
            return _session(model.SerializeToString())
        except Exception:  # noqa: BLE001 - the model as it is still runs row by row
            return None


def run_onnxruntime(model_or_path: Any, rows: np.ndarray) -> np.ndarray:
    """Run a model on rows ``(batch, n)`` with onnxruntime, the model as it is (one row at a
    time where its batch is fixed), for tests and cross-checks."""
    label = model_or_path if isinstance(model_or_path, str) else "model"
    return Reference(model_or_path, label).run(rows)
