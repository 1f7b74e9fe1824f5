"""A fast, exact execution engine for looped networks: compiled once, run on batches of machines.

Design notes: docs/design/constructions.computer.runtime.md.
"""

from __future__ import annotations

import operator
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np
import scipy.sparse as sp

from constructions.machine.subleq import State, check_state
from verify.errors import ParameterError, ShapeError
from verify.exact.limits import limit
from verify.exact.precision import Certificate, Register, analyse
from verify.network import Layer, Network

from .folding import factored
from .model import Computer

try:  # the C kernels behind scipy's CSR products, called without the per-call checks
    from scipy.sparse import _sparsetools as _st
except ImportError:  # pragma: no cover - depends on the installed scipy
    _st = None

ARITHMETICS = ("auto", "int32", "int64", "float32")
"""Engine arithmetics; ``auto`` is the narrowest exact integer type."""

LIMITS: dict[str, int] = {kind: limit(kind, headroom=True)
                          for kind in ("float32", "int32", "int64")}
"""Each arithmetic is exact while every partial sum stays strictly below its limit
(:mod:`verify.exact.limits`)."""

_DTYPES: dict[str, type] = {"float32": np.float32, "int32": np.int32, "int64": np.int64}
_COMPACT_MIN = 16  # below this many columns a batch is not worth compacting
CHUNK_BYTES = 16 << 20
"""A batch run goes in chunks of machines whose buffer fits in this many bytes (a cache-sized
working set: past it a step gets slower per machine). Machines are independent, so how a batch
is cut changes no result."""
BURST = 64
"""A single machine is stepped in bursts of this many steps, each burst's states checked at
once (fixed point, box) in the order a step-by-step loop would check them."""
SHARE_MIN_SAVING = 64
"""A layer's partial sums are shared only when that saves this many multiplications per step:
below it, the extra product costs more than it saves."""


def _kernels_work_in_place() -> bool:
    """True when scipy's C kernels accumulate into a view of a larger array, as used here."""
    if _st is None or not hasattr(_st, "csr_matvec") or not hasattr(_st, "csr_matvecs"):
        return False
    try:
        indptr = np.array([0, 2, 3], dtype=np.int32)
        indices = np.array([0, 1, 2], dtype=np.int32)
        data = np.array([1, 2, 3], dtype=np.int32)
        one = np.array([1, 2, 3, 0, 0], dtype=np.int32)
        _st.csr_matvec(2, 3, indptr, indices, data, one, one[3:])
        many = np.array([[1, 10], [2, 20], [3, 30], [0, 0], [0, 0]], dtype=np.int32)
        _st.csr_matvecs(2, 3, 2, indptr, indices, data, many.reshape(-1),
                        many[3:].reshape(-1))
    except Exception:  # noqa: BLE001 - any failure means: use the public product instead
        return False
    return one[3:].tolist() == [5, 9] and many[3:].tolist() == [[5, 50], [9, 90]]


FAST_KERNELS = _kernels_work_in_place()
"""Whether the engine can call scipy's C kernels directly (else ``csr_matrix @``, same values)."""


def _kernels_chain_in_place() -> bool:
    """True when scipy's C kernels finish each row before the next (so a row reads the rows
    above it of the same call, written into the buffer it reads), as chained blocks need."""
    if not FAST_KERNELS:
        return False
    try:
        # slots 0..2 in, 3..4 out: row 0 = 2 x0, row 1 = x0 + (row 0), in the same call
        indptr = np.array([0, 1, 3], dtype=np.int32)
        indices = np.array([0, 0, 3], dtype=np.int32)
        data = np.array([2, 1, 1], dtype=np.int32)
        one = np.array([5, 0, 0, 0, 0], dtype=np.int32)
        _st.csr_matvec(2, 3, indptr, indices, data, one, one[3:])
        many = np.array([[5, 7], [0, 0], [0, 0], [0, 0], [0, 0]], dtype=np.int32)
        _st.csr_matvecs(2, 3, 2, indptr, indices, data, many.reshape(-1),
                        many[3:].reshape(-1))
    except Exception:  # noqa: BLE001 - any failure means: one call per block
        return False
    return one[3:].tolist() == [10, 15] and many[3:].tolist() == [[10, 14], [15, 21]]


CHAINED_KERNELS = _kernels_chain_in_place()
"""Whether a linear block and the block after it run as one kernel call (:func:`chain`)."""


_max, _min, _all = np.maximum.reduce, np.minimum.reduce, np.logical_and.reduce
_any_column = partial(np.logical_or.reduce, axis=0)


def _accumulate(out: np.ndarray, matrix: sp.csr_matrix, x: np.ndarray) -> None:
    """``out += matrix @ x`` through scipy's public product (when the C kernels are not used)."""
    out += matrix @ x


