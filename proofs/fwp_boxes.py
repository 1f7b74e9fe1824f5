"""SRWM automata for every length: an inductive invariant of boxes, one per automaton state.

Preconditions, checked exactly on the weights: one SRWM layer reading the embedding, and in
every head all rows of ``W_k`` equal (``kappa``) and all rows of ``w_b`` equal. Then ``x W_k =
(sum x) kappa = kappa`` and ``x w_b`` are the same at every step (softmax sums to 1), so ``k`` and
the four rates depend on the current symbol only, ``W_k`` and ``w_b`` never change
(``q M - k M = 0`` for a matrix of equal rows), and by induction every other matrix stays
``Z = Z_0 + k (x) w``: the update adds ``k (x) beta (q Z - k Z)``. The state is the vectors ``w``
(for ``W_y`` and ``W_q``, per head), and one step is

    w' = (1 - beta |k|^2 + beta (q . k)) w + beta (q Z_0 - k Z_0),   q = softmax(x Z_q),

the kernel's update with ``Z = Z_0 + k (x) w`` substituted (``w`` then appears once, so interval
evaluation does not double its width). The logits come from the kernel's own step on the
rebuilt matrices. Boxes (arb balls per entry) around each automaton state's ``w`` are grown from
the start state until closed: every image of a box under a symbol lies inside the box of the
successor state and is decided as the automaton decides. By induction every string of every
length is then decided correctly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from constructions.fwp.languages import Dfa
from constructions.fwp.models import Model, SrwmLayer, step
from verify.errors import LoopmlpError
from verify.real import ops
from verify.real.numbers import Arb

PARTS = ("W_y", "W_q")


def check_structure(model: Model) -> None:
    """Raise unless the model satisfies the preconditions above (exact comparisons)."""
    if len(model.blocks) != 1 or not isinstance(model.blocks[0][0], SrwmLayer):
        raise LoopmlpError(f"{model.name}: the box proof needs one SRWM layer")
    layer = model.blocks[0][0]
    for name in ("W_k", "w_b"):
        M = getattr(layer, name)
        if not np.all(M == M[:, :1, :]):
            raise LoopmlpError(f"{model.name}: {name} has unequal rows; the box proof needs "
                               "constant keys and rates")


@dataclass
class Reduced:
    """The per-symbol constants of the reduced step (arb arrays)."""

    x: list[Any]
    k: list[Any]
    beta: list[Any]


def _constants(model: Model, nb: Arb) -> Reduced:
    w = model.converted(nb)
    layer = model.blocks[0][0]
    xs, ks, betas = [], [], []
    for a in range(len(model.alphabet)):
        h = w["embedding"][a]
        x = ops.softmax(nb, h.reshape(layer.heads, layer.d_head))
        xs.append(x)
        ks.append(ops.softmax(nb, ops.vecmat(nb, x, w["blocks.0.W_k"])))
        betas.append(ops.sigmoid(nb, ops.vecmat(nb, x, w["blocks.0.w_b"])))
    return Reduced(xs, ks, betas)


def reduced_step(model: Model, nb: Arb, c: Reduced, wv: dict[str, Any],
                 a: int) -> tuple[dict[str, Any], Any]:
    """(new reduced state, logits) for every state in the boxes ``wv`` on symbol ``a``."""
    w = model.converted(nb)
    x, k, beta = c.x[a], c.k[a], c.beta[a]
    Z = {n: w[f"blocks.0.{n}"] + ops.outer(nb, k, wv[n]) for n in PARTS}
    full = ({"W_y": Z["W_y"], "W_q": Z["W_q"], "W_k": w["blocks.0.W_k"],
             "w_b": w["blocks.0.w_b"]},)
    _, logits = step(model, nb, full, a)
    q = ops.softmax(nb, ops.vecmat(nb, x, Z["W_q"]))
    kk = (k * k).sum(axis=-1, keepdims=True)
    qk = (q * k).sum(axis=-1, keepdims=True)
    new = {}
    for j, n in enumerate(PARTS):
        b = beta[..., PARTS.index(n):PARTS.index(n) + 1] if j < 2 else None
        Z0 = w[f"blocks.0.{n}"]
        coef = 1 - b * kk + b * qk
        new[n] = coef * wv[n] + b * (ops.vecmat(nb, q, Z0) - ops.vecmat(nb, k, Z0))
    return new, logits


def _zero(model: Model, nb: Arb) -> dict[str, Any]:
    layer = model.blocks[0][0]
    return {n: nb.array(np.zeros((layer.heads, layer.d_head))) for n in PARTS}


def _hull(nb: Arb, a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, Any]:
    if a is None:
        return {n: v.copy() for n, v in b.items()}
    out = {}
    for n in PARTS:
        o = np.empty(a[n].shape, dtype=object)
        for idx in np.ndindex(o.shape):
            o[idx] = nb._arb.union(a[n][idx], b[n][idx])
        out[n] = o
    return out


def _widen(nb: Arb, a: dict[str, Any], factor: float, floor: float) -> dict[str, Any]:
    out = {}
    for n in PARTS:
        o = np.empty(a[n].shape, dtype=object)
        for idx in np.ndindex(o.shape):
            v = a[n][idx]
            # exact entries (a head that stays zero) stay exact: their images are exact too
            o[idx] = v if v.is_exact() else nb._arb(v.mid(), v.rad() * factor + floor)
        out[n] = o
    return out


def _inside(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Every ball of ``a`` inside the ball of ``b``. A NaN ball "contains" everything in arb,
    so both sides must be finite balls first."""
    return all(b[n][idx].is_finite() and a[n][idx].is_finite() and b[n][idx].contains(a[n][idx])
               for n in PARTS for idx in np.ndindex(a[n].shape))


