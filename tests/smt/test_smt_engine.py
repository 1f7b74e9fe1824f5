"""The z3 engine: proofs, replayed counterexamples, honest timeouts, shared spec semantics."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs.kernel import full_adder, relu_identity, ripple_adder
from verify import ops
from verify.domains import Constrained, IntRange, OneHot
from verify.layout import Layout
from verify.methods import Options, replay, smt
from verify.network import Layer, Network
from verify.obligation import Obligation
from verify.result import Verdict

Corrupt = Callable[[Obligation, int, int, int], Obligation]


@pytest.mark.parametrize("ob", [full_adder(), ripple_adder(3), relu_identity(1 << 40)],
                         ids=lambda o: o.name)
def test_smt_proves_correct_networks(ob: Obligation) -> None:
    r = smt(ob, Options("smt", timeout=30))
    assert r.verdict is Verdict.PROVED, r.line()
    assert r.method == "smt" and r.checked == r.total == ob.domain.count
    assert r.reason == "z3: unsat" and r.details["solver"] == "z3"


def test_smt_refutes_a_wrong_weight_and_the_counterexample_replays(corrupt: Corrupt) -> None:
    ob = corrupt(ripple_adder(3), 0, 0, 1)
    r = smt(ob, Options("smt", timeout=30))
    assert r.verdict is Verdict.REFUTED
    cex = r.counterexample
    assert cex is not None and r.reason == "z3: sat"
    again = replay(ob, cex.inputs)
    assert again is not None
    assert again.network == cex.network and again.spec == cex.spec
    assert all(cex.network[o] != cex.spec[o] for o in cex.network)
    assert set(cex.compact_inputs()) == {"X", "Y"}


def test_smt_timeout_is_unknown_never_proved_or_refuted() -> None:
    ob = ripple_adder(8)
    t0 = time.perf_counter()
    r = smt(ob, Options("smt", timeout=0.5))
    elapsed = time.perf_counter() - t0
    assert r.verdict is Verdict.UNKNOWN, r.line()
    assert "timeout" in r.reason
    assert r.counterexample is None and r.checked == 0 and r.total == 1 << 16
    assert elapsed < 10


def test_smt_respects_constrained_domains() -> None:
    x, y = Layout(["x"]), Layout(["y"])
    net = Network((Layer.from_rows(x, y, {"y": ({"x": 1}, 0)}),))
    # ReLU(x) = x holds only for x >= 0: proved on the constrained domain, refuted on the box.
    base = IntRange("x", -1000, 1000)
    pos = Constrained(base, lambda v: v["x"] >= 0, "x >= 0")
    assert smt(Obligation("pos", net, pos, lambda v: {"y": v["x"]})).verdict is Verdict.PROVED
    r = smt(Obligation("all", net, base, lambda v: {"y": v["x"]}))
    assert r.verdict is Verdict.REFUTED and r.counterexample is not None
    assert r.counterexample.inputs["x"] < 0


def test_smt_respects_one_hot_domains() -> None:
    hs = Layout(["h0", "h1", "h2"])
    out = Layout(["y"])
    # y = ReLU(h0 + h1 + h2 - 1) is 0 on one-hot inputs, but not on every bit vector.
    net = Network((Layer.from_rows(hs, out, {"y": ({"h0": 1, "h1": 1, "h2": 1}, -1)}),))
    ob = Obligation("onehot", net, OneHot(("h0", "h1", "h2")), lambda v: {"y": 0})
    assert smt(ob).verdict is Verdict.PROVED


def test_each_check_uses_a_fresh_context() -> None:
    a = smt(full_adder())
    b = smt(full_adder())
    assert a.verdict is b.verdict is Verdict.PROVED


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 255), st.integers(0, 7), st.integers(1, 8))
def test_spec_operations_mean_the_same_on_ints_and_z3(x: int, i: int, bits: int) -> None:
    """The shared table: wrap/signed/bit/ite/relu give equal values on ints and z3 Ints."""
    import z3

    ctx = z3.Context()
    v = z3.Int("v", ctx)
    s = z3.Solver(ctx=ctx)
    s.add(v == x)
    assert s.check() == z3.sat
    m = s.model()

    def on_z3(term: object) -> int:
        return m.eval(term, model_completion=True).as_long()

    w = ops.wrap(x, bits)
    assert on_z3(ops.wrap(v, bits)) == w == x % (1 << bits)
    assert on_z3(ops.signed(ops.wrap(v, bits), bits)) == ops.signed(w, bits)
    assert -(1 << (bits - 1)) <= ops.signed(w, bits) < 1 << (bits - 1)
    assert on_z3(ops.bit(v, i)) == ops.bit(x, i) == (x >> i) & 1
    assert on_z3(ops.relu(v - 100)) == ops.relu(x - 100) == max(x - 100, 0)
    assert on_z3(ops.ite(v > 100, v, 7)) == ops.ite(x > 100, x, 7)
    table = [3, 1, 4, 1, 5, 9, 2, 6]
    assert on_z3(ops.select(table, ops.wrap(v, 3))) == ops.select(table, x % 8)


@pytest.mark.slow
def test_smt_proves_an_8_bit_ripple_adder_given_time() -> None:
    """The obligation that times out at 0.5 s above is true: z3 proves it in about 30 s."""
    r = smt(ripple_adder(8), Options("smt", timeout=300))
    assert r.verdict is Verdict.PROVED, r.line()
