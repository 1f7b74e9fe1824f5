"""The decoder method: networks that select by an address (read, write) proved without a case
per address, through one lemma about the match template and per-word slices.

The argument in full, and what the machine checks: docs/decoder.md.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from verify.domains import Bits, IntRange, Product
from verify.errors import InternalError
from verify.network import Network
from verify.obligation import Obligation
from verify.ops import bit
from verify.result import Counterexample, Result, Verdict

from .base import Options, finish, replay, spec_bound, width_for
from .solvers import decide

MAX_ADDRESS_BITS = 16
"""Widest address the method takes (the lemma is proved for each width used)."""
MAX_SLICE_POINTS = 1 << 12
"""A slice is decided by enumerating its inputs' box; one with more points is not decided."""
MAX_BAD_UNITS = 16
"""Units off the template looked at one by one for a counterexample (more: not looked at)."""
MAX_CASES = 64
"""Addresses checked as whole cases when looking for a counterexample."""

Case = Callable[[Mapping[str, int]], Result]
"""One whole case: the obligation with the address inputs fixed to these values (the case split
of :mod:`verify.methods.casesplit`); its counterexample, if any, already replayed."""


# --------------------------------------------------------------------------- the template
def template(j: Any, m: int) -> tuple[list[Any], Any]:
    """The match template for word ``j`` over an ``m``-bit address x (bits x_0..x_{m-1}):

        e_j(x) = sum_i c_i(j) x_i + k(j),   c_i(j) = 4 bit_i(j) - 2,   k(j) = -2 sum_i bit_i(j).

    Returned as ``([c_0(j), ..., c_{m-1}(j)], k(j))``. The same text runs on a Python int ``j``
    (the structural check) and on a z3 bit-vector ``j`` (the lemma).
    """
    bits = [bit(j, i) for i in range(m)]
    total: Any = 0
    for b in bits:
        total = total + b
    return [4 * b - 2 for b in bits], -2 * total


def template_value(j: int, x: int, m: int) -> int:
    """e_j(x) on Python integers."""
    coeffs, k = template(j, m)
    return sum(c * ((x >> i) & 1) for i, c in enumerate(coeffs)) + k


@dataclass(frozen=True)
class Lemma:
    """The outcome of the template lemma for one address width."""

    verdict: Verdict
    reason: str
    width: int = 0
    witness: tuple[int, int] | None = None  # (j, x) where the lemma fails, replayed


_LEMMAS: dict[tuple[int, tuple[str, ...]], Lemma] = {}


def match_lemma(m: int, timeout: float = 60.0, solvers: Sequence[str] = ("z3",)) -> Lemma:
    """Prove, for every word j < 2^m and every address x in {0,1}^m, with z3 over bit-vectors
    of a width in which nothing wraps:

        x == j  implies  e_j(x) == 0,        x != j  implies  e_j(x) <= -2.

    A model of the negation is replayed on Python integers (:func:`template_value`) before the
    lemma is reported false; one that does not replay is an :class:`InternalError`. A proved
    lemma is kept for the process (it depends on ``m`` alone).
    """
    import z3

    key = (m, tuple(solvers))
    if key in _LEMMAS:
        return _LEMMAS[key]
    width = max(m + 1, (4 * m).bit_length()) + 2
    ctx = z3.Context()
    j = z3.BitVec("j", width, ctx)
    xs = [z3.BitVec(f"x{i}", width, ctx) for i in range(m)]
    coeffs, k = template(j, m)
    e: Any = k
    x_word: Any = 0
    for i, (c, x) in enumerate(zip(coeffs, xs)):
        e = e + c * x
        x_word = x_word + (1 << i) * x
    query = [j >= 0, j < (1 << m)] + [c for x in xs for c in (x >= 0, x <= 1)]
    query.append(z3.Or(z3.And(x_word == j, e != 0), z3.And(x_word != j, e > -2)))
    variables = {"j": j, **{f"x{i}": x for i, x in enumerate(xs)}}
    d = decide(query, variables, what=f"decoder template lemma [m={m}]", timeout=timeout,
               solvers=solvers)
    if d.status == "unsat":
        lemma = Lemma(Verdict.PROVED, f"{d.describe(' bit-vectors')}", width)
        _LEMMAS[key] = lemma
        return lemma
    if d.status == "sat" and d.model is not None:
        jv = int(d.model["j"])
        xv = sum(int(d.model[f"x{i}"]) << i for i in range(m))
        bits_ok = all(int(d.model[f"x{i}"]) in (0, 1) for i in range(m))
        ev = template_value(jv, xv, m)
        fails = (xv == jv and ev != 0) or (xv != jv and ev > -2)
        if not (0 <= jv < (1 << m) and bits_ok and fails):
            raise InternalError(f"decoder template lemma [m={m}]: the solver's model "
                                f"{dict(d.model)} does not replay on integers")
        return Lemma(Verdict.REFUTED, f"e_{jv}({xv}) = {ev}", width, (jv, xv))
    return Lemma(Verdict.UNKNOWN, d.describe(), width)


