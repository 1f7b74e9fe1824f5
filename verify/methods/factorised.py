"""Factorised proofs: reduce a wide obligation to low-dimensional ones through affine forms.

Design notes: docs/design/verify.methods.factorised.md.
"""

from __future__ import annotations

import contextvars
import itertools
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from verify.domains import IntRange, product
from verify.errors import InternalError, LoopmlpError
from verify.interval import Interval, Tracker
from verify.layout import Layout
from verify.network import Layer, Network, narrowest_int
from verify.obligation import Factorisation, Form, Obligation
from verify.ops import python_int_batches
from verify.result import Counterexample, Result, Verdict
from verify.spec_terms import on_columns

from .base import Options, extra_constraints, finish, replay, see_output, spec_value, width_for
from .casesplit import casesplit
from .exhaustive import exhaustive
from .narrow import narrow
from .piecewise import check_1d
from .smt import smt_bv
from .solvers import Formulation, decide, decide_any

ENUMERATE_LIMIT = 1 << 16
SEARCH_SAMPLES, SEARCH_SEED = 300, 0  # the search before a group's direct query
BOX_TIMEOUT = 10.0  # seconds for the box check before deciding a group over real inputs


@dataclass(frozen=True)
class _Reduced:
    group: tuple[str, ...]
    forms: tuple[Form, ...]
    network: Network


def _form_value(form: Form, point: Mapping[str, Any]) -> Any:
    return _forms_at((form,), point)[form.name]


def _forms_at(forms: tuple[Form, ...], point: Mapping[str, Any]) -> dict[str, Any]:
    """Every form's value at ``point`` (ints, intervals or z3 terms), by form name.

    Each form is ``((c1 x1 + c2 x2) + ...) + const`` in its own coefficient order, and forms
    that begin with the same terms share those partial sums (the prefix sums of a word share
    all but their last terms): one term per distinct prefix instead of one per form and input.
    Interval runs and z3 terms go through this same function, so the bound an interval run sees
    covers every partial sum of the z3 term.
    """
    products: dict[tuple[str, int], Any] = {}
    partial: dict[tuple[int, str, int], tuple[int, Any]] = {}
    out: dict[str, Any] = {}
    for f in forms:
        key, total = -1, None
        for n, c in f.coeffs.items():
            hit = partial.get((key, n, c))
            if hit is None:
                term = products.get((n, c))
                if term is None:
                    term = products[(n, c)] = point[n] if c == 1 else c * point[n]
                total = term if total is None else total + term
                hit = partial[(key, n, c)] = (len(partial), total)
            key, total = hit
        out[f.name] = f.const if total is None else (total + f.const if f.const else total)
    return out


class _Index:
    """What the reduction reads from a network many times, computed once per check: each
    layer's output names and, per output row, its ``(column, weight)`` entries: one per
    column, repeated entries added up as the forward pass adds them (a zero sum left out)."""

    def __init__(self, net: Network) -> None:
        self.out_names = [layer.outputs.names for layer in net.layers]
        self.in_names = [layer.inputs.names for layer in net.layers]
        self.entries: list[list[list[tuple[int, int]]]] = []
        for layer in net.layers:
            sums: list[dict[int, int]] = [{} for _ in range(len(layer.outputs))]
            for r, c, v in zip(layer.rows, layer.cols, layer.vals):
                sums[r][c] = sums[r].get(c, 0) + v
            self.entries.append([[(c, v) for c, v in row.items() if v] for row in sums])

    def cone(self, net: Network, outputs: tuple[str, ...]) -> list[set[int]]:
        """For each layer, the output rows needed to compute ``outputs`` (first layer first)."""
        need = set(net.outputs.indices(outputs))
        cones: list[set[int]] = []
        for rows in reversed(self.entries):
            cones.append(need)
            need = {c for r in need for c, _ in rows[r]}
        cones.reverse()
        return cones


def _solve(coeffs: Mapping[str, int], cand: list[Form]) -> dict[str, Fraction] | None:
    """Exact a with sum_k a_k coeffs(F_k) == coeffs, by Gaussian elimination over Fractions."""
    for f in cand:  # the common case: one form, up to a factor
        if f.coeffs.keys() == coeffs.keys():
            k = next(iter(coeffs))
            p, q = coeffs[k], f.coeffs[k]  # the factor p / q, compared without division
            if all(coeffs[n] * q == f.coeffs[n] * p for n in coeffs):
                return {f.name: Fraction(p, q)}
    names = sorted(set(coeffs) | {n for f in cand for n in f.coeffs})
    rows = [[Fraction(f.coeffs.get(n, 0)) for f in cand] + [Fraction(coeffs.get(n, 0))]
            for n in names]
    ncol = len(cand)
    pivots: list[int] = []
    r = 0
    for c in range(ncol):
        piv = next((i for i in range(r, len(rows)) if rows[i][c] != 0), None)
        if piv is None:
            continue
        rows[r], rows[piv] = rows[piv], rows[r]
        rows[r] = [x / rows[r][c] for x in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][c] != 0:
                rows[i] = [x - rows[i][c] * y for x, y in zip(rows[i], rows[r])]
        pivots.append(c)
        r += 1
    if any(all(x == 0 for x in row[:-1]) and row[-1] != 0 for row in rows):
        return None
    sol = {cand[c].name: rows[i][-1] for i, c in enumerate(pivots) if rows[i][-1] != 0}
    return sol


