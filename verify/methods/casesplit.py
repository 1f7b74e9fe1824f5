"""Case splits with interval pruning, and the choice between them and the decoder method.

Some blocks are wide but simple once a few *control* inputs are fixed: with the address of a
read fixed, every match unit of another address has a pre-activation <= -1 over the whole
remaining domain and is exactly 0. The engine enumerates every assignment of the control inputs
(nothing is sampled), substitutes it into the first layer, drops every unit whose exact interval
bound over the remaining box is <= 0 (it outputs 0 for every remaining input), and proves the
small network that is left against the spec with the control inputs fixed (z3 over bit-vectors
of a width that cannot wrap, or enumeration when the rest is small).

With many cases (:data:`DECODER_FROM` or more) the split is first tried as a decoder
(:mod:`verify.methods.decoder`): one lemma for every address instead of one case each; where the
decoder does not apply, the cases run as before. ``how="cases"`` asks for the cases by name.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from verify.domains import Bits, IntRange, Product, product
from verify.errors import ParameterError
from verify.layout import Layout
from verify.network import Layer, Network
from verify.obligation import Obligation
from verify.result import Result, Verdict

from .base import Options, finish, replay
from .decoder import decoder
from .exhaustive import exhaustive
from .smt import smt_bv

ENUMERATE_LIMIT = 1 << 12
DECODER_FROM = 16
"""Splits with this many cases or more go through the decoder first (``how="auto"``)."""
HOW = ("auto", "cases", "decoder")


def _factors(domain: Any) -> list[Any]:
    return list(domain.factors) if isinstance(domain, Product) else [domain]


def _rest_domain(domain: Any, control: set[str]) -> Any:
    parts: list[Any] = []
    for f in _factors(domain):
        if isinstance(f, IntRange):
            if f.name not in control:
                parts.append(f)
        elif isinstance(f, Bits):
            keep = tuple(n for n in f.names if n not in control)
            if keep:
                parts.append(Bits(keep))
        else:
            raise ParameterError("domain", f.describe(), "bit and range factors for a case split")
    return product(*parts) if parts else None


def _reduced(net: Network, values: Mapping[str, int], rest: tuple[str, ...],
             box: Mapping[str, tuple[int, int]]) -> tuple[Network, int]:
    """The network with the control inputs fixed and provably dead first-layer units dropped."""
    first = net.layers[0]
    ins = first.inputs.names
    n_out = len(first.outputs)
    bias = np.array(first.bias, dtype=object)
    lo = np.array(first.bias, dtype=object)
    hi = np.array(first.bias, dtype=object)
    keep_entries: list[tuple[int, str, int]] = []
    for r, c, v in zip(first.rows, first.cols, first.vals):
        name = ins[c]
        if name in values:
            bias[r] += v * values[name]
            lo[r] += v * values[name]
            hi[r] += v * values[name]
        else:
            a, b = box[name]
            lo[r] += min(v * a, v * b)
            hi[r] += max(v * a, v * b)
            keep_entries.append((r, name, v))
    # A unit whose bound is <= 0 outputs 0 and is dropped, unless it is an output of the
    # network itself (a one-layer network): those stay, to be compared with the spec.
    prune = first.relu and len(net.layers) > 1
    alive = [r for r in range(n_out) if not (prune and hi[r] <= 0)]
    dead = n_out - len(alive)
    out_names = [first.outputs.names[r] for r in alive]
    new_in = Layout(rest)
    new_out = Layout(out_names)
    pos = {r: i for i, r in enumerate(alive)}
    entries = [(pos[r], new_in.index(n), v) for r, n, v in keep_entries if r in pos]
    layers = [Layer.from_entries(new_in, new_out, entries, [bias[r] for r in alive],
                                 relu=first.relu, label=first.label)]
    prev = new_out
    for layer in net.layers[1:]:
        cols = {name: i for i, name in enumerate(layer.inputs.names)}
        keep_cols = {cols[n]: prev.index(n) for n in prev.names}
        ents = [(r, keep_cols[c], v) for r, c, v in zip(layer.rows, layer.cols, layer.vals)
                if c in keep_cols]
        layers.append(Layer.from_entries(prev, layer.outputs, ents, layer.bias,
                                         relu=layer.relu, label=layer.label))
        prev = layer.outputs
    return Network(tuple(layers), net.name + "|case"), dead


def case_check(ob: Obligation, values: Mapping[str, int], opts: Options = Options(),
               timeout: float | None = None) -> tuple[Result, int]:
    """One case: ``ob`` with the control inputs fixed to ``values``, dead units pruned, proved
    by enumeration or z3 bit-vectors. Returns the result (over the whole obligation, its
    counterexample replayed) and the number of units pruned."""
    t0 = time.perf_counter()
    total = ob.domain.count
    ctl = set(values)
    rest_dom = _rest_domain(ob.domain, ctl)
    if rest_dom is None:
        return finish(ob, Verdict.UNKNOWN, "factorised", 0, total, t0,
                      "nothing left to split"), 0
    box = dict(zip(ob.domain.names, ob.domain.box()))
    fixed = dict(values)
    net, dead = _reduced(ob.network, fixed, rest_dom.names, box)

    def spec(x: Mapping[str, Any]) -> Mapping[str, Any]:
        return ob.spec({**x, **fixed})

    sub = Obligation(f"{ob.name}|{fixed}", net, rest_dom, spec, outputs=ob.checked_outputs)
    if rest_dom.count <= ENUMERATE_LIMIT:
        r = exhaustive(sub, Options(chunk=opts.chunk))
    else:
        r = smt_bv(sub, replace(opts, method="smt", timeout=timeout or opts.timeout,
                                progress=None))
    if r.verdict is Verdict.REFUTED and r.counterexample is not None:
        cex = replay(ob, {**dict(r.counterexample.inputs), **fixed})
        if cex is not None:
            return finish(ob, Verdict.REFUTED, "factorised", 0, total, t0,
                          "counterexample found", cex), dead
    if r.verdict is not Verdict.PROVED:
        return finish(ob, Verdict.UNKNOWN, "factorised", 0, total, t0,
                      f"case {fixed}: {r.reason}"), dead
    return finish(ob, Verdict.PROVED, "factorised", total, total, t0, f"case {fixed}"), dead


def casesplit(ob: Obligation, control: tuple[str, ...], opts: Options = Options(),
              how: str = "auto") -> Result:
    """Prove ``ob`` over every value of the ``control`` inputs: with ``how="cases"`` one case
    per value (see module docs), with ``"decoder"`` by the decoder method alone, with
    ``"auto"`` by the decoder when there are :data:`DECODER_FROM` cases or more and it applies
    (its refutations stand; where it proves nothing, the cases run)."""
    if how not in HOW:
        raise ParameterError("how", how, f"one of {', '.join(HOW)}")
    box = dict(zip(ob.domain.names, ob.domain.box()))
    n_cases = 1
    for n in control:
        n_cases *= box[n][1] - box[n][0] + 1 if n in box else 1
    if how == "decoder" or (how == "auto" and n_cases >= DECODER_FROM):
        def one(values: Mapping[str, int]) -> Result:
            return case_check(ob, values, opts)[0]

        r = decoder(ob, control, opts, case=one)
        if how == "decoder" or r.verdict is not Verdict.UNKNOWN:
            return r
    return _cases(ob, control, opts)


def _cases(ob: Obligation, control: tuple[str, ...], opts: Options) -> Result:
    """One case per value of the control inputs (the method before the decoder)."""
    t0 = time.perf_counter()
    total = ob.domain.count
    ctl = set(control)
    rest_dom = _rest_domain(ob.domain, ctl)
    if rest_dom is None:
        return finish(ob, Verdict.UNKNOWN, "factorised", 0, total, t0, "nothing left to split")
    box = dict(zip(ob.domain.names, ob.domain.box()))
    ranges = [range(box[n][0], box[n][1] + 1) for n in control]
    cases = 0
    dead_total = 0
    n_cases = 1
    for rng in ranges:
        n_cases *= len(rng)
    # Each case asks every solver in turn (two under cross-check), each with the time left.
    deadline = t0 + opts.timeout * max(1, len(ranges)) * len(opts.solvers)
    for combo in itertools.product(*ranges):
        values = dict(zip(control, combo))
        left = max(1.0, deadline - time.perf_counter())
        r, dead = case_check(ob, values, opts, left)
        dead_total += dead
        cases += 1
        if r.verdict is Verdict.REFUTED:
            return finish(ob, Verdict.REFUTED, "factorised", 0, total, t0,
                          "counterexample found", r.counterexample, split=list(control))
        if r.verdict is not Verdict.PROVED:
            return finish(ob, Verdict.UNKNOWN, "factorised", 0, total, t0, r.reason,
                          split=list(control))
        if opts.progress:
            opts.progress(cases, n_cases)
    return finish(ob, Verdict.PROVED, "factorised", total, total, t0,
                 f"case split on {len(control)} inputs ({cases} cases), dead units pruned by "
                 "exact interval bounds, each case by z3 bit-vectors",
                 split=list(control), cases=cases, pruned_units=dead_total)
