"""The decoder method against the ground truth of enumeration: small read, write and match
gadgets with random weights and biases changed anywhere; the decoder proves only what holds at
every point, and every counterexample it reports is a real disagreement in the domain."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from constructions.gadgets import make_match, make_read, make_write
from verify.methods import Options, exhaustive, replay
from verify.methods.casesplit import casesplit
from verify.network import Network
from verify.obligation import Obligation
from verify.result import Verdict

SEEN: dict[str, int] = {}


def gadget(kind: str, size: int, bits: int) -> Obligation:
    if kind == "match":
        return make_match(size).obligation()
    return (make_read if kind == "read" else make_write)(1 << size, bits).obligation()


def address(ob: Obligation) -> tuple[str, ...]:
    return tuple(n for n in ob.network.inputs.names if n.startswith(("A.bit", "B.bit", "X.bit")))


@st.composite
def mutants(draw: st.DrawFn) -> Obligation:
    kind = draw(st.sampled_from(["read", "write", "match"]))
    ob = gadget(kind, draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    layers = list(ob.network.layers)
    for _ in range(draw(st.integers(0, 2))):
        li = draw(st.integers(0, len(layers) - 1))
        layer = layers[li]
        delta = draw(st.sampled_from([-2, -1, 1, 2]))
        if draw(st.booleans()):
            k = draw(st.integers(0, len(layer.vals) - 1))
            vals = list(layer.vals)
            vals[k] += delta
            layers[li] = dataclasses.replace(layer, vals=tuple(vals))
        else:
            r = draw(st.integers(0, len(layer.bias) - 1))
            bias = list(layer.bias)
            bias[r] += delta
            layers[li] = dataclasses.replace(layer, bias=tuple(bias))
    return dataclasses.replace(ob, network=Network(tuple(layers), ob.network.name + "~"))


@settings(deadline=None, derandomize=True, max_examples=80)
@given(mutants())
def agrees(ob: Obligation) -> None:
    """One mutant: the decoder's verdict against enumeration's."""
    truth = exhaustive(ob, Options())
    r = casesplit(ob, address(ob), Options(timeout=30.0), how="decoder")
    SEEN[r.verdict.name] = SEEN.get(r.verdict.name, 0) + 1
    if r.verdict is Verdict.PROVED:
        assert truth.verdict is Verdict.PROVED, f"{ob.name}: decoder {r.reason}"
    if r.verdict is Verdict.REFUTED:
        assert r.counterexample is not None
        assert ob.domain.contains(dict(r.counterexample.inputs))
        assert replay(ob, r.counterexample.inputs) is not None
        assert truth.verdict is Verdict.REFUTED


def test_the_decoder_agrees_with_enumeration() -> None:
    SEEN.clear()
    agrees()
    # Both verdicts occur, so the agreement above is not vacuous.
    assert SEEN.get("PROVED", 0) > 5 and SEEN.get("REFUTED", 0) > 5, SEEN
