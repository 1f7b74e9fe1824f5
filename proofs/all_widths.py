"""Gadget proofs for every width: each family's units written once as formulas in symbolic powers
of two, their identities and composition proved by z3 over the integers for every N (and M), and
the networks the builders make checked against the same formulas, unit by unit, at the
registered widths. docs/all-widths.md says which part rests on what.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

from constructions.gadgets import (
    Gadget,
    make_add,
    make_branch,
    make_compare,
    make_compare_branch,
    make_flag,
    make_increment,
    make_match,
    make_read,
    make_subtract,
    make_write,
)
from verify.errors import InternalError
from verify.layout import Layout, bit_names
from verify.network import Layer, Network
from verify.result import Counterexample, Result, Verdict

from .registry import Entry

Num = Any
"""A number of either semantics: a Python int or a z3 integer term."""

MOST_BITS = 128
"""The widest word the subtract, add, compare, flag, increment and branch builders accept (and
the widest address the match builder accepts is 12 bits)."""

BITS = (*range(1, 17), 32, 64, MOST_BITS)
"""The registered word widths of the structural check of the prefix-sum families; compare,
flag and branch are checked at every width their builders accept, match at every address."""

SEARCH_LIMIT = 1 << 14
"""Largest input domain searched exhaustively when a solver model does not replay by itself."""

CLAIM_TIMEOUT = 10.0
"""Seconds the solver gets for one claim (less when the obligation's own timeout is shorter)."""

SMALL_POWERS = tuple(1 << e for e in range(6))
"""Values a power-of-two variable may take when a failed claim is re-solved for a counterexample
that can be built at a concrete width."""


# ---------------------------------------------------------------------------- both semantics
def relu(x: Num) -> Num:
    """max(x, 0) on ints, ``If(x > 0, x, 0)`` on z3 terms."""
    if isinstance(x, z3.ExprRef):
        return z3.If(x > 0, x, 0)
    return max(x, 0)


def ite(c: Any, a: Num, b: Num) -> Num:
    """``a if c else b`` on Python booleans, ``If`` on z3 ones."""
    if isinstance(c, z3.ExprRef):
        return z3.If(c, a, b)
    return a if c else b


def log2(p: int) -> int:
    """The exponent of a positive power of two."""
    return p.bit_length() - 1


# ---------------------------------------------------------------------------- claims and lemmas
class Scope:
    """The variables of one claim, in its own z3 context, with the facts that declare them."""

    def __init__(self, ctx: z3.Context) -> None:
        self.ctx = ctx
        self.vars: dict[str, z3.ArithRef] = {}
        self.facts: list[z3.BoolRef] = []
        self.powers: list[str] = []

    def int(self, name: str) -> z3.ArithRef:
        v = z3.Int(name, self.ctx)
        self.vars[name] = v
        return v

    def bit(self, name: str) -> z3.ArithRef:
        """An integer variable with 0 <= v <= 1."""
        v = self.int(name)
        self.facts.append(z3.And(v >= 0, v <= 1))
        return v

    def power(self, name: str) -> z3.ArithRef:
        """A positive integer standing for a power of two (the lemma is proved for every
        positive value; a counterexample is looked for among the powers of two)."""
        v = self.int(name)
        self.facts.append(v >= 1)
        self.powers.append(name)
        return v

    def function(self, name: str) -> z3.FuncDeclRef:
        return z3.Function(name, z3.IntSort(self.ctx), z3.IntSort(self.ctx))


@dataclass(frozen=True)
class Claim:
    """``facts and hypotheses and hints => goal``; ``hints`` are instances of proved lemmas."""

    case: str
    hypotheses: tuple[Any, ...]
    goal: Any
    hints: tuple[Any, ...] = ()


Realise = Callable[[Mapping[str, int]], "Candidate | None"]


@dataclass(frozen=True)
class Candidate:
    """Concrete sizes (and, when the model pins them, inputs) read off a solver model."""

    sizes: Mapping[str, int]
    inputs: Mapping[str, int] | None = None
    where: str = ""


@dataclass(frozen=True)
class Lemma:
    """A named statement, its claims (cases), and how a model of a failed claim maps to a
    concrete width and input."""

    name: str
    statement: str
    build: Callable[[Scope], list[Claim]]
    realise: Realise | None = None
    uses: tuple[str, ...] = ()


@dataclass
class Outcome:
    """What the solver said about each claim of a lemma."""

    lemma: str
    proved: int = 0
    total: int = 0
    status: str = "proved"
    models: list[dict[str, int]] = field(default_factory=list)
    seconds: float = 0.0


def _solve(lemma: Lemma, timeout: float, restrict: int) -> tuple[int, int, str,
                                                                    list[dict[str, int]]]:
    """Run every claim of the lemma in a fresh context; with ``restrict`` the power variables
    are limited to the powers of two up to it (to find a model that can be built concretely)."""
    scope = Scope(z3.Context())
    claims = lemma.build(scope)
    proved, status, models = 0, "proved", []
    for claim in claims:
        s = z3.Solver(ctx=scope.ctx)
        s.set("timeout", int(timeout * 1000))
        s.add(*scope.facts, *claim.hypotheses, *claim.hints)
        s.add(z3.Not(claim.goal))
        if restrict:
            for p in scope.powers:
                v = scope.vars[p]
                s.add(z3.Or([v == k for k in SMALL_POWERS if k <= restrict]))
        answer = s.check()
        if answer == z3.unsat and not restrict and _vacuous(scope, claim, timeout):
            # Hypotheses that contradict each other prove nothing.
            status = "vacuous" if status == "proved" else status
        elif answer == z3.unsat:
            proved += 1
        elif answer == z3.sat:
            m = s.model()
            models.append({n: m.eval(v, model_completion=True).as_long()
                           for n, v in scope.vars.items()} | {"_case": claims.index(claim)})
            status = "refuted"
        elif status == "proved":
            status = "unknown"
    return proved, len(claims), status, models


def _vacuous(scope: Scope, claim: Claim, timeout: float) -> bool:
    """True when the claim's hypotheses (with the facts and hints) have no model at all."""
    s = z3.Solver(ctx=scope.ctx)
    s.set("timeout", int(timeout * 1000))
    s.add(*scope.facts, *claim.hypotheses, *claim.hints)
    return s.check() != z3.sat


def prove(lemma: Lemma, timeout: float = CLAIM_TIMEOUT) -> Outcome:
    """Prove every claim (unsat of its negation); a failed claim is re-solved among small powers
    of two, so that its model names a concrete width."""
    t0 = time.perf_counter()
    proved, total, status, models = _solve(lemma, timeout, 0)
    if status == "refuted":
        # The smallest sizes first: their counterexamples are the easiest to build and search.
        models = []
        for bound in SMALL_POWERS:
            _, _, again, small = _solve(lemma, timeout, bound)
            if again == "refuted":
                models = small
                break
    return Outcome(lemma.name, proved, total, status, models, time.perf_counter() - t0)


def quotient_unique(c: Num, d: Num, p: Num) -> Any:
    """The instance of lemma ``division/unique`` at (c, d, P)."""
    return z3.Implies(z3.And(p >= 1, c * p == d, d > -p, d < p), c == 0)


def _division_unique(s: Scope) -> list[Claim]:
    p, c, d = s.power("P"), s.int("c"), s.int("d")
    return [Claim("", (c * p == d, d > -p, d < p), c == 0)]


def _word_range(s: Scope) -> list[Claim]:
    w, x, b = s.power("W"), s.int("X"), s.bit("b")
    return [Claim("base", (w == 1, x == 0), z3.And(x >= 0, x <= w - 1)),
            Claim("step", (x >= 0, x <= w - 1), z3.And(x + ite(b == 1, w, 0) >= 0,
                                                     x + ite(b == 1, w, 0) <= 2 * w - 1))]


def _word_bit(s: Scope) -> list[Claim]:
    p, low, b, high, q, r = (s.power("P"), s.int("L"), s.bit("b"), s.int("Hh"), s.int("q"),
                             s.int("r"))
    w = low + ite(b == 1, p, 0) + 2 * p * high
    hyp = (low >= 0, low <= p - 1, high >= 0, w == q * p + r, r >= 0, r <= p - 1)
    return [Claim("", hyp, q % 2 == b, (quotient_unique(q - b - 2 * high, low - r, p),))]


DIVISION = Lemma("division/unique", "P >= 1, c P = d, |d| < P  =>  c = 0", _division_unique)
WORD_RANGE = Lemma(
    "word/range", "an unsigned word of n bits, W = 2^n: 0 <= x <= W - 1 (induction on n: "
    "base W = 1, x = 0; step x + W b)", _word_range)
WORD_BIT = Lemma(
    "word/bit", "x = L + 2^t b + 2^(t+1) Hh with 0 <= L < 2^t: floor(x / 2^t) mod 2 = b "
    "(bit t of a word is its t-th bit)", _word_bit, uses=("division/unique",))


# ---------------------------------------------------------------------------- families
@dataclass(frozen=True)
class Family:
    """What every family provides: its lemmas, its template as an exact network, its builder,
    its spec at a concrete size, and the sizes the structural check runs at.

    The *template* gives the units as functions of the symbolic powers (``P = 2^i``, the weight
    of bit j as a function of ``2^j``); the same functions run on Python ints, which instantiates
    it as an exact network at a concrete size, and on z3 integer terms, which states the lemmas.
    No lemma uses a bit-vector or a fixed width: every power of two is a positive integer
    variable, and a lemma holds for every positive value of it (so for every power of two).
    """

    name: str

    def lemmas(self) -> list[Lemma]:
        raise NotImplementedError

    def template(self, sizes: Mapping[str, int]) -> Network:
        raise NotImplementedError

    def gadget(self, sizes: Mapping[str, int]) -> Gadget:
        raise NotImplementedError

    def registered(self) -> list[dict[str, int]]:
        raise NotImplementedError

    def every_size(self) -> list[dict[str, int]]:
        """Every size the builder accepts, where that is few enough to check one by one (by
        default the registered sizes)."""
        return self.registered()

    def words(self, sizes: Mapping[str, int]) -> dict[str, tuple[str, ...]]:
        """Input bits grouped into words, for displaying a counterexample."""
        return {}


def _network(name: str, inputs: Sequence[str],
             layers: Sequence[Sequence[tuple[str, Mapping[str, int], int]]]) -> Network:
    """An exact network from rows ``(unit, {input: weight}, bias)``, every layer with ReLU."""
    built: list[Layer] = []
    prev = Layout(inputs)
    for k, rows in enumerate(layers):
        # A template whose formulas give two units one name (two equal thresholds) still
        # builds: the later unit is told apart by its position.
        names: list[str] = []
        for pos, (u, _, _) in enumerate(rows):
            names.append(u if u not in names else f"{u}#{pos}")
        out = Layout(names, f"layer {k}")
        built.append(Layer.from_rows(prev, out, {u: (dict(c), b)
                                                 for u, (_, c, b) in zip(names, rows)},
                                     label=f"{name}: layer {k}"))
        prev = out
    return Network(tuple(built), name)


def _digits_signed(v: int, n: int) -> tuple[int, int]:
    """(a, b) with b - a = v, both n-bit words (|v| <= 2^n - 1)."""
    return (0, v) if v >= 0 else (-v, 0)


def _digits_sum(v: int, n: int) -> tuple[int, int]:
    """(a, b) with a + b = v, both n-bit words (0 <= v <= 2 (2^n - 1))."""
    a = min(v, (1 << n) - 1)
    return a, v - a


def _bits_of(prefix: str, value: int, n: int) -> dict[str, int]:
    return {name: (value >> k) & 1 for k, name in enumerate(bit_names(prefix, n))}


# ---- prefix-sum families: subtract, add, increment
def coefficient_lemma(fam: str, words: Sequence[str], coefs: Sequence[Callable[[Num], Num]],
                      digit: Callable[[Sequence[Num]], Num]) -> Lemma:
    """``<fam>/coefficient``: bit j's weights, as functions of 2^j, are 2^j times its digit."""
    k = len(words)

    def build(s: Scope) -> list[Claim]:
        q = s.power("Q")
        xs = [s.bit(f"x{w}") for w in range(k)]
        total = z3.Sum([c(q) * x for c, x in zip(coefs, xs)])
        return [Claim("", (), total == q * digit(xs))]

    def realise(m: Mapping[str, int]) -> Candidate:
        j = log2(m["Q"])
        inputs = {name: 0 for w in words for name in bit_names(w, j + 1)}
        for n, w in enumerate(words):
            inputs[f"{w}.bit[{j}]"] = m[f"x{n}"]
        return Candidate({"bits": j + 1}, inputs, f"bit {j}")

    digits = "digit_j" if k == 1 else "digit_j(" + ", ".join(words) + ")"
    return Lemma(f"{fam}/coefficient", f"sum_words coef(2^j) x_j = 2^j {digits} for every j: "
                 "the template's prefix sum is the digit word X_i (induction on i, this the "
                 "step)", build, realise)


@dataclass(frozen=True)
class Prefix(Family):
    """Bit i is read off the prefix sum ``S_i = sum_{j<=i} coef(2^j) x_j + offset(2^i)`` by
    steps ``[S >= tau] = ReLU(S - tau + 1) - ReLU(S - tau)`` at thresholds ``tau(2^i)``.

    Template fields (what a builder could get wrong): ``coefs``, ``offset``, ``thresholds``,
    ``step_bias``, ``out_bias``. Spec fields: the digit ``x_j`` of the word-level value
    ``V = sum_j 2^j digit_j + constant`` whose residue mod 2^N the outputs spell, the digits'
    range, and how many multiples of 2^i the sum can span (``cases``).
    """

    words_in: tuple[str, ...] = ()
    coefs: tuple[Callable[[Num], Num], ...] = ()
    offset: Callable[[Num], Num] = lambda p: 0
    thresholds: tuple[tuple[int, Callable[[Num], Num]], ...] = ()
    step_bias: tuple[int, int] = (1, 0)
    out_bias: int = 0
    tag: str = "T"
    out: str = "R"
    digit: Callable[[Sequence[Num]], Num] = lambda xs: xs[0]
    constant: int = 0
    low: Callable[[Num], Num] = lambda w: 0  # digit-word range for W = 2^n, n digits
    high: Callable[[Num], Num] = lambda w: w - 1
    range_text: str = "[0, W - 1]"
    cases: int = 4
    split: Callable[[int, int], tuple[int, ...]] = lambda v, n: (v,)
    maker: Callable[[int], Gadget] = make_subtract
    widths: tuple[int, ...] = BITS
    formula: str = ""

    # -- the template, in both semantics
    def s_value(self, x: Num, p: Num) -> Num:
        """S_i in terms of the digit word X_i (the coefficient lemma makes the two agree)."""
        return x + self.offset(p)

    def readout(self, s: Num, p: Num) -> Num:
        """The output unit: ReLU(sum_k sign_k (P - Q)[tau_k] + out_bias)."""
        total: Num = self.out_bias
        for sign, tau in self.thresholds:
            hi, lo = self.step_bias
            total = total + sign * (relu(s - tau(p) + hi) - relu(s - tau(p) + lo))
        return relu(total)

    def template(self, sizes: Mapping[str, int]) -> Network:
        n = sizes["bits"]
        inputs = [b for w in self.words_in for b in bit_names(w, n)]
        first: list[tuple[str, Mapping[str, int], int]] = []
        second: list[tuple[str, Mapping[str, int], int]] = []
        for i in range(n):
            coeffs: dict[str, int] = {}
            for j in range(i + 1):
                for w, coef in zip(self.words_in, self.coefs):
                    coeffs[f"{w}.bit[{j}]"] = coeffs.get(f"{w}.bit[{j}]", 0) + coef(1 << j)
            const = self.offset(1 << i)
            combo: dict[str, int] = {}
            for sign, tau in self.thresholds:
                t = tau(1 << i)
                for suffix, b, weight in (("+", self.step_bias[0], sign),
                                          ("-", self.step_bias[1], -sign)):
                    name = f"{self.tag}[{i},{t}]{suffix}"
                    first.append((name, coeffs, const - t + b))
                    combo[name] = weight
            second.append((f"{self.out}.bit[{i}]", combo, self.out_bias))
        return _network(f"{self.name}-template[bits={n}]", inputs, [first, second])

    def gadget(self, sizes: Mapping[str, int]) -> Gadget:
        return self.maker(sizes["bits"])

    def registered(self) -> list[dict[str, int]]:
        return [{"bits": n} for n in self.widths]

    def every_size(self) -> list[dict[str, int]]:
        return [{"bits": n} for n in range(1, MOST_BITS + 1)]

    def words(self, sizes: Mapping[str, int]) -> dict[str, tuple[str, ...]]:
        return {w: tuple(bit_names(w, sizes["bits"])) for w in self.words_in}

    def inputs_for(self, n: int, low: int, high: int, i: int) -> dict[str, int]:
        """Inputs of width n whose digit word is ``low`` on bits 0..i and ``high`` above."""
        out: dict[str, int] = {}
        lo_words = self.split(low, i + 1)
        hi_words = self.split(high, n - i - 1)
        for w, lo_v, hi_v in zip(self.words_in, lo_words, hi_words):
            out.update(_bits_of(w, lo_v | (hi_v << (i + 1)), n))
        return out

    # -- the lemmas
    def lemmas(self) -> list[Lemma]:
        f = self.name
        k = len(self.words_in)

        def digit_range(s: Scope) -> list[Claim]:
            w, x = s.power("W"), s.int("X")
            xs = [s.bit(f"x{j}") for j in range(k)]
            d = self.digit(xs)
            nxt = x + w * d
            return [Claim("base", (w == 1, x == 0), z3.And(x >= self.low(w), x <= self.high(w))),
                    Claim("step", (x >= self.low(w), x <= self.high(w)),
                          z3.And(nxt >= self.low(2 * w), nxt <= self.high(2 * w)))]

        def split_sum(s: Scope) -> list[Claim]:
            p, u = s.power("P"), s.power("U")
            v, h, d = s.int("V"), s.int("H"), s.int("D")
            xs = [s.bit(f"x{j}") for j in range(k)]
            dig = self.digit(xs)
            # The base (no digit above bit i) is H = 0; a new top digit has weight 2^(i+1) U.
            return [Claim("step", (d == v + 2 * p * h,),
                          d + 2 * p * u * dig == v + 2 * p * (h + u * dig))]

        def unit(s: Scope) -> list[Claim]:
            p, sv = s.power("P"), s.int("S")
            return [Claim(f"floor(S/P) = {q}", (sv >= q * p, sv <= (q + 1) * p - 1),
                          self.readout(sv, p) == q % 2) for q in range(self.cases)]

        def unit_cx(m: Mapping[str, int]) -> Candidate | None:
            i, x = log2(m["P"]), m["S"] - self.offset(m["P"])
            if not self.low(2 * m["P"]) <= x <= self.high(2 * m["P"]):
                return None
            return Candidate({"bits": i + 1}, self.inputs_for(i + 1, x, 0, i), f"bit {i}")

        def cover(s: Scope) -> list[Claim]:
            p, x = s.power("P"), s.int("X")
            sv = self.s_value(x, p)
            return [Claim("", (x >= self.low(2 * p), x <= self.high(2 * p)),
                          z3.And(sv >= 0, sv <= self.cases * p - 1))]

        def cover_cx(m: Mapping[str, int]) -> Candidate:
            i = log2(m["P"])
            return Candidate({"bits": i + 1}, self.inputs_for(i + 1, m["X"], 0, i), f"bit {i}")

        def composition(s: Scope) -> list[Claim]:
            p, t = s.power("P"), s.power("T")
            x, h, kk, r, q, rem = (s.int(n) for n in ("X", "H", "K", "R", "q", "r"))
            v = x + self.constant
            d = v + 2 * p * h
            y = ite(v >= 2 * p, v - 2 * p, ite(v >= 0, v, v + 2 * p))
            carry = ite(v >= 2 * p, 1, ite(v >= 0, 0, -1))
            y1 = ite(y >= p, 1, 0)
            y0 = y - ite(y >= p, p, 0)
            hyp = (x >= self.low(2 * p), x <= self.high(2 * p), h >= self.low(t),
                   h <= self.high(t), r == d - 2 * p * t * kk, r >= 0, r <= 2 * p * t - 1,
                   r == q * p + rem, rem >= 0, rem <= p - 1)
            hint = quotient_unique(q - y1 - 2 * (carry + h - t * kk), y0 - rem, p)
            return [Claim("", hyp, self.readout(self.s_value(x, p), p) == q % 2, (hint,))]

        def composition_cx(m: Mapping[str, int]) -> Candidate:
            i = log2(m["P"])
            n = i + 1 + log2(m["T"])
            return Candidate({"bits": n}, self.inputs_for(n, m["X"], m["H"], i), f"bit {i}")

        return [
            DIVISION,
            coefficient_lemma(f, self.words_in, self.coefs, self.digit),
            Lemma(f"{f}/range", f"the digit word of n digits, W = 2^n, lies in "
                  f"{self.range_text} (induction on n)", digit_range),
            Lemma(f"{f}/split", "V = V_i + 2^(i+1) H with H the digit word above bit i "
                  "(induction on the top bit)", split_sum),
            Lemma(f"{f}/unit", "for 0 <= S < cases * P, by cases on floor(S / P): the output "
                  "unit is floor(S / P) mod 2", unit, unit_cx),
            Lemma(f"{f}/cover", "S_i = X_i + offset(2^i) lies in [0, cases * 2^i) for every "
                  "X_i in range", cover, cover_cx, uses=(f"{f}/range",)),
            Lemma(f"{f}/bit", f"output i = bit i of (V mod 2^N) for every i < N: {self.formula}",
                  composition, composition_cx,
                  uses=("division/unique", f"{f}/range", f"{f}/split", f"{f}/coefficient")),
        ]


SUBTRACT = Prefix(
    "subtract", words_in=("DA", "DB"), coefs=(lambda q: -q, lambda q: q),
    offset=lambda p: 2 * p, thresholds=((1, lambda p: p), (-1, lambda p: 2 * p),
                                        (1, lambda p: 3 * p)),
    digit=lambda xs: xs[1] - xs[0], low=lambda w: -(w - 1), high=lambda w: w - 1,
    range_text="[-(W - 1), W - 1]", split=_digits_signed, maker=make_subtract,
    formula="R = (DB - DA) mod 2^N")
ADD = Prefix(
    "add", words_in=("DA", "DB"), coefs=(lambda q: q, lambda q: q), offset=lambda p: 0,
    thresholds=SUBTRACT.thresholds, digit=lambda xs: xs[0] + xs[1], low=lambda w: 0,
    high=lambda w: 2 * (w - 1), range_text="[0, 2 (W - 1)]", split=_digits_sum, maker=make_add,
    formula="R = (DA + DB) mod 2^N")
INCREMENT = Prefix(
    "increment", words_in=("PC",), coefs=(lambda q: q,), offset=lambda p: 1,
    thresholds=((1, lambda p: p), (-1, lambda p: 2 * p)), tag="I", out="PC1",
    digit=lambda xs: xs[0], constant=1, low=lambda w: 0, high=lambda w: w - 1, cases=3,
    maker=make_increment, formula="PC1 = (PC + 1) mod 2^N")


# ---- address match: match, read, write
def _match_terms(bit_coef: Callable[[int], int], bit_const: Callable[[int], int], shift: int,
                 addr: Sequence[str], j: int) -> tuple[dict[str, int], int]:
    """The template's e_j over the address bits ``addr``: per bit c = bit i of j, weight
    ``bit_coef(c)`` and constant ``bit_const(c)``; plus ``shift``."""
    coeffs = {a: bit_coef((j >> i) & 1) for i, a in enumerate(addr)}
    return coeffs, sum(bit_const((j >> i) & 1) for i in range(len(addr))) + shift


def _agree(acc: Num, wx: Num, wc: Num) -> Any:
    """The match invariant: the words agree and the sum is 0, or they differ and it is <= -2."""
    return z3.Or(z3.And(wx == wc, acc == 0), z3.And(wx != wc, acc <= -2))


def _match_prefix(fam: str, bit_coef: Callable[[Num], Num], bit_const: Callable[[Num], Num],
                  sizes: Callable[[int], dict[str, int]], register: str) -> Lemma:
    def build(s: Scope) -> list[Claim]:
        w, acc, wx, wc = s.power("W"), s.int("acc"), s.int("wx"), s.int("wc")
        x, c = s.bit("x"), s.bit("c")
        acc2 = acc + bit_coef(c) * x + bit_const(c)
        wx2, wc2 = wx + ite(x == 1, w, 0), wc + ite(c == 1, w, 0)
        ranges = (wx >= 0, wx <= w - 1, wc >= 0, wc <= w - 1)
        return [Claim("base", (w == 1, acc == 0, wx == 0, wc == 0), _agree(acc, wx, wc)),
                Claim("step", (*ranges, _agree(acc, wx, wc)), _agree(acc2, wx2, wc2))]

    def realise(m: Mapping[str, int]) -> Candidate:
        # The model's prefix and next bit, at the smallest size holding them.
        n = log2(m["W"]) + 1
        value = m["wx"] + m["x"] * m["W"]
        return Candidate(sizes(n), _bits_of(register, value, n) | {"v": 1},
                         f"j = {m['wc'] + m['c'] * m['W']}")

    return Lemma(f"{fam}/match", "e_j over the first k address bits is 0 when they hold the "
                 "first k bits of j and <= -2 otherwise (induction on k; the template's "
                 "per-bit term bit_coef(c) x + bit_const(c))", build, realise,
                 uses=("word/range",))


def _match_gate(s: Scope, gate: Num, shift: Num) -> tuple[Any, ...]:
    """Variables and hypotheses of one gated match unit ReLU(gate v + e_j(X) + shift)."""
    w, acc, wx, wc, v = s.power("W"), s.int("acc"), s.int("wx"), s.int("wc"), s.bit("v")
    hyp = (wx >= 0, wx <= w - 1, wc >= 0, wc <= w - 1, _agree(acc, wx, wc))
    return w, acc, wx, wc, v, hyp, relu(gate * v + acc + shift)


@dataclass(frozen=True)
class Match(Family):
    """``O[j] = ReLU(gate v + e_j(X) + shift)``, ``e_j = sum_i bit_coef(j_i) X_i +
    bit_const(j_i)`` for the L-bit register X and every j < 2^L."""

    bit_coef: Callable[[Num], Num] = lambda c: 2 * (2 * c - 1)
    bit_const: Callable[[Num], Num] = lambda c: -(2 * c - 1) - 1
    gate: int = 1
    shift: int = 0
    widths: tuple[int, ...] = tuple(range(1, 13))

    def template(self, sizes: Mapping[str, int]) -> Network:
        n = sizes["addr"]
        xs = bit_names("X", n)
        rows = []
        for j in range(1 << n):
            coeffs, const = _match_terms(self.bit_coef, self.bit_const, self.shift, xs, j)
            rows.append((f"O[{j}]", coeffs | {"v": self.gate}, const))
        return _network(f"match-template[addr={n}]", [*xs, "v"], [rows])

    def gadget(self, sizes: Mapping[str, int]) -> Gadget:
        return make_match(sizes["addr"])

    def registered(self) -> list[dict[str, int]]:
        return [{"addr": n} for n in self.widths]

    def words(self, sizes: Mapping[str, int]) -> dict[str, tuple[str, ...]]:
        return {"X": tuple(bit_names("X", sizes["addr"]))}

    def lemmas(self) -> list[Lemma]:
        def unit(s: Scope) -> list[Claim]:
            _, _, wx, wc, v, hyp, out = _match_gate(s, self.gate, self.shift)
            return [Claim("", hyp, out == ite(wx == wc, v, 0))]

        def unit_cx(m: Mapping[str, int]) -> Candidate:
            n = max(1, log2(m["W"]))
            return Candidate({"addr": n}, _bits_of("X", m["wx"], n) | {"v": m["v"]},
                             f"j = {m['wc']}")

        return [WORD_RANGE, _match_prefix("match", self.bit_coef, self.bit_const,
                                           lambda n: {"addr": n}, "X"),
                Lemma("match/unit", "O[j] = ReLU(v + e_j(X)) = v [X = j] for every L and "
                      "j < 2^L", unit, unit_cx, uses=("match/match", "word/range"))]


@dataclass(frozen=True)
class Read(Family):
    """``H[j,t] = ReLU(mem MEM[j].bit[t] + e_j(A) + shift)``,
    ``D.bit[t] = ReLU(sum_j out H[j,t] + out_bias)``, for M = 2^m words of N bits."""

    bit_coef: Callable[[Num], Num] = Match.bit_coef
    bit_const: Callable[[Num], Num] = Match.bit_const
    shift: int = 0
    mem: int = 1
    out: int = 1
    out_bias: int = 0
    sizes_list: tuple[tuple[int, int], ...] = ()

    def template(self, sizes: Mapping[str, int]) -> Network:
        words, n = sizes["words"], sizes["bits"]
        a = bit_names("A", log2(words))
        inputs = [*a, *(x for j in range(words) for x in bit_names(f"MEM[{j}]", n))]
        first = []
        for j in range(words):
            coeffs, const = _match_terms(self.bit_coef, self.bit_const, self.shift, a, j)
            for t in range(n):
                first.append((f"H[{j},{t}]", coeffs | {f"MEM[{j}].bit[{t}]": self.mem}, const))
        second = [(f"D.bit[{t}]", {f"H[{j},{t}]": self.out for j in range(words)},
                   self.out_bias) for t in range(n)]
        return _network(f"read-template[words={words},bits={n}]", inputs, [first, second])

    def gadget(self, sizes: Mapping[str, int]) -> Gadget:
        return make_read(sizes["words"], sizes["bits"])

    def registered(self) -> list[dict[str, int]]:
        return [{"words": w, "bits": b} for w, b in self.sizes_list]

    def words(self, sizes: Mapping[str, int]) -> dict[str, tuple[str, ...]]:
        out = {"A": tuple(bit_names("A", log2(sizes["words"])))}
        for j in range(sizes["words"]):
            out[f"MEM[{j}]"] = tuple(bit_names(f"MEM[{j}]", sizes["bits"]))
        return out

    def lemmas(self) -> list[Lemma]:
        def gate(s: Scope) -> list[Claim]:
            _, _, wx, wc, v, hyp, out = _match_gate(s, self.mem, self.shift)
            return [Claim("", hyp, out == ite(wx == wc, v, 0))]

        def gate_cx(m: Mapping[str, int]) -> Candidate:
            words = max(2, m["W"])
            inputs = _bits_of("A", m["wx"], log2(words))
            inputs[f"MEM[{m['wc']}].bit[0]"] = m["v"]
            return Candidate({"words": words, "bits": 1}, inputs, f"j = {m['wc']}")

        def total(s: Scope) -> list[Claim]:
            mem = s.function("m")
            jj, a, acc, big = s.int("J"), s.int("A"), s.int("sum"), s.power("M")
            ma, mj = s.int("mA"), s.int("mJ")
            defs = (ma == mem(a), mj == mem(jj), ma >= 0, ma <= 1, mj >= 0, mj <= 1)

            def inv(k: Num) -> Any:
                return acc == self.out * ite(z3.And(a >= 0, a < k), ma, 0)

            nxt = acc + self.out * ite(a == jj, mj, 0)
            return [Claim("base", (*defs, jj == 0, acc == 0), inv(jj)),
                    Claim("step", (*defs, jj >= 0, inv(jj)),
                          nxt == self.out * ite(z3.And(a >= 0, a < jj + 1), ma, 0)),
                    Claim("all words", (*defs, a >= 0, a <= big - 1, inv(big)),
                          relu(acc + self.out_bias) == ma)]

        def total_cx(m: Mapping[str, int]) -> Candidate:
            words = max(2, m["M"], m["A"] + 1 if m["A"] >= 0 else 2)
            words = 1 << (words - 1).bit_length()
            inputs: dict[str, int] = {}
            if 0 <= m["A"] < words:
                inputs |= _bits_of("A", m["A"], log2(words))
                inputs[f"MEM[{m['A']}].bit[0]"] = m["mA"]
            return Candidate({"words": words, "bits": 1}, inputs, f"A = {m['A']}")

        return [
            DIVISION, WORD_RANGE, WORD_BIT, _match_prefix("read", self.bit_coef, self.bit_const,
                          lambda n: {"words": 1 << max(1, n), "bits": 1}, "A"),
            Lemma("read/gate", "H[j,t] = MEM[j].bit[t] [A = j]", gate, gate_cx,
                  uses=("read/match",)),
            Lemma("read/sum", "sum_{j<J} H[j,t] = MEM[A].bit[t] [A < J] (induction on J); at "
                  "J = M, with 0 <= A < M, D.bit[t] = MEM[A].bit[t] = bit t of MEM[A] for "
                  "every M and every t < N", total, total_cx,
                  uses=("read/gate", "word/range", "word/bit")),
        ]


@dataclass(frozen=True)
class Write(Family):
    """``K = ReLU(keep m)``, ``WU = ReLU(wu m + e_j(B) + shift)``, ``WV = ReLU(wv r + e_j(B) +
    shift)``, ``MEM'[j].bit[t] = ReLU(mk K + mu WU + mv WV + out_bias)``."""

    bit_coef: Callable[[Num], Num] = Match.bit_coef
    bit_const: Callable[[Num], Num] = Match.bit_const
    shift: int = 0
    keep: int = 1
    wu: int = 1
    wv: int = 1
    merge: tuple[int, int, int] = (1, -1, 1)
    out_bias: int = 0
    sizes_list: tuple[tuple[int, int], ...] = ()

    def template(self, sizes: Mapping[str, int]) -> Network:
        words, n = sizes["words"], sizes["bits"]
        b = bit_names("B", log2(words))
        inputs = [*b, *bit_names("R", n),
                  *(x for j in range(words) for x in bit_names(f"MEM[{j}]", n))]
        first, second = [], []
        for j in range(words):
            coeffs, const = _match_terms(self.bit_coef, self.bit_const, self.shift, b, j)
            for t in range(n):
                old = f"MEM[{j}].bit[{t}]"
                k, u, v = f"W.K[{j},{t}]", f"W.WU[{j},{t}]", f"W.WV[{j},{t}]"
                first += [(k, {old: self.keep}, 0), (u, coeffs | {old: self.wu}, const),
                          (v, coeffs | {f"R.bit[{t}]": self.wv}, const)]
                second.append((f"MEM'[{j}].bit[{t}]", dict(zip((k, u, v), self.merge)),
                               self.out_bias))
        return _network(f"write-template[words={words},bits={n}]", inputs, [first, second])

    def gadget(self, sizes: Mapping[str, int]) -> Gadget:
        return make_write(sizes["words"], sizes["bits"])

    def registered(self) -> list[dict[str, int]]:
        return [{"words": w, "bits": b} for w, b in self.sizes_list]

    def words(self, sizes: Mapping[str, int]) -> dict[str, tuple[str, ...]]:
        out = {"B": tuple(bit_names("B", log2(sizes["words"]))),
               "R": tuple(bit_names("R", sizes["bits"]))}
        for j in range(sizes["words"]):
            out[f"MEM[{j}]"] = tuple(bit_names(f"MEM[{j}]", sizes["bits"]))
        return out

    def lemmas(self) -> list[Lemma]:
        def unit(s: Scope) -> list[Claim]:
            _, acc, wx, wc, m, hyp, wu = _match_gate(s, self.wu, self.shift)
            r = s.bit("r")
            wv = relu(self.wv * r + acc + self.shift)
            mk, mu, mv = self.merge
            out = relu(mk * relu(self.keep * m) + mu * wu + mv * wv + self.out_bias)
            return [Claim("", hyp, out == ite(wx == wc, r, m))]

        def unit_cx(md: Mapping[str, int]) -> Candidate:
            words = max(2, md["W"])
            inputs = _bits_of("B", md["wx"], log2(words))
            inputs[f"MEM[{md['wc']}].bit[0]"] = md["v"]
            inputs["R.bit[0]"] = md["r"]
            return Candidate({"words": words, "bits": 1}, inputs, f"j = {md['wc']}")

        return [DIVISION, WORD_RANGE, WORD_BIT,
                _match_prefix("write", self.bit_coef, self.bit_const,
                              lambda n: {"words": 1 << max(1, n), "bits": 1}, "B"),
                Lemma("write/bit", "MEM'[j].bit[t] = R.bit[t] if B = j else MEM[j].bit[t] for "
                      "every M, j < M and t < N (then bit t of the stored word, word/bit)",
                      unit, unit_cx, uses=("write/match", "word/range", "word/bit"))]


# ---- compare, flag, branch
def _zero(acc: Num, wv: Num) -> Any:
    """The induction invariant of ``compare/zero``: the weighted count ``acc`` of the bits of a
    prefix whose value is ``wv`` is 0 exactly when ``wv`` is 0, and at most -1 otherwise."""
    return z3.Or(z3.And(wv == 0, acc == 0), z3.And(wv >= 1, acc <= -1))


@dataclass(frozen=True)
class Compare(Family):
    """``Z = ReLU(z_bias + sum_t z R_t)``, ``P = ReLU(p R_(N-1))``,
    ``F = ReLU(fz Z + fp P + out_bias)``."""

    z_bias: int = 1
    z: int = -1
    p: int = 1
    merge: tuple[int, int] = (1, 1)
    out_bias: int = 0
    widths: tuple[int, ...] = tuple(range(2, MOST_BITS + 1))

    def template(self, sizes: Mapping[str, int]) -> Network:
        n = sizes["bits"]
        rs = bit_names("R", n)
        first = [("C.Z", {r: self.z for r in rs}, self.z_bias), ("C.P", {rs[-1]: self.p}, 0)]
        second = [("F", dict(zip(("C.Z", "C.P"), self.merge)), self.out_bias)]
        return _network(f"compare-template[bits={n}]", rs, [first, second])

    def gadget(self, sizes: Mapping[str, int]) -> Gadget:
        return make_compare(sizes["bits"])

    def registered(self) -> list[dict[str, int]]:
        return [{"bits": n} for n in self.widths]

    def words(self, sizes: Mapping[str, int]) -> dict[str, tuple[str, ...]]:
        return {"R": tuple(bit_names("R", sizes["bits"]))}

    def lemmas(self) -> list[Lemma]:
        zero = _zero

        def ones(s: Scope) -> list[Claim]:
            w, acc, wv, b = s.power("W"), s.int("acc"), s.int("wv"), s.bit("b")
            return [Claim("base", (w == 1, acc == 0, wv == 0), zero(acc, wv)),
                    Claim("step", (wv >= 0, wv <= w - 1, zero(acc, wv)),
                          zero(acc + self.z * b, wv + ite(b == 1, w, 0)))]

        def flag(s: Scope) -> list[Claim]:
            h, low, acc, sb = s.power("H"), s.int("L"), s.int("acc"), s.bit("s")
            r = low + ite(sb == 1, h, 0)
            zu = relu(self.z_bias + acc + self.z * sb)
            pu = relu(self.p * sb)
            out = relu(self.merge[0] * zu + self.merge[1] * pu + self.out_bias)
            signed = ite(r >= h, r - 2 * h, r)
            hyp = (h >= 2, low >= 0, low <= h - 1, zero(acc, low))
            return [Claim("", hyp, out == ite(signed <= 0, 1, 0))]

        def flag_cx(m: Mapping[str, int]) -> Candidate:
            n = log2(m["H"]) + 1
            return Candidate({"bits": n}, _bits_of("R", m["L"] + m["s"] * m["H"], n))

        return [WORD_RANGE,
                Lemma("compare/zero", "sum_t z R_t over the first k bits is 0 when they are "
                      "all 0 and <= -1 otherwise (induction on k)", ones),
                Lemma("compare/flag", "F = [signed(R) <= 0] for every N >= 2: R = L + 2^(N-1) "
                      "R_(N-1) with 0 <= L < 2^(N-1)", flag, flag_cx,
                      uses=("compare/zero", "word/range"))]


@dataclass(frozen=True)
class Flag(Family):
    """The subtract's sign bit (thresholds at 2^(N-1), 2^N, 3 2^(N-1) of S = X + 2^N) plus
    ``[X = 0]`` by ``ReLU(X + 1) - 2 ReLU(X) + ReLU(X - 1)``, X = DB - DA, in one output."""

    coefs: tuple[Callable[[Num], Num], ...] = SUBTRACT.coefs
    offset: Callable[[Num], Num] = SUBTRACT.offset
    thresholds: tuple[tuple[int, Callable[[Num], Num]], ...] = SUBTRACT.thresholds
    step_bias: tuple[int, int] = (1, 0)
    eq_bias: tuple[int, int, int] = (1, 0, -1)
    eq_weights: tuple[int, int, int] = (1, -2, 1)
    out_bias: int = 0
    widths: tuple[int, ...] = tuple(range(2, MOST_BITS + 1))

    def sign(self, s: Num, h: Num) -> Num:
        total: Num = 0
        for sgn, tau in self.thresholds:
            total = total + sgn * (relu(s - tau(h) + self.step_bias[0])
                                   - relu(s - tau(h) + self.step_bias[1]))
        return total

    def equal(self, x: Num) -> Num:
        return sum(w * relu(x + b) for w, b in zip(self.eq_weights, self.eq_bias))

    def value(self, x: Num, h: Num) -> Num:
        """The output unit's pre-activation over the digit word x = DB - DA."""
        return self.sign(x + self.offset(h), h) + self.equal(x) + self.out_bias

    def output(self, x: Num, h: Num) -> Num:
        return relu(self.value(x, h))

    def template(self, sizes: Mapping[str, int]) -> Network:
        n = sizes["bits"]
        h = 1 << (n - 1)
        inputs = [*bit_names("DA", n), *bit_names("DB", n)]
        x = {f"{w}.bit[{j}]": c(1 << j) for j in range(n)
             for w, c in zip(("DA", "DB"), self.coefs)}
        first, combo = [], {}
        for sgn, tau in self.thresholds:
            t = tau(h)
            for suffix, b, w in (("+", self.step_bias[0], sgn), ("-", self.step_bias[1], -sgn)):
                name = f"G.S[{n - 1},{t}]{suffix}"
                first.append((name, x, self.offset(h) - t + b))
                combo[name] = w
        for label, b, w in zip(("+", "0", "-"), self.eq_bias, self.eq_weights):
            first.append((f"G.E{label}", x, b))
            combo[f"G.E{label}"] = w
        return _network(f"flag-template[bits={n}]", inputs,
                        [first, [("F", combo, self.out_bias)]])

    def gadget(self, sizes: Mapping[str, int]) -> Gadget:
        return make_flag(sizes["bits"])

    def registered(self) -> list[dict[str, int]]:
        return [{"bits": n} for n in self.widths]

    def words(self, sizes: Mapping[str, int]) -> dict[str, tuple[str, ...]]:
        return {w: tuple(bit_names(w, sizes["bits"])) for w in ("DA", "DB")}

    def lemmas(self) -> list[Lemma]:
        def inputs(n: int, x: int) -> dict[str, int]:
            a, b = _digits_signed(x, n)
            return _bits_of("DA", a, n) | _bits_of("DB", b, n)

        def equal(s: Scope) -> list[Claim]:
            x = s.int("x")
            return [Claim("", (), self.equal(x) == ite(x == 0, 1, 0))]

        def equal_cx(m: Mapping[str, int]) -> Candidate:
            n = max(2, abs(m["x"]).bit_length())
            return Candidate({"bits": n}, inputs(n, m["x"]))

        def sign(s: Scope) -> list[Claim]:
            h, sv = s.power("H"), s.int("S")
            return [Claim(f"floor(S/H) = {q}", (sv >= q * h, sv <= (q + 1) * h - 1),
                          self.sign(sv, h) == q % 2) for q in range(4)]

        def sign_cx(m: Mapping[str, int]) -> Candidate | None:
            h, x = m["H"], m["S"] - self.offset(m["H"])
            if h < 2 or abs(x) > 2 * h - 1:
                return None
            return Candidate({"bits": log2(h) + 1}, inputs(log2(h) + 1, x))

        def flag(s: Scope) -> list[Claim]:
            h, x, kk, r = s.power("H"), s.int("X"), s.int("K"), s.int("R")
            k0 = ite(x >= 0, 0, -1)
            y = ite(x >= 0, x, x + 2 * h)
            hyp = (h >= 2, x >= -(2 * h - 1), x <= 2 * h - 1, r == x - 2 * h * kk, r >= 0,
                   r <= 2 * h - 1)
            want = ite(ite(r >= h, r - 2 * h, r) <= 0, 1, 0)
            return [Claim("", hyp, self.output(x, h) == want,
                          (quotient_unique(kk - k0, y - r, 2 * h),))]

        def flag_cx(m: Mapping[str, int]) -> Candidate:
            n = log2(m["H"]) + 1
            return Candidate({"bits": n}, inputs(n, m["X"]))

        sub = {lm.name: lm for lm in SUBTRACT.lemmas()}
        coefficient = coefficient_lemma("flag", ("DA", "DB"), self.coefs, SUBTRACT.digit)
        return [DIVISION, coefficient, sub["subtract/range"],
                Lemma("flag/equal", "ReLU(x + 1) - 2 ReLU(x) + ReLU(x - 1) = [x = 0] for "
                      "every integer x", equal, equal_cx),
                Lemma("flag/sign", "for 0 <= S < 4 H, H = 2^(N-1), by cases on floor(S / H): "
                      "the threshold combination is floor(S / H) mod 2", sign, sign_cx),
                Lemma("flag/bit", "F = [signed((DB - DA) mod 2^N) <= 0] for every N >= 2",
                      flag, flag_cx, uses=("division/unique", "subtract/range",
                                           "flag/coefficient", "flag/equal", "flag/sign"))]


@dataclass(frozen=True)
class Branch(Family):
    """``BG = ReLU(gc C_i + gf F + gb)``, ``BH = ReLU(hp PC1_i + hf F + hb)``,
    ``PC'_i = ReLU(wg BG + wh BH + out_bias)``."""

    g: tuple[int, int, int] = (1, 1, -1)
    h: tuple[int, int, int] = (1, -1, 0)
    merge: tuple[int, int] = (1, 1)
    out_bias: int = 0
    widths: tuple[int, ...] = tuple(range(1, MOST_BITS + 1))

    def template(self, sizes: Mapping[str, int]) -> Network:
        n = sizes["bits"]
        inputs = [*bit_names("C", n), *bit_names("PC1", n), "F"]
        first, second = [], []
        for i in range(n):
            first += [(f"B.BG[{i}]", {f"C.bit[{i}]": self.g[0], "F": self.g[1]}, self.g[2]),
                      (f"B.BH[{i}]", {f"PC1.bit[{i}]": self.h[0], "F": self.h[1]}, self.h[2])]
            second.append((f"PC'.bit[{i}]", dict(zip((f"B.BG[{i}]", f"B.BH[{i}]"), self.merge)),
                           self.out_bias))
        return _network(f"branch-template[bits={n}]", inputs, [first, second])

    def gadget(self, sizes: Mapping[str, int]) -> Gadget:
        return make_branch(sizes["bits"])

    def registered(self) -> list[dict[str, int]]:
        return [{"bits": n} for n in self.widths]

    def words(self, sizes: Mapping[str, int]) -> dict[str, tuple[str, ...]]:
        return {w: tuple(bit_names(w, sizes["bits"])) for w in ("C", "PC1")}

    def lemmas(self) -> list[Lemma]:
        def select(s: Scope) -> list[Claim]:
            c, p, f = s.bit("c"), s.bit("p"), s.bit("f")
            bg = relu(self.g[0] * c + self.g[1] * f + self.g[2])
            bh = relu(self.h[0] * p + self.h[1] * f + self.h[2])
            out = relu(self.merge[0] * bg + self.merge[1] * bh + self.out_bias)
            return [Claim("", (), out == ite(f == 1, c, p))]

        def select_cx(m: Mapping[str, int]) -> Candidate:
            return Candidate({"bits": 1}, {"C.bit[0]": m["c"], "PC1.bit[0]": m["p"],
                                           "F": m["f"]})

        return [DIVISION, WORD_BIT,
                Lemma("branch/bit", "PC'_i = C_i if F else PC1_i at every bit i of every N "
                      "(then bit i of the selected word, word/bit)", select, select_cx,
                      uses=("word/bit",))]


@dataclass(frozen=True)
class CompareBranch(Family):
    """``Z = ReLU(1 - sum_t R_t)``, ``P = ReLU(R_(N-1))`` and copies of C and PC1;
    ``BG = ReLU(gc C_i + gf (P + Z) + gb)``, ``BH = ReLU(hp PC1_i + hf (P + Z) + hb)``;
    ``PC'_i = ReLU(BG + BH)``: the compare's flag folded into the branch's units."""

    compare: Compare = field(default_factory=lambda: Compare("compare"))
    g: tuple[int, int, int] = (1, 1, -1)
    h: tuple[int, int, int] = (1, -1, 0)
    widths: tuple[int, ...] = (*range(2, 17), 32, 64, MOST_BITS)
    pc_widths: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 16, 64)

    def template(self, sizes: Mapping[str, int]) -> Network:
        n, k = sizes["bits"], sizes["pc"]
        rs, cs, ns = bit_names("R", n), bit_names("C", k), bit_names("PC1", k)
        c = self.compare
        first = [("CB.Z", {r: c.z for r in rs}, c.z_bias), ("CB.P", {rs[-1]: c.p}, 0)]
        first += [(x, {x: 1}, 0) for x in cs + ns]
        second, third = [], []
        for i in range(k):
            second += [(f"CB.BG[{i}]", {cs[i]: self.g[0], "CB.P": self.g[1], "CB.Z": self.g[1]},
                        self.g[2]),
                       (f"CB.BH[{i}]", {ns[i]: self.h[0], "CB.P": self.h[1], "CB.Z": self.h[1]},
                        self.h[2])]
            third.append((f"PC'.bit[{i}]", {f"CB.BG[{i}]": 1, f"CB.BH[{i}]": 1}, 0))
        return _network(f"cmpbranch-template[bits={n},pc={k}]", [*rs, *cs, *ns],
                        [first, second, third])

    def gadget(self, sizes: Mapping[str, int]) -> Gadget:
        return make_compare_branch(sizes["bits"], sizes["pc"])

    def registered(self) -> list[dict[str, int]]:
        return [{"bits": n, "pc": k} for n in self.widths for k in self.pc_widths]

    def words(self, sizes: Mapping[str, int]) -> dict[str, tuple[str, ...]]:
        return {"R": tuple(bit_names("R", sizes["bits"])),
                **{w: tuple(bit_names(w, sizes["pc"])) for w in ("C", "PC1")}}

    def lemmas(self) -> list[Lemma]:
        c = self.compare

        def select(s: Scope) -> list[Claim]:
            h, low, acc, sb = s.power("H"), s.int("L"), s.int("acc"), s.bit("s")
            cb, pb = s.bit("c"), s.bit("p")
            r = low + ite(sb == 1, h, 0)
            flag = relu(c.z_bias + acc + c.z * sb) + relu(c.p * sb)
            bg = relu(self.g[0] * cb + self.g[1] * flag + self.g[2])
            bh = relu(self.h[0] * pb + self.h[1] * flag + self.h[2])
            signed = ite(r >= h, r - 2 * h, r)
            hyp = (h >= 2, low >= 0, low <= h - 1, _zero(acc, low))
            return [Claim("", hyp, relu(bg + bh) == ite(signed <= 0, cb, pb))]

        def select_cx(m: Mapping[str, int]) -> Candidate:
            n = log2(m["H"]) + 1
            return Candidate({"bits": n, "pc": 1},
                             {**_bits_of("R", m["L"] + m["s"] * m["H"], n),
                              "C.bit[0]": m["c"], "PC1.bit[0]": m["p"]})

        zero = next(lm for lm in c.lemmas() if lm.name == "compare/zero")
        return [WORD_RANGE, DIVISION, WORD_BIT, zero,
                Lemma("cmpbranch/bit", "PC'_i = C_i if signed(R) <= 0 else PC1_i at every "
                      "bit i, for every N >= 2: the flag P + Z of R = L + 2^(N-1) R_(N-1), "
                      "0 <= L < 2^(N-1), read by the AND and AND-NOT units (then bit i of the "
                      "selected word, word/bit)", select, select_cx,
                      uses=("compare/zero", "word/range", "word/bit"))]


