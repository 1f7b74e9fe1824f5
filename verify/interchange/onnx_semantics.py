"""What an ONNX graph computes, node by node, and when that equals an exact integer network.

Design notes: docs/design/verify.interchange.onnx_semantics.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from verify.errors import InternalError, LoopmlpError
from verify.exact.limits import INT64_LIMIT
from verify.exact.limits import LIMITS as TYPE_LIMITS
from verify.layout import Layout
from verify.network import Layer, Network

SHAPE_OPS = ("Identity", "Flatten", "Reshape", "Squeeze", "Unsqueeze")
SUPPORTED = ("MatMul", "Gemm", "Add", "Sub", "Relu", "Constant") + SHAPE_OPS
LIMITS: dict[str, int] = {t: TYPE_LIMITS[t] for t in ("float16", "float32", "float64", "int32",
                                                     "int64")}
"""Per element type a model may have, the magnitude below which every integer is held exactly
(float) or cannot wrap (integer) (:mod:`verify.exact.limits`)."""
NUMPY: dict[str, Any] = {"float16": np.float16, "float32": np.float32, "float64": np.float64,
                         "int32": np.int32, "int64": np.int64}
MAX_FORMS = 1 << 24
"""Coefficients all affine forms together may hold (each an exact Python int)."""
MAX_WORK = 1 << 28
"""Multiply-adds one node's affine forms may take to compute."""


class ModelError(LoopmlpError):
    """Something in the graph the loader does not read; the caller names the file."""


@dataclass(frozen=True)
class Const:
    """A constant operand: ``exact`` as Python ints (object array), ``raw`` as the file stores
    it (numpy, in its element type)."""

    exact: np.ndarray
    raw: np.ndarray


@dataclass(frozen=True)
class Step:
    """One ONNX node: operator, a name for messages, operand names ("" for an absent optional
    one), the output name and its static shape, and Gemm's attributes."""

    op: str
    name: str
    inputs: tuple[str, ...]
    output: str
    shape: tuple[int, ...]
    alpha: int = 1
    beta: int = 1
    trans_a: bool = False
    trans_b: bool = False

    @property
    def data_inputs(self) -> tuple[str, ...]:
        """The operands that carry values (not a Reshape's target shape or an axes list)."""
        if self.op in SHAPE_OPS:
            return self.inputs[:1]
        return self.inputs


def numel(shape: Iterable[Any]) -> int:
    """Number of elements of a static shape (1 for a scalar)."""
    n = 1
    for d in shape:
        n *= int(d)
    return n


