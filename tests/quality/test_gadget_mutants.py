"""Every single-weight and single-bias mutant of every gadget, checked against the spec.

A mutant changes one entry of one layer by +-1: every position of W[out, in] (the nonzero weights
and the zero ones) and every bias. Ground truth comes from a dense int64 forward pass over the
domain's box, listed with itertools (neither the network's evaluator nor the domain's decoder is
used for it). A mutant that differs from the spec on some input must be REFUTED by the exhaustive
engine with a counterexample that replays; a mutant that does not is equivalent, and must be
PROVED. The counts per gadget are printed at the end of the run (and recorded as properties, so
they land in ``--junitxml`` reports too).

The factorised engine must refute mutants of wide gadgets (16 and 32 bits), where only it and the
solver can be used at all.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from support.mutation import with_bias, with_layer, with_network, with_weight

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
from verify.methods import Options, exhaustive, replay, smt
from verify.methods.factorised import factorised
from verify.network import Layer, Network
from verify.obligation import Obligation
from verify.result import Result, Verdict

# --------------------------------------------------------------------------- mutants


@dataclass(frozen=True)
class Mutant:
    """An obligation whose network differs from the gadget's in one weight or one bias."""

    label: str  # e.g. ``W0[T[2,4]+ <- DA.bit[1]] -4->-3`` or ``b1[R.bit[0]] 0->1``
    obligation: Obligation


def _swap(ob: Obligation, index: int, layer: Layer, label: str) -> Mutant:
    """A new network with layer ``index`` replaced, in a new obligation with the same domain,
    spec and factorisation."""
    net = with_layer(ob.network, index, layer, f"~{label}")
    return Mutant(label, with_network(ob, net, f"~{label}"))


def weight_mutant(ob: Obligation, index: int, out: str, inp: str, delta: int) -> Mutant:
    """W[out, inp] of layer ``index`` changed by ``delta``, by coordinate names."""
    layer = ob.network.layers[index]
    row, col = layer.outputs.index(out), layer.inputs.index(inp)
    old = dict(zip(zip(layer.rows, layer.cols), layer.vals)).get((row, col), 0)
    return _swap(ob, index, with_weight(layer, row, col, delta),
                 f"W{index}[{out} <- {inp}] {old}->{old + delta}")


def bias_mutant(ob: Obligation, index: int, out: str, delta: int) -> Mutant:
    """Bias of unit ``out`` of layer ``index`` changed by ``delta``."""
    layer = ob.network.layers[index]
    r = layer.outputs.index(out)
    return _swap(ob, index, with_bias(layer, r, delta),
                 f"b{index}[{out}] {layer.bias[r]}->{layer.bias[r] + delta}")


def all_mutants(ob: Obligation) -> Iterator[Mutant]:
    """Every position of every W and every bias, each changed by -1 and by +1."""
    for index, layer in enumerate(ob.network.layers):
        for out in layer.outputs.names:
            for inp in layer.inputs.names:
                for delta in (-1, 1):
                    yield weight_mutant(ob, index, out, inp, delta)
            for delta in (-1, 1):
                yield bias_mutant(ob, index, out, delta)


# --------------------------------------------------------------------------- ground truth


def _points(ob: Obligation) -> np.ndarray:
    """Every member of the domain as rows in network-input order, listed with itertools."""
    box = dict(zip(ob.domain.names, ob.domain.box()))
    names = ob.network.inputs.names
    rows = []
    for p in itertools.product(*[range(box[n][0], box[n][1] + 1) for n in names]):
        point = dict(zip(names, p))
        if bool(ob.domain.accept(point)):
            rows.append(p)
    return np.array(rows, dtype=np.int64)


def _dense_forward(net: Network, x: np.ndarray) -> np.ndarray:
    """x through every layer as dense int64 matrices (values here are far below 2^62)."""
    for layer in net.layers:
        w = np.zeros(layer.shape, dtype=np.int64)
        np.add.at(w, (np.array(layer.rows, dtype=np.int64), np.array(layer.cols, dtype=np.int64)),
                  np.array(layer.vals, dtype=np.int64))
        x = x @ w.T + np.array(layer.bias, dtype=np.int64)
        if layer.relu:
            x = np.maximum(x, 0)
    return x