@dataclass(frozen=True)
class BoxProof:
    proved: bool
    reason: str
    rounds: int
    min_margin: float
    max_radius: float
    seconds: float


def prove_dfa(model: Model, dfa: Dfa, rounds: int = 12, prec: int = 64) -> BoxProof:
    """Grow boxes from the start state (hulls of images), widen, and check closure."""
    check_structure(model)
    if tuple(model.alphabet) != tuple(dfa.alphabet) or model.classes != 2:
        raise LoopmlpError(f"{model.name}: alphabet {model.alphabet} and {model.classes} "
                           f"classes; the automaton has alphabet {dfa.alphabet} and 2 classes")
    t0 = time.perf_counter()
    nb = Arb(prec)
    with nb.context():
        c = _constants(model, nb)
        boxes: list[dict[str, Any] | None] = [None] * dfa.states
        boxes[dfa.start] = _zero(model, nb)
        V = len(dfa.alphabet)
        def grow(boxes: list[dict[str, Any] | None], n: int) -> list[dict[str, Any] | None]:
            for _ in range(n):
                for p in range(dfa.states):
                    bp = boxes[p]
                    if bp is None:
                        continue
                    for a in range(V):
                        img, _ = reduced_step(model, nb, c, bp, a)
                        q = dfa.delta[p][a]
                        boxes[q] = _hull(nb, boxes[q], img)
            return boxes

        boxes = grow(boxes, rounds)
        for _attempt in range(4):
            # widen, let the images settle into the wider boxes, then leave a little room
            boxes = grow([None if b is None else _widen(nb, b, 2.0, 1e-15) for b in boxes], 2)
            widened = [None if b is None else _widen(nb, b, 1.25, 1e-15) for b in boxes]
            ok, margin, why = True, float("inf"), ""
            start = widened[dfa.start]
            if start is None or not _inside(_zero(model, nb), start):
                ok, why = False, "the start state is not inside its box"
            for p in range(dfa.states if ok else 0):
                bp = widened[p]
                if bp is None:
                    continue
                for a in range(V):
                    img, logits = reduced_step(model, nb, c, bp, a)
                    q = dfa.delta[p][a]
                    bq = widened[q]
                    if bq is None or not _inside(img, bq):
                        ok, why = False, f"image of state {p} under {dfa.alphabet[a]!r} leaves " \
                            f"the box of state {q}"
                        break
                    m = ops.class_margin(nb, logits, dfa.accept[q])
                    margin = min(margin, m)
                    if not m > 0:  # a NaN margin fails too
                        ok, why = False, f"state {p} then {dfa.alphabet[a]!r}: margin {m:.3g}"
                        break
                if not ok:
                    break
            if ok:
                radius = max(float(v.rad()) for b in widened if b is not None for n in PARTS
                             for v in b[n].reshape(-1))
                return BoxProof(True, "closed boxes", rounds, margin, radius,
                                time.perf_counter() - t0)
        return BoxProof(False, why, rounds, margin, float("nan"), time.perf_counter() - t0)