# --------------------------------------------------------------------------- structure
@dataclass
class Structure:
    """The first layer read against the template: the word of every match unit (by row), its
    gate bias, and every unit that is not an instance of the template, with why."""

    address: tuple[str, ...]
    word: dict[int, int] = field(default_factory=dict)
    beta: dict[int, int] = field(default_factory=dict)
    data: list[list[tuple[int, int]]] = field(default_factory=list)  # per row: (col, value)
    problems: dict[int, str] = field(default_factory=dict)
    coeffs: dict[int, list[int]] = field(default_factory=dict)  # address coefficients, by row


def structure(net: Network, address: Sequence[str],
              box: Mapping[str, tuple[int, int]]) -> Structure:
    """Match every first-layer unit that reads the address against the template.

    A unit with address coefficients (a_0..a_{m-1}) and bias b is an instance for word j when
    a_i == c_i(j) for every i (so j is read off the signs: bit_i(j) = 1 where a_i = +2), and its
    gate g(d) = (its data terms) + b - k(j) has an upper bound <= 2 over the box: then, by the
    lemma, the unit is ReLU(g(d)) at address j and 0 at every other address. Linear in the
    number of weights.
    """
    first = net.layers[0]
    names = first.inputs.names
    m = len(address)
    pos = {a: i for i, a in enumerate(address)}
    s = Structure(tuple(address))
    n_rows = len(first.outputs)
    addr = [[0] * m for _ in range(n_rows)]
    touches = [False] * n_rows
    s.data = [[] for _ in range(n_rows)]
    for r, c, v in zip(first.rows, first.cols, first.vals):
        i = pos.get(names[c])
        if i is None:
            s.data[r].append((c, v))
        else:
            addr[r][i] += v  # repeated entries add up, as in the forward pass
            touches[r] = True
    templates: dict[int, tuple[list[int], int]] = {}
    for r in range(n_rows):
        if not touches[r]:
            continue
        coeffs = s.coeffs[r] = addr[r]
        if not first.relu:
            s.problems[r] = "reads the address in a layer without ReLU"
            continue
        if any(c not in (2, -2) for c in coeffs):
            s.problems[r] = f"address coefficients {coeffs} are not the template's (+-2 each)"
            continue
        j = sum(1 << i for i, c in enumerate(coeffs) if c > 0)
        if j not in templates:
            templates[j] = template(j, m)
        want, k = templates[j]
        if coeffs != want:  # the literal comparison with the template instance
            s.problems[r] = f"address coefficients {coeffs} differ from word {j}'s {want}"
            continue
        beta = first.bias[r] - k
        ub = beta + sum(max(v * box[names[c]][0], v * box[names[c]][1]) for c, v in s.data[r])
        if ub > 2:
            s.problems[r] = (f"word {j}: its gate reaches {ub} > 2, so the unit may be "
                             "nonzero off its address")
            continue
        s.word[r] = j
        s.beta[r] = beta
    return s