@dataclass(frozen=True)
class Truth:
    """The domain's points and the spec's outputs on them (Python ints, one point at a time)."""

    points: np.ndarray
    want: np.ndarray
    columns: list[int]

    @classmethod
    def of(cls, ob: Obligation, batch: bool = False) -> Truth:
        """Spec values one point at a time on Python ints, or (``batch``) on numpy columns."""
        pts = _points(ob)
        names = ob.network.inputs.names
        if batch:
            got = ob.spec({n: pts[:, k] for k, n in enumerate(names)})
            want = np.stack([np.broadcast_to(np.asarray(got[o], dtype=np.int64), len(pts))
                             for o in ob.checked_outputs], axis=1)
        else:
            want = np.array([[int(ob.spec(dict(zip(names, map(int, p))))[o])
                              for o in ob.checked_outputs] for p in pts], dtype=np.int64)
        return cls(pts, want, ob.network.outputs.indices(ob.checked_outputs))

    def differs(self, net: Network) -> bool:
        return bool((_dense_forward(net, self.points)[:, self.columns] != self.want).any())


def _replays(ob: Obligation, r: Result) -> str | None:
    """None when the refutation's counterexample replays and names exactly the differing
    outputs; otherwise what is wrong with it."""
    cex = r.counterexample
    if cex is None:
        return "no counterexample"
    again = replay(ob, cex.inputs)
    if again is None:
        return f"counterexample {dict(cex.inputs)} does not replay"
    if dict(again.network) != dict(cex.network) or dict(again.spec) != dict(cex.spec):
        return f"replayed values {again.describe('x')} differ from reported {cex.describe('x')}"
    net, want = ob.network.forward_exact(cex.inputs), ob.spec(cex.inputs)
    if set(cex.network) != {o for o in ob.checked_outputs if int(net[o]) != int(want[o])}:
        return "counterexample does not name exactly the differing outputs"
    return None


# --------------------------------------------------------------------------- small widths

GADGETS: dict[str, Callable[[], Gadget]] = {
    "subtract[bits=3]": lambda: make_subtract(3),
    "add[bits=3]": lambda: make_add(3),
    "compare[bits=3]": lambda: make_compare(3),
    "increment[bits=3]": lambda: make_increment(3),
    "branch[bits=2]": lambda: make_branch(2),
    "cmpbranch[bits=3,pc=1]": lambda: make_compare_branch(3, 1),
    "read[words=2,bits=2]": lambda: make_read(2, 2),
    "write[words=2,bits=2]": lambda: make_write(2, 2),
    "match[addr=2]": lambda: make_match(2),
}


@pytest.fixture(scope="session")
def mutant_summary(request: pytest.FixtureRequest) -> Iterator[dict[str, tuple[int, int, int]]]:
    """Counts (mutants, refuted, equivalent) per gadget, printed once at the end of the run,
    with output capture suspended so it shows with or without ``-s``."""
    counts: dict[str, tuple[int, int, int]] = {}
    yield counts
    if not counts:
        return
    lines = ["", "gadget mutants (every weight position and bias, +-1; exhaustive):",
             f"  {'gadget':<24} {'mutants':>8} {'refuted':>8} {'equivalent':>11}"]
    for name, (n, refuted, equivalent) in counts.items():
        lines.append(f"  {name:<24} {n:>8} {refuted:>8} {equivalent:>11}")
    total = [sum(c[k] for c in counts.values()) for k in range(3)]
    lines.append(f"  {'total':<24} {total[0]:>8} {total[1]:>8} {total[2]:>11}")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print("\n".join(lines))
        return
    with capture.global_and_fixture_disabled():
        for line in lines:
            reporter.write_line(line)


