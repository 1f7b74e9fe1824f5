"""The exhaustive method's grid path: the domain laid out as a grid of axes, and every value of
the network and of the spec held only over the axes it depends on.

The grid is ``outer x A_(m-1) x ... x A_0`` (numpy shape in that order, so its C order is the
domain's enumeration order), its axes from repeated :meth:`Domain.split`: ``A_0`` (the fastest,
the innermost numpy loop) of up to 4096 members, then axes of a few members each, up to 2^20
inner members in all; the outer rest is enumerated. A value that does not depend on an axis has
size 1 there and broadcasts, and a value that does not depend on the outer members is computed
once, before the blocks, and reused by each of them. A block is a run of outer members, or one
outer member and a run of members of ``A_(m-1)``. On a subtract of 12 bits, output bit ``i``
reads bits ``0..i`` of both words only: bits 0..7 are computed once, over their few axes, and
a block evaluates the units of bits 8..11 only.

Exactness: every array holds integers in the narrowest type of ``int16/int32/int64`` whose
limit exceeds the plan's bound on every partial sum (``Plan.max_partial_sum``, which holds for
any subset of a unit's terms in any order) and every weight, so no sum, product or ReLU wraps;
the tables of the first layer are exact int64 products cast to it. Two units that form a step
(:meth:`GridEvaluator._step_pairs`) are added as one term whose magnitude is at most theirs.
The spec and the domain's predicate run on the grid's columns only when an interval run bounds
all their values (their type is the one :func:`verify.methods.exhaustive` picks for the other
paths too). A probe checks on the first members of the first block and the last of the last
one that the grid's columns are the domain's own ``decode``, that the network's values are
those of :meth:`Network.forward`, and that the spec and the predicate give on the grid what
they give on flat columns; every counterexample is replayed, as on every path.

Design notes: docs/design/verify.methods.grid.md.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from verify.domains import Domain
from verify.errors import InternalError
from verify.network import INT_LIMITS, Network, Plan, narrowest_int
from verify.obligation import Obligation
from verify.spec_terms import on_columns

from .base import spec_array

FAST_AXIS = 1 << 12
"""Most members of the fastest axis (the innermost numpy loop)."""
INNER = 1 << 20
"""Most members of the inner axes together: a value over them only is computed once."""
AXIS_STEP = 4
"""Most members of an inner axis after the fastest: the finer the axes, the fewer members a
value that depends on few coordinates is computed on."""
MEMORY = 1 << 28
"""Bytes the values cached over the inner axes, or one block's values of a layer, may take;
beyond that the grid path is not taken."""
TERMS = 1 << 13
"""Most units of layer 1 and nonzero weights after it that a block may pass over one by one."""
PROBE = 1 << 10
"""Members at the start of the first block and at the end of the last one that the probe
checks against the domain's decode, the flat spec and :meth:`Network.forward`."""

Found = tuple[int, int, dict[str, int] | None]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_kept = False


def keep_freed_memory() -> None:
    """Ask glibc's malloc, once per process, to keep freed memory for the next allocation:
    blocks of up to 32 MiB from the heap rather than a fresh mmap, and up to 256 MiB free at the
    top of a heap before it is given back. The spec's temporaries are new arrays in every
    block; fresh pages cost their first touch, and subtract at 12 bits took 1.6 to 1.8 times
    the CPU time with glibc's defaults. A process-wide setting (the memory stays with the
    process); nothing on another C library."""
    global _kept
    if _kept:
        return
    _kept = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):  # not glibc: its allocator, its defaults
        pass


@dataclass(frozen=True)
class Grid:
    """The domain's members as ``inner axes x outer``: ``axes[0]`` varies fastest, then
    ``axes[1]``, then the outer domain; member ``d0 + |A0| (d1 + |A1| o)`` is axis members
    ``d0``, ``d1`` with outer member ``o``."""

    axes: tuple[Domain, ...]
    outer: Domain

    @property
    def inner_count(self) -> int:
        n = 1
        for a in self.axes:
            n *= a.count
        return n

    @property
    def inner_shape(self) -> tuple[int, ...]:
        """The numpy shape of the inner axes (slowest first)."""
        return tuple(a.count for a in reversed(self.axes))


