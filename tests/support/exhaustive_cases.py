"""Random obligations for the exhaustive engine's tests, and the naive reference they are held
to: the domain's own enumeration one point at a time, the plain-Python forward pass and the spec
on Python ints, stopping at the first accepted point where they differ."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st

from support.specs import network_spec
from verify import ops
from verify.domains import Bits, Domain, IntRange, OneHot, Word, product
from verify.layout import Layout
from verify.network import Layer, Network
from verify.obligation import Obligation
from verify.result import Result, Verdict

Spec = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def reference(ob: Obligation) -> tuple[int, dict[str, int] | None]:
    """(points checked, first counterexample or None), one point at a time in Python ints."""
    rows = ob.domain.decode(np.arange(ob.domain.count, dtype=np.int64))
    for i, row in enumerate(rows):
        point = {n: int(v) for n, v in zip(ob.domain.names, row, strict=True)}
        if not bool(ob.domain.accept(point)):
            continue
        net, want = ob.network.forward_exact(point), ob.spec(point)
        if any(int(net[o]) != int(want[o]) for o in ob.checked_outputs):
            return i + 1, point
    return ob.domain.count, None


def assert_matches_reference(ob: Obligation, r: Result) -> None:
    """``r`` has the reference's verdict, count of points checked and first counterexample."""
    checked, point = reference(ob)
    assert r.checked == checked, r.line()
    if point is None:
        assert r.verdict is Verdict.PROVED, r.line()
        assert r.counterexample is None
        return
    assert r.verdict is Verdict.REFUTED, r.line()
    assert r.counterexample is not None and r.counterexample.inputs == point, r.line()
    net, want = ob.network.forward_exact(point), ob.spec(point)
    assert r.counterexample.network == {o: net[o] for o in ob.checked_outputs
                                        if int(net[o]) != int(want[o])}


def flipped(spec: Spec, point: Mapping[str, int], output: str) -> Spec:
    """``spec`` plus one on ``output`` at exactly one point: a mutant wrong on one input."""

    def wrong(v: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(spec(v))
        here = ops.logical_and(*[v[n] == p for n, p in point.items()])
        out[output] = ops.ite(here, out[output] + 1, out[output])  # also on a constant output
        return out

    return wrong


@st.composite
def factor(draw: st.DrawFn, tag: str) -> Domain:
    kind = draw(st.sampled_from(["word", "bits", "range", "onehot"]))
    if kind == "word":
        return Word(tag, draw(st.integers(1, 5)))
    if kind == "bits":
        return Bits(tuple(f"{tag}{i}" for i in range(draw(st.integers(1, 3)))))
    if kind == "range":
        lo = draw(st.integers(-4, 2))
        return IntRange(tag, lo, lo + draw(st.integers(0, 6)))
    return OneHot(tuple(f"{tag}{i}" for i in range(draw(st.integers(2, 3)))))


@st.composite
def domains(draw: st.DrawFn) -> Domain:
    factors = draw(st.lists(st.sampled_from("ABCD"), min_size=1, max_size=3, unique=True))
    return product(*[draw(factor(tag)) for tag in factors])


@st.composite
def networks(draw: st.DrawFn, names: tuple[str, ...]) -> Network:
    """1 to 3 layers over the domain's coordinates in a shuffled order; weights mostly small,
    sometimes one large enough to need int32 or int64."""
    cur = Layout(list(draw(st.permutations(names))))
    layers = []
    for k in range(draw(st.integers(1, 3))):
        width = draw(st.integers(1, 4))
        nxt = Layout([f"h{k}.{i}" for i in range(width)])
        mat = draw(st.lists(st.lists(st.integers(-3, 3), min_size=len(cur), max_size=len(cur)),
                            min_size=width, max_size=width))
        big = draw(st.sampled_from([0, 0, 0, 1 << 12, -(1 << 20), 1 << 33]))
        if big:
            mat[draw(st.integers(0, width - 1))][draw(st.integers(0, len(cur) - 1))] = big
        bias = draw(st.lists(st.integers(-4, 4), min_size=width, max_size=width))
        layers.append(Layer.from_dense(mat, bias, cur, nxt, relu=draw(st.booleans())))
        cur = nxt
    return Network(tuple(layers), "random")


@st.composite
def cases(draw: st.DrawFn) -> tuple[Obligation, int]:
    """A random obligation (its spec the network, a one-point mutant of that, or a network
    with one weight changed) and a block size."""
    dom = draw(domains())
    net = draw(networks(dom.names))
    spec = network_spec(net)
    change = draw(st.sampled_from(["none", "point", "weight"]))
    if change == "point":
        idx = draw(st.integers(0, dom.count - 1))
        row = dom.decode(np.array([idx], dtype=np.int64))[0]
        point = {n: int(v) for n, v in zip(dom.names, row, strict=True)}
        spec = flipped(spec, point, draw(st.sampled_from(net.outputs.names)))
    elif change == "weight":
        li = draw(st.integers(0, len(net.layers) - 1))
        layer = net.layers[li]
        if layer.nnz:
            k = draw(st.integers(0, layer.nnz - 1))
            vals = list(layer.vals)
            vals[k] += draw(st.sampled_from([-1, 1]))
            layers = list(net.layers)
            layers[li] = Layer(layer.inputs, layer.outputs, layer.rows, layer.cols,
                               tuple(vals), layer.bias, layer.relu, layer.label)
            net = Network(tuple(layers), "mutated")
    chunk = draw(st.sampled_from([16, 32, 64, 128, 1024]))
    return Obligation("random", net, dom, spec), chunk


def affine_sum(bias: int, scale: int = 64, bits: int = 8) -> Obligation:
    """``y = ReLU(scale * (A + B) + bias)`` over two words: its partial sums reach
    ``2 (2^bits - 1) scale + |bias|``, the edge of int16 at 8 bits, scale 64 and bias 127."""
    dom = product(Word("A", bits), Word("B", bits))
    coeffs = {f"{w}.bit[{i}]": scale << i for w in "AB" for i in range(bits)}
    layer = Layer.from_rows(Layout(list(dom.names)), Layout(["y"]), {"y": (coeffs, bias)})

    def spec(v: Mapping[str, Any]) -> dict[str, Any]:
        a = ops.word([v[f"A.bit[{i}]"] for i in range(bits)])
        b = ops.word([v[f"B.bit[{i}]"] for i in range(bits)])
        return {"y": ops.relu(scale * a + scale * b + bias)}

    return Obligation(f"affine[{bias}]", Network((layer,), "affine"), dom, spec)


def wrong_at(ob: Obligation, index: int, output: str) -> tuple[Obligation, dict[str, int]]:
    """``ob`` with its spec flipped on ``output`` at the domain's member ``index`` alone, and
    that member: the first (and only) counterexample an exhaustive check must report."""
    member = ob.domain.decode(np.array([index], dtype=np.int64))[0]
    point = {n: int(v) for n, v in zip(ob.domain.names, member, strict=True)}
    bad = Obligation(f"{ob.name}/wrong-at-{index}", ob.network, ob.domain,
                     flipped(ob.spec, point, output), outputs=ob.outputs)
    return bad, point