class _Identities:
    """Checks ``p_u(x) == sum_k a_k F_k(x) + c_u`` for units, exactly.

    The linear part is compared coefficient by coefficient in Python integers: the sum of the
    forms' coefficients weighted by ``a`` must be the unit's coefficients, input by input (an
    identity of affine functions holds exactly when their coefficients agree). Units that
    share their linear part (the thresholds of one prefix sum differ only in their constants)
    share one check; the constants are integers and are compared by the caller.
    """

    def __init__(self, forms: tuple[Form, ...]) -> None:
        self.forms = {f.name: f for f in forms}
        self.by_input: dict[str, list[int]] = {}
        for k, f in enumerate(forms):
            for n in f.coeffs:
                self.by_input.setdefault(n, []).append(k)
        self.order = forms
        self.checked: set[tuple[Any, ...]] = set()
        self.solved: dict[tuple[Any, ...], dict[str, Fraction] | None] = {}
        self.count = 0

    def touching(self, support: Any) -> list[Form]:
        """The forms that read some input of ``support``, in declaration order."""
        ks = sorted({k for n in support for k in self.by_input.get(n, ())})
        return [self.order[k] for k in ks]

    def linear_ok(self, coeffs: Mapping[str, int], a: Mapping[str, int]) -> bool:
        key = (tuple(sorted(coeffs.items())), tuple(sorted(a.items())))
        if key in self.checked:
            return True
        total: dict[str, int] = {}
        for k, v in a.items():
            for n, c in self.forms[k].coeffs.items():
                total[n] = total.get(n, 0) + int(v) * int(c)
        ok = ({n: c for n, c in total.items() if c}
              == {n: int(c) for n, c in coeffs.items() if c})
        if ok:
            self.checked.add(key)
            self.count += 1
        return ok


def _express(coeffs: Mapping[str, int], const: int, where: str,
             ids: _Identities) -> tuple[dict[str, int], int] | str:
    """Solve p = sum_k a_k F_k + c exactly; returns ({form: a}, c) or a reason string."""
    cand = ids.touching(coeffs)
    if not cand:
        return ({}, const) if not coeffs else f"{where}: no declared form covers its inputs"
    key = tuple(coeffs.items())  # units of one prefix sum share it: solved once
    if key not in ids.solved:
        ids.solved[key] = _solve(coeffs, cand)
    sol = ids.solved[key]
    if sol is None:
        return f"{where}: not an affine function of the declared forms"
    if any(v.denominator != 1 for v in sol.values()):
        return f"{where}: a non-integer combination of the forms"
    a = {k: int(v) for k, v in sol.items()}
    c = const - sum(v * ids.forms[k].const for k, v in a.items())
    if not ids.linear_ok(coeffs, a):
        return f"{where}: the affine identity does not hold coefficient by coefficient"
    return a, c


def _reduce(net: Network, index: _Index, group: tuple[str, ...], also: set[str],
            ids: _Identities) -> _Reduced:
    """The group's cone of ``net`` with its first layer rewritten over the declared forms
    (a unit outside their span gets its own form ``unit:NAME``)."""
    cones = index.cone(net, group)
    first = net.layers[0]
    in_names, out_names = index.in_names[0], index.out_names[0]
    rows: dict[str, tuple[dict[str, int], int]] = {}
    used: dict[str, Form] = {}
    for r in sorted(cones[0]):
        uname = out_names[r]
        coeffs = {in_names[c]: v for c, v in index.entries[0][r]}
        got = _express(coeffs, first.bias[r], f"unit {uname}", ids)
        if isinstance(got, str):
            # Not a combination of the declared forms: the unit's own affine form becomes an
            # extra form of this group, so the group is still checked exactly (its box grows).
            # Its name is none of the declared forms' (one of those may be a dependency of the
            # group) nor another unit's: a form of the same name would take the unit's place.
            fname = f"unit:{uname}"
            while fname in ids.forms or fname in used:
                fname += "'"
            extra = Form(fname, dict(coeffs), 0)
            used[extra.name] = extra
            rows[uname] = ({f"form:{extra.name}": 1}, first.bias[r])
            continue
        a, c = got
        for fname in a:
            used[fname] = ids.forms[fname]
        rows[uname] = ({f"form:{fname}": v for fname, v in a.items()}, c)
    for name in also:
        used[name] = ids.forms[name]
    fl = tuple(sorted(used.values(), key=lambda f: f.name))
    cur = Layout([f"form:{f.name}" for f in fl])
    layers: list[Layer] = []
    nxt = Layout([out_names[r] for r in sorted(cones[0])])
    layers.append(Layer.from_rows(cur, nxt, rows, relu=first.relu, label=first.label))
    for k, layer in enumerate(net.layers[1:], start=1):
        prev_names = set(nxt.names)
        keep = sorted(cones[k])
        names, ins = index.out_names[k], index.in_names[k]
        out = Layout([names[r] for r in keep])
        lrows: dict[str, tuple[dict[str, int], int]] = {}
        for r in keep:
            lrows[names[r]] = ({ins[c]: v for c, v in index.entries[k][r]
                                if ins[c] in prev_names}, layer.bias[r])
        layers.append(Layer.from_rows(nxt, out, lrows, relu=layer.relu, label=layer.label))
        nxt = out
    return _Reduced(group, fl, Network(tuple(layers), f"{net.name}|{','.join(group)[:40]}"))


