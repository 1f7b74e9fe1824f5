"""Obligations of the profiles written from formulas (``three-layer``, ``two-layer``): structure,
the step against the interpreter, the bit invariant, equality with ``paper-minimal`` on every
canonical state, and the precision certificate.

Design notes: docs/design/constructions.computer.direct.md.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np
import z3

from constructions.computer import DIRECT_PROFILES, Computer, build, state_names
from constructions.computer.runtime import certificate
from constructions.machine.limits import direct_weights
from constructions.machine.subleq import MachineSize
from verify import names
from verify.domains import Bits
from verify.errors import InternalError
from verify.exact.precision import FORMATS, QUANTITIES, measure
from verify.fold import fold_obligation
from verify.methods import Options
from verify.methods.solvers import decide
from verify.obligation import Obligation
from verify.result import Result, Verdict

from . import computer
from .computer import EXHAUSTIVE_SIZES, SMT_SIZE, monolithic
from .registry import Entry, of

RELU_LAYERS = {"three-layer": 3, "two-layer": 2}
"""ReLU layers of each profile's step (the affine decode follows them)."""
STRUCTURE_SIZES = ((4, 4, 4), (16, 16, 64))
PRECISION_SIZES = ((2, 2, 2), (2, 3, 2))
"""Sizes whose every canonical state is measured (2^13 states at most)."""
SLOW_WEIGHTS = 1_000_000
"""A structure check of a network with more weights than this is slow (building two-layer at
M = 16, N = 16, K = 64, four million weights, takes 15 to 20 s)."""
SLOW_WIDTH = 20
"""An equality with paper-minimal over more state bits than this is slow (2^22 states of
paper-minimal: half a minute)."""
AGAINST = "paper-minimal"


def _tag(size: MachineSize) -> str:
    return names.sizes_tag({"words": size.words, "bits": size.bits, "slots": size.slots})


def _bounds(size: MachineSize) -> dict[str, int]:
    return {"words": size.words, "bits": size.bits, "slots": size.slots}


def structure_problems(comp: Computer) -> list[str]:
    """Every way the network differs from its plan: ReLU layers then one affine decode, the loop
    closing on the state layout, and exactly the closed-form weight count of
    :func:`constructions.machine.limits.direct_weights` (a stray or a missing weight shows)."""
    net, problems = comp.network, []
    if list(net.inputs.names) != state_names(comp.size) or net.outputs != net.inputs:
        problems.append("the network does not map the state layout to itself")
    want = RELU_LAYERS[comp.profile]
    relus = [layer.relu for layer in net.layers]
    if relus != [True] * want + [False]:
        problems.append(f"layers {relus}: want {want} ReLU layers, then the affine decode")
    if len(comp.plans) != len(net.layers):
        problems.append(f"{len(comp.plans)} plans for {len(net.layers)} layers")
    nnz = direct_weights(comp.profile, comp.size)
    if net.nnz != nnz:
        problems.append(f"{net.nnz} nonzero weights, the closed form gives {nnz}")
    return problems


def structure_entry(profile: str, size: MachineSize, slow: bool = False) -> Entry:
    return computer.structure_entry(
        profile, size, slow, structure_problems,
        f"{RELU_LAYERS[profile]} ReLU layers and the decode, weights as planned",
        lambda comp: {"layers": comp.network.depth, "weights": comp.network.nnz})


def equals(profile: str, size: MachineSize, against: str = AGAINST) -> Obligation:
    """The network of ``profile`` equals that of ``against`` on every canonical state."""
    return fold_obligation(f"computer/{profile}/equals/{against}{_tag(size)}",
                           build(against, size).network, build(profile, size).network,
                           Bits(tuple(state_names(size))), _bounds(size))


def precision_name(profile: str, size: MachineSize) -> str:
    """``precision/two-layer[M=2,N=3,K=2]``."""
    return names.name(f"precision/{profile}", {"M": size.words, "N": size.bits,
                                               "K": size.slots})


