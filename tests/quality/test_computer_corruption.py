"""The computer's checks checked: one corrupted weight must be caught by every check that can.

A corruption changes one weight (or one bias) of the built computer: in a gadget layer, in a copy
unit a gadget layer carries along, or in an identity layer of the ``paper`` budget. Then:

- :func:`proofs.computer.structure_problems` must report it, naming the layer;
- the monolithic obligation at the smallest size (the whole network against the interpreter's
  step, every canonical state) must come back REFUTED by the exhaustive engine, with a
  counterexample that replays through the exact forward pass, that the intact network passes,
  and that, read as a machine state, makes the corrupted network and the interpreter differ;
- a corpus program run with ``check=True`` on a corrupted computer must report the
  disagreement, and ``loopmlp run --check`` must exit 1.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from support.mutation import with_bias, with_layer, with_weight

import loopmlp.cli.run
from constructions.computer import FOLDED_PROFILES, PROFILES, Computer, build, state_names
from constructions.computer.runner import run_network
from constructions.machine.asm import load
from constructions.machine.subleq import MachineSize, step
from loopmlp.cli import main
from proofs.computer import monolithic, structure_problems
from verify.methods import exhaustive, replay
from verify.obligation import Obligation
from verify.result import Verdict

SMALLEST = MachineSize(2, 2, 2)
CORPUS = Path(__file__).resolve().parents[2] / "constructions" / "programs"
CHEAP = ("countdown", "multiply", "abs", "gcd")
# Profiles whose layers are the gadget blocks themselves (a folded profile's corruptions are in
# tests/differential/test_compact.py).
UNFOLDED = tuple(p for p in PROFILES if p not in FOLDED_PROFILES)


@functools.cache
def computer(profile: str, size: MachineSize) -> Computer:
    return build(profile, size)


@functools.cache
def obligation(profile: str) -> Obligation:
    return monolithic(profile, SMALLEST)


def layer_index(comp: Computer, label: str) -> int:
    """The first layer whose plan has ``label``."""
    return next(i for i, p in enumerate(comp.plans) if p.label == label)


def corrupt(comp: Computer, label: str, unit: str, source: str | None, delta: int) -> Computer:
    """``comp`` with W[unit, source] (or the bias of ``unit`` when ``source`` is None) of the
    first layer labelled ``label`` changed by ``delta``; the entry must exist."""
    li = layer_index(comp, label)
    layer = comp.network.layers[li]
    r = layer.outputs.index(unit)
    if source is None:
        new = with_bias(layer, r, delta)
    else:
        c = layer.inputs.index(source)
        assert (r, c) in set(zip(layer.rows, layer.cols)), (unit, source)
        new = with_weight(layer, r, c, delta)
    return dataclasses.replace(comp, network=with_layer(comp.network, li, new))


# (profile, layer label, unit, source or None for the bias, delta, what structure_problems says)
CORRUPTIONS = [
    pytest.param(prof, "subtract: thresholds", "SUB[0,2]+", "DB.bit[0]", 1,
                 r"unit SUB\[0,2\]\+ is not subtract's .* renamed", id=f"{prof}-gadget-weight")
    for prof in UNFOLDED
] + [
    pytest.param(prof, "subtract: thresholds", "SUB[0,2]+", None, 1,
                 r"unit SUB\[0,2\]\+ is not subtract's .* renamed", id=f"{prof}-gadget-bias")
    for prof in UNFOLDED
] + [
    pytest.param(prof, "fetch: match", "MEM[0].bit[0]", "MEM[0].bit[0]", 1,
                 r"unit MEM\[0\]\.bit\[0\] is neither a gadget unit nor a copy",
                 id=f"{prof}-copy-unit")
    for prof in UNFOLDED
] + [
    pytest.param("paper", "identity (subtract budget)", "R.bit[0]", "R.bit[0]", 1,
                 r"\(identity \(subtract budget\)\) is not an exact identity",
                 id="paper-identity-weight"),
    pytest.param("paper", "identity (next PC budget)", "PC1.bit[0]", "PC1.bit[0]", -1,
                 r"\(identity \(next PC budget\)\) is not an exact identity",
                 id="paper-identity-zeroed"),
]


def test_intact_computers_pass() -> None:
    for profile in PROFILES:
        assert structure_problems(computer(profile, SMALLEST)) == []
        assert exhaustive(obligation(profile)).verdict is Verdict.PROVED


@pytest.mark.parametrize(("profile", "label", "unit", "source", "delta", "problem"), CORRUPTIONS)
def test_structure_names_the_layer(profile: str, label: str, unit: str, source: str | None,
                                   delta: int, problem: str) -> None:
    comp = computer(profile, SMALLEST)
    bad = corrupt(comp, label, unit, source, delta)
    problems = structure_problems(bad)
    li = layer_index(comp, label)
    assert len(problems) == 1, problems
    assert re.match(rf"layer {li}\b.*{problem}", problems[0]), problems[0]


@pytest.mark.parametrize(("profile", "label", "unit", "source", "delta", "problem"), CORRUPTIONS)
def test_monolithic_refutes_and_replays(profile: str, label: str, unit: str, source: str | None,
                                        delta: int, problem: str) -> None:
    comp = computer(profile, SMALLEST)
    bad = corrupt(comp, label, unit, source, delta)
    good_ob = obligation(profile)
    ob = dataclasses.replace(good_ob, name=good_ob.name + "~corrupt", network=bad.network)
    result = exhaustive(ob)
    assert result.verdict is Verdict.REFUTED, result.line()
    cex = result.counterexample
    assert cex is not None and cex.network and cex.network != cex.spec
    assert replay(ob, cex.inputs) == cex
    assert replay(good_ob, cex.inputs) is None
    assert result.line().startswith(f"{ob.name}: REFUTED exhaustive ")
    # As a machine state, the counterexample makes the corrupted network and the interpreter
    # part ways within one step.
    vec = np.array([cex.inputs[n] for n in state_names(SMALLEST)], dtype=np.int64)
    state = comp.decode(vec)
    got = bad.network.forward(vec[None, :], "python")[0]
    assert list(got) != list(comp.encode(step(state, SMALLEST)))


@pytest.mark.parametrize("profile", UNFOLDED)
def test_corpus_run_reports_the_disagreement(profile: str) -> None:
    """A wrong subtract threshold ([S >= 2] read as [S >= 0] for the lowest bit) is visible in
    at least one program; every program that sees it says so, at the step where it happens."""
    disagree = []
    for stem in CHEAP:
        program = load(CORPUS / f"{stem}.sq")
        comp = computer(profile, program.size)
        bad = corrupt(comp, "subtract: thresholds", "SUB[0,2]+", None, 1)
        got = run_network(bad, program.state, 5000, check=True)
        if got.agrees_with_interpreter is False:
            assert re.match(r"disagrees with the interpreter at step \d+", got.reason)
            assert not got.halted
            disagree.append(stem)
        else:
            assert got.agrees_with_interpreter is True and got.halted, (stem, got.reason)
    assert disagree, f"no program in {CHEAP} sees the corrupted threshold"


def test_cli_exits_1_on_a_corrupted_network(monkeypatch: pytest.MonkeyPatch) -> None:
    path = CORPUS / "countdown.sq"
    size = load(path).size
    bad = corrupt(computer("paper", size), "subtract: thresholds", "SUB[0,2]+", None, 1)
    monkeypatch.setattr(loopmlp.cli.run, "build", lambda profile, s: bad)
    out, err = StringIO(), StringIO()
    assert main(["run", str(path), "--check"], out, err) == 1, err.getvalue()
    assert "interpreter: DISAGREES" in out.getvalue()
    out = StringIO()
    assert main(["run", str(path), "--check", "--json"], out, StringIO()) == 1
    doc = json.loads(out.getvalue())
    assert doc["agrees_with_interpreter"] is False and doc["halted"] is False
    assert doc["reason"].startswith("disagrees with the interpreter at step ")


def test_non_canonical_step_is_a_disagreement() -> None:
    program = load(CORPUS / "countdown.sq")
    bad = corrupt(computer("paper", program.size), "fetch: match", "MEM[3].bit[0]",
                  "MEM[3].bit[0]", 1)
    got = run_network(bad, program.state, 5000, check=True)
    assert got.agrees_with_interpreter is False
    assert re.match(r"disagrees with the interpreter at step \d+", got.reason)
