"""Case splits with interval pruning: the method for address decoders.

Some blocks are wide but simple once a few *control* inputs are fixed: with the address of a
read fixed, every match unit of another address has a pre-activation <= -1 over the whole
remaining domain and is exactly 0. The engine enumerates every assignment of the control inputs
(nothing is sampled), substitutes it into the first layer, drops every unit whose exact interval
bound over the remaining box is <= 0 (it outputs 0 for every remaining input), and proves the
small network that is left against the spec with the control inputs fixed (z3 over bit-vectors
of a width that cannot wrap, or enumeration when the rest is small).
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
from .exhaustive import exhaustive
from .smt import smt_bv

ENUMERATE_LIMIT = 1 << 12


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


def casesplit(ob: Obligation, control: tuple[str, ...], opts: Options = Options()) -> Result:
    """Prove ``ob`` by enumerating every value of the ``control`` inputs (see module docs)."""
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
        net, dead = _reduced(ob.network, values, rest_dom.names, box)
        dead_total += dead

        def spec(x: Mapping[str, Any], values: dict[str, int] = values) -> Mapping[str, Any]:
            return ob.spec({**x, **values})

        sub = Obligation(f"{ob.name}|{values}", net, rest_dom, spec, outputs=ob.checked_outputs)
        left = max(1.0, deadline - time.perf_counter())
        if rest_dom.count <= ENUMERATE_LIMIT:
            r = exhaustive(sub, Options(chunk=opts.chunk))
        else:
            r = smt_bv(sub, replace(opts, method="smt", timeout=left, progress=None))
        cases += 1
        if r.verdict is Verdict.REFUTED and r.counterexample is not None:
            cex = replay(ob, {**dict(r.counterexample.inputs), **values})
            if cex is not None:
                return finish(ob, Verdict.REFUTED, "factorised", 0, total, t0,
                             "counterexample found", cex, split=list(control))
        if r.verdict is not Verdict.PROVED:
            return finish(ob, Verdict.UNKNOWN, "factorised", 0, total, t0,
                         f"case {values}: {r.reason}", split=list(control))
        if opts.progress:
            opts.progress(cases, n_cases)
    return finish(ob, Verdict.PROVED, "factorised", total, total, t0,
                 f"case split on {len(control)} inputs ({cases} cases), dead units pruned by "
                 "exact interval bounds, each case by z3 bit-vectors",
                 split=list(control), cases=cases, pruned_units=dead_total)
