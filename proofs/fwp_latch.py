"""The honest length bound of the LT + DeltaNet reset Dyck-1 construction: proved up to a
length, refuted one symbol beyond.

Facts checked on the weights (:func:`check_structure`), exactly:

* layer 1 is one LT layer whose update is a translation ``W -> W + inc(a)`` (z3, through the
  kernel's text) and whose output, the feed-forward block included, is ``G(a) + c u`` on the
  symbolic counts, ``c`` the number of ``(`` minus the number of ``)`` up to and including the
  current symbol (z3: the difference is identically 0); so layer 2 sees a function of
  ``(a_t, c_t)`` alone;
* layer 2 is a DeltaNet layer with ``d_head = 1``, so ``q = k = 1`` (a positive number divided
  by itself) and each fast weight is a scalar ``y_t = (1 - b_t) y_{t-1} + b_t v_t``; exactly two
  heads have a value weight, every other one stays exactly 0; its feed-forward block has
  ``W1 = 0`` (it adds a constant);
* the readout's class-1-minus-class-0 logit is ``alpha (y_T - y_A) + beta0`` with ``alpha > 0``
  (the residual stream contributes no count and the same constant for every symbol).

Then (:func:`prove_bound`), with ``v(a, c)`` and ``b(a, c)`` of both heads enclosed in arb for
every symbol and every count ``c <= B`` (the kernel's own slow-net and gate text), ``[f_lo(c),
f_hi(c)]`` the hull of the values at count ``c``, ``span`` the hull of all values and 0, and
``s`` the largest leak (``1 - b`` of the tracker T and of the latch A on the reset symbol, ``b``
of A on the others), every valid string of length ``t <= B`` satisfies, by induction on ``t``
(``m`` the count at the last reset, 0 before one; ``k`` the symbols since):

* ``y_T, y_A`` lie in ``span`` (each step is a convex combination);
* ``|y_T - v_T(a_t, c_t)| <= s span`` (``y_T - v = (1 - b)(y_prev - v)``);
* ``f_lo(m) - s span <= y_A <= f_hi(m) + (k + 1) s span`` (at the reset as for T; after it each
  step moves ``y_A`` by at most ``s span``, and only up when ``f_lo`` is non-decreasing, checked).

So at depth 0 (``c_t = m``) the logit is below ``alpha (f_hi(c) - f_lo(c) + 2 s span) + beta0``,
and at depth >= 1 above ``alpha (f_lo(m + 1) - f_hi(m) - (B + 2) s span) + beta0``, where a reset
after ``m >= 1`` openings needs ``t >= m + 2``: the checks run over ``c <= B`` and ``m <=
max(0, B - 2)``. The induction is this text; every number in it is certified.

The witness (:func:`refute`) is ``(^N 1 (`` with ``N`` the first count at which the depth-1
check fails, run through the whole kernel in arb at a precision that grows with its length (the
tracker's update reads its fast weight twice, so a ball's radius can double per step).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from constructions.fwp.languages import Language, language
from constructions.fwp.models import (
    DeltaLayer,
    Model,
    SumLayer,
    delta_inputs,
    feed_forward,
    init_state,
    layer_step,
    slow_outputs,
    step,
)
from verify.errors import LoopmlpError
from verify.real import ops
from verify.real.numbers import EXACT, LINEAR, Arb, NotRationalError

from .fwp_checks import counts_state, sum_increments

PREC = 128


@dataclass(frozen=True)
class Latch:
    """What the structure check established: layer 2's input is ``base[a] + c u``; the tracker
    and latch heads; the logit ``alpha (y_T - y_A) + beta0``."""

    base: tuple[tuple[Fraction, ...], ...]
    u: tuple[Fraction, ...]
    track: int
    latch: int
    reset: int
    alpha: Fraction
    beta0: Fraction


def _first_layer(model: Model) -> Model:
    layer, ff = model.blocks[0]
    return Model(model.name + "/layer1", model.alphabet, model.embedding, ((layer, ff),),
                 np.zeros((1, model.d)), np.zeros(1), model.ln_eps)


def _layer1_output(sub: Model, nb: Any, state: Any, a: int) -> Any:
    w = sub.converted(nb)
    h, _ = layer_step(sub, nb, 0, sub.blocks[0][0], state[0], w["embedding"][a])
    return feed_forward(nb, w, 0, h)


def check_structure(model: Model, lang: Language) -> Latch:
    """The facts listed in the module docstring, checked exactly; raises LoopmlpError naming the
    first one that fails."""
    import z3

    name = model.name
    if lang.name != "reset-dyck1" or model.alphabet != lang.alphabet or model.classes != 2:
        raise LoopmlpError(f"{name}: need the reset-dyck1 alphabet ( ) 1 and two classes")
    if len(model.blocks) != 2 or not isinstance(model.blocks[0][0], SumLayer) or \
            not isinstance(model.blocks[1][0], DeltaLayer):
        raise LoopmlpError(f"{name}: need an LT layer followed by a DeltaNet layer")
    sub = _first_layer(model)
    V = len(lang.alphabet)
    sign = [1, -1, 0]  # ( ) 1: the change of c
    n = [z3.Int(f"n{a}") for a in range(V)]
    try:
        incs = sum_increments(sub)
        empty = init_state(sub, EXACT)
        u = _layer1_output(sub, EXACT, ({"W": incs[0]},), 2) - \
            _layer1_output(sub, EXACT, empty, 2)
        base = []
        for a in range(V):
            e = _layer1_output(sub, EXACT, empty, a)
            sym = _layer1_output(sub, LINEAR, counts_state(sub, incs, n), a)
            for i in range(model.d):
                diff = z3.simplify(sym[i] - LINEAR.scalar(e[i])
                                   - (n[0] - n[1]) * LINEAR.scalar(u[i]))
                if not (z3.is_rational_value(diff) and diff.as_fraction() == 0):
                    raise LoopmlpError(f"{name}: layer 1's output coordinate {i} after "
                                       f"{lang.alphabet[a]!r} is not affine in the count")
            base.append(tuple(e[i] - sign[a] * u[i] for i in range(model.d)))
    except NotRationalError as e:
        raise LoopmlpError(f"{name}: layer 1 is not an exact counter ({e})") from None
    layer2, ff2 = model.blocks[1]
    assert isinstance(layer2, DeltaLayer)  # checked above
    if layer2.d_head != 1:
        raise LoopmlpError(f"{name}: layer 2 needs d_head = 1")
    live = [h for h in range(layer2.heads) if np.any(layer2.slow[4 * h + 2] != 0)]
    if len(live) != 2:
        raise LoopmlpError(f"{name}: layer 2 has {len(live)} heads with a value weight, need 2")
    if np.any(ff2.W1 != 0):
        raise LoopmlpError(f"{name}: layer 2's feed-forward block reads its input (W1 != 0)")
    r = [_q(x) - _q(y) for x, y in zip(model.out_w[1], model.out_w[0])]
    if _dot(r, u) != 0:
        raise LoopmlpError(f"{name}: the readout reads the count from the residual stream")
    lead = {_dot(r, base[a]) for a in range(V)}
    if len(lead) != 1:
        raise LoopmlpError(f"{name}: the readout reads the current symbol from the residual "
                           "stream")
    alphas = [_dot(r, [_q(o) for o in layer2.out[:, h]]) for h in live]
    if not (alphas[0] == -alphas[1] and alphas[0] != 0):
        raise LoopmlpError(f"{name}: the readout weighs the two heads {alphas}, need +a and -a")
    track, latch = (live[0], live[1]) if alphas[0] > 0 else (live[1], live[0])
    # W1 = 0: the block adds W2 ReLU(b1) + b2, exactly
    hidden = [max(_q(b), Fraction(0)) for b in ff2.b1]
    const = [_dot([_q(w) for w in row], hidden) + _q(b) for row, b in zip(ff2.W2, ff2.b2)]
    beta0 = lead.pop() + _dot(r, const) + _q(model.out_b[1]) - _q(model.out_b[0])
    return Latch(tuple(base), tuple(u), track, latch, 2, abs(alphas[0]), beta0)


def _q(x: Any) -> Fraction:
    return Fraction(float(x))


def _dot(a: Any, b: Any) -> Fraction:
    return sum((Fraction(x) * Fraction(y) for x, y in zip(a, b)), Fraction(0))


@dataclass
class Table:
    """Per count ``c``: the hull ``[f_lo, f_hi]`` of both heads' values over the symbols, and the
    largest leak; arb balls' ends as floats rounded outwards."""

    f_lo: list[float]
    f_hi: list[float]
    leak: list[float]


