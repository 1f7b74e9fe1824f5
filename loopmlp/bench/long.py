"""``loopmlp bench long``: an endurance run of the engine against the interpreter.

A SUBLEQ program of more than a million steps (``constructions/programs/long/long_loop.sq`` by
default) runs on the fast engine (:class:`constructions.computer.runtime.Engine`) in slices of
``--checkpoint`` steps. After every slice the engine's state is decoded and compared, in full
(memory, code, PC, step count), with the reference interpreter
(:mod:`constructions.machine.subleq`) run for the same number of steps; the Python heap peak of
the slice (tracemalloc) and the resident set size (RSS) are recorded, so that memory can be
seen to stay flat over the run.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from constructions.computer import build
from constructions.computer.runtime import Engine
from constructions.machine import asm, subleq
from constructions.machine.asm import PROGRAMS
from verify.errors import ParameterError

PROGRAM = PROGRAMS / "long" / "long_loop.sq"
DOCS = Path(__file__).resolve().parents[2] / "docs"
DOC_NAME = "long_run.md"
SLICE = 20_000
"""Steps the engine and the interpreter each run between two calls of the progress callback
(a checkpoint is run as slices of at most this many steps; the comparison is at the
checkpoint)."""

NOTES = """
Notes: tracemalloc traces every allocation of the run (engine and interpreter), which slows
both, so the rates above are lower than without it (`loopmlp bench run` measures the engines
without tracing).
The first slice's heap peak includes compiling the step (buffers and bound calls). The later
peaks grow by under 1 KiB per checkpoint: the checkpoint records this run keeps. The RSS does
not grow.
"""


@dataclass(frozen=True)
class Checkpoint:
    """The run after ``steps`` steps: whether engine and interpreter agree, and the memory."""

    steps: int
    agrees: bool
    engine_seconds: float  # engine time of this slice only
    interpreter_seconds: float
    heap_peak_bytes: int  # tracemalloc peak during the slice
    rss_bytes: int


def rss_bytes() -> int:
    """The resident set size of this process now (0 where /proc is not available)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def long_run(path: str | Path = PROGRAM, profile: str = "compact", checkpoint: int = 100_000,
             max_steps: int = 2_000_000,
             tick: Callable[[str, int], None] | None = None) -> dict[str, Any]:
    """Run the program to its halt (or ``max_steps``), checkpoint by checkpoint.

    ``tick(what, steps)`` is called as the run goes: ``what`` names the checkpoint and which
    side (engine or interpreter) is running; ``steps`` is the mean of the steps the two sides
    have run (so it reaches the run's step count when both have run them)."""
    if checkpoint < 1:
        raise ParameterError("checkpoint", checkpoint, "a positive number of steps")
    program = asm.load(path)
    if tick is not None:
        tick(f"building the {profile} network", 0)
    comp = build(profile, program.size)
    engine = Engine(comp)
    ref = program.state
    vec = comp.encode(program.state)[None, :]
    done = 0
    points: list[Checkpoint] = []

    def say(what: str, steps: int) -> None:
        if tick is not None:
            tick(what, steps)

    def side(what: str, base: int) -> Callable[[int], None]:
        """The tick of one side's slices: half its steps counted on top of ``base``."""
        return lambda n: say(what, base + n // 2)

    tracemalloc.start()
    try:
        halted = False
        while not halted and done < max_steps:
            todo = min(checkpoint, max_steps - done)
            at = f"checkpoint {len(points) + 1} (to step {done + todo:,})"
            tracemalloc.reset_peak()
            say(f"{at}, engine", done)
            t0 = time.perf_counter()
            got, vec = _engine_slices(engine, vec, todo, side(f"{at}, engine", done))
            t1 = time.perf_counter()
            say(f"{at}, interpreter", done + got.steps // 2)
            want = _interpreter_slices(ref, program.size, todo,
                                       side(f"{at}, interpreter", done + got.steps // 2))
            t2 = time.perf_counter()
            agrees = got.state == want.state and got.steps == want.steps and \
                got.halted == want.halted
            done += got.steps
            halted = got.halted
            points.append(Checkpoint(done, agrees, t1 - t0, t2 - t1,
                                     tracemalloc.get_traced_memory()[1], rss_bytes()))
            say(f"{at}, {'agrees' if agrees else 'DISAGREES'}", done)
            if not agrees:
                break
            ref = want.state
    finally:
        tracemalloc.stop()
    engine_s = sum(p.engine_seconds for p in points)
    interp_s = sum(p.interpreter_seconds for p in points)
    mismatched = [p.steps for p in points if not p.agrees]
    return {
        "program": str(path), "profile": profile, "arithmetic": engine.arithmetic,
        "size": {"words": program.size.words, "bits": program.size.bits,
                 "slots": program.size.slots},
        "steps": done, "halted": halted, "agrees": not mismatched,
        "expectations": asm.check_expected(program, ref) if halted and not mismatched else [],
        "engine_steps_per_second": done / engine_s if engine_s else 0.0,
        "interpreter_steps_per_second": done / interp_s if interp_s else 0.0,
        "checkpoints": [asdict(p) for p in points],
    }


def _engine_slices(engine: Engine, vec: Any, todo: int,
                   tick: Callable[[int], None]) -> tuple[subleq.RunResult, Any]:
    """The engine run ``todo`` steps from the state vector ``vec`` (or to its halt) in slices
    of :data:`SLICE`, ``tick(steps so far)`` after each: the machine decoded (final state,
    steps, halt) and the engine's own final state vector, from which the run goes on."""
    steps = 0
    while True:
        out = engine.run(vec, min(SLICE, todo - steps))
        m = out.machine(0)
        steps += m.steps
        vec = out.states[:1]
        tick(steps)
        if m.halted or steps >= todo or m.steps == 0:
            return subleq.RunResult(m.state, steps, m.halted, m.reason, None), vec


def _interpreter_slices(state: subleq.State, size: subleq.MachineSize, todo: int,
                        tick: Callable[[int], None]) -> subleq.RunResult:
    """The reference interpreter run ``todo`` steps from ``state`` (or to its halt) in slices
    of :data:`SLICE`, ``tick(steps so far)`` after each."""
    steps, halted = 0, False
    while True:
        r = subleq.run(state, size, min(SLICE, todo - steps))
        steps, state, halted = steps + r.steps, r.state, r.halted
        tick(steps)
        if halted or steps >= todo or r.steps == 0:
            return subleq.RunResult(state, steps, halted, r.reason, None)


def render(doc: dict[str, Any]) -> str:
    """The figures as a Markdown page."""
    size = doc["size"]
    lines = [
        "# Long run",
        "",
        "Written by `loopmlp bench long --write-docs`: the program below runs on the fast "
        "engine (`constructions.computer.runtime.Engine`) in slices; after every slice the full "
        "state (memory, code, PC, step count) is compared with the reference interpreter run for "
        "the same steps, and the heap peak of the slice (tracemalloc) and the RSS are recorded.",
        "",
        f"- program: `{Path(doc['program']).name}`, machine M={size['words']} "
        f"N={size['bits']} K={size['slots']}, profile `{doc['profile']}`, arithmetic "
        f"{doc['arithmetic']}",
        f"- steps: {doc['steps']:,}, halted: {doc['halted']}, engine = interpreter at every "
        f"checkpoint: {doc['agrees']}, expectations met: {not doc['expectations']}",
        f"- engine: {doc['engine_steps_per_second']:,.0f} steps/s; interpreter: "
        f"{doc['interpreter_steps_per_second']:,.0f} steps/s (one machine, this machine)",
        "",
        "| steps | agrees | engine s | interpreter s | heap peak KiB | RSS MiB |",
        "|---:|:---:|---:|---:|---:|---:|",
    ]
    for p in doc["checkpoints"]:
        lines.append(f"| {p['steps']:,} | {'yes' if p['agrees'] else 'NO'} | "
                     f"{p['engine_seconds']:.2f} | {p['interpreter_seconds']:.2f} | "
                     f"{p['heap_peak_bytes'] / 1024:.0f} | {p['rss_bytes'] / 2**20:.1f} |")
    return "\n".join(lines) + "\n" + NOTES
