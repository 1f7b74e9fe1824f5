"""``loopmlp bench build``: the cost of building computers at scale, against its targets.

Three figures: :func:`constructions.computer.build` of the paper profile at 256 words of 16
bits and 256 slots (in this process, the best of ``repeat``); ``loopmlp info`` at 1024 words of
32 bits and 1024 slots, and ``loopmlp run --profile compact`` at 256 words and slots on a short
program, each as a whole process (wall time and peak resident memory, best of ``repeat``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from constructions.computer import build
from constructions.machine.asm import PROGRAMS
from constructions.machine.subleq import MachineSize
from verify.errors import LoopmlpError, ParameterError

BUILD_SIZE = MachineSize(256, 16, 256)
"""The size the in-process build is timed at (paper profile)."""
INFO_ARGS = ("info", "--words", "1024", "--bits", "32", "--slots", "1024", "--json")
RUN_ARGS = ("run", str(PROGRAMS / "max_list.sq"), "--words", "256", "--slots", "256",
            "--profile", "compact", "--json")
TARGETS = {"build": 2.0, "info": 5.0, "run": 5.0}
"""Seconds each figure should stay under."""

CHILD = """\
import json, resource, sys, time
t = time.perf_counter()
from loopmlp.cli import main
code = main(sys.argv[1:], open("/dev/null", "w"), sys.stderr)
seconds = time.perf_counter() - t
use = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"code": code, "seconds": seconds, "rss_kib": use.ru_maxrss,
                  "cpu": use.ru_utime + use.ru_stime}))
"""
"""A ``loopmlp`` command in a child process, reporting its exit code, its time from the first
import to the end, its processor time and its peak resident memory (KiB, as ``getrusage``
gives it on Linux)."""


@dataclass(frozen=True)
class Figure:
    """One measurement: the best wall time of its runs, every run, the processor time of the
    best run (on a loaded machine the steadier figure) and the peak memory."""

    name: str
    what: str
    seconds: float
    runs: tuple[float, ...]
    cpu_seconds: float
    peak_mib: float | None
    target: float

    @property
    def meets(self) -> bool:
        return self.seconds <= self.target


@dataclass(frozen=True)
class BuildBench:
    """The three figures."""

    figures: tuple[Figure, ...]

    def to_json(self) -> dict[str, Any]:
        return {"figures": [{**asdict(f), "meets_target": f.meets} for f in self.figures]}


def _child(argv: tuple[str, ...]) -> tuple[float, float, float]:
    """Wall time, processor time and peak memory (MiB) of ``loopmlp argv`` in a child
    process."""
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - t
    try:
        doc = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        doc = {"code": done.returncode}
    if done.returncode != 0 or doc.get("code") not in (0, 3):
        tail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise LoopmlpError(f"bench build: loopmlp {' '.join(argv[:3])} ... failed: {tail}")
    return wall, doc["cpu"], doc["rss_kib"] / 1024


def measure(repeat: int = 1, tick: Callable[[str], None] | None = None) -> BuildBench:
    """Time the build, ``info`` and ``run`` (``repeat`` times each; the best counts)."""
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 20:
        raise ParameterError("--repeat", repeat, "an integer from 1 to 20")
    builds: list[tuple[float, float]] = []
    for i in range(repeat):
        if tick is not None:
            tick(f"build paper {BUILD_SIZE.words}/{BUILD_SIZE.bits}/{BUILD_SIZE.slots}, "
                 f"run {i + 1} of {repeat}")
        t, cpu = time.perf_counter(), time.process_time()
        build("paper", BUILD_SIZE)
        builds.append((time.perf_counter() - t, time.process_time() - cpu))
    best = min(builds)
    figures = [Figure("build", f"build('paper', MachineSize({BUILD_SIZE.words}, "
                      f"{BUILD_SIZE.bits}, {BUILD_SIZE.slots})) in this process",
                      best[0], tuple(w for w, _ in builds), best[1], None, TARGETS["build"])]
    for name, argv in (("info", INFO_ARGS), ("run", RUN_ARGS)):
        runs: list[tuple[float, float, float]] = []
        for i in range(repeat):
            if tick is not None:
                tick(f"loopmlp {name}, run {i + 1} of {repeat}")
            runs.append(_child(argv))
        shown = " ".join(a if "/" not in a else a.rsplit("/", 1)[-1] for a in argv)
        top = min(runs)
        figures.append(Figure(name, f"loopmlp {shown} (whole process)", top[0],
                              tuple(w for w, _, _ in runs), top[1],
                              max(m for _, _, m in runs), TARGETS[name]))
    return BuildBench(tuple(figures))


def render(b: BuildBench) -> str:
    """The figures as lines of text."""
    lines = []
    for f in b.figures:
        memory = f", peak memory {f.peak_mib:,.0f} MiB" if f.peak_mib is not None else ""
        runs = ", ".join(f"{s:.2f}" for s in f.runs)
        verdict = "meets" if f.meets else "MISSES"
        lines.append(f"{f.name}: {f.what}: {f.seconds:.2f} s (best of {len(f.runs)}: {runs}; "
                     f"processor {f.cpu_seconds:.2f} s){memory}; target at most {f.target:g} "
                     f"s: {verdict}")
    return "\n".join(lines) + "\n"