def _bv_inputs(ob: Obligation, box: Mapping[str, tuple[int, int]],
               width: int | None) -> tuple[Any, dict[str, Any], list[Any]]:
    """A fresh z3 context, one bit-vector per input (an integer when ``width`` is None), the
    constraints putting them in the domain."""
    import z3

    ctx = z3.Context()
    if width is None:
        iv = {n: z3.Int(n, ctx) for n in ob.network.inputs}
        return ctx, iv, list(ob.domain.z3_constraints(iv))
    v = {n: z3.BitVec(n, width, ctx) for n in ob.network.inputs}
    query: list[Any] = []
    for n, (lo, hi) in box.items():
        query += [v[n] >= lo, v[n] <= hi]
    query += extra_constraints(ob.domain, v)
    return ctx, v, query


def _direct_group(ob: Obligation, red: _Reduced, form_spec: Any,
                  box: Mapping[str, tuple[int, int]], opts: Options) -> tuple[Verdict, Any]:
    """Decide G(F(x)) == H(F(x)) over every input x of the domain (bit-vectors of a width that
    bounds the forms, the reduced network, H and the domain's constraints; else integers)."""
    import z3

    tracker = Tracker()
    iv = {n: Interval(lo, hi, tracker) for n, (lo, hi) in box.items()}
    fz = ob.factorisation
    assert fz is not None
    all_forms = {f.name: f for f in fz.forms}
    all_forms.update({f.name: f for f in red.forms})
    ranges = [_form_range(f, box) for f in red.forms]
    plan = red.network.plan(ranges)
    tracker.see(plan.max_partial_sum)
    forms = tuple(all_forms.values())
    bound: int | None
    try:
        ih = form_spec(_forms_at(forms, iv))
        for o in red.group:
            see_output(tracker, ob, o, ih[o])
        bound = tracker.max_abs
    except Exception:  # noqa: BLE001 - no interval bound: ask over the integers
        bound = None
    width = width_for(bound, ob.domain.term_bound())
    ctx, v, query = _bv_inputs(ob, box, width)
    fv = _forms_at(forms, v)
    g = red.network.forward_z3({f"form:{f.name}": fv[f.name] for f in red.forms})
    h = form_spec(fv)
    query.append(z3.Or(*[g[o] != _as_bv(h[o], width, ctx) for o in red.group]))
    d = decide(query, v, what=f"{ob.name}: group {red.group[0]} over the inputs",
               timeout=opts.timeout, solvers=opts.solvers)
    if d.status == "unsat":
        return Verdict.PROVED, None
    if d.status == "sat" and d.model is not None:
        cex = replay(ob, d.model)
        if cex is not None:
            return Verdict.REFUTED, cex
        return Verdict.UNKNOWN, f"the form spec differs from the spec at {dict(d.model)}"
    return Verdict.UNKNOWN, d.describe()


def _preimage(ob: Obligation, forms: tuple[Form, ...], values: Mapping[str, int],
              opts: Options) -> Mapping[str, int] | None:
    """An input of the domain on which the forms take ``values`` (the solver), or None."""
    import z3

    ctx = z3.Context()
    v = {n: z3.Int(n, ctx) for n in ob.network.inputs}
    query = list(ob.domain.z3_constraints(v))
    query += [_form_value(f, v) == int(values[f"form:{f.name}"]) for f in forms]
    d = decide(query, v, what=f"{ob.name}: an input with the forms at {dict(values)}",
               timeout=opts.timeout, solvers=opts.solvers)
    return d.model if d.status == "sat" else None


class _Defaulted(Mapping[str, Any]):
    """Form values by form name: the group's own from ``vals``, 0 for every other form."""

    def __init__(self, names: Mapping[str, str], vals: Mapping[str, Any]) -> None:
        self._vals = {form: vals[key] for key, form in names.items()}

    def __getitem__(self, k: str) -> Any:
        return self._vals.get(k, 0)

    def __iter__(self) -> Any:
        return iter(self._vals)

    def __len__(self) -> int:
        return len(self._vals)