# --------------------------------------------------------------------------- one operator
def _lead(x: np.ndarray, rank: int, cols: bool) -> np.ndarray:
    """``x`` with leading axes of size 1 up to ``rank`` (numpy's broadcasting alignment); a
    computed array keeps its trailing column axis, a constant gets one of size 1."""
    shape = x.shape[:-1] if cols else x.shape
    tail = (x.shape[-1],) if cols else (1,)
    return x.reshape((1,) * (rank - len(shape)) + tuple(shape) + tail)


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b``; on Python ints through int64 when no sum can reach 2^62 (exact either way)."""
    if a.dtype == object and b.dtype == object and a.size and b.size:
        ma = int(np.max(np.abs(a)))
        mb = int(np.max(np.abs(b)))
        if ma < INT64_LIMIT and mb < INT64_LIMIT and ma * mb * max(a.shape[-1], 1) < INT64_LIMIT:
            return np.matmul(a.astype(np.int64), b.astype(np.int64)).astype(object)
    return np.matmul(a, b)


def _left(a: np.ndarray, w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """MatMul of a computed ``a`` (shape S + (C,)) by a constant ``w`` ([K, N] or [K])."""
    k, c = w.shape[0], a.shape[-1]
    w2 = w if w.ndim == 2 else w.reshape(k, 1)
    p = a.reshape(-1, k, c)  # (P, K, C)
    return _mm(np.ascontiguousarray(w2.T), p).reshape(shape + (c,))  # (N,K) @ (P,K,C)


def _right(w: np.ndarray, b: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """MatMul of a constant ``w`` ([M, K] or [K]) by a computed ``b`` (shape S + (C,))."""
    k, c = w.shape[-1], b.shape[-1]
    w2 = w if w.ndim == 2 else w.reshape(1, k)
    s = b.shape[:-1]
    n = 1 if len(s) == 1 else s[-1]
    q = b.reshape(-1, k, n * c)  # (Q, K, N*C)
    return _mm(w2, q).reshape(shape + (c,))


def apply(step: Step, operands: Sequence[np.ndarray | None], consts: Sequence[Any],
          mode: str, scalar: Callable[[int], Any]) -> np.ndarray:
    """The node ``step`` on columns: ``operands[i]`` is the computed operand i (shape S_i + (C,))
    or None where operand i is the constant ``consts[i]`` (already in this arithmetic, by
    absolute value in ``magnitude`` mode). ``scalar`` makes an attribute (alpha, beta, 0) a
    number of this arithmetic. Returns shape ``step.shape + (C,)``."""
    op, shape = step.op, step.shape
    cols = next(x.shape[-1] for x in operands if x is not None)
    if op in SHAPE_OPS:
        x = operands[0]
        assert x is not None
        return x.reshape(shape + (cols,))
    if op == "Relu":
        x = operands[0]
        assert x is not None and mode != "linear"
        return x if mode == "magnitude" else np.maximum(x, scalar(0))
    if op in ("Add", "Sub"):
        parts: list[np.ndarray | None] = []
        for x, k in zip(operands, consts):
            if x is not None:
                parts.append(_lead(x, len(shape), True))
            elif mode != "linear":
                parts.append(_lead(k, len(shape), False))
            else:
                parts.append(None)
        first, second = parts
        if second is None:
            out = first
        elif first is None:
            out = second if op == "Add" or mode == "magnitude" else -second
        elif op == "Sub" and mode != "magnitude":
            out = first - second
        else:
            out = first + second
        assert out is not None
        return np.array(np.broadcast_to(out, shape + (cols,)))
    if op in ("MatMul", "Gemm"):
        a: np.ndarray | None = operands[0]
        b: np.ndarray | None = operands[1]
        ka, kb = consts[0], consts[1]
        if op == "Gemm":
            if step.trans_a:
                a = None if a is None else np.swapaxes(a, 0, 1)
                ka = None if ka is None else ka.T
            if step.trans_b:
                b = None if b is None else np.swapaxes(b, 0, 1)
                kb = None if kb is None else kb.T
        out = _left(a, kb, shape) if a is not None else _right(ka, b, shape)  # type: ignore[arg-type]
        if op == "MatMul":
            return out
        alpha = step.alpha
        if mode == "magnitude":
            alpha = max(abs(alpha), 1)  # the partial sums of A B themselves are bounded too
        if alpha != 1:
            out = out * scalar(alpha)
        if len(step.inputs) > 2 and step.inputs[2]:
            x, k = operands[2], consts[2]
            beta = abs(step.beta) if mode == "magnitude" else step.beta
            if x is not None:
                term = _lead(x, 2, True)
            elif mode != "linear":
                term = _lead(k, 2, False)
            else:
                term = None
            if term is not None and beta != 0:
                out = out + (term if beta == 1 else term * scalar(beta))
        return np.array(np.broadcast_to(out, shape + (cols,)))
    raise InternalError(f"operator {op} has no semantics")


# --------------------------------------------------------------------------- forms
@dataclass
class _Form:
    """A tensor as ``A z + c`` over base ``base`` (0 the input, k the output of the k-th Relu):
    ``a`` is (numel, width of the base) of Python ints, or None for the base itself."""

    shape: tuple[int, ...]
    base: int
    a: np.ndarray | None
    c: np.ndarray


@dataclass(frozen=True)
class Exactness:
    """Whether the model's own arithmetic is exact over an input box (see the module
    docstring): the largest bound met, and the first node (in ONNX order) at or above the
    element type's limit, with its bound."""

    dtype: str
    limit: int
    bound: int
    node: str | None = None
    op: str | None = None
    tensor: str | None = None
    node_bound: int = 0

    @property
    def exact(self) -> bool:
        """True when every value, product and partial sum stays below the limit."""
        return self.node is None

    def reason(self) -> str:
        """One sentence saying why the arithmetic is or is not shown exact."""
        lim = f"2^{self.limit.bit_length() - 1}"
        if self.exact:
            return (f"{self.dtype} is exact here: every value, product and partial sum of "
                    f"every node stays below {lim} (largest {self.bound})")
        what = "wrap around" if self.dtype.startswith("int") else "be rounded"
        where = f"{self.node} ({self.op})"
        if self.tensor and repr(self.tensor) not in str(self.node):
            where += f" computing {self.tensor!r}"
        return (f"{self.dtype} arithmetic is not shown exact: node {where} "
                f"reaches {self.node_bound} (about "
                f"2^{max(self.node_bound, 1).bit_length() - 1}), not below {lim}, so its "
                f"values may {what}")

    def to_json(self) -> dict[str, Any]:
        return {"exact": self.exact, "dtype": self.dtype, "limit": self.limit,
                "bound": self.bound, "node": self.node, "op": self.op, "tensor": self.tensor,
                "node_bound": self.node_bound}


