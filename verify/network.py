"""Exact integer ReLU networks: layers x <- ReLU(W x + b), stored sparse, with named coordinates.

Design notes: docs/design/verify.network.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from .errors import ParameterError, ShapeError
from .exact.limits import INT64_LIMIT, limit
from .layout import Layout

EXACT_LIMITS: tuple[tuple[str, int], ...] = tuple(
    (kind, limit(kind, headroom=True)) for kind in ("float32", "float64", "int64"))
"""The arithmetics of :meth:`Network.forward`, narrowest first, with the bound below which each
is exact (:mod:`verify.exact.limits`)."""
INT_LIMITS: tuple[tuple[str, int], ...] = tuple(
    (kind, limit(kind, headroom=True)) for kind in ("int16", "int32", "int64"))
"""Integer types for the row layout of a SplitEvaluator: below the limit, no sum, product or
ReLU of the network can wrap."""
# A layer whose nonzeros are at most this many, or at most this fraction of W, runs as one pass
# per nonzero (cheap integer passes over cached rows); a fuller one as a BLAS matrix product.
ROWS_MAX_NNZ = 256
ROWS_MAX_DENSITY = 1 / 4
# Hidden values a SplitEvaluator forms per numpy call (about 512 KiB at int16): fewer calls, while
# the group still sits in cache.
_GROUP_POINTS = 1 << 18


def narrowest_int(bound: int) -> str | None:
    """The narrowest integer type of :data:`INT_LIMITS` holding every value of magnitude at most
    ``bound``, or None when none does."""
    return next((name for name, limit in INT_LIMITS if bound < limit), None)


def _as_int(value: Any, what: str) -> int:
    """An exact Python int from an int-like value; a non-integral value is refused."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    raise ParameterError(what, value, "an integer weight (the proof paths are exact)")


def index_tuple(indices: np.ndarray, bound: int) -> tuple[int, ...]:
    """``tuple(indices.tolist())`` for indices in ``[0, bound)``, each value one shared int
    object: a large layer's row and column tuples then take a pointer per entry, not a fresh
    int for each."""
    if indices.size < 4 * bound or bound <= 257:  # small ints are shared by Python already
        return tuple(indices.tolist())
    pool = np.array(range(bound), dtype=object)
    return tuple(pool[indices].tolist())


def _fits_int64(values: Sequence[int]) -> bool:
    return not values or (-INT64_LIMIT < min(values) and max(values) < INT64_LIMIT)


