"""VNN-LIB properties of an obligation: "unsat exactly when the network meets its spec".

Design notes: docs/design/verify.interchange.vnnlib_io.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from verify.errors import ParameterError
from verify.obligation import Obligation

MAX_POINTS = 4096
HALF = Fraction(1, 2)


@dataclass(frozen=True)
class Disjunct:
    """``X == point`` and ``Y[output] <= bound`` (``upper``) or ``Y[output] >= bound``."""

    point: tuple[int, ...]
    output: int
    upper: bool
    bound: Fraction


@dataclass(frozen=True)
class Property:
    """The negated spec of an obligation, as a disjunction over its integer points."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    disjuncts: tuple[Disjunct, ...]
    points: int

    def holds(self, x: tuple[int, ...], y: tuple[float, ...] | np.ndarray) -> bool:
        """True when ``(x, y)`` satisfies some disjunct (a violation of the spec)."""
        return any(_sat(d, x, y) for d in self.disjuncts)


def _sat(d: Disjunct, x: tuple[int, ...], y: tuple[float, ...] | np.ndarray) -> bool:
    if tuple(int(v) for v in x) != d.point:
        return False
    v = Fraction(y[d.output]).limit_denominator(1 << 20) if not isinstance(
        y[d.output], (int, np.integer)) else Fraction(int(y[d.output]))
    return v <= d.bound if d.upper else v >= d.bound


def points(ob: Obligation, limit: int = MAX_POINTS) -> Iterator[dict[str, int]]:
    """Every member of the domain (constraints applied), as a name -> int map."""
    dom = ob.domain
    if dom.count > limit:
        raise ParameterError("domain", f"{ob.name} ({dom.count} points)",
                             f"at most {limit} points for a VNN-LIB property (one disjunct per "
                             "integer point); choose a smaller size")
    for rows in dom.chunks(1 << 12):
        for row in rows:
            point = {n: int(v) for n, v in zip(dom.names, row)}
            if bool(dom.accept(point)):
                yield point


def negated_spec(ob: Obligation, limit: int = MAX_POINTS) -> Property:
    """The property of an obligation (see the module docstring)."""
    net = ob.network
    ins, outs = net.inputs.names, net.outputs.names
    checked = [outs.index(o) for o in ob.checked_outputs]
    disjuncts: list[Disjunct] = []
    count = 0
    for point in points(ob, limit):
        count += 1
        want = ob.spec(point)
        p = tuple(point[n] for n in ins)
        for j in checked:
            s = int(want[outs[j]])
            disjuncts.append(Disjunct(p, j, True, s - HALF))
            disjuncts.append(Disjunct(p, j, False, s + HALF))
    return Property(ob.name, ins, outs, tuple(disjuncts), count)


def _num(v: Fraction | int) -> str:
    """An exact decimal: every bound is an integer or a half-integer."""
    f = Fraction(v)
    if f.denominator == 1:
        return f"{f.numerator}.0"
    if f.denominator == 2:
        whole = abs(f.numerator) // 2
        return f"{'-' if f < 0 else ''}{whole}.5"
    raise ParameterError("bound", str(f), "an integer or half-integer")


def _header(prop: Property, comment: str) -> list[str]:
    lines = [f"; {line}" if line else ";" for line in comment.splitlines()]
    lines.append(f"; {prop.name}: unsat if and only if the network equals its spec on all "
                 f"{prop.points} integer points of the domain")
    lines += [f"; X_{i} = {n}" for i, n in enumerate(prop.inputs)]
    lines += [f"; Y_{j} = {n}" for j, n in enumerate(prop.outputs)]
    return lines


def to_vnnlib1(prop: Property, comment: str = "") -> str:
    """VNN-LIB 1.0 text: ``declare-const`` per coordinate, one disjunctive assertion."""
    lines = _header(prop, comment)
    lines += [f"(declare-const X_{i} Real)" for i in range(len(prop.inputs))]
    lines += [f"(declare-const Y_{j} Real)" for j in range(len(prop.outputs))]
    lines += _assertion(prop, lambda i: f"X_{i}", lambda j: f"Y_{j}")
    return "\n".join(lines) + "\n"


def to_vnnlib2(prop: Property, comment: str = "", dtype: str = "float64") -> str:
    """VNN-LIB 2.0 text: one network with tensors ``X[0, i]`` and ``Y[0, j]``."""
    lines = _header(prop, comment)
    lines += ["(vnnlib-version <2.0>)", "(declare-network N",
              f"  (declare-input X {dtype} [1, {len(prop.inputs)}])",
              f"  (declare-output Y {dtype} [1, {len(prop.outputs)}])", ")"]
    lines += _assertion(prop, lambda i: f"X[0,{i}]", lambda j: f"Y[0,{j}]")
    return "\n".join(lines) + "\n"


def _assertion(prop: Property, x: Callable[[int], str], y: Callable[[int], str]) -> list[str]:
    """The negated spec, one ``(and point-box output-bound)`` disjunct per line; ``x`` and ``y``
    spell the i-th input and the j-th output in the dialect at hand."""
    lines = ["(assert (or"]
    for d in prop.disjuncts:
        box = " ".join(f"(>= {x(i)} {_num(v)}) (<= {x(i)} {_num(v)})"
                       for i, v in enumerate(d.point))
        op = "<=" if d.upper else ">="
        lines.append(f"  (and {box} ({op} {y(d.output)} {_num(d.bound)}))")
    lines.append("))")
    return lines