@pytest.mark.parametrize("name", list(GADGETS))
def test_every_mutant_is_refuted_or_proved_equivalent(
    name: str, record_property: Callable[[str, object], None],
    mutant_summary: dict[str, tuple[int, int, int]],
) -> None:
    ob = GADGETS[name]().obligation()
    truth = Truth.of(ob)
    assert not truth.differs(ob.network), f"{name}: the unmutated gadget is wrong"
    # the dense ground truth agrees with the reference forward pass
    names = ob.network.inputs.names
    dense = _dense_forward(ob.network, truth.points[:8])
    for p, row in zip(truth.points[:8], dense):
        exact = ob.network.forward_exact(dict(zip(names, map(int, p))))
        assert [exact[o] for o in ob.network.outputs.names] == row.tolist()

    mutants = list(all_mutants(ob))
    refuted: list[str] = []
    equivalent: list[str] = []
    problems: list[str] = []
    for m in mutants:
        r = exhaustive(m.obligation)
        if truth.differs(m.obligation.network):
            why = _replays(m.obligation, r) if r.verdict is Verdict.REFUTED else r.line()
            if why is None:
                refuted.append(m.label)
            else:
                problems.append(f"{m.label}: differs from the spec but {why}")
        elif r.verdict is Verdict.PROVED:
            equivalent.append(m.label)
        else:
            problems.append(f"{m.label}: equivalent to the spec but {r.line()}")

    assert not problems, f"{name}: {len(problems)} mutants misjudged:\n" + "\n".join(problems)
    assert len(refuted) + len(equivalent) == len(mutants)
    record_property("mutants", len(mutants))
    record_property("refuted", len(refuted))
    record_property("equivalent", len(equivalent))
    record_property("equivalent_mutants", "; ".join(equivalent))
    mutant_summary[name] = (len(mutants), len(refuted), len(equivalent))
    print(f"{name}: {len(mutants)} mutants, {len(refuted)} refuted, "
          f"{len(equivalent)} equivalent")
    for label in equivalent:
        print(f"  equivalent: {label}")


@pytest.mark.parametrize("name", ["subtract[bits=3]", "compare[bits=3]", "increment[bits=3]",
                                  "write[words=2,bits=2]", "match[addr=2]"])
def test_smt_agrees_on_a_sample_of_mutants(name: str) -> None:
    """The solver agrees with the ground truth too (every 11th mutant, to keep this quick)."""
    ob = GADGETS[name]().obligation()
    truth = Truth.of(ob)
    for m in list(all_mutants(ob))[::11]:
        r = smt(m.obligation, Options("smt", timeout=30))
        if truth.differs(m.obligation.network):
            assert r.verdict is Verdict.REFUTED, f"{m.label}: {r.line()}"
            assert _replays(m.obligation, r) is None, m.label
        else:
            assert r.verdict is Verdict.PROVED, f"{m.label}: {r.line()}"


# --------------------------------------------------------------------------- wide widths

Mutate = Callable[[Obligation], Mutant]
Case = tuple[str, Mutate, tuple[pytest.MarkDecorator, ...]]

# Known limits of the factorised engine, found by these mutants (each reported, none hidden):
def _arith(make: Callable[[int], Gadget], bits: int, i: int) -> list[object]:
    """Mutants of bit i of a subtract or add gadget (units T[i,tau]+-, output R.bit[i])."""
    t1, t2, t3 = 1 << i, 2 << i, 3 << i
    out = f"R.bit[{i}]"
    cases: list[Case] = [
        ("bias P +1", lambda ob: bias_mutant(ob, 0, f"T[{i},{t1}]+", 1), ()),
        ("bias Q -1", lambda ob: bias_mutant(ob, 0, f"T[{i},{t2}]-", -1), ()),
        ("bias R +1", lambda ob: bias_mutant(ob, 1, out, 1), ()),
        ("bias R -1", lambda ob: bias_mutant(ob, 1, out, -1), ()),
        ("read-off -1", lambda ob: weight_mutant(ob, 1, out, f"T[{i},{t3}]+", -1), ()),
        ("read-off +1", lambda ob: weight_mutant(ob, 1, out, f"T[{i},{t2}]-", 1), ()),
        ("read-off of bit 0", lambda ob: weight_mutant(ob, 1, out, "T[0,1]+", 1),
         ()),
        ("top weight +1", lambda ob: weight_mutant(ob, 0, f"T[{i},{t2}]+", f"DB.bit[{i}]", 1),
         ()),
        ("low weight -1", lambda ob: weight_mutant(ob, 0, f"T[{i},{t1}]-", "DA.bit[0]", -1),
         ()),
    ]
    name = make.__name__.removeprefix("make_")
    wide = (pytest.mark.slow,) if bits >= 32 else ()  # up to 20 s each at 32 bits
    return [pytest.param(lambda b=bits: make(b), mutate, marks=marks + wide,
                         id=f"{name}[bits={bits}] bit {i} {what}")
            for what, mutate, marks in cases]


