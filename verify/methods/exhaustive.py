"""The exhaustive method: the network and the spec evaluated on every member of the domain, in
exact arithmetic, block by block on the executor in force."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Generator, Mapping
from contextlib import closing, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from verify.domains import Domain
from verify.errors import InternalError, ParameterError
from verify.network import Plan, SplitEvaluator, narrowest_int
from verify.obligation import Obligation
from verify.ops import python_int_batches
from verify.result import Result, Verdict
from verify.spec_terms import on_columns

from . import executor
from .base import Options, confirmed, finish, spec_array, spec_bound, spec_value
from .grid import FAST_AXIS, GridBlocks, OffGridError, grid_layout

# The inner part of a split holds at most 1/_INNER_SHARE of a block, so the first layer's table
# over it stays in cache and a block spans several outer members (measured on subtract: inner
# 4096 in blocks of 65536 beat inner 65536 by a third). An inner part that fills less than
# 1/_INNER_SHARE of that allowance (a tiny factor before one that cannot split) leaves too
# little work per numpy call; such domains go through the batch path.
_INNER_SHARE = 16
# The grid path: its inner axes hold up to _GRID_SHARE times ``chunk`` members (2^20 by
# default), its fastest axis at most 1/_GRID_SHARE of ``chunk``, and a block about ``chunk``
# points or one member of the slowest inner axis (2^18 on subtract at 12 bits: inner parts of
# 2^19..2^20 ran fastest there, 2^16 and 2^22 slower, and blocks of 2^16 and 2^18 alike).
_GRID_SHARE = 16


PATHS = ("grid", "split")
"""How :func:`exhaustive` lays the domain out: ``grid`` (:mod:`verify.methods.grid`, where it
applies, else as ``split``) or ``split`` (an ``inner x outer`` split or plain batches)."""


def exhaustive(ob: Obligation, opts: Options = Options(), *, path: str = "grid") -> Result:
    """Evaluate the network and the spec on every member of the domain, in exact arithmetic.

    The network's bounds come from :meth:`Network.plan` over the domain's box. With ``path``
    ``grid`` (the default), a domain that splits into a fast axis of up to 4096 members, a few
    more axes and an outer rest, whose spec and predicate interval runs bound in an integer
    type, runs through :class:`~verify.methods.grid.GridBlocks` in the narrowest integer type
    the bounds allow: every value is held only over the axes it depends on, and the values
    that do not depend on the outer rest are computed once (see :mod:`verify.methods.grid`).
    Any other obligation, and every one with ``path="split"`` (the engine as it was before the
    grid), takes the split or the batch path: a domain that splits as ``inner x outer`` (see
    :meth:`Domain.split`, inner part at most ``opts.chunk / 16`` points) runs through a
    :class:`~verify.network.SplitEvaluator` in the narrowest integer type the bounds allow
    (int16/int32/int64), in blocks of about ``opts.chunk``
    points spread over the cores; any other domain (a small one among them) runs in batches of
    ``opts.chunk`` rows through :meth:`Network.forward` in the plan's arithmetic
    (float32/float64 below 2^24/2^53, int64 below 2^62, Python ints beyond). The arithmetic
    used is reported in ``details`` (with ``path: grid`` on the grid path). On every path the
    first counterexample in the domain's enumeration order is the one reported, after
    :func:`replay`.

    The blocks run on the executor in force (:func:`verify.methods.executor.using`; default: threads
    of this process). On another kind, each block is a picklable task (:func:`_remote_block`)
    that rebuilds the blocks once per worker and returns only counts and the failing point.
    """
    if path not in PATHS:
        raise ParameterError("path", path, f"one of {', '.join(PATHS)}")
    t0 = time.perf_counter()
    if path == "grid":
        ex = executor.current()
        remote = ex is not None and ex.remote
        # Here the first and the last block are probed as they run, among the others; a
        # worker elsewhere builds its blocks unprobed, so those are probed first.
        grid = _grid_blocks(ob, opts.chunk, probe=remote)
        if grid is not None:
            grid.edges = not remote
            try:
                return _exhaustive_grid(ob, opts, grid, t0)
            except OffGridError:
                pass  # a spec that does not broadcast like numbers: the split path
    plan, parts = _exhaustive_layout(ob, opts.chunk)
    if parts is not None:
        return _exhaustive_split(ob, opts, plan, parts[0], parts[1], t0)
    return _exhaustive_batches(ob, opts, plan, t0)


def throughput(ob: Obligation, path: str = "grid") -> tuple[int, float, float]:
    """One exhaustive proof of ``ob`` on ``path``: the evaluations (points checked), its wall
    seconds (the result's, set-up included) and the CPU seconds of this process meanwhile (all
    threads; less sensitive than the wall clock to other work on the machine). An obligation
    that is not proved is refused: a refutation stops early and measures nothing."""
    cpu = time.process_time()
    r = exhaustive(ob, Options("exhaustive"), path=path)
    cpu = time.process_time() - cpu
    if r.verdict is not Verdict.PROVED:
        raise ParameterError("obligation", ob.name, f"one that is proved (got {r.line()})")
    return r.checked, r.seconds, cpu


def _grid_blocks(ob: Obligation, chunk: int, probe: bool = True) -> GridBlocks | None:
    """The blocks of the grid path, or None where it does not apply: no grid layout, a plan
    beyond int64, a spec or predicate without an integer type, values beyond
    :data:`~verify.methods.grid.MEMORY`, or (with ``probe``) a spec that gives on the grid
    what it does not give on flat columns."""
    dom, net = ob.domain, ob.network
    layout = grid_layout(dom, max(2, min(FAST_AXIS, chunk // _GRID_SHARE)), chunk * _GRID_SHARE)
    if layout is None:
        return None
    cdtype = _column_dtype(ob)
    if cdtype is None or cdtype is object:
        return None
    plan = net.plan([dict(zip(dom.names, dom.box()))[n] for n in net.inputs])
    if plan.arithmetic == "python":
        return None
    blocks = GridBlocks(ob, plan, layout, chunk, cdtype)
    if not blocks.feasible or (probe and not blocks.probe()):
        return None
    return blocks


def _spread(ob: Obligation, opts: Options, blocks: Any, kind: str) -> tuple[Any, Any]:
    """The found points of each of ``blocks`` in order, computed on the current executor's
    workers (shipped as a ``kind`` job when they are remote) or here; and that executor."""
    ex = executor.current()
    if ex is not None and ex.remote:
        job = _Job(executor.ship(ob), opts.chunk, kind)
        return ex.map(_remote_block, range(blocks.count), job), ex
    return _in_order(blocks, blocks.count, ex.workers if ex is not None else _workers()), ex


def _exhaustive_grid(ob: Obligation, opts: Options, blocks: GridBlocks, t0: float) -> Result:
    """The blocks of :class:`~verify.methods.grid.GridBlocks` in order, spread over the
    executor's workers."""
    found, ex = _spread(ob, opts, blocks, "grid")
    return _collect(ob, opts, found, ob.domain.count, t0, ex,
                    arithmetic=blocks.evaluator.arithmetic,
                    max_partial_sum=blocks.evaluator.bound, path="grid")


