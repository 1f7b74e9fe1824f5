"""The checking engines: exhaustive, smt (z3), sampled (hypothesis), and the ``auto`` choice.

Each engine is independent and returns a :class:`~verify.result.Result`; none prints. Every
counterexample goes through :func:`replay` (the plain-Python forward pass and the spec on Python
ints) before it is returned; one that does not replay raises :class:`InternalError`.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Generator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import numpy as np

from .domains import Domain
from .errors import InternalError, ParameterError
from .network import Plan, SplitEvaluator, narrowest_int
from .obligation import Obligation
from .result import Counterexample, Result, Verdict

Progress = Callable[[int, int], None]
METHODS = ("auto", "exhaustive", "smt", "sampled", "factorised")


@dataclass(frozen=True)
class Options:
    """How to check: method, per-obligation timeout, limits, progress callback."""

    method: str = "auto"
    timeout: float = 60.0
    exhaustive_limit: int = 1 << 24  # auto: enumerate domains up to this many points
    chunk: int = 1 << 16
    samples: int = 2000
    progress: Progress | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ParameterError("method", self.method, f"one of {', '.join(METHODS)}")
        if not self.timeout > 0:
            raise ParameterError("timeout", self.timeout, "a positive number of seconds")


# --------------------------------------------------------------------------- replay
def replay(ob: Obligation, inputs: Mapping[str, int]) -> Counterexample | None:
    """Re-run one input through the exact forward pass and the spec on Python ints.

    Returns the counterexample when they differ (and the input lies in the domain), else None.
    """
    point = {n: int(inputs[n]) for n in ob.network.inputs}
    if not bool(ob.domain.accept(point)):
        return None
    net = ob.network.forward_exact(point)
    want = ob.spec(point)
    diff_net: dict[str, int] = {}
    diff_spec: dict[str, int] = {}
    for o in ob.checked_outputs:
        if int(net[o]) != int(want[o]):
            diff_net[o], diff_spec[o] = int(net[o]), int(want[o])
    if not diff_net:
        return None
    return Counterexample(point, diff_net, diff_spec, ob.domain.words())


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
    """
    t0 = time.perf_counter()
    dom, net = ob.domain, ob.network
    plan = net.plan([dict(zip(dom.names, dom.box()))[n] for n in net.inputs])
    limit = max(opts.chunk // _INNER_SHARE, 2)
    parts = dom.split(limit) if plan.arithmetic != "python" else None
    if parts is not None and parts[0].count * _INNER_SHARE >= limit:
        return _exhaustive_split(ob, opts, plan, parts[0], parts[1], t0)
    return _exhaustive_batches(ob, opts, plan, t0)


def _exhaustive_batches(ob: Obligation, opts: Options, plan: Plan, t0: float) -> Result:
    """Decoded rows in chunks, the network through :meth:`Network.forward`."""
    dom, net = ob.domain, ob.network
    total = dom.count
    order = np.array([dom.names.index(n) for n in net.inputs], dtype=np.int64)
    # The spec runs on int64 columns only when an interval run of it shows no intermediate value
    # can reach 2^62; otherwise on Python ints (object arrays), so it can never wrap silently.
    bound = spec_bound(ob)
    spec_dtype = np.int64 if bound is not None and bound < INT64_SAFE else object
    out_idx = net.outputs.indices(ob.checked_outputs)
    done = 0
    for rows in dom.chunks(opts.chunk):
        x = rows[:, order]
        if plan.arithmetic == "python":
            x = x.astype(object)
        y = net.forward(x, plan.arithmetic)
        srows = rows if spec_dtype is np.int64 else rows.astype(object)
        cols = {n: srows[:, i] for i, n in enumerate(dom.names)}
        want = ob.spec(cols)
        bad = np.zeros(len(rows), dtype=bool)
        for k, o in zip(out_idx, ob.checked_outputs):
            bad |= np.asarray(y[:, k] != np.asarray(want[o]), dtype=bool)
        bad &= np.broadcast_to(np.asarray(dom.accept(cols), dtype=bool), bad.shape)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            cex = _confirmed(ob, {n: int(rows[i, j]) for j, n in enumerate(dom.names)},
                             "exhaustive")
            return _done(ob, Verdict.REFUTED, "exhaustive", done + i + 1, total, t0,
                         "counterexample found", cex, arithmetic=plan.arithmetic)
        done += len(rows)
        if opts.progress:
            opts.progress(done, total)
    return _done(ob, Verdict.PROVED, "exhaustive", done, total, t0, "every input checked",
                 arithmetic=plan.arithmetic, max_partial_sum=plan.max_partial_sum)


def _exhaustive_split(ob: Obligation, opts: Options, plan: Plan, inner: Domain, outer: Domain,
                      t0: float) -> Result:
    """Blocks of whole inner domains: block ``b`` holds outer members ``b * per .. (b + 1) *
    per - 1`` with every inner member, which are the domain's members ``b * per * |inner|``
    onwards, in order (member ``i + |inner| * o`` is inner ``i`` with outer ``o``).

    The spec and the domain's predicate still run on one column per coordinate, every point
    of the block in order: the inner columns repeat with period ``|inner|``, so one read-only
    tiling serves every block, and the outer columns are each outer value repeated
    ``|inner|`` times.
    """
    dom, net = ob.domain, ob.network
    total = dom.count
    n_inner = inner.count
    per = max(1, opts.chunk // n_inner)
    n_blocks = -(-outer.count // per)
    inner_rows = inner.decode(np.arange(n_inner, dtype=np.int64))
    evaluator = SplitEvaluator(net, plan, inner.names, inner_rows, outer.names)
    cdtype = _column_dtype(ob)
    tiled = {n: np.tile(inner_rows[:, j].astype(cdtype), per) for j, n in enumerate(inner.names)}
    for col in tiled.values():
        col.flags.writeable = False  # shared by every block: a spec may not write to it
    out_idx = net.outputs.indices(ob.checked_outputs)
    outer_pos = {n: j for j, n in enumerate(outer.names)}

    def columns(outer_rows: np.ndarray, n: int) -> dict[str, np.ndarray]:
        cols = {}
        for name in dom.names:
            if name in tiled:
                cols[name] = tiled[name][:n]
            else:  # each outer value n_inner times (a broadcast copy beats np.repeat)
                col = np.empty((len(outer_rows), n_inner), dtype=cdtype)
                col[:] = outer_rows[:, outer_pos[name], None]
                cols[name] = col.reshape(n)
        return cols

    def check(b: int) -> tuple[int, int, dict[str, np.ndarray]]:
        """Points in block b, and the index in it of the first counterexample (-1 if none)."""
        lo = b * per
        outer_rows = outer.decode(np.arange(lo, min(lo + per, outer.count), dtype=np.int64))
        n = len(outer_rows) * n_inner
        cols = columns(outer_rows, n)
        if b in (0, n_blocks - 1):
            _check_split(dom, cols, lo * n_inner, n)
        y = evaluator.block(outer_rows)
        want = ob.spec(cols)
        bad = np.zeros(n, dtype=bool)
        for k, o in zip(out_idx, ob.checked_outputs):
            np.logical_or(bad, np.not_equal(y[k], want[o]), out=bad)
        member = dom.accept(cols)
        if member is not True:
            bad &= np.broadcast_to(np.asarray(member, dtype=bool), bad.shape)
        return n, int(bad.argmax()) if bad.any() else -1, cols

    done = 0
    with closing(_in_order(check, n_blocks, _workers())) as blocks:
        for n, i, cols in blocks:
            if i >= 0:
                point = {name: int(cols[name][i]) for name in dom.names}
                cex = _confirmed(ob, point, "exhaustive")
                return _done(ob, Verdict.REFUTED, "exhaustive", done + i + 1, total, t0,
                             "counterexample found", cex, arithmetic=evaluator.arithmetic)
            done += n
            if opts.progress:
                opts.progress(done, total)
    return _done(ob, Verdict.PROVED, "exhaustive", done, total, t0, "every input checked",
                 arithmetic=evaluator.arithmetic, max_partial_sum=plan.max_partial_sum)


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
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _in_order(work: Callable[[int], Any], count: int,
              workers: int) -> Generator[Any, None, None]:
    """``work(0), work(1), ...`` in order, computed up to ``2 * workers`` ahead on a thread
    pool; when the caller stops early the blocks not yet started are cancelled."""
    if workers == 1 or count <= 1:
        yield from (work(b) for b in range(count))
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="exhaustive")
    try:
        ahead: deque[Future[Any]] = deque()
        nxt = 0
        while ahead or nxt < count:
            while nxt < count and len(ahead) < 2 * workers:
                ahead.append(pool.submit(work, nxt))
                nxt += 1
            yield ahead.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _column_dtype(ob: Obligation) -> Any:
    """The narrowest integer type for the columns the spec and the domain's predicate run on:
    an interval run of both bounds every intermediate value. Without a bound for the spec,
    Python ints (object arrays); without one for the predicate, int64 as the batch path."""
    bound = spec_bound(ob)
    if bound is None:
        return object
    member = _accept_bound(ob.domain)
    if member is None:
        return np.int64 if bound < INT64_SAFE else object
    name = narrowest_int(max(bound, member))
    return np.dtype(name) if name is not None else object


def _accept_bound(dom: Domain) -> int | None:
    """Largest magnitude of any intermediate value of the domain's predicate over its box, or
    None when the predicate cannot run on intervals."""
    from .interval import Interval, Tracker

    tracker = Tracker()
    try:
        dom.accept({n: Interval(lo, hi, tracker) for n, (lo, hi) in zip(dom.names, dom.box())})
    except (TypeError, ValueError, AttributeError):
        return None
    return tracker.max_abs


INT64_SAFE = 1 << 62


def spec_bound(ob: Obligation) -> int | None:
    """Largest magnitude of any intermediate value of the spec over the domain's box, or None
    when the spec cannot run on intervals (then no bound is claimed)."""
    from .interval import Interval, Tracker

    tracker = Tracker()
    box = dict(zip(ob.domain.names, ob.domain.box()))
    try:
        want = ob.spec({n: Interval(lo, hi, tracker) for n, (lo, hi) in box.items()})
        for o in ob.checked_outputs:
            w = want[o]
            tracker.see(*((w.lo, w.hi) if isinstance(w, Interval) else (int(w),)))
    except (TypeError, ValueError, AttributeError):
        return None
    return tracker.max_abs


# --------------------------------------------------------------------------- smt
def smt(ob: Obligation, opts: Options = Options()) -> Result:
    """Ask z3 for an input of the domain where some output differs from the spec.

    Integers throughout, ReLU as ``If(x > 0, x, 0)``; a fresh context and a timeout per
    obligation. ``unsat`` is a proof, ``sat`` a counterexample (replayed), anything else unknown.
    """
    import z3

    t0 = time.perf_counter()
    total = ob.domain.count
    ctx = z3.Context()
    v = {n: z3.Int(n, ctx) for n in ob.network.inputs}
    net = ob.network.forward_z3(v)
    want = ob.spec(v)
    solver = z3.Solver(ctx=ctx)
    solver.set("timeout", max(1, int(opts.timeout * 1000)))
    solver.add(*ob.domain.z3_constraints(v))
    solver.add(z3.Or(*[net[o] != want[o] for o in ob.checked_outputs]))
    answer = solver.check()
    if answer == z3.unsat:
        return _done(ob, Verdict.PROVED, "smt", total, total, t0, "z3: unsat", solver="z3")
    if answer == z3.sat:
        m = solver.model()
        point = {n: m.eval(v[n], model_completion=True).as_long() for n in ob.network.inputs}
        cex = _confirmed(ob, point, "smt")
        return _done(ob, Verdict.REFUTED, "smt", 0, total, t0, "z3: sat", cex, solver="z3")
    why = solver.reason_unknown() or "unknown"
    if "timeout" in why or "canceled" in why:
        why = f"timeout after {opts.timeout:g}s"
    return _done(ob, Verdict.UNKNOWN, "smt", 0, total, t0, f"z3: {why}", solver="z3")


def bv_width(ob: Obligation) -> int:
    """A bit-vector width in which neither the network nor the spec can wrap on the domain.

    The network's bound is the largest partial sum over the domain's box (interval arithmetic);
    the spec's is the largest magnitude of any intermediate value of an interval run of it.
    One bit for the sign and one of head-room on top.
    """
    box = dict(zip(ob.domain.names, ob.domain.box()))
    plan = ob.network.plan([box[n] for n in ob.network.inputs])
    bound = spec_bound(ob)
    if bound is None:
        raise ParameterError("spec", ob.name, "a spec written with verify.ops (interval-evaluable)"
                             " for a bit-vector encoding")
    return max(plan.max_partial_sum, bound).bit_length() + 2


def smt_bv(ob: Obligation, opts: Options = Options()) -> Result:
    """Like :func:`smt` but over bit-vectors of a width that provably cannot wrap.

    Faster than integers wherever the spec reads bits (shifts and masks instead of div/mod).
    Only box domains and their products are encoded here: other constraints go to :func:`smt`.
    """
    import z3

    t0 = time.perf_counter()
    total = ob.domain.count
    width = bv_width(ob)
    ctx = z3.Context()
    v = {n: z3.BitVec(n, width, ctx) for n in ob.network.inputs}
    net = ob.network.forward_z3(v)
    want = ob.spec(v)
    solver = z3.Solver(ctx=ctx)
    solver.set("timeout", max(1, int(opts.timeout * 1000)))
    for n, (lo, hi) in zip(ob.domain.names, ob.domain.box()):
        solver.add(v[n] >= lo, v[n] <= hi)
    solver.add(*_extra_constraints(ob.domain, v))

    def as_bv(x: Any) -> Any:
        return x if z3.is_expr(x) else z3.BitVecVal(int(x), width, ctx)

    solver.add(z3.Or(*[net[o] != as_bv(want[o]) for o in ob.checked_outputs]))
    answer = solver.check()
    if answer == z3.unsat:
        return _done(ob, Verdict.PROVED, "smt", total, total, t0, "z3 bit-vectors: unsat",
                     solver="z3-bv", bv_width=width)
    if answer == z3.sat:
        m = solver.model()
        point = {n: m.eval(v[n], model_completion=True).as_signed_long() for n in v}
        cex = _confirmed(ob, point, "smt")
        return _done(ob, Verdict.REFUTED, "smt", 0, total, t0, "z3 bit-vectors: sat", cex,
                     solver="z3-bv", bv_width=width)
    why = solver.reason_unknown() or "unknown"
    if "timeout" in why or "canceled" in why:
        why = f"timeout after {opts.timeout:g}s"
    return _done(ob, Verdict.UNKNOWN, "smt", 0, total, t0, f"z3 bit-vectors: {why}",
                 solver="z3-bv", bv_width=width)


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
    from hypothesis.errors import NoSuchExample

    t0 = time.perf_counter()
    seen = 0

    class _OutOfTimeError(Exception):
        pass

    def differs(point: dict[str, int]) -> bool:
        nonlocal seen
        if time.perf_counter() - t0 > opts.timeout:
            raise _OutOfTimeError
        seen += 1
        return replay(ob, point) is not None

    cfg = settings(max_examples=opts.samples, database=None, deadline=None,
                   suppress_health_check=list(HealthCheck))
    try:
        point = find(ob.domain.strategy(), differs, settings=cfg)
    except NoSuchExample:
        return _done(ob, Verdict.UNKNOWN, "sampled", min(seen, ob.domain.count), ob.domain.count,
                     t0, f"no counterexample in {seen} samples; sampling never proves")
    except _OutOfTimeError:
        return _done(ob, Verdict.UNKNOWN, "sampled", min(seen, ob.domain.count), ob.domain.count,
                     t0, f"timeout after {opts.timeout:g}s with no counterexample in {seen} "
                     "samples; sampling never proves")
    cex = _confirmed(ob, point, "sampled")
    return _done(ob, Verdict.REFUTED, "sampled", seen, ob.domain.count, t0,
                 "counterexample found", cex)


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
    if method == "exhaustive" and ob.domain.count > max(opts.exhaustive_limit, 1 << 30):
        return Result(ob.name, Verdict.UNKNOWN, "exhaustive", 0, ob.domain.count, 0.0,
                      f"domain has {ob.domain.count} points, beyond the exhaustive limit")
    if method == "factorised":
        from .factorised import factorised

        if ob.factorisation is None:
            return Result(ob.name, Verdict.UNKNOWN, "factorised", 0, ob.domain.count, 0.0,
                          "no factorisation declared for this obligation")
        return factorised(ob, opts)
    engine = {"exhaustive": exhaustive, "smt": smt, "sampled": sampled}[method]
    return engine(ob, opts)