def _compare16() -> list[object]:
    cases: list[Case] = [
        ("bias Z +1", lambda ob: bias_mutant(ob, 0, "C.Z", 1), ()),
        ("bias Z -1", lambda ob: bias_mutant(ob, 0, "C.Z", -1), ()),
        ("bias P +1", lambda ob: bias_mutant(ob, 0, "C.P", 1), ()),
        ("flag weight Z +1", lambda ob: weight_mutant(ob, 1, "F", "C.Z", 1), ()),
        ("flag bias -1", lambda ob: bias_mutant(ob, 1, "F", -1), ()),
        ("sign weight +1", lambda ob: weight_mutant(ob, 0, "C.P", "R.bit[15]", 1),
         ()),
        ("flag weight P -1", lambda ob: weight_mutant(ob, 1, "F", "C.P", -1), ()),
        ("zero test weight", lambda ob: weight_mutant(ob, 0, "C.Z", "R.bit[7]", 1),
         ()),
    ]
    return [pytest.param(lambda: make_compare(16), mutate, marks=marks,
                         id=f"compare[bits=16] {what}") for what, mutate, marks in cases]


def _increment16(i: int) -> list[object]:
    t1, t2 = 1 << i, 2 << i
    out = f"PC1.bit[{i}]"
    cases: list[Case] = [
        ("bias P +1", lambda ob: bias_mutant(ob, 0, f"I[{i},{t1}]+", 1), ()),
        ("bias Q -1", lambda ob: bias_mutant(ob, 0, f"I[{i},{t1}]-", -1), ()),
        ("bias P2 +1", lambda ob: bias_mutant(ob, 0, f"I[{i},{t2}]+", 1), ()),
        ("read-off +1", lambda ob: weight_mutant(ob, 1, out, f"I[{i},{t1}]+", 1), ()),
        ("bias out -1", lambda ob: bias_mutant(ob, 1, out, -1), ()),
        ("top weight -1", lambda ob: weight_mutant(ob, 0, f"I[{i},{t1}]+", f"PC.bit[{i}]", -1),
         ()),
    ]
    return [pytest.param(lambda: make_increment(16), mutate, marks=marks,
                         id=f"increment[bits=16] bit {i} {what}")
            for what, mutate, marks in cases]


WIDE_MUTANTS = (
    # the top bit and a middle one at 16 bits, the top bit at 32
    [p for make in (make_subtract, make_add) for bits in (16, 32)
     for i in ((bits - 1, bits // 2) if bits == 16 else (bits - 1,))
     for p in _arith(make, bits, i)]
    + _compare16() + _increment16(15) + _increment16(8)
)


@pytest.mark.parametrize(("build", "mutate"), WIDE_MUTANTS)
def test_factorised_refutes_mutants_of_wide_gadgets(build: Callable[[], Gadget],
                                                    mutate: Mutate) -> None:
    m = mutate(build().obligation())
    if m.obligation.domain.count <= 1 << 16:
        # small enough to know the answer: every mutant here differs from the spec somewhere
        assert Truth.of(m.obligation, batch=True).differs(m.obligation.network), m.label
    r = factorised(m.obligation, Options("factorised", timeout=120))
    assert r.verdict is not Verdict.PROVED, (
        f"{m.label}: PROVED a mutant (equivalent, or the engine is unsound): {r.line()}")
    assert r.verdict is Verdict.REFUTED, f"{m.label}: {r.line()}"
    assert _replays(m.obligation, r) is None, f"{m.label}: {r.line()}"