# --------------------------------------------------------------------------- slices
Value = tuple[str, Any]
"""What a slice computes: ``("input", name)``, ``("const", c)``, or ``("other", why)``."""


@dataclass
class _Slices:
    """Slices of one network, decided once per distinct template (by canonical key)."""

    net: Network
    st: Structure
    box: Mapping[str, tuple[int, int]]
    decided: dict[Any, tuple[str, Any]] = field(default_factory=dict)
    row_maps: list[list[dict[int, int]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.row_maps = [_row_maps(layer) for layer in self.net.layers[1:]]

    def row(self, li: int, r: int) -> dict[int, int]:
        """Row r of layer li >= 1 as {column: value}."""
        return self.row_maps[li - 1][r]

    def cones(self, out_row: int) -> list[list[int]]:
        """Rows of each layer that output ``out_row`` of the last layer needs, first layer
        first."""
        need = [out_row]
        cones = [need]
        for maps in reversed(self.row_maps):
            need = sorted({c for r in need for c in maps[r]})
            cones.append(need)
        cones.reverse()
        return cones

    def value(self, alive: list[int], cones: list[list[int]], out_pos: int) -> Value:
        """What output ``out_pos`` of the last layer computes when the first-layer units alive
        are ``alive`` (free units and the active word's match units, in row order) and every
        other first-layer unit is 0; ``cones[k]`` are the rows of layer k + 1 it needs."""
        first = self.net.layers[0]
        names = first.inputs.names
        canon: dict[int, int] = {}
        order: list[int] = []
        rows1: list[tuple[tuple[tuple[int, int], ...], int]] = []
        for r in alive:
            terms: list[tuple[int, int]] = []
            for c, v in self.st.data[r]:
                if c not in canon:
                    canon[c] = len(order)
                    order.append(c)
                terms.append((canon[c], v))
            bias = self.st.beta[r] if r in self.st.word else first.bias[r]
            rows1.append((tuple(terms), bias))
        later: list[tuple[bool, tuple[tuple[tuple[tuple[int, int], ...], int], ...]]] = []
        prev = alive
        for k, rows in enumerate(cones, start=1):
            layer = self.net.layers[k]
            at = {r: p for p, r in enumerate(prev)}
            lrows: list[tuple[tuple[tuple[int, int], ...], int]] = []
            for r in rows:
                rm = self.row(k, r)
                if len(rm) <= len(at):
                    kept = tuple(sorted((at[c], v) for c, v in rm.items() if c in at))
                else:
                    kept = tuple((p, rm[c]) for c, p in sorted(at.items(), key=_second)
                                 if c in rm)
                lrows.append((kept, layer.bias[r]))
            later.append((layer.relu, tuple(lrows)))
            prev = rows
        boxes = tuple(self.box[names[c]] for c in order)
        key = (first.relu, tuple(rows1), tuple(later), boxes, out_pos)
        got = self.decided.get(key)
        if got is None:
            got = self.decided[key] = _decide(first.relu, rows1, later, boxes, out_pos)
        kind, what = got
        if kind == "input":
            return "input", names[order[what]]
        return kind, what


def _second(item: tuple[int, int]) -> int:
    return item[1]


def _row_maps(layer: Any) -> list[dict[int, int]]:
    """Every row of a layer as {column: value}; repeated entries add up."""
    maps: list[dict[int, int]] = [{} for _ in range(len(layer.outputs))]
    for r, c, v in zip(layer.rows, layer.cols, layer.vals):
        maps[r][c] = maps[r].get(c, 0) + v
    return maps


def _decide(relu1: bool, rows1: list[tuple[tuple[tuple[int, int], ...], int]],
            later: list[tuple[bool, tuple[tuple[tuple[tuple[int, int], ...], int], ...]]],
            boxes: tuple[tuple[int, int], ...], out_pos: int) -> tuple[str, Any]:
    """Evaluate one canonical slice on every point of its box (Python integers): the constant
    it equals, the input it equals (by canonical index), or why it is neither."""
    count = 1
    for lo, hi in boxes:
        count *= hi - lo + 1
    if count > MAX_SLICE_POINTS:
        return "other", f"a slice over {count} points (more than {MAX_SLICE_POINTS})"
    values: list[int] = []
    points = list(itertools.product(*[range(lo, hi + 1) for lo, hi in boxes]))
    for p in points:
        x = []
        for terms, b in rows1:
            s = b + sum(v * p[i] for i, v in terms)
            x.append(max(s, 0) if relu1 else s)
        for relu, lrows in later:
            nxt = []
            for terms, b in lrows:
                s = b + sum(v * x[i] for i, v in terms)
                nxt.append(max(s, 0) if relu else s)
            x = nxt
        values.append(x[out_pos])
    if all(v == values[0] for v in values):
        return "const", values[0]
    for i in range(len(boxes)):
        if all(v == p[i] for v, p in zip(values, points)):
            return "input", i
    return "other", "the slice is neither an input nor a constant"


# --------------------------------------------------------------------------- the method
def applies(ob: Obligation, control: Sequence[str]) -> str:
    """Why the method does not apply to ``ob`` with these address inputs ('' when it does)."""
    factors = list(ob.domain.factors) if isinstance(ob.domain, Product) else [ob.domain]
    if not all(isinstance(f, (Bits, IntRange)) for f in factors):
        return "the domain is not a box of bits and ranges"
    box = dict(zip(ob.domain.names, ob.domain.box()))
    points = 1
    for lo, hi in box.values():
        points *= hi - lo + 1
    if ob.domain.count != points:  # every point of the box must be in the domain
        return "the domain is not its whole box"
    if not 1 <= len(control) <= MAX_ADDRESS_BITS:
        return f"{len(control)} address bits (the method takes 1 to {MAX_ADDRESS_BITS})"
    if any(box.get(a) != (0, 1) for a in control):
        return "an address input that is not a bit"
    return ""


def decoder(ob: Obligation, control: Sequence[str], opts: Options = Options(),
            case: Case | None = None) -> Result:
    """Prove ``ob`` for every address at once (see docs/decoder.md).

    1. the template lemma for m = len(control) address bits (:func:`match_lemma`);
    2. every first-layer unit that reads the address is an instance of the template with a
       gate bounded by 2 (:func:`structure`); the lemma then makes it ``[A == j] ReLU(g)``;
    3. for every output and every address a, the network with A = a is its *slice* (free units
       and word a's match units); each distinct slice, up to renaming of its inputs, is
       evaluated once on its whole box and found to be one input or a constant;
    4. the model so obtained, ``out = (input or constant chosen by A)``, equals the spec on the
       whole domain: one solver query with the address symbolic; a model of its negation is
       replayed through the exact network before it is reported.

    Where step 2 or 3 finds something off the template, ``case`` (when given) checks the
    addresses it concerns as whole cases, so a real counterexample is found and replayed; the
    verdict is then REFUTED or UNKNOWN, never PROVED.
    """
    t0 = time.perf_counter()
    total = ob.domain.count
    why = applies(ob, control)
    if why:
        return finish(ob, Verdict.UNKNOWN, "factorised", 0, total, t0, f"decoder: {why}")
    m = len(control)
    lemma = match_lemma(m, opts.timeout, opts.solvers)
    if lemma.verdict is not Verdict.PROVED:
        return finish(ob, Verdict.UNKNOWN, "factorised", 0, total, t0,
                      f"decoder: the template lemma for {m} address bits is "
                      f"{lemma.verdict.label} ({lemma.reason})")
    box = dict(zip(ob.domain.names, ob.domain.box()))
    st = structure(ob.network, control, box)
    slices = _Slices(ob.network, st, box)
    last = ob.network.layers[-1]
    n_layers = len(ob.network.layers)
    model: dict[str, tuple[Value, dict[int, Value]]] = {}
    bad_slices: list[tuple[str, int | None, str]] = []
    for o in ob.checked_outputs:
        out_row = last.outputs.index(o)
        cones = slices.cones(out_row)
        free = [r for r in cones[0] if r not in st.word and r not in st.problems]
        by_word: dict[int, list[int]] = {}
        for r in cones[0]:
            if r in st.word:
                by_word.setdefault(st.word[r], []).append(r)
        later = cones[1:]
        out_pos = later[-1].index(out_row) if n_layers > 1 else None
        per_address: dict[int, Value] = {}
        for a, rows in by_word.items():
            alive = sorted(free + rows)
            per_address[a] = _value(slices, alive, later, out_pos, cones[0])
            if per_address[a][0] == "other":
                bad_slices.append((o, a, str(per_address[a][1])))
        idle: Value = ("const", 0)
        if len(by_word) < (1 << m):
            idle = _value(slices, free, later, out_pos, cones[0])
            if idle[0] == "other":
                first_idle = next(a for a in range(1 << m) if a not in by_word)
                bad_slices.append((o, first_idle, str(idle[1])))
        model[o] = (idle, per_address)
    details: dict[str, Any] = {"split": list(control), "lemma": f"m={m}",
                               "match_units": len(st.word), "templates": len(slices.decided)}
    if st.problems or bad_slices:
        return _off_template(ob, control, st, bad_slices, box, case, t0, details)
    verdict, info = _bridge(ob, control, model, box, opts)
    if verdict is Verdict.PROVED:
        return finish(ob, Verdict.PROVED, "factorised", total, total, t0,
                      f"decoder: template lemma for {m} address bits ({lemma.reason}), "
                      f"{len(st.word)} match units are its instances, "
                      f"{len(slices.decided)} slice templates decided on their boxes, "
                      f"selection model vs spec ({info}), no case per address",
                      **details)
    if verdict is Verdict.REFUTED:
        return finish(ob, Verdict.REFUTED, "factorised", 0, total, t0,
                      "decoder: the selection model differs from the spec", info, **details)
    return finish(ob, Verdict.UNKNOWN, "factorised", 0, total, t0,
                  f"decoder: selection model vs spec: {info}", **details)


def _value(slices: _Slices, alive: list[int], later: list[list[int]], out_pos: int | None,
           first_cone: list[int]) -> Value:
    """The slice's value; for a one-layer network the output is a first-layer unit itself."""
    if out_pos is None:
        out_row = first_cone[0]
        if out_row not in alive:
            return "const", 0  # a match unit of another word: 0 by the lemma
        return slices.value([out_row], [], 0)
    return slices.value(alive, later, out_pos)


def _bridge(ob: Obligation, control: Sequence[str],
            model: Mapping[str, tuple[Value, dict[int, Value]]],
            box: Mapping[str, tuple[int, int]], opts: Options) -> tuple[Verdict, Any]:
    """Ask for a point of the domain where the selection model and the spec differ, with the
    address symbolic (one query for every output). PROVED with the theory used; REFUTED with
    the replayed counterexample; UNKNOWN with the solver's reason."""
    import z3

    consts = [abs(int(v)) for idle, per in model.values()
              for kind, v in [idle, *per.values()] if kind == "const"]
    width = width_for(spec_bound(ob), max([abs(x) for lo_hi in box.values() for x in lo_hi]
                                          + consts + [1 << len(control)]))
    ctx = z3.Context()
    if width is None:
        v = {n: z3.Int(n, ctx) for n in ob.network.inputs}

        def const(c: int) -> Any:
            return z3.IntVal(c, ctx)
    else:
        v = {n: z3.BitVec(n, width, ctx) for n in ob.network.inputs}

        def const(c: int) -> Any:
            return z3.BitVecVal(c, width, ctx)
    query: list[Any] = []
    for n, (lo, hi) in box.items():
        query += [v[n] >= lo, v[n] <= hi]
    address: Any = const(0)
    for i, a in enumerate(control):
        address = address + (1 << i) * v[a]

    def term(val: Value) -> Any:
        return v[val[1]] if val[0] == "input" else const(int(val[1]))

    want = ob.spec(v)
    diffs = []
    for o, (idle, per) in model.items():
        got = term(idle)
        for word in sorted(per, reverse=True):
            got = z3.If(address == word, term(per[word]), got)
        w = want[o]
        diffs.append(got != (w if z3.is_expr(w) else const(int(w))))
    query.append(z3.Or(*diffs))
    d = decide(query, v, what=f"{ob.name}: decoder selection model vs spec",
               timeout=opts.timeout, solvers=opts.solvers)
    theory = "integers" if width is None else f"{width}-bit bit-vectors"
    if d.status == "unsat":
        return Verdict.PROVED, f"{d.solver} {theory}"
    if d.status == "sat" and d.model is not None:
        cex = replay(ob, {n: int(d.model[n]) for n in ob.network.inputs})
        if cex is None:
            raise InternalError(f"{ob.name}: the decoder's selection model differs from the "
                                "spec at a point where the network does not; this is a bug in "
                                "the checker")
        return Verdict.REFUTED, cex
    return Verdict.UNKNOWN, d.describe()


def _off_template(ob: Obligation, control: Sequence[str], st: Structure,
                  bad_slices: list[tuple[str, int | None, str]],
                  box: Mapping[str, tuple[int, int]], case: Case | None, t0: float,
                  details: dict[str, Any]) -> Result:
    """Something is not the template: check the addresses it concerns as whole cases (a
    counterexample there is replayed and reported); never PROVED."""
    total = ob.domain.count
    problems = [f"unit {ob.network.layers[0].outputs.names[r]}: {why}"
                for r, why in sorted(st.problems.items())[:3]]
    problems += [f"output {o} at address {a}: {why}" for o, a, why in bad_slices[:3]]
    reason = "decoder: " + "; ".join(problems)
    details = {**details, "off_template_units": len(st.problems),
               "off_template_slices": len(bad_slices)}
    if case is None:
        return finish(ob, Verdict.UNKNOWN, "factorised", 0, total, t0, reason, **details)
    addresses = _concerned(ob, control, st, bad_slices, box)
    for a in addresses[:MAX_CASES]:
        values = {n: (a >> i) & 1 for i, n in enumerate(control)}
        r = case(values)
        if r.verdict is Verdict.REFUTED and r.counterexample is not None:
            cex: Counterexample | None = replay(ob, r.counterexample.inputs)
            if cex is not None:
                return finish(ob, Verdict.REFUTED, "factorised", 0, total, t0,
                              f"{reason}; counterexample at address {a}", cex, **details)
    return finish(ob, Verdict.UNKNOWN, "factorised", 0, total, t0,
                  f"{reason}; no counterexample at the {min(len(addresses), MAX_CASES)} "
                  "addresses concerned, the rest is not decided", **details)


def _concerned(ob: Obligation, control: Sequence[str], st: Structure,
               bad_slices: list[tuple[str, int | None, str]],
               box: Mapping[str, tuple[int, int]]) -> list[int]:
    """The addresses where an off-template unit may be nonzero or its nearest word sits, and
    those of the slices that are neither an input nor a constant."""
    first = ob.network.layers[0]
    names = first.inputs.names
    m = len(control)
    found: dict[int, None] = {}
    for _, a, _ in bad_slices:
        if a is not None:
            found[a] = None
    for r in sorted(st.problems)[:MAX_BAD_UNITS]:
        coeffs = st.coeffs[r]
        found[sum(1 << i for i, c in enumerate(coeffs) if c > 0)] = None
        if m > 12:
            continue
        ub = first.bias[r] + sum(max(v * box[names[c]][0], v * box[names[c]][1])
                                 for c, v in st.data[r])
        for a in range(1 << m):
            if ub + sum(c for i, c in enumerate(coeffs) if (a >> i) & 1) > 0:
                found[a] = None
    return list(found)
