"""``loopmlp bench process``: ``loopmlp run`` as a whole process (start-up, build, run, output)
against a plain Python SUBLEQ interpreter in a process of its own, on one long program.

Both run as subprocesses of this one, one after the other, ``repeat`` times; the best wall time
of each is compared. The interpreter is the minimal loop :data:`INTERPRETER`, given the
assembled program as JSON (so it needs neither the assembler nor this package); its final
memory, PC and step count must equal what ``loopmlp run --json`` reports.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from constructions.machine import asm
from constructions.machine.asm import PROGRAMS
from constructions.machine.subleq import signed_memory
from verify.errors import LoopmlpError, ParameterError

PROGRAM = PROGRAMS / "long" / "squares.sq"
"""The default program: 150,884 steps at 16 bits (sums of squares by repeated addition)."""
TARGET = 30.0
"""The ratio ``loopmlp run`` should stay under: its whole process against the interpreter's."""
MAX_STEPS = 1_000_000
"""The step limit both are given."""

INTERPRETER = """\
import json, sys
doc = json.load(open(sys.argv[1]))
mem, code, pc = doc["memory"], [tuple(i) for i in doc["code"]], 0
mask, half, slots, limit = (1 << doc["bits"]) - 1, 1 << (doc["bits"] - 1), doc["slots"], \\
    doc["max_steps"]
steps = 0
while True:
    a, b, c = code[pc]
    r = (mem[b] - mem[a]) & mask
    nxt = c if r == 0 or r >= half else (pc + 1) % slots
    if r == mem[b] and nxt == pc:
        break
    if steps == limit:
        break
    mem[b], pc, steps = r, nxt, steps + 1
print(json.dumps({"steps": steps, "pc": pc, "memory": mem}))
"""
"""The plain interpreter: one SUBLEQ step per iteration, on Python lists, stopping where the
state no longer changes (halted) or at the step limit, as :func:`constructions.machine.subleq.
run` does."""

LOOPMLP = "from loopmlp.cli import entry_point; entry_point()"
"""What the ``loopmlp`` console script runs."""


@dataclass(frozen=True)
class ProcessBench:
    """Wall times in seconds (the best of ``repeat`` runs, and every run) and what was run."""

    program: str
    profile: str
    steps: int
    interpreter_seconds: float
    loopmlp_seconds: float
    interpreter_runs: tuple[float, ...]
    loopmlp_runs: tuple[float, ...]
    agrees: bool
    command: tuple[str, ...]
    interpreter_cpu: float = 0.0
    loopmlp_cpu: float = 0.0

    @property
    def ratio(self) -> float:
        """How many times the interpreter's wall time ``loopmlp run`` takes."""
        return self.loopmlp_seconds / self.interpreter_seconds

    @property
    def cpu_ratio(self) -> float:
        """The same for processor time (the least of the runs of each): steadier than the wall
        times when other work shares the machine."""
        return self.loopmlp_cpu / self.interpreter_cpu if self.interpreter_cpu else 0.0

    def to_json(self) -> dict[str, Any]:
        """The figures, ratio and target included."""
        return {**asdict(self), "ratio": round(self.ratio, 2),
                "cpu_ratio": round(self.cpu_ratio, 2), "target": TARGET}


def _timed(argv: list[str]) -> tuple[float, float, str]:
    """Wall time, processor time and standard output of a subprocess; a failure is an error
    naming it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if done.returncode not in (0, 3):
        tail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise LoopmlpError(f"bench process: {' '.join(argv[:3])} ... exited "
                           f"{done.returncode}: {tail}")
    return seconds, cpu, done.stdout


def measure(program: str | Path = PROGRAM, profile: str = "compact", repeat: int = 3,
            tick: Callable[[str], None] | None = None) -> ProcessBench:
    """Run the interpreter and ``loopmlp run --profile P --json`` on ``program``, ``repeat``
    times each, alternating; compare their final states."""
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 100:
        raise ParameterError("--repeat", repeat, "an integer from 1 to 100")
    prog = asm.load(program)
    size, state = prog.size, prog.state
    command = (sys.executable, "-c", LOOPMLP, "run", str(program), "--profile", profile,
               "--json", "--max-steps", str(MAX_STEPS))
    ours: list[float] = []
    theirs: list[float] = []
    cpu_ours: list[float] = []
    cpu_theirs: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp) / "program.json"
        doc.write_text(json.dumps({"memory": list(state.memory), "code": list(state.code),
                                   "bits": size.bits, "slots": size.slots,
                                   "max_steps": MAX_STEPS}), encoding="utf-8")
        for i in range(repeat):
            if tick is not None:
                tick(f"interpreter, run {i + 1} of {repeat}")
            seconds, cpu, text = _timed([sys.executable, "-c", INTERPRETER, str(doc)])
            theirs.append(seconds)
            cpu_theirs.append(cpu)
            plain = json.loads(text)
            if tick is not None:
                tick(f"loopmlp run, run {i + 1} of {repeat}")
            seconds, cpu, text = _timed(list(command))
            ours.append(seconds)
            cpu_ours.append(cpu)
            run = json.loads(text)
    words = list(signed_memory(type(state)(tuple(plain["memory"]), state.code, plain["pc"]),
                               size))
    agrees = (run["steps"], run["pc"], run["words"]) == (plain["steps"], plain["pc"], words)
    return ProcessBench(str(program), profile, int(run["steps"]), min(theirs), min(ours),
                        tuple(theirs), tuple(ours), agrees, command[3:], min(cpu_theirs),
                        min(cpu_ours))


def render(b: ProcessBench) -> str:
    """The figures as lines of text."""
    runs = len(b.loopmlp_runs)
    lines = [
        f"program {b.program}: {b.steps:,} steps, profile {b.profile}",
        f"  plain Python interpreter (a subprocess): {b.interpreter_seconds:.3f} s "
        f"(best of {runs}: {', '.join(f'{s:.3f}' for s in b.interpreter_runs)})",
        f"  loopmlp {' '.join(b.command)}: {b.loopmlp_seconds:.3f} s "
        f"(best of {runs}: {', '.join(f'{s:.3f}' for s in b.loopmlp_runs)})",
        f"  ratio {b.ratio:.1f} (target: at most {TARGET:g}); processor time "
        f"{b.loopmlp_cpu:.3f} s against {b.interpreter_cpu:.3f} s, ratio {b.cpu_ratio:.1f}",
        f"  final states: {'agree' if b.agrees else 'DISAGREE'}",
    ]
    return "\n".join(lines) + "\n"
