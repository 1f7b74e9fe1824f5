"""The honest length bound of Recurrent Delta parity: proved up to a length, refuted beyond.

The model's state is one scalar ``y`` (head 0's fast weight; every other head stays exactly zero
and ``y_{t-1} = W_{t-1} q = W_{t-1}`` since softmax over one entry is 1; both facts are checked
on the weights by :func:`_check`). Everything below runs the kernel's own step on arb balls
``Y`` (an enclosure of the image of every ``y`` in ``Y``); the targets are the parity
automaton's, and every box end and piece end is an exact rational:

* **Lower bound** (:func:`prove_up_to`): boxes ``even(n) = [c_e +- (a0 + n ga)]`` and
  ``odd(n) = [c_o +- (b0 + n gb)]`` hold the state after every string of length ``n``. For grid
  points ``n_0 < n_1 < ...``: a ``0`` changes ``y`` by an increment certified in ``[-g, g]`` on
  the whole box at ``n_{i+1}`` (so ``box(n)`` goes into ``box(n + 1)``), a ``1`` maps the box at
  ``n_{i+1}`` into the other box at ``n_i + 1`` (images of pieces), and every image is decided
  correctly. Boxes grow with ``n``, so this covers every length between grid points: every
  string up to the last grid point is decided correctly.
* **Witness** (:func:`refute`): the string ``0^N 1``. On a partition of ``[0, y_t]`` each ``0``
  raises ``y`` by at least the certified lower bound of the kernel's increment on that piece, so
  ``N`` zeros bring ``y`` to ``y_t`` or above; ``y`` stays in ``[y_t, y_c]`` after that (checked
  piece by piece), and one ``1`` from anywhere in ``[y_t, y_c]`` is certified to say "even"
  where the prefix is odd. The string is far too long to run, so this monotonicity argument, in
  sound arithmetic throughout, is its replay.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from constructions.fwp.languages import PARITY_DFA, Dfa
from constructions.fwp.models import Model, RecDeltaLayer, init_state, recdelta_increment, step
from verify.errors import LoopmlpError
from verify.real import ops
from verify.real.numbers import Arb

PREC = 256


def _check(model: Model) -> Dfa:
    """The structure the scalar state relies on, checked exactly on the weights, and the parity
    automaton the targets come from.

    One Recurrent Delta layer with ``d_head = 1`` (softmax over one entry is 1, so ``q = k = 1``
    and ``y_t = W_t``); every head but 0 has a zero value row and a zero ``R_v``, so its value is
    0, its fast weight stays exactly 0 (``beta (0 - 0 k) k``) and so does its ``y``; the
    alphabet is the parity language's, in which ``0`` keeps the automaton state.
    """
    layer = model.blocks[0][0]
    if len(model.blocks) != 1 or not isinstance(layer, RecDeltaLayer) or layer.d_head != 1:
        raise LoopmlpError(f"{model.name}: need one Recurrent Delta layer with d_head = 1")
    for h in range(1, layer.heads):
        if np.any(layer.slow[4 * h + 2] != 0) or np.any(layer.R_v[h] != 0):
            raise LoopmlpError(f"{model.name}: head {h} has a value weight; the scalar proof "
                               "needs every head but 0 to stay zero")
    dfa = PARITY_DFA
    if model.alphabet != dfa.alphabet or model.classes != 2:
        raise LoopmlpError(f"{model.name}: need the parity alphabet {dfa.alphabet} and two "
                           "classes")
    if any(dfa.delta[s][0] != s for s in range(dfa.states)):
        raise LoopmlpError("the parity automaton: '0' must keep the state")
    return dfa


def _state(model: Model, nb: Arb, Y: Any) -> Any:  # noqa: N803 (maths names)
    st = init_state(model, nb)
    W = st[0]["W"].copy()
    y = st[0]["y"].copy()
    W[0, 0, 0] = Y
    y[0, 0] = Y
    return ({"W": W, "y": y},)


def image(model: Model, nb: Arb, Y: Any, a: int) -> tuple[Any, Any]:  # noqa: N803 (maths names)
    """(enclosure of the next ``y``, enclosure of the logits) for every ``y`` in ``Y``."""
    st, logits = step(model, nb, _state(model, nb, Y), a)
    return st[0]["W"][0, 0, 0], logits


def increment(model: Model, nb: Arb, Y: Any, a: int) -> Any:  # noqa: N803 (maths names)
    """Enclosure of the kernel's fast-weight increment of head 0 on symbol ``a``."""
    w = model.converted(nb)
    layer = model.blocks[0][0]
    z = ops.layer_norm(nb, w["embedding"][a], w["blocks.0.ln_w"], w["blocks.0.ln_b"],
                       w["ln_eps"])
    qkv = ops.affine(nb, w["blocks.0.slow"], None, z).reshape(layer.heads, 4)
    return recdelta_increment(nb, w, 0, _state(model, nb, Y)[0], qkv, 1)[0, 0, 0]