BOUNDS = ("auto", "interval", "certified")
"""Where the engine's partial-sum bound comes from: interval arithmetic over the box, or the
computer's precision certificate (:func:`certificate`); ``auto`` takes the certificate for a
Computer over canonical states and interval arithmetic otherwise."""


def match_registers(computer: Computer) -> list[Register]:
    """The address registers of a computer's matches, as bit forms over layer inputs.

    PC (fetch), the a and b fields (reads, write). In a folded profile a register read by a
    folded layer is the affine form its bits had before folding (``A_i = sum_p HI[p, i]``)."""
    size = computer.size
    out: list[Register] = [list(r) for r in computer.registers]
    for p in computer.placements:
        if p.role not in ("fetch", "read a", "read b", "write"):
            continue
        names = p.inputs[:size.pc_bits if p.role == "fetch" else size.addr_bits]
        out.append([{n: 1} for n in names])
        if computer.unfolded is None:
            continue
        for f in computer.folds:
            layer = computer.unfolded.layers[f]
            if all(n in layer.outputs for n in names):
                forms = [layer.row(n) for n in names]
                if all(b == 0 for _, b in forms):
                    out.append([c for c, _ in forms])
    return out


def step_network(computer: Computer) -> Network:
    """The network a run of ``computer`` steps: its network, or for a folded profile the same
    integer function in factored form (:func:`.folding.factored`: the unfolded layers, the
    folded ones without their ReLU), which never forms the composed weights."""
    if computer.unfolded is None:
        return computer.network
    return factored(computer.unfolded, computer.folds, computer.network.name + "~factored")


_CERTIFICATES: WeakKeyDictionary[Network, Certificate] = WeakKeyDictionary()


def certificate(computer: Computer) -> Certificate:
    """The computer's precision certificate over canonical states (:func:`verify.exact.precision.
    analyse` with its match registers), computed once per network object (never shared between
    two networks of one profile and size: a changed weight gets its own certificate)."""
    net = computer.network
    if net not in _CERTIFICATES:
        _CERTIFICATES[net] = analyse(net, registers=match_registers(computer))
    return _CERTIFICATES[net]


def choose_arithmetic(bound: int, dtype: str = "auto") -> str:
    """The engine arithmetic for a proved partial-sum bound, or a refusal naming the bound.

    ``auto`` gives ``int32`` below 2^31 and ``int64`` below 2^62; an explicit arithmetic is
    accepted only when the bound is below its limit (:data:`LIMITS`).
    """
    if dtype not in ARITHMETICS:
        raise ParameterError("dtype", dtype, f"one of {', '.join(ARITHMETICS)}")
    if dtype == "auto":
        for name in ("int32", "int64"):
            if bound < LIMITS[name]:
                return name
        raise ParameterError("max_partial_sum", bound,
                             "a bound below 2^62 for an exact integer engine; beyond it only "
                             "the reference evaluation (Python integers) is exact")
    if bound >= LIMITS[dtype]:
        exp = LIMITS[dtype].bit_length() - 1
        raise ParameterError("max_partial_sum", bound,
                             f"a bound below 2^{exp} = {LIMITS[dtype]} for the {dtype} engine "
                             f"to be exact (this bound is {bound / LIMITS[dtype]:.3g} times "
                             f"that)")
    return dtype


@dataclass(frozen=True, eq=False)
class Block:
    """Units of one dataflow level: ``buffer[start:stop] = W @ buffer[:start] + b``, then
    ``ReLU`` on ``buffer[relu_start:stop]`` (empty when no unit needs it).

    ``indices`` are slots below ``start`` (a block reads only earlier levels), so the product
    never reads what it writes.
    """

    label: str
    start: int
    stop: int
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    relu_start: int

    @property
    def rows(self) -> int:
        """Units computed."""
        return self.stop - self.start

    @property
    def relu(self) -> bool:
        """Whether a ReLU is applied to some of the units."""
        return self.relu_start < self.stop

    @property
    def nnz(self) -> int:
        """Nonzero weights multiplied."""
        return int(self.data.size)

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """The block as a scipy CSR matrix over the slots ``[0, start)``."""
        return sp.csr_matrix((self.data, self.indices, self.indptr),
                             shape=(self.rows, self.start))


def chain(blocks: Sequence[Block]) -> tuple[Block, ...]:
    """Each block without ReLU joined to the block after it (which starts where it stops),
    for kernels that finish a row before the next (:data:`CHAINED_KERNELS`).

    The joined block's rows are the first block's rows then the second's: in one call the
    second's rows read the first's values, already written, exactly as after two calls; no
    ReLU falls between them. Every row keeps its own entries, so every partial sum is the one
    it was. A joined block reads slots at or above its start, so it has no ``matrix``.
    """
    out: list[Block] = []
    for b in blocks:
        prev = out[-1] if out else None
        if prev is not None and not prev.relu and prev.stop == b.start:
            indptr = np.concatenate([prev.indptr, b.indptr[1:] + prev.indptr[-1]])
            out[-1] = Block(f"{prev.label}; {b.label}", prev.start, b.stop,
                            indptr.astype(prev.indptr.dtype),
                            np.concatenate([prev.indices, b.indices]),
                            np.concatenate([prev.data, b.data]), b.relu_start)
        else:
            out.append(b)
    return tuple(out)


