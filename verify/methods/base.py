"""What every checking method shares: the options, the replay of a counterexample through the
exact forward pass, and the result a method returns."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from verify.domains import Bits, IntRange, Product
from verify.errors import InternalError, ParameterError
from verify.interval import IBool, Interval, Tracker
from verify.obligation import Obligation
from verify.result import Counterexample, Result, Verdict

from .solvers import Decision, require_extras, solvers_for, tally

Progress = Callable[[int, int], None]
METHODS = ("auto", "exhaustive", "smt", "cvc5", "sampled", "factorised")


@dataclass(frozen=True)
class Options:
    """How to check: method, per-obligation timeout, limits, progress callback, SMT solver.

    ``solver`` decides every SMT query of every engine (z3, cvc5 or bitwuzla; method ``cvc5`` is
    method ``smt`` with solver cvc5); ``cross_check`` asks a second solver every query too (z3
    for any other solver; for z3, bitwuzla over bit-vectors and cvc5 over the integers), and
    ``cross_check_with`` names the two solvers instead. Two solvers that contradict each other
    are an :class:`InternalError` (see :mod:`verify.methods.solvers`).
    """

    method: str = "auto"
    timeout: float = 60.0
    exhaustive_limit: int = 1 << 24  # auto: enumerate domains up to this many points
    chunk: int = 1 << 16
    samples: int = 2000
    progress: Progress | None = None
    solver: str = "z3"
    cross_check: bool = False
    cross_check_with: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ParameterError("method", self.method, f"one of {', '.join(METHODS)}")
        if not self.timeout > 0:
            raise ParameterError("timeout", self.timeout, "a positive number of seconds")
        if self.method == "cvc5" and self.solver not in ("z3", "cvc5"):  # z3: the default
            raise ParameterError("solver", self.solver, "cvc5 (or none) with method cvc5")
        if self.method == "cvc5" and self.cross_check_with[:1] not in ((), ("cvc5",)):
            raise ParameterError("cross_check_with", ",".join(self.cross_check_with),
                                 "cvc5 first with method cvc5")
        require_extras(self.solvers)

    @property
    def solvers(self) -> tuple[str, ...]:
        """The solvers every SMT query goes to, primary first (see
        :func:`~verify.methods.solvers.solvers_for`)."""
        return solvers_for("cvc5" if self.method == "cvc5" else self.solver, self.cross_check,
                           self.cross_check_with)


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


def spec_array(ob: Obligation, output: str, value: Any) -> np.ndarray:
    """The spec's values for one output over a batch; a float or complex array is refused
    (numpy would compare it with the network's integers approximately)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuO":
        raise ParameterError(f"spec of {ob.name}", f"{output} of dtype {arr.dtype}",
                             "integer values for every output (a spec is exact)")
    return arr


def confirmed(ob: Obligation, inputs: Mapping[str, int], engine: str) -> Counterexample:
    cex = replay(ob, inputs)
    if cex is None:
        raise InternalError(
            f"{ob.name}: the {engine} engine reported a counterexample {dict(inputs)} that does "
            "not replay through the exact forward pass; this is a bug in the checker"
        )
    return cex


def finish(ob: Obligation, verdict: Verdict, method: str, checked: int, total: int, t0: float,
          reason: str, cex: Counterexample | None = None, **details: Any) -> Result:
    return Result(ob.name, verdict, method, checked, total, time.perf_counter() - t0, reason, cex,
                  details)


def see_output(tracker: Tracker, ob: Obligation, output: str, value: Any) -> None:
    """Record one output of an interval run of a spec on ``tracker``: an interval, a
    condition, or a plain integer."""
    if isinstance(value, Interval):
        tracker.see(value.lo, value.hi)
    elif isinstance(value, IBool):
        tracker.see(1)
    else:
        tracker.see(spec_value(ob, output, value))


def spec_bound(ob: Obligation) -> int | None:
    """Largest magnitude of any intermediate value of the spec over the domain's box, or None
    when the spec cannot run on intervals (then no bound is claimed).

    Every operation of :mod:`verify.interval` records its operands and result on one tracker,
    the plain-integer branches of ``ops.ite`` included; a spec that steps outside those
    operations (``%``, ``//``, floats, numpy calls) raises there, and gets no bound.
    """
    tracker = Tracker()
    box = dict(zip(ob.domain.names, ob.domain.box()))
    try:
        want = ob.spec({n: Interval(lo, hi, tracker) for n, (lo, hi) in box.items()})
        for o in ob.checked_outputs:
            see_output(tracker, ob, o, want[o])
    except Exception:  # noqa: BLE001 - any failure means no bound is claimed
        return None
    return tracker.max_abs


def width_for(*bounds: int | None) -> int | None:
    """The bit-vector width for terms of the given magnitudes (None: some term unbounded)."""
    if any(b is None for b in bounds):
        return None
    return max(int(b) for b in bounds if b is not None).bit_length() + 2


def extra_constraints(domain: Any, v: Mapping[str, Any]) -> list[Any]:
    """Constraints beyond the box (one-hot sums, predicates); the box is stated separately."""
    if isinstance(domain, Product):
        return [c for f in domain.factors for c in extra_constraints(f, v)]
    if isinstance(domain, (Bits, IntRange)):
        return []
    return list(domain.z3_constraints(v))


def with_tally(r: Result, log: list[Decision]) -> Result:
    """``r`` with each solver's queries, answers and seconds in ``details["solvers"]`` (when
    any SMT query was asked)."""
    if not log:
        return r
    return replace(r, details={**r.details, "solvers": tally(log)})