def precision_check(profile: str, size: MachineSize) -> Result:
    """The certificate (:func:`constructions.computer.runtime.certificate`: proved bounds of
    every quantity, per layer) held against the exact values on every canonical state: a value
    above its bound is a refutation of the analysis. PROVED says the bounds hold; which formats
    they make exact is in the details."""
    t0 = time.perf_counter()
    name = precision_name(profile, size)
    comp = build(profile, size)
    cert = certificate(comp)
    width = len(comp.network.inputs)
    states = ((np.arange(1 << width)[:, None] >> np.arange(width)[None, :]) & 1).astype(np.int64)
    got = measure(comp.network, states).certificate
    details: dict[str, Any] = {
        "bound": {q: cert.largest(q) for q in QUANTITIES},
        "measured": {q: got.largest(q) for q in QUANTITIES},
        "exact": {f"{fmt}/{order}": cert.exact_in(fmt, order) for fmt in FORMATS
                  for order in ("any", "natural")},
    }
    over = [(i, q) for i, (b, g) in enumerate(zip(cert.layers, got.layers))
            for q in QUANTITIES if getattr(g, q) > getattr(b, q)]
    n = int(states.shape[0])
    seconds = time.perf_counter() - t0
    if over:
        i, q = over[0]
        return Result(name, Verdict.REFUTED, "certificate", n, n, seconds,
                      f"layer {i} ({cert.layers[i].label}): measured {q} "
                      f"{getattr(got.layers[i], q)} above the proved bound "
                      f"{getattr(cert.layers[i], q)}", None, details)
    return Result(name, Verdict.PROVED, "certificate", n, n, seconds,
                  f"bounds proved, none exceeded on the {n} canonical states (largest "
                  f"any-order sum {cert.largest('any_order')})", None, details)


def _precision_entry(profile: str, size: MachineSize) -> Entry:
    def run(opts: Options) -> Result:
        return precision_check(profile, size)

    return Entry(precision_name(profile, size), run)


LEMMAS_NAME = "lemma/gated-units[N=all]"


def _relu(x: Any) -> Any:
    return z3.If(x > 0, x, 0)


def _step(x: Any) -> Any:
    return z3.If(x, 1, 0)


def gated_lemmas(ctx: z3.Context, slack: int = 0) -> list[tuple[str, Any, dict[str, Any]]]:
    """The unit identities both profiles rest on, each negated (a model is a counterexample),
    over unbounded integers, so for every word width and every L that the build's bound gives:

    - ``gated-threshold``: S - tau + 1 <= L, g in {0, 1} =>
      ReLU(S - tau + 1 + L (g - 1)) - ReLU(S - tau + L (g - 1)) = g [S >= tau];
    - ``gated-word``: 0 <= V <= 2P - 1, P >= 1, e = 0 or e <= -2 =>
      ReLU(V + P e) = V [e = 0] (the gated prefix word of two-layer; P = 1 is the bit and gate
      match);
    - ``flag``: H >= 1, |x| <= 2H - 1, R = x mod 2H =>
      [x >= -H] - [x >= 1] + [x >= H] = [signed(R) <= 0] (H = 2^(N-1)).

    ``slack`` weakens the hypotheses on L and on V (a test shows the lemmas then fail).
    """
    s, tau, big, g = (z3.Int(n, ctx) for n in ("S", "tau", "L", "g"))
    thr = (z3.And(s - tau + 1 <= big + slack, z3.Or(g == 0, g == 1),
                  _relu(s - tau + 1 + big * (g - 1)) - _relu(s - tau + big * (g - 1))
                  != g * _step(s >= tau)))
    v, p, e = (z3.Int(n, ctx) for n in ("V", "P", "e"))
    word = z3.And(p >= 1, v >= 0, v <= 2 * p - 1 + slack, z3.Or(e == 0, e <= -2),
                  _relu(v + p * e) != z3.If(e == 0, v, 0))
    h, x = z3.Int("H", ctx), z3.Int("x", ctx)
    r = z3.If(x >= 0, x, x + 2 * h)
    signed = z3.If(r >= h, r - 2 * h, r)
    flag = z3.And(h >= 1, x >= -(2 * h - 1), x <= 2 * h - 1,
                  _step(x >= -h) - _step(x >= 1) + _step(x >= h) != _step(signed <= 0))
    return [("gated-threshold", thr, {"S": s, "tau": tau, "L": big, "g": g}),
            ("gated-word", word, {"V": v, "P": p, "e": e}),
            ("flag", flag, {"H": h, "x": x})]


