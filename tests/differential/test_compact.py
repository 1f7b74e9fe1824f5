"""The ``compact`` profile: four ReLU layers and an affine decode, against the interpreter.

Every corpus program runs on compact with the interpreter compared after every step; the
layers, the plans ``loopmlp info`` prints, the flag gadget and the fold are checked here too,
and a corrupted compact network must be found by the structure check and refuted (with a
replaying counterexample) by the monolithic step proof.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from io import StringIO
from pathlib import Path

import pytest
from support.mutation import with_bias, with_layer

from constructions.computer import Computer, build
from constructions.computer.placement import DECODE
from constructions.computer.runner import run_network
from constructions.gadgets.flag import make_flag
from constructions.machine.asm import check_expected, load
from constructions.machine.subleq import MachineSize, run
from loopmlp.cli import main
from loopmlp.cli.info import describe
from proofs.computer import fold_check, monolithic, structure_problems
from verify.methods import Options, check, exhaustive, replay
from verify.result import Verdict

CORPUS = Path(__file__).resolve().parents[2] / "constructions" / "programs"
PROGRAMS = sorted(CORPUS.glob("*.sq"))
SMALLEST = MachineSize(2, 2, 2)


@functools.cache
def computer(size: MachineSize) -> Computer:
    return build("compact", size)


def _marks(path: Path) -> list[pytest.MarkDecorator]:
    size = load(path).size
    return [pytest.mark.slow] if size.words > 8 or size.slots > 32 else []


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=_marks(p)) for p in PROGRAMS])
def test_corpus_program_on_compact(path: Path) -> None:
    program = load(path)
    want = run(program.state, program.size, 5000)
    got = run_network(computer(program.size), program.state, 5000, check=True)
    assert got.agrees_with_interpreter is True, f"{path.name}: {got.reason}"
    assert (got.halted, got.steps, got.state) == (want.halted, want.steps, want.state)
    assert check_expected(program, got.state) == []


@pytest.mark.parametrize("size", [(2, 2, 2), (4, 8, 4), (16, 16, 64)])
def test_four_relu_layers_then_an_affine_decode(size: tuple[int, int, int]) -> None:
    comp = computer(MachineSize(*size))
    net = comp.network
    assert net.depth == 4
    assert [layer.relu for layer in net.layers] == [True] * 4 + [False]
    assert len(comp.plans) == len(net.layers)
    assert comp.plans[-1].label == DECODE
    assert net.inputs == net.outputs
    assert comp.unfolded is not None and comp.unfolded.depth > net.depth
    assert structure_problems(comp) == []


def test_info_reports_the_layers() -> None:
    d = describe(computer(MachineSize(4, 8, 4)))
    assert d["layers"] == 4
    assert [x["label"] for x in d["per_layer"]][-1] == DECODE
    out, err = StringIO(), StringIO()
    assert main(["info", "--profile", "compact", "--words", "4", "--bits", "8", "--slots", "4",
                 "--json"], out, err) == 0
    assert json.loads(out.getvalue())["layers"] == 4


@pytest.mark.parametrize("bits", [2, 3, 4, 6])
def test_flag_gadget_exhaustive(bits: int) -> None:
    assert check(make_flag(bits).obligation(), Options("exhaustive")).verdict is Verdict.PROVED


def test_flag_gadget_factorised_at_16_bits() -> None:
    assert check(make_flag(16).obligation(), Options("factorised")).verdict is Verdict.PROVED


@pytest.mark.parametrize("against", ["", "paper-minimal"])
def test_fold_proved_at_the_smallest_size(against: str) -> None:
    result = exhaustive(fold_check("compact", SMALLEST, against))
    assert result.verdict is Verdict.PROVED, result.line()


def test_corrupted_compact_is_found_and_refuted() -> None:
    comp = computer(SMALLEST)
    li = 2  # threshold layer: the subtract's lowest threshold unit gets its bias moved
    layer = comp.network.layers[li]
    new = with_bias(layer, layer.outputs.index("SUB[0,2]+"), 1)
    bad = dataclasses.replace(comp, network=with_layer(comp.network, li, new))
    problems = structure_problems(bad)
    assert problems == [f"layer {li}: unit SUB[0,2]+ is not the fold of its gadget units"]
    good = monolithic("compact", SMALLEST)
    ob = dataclasses.replace(good, name=good.name + "~corrupt", network=bad.network)
    result = exhaustive(ob)
    assert result.verdict is Verdict.REFUTED, result.line()
    assert result.counterexample is not None
    assert replay(ob, result.counterexample.inputs) == result.counterexample
    assert replay(good, result.counterexample.inputs) is None
    fold_ob = dataclasses.replace(fold_check("compact", SMALLEST), network=bad.network)
    assert exhaustive(fold_ob).verdict is Verdict.REFUTED