_RW_SIZES = tuple((w, b) for w in (2, 4, 8, 16) for b in (*range(1, 17), 32, 64)) + ((256, 16),)
MATCH = Match("match")
READ = Read("read", sizes_list=_RW_SIZES)
WRITE = Write("write", sizes_list=_RW_SIZES)
COMPARE = Compare("compare")
FLAG = Flag("flag")
BRANCH = Branch("branch")
COMPARE_BRANCH = CompareBranch("cmpbranch")
FAMILIES: tuple[Family, ...] = (MATCH, READ, WRITE, SUBTRACT, ADD, COMPARE, INCREMENT, BRANCH,
                                FLAG, COMPARE_BRANCH)
"""Every gadget family, as the template its proofs are about."""


# ---------------------------------------------------------------------------- structure
def _rows(layer: Layer) -> list[dict[str, int]]:
    names = layer.inputs.names
    out: list[dict[str, int]] = [{} for _ in range(len(layer.outputs))]
    for r, c, v in zip(layer.rows, layer.cols, layer.vals):
        row = out[r]  # repeated entries add up, as in the forward pass
        row[names[c]] = row.get(names[c], 0) + v
        if row[names[c]] == 0:
            del row[names[c]]
    return out


def differences(built: Network, want: Network, most: int = 3) -> list[str]:
    """Where ``built`` differs from ``want``: layer count, coordinate names and order, ReLUs,
    and every unit's weights and bias (the first ``most`` differences). Linear in the size of
    the two networks."""
    out: list[str] = []
    if len(built.layers) != len(want.layers):
        return [f"{len(built.layers)} layers, the template has {len(want.layers)}"]
    for k, (a, b) in enumerate(zip(built.layers, want.layers)):
        for what, x, y in (("inputs", a.inputs.names, b.inputs.names),
                           ("units", a.outputs.names, b.outputs.names)):
            if x != y:
                at = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
                out.append(f"layer {k} {what}: {len(x)} names, the template {len(y)}; first "
                           f"difference at position {at}")
        if out:
            return out
        if a.relu != b.relu:
            out.append(f"layer {k}: relu={a.relu}, the template relu={b.relu}")
        for name, ra, rb, ba, bb in zip(a.outputs.names, _rows(a), _rows(b), a.bias, b.bias):
            if ra != rb:
                key = next(n for n in sorted(set(ra) | set(rb)) if ra.get(n, 0) != rb.get(n, 0))
                out.append(f"layer {k} unit {name}: weight on {key} is {ra.get(key, 0)}, the "
                           f"template says {rb.get(key, 0)}")
            if ba != bb:
                out.append(f"layer {k} unit {name}: bias {ba}, the template says {bb}")
            if len(out) >= most:
                return out
    return out


