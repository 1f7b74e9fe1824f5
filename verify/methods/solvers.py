"""The one place where a proof path asks an SMT solver whether a formula is satisfiable.

Design notes: docs/design/verify.methods.solvers.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from verify.errors import InternalError, LoopmlpError, ParameterError

SOLVERS = ("z3", "cvc5")
CVC5_EXTRA = "pip install 'loopmlp[cvc5]'"


class MissingExtraError(LoopmlpError):
    """An optional dependency is needed for what was asked; the message says how to install it."""


def require_cvc5() -> None:
    """Raise :class:`MissingExtraError` (one line, naming the extra) when cvc5 is not installed."""
    try:
        import cvc5  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            f"cvc5 is not installed; it is needed for --method cvc5, --solver cvc5 and "
            f"--cross-check: {CVC5_EXTRA}") from None


@dataclass(frozen=True)
class Answer:
    """One solver's answer to one query: ``sat``, ``unsat`` or ``unknown`` (with why).

    ``model`` holds the values of the requested variables when the answer is ``sat``.
    """

    solver: str
    status: str
    seconds: float
    why: str = ""
    model: Mapping[str, int] | None = None

    def describe(self, theory: str = "") -> str:
        """``z3: unsat``, ``cvc5 bit-vectors: timeout after 5s``."""
        return f"{self.solver}{theory}: {self.why if self.status == 'unknown' else self.status}"


@dataclass(frozen=True)
class Decision:
    """The combined answer of every solver asked (see the module docstring for the rule)."""

    what: str
    status: str
    answers: tuple[Answer, ...]

    @property
    def model(self) -> Mapping[str, int] | None:
        """The first ``sat`` answer's model (the primary solver's when it said ``sat``)."""
        return next((a.model for a in self.answers if a.status == "sat"), None)

    @property
    def solver(self) -> str:
        """The solvers, ``+``-joined: ``z3``, ``cvc5``, ``z3+cvc5``."""
        return "+".join(a.solver for a in self.answers)

    def describe(self, theory: str = "") -> str:
        """``z3: unsat`` or ``z3: unsat; cvc5: unsat``."""
        return "; ".join(a.describe(theory) for a in self.answers)

    def details(self) -> dict[str, Any]:
        """Each solver's answer and seconds, for a result's ``details``."""
        return {a.solver: {"answer": a.status, "seconds": round(a.seconds, 6),
                           **({"why": a.why} if a.why else {})} for a in self.answers}


# --------------------------------------------------------------------------- records
_LOGS: ContextVar[tuple[list[Decision], ...]] = ContextVar("loopmlp_solver_logs", default=())


@contextmanager
def recording() -> Iterator[list[Decision]]:
    """Collect every :class:`Decision` taken inside the block (nested blocks each see all)."""
    log: list[Decision] = []
    token = _LOGS.set(_LOGS.get() + (log,))
    try:
        yield log
    finally:
        _LOGS.reset(token)


def tally(decisions: Sequence[Decision]) -> dict[str, dict[str, Any]]:
    """Per solver: queries asked, how many came back sat / unsat / unknown, total seconds."""
    out: dict[str, dict[str, Any]] = {}
    for d in decisions:
        for a in d.answers:
            t = out.setdefault(a.solver, {"queries": 0, "sat": 0, "unsat": 0, "unknown": 0,
                                          "seconds": 0.0})
            t["queries"] += 1
            t[a.status] += 1
            t["seconds"] += a.seconds
    for t in out.values():
        t["seconds"] = round(t["seconds"], 6)
    return out


# --------------------------------------------------------------------------- deciding
def solvers_for(solver: str, cross_check: bool) -> tuple[str, ...]:
    """The solvers to ask, primary first: the chosen one, then the other under cross-check."""
    if solver not in SOLVERS:
        raise ParameterError("solver", solver, f"one of {', '.join(SOLVERS)}")
    if not cross_check:
        return (solver,)
    return (solver,) + tuple(s for s in SOLVERS if s != solver)


def decide(assertions: Sequence[Any], variables: Mapping[str, Any], *, what: str,
           timeout: float, solvers: Sequence[str] = ("z3",)) -> Decision:
    """Is the conjunction of the z3 ``assertions`` satisfiable? Asks each of ``solvers``.

    ``variables`` maps names to the z3 constants (Int or BitVec) whose values a ``sat`` model
    must give: integers as they are, bit-vectors read as signed (the callers choose widths in
    which nothing wraps, so a signed reading is the integer). ``timeout`` is in seconds, per
    solver. ``what`` names the query in every message.
    """
    import z3

    if not assertions:
        raise InternalError(f"{what}: a query with no assertions")
    ctx = assertions[0].ctx
    solver = z3.Solver(ctx=ctx)
    solver.add(*assertions)
    # The text is taken before any check: z3 appends its own bookkeeping afterwards.
    text = solver.sexpr() if "cvc5" in solvers else ""
    answers: list[Answer] = []
    for name in solvers:
        if name == "z3":
            answers.append(_z3(solver, variables, timeout))
        elif name == "cvc5":
            answers.append(_cvc5(text, variables, timeout))
        else:
            raise ParameterError("solver", name, f"one of {', '.join(SOLVERS)}")
    decision = Decision(what, _combine(what, answers), tuple(answers))
    for log in _LOGS.get():
        log.append(decision)
    return decision


def _combine(what: str, answers: Sequence[Answer]) -> str:
    said = {a.status for a in answers}
    if {"sat", "unsat"} <= said:
        raise InternalError(
            f"{what}: the solvers disagree ("
            + ", ".join(f"{a.solver} says {a.status}" for a in answers)
            + "); one of them is wrong, so nothing about this obligation is claimed")
    if said == {"unsat"}:
        return "unsat"
    if "sat" in said:
        return "sat"
    return "unknown"


def _timeout_why(timeout: float) -> str:
    return f"timeout after {timeout:g}s"


def _z3(solver: Any, variables: Mapping[str, Any], timeout: float) -> Answer:
    import z3

    solver.set("timeout", max(1, int(timeout * 1000)))
    t0 = time.perf_counter()
    answer = solver.check()
    seconds = time.perf_counter() - t0
    if answer == z3.unsat:
        return Answer("z3", "unsat", seconds)
    if answer == z3.sat:
        m = solver.model()
        model = {}
        for n, v in variables.items():
            val = m.eval(v, model_completion=True)
            model[n] = val.as_signed_long() if z3.is_bv(v) else val.as_long()
        return Answer("z3", "sat", seconds, model=model)
    why = solver.reason_unknown() or "unknown"
    if "timeout" in why or "canceled" in why:
        why = _timeout_why(timeout)
    return Answer("z3", "unknown", seconds, why)


@dataclass
class _Parsed:
    solver: Any
    declared: dict[str, Any] = field(default_factory=dict)


def _cvc5_read(text: str, timeout: float) -> _Parsed:
    """A fresh cvc5 solver holding the SMT-LIB ``text`` (declarations and assertions)."""
    import cvc5

    tm = cvc5.TermManager()
    s = cvc5.Solver(tm)
    s.setOption("produce-models", "true")
    s.setOption("tlimit-per", str(max(1, int(timeout * 1000))))
    s.setLogic("ALL")
    symbols = cvc5.SymbolManager(tm)
    parser = cvc5.InputParser(s, symbols)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, text, "query")
    while True:
        cmd = parser.nextCommand()
        if cmd.isNull():
            break
        cmd.invoke(s, symbols)
    return _Parsed(s, {t.getSymbol(): t for t in symbols.getDeclaredTerms()})


def _cvc5(text: str, variables: Mapping[str, Any], timeout: float) -> Answer:
    import z3

    require_cvc5()
    t0 = time.perf_counter()
    try:
        parsed = _cvc5_read(text, timeout)
        result = parsed.solver.checkSat()
    except RuntimeError as e:  # cvc5 raises RuntimeError for what it cannot read or do
        return Answer("cvc5", "unknown", time.perf_counter() - t0,
                      f"cvc5 could not decide the formula ({str(e).splitlines()[0][:200]})")
    seconds = time.perf_counter() - t0
    if result.isUnsat():
        return Answer("cvc5", "unsat", seconds)
    if result.isSat():
        model = {}
        for n, v in variables.items():
            term = parsed.declared.get(v.decl().name())
            if term is None:  # not in the formula: any value satisfies it, take z3's default
                model[n] = 0
                continue
            val = parsed.solver.getValue(term)
            if z3.is_bv(v):
                width = int(v.size())
                raw = int(val.getBitVectorValue(2), 2)
                model[n] = raw - (1 << width) if raw >> (width - 1) else raw
            else:
                model[n] = int(val.getIntegerValue())
        return Answer("cvc5", "sat", seconds, model=model)
    why = str(result.getUnknownExplanation()).rsplit(".", 1)[-1].lower()
    if why in ("timeout", "resourceout"):
        why = _timeout_why(timeout)
    return Answer("cvc5", "unknown", seconds, why or "unknown")