def _spec_dependencies(form_spec: Any, forms: tuple[Form, ...],
                       outputs: tuple[str, ...]) -> dict[str, set[str]]:
    """For each output, the forms its z3 term mentions: the only ones it can depend on."""
    import z3

    ctx = z3.Context()
    fv = {f.name: z3.Int(f.name, ctx) for f in forms}
    names = set(fv)
    got = form_spec(fv)
    below: dict[int, frozenset[str]] = {}  # the forms under each term, by term id

    def mentions(term: Any) -> frozenset[str]:
        stack = [term]
        while stack:  # post-order, iteratively: a wide word's terms are deep
            e = stack[-1]
            if e.get_id() in below:
                stack.pop()
                continue
            kids = [e.arg(i) for i in range(e.num_args())] if z3.is_app(e) else []
            todo = [k for k in kids if k.get_id() not in below]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            found: set[str] = set()
            if z3.is_const(e) and e.decl().kind() == z3.Z3_OP_UNINTERPRETED:
                found.add(e.decl().name())
            for k in kids:
                found |= below[k.get_id()]
            below[e.get_id()] = frozenset(found)
        return below[term.get_id()]

    out: dict[str, set[str]] = {}
    for o in outputs:
        term = got[o]
        out[o] = set(mentions(term)) & names if z3.is_expr(term) else set()
    return out


def _form_range(form: Form, box: Mapping[str, tuple[int, int]]) -> tuple[int, int]:
    lo = hi = form.const
    for n, c in form.coeffs.items():
        a, b = box[n]
        lo += min(c * a, c * b)
        hi += max(c * a, c * b)
    return lo, hi


def _lemma(ob: Obligation, box: Mapping[str, tuple[int, int]], opts: Options,
           contexts: list[Any] | None = None) -> tuple[Verdict, Any, str]:
    """Prove spec(x) == H(F(x)) on the domain over bit-vectors of a width that cannot wrap
    (every term of both specs and of the domain's constraints bounded), else over integers:
    PROVED with the width (or ``"integers"``), REFUTED with a model of the specs (the caller
    replays it), or UNKNOWN with the solver's reason; last, which solver decided which
    statement. ``contexts`` receives the z3 context of each statement as it is made.

    Where both specs are linear (sums, constant multiples, comparisons, if-then-else: no bit
    reads), the lemma is also stated over the integers, and each solver gets the statement it
    decides best (:func:`~verify.methods.solvers.decide_any`): z3 proves such a lemma over
    the integers in milliseconds where bit-blasting a 64-term sum takes seconds.
    """

    fz = ob.factorisation
    assert fz is not None
    tracker = Tracker()
    iv = {n: Interval(lo, hi, tracker) for n, (lo, hi) in box.items()}
    bound: int | None
    try:
        ispec = ob.spec(iv)
        iform = fz.form_spec(_forms_at(fz.forms, iv))
        for o in ob.checked_outputs:
            for val in (ispec[o], iform[o]):
                see_output(tracker, ob, o, val)
        bound = tracker.max_abs
    except Exception:  # noqa: BLE001 - no interval bound: ask over the integers
        bound = None
    width = width_for(bound, ob.domain.term_bound())
    statements = [_lemma_statement(ob, box, width)]
    if width is not None and _linear(statements[0].assertions):
        ints = _lemma_statement(ob, box, None)
        if _linear(ints.assertions):
            statements.append(ints)
    if width is not None:
        # Each compared bit computed at the width it needs (same models: verify.methods.narrow).
        bv = statements[0]
        statements[0] = Formulation(narrow(bv.assertions), bv.variables, bv.assertions)
    if contexts is not None:  # each statement's context, so the caller can interrupt z3
        contexts.extend(st.assertions[0].ctx for st in statements)
    d = decide_any(statements, what=f"{ob.name}: spec lemma", timeout=opts.timeout,
                   solvers=opts.solvers)
    theories = {a.solver: "bit-vectors" if a.bit_vectors else "integers" for a in d.answers}
    if len(set(theories.values())) == 1:  # "z3+bitwuzla bit-vectors"
        used = "+".join(theories) + " " + next(iter(theories.values()))
    else:  # "z3 integers, cvc5 bit-vectors"
        used = ", ".join(f"{solver} {theory}" for solver, theory in theories.items())
    if d.status == "unsat":
        return Verdict.PROVED, width if width is not None else "integers", used
    if d.status == "sat" and d.model is not None:
        return Verdict.REFUTED, dict(d.model), used  # a model of the specs: replayed
    return Verdict.UNKNOWN, d.describe(), used


def _lemma_statement(ob: Obligation, box: Mapping[str, tuple[int, int]],
                     width: int | None) -> Formulation:
    """The negated lemma ``some output of spec(x) differs from H(F(x))`` on the domain, over
    bit-vectors of ``width`` bits (integers when None)."""
    import z3

    fz = ob.factorisation
    assert fz is not None
    ctx, v, query = _bv_inputs(ob, box, width)
    want = ob.spec(v)
    got = fz.form_spec(_forms_at(fz.forms, v))
    query.append(z3.Or(*[_as_bv(want[o], width, ctx) != _as_bv(got[o], width, ctx)
                         for o in ob.checked_outputs]))
    return Formulation(query, v)


