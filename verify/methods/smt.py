"""The smt method: one query to the solver (z3, cvc5, bitwuzla, or two of them) for an input of
the domain where some output differs from the spec, over the integers or bit-vectors that cannot
wrap."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from verify.obligation import Obligation
from verify.result import Result, Verdict

from .base import Options, confirmed, extra_constraints, finish, spec_bound, width_for
from .solvers import Decision, decide


def smt(ob: Obligation, opts: Options = Options()) -> Result:
    """Ask the solver (z3 or cvc5, or two solvers) for an input of the domain where some output
    differs from the spec.

    Integers throughout, ReLU as ``If(x > 0, x, 0)``; a fresh context and a timeout per
    obligation. ``unsat`` is a proof, ``sat`` a counterexample (each solver's model replayed),
    anything else unknown. bitwuzla has no integer theory: it answers unknown here (use
    :func:`smt_bv`).
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
        return finish(ob, Verdict.PROVED, method, total, total, t0, reason, **details)
    if d.status == "sat":
        found = [confirmed(ob, a.model, a.solver) for a in d.answers
                 if a.status == "sat" and a.model is not None]
        return finish(ob, Verdict.REFUTED, method, 0, total, t0, reason, found[0], **details)
    return finish(ob, Verdict.UNKNOWN, method, 0, total, t0, reason, **details)


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
    query += extra_constraints(ob.domain, v)

    def as_bv(x: Any) -> Any:
        return x if z3.is_expr(x) else z3.BitVecVal(int(x), width, ctx)

    query.append(z3.Or(*[net[o] != as_bv(want[o]) for o in ob.checked_outputs]))
    d = decide(query, v, what=ob.name, timeout=opts.timeout, solvers=opts.solvers)
    return _smt_result(ob, d, t0, " bit-vectors", bv_width=width)
