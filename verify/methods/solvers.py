"""The one place where a proof path asks an SMT solver whether a formula is satisfiable.

Design notes: docs/design/verify.methods.solvers.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from verify.errors import InternalError, LoopmlpError, ParameterError

SOLVERS = ("z3", "cvc5", "bitwuzla")
SECOND = "second"
"""In a list of solvers: the best second solver for each query's logic, chosen when the query is
asked (:func:`resolve`): bitwuzla for bit-vectors when it is installed, else cvc5; cvc5 for
integers (bitwuzla has no integer theory)."""
CVC5_EXTRA = "pip install 'loopmlp[cvc5]'"
BITWUZLA_EXTRA = "pip install 'loopmlp[bitwuzla]'"
NO_INTEGERS = "no integer theory (bitwuzla decides bit-vector queries only)"


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


def has_bitwuzla() -> bool:
    """Whether the bitwuzla extra is installed."""
    try:
        import bitwuzla  # noqa: F401
    except ImportError:
        return False
    return True


def require_bitwuzla() -> None:
    """Raise :class:`MissingExtraError` (one line, naming the extra) when bitwuzla is not
    installed."""
    if not has_bitwuzla():
        raise MissingExtraError(
            f"bitwuzla is not installed; it is needed for --solver bitwuzla and "
            f"--cross-check-with ...bitwuzla: {BITWUZLA_EXTRA}")


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
    bit_vectors: bool | None = None  # the statement it answered (None: not recorded)

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
def solvers_for(solver: str, cross_check: bool,
                pair: Sequence[str] = ()) -> tuple[str, ...]:
    """The solvers to ask, primary first.

    ``pair`` (two distinct solvers) is asked as given. Else, without ``cross_check``, only
    ``solver``; with it, ``solver`` and then z3, or for z3 itself :data:`SECOND` (the best second
    solver for each query's logic).
    """
    for name in (solver, *pair):
        if name not in SOLVERS:
            raise ParameterError("solver", name, f"one of {', '.join(SOLVERS)}")
    if pair:
        if len(pair) != 2 or pair[0] == pair[1]:
            raise ParameterError("cross_check_with", ",".join(pair),
                                 f"two different solvers of {', '.join(SOLVERS)}")
        return tuple(pair)
    if not cross_check:
        return (solver,)
    return (solver, SECOND if solver == "z3" else "z3")


def require_extras(solvers: Sequence[str]) -> None:
    """Raise :class:`MissingExtraError` when a solver of ``solvers`` is not installed
    (:data:`SECOND` needs cvc5, the only second solver for integer queries)."""
    if "cvc5" in solvers or SECOND in solvers:
        require_cvc5()
    if "bitwuzla" in solvers:
        require_bitwuzla()


def resolve(solvers: Sequence[str], bit_vectors: bool) -> tuple[str, ...]:
    """``solvers`` with :data:`SECOND` replaced by the solver it stands for in a query over
    bit-vectors (``bit_vectors``) or over the integers."""
    second = "bitwuzla" if bit_vectors and has_bitwuzla() else "cvc5"
    return tuple(second if s == SECOND else s for s in solvers)


def decide(assertions: Sequence[Any], variables: Mapping[str, Any], *, what: str,
           timeout: float, solvers: Sequence[str] = ("z3",)) -> Decision:
    """Is the conjunction of the z3 ``assertions`` satisfiable? Asks each of ``solvers``.

    ``variables`` maps names to the z3 constants (Int or BitVec) whose values a ``sat`` model
    must give: integers as they are, bit-vectors read as signed (the callers choose widths in
    which nothing wraps, so a signed reading is the integer). ``timeout`` is in seconds, per
    solver. ``what`` names the query in every message. A query is over bit-vectors when every
    variable is one; bitwuzla answers any other query ``unknown`` (:data:`NO_INTEGERS`).
    """
    return decide_any([Formulation(assertions, variables)], what=what, timeout=timeout,
                      solvers=solvers)


@dataclass(frozen=True)
class Formulation:
    """One statement of a query: z3 ``assertions`` and the constants a model must give (see
    :func:`decide`). Over bit-vectors when every variable is one, else over the integers."""

    assertions: Sequence[Any]
    variables: Mapping[str, Any]
    plain: Sequence[Any] | None = None
    """The same statement before a rewrite that speeds up z3 and bitwuzla (the narrowing of
    :mod:`verify.methods.narrow`), for the solvers that decide it better as it was (cvc5):
    equivalent assertions over the same variables."""

    def for_solver(self, name: str) -> Sequence[Any]:
        """The assertions ``name`` is given."""
        return self.plain if name in PLAIN and self.plain is not None else self.assertions

    @property
    def bit_vectors(self) -> bool:
        import z3

        return bool(self.variables) and all(z3.is_bv(v) for v in self.variables.values())


PLAIN = frozenset({"cvc5"})
"""Solvers given a formulation's ``plain`` statement where it has one (cvc5 takes tens of
seconds on a narrowed 16-bit subtractor lemma that it decides in one as stated)."""

PREFERENCE = {"z3": (False, True), "cvc5": (True, False), "bitwuzla": (True,)}
"""Per solver, the theories it is given first (True: bit-vectors), where a query is stated in
both: z3 decides linear integer statements of bit-level words fast, cvc5 and bitwuzla the
bit-vector ones (bitwuzla has no integers)."""


def decide_any(formulations: Sequence[Formulation], *, what: str, timeout: float,
               solvers: Sequence[str] = ("z3",)) -> Decision:
    """Like :func:`decide` for a query stated in several equivalent ways (the same variables,
    over the integers and over bit-vectors that cannot wrap): each solver is given the
    statement it decides best (:data:`PREFERENCE`) and, when that one comes back unknown
    early, the others it can read, in what is left of its ``timeout``. The answers are
    combined as in :func:`decide`: statements of one query that get ``sat`` and ``unsat`` are
    a disagreement.
    """
    if not formulations or any(not f.assertions for f in formulations):
        raise InternalError(f"{what}: a query with no assertions")
    by_theory = {f.bit_vectors: f for f in formulations}
    names = resolve(solvers, True in by_theory)
    answers: list[Answer] = []
    texts: dict[tuple[bool, bool], str] = {}
    for name in names:
        if name not in SOLVERS:
            raise ParameterError("solver", name, f"one of {', '.join(SOLVERS)}")
        order = [t for t in PREFERENCE[name] if t in by_theory]
        if not order:
            answers.append(Answer(name, "unknown", 0.0, NO_INTEGERS, bit_vectors=False))
            continue
        spent = 0.0
        for theory in order:
            f = by_theory[theory]
            key = (theory, name in PLAIN)
            if name != "z3" and key not in texts:
                texts[key] = _smtlib(f.for_solver(name))
            a = _ask(name, f, texts.get(key, ""), timeout - spent)
            spent += a.seconds
            if a.status != "unknown" or spent >= 0.9 * timeout:
                break
        answers.append(replace(a, seconds=spent, bit_vectors=theory))
    decision = Decision(what, _combine(what, answers), tuple(answers))
    for log in _LOGS.get():
        log.append(decision)
    return decision


def _ask(name: str, f: Formulation, text: str, timeout: float) -> Answer:
    """One solver's answer on one statement (``text``: its SMT-LIB form, for cvc5 and
    bitwuzla)."""
    import z3

    if name == "z3":
        solver = z3.Solver(ctx=f.assertions[0].ctx)
        solver.add(*f.assertions)
        return _z3(solver, f.variables, timeout)
    if name == "cvc5":
        return _cvc5(text, f.variables, timeout)
    return _bitwuzla(text, f.variables, timeout)


def _smtlib(assertions: Sequence[Any]) -> str:
    """The assertions as SMT-LIB 2 text (declarations, then one ``assert`` each).

    z3 prints ``(or x)`` for a disjunction of one term, which SMT-LIB does not allow (``or`` and
    ``and`` take two or more) and bitwuzla refuses; such a node is replaced by its one argument,
    which is the same formula. Nothing else is changed.
    """
    import z3

    done: dict[int, Any] = {}
    for root in assertions:
        stack = [root]
        while stack:  # post-order, iteratively: the terms of a wide word are deep
            e = stack[-1]
            if e.get_id() in done:
                stack.pop()
                continue
            kids = [e.arg(i) for i in range(e.num_args())] if z3.is_app(e) else []
            todo = [k for k in kids if k.get_id() not in done]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            new = [done[k.get_id()] for k in kids]
            if (z3.is_or(e) or z3.is_and(e)) and len(new) == 1:
                done[e.get_id()] = new[0]
            elif any(n is not k for n, k in zip(new, kids)):
                done[e.get_id()] = e.decl()(*new)
            else:
                done[e.get_id()] = e
    solver = z3.Solver(ctx=assertions[0].ctx)
    solver.add(*[done[a.get_id()] for a in assertions])
    return solver.sexpr()


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
                model[n] = _signed(int(val.getBitVectorValue(2), 2), int(v.size()))
            else:
                model[n] = int(val.getIntegerValue())
        return Answer("cvc5", "sat", seconds, model=model)
    why = str(result.getUnknownExplanation()).rsplit(".", 1)[-1].lower()
    if why in ("timeout", "resourceout"):
        why = _timeout_why(timeout)
    return Answer("cvc5", "unknown", seconds, why or "unknown")


def _signed(raw: int, width: int) -> int:
    """A bit-vector's unsigned value read as two's complement."""
    return raw - (1 << width) if raw >> (width - 1) else raw


def _bitwuzla(text: str, variables: Mapping[str, Any], timeout: float) -> Answer:
    """The SMT-LIB ``text`` read by bitwuzla's own parser into a fresh bitwuzla instance with
    ``time-limit-per`` as its timeout; a bit-vector query only."""
    require_bitwuzla()
    import bitwuzla

    t0 = time.perf_counter()
    options = bitwuzla.Options()
    options.set(bitwuzla.Option.PRODUCE_MODELS, True)
    options.set(bitwuzla.Option.TIME_LIMIT_PER, max(1, int(timeout * 1000)))
    try:
        parser = bitwuzla.Parser(bitwuzla.TermManager(), options)
        parser.parse(text, True, False)  # parse only, from the string
        solver = parser.bitwuzla()
        result = solver.check_sat()
    except bitwuzla.BitwuzlaException as e:
        return Answer("bitwuzla", "unknown", time.perf_counter() - t0,
                      f"bitwuzla could not decide the formula ({str(e).splitlines()[0][:200]})")
    seconds = time.perf_counter() - t0
    if result == bitwuzla.Result.UNSAT:
        return Answer("bitwuzla", "unsat", seconds)
    if result == bitwuzla.Result.SAT:
        # Quoted symbols keep their bars in bitwuzla's names: |MEM[3].bit[5]|.
        declared = {f.symbol().strip("|"): f for f in parser.get_declared_funs()}
        model = {}
        for n, v in variables.items():
            term = declared.get(v.decl().name())
            # Not in the formula: any value satisfies it, take z3's default.
            model[n] = 0 if term is None else _signed(
                int(solver.get_value(term).value(2), 2), int(v.size()))
        return Answer("bitwuzla", "sat", seconds, model=model)
    # The only limit set is the time limit, so an unknown is that limit unless it came early.
    why = _timeout_why(timeout) if seconds >= 0.5 * timeout else "unknown (no reason given)"
    return Answer("bitwuzla", "unknown", seconds, why)
