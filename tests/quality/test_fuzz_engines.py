"""Soundness fuzzer for the engines: random small networks, domains and specs, every engine
held against a brute-force oracle that works in plain Python integers.

Each case is drawn from its seed alone. The oracle knows nothing of the kernel: it lists the
domain's members with itertools from the case's own description, evaluates the network from
the dense weight matrices the case drew, and evaluates the spec from its expression tree, all
in Python ints. The engines get the same network as a :class:`~verify.network.Network`, the same
domain as a :class:`~verify.domains.Domain` and the spec as a function written with
:mod:`verify.ops`. Then, for every engine: PROVED only when the oracle finds no disagreement;
every REFUTED carries a counterexample that lies in the domain and on which the oracle sees the
network and the spec differ; UNKNOWN is allowed; ``sampled`` never proves.

The draws lean towards what has broken engines before: weights and coordinates near 2^24, 2^53
and 2^63 and beyond, negative ranges, sums that are equal modulo 2^64 but not equal, plain
integer ``ite`` branches carrying the magnitude, predicates that wrap, exclude every point or
cannot run on intervals, one-hot domains, constant outputs, and factorisations whose groups
leave outputs out. A failure names its seed: ``run_case(seed)`` replays it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from verify import ops
from verify.domains import Bits, Constrained, Domain, IntRange, OneHot, Word, product
from verify.layout import Layout
from verify.methods import Options, bv_width, check, exhaustive, sampled, smt, smt_bv
from verify.methods.factorised import factorised
from verify.network import Layer, Network
from verify.obligation import Factorisation, Form, Obligation
from verify.result import Result, Verdict

try:
    import cvc5  # noqa: F401

    HAVE_CVC5 = True
except ImportError:  # the cvc5 extra is optional
    HAVE_CVC5 = False

TIMEOUT = 2.0  # per solver query: a timeout is UNKNOWN, which the fuzzer allows
CVC5_BV_WIDTH = 64  # cvc5 over wider bit-vectors takes seconds per query: integers only there
MAX_POINTS = 160  # domain boxes stay small enough for the oracle to list every member

# Magnitudes where an arithmetic changes: float32 and float64 stop being exact, int64 wraps.
EDGES = (1 << 24, 1 << 53, 1 << 62, 1 << 63, 1 << 64, 1 << 70)
WIDE = tuple(s * (e + d) for e in EDGES for d in (-1, 0, 1) for s in (1, -1))

Expr = tuple[Any, ...]
Point = dict[str, int]


# --------------------------------------------------------------------------- expressions
# A small language for specs and predicates, with two independent meanings: ``oracle`` in plain
# Python ints, and ``realise`` through verify.ops (which then runs on ints, numpy batches, z3
# terms and intervals alike).
def oracle(e: Expr, p: Mapping[str, int]) -> Any:
    """The value of ``e`` at the point ``p``, in Python ints and bools, without verify.ops."""
    op = e[0]
    if op == "const":
        return e[1]
    if op == "var":
        return p[e[1]]
    if op == "affine":
        return sum(w * oracle(t, p) for w, t in e[1]) + e[2]
    if op == "relu":
        return max(oracle(e[1], p), 0)
    if op == "ite":
        return oracle(e[2], p) if oracle(e[1], p) else oracle(e[3], p)
    if op == "bit":
        return (oracle(e[1], p) >> e[2]) & 1
    if op == "wrap":
        return oracle(e[1], p) % (1 << e[2])
    if op == "mod":
        return oracle(e[1], p) % e[2]
    if op == "select":
        return oracle(e[1][p[e[2]]], p)
    if op == "cmp":
        a, b = oracle(e[2], p), oracle(e[3], p)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b,
                "!=": a != b}[e[1]]
    if op == "and":
        return oracle(e[1], p) and oracle(e[2], p)
    if op == "or":
        return oracle(e[1], p) or oracle(e[2], p)
    if op == "not":
        return not oracle(e[1], p)
    raise AssertionError(op)


def realise(e: Expr, v: Mapping[str, Any]) -> Any:
    """The value of ``e`` on whatever ``v`` holds, written with verify.ops."""
    op = e[0]
    if op == "const":
        return e[1]
    if op == "var":
        return v[e[1]]
    if op == "affine":
        total: Any = e[2]
        for w, t in e[1]:
            total = total + w * realise(t, v)
        return total
    if op == "relu":
        return ops.relu(realise(e[1], v))
    if op == "ite":
        return ops.ite(realise(e[1], v), realise(e[2], v), realise(e[3], v))
    if op == "bit":
        return ops.bit(realise(e[1], v), e[2])
    if op == "wrap":
        return ops.wrap(realise(e[1], v), e[2])
    if op == "mod":  # outside verify.ops on purpose: it has no interval bound
        return realise(e[1], v) % e[2]
    if op == "select":
        return ops.select([realise(t, v) for t in e[1]], v[e[2]])
    if op == "cmp":
        a, b = realise(e[2], v), realise(e[3], v)
        return {"<": lambda: a < b, "<=": lambda: a <= b, ">": lambda: a > b,
                ">=": lambda: a >= b, "==": lambda: a == b, "!=": lambda: a != b}[e[1]]()
    if op == "and":
        return ops.logical_and(realise(e[1], v), realise(e[2], v))
    if op == "or":
        return ops.logical_or(realise(e[1], v), realise(e[2], v))
    if op == "not":
        return ops.logical_not(realise(e[1], v))
    raise AssertionError(op)


def var(name: str) -> Expr:
    return ("var", name)


def const(c: int) -> Expr:
    return ("const", c)


# --------------------------------------------------------------------------- a case
@dataclass
class Case:
    """One drawn obligation with everything the oracle needs to judge it."""

    seed: int
    ob: Obligation
    members: list[Point]  # every member of the domain, listed by the oracle
    weights: list[tuple[list[list[int]], list[int], bool]]  # per layer: W[out][in], b, relu
    inputs: tuple[str, ...]
    layer_outputs: tuple[str, ...]  # every output of the network
    outputs: tuple[str, ...]  # the checked ones
    spec: dict[str, Expr]
    notes: list[str] = field(default_factory=list)
    factorised: list[Obligation] = field(default_factory=list)

    def network(self, p: Mapping[str, int]) -> dict[str, int]:
        x = [p[n] for n in self.inputs]
        for w, b, relu in self.weights:
            acc = [sum(wr[j] * x[j] for j in range(len(x))) + b[i] for i, wr in enumerate(w)]
            x = [max(a, 0) for a in acc] if relu else acc
        return dict(zip(self.layer_outputs, x, strict=True))

    def differs(self, p: Mapping[str, int]) -> dict[str, tuple[int, int]]:
        net = self.network(p)
        out = {}
        for o in self.outputs:
            want = int(oracle(self.spec[o], p))
            if net[o] != want:
                out[o] = (net[o], want)
        return out

    def truth(self) -> Point | None:
        """The first member where network and spec differ, or None (the claim is true)."""
        return next((p for p in self.members if self.differs(p)), None)

    def describe(self) -> str:
        return (f"seed={self.seed} domain={self.ob.domain.describe()} "
                f"notes={','.join(self.notes)} (replay: run_case({self.seed}))")


def _draw_factor(rng: random.Random, k: int, narrow: bool) -> tuple[Domain, list[Point]]:
    """One factor of a product domain, with its members listed independently (``narrow``: no
    value near the edges of the exact arithmetics)."""
    kind = rng.choice(["bits", "word", "onehot", "range", "range", "range", "constrained"])
    if kind == "bits":
        names = tuple(f"b{k}_{i}" for i in range(rng.randint(1, 3)))
        return Bits(names), [dict(zip(names, t, strict=True))
                             for t in itertools.product((0, 1), repeat=len(names))]
    if kind == "word":
        bits = rng.randint(1, 3)
        dom = Word(f"W{k}", bits)
        return dom, [dict(zip(dom.names, t, strict=True))
                     for t in itertools.product((0, 1), repeat=bits)]
    if kind == "onehot":
        names = tuple(f"h{k}_{i}" for i in range(rng.randint(1, 4)))
        return OneHot(names), [{n: int(i == j) for i, n in enumerate(names)}
                               for j in range(len(names))]
    if kind == "range":
        base = rng.choice([0, 0, -3, 5, -(1 << 20)] + ([] if narrow else list(WIDE)))
        lo = base - rng.randint(0, 3)
        hi = lo + rng.randint(0, 6)
        name = f"x{k}"
        return IntRange(name, lo, hi), [{name: x} for x in range(lo, hi + 1)]
    inner, members = _draw_factor(rng, k, narrow)
    pred = _draw_predicate(rng, inner.names, members)
    kept = [p for p in members if oracle(pred, p)]
    return Constrained(inner, lambda v, pred=pred: realise(pred, v), repr(pred)[:60]), kept


def _draw_linear(rng: random.Random, names: list[str]) -> Expr:
    terms = [(rng.choice([1, -1, 2, 3, 10, -7] + list(WIDE[:12])), var(n))
             for n in rng.sample(names, rng.randint(1, min(3, len(names))))]
    return ("affine", tuple(terms), rng.choice([0, 0, 1, -5, 1 << 40]))


def _draw_predicate(rng: random.Random, coordinates: tuple[str, ...],
                    members: list[Point]) -> Expr:
    """A condition over the coordinates: thresholds near the values the members take (so it
    keeps some, all or none of them), sometimes through ``%`` (no interval bound)."""
    names = list(coordinates)
    lin = _draw_linear(rng, names)
    values = sorted(int(oracle(lin, p)) for p in members) or [0]
    pivot = rng.choice([values[0] - 1, values[len(values) // 2], values[-1] + 1, values[-1]])
    kind = rng.random()
    if kind < 0.15:
        return ("cmp", "==", ("mod", lin, rng.choice([2, 3])), const(0))
    cond: Expr = ("cmp", rng.choice(["<", "<=", ">", ">=", "==", "!="]), lin, const(pivot))
    if kind < 0.35:
        other = _draw_linear(rng, names)
        cond = (rng.choice(["and", "or"]), cond, ("cmp", ">=", other, const(0)))
    elif kind < 0.45:
        cond = ("not", cond)
    return cond


def _draw_domain(rng: random.Random, narrow: bool) -> tuple[Domain, list[Point]]:
    while True:
        factors = [_draw_factor(rng, k, narrow) for k in range(rng.randint(1, 3))]
        size = 1
        for f, _ in factors:
            size *= f.count
        if size <= MAX_POINTS:
            break
    dom = product(*[f for f, _ in factors])
    members = [dict(kv for part in combo for kv in part.items())
               for combo in itertools.product(*[m for _, m in factors])]
    if len(factors) > 1 and rng.random() < 0.2:  # a predicate across factors
        pred = _draw_predicate(rng, dom.names, members)
        members = [p for p in members if oracle(pred, p)]
        dom = Constrained(dom, lambda v, pred=pred: realise(pred, v), "across factors")
    return dom, members


def _draw_weight(rng: random.Random, narrow: bool) -> int:
    r = rng.random()
    if r < 0.6 or (narrow and r >= 0.7):
        return rng.randint(-3, 3)
    if r < 0.7:
        return 0
    return rng.choice(WIDE)


def _draw_network(rng: random.Random, inputs: tuple[str, ...], narrow: bool
                  ) -> tuple[Network, list[tuple[list[list[int]], list[int], bool]]]:
    widths = [len(inputs)] + [rng.randint(1, 3) for _ in range(rng.randint(1, 3))]
    layers, weights = [], []
    cur = Layout(list(inputs))
    constant = rng.random() < 0.1  # every weight zero: constant outputs
    for k in range(1, len(widths)):
        last = k == len(widths) - 1
        nxt = Layout([f"y{i}" for i in range(widths[k])] if last else
                     [f"u{k}_{i}" for i in range(widths[k])])
        w = [[0 if constant else _draw_weight(rng, narrow) for _ in range(widths[k - 1])]
             for _ in range(widths[k])]
        b = [_draw_weight(rng, narrow) for _ in range(widths[k])]
        relu = rng.random() < 0.7
        layers.append(Layer.from_dense(w, b, cur, nxt, relu=relu))
        weights.append((w, b, relu))
        cur = nxt
    return Network(tuple(layers), "fuzz"), weights


def _mirror(weights: list[tuple[list[list[int]], list[int], bool]],
            inputs: tuple[str, ...]) -> list[Expr]:
    """The network as expressions over the inputs: a spec equal to it."""
    xs: list[Expr] = [var(n) for n in inputs]
    for w, b, relu in weights:
        pre: list[Expr] = [("affine", tuple((wij, x) for wij, x in zip(row, xs, strict=True)
                                            if wij), b[i]) for i, row in enumerate(w)]
        xs = [("relu", p) if relu else p for p in pre]
    return xs


def _perturb(rng: random.Random, e: Expr, names: list[str], notes: list[str]) -> Expr:
    """``e``, or ``e`` with a change that is zero, zero modulo 2^64 only, or a near miss."""
    x = var(rng.choice(names))
    cut = ("cmp", rng.choice([">", "<=", "=="]), x, const(rng.choice([0, 1, 3, -2])))
    kind = rng.randrange(7)
    if kind == 0:  # + 2^64 where cut holds, via a plain-int ite: equal modulo 2^64 only
        notes.append("mod-2^64")
        return ("affine", ((1, e), (1 << 24, ("ite", cut, const(1 << 40), const(0)))), 0)
    if kind == 1:  # + 2^80 - 2^80: zero, through values beyond int64
        notes.append("wide-zero")
        big = ("ite", cut, const(1 << 40), const(0))
        return ("affine", ((1, e), (1 << 40, big), (-(1 << 40), big)), 0)
    if kind == 2:  # a near miss: + 1 where the cut holds
        notes.append("near-miss")
        return ("affine", ((1, e), (1, ("ite", cut, const(1), const(0)))), 0)
    if kind == 3:  # + 0 through %: no interval bound
        notes.append("no-bound")
        return ("affine", ((1, e), (1, ("mod", x, 1))), 0)
    if kind == 4:  # a test of a wide value that wraps to the other answer at 64 bits
        notes.append("wide-test")
        big = ("affine", ((1 << 40, ("ite", cut, const(1 << 40), const(0))),), 0)
        return ("affine", ((1, e), (1, ("ite", ("cmp", ">", ("affine", ((1 << 24, big),), 0),
                                                   const(0)), const(1), const(0)))), 0)
    if kind == 5:  # bits and wraps of the value
        notes.append("bits")
        return ("affine", ((1, ("wrap", e, 70)), (0, ("bit", e, rng.choice([0, 3, 63])))),
                -(1 << 70) if rng.random() < 0.2 else 0)
    notes.append("same")
    return e


def _random_spec(rng: random.Random, names: list[str], bits: list[str]) -> Expr:
    """An expression with no reason to equal the network (mostly refuted)."""
    lin = _draw_linear(rng, names)
    shape = rng.randrange(5)
    if shape == 0:
        return ("relu", lin)
    if shape == 1:
        return ("ite", ("cmp", ">=", lin, const(0)), lin, const(rng.choice(WIDE)))
    if shape == 2 and bits:
        return ("select", (lin, const(rng.choice([0, 1, 1 << 63]))), rng.choice(bits))
    if shape == 3:
        return ("bit", lin, rng.choice([0, 2, 63, 64]))
    return ("const", rng.choice([0, 1, -1] + list(WIDE[:6])))


def draw(seed: int) -> Case:
    """The case of ``seed``."""
    rng = random.Random(seed)
    narrow = rng.random() < 0.35  # small values only: float32 arithmetic, narrow bit-vectors
    dom, members = _draw_domain(rng, narrow)
    inputs = list(dom.names)
    rng.shuffle(inputs)  # the network reads the coordinates in its own order
    net, weights = _draw_network(rng, tuple(inputs), narrow)
    outputs = net.outputs.names
    notes: list[str] = []
    bits = [n for n, (lo, hi) in zip(dom.names, dom.box(), strict=True) if (lo, hi) == (0, 1)]
    if rng.random() < 0.75:
        spec_exprs = [_perturb(rng, e, inputs, notes) for e in _mirror(weights, tuple(inputs))]
    else:
        notes.append("random")
        spec_exprs = [_random_spec(rng, inputs, bits) for _ in outputs]
    spec = dict(zip(outputs, spec_exprs, strict=True))
    checked: tuple[str, ...] | None = None
    if len(outputs) > 1 and rng.random() < 0.2:
        checked = tuple(rng.sample(list(outputs), rng.randint(1, len(outputs) - 1)))
        notes.append("some-outputs")

    def spec_fn(v: Mapping[str, Any]) -> dict[str, Any]:
        return {o: realise(spec[o], v) for o in checked or outputs}

    ob = Obligation(f"fuzz[{seed}]", net, dom, spec_fn, outputs=checked)
    case = Case(seed, ob, members, weights, tuple(inputs), tuple(outputs),
                tuple(checked or outputs), {o: spec[o] for o in checked or outputs}, notes)
    if rng.random() < 0.5:
        case.factorised = _factorisations(rng, case, dom)
    return case


def _factorisations(rng: random.Random, case: Case, dom: Domain) -> list[Obligation]:
    """The case's obligation with factorisations declared: identity forms (with offsets) and
    the spec through them, sometimes a wrong form spec, groups that leave outputs out, and a
    case split on a coordinate when the domain is a product of bits and ranges."""
    names = list(dom.names)
    offsets = {n: rng.choice([0, 0, 5, -(1 << 40)]) for n in names}
    forms = tuple(Form(f"f:{n}", {n: 1}, offsets[n]) for n in names)
    if len(names) > 1 and rng.random() < 0.3:
        forms += (Form("sum", {n: 1 for n in names[:2]}),)
    wrong = rng.random() < 0.2

    def form_spec(f: Mapping[str, Any]) -> dict[str, Any]:
        point = {n: f[f"f:{n}"] - offsets[n] for n in names}
        got = case.ob.spec(point)
        return {o: (got[o] + 1 if wrong else got[o]) for o in got}

    outs = list(case.outputs)
    groups: tuple[tuple[str, ...], ...] = ()
    if len(outs) > 1 and rng.random() < 0.5:
        groups = ((outs[0],),)  # the other outputs are left to the engine
    out = [replace(case.ob, factorisation=Factorisation(forms, form_spec, groups))]
    plain = all(isinstance(f, (Bits, IntRange)) for f in getattr(dom, "factors", (dom,)))
    if plain and len(names) > 1:
        control = (rng.choice(names),)
        out.append(replace(case.ob, factorisation=Factorisation(forms, form_spec, groups,
                                                                split=control)))
    if wrong:
        case.notes.append("wrong-form-spec")
    return out


# --------------------------------------------------------------------------- the engines
def engines() -> dict[str, Callable[[Obligation], Result]]:
    """Every engine, by name, with the options the fuzzer gives it."""
    z3 = Options("smt", timeout=TIMEOUT)
    out: dict[str, Callable[[Obligation], Result]] = {
        "exhaustive": lambda ob: exhaustive(ob, Options("exhaustive", chunk=16)),
        "smt-int": lambda ob: smt(ob, z3),
        "smt-bv": lambda ob: smt_bv(ob, z3),
        "sampled": lambda ob: sampled(ob, Options("sampled", timeout=0.5, samples=12)),
        "auto": lambda ob: check(ob),
        "auto-solver": lambda ob: check(ob, Options(timeout=TIMEOUT, exhaustive_limit=1)),
    }
    if HAVE_CVC5:
        c5 = Options("smt", timeout=TIMEOUT, solver="cvc5")
        out["cvc5-int"] = lambda ob: smt(ob, c5)
        out["cvc5-bv"] = lambda ob: smt_bv(ob, c5)
    return out


def applicable(engine: str, ob: Obligation) -> bool:
    """Whether the default run asks ``engine`` about ``ob`` (cvc5 over wide bit-vectors is
    left to z3, for time)."""
    if engine == "cvc5-bv":
        width = bv_width(ob)
        return width is not None and width <= CVC5_BV_WIDTH
    return True


def judge(case: Case, engine: str, r: Result) -> None:
    """The fuzzer's assertions on one engine's result."""
    wrong = case.truth()
    if r.verdict is Verdict.PROVED:
        assert engine != "sampled", f"sampling proved: {case.describe()}"
        assert wrong is None, (f"{engine} PROVED a false claim: network and spec differ at "
                               f"{wrong} ({case.differs(wrong)}); {case.describe()}")
    elif r.verdict is Verdict.REFUTED:
        cex = r.counterexample
        assert cex is not None, f"{engine}: REFUTED without a counterexample; {case.describe()}"
        point = {n: int(cex.inputs[n]) for n in case.inputs}
        assert point in case.members, (f"{engine}: counterexample {point} lies outside the "
                                       f"domain; {case.describe()}")
        seen = case.differs(point)
        assert seen, f"{engine}: counterexample {point} agrees; {case.describe()}"
        assert {o: (cex.network[o], cex.spec[o]) for o in cex.network} == seen, case.describe()


def run_case(seed: int) -> dict[str, Verdict]:
    """Draw the case of ``seed``, run every engine on it and judge each; the verdicts."""
    case = draw(seed)
    verdicts: dict[str, Verdict] = {}
    for name, run in engines().items():
        if not applicable(name, case.ob):
            continue
        r = run(case.ob)
        judge(case, name, r)
        verdicts[name] = r.verdict
    for k, ob in enumerate(case.factorised):
        name = "casesplit" if ob.factorisation and ob.factorisation.split else "factorised"
        r = factorised(ob, Options("factorised", timeout=TIMEOUT))
        judge(case, name, r)
        verdicts[f"{name}{k or ''}"] = r.verdict
    return verdicts


# --------------------------------------------------------------------------- the tests
BATCHES = 80
PER_BATCH = 4  # 320 cases in the default run
DEEP_BATCHES = 500  # the slow run: 2000 more


@pytest.mark.parametrize("batch", range(BATCHES))
def test_engines_agree_with_the_oracle(batch: int) -> None:
    for seed in range(batch * PER_BATCH, (batch + 1) * PER_BATCH):
        run_case(seed)


@pytest.mark.slow
@pytest.mark.parametrize("batch", range(BATCHES, BATCHES + DEEP_BATCHES))
def test_engines_agree_with_the_oracle_deep(batch: int) -> None:
    for seed in range(batch * PER_BATCH, (batch + 1) * PER_BATCH):
        run_case(seed)


def test_the_draws_reach_every_kind_and_both_truths() -> None:
    """The fuzzer is not vacuous: true and false claims, every domain kind, wide values,
    empty domains and factorisations all occur among the default run's cases."""
    cases = [draw(seed) for seed in range(BATCHES * PER_BATCH)]
    truths = [c.truth() is None for c in cases]
    assert 0.2 < sum(truths) / len(truths) < 0.8
    described = " ".join(c.ob.domain.describe() for c in cases)
    for kind in ("Bits", "OneHot", "IntRange", "Product", " where "):
        assert kind in described, kind
    assert any(not c.members for c in cases)  # a predicate that excludes everything
    assert any(abs(v) >= 1 << 63 for c in cases for p in c.members for v in p.values())
    assert any(abs(w) >= 1 << 63 for c in cases for ws, _, _ in c.weights for row in ws
               for w in row)
    notes = {n for c in cases for n in c.notes}
    assert {"mod-2^64", "wide-zero", "near-miss", "no-bound", "wide-test", "bits", "random",
            "some-outputs", "wrong-form-spec"} <= notes
    assert sum(bool(c.factorised) for c in cases) > len(cases) // 4
    assert any(ob.factorisation and ob.factorisation.split for c in cases for ob in c.factorised)
