"""The golden corpus on every network profile, against the interpreter and its expect lines.

Every program in ``constructions/programs`` runs on the reference interpreter and, with
``check=True`` (the interpreter compared after every step), on the network of each profile: both
must halt, agree on the step count, the final state and the reason, and leave memory as the
program's ``; expect:`` lines say. The same programs then go through ``loopmlp run FILE --check
--json`` for one profile, and the JSON document is checked field by field against the
interpreter.

Programs whose machine has more than 8 words or 32 slots are slow here (their mid-sized layers
take the dense float path, several milliseconds a step): they run under ``-m slow``.
"""

from __future__ import annotations

import functools
import json
from io import StringIO
from pathlib import Path

import pytest

from constructions.computer import ALL_PROFILES, DIRECT_PROFILES, Computer, build
from constructions.computer.runner import run_network
from constructions.machine.asm import Program, check_expected, expected, load
from constructions.machine.subleq import MachineSize, RunResult, run, signed_memory
from loopmlp.cli import main

CORPUS = Path(__file__).resolve().parents[2] / "constructions" / "programs"
PROGRAMS = sorted(CORPUS.glob("*.sq"))
MAX_STEPS = 5000
DIRECT_STEPS = 100
CLI_PROFILE = "paper-minimal"
JSON_FIELDS = {"halted", "steps", "pc", "memory", "words", "agrees_with_interpreter", "profile",
               "layers"}


@functools.cache
def computer(profile: str, size: MachineSize) -> Computer:
    return build(profile, size)


@functools.cache
def reference(path: Path) -> tuple[Program, RunResult]:
    program = load(path)
    return program, run(program.state, program.size, MAX_STEPS)


def _marks(path: Path, profile: str = "") -> list[pytest.MarkDecorator]:
    size = load(path).size
    # The profiles written from formulas step about ten times slower under check=True.
    long = profile in DIRECT_PROFILES and reference(path)[1].steps > DIRECT_STEPS
    return [pytest.mark.slow] if size.words > 8 or size.slots > 32 or long else []


def test_corpus_is_there() -> None:
    assert len(PROGRAMS) >= 12
    assert any(not _marks(p) for p in PROGRAMS), "every corpus program would be slow here"


@pytest.mark.parametrize(
    ("path", "profile"),
    [pytest.param(p, prof, id=f"{p.stem}-{prof}", marks=_marks(p, prof))
     for p in PROGRAMS for prof in ALL_PROFILES],
)
def test_program_on_network(path: Path, profile: str) -> None:
    program, want = reference(path)
    assert want.halted, f"{path.name}: the interpreter stops with {want.reason!r}"
    assert check_expected(program, want.state) == []
    comp = computer(profile, program.size)
    got = run_network(comp, program.state, MAX_STEPS, check=True)
    assert got.agrees_with_interpreter is True, f"{path.name} on {profile}: {got.reason}"
    assert (got.halted, got.reason, got.steps) == (True, "halted", want.steps)
    assert got.state == want.state
    assert got.state.code == program.state.code
    assert check_expected(program, got.state) == []


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=_marks(p)) for p in PROGRAMS])
def test_program_through_cli(path: Path) -> None:
    program, want = reference(path)
    out, err = StringIO(), StringIO()
    code = main(["run", str(path), "--check", "--json", "--profile", CLI_PROFILE], out, err)
    assert (code, err.getvalue()) == (0, "")
    doc = json.loads(out.getvalue())
    assert JSON_FIELDS <= set(doc)
    size = program.size
    words = list(signed_memory(want.state, size))
    assert doc["halted"] is True
    assert doc["agrees_with_interpreter"] is True
    assert doc["steps"] == want.steps and type(doc["steps"]) is int
    assert doc["pc"] == want.state.pc
    assert doc["words"] == words
    assert doc["memory"] == {name: words[addr] for name, addr in program.data_labels.items()}
    assert doc["profile"] == CLI_PROFILE
    assert doc["layers"] == computer(CLI_PROFILE, MachineSize(2, 2, 2)).network.depth
    assert doc["size"] == {"words": size.words, "bits": size.bits, "slots": size.slots}
    # The expect lines, read off the JSON document alone.
    for ref, value in expected(program.source or "").items():
        name, sign, offset = ref.partition("+") if "+" in ref else ref.partition("-")
        addr = program.data_labels[name] + (int(offset) if sign == "+" else -int(offset or 0))
        assert doc["words"][addr] % (1 << size.bits) == value % (1 << size.bits), ref
