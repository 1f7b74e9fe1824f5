"""ONNX model exchange: exact integer networks to ONNX and back.

Export
------
A :class:`~verify.network.Network` becomes a standard ONNX graph of ``MatMul``, ``Add`` and
``Relu`` nodes, one ``MatMul`` + ``Add`` (+ ``Relu`` where the layer has one) per layer:

- one input tensor ``x`` of shape ``[1, n]`` (or ``["batch", n]``), one output ``y`` of shape
  ``[1, m]``; coordinate ``i`` of ``x`` is ``network.inputs.names[i]``, coordinate ``j`` of ``y``
  is ``network.outputs.names[j]``;
- the names are stored as JSON lists in the model's ``metadata_props`` under
  ``loopmlp.inputs`` and ``loopmlp.outputs``, and listed in the graph's ``doc_string``;
- layer ``k`` has initializers ``W{k}`` (shape ``[in, out]``, i.e. ``W[out, in]`` transposed,
  because ONNX multiplies ``x @ W``) and ``b{k}`` (shape ``[out]``).

The element type is one of :data:`DTYPES`. It is chosen by the caller and checked here: an
element type holds every value of the network exactly only when every partial sum of ``W x + b``
over the input box, every weight and every bias is below its limit (float32: 2^24, float64:
2^53, int32: 2^31). :meth:`Network.plan` gives the partial-sum bound; a type that is not exact
is refused with the bound named. onnxruntime has no int64 ``Relu`` kernel, so int64 is not
offered.

Import
------
:func:`load` reads any ONNX model whose graph is a chain of affine maps and ReLUs: ``MatMul``
and ``Gemm`` with a constant right operand, ``Add`` and ``Sub`` of a constant or of two tensors
computed from the same ReLU layer, ``Relu``, ``Identity``, and ``Flatten``/``Reshape``/
``Squeeze``/``Unsqueeze`` that do not change a ``[1, n]`` or ``[n]`` vector. Every weight must
be an exact integer (float or integer tensors); a non-integer weight is refused with the
initializer, the index and the value. Rational weights are not rescaled: the proofs are about
integer networks. The result is a :class:`~verify.network.Network` with exact Python ints, its
coordinates named from ``metadata_props`` when present, else ``x[i]`` and ``y[j]``.

Every error about the file is an :class:`~verify.errors.InputError` naming the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError, LoopmlpError, ParameterError
from .layout import Layout
from .network import Layer, Network

OPSET = 14  # the first opset whose Relu accepts int32
IR_VERSION = 8
PRODUCER = "loopmlp"
INPUT, OUTPUT = "x", "y"
META_INPUTS, META_OUTPUTS = "loopmlp.inputs", "loopmlp.outputs"
DTYPES: dict[str, int] = {"float32": 1 << 24, "float64": 1 << 53, "int32": 1 << 31}
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


def written_by_loopmlp(path: str) -> bool:
    """True when ``path`` is an ONNX model this module wrote (so it may be replaced)."""
    onnx = require_onnx()
    try:  # only a regular file of a model's size is read (never a device or a pipe)
        if not os.path.isfile(path) or os.path.getsize(path) > MAX_MODEL_BYTES:
            return False
        model = onnx.load(path, load_external_data=False)
    except Exception:  # noqa: BLE001 - anything unreadable is not ours
        return False
    return model.producer_name == PRODUCER


def write_bytes(path: str, data: bytes) -> None:
    """Write through a temporary file and a rename, so a failure leaves no partial file."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise InputError(path, None, f"cannot write ({e.strerror})") from None


def save(model: Any, path: str, *, force: bool = False) -> None:
    """Write ``model`` to ``path``; refuse to replace a file loopmlp did not write."""
    if os.path.isdir(path):
        raise InputError(path, None, "is a directory")
    if os.path.exists(path) and not force and not written_by_loopmlp(path):
        raise InputError(path, None, "exists and was not written by loopmlp; use --force to "
                         "replace it")
    write_bytes(path, model.SerializeToString())


# --------------------------------------------------------------------------- import
@dataclass(frozen=True)
class Loaded:
    """A model read back: the exact network, its element type, and whether the input and the
    output coordinate names came from the model's metadata."""

    network: Network
    dtype: str
    named: tuple[bool, bool]
    input_name: str
    input_shape: tuple[int | str, ...]