@dataclass(frozen=True, eq=False)
class Layer:
    """One layer ``y = ReLU(W x + b)`` (or ``y = W x + b`` when ``relu`` is False).

    ``rows``/``cols``/``vals`` are the nonzero entries of ``W[out, in]`` (Python ints, exact);
    ``bias`` has one Python int per output. ``label`` says which stage or gadget owns the layer.
    """

    inputs: Layout
    outputs: Layout
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    vals: tuple[int, ...]
    bias: tuple[int, ...]
    relu: bool = True
    label: str = ""

    def __post_init__(self) -> None:
        n_in, n_out = len(self.inputs), len(self.outputs)
        if not len(self.rows) == len(self.cols) == len(self.vals):
            raise ShapeError(
                f"layer {self.label!r}: {len(self.rows)} rows, {len(self.cols)} cols and "
                f"{len(self.vals)} values given for the nonzero entries; they must match"
            )
        if len(self.bias) != n_out:
            raise ShapeError(
                f"layer {self.label!r}: bias has {len(self.bias)} entries for {n_out} outputs"
            )
        if self.rows and not (0 <= min(self.rows) and max(self.rows) < n_out
                              and 0 <= min(self.cols) and max(self.cols) < n_in):
            bad_r = [r for r in self.rows if not 0 <= r < n_out]
            bad_c = [c for c in self.cols if not 0 <= c < n_in]
            hint = ""
            if bad_r and all(0 <= r < n_in for r in self.rows) and all(
                0 <= c < n_out for c in self.cols
            ):
                hint = " (the entries look transposed: W is W[out, in])"
            raise ShapeError(
                f"layer {self.label!r}: entry W[{(bad_r or self.rows)[0]}, "
                f"{(bad_c or self.cols)[0]}] lies outside W[out, in] of shape "
                f"({n_out}, {n_in}){hint}"
            )

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_entries(
        cls,
        inputs: Layout,
        outputs: Layout,
        entries: Iterable[tuple[int, int, Any]],
        bias: Sequence[Any] | None = None,
        *,
        relu: bool = True,
        label: str = "",
    ) -> Layer:
        """Build from (row, col, value) triples of ``W[out, in]``; repeated entries add up."""
        acc: dict[tuple[int, int], int] = {}
        for r, c, v in entries:
            key = (int(r), int(c))
            acc[key] = acc.get(key, 0) + _as_int(v, f"W[{r}, {c}]")
        keys = sorted(k for k, v in acc.items() if v != 0)
        b = tuple(_as_int(v, f"b[{i}]") for i, v in enumerate(bias)) if bias is not None else (
            (0,) * len(outputs)
        )
        return cls(
            inputs,
            outputs,
            tuple(k[0] for k in keys),
            tuple(k[1] for k in keys),
            tuple(acc[k] for k in keys),
            b,
            relu,
            label,
        )

    @classmethod
    def from_dense(
        cls,
        weight: Any,
        bias: Any,
        inputs: Layout,
        outputs: Layout,
        *,
        relu: bool = True,
        label: str = "",
    ) -> Layer:
        """Build from a dense ``W[out, in]``; a matrix of the transposed shape is refused."""
        w = np.asarray(weight, dtype=object)
        want = (len(outputs), len(inputs))
        if w.ndim != 2 or w.shape != want:
            hint = " (it looks transposed: W is W[out, in])" if w.shape == want[::-1] else ""
            raise ShapeError(
                f"layer {label!r}: W has shape {w.shape} but W[out, in] needs {want} for "
                f"{want[0]} outputs and {want[1]} inputs{hint}"
            )
        b = list(np.asarray(bias, dtype=object).reshape(-1))
        if len(b) != want[0]:
            raise ShapeError(f"layer {label!r}: bias has {len(b)} entries for {want[0]} outputs")
        entries = ((r, c, w[r, c]) for r, c in zip(*np.nonzero(w != 0)))
        return cls.from_entries(inputs, outputs, entries, b, relu=relu, label=label)

    @classmethod
    def from_rows(
        cls,
        inputs: Layout,
        outputs: Layout,
        rows: Mapping[str, tuple[Mapping[str, Any], Any]],
        *,
        relu: bool = True,
        label: str = "",
    ) -> Layer:
        """Build by name: ``rows[out_name] = ({in_name: weight, ...}, bias)``.

        Outputs without a row compute 0 (all-zero weights and bias).
        """
        entries: list[tuple[int, int, Any]] = []
        bias: list[Any] = [0] * len(outputs)
        for out_name, (coeffs, b) in rows.items():
            r = outputs.index(out_name)
            bias[r] = b
            entries.extend((r, inputs.index(n), v) for n, v in coeffs.items())
        return cls.from_entries(inputs, outputs, entries, bias, relu=relu, label=label)

    @classmethod
    def identity(cls, layout: Layout, *, label: str = "identity") -> Layer:
        """ReLU(x) = x on non-negative states: the pass-through layer of a padded budget."""
        n = len(layout)
        return cls(layout, layout, tuple(range(n)), tuple(range(n)), (1,) * n, (0,) * n, True,
                   label)

    # ---------------------------------------------------------------- views
    @property
    def shape(self) -> tuple[int, int]:
        """(outputs, inputs), the shape of W[out, in]."""
        return (len(self.outputs), len(self.inputs))

    @property
    def nnz(self) -> int:
        """Number of nonzero weights."""
        return len(self.vals)

    @cached_property
    def is_identity(self) -> bool:
        """True when the layer is exactly ReLU(x) on the same coordinates."""
        n = len(self.inputs)
        return (
            self.inputs == self.outputs
            and self.nnz == n
            and self.rows == tuple(range(n))
            and self.cols == tuple(range(n))
            and all(v == 1 for v in self.vals)
            and not any(self.bias)
        )

    @cached_property
    def _int64_ok(self) -> bool:
        return _fits_int64(self.vals) and _fits_int64(self.bias)

    @cached_property
    def csr(self) -> sp.csr_matrix:
        """W as an int64 CSR matrix (only when every weight fits)."""
        if not self._int64_ok:
            raise ShapeError(f"layer {self.label!r}: weights do not fit int64")
        return sp.csr_matrix(
            (np.array(self.vals, dtype=np.int64), (np.array(self.rows, dtype=np.int64),
                                                   np.array(self.cols, dtype=np.int64))),
            shape=self.shape,
            dtype=np.int64,
        )

    @cached_property
    def bias64(self) -> np.ndarray:
        """The bias as int64."""
        return np.array(self.bias, dtype=np.int64)

    def _float_matrix(self, dtype: type) -> Any:
        m = self.csr.astype(dtype)
        n_out, n_in = self.shape
        # Dense products are far faster for the small, fairly full layers of gadgets; sparse
        # ones (the computer's copy-heavy layers) stay sparse.
        dense = n_out * n_in <= 1 << 22 and self.nnz * 8 >= n_out * n_in
        return m.toarray().T if dense else m.T.tocsr()

    @cached_property
    def _f32(self) -> Any:
        return self._float_matrix(np.float32)

    @cached_property
    def _f64(self) -> Any:
        return self._float_matrix(np.float64)

    def row(self, name: str) -> tuple[dict[str, int], int]:
        """The weights and bias of one output unit, by name."""
        r = self.outputs.index(name)
        names = self.inputs.names
        coeffs: dict[str, int] = {}
        for rr, c, v in zip(self.rows, self.cols, self.vals):
            if rr == r:  # repeated entries add up, as in the forward pass
                coeffs[names[c]] = coeffs.get(names[c], 0) + v
        return coeffs, self.bias[r]

    # ---------------------------------------------------------------- evaluation
    def preactivation_bounds(
        self, lo: np.ndarray, hi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact (lo, hi, partial-sum bound) of every unit's pre-activation over a box.

        Arrays are numpy object arrays of Python ints, so no bound can overflow.
        """
        n_out = len(self.outputs)
        fast = self._bounds_int64(lo, hi)
        if fast is not None:
            return fast
        out_lo = np.array(self.bias, dtype=object)
        out_hi = np.array(self.bias, dtype=object)
        mag = np.array([abs(b) for b in self.bias], dtype=object)
        if self.nnz:
            rows = np.array(self.rows, dtype=np.int64)
            cols = np.array(self.cols, dtype=np.int64)
            vals = np.array(self.vals, dtype=object)
            lo_c, hi_c = lo[cols], hi[cols]
            pos = vals > 0
            add_lo = np.where(pos, vals * lo_c, vals * hi_c)
            add_hi = np.where(pos, vals * hi_c, vals * lo_c)
            absx = np.maximum(np.abs(lo_c), np.abs(hi_c))
            add_mag = np.abs(vals) * absx
            for target, add in ((out_lo, add_lo), (out_hi, add_hi), (mag, add_mag)):
                np.add.at(target, rows, add)
        assert len(out_lo) == n_out
        return out_lo, out_hi, mag

    @cached_property
    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(rows, cols, vals)`` as int64 arrays, or None when a weight does not fit int64."""
        if not self._int64_ok:
            return None
        return (np.array(self.rows, dtype=np.int64), np.array(self.cols, dtype=np.int64),
                np.array(self.vals, dtype=np.int64))

    def _bounds_int64(self, lo: np.ndarray, hi: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """:meth:`preactivation_bounds` in int64, where no sum of it can reach 2^62 (else
        None): the same integers, returned as object arrays."""
        if self.entries is None or not len(self.outputs):
            return None
        try:
            lo64 = np.asarray(lo, dtype=np.int64) if len(lo) else np.zeros(0, np.int64)
            hi64 = np.asarray(hi, dtype=np.int64) if len(hi) else np.zeros(0, np.int64)
        except OverflowError:
            return None
        rows, cols, vals = self.entries
        # The largest magnitude, in Python ints: numpy's abs of -2^63 is -2^63 again.
        x = max([abs(int(v)) for arr in (lo64, hi64) if arr.size for v in (arr.min(), arr.max())]
                + [0])
        w = int(np.abs(vals).max(initial=0))
        b = max(max(self.bias), -min(self.bias))
        per_row = int(np.bincount(rows).max(initial=0)) if rows.size else 0
        if w * x * per_row + b >= INT64_LIMIT:
            return None
        bias = np.array(self.bias, dtype=np.int64)
        lo_c, hi_c = lo64[cols], hi64[cols]
        pos = vals > 0
        out_lo, out_hi = bias.copy(), bias.copy()
        mag = np.abs(bias)
        np.add.at(out_lo, rows, np.where(pos, vals * lo_c, vals * hi_c))
        np.add.at(out_hi, rows, np.where(pos, vals * hi_c, vals * lo_c))
        np.add.at(mag, rows, np.abs(vals) * np.maximum(np.abs(lo_c), np.abs(hi_c)))
        return out_lo.astype(object), out_hi.astype(object), mag.astype(object)

    def apply(self, x: np.ndarray, arithmetic: str) -> np.ndarray:
        """Apply to a batch ``x`` of shape (batch, inputs) in the named exact arithmetic."""
        if arithmetic == "python":
            out = self._apply_python(x)
        elif arithmetic == "int64":
            out = np.asarray((self.csr @ x.T).T) + self.bias64
        else:
            dtype = np.float32 if arithmetic == "float32" else np.float64
            m = self._f32 if arithmetic == "float32" else self._f64
            y = np.asarray(x.astype(dtype, copy=False) @ m)
            out = y.astype(np.int64) + self.bias64
        if self.relu:
            # A zero array, not the scalar 0: numpy's scalar path of maximum is not vectorised.
            out = np.maximum(out, np.zeros_like(out))
        return out

    # ---------------------------------------------------------------- rows layout
    @cached_property
    def _consumers(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """For each input, the (output, weight) pairs of the nonzeros that read it."""
        uses: list[list[tuple[int, int]]] = [[] for _ in range(len(self.inputs))]
        for r, c, v in zip(self.rows, self.cols, self.vals):
            uses[c].append((r, v))
        return tuple(tuple(u) for u in uses)

    @property
    def _by_rows(self) -> bool:
        n_out, n_in = self.shape
        return self.nnz <= ROWS_MAX_NNZ or self.nnz <= ROWS_MAX_DENSITY * n_out * n_in

    def _apply_rows(self, x: np.ndarray, product: str, zeros: np.ndarray) -> np.ndarray:
        """``ReLU(W x + b)`` on points laid out as rows (``x[input, point]``), in x's integer
        type: one pass per nonzero when W is sparse, else a matrix product in the exact
        ``product`` arithmetic (float32, float64 or int64), cast back. The caller has proved
        every partial sum and weight fits x's type; ``zeros`` is a zero row at least as long."""
        dtype = x.dtype
        n = x.shape[1]
        bias = np.array(self.bias, dtype=dtype)[:, None]
        if self._by_rows:
            out = np.empty((len(self.outputs), n), dtype=dtype)
            out[:] = bias
            tmp = np.empty(n, dtype=dtype)
            for c, uses in enumerate(self._consumers):
                for r, v in uses:
                    _accumulate(out[r], v, x[c], tmp)
        elif product == "int64":
            out = np.asarray(self.csr @ x.astype(np.int64)).astype(dtype) + bias
        else:
            m = self._f32 if product == "float32" else self._f64  # W^T
            out = np.asarray(m.T @ x.astype(product)).astype(dtype) + bias
        if self.relu:
            np.maximum(out, zeros[None, :n], out=out)
        return out

    def _apply_python(self, x: np.ndarray) -> np.ndarray:
        xo = np.asarray(x, dtype=object)
        out = np.empty((xo.shape[0], len(self.outputs)), dtype=object)
        out[:] = np.array(self.bias, dtype=object)
        for r, c, v in zip(self.rows, self.cols, self.vals):
            out[:, r] = out[:, r] + v * xo[:, c]
        return out


def _accumulate(acc: np.ndarray, v: int, x: np.ndarray, tmp: np.ndarray) -> None:
    """``acc += v * x`` in place (``tmp`` is scratch of x's shape)."""
    if v == 1:
        np.add(acc, x, out=acc)
    elif v == -1:
        np.subtract(acc, x, out=acc)
    else:
        np.multiply(x, acc.dtype.type(v), out=tmp)
        np.add(acc, tmp, out=acc)


@dataclass(frozen=True)
class Plan:
    """How a batch over a box will be evaluated, and why that is exact."""

    arithmetic: str  # float32 | float64 | int64 | python
    max_partial_sum: int  # largest bound on any partial sum of any layer over the box
    layer_bounds: tuple[tuple[int, int], ...]  # per layer: (min pre-activation, max pre-act.)


@dataclass(frozen=True, eq=False)
class Network:
    """A sequence of layers whose layouts chain: layer i's outputs are layer i+1's inputs."""

    layers: tuple[Layer, ...]
    name: str = "network"

    def __post_init__(self) -> None:
        if not self.layers:
            raise ShapeError(f"network {self.name!r}: needs at least one layer")
        for i in range(len(self.layers) - 1):
            a, b = self.layers[i], self.layers[i + 1]
            if a.outputs != b.inputs:
                raise ShapeError(
                    f"network {self.name!r}: layer {i} ({a.label!r}) writes "
                    f"{len(a.outputs)} coordinates but layer {i + 1} ({b.label!r}) reads "
                    f"{len(b.inputs)} different ones"
                )

    @property
    def inputs(self) -> Layout:
        """Input coordinates."""
        return self.layers[0].inputs

    @property
    def outputs(self) -> Layout:
        """Output coordinates."""
        return self.layers[-1].outputs

    @property
    def depth(self) -> int:
        """Number of ReLU layers."""
        return sum(1 for layer in self.layers if layer.relu)

    @property
    def nnz(self) -> int:
        """Nonzero weights over all layers."""
        return sum(layer.nnz for layer in self.layers)

    @property
    def parameters(self) -> int:
        """Nonzero weights plus nonzero biases."""
        return sum(layer.nnz + sum(1 for b in layer.bias if b) for layer in self.layers)

    @property
    def widest(self) -> int:
        """Widest layer output."""
        return max(len(layer.outputs) for layer in self.layers)

    def then(self, other: Network, name: str | None = None) -> Network:
        """Composition: first ``self``, then ``other``."""
        return Network(self.layers + other.layers, name or f"{self.name}>{other.name}")

    # ---------------------------------------------------------------- bounds
    def plan(self, box: Sequence[tuple[int, int]]) -> Plan:
        """Interval bounds over the input box, and the cheapest exact arithmetic they allow."""
        if len(box) != len(self.inputs):
            raise ShapeError(
                f"network {self.name!r}: box has {len(box)} intervals for "
                f"{len(self.inputs)} inputs"
            )
        lo = np.array([int(a) for a, _ in box], dtype=object)
        hi = np.array([int(b) for _, b in box], dtype=object)
        worst = max([abs(v) for v in lo] + [abs(v) for v in hi] + [0])
        per_layer = []
        for layer in self.layers:
            plo, phi, mag = layer.preactivation_bounds(lo, hi)
            worst = max(worst, max(mag, default=0))
            per_layer.append((int(min(plo, default=0)), int(max(phi, default=0))))
            if layer.relu:
                lo = np.maximum(plo, 0)
                hi = np.maximum(phi, 0)
            else:
                lo, hi = plo, phi
        arith = "python"
        if all(layer._int64_ok for layer in self.layers):
            for name, limit in EXACT_LIMITS:
                if worst < limit:
                    arith = name
                    break
        return Plan(arith, int(worst), tuple(per_layer))

    # ---------------------------------------------------------------- evaluation
    def forward(self, x: np.ndarray, arithmetic: str) -> np.ndarray:
        """Evaluate a batch (batch, inputs) in the given arithmetic (see :meth:`plan`)."""
        if arithmetic == "python":
            x = np.asarray(x, dtype=object)
        elif x.dtype != np.int64:
            x = x.astype(np.int64)
        for layer in self.layers:
            x = layer.apply(x, arithmetic)
        return x

    def forward_exact(self, point: Mapping[str, int]) -> dict[str, int]:
        """One input, by name, in plain Python integers: the reference forward pass."""
        missing = [n for n in self.inputs if n not in point]
        if missing:
            raise ParameterError("point", f"<{len(point)} values>", f"a value for {missing[0]}")
        x = [int(point[n]) for n in self.inputs]
        for layer in self.layers:
            acc = list(layer.bias)
            for r, c, v in zip(layer.rows, layer.cols, layer.vals):
                acc[r] += v * x[c]
            x = [max(a, 0) for a in acc] if layer.relu else acc
        return dict(zip(self.outputs.names, x))

    def forward_z3(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The network over z3 terms (ReLU as ``If(x > 0, x, 0)``), by name.

        Inputs may be Ints or bit-vectors; with bit-vectors the caller picks a width in which
        no value of the network can wrap (see :meth:`plan`), so the encoding stays exact.
        """
        import z3

        x = [inputs[n] for n in self.inputs]
        first = x[0] if x else None
        bv = first is not None and z3.is_bv(first)

        ctx = first.ctx if first is not None else None
        width = int(first.size()) if bv and first is not None else 0

        def const(v: int) -> Any:
            if bv:
                return z3.BitVecVal(v, width, ctx)
            return z3.IntVal(v, ctx)

        for layer in self.layers:
            terms: list[list[Any]] = [[] for _ in range(len(layer.outputs))]
            for r, c, v in zip(layer.rows, layer.cols, layer.vals):
                terms[r].append(x[c] if v == 1 else const(v) * x[c])
            pre = []
            for r, ts in enumerate(terms):
                b = layer.bias[r]
                if not ts:
                    pre.append(const(b))
                    continue
                s = ts[0] if len(ts) == 1 else z3.Sum(*ts)
                pre.append(s + const(b) if b else s)
            zero = const(0)
            x = [z3.If(p > zero, p, zero) for p in pre] if layer.relu else pre
        return dict(zip(self.outputs.names, x))


class DeferredNetwork(Network):
    """A :class:`Network` whose layers are made on first use, by ``make``; what is known
    without them (input and output coordinates, depth) is given.

    For networks that are costly to form and often not needed: a folded computer's composed
    layers, whose run evaluates them in factored form instead. The layers ``make`` returns
    must chain from ``inputs`` to ``outputs`` with ``depth`` ReLU layers; that is checked when
    they are made.
    """

    _make: Callable[[], tuple[Layer, ...]]
    _known: tuple[Layout, Layout, int]

    def __init__(self, make: Callable[[], tuple[Layer, ...]], name: str, inputs: Layout,
                 outputs: Layout, depth: int) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "_make", make)
        object.__setattr__(self, "_known", (inputs, outputs, depth))

    @cached_property
    def layers(self) -> tuple[Layer, ...]:  # type: ignore[override]
        layers = tuple(self._make())
        Network(layers, self.name)  # the chain check of a Network
        inputs, outputs, depth = self._known
        if layers[0].inputs != inputs or layers[-1].outputs != outputs or \
                sum(layer.relu for layer in layers) != depth:
            raise ShapeError(f"network {self.name!r}: its layers do not read, write or "
                             f"rectify as declared")
        return layers

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the plain :class:`Network` of its layers (formed for it)."""
        return (Network, (self.layers, self.name))

    @property
    def inputs(self) -> Layout:
        """Input coordinates (known without the layers)."""
        return self._known[0]

    @property
    def outputs(self) -> Layout:
        """Output coordinates (known without the layers)."""
        return self._known[1]

    @property
    def depth(self) -> int:
        """Number of ReLU layers (known without the layers)."""
        return self._known[2]


class SplitEvaluator:
    """The network over blocks ``outer x inner`` of a split domain, outputs laid out as rows.

    ``inner_rows[i]`` are the values of the coordinates ``inner_names`` at inner member ``i``;
    a block is a run of outer members ``outer_rows[o]`` over ``outer_names``, and its points are
    ``(o, i)`` in the order ``o * n_inner + i`` (the inner member varies fastest).

    Layer 1's pre-activation at ``(o, i)`` is ``T_in[:, i] + T_out[:, o]`` with ``T_in = W_in
    x_in`` (computed once) and ``T_out = W_out x_out + b`` (once per block), in exact int64
    sparse products: both are partial sums of ``W x + b``. Every later value is a partial sum,
    a ReLU of one, or a weight (which the partial-sum bound does not cover when its input is
    always 0), so with ``plan.max_partial_sum`` and the largest weight below the limit of
    :attr:`arithmetic` (int16/int32/int64) nothing wraps. Layer 1 feeds layer 2 a few units at
    a time, so a block's hidden layer never has to fit in cache at once.
    """

    def __init__(self, net: Network, plan: Plan, inner_names: Sequence[str],
                 inner_rows: np.ndarray, outer_names: Sequence[str]) -> None:
        if plan.arithmetic == "python":
            raise ParameterError("plan", plan.arithmetic, "a plan whose bound fits int64")
        weight = max((abs(v) for layer in net.layers for v in layer.vals), default=0)
        bound = max(plan.max_partial_sum, weight)
        arithmetic = narrowest_int(bound)
        product = next((name for name, limit in EXACT_LIMITS if bound < limit), None)
        if arithmetic is None or product is None:
            raise ParameterError("plan", plan.max_partial_sum, "a bound below 2^62")
        self.net = net
        self.arithmetic = arithmetic
        self.product = product
        self.dtype = np.dtype(arithmetic)
        first = net.layers[0]
        inner_idx = net.inputs.indices(inner_names)
        outer_idx = net.inputs.indices(outer_names)
        if sorted(inner_idx + outer_idx) != list(range(len(net.inputs))):
            raise ShapeError(f"network {net.name!r}: the split must name every input once")
        self.n_inner = len(inner_rows)
        t_in = first.csr[:, inner_idx] @ np.asarray(inner_rows, dtype=np.int64).T
        self.t_in = np.ascontiguousarray(np.asarray(t_in).astype(self.dtype))
        self._w_out = first.csr[:, outer_idx]
        self._b_out = first.bias64[:, None]
        # Build what the blocks read now, before blocks run on several threads.
        for layer in net.layers[1:]:
            if layer._by_rows:
                _ = layer._consumers
            elif product == "int64":
                _ = layer.csr
            else:
                _ = layer._f32 if product == "float32" else layer._f64

    def block(self, outer_rows: np.ndarray) -> np.ndarray:
        """Outputs ``(len(outputs), len(outer_rows) * n_inner)`` of every point of the block."""
        layers = self.net.layers
        first, dtype = layers[0], self.dtype
        n_outer, n_inner = len(outer_rows), self.n_inner
        n = n_outer * n_inner
        t_out = np.asarray(self._w_out @ np.asarray(outer_rows, dtype=np.int64).T) + self._b_out
        zeros = np.zeros(n, dtype=dtype)
        if len(layers) > 1 and layers[1]._by_rows:
            x = self._fused(layers[1], t_out, n_outer)
            rest = layers[2:]
        else:
            pre = np.add(self.t_in[:, None, :], t_out.astype(dtype)[:, :, None])
            x = pre.reshape(len(first.outputs), n)
            if first.relu:
                np.maximum(x, zeros[None, :], out=x)
            rest = layers[1:]
        for layer in rest:
            x = layer._apply_rows(x, self.product, zeros)
        return x

    def _fused(self, second: Layer, t_out: np.ndarray, n_outer: int) -> np.ndarray:
        """Layer 2 of a block, the units of layer 1 formed, rectified and added in a few at a
        time, so the hidden layer of a block never has to be held (or fit in cache) at once."""
        first, dtype, n_inner = self.net.layers[0], self.dtype, self.n_inner
        n = n_outer * n_inner
        t_out = t_out.astype(dtype)
        group = max(1, min(_GROUP_POINTS // n, 16))
        zeros = np.zeros((group, n), dtype=dtype)
        x = np.empty((len(second.outputs), n), dtype=dtype)
        x[:] = np.array(second.bias, dtype=dtype)[:, None]
        units = np.empty((group, n_outer, n_inner), dtype=dtype)
        tmp = np.empty(n, dtype=dtype)
        for lo, hi in self._groups(second, group):
            part = units[:hi - lo]
            np.add(self.t_in[lo:hi, None, :], t_out[lo:hi, :, None], out=part)
            rows = part.reshape(hi - lo, n)
            if first.relu:
                # A zero array, not the scalar 0: numpy's scalar path of maximum is not
                # vectorised.
                np.maximum(rows, zeros[:hi - lo], out=rows)
            for row, uses in zip(rows, second._consumers[lo:hi]):
                for r, v in uses:
                    _accumulate(x[r], v, row, tmp)
        if second.relu:
            np.maximum(x, zeros[0][None, :], out=x)
        return x

    @staticmethod
    def _groups(second: Layer, size: int) -> list[tuple[int, int]]:
        """Runs ``lo..hi-1`` of at most ``size`` consecutive units of layer 1 that layer 2
        reads (a unit nobody reads is never formed)."""
        out: list[tuple[int, int]] = []
        for u, uses in enumerate(second._consumers):
            if not uses:
                continue
            if out and out[-1][1] == u and u - out[-1][0] < size:
                out[-1] = (out[-1][0], u + 1)
            else:
                out.append((u, u + 1))
        return out
