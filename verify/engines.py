"""The checking engines: exhaustive, smt (z3 or cvc5), sampled (hypothesis), and ``auto``.

Each engine is independent and returns a :class:`~verify.result.Result`; none prints. Every
counterexample goes through :func:`replay` (the plain-Python forward pass and the spec on Python
ints) before it is returned; one that does not replay raises :class:`InternalError`. Every SMT
query goes through :func:`verify.solvers.decide`, which asks z3, cvc5, or both (``cross_check``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Mapping
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .domains import Domain
from .errors import InternalError, ParameterError
from .network import Plan, SplitEvaluator, narrowest_int
from .obligation import Obligation
from .result import Counterexample, Result, Verdict
from .solvers import SOLVERS, Decision, decide, recording, require_cvc5, solvers_for, tally

Progress = Callable[[int, int], None]
METHODS = ("auto", "exhaustive", "smt", "cvc5", "sampled", "factorised")


@dataclass(frozen=True)
class Options:
    """How to check: method, per-obligation timeout, limits, progress callback, SMT solver.

    ``solver`` decides every SMT query of every engine (z3 or cvc5; method ``cvc5`` is method
    ``smt`` with solver cvc5); ``cross_check`` asks both solvers every query and fails with
    :class:`InternalError` when they contradict each other (see :mod:`verify.solvers`).
    """

    method: str = "auto"
    timeout: float = 60.0
    exhaustive_limit: int = 1 << 24  # auto: enumerate domains up to this many points
    chunk: int = 1 << 16
    samples: int = 2000
    progress: Progress | None = None
    solver: str = "z3"
    cross_check: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ParameterError("method", self.method, f"one of {', '.join(METHODS)}")
        if not self.timeout > 0:
            raise ParameterError("timeout", self.timeout, "a positive number of seconds")
        if self.solver not in SOLVERS:
            raise ParameterError("solver", self.solver, f"one of {', '.join(SOLVERS)}")
        if "cvc5" in self.solvers:
            require_cvc5()

    @property
    def solvers(self) -> tuple[str, ...]:
        """The solvers every SMT query goes to, primary first."""
        return solvers_for("cvc5" if self.method == "cvc5" else self.solver, self.cross_check)


# --------------------------------------------------------------------------- replay
def replay(ob: Obligation, inputs: Mapping[str, int]) -> Counterexample | None:
    """Re-run one input through the exact forward pass and the spec on Python ints.

    Returns the counterexample when they differ, else None. Every engine's points come from the
    domain, so a point outside it (a coordinate off its box, a one-hot with two ones, a
    predicate that fails: :meth:`Domain.contains`) means the engine is wrong: that is an
    :class:`InternalError`, never a counterexample.
    """
    point = {n: _exact(ob, n, inputs.get(n)) for n in ob.network.inputs}
    if not ob.domain.contains(point):
        raise InternalError(
            f"{ob.name}: the point {point} lies outside the domain ({ob.domain.describe()}); "
            "an engine that reports it is wrong, so it is no counterexample")
    net = ob.network.forward_exact(point)
    want = ob.spec(point)
    diff_net: dict[str, int] = {}
    diff_spec: dict[str, int] = {}
    for o in ob.checked_outputs:
        expected = spec_value(ob, o, want[o])
        if int(net[o]) != expected:
            diff_net[o], diff_spec[o] = int(net[o]), expected
    if not diff_net:
        return None
    return Counterexample(point, diff_net, diff_spec, ob.domain.words())


def _exact(ob: Obligation, name: str, value: Any) -> int:
    """One coordinate of a point as a Python int (a missing or non-integral one is a bug)."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    raise InternalError(f"{ob.name}: the point gives {name}={value!r}, not an integer; "
                        "this is a bug in the checker")


def spec_value(ob: Obligation, output: str, value: Any) -> int:
    """The spec's value for one output on one point, as a Python int; a spec that gives
    anything but an integer (a float would be compared only approximately) is refused."""
    if isinstance(value, np.ndarray) and value.ndim == 0:  # a 0-d result of np.where
        value = value.item()
    if isinstance(value, (int, np.integer)):  # bool is an int
        return int(value)
    raise ParameterError(f"spec of {ob.name}", f"{output}={value!r}",
                         "an integer value for every output (a spec is exact)")