_LINEAR_OPS: frozenset[int] = frozenset()


def _linear(assertions: Sequence[Any]) -> bool:
    """Whether the terms use only linear operations (sums, differences, products with a
    constant, comparisons, if-then-else, the Boolean connectives): then the same statement
    over the integers is linear arithmetic, which z3 decides without bit-blasting."""
    import z3

    global _LINEAR_OPS
    if not _LINEAR_OPS:
        _LINEAR_OPS = frozenset((
            z3.Z3_OP_TRUE, z3.Z3_OP_FALSE, z3.Z3_OP_EQ, z3.Z3_OP_DISTINCT, z3.Z3_OP_ITE,
            z3.Z3_OP_AND, z3.Z3_OP_OR, z3.Z3_OP_NOT, z3.Z3_OP_IMPLIES, z3.Z3_OP_XOR,
            z3.Z3_OP_UNINTERPRETED, z3.Z3_OP_ANUM, z3.Z3_OP_BNUM,
            z3.Z3_OP_ADD, z3.Z3_OP_SUB, z3.Z3_OP_UMINUS, z3.Z3_OP_MUL,
            z3.Z3_OP_LE, z3.Z3_OP_GE, z3.Z3_OP_LT, z3.Z3_OP_GT,
            z3.Z3_OP_BADD, z3.Z3_OP_BSUB, z3.Z3_OP_BNEG, z3.Z3_OP_BMUL,
            z3.Z3_OP_SLEQ, z3.Z3_OP_SGEQ, z3.Z3_OP_SLT, z3.Z3_OP_SGT))
    seen: set[int] = set()
    stack = list(assertions)
    while stack:
        e = stack.pop()
        if e.get_id() in seen:
            continue
        seen.add(e.get_id())
        if not z3.is_app(e):
            return False
        kind = e.decl().kind()
        if kind not in _LINEAR_OPS:
            return False
        kids = [e.arg(i) for i in range(e.num_args())]
        if kind in (z3.Z3_OP_MUL, z3.Z3_OP_BMUL) and sum(
                not (z3.is_int_value(k) or z3.is_bv_value(k)) for k in kids) > 1:
            return False
        stack.extend(kids)
    return True


def _as_bv(x: Any, width: int | None, ctx: Any) -> Any:
    """A plain integer as a z3 constant of the query's sort (an integer when ``width`` is
    None)."""
    import z3

    if z3.is_expr(x):
        return x
    return z3.IntVal(int(x), ctx) if width is None else z3.BitVecVal(int(x), width, ctx)


def _reduced_check(sub: Obligation, red: _Reduced, ranges: list[tuple[int, int]],
                   opts: Options) -> Result:
    """Step 2 for one group: the reduced network against the form spec on the box of form
    values (enumerated, by affine pieces, or by the solver)."""
    t0 = time.perf_counter()
    if any(f.name.startswith("unit:") for f in red.forms):
        # The factorisation does not fit this group: it is decided over real inputs.
        return finish(sub, Verdict.UNKNOWN, "direct", 0, sub.domain.count, t0,
                     "a unit outside the declared forms")
    r = None
    if sub.domain.count <= ENUMERATE_LIMIT:
        r = exhaustive(sub, Options(chunk=opts.chunk))
    elif len(red.forms) == 1:
        r = _piecewise(sub, ranges[0])
    if r is None:
        r = smt_bv(sub, replace(opts, method="smt", timeout=min(opts.timeout, BOX_TIMEOUT),
                                progress=None))
    return r


def _constant_group(ob: Obligation, red: _Reduced, want: Mapping[str, Any],
                    opts: Options) -> tuple[Verdict, str, Any] | None:
    """Compare a constant group's network outputs with the form spec's constants: None when
    equal, else the verdict (refuted at a point of the domain, which replays; unknown when no
    point shows the difference through the spec itself)."""
    got = red.network.forward_exact({})
    if all(int(got[o]) == spec_value(ob, o, want[o]) for o in red.group):
        return None
    point = _preimage(ob, (), {}, opts)  # any member: the group's outputs are constant
    cex = replay(ob, point) if point is not None else None
    if cex is not None:
        return Verdict.REFUTED, "counterexample found", cex
    return (Verdict.UNKNOWN, f"group {red.group[0]}: the network's constant outputs "
            f"{ {o: int(got[o]) for o in red.group} } differ from the form spec's", None)


