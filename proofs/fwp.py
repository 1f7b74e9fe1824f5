"""Obligations of the fast weight programmer family: constructions on formal languages, for every
string up to a length and for every length, plus two negative results.

Names: ``fwp/<model>/<language>/upto[L]`` (every valid string up to length L, every prefix decided
with a certified margin), ``fwp/<model>/<language>/all-lengths`` (an inductive invariant),
``fwp/recdelta/parity/bound`` (the largest length proved for the leaky construction),
``fwp/ltdelta/reset-dyck1/bound`` (the latch's proved length), ``fwp/lt/reset-dyck1/no-one-layer``,
``fwp/lt/parity/no-one-layer``, ``fwp/deltanet/spectrum[n=2..4]`` and
``fwp/deltanet/spectrum[n=any]``.

The all-lengths claims of Recurrent Delta parity and of the LT + DeltaNet latch are refuted by
certified witnesses; they and the long-running sizes are marked slow, so the default
``loopmlp prove`` stays fast and all-proved.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from constructions.fwp import counters, ltdelta, recdelta, srwm
from constructions.fwp.languages import (
    AA_DFA,
    ABAB_DFA,
    PARITY_DFA,
    Dfa,
    Language,
    counter_invariant,
    language,
)
from constructions.fwp.models import Model
from verify.errors import LoopmlpError
from verify.methods import Options
from verify.result import Result, Verdict

from .fwp_boxes import prove_dfa
from .fwp_checks import StringCounterexample, counter_result, upto_result
from .fwp_latch import prove_bound
from .fwp_latch import refute as refute_latch
from .fwp_leak import prove_up_to, refute
from .fwp_symbolic import PARITY, SPECTRUM_ANY, no_one_layer_parity, spectrum_any
from .registry import Entry


def constructions() -> dict[str, tuple[Callable[[], Model], str]]:
    """Every named construction: name -> (builder, language name)."""
    return {
        "lt-dyck1": (counters.lt_dyck1, "dyck1"),
        "lt-anbn": (counters.lt_anbn, "anbn"),
        "lt-anbncn": (counters.lt_anbncn, "anbncn"),
        "lt-shuffle2": (counters.lt_shuffle2, "shuffle2"),
        "recdelta-parity": (recdelta.rd_parity, "parity"),
        "ltdelta-reset-dyck1": (ltdelta.lt_delta_reset_dyck1, "reset-dyck1"),
        "srwm-parity": (lambda: srwm.srwm_dfa(PARITY_DFA, "srwm-parity"), "parity"),
        "srwm-aa-star": (lambda: srwm.srwm_dfa(AA_DFA, "srwm-aa-star"), "aa-star"),
        "srwm-abab-star": (lambda: srwm.srwm_dfa(ABAB_DFA, "srwm-abab-star"), "abab-star"),
    }


def construction(name: str) -> tuple[Model, Language]:
    """Build the construction called ``name`` and its language."""
    table = constructions()
    if name not in table:
        raise LoopmlpError(f"construction {name!r}: need one of {', '.join(table)}")
    build, lang = table[name]
    return build(), language(lang)


def _upto(name: str, cons: str, L: int, slow: bool = False) -> Entry:  # noqa: N803 (maths names)
    def run(opts: Options) -> Result:
        model, lang = construction(cons)
        return upto_result(name, model, lang, L, progress=opts.progress)

    return Entry(name, run, slow)


def _counter_all(name: str, cons: str) -> Entry:
    def run(opts: Options) -> Result:
        model, lang = construction(cons)
        return counter_result(name, model, lang, counter_invariant(lang.name), opts.timeout)

    return Entry(name, run)


def dfa_all_lengths(name: str, model: Model, dfa: Dfa) -> Result:
    """The box invariant of an SRWM automaton as a Result."""
    t0 = time.perf_counter()
    try:
        p = prove_dfa(model, dfa)
    except LoopmlpError as e:
        return Result(name, Verdict.UNKNOWN, "induction", 0, 1, time.perf_counter() - t0,
                      str(e))
    details = {"arithmetic": "arb (64 bits)", "min_margin": p.min_margin,
               "max_radius": p.max_radius, "states": dfa.states}
    if p.proved:
        return Result(name, Verdict.PROVED, "induction", 1, 1, p.seconds,
                      f"closed boxes around all {dfa.states} automaton states, certified margin "
                      f">= {p.min_margin:.4g}", details=details)
    return Result(name, Verdict.UNKNOWN, "induction", 0, 1, p.seconds, p.reason,
                  details=details)


def _srwm_all(name: str, cons: str) -> Entry:
    def run(opts: Options) -> Result:
        model, lang = construction(cons)
        assert lang.dfa is not None  # an SRWM construction decides a regular language
        return dfa_all_lengths(name, model, lang.dfa)  # the spec's automaton, not the model's

    return Entry(name, run)


def _rd_bound(name: str, limit: int, slow: bool) -> Entry:
    def run(opts: Options) -> Result:
        model = recdelta.rd_parity()
        b = prove_up_to(model, limit=limit)
        details = {"arithmetic": "arb (256 bits)", "proved_length": b.length,
                   "grid_points": b.grid, "limit": limit}
        if b.length >= limit:
            return Result(name, Verdict.PROVED, "induction", 1, 1, b.seconds,
                          f"every string of length <= {b.length} by growing boxes",
                          details=details)
        if slow:  # the open-ended run: what it proves is the bound
            return Result(name, Verdict.PROVED, "induction", 1, 1, b.seconds,
                          f"every string of length <= {b.length} (= {b.length:.3e}) by growing "
                          "boxes; longer strings are not covered", details=details)
        return Result(name, Verdict.UNKNOWN, "induction", 0, 1, b.seconds,
                      f"the boxes verify only up to length {b.length}", details=details)

    return Entry(name, run, slow)


def _rd_all(name: str) -> Entry:
    def run(opts: Options) -> Result:
        model = recdelta.rd_parity()
        try:
            w = refute(model)
        except LoopmlpError as e:
            return Result(name, Verdict.UNKNOWN, "induction", 0, 1, 0.0, str(e))
        cx = StringCounterexample(f"0^{w.zeros} 1", w.zeros + 1, w.decision, w.target)
        return Result(name, Verdict.REFUTED, "induction", 1, 1, w.seconds,
                      "the leak: after the zeros y is certified above 0.6, and one 1 from there "
                      "is certified to say even", cx,
                      {"arithmetic": "arb (256 bits)", "zeros": w.zeros})

    return Entry(name, run, slow=True)


def _latch_bound(opts: Options) -> Result:
    """Every reset Dyck-1 string up to the length the latch induction certifies."""
    name = "fwp/ltdelta/reset-dyck1/bound"
    model, _ = construction("ltdelta-reset-dyck1")
    t0 = time.perf_counter()
    try:
        b = prove_bound(model)
    except LoopmlpError as e:
        return Result(name, Verdict.UNKNOWN, "induction", 0, 1, time.perf_counter() - t0, str(e))
    details = {"arithmetic": "arb (128 bits), exact rationals, z3", "proved_length": b.length,
               "leak": b.leak, "min_margin": b.min_margin,
               "first_failing_count": b.failing_count}
    if b.length < 1:
        return Result(name, Verdict.UNKNOWN, "induction", 0, 1, b.seconds,
                      "the latch induction certifies no length", details=details)
    return Result(name, Verdict.PROVED, "induction", 1, 1, b.seconds,
                  f"every valid string of length <= {b.length} (latch induction, certified "
                  f"margin >= {b.min_margin:.3g}); longer strings are not covered",
                  details=details)


def _latch_all(opts: Options) -> Result:
    """The latch construction for every length: refuted by ``(^N 1 (`` replayed in arb."""
    name = "fwp/ltdelta/reset-dyck1/all-lengths"
    model, _ = construction("ltdelta-reset-dyck1")
    t0 = time.perf_counter()
    try:
        b = prove_bound(model)
        if b.failing_count is None:
            return Result(name, Verdict.UNKNOWN, "induction", 0, 1, b.seconds,
                          f"no failing count found up to length {b.length}")
        w = refute_latch(model, b.failing_count)
    except LoopmlpError as e:
        return Result(name, Verdict.UNKNOWN, "induction", 0, 1, time.perf_counter() - t0, str(e))
    cx = StringCounterexample(w.text, len(w.tokens), w.decision, w.target)
    return Result(name, Verdict.REFUTED, "induction", 1, 1, time.perf_counter() - t0,
                  f"depth 1 decided as 0: the layer-norm gap f(m + 1) - f(m) at m = "
                  f"{b.failing_count} is below the threshold (replayed through the kernel "
                  f"at {w.prec} bits); every string up to length {b.length} is proved", cx,
                  {"arithmetic": f"arb ({w.prec} bits)", "opening": b.failing_count,
                   "proved_length": b.length})


def entries() -> list[Entry]:
    """Every obligation of the family (cheap sizes by default, big ones slow)."""
    out: list[Entry] = []
    for cons, lang, small, big in (("lt-dyck1", "dyck1", 12, 16), ("lt-anbn", "anbn", 40, 400),
                                   ("lt-anbncn", "anbncn", 30, 300),
                                   ("lt-shuffle2", "shuffle2", 6, 8)):
        out.append(_upto(f"fwp/lt/{lang}/upto[{small}]", cons, small))
        out.append(_upto(f"fwp/lt/{lang}/upto[{big}]", cons, big, slow=True))
        out.append(_counter_all(f"fwp/lt/{lang}/all-lengths", cons))
    out.append(_upto("fwp/recdelta/parity/upto[10]", "recdelta-parity", 10))
    out.append(_upto("fwp/recdelta/parity/upto[16]", "recdelta-parity", 16, slow=True))
    out.append(_rd_bound("fwp/recdelta/parity/upto[2^20]", 2**20, slow=False))
    out.append(_rd_bound("fwp/recdelta/parity/bound", 10**20, slow=True))
    out.append(_rd_all("fwp/recdelta/parity/all-lengths"))
    out.append(_upto("fwp/ltdelta/reset-dyck1/upto[8]", "ltdelta-reset-dyck1", 8))
    out.append(_upto("fwp/ltdelta/reset-dyck1/upto[12]", "ltdelta-reset-dyck1", 12, slow=True))
    out.append(Entry("fwp/ltdelta/reset-dyck1/bound", _latch_bound))
    out.append(Entry("fwp/ltdelta/reset-dyck1/all-lengths", _latch_all, slow=True))
    for cons, lang, small, big in (("srwm-parity", "parity", 10, 14),
                                   ("srwm-aa-star", "aa-star", 60, 150),
                                   ("srwm-abab-star", "abab-star", 8, 12)):
        out.append(_upto(f"fwp/srwm/{lang}/upto[{small}]", cons, small))
        out.append(_upto(f"fwp/srwm/{lang}/upto[{big}]", cons, big, slow=True))
        out.append(_srwm_all(f"fwp/srwm/{lang}/all-lengths", cons))
    out.append(Entry("fwp/lt/reset-dyck1/no-one-layer", _no_one_layer))
    out.append(Entry(PARITY, no_one_layer_parity))
    out.append(Entry(SPECTRUM, _spectrum))
    out.append(Entry(SPECTRUM_ANY, spectrum_any))
    return out


# ---- negative results --------------------------------------------------------------------------

WITNESSES = ("(((1()", "((1(()")


def _no_one_layer(opts: Options) -> Result:
    """Every one-layer LT gives the two reset-Dyck-1 witnesses the same output.

    A statement about the whole model class (any width, heads and weights), in two parts. The
    reduction, read off the kernel's text (:func:`constructions.fwp.models.layer_step`, sum rule,
    no positional input) and not machine-checked: the layer input at position t is the embedding
    of a_t, so ``[q, k, v]`` at t are functions of a_t, the fast weight after a string is
    ``sum_t T(a_t)`` with ``T(a) = v_a (x) phi(k_a)`` per head, and the output at the last
    position is a function of that sum and the last token. The checked part: sympy shows, with
    ``T(a)`` symbolic matrices of symbolic size, that the two witnesses' sums are equal; both
    strings end in ``)``; their targets (from the language spec) differ. So every such model errs
    on one of them.
    """
    import sympy

    name = "fwp/lt/reset-dyck1/no-one-layer"
    t0 = time.perf_counter()
    lang = language("reset-dyck1")
    n = sympy.Symbol("n", positive=True, integer=True)
    T = {a: sympy.MatrixSymbol(f"T_{i}", n, n) for i, a in enumerate(lang.alphabet)}
    sums = []
    for w in WITNESSES:
        lang.encode(w)  # both are valid prefixes
        total = sympy.ZeroMatrix(n, n)
        for ch in w:
            total = total + T[ch]
        sums.append(total)
    same_state = bool(sympy.simplify(sums[0] - sums[1]).is_ZeroMatrix)
    same_last = WITNESSES[0][-1] == WITNESSES[1][-1]
    targets = [lang.targets(lang.encode(w))[-1] for w in WITNESSES]
    secs = time.perf_counter() - t0
    details = {"witnesses": list(WITNESSES), "targets": targets, "method": "sympy"}
    if same_state and same_last and targets[0] != targets[1]:
        return Result(name, Verdict.PROVED, "symbolic", 1, 1, secs,
                      f"every one-layer LT (any width, heads, weights) maps {WITNESSES[0]!r} and "
                      f"{WITNESSES[1]!r} to the same output (equal symbolic fast-weight sums, "
                      f"same last token); their targets are {targets[0]} and {targets[1]}",
                      details=details)
    return Result(name, Verdict.UNKNOWN, "symbolic", 0, 1, secs,
                  "the symbolic check did not establish equal states", details=details)


SPECTRUM = "fwp/deltanet/spectrum[n=2..4]"
"""The spectrum obligation: proved for key dimensions 2 to 4 only, as its name says."""


def _spectrum(opts: Options) -> Result:
    """DeltaNet's transition ``I - beta k k^T`` has spectrum in (0, 1].

    sympy factors the characteristic polynomial for symbolic ``k`` (dimensions 2 to 4) into
    ``(lambda - 1)^(n-1) (lambda - 1 + beta |k|^2)``; z3 proves ``0 < 1 - beta |k|^2 <= 1`` for
    every positive ``k`` summing to 1 and ``beta`` in (0, 1). For general ``n`` the second fact is
    ``|k|^2 <= (sum k)^2 = 1`` for positive entries.
    """
    import sympy
    import z3

    name = SPECTRUM
    t0 = time.perf_counter()
    lam, beta = sympy.symbols("lambda beta")
    checked = 0
    for dim in (2, 3, 4):
        ks = sympy.symbols(f"k0:{dim}", positive=True)
        k = sympy.Matrix(ks)
        A = sympy.eye(dim) - beta * k * k.T
        poly = sympy.factor(A.charpoly(lam).as_expr())
        norm2 = sum(x**2 for x in ks)
        expected = (lam - 1) ** (dim - 1) * (lam - 1 + beta * norm2)
        if sympy.expand(poly - expected) != 0:
            return Result(name, Verdict.UNKNOWN, "symbolic", checked, 3,
                          time.perf_counter() - t0, f"unexpected characteristic polynomial "
                          f"at n={dim}: {poly}")
        zk = [z3.Real(f"k{i}") for i in range(dim)]
        zb = z3.Real("beta")
        s = z3.Solver()
        s.set("timeout", int(opts.timeout * 1000))
        ev = 1 - zb * z3.Sum([x * x for x in zk])
        s.add(*[x > 0 for x in zk], z3.Sum(zk) == 1, zb > 0, zb < 1, z3.Or(ev <= 0, ev > 1))
        r = s.check()
        if r != z3.unsat:
            return Result(name, Verdict.UNKNOWN if r == z3.unknown else Verdict.REFUTED,
                          "symbolic", checked, 3, time.perf_counter() - t0,
                          f"z3 could not bound the eigenvalue at n={dim}: {r}")
        checked += 1
    return Result(name, Verdict.PROVED, "symbolic", checked, 3, time.perf_counter() - t0,
                  "eigenvalues 1 (multiplicity n-1) and 1 - beta |k|^2 in (0, 1] for n = 2..4",
                  details={"method": "sympy + z3"})