def structure(fam: Family, sizes: Mapping[str, int], network: Network | None = None) -> list[str]:
    """(c): the network the builder makes at ``sizes`` (or the one given) against the template
    instantiated at the same sizes; an empty list when they are the same network."""
    built = network if network is not None else fam.gadget(sizes).network
    return differences(built, fam.template(sizes))


# ---------------------------------------------------------------------------- counterexamples
def _all_inputs(names: Sequence[str]) -> Any:
    for values in itertools.product((0, 1), repeat=len(names)):
        yield dict(zip(names, values))


def replay(fam: Family, sizes: Mapping[str, int], point: Mapping[str, int],
           network: Network | None = None) -> Counterexample | None:
    """The counterexample at ``point`` (exact forward pass of ``network``, by default the
    template at ``sizes``, against the gadget's spec), or None when they agree there."""
    net = network if network is not None else fam.template(sizes)
    gadget = fam.gadget(sizes)
    full = {n: int(point.get(n, 0)) for n in net.inputs}
    got = net.forward_exact(full)
    want = gadget.spec(full)
    bad = [o for o in gadget.outputs if int(got[o]) != int(want[o])]
    if not bad:
        return None
    return Counterexample(full, {o: int(got[o]) for o in bad}, {o: int(want[o]) for o in bad},
                          fam.words(sizes))