@dataclass(frozen=True, eq=False)
class Semantics:
    """A graph's steps, constants and shapes, with its affine forms and the folded network."""

    dtype: str
    input: str
    input_shape: tuple[int, ...]
    output: str
    steps: tuple[Step, ...]
    consts: Mapping[str, Const]
    forms: Mapping[str, _Form] = field(repr=False)
    relus: tuple[str, ...]  # the tensor each Relu reads, in order
    network: Network

    @property
    def n_in(self) -> int:
        return numel(self.input_shape)

    @property
    def n_out(self) -> int:
        return numel(self.forms[self.output].shape)

    # ---------------------------------------------------------------- evaluation
    def _run(self, rows: np.ndarray, exact: bool) -> np.ndarray:
        np_type = NUMPY[self.dtype]
        x = np.asarray(rows, dtype=object if exact else np_type)
        vals: dict[str, np.ndarray] = {self.input: x.T.reshape(self.input_shape + (len(x),))}
        if exact:
            def scalar(v: int) -> Any:
                return int(v)
        else:
            def scalar(v: int) -> Any:
                return np_type(v)
        for step in self.steps:
            ops = [vals.get(n) if n else None for n in step.data_inputs]
            ks = [None if (not n or n in vals) else
                  (self.consts[n].exact if exact else self.consts[n].raw)
                  for n in step.data_inputs]
            vals[step.output] = apply(step, ops, ks, "value", scalar)
        return vals[self.output].reshape(self.n_out, len(x)).T

    def run(self, rows: np.ndarray) -> np.ndarray:
        """Outputs (B, m) for input rows (B, n), node by node in numpy in the model's element
        type (its rounding and wrap-around; the order of accumulation is numpy's)."""
        with np.errstate(all="ignore"):  # overflow and inf - inf are the file's arithmetic
            return self._run(rows, exact=False)

    def run_exact(self, rows: np.ndarray) -> np.ndarray:
        """Outputs (B, m), node by node in exact Python integers (object array)."""
        return self._run(rows, exact=True)

    # ---------------------------------------------------------------- exactness
    def analyse(self, box: Sequence[tuple[int, int]]) -> Exactness:
        """Whether the model's arithmetic is exact on every input of ``box`` (one interval per
        input coordinate, in the model's order); see the module docstring."""
        limit = LIMITS[self.dtype]
        lo0 = np.array([int(a) for a, _ in box], dtype=object)
        hi0 = np.array([int(b) for _, b in box], dtype=object)
        bases = [(lo0, hi0)]
        ranges: dict[str, tuple[np.ndarray, np.ndarray]] = {self.input: (lo0, hi0)}
        # acc: per element, a bound on every value an implementation may hold while computing
        # the tensor from the last Relu (or the input) on, in any order. onnxruntime fuses a
        # MatMul and the Add after it into one Gemm that accumulates the products onto the
        # addend, so the Add's partial sums are |addend| + the MatMul's, not its result.
        acc: dict[str, np.ndarray] = {
            self.input: _magnitude(lo0, hi0).reshape(self.input_shape + (1,))}
        worst = max([abs(v) for v in lo0] + [abs(v) for v in hi0] + [0])
        first: tuple[str, str, str, int] | None = None
        if worst >= limit:
            first = ("input", "input", self.input, worst)
        for step in self.steps:
            if step.op == "Relu":
                lo, hi = ranges[step.inputs[0]]
                bases.append((np.maximum(lo, 0), np.maximum(hi, 0)))
                ranges[step.output] = bases[-1]
                acc[step.output] = _magnitude(*bases[-1]).reshape(self._shape(step.output)
                                                                  + (1,))
                continue
            form = self.forms[step.output]
            blo, bhi = bases[form.base]
            lo, hi = _range(form, blo, bhi)
            ranges[step.output] = (lo, hi)
            bound = max((max(abs(int(u)), abs(int(v))) for u, v in zip(lo, hi)), default=0)
            if step.op not in ("MatMul", "Gemm"):
                # Add, Sub (their operands' partial sums and the addend's magnitude), shape
                # operators (the operand's, moved along)
                carried = apply(step, [acc.get(n) if n else None for n in step.data_inputs],
                                [None if (not n or n in acc) else np.abs(self.consts[n].exact)
                                 for n in step.data_inputs], "magnitude", int)
                acc[step.output] = carried
                bound = max(bound, int(np.max(carried)) if carried.size else 0)
            if step.op in ("MatMul", "Gemm"):
                mags = [None if (not n or n not in ranges) else
                        _magnitude(*ranges[n]).reshape(self._shape(n) + (1,))
                        for n in step.data_inputs]
                ks = [None if (not n or n in ranges) else np.abs(self.consts[n].exact)
                      for n in step.data_inputs]
                partial = apply(step, mags, ks, "magnitude", int)
                acc[step.output] = partial
                bound = max(bound, int(np.max(partial)) if partial.size else 0)
                if step.op == "Gemm" and abs(step.alpha) > 1:
                    # an implementation may scale either factor by alpha first
                    factors = [mags[i] if mags[i] is not None else ks[i] for i in (0, 1)]
                    bound = max([bound] + [abs(step.alpha) * int(np.max(f)) for f in factors
                                           if f is not None and f.size])
            worst = max(worst, bound)
            if first is None and bound >= limit:
                first = (step.name, step.op, step.output, bound)
        if first is None:
            return Exactness(self.dtype, limit, int(worst))
        return Exactness(self.dtype, limit, int(worst), first[0], first[1], first[2], first[3])

    def _shape(self, name: str) -> tuple[int, ...]:
        if name == self.input:
            return self.input_shape
        return self.forms[name].shape


