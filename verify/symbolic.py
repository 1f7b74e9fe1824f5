"""Symbolic networks: units ``ReLU(affine form)`` over names, held as integer coefficients.

A :class:`SymbolicNet` is a list of stages; each stage is a list of named units, and each unit is
an affine form over the names of the previous stage (the inputs, for the first stage), with or
without a ReLU. A form is held as its data, ``{name: coefficient}`` and a constant
(:class:`Affine`); its sympy expression is made only when something asks for it (printed
formulas, the factorised proofs' identities), so a build never needs sympy. A unit may also be
given any sympy expression; :meth:`SymbolicNet.network` then refuses anything that is not affine
with integer coefficients, naming the unit. The stages compile straight to exact integer
:class:`~verify.network.Layer` objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ParameterError
from .layout import Layout
from .network import Layer, Network, index_tuple

if TYPE_CHECKING:
    import sympy

_SYMBOLS: dict[str, sympy.Symbol] = {}


def sym(name: str) -> sympy.Symbol:
    """The sympy symbol of a coordinate name (names such as ``MEM[3].bit[5]`` are fine)."""
    s = _SYMBOLS.get(name)
    if s is None:
        import sympy

        s = _SYMBOLS[name] = sympy.Symbol(name, integer=True)
    return s


def _integer(value: Any, what: str) -> int:
    """``value`` as a Python int; a value that is not an integer is refused."""
    as_int = int(value)
    if as_int != value:
        raise ParameterError(f"coefficient of {what}", value, "an integer")
    return as_int


class Affine:
    """The affine form ``sum coeffs[n] * n + const`` with integer coefficients, as data.

    ``coeffs`` holds only the nonzero coefficients, in the order given. :attr:`expr` is the same
    form as a sympy expression, made on first use; sympy arithmetic on an Affine (``2 * f``,
    ``f - g``, ``sympy.expand(f)``) goes through it, so an Affine stands wherever a sympy
    expression of the form was used.
    """

    __slots__ = ("_expr", "coeffs", "const")

    def __init__(self, coeffs: Mapping[str, int], const: int = 0) -> None:
        self.coeffs: dict[str, int] = {n: _integer(c, n) for n, c in coeffs.items() if c}
        self.const = _integer(const, "constant")
        self._expr: Any = None

    @classmethod
    def exact(cls, coeffs: dict[str, int], const: int = 0) -> Affine:
        """The form of ``coeffs`` taken as it is, not copied: every value a nonzero Python int
        (the builders of large blocks, which make such dicts by the thousand)."""
        f = cls.__new__(cls)
        f.coeffs, f.const, f._expr = coeffs, const, None
        return f

    @property
    def expr(self) -> sympy.Expr:
        """The form as a sympy expression (built once, in one step)."""
        if self._expr is None:
            import sympy

            terms = [sympy.Integer(c) * sym(n) if c != 1 else sym(n)
                     for n, c in self.coeffs.items()]
            if self.const:
                terms.append(sympy.Integer(self.const))
            self._expr = sympy.Add(*terms) if terms else sympy.Integer(0)
        return self._expr

    def _sympy_(self) -> sympy.Expr:  # sympy's conversion protocol
        return self.expr

    def __add__(self, other: Any) -> Any:
        return self.expr + other

    def __radd__(self, other: Any) -> Any:
        return other + self.expr

    def __sub__(self, other: Any) -> Any:
        return self.expr - other

    def __rsub__(self, other: Any) -> Any:
        return other - self.expr

    def __mul__(self, other: Any) -> Any:
        return self.expr * other

    def __rmul__(self, other: Any) -> Any:
        return other * self.expr

    def __neg__(self) -> Any:
        return -self.expr

    def __str__(self) -> str:
        import sympy

        return sympy.sstr(self.expr)

    def __repr__(self) -> str:
        return f"Affine({self.coeffs!r}, {self.const})"


def affine(coeffs: Mapping[str, int], const: int = 0) -> Affine:
    """``sum coeffs[n] * n + const`` (integer coefficients) as an :class:`Affine`."""
    return Affine(coeffs, const)


def affine_terms(expr: Any, where: str) -> tuple[dict[str, int], int]:
    """(coefficients by name, constant) of an affine integer expression; anything else refused.

    ``expr`` is an :class:`Affine`, an int or a sympy expression."""
    if isinstance(expr, Affine):
        return dict(expr.coeffs), expr.const
    if isinstance(expr, int) and not isinstance(expr, bool):
        return {}, expr
    import sympy

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


class Unit:
    """One neuron: ``name = ReLU(expr)`` (or ``name = expr`` when ``relu`` is False).

    ``expr`` is an :class:`Affine` (the build's units), an int, or a sympy expression. The
    unit's :attr:`terms` come straight from an Affine; :attr:`expr` is always a sympy
    expression, made on first use.
    """

    __slots__ = ("_given", "_terms", "name", "relu")

    def __init__(self, name: str, expr: Any, relu: bool = True) -> None:
        self.name = name
        self.relu = relu
        self._given = expr
        self._terms: tuple[dict[str, int], int] | None = (
            (expr.coeffs, expr.const) if isinstance(expr, Affine) else None)

    @property
    def terms(self) -> tuple[dict[str, int], int]:
        """(coefficients by name, constant) of the affine form."""
        if self._terms is None:
            self._terms = affine_terms(self._given, f"unit {self.name}")
        return self._terms

    @property
    def expr(self) -> sympy.Expr:
        """The unit's form as a sympy expression."""
        given = self._given
        if isinstance(given, Affine):
            return given.expr
        if given is None:  # a copy unit
            return sym(self.name)
        import sympy

        return sympy.sympify(given)

    @property
    def is_copy(self) -> bool:
        """True for a copy unit ``name = ReLU(name)`` made by :func:`copy_unit`."""
        return self._given is None

    def formula(self) -> str:
        import sympy

        body = sympy.sstr(self.expr)
        return f"{self.name} = ReLU({body})" if self.relu else f"{self.name} = {body}"

    def __repr__(self) -> str:
        return f"Unit({self.name!r}, {self._given!r}, {self.relu})"


@dataclass(frozen=True)
class Stage:
    """One layer's worth of units, with the label of the gadget or stage that owns it."""

    units: tuple[Unit, ...]
    label: str = ""


def relu_unit(name: str, expr: Any) -> Unit:
    """``name = ReLU(expr)`` (an :class:`Affine`, an int or a sympy expression)."""
    if type(expr) is Affine:  # the build's units, by the hundred thousand: made directly
        u = Unit.__new__(Unit)
        u.name, u.relu, u._given, u._terms = name, True, expr, (expr.coeffs, expr.const)
        return u
    if isinstance(expr, int) and not isinstance(expr, bool):
        expr = Affine({}, expr)
    return Unit(name, expr, True)


def copy_unit(name: str) -> Unit:
    """Pass a non-negative coordinate through: ``name = ReLU(name)`` (a computer builds
    hundreds of thousands, so they are made without a form of their own)."""
    u = Unit.__new__(Unit)
    u.name = name
    u.relu = True
    u._given = None
    u._terms = ({name: 1}, 0)
    return u


def compile_stage(inputs: Layout, stage: Stage, owner: str,
                  outputs: Layout | None = None) -> Layer:
    """One stage as a :class:`Layer` over ``inputs``, built straight from the units' terms.

    ``owner`` owns the output coordinates (and names the stage in a refusal); ``outputs`` is
    the stage's layout when the caller has it already (the same names, in the order of the
    units).
    """
    units = stage.units
    if outputs is None:
        outputs = Layout((u.name for u in units), owner)
    return compile_units(inputs, outputs, units, stage.label, owner)


def compile_units(inputs: Layout, outputs: Layout, units: Sequence[Unit], label: str,
                  owner: str = "") -> Layer:
    """The layer whose outputs ``outputs`` are the ``units`` (by name) and, for every other
    output name, a copy ``name = ReLU(name)`` of the input of that name.

    Copies go in as one block, and the entries of ``W[out, in]`` are sorted as
    :meth:`Layer.from_entries` sorts them, so the layer is the one ``Layer.from_rows`` builds
    from the same units in the same order.
    """
    relus = {u.relu for u in units}
    if len(relus) > 1 or (not relus and not len(outputs)):
        raise ParameterError(owner or label, label, "all units of one stage with ReLU, or all "
                             "without")
    relu = relus.pop() if relus else True
    n_out = len(outputs)
    if not units and outputs is inputs:  # an identity layer: every row a copy of its input
        every = tuple(range(n_out))
        return Layer(inputs, outputs, every, every, (1,) * n_out, (0,) * n_out, relu, label)
    made = [u for u in units if u._given is not None]  # copy units are left to the copies
    at = outputs.indices([u.name for u in made])
    names: list[str] = []
    vals: list[int] = []
    counts: list[int] = []
    bias = [0] * n_out
    for r, u in zip(at, made):
        coeffs, b = u.terms
        bias[r] = b
        names.extend(coeffs)
        vals.extend(coeffs.values())
        counts.append(len(coeffs))
    computed = np.zeros(n_out, dtype=bool)
    computed[at] = True
    copies = np.flatnonzero(~computed)
    if copies.size and not relu:
        raise ParameterError(owner or label, label, "copies only in a stage with ReLU")
    out_names = outputs.names
    cols = inputs.indices(names + [out_names[i] for i in copies.tolist()])
    rows = np.concatenate([np.repeat(np.asarray(at, dtype=np.int64), counts), copies])
    vals += [1] * copies.size
    return sorted_layer(inputs, outputs, rows, cols, vals, bias, relu, label)


def sorted_layer(inputs: Layout, outputs: Layout, rows: Sequence[int] | np.ndarray,
                 cols: Sequence[int] | np.ndarray, vals: Sequence[int], bias: Sequence[int],
                 relu: bool, label: str) -> Layer:
    """A layer from entries of ``W[out, in]`` with no (row, column) twice and no zero value,
    put in (row, column) order as :meth:`Layer.from_entries` puts them."""
    n = len(rows)
    if not n:
        return Layer(inputs, outputs, (), (), (), tuple(bias), relu, label)
    r = np.asarray(rows, dtype=np.int64)
    c = np.asarray(cols, dtype=np.int64)
    order = np.argsort(r * max(1, len(inputs)) + c, kind="stable")
    try:
        v = tuple(np.asarray(vals, dtype=np.int64)[order].tolist())
    except OverflowError:  # weights beyond int64 stay Python ints
        v = tuple(int(vals[i]) for i in order.tolist())
    return Layer(inputs, outputs, index_tuple(r[order], len(outputs)),
                 index_tuple(c[order], len(inputs)), v, tuple(bias), relu, label)


@dataclass(frozen=True, eq=False)
class SymbolicNet:
    """Stages of symbolic units over named inputs; compiles to an exact :class:`Network`."""

    inputs: tuple[str, ...]
    stages: tuple[Stage, ...]
    name: str = "symbolic"

    @cached_property
    def network(self) -> Network:
        """The compiled integer network (compiled once)."""
        return compile_stages(self)

    def formulas(self) -> list[tuple[str, list[str]]]:
        """Per stage: (label, one formula per unit)."""
        return [(s.label, [u.formula() for u in s.units]) for s in self.stages]

    def first_stage(self) -> Stage:
        return self.stages[0]


def compile_stages(net: SymbolicNet) -> Network:
    """The stages of ``net`` compiled one after the other (:func:`compile_stage`)."""
    layout = Layout(net.inputs)
    layers: list[Layer] = []
    for k, stage in enumerate(net.stages):
        units = stage.units
        # a stage that writes exactly what it reads (an identity) shares its layout
        same = len(units) == len(layout) and all(u.name == n for u, n in zip(units, layout))
        layer = compile_stage(layout, stage, stage.label or f"stage {k}",
                              layout if same else None)
        layers.append(layer)
        layout = layer.outputs
    return Network(tuple(layers), net.name)


class DeferredNet(SymbolicNet):
    """A :class:`SymbolicNet` whose stages are made on first use, by ``make``; its network is
    compiled by ``compile`` when given (without making the units), else from the stages.

    A computer places its gadgets under its own names, so a placed gadget's own units are needed
    only when something proves or prints them; a computer's network is compiled from its gadget
    blocks and copies without a unit object per copy.
    """

    _make: Callable[[], Sequence[Stage]]
    _compile: Callable[[], Network] | None

    def __init__(self, inputs: Sequence[str], make: Callable[[], Sequence[Stage]],
                 name: str = "symbolic", compile: Callable[[], Network] | None = None) -> None:
        object.__setattr__(self, "inputs", tuple(inputs))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "_make", make)
        object.__setattr__(self, "_compile", compile)

    @cached_property
    def stages(self) -> tuple[Stage, ...]:  # type: ignore[override]
        return tuple(self._make())

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the plain :class:`SymbolicNet` of its stages (made for it)."""
        return (SymbolicNet, (self.inputs, self.stages, self.name))

    @cached_property
    def network(self) -> Network:
        """The compiled integer network (compiled once)."""
        return self._compile() if self._compile is not None else compile_stages(self)


def chain(name: str, inputs: Sequence[str], stages: Iterable[Stage]) -> SymbolicNet:
    """Convenience constructor."""
    return SymbolicNet(tuple(inputs), tuple(stages), name)
