"""Exact checking of one-input networks against a spec, by pieces where the network is affine.

A ReLU network of one integer input f is piecewise affine: on each piece every unit is either
off or an exact affine function of f. :func:`pieces` computes those pieces layer by layer with
exact rational arithmetic (a unit's zero crossing splits a piece at an integer boundary).
:func:`check_1d` then compares each output's affine piece with the spec evaluated on
:class:`~verify.interval.Interval` inputs, bisecting until the spec's interval value is a single
constant (bit and wrap are exact on intervals that do not straddle their period) or the piece is
a single point, where both sides are evaluated exactly. Nothing is sampled: every integer of the
range lies in exactly one checked piece. A budget on the work returns None (undecided) so the
caller can fall back to a solver.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

from verify.interval import Interval, Tracker
from verify.network import Network
from verify.result import Verdict

Affine = tuple[Fraction | int, Fraction | int]  # alpha * f + beta


def pieces(net: Network, lo: int, hi: int, budget: int = 100_000
           ) -> list[tuple[int, int, list[Affine]]] | None:
    """Integer pieces [a, b] of [lo, hi] with every output as an exact affine function of f."""
    if len(net.inputs) != 1:
        raise ValueError("pieces() needs a one-input network")
    # Integers while every weight is one (exact, and several times faster than Fractions).
    segs: list[tuple[int, int, list[Affine]]] = [(lo, hi, [(1, 0)])]
    for layer in net.layers:
        rows: list[list[tuple[int, int]]] = [[] for _ in range(len(layer.outputs))]
        for r, c, v in zip(layer.rows, layer.cols, layer.vals):
            rows[r].append((c, v))
        out: list[tuple[int, int, list[Affine]]] = []
        for a, b, fs in segs:
            pre: list[Affine] = []
            for r, entries in enumerate(rows):
                al = sum((v * fs[c][0] for c, v in entries), 0)
                be = sum((v * fs[c][1] for c, v in entries), layer.bias[r])
                pre.append((al, be))
            cuts = {a, b + 1}
            if layer.relu:
                for al, be in pre:
                    if al != 0:
                        # pre-activation is 0 here; it changes sign across it
                        root = Fraction(-be) / al
                        for p in (math.floor(root), math.floor(root) + 1):
                            if a < p <= b:
                                cuts.add(p)
            edges = sorted(cuts)
            for s, e in zip(edges, edges[1:]):
                e -= 1
                vals = []
                for al, be in pre:
                    if layer.relu:
                        on = max(al * s + be, al * e + be) > 0
                        vals.append((al, be) if on else (0, 0))
                    else:
                        vals.append((al, be))
                out.append((s, e, vals))
            if len(out) > budget:
                return None
        segs = out
    return segs


def _const(v: Any) -> int | None:
    if isinstance(v, Interval):
        return v.lo if v.lo == v.hi else None
    return int(v)


def check_1d(net: Network, lo: int, hi: int, outputs: tuple[str, ...],
             spec: Callable[[Mapping[str, Any]], Mapping[str, Any]],
             budget: int = 200_000) -> tuple[Verdict, int | None]:
    """``(PROVED, None)``, ``(REFUTED, f)`` with a witness ``f``, or ``(UNKNOWN, None)`` when the
    budget runs out or a single point cannot be decided."""
    segs = pieces(net, lo, hi)
    if segs is None:
        return Verdict.UNKNOWN, None
    name = net.inputs.names[0]
    idx = net.outputs.indices(outputs)
    work = 0
    tracker = Tracker()
    for a, b, fs in segs:
        stack = [(a, b)]
        while stack:
            s, e = stack.pop()
            work += 1
            if work > budget:
                return Verdict.UNKNOWN, None
            want = spec({name: Interval(s, e, tracker) if s != e else s})
            split = False
            for k, o in zip(idx, outputs):
                al, be = fs[k]
                c = _const(want[o])
                if c is None:
                    split = True
                    continue
                if (al == 0 or s == e) and al * s + be == c:
                    continue
                # The affine side is not the constant c everywhere on [s, e]: find a witness.
                for f in (s, e):
                    if al * f + be != c:
                        return Verdict.REFUTED, f
                split = True
            if split:
                if s == e:
                    return Verdict.UNKNOWN, None
                mid = (s + e) // 2
                stack += [(s, mid), (mid + 1, e)]
    return Verdict.PROVED, None