def _piecewise(sub: Obligation, rng: tuple[int, int]) -> Result | None:
    """One-form groups: exact piecewise-affine comparison (None when it cannot decide)."""
    t0 = time.perf_counter()
    verdict, witness = check_1d(sub.network, rng[0], rng[1], sub.checked_outputs, sub.spec)
    total = rng[1] - rng[0] + 1
    if verdict is Verdict.PROVED:
        return finish(sub, Verdict.PROVED, "piecewise", total, total, t0, "every affine piece")
    if verdict is Verdict.REFUTED and witness is not None:
        name = sub.network.inputs.names[0]
        cex = replay(sub, {name: witness})
        if cex is None:
            raise InternalError(f"{sub.name}: piecewise witness {witness} does not replay")
        return finish(sub, Verdict.REFUTED, "piecewise", 0, total, t0, "witness", cex)
    return None


def factorised(ob: Obligation, opts: Options = Options()) -> Result:
    """Check an obligation through its declared factorisation (see the module docstring).

    When the factorisation does not fit the network (a unit outside the span of the forms, a
    reduced-network difference at form values no input realises), the network is not what the
    factorisation describes: the engine then asks the solver directly, over bit-vectors, for a real
    counterexample, and reports UNKNOWN only if that too is undecided.
    """
    r = _factorised(ob, opts)
    if r.verdict is not Verdict.UNKNOWN or ob.factorisation is None:
        return r
    direct = smt_bv(ob, opts)
    if direct.verdict is Verdict.UNKNOWN:
        return r
    return Result(ob.name, direct.verdict, direct.method, direct.checked, direct.total,
                  r.seconds + direct.seconds,
                  f"{direct.reason} (the factorisation did not apply: {r.reason})",
                  direct.counterexample, direct.details)


def _factorised(ob: Obligation, opts: Options) -> Result:
    t0 = time.perf_counter()
    fz = ob.factorisation
    total = ob.domain.count
    if fz is None:
        return finish(ob, Verdict.UNKNOWN, "factorised", 0, total, t0, "no factorisation declared")
    if fz.split and ob.domain.count > fz.split_from:
        return casesplit(ob, fz.split, opts)
    box = dict(zip(ob.domain.names, ob.domain.box()))
    groups = tuple(fz.groups)
    covered = {o for g in groups for o in g}
    groups += tuple((o,) for o in ob.checked_outputs if o not in covered)
    deps = _spec_dependencies(fz.form_spec, fz.forms,
                              tuple(dict.fromkeys(o for g in groups for o in g)))
    ids = _Identities(fz.forms)
    sub_methods: dict[str, int] = {}
    forms_used: set[str] = set()
    # The spec lemma is about the specs alone: its solver runs on a thread of its own while
    # the groups are checked here (the solver does not hold the interpreter's lock), in the
    # same context, so its query is recorded like every other. Both are always finished.
    contexts: list[Any] = []  # the lemma's z3 contexts, to stop its solver early
    with ThreadPoolExecutor(1) as pool:
        lemma = pool.submit(contextvars.copy_context().run, _lemma, ob, box, opts, contexts)
        outcome = _check_groups(ob, groups, deps, ids, box, opts, sub_methods, forms_used)
        if outcome is not None:
            # The verdict is this group's: the lemma is not needed, so its solver is stopped
            # and whatever the stopped thread ends with (an unknown, z3's "canceled") ignored.
            for ctx in list(contexts):
                ctx.interrupt()
            try:
                lemma.result()
            except Exception:  # noqa: BLE001, S110 - see above
                pass
            return finish(ob, outcome.verdict, "factorised", 0, total, t0, outcome.reason,
                          outcome.counterexample)
        verdict, info, used = lemma.result()
    if verdict is Verdict.PROVED:
        return finish(ob, Verdict.PROVED, "factorised", total, total, t0,
                      f"affine identities (exact integers), reduced network, spec lemma ({used})",
                      forms=sorted(forms_used), groups=len(groups), subchecks=sub_methods,
                      identities=ids.count, bv_width=info)
    if verdict is Verdict.REFUTED:
        cex = replay(ob, info)
        if cex is not None:
            return finish(ob, Verdict.REFUTED, "factorised", 0, total, t0,
                          "counterexample found", cex)
        return finish(ob, Verdict.UNKNOWN, "factorised", 0, total, t0,
                      f"the declared form spec differs from the spec at {info}")
    return finish(ob, Verdict.UNKNOWN, "factorised", 0, total, t0, f"spec lemma: {info}")


SMALL_BOX = 1 << 10  # groups with at most this many form values are enumerated together
SMALL_ROWS = 1 << 16  # points in one batch of small groups