def _magnitude(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(lo), np.abs(hi))


def _range(form: _Form, blo: np.ndarray, bhi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact (lo, hi) of every coordinate of ``A z + c`` over the base box."""
    if form.a is None:
        return blo + form.c, bhi + form.c
    pos = np.where(form.a > 0, form.a, 0)
    neg = np.where(form.a < 0, form.a, 0)
    lo = form.c + _mm(pos, blo.reshape(-1, 1)).reshape(-1) + _mm(neg, bhi.reshape(-1, 1)
                                                                 ).reshape(-1)
    hi = form.c + _mm(pos, bhi.reshape(-1, 1)).reshape(-1) + _mm(neg, blo.reshape(-1, 1)
                                                                 ).reshape(-1)
    return lo, hi


# --------------------------------------------------------------------------- reading
def read(dtype: str, input_name: str, input_shape: tuple[int, ...], output: str,
         steps: Sequence[Step], consts: Mapping[str, Const],
         names: tuple[list[str] | None, list[str] | None], label: str) -> Semantics:
    """The affine form of every tensor, node by node, and the folded network: one ReLU layer
    per Relu and a final affine layer (none when the output is the last Relu's output).

    Raises :class:`ModelError` for a graph that is not a chain of affine maps and ReLUs (a
    skip connection, a product of two computed tensors, a node of constants only) or whose
    forms would exceed :data:`MAX_FORMS` coefficients."""
    reader = _Reader(input_name, input_shape, consts)
    for step in steps:
        reader.step(step)
    out = reader.forms.get(output)
    if out is None:
        raise ModelError(f"output {output!r} is not computed by any node")
    if out.base != len(reader.layers):
        raise ModelError(f"output {output!r} is computed from a tensor before the last Relu "
                         "(skip connections are not supported)")
    if not (len(out.shape) == 1 or (len(out.shape) == 2 and out.shape[0] == 1)):
        raise ModelError(f"output {output!r} has shape {list(out.shape)}; need [1, m], "
                         "[batch, m] or [m]")
    if names[1] is not None and len(names[1]) != numel(out.shape):
        raise ModelError(f"metadata names {len(names[1])} output coordinates but output "
                         f"{output!r} has {numel(out.shape)}")
    net = _network(reader.layers, reader.widths, out, names, label)
    return Semantics(dtype, input_name, input_shape, output, tuple(steps), consts, reader.forms,
                     tuple(reader.relus), net)


class _Reader:
    """The state of :func:`read` between nodes: the forms so far, the layer widths, the ReLU
    layers, and what is left of the coefficient budget."""

    def __init__(self, input_name: str, input_shape: tuple[int, ...],
                 consts: Mapping[str, Const]) -> None:
        n_in = numel(input_shape)
        self.forms: dict[str, _Form] = {
            input_name: _Form(input_shape, 0, None, np.zeros(n_in, dtype=object))}
        self.consts = consts
        self.widths = [n_in]
        self.layers: list[tuple[np.ndarray | None, np.ndarray]] = []
        self.relus: list[str] = []
        self.budget = MAX_FORMS

    def step(self, step: Step) -> None:
        """Add the form of one node's output."""
        base = self._base(step)
        if step.op == "Relu":
            x = self.forms[step.inputs[0]]
            self.layers.append((x.a, x.c))
            self.relus.append(step.inputs[0])
            width = numel(x.shape)
            self.widths.append(width)
            self.forms[step.output] = _Form(step.shape, len(self.layers), None,
                                            np.zeros(width, dtype=object))
        elif step.op in SHAPE_OPS:
            x = self.forms[step.inputs[0]]
            if numel(x.shape) != numel(step.shape):
                raise ModelError(f"node {step.name} ({step.op}): ONNX infers shape "
                                 f"{list(step.shape)} for {step.output!r} from {list(x.shape)}")
            self.forms[step.output] = _Form(step.shape, base, x.a, x.c)
        else:
            self._affine(step, base)

    def _base(self, step: Step) -> int:
        """The layer the node's computed inputs come after; a node off the chain is refused."""
        forms, where = self.forms, f"node {step.name} ({step.op})"
        computed = [n for n in step.data_inputs if n and n in forms]
        if not computed:
            raise ModelError(f"{where}: computes from constants only (fold it into a constant)")
        bases = {forms[n].base for n in computed}
        if len(bases) > 1 or (step.op == "Relu" and bases != {len(self.layers)}):
            raise ModelError(f"{where}: reads tensors computed before the last Relu (skip "
                             "connections are not supported)")
        if step.op in ("MatMul", "Gemm") and (step.inputs[0] in forms) == (step.inputs[1] in forms):
            raise ModelError(f"{where}: multiplies two computed tensors (not an affine map)")
        for n in step.data_inputs:
            if n and n not in forms and n not in self.consts:
                raise ModelError(f"{where}: reads {n!r}, which no earlier node computes")
        return bases.pop()

    def _affine(self, step: Step, base: int) -> None:
        """The form of an affine node: its linear part and its constant part."""
        forms, consts, where = self.forms, self.consts, f"node {step.name} ({step.op})"
        width = self.widths[base]
        size = numel(step.shape)
        cost = size * width
        if cost > self.budget:
            raise ModelError(f"{where}: the affine form of {step.output!r} needs {size} x "
                             f"{width} coefficients, more than the {MAX_FORMS} all forms may "
                             "hold")
        ks = [None if (not n or n in forms) else consts[n].exact for n in step.data_inputs]
        a_out = _identity_product(step, forms, consts, width)
        if a_out is None:
            a_out = _shaped(where, step, self._linear_operands(step, width, cost), ks, "linear",
                            (size, width))
        self.budget -= cost
        c_ops = [forms[n].c.reshape(forms[n].shape + (1,)) if n and n in forms else None
                 for n in step.data_inputs]
        c_out = _shaped(where, step, c_ops, ks, "value", (size,))
        forms[step.output] = _Form(step.shape, base, a_out, c_out)

    def _linear_operands(self, step: Step, width: int, cost: int) -> list[np.ndarray | None]:
        """The linear part of each computed input as an array of its shape by ``width`` (an
        input's identity made explicit), None for a constant; the work refused when too
        large."""
        forms, where = self.forms, f"node {step.name} ({step.op})"
        operands: list[np.ndarray | None] = []
        for n in step.data_inputs:
            if not (n and n in forms):
                operands.append(None)
                continue
            f = forms[n]
            k = numel(f.shape)
            if f.a is None:
                if k * width > self.budget - cost:
                    raise ModelError(f"{where}: the affine form of {n!r} needs {k} x "
                                     f"{width} coefficients, more than the "
                                     f"{MAX_FORMS} all forms may hold")
                a = np.eye(width, dtype=np.int64).astype(object)
            else:
                a = f.a
            operands.append(a.reshape(f.shape + (width,)))
        if step.op in ("MatMul", "Gemm"):
            k_dim = _inner(step, forms, self.consts)
            size = numel(step.shape)
            if size * k_dim * width > MAX_WORK:
                raise ModelError(f"{where}: composing {step.output!r} takes {size} x "
                                 f"{k_dim} x {width} multiply-adds, more than {MAX_WORK}")
        return operands


def _shaped(where: str, step: Step, operands: Sequence[np.ndarray | None],
            consts: Sequence[Any], mode: str, shape: tuple[int, ...]) -> np.ndarray:
    """:func:`apply` on exact integers, reshaped to ``shape``; operands whose shapes do not
    give the one ONNX infers are refused (numpy's broadcasting and matmul rules are ONNX's)."""
    try:
        return apply(step, operands, consts, mode, int).reshape(shape)
    except ValueError:
        raise ModelError(f"{where}: its operands do not give the shape {list(step.shape)} that "
                         f"ONNX infers for {step.output!r}") from None


def _inner(step: Step, forms: Mapping[str, _Form], consts: Mapping[str, Const]) -> int:
    """The contracted dimension K of a MatMul or Gemm (one operand is constant)."""
    if step.inputs[0] in forms:  # computed A, constant B
        w = consts[step.inputs[1]].exact
        return int((w.T if step.op == "Gemm" and step.trans_b else w).shape[0])
    w = consts[step.inputs[0]].exact
    return int((w.T if step.op == "Gemm" and step.trans_a else w).shape[-1])


def _identity_product(step: Step, forms: Mapping[str, _Form], consts: Mapping[str, Const],
                      width: int) -> np.ndarray | None:
    """The linear part of ``base @ W`` without building the identity: ``W^T`` (times alpha),
    when the computed operand is the base itself as one row (the usual first node after the
    input or a Relu). None when another case applies."""
    if step.op not in ("MatMul", "Gemm") or step.inputs[0] not in forms:
        return None
    if step.op == "Gemm" and len(step.inputs) > 2 and step.inputs[2] in forms:
        return None  # a computed C adds its own linear part
    f = forms[step.inputs[0]]
    if f.a is None and numel(f.shape) == width and not step.trans_a:
        w = consts[step.inputs[1]].exact
        if step.trans_b and step.op == "Gemm":
            w = w.T
        if w.ndim == 2 and w.shape[0] == width and numel(step.shape) == w.shape[1] and (
                len(f.shape) == 1 or f.shape[-1] == width):
            a = np.ascontiguousarray(w.T)
            return a * step.alpha if step.op == "Gemm" and step.alpha != 1 else a
    return None


def _network(layers: list[tuple[np.ndarray | None, np.ndarray]], widths: list[int], out: _Form,
             names: tuple[list[str] | None, list[str] | None], label: str) -> Network:
    names_in, names_out = names
    layouts = [Layout(names_in or [f"x[{i}]" for i in range(widths[0])])]
    for k in range(len(layers)):
        layouts.append(Layout([f"h{k + 1}[{i}]" for i in range(widths[k + 1])], f"relu{k + 1}"))
    n_out = numel(out.shape)
    final = Layout(names_out or [f"y[{j}]" for j in range(n_out)], "output")
    passthrough = bool(layers) and out.a is None and not out.c.any()
    built: list[Layer] = []
    for k, (a, c) in enumerate(layers):
        outputs = final if passthrough and k == len(layers) - 1 else layouts[k + 1]
        built.append(_layer(a, c, layouts[k], outputs, True, f"relu{k + 1}"))
    if not passthrough:
        built.append(_layer(out.a, out.c, layouts[out.base], final, False, "affine output"))
    return Network(tuple(built), label)


def _layer(a: np.ndarray | None, c: np.ndarray, inputs: Layout, outputs: Layout, relu: bool,
           label: str) -> Layer:
    if a is None:
        entries: Any = ((i, i, 1) for i in range(len(inputs)))
    else:
        rows, cols = np.nonzero(a != 0)
        entries = ((int(r), int(q), int(a[r, q])) for r, q in zip(rows, cols))
    return Layer.from_entries(inputs, outputs, entries, [int(v) for v in c], relu=relu,
                              label=label)