def _fails(what: str, m: Mapping[str, int], slack: int) -> bool:
    """Does the model break the lemma ``what``, evaluated on Python integers (the replay)?"""
    def relu(x: int) -> int:
        return max(x, 0)

    if what == "gated-threshold":
        s, tau, big, g = m["S"], m["tau"], m["L"], m["g"]
        return (s - tau + 1 <= big + slack and g in (0, 1)
                and relu(s - tau + 1 + big * (g - 1)) - relu(s - tau + big * (g - 1))
                != g * (s >= tau))
    if what == "gated-word":
        v, p, e = m["V"], m["P"], m["e"]
        return (p >= 1 and 0 <= v <= 2 * p - 1 + slack and (e == 0 or e <= -2)
                and relu(v + p * e) != (v if e == 0 else 0))
    h, x = m["H"], m["x"]
    r = x if x >= 0 else x + 2 * h
    signed = r - 2 * h if r >= h else r
    return (h >= 1 and abs(x) <= 2 * h - 1
            and (x >= -h) - (x >= 1) + (x >= h) != (signed <= 0))


def lemmas_check(timeout: float, slack: int = 0) -> Result:
    """``lemma/gated-units[N=all]``: every lemma of :func:`gated_lemmas` unsat when negated; a
    model is replayed on Python integers before it is reported."""
    t0 = time.perf_counter()
    verdicts: list[Verdict] = []
    why: list[str] = []
    for what, query, variables in gated_lemmas(z3.Context(), slack):
        d = decide([query], variables, what=f"{LEMMAS_NAME}: {what}", timeout=timeout)
        if d.status == "unsat":
            verdicts.append(Verdict.PROVED)
        elif d.status == "sat":
            model = {k: int(v) for k, v in (d.model or {}).items()}
            if not _fails(what, model, slack):
                raise InternalError(f"{LEMMAS_NAME}: {what}: the solver's model {model} does "
                                    "not replay on integers")
            verdicts.append(Verdict.REFUTED)
            why.append(f"{what}: {dict(d.model or {})}")
        else:
            verdicts.append(Verdict.UNKNOWN)
            why.append(f"{what}: {d.describe()}")
    verdict = min(verdicts)
    proved = sum(v is Verdict.PROVED for v in verdicts)
    return Result(LEMMAS_NAME, verdict, "smt", proved, len(verdicts), time.perf_counter() - t0,
                  "; ".join(why) or "gated threshold, gated word and flag identities for every "
                  "width", None, {})


def entries() -> list[Entry]:
    """Every obligation of the profiles written from formulas."""
    out: list[Entry] = [Entry(LEMMAS_NAME, lambda opts: lemmas_check(opts.timeout))]
    for profile in DIRECT_PROFILES:
        for s in STRUCTURE_SIZES:
            ms = MachineSize(*s)
            out.append(structure_entry(profile, ms, direct_weights(profile, ms) > SLOW_WEIGHTS))
        for s in EXHAUSTIVE_SIZES:
            ms = MachineSize(*s)
            out += computer.exhaustive_step_entries(profile, ms)
            out.append(of(f"computer/{profile}/equals/{AGAINST}{_tag(ms)}",
                          partial(equals, profile, ms), method="exhaustive",
                          slow=len(state_names(ms)) > SLOW_WIDTH))
        ms = MachineSize(*SMT_SIZE)
        # z3 proves the step at M = K = 4, N = 4 in about two minutes; the equality with
        # paper-minimal there (two networks under one solver) runs past four.
        out.append(of(f"computer/{profile}/step/monolithic{_tag(ms)}",
                      partial(monolithic, profile, ms), method="smt", slow=True))
        for s in PRECISION_SIZES:
            out.append(_precision_entry(profile, MachineSize(*s)))
    return out