def head_inputs(model: Model, nb: Arb, facts: Latch, a: int, c: int) -> tuple[Any, Any, Any,
                                                                               Any]:
    """``(v_T, b_T, v_A, b_A)`` at symbol ``a`` and count ``c``, through the kernel's own
    slow-net and DeltaNet input text on layer 2's input ``base[a] + c u``."""
    h = nb.array(np.array([b + c * x for b, x in zip(facts.base[a], facts.u)], dtype=object))
    # the inputs are computed head by head: only the two live heads' rows are needed
    qkv = slow_outputs(model, nb, 1, h)[[facts.track, facts.latch]]
    _, _, v, beta = delta_inputs(nb, qkv, 1)
    return v[0, 0], beta[0, 0], v[1, 0], beta[1, 0]


def table(model: Model, facts: Latch, upto: int, nb: Arb, out: Table | None = None) -> Table:
    """The certified values and leaks for every count ``0..upto`` (extending ``out``)."""
    out = out if out is not None else Table([], [], [])
    for c in range(len(out.f_lo), upto + 1):
        lo, hi, leak = float("inf"), float("-inf"), 0.0
        for a in range(len(model.alphabet)):
            vt, bt, va, ba = head_inputs(model, nb, facts, a, c)
            lo = ops.least([lo, nb.lower(vt), nb.lower(va)])
            hi = max(hi, nb.upper(vt), nb.upper(va))
            gate_a = 1 - ba if a == facts.reset else ba
            leak = max(leak, nb.upper(1 - bt), nb.upper(gate_a))
            if hi != hi:
                hi = float("inf")
        out.f_lo.append(lo)
        out.f_hi.append(hi)
        out.leak.append(leak)
    return out