def _enumerate_small(ob: Obligation, reds: list[_Reduced],
                     box: Mapping[str, tuple[int, int]]) -> set[int]:
    """The groups (by position) proved by enumerating their boxes of form values together.

    Every group whose forms take at most :data:`SMALL_BOX` values (and have no unit of their
    own) is enumerated: its reduced network on every point of its box, exactly (Python
    integers), and the form spec on all those points of all such groups in one batch, each
    row holding its group's form values and 0 for every other form (what the group's own
    check gives the forms it does not read). A group is proved only where every point agrees
    on every one of its outputs; any other group, and every group when the batched form spec
    fails, is left to the group's own check (which finds and replays the counterexample).
    """
    fz = ob.factorisation
    assert fz is not None
    picked: list[tuple[int, list[tuple[int, ...]]]] = []
    rows = 0
    for gi, red in enumerate(reds):
        if not red.forms or any(f.name.startswith("unit:") for f in red.forms):
            continue
        ranges = [_form_range(f, box) for f in red.forms]
        size = 1
        for lo, hi in ranges:
            size *= hi - lo + 1
        if size > SMALL_BOX or rows + size > SMALL_ROWS:
            continue
        picked.append((gi, list(itertools.product(*[range(lo, hi + 1) for lo, hi in ranges]))))
        rows += size
    if not picked:
        return set()
    # The form spec runs on integer columns of the narrowest type that holds every value an
    # interval run of it sees over the hull of every row (each form between its range and 0),
    # or on Python ints beyond int64: the rule the exhaustive engine follows. No bound (the
    # spec does not run on intervals): per group.
    hull: dict[str, tuple[int, int]] = {f.name: (0, 0) for f in fz.forms}
    for gi, _ in picked:
        for f in reds[gi].forms:
            lo, hi = _form_range(f, box)
            a, b = hull[f.name]
            hull[f.name] = (min(a, lo), max(b, hi))
    tracker = Tracker()
    try:
        iwant = fz.form_spec({n: Interval(lo, hi, tracker) for n, (lo, hi) in hull.items()})
        for gi, _ in picked:
            for o in reds[gi].group:
                see_output(tracker, ob, o, iwant[o])
    except LoopmlpError:
        raise
    except Exception:  # noqa: BLE001 - no interval bound: per group
        return set()
    name = narrowest_int(max([tracker.max_abs] + [max(-lo, hi) for lo, hi in hull.values()]))
    kind: Any = object if name is None else np.dtype(name)  # beyond int64: Python ints
    cols = {n: np.zeros(rows, dtype=kind) for n in hull}
    nets: list[np.ndarray] = []
    start = 0
    for gi, pts in picked:
        red = reds[gi]
        arr = np.array(pts, dtype=object).reshape(len(pts), len(red.forms))
        for k, f in enumerate(red.forms):
            cols[f.name][start:start + len(pts)] = arr[:, k].astype(kind)
        nets.append(red.network.forward(arr, "python"))
        start += len(pts)
    for col in cols.values():
        col.flags.writeable = False  # the spec cannot change the rows
    try:
        with python_int_batches() if kind is object else nullcontext():
            want = on_columns(fz.form_spec, cols)
    except LoopmlpError:
        raise
    except Exception:  # noqa: BLE001 - a form spec that does not run on batches: per group
        return set()
    proved: set[int] = set()
    if any(isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape != (rows,)
           for v in want.values()):
        return set()  # a value of another shape: per group, which refuses or decides it
    start = 0
    for (gi, pts), net in zip(picked, nets):
        red = reds[gi]
        stop = start + len(pts)
        outs = red.network.outputs.names
        try:
            ok = all(_agrees(ob, o, want[o], net[:, outs.index(o)], start, stop)
                     for o in red.group)
        except LoopmlpError:
            ok = False  # the group's own check reports it
        if ok:
            proved.add(gi)
        start = stop
    return proved


def _agrees(ob: Obligation, output: str, want: Any, got: np.ndarray, start: int,
            stop: int) -> bool:
    """Whether the form spec's values of one output on rows ``start:stop`` of the batch (an
    array, or one value for every row) equal the network's, exactly."""
    if isinstance(want, np.ndarray) and want.ndim == 1:
        values = [spec_value(ob, output, w) for w in want[start:stop]]
    else:
        values = [spec_value(ob, output, want)] * (stop - start)
    return all(int(g) == w for g, w in zip(got, values))


def _check_groups(ob: Obligation, groups: tuple[tuple[str, ...], ...],
                  deps: Mapping[str, set[str]], ids: _Identities,
                  box: Mapping[str, tuple[int, int]], opts: Options,
                  sub_methods: dict[str, int], forms_used: set[str]) -> _Outcome | None:
    """Steps 1 and 2 for every group, in order: None when each is proved, else the first
    group's outcome that is not (``sub_methods`` and ``forms_used`` say what was used)."""
    index = _Index(ob.network)
    reds = [_reduce(ob.network, index, group, set().union(*(deps[o] for o in group)), ids)
            for group in groups]
    enumerated = _enumerate_small(ob, reds, box)
    for gi, red in enumerate(reds):
        forms_used.update(f.name for f in red.forms)
        outcome = (_Outcome(Verdict.PROVED, methods=("enumerated",)) if gi in enumerated
                   else _check_group(ob, red, box, opts))
        for m in outcome.methods:
            sub_methods[m] = sub_methods.get(m, 0) + 1
        if outcome.verdict is not Verdict.PROVED:
            return outcome
        if opts.progress:
            opts.progress(gi + 1, len(groups) + 1)
    return None


