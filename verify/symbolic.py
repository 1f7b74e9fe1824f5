"""Symbolic networks: units written as sympy expressions ``ReLU(affine form)`` over names.

A :class:`SymbolicNet` is a list of stages; each stage is a list of named units, and each unit is
an affine sympy expression over the names of the previous stage (the inputs, for the first
stage), with or without a ReLU. :meth:`SymbolicNet.compile` turns it into exact integer
:class:`~verify.network.Layer` objects and refuses anything that is not affine with integer
coefficients, naming the unit. The symbolic form is kept: it prints as formulas and feeds the
factorised proofs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import sympy

from .errors import ParameterError
from .layout import Layout
from .network import Layer, Network

_SYMBOLS: dict[str, sympy.Symbol] = {}


def sym(name: str) -> sympy.Symbol:
    """The sympy symbol of a coordinate name (names such as ``MEM[3].bit[5]`` are fine)."""
    s = _SYMBOLS.get(name)
    if s is None:
        s = _SYMBOLS[name] = sympy.Symbol(name, integer=True)
    return s


def affine(coeffs: Mapping[str, int], const: int = 0) -> sympy.Expr:
    """``sum coeffs[n] * n + const`` as a sympy expression, built in one step (fast)."""
    terms = [sympy.Integer(c) * sym(n) if c != 1 else sym(n) for n, c in coeffs.items() if c]
    if const:
        terms.append(sympy.Integer(const))
    return sympy.Add(*terms) if terms else sympy.Integer(0)


def affine_terms(expr: sympy.Expr, where: str) -> tuple[dict[str, int], int]:
    """(coefficients by name, constant) of an affine integer expression; anything else refused."""
    expr = sympy.sympify(expr)
    if not isinstance(expr, (sympy.Add, sympy.Symbol, sympy.Integer, sympy.Mul)):
        expr = sympy.expand(expr)
    coeffs: dict[str, int] = {}
    const = 0
    for term, c in expr.as_coefficients_dict().items():
        if not (c.is_Integer or (c.is_Rational and c.q == 1)):
            raise ParameterError(where, str(expr), "integer coefficients")
        if term == 1:
            const += int(c)
        elif isinstance(term, sympy.Symbol):
            coeffs[term.name] = coeffs.get(term.name, 0) + int(c)
        elif term != sympy.expand(term):
            return affine_terms(sympy.expand(expr), where)
        else:
            raise ParameterError(where, str(expr), "an affine form (no products or powers)")
    return {k: v for k, v in coeffs.items() if v}, const


@dataclass(frozen=True, eq=False)
class Unit:
    """One neuron: ``name = ReLU(expr)`` (or ``name = expr`` when ``relu`` is False)."""

    name: str
    expr: sympy.Expr
    relu: bool = True

    @cached_property
    def terms(self) -> tuple[dict[str, int], int]:
        """(coefficients by name, constant) of the affine form."""
        return affine_terms(self.expr, f"unit {self.name}")

    def formula(self) -> str:
        body = sympy.sstr(self.expr)
        return f"{self.name} = ReLU({body})" if self.relu else f"{self.name} = {body}"


@dataclass(frozen=True)
class Stage:
    """One layer's worth of units, with the label of the gadget or stage that owns it."""

    units: tuple[Unit, ...]
    label: str = ""


def relu_unit(name: str, expr: sympy.Expr | int) -> Unit:
    """``name = ReLU(expr)``."""
    return Unit(name, sympy.sympify(expr), True)


def copy_unit(name: str) -> Unit:
    """Pass a non-negative coordinate through: ``name = ReLU(name)``, its affine terms
    precomputed (a computer builds thousands)."""
    u = Unit(name, sym(name), True)
    u.__dict__["terms"] = ({name: 1}, 0)
    return u


@dataclass(frozen=True, eq=False)
class SymbolicNet:
    """Stages of symbolic units over named inputs; compiles to an exact :class:`Network`."""

    inputs: tuple[str, ...]
    stages: tuple[Stage, ...]
    name: str = "symbolic"

    @cached_property
    def network(self) -> Network:
        """The compiled integer network (compiled once)."""
        layout = Layout(self.inputs)
        layers: list[Layer] = []
        for k, stage in enumerate(self.stages):
            out = Layout()
            for u in stage.units:
                out.add(u.name, stage.label or f"stage {k}")
            rows: dict[str, tuple[Mapping[str, int], int]] = {}
            relus = {u.relu for u in stage.units}
            if len(relus) != 1:
                raise ParameterError(f"{self.name} stage {k}", stage.label,
                                     "all units of one stage with ReLU, or all without")
            for u in stage.units:
                rows[u.name] = u.terms
            layers.append(Layer.from_rows(layout, out, rows, relu=relus.pop(),
                                          label=stage.label))
            layout = out
        return Network(tuple(layers), self.name)

    def formulas(self) -> list[tuple[str, list[str]]]:
        """Per stage: (label, one formula per unit)."""
        return [(s.label, [u.formula() for u in s.units]) for s in self.stages]

    def first_stage(self) -> Stage:
        return self.stages[0]


def chain(name: str, inputs: Sequence[str], stages: Iterable[Stage]) -> SymbolicNet:
    """Convenience constructor."""
    return SymbolicNet(tuple(inputs), tuple(stages), name)