def _exhaustive_layout(ob: Obligation, chunk: int) -> tuple[Plan, tuple[Domain, Domain] | None]:
    """The network's plan over the domain's box, and the ``(inner, outer)`` split to run on
    (None: the batch path)."""
    dom, net = ob.domain, ob.network
    plan = net.plan([dict(zip(dom.names, dom.box()))[n] for n in net.inputs])
    limit = max(chunk // _INNER_SHARE, 2)
    parts = dom.split(limit) if plan.arithmetic != "python" else None
    if parts is not None and parts[0].count * _INNER_SHARE >= limit:
        return plan, parts
    return plan, None


Found = tuple[int, int, dict[str, int] | None]
"""A checked block: its points, the index in it of the first counterexample (-1 if none), and
that counterexample's input point."""


class _BatchBlocks:
    """Decoded rows in chunks of ``chunk``, the network through :meth:`Network.forward`."""

    def __init__(self, ob: Obligation, plan: Plan, chunk: int) -> None:
        dom, net = ob.domain, ob.network
        self.ob, self.plan, self.chunk = ob, plan, chunk
        self.count = -(-dom.count // chunk)
        self.order = np.array([dom.names.index(n) for n in net.inputs], dtype=np.int64)
        # The spec and the predicate run on narrow integer columns only when interval runs of
        # both bound every intermediate value; otherwise on Python ints (object arrays), so
        # they can never wrap silently.
        self.cdtype = _column_dtype(ob)
        self.out_idx = net.outputs.indices(ob.checked_outputs)

    def rows(self, b: int) -> np.ndarray:
        lo = b * self.chunk
        return self.ob.domain.decode(
            np.arange(lo, min(lo + self.chunk, self.ob.domain.count), dtype=np.int64))

    def check(self, rows: np.ndarray) -> Found:
        ob, dom = self.ob, self.ob.domain
        x = rows[:, self.order]
        if self.plan.arithmetic == "python":
            x = x.astype(object)
        y = ob.network.forward(x, self.plan.arithmetic)
        if self.cdtype is None:
            cols = {n: rows[:, i] for i, n in enumerate(dom.names)}
            bad = _pointwise(ob, cols, [y[:, k] for k in self.out_idx])
        else:
            srows = rows.astype(self.cdtype)  # a copy: the spec cannot change the rows
            srows.flags.writeable = False
            cols = {n: srows[:, i] for i, n in enumerate(dom.names)}
            with _batches(self.cdtype):
                want = on_columns(ob.spec, cols)
                member = dom.accept(cols)
            bad = np.zeros(len(rows), dtype=bool)
            for k, o in zip(self.out_idx, ob.checked_outputs):
                bad |= np.asarray(y[:, k] != spec_array(ob, o, want[o]), dtype=bool)
            bad &= np.broadcast_to(np.asarray(member, dtype=bool), bad.shape)
        if not bad.any():
            return len(rows), -1, None
        i = int(np.flatnonzero(bad)[0])
        return len(rows), i, {n: int(rows[i, j]) for j, n in enumerate(dom.names)}

    def __call__(self, b: int) -> Found:
        return self.check(self.rows(b))


def _exhaustive_batches(ob: Obligation, opts: Options, plan: Plan, t0: float) -> Result:
    """Decoded rows in chunks, the network through :meth:`Network.forward`, one chunk after
    the other (on the executor's workers when it is not the local one)."""
    total = ob.domain.count
    ex = executor.current()
    if ex is not None and ex.remote:
        job = _Job(executor.ship(ob), opts.chunk, "batch")
        found = ex.map(_remote_block, range(-(-total // opts.chunk)), job)
    else:
        blocks = _BatchBlocks(ob, plan, opts.chunk)
        found = (blocks.check(rows) for rows in ob.domain.chunks(opts.chunk))
    return _collect(ob, opts, found, total, t0, ex, arithmetic=plan.arithmetic,
                    max_partial_sum=plan.max_partial_sum)


class _SplitBlocks:
    """Blocks of whole inner domains: block ``b`` holds outer members ``b * per .. (b + 1) *
    per - 1`` with every inner member, which are the domain's members ``b * per * |inner|``
    onwards, in order (member ``i + |inner| * o`` is inner ``i`` with outer ``o``).

    The spec and the domain's predicate still run on one column per coordinate, every point
    of the block in order: the inner columns repeat with period ``|inner|``, so one read-only
    tiling serves every block, and the outer columns are each outer value repeated
    ``|inner|`` times.
    """

    def __init__(self, ob: Obligation, plan: Plan, inner: Domain, outer: Domain,
                 chunk: int) -> None:
        net = ob.network
        self.ob, self.outer = ob, outer
        self.n_inner = n_inner = inner.count
        self.per = per = max(1, chunk // n_inner)
        self.count = -(-outer.count // per)
        inner_rows = inner.decode(np.arange(n_inner, dtype=np.int64))
        self.evaluator = SplitEvaluator(net, plan, inner.names, inner_rows, outer.names)
        self.cdtype = _column_dtype(ob)
        self.col_dtype = np.int64 if self.cdtype is None else self.cdtype
        self.tiled = {n: np.tile(inner_rows[:, j].astype(self.col_dtype), per)
                      for j, n in enumerate(inner.names)}
        for col in self.tiled.values():
            col.flags.writeable = False  # shared by every block: a spec may not write to it
        self.out_idx = net.outputs.indices(ob.checked_outputs)
        self.outer_pos = {n: j for j, n in enumerate(outer.names)}

    def columns(self, outer_rows: np.ndarray, n: int) -> dict[str, np.ndarray]:
        cols = {}
        for name in self.ob.domain.names:
            if name in self.tiled:
                cols[name] = self.tiled[name][:n]
            else:  # each outer value n_inner times (a broadcast copy beats np.repeat)
                col = np.empty((len(outer_rows), self.n_inner), dtype=self.col_dtype)
                col[:] = outer_rows[:, self.outer_pos[name], None]
                col.flags.writeable = False
                cols[name] = col.reshape(n)
        return cols

    def __call__(self, b: int) -> Found:
        """Points in block b, the index in it of the first counterexample (-1 if none), and
        that point."""
        ob, dom, outer = self.ob, self.ob.domain, self.outer
        lo = b * self.per
        outer_rows = outer.decode(np.arange(lo, min(lo + self.per, outer.count), dtype=np.int64))
        n = len(outer_rows) * self.n_inner
        cols = self.columns(outer_rows, n)
        if b in (0, self.count - 1):
            _check_split(dom, cols, lo * self.n_inner, n)
        y = self.evaluator.block(outer_rows)
        if self.cdtype is None:
            bad = _pointwise(ob, cols, [y[k] for k in self.out_idx])
        else:
            with _batches(self.cdtype):
                want = on_columns(ob.spec, cols)
                member = dom.accept(cols)
            bad = np.zeros(n, dtype=bool)
            for k, o in zip(self.out_idx, ob.checked_outputs):
                np.logical_or(bad, np.not_equal(y[k], spec_array(ob, o, want[o])), out=bad)
            if member is not True:
                bad &= np.broadcast_to(np.asarray(member, dtype=bool), bad.shape)
        if not bad.any():
            return n, -1, None
        i = int(bad.argmax())
        return n, i, {name: int(cols[name][i]) for name in dom.names}


def _exhaustive_split(ob: Obligation, opts: Options, plan: Plan, inner: Domain, outer: Domain,
                      t0: float) -> Result:
    """The blocks of :class:`_SplitBlocks` in order, spread over the executor's workers."""
    # Built here too on the remote path: it is cheap next to the blocks, and the arithmetic it
    # picks is the one the workers use.
    blocks = _SplitBlocks(ob, plan, inner, outer, opts.chunk)
    arithmetic = blocks.evaluator.arithmetic
    found, ex = _spread(ob, opts, blocks, "split")
    return _collect(ob, opts, found, ob.domain.count, t0, ex, arithmetic=arithmetic,
                    max_partial_sum=plan.max_partial_sum)


def _collect(ob: Obligation, opts: Options, found: Generator[Found, None, None], total: int,
             t0: float, ex: Any, **details: Any) -> Result:
    """Walk the checked blocks in order: the first counterexample (replayed here) refutes,
    else every point was checked. Stopping early closes ``found``, cancelling the rest."""
    extra = {"executor": ex.describe()} if ex is not None and ex.remote else {}
    done = 0
    with closing(found) as blocks:
        for n, i, point in blocks:
            if i >= 0:
                assert point is not None
                cex = confirmed(ob, point, "exhaustive")
                return finish(ob, Verdict.REFUTED, "exhaustive", done + i + 1, total, t0,
                             "counterexample found", cex, **extra,
                             **{k: details[k] for k in ("arithmetic", "path") if k in details})
            done += n
            if opts.progress:
                opts.progress(done, total)
    if done != total:
        raise InternalError(f"{ob.name}: the exhaustive blocks covered {done} of {total} "
                            "points; this is a bug in the checker")
    return finish(ob, Verdict.PROVED, "exhaustive", done, total, t0, "every input checked",
                 **details, **extra)


@dataclass(frozen=True)
class _Job:
    """What a worker needs to check blocks of one obligation: the obligation (shipped), the
    block size, and which path (``split`` or ``batch``) the blocks follow."""

    shipment: Any
    chunk: int
    path: str


_worker_blocks: dict[tuple[str, int, str], Any] = {}
_worker_lock = threading.Lock()


def _remote_block(job: _Job, b: int) -> Found:
    """Check block ``b`` of a job on a worker. The blocks are built once per worker process
    (and job), exactly as :func:`exhaustive` builds them here."""
    key = (job.shipment.key, job.chunk, job.path)
    with _worker_lock:
        blocks = _worker_blocks.get(key)
        if blocks is None:
            ob = job.shipment.obligation()
            plan, parts = _exhaustive_layout(ob, job.chunk)
            if job.path == "grid":
                blocks = _grid_blocks(ob, job.chunk, probe=False)
                if blocks is None:
                    raise InternalError(f"{ob.name}: a worker found no grid where this "
                                        "process did; this is a bug in the checker")
            elif job.path == "split":
                if parts is None:
                    raise InternalError(f"{ob.name}: a worker found no split where this "
                                        "process did; this is a bug in the checker")
                blocks = _SplitBlocks(ob, plan, parts[0], parts[1], job.chunk)
            else:
                blocks = _BatchBlocks(ob, plan, job.chunk)
            _worker_blocks.clear()  # one job at a time per worker: keep memory flat
            _worker_blocks[key] = blocks
    return blocks(b)


def _check_split(dom: Domain, cols: Mapping[str, np.ndarray], start: int, n: int) -> None:
    """The columns of a block are the domain's own decode of its members (checked on the first
    and the last block, where an off-by-one in a split would show)."""
    rows = dom.decode(np.arange(start, start + n, dtype=np.int64))
    for j, name in enumerate(dom.names):
        if not np.array_equal(rows[:, j], np.asarray(cols[name], dtype=np.int64)):
            raise InternalError(f"the split of {dom.describe()} enumerates {name} differently "
                                f"from its decode at members {start}..{start + n - 1}; this is "
                                "a bug in the checker")


def _workers() -> int:
    """Threads for the blocks: numpy releases the GIL inside its loops."""
    return max(1, min(executor.cores(), 8))


def _in_order(work: Callable[[int], Any], count: int,
              workers: int) -> Generator[Any, None, None]:
    """``work(0), work(1), ...`` in order, computed up to ``2 * workers`` ahead on a thread
    pool; when the caller stops early the blocks not yet started are cancelled."""
    return executor.Executor(workers).map(work, range(count))


def _column_dtype(ob: Obligation) -> Any:
    """How the spec and the domain's predicate run on a block of points.

    A numpy integer type (the narrowest that holds every intermediate value that interval runs
    of both bound), ``object`` (batches of Python ints, for bounds beyond int64, or for a spec
    that declares itself exact on such batches: :attr:`Obligation.batch_exact`), or None: no
    bound, so they run point by point on Python ints, as :func:`replay` does. A numpy batch
    of Python ints is not enough there: a spec outside :mod:`verify.ops` (a condition used as
    a number, a numpy call) can make int64 arrays from it, and those wrap.

    Kept per obligation (the interval runs can take a while, and the grid path and the path
    it leaves to ask the same).
    """
    known = _column_dtypes.get(ob, _UNSET)
    if known is not _UNSET:
        return known
    bound = spec_bound(ob)
    member = ob.domain.term_bound()
    if member is None:
        dtype: Any = None
    elif bound is None:
        dtype = object if ob.batch_exact else None
    else:
        name = narrowest_int(max(bound, member))
        dtype = np.dtype(name) if name is not None else object
    _column_dtypes[ob] = dtype
    return dtype


_UNSET: Any = object()
_column_dtypes: weakref.WeakKeyDictionary[Obligation, Any] = weakref.WeakKeyDictionary()


def _batches(dtype: Any) -> Any:
    """The context a spec runs in on columns of ``dtype``: on Python-int (object) columns,
    :func:`verify.ops.python_int_batches`, so the arrays ops makes are Python ints too."""
    return python_int_batches() if dtype is object else nullcontext()


def _pointwise(ob: Obligation, cols: Mapping[str, np.ndarray],
               net: list[np.ndarray]) -> np.ndarray:
    """Which points of a block are counterexamples, decided one point at a time on Python
    ints (the domain's membership and the spec, as :func:`replay` evaluates them); ``net``
    holds the network's column of each checked output."""
    dom = ob.domain
    n = len(net[0]) if net else 0
    bad = np.zeros(n, dtype=bool)
    for i in range(n):
        point = {name: int(cols[name][i]) for name in dom.names}
        if not dom.contains(point):
            continue
        want = ob.spec(point)
        bad[i] = any(int(col[i]) != spec_value(ob, o, want[o])
                     for col, o in zip(net, ob.checked_outputs))
    return bad