def search(fam: Family, sizes: Mapping[str, int],
           network: Network | None = None) -> Counterexample | None:
    """Every input at ``sizes`` when there are at most :data:`SEARCH_LIMIT`, else None."""
    net = network if network is not None else fam.template(sizes)
    if 1 << len(net.inputs) > SEARCH_LIMIT:
        return None
    for point in _all_inputs(net.inputs.names):
        cx = replay(fam, sizes, point, net)
        if cx is not None:
            return cx
    return None


def _buildable(fam: Family, sizes: Mapping[str, int]) -> bool:
    try:
        fam.gadget(sizes)
    except Exception:  # noqa: BLE001 - a size outside the builder's range has no network
        return False
    return True


def counterexample(fam: Family, lemma: Lemma, models: Sequence[Mapping[str, int]]
                   ) -> tuple[Counterexample, dict[str, Any]] | None:
    """A counterexample of the template at a concrete size, from the models of a failed lemma:
    the model's own input first, then every input at the model's size."""
    if lemma.realise is None:
        return None
    for model in models:
        cand = lemma.realise(model)
        if cand is None or not _buildable(fam, cand.sizes):
            continue
        info = {"lemma": lemma.name, "model": {k: v for k, v in model.items()
                                                if not k.startswith("_")},
                "sizes": dict(cand.sizes), "where": cand.where}
        if cand.inputs is not None:
            cx = replay(fam, cand.sizes, cand.inputs)
            if cx is not None:
                return cx, info | {"source": "the solver's model, replayed exactly"}
        cx = search(fam, cand.sizes)
        if cx is not None:
            return cx, info | {"source": "every input at the model's size, replayed exactly"}
    return None


