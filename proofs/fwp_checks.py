"""Checks of fast weight programmers against languages: every string up to a length, and the
counter constructions for every length through z3 over the integers.

Every verdict rests on sound arithmetic: arb enclosures (or exact rationals, or z3 over exact
rational coefficients). A failure is a concrete string whose wrong decision the enclosure
certifies; an enclosure that cannot decide gives UNKNOWN, never a verdict.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from constructions.fwp.languages import Language, count_prefixes, walk
from constructions.fwp.models import Model, SumLayer, init_state, step
from verify.errors import LoopmlpError
from verify.real import ops
from verify.real.numbers import ARB, EXACT, LINEAR, Arb, Backend, NotRationalError
from verify.result import Counterexample, Result, Verdict

Progress = Callable[[int, int], None] | None


@dataclass
class Upto:
    """What an enumeration established: prefixes checked, the least certified margin, and the
    first prefix that failed (``certain``: the enclosure proves the wrong class wins)."""

    checked: int = 0
    min_margin: float = float("inf")
    min_at: list[int] = field(default_factory=list)
    failure: list[int] | None = None
    failure_target: int = -1
    failure_decision: int = -1
    certain: bool = False
    seconds: float = 0.0


def check_upto(model: Model, lang: Language, max_length: int, nb: Backend = ARB,
               progress: Progress = None, total: int | None = None) -> Upto:
    """Every valid string up to ``max_length``, each prefix's state computed once (depth-first
    over the trie of prefixes); stops at the first prefix not certified correct."""
    t0 = time.perf_counter()
    check_classes(model, lang)
    out = Upto()
    states = [init_state(model, nb)]
    path: list[int] = []
    ctx = nb.context() if isinstance(nb, Arb) else nullcontext()
    with ctx:
        for depth, a, spec_state in walk(lang, max_length):
            del states[depth:]
            del path[depth - 1:]
            path.append(a)
            st, logits = step(model, nb, states[depth - 1], a)
            states.append(st)
            target = int(lang.target(spec_state))
            margin = ops.class_margin(nb, logits, target)
            out.checked += 1
            if progress is not None and out.checked % 256 == 0:
                progress(out.checked, total or 0)
            if margin < out.min_margin:
                out.min_margin, out.min_at = margin, list(path)
            if not margin > 0:  # written so that a NaN margin fails too
                wrong = ops.class_wrong(nb, logits, target)
                dec = ops.argmax_decision(nb, logits)
                out.failure, out.failure_target = list(path), target
                out.failure_decision = wrong if wrong is not None else dec.winner
                out.certain = wrong is not None
                break
    out.seconds = time.perf_counter() - t0
    return out


def check_classes(model: Model, lang: Language) -> None:
    """Refuse a model whose output classes are not the language's (a target the network cannot
    output would otherwise be compared against the wrong logits)."""
    if model.classes != len(lang.classes):
        raise LoopmlpError(f"{model.name}: {model.classes} output classes, the language "
                           f"{lang.name} has {len(lang.classes)} ({', '.join(lang.classes)})")


def replay(model: Model, lang: Language, tokens: list[int], prec: int = 128) -> tuple[int, int,
                                                                                       bool]:
    """Re-run a failing string at a higher precision: (target, winning class, certified wrong)
    at its last prefix."""
    nb = Arb(prec)
    with nb.context():
        st = init_state(model, nb)
        for a in tokens:
            st, logits = step(model, nb, st, a)
    target = lang.targets(tokens)[-1]
    wrong = ops.class_wrong(nb, logits, target)
    return target, (wrong if wrong is not None else ops.argmax_decision(nb, logits).winner), \
        wrong is not None


class StringCounterexample(Counterexample):
    """A counterexample whose input is a string, shown as ``name('(()', length=3)``."""

    text: str

    def __init__(self, text: str, length: int, decision: int, target: int) -> None:
        super().__init__({"length": length}, {"class": decision}, {"class": target})
        object.__setattr__(self, "text", text)

    def call(self, name: str) -> str:
        shown = self.text if len(self.text) <= 80 else self.text[:38] + "..." + self.text[-38:]
        return f"{name}({shown!r}, length={self.inputs['length']})"

    def to_json(self) -> dict[str, Any]:
        doc = super().to_json()
        doc["inputs"]["string"] = self.text
        return doc


def upto_result(name: str, model: Model, lang: Language, max_length: int,
                progress: Progress = None) -> Result:
    """The obligation ``fwp/<model>/<language>/upto[L]`` as a Result."""
    total = count_prefixes(lang, max_length)
    prec = 53
    up = check_upto(model, lang, max_length, progress=progress, total=total)
    if up.failure is not None and not up.certain:
        # the balls widened (a weight matrix read twice in one update): redo at 4x precision
        prec = 212
        up = check_upto(model, lang, max_length, Arb(prec), progress=progress, total=total)
    details = {"arithmetic": f"arb ({prec} bits)", "prefixes": up.checked,
               "min_margin": up.min_margin, "min_margin_at": lang.decode(up.min_at),
               "max_length": max_length}
    if up.failure is None:
        return Result(name, Verdict.PROVED, "enumerated", up.checked, total, up.seconds,
                      f"every valid prefix up to length {max_length} decided correctly with "
                      f"certified margin >= {up.min_margin:.4g}", details=details)
    target, dec, certain = replay(model, lang, up.failure)
    if certain:
        cx = StringCounterexample(lang.decode(up.failure), len(up.failure), dec, target)
        return Result(name, Verdict.REFUTED, "enumerated", up.checked, total, up.seconds,
                      "a prefix is decided wrongly (replayed at 128 bits)", cx, details)
    return Result(name, Verdict.UNKNOWN, "enumerated", up.checked, total, up.seconds,
                  f"the enclosure cannot decide the prefix {lang.decode(up.failure)!r} even at "
                  "128 bits", details=details)


# ---- counters for every length -----------------------------------------------------------------


def _symbolic_state(model: Model, prefix: str) -> tuple[Any, ...]:
    import z3

    out = []
    for i, (layer, _) in enumerate(model.blocks):
        H, dh = layer.heads, layer.d_head
        W = np.empty((H, dh, dh), dtype=object)
        for idx in np.ndindex(W.shape):
            W[idx] = z3.Real(f"{prefix}{i}_{'_'.join(map(str, idx))}")
        out.append({"W": W})
    return tuple(out)


def sum_increments(model: Model) -> list[Any]:
    """For a one-layer LT: the exact per-token increment of its fast weights, after checking
    through the kernel's own text (z3 terms) that one step maps every state ``W`` to
    ``W + increment(token)``. By induction the state after a prefix is then
    ``sum_tau n_tau increment(tau)``: a function of the token counts alone."""
    import z3

    if len(model.blocks) != 1 or not isinstance(model.blocks[0][0], SumLayer):
        raise NotRationalError("the count proof needs a model of one sum-rule (LT) layer")
    incs = []
    for a in range(len(model.alphabet)):
        zero = init_state(model, EXACT)
        after, _ = step(model, EXACT, zero, a)
        inc = after[0]["W"]
        sym = _symbolic_state(model, f"w{a}_")
        moved, _ = step(model, LINEAR, sym, a)
        for idx in np.ndindex(inc.shape):
            diff = z3.simplify(moved[0]["W"][idx] - sym[0]["W"][idx] - LINEAR.scalar(inc[idx]))
            if not (z3.is_rational_value(diff) and diff.as_fraction() == 0):
                raise NotRationalError(f"the fast-weight update of token {a} is not a translation")
        incs.append(inc)
    return incs


@dataclass(frozen=True)
class CountProof:
    verdict: Verdict
    reason: str
    margin: Any = None
    witness: list[int] | None = None
    target: int = -1
    decision: int = -1
    queries: int = 0


def counter_all_lengths(model: Model, lang: Language,
                        invariant: Callable[[tuple[Any, ...]], Any],
                        timeout_s: float = 60.0) -> CountProof:
    """Every valid string of every length, for a one-layer LT over a counter language.

    z3 proves, over integer counts ``n``: (1) the invariant holds at the start and is closed
    under every valid symbol; (2) for every ``n`` in it and every symbol ``tau`` valid there,
    the network's exact logits after ``tau`` (the kernel run on the symbolic state
    ``sum n_tau inc(tau)``) put the target class of ``n + e_tau`` ahead of every other class by
    at least the margin reported. A z3 model of a failure is realised as a concrete string and
    replayed in exact rationals before REFUTED is reported.
    """
    import z3

    check_classes(model, lang)
    incs = sum_increments(model)
    V = len(lang.alphabet)
    queries = 0

    def solver() -> Any:
        s = z3.Solver()
        s.set("timeout", int(timeout_s * 1000))
        return s

    n = [z3.Int(f"n_{lang.alphabet[a]}") for a in range(V)]
    # (1) the invariant is inductive.
    if any(c != 0 for c in lang.start) or len(lang.start) != V:
        raise NotRationalError(f"{lang.name}: not a counter language (its start state is "
                               f"{lang.start}, not zero counts)")
    if not _truth(invariant(tuple(lang.start))):
        return CountProof(Verdict.UNKNOWN, "the invariant does not hold at the empty prefix")
    for a in range(V):
        s = solver()
        s.add(*[x >= 0 for x in n], _z(invariant(tuple(n))), _z(lang.valid(tuple(n), a)),
              z3.Not(_z(invariant(lang.step(tuple(n), a)))))
        queries += 1
        r = s.check()
        if r != z3.unsat:
            return CountProof(Verdict.UNKNOWN, f"the invariant is not closed under "
                              f"{lang.alphabet[a]!r} (z3: {r})", queries=queries)
    # (2) the readout: try the least margin seen on short strings, else any positive margin.
    short = _short_margins(model, lang)
    # a candidate margin must be positive: a proof of "lead >= mu" with mu <= 0 proves nothing
    for mu in ((short, None) if short is not None and short > 0 else (None,)):
        ok = True
        for a in range(V):
            state = counts_state(model, incs, n)
            _, logits = step(model, LINEAR, state, a)
            after = lang.step(tuple(n), a)
            target = lang.target(after)
            C = model.classes
            for c in range(C):
                s = solver()
                s.add(*[x >= 0 for x in n], _z(invariant(tuple(n))), _z(lang.valid(tuple(n), a)))
                lead = z3.Sum([z3.If(_z(target == t), logits[t], 0) for t in range(C)]) - logits[c]
                bound = LINEAR.scalar(mu) if mu is not None else LINEAR.scalar(0)
                s.add(_z(target != c))
                s.add(lead < bound if mu is not None else lead <= bound)
                queries += 1
                r = s.check()
                if r == z3.unsat:
                    continue
                ok = False
                if r == z3.sat and mu is None:
                    counts = [s.model().eval(x, model_completion=True).as_long() for x in n]
                    return _realise(model, lang, counts, a, queries)
                if r != z3.sat:
                    return CountProof(Verdict.UNKNOWN, f"z3: {r}", queries=queries)
                break
            if not ok:
                break
        if ok:
            return CountProof(Verdict.PROVED, "every count, every valid next symbol",
                              margin=mu if mu is not None else 0, queries=queries)
    return CountProof(Verdict.UNKNOWN, "no margin found", queries=queries)


def _short_margins(model: Model, lang: Language, length: int = 4) -> Any:
    """The least exact margin over the valid strings up to ``length`` (a rational)."""
    best = None
    states = [init_state(model, EXACT)]
    for depth, a, spec in walk(lang, length):
        del states[depth:]
        st, logits = step(model, EXACT, states[depth - 1], a)
        states.append(st)
        t = int(lang.target(spec))
        m = min(logits[t] - logits[c] for c in range(len(logits)) if c != t)
        best = m if best is None or m < best else best
    return best


def counts_state(model: Model, incs: list[Any], n: list[Any]) -> tuple[Any, ...]:
    """The one-layer LT state ``sum_tau n_tau inc(tau)`` over symbolic counts (z3 terms)."""
    W = np.empty(incs[0].shape, dtype=object)
    for idx in np.ndindex(W.shape):
        W[idx] = sum((LINEAR.scalar(inc[idx]) * x for inc, x in zip(incs, n)),
                     LINEAR.scalar(0))
    return ({"W": W},)


def _z(x: Any) -> Any:
    import z3

    return x if isinstance(x, z3.ExprRef) else z3.BoolVal(bool(x))


def _truth(x: Any) -> bool:
    import z3

    if isinstance(x, z3.ExprRef):
        return z3.is_true(z3.simplify(x))
    return bool(x)


def _realise(model: Model, lang: Language, counts: list[int], last: int,
             queries: int) -> CountProof:
    """A valid string with these counts followed by ``last``, replayed exactly; else UNKNOWN."""
    total = sum(counts)
    found = _string_with_counts(lang, counts) if total <= 40 else None
    if found is None:
        return CountProof(Verdict.UNKNOWN, f"z3 found counts {counts} + {lang.alphabet[last]!r} "
                          "outside the margin, but no valid string realises them",
                          queries=queries)
    tokens = found + [last]
    logits = None
    st = init_state(model, EXACT)
    for a in tokens:
        st, logits = step(model, EXACT, st, a)
    target = lang.targets(tokens)[-1]
    wrong = ops.class_wrong(EXACT, logits, target)
    if wrong is None:
        return CountProof(Verdict.UNKNOWN, f"the string {lang.decode(tokens)!r} is decided "
                          "correctly but with no margin", queries=queries)
    return CountProof(Verdict.REFUTED, "replayed in exact rationals", witness=tokens,
                      target=target, decision=wrong, queries=queries)


def _string_with_counts(lang: Language, counts: list[int]) -> list[int] | None:
    left = list(counts)
    out: list[int] = []

    def go(st: tuple[Any, ...]) -> bool:
        if not any(left):
            return True
        for a in range(len(left)):
            if left[a] and lang.valid(st, a):
                left[a] -= 1
                out.append(a)
                if go(lang.step(st, a)):
                    return True
                out.pop()
                left[a] += 1
        return False

    return out if go(lang.start) else None


def counter_result(name: str, model: Model, lang: Language,
                   invariant: Callable[[tuple[Any, ...]], Any], timeout_s: float) -> Result:
    """The obligation ``fwp/<model>/<language>/all-lengths`` for a counter construction."""
    t0 = time.perf_counter()
    try:
        p = counter_all_lengths(model, lang, invariant, timeout_s)
    except NotRationalError as e:
        return Result(name, Verdict.UNKNOWN, "induction", 0, 0, time.perf_counter() - t0,
                      f"not a one-layer rational LT: {e}")
    except LoopmlpError as e:
        return Result(name, Verdict.UNKNOWN, "induction", 0, 0, time.perf_counter() - t0, str(e))
    secs = time.perf_counter() - t0
    details = {"arithmetic": "exact rationals, z3 over the integers", "queries": p.queries,
               "margin": str(p.margin) if p.margin is not None else None}
    if p.verdict is Verdict.REFUTED and p.witness is not None:
        cx = StringCounterexample(lang.decode(p.witness), len(p.witness), p.decision, p.target)
        return Result(name, Verdict.REFUTED, "induction", 1, 1, secs, p.reason, cx, details)
    if p.verdict is Verdict.PROVED:
        return Result(name, Verdict.PROVED, "induction", 1, 1, secs,
                      f"for every length: inductive invariant over the counts, exact margin >= "
                      f"{p.margin}", details=details)
    return Result(name, p.verdict, "induction", 0, 1, secs, p.reason, details=details)
