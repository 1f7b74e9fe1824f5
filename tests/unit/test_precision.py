"""Precision certificates: the proved bounds equal the exhaustive maxima, the closed forms hold,
the float emulation is IEEE rounding, and the CLI and the long-run code work end to end."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from constructions.computer import PROFILES, build
from constructions.computer.runtime import certificate
from constructions.machine.subleq import MachineSize
from loopmlp.bench import long as bench_long
from loopmlp.cli import main
from proofs.precision import check, formula, largest_bits
from verify.exact.precision import QUANTITIES, analyse, measure, round_significand
from verify.layout import Layout
from verify.network import Layer, Network
from verify.result import Verdict

ALL_STATES_2 = MachineSize(2, 2, 2)  # 11 state bits: 2048 canonical states


@pytest.mark.parametrize("profile", PROFILES)
def test_bounds_equal_the_exhaustive_maxima_layer_by_layer(profile: str) -> None:
    comp = build(profile, ALL_STATES_2)
    width = len(comp.network.inputs)
    states = (np.arange(1 << width)[:, None] >> np.arange(width)[None, :]) & 1
    got = measure(comp.network, states).certificate
    cert = certificate(comp)
    for bound, seen in zip(cert.layers, got.layers):
        for q in QUANTITIES:
            assert getattr(seen, q) <= getattr(bound, q), (bound.label, q)
    for q in QUANTITIES:
        assert got.largest(q) == cert.largest(q) == formula(profile, 2)[q], q


def test_interval_arithmetic_alone_is_far_looser() -> None:
    comp = build("paper", MachineSize(16, 16, 64))
    plan = comp.network.plan([(0, 1)] * len(comp.network.inputs))
    assert plan.max_partial_sum == 1591714083
    assert certificate(comp).largest("any_order") == 6 * 2**16 - 3


def test_a_read_without_its_register_is_not_guarded() -> None:
    # D = ReLU(H0 + H1) over H_j = ReLU(x_j + e_j(a)): 1 with the register, 2 without it.
    ins = Layout(["a", "x0", "x1"])
    hid = Layout(["H0", "H1"])
    out = Layout(["D"])
    l1 = Layer.from_rows(ins, hid, {"H0": ({"x0": 1, "a": -2}, 0),
                                    "H1": ({"x1": 1, "a": 2}, -2)})
    l2 = Layer.from_rows(hid, out, {"D": ({"H0": 1, "H1": 1}, 0)})
    net = Network((l1, l2), "read")
    assert analyse(net, registers=[[{"a": 1}]]).layers[1].pre == 1
    assert analyse(net).layers[1].pre == 2
    # a register whose match leaves a positive rest is refused as a guard: the bound stays 2
    l1b = Layer.from_rows(ins, hid, {"H0": ({"x0": 3, "a": -2}, 0),
                                     "H1": ({"x1": 1, "a": 2}, -2)})
    assert analyse(Network((l1b, l2), "bad"), registers=[[{"a": 1}]]).layers[1].pre == 4


def test_round_significand_is_ieee_rounding() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(-(1 << 30), 1 << 30, 20000)
    x[:4] = [(1 << 24) + 1, (1 << 24) + 3, -(1 << 25) - 2, 3 << 23]
    assert np.array_equal(round_significand(x, 24), x.astype(np.float32).astype(np.int64))
    small = rng.integers(-60000, 60000, 20000)
    assert np.array_equal(round_significand(small, 11, 65504),
                          small.astype(np.float16).astype(np.int64))


@pytest.mark.parametrize("profile", ["paper", "compact"])
def test_largest_certified_bits(profile: str) -> None:
    f32 = 21 if profile == "paper" else 20
    assert largest_bits(profile, 2, 2, "float32", "any") == f32
    assert largest_bits(profile, 2, 2, "float32", "natural") == 23
    assert largest_bits(profile, 2, 2, "bfloat16", "natural") == 7
    assert largest_bits(profile, 2, 2, "float16", "natural") == 10


def test_precision_obligation_is_proved_with_a_witness() -> None:
    r = check("compact", MachineSize(4, 6, 4))
    assert r.verdict is Verdict.PROVED and r.details["states"] == "witness"
    assert r.details["bound"]["any_order"] == 10 * 2**6 - 5
    assert r.details["measured"] == r.details["bound"]  # attained: the bound is the maximum
    assert len(r.details["witness"]["memory"]) == 4


def test_precision_command_json() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["precision", "--profile", "paper", "--words", "2", "--bits", "4",
                 "--program-words", "2", "--json"], out, err)
    assert code == 0, err.getvalue()
    row = json.loads(out.getvalue())["rows"][0]
    assert row["max_partial_sum_any_order"] == 93 and row["max_preactivation"] == 24
    assert row["formats"]["float32"]["exact"] and row["formats"]["float32"]["largest_bits"] == 21
    assert row["formats"]["bfloat16"]["exact_natural_order"]  # 24 <= 2^8 at N = 4
    assert row["formats"]["bfloat16"]["largest_bits"] == 5


def test_precision_command_refuses_a_bad_size() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["precision", "--words", "3"], out, err) == 2
    assert "words=3" in err.getvalue() and "Traceback" not in err.getvalue()


def test_long_run_code_on_ten_thousand_steps() -> None:
    doc = bench_long.long_run(checkpoint=5000, max_steps=10_000)
    assert doc["agrees"] and doc["steps"] == 10_000 and not doc["halted"]
    assert [p["steps"] for p in doc["checkpoints"]] == [5000, 10_000]
    assert all(p["heap_peak_bytes"] > 0 for p in doc["checkpoints"])
    assert "| 10,000 | yes |" in bench_long.render(doc)


@pytest.mark.slow
def test_long_run_one_million_steps() -> None:
    doc = bench_long.long_run()
    assert doc["agrees"] and doc["halted"] and doc["steps"] >= 1_000_000
    assert doc["expectations"] == []
