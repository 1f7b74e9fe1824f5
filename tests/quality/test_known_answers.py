"""The known-answer corpus: small networks and specs whose verdicts are known by construction.

Every engine must return the known verdict: exhaustive, smt (z3 integers), smt_bv (z3
bit-vectors), cvc5 (integers), cvc5 over bit-vectors, bitwuzla over bit-vectors (alone and deciding
the factorised lemmas), two solvers at once (cross-check: the default pair, and z3 with cvc5 over
bit-vectors), factorised (where the obligation declares a factorisation) and auto. Sampling may
refute but must never prove.

- **Equivalent pairs**: two ReLU encodings of one function (max(a, b) as ``a + ReLU(b - a)``
  and as ``(a + b + |a - b|) / 2``, ``|x|`` as ``ReLU(x) + ReLU(-x)``), a ripple-carry adder
  against integer addition, gadgets against their word-level contracts, a 22-bit threshold.
- **Near misses**: a threshold unit ``[S >= tau] = ReLU(S - tau + 1) - ReLU(S - tau)`` whose
  bias is off by one, so that the network and the spec differ on exactly ONE input of 2^22
  (``S = tau``). The wrong point sits at the lowest input, in the middle and at the highest
  input, over an integer range, over a 22-bit word and over two 11-bit words. Every engine must
  return that very input, coordinate by coordinate.
- **Known different**: max computed as min, a gadget with one bias changed; the counterexample
  must differ and replay.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pytest

from constructions.gadgets import make_compare, make_increment, make_subtract
from proofs.kernel import ripple_adder
from verify import ops
from verify.domains import IntRange, Word, product
from verify.layout import Layout, bit_names
from verify.methods import Options, check, exhaustive, replay, sampled, smt, smt_bv
from verify.methods.factorised import factorised
from verify.network import Layer, Network
from verify.obligation import Factorisation, Form, Obligation
from verify.result import Result, Verdict

TIMEOUT = 60.0
WIDE = 22  # bits of input in the near misses: 4194304 points, one of them wrong


# --------------------------------------------------------------------------- networks
def _two_layer(ins: Layout, hidden: dict[str, tuple[dict[str, int], int]],
               out: dict[str, tuple[dict[str, int], int]], name: str) -> Network:
    hid = Layout(list(hidden))
    l1 = Layer.from_rows(ins, hid, hidden, label="hidden")
    l2 = Layer.from_rows(hid, Layout(list(out)), out, relu=False, label="combine")
    return Network((l1, l2), name)


def _max_spec(v: Mapping[str, Any]) -> dict[str, Any]:
    return {"y": ops.ite(v["a"] >= v["b"], v["a"], v["b"])}


def _pair_domain(lo: int, hi: int) -> Any:
    return product(IntRange("a", lo, hi), IntRange("b", lo, hi))


def max_shift(lo: int = -1024, hi: int = 1023) -> Obligation:
    """max(a, b) = a + ReLU(b - a), with a = ReLU(a) - ReLU(-a)."""
    net = _two_layer(Layout(["a", "b"]), {
        "a+": ({"a": 1}, 0), "a-": ({"a": -1}, 0), "d": ({"b": 1, "a": -1}, 0),
    }, {"y": ({"a+": 1, "a-": -1, "d": 1}, 0)}, "max-shift")
    return Obligation("known/max[a+relu(b-a)]", net, _pair_domain(lo, hi), _max_spec)


def max_abs(lo: int = -1024, hi: int = 1023) -> Obligation:
    """2 max(a, b) = a + b + ReLU(a - b) + ReLU(b - a): the |a - b| encoding."""
    net = _two_layer(Layout(["a", "b"]), {
        "a+": ({"a": 1}, 0), "a-": ({"a": -1}, 0), "b+": ({"b": 1}, 0), "b-": ({"b": -1}, 0),
        "d+": ({"a": 1, "b": -1}, 0), "d-": ({"a": -1, "b": 1}, 0),
    }, {"y2": ({"a+": 1, "a-": -1, "b+": 1, "b-": -1, "d+": 1, "d-": 1}, 0)}, "max-abs")
    return Obligation("known/2max[a+b+|a-b|]", net, _pair_domain(lo, hi),
                      lambda v: {"y2": 2 * _max_spec(v)["y"]})


def min_for_max() -> Obligation:
    """a - ReLU(a - b) is min(a, b), not max: wrong wherever a != b."""
    net = _two_layer(Layout(["a", "b"]), {
        "a+": ({"a": 1}, 0), "a-": ({"a": -1}, 0), "d": ({"a": 1, "b": -1}, 0),
    }, {"y": ({"a+": 1, "a-": -1, "d": -1}, 0)}, "min")
    return Obligation("known/max[min]", net, _pair_domain(-1024, 1023), _max_spec)


def absolute(span: int = 1 << (WIDE - 1)) -> Obligation:
    """|x| = ReLU(x) + ReLU(-x) against ``x if x >= 0 else -x``."""
    net = _two_layer(Layout(["x"]), {"p": ({"x": 1}, 0), "n": ({"x": -1}, 0)},
                     {"y": ({"p": 1, "n": 1}, 0)}, "abs")
    return Obligation("known/abs", net, IntRange("x", -span, span - 1),
                      lambda v: {"y": ops.ite(v["x"] >= 0, v["x"], -v["x"])})


def threshold(domain: Any, coeffs: dict[str, int], tau: int, *, off: int = 0,
              name: str) -> Obligation:
    """``y = [S >= tau]`` for the affine form S, by two ReLUs whose bias is off by ``off``.

    With ``off = 1`` the network computes [S >= tau + 1]: wrong exactly where S == tau.
    """
    t = tau + off
    net = _two_layer(Layout(list(domain.names)), {"p": (coeffs, 1 - t), "q": (coeffs, -t)},
                     {"y": ({"p": 1, "q": -1}, 0)}, "threshold")
    form = Form("S", dict(coeffs))

    def spec(v: Mapping[str, Any]) -> dict[str, Any]:
        s = sum(c * v[n] for n, c in coeffs.items())
        return {"y": ops.ite(s >= tau, 1, 0)}

    fz = Factorisation((form,), lambda f: {"y": ops.ite(f["S"] >= tau, 1, 0)})
    return Obligation(name, net, domain, spec, factorisation=fz)


def threshold_range(tau: int, off: int) -> Obligation:
    """Over the integers 0 .. 2^22 - 1."""
    return threshold(IntRange("x", 0, (1 << WIDE) - 1), {"x": 1}, tau, off=off,
                     name=f"known/threshold-range[tau={tau},off={off}]")


def threshold_word(tau: int, off: int, width: int = WIDE) -> Obligation:
    """Over a ``width``-bit word X (S = sum 2^i X.bit[i])."""
    names = bit_names("X", width)
    return threshold(Word("X", width), {n: 1 << i for i, n in enumerate(names)}, tau, off=off,
                     name=f"known/threshold-word[bits={width},tau={tau},off={off}]")


def threshold_sum(tau: int, off: int) -> Obligation:
    """Over two 11-bit words X, Y (S = X + Y): S = 0 and S = 2 * 2047 have one preimage each."""
    half = WIDE // 2
    coeffs = {n: 1 << i for i, n in enumerate(bit_names("X", half))}
    coeffs.update({n: 1 << i for i, n in enumerate(bit_names("Y", half))})
    return threshold(product(Word("X", half), Word("Y", half)), coeffs, tau, off=off,
                     name=f"known/threshold-sum[tau={tau},off={off}]")


def _bits(prefix: str, value: int, width: int) -> dict[str, int]:
    return {n: (value >> i) & 1 for i, n in enumerate(bit_names(prefix, width))}


@functools.cache
def _gadget(kind: str, bits: int) -> Obligation:
    build = {"subtract": make_subtract, "compare": make_compare, "increment": make_increment}
    return build[kind](bits).obligation()


def _bias_changed(ob: Obligation, layer: int, row: int, delta: int) -> Obligation:
    layers = list(ob.network.layers)
    bias = list(layers[layer].bias)
    bias[row] += delta
    layers[layer] = replace(layers[layer], bias=tuple(bias))
    return Obligation(f"{ob.name}~b{layer}[{row}]{delta:+d}",
                      Network(tuple(layers), ob.network.name + "~corrupt"), ob.domain, ob.spec,
                      ob.bounds, ob.outputs, ob.factorisation, ob.note)


# --------------------------------------------------------------------------- the corpus
MID = (1 << (WIDE - 1)) + 0x2A5A5  # a middle point with a mixed bit pattern
TOP = (1 << WIDE) - 1
NARROW = 12
MID12, TOP12 = (1 << (NARROW - 1)) + 0x2A5, (1 << NARROW) - 1


@dataclass(frozen=True)
class Known:
    """An obligation with its known verdict and, for a near miss, its one counterexample.

    ``int_slow``: the solvers over integers do not decide these reliably (a weighted sum of 22
    bits pinned to one value is a hard integer problem, easy over bit-vectors; measured with a
    60 s limit: z3 takes 25 s on ``word-low`` and times out on ``word-exact`` and ``sum-low``,
    cvc5 times out on ``word-low``, while every bit-vector engine answers in under 0.1 s), so
    the integer engines skip them; the same questions at 12 bits run with every engine.
    """

    build: Callable[[], Obligation]
    verdict: Verdict
    only: Mapping[str, int] | None = None  # the single input where network and spec differ
    label: str = ""
    int_slow: bool = False


CORPUS: tuple[Known, ...] = (
    # equivalent
    Known(max_shift, Verdict.PROVED, label="max-shift"),
    Known(max_abs, Verdict.PROVED, label="max-abs"),
    Known(absolute, Verdict.PROVED, label="abs"),
    Known(lambda: ripple_adder(4), Verdict.PROVED, label="ripple-adder-4"),
    Known(lambda: _gadget("subtract", 4), Verdict.PROVED, label="subtract-4"),
    Known(lambda: _gadget("compare", 4), Verdict.PROVED, label="compare-4"),
    Known(lambda: _gadget("increment", 6), Verdict.PROVED, label="increment-6"),
    Known(lambda: threshold_word(MID12, 0, NARROW), Verdict.PROVED, label="word12-exact"),
    Known(lambda: threshold_word(MID, 0), Verdict.PROVED, label="word-exact", int_slow=True),
    # near misses: exactly one wrong input of 2^22
    Known(lambda: threshold_range(0, 1), Verdict.REFUTED, {"x": 0}, "range-low"),
    Known(lambda: threshold_range(MID, 1), Verdict.REFUTED, {"x": MID}, "range-mid"),
    Known(lambda: threshold_range(TOP, 1), Verdict.REFUTED, {"x": TOP}, "range-high"),
    Known(lambda: threshold_word(0, 1, NARROW), Verdict.REFUTED, _bits("X", 0, NARROW),
          "word12-low"),
    Known(lambda: threshold_word(MID12, 1, NARROW), Verdict.REFUTED, _bits("X", MID12, NARROW),
          "word12-mid"),
    Known(lambda: threshold_word(TOP12, 1, NARROW), Verdict.REFUTED, _bits("X", TOP12, NARROW),
          "word12-high"),
    Known(lambda: threshold_word(0, 1), Verdict.REFUTED, _bits("X", 0, WIDE), "word-low",
          int_slow=True),
    Known(lambda: threshold_word(MID, 1), Verdict.REFUTED, _bits("X", MID, WIDE), "word-mid",
          int_slow=True),
    Known(lambda: threshold_word(TOP, 1), Verdict.REFUTED, _bits("X", TOP, WIDE), "word-high",
          int_slow=True),
    Known(lambda: threshold_sum(0, 1), Verdict.REFUTED,
          {**_bits("X", 0, WIDE // 2), **_bits("Y", 0, WIDE // 2)}, "sum-low", int_slow=True),
    Known(lambda: threshold_sum(2 * 2047, 1), Verdict.REFUTED,
          {**_bits("X", 2047, WIDE // 2), **_bits("Y", 2047, WIDE // 2)}, "sum-high",
          int_slow=True),
    # known different, many counterexamples
    Known(min_for_max, Verdict.REFUTED, label="max-as-min"),
    Known(lambda: _bias_changed(_gadget("subtract", 4), 0, 5, 1), Verdict.REFUTED,
          label="subtract-4-bias"),
)


def _cvc5() -> None:
    pytest.importorskip("cvc5", reason="the cvc5 extra is not installed")


def _bitwuzla() -> None:
    pytest.importorskip("bitwuzla", reason="the bitwuzla extra is not installed")


ENGINES: dict[str, Callable[[Obligation], Result | None]] = {
    "exhaustive": lambda ob: exhaustive(ob, Options("exhaustive")),
    "smt": lambda ob: smt(ob, Options("smt", timeout=TIMEOUT)),
    "smt_bv": lambda ob: smt_bv(ob, Options("smt", timeout=TIMEOUT)),
    "cvc5": lambda ob: (_cvc5(), check(ob, Options("cvc5", timeout=TIMEOUT)))[1],
    "cvc5_bv": lambda ob: (_cvc5(), smt_bv(ob, Options("smt", TIMEOUT, solver="cvc5")))[1],
    "cross_check": lambda ob: (_cvc5(), smt(ob, Options("smt", TIMEOUT, cross_check=True)))[1],
    "cross_check_bv": lambda ob: (_cvc5(),
                                  smt_bv(ob, Options("smt", TIMEOUT, cross_check=True)))[1],
    "bitwuzla_bv": lambda ob: (_bitwuzla(),
                               smt_bv(ob, Options("smt", TIMEOUT, solver="bitwuzla")))[1],
    "bitwuzla_factorised": lambda ob: (_bitwuzla(), factorised(
        ob, Options("factorised", TIMEOUT, solver="bitwuzla")))[1]
    if ob.factorisation is not None else None,
    "cross_check_z3_cvc5_bv": lambda ob: (_cvc5(), smt_bv(
        ob, Options("smt", TIMEOUT, cross_check_with=("z3", "cvc5"))))[1],
    "factorised": lambda ob: factorised(ob, Options("factorised", timeout=TIMEOUT))
    if ob.factorisation is not None else None,
    "auto": lambda ob: check(ob, Options("auto", timeout=TIMEOUT)),
}


def _id(k: Known) -> str:
    return k.label


@functools.cache
def _built(label: str) -> Obligation:
    return next(k for k in CORPUS if k.label == label).build()


INT_SMT = ("smt", "cvc5", "cross_check")


INT_SKIP = pytest.mark.skip(reason="z3 and cvc5 over integers do not reliably decide a 22-bit "
                             "weighted sum within 60 s (see Known); the 12-bit cases cover them")


def _cases() -> list[Any]:
    def marks(k: Known, e: str) -> list[Any]:
        return [INT_SKIP] if k.int_slow and e in INT_SMT else []

    return [pytest.param(k, e, id=f"{k.label}-{e}", marks=marks(k, e))
            for k in CORPUS for e in ENGINES]


@pytest.mark.parametrize(("known", "engine"), _cases())
def test_every_engine_returns_the_known_verdict(known: Known, engine: str) -> None:
    ob = _built(known.label)
    r = ENGINES[engine](ob)
    if r is None:
        pytest.skip(f"{engine} does not apply to {ob.name}")
    assert r.verdict is known.verdict, r.line()
    if known.verdict is Verdict.PROVED:
        assert r.counterexample is None and r.checked == r.total == ob.domain.count, r.line()
        return
    cex = r.counterexample
    assert cex is not None, r.line()
    # The reported input really is a counterexample (replay is independent of the engine) ...
    again = replay(ob, cex.inputs)
    assert again is not None and again.network == cex.network and again.spec == cex.spec
    assert all(cex.network[o] != cex.spec[o] for o in cex.network)
    # ... and for a near miss it is the only one there is.
    if known.only is not None:
        assert dict(cex.inputs) == dict(known.only), r.line()


@pytest.mark.parametrize("known", [
    pytest.param(k, id=k.label, marks=[pytest.mark.slow] if k.int_slow else [])
    for k in CORPUS if k.only is not None])
def test_near_misses_have_exactly_one_counterexample(known: Known) -> None:
    """The corpus itself: one wrong input, by an independent count over every input (a
    dense numpy pass over the two layers' rows; neither the network's evaluators nor the
    engines are used)."""
    import numpy as np

    ob = _built(known.label)
    assert ob.domain.count in (1 << WIDE, 1 << NARROW)
    first, last = ob.network.layers
    wrong: list[dict[str, int]] = []
    for rows in ob.domain.chunks(1 << 18):
        cols = {n: rows[:, j] for j, n in enumerate(ob.domain.names)}
        hidden = {}
        for name in first.outputs.names:
            coeffs, b = first.row(name)
            hidden[name] = np.maximum(sum(c * cols[n] for n, c in coeffs.items()) + b, 0)
        coeffs, b = last.row("y")
        y = sum(c * hidden[n] for n, c in coeffs.items()) + b
        for i in np.flatnonzero(y != np.asarray(ob.spec(cols)["y"])):
            wrong.append({n: int(rows[i, j]) for j, n in enumerate(ob.domain.names)})
    assert wrong == [dict(known.only or {})]


@pytest.mark.parametrize("known", CORPUS, ids=_id)
def test_sampling_never_proves(known: Known) -> None:
    ob = _built(known.label)
    r = sampled(ob, Options("sampled", timeout=1, samples=100))
    if r.verdict is Verdict.REFUTED:  # only where a counterexample exists, and the right one
        assert known.verdict is Verdict.REFUTED and r.counterexample is not None
        assert replay(ob, r.counterexample.inputs) is not None
        if known.only is not None:
            assert dict(r.counterexample.inputs) == dict(known.only)
    else:
        assert r.verdict is Verdict.UNKNOWN and "never proves" in r.reason, r.line()


@pytest.mark.slow
@pytest.mark.parametrize("bits", [16, 24])
def test_wide_gadgets_against_their_contracts(bits: int) -> None:
    """The gadgets at widths no enumeration reaches: the factorised proof with every query
    decided by both solvers, and a bias changed in the top bit's threshold refuted with a
    replayed input. (Monolithic cvc5 over bit-vectors does not refute that mutant within 120 s
    at 16 bits.)"""
    _cvc5()
    ob = make_subtract(bits).obligation()
    r = factorised(ob, Options("factorised", timeout=120, cross_check=True))
    assert r.verdict is Verdict.PROVED, r.line()
    bad = _bias_changed(ob, 0, len(ob.network.layers[0].bias) - 1, 1)
    r = factorised(bad, Options("factorised", timeout=120))
    assert r.verdict is Verdict.REFUTED, r.line()
    assert r.counterexample is not None and replay(bad, r.counterexample.inputs) is not None
