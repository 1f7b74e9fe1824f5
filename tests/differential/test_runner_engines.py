"""The engine path of :func:`constructions.computer.runner.run_network` against the interpreter:
halting and step limits on every side of the engine's bursts, trace and check included."""

from __future__ import annotations

from functools import cache

import pytest

from constructions.computer import Computer, build
from constructions.computer.runner import run_network
from constructions.computer.runtime import BURST, Engine
from constructions.machine.asm import Program, assemble
from constructions.machine.subleq import run as interpret


@cache
def countdown(n: int) -> Program:
    """2 steps per count and one more: halts after 2 n - 1 steps."""
    return assemble(f".size words=4 bits=8 slots=4\n.data\nzero: 0\none: 1\nn: {n}\n.code\n"
                    "loop: subleq one, n, done\n      subleq zero, zero, loop\ndone: halt\n")


@cache
def computer(profile: str) -> tuple[Computer, Engine]:
    comp = build(profile, countdown(1).size)
    return comp, Engine(comp, bounds="interval")


@pytest.mark.parametrize("profile", ["paper-minimal", "compact"])
def test_halting_and_limits_around_the_bursts(profile: str) -> None:
    comp, engine = computer(profile)
    edges = [BURST - 1, BURST, BURST + 1, 2 * BURST - 1, 2 * BURST, 2 * BURST + 1]
    for n in (1, 2, BURST // 2, BURST // 2 + 1, BURST, BURST + 1):
        program = countdown(n)
        for limit in [0, 1, *edges, 1000]:
            want = interpret(program.state, program.size, limit)
            got = run_network(comp, program.state, limit, engine="engine", compiled=engine)
            assert (got.state, got.steps, got.halted, got.reason) == \
                (want.state, want.steps, want.halted, want.reason), (n, limit)


def test_trace_and_check_on_the_engine() -> None:
    comp, engine = computer("compact")
    program = countdown(5)
    want = interpret(program.state, program.size, 100, trace=True)
    got = run_network(comp, program.state, 100, trace=True, check=True, engine="engine",
                      compiled=engine)
    assert got.agrees_with_interpreter is True and got.trace == want.trace
    assert (got.state, got.steps) == (want.state, want.steps)


def test_an_engine_of_another_computer_is_refused() -> None:
    comp, _ = computer("compact")
    _, other = computer("paper-minimal")
    with pytest.raises(Exception, match="compiled"):
        run_network(comp, countdown(3).state, 10, engine="engine", compiled=other)
