"""The profiles written from formulas (``three-layer``, ``two-layer``): the gated threshold on its
whole range, the networks' shape (ReLU layers, decode, the closed-form weight count), the step
against the interpreter on every canonical state at the smallest size, their obligations
proved, and a changed weight refuted (the command line: tests/cli/test_profiles_cli.py)."""

from __future__ import annotations

import numpy as np
import pytest
from support.mutation import with_entry, with_layer

from constructions.computer import DIRECT_PROFILES, build
from constructions.computer.direct import gated_steps
from constructions.computer.runtime import certificate
from constructions.machine.limits import direct_weights, estimate_weights
from constructions.machine.subleq import MachineSize
from proofs import profiles
from proofs.computer import monolithic, step_spec
from proofs.registry import run_entry
from verify.exact.precision import analyse
from verify.methods import Options, check
from verify.obligation import Obligation
from verify.result import Verdict

SMALL = MachineSize(2, 2, 2)


def _relu(x: int) -> int:
    return max(x, 0)


@pytest.mark.parametrize("big", [6, 7, 12])
def test_gated_threshold_is_gate_times_step(big: int) -> None:
    """ReLU(S - tau + 1 + L(g - 1)) - ReLU(S - tau + L(g - 1)) = g [S >= tau] whenever
    S - tau + 1 <= L, and not beyond (L one too small fails at the top of the range)."""
    for tau in (1, 2, 3):
        rows: dict[str, tuple[dict[str, int], int]] = {}
        combo = gated_steps("T", ({"S": 1}, 0), ((1, tau),), ({"g": 1}, 0), big, rows)
        for g in (0, 1):
            for s in range(-8, big + tau):
                value = sum(w * _relu(rows[n][0].get("S", 0) * s + rows[n][0].get("g", 0) * g
                                      + rows[n][1]) for n, w in combo.items())
                assert value == g * (s >= tau), (tau, g, s)
        g, s = 0, big + tau  # S - tau + 1 = L + 1: the gate leaks
        value = sum(w * _relu(rows[n][0]["S"] * s + rows[n][0]["g"] * g + rows[n][1])
                    for n, w in combo.items())
        assert value == 1


@pytest.mark.parametrize("profile", DIRECT_PROFILES)
@pytest.mark.parametrize("size", [(2, 2, 2), (4, 4, 4), (4, 16, 8), (8, 3, 16)])
def test_shape_and_weight_count(profile: str, size: tuple[int, int, int]) -> None:
    comp = build(profile, MachineSize(*size))
    assert profiles.structure_problems(comp) == []
    assert comp.network.depth == profiles.RELU_LAYERS[profile]
    assert not comp.network.layers[-1].relu
    assert comp.network.nnz == direct_weights(profile, comp.size)
    assert estimate_weights(profile, comp.size) == comp.network.nnz
    assert all(float(v).is_integer() for layer in comp.network.layers for v in layer.vals)


def test_two_layer_trades_width_for_depth() -> None:
    size = MachineSize(4, 4, 8)
    two, three = build("two-layer", size).network, build("three-layer", size).network
    assert two.depth < three.depth
    # The first layer of two-layer holds the gated reads: 2 M N K of them.
    assert len(two.layers[0].outputs) >= 2 * size.words * size.bits * size.slots
    assert two.widest > three.widest


@pytest.mark.parametrize("profile", DIRECT_PROFILES)
def test_step_equals_interpreter_on_every_state(profile: str) -> None:
    comp = build(profile, SMALL)
    net = comp.network
    width = len(net.inputs)
    x = ((np.arange(1 << width)[:, None] >> np.arange(width)[None, :]) & 1).astype(np.int64)
    y = net.forward(x, "int64")
    want = step_spec(SMALL)({n: x[:, i] for i, n in enumerate(net.inputs.names)})
    for i, name in enumerate(net.outputs.names):
        assert (y[:, i] == np.asarray(want[name])).all(), name


@pytest.mark.parametrize("profile", DIRECT_PROFILES)
def test_registered_obligations_prove_at_the_smallest_size(profile: str) -> None:
    tag = "[words=2,bits=2,slots=2]"
    wanted = {f"computer/{profile}/step/monolithic{tag}", f"computer/{profile}/invariant{tag}",
              f"computer/{profile}/equals/paper-minimal{tag}",
              f"computer/{profile}/structure[words=4,bits=4,slots=4]",
              f"precision/{profile}[M=2,N=2,K=2]"}
    found = {e.name: e for e in profiles.entries()}
    assert wanted <= set(found)
    for name in sorted(wanted):
        r = run_entry(found[name], Options())
        assert r.verdict is Verdict.PROVED, f"{name}: {r.reason}"


@pytest.mark.parametrize("profile", DIRECT_PROFILES)
@pytest.mark.parametrize("layer", [0, -2, -1])
def test_a_changed_weight_is_refuted(profile: str, layer: int) -> None:
    ob = monolithic(profile, SMALL)
    net = ob.network
    index = layer % len(net.layers)
    refuted = 0
    for k in range(0, len(net.layers[index].vals), max(1, len(net.layers[index].vals) // 5)):
        bad = with_layer(net, index, with_entry(net.layers[index], k, 1))
        r = check(Obligation(ob.name, bad, ob.domain, ob.spec, ob.bounds), Options())
        refuted += r.verdict is Verdict.REFUTED  # a harmless change may stay proved
    assert refuted > 0, f"no change in layer {index} of {profile} was refuted"


def test_unit_lemmas_hold_for_every_width_and_fail_when_weakened() -> None:
    assert profiles.lemmas_check(10.0).verdict is Verdict.PROVED
    weak = profiles.lemmas_check(10.0, slack=2)  # V <= 2P still holds; V = 2P + 1 leaks
    assert weak.verdict is Verdict.REFUTED
    assert "gated-threshold" in weak.reason and "gated-word" in weak.reason


def test_registers_tighten_the_certificate() -> None:
    comp = build("three-layer", MachineSize(4, 4, 4))
    assert comp.registers
    tight = certificate(comp).largest("any_order")
    assert tight < analyse(comp.network).largest("any_order")
    assert profiles.precision_check("three-layer", SMALL).verdict is Verdict.PROVED
