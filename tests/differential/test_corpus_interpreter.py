"""The golden corpus against the reference interpreter and against a naive one written here.

Every program in ``constructions/programs`` must halt within its step budget, leave memory as its
``; expect:`` lines say, and agree step count, final PC and final memory with
:func:`naive_run`, an interpreter that shares no code with
:mod:`constructions.machine.subleq`: it keeps signed values, uses Python's own comparison for
the branch, and stops when an instruction changes nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from constructions.machine.asm import assemble, check_expected, disassemble, expected, load
from constructions.machine.subleq import run, step

CORPUS = Path(__file__).resolve().parents[2] / "constructions" / "programs"
PROGRAMS = sorted(CORPUS.glob("*.sq"))
MAX_STEPS = 5000


def naive_run(
    memory: list[int], code: list[tuple[int, int, int]], bits: int, limit: int
) -> tuple[list[int], int, int]:
    """Run from PC 0 on signed words; return (signed memory, final pc, steps that changed state)."""
    half = 2 ** (bits - 1)
    mem = [v - 2 * half if v >= half else v for v in memory]
    pc, steps = 0, 0
    while steps <= limit:
        a, b, c = code[pc]
        value = mem[b] - mem[a]
        while value >= half:
            value -= 2 * half
        while value < -half:
            value += 2 * half
        new_pc = c if value <= 0 else pc + 1
        if new_pc == len(code):
            new_pc = 0
        if value == mem[b] and new_pc == pc:
            return mem, pc, steps
        mem[b] = value
        pc = new_pc
        steps += 1
    raise AssertionError(f"no halt within {limit} steps")


def test_corpus_is_large_enough() -> None:
    assert len(PROGRAMS) >= 12


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_program_halts_with_expected_memory(path: Path) -> None:
    program = load(path)
    assert program.size.words <= 64 and program.size.slots <= 64
    assert program.size.bits == 16
    result = run(program.state, program.size, MAX_STEPS)
    assert result.halted, f"{path.name}: {result.reason} after {result.steps} steps"
    assert check_expected(program, result.state) == []
    assert expected(program.source or ""), f"{path.name} has no '; expect:' lines"


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_program_matches_naive_interpreter(path: Path) -> None:
    program = load(path)
    result = run(program.state, program.size, MAX_STEPS)
    mem, pc, steps = naive_run(
        list(program.state.memory), list(program.state.code), program.size.bits, MAX_STEPS
    )
    assert (result.steps, result.state.pc) == (steps, pc)
    mod = 2**program.size.bits
    assert result.state.memory == tuple(v % mod for v in mem)
    # The expect lines read independently of the library's parser.
    text = path.read_text(encoding="utf-8")
    for name, off, value in re.findall(r"^; expect: (\w+)(?:\+(\d+))? = (-?\d+)$", text, re.M):
        assert mem[program.data_labels[name] + int(off or 0)] == int(value), name


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_trace_is_made_of_steps(path: Path) -> None:
    program = load(path)
    result = run(program.state, program.size, MAX_STEPS, trace=True)
    assert result.trace is not None and len(result.trace) == result.steps + 1
    for before, after in zip(result.trace, result.trace[1:], strict=False):
        assert step(before, program.size) == after


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_program_round_trips(path: Path) -> None:
    program = load(path)
    again = assemble(disassemble(program))
    assert (again.size, again.state) == (program.size, program.state)
    assert (again.data_labels, again.code_labels) == (program.data_labels, program.code_labels)
    assert expected(again.source or "") == expected(program.source or "")