def _ball(nb: Arb, lo: Fraction | float, hi: Fraction | float) -> Any:
    """A ball holding the whole interval ``[lo, hi]`` (each end enclosed exactly or wider)."""
    return nb._arb.union(nb.scalar(lo), nb.scalar(hi))


def _inside(nb: Arb, X: Any, lo: Fraction | float, hi: Fraction | float) -> bool:  # noqa: N803
    """Every point of ``X`` in ``[lo, hi]`` (certified; a NaN ball is never inside)."""
    return bool(X.lower() >= nb.scalar(lo)) and bool(X.upper() <= nb.scalar(hi))


def _pieces(lo: Fraction, hi: Fraction, k: int) -> list[tuple[Fraction, Fraction]]:
    """``[lo, hi]`` cut into ``k`` consecutive pieces with exact rational ends."""
    edges = [lo + (hi - lo) * i / k for i in range(k + 1)]
    return list(zip(edges[:-1], edges[1:]))


def box_ends(centre: Fraction, r0: Fraction, growth: Fraction, n: int) -> tuple[Fraction, Fraction]:
    """``centre -+ (r0 + n growth)``, exactly: the box after ``n`` symbols, so that the box at
    ``n + 1`` is the box at ``n`` widened by exactly ``growth`` on each side (in float64 the
    ends stop moving once ``growth`` is below half an ulp of them)."""
    r = r0 + n * growth
    return centre - r, centre + r


def _ceil(x: Any) -> int:
    """The least integer at or above every point of the arb ball ``x``."""
    u = x.upper()
    if not (u.is_finite() and u.is_exact()):
        raise LoopmlpError(f"no finite upper bound for {x}")
    m, e = u.man_exp()
    return math.ceil(Fraction(int(m)) * Fraction(2) ** int(e))


@dataclass(frozen=True)
class Bound:
    """Proved: every string of length at most ``length`` is decided correctly."""

    length: int
    grid: int
    seconds: float


def prove_up_to(model: Model, ratio: float = 1.8, limit: int = 10**20) -> Bound:
    """The largest grid point up to which the growing-box family verifies (see module doc).

    The boxes are indexed by the parity automaton's state ``s`` (the targets are its classes),
    centred at 0 for the start state and at ``D`` for the other; their ends ``c_s +- (r_s + n
    g_s)`` are exact rationals, so ``box(s, n + 1)`` is exactly ``box(s, n)`` widened by
    ``g_s``, the fact the ``0`` step rests on.
    """
    dfa = _check(model)
    t0 = time.perf_counter()
    nb = Arb(PREC)
    with nb.context():
        layer = model.blocks[0][0]
        assert isinstance(layer, RecDeltaLayer)  # checked by _check
        D = float(layer.slow[2, 0] or np.max(layer.slow[2]))
        gate = float(np.max(layer.slow[3]))
        leak = 1 / (1 + math.exp(gate))  # sizes the boxes only; every check below is in arb
        other = dfa.delta[dfa.start][1]
        c = {dfa.start: Fraction(0), other: Fraction(D)}
        ga = 1.05 * leak * (D + 1)
        r0 = {dfa.start: Fraction(1e-14), other: Fraction(4e-14)}
        g = {dfa.start: Fraction(ga), other: Fraction(6.0 * ga)}

        def box(p: int, n: int) -> tuple[Fraction, Fraction]:
            return box_ends(c[p], r0[p], g[p], n)

        def images_fit(lo: Fraction, hi: Fraction, a: int, q: int,
                       target: tuple[Fraction, Fraction] | None, pieces: int) -> bool:
            # W + beta (v - W) has W twice, so its interval image is wide: the box is cut into
            # pieces whose images are each checked (their union covers the image of the box)
            for plo, phi in _pieces(lo, hi, pieces):
                Y, logits = image(model, nb, _ball(nb, plo, phi), a)
                if target is not None and not _inside(nb, Y, *target):
                    return False
                if not ops.class_margin(nb, logits, dfa.accept[q]) > 0:
                    return False
            return True

        def ok(n_lo: int, n_hi: int) -> bool:
            """Transitions from every length in [n_lo, n_hi) land in the boxes one longer."""
            for p in (dfa.start, other):
                lo, hi = box(p, n_hi)
                # a 0 keeps the state: the increment alone is bounded by the box growth
                X = _ball(nb, lo, hi)
                inc = increment(model, nb, X, 0)
                if not _inside(nb, inc, -g[p], g[p]):
                    return False
                _, logits = image(model, nb, X, 0)
                if not ops.class_margin(nb, logits, dfa.accept[p]) > 0 and \
                        not images_fit(lo, hi, 0, p, None, 16):
                    return False
                # a 1 moves to q: images of the box at n_hi inside q's box at n_lo + 1
                q = dfa.delta[p][1]
                if not any(images_fit(lo, hi, 1, q, box(q, n_lo + 1), k) for k in (1, 16, 128)):
                    return False
            return True

        lo0, hi0 = box(dfa.start, 0)
        if not lo0 <= 0 <= hi0:  # the empty string's state, y = 0
            return Bound(0, 0, time.perf_counter() - t0)
        n, grid = 0, 0
        while n < limit:
            nxt = max(n + 1, int(n * ratio))
            if not ok(n, nxt):
                # refine the last step by halving before giving up
                step_ = nxt - n
                while step_ > 1 and not ok(n, n + step_):
                    step_ //= 2
                if step_ <= 1 and not ok(n, n + 1):
                    break
                nxt = n + step_
            n, grid = nxt, grid + 1
    return Bound(n, grid, time.perf_counter() - t0)