def grid_layout(dom: Domain, fast: int = FAST_AXIS, inner: int = INNER,
                step: int = AXIS_STEP) -> Grid | None:
    """The grid of ``dom`` (see :class:`Grid`): a fastest axis of up to ``fast`` members, then
    axes of up to ``step`` members while the inner ones hold at most ``inner``, the rest
    outer. None when the fastest axis would have fewer than ``fast / 16`` members (too short
    an innermost loop)."""
    parts = dom.split(fast)
    if parts is None or parts[0].count * 16 < fast:
        return None
    axes, rest = [parts[0]], parts[1]
    count = parts[0].count
    while count * 2 <= inner:
        parts = rest.split(min(step, inner // count))
        if parts is None:
            break
        axes.append(parts[0])
        count *= parts[0].count
        rest = parts[1]
    return Grid(tuple(axes), rest)


def _shape(mask: int, sizes: Sequence[int]) -> tuple[int, ...]:
    """The shape of a value that depends on the grid positions in the bit mask ``mask``."""
    return tuple(s if mask >> p & 1 else 1 for p, s in enumerate(sizes))


def _size(mask: int, sizes: Sequence[int]) -> int:
    n = 1
    for p, s in enumerate(sizes):
        if mask >> p & 1:
            n *= s
    return n


class GridEvaluator:
    """The network over the blocks of a :class:`Grid`, each value over its own axes.

    Grid position 0 is the outer run, position ``m - a`` inner axis ``a`` (of ``m``). A unit of
    layer 1 depends on inner axis ``a`` when its part ``W_a x_a`` varies along that axis (a
    constant part joins its bias), and on the outer run when it has a weight on an outer
    coordinate; a later unit depends on what its inputs depend on. Units that no checked output
    reads are never formed.
    """

    def __init__(self, net: Network, plan: Plan, grid: Grid, outputs: Sequence[str],
                 per: int, sub: int) -> None:
        if plan.arithmetic == "python":
            raise InternalError("the grid path needs a plan whose bound fits int64; this is a "
                                "bug in the checker")
        weight = max((abs(v) for layer in net.layers for v in layer.vals), default=0)
        name = narrowest_int(max(plan.max_partial_sum, weight))
        if name is None:
            raise InternalError("the grid path needs a bound below 2^62; this is a bug in the "
                                "checker")
        self.net, self.grid, self.per = net, grid, per
        self.arithmetic = name
        self.bound = plan.max_partial_sum
        self.dtype = dtype = np.dtype(name)
        m = len(grid.axes)
        self.ndim = m + 1
        self.sizes = [per] + list(grid.inner_shape)  # position -> size (outer: per)
        # A block's sizes: ``sub`` members of the slowest inner axis (position 1) when there
        # are two inner axes or more.
        self.block_sizes = [per, sub] + self.sizes[2:] if m >= 2 else list(self.sizes)
        layers = net.layers
        first = layers[0]
        n0 = len(first.outputs)
        # Layer 1: one exact int64 table per inner axis, its constant rows folded in the bias.
        const = first.bias64.copy()
        masks0 = np.zeros(n0, dtype=np.int64)
        self._tables: list[tuple[int, np.ndarray]] = []  # (position, table in dtype)
        varies_by_axis = []
        for a, axis in enumerate(grid.axes):
            rows = axis.decode(np.arange(axis.count, dtype=np.int64))
            idx = net.inputs.indices(axis.names)
            table = np.asarray(first.csr[:, idx] @ rows.T, dtype=np.int64).reshape(n0, -1)
            varies = (table != table[:, :1]).any(axis=1)
            const += np.where(varies, 0, table[:, 0])
            masks0 |= np.where(varies, 1 << (m - a), 0)
            self._tables.append((m - a, table.astype(dtype)))
            varies_by_axis.append(varies)
        self._varies = varies_by_axis
        outer_idx = net.inputs.indices(grid.outer.names)
        self._w_out = first.csr[:, outer_idx].tocsr()
        masks0 |= np.where(np.diff(self._w_out.indptr) > 0, 1, 0)
        self._const = const
        # Which units the checked outputs read, layer by layer (backwards).
        out_idx = net.outputs.indices(outputs)
        self.out_idx = out_idx
        needed: list[np.ndarray] = [np.zeros(len(layer.outputs), dtype=bool) for layer in layers]
        needed[-1][out_idx] = True
        for k in range(len(layers) - 1, 0, -1):
            rows_k = np.array(layers[k].rows, dtype=np.int64)
            cols_k = np.array(layers[k].cols, dtype=np.int64)
            if len(rows_k):
                needed[k - 1][cols_k[needed[k][rows_k]]] = True
        self._needed = needed
        masks = [[int(v) for v in masks0]]
        for k in range(1, len(layers)):
            mk = [0] * len(layers[k].outputs)
            for r, c in zip(layers[k].rows, layers[k].cols):
                mk[r] |= masks[k - 1][c]
            masks.append(mk)
        self.masks = masks
        self._consumers = [_consumers(layer.rows, layer.cols, layer.vals, len(layer.inputs))
                           for layer in layers[1:]]
        self._zeros: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}
        self._zeros_lock = threading.Lock()
        self._local = threading.local()
        self.feasible = self._fits_memory()
        if self.feasible:
            self._cache_inner()
            self._cache_rest()

    # ------------------------------------------------------------------ setup
    def _outer_dep(self, k: int, u: int) -> bool:
        return bool(self.masks[k][u] & 1)

    def _fits_memory(self) -> bool:
        """Whether the cached values and one block's values of the widest layer stay within
        :data:`MEMORY`, and a block's passes within :data:`TERMS` (the split path multiplies
        fuller layers as matrices)."""
        item = self.dtype.itemsize
        terms = int(self._needed[0].sum())
        for k, layer in enumerate(self.net.layers[1:], start=1):
            terms += sum(1 for r in layer.rows if self._needed[k][r])
        if terms > TERMS:
            return False
        for k, layer in enumerate(self.net.layers):
            inner = dep = 0
            for u in range(len(layer.outputs)):
                if not self._needed[k][u]:
                    continue
                if self._outer_dep(k, u):
                    dep += _size(self.masks[k][u], self.block_sizes) * item
                else:
                    inner += _size(self.masks[k][u], self.sizes) * item
            if inner > MEMORY or dep > MEMORY:
                return False
        return True

    def _layer0(self, u: int, outer_part: Any) -> np.ndarray:
        """Unit ``u`` of layer 1 (before its ReLU), a new array: ``const + outer_part`` plus
        the tables of the axes it varies along, smaller ones first."""
        val = np.asarray(self._const[u] + outer_part).astype(self.dtype)
        parts = [(p, t[u]) for (p, t), v in zip(self._tables, self._varies) if v[u]]
        parts.sort(key=lambda pt: len(pt[1]))
        for p, row in parts:
            shape = [1] * self.ndim
            shape[p] = len(row)
            val = val + row.reshape(shape)
        return val

    def _cache_rest(self) -> None:
        """For each unit of layer 1 that depends on the outer run: its constant plus its tables
        of the inner axes but the fastest (a small array), and its table of the fastest axis
        shaped to broadcast along it (None when it does not vary there)."""
        fast = self._tables[0][1]
        fast = fast.reshape((len(fast),) + (1,) * (self.ndim - 1) + (fast.shape[1],))
        self._rest: dict[int, np.ndarray] = {}
        self._fast: dict[int, np.ndarray | None] = {}
        for u in range(len(self.net.layers[0].outputs)):
            if not (self._needed[0][u] and self._outer_dep(0, u)):
                continue
            val = np.array(self._const[u], dtype=self.dtype)
            for (p, t), v in zip(self._tables[1:], self._varies[1:]):
                if v[u]:
                    shape = [1] * self.ndim
                    shape[p] = t.shape[1]
                    val = val + t[u].reshape(shape)
            val.flags.writeable = False
            self._rest[u] = val
            self._fast[u] = fast[u] if self._varies[0][u] else None
        self._steps = self._step_pairs()
        # ``1 - z`` of a partial sum ``z`` stays in the type only below its limit.
        self._step_compare = self.bound + 1 < dict(INT_LIMITS)[self.arithmetic]

    def _step_pairs(self) -> list[tuple[int, bool]]:
        """The units of layer 1 that depend on the outer run, in order, each with whether it
        stands for a step: unit ``u`` and a unit ``v`` with the same weights, bias one less, and
        the opposite weight in every unit of layer 2 that reads either. Their terms ``w ReLU(z)
        - w ReLU(z - 1)`` add up to ``w min(max(z, 0), 1)`` for integer ``z``, two passes
        fewer than the two units (the ``ReLU(x + 1) - ReLU(x)`` of every gadget's steps); the
        term is at most ``|w| ReLU(z)`` in magnitude, so the bound on partial sums still
        holds. ``v`` is then left out of the list."""
        layers = self.net.layers
        order = [u for u in range(len(layers[0].outputs))
                 if self._needed[0][u] and self._outer_dep(0, u)]
        if len(layers) == 1 or not layers[0].relu:
            return [(u, False) for u in order]
        first = layers[0]
        weights: dict[int, list[tuple[int, int]]] = {}
        for r, c, v in zip(first.rows, first.cols, first.vals):
            weights.setdefault(r, []).append((c, v))
        needed = self._needed[1]

        def reads(u: int) -> dict[int, int]:
            total: dict[int, int] = {}
            for r, w in self._consumers[0][u]:
                if needed[r]:
                    total[r] = total.get(r, 0) + w
            return total

        by_row: dict[tuple[Any, ...], dict[int, int]] = {}
        for u in order:
            by_row.setdefault(tuple(weights.get(u, ())), {})[first.bias[u]] = u
        taken: set[int] = set()  # units already in the list, alone or as a step's v
        out: list[tuple[int, bool]] = []
        for u in order:
            if u in taken:
                continue
            taken.add(u)
            same = by_row[tuple(weights.get(u, ()))]
            opposite = {r: -w for r, w in reads(u).items()}
            for delta in (-1, 1):  # u the upper unit of a step, or the lower one
                partner = same.get(first.bias[u] + delta)
                if partner is not None and partner not in taken and reads(partner) == opposite:
                    taken.add(partner)
                    out.append((u if delta == -1 else partner, True))
                    break
            else:
                out.append((u, False))
        return out

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        """A read-only zero array of ``shape`` (the ReLU's second operand: numpy's path for a
        scalar 0 is not vectorised)."""
        return self._constant(0, shape)

    def ones(self, shape: tuple[int, ...]) -> np.ndarray:
        """A read-only array of ones of ``shape`` (the top of a step)."""
        return self._constant(1, shape)

    def _constant(self, value: int, shape: tuple[int, ...]) -> np.ndarray:
        z = self._zeros.get((value, shape))
        if z is None:
            with self._zeros_lock:
                z = self._zeros.get((value, shape))
                if z is None:
                    z = np.full(shape, value, dtype=self.dtype)
                    z.flags.writeable = False
                    self._zeros[(value, shape)] = z
        return z

    def _relu(self, x: np.ndarray) -> None:
        np.maximum(x, self.zeros(x.shape), out=x)

    def _cache_inner(self) -> None:
        """The values that do not depend on the outer run, once: the checked outputs among
        them (``self._fixed``) and, for each unit that does depend on it, the sum of its bias
        and its terms that do not (``self._parts``). Each value of a layer is added into the
        next layer's sums as soon as it is formed, so few are held at once."""
        layers = self.net.layers
        inner_sizes = [1] + self.sizes[1:]

        def first() -> Any:
            for u in range(len(layers[0].outputs)):
                if self._needed[0][u] and not self._outer_dep(0, u):
                    val = self._layer0(u, 0)
                    if layers[0].relu:
                        self._relu(val)
                    yield u, val

        values: Any = first()
        self._parts: list[dict[int, np.ndarray]] = [{}]
        for k in range(1, len(layers)):
            layer, needed = layers[k], self._needed[k]
            fixed_in = [not self._outer_dep(k - 1, c) for c in range(len(layer.inputs))]
            mask = dict.fromkeys(np.flatnonzero(needed).tolist(), 0)
            for r, c in zip(layer.rows, layer.cols):
                if needed[r] and fixed_in[c]:
                    mask[r] |= self.masks[k - 1][c]
            accs = {r: np.full(_shape(mr, inner_sizes), layer.bias[r], dtype=self.dtype)
                    for r, mr in mask.items()}
            for u, x in values:
                for r, w in self._consumers[k - 1][u]:
                    if needed[r]:
                        acc = accs[r]
                        if w == 1:
                            np.add(acc, x, out=acc)
                        elif w == -1:
                            np.subtract(acc, x, out=acc)
                        else:
                            np.add(acc, np.multiply(x, self.dtype.type(w)), out=acc)
            parts: dict[int, np.ndarray] = {}
            fixed: dict[int, np.ndarray] = {}
            for r, acc in accs.items():
                if self._outer_dep(k, r):
                    acc.flags.writeable = False
                    parts[r] = acc
                else:
                    if layer.relu:
                        self._relu(acc)
                    fixed[r] = acc
            self._parts.append(parts)
            values = fixed.items()
        outputs = set(self.out_idx)
        self._fixed = {u: v for u, v in values if u in outputs}
        for v in self._fixed.values():
            v.flags.writeable = False

    # ------------------------------------------------------------------ blocks
    def cut(self, x: np.ndarray, rows: slice) -> np.ndarray:
        """``x`` (a value over the whole inner axes) on the block's ``rows`` of the slowest inner
        axis (position 1), when the grid has two inner axes or more and ``x`` depends on it."""
        if self.ndim >= 3 and x.ndim >= 3 and x.shape[1] > 1:
            return x[:, rows]
        return x

    def block(self, outer_rows: np.ndarray, rows: slice = slice(None)) -> list[np.ndarray]:
        """The checked outputs over the block of ``outer_rows`` and, with two inner axes or more,
        the ``rows`` of the slowest (in the order of ``outputs``), each an array broadcastable
        to the block's shape, valid until this thread's next block."""
        layers = self.net.layers
        per_b = len(outer_rows)
        sizes = [per_b] + self.sizes[1:]
        if self.ndim >= 3:
            sizes[1] = len(range(*rows.indices(self.sizes[1])))
        t_out = np.asarray(self._w_out @ np.asarray(outer_rows, dtype=np.int64).T,
                           dtype=np.int64).reshape(len(layers[0].outputs), per_b)
        oshape = (per_b,) + (1,) * (self.ndim - 1)
        # Buffers of this thread, kept from block to block: a fresh large array costs its
        # pages' first touch, as much again as a pass over it.
        scratch = getattr(self._local, "buffers", None)
        if scratch is None:
            scratch = self._local.buffers = {}

        def buffer(tag: Any, shape: tuple[int, ...]) -> np.ndarray:
            buf = scratch.get((tag, shape))
            if buf is None:
                buf = scratch[(tag, shape)] = np.empty(shape, dtype=self.dtype)
            return buf

        def first_values() -> Any:
            single = len(layers) == 1
            for u, step in self._steps:
                shape = _shape(self.masks[0][u], sizes)
                small = np.add(self.cut(self._rest[u], rows),
                               t_out[u].reshape(oshape).astype(self.dtype))
                fast = self._fast[u]
                if step and self._step_compare:
                    # min(max(z, 0), 1) = [z >= 1] = [fast >= 1 - small]: one pass, booleans.
                    if fast is None:
                        yield u, np.greater_equal(small, 1)
                    else:
                        flag = scratch.get(("step", shape))
                        if flag is None:
                            flag = scratch[("step", shape)] = np.empty(shape, dtype=bool)
                        yield u, np.greater_equal(fast, np.subtract(1, small), out=flag)
                    continue
                val = buffer(("out", u) if single else "x", shape)
                if fast is None:
                    val[...] = small
                else:
                    np.add(small, fast, out=val)
                if layers[0].relu:
                    self._relu(val)
                if step:
                    np.minimum(val, self.ones(val.shape), out=val)
                yield u, val

        values: Any = first_values()
        for k in range(1, len(layers)):
            accs: dict[int, np.ndarray] = {}
            parts, consumers = self._parts[k], self._consumers[k - 1]
            needed = self._needed[k]
            for u, x in values:
                for r, w in consumers[u]:
                    if not needed[r]:
                        continue
                    acc = accs.get(r)
                    term = x
                    if w not in (1, -1):
                        term = np.multiply(x, self.dtype.type(w), out=buffer("t", x.shape))
                    if acc is None:
                        acc = accs[r] = buffer(("acc", k, r), _shape(self.masks[k][r], sizes))
                        (np.subtract if w == -1 else np.add)(self.cut(parts[r], rows), term,
                                                             out=acc)
                    else:
                        (np.subtract if w == -1 else np.add)(acc, term, out=acc)
            if layers[k].relu:
                for acc in accs.values():
                    self._relu(acc)
            values = list(accs.items())
        last = dict(values)
        out: list[np.ndarray] = []
        for u in self.out_idx:
            v = last.get(u)
            if v is None:
                v = self.cut(self._fixed[u], rows)
            out.append(v)
        return out


def _consumers(rows: Sequence[int], cols: Sequence[int], vals: Sequence[int],
               n_in: int) -> list[list[tuple[int, int]]]:
    """For each input of a layer, the ``(output, weight)`` pairs of the nonzeros that read it."""
    uses: list[list[tuple[int, int]]] = [[] for _ in range(n_in)]
    for r, c, v in zip(rows, cols, vals):
        uses[c].append((r, v))
    return uses


class OffGridError(Exception):
    """The spec or the predicate gives on the grid what it does not give on flat columns: the
    obligation takes another path."""


class GridBlocks:
    """The checked blocks of a grid, in the domain's order. With one inner axis, or inner axes
    of at most ``block`` members, a block holds ``per`` outer members with every inner member;
    else one outer member and ``sub`` members of the slowest inner axis. Either way its points
    are consecutive members of the domain.

    The spec and the domain's predicate run on one column per coordinate, each over its own
    axis (an outer coordinate over the outer run), in ``cdtype``; the comparison of each
    checked output broadcasts the network's value against the spec's.
    """

    def __init__(self, ob: Obligation, plan: Plan, grid: Grid, block: int,
                 cdtype: np.dtype) -> None:
        keep_freed_memory()
        self.ob, self.grid, self.cdtype = ob, grid, np.dtype(cdtype)
        self.n_inner = grid.inner_count
        m = len(grid.axes)
        self.ndim = m + 1
        self.rows_1 = grid.axes[-1].count if m >= 2 else 1
        if m >= 2 and self.n_inner > block:
            self.per, self.sub = 1, max(1, block // (self.n_inner // self.rows_1))
        else:
            self.per, self.sub = max(1, min(block // self.n_inner, grid.outer.count)), self.rows_1
        self.n_sub = -(-self.rows_1 // self.sub)
        self.count = -(-grid.outer.count // self.per) * self.n_sub
        self.evaluator = GridEvaluator(ob.network, plan, grid, ob.checked_outputs, self.per,
                                       self.sub)
        self.feasible = self.evaluator.feasible
        cols: dict[str, np.ndarray] = {}
        for a, axis in enumerate(grid.axes):
            rows = axis.decode(np.arange(axis.count, dtype=np.int64))
            shape = [1] * self.ndim
            shape[m - a] = axis.count
            for j, name in enumerate(axis.names):
                col = rows[:, j].astype(self.cdtype).reshape(shape)
                col.flags.writeable = False  # shared by every block: a spec may not write to it
                cols[name] = col
        self.inner_cols = cols
        self.outer_pos = {n: j for j, n in enumerate(grid.outer.names)}
        self.edges = False  # probe the first and the last block as they run
        self._local = threading.local()

    def span(self, b: int) -> tuple[np.ndarray, slice, int, tuple[int, ...]]:
        """Block ``b``'s outer rows, its members of the slowest inner axis, its first member in
        the domain and its shape."""
        o, j = divmod(b, self.n_sub)
        lo = o * self.per
        outer_rows = self.grid.outer.decode(
            np.arange(lo, min(lo + self.per, self.grid.outer.count), dtype=np.int64))
        j0 = j * self.sub
        j1 = min(j0 + self.sub, self.rows_1)
        shape = (len(outer_rows),) + self.grid.inner_shape
        start = lo * self.n_inner
        if self.ndim >= 3:
            shape = (shape[0], j1 - j0) + shape[2:]
            start += j0 * (self.n_inner // self.rows_1)
        return outer_rows, slice(j0, j1), start, shape

    def columns(self, outer_rows: np.ndarray, rows: slice) -> dict[str, np.ndarray]:
        """The block's column of every coordinate, in the domain's order of names."""
        shape = (len(outer_rows),) + (1,) * (self.ndim - 1)
        cols = {}
        for name in self.ob.domain.names:
            col = self.inner_cols.get(name)
            if col is None:
                col = outer_rows[:, self.outer_pos[name]].astype(self.cdtype).reshape(shape)
                col.flags.writeable = False
            else:
                col = self.evaluator.cut(col, rows)
            cols[name] = col
        return cols

    def __call__(self, b: int) -> Found:
        ob = self.ob
        outer_rows, rows, _, full = self.span(b)
        n = int(np.prod(full))
        ys = self.evaluator.block(outer_rows, rows)
        cols = self.columns(outer_rows, rows)
        if self.edges and b in (0, self.count - 1) and not self.probe_block(b, ys, cols):
            raise OffGridError(f"{ob.name}: the spec gives on the grid what it does not give "
                               "on flat columns")
        want = on_columns(ob.spec, cols)
        member = ob.domain.accept(cols)
        bad: list[np.ndarray] = []
        buf = self._flags(full)
        for y, o in zip(ys, ob.checked_outputs):
            s = spec_array(ob, o, want[o])
            shape = np.broadcast_shapes(y.shape, s.shape, np.shape(member))
            if np.broadcast_shapes(shape, full) != full:
                raise InternalError(f"{ob.name}: the spec's {o} over a block has shape "
                                    f"{s.shape}, not one that spreads over {full}; this is a "
                                    "bug in the checker")
            if shape == full:
                ne = np.not_equal(y, s, out=buf)
                if member is not True:
                    np.logical_and(ne, member, out=ne)
            else:  # a block whose every value is constant along some axis
                ne = np.not_equal(y, s)
                if member is not True:
                    ne = np.logical_and(ne, member)
            if ne.any():
                bad.append(ne.copy())
        if not bad:
            return n, -1, None
        flat = np.zeros(full, dtype=bool)
        for ne in bad:
            np.logical_or(flat, ne, out=flat)
        i = int(flat.reshape(-1).argmax())
        at = np.unravel_index(i, full)
        return n, i, {name: int(np.broadcast_to(cols[name], full)[at])
                      for name in ob.domain.names}

    def _flags(self, shape: tuple[int, ...]) -> np.ndarray:
        """This thread's boolean buffer of a block's shape, kept from block to block."""
        flags = getattr(self._local, "flags", None)
        if flags is None or flags.shape != shape:
            flags = self._local.flags = np.empty(shape, dtype=bool)
        return flags

    # ------------------------------------------------------------------ probe
    def probe(self) -> bool:
        """:meth:`probe_block` on the first block and the last one."""
        for b in sorted({0, self.count - 1}):
            outer_rows, rows, _, _ = self.span(b)
            if not self.probe_block(b, self.evaluator.block(outer_rows, rows),
                                    self.columns(outer_rows, rows)):
                return False
        return True

    def probe_block(self, b: int, ys: Sequence[np.ndarray],
                    cols: Mapping[str, np.ndarray]) -> bool:
        """Check the first members of block ``b`` when it is the first block, else its last
        ones, given its network outputs ``ys`` and its columns ``cols``: the columns must be
        the domain's decode (else an :class:`InternalError`), and the network's values those of
        :meth:`Network.forward` (likewise); the spec and the predicate must give on the grid
        what they give on flat columns, else False (a spec whose arrays do not broadcast like
        numbers: the caller takes another path)."""
        ob, dom = self.ob, self.ob.domain
        _, _, start, full = self.span(b)
        n = int(np.prod(full))
        lo, hi = (0, min(n, PROBE)) if b == 0 else (max(0, n - PROBE), n)
        members = np.arange(start + lo, start + hi, dtype=np.int64)
        flat_rows = dom.decode(members)
        at = np.unravel_index(np.arange(lo, hi), full)
        for j, name in enumerate(dom.names):
            if not np.array_equal(np.broadcast_to(cols[name], full)[at], flat_rows[:, j]):
                raise InternalError(
                    f"the grid of {dom.describe()} enumerates {name} differently from "
                    f"its decode at members {start + lo}..{start + hi - 1}; this is a bug "
                    "in the checker")
        order = [dom.names.index(x) for x in ob.network.inputs]
        want_net = ob.network.forward(flat_rows[:, order], "int64")  # bound below 2^62
        for k, y in zip(self.evaluator.out_idx, ys):
            if not np.array_equal(np.broadcast_to(y, full)[at], want_net[:, k]):
                raise InternalError(
                    f"{ob.name}: the grid evaluator and the forward pass disagree on "
                    f"output {ob.network.outputs.names[k]} at members {start + lo}.."
                    f"{start + hi - 1}; this is a bug in the checker")
        flat = {}
        for j, name in enumerate(dom.names):
            col = flat_rows[:, j].astype(self.cdtype)
            col.flags.writeable = False
            flat[name] = col
        try:
            want, want_flat = on_columns(ob.spec, cols), on_columns(ob.spec, flat)
            member, member_flat = dom.accept(cols), dom.accept(flat)
            pairs = [(spec_array(ob, o, want[o]), spec_array(ob, o, want_flat[o]))
                     for o in ob.checked_outputs]
            pairs.append((np.asarray(member), np.asarray(member_flat)))
            for g, f in pairs:
                if not np.array_equal(np.broadcast_to(g, full)[at],
                                      np.broadcast_to(f, (hi - lo,))):
                    return False
        except Exception:  # noqa: BLE001 - a spec that does not run on a grid: other path
            return False
        return True
