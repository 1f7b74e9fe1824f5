"""Factorised proofs: reduce a wide obligation to low-dimensional ones through affine forms.

Design notes: docs/design/verify.methods.factorised.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import sympy

from verify.domains import IntRange, product
from verify.errors import InternalError, LoopmlpError
from verify.interval import Interval, Tracker
from verify.layout import Layout
from verify.network import Layer, Network
from verify.obligation import Factorisation, Form, Obligation
from verify.result import Counterexample, Result, Verdict
from verify.symbolic import affine

from .base import Options, extra_constraints, finish, replay, see_output, spec_value, width_for
from .casesplit import casesplit
from .exhaustive import exhaustive
from .piecewise import check_1d
from .smt import smt_bv
from .solvers import decide, resolve

ENUMERATE_LIMIT = 1 << 16
BOX_TIMEOUT = 10.0  # seconds for the box check before deciding a group over real inputs


@dataclass(frozen=True)
class _Reduced:
    group: tuple[str, ...]
    forms: tuple[Form, ...]
    network: Network


def _form_value(form: Form, point: Mapping[str, Any]) -> Any:
    total: Any = form.const
    for n, c in form.coeffs.items():
        total = total + c * point[n]
    return total


def _cone(net: Network, outputs: tuple[str, ...]) -> list[set[int]]:
    """For each layer, the output rows needed to compute ``outputs`` (last layer first)."""
    need = set(net.outputs.indices(outputs))
    cones: list[set[int]] = []
    for layer in reversed(net.layers):
        cones.append(need)
        need = {c for r, c in zip(layer.rows, layer.cols) if r in need}
    cones.reverse()
    return cones


def _solve(coeffs: Mapping[str, int], cand: list[Form]) -> dict[str, Fraction] | None:
    """Exact a with sum_k a_k coeffs(F_k) == coeffs, by Gaussian elimination over Fractions."""
    for f in cand:  # the common case: one form, up to a factor
        if set(f.coeffs) == set(coeffs):
            k = next(iter(coeffs))
            ratio = Fraction(coeffs[k], f.coeffs[k])
            if all(Fraction(coeffs[n], f.coeffs[n]) == ratio for n in coeffs):
                return {f.name: ratio}
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
    """Checks ``p_u(x) == sum_k a_k F_k(x) + c_u`` for units, with sympy.

    Units that share their linear part (the thresholds of one prefix sum differ only in their
    constants) share one sympy identity on the linear part; the constants are integers and are
    compared exactly.
    """

    def __init__(self, forms: tuple[Form, ...]) -> None:
        self.forms = {f.name: f for f in forms}
        self.checked: set[tuple[Any, ...]] = set()
        self.count = 0

    def linear_ok(self, coeffs: Mapping[str, int], a: Mapping[str, int]) -> bool:
        key = (tuple(sorted(coeffs.items())), tuple(sorted(a.items())))
        if key in self.checked:
            return True
        lhs = affine(coeffs)
        rhs = sympy.Add(*[sympy.Integer(v) * affine(self.forms[k].coeffs) for k, v in a.items()])
        ok = sympy.expand(lhs - rhs) == 0
        if ok:
            self.checked.add(key)
            self.count += 1
        return bool(ok)


def _express(coeffs: Mapping[str, int], const: int, forms: tuple[Form, ...],
             where: str, ids: _Identities) -> tuple[dict[str, int], int] | str:
    """Solve p = sum_k a_k F_k + c exactly; returns ({form: a}, c) or a reason string."""
    support = set(coeffs)
    cand = [f for f in forms if support & set(f.coeffs)]
    if not cand:
        return ({}, const) if not coeffs else f"{where}: no declared form covers its inputs"
    sol = _solve(coeffs, cand)
    if sol is None:
        return f"{where}: not an affine function of the declared forms"
    if any(v.denominator != 1 for v in sol.values()):
        return f"{where}: a non-integer combination of the forms"
    a = {k: int(v) for k, v in sol.items()}
    c = const - sum(v * ids.forms[k].const for k, v in a.items())
    if not ids.linear_ok(coeffs, a):
        return f"{where}: sympy rejects the affine identity"
    return a, c


def _reduce(net: Network, group: tuple[str, ...], forms: tuple[Form, ...],
            also: set[str], ids: _Identities) -> _Reduced | str:
    cones = _cone(net, group)
    first = net.layers[0]
    rows: dict[str, tuple[dict[str, int], int]] = {}
    used: dict[str, Form] = {}
    by_row: dict[int, dict[str, int]] = {}
    in_names = first.inputs.names
    for r, c, v in zip(first.rows, first.cols, first.vals):
        if r in cones[0]:
            by_row.setdefault(r, {})[in_names[c]] = v
    for r in sorted(cones[0]):
        uname = first.outputs.names[r]
        coeffs = by_row.get(r, {})
        got = _express(coeffs, first.bias[r], forms, f"unit {uname}", ids)
        if isinstance(got, str):
            # Not a combination of the declared forms: the unit's own affine form becomes an
            # extra form of this group, so the group is still checked exactly (its box grows).
            extra = Form(f"unit:{uname}", dict(coeffs), 0)
            used[extra.name] = extra
            rows[uname] = ({f"form:{extra.name}": 1}, first.bias[r])
            continue
        a, c = got
        for fname in a:
            used[fname] = next(f for f in forms if f.name == fname)
        rows[uname] = ({f"form:{fname}": v for fname, v in a.items()}, c)
    for name in also:
        used[name] = next(f for f in forms if f.name == name)
    fl = tuple(sorted(used.values(), key=lambda f: f.name))
    cur = Layout([f"form:{f.name}" for f in fl])
    layers: list[Layer] = []
    nxt = Layout([first.outputs.names[r] for r in sorted(cones[0])])
    layers.append(Layer.from_rows(cur, nxt, rows, relu=first.relu, label=first.label))
    for k, layer in enumerate(net.layers[1:], start=1):
        prev_names = set(nxt.names)
        keep = sorted(cones[k])
        out = Layout([layer.outputs.names[r] for r in keep])
        lrows: dict[str, tuple[dict[str, int], int]] = {}
        for r in keep:
            coeffs, b = layer.row(layer.outputs.names[r])
            lrows[layer.outputs.names[r]] = ({n: v for n, v in coeffs.items()
                                              if n in prev_names}, b)
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
    bound: int | None
    try:
        ih = form_spec({k: _form_value(f, iv) for k, f in all_forms.items()})
        for o in red.group:
            see_output(tracker, ob, o, ih[o])
        bound = tracker.max_abs
    except Exception:  # noqa: BLE001 - no interval bound: ask over the integers
        bound = None
    width = width_for(bound, ob.domain.term_bound())
    ctx, v, query = _bv_inputs(ob, box, width)
    fv = {k: _form_value(f, v) for k, f in all_forms.items()}
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
    from z3.z3util import get_vars

    ctx = z3.Context()
    fv = {f.name: z3.Int(f.name, ctx) for f in forms}
    got = form_spec(fv)
    out: dict[str, set[str]] = {}
    for o in outputs:
        term = got[o]
        out[o] = {str(v) for v in get_vars(term)} if z3.is_expr(term) else set()
    return out


def _form_range(form: Form, box: Mapping[str, tuple[int, int]]) -> tuple[int, int]:
    lo = hi = form.const
    for n, c in form.coeffs.items():
        a, b = box[n]
        lo += min(c * a, c * b)
        hi += max(c * a, c * b)
    return lo, hi


def _lemma(ob: Obligation, box: Mapping[str, tuple[int, int]],
           opts: Options) -> tuple[Verdict, Any]:
    """Prove spec(x) == H(F(x)) on the domain over bit-vectors of a width that cannot wrap
    (every term of both specs and of the domain's constraints bounded), else over integers:
    PROVED with the width, REFUTED with a model of the specs (the caller replays it), or
    UNKNOWN with the solver's reason."""
    import z3

    fz = ob.factorisation
    assert fz is not None
    tracker = Tracker()
    iv = {n: Interval(lo, hi, tracker) for n, (lo, hi) in box.items()}
    bound: int | None
    try:
        ispec = ob.spec(iv)
        iform = fz.form_spec({f.name: _form_value(f, iv) for f in fz.forms})
        for o in ob.checked_outputs:
            for val in (ispec[o], iform[o]):
                see_output(tracker, ob, o, val)
        bound = tracker.max_abs
    except Exception:  # noqa: BLE001 - no interval bound: ask over the integers
        bound = None
    width = width_for(bound, ob.domain.term_bound())
    ctx, v, query = _bv_inputs(ob, box, width)
    want = ob.spec(v)
    got = fz.form_spec({f.name: _form_value(f, v) for f in fz.forms})
    query.append(z3.Or(*[_as_bv(want[o], width, ctx) != _as_bv(got[o], width, ctx)
                         for o in ob.checked_outputs]))
    d = decide(query, v, what=f"{ob.name}: spec lemma", timeout=opts.timeout,
               solvers=opts.solvers)
    if d.status == "unsat":
        return Verdict.PROVED, width if width is not None else "integers"
    if d.status == "sat" and d.model is not None:
        return Verdict.REFUTED, dict(d.model)  # a model of the specs: replayed by the caller
    return Verdict.UNKNOWN, d.describe()


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
    for gi, group in enumerate(groups):
        red = _reduce(ob.network, group, fz.forms, set().union(*(deps[o] for o in group)),
                      ids)
        if isinstance(red, str):
            return finish(ob, Verdict.UNKNOWN, "factorised", 0, total, t0,
                          f"group {group[0]}: {red}")
        forms_used.update(f.name for f in red.forms)
        outcome = _check_group(ob, red, box, opts)
        for m in outcome.methods:
            sub_methods[m] = sub_methods.get(m, 0) + 1
        if outcome.verdict is not Verdict.PROVED:
            return finish(ob, outcome.verdict, "factorised", 0, total, t0, outcome.reason,
                          outcome.counterexample)
        if opts.progress:
            opts.progress(gi + 1, len(groups) + 1)
    verdict, info = _lemma(ob, box, opts)
    if verdict is Verdict.PROVED:
        return finish(ob, Verdict.PROVED, "factorised", total, total, t0,
                      "affine identities (sympy), reduced network, spec lemma "
                      f"({'+'.join(resolve(opts.solvers, info != 'integers'))} "
                      f"{'integers' if info == 'integers' else 'bit-vectors'})",
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


def _check_group(ob: Obligation, red: _Reduced, box: Mapping[str, tuple[int, int]],
                 opts: Options) -> _Outcome:
    """Step 2 for one group: its reduced network against the form spec, or, where the box of
    form values says nothing (values no input realises), the group over the real inputs."""
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