@dataclass(frozen=True)
class Witness:
    """``0^zeros 1`` is decided wrongly at its last prefix (and so is every longer zero run)."""

    zeros: int
    target: int
    decision: int
    seconds: float


def refute(model: Model, y_t: float = 0.6, y_c: float = 0.95, pieces: int = 2000) -> Witness:
    """A certified witness ``0^N 1`` against the all-lengths claim (see module doc).

    ``[0, y_c]`` is cut at ``y_t`` into pieces with exact ends. Every piece: ``y + inc`` stays
    in ``[0, y_c]``. Below ``y_t``: the increment is certified ``>= low > 0``, so the zeros spend
    at most ``ceil(width / low)`` steps in that piece, and ``N``, the sum of these, brings ``y``
    to ``y_t`` or above from ``y = 0`` (the empty string). Above ``y_t``: ``y + inc >= y_t``, so
    ``y`` stays there. A ``1`` from anywhere in ``[y_t, y_c]`` is certified to put another class
    above the target of ``0^N 1``, which the parity automaton gives (``0`` keeps its state).
    """
    dfa = _check(model)
    t0 = time.perf_counter()
    nb = Arb(PREC)
    lo_t, hi_c = Fraction(y_t), Fraction(y_c)
    if not 0 < lo_t < hi_c:
        raise LoopmlpError(f"need 0 < y_t < y_c, got {y_t}, {y_c}")
    below = _pieces(Fraction(0), lo_t, pieces)
    above = _pieces(lo_t, hi_c, max(1, pieces // 4))
    with nb.context():
        total = 0
        for lo, hi in below + above:
            inc = increment(model, nb, _ball(nb, lo, hi), 0)
            # y stays in [0, y_c] under 0s, and stays >= y_t once there
            if not (nb.scalar(lo) + inc).lower() >= 0 or not \
                    (nb.scalar(hi) + inc).upper() <= nb.scalar(hi_c):
                raise LoopmlpError(f"{model.name}: zeros may leave [0, {y_c}] near "
                                   f"{float(lo):.4f}")
            if lo >= lo_t and not (nb.scalar(lo) + inc).lower() >= nb.scalar(lo_t):
                raise LoopmlpError(f"{model.name}: zeros may fall below {y_t} near "
                                   f"{float(lo):.4f}")
            if hi <= lo_t:
                low = inc.lower()
                if not low > 0:
                    raise LoopmlpError(f"{model.name}: no certified rise near y = "
                                       f"{float(lo):.4f}")
                total += _ceil((nb.scalar(hi) - nb.scalar(lo)) / low)
        # the string 0^total 1: the automaton stays at the start through the zeros
        target = dfa.accept[dfa.delta[dfa.start][1]]
        decision = None
        for lo, hi in _pieces(lo_t, hi_c, 64):
            _, logits = image(model, nb, _ball(nb, lo, hi), 1)
            wrong = ops.class_wrong(nb, logits, target)
            if wrong is None:
                raise LoopmlpError(f"{model.name}: a 1 from y in [{float(lo):.3f}, "
                                   f"{float(hi):.3f}] is not certified wrong")
            if decision is not None and wrong != decision:
                raise LoopmlpError(f"{model.name}: the wrong class is not the same on "
                                   f"[{y_t}, {y_c}]")
            decision = wrong
    if decision is None:
        raise LoopmlpError(f"{model.name}: no piece of [{y_t}, {y_c}] was checked")
    return Witness(total, target, int(decision), time.perf_counter() - t0)
