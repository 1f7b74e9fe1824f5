"""Every gadget family on its whole domain at small widths, the factorised proofs at 16 and 32
bits, the symbolic units against the compiled weights, the docstrings, and the size checks."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
import sympy

import constructions.gadgets as gadgets
from constructions.gadgets import (
    Gadget,
    make_add,
    make_branch,
    make_compare,
    make_compare_branch,
    make_increment,
    make_match,
    make_read,
    make_subtract,
    make_write,
)
from verify.errors import LoopmlpError, ParameterError
from verify.methods import Options, check, exhaustive, replay, smt
from verify.methods.factorised import factorised
from verify.result import Verdict

Build = Callable[[], Gadget]


def _cases(family: str, make: Callable[..., Gadget],
           sizes: list[tuple[int, ...]]) -> list[Any]:
    return [pytest.param((lambda s=s: make(*s)), id=f"{family}{list(s)}") for s in sizes]


# Every family at every width where the whole domain is at most 2^12 points.
SMALL = (
    _cases("match", make_match, [(a,) for a in range(1, 5)])
    + _cases("subtract", make_subtract, [(b,) for b in range(1, 6)])
    + _cases("add", make_add, [(b,) for b in range(1, 6)])
    + _cases("compare", make_compare, [(b,) for b in range(2, 9)])
    + _cases("increment", make_increment, [(b,) for b in range(1, 9)])
    + _cases("branch", make_branch, [(b,) for b in range(1, 5)])
    + _cases("cmpbranch", make_compare_branch, [(b, k) for b in (2, 3, 4) for k in (1, 2)])
    + _cases("read", make_read, [(2, 1), (2, 2), (2, 3), (4, 1), (4, 2)])
    + _cases("write", make_write, [(2, 1), (2, 2), (4, 1), (4, 2)])
)

# The solver at a couple of tiny sizes per family.
TINY = (
    _cases("match", make_match, [(1,), (2,)])
    + _cases("subtract", make_subtract, [(1,), (2,)])
    + _cases("add", make_add, [(1,), (2,)])
    + _cases("compare", make_compare, [(2,), (3,)])
    + _cases("increment", make_increment, [(1,), (3,)])
    + _cases("branch", make_branch, [(1,), (2,)])
    + _cases("read", make_read, [(2, 1), (2, 2)])
    + _cases("write", make_write, [(2, 1), (2, 2)])
)

# Families with a factorisation, at the widths the factorised proofs are registered for.
WIDE = (
    _cases("subtract", make_subtract, [(16,), (32,)])
    + _cases("add", make_add, [(16,), (32,)])
    + _cases("compare", make_compare, [(16,), (32,)])
    + _cases("increment", make_increment, [(16,), (32,)])
    + _cases("branch", make_branch, [(16,), (32,)])
    + _cases("read", make_read, [(2, 16), (2, 32)])
    + _cases("write", make_write, [(2, 16), (2, 32)])
)

# One instance of every family, for the structural checks.
ONE_EACH = (
    _cases("match", make_match, [(2,)])
    + _cases("subtract", make_subtract, [(4,)])
    + _cases("add", make_add, [(4,)])
    + _cases("compare", make_compare, [(4,)])
    + _cases("increment", make_increment, [(4,)])
    + _cases("branch", make_branch, [(3,)])
    + _cases("read", make_read, [(4, 3)])
    + _cases("write", make_write, [(4, 3)])
)


# --------------------------------------------------------------------------- whole domains
@pytest.mark.parametrize("build", SMALL)
def test_gadget_is_proved_on_its_whole_domain(build: Build) -> None:
    ob = build().obligation()
    r = exhaustive(ob)
    assert r.verdict is Verdict.PROVED, r.line()
    assert r.checked == r.total == ob.domain.count
    # auto picks enumeration for domains this small
    assert check(ob).method == "exhaustive"


@pytest.mark.parametrize("build", TINY)
def test_gadget_is_proved_by_the_solver(build: Build) -> None:
    r = smt(build().obligation(), Options("smt", timeout=30))
    assert r.verdict is Verdict.PROVED, r.line()


@pytest.mark.parametrize("build", [p for p in SMALL if "match" not in str(p.id)][::3])
def test_factorised_agrees_with_exhaustive_at_small_widths(build: Build) -> None:
    ob = build().obligation()
    assert ob.factorisation is not None
    r = factorised(ob)
    assert r.verdict is Verdict.PROVED, r.line()
    assert exhaustive(ob).verdict is Verdict.PROVED


@pytest.mark.parametrize("build", WIDE)
def test_factorised_proves_wide_gadgets(build: Build) -> None:
    ob = build().obligation()
    r = factorised(ob)
    assert r.verdict is Verdict.PROVED, r.line()
    assert r.method == "factorised"
    assert r.checked == r.total == ob.domain.count
    # beyond 2^24 points auto goes through the factorisation
    if ob.domain.count > Options().exhaustive_limit:
        assert check(ob).verdict is Verdict.PROVED


def test_match_declares_no_factorisation_and_auto_enumerates() -> None:
    ob = make_match(3).obligation()
    assert ob.factorisation is None
    assert check(ob).method == "exhaustive"


def test_a_wrong_spec_is_refuted_with_a_replaying_counterexample() -> None:
    """The gadget harness itself can fail: subtract checked against the add spec."""
    sub, add = make_subtract(3).obligation(), make_add(3).obligation()
    wrong = type(sub)(sub.name, sub.network, sub.domain, add.spec)
    r = exhaustive(wrong)
    assert r.verdict is Verdict.REFUTED
    assert r.counterexample is not None
    assert replay(wrong, r.counterexample.inputs) is not None


# --------------------------------------------------------------------------- symbolic form
def _expr_row(expr: sympy.Expr, where: str) -> tuple[dict[str, int], int]:
    """Coefficients and constant of an affine expression, read off with sympy alone."""
    syms = sorted(expr.free_symbols, key=lambda s: s.name)
    if syms:
        poly = sympy.Poly(expr, *syms)
        assert poly.total_degree() <= 1, f"{where}: {expr} is not affine"
    coeffs = {}
    for s in syms:
        c = sympy.diff(expr, s)
        assert c.is_Integer, f"{where}: coefficient {c} of {s} is not an integer"
        if c != 0:
            coeffs[s.name] = int(c)
    const = expr.subs({s: 0 for s in syms})
    assert const.is_Integer, f"{where}: constant {const} is not an integer"
    return coeffs, int(const)


@pytest.mark.parametrize("build", ONE_EACH)
def test_symbolic_units_compile_to_exactly_the_network_weights(build: Build) -> None:
    g = build()
    net = g.network
    stages = g.net.stages
    assert len(stages) == len(net.layers)
    prev = tuple(g.net.inputs)
    for k, (stage, layer) in enumerate(zip(stages, net.layers)):
        assert layer.inputs.names == prev
        assert layer.outputs.names == tuple(u.name for u in stage.units)
        assert layer.label == stage.label
        nonzero = 0
        for u in stage.units:
            where = f"layer {k} unit {u.name}"
            assert u.relu == layer.relu, where
            want = _expr_row(u.expr, where)
            assert layer.row(u.name) == want, where
            nonzero += len(want[0])
        assert layer.nnz == nonzero, f"layer {k}: stray entries in W"
        prev = layer.outputs.names
    assert set(g.outputs) <= set(net.outputs.names)


@pytest.mark.parametrize("build", ONE_EACH)
def test_formulas_are_printed_per_layer(build: Build) -> None:
    g = build()
    formulas = g.formulas()
    assert len(formulas) == len(g.network.layers)
    for (label, lines), layer in zip(formulas, g.network.layers):
        assert label == layer.label and label
        assert len(lines) == len(layer.outputs)
        for line, name in zip(lines, layer.outputs.names):
            assert line.startswith(f"{name} = ")
            assert ("ReLU(" in line) == layer.relu


MODULES = ("match", "read", "write", "subtract", "compare", "increment", "branch",
           "compare_branch")
MAKERS = (make_match, make_read, make_write, make_subtract, make_add, make_compare,
          make_increment, make_branch, make_compare_branch)


@pytest.mark.parametrize("module", MODULES)
def test_gadget_module_docstring_gives_units_and_why_exact(module: str) -> None:
    doc = inspect.getdoc(getattr(gadgets, module)) or ""
    assert "ReLU(" in doc, f"constructions/gadgets/{module}.py: no unit formulas"
    assert "Why it is exact" in doc, f"constructions/gadgets/{module}.py: no exactness argument"


@pytest.mark.parametrize("make", MAKERS, ids=lambda m: m.__name__)
def test_every_make_function_is_documented(make: Callable[..., Gadget]) -> None:
    assert (inspect.getdoc(make) or "").strip(), f"{make.__name__} has no docstring"


@pytest.mark.parametrize("build", ONE_EACH)
def test_every_gadget_states_why_it_is_exact(build: Build) -> None:
    g = build()
    assert g.exactness.strip()
    assert g.obligation().note == g.exactness


# --------------------------------------------------------------------------- sizes
@pytest.mark.parametrize(
    ("call", "name", "value"),
    [
        (lambda: make_subtract(0), "bits", 0),
        (lambda: make_subtract(129), "bits", 129),
        (lambda: make_add(0), "bits", 0),
        (lambda: make_compare(1), "bits", 1),
        (lambda: make_increment(0), "bits", 0),
        (lambda: make_branch(0), "bits", 0),
        (lambda: make_branch(-3), "bits", -3),
        (lambda: make_match(0), "addr", 0),
        (lambda: make_match(13), "addr", 13),
        (lambda: make_read(3, 4), "words", 3),
        (lambda: make_read(1, 4), "words", 1),
        (lambda: make_read(2, 0), "bits", 0),
        (lambda: make_write(6, 2), "words", 6),
        (lambda: make_write(2, 65), "bits", 65),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_sizes_are_refused_naming_the_parameter(call: Callable[[], Gadget], name: str,
                                                     value: int) -> None:
    with pytest.raises(ParameterError) as info:
        call()
    err = info.value
    assert isinstance(err, LoopmlpError)
    assert (err.name, err.value) == (name, value)
    assert str(err).startswith(f"{name}={value}: need ")


@pytest.mark.parametrize(("bits", "pc"), [(3, 2), (4, 3)])
def test_cmpbranch_spec_is_the_branch_on_plain_integers(bits: int, pc: int) -> None:
    """The spec, stated bit by bit, against SUBLEQ's branch written on Python integers: the
    next PC is C when R <= 0 (signed), else PC1."""
    g = make_compare_branch(bits, pc)
    rs = [f"R.bit[{i}]" for i in range(bits)]
    cs = [f"C.bit[{i}]" for i in range(pc)]
    ns = [f"PC1.bit[{i}]" for i in range(pc)]
    for r in range(1 << bits):
        signed_r = r - (1 << bits) if r >> (bits - 1) else r
        for c in range(1 << pc):
            for n in range(1 << pc):
                x = {**{b: (r >> i) & 1 for i, b in enumerate(rs)},
                     **{b: (c >> i) & 1 for i, b in enumerate(cs)},
                     **{b: (n >> i) & 1 for i, b in enumerate(ns)}}
                want = c if signed_r <= 0 else n
                got = g.spec(x)
                assert [int(got[o]) for o in g.outputs] == [(want >> i) & 1 for i in range(pc)]