# ---------------------------------------------------------------------------- the obligation
def lemma_details(lemmas: Sequence[Lemma], outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Per lemma: the solver's status, claims proved / claims, the statement and what it uses."""
    return {o.lemma: {"status": o.status, "claims": f"{o.proved}/{o.total}",
                      "statement": lm.statement, "uses": list(lm.uses),
                      "seconds": round(o.seconds, 4)} for o, lm in zip(outcomes, lemmas)}


def obligation_name(fam: Family) -> str:
    """``gadget/<name>[bits=all]``: every width of the family (the address bits L for match;
    every word count M as well as every N for read and write), so that
    ``--only 'gadget/*[bits=all]'`` selects every family."""
    return f"gadget/{fam.name}[bits=all]"


def _size_label(sizes: Mapping[str, int]) -> str:
    return ",".join(f"{k}={v}" for k, v in sizes.items())


def check_family(fam: Family, sizes: Sequence[Mapping[str, int]] | None = None,
                 timeout: float = 60.0) -> Result:
    """The obligation ``gadget/<name>[bits=all]``: every lemma of the family proved for symbolic
    sizes, and the built network equal to the template at every registered size."""
    t0 = time.perf_counter()
    name = obligation_name(fam)
    per_claim = min(timeout, CLAIM_TIMEOUT)
    lemmas = fam.lemmas()
    outcomes = [prove(lemma, per_claim) for lemma in lemmas]
    details: dict[str, Any] = {"lemmas": lemma_details(lemmas, outcomes)}
    claims = sum(o.total for o in outcomes)
    proved = sum(o.proved for o in outcomes)
    for o, lemma in zip(outcomes, lemmas):
        if o.status != "refuted":
            continue
        found = counterexample(fam, lemma, o.models)
        if found is not None:
            cx, info = found
            details["counterexample"] = info
            return Result(name, Verdict.REFUTED, "symbolic", proved, claims,
                          time.perf_counter() - t0,
                          f"lemma {lemma.name} fails at {_size_label(info['sizes'])}", cx, details)
    failed = [o for o in outcomes if o.status != "proved"]
    sizes = list(sizes if sizes is not None else fam.registered())
    checked_sizes: list[str] = []
    for sz in sizes:
        if time.perf_counter() - t0 > timeout:
            break
        problems = structure(fam, sz)
        if problems:
            details["structure"] = {"size": _size_label(sz), "differences": problems}
            wrong = search(fam, sz, fam.gadget(sz).network)
            verdict = Verdict.REFUTED if wrong is not None else Verdict.UNKNOWN
            return Result(name, verdict, "symbolic", proved + len(checked_sizes),
                          claims + len(sizes), time.perf_counter() - t0,
                          f"the network at {_size_label(sz)} is not the template: {problems[0]}",
                          wrong, details)
        checked_sizes.append(_size_label(sz))
    details["structure"] = {"sizes": checked_sizes, "of": len(sizes)}
    seconds = time.perf_counter() - t0
    checked, total = proved + len(checked_sizes), claims + len(sizes)
    if failed:
        why = ", ".join(f"{o.lemma} {o.status}" for o in failed)
        return Result(name, Verdict.UNKNOWN, "symbolic", checked, total, seconds,
                      f"not proved: {why}", None, details)
    if len(checked_sizes) < len(sizes):
        return Result(name, Verdict.UNKNOWN, "symbolic", checked, total, seconds,
                      f"timeout after {len(checked_sizes)} of {len(sizes)} structural checks",
                      None, details)
    return Result(name, Verdict.PROVED, "symbolic", checked, total, seconds,
                  f"{len(lemmas)} lemmas ({claims} claims) proved for every size; the network "
                  f"is the template at {len(sizes)} sizes", None, details)


# ---------------------------------------------------------------------------- closed forms
def _abs(x: Num) -> Num:
    return ite(x >= 0, x, -x)


@dataclass(frozen=True)
class ClosedForms:
    """The precision certificate's closed forms as functions of H = 2^(N-1): the largest
    pre-activation 3 2^(N-1), and the largest ``|b| + sum |w x|`` 6 2^N - 3 (``paper``) and
    10 2^N - 5 (``compact``)."""

    pre: Callable[[Num], Num] = lambda h: 3 * h
    any_paper: Callable[[Num], Num] = lambda h: 12 * h - 3
    any_compact: Callable[[Num], Num] = lambda h: 20 * h - 5


CLOSED_FORMS = ClosedForms()
CLOSED_NAME = "precision/closed-forms[N=all]"


def _units(fam: Prefix | Flag, x: Num, p: Num) -> list[tuple[Num, Num]]:
    """(pre-activation, bias) of every threshold unit over the digit word x at P."""
    out = []
    for _, tau in fam.thresholds:
        for b in fam.step_bias:
            bias = fam.offset(p) - tau(p) + b
            out.append((x + bias, bias))
    return out


def _readout_abs(fam: Prefix, s: Num, p: Num) -> Num:
    """``sum |w| u`` of the output row: the any-order sum of the bit read-out."""
    total: Num = 0
    for sign, tau in fam.thresholds:
        for b in fam.step_bias:
            total = total + abs(sign) * relu(s - tau(p) + b)
    return total


def _gate_any(flag: Flag, branch: Branch, x: Num, h: Num, c: Num) -> Num:
    """``|b| + sum |w x|`` of the branch gate BG = ReLU(gc C + gf F + gb) with the flag's output
    row substituted for F (the compact profile's folded row)."""
    gc, gf, gb = branch.g
    total = _abs(gb + gf * flag.out_bias) + abs(gc) * c
    for (sign, tau) in flag.thresholds:
        for b in flag.step_bias:
            total = total + abs(gf * sign) * relu(x + flag.offset(h) - tau(h) + b)
    for w, b in zip(flag.eq_weights, flag.eq_bias):
        total = total + abs(gf * w) * relu(x + b)
    return total


def closed_form_lemmas(forms: ClosedForms = CLOSED_FORMS, sub: Prefix = SUBTRACT,
                       flag: Flag = FLAG, branch: Branch = BRANCH) -> list[Lemma]:
    """The closed forms for symbolic H = 2^(N-1) and every bit position P = 2^i <= H."""

    def prefix_scope(s: Scope) -> tuple[Num, Num, Num, tuple[Any, ...]]:
        h, p, x = s.power("H"), s.power("P"), s.int("X")
        return h, p, x, (p <= h, x >= -(2 * p - 1), x <= 2 * p - 1)

    def pre(s: Scope) -> list[Claim]:
        h, p, x, hyp = prefix_scope(s)
        y = s.int("Y")
        flag_hyp = (h >= 2, y >= -(2 * h - 1), y <= 2 * h - 1)
        sv = sub.s_value(x, p)
        readout = sum(sign * (relu(sv - tau(p) + sub.step_bias[0])
                              - relu(sv - tau(p) + sub.step_bias[1]))
                      for sign, tau in sub.thresholds) + sub.out_bias
        # Folding substitutes the flag's pre-activation for F in the gate.
        gate = branch.g[0] * s.bit("C") + branch.g[1] * flag.value(y, h) + branch.g[2]
        flag_units = [v for v, _ in _units(flag, y, h)] + [y + b for b in flag.eq_bias]
        return [
            Claim("subtract thresholds", hyp,
                  z3.And([_abs(v) <= forms.pre(h) for v, _ in _units(sub, x, p)])),
            Claim("subtract read-out", hyp, _abs(readout) <= forms.pre(h)),
            Claim("flag units", flag_hyp, z3.And([_abs(v) <= forms.pre(h) for v in flag_units])),
            Claim("branch gate, flag folded", flag_hyp, _abs(gate) <= forms.pre(h)),
            Claim("attained", (p == h, x == 2 * h - 1),
                  z3.Or([_abs(v) == forms.pre(h) for v, _ in _units(sub, x, p)])),
        ]

    def any_paper(s: Scope) -> list[Claim]:
        h, p, x, hyp = prefix_scope(s)
        out = _readout_abs(sub, sub.s_value(x, p), p)
        # Layer 1: |b| + sum_j |w_j| x_j is largest with every bit 1, where the sum of the
        # weights 2^j of both words over j <= i is 2 (2^(i+1) - 1) (add/range, all ones).
        return [
            Claim("subtract thresholds", (p <= h,),
                  z3.And([_abs(b) + 2 * (2 * p - 1) <= forms.any_paper(h)
                          for _, b in _units(sub, x, p)])),
            Claim("subtract read-out", hyp, out <= forms.any_paper(h)),
            Claim("attained", (p == h, x == 2 * h - 1), out == forms.any_paper(h)),
        ]

    def any_compact(s: Scope) -> list[Claim]:
        h, p, x, _ = prefix_scope(s)
        y, c = s.int("Y"), s.bit("C")
        flag_hyp = (h >= 2, y >= -(2 * h - 1), y <= 2 * h - 1)
        gate = _gate_any(flag, branch, y, h, c)
        flag_bias = [b for _, b in _units(flag, y, h)] + list(flag.eq_bias)
        return [
            Claim("subtract thresholds", (p <= h,),
                  z3.And([_abs(b) + 2 * (2 * p - 1) <= forms.any_compact(h)
                          for _, b in _units(sub, x, p)])),
            Claim("flag units", (h >= 2,),
                  z3.And([_abs(b) + 2 * (2 * h - 1) <= forms.any_compact(h)
                          for b in flag_bias])),
            Claim("branch gate, flag folded", flag_hyp, gate <= forms.any_compact(h)),
            Claim("attained", (h >= 2, y == 2 * h - 1, c == 1),
                  gate == forms.any_compact(h)),
        ]

    def at(m: Mapping[str, int]) -> Candidate:
        return Candidate({"bits": max(2, log2(m["H"]) + 1)})

    used = {lm.name: lm for fam in (sub, ADD, flag) for lm in fam.lemmas()}
    return [
        *(used[n] for n in ("subtract/coefficient", "subtract/range", "add/range",
                            "flag/coefficient")),
        Lemma("closed/pre", "|pre-activation| <= 3 2^(N-1) for every unit of the subtract "
              "(every bit i < N), of the flag's first layer and of the branch gate with the "
              "flag folded in; equal at bit N-1 with DB = 2^N - 1, DA = 0", pre, at),
        Lemma("closed/any-paper", "|b| + sum |w x| <= 6 2^N - 3 for every unit of the subtract; "
              "equal for the read-out of bit N-1 at DB = 2^N - 1, DA = 0", any_paper, at,
              uses=("subtract/range", "add/range", "subtract/coefficient")),
        Lemma("closed/any-compact", "|b| + sum |w x| <= 10 2^N - 5 for the first layer of the "
              "subtract and the flag and for the branch gate with the flag folded in; equal "
              "for the gate at DB = 2^N - 1, DA = 0, C_i = 1", any_compact, at,
              uses=("subtract/range", "add/range", "flag/coefficient")),
    ]


def _box(coeffs: Mapping[str, int], bias: int) -> tuple[int, int]:
    """Largest |pre-activation| and largest |b| + sum |w x| of an affine row over bits."""
    hi = bias + sum(w for w in coeffs.values() if w > 0)
    lo = bias + sum(w for w in coeffs.values() if w < 0)
    return max(abs(hi), abs(lo)), abs(bias) + sum(abs(w) for w in coeffs.values())


def _over_form(first: Layer, coeffs: Mapping[str, int], bias: int,
               bits: Sequence[str] = ()) -> tuple[int, int, int, int]:
    """(largest |pre|, its form value, largest |b| + sum |w x|, its form value) of a row whose
    unit inputs ``ReLU(F + c_u)`` of ``first`` share one form F (and whose other inputs are
    the independent bits ``bits``). The row is piecewise linear in F with kinks at -c_u, so
    its largest values over the integers of F's range are at a kink or an end."""
    rows = dict(zip(first.outputs.names, _rows(first)))
    bias_of = dict(zip(first.outputs.names, first.bias))
    units = [u for u in coeffs if u not in bits]
    form = rows[units[0]]
    if any(rows[u] != form for u in units):
        raise ValueError("the row's units do not share one form")
    lo = sum(w for w in form.values() if w < 0)
    hi = sum(w for w in form.values() if w > 0)
    points = {lo, hi} | {-bias_of[u] for u in units if lo <= -bias_of[u] <= hi}
    best = (0, lo, 0, lo)
    for f in sorted(points):
        for values in itertools.product((0, 1), repeat=len(bits)):
            vals = sum(coeffs[u] * max(f + bias_of[u], 0) for u in units)
            mags = sum(abs(coeffs[u]) * max(f + bias_of[u], 0) for u in units)
            vals += sum(coeffs[b] * v for b, v in zip(bits, values))
            mags += sum(abs(coeffs[b]) * v for b, v in zip(bits, values))
            pre_v, any_v = abs(bias + vals), abs(bias) + mags
            if pre_v > best[0]:
                best = (pre_v, f, best[2], best[3])
            if any_v > best[2]:
                best = (best[0], best[1], any_v, f)
    return best


def _attained(first: Layer, coeffs: Mapping[str, int], bias: int, n: int, f: int,
              bits: Mapping[str, int], what: str) -> int:
    """``what`` (``pre`` or ``any``) of the row at a real input whose form value is f (the
    digit word DB - DA = f on n bits, all higher bits 0), by the exact forward pass of
    ``first``: the largest value found from the kinks is attained."""
    da, db = _digits_signed(f, n)
    point = {x: 0 for x in first.inputs.names}
    point |= {k: v for k, v in (_bits_of("DA", da, n) | _bits_of("DB", db, n)).items()
              if k in point}
    values = Network((first,), "attained").forward_exact(point) | dict(bits)
    if what == "pre":
        return abs(bias + sum(w * values[u] for u, w in coeffs.items()))
    return abs(bias) + sum(abs(w * values[u]) for u, w in coeffs.items())


def measured(bits: int) -> dict[str, int]:
    """The exact largest values at width ``bits`` of the rows the closed forms are about, from
    the networks the builders make (the branch gate composed with the flag's output row, as
    the compact profile folds them)."""
    sub = make_subtract(bits).network
    first, second = sub.layers
    pre = max(_box(c, b)[0] for c, b in zip(_rows(first), first.bias))
    any_paper = max(_box(c, b)[1] for c, b in zip(_rows(first), first.bias))
    # Per quantity: (largest value, bit, form value) over the read-out rows; the largest is
    # then shown attained by a real input.
    top = {"pre": (0, 0, 0), "any": (0, 0, 0)}
    rows = _rows(second)
    for i, (c, b) in enumerate(zip(rows, second.bias)):
        p, fp, a, fa = _over_form(first, c, b)
        top["pre"] = max(top["pre"], (p, i, fp))
        top["any"] = max(top["any"], (a, i, fa))
    for what, (value, i, f) in top.items():
        if _attained(first, rows[i], second.bias[i], i + 1, f, {}, what) != value:
            raise InternalError(f"subtract[bits={bits}] R.bit[{i}]: the largest {what} found "
                                "from the kinks is not attained by the input realising it")
    pre, any_paper = max(pre, top["pre"][0]), max(any_paper, top["any"][0])
    out = {"pre_paper": pre, "any_paper": any_paper}
    if bits >= 2:
        flag = make_flag(bits).network
        f1, f2 = flag.layers
        gate_c, gate_b = make_branch(1).network.layers[0].row("B.BG[0]")
        f_row, f_bias = f2.row("F")
        folded = {"C.bit[0]": gate_c["C.bit[0]"]}
        folded |= {u: gate_c["F"] * w for u, w in f_row.items()}
        bias = gate_b + gate_c["F"] * f_bias
        p, _, a, fa = _over_form(f1, folded, bias, ("C.bit[0]",))
        if _attained(f1, folded, bias, bits, fa, {"C.bit[0]": 1}, "any") != a:
            raise InternalError(f"flag[bits={bits}]: the largest value of the folded gate is "
                                "not attained by the input realising it")
        flag_pre = max(_box(c, b)[0] for c, b in zip(_rows(f1), f1.bias))
        flag_any = max(_box(c, b)[1] for c, b in zip(_rows(f1), f1.bias))
        sub_any = max(_box(c, b)[1] for c, b in zip(_rows(first), first.bias))
        out["pre_compact"] = max(pre, flag_pre, p)
        out["any_compact"] = max(sub_any, flag_any, a)
    return out


def expected(bits: int, forms: ClosedForms = CLOSED_FORMS) -> dict[str, int]:
    """The closed forms at width ``bits``."""
    h = 1 << (bits - 1)
    out = {"pre_paper": forms.pre(h), "any_paper": forms.any_paper(h)}
    if bits >= 2:
        out |= {"pre_compact": forms.pre(h), "any_compact": forms.any_compact(h)}
    return out


def check_closed_forms(forms: ClosedForms = CLOSED_FORMS, widths: Sequence[int] = BITS,
                       timeout: float = 60.0) -> Result:
    """The obligation ``precision/closed-forms[N=all]``: the lemmas for symbolic N, and the
    exact largest values of the built rows equal to the closed forms at every width given."""
    t0 = time.perf_counter()
    lemmas = closed_form_lemmas(forms)
    outcomes = [prove(lm, min(timeout, CLAIM_TIMEOUT)) for lm in lemmas]
    details: dict[str, Any] = {"lemmas": lemma_details(lemmas, outcomes)}
    claims = sum(o.total for o in outcomes)
    proved = sum(o.proved for o in outcomes)
    # A failed lemma's model names a width; the built rows at that width are measured first.
    first = [c.sizes["bits"] for o, lm in zip(outcomes, lemmas) if lm.realise is not None
             for c in map(lm.realise, o.models) if c is not None]
    order = list(dict.fromkeys([*first, *widths]))
    checked: list[int] = []
    for n in order:
        if time.perf_counter() - t0 > timeout:
            break
        got, want = measured(n), expected(n, forms)
        off = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
        if off:
            details["width"] = {"bits": n, "measured": got, "closed form": want}
            what = ", ".join(f"{k} = {g} (closed form {w})" for k, (g, w) in off.items())
            return Result(CLOSED_NAME, Verdict.REFUTED, "symbolic", proved, claims + len(order),
                          time.perf_counter() - t0, f"at N={n} the built rows give {what}",
                          None, details)
        if n in widths:
            checked.append(n)
    details["widths"] = checked
    seconds = time.perf_counter() - t0
    failed = [o for o in outcomes if o.status != "proved"]
    total = claims + len(widths)
    if failed or len(checked) < len(widths):
        why = ", ".join(f"{o.lemma} {o.status}" for o in failed) or (
            f"timeout after {len(checked)} of {len(widths)} widths")
        return Result(CLOSED_NAME, Verdict.UNKNOWN, "symbolic", proved + len(checked), total,
                      seconds, f"not proved: {why}", None, details)
    return Result(CLOSED_NAME, Verdict.PROVED, "symbolic", total, total, seconds,
                  f"{claims} claims proved for every N; the built rows attain exactly the "
                  f"closed forms at {len(widths)} widths", None, details)


# ---------------------------------------------------------------------------- registry
def _timeout(opts: Any) -> float:
    return float(getattr(opts, "timeout", 60.0))


def entries() -> list[Entry]:
    """One obligation per gadget family for every width, and the closed forms for every N."""

    def family_entry(fam: Family) -> Entry:
        return Entry(obligation_name(fam), lambda opts: check_family(fam, timeout=_timeout(opts)))

    return [*(family_entry(f) for f in FAMILIES),
            Entry(CLOSED_NAME, lambda opts: check_closed_forms(timeout=_timeout(opts)))]