def _spec_array(ob: Obligation, output: str, value: Any) -> np.ndarray:
    """The spec's values for one output over a batch; a float or complex array is refused
    (numpy would compare it with the network's integers approximately)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuO":
        raise ParameterError(f"spec of {ob.name}", f"{output} of dtype {arr.dtype}",
                             "integer values for every output (a spec is exact)")
    return arr


def _confirmed(ob: Obligation, inputs: Mapping[str, int], engine: str) -> Counterexample:
    cex = replay(ob, inputs)
    if cex is None:
        raise InternalError(
            f"{ob.name}: the {engine} engine reported a counterexample {dict(inputs)} that does "
            "not replay through the exact forward pass; this is a bug in the checker"
        )
    return cex


def _done(ob: Obligation, verdict: Verdict, method: str, checked: int, total: int, t0: float,
          reason: str, cex: Counterexample | None = None, **details: Any) -> Result:
    return Result(ob.name, verdict, method, checked, total, time.perf_counter() - t0, reason, cex,
                  details)


# --------------------------------------------------------------------------- exhaustive
# The inner part of a split holds at most 1/_INNER_SHARE of a block, so the first layer's table
# over it stays in cache and a block spans several outer members (measured on subtract: inner
# 4096 in blocks of 65536 beat inner 65536 by a third). An inner part that fills less than
# 1/_INNER_SHARE of that allowance (a tiny factor before one that cannot split) leaves too
# little work per numpy call; such domains go through the batch path.
_INNER_SHARE = 16


def exhaustive(ob: Obligation, opts: Options = Options()) -> Result:
    """Evaluate the network and the spec on every member of the domain, in exact arithmetic.

    The network's bounds come from :meth:`Network.plan` over the domain's box. A domain that
    splits as ``inner x outer`` (see :meth:`Domain.split`, inner part at most ``opts.chunk /
    16`` points) runs through a :class:`~verify.network.SplitEvaluator` in the narrowest
    integer type the bounds allow (int16/int32/int64), in blocks of about ``opts.chunk``
    points spread over the cores; any other domain (a small one among them) runs in batches of
    ``opts.chunk`` rows through :meth:`Network.forward` in the plan's arithmetic
    (float32/float64 below 2^24/2^53, int64 below 2^62, Python ints beyond). The arithmetic
    used is reported in ``details``. Either way the first counterexample in the domain's
    enumeration order is the one reported, after :func:`replay`.

    The blocks run on the executor in force (:func:`verify.executor.using`; default: threads
    of this process). On another kind, each block is a picklable task (:func:`_remote_block`)
    that rebuilds the blocks once per worker and returns only counts and the failing point.
    """
    t0 = time.perf_counter()
    plan, parts = _exhaustive_layout(ob, opts.chunk)
    if parts is not None:
        return _exhaustive_split(ob, opts, plan, parts[0], parts[1], t0)
    return _exhaustive_batches(ob, opts, plan, t0)


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
                want = ob.spec(cols)
                member = dom.accept(cols)
            bad = np.zeros(len(rows), dtype=bool)
            for k, o in zip(self.out_idx, ob.checked_outputs):
                bad |= np.asarray(y[:, k] != _spec_array(ob, o, want[o]), dtype=bool)
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
    from . import executor

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
                want = ob.spec(cols)
                member = dom.accept(cols)
            bad = np.zeros(n, dtype=bool)
            for k, o in zip(self.out_idx, ob.checked_outputs):
                np.logical_or(bad, np.not_equal(y[k], _spec_array(ob, o, want[o])), out=bad)
            if member is not True:
                bad &= np.broadcast_to(np.asarray(member, dtype=bool), bad.shape)
        if not bad.any():
            return n, -1, None
        i = int(bad.argmax())
        return n, i, {name: int(cols[name][i]) for name in dom.names}


def _exhaustive_split(ob: Obligation, opts: Options, plan: Plan, inner: Domain, outer: Domain,
                      t0: float) -> Result:
    """The blocks of :class:`_SplitBlocks` in order, spread over the executor's workers."""
    from . import executor

    # Built here too on the remote path: it is cheap next to the blocks, and the arithmetic it
    # picks is the one the workers use.
    blocks = _SplitBlocks(ob, plan, inner, outer, opts.chunk)
    arithmetic = blocks.evaluator.arithmetic
    ex = executor.current()
    if ex is not None and ex.remote:
        job = _Job(executor.ship(ob), opts.chunk, "split")
        found = ex.map(_remote_block, range(blocks.count), job)
    else:
        found = _in_order(blocks, blocks.count, ex.workers if ex is not None else _workers())
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
                cex = _confirmed(ob, point, "exhaustive")
                return _done(ob, Verdict.REFUTED, "exhaustive", done + i + 1, total, t0,
                             "counterexample found", cex, arithmetic=details["arithmetic"],
                             **extra)
            done += n
            if opts.progress:
                opts.progress(done, total)
    if done != total:
        raise InternalError(f"{ob.name}: the exhaustive blocks covered {done} of {total} "
                            "points; this is a bug in the checker")
    return _done(ob, Verdict.PROVED, "exhaustive", done, total, t0, "every input checked",
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
            if job.path == "split":
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
    from .executor import cores

    return max(1, min(cores(), 8))


def _in_order(work: Callable[[int], Any], count: int,
              workers: int) -> Generator[Any, None, None]:
    """``work(0), work(1), ...`` in order, computed up to ``2 * workers`` ahead on a thread
    pool; when the caller stops early the blocks not yet started are cancelled."""
    from .executor import Executor

    return Executor(workers).map(work, range(count))


def _column_dtype(ob: Obligation) -> Any:
    """How the spec and the domain's predicate run on a block of points.

    A numpy integer type (the narrowest that holds every intermediate value that interval runs
    of both bound), ``object`` (batches of Python ints, for bounds beyond int64, or for a spec
    that declares itself exact on such batches: :attr:`Obligation.batch_exact`), or None: no
    bound, so they run point by point on Python ints, as :func:`replay` does. A numpy batch
    of Python ints is not enough there: a spec outside :mod:`verify.ops` (a condition used as
    a number, a numpy call) can make int64 arrays from it, and those wrap.
    """
    bound = spec_bound(ob)
    member = ob.domain.term_bound()
    if member is None:
        return None
    if bound is None:
        return object if ob.batch_exact else None
    name = narrowest_int(max(bound, member))
    return np.dtype(name) if name is not None else object


def _batches(dtype: Any) -> Any:
    """The context a spec runs in on columns of ``dtype``: on Python-int (object) columns,
    :func:`verify.ops.python_int_batches`, so the arrays ops makes are Python ints too."""
    from contextlib import nullcontext

    from .ops import python_int_batches

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


def spec_bound(ob: Obligation) -> int | None:
    """Largest magnitude of any intermediate value of the spec over the domain's box, or None
    when the spec cannot run on intervals (then no bound is claimed).

    Every operation of :mod:`verify.interval` records its operands and result on one tracker,
    the plain-integer branches of ``ops.ite`` included; a spec that steps outside those
    operations (``%``, ``//``, floats, numpy calls) raises there, and gets no bound.
    """
    from .interval import IBool, Interval, Tracker

    tracker = Tracker()
    box = dict(zip(ob.domain.names, ob.domain.box()))
    try:
        want = ob.spec({n: Interval(lo, hi, tracker) for n, (lo, hi) in box.items()})
        for o in ob.checked_outputs:
            w = want[o]
            if isinstance(w, Interval):
                tracker.see(w.lo, w.hi)
            elif isinstance(w, IBool):
                tracker.see(1)
            else:
                tracker.see(spec_value(ob, o, w))
    except Exception:  # noqa: BLE001 - any failure means no bound is claimed
        return None
    return tracker.max_abs


# --------------------------------------------------------------------------- smt
def smt(ob: Obligation, opts: Options = Options()) -> Result:
    """Ask the solver (z3, cvc5 or both) for an input of the domain where some output differs
    from the spec.

    Integers throughout, ReLU as ``If(x > 0, x, 0)``; a fresh context and a timeout per
    obligation. ``unsat`` is a proof, ``sat`` a counterexample (each solver's model replayed),
    anything else unknown.
    """
    import z3

    t0 = time.perf_counter()
    ctx = z3.Context()
    v = {n: z3.Int(n, ctx) for n in ob.network.inputs}
    net = ob.network.forward_z3(v)
    want = ob.spec(v)
    query = [*ob.domain.z3_constraints(v), z3.Or(*[net[o] != want[o] for o in ob.checked_outputs])]
    d = decide(query, v, what=ob.name, timeout=opts.timeout, solvers=opts.solvers)
    return _smt_result(ob, d, t0, "")


def _smt_result(ob: Obligation, d: Decision, t0: float, theory: str, **details: Any) -> Result:
    """The result of one monolithic query: proved on unsat, refuted on a model that replays
    (every solver's model is replayed; one that does not is an :class:`InternalError`)."""
    total = ob.domain.count
    method = "cvc5" if d.answers[0].solver == "cvc5" else "smt"
    suffix = "-bv" if theory else ""
    details["solver"] = "+".join(a.solver + suffix for a in d.answers)
    if len(d.answers) > 1:
        details["answers"] = d.details()
    reason = d.describe(theory)
    if d.status == "unsat":
        return _done(ob, Verdict.PROVED, method, total, total, t0, reason, **details)
    if d.status == "sat":
        found = [_confirmed(ob, a.model, a.solver) for a in d.answers
                 if a.status == "sat" and a.model is not None]
        return _done(ob, Verdict.REFUTED, method, 0, total, t0, reason, found[0], **details)
    return _done(ob, Verdict.UNKNOWN, method, 0, total, t0, reason, **details)


def bv_width(ob: Obligation) -> int | None:
    """A bit-vector width in which no term of the query can wrap on the domain's box, or None
    when some term has no bound (then the query is asked over the integers).

    The query holds the network (its largest partial sum over the box, by interval
    arithmetic), the spec (every intermediate value of an interval run of it) and the domain's
    constraints (the box, one-hot sums, every intermediate value of its predicates:
    :meth:`Domain.term_bound`). One bit for the sign and one of head-room on top.
    """
    box = dict(zip(ob.domain.names, ob.domain.box()))
    plan = ob.network.plan([box[n] for n in ob.network.inputs])
    bounds = (plan.max_partial_sum, spec_bound(ob), ob.domain.term_bound())
    return width_for(*bounds)


def width_for(*bounds: int | None) -> int | None:
    """The bit-vector width for terms of the given magnitudes (None: some term unbounded)."""
    if any(b is None for b in bounds):
        return None
    return max(int(b) for b in bounds if b is not None).bit_length() + 2


def smt_bv(ob: Obligation, opts: Options = Options()) -> Result:
    """Like :func:`smt` but over bit-vectors of a width that provably cannot wrap.

    Faster than integers wherever the spec reads bits (shifts and masks instead of div/mod).
    The box is stated as signed bounds, the rest of the domain by its own constraints. When
    :func:`bv_width` finds no bound for some term, the same query is asked over the integers.
    """
    import z3

    t0 = time.perf_counter()
    width = bv_width(ob)
    if width is None:
        r = smt(ob, opts)
        return replace(r, details={**r.details, "theory": "integers (no bit-vector width "
                                                          "bounds every term)"})
    ctx = z3.Context()
    v = {n: z3.BitVec(n, width, ctx) for n in ob.network.inputs}
    net = ob.network.forward_z3(v)
    want = ob.spec(v)
    query = []
    for n, (lo, hi) in zip(ob.domain.names, ob.domain.box()):
        query += [v[n] >= lo, v[n] <= hi]
    query += _extra_constraints(ob.domain, v)

    def as_bv(x: Any) -> Any:
        return x if z3.is_expr(x) else z3.BitVecVal(int(x), width, ctx)

    query.append(z3.Or(*[net[o] != as_bv(want[o]) for o in ob.checked_outputs]))
    d = decide(query, v, what=ob.name, timeout=opts.timeout, solvers=opts.solvers)
    return _smt_result(ob, d, t0, " bit-vectors", bv_width=width)


def _extra_constraints(domain: Any, v: Mapping[str, Any]) -> list[Any]:
    """Constraints beyond the box (one-hot sums, predicates); the box is stated separately."""
    from .domains import Bits, IntRange, Product

    if isinstance(domain, Product):
        return [c for f in domain.factors for c in _extra_constraints(f, v)]
    if isinstance(domain, (Bits, IntRange)):
        return []
    return list(domain.z3_constraints(v))


# --------------------------------------------------------------------------- sampled
def sampled(ob: Obligation, opts: Options = Options()) -> Result:
    """Search for a counterexample with hypothesis. Can refute; never proves."""
    from hypothesis import HealthCheck, find, settings
    from hypothesis.errors import NoSuchExample, Unsatisfiable
    from hypothesis.reporting import with_reporter

    t0 = time.perf_counter()
    seen = 0
    found: list[dict[str, int]] = []  # failing points, the latest being the most shrunk

    class _OutOfTimeError(BaseException):
        """Not an Exception, so hypothesis stops at once instead of shrinking it as a failure."""

    def differs(point: dict[str, int]) -> bool:
        nonlocal seen
        if time.perf_counter() - t0 > opts.timeout:
            raise _OutOfTimeError
        seen += 1
        if replay(ob, point) is None:
            return False
        found.append(dict(point))
        return True

    cfg = settings(max_examples=opts.samples, database=None, deadline=None, derandomize=True,
                   suppress_health_check=list(HealthCheck))
    try:
        with with_reporter(lambda *_: None):  # hypothesis would print a seed on the timeout
            point = find(ob.domain.strategy(), differs, settings=cfg)
    except (NoSuchExample, Unsatisfiable):  # Unsatisfiable: a predicate no sample passes
        return _done(ob, Verdict.UNKNOWN, "sampled", min(seen, ob.domain.count), ob.domain.count,
                     t0, f"no counterexample in {seen} samples; sampling never proves")
    except _OutOfTimeError:
        if not found:
            return _done(ob, Verdict.UNKNOWN, "sampled", min(seen, ob.domain.count),
                         ob.domain.count, t0, f"timeout after {opts.timeout:g}s with no "
                         f"counterexample in {seen} samples; sampling never proves")
        point = found[-1]  # the timeout came while shrinking a counterexample already found
    cex = _confirmed(ob, point, "sampled")
    return _done(ob, Verdict.REFUTED, "sampled", min(seen, ob.domain.count), ob.domain.count,
                 t0, "counterexample found", cex)


# --------------------------------------------------------------------------- dispatch
def check(ob: Obligation, opts: Options = Options()) -> Result:
    """Check with the chosen method; ``auto`` enumerates small domains, else factorises or
    calls the solver."""
    method = opts.method
    if method == "auto":
        if ob.domain.count <= opts.exhaustive_limit:
            method = "exhaustive"
        elif ob.factorisation is not None:
            method = "factorised"
        else:
            method = "smt"
    if method == "cvc5":
        method, opts = "smt", replace(opts, method="smt", solver="cvc5")
    if method == "exhaustive" and ob.domain.count > max(opts.exhaustive_limit, 1 << 30):
        return Result(ob.name, Verdict.UNKNOWN, "exhaustive", 0, ob.domain.count, 0.0,
                      f"domain has {ob.domain.count} points, beyond the exhaustive limit")
    if method == "factorised" and ob.factorisation is None:
        return Result(ob.name, Verdict.UNKNOWN, "factorised", 0, ob.domain.count, 0.0,
                      "no factorisation declared for this obligation")
    engines: dict[str, Callable[[Obligation, Options], Result]] = {
        "exhaustive": exhaustive, "smt": smt, "sampled": sampled}
    if method == "factorised":
        from .factorised import factorised

        engines["factorised"] = factorised
    engine = engines[method]
    with recording() as log:
        r = engine(ob, opts)
    return with_tally(r, log)


def with_tally(r: Result, log: list[Decision]) -> Result:
    """``r`` with each solver's queries, answers and seconds in ``details["solvers"]`` (when
    any SMT query was asked)."""
    if not log:
        return r
    return replace(r, details={**r.details, "solvers": tally(log)})