@dataclass
class _Affine:
    """A tensor that is an affine function ``A z + c`` of the current base vector ``z`` (the
    graph input or the output of the last Relu): ``A`` is (n, base) and ``c`` is (n,), both
    numpy object arrays of Python ints."""

    a: np.ndarray
    c: np.ndarray
    base: int  # which base vector (0 = the input, k = the k-th Relu)


_ELEM = {1: "float32", 11: "float64", 7: "int64", 6: "int32", 10: "float16", 16: "bfloat16",
         3: "int8", 5: "int16", 2: "uint8"}
_RESHAPES = ("Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity")


def _int_array(path: str, name: str, arr: np.ndarray) -> np.ndarray:
    """An initializer as Python ints; a non-integer or non-finite entry is refused."""
    a = np.asarray(arr)
    if a.dtype.kind in "iub":
        return a.astype(object)
    if a.dtype.kind != "f":
        raise InputError(path, None, f"initializer {name!r} has element type {a.dtype}, not a "
                         "number")
    flat = a.reshape(-1)
    bad = np.flatnonzero(~np.isfinite(flat) | (flat != np.round(flat)))
    if bad.size:
        idx = np.unravel_index(int(bad[0]), a.shape) if a.ndim else ()
        raise InputError(path, None, f"initializer {name!r} index {list(map(int, idx))} has value "
                         f"{float(flat[bad[0]])!r}, not an integer (loopmlp checks exact integer "
                         "networks)")
    return np.array([int(v) for v in flat.astype(np.float64)], dtype=object).reshape(a.shape)


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact product of two object arrays of ints (int64 when no sum can overflow)."""
    if a.size and b.size:
        ma = max(abs(int(v)) for v in a.reshape(-1))
        mb = max(abs(int(v)) for v in b.reshape(-1))
        if ma * mb * max(a.shape[-1], 1) < 1 << 62:
            return (a.astype(np.int64) @ b.astype(np.int64)).astype(object)
    out = np.zeros((a.shape[0], b.shape[1]), dtype=object)
    return out + a.dot(b) if a.shape[1] else out


def load(path: str) -> Loaded:
    """Read an ONNX model into an exact :class:`Network` (see the module docstring)."""
    onnx = require_onnx()
    from onnx import numpy_helper

    if not os.path.exists(path):
        raise InputError(path, None, "no such file")
    if not os.path.isfile(path):
        raise InputError(path, None, "not a regular file")
    if os.path.getsize(path) > MAX_MODEL_BYTES:
        raise InputError(path, None, f"file larger than {MAX_MODEL_BYTES} bytes")
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
    size = sum(int(np.prod(t.dims, dtype=object)) for t in g.initializer)
    if size > MAX_WEIGHTS:
        raise InputError(path, None, f"initializers hold {size} numbers; at most {MAX_WEIGHTS} "
                         "are read")
    consts: dict[str, np.ndarray] = {}
    for t in g.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            raise InputError(path, None, f"initializer {t.name!r} is stored in an external file")
        try:
            consts[t.name] = _int_array(path, t.name, numpy_helper.to_array(t))
        except (ValueError, TypeError) as e:
            raise InputError(path, None, f"initializer {t.name!r} cannot be read ({e})") from None
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1 or len(g.output) != 1:
        raise InputError(path, None, f"needs exactly one input and one output tensor, has "
                         f"{len(inputs)} inputs and {len(g.output)} outputs")
    inp = inputs[0]
    ttype = inp.type.tensor_type
    dtype = _ELEM.get(ttype.elem_type, f"element type {ttype.elem_type}")
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                 for d in ttype.shape.dim)
    if len(dims) == 2 and (dims[0] == 1 or isinstance(dims[0], str)) and isinstance(dims[1], int):
        n_in = dims[1]
    elif len(dims) == 1 and isinstance(dims[0], int):
        n_in = dims[0]
    else:
        raise InputError(path, None, f"input {inp.name!r} has shape {list(dims)}; need [1, n], "
                         "[batch, n] or [n]")
    if n_in < 1:
        raise InputError(path, None, f"input {inp.name!r} has no coordinates")
    names_in, names_out, named = _names(model, path)
    if names_in is not None and len(names_in) != n_in:
        raise InputError(path, None, f"metadata {META_INPUTS} names {len(names_in)} coordinates "
                         f"but input {inp.name!r} has {n_in}")

    values: dict[str, _Affine] = {
        inp.name: _Affine(np.eye(n_in, dtype=np.int64).astype(object),
                          np.zeros(n_in, dtype=object), 0)}
    layers: list[tuple[np.ndarray, np.ndarray]] = []  # (A, c) of each Relu layer

    def need(name: str, node: Any) -> _Affine:
        if name in values:
            return values[name]
        if name in consts:
            raise InputError(path, None, f"node {node.name or node.op_type!r} ({node.op_type}): "
                             f"operand {name!r} is a constant where a computed tensor is needed")
        raise InputError(path, None, f"node {node.name or node.op_type!r} ({node.op_type}) reads "
                         f"{name!r}, which no earlier node computes")

    def vector(name: str, n: int, node: Any) -> np.ndarray:
        c = consts[name]
        if c.size == 1:
            return np.full(n, c.reshape(-1)[0], dtype=object)
        flat = c.reshape(-1)
        if c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1) or flat.size != n:
            raise InputError(path, None, f"node {node.name or node.op_type!r} ({node.op_type}): "
                             f"constant {name!r} of shape {list(c.shape)} does not match a "
                             f"vector of {n}")
        return flat

    for node in g.node:
        op = node.op_type
        where = f"node {node.name or op!r} ({op})"
        if node.domain not in ("", "ai.onnx"):
            raise InputError(path, None, f"{where}: operator domain {node.domain!r} is not "
                             "supported")
        if op == "Constant":
            attr = {a.name: a for a in node.attribute}
            if "value" not in attr:
                raise InputError(path, None, f"{where}: only tensor constants are supported")
            consts[node.output[0]] = _int_array(path, node.output[0],
                                                numpy_helper.to_array(attr["value"].t))
            continue
        if op in ("MatMul", "Gemm"):
            x = need(node.input[0], node)
            if len(node.input) < 2 or node.input[1] not in consts:
                raise InputError(path, None, f"{where}: the weight operand must be an initializer")
            w = consts[node.input[1]]
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if op == "Gemm":
                if attrs.get("transA", 0):
                    raise InputError(path, None, f"{where}: transA=1 is not supported")
                if attrs.get("transB", 0) and w.ndim == 2:
                    w = w.T
                for key in ("alpha", "beta"):
                    val = float(attrs.get(key, 1.0))
                    if not val.is_integer():
                        raise InputError(path, None, f"{where}: {key}={val} is not an integer")
                w = w * int(float(attrs.get("alpha", 1.0)))
            if w.ndim != 2 or w.shape[0] != x.a.shape[0]:
                raise InputError(path, None, f"{where}: weight {node.input[1]!r} has shape "
                                 f"{list(w.shape)} for an input of {x.a.shape[0]} coordinates")
            a, c = _matmul(w.T, x.a), _matmul(w.T, x.c.reshape(-1, 1)).reshape(-1)
            if op == "Gemm" and len(node.input) > 2 and node.input[2]:
                beta = int(float(attrs.get("beta", 1.0)))
                c = c + beta * vector(node.input[2], w.shape[1], node)
            values[node.output[0]] = _Affine(a, c, x.base)
        elif op in ("Add", "Sub"):
            sign = 1 if op == "Add" else -1
            p, q = node.input[0], node.input[1]
            if p in consts and q in consts:
                raise InputError(path, None, f"{where}: both operands are constants")
            if p in consts or q in consts:
                var, const = (q, p) if p in consts else (p, q)
                x = need(var, node)
                v = vector(const, x.a.shape[0], node)
                if p in consts:  # const + x or const - x
                    res = _Affine(sign * x.a, v + sign * x.c, x.base)
                else:
                    res = _Affine(x.a, x.c + sign * v, x.base)
            else:
                x, y = need(p, node), need(q, node)
                if x.base != y.base:
                    raise InputError(path, None, f"{where}: adds tensors computed from different "
                                     "ReLU layers (skip connections are not supported)")
                if x.a.shape != y.a.shape:
                    raise InputError(path, None, f"{where}: operands have {x.a.shape[0]} and "
                                     f"{y.a.shape[0]} coordinates")
                res = _Affine(x.a + sign * y.a, x.c + sign * y.c, x.base)
            values[node.output[0]] = res
        elif op == "Relu":
            x = need(node.input[0], node)
            if x.base != len(layers):
                raise InputError(path, None, f"{where}: reads a tensor computed before the last "
                                 "Relu (skip connections are not supported)")
            layers.append((x.a, x.c))
            n = x.a.shape[0]
            values[node.output[0]] = _Affine(np.eye(n, dtype=np.int64).astype(object),
                                             np.zeros(n, dtype=object), len(layers))
        elif op in _RESHAPES:
            x = need(node.input[0], node)
            if op == "Reshape":
                shape = consts.get(node.input[1]) if len(node.input) > 1 else None
                want = [int(v) for v in shape.reshape(-1)] if shape is not None else None
                n = x.a.shape[0]
                if want is None or want not in ([1, n], [n], [-1], [1, -1], [-1, n]):
                    raise InputError(path, None, f"{where}: only a reshape to [1, {n}] or [{n}] "
                                     "is supported")
            values[node.output[0]] = x
        else:
            raise InputError(path, None, f"{where}: unsupported operator {op} (supported: "
                             "MatMul, Gemm, Add, Sub, Relu, Identity, Flatten, Reshape, Squeeze, "
                             "Unsqueeze, Constant)")
    out = values.get(g.output[0].name)
    if out is None:
        raise InputError(path, None, f"output {g.output[0].name!r} is not computed by any node")
    if out.base != len(layers):
        raise InputError(path, None, f"output {g.output[0].name!r} is computed from a tensor "
                         "before the last Relu (skip connections are not supported)")
    n_out = out.a.shape[0]
    if names_out is not None and len(names_out) != n_out:
        raise InputError(path, None, f"metadata {META_OUTPUTS} names {len(names_out)} coordinates "
                         f"but output {g.output[0].name!r} has {n_out}")
    net = _network(layers, out, n_in, names_in, names_out, os.path.basename(path))
    return Loaded(net, dtype, named, inp.name, dims)


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


def _network(layers: list[tuple[np.ndarray, np.ndarray]], out: _Affine, n_in: int,
             names_in: list[str] | None, names_out: list[str] | None, label: str) -> Network:
    """Layers from the affine maps: one per Relu, plus a final affine one unless the output is
    exactly the last Relu's output."""
    layouts = [Layout(names_in or [f"x[{i}]" for i in range(n_in)])]
    for k, (a, _) in enumerate(layers):
        layouts.append(Layout([f"h{k + 1}[{i}]" for i in range(a.shape[0])], f"relu{k + 1}"))
    n_out = out.a.shape[0]
    final_names = names_out or [f"y[{j}]" for j in range(n_out)]
    passthrough = bool(layers) and out.base == len(layers) and out.a.shape[0] == out.a.shape[1] \
        and (out.a == np.eye(n_out, dtype=np.int64)).all() and not out.c.any()
    built: list[Layer] = []
    for k, (a, c) in enumerate(layers):
        outputs = layouts[k + 1]
        if passthrough and k == len(layers) - 1:
            outputs = Layout(final_names, "output")
        built.append(_layer(a, c, layouts[k], outputs, True, f"relu{k + 1}"))
    if not passthrough:
        built.append(_layer(out.a, out.c, layouts[out.base], Layout(final_names, "output"), False,
                            "affine output"))
    return Network(tuple(built), label)