@dataclass(frozen=True)
class Bound:
    """Every valid string of length ``<= length`` is decided correctly. ``failing_count``: the
    count ``m = length - 1`` of the string ``(^m 1 (`` of length ``length + 1`` that the first
    failing check points at (None when the limit was reached first); a candidate witness, which
    :func:`refute` certifies or not."""

    length: int
    failing_count: int | None
    leak: float
    span: float
    min_margin: float
    seconds: float


def conditions_hold(facts: Latch, tb: Table, B: int) -> tuple[bool, float]:  # noqa: N803 (maths names)
    """Whether the bound's conditions hold for length ``B`` (and the least certified margin)."""
    b0 = facts.beta0
    s = max(tb.leak[:B + 1])
    lo = min([0.0] + tb.f_lo[:B + 1])
    hi = max([0.0] + tb.f_hi[:B + 1])
    span = Fraction(hi) - Fraction(lo)
    err = Fraction(s) * span
    margin = float("inf")
    if not (tb.f_lo[0] <= 0 <= tb.f_hi[0]):
        return False, margin
    for c in range(B + 1):
        if c < B and not tb.f_lo[c + 1] >= tb.f_lo[c]:
            return False, margin
        # depth 0 at count c: the class-1 logit is certified negative
        zero = facts.alpha * (Fraction(tb.f_hi[c]) - Fraction(tb.f_lo[c]) + 2 * err) + b0
        if not zero < 0:
            return False, margin
        margin = min(margin, EXACT.lower(-zero))
    for m in range(max(0, B - 2) + 1):
        if m + 1 > B:
            break
        one = facts.alpha * (Fraction(tb.f_lo[m + 1]) - Fraction(tb.f_hi[m]) - (B + 2) * err) \
            + b0
        if not one > 0:
            return False, margin
        margin = min(margin, EXACT.lower(one))
    return True, margin


def prove_bound(model: Model, limit: int = 1 << 16, prec: int = PREC) -> Bound:
    """The largest ``B <= limit`` for which the induction of the module docstring certifies
    every valid string of length ``<= B`` (a table grown in steps, so a failing count ends the
    search early)."""
    t0 = time.perf_counter()
    lang = language("reset-dyck1")
    facts = check_structure(model, lang)
    nb = Arb(prec)
    size = 64
    tb = Table([], [], [])
    with nb.context():
        while True:
            size = min(size, limit + 2)
            tb = table(model, facts, size, nb, tb)
            best, first_fail, margin = _largest(facts, tb, min(limit, size - 2))
            if first_fail is not None or best >= limit or size >= limit + 2:
                break
            size *= 2
    upto = max(best, 0) + 1
    s = max(tb.leak[:upto])
    span = max([0.0] + tb.f_hi[:upto]) - min([0.0] + tb.f_lo[:upto])
    return Bound(best, first_fail, s, span, margin, time.perf_counter() - t0)


def _largest(facts: Latch, tb: Table, top: int) -> tuple[int, int | None, float]:
    """The largest ``B <= top`` whose checks pass (they only get harder as ``B`` grows: every
    range and the leak term widen), found by bisection; and the first failing count."""
    ok, margin = conditions_hold(facts, tb, top)
    if ok:
        return top, None, margin
    lo, hi = 0, top  # conditions_hold(lo) holds or lo = 0; conditions_hold(hi) fails
    ok0, margin = conditions_hold(facts, tb, 0)
    if not ok0:
        return -1, 0, margin
    while hi - lo > 1:
        mid = (lo + hi) // 2
        ok, m = conditions_hold(facts, tb, mid)
        if ok:
            lo, margin = mid, m
        else:
            hi = mid
    return lo, max(0, hi - 2), margin


@dataclass(frozen=True)
class Witness:
    """A string decided wrongly, replayed through the whole kernel in arb."""

    tokens: list[int]
    text: str
    target: int
    decision: int
    prec: int
    seconds: float


def refute(model: Model, opening: int) -> Witness:
    """Run ``(^opening 1 (`` through the kernel in arb (precision growing with the length) and
    certify that its last prefix, of depth 1, is decided as depth 0; raises LoopmlpError when
    the enclosure does not certify the error."""
    t0 = time.perf_counter()
    lang = language("reset-dyck1")
    tokens = lang.encode("(" * opening + "1(")
    prec = 2 * len(tokens) + 128
    nb = Arb(prec)
    with nb.context():
        st = init_state(model, nb)
        logits = None
        for a in tokens:
            st, logits = step(model, nb, st, a)
        target = lang.targets(tokens)[-1]
        wrong = ops.class_wrong(nb, logits, target)
    if wrong is None:
        raise LoopmlpError(f"{model.name}: the enclosure does not certify a wrong decision on "
                           f"(^{opening} 1 ( at {prec} bits")
    return Witness(tokens, f"(^{opening} 1 (", target, wrong, prec, time.perf_counter() - t0)
