"""Certified runs and step proofs of the SUBLEQ Transformer over the reals.

Every step is enclosed with :func:`verify.real_attention.enclose_layer`, layer by layer, from a
box holding the state. A step is *certified* when every entry the decoder reads excludes 0
over the whole box and the signs decode to the interpreter's successor; its margin is the
smallest ``|entry|`` lower bound. *Certified wrong* means the box decodes, with certainty, to
another state; otherwise the step is *undecided* (the box straddles 0 somewhere) and the
enclosure proves nothing about it.

A step proof (:func:`prove_step`) starts from the box of radius ``eps`` around a canonical
state (:meth:`~.layout.Layout.encode`, with the command the scratchpad holds) and shows that
its image lies within ``eps`` of the canonical successor, in every entry. With ``eps = 0`` this
is one exact step; with ``eps > 0`` it is the error-correction invariant: every state within
``eps`` of a canonical one is mapped within ``eps`` of the successor, so by induction every run
from such a state decodes correctly at every step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from constructions.machine import subleq
from constructions.machine.subleq import Instruction, State
from verify.real_attention import Box, LayerCache, enclose_layer

from .layout import Layout
from .network import LoopedTransformer
from .runner import describe_difference


@dataclass
class Enclosure:
    """An enclosing network: the layers' caches live as long as it does."""

    net: LoopedTransformer
    caches: list[LayerCache] = field(default_factory=list)
    max_subtract: bool = False

    def __post_init__(self) -> None:
        self.caches = [LayerCache() for _ in self.net.layers]

    def step(self, box: Box) -> tuple[Box, int]:
        """The box after one step, and how many ReLU units were undecided on the way."""
        undecided = 0
        for layer, cache in zip(self.net.layers, self.caches):
            box, facts = enclose_layer(layer, box, self.net.lam, cache, self.max_subtract)
            undecided += facts["undecided_units"]
        return box, undecided


def decide(lay: Layout, box: Box) -> tuple[State | None, float, str]:
    """``(state, margin, why)``: the state every matrix of the box decodes to (None when the
    box straddles 0 at a decision entry, or decodes to no state), and the least lower bound of
    ``|entry|`` over the decision entries."""
    rows, cols, m, r, margins = _decision_margins(lay, box)
    margin = _least(margins)
    if margin == float("-inf"):
        return None, margin, "the enclosure is not finite"
    if margin <= 0:
        k = int(np.argmin(margins))
        return None, margin, (f"row {rows[k]}, column {cols[k]} is [{m[k] - r[k]:.3g}, "
                              f"{m[k] + r[k]:.3g}]: its sign is not decided")
    try:
        return lay.decode(np.sign(box.mid)), margin, ""
    except Exception as e:  # noqa: BLE001 - a DecodeError names what is wrong
        return None, margin, f"the signs decode to no state: {e}"


def _decision_margins(lay: Layout, box: Box) -> tuple[list[int], list[int], np.ndarray,
                                                     np.ndarray, np.ndarray]:
    """The decision entries (rows, columns), their mids and radii, and ``|mid| - rad``."""
    rows, cols = (list(x) for x in zip(*lay.decision_entries()))
    m, r = box.mid[rows, cols], box.float_rad[rows, cols]
    return rows, cols, m, r, np.abs(m) - r


def _least(margins: np.ndarray) -> float:
    """The least margin, or -inf when one is not finite."""
    return float(np.min(margins)) if np.all(np.isfinite(margins)) else float("-inf")


@dataclass
class CertifiedStep:
    step: int
    status: str  # "certified" | "certified wrong" | "undecided"
    margin: float
    max_radius: float
    undecided_units: int
    message: str = ""


@dataclass
class CertifiedRun:
    """Every step of a run enclosed: certified up to ``steps``, then ``failure`` if any."""

    steps: int
    halted: bool
    state: State
    records: list[CertifiedStep]
    failure: CertifiedStep | None
    seconds: float

    @property
    def min_margin(self) -> float:
        return min((r.margin for r in self.records), default=float("inf"))


def certified_run(net: LoopedTransformer, lay: Layout, X0: np.ndarray, *, max_steps: int = 1000,  # noqa: N803
                  max_subtract: bool = False) -> CertifiedRun:
    """Enclose the real-number run from ``X0`` step by step against the interpreter."""
    t0 = time.perf_counter()
    size = lay.machine()
    enc = Enclosure(net, max_subtract=max_subtract)
    box = Box.point(X0)
    state = lay.decode(np.asarray(X0, dtype=np.float64))
    records: list[CertifiedStep] = []
    for k in range(1, max_steps + 2):
        want = subleq.step(state, size)
        box, und = enc.step(box)
        got, margin, why = decide(lay, box)
        radius = float(np.max(box.rad))
        if got is None:
            rec = CertifiedStep(k, "undecided", margin, radius, und, why)
            return CertifiedRun(k - 1, False, state, records, rec, time.perf_counter() - t0)
        if got != want:
            rec = CertifiedStep(k, "certified wrong", margin, radius, und,
                                describe_difference(got, want, size))
            return CertifiedRun(k - 1, False, state, records, rec, time.perf_counter() - t0)
        records.append(CertifiedStep(k, "certified", margin, radius, und))
        if want == state:
            return CertifiedRun(k - 1, True, state, records, None, time.perf_counter() - t0)
        if k > max_steps:
            break
        state = want
    return CertifiedRun(max_steps, False, state, records, None, time.perf_counter() - t0)


@dataclass(frozen=True)
class StepProof:
    """One canonical state's step: ``deviation`` bounds ``|image - canonical successor|`` over
    the input box (every entry); ``ok`` when it is at most ``tolerance``."""

    ok: bool
    deviation: float
    margin: float
    where: tuple[int, int]


def prove_step(enc: Enclosure, lay: Layout, state: State, last: Instruction | None,
               eps: float, tolerance: float, ignore_rows: np.ndarray | None = None
               ) -> StepProof:
    """Enclose one step from the box of radius ``eps`` around ``encode(state, last)``.

    ``ignore_rows`` (a boolean mask) names rows that every layer passes through unchanged, where
    the image equals the input exactly; an entry of such a row is left out of the comparison only
    where the canonical successor holds the same value as the canonical input (else the image,
    being the input, is compared like any other entry).
    """
    size = lay.machine()
    X = lay.encode(state, last).astype(np.float64)
    box = Box(X, np.full(X.shape, float(eps)))
    out, _ = enc.step(box)
    nxt = subleq.step(state, size)
    target = lay.encode(nxt, state.code[state.pc]).astype(np.float64)
    dev = out.within(target)
    if ignore_rows is not None:
        dev[np.asarray(ignore_rows, dtype=bool)[:, None] & (X == target)] = 0.0
    k = np.unravel_index(int(np.argmax(dev)), dev.shape)
    margin = _least(_decision_margins(lay, out)[-1])  # decide's margin, without decoding
    worst = float(dev[k])
    return StepProof(bool(worst <= tolerance), worst, margin, (int(k[0]), int(k[1])))
