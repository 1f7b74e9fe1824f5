"""The checking engines: exhaustive, smt (z3), sampled (hypothesis), and the ``auto`` choice.

Each engine is independent and returns a :class:`~verify.result.Result`; none prints. Every
counterexample goes through :func:`replay` (the plain-Python forward pass and the spec on Python
ints) before it is returned; one that does not replay raises :class:`InternalError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InternalError, ParameterError
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
def exhaustive(ob: Obligation, opts: Options = Options()) -> Result:
    """Evaluate the network and the spec on every member of the domain, in exact arithmetic.

    The arithmetic (float32/float64 when every partial sum is provably below 2^24/2^53, int64
    below 2^62, Python ints beyond) comes from :meth:`Network.plan` over the domain's box.
    """
    t0 = time.perf_counter()
    dom, net = ob.domain, ob.network
    total = dom.count
    plan = net.plan([dict(zip(dom.names, dom.box()))[n] for n in net.inputs])
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