@dataclass(frozen=True)
class MachineResult:
    """One machine of a batch run: as :class:`constructions.machine.subleq.RunResult`, without
    trace."""

    state: State
    steps: int
    halted: bool
    reason: str  # "halted" | "step limit"


@dataclass(frozen=True, eq=False)
class BatchRun:
    """The outcome of :meth:`Engine.run` for a batch of B machines.

    ``states[i]`` is machine i's final state vector (network input order, int64), ``steps[i]``
    the number of state-changing steps it took, ``halted[i]`` whether ``states[i]`` is a fixed
    point of the step. ``computer`` (when the engine was built from one) decodes the states.
    """

    states: np.ndarray
    steps: np.ndarray
    halted: np.ndarray
    computer: Computer | None = None

    def __len__(self) -> int:
        return int(self.steps.size)

    @property
    def machine_steps(self) -> int:
        """Steps taken over the whole batch."""
        return int(self.steps.sum())

    def machine(self, i: int) -> MachineResult:
        """Machine ``i`` decoded (needs an engine built from a :class:`Computer`)."""
        if self.computer is None:
            raise ParameterError("computer", None,
                                 "an engine built from a Computer to decode states")
        halted = bool(self.halted[i])
        return MachineResult(self.computer.decode(self.states[i]), int(self.steps[i]), halted,
                             "halted" if halted else "step limit")

    def machines(self) -> list[MachineResult]:
        """Every machine decoded, in batch order."""
        return [self.machine(i) for i in range(len(self))]


@dataclass
class _Pending:
    """Computed rows of one layer (or its shared sums) before slots are put in their order."""

    label: str
    start: int  # first slot, in layer order
    rows: list[list[tuple[int, int]]]  # (slot, weight) entries per row
    bias: list[int]
    relu: bool  # the ReLU must be applied
    nonneg: bool  # every value is >= 0 (ReLU applied, or proved >= 0 before it)
    shared: bool = False


def share_partial_sums(
    rows: list[list[tuple[int, int]]],
) -> tuple[list[tuple[tuple[int, int], ...]], list[list[tuple[int, int]]]]:
    """Split rows ``[(column, weight), ...]`` into shared sums and rows that read them.

    Returns ``(sums, new_rows)``: ``sums[k]`` is a tuple of (column, weight) entries, and in
    ``new_rows`` the column ``-1 - k`` stands for ``sums[k]`` with weight 1. For every row,
    ``sum(new_row)`` with each ``sums[k]`` substituted equals ``sum(row)``: a row is split only
    into one private entry (the one whose column the fewest rows read) and the rest, which
    becomes a shared sum when at least two rows have the same rest and sharing saves
    multiplications: g rows with a rest of s entries cost g (s + 1) unshared and s + 2 g shared.
    """
    freq = Counter(c for row in rows for c, _ in row)
    split: list[tuple[tuple[int, int], tuple[tuple[int, int], ...]] | None] = []
    for row in rows:
        if len(row) < 3:
            split.append(None)
            continue
        k = min(range(len(row)), key=lambda i: (freq[row[i][0]], i))
        split.append((row[k], tuple(sorted(row[:k] + row[k + 1:]))))
    groups = Counter(s[1] for s in split if s is not None)
    index: dict[tuple[tuple[int, int], ...], int] = {}
    sums: list[tuple[tuple[int, int], ...]] = []
    out: list[list[tuple[int, int]]] = []
    for row, s in zip(rows, split):
        if s is None or (groups[s[1]] - 1) * (len(s[1]) - 1) <= 1:
            out.append(row)
            continue
        if s[1] not in index:
            index[s[1]] = len(sums)
            sums.append(s[1])
        out.append([s[0], (-1 - index[s[1]], 1)])
    return sums, out