@dataclass(frozen=True)
class _Outcome:
    """What the checks of one group established, and the methods they used."""

    verdict: Verdict
    reason: str = ""
    counterexample: Counterexample | None = None
    methods: tuple[str, ...] = ()


def _group_spec(fz: Factorisation,
                red: _Reduced) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """The form spec of one group, over its own forms' values."""

    def hspec(vals: Mapping[str, Any]) -> dict[str, Any]:
        # Forms outside the group's dependencies cannot change its outputs (their z3 terms
        # do not mention them), so any value will do for them.
        got = fz.form_spec(_Defaulted({f"form:{f.name}": f.name for f in red.forms}, vals))
        return {o: got[o] for o in red.group}

    return hspec


def _search(ob: Obligation, red: _Reduced, box: Mapping[str, tuple[int, int]],
            samples: int = SEARCH_SAMPLES) -> Counterexample | None:
    """A counterexample for one group, by a seeded search over random members of the domain:
    the group's reduced network on the forms' values (the network's own outputs there, by
    step 1) against the spec, each difference replayed through the whole network before it is
    returned. None when the search finds none (which proves nothing)."""
    rng = random.Random(SEARCH_SEED)
    names = list(box)
    net_in = red.network.inputs.names
    for _ in range(samples):
        point = {n: rng.randint(*box[n]) for n in names}
        if not ob.domain.contains(point):
            continue
        fv = _forms_at(red.forms, point)
        got = red.network.forward_exact({f"form:{f.name}": fv[f.name] for f in red.forms}
                                        if net_in else {})
        want = ob.spec(point)
        if any(int(got[o]) != spec_value(ob, o, want[o]) for o in red.group):
            cex = replay(ob, point)
            if cex is not None:
                return cex
    return None


def _check_group(ob: Obligation, red: _Reduced, box: Mapping[str, tuple[int, int]],
                 opts: Options) -> _Outcome:
    """Step 2 for one group: its reduced network against the form spec, or, where the box of
    form values says nothing (values no input realises), the group over the real inputs
    (after a short search for a counterexample)."""
    fz = ob.factorisation
    assert fz is not None
    hspec = _group_spec(fz, red)
    if not red.forms:
        # No form reaches the group: the network's outputs and the form spec's are
        # constants, compared here exactly (the lemma ties the form spec to the spec).
        try:
            want = hspec({})
        except LoopmlpError:
            raise
        except Exception as e:  # noqa: BLE001 - a form spec undefined at the defaults
            return _Outcome(Verdict.UNKNOWN, f"group {red.group[0]}: the form spec raised "
                            f"{type(e).__name__}")
        const = _constant_group(ob, red, want, opts)
        if const is not None:
            return _Outcome(*const)
        return _Outcome(Verdict.PROVED, methods=("constant",))
    ranges = [_form_range(f, box) for f in red.forms]
    dom = product(*[IntRange(f"form:{f.name}", lo, hi)
                    for f, (lo, hi) in zip(red.forms, ranges)])
    sub = Obligation(f"{ob.name}|{red.group[0]}", red.network, dom, hspec, outputs=red.group)
    try:
        r = _reduced_check(sub, red, ranges, opts)
    except LoopmlpError:
        raise
    except Exception as e:  # noqa: BLE001 - the form spec is partial on the form box
        # The box of form values holds values no input realises, where a form spec may be
        # undefined: decide the group over the real inputs instead (below).
        r = finish(sub, Verdict.UNKNOWN, "reduced", 0, dom.count, time.perf_counter(),
                   f"the form spec raised {type(e).__name__} on the box of form values")
    if r.verdict is Verdict.PROVED:
        return _Outcome(Verdict.PROVED, methods=(r.method,))
    if r.counterexample is not None:
        point = _preimage(ob, red.forms, r.counterexample.inputs, opts)
        real = replay(ob, point) if point is not None else None
        if real is not None:
            return _Outcome(Verdict.REFUTED, "counterexample found", real, (r.method,))
    # A short search first: a wrong weight shows on many inputs, and a counterexample found
    # so (replayed) ends the check where the solver below may need its whole timeout. A search
    # never proves: when it finds nothing, the solver decides.
    found = _search(ob, red, box)
    if found is not None:
        return _Outcome(Verdict.REFUTED, "counterexample found (replayed search)", found,
                        (r.method, "search"))
    # The box of form values is a superset of what inputs realise: decide the group over the
    # real inputs instead (the solver, the reduced network on the forms of x).
    verdict, info = _direct_group(ob, red, fz.form_spec, box, opts)
    methods = (r.method, "direct")
    if verdict is Verdict.REFUTED:
        return _Outcome(Verdict.REFUTED, "counterexample found", info, methods)
    if verdict is not Verdict.PROVED:
        return _Outcome(Verdict.UNKNOWN, f"reduced network for {red.group[0]}: {r.reason}; "
                        f"{info}", None, methods)
    return _Outcome(Verdict.PROVED, methods=methods)