def _layer(a: np.ndarray, c: np.ndarray, inputs: Layout, outputs: Layout, relu: bool,
           label: str) -> Layer:
    rows, cols = np.nonzero(a != 0)
    return Layer.from_entries(inputs, outputs,
                              ((int(r), int(q), int(a[r, q])) for r, q in zip(rows, cols)),
                              [int(v) for v in c], relu=relu, label=label)


def run_onnxruntime(model_or_path: Any, rows: np.ndarray) -> np.ndarray:
    """Run a model on rows ``(batch, n)`` with onnxruntime (for tests and cross-checks)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise LoopmlpError(f"onnxruntime is not installed: {EXTRA}") from None
    src = model_or_path if isinstance(model_or_path, str) else model_or_path.SerializeToString()
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    np_type = {"tensor(float)": np.float32, "tensor(double)": np.float64,
               "tensor(int32)": np.int32, "tensor(int64)": np.int64}[inp.type]
    x = np.asarray(rows).astype(np_type)
    fixed = inp.shape[0] if inp.shape and isinstance(inp.shape[0], int) else None
    if fixed == 1 and x.shape[0] != 1:
        return np.concatenate([sess.run(None, {inp.name: x[i:i + 1]})[0] for i in range(len(x))])
    return sess.run(None, {inp.name: x})[0]