class Engine:
    """A network compiled for fast exact batched evaluation (see the module docstring).

    ``Engine(computer)`` or ``Engine(network)``; ``dtype`` is one of :data:`ARITHMETICS`.
    ``box`` is the input box the bounds are proved over (default ``[0, 1]`` on every
    coordinate: canonical states). ``share`` turns the shared partial sums on or off;
    ``fast=False`` uses the public scipy product instead of the C kernels (same values);
    ``chunk_bytes`` bounds the buffer of one chunk of a batch run (:data:`CHUNK_BYTES`).
    ``bounds="certified"`` (a Computer on canonical states only) takes the partial-sum bound
    from the computer's precision certificate instead of interval arithmetic (see the module
    docstring): float32 then runs wherever the certificate proves it exact, and int32 where
    interval arithmetic would need int64. ``bounds="auto"`` (the default) does so for every
    Computer without a ``box``; ``"interval"`` keeps the plain interval bound.
    """

    def __init__(self, target: Computer | Network, dtype: str = "auto", *,
                 box: Sequence[tuple[int, int]] | None = None, share: bool = True,
                 fast: bool = True, chunk_bytes: int = CHUNK_BYTES,
                 bounds: str = "auto") -> None:
        if isinstance(target, Computer):
            self.computer: Computer | None = target
            network = target.network
        elif isinstance(target, Network):
            self.computer = None
            network = target
        else:
            raise ParameterError("target", type(target).__name__, "a Computer or a Network")
        self.network = network
        self.width = len(network.inputs)
        self.box = [(0, 1)] * self.width if box is None else [(int(a), int(b)) for a, b in box]
        self.bound = network.plan(self.box).max_partial_sum
        if bounds not in BOUNDS:
            raise ParameterError("bounds", bounds, f"one of {', '.join(BOUNDS)}")
        if bounds == "auto":
            bounds = "certified" if self.computer is not None and box is None else "interval"
        self.bounds = bounds
        if bounds == "certified":
            if self.computer is None or box is not None:
                raise ParameterError("bounds", bounds, "an engine built from a Computer over "
                                     "canonical states (no box) for the certified bound")
            self.bound = min(self.bound, certificate(self.computer).needed("any"))
        self.arithmetic = choose_arithmetic(self.bound, dtype)
        self.dtype = np.dtype(_DTYPES[self.arithmetic])
        self._check_weights()
        self.share = share
        self.fast = bool(fast) and FAST_KERNELS
        self.loops = network.outputs == network.inputs
        self._compile()
        self.columns = max(1, int(chunk_bytes) // max(1, self.slots * self.dtype.itemsize))

    # ---------------------------------------------------------------- compilation
    def _check_weights(self) -> None:
        """Every weight and bias must be representable (even one that only multiplies 0)."""
        limit = LIMITS[self.arithmetic]
        for i, layer in enumerate(self.network.layers):
            if layer.entries is not None and int(np.abs(layer.entries[2]).max(initial=0)) < limit \
                    and int(np.abs(layer.bias64).max(initial=0)) < limit:
                continue
            big = [v for v in layer.vals + layer.bias if not -limit < v < limit]
            if big:
                raise ParameterError(f"layer {i} ({layer.label!r}) weight", big[0],
                                     f"weights and biases of magnitude below {limit} for the "
                                     f"{self.arithmetic} engine")

    def _compile(self) -> None:
        """Slots for every coordinate: copies alias their source, computed rows get blocks."""
        lo = np.array([a for a, _ in self.box], dtype=object)
        hi = np.array([b for _, b in self.box], dtype=object)
        slot = np.arange(self.width, dtype=np.int64)  # coordinate of the current layer -> slot
        nslots = self.width
        pending: list[_Pending] = []
        self.aliased = self.skipped = 0
        for layer in self.network.layers:
            plo, phi, _ = layer.preactivation_bounds(lo, hi)
            copy, src = self._copies(layer, (lo >= 0).astype(bool))
            new_slot = np.empty(len(layer.outputs), dtype=np.int64)
            new_slot[copy] = slot[src[copy]]
            computed = np.flatnonzero(~copy)
            self.aliased += int(copy.sum())
            self.skipped += int(layer.is_identity and not computed.size)
            if computed.size:
                rows = self._computed_rows(layer, computed, copy, slot)
                if self.share:
                    sums, shared = share_partial_sums(rows)
                    saved = sum(map(len, rows)) - sum(map(len, shared)) - sum(map(len, sums))
                    if saved >= SHARE_MIN_SAVING:
                        rows = shared
                        pending.append(_Pending(f"{layer.label} (shared sums)", nslots,
                                                [list(s) for s in sums], [0] * len(sums),
                                                False, False, True))
                        base, nslots = nslots, nslots + len(sums)
                        rows = [[(c if c >= 0 else base - 1 - c, v) for c, v in row]
                                for row in rows]
                relu = layer.relu and bool((plo[computed] < 0).any())
                pending.append(_Pending(layer.label, nslots, rows,
                                        [layer.bias[r] for r in computed], relu, layer.relu))
                new_slot[computed] = nslots + np.arange(computed.size)
                nslots += computed.size
            lo, hi = (np.maximum(plo, 0), np.maximum(phi, 0)) if layer.relu else (plo, phi)
            slot = new_slot
        self.slots = nslots
        self._close_loop(slot, pending, bool((lo >= 0).all()))

    @staticmethod
    def _computed_rows(layer: Layer, computed: np.ndarray, copy: np.ndarray,
                       slot: np.ndarray) -> list[list[tuple[int, int]]]:
        """The entries ``(slot of the input, weight)`` of each computed row, in row order."""
        if layer.entries is None:
            entries: list[list[tuple[int, int]]] = [[] for _ in range(len(layer.outputs))]
            for r, c, v in zip(layer.rows, layer.cols, layer.vals):
                entries[r].append((int(slot[c]), v))
            return [entries[r] for r in computed]
        er, ec, ev = layer.entries
        if er.size and (np.diff(er) < 0).any():  # each row's entries one run, in their order
            order = np.argsort(er, kind="stable")
            er, ec, ev = er[order], ec[order], ev[order]
        keep = ~copy[er]
        pairs = list(zip(slot[ec[keep]].tolist(), ev[keep].tolist()))
        counts = np.bincount(er[keep], minlength=len(layer.outputs))[computed].tolist()
        out: list[list[tuple[int, int]]] = []
        at = 0
        for n in counts:
            out.append(pairs[at:at + n])
            at += n
        return out

    @staticmethod
    def _copies(layer: Layer, nonneg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which output rows are copies ``y = x_src`` (exactly, given ``nonneg``), and src."""
        n_out = len(layer.outputs)
        if layer.entries is not None:
            er, ec, ev = layer.entries
            count = np.bincount(er, minlength=n_out)
            src = np.zeros(n_out, dtype=np.int64)
            src[er] = ec  # the last entry of a row, as the loop below leaves it
            unit = np.zeros(n_out, dtype=bool)
            unit[er] = ev == 1
            copy = (count == 1) & unit & (layer.bias64 == 0)
            if layer.relu:
                copy &= nonneg[src] if nonneg.size else False
            return copy, src
        count = np.zeros(n_out, dtype=np.int64)
        src = np.zeros(n_out, dtype=np.int64)
        unit = np.zeros(n_out, dtype=bool)
        for r, c, v in zip(layer.rows, layer.cols, layer.vals):
            count[r] += 1
            src[r] = c
            unit[r] = v == 1
        copy = (count == 1) & unit & np.array([b == 0 for b in layer.bias], dtype=bool)
        if layer.relu:
            copy &= nonneg[src] if nonneg.size else False
        return copy, src

    def _schedule(self, pending: list[_Pending]) -> tuple[list[list[_Pending]], np.ndarray]:
        """Group the blocks by dataflow level; the new slot of every slot.

        A block's level is one more than the highest level of the blocks it reads (the state is
        level 0). Blocks of one level read nothing of each other, so one product evaluates
        them all: units independent of the main chain (the next PC reads only PC) join the
        first level their inputs allow. Within a level the linear blocks (values may be
        negative) come first and the blocks whose values are >= 0 after them, so that the ReLU
        is applied to one run of slots, and is exact for every block in it: needed by some, an
        identity on the others (their pre-activations are proved >= 0).
        """
        width = self.width
        owner = np.full(self.slots, -1, dtype=np.int64)
        level = np.zeros(len(pending), dtype=np.int64)
        for i, p in enumerate(pending):
            owner[p.start:p.start + len(p.rows)] = i
            reads = np.array([c for r in p.rows for c, _ in r if c >= width], dtype=np.int64)
            level[i] = 1 + (int(level[owner[reads]].max()) if reads.size else 0)
        order: list[list[_Pending]] = []
        last = -1
        for i in sorted(range(len(pending)), key=lambda i: (level[i], pending[i].nonneg, i)):
            if level[i] != last:
                order.append([])
                last = int(level[i])
            order[-1].append(pending[i])
        new_slot = np.arange(max(self.slots, 1), dtype=np.int64)
        at = width
        for group in order:
            for p in group:
                new_slot[p.start:p.start + len(p.rows)] = np.arange(at, at + len(p.rows))
                at += len(p.rows)
        return order, new_slot

    def _close_loop(self, out_slot: np.ndarray, pending: list[_Pending],
                    out_nonneg: bool) -> None:
        """Order the slots (levels, then write-backs contiguous) and build the blocks."""
        width = self.width
        order, remap = self._schedule(pending)
        out_slot = remap[out_slot]
        perm = np.arange(width, dtype=np.int64)  # state slot -> input coordinate
        n_back = 0
        if self.loops:
            moved = np.flatnonzero(out_slot != np.arange(width))
            stay = np.flatnonzero(out_slot == np.arange(width))
            moved = moved[np.argsort(out_slot[moved], kind="stable")]
            perm = np.concatenate([moved, stay])
            n_back = int(moved.size)
        where = np.empty(width, dtype=np.int64)  # input coordinate -> its state slot
        where[perm] = np.arange(width)
        remap[:width] = where
        out_slot[out_slot < width] = where[out_slot[out_slot < width]]
        self.perm, self.state_slot, self.out_slot = perm, where, out_slot
        index_type = np.int32 if self.slots < (1 << 31) else np.int64
        blocks = []
        bias: list[int] = []
        start = width
        for group in order:
            rows = [r for p in group for r in p.rows]
            indptr = np.cumsum([0] + [len(r) for r in rows]).astype(index_type)
            cols = np.array([c for r in rows for c, _ in r], dtype=np.int64)
            vals = np.array([v for r in rows for _, v in r], dtype=np.int64)
            linear = sum(len(p.rows) for p in group if not p.nonneg)
            relu = any(p.relu for p in group)
            blocks.append(Block(" + ".join(p.label for p in group), start, start + len(rows),
                                indptr, remap[cols].astype(index_type), vals.astype(self.dtype),
                                start + linear if relu else start + len(rows)))
            bias += [b for p in group for b in p.bias]
            start += len(rows)
        self.blocks = tuple(blocks)
        self.chained = chain(self.blocks) if CHAINED_KERNELS else self.blocks
        self._bias = np.array(bias, dtype=np.int64).astype(self.dtype).reshape(-1, 1)
        self._zero = self.dtype.type(0)
        self.n_back = n_back
        self.back_src = self.out_slot[perm[:n_back]]
        src = self.back_src
        # one slice when the coordinates a step computes lie in one run of computed slots
        self.back_run = bool(n_back and src[0] >= width
                             and np.array_equal(src, np.arange(src[0], src[0] + n_back)))
        self._out_nonneg = out_nonneg
        lo = np.array([a for a, _ in self.box], dtype=np.int64)[perm]
        hi = np.array([b for _, b in self.box], dtype=np.int64)[perm]
        self._lo, self._hi = lo.reshape(-1, 1), hi.reshape(-1, 1)
        self._uniform = bool(width and (lo == lo[0]).all() and (hi == hi[0]).all())

    # ---------------------------------------------------------------- facts
    @property
    def nnz(self) -> int:
        """Nonzero weights the engine multiplies per step (copies and identities excluded)."""
        return sum(b.nnz for b in self.blocks)

    def describe(self) -> dict[str, Any]:
        """What the compilation did, for reports."""
        return {"arithmetic": self.arithmetic, "max_partial_sum": self.bound,
                "bounds": self.bounds,
                "layers": len(self.network.layers), "blocks": len(self.blocks),
                "relu_blocks": sum(b.relu for b in self.blocks),
                "kernel_calls": len(self.chained if self.fast else self.blocks),
                "identity_layers_skipped": self.skipped, "copies_aliased": self.aliased,
                "network_nnz": self.network.nnz, "engine_nnz": self.nnz, "slots": self.slots,
                "c_kernels": self.fast}

    # ---------------------------------------------------------------- evaluation
    def _load(self, x: Any) -> np.ndarray:
        """A (B, width) batch of states in the box -> a fresh buffer (slots, B) holding them."""
        arr = np.asarray(x)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.width:
            raise ShapeError(f"engine for {self.network.name!r}: states must have shape "
                             f"(batch, {self.width}), got {arr.shape}")
        if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
            raise ParameterError("state", "non-integer values", "integer coordinates")
        if arr.dtype.kind not in "iubf":
            raise ParameterError("state dtype", str(arr.dtype), "an integer array")
        state = arr[:, self.perm].T
        if not self._inside(state, self._lo, self._hi, False):
            raise ParameterError("state", "a coordinate outside the box",
                                 "every coordinate inside the box the bounds are proved over "
                                 "(canonical states: 0 or 1)")
        buf = np.empty((self.slots, arr.shape[0]), dtype=self.dtype)
        buf[:self.width] = state
        return buf

    def _inside(self, state: np.ndarray, lo: np.ndarray, hi: np.ndarray, nonneg: bool) -> bool:
        """Whether every coordinate lies in [lo, hi] (``nonneg``: known >= 0 already)."""
        if not state.size:
            return True
        if self._uniform:
            low, high = lo[0, 0], hi[0, 0]
            return bool(_max(state, axis=None) <= high
                        and ((nonneg and low <= 0) or _min(state, axis=None) >= low))
        return bool(np.all(state >= lo) and np.all(state <= hi))

    def _program(self, buf: np.ndarray) -> list[Callable[[], Any]]:
        """The calls that evaluate every block into ``buf`` (slots, batch), in layer order.

        Bound once per buffer, so a step is a loop over prepared calls: no slicing, no lookups.
        """
        batch = buf.shape[1]
        flat = buf.reshape(-1)
        calls: list[Callable[[], Any]] = [partial(np.copyto, buf[self.width:], self._bias)]
        blocks = self.chained if self.fast else self.blocks
        # ReLU against an array of zeros: numpy's path for a scalar operand is twice as slow
        zeros = np.zeros((max((b.stop - b.relu_start for b in blocks), default=0), batch),
                         dtype=self.dtype)
        for b in blocks:
            out = buf[b.start:b.stop]
            if not self.fast:
                calls.append(partial(_accumulate, out, b.matrix, buf[:b.start]))
            elif batch == 1:
                calls.append(partial(_st.csr_matvec, b.rows, b.start, b.indptr, b.indices,
                                     b.data, flat, out.reshape(-1)))
            else:
                calls.append(partial(_st.csr_matvecs, b.rows, b.start, batch, b.indptr,
                                     b.indices, b.data, flat, out.reshape(-1)))
            if b.relu:
                act = buf[b.relu_start:b.stop]
                calls.append(partial(np.maximum, act, zeros[:b.stop - b.relu_start], out=act))
        return calls

    def _bind(self, buf: np.ndarray) -> tuple[list[Callable[[], Any]], np.ndarray, np.ndarray,
                                              np.ndarray, np.ndarray]:
        """For a run over ``buf``: the step's calls (ending with the gather of the new values
        of the state slots a step changes, where they are not one slice), those state slots
        (``old``), their new values (``new``), and scratch space for comparing them."""
        n_back, src = self.n_back, self.back_src
        old = buf[:n_back]
        program = self._program(buf)
        if self.back_run:
            new = buf[src[0]:src[0] + n_back]
        else:
            new = np.empty_like(old)
            program.append(partial(buf.take, src, 0, new))
        return (program, old, new, np.empty(old.shape, dtype=bool),
                np.empty(buf.shape[1], dtype=bool))

    def _layers(self, buf: np.ndarray) -> None:
        """Evaluate every block into ``buf`` once (see :meth:`_program`)."""
        for call in self._program(buf):
            call()

    def step(self, x: Any) -> np.ndarray:
        """One application of the network to a batch ``x`` (B, width): the (B, outputs) result.

        Equal to ``network.forward(x, plan.arithmetic)``; states outside the box are refused.
        """
        buf = self._load(x)
        self._layers(buf)
        return buf[self.out_slot].T.astype(np.int64)

    def stepper(self) -> Callable[[np.ndarray], np.ndarray]:
        """One machine stepped again and again: a function from a state vector (network input
        order) to the next one, as :meth:`step` on a batch of one, in one buffer bound once.

        Every state it is given is checked against the box first.
        """
        self._check_loops()
        buf = np.empty((self.slots, 1), dtype=self.dtype)
        program = self._program(buf)
        perm, out_slot, lo, hi = self.perm, self.out_slot, self._lo, self._hi
        state = buf[:self.width]

        def step(x: np.ndarray) -> np.ndarray:
            vec = np.asarray(x).reshape(-1)
            if vec.size != self.width:
                raise ShapeError(f"engine for {self.network.name!r}: a state must have "
                                 f"{self.width} coordinates, got {vec.size}")
            col = vec[perm].reshape(-1, 1)
            if not self._inside(col, lo, hi, False):
                raise ParameterError("state", "a coordinate outside the box",
                                     "every coordinate inside the box the bounds are proved "
                                     "over (canonical states: 0 or 1)")
            state[...] = col
            for call in program:
                call()
            return buf[out_slot, 0].astype(np.int64)

        return step

    def _check_loops(self) -> None:
        if not self.loops:
            raise ShapeError(f"network {self.network.name!r}: its outputs are not its inputs, "
                             f"so it cannot be looped")

    def _batch(self, states: Any) -> np.ndarray:
        """States (an array, or a sequence of State or of vectors) as a (B, width) array."""
        if isinstance(states, np.ndarray):
            return states if states.ndim == 2 else states.reshape(1, -1)
        seq = list(states)
        if not seq:
            return np.zeros((0, self.width), dtype=np.int64)
        if isinstance(seq[0], State):
            if self.computer is None:
                raise ParameterError("states", "State objects",
                                     "state vectors for an engine built from a Network")
            for s in seq:
                check_state(s, self.computer.size)
            return np.stack([self.computer.encode(s) for s in seq])
        return np.asarray(seq)

    def run(self, states: Any, max_steps: int) -> BatchRun:
        """Step a batch of machines until each halts or ``max_steps`` steps (see module doc).

        ``states``: a (B, width) array of state vectors, or a sequence of
        :class:`~constructions.machine.subleq.State` (for an engine built from a Computer).
        """
        self._check_loops()
        if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) \
                or max_steps < 0:
            raise ParameterError("max_steps", max_steps, "a non-negative integer")
        x = self._batch(states)
        total = x.shape[0]
        final = np.zeros((total, self.width), dtype=np.int64)
        steps = np.zeros(total, dtype=np.int64)
        halted = np.zeros(total, dtype=bool)
        for i in range(0, total, self.columns):
            j = min(total, i + self.columns)
            if j - i == 1:
                self._run_one(x[i:j], max_steps, final[i:j], steps[i:j], halted[i:j])
            else:
                self._run_chunk(x[i:j], max_steps, final[i:j], steps[i:j], halted[i:j])
        return BatchRun(final, steps, halted, self.computer)

    def _run_chunk(self, x: np.ndarray, max_steps: int, final: np.ndarray, steps: np.ndarray,
                   halted: np.ndarray) -> None:
        """:meth:`run` on one chunk of machines, writing into the chunk's result rows."""
        total = x.shape[0]
        buf = self._load(x)
        ids = np.arange(total)  # buffer column -> machine
        live = np.ones(total, dtype=bool)  # per buffer column: still counting steps
        n_live = total
        lo, hi = self._lo[:self.n_back], self._hi[:self.n_back]
        # the common case, canonical states: new values are >= 0, so only the top is checked
        top = int(hi[0, 0]) if self._uniform and self._out_nonneg and lo.size and \
            lo[0, 0] <= 0 else None
        program, old, new, neq, changed = self._bind(buf)
        t = 0
        while True:
            for call in program:
                call()
            _any_column(np.not_equal(new, old, out=neq), out=changed)
            if not _all(changed) and n_live > int(np.count_nonzero(changed & live)):
                stopped = live & ~changed
                halted[ids[stopped]] = True
                steps[ids[stopped]] = t
                live &= changed
                n_live = int(live.sum())
            if n_live == 0 or t == max_steps:
                break
            if (_max(new, axis=None) > top) if top is not None else \
                    not self._inside(new, lo, hi, self._out_nonneg):
                raise ParameterError("state", f"a coordinate outside the box after step {t + 1}",
                                     "a network that maps the box into itself")
            old[...] = new
            t += 1
            if 2 * n_live < buf.shape[1] and buf.shape[1] >= _COMPACT_MIN:
                done = ~live
                final[ids[done]] = buf[self.state_slot][:, done].T
                buf = np.ascontiguousarray(buf[:, live])
                ids, live = ids[live], np.ones(n_live, dtype=bool)
                program, old, new, neq, changed = self._bind(buf)
        steps[ids[live]] = t
        final[ids] = buf[self.state_slot].T

    def _run_one(self, x: np.ndarray, max_steps: int, final: np.ndarray, steps: np.ndarray,
                 halted: np.ndarray) -> None:
        """:meth:`run` on one machine, with the same results as :meth:`_run_chunk`.

        A step is only the program and two copies: the new state is kept in a history of
        :data:`BURST` steps, and the checks of a step (fixed point, box) are made for the whole
        burst at once, each in the order the step-by-step loop makes them (a whole burst's
        calls run from one list, without a Python loop per call). Every state fed to the
        network is still checked against the box before a result is given.
        """
        buf = self._load(x)
        program, old, new, _, _ = self._bind(buf)
        n_back = self.n_back
        hist = np.empty((BURST + 1, n_back), dtype=self.dtype)
        old1, new1 = old[:, 0], new[:, 0]
        record = [partial(np.copyto, hist[i], new1) for i in range(BURST + 1)]
        feed = partial(np.copyto, old1, new1)
        # a whole burst as one list of calls, run by a C loop (no Python loop per call)
        burst = [c for i in range(1, BURST + 1) for c in (*program, record[i], feed)]
        lo, hi = self._lo[:n_back, 0], self._hi[:n_back, 0]
        t = 0  # steps taken: hist[0] is the state after t steps (already checked)
        while True:
            k = min(BURST, max_steps - t + 1)  # computes the states after t+1 .. t+k steps
            hist[0] = old1
            if k == BURST:
                deque(map(operator.call, burst), maxlen=0)  # type: ignore[arg-type]
            else:
                for i in range(1, k + 1):
                    for step_call in program:
                        step_call()
                    record[i]()
                    feed()
            rows = hist[:k + 1]
            same = np.flatnonzero((rows[1:] == rows[:-1]).all(axis=1))
            fixed = int(same[0]) if same.size else None  # halted after t + fixed steps
            fed = fixed if fixed is not None else k if t + k <= max_steps else k - 1
            outside = np.flatnonzero(((rows[1:fed + 1] < lo) | (rows[1:fed + 1] > hi))
                                     .any(axis=1))
            if outside.size:
                raise ParameterError("state", f"a coordinate outside the box after step "
                                     f"{t + 1 + int(outside[0])}",
                                     "a network that maps the box into itself")
            if fixed is not None or t + k > max_steps:
                last = fixed if fixed is not None else k - 1
                vec = buf[:self.width, 0].astype(np.int64)
                vec[:n_back] = rows[last]
                final[0] = vec[self.state_slot]
                steps[0] = t + last
                halted[0] = fixed is not None
                return
            t += k
