"""``loopmlp bench run``: how fast the looped computer runs programs, engine by engine.

Design notes: docs/design/loopmlp.bench.run.md.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import scipy

from constructions.computer import ALL_PROFILES, PROFILES, Computer, build
from constructions.computer.runtime import Engine
from constructions.machine.asm import PROGRAMS, assemble
from constructions.machine.fixpoint import run_to_fixed_point
from constructions.machine.subleq import MachineSize, State
from constructions.machine.subleq import run as interpret
from loopmlp.cli.common import version
from verify.errors import ParameterError
from verify.network import Network

from . import common

LADDER = ((8, 8, 16), (16, 16, 64), (32, 16, 64), (64, 16, 128), (128, 16, 256),
          (256, 16, 256))
QUICK = 2  # --quick: the first two sizes
BATCHES = (1, 64, 1024)
FIT_BATCHES = (1, 64)
ENGINES = ("reference", "sparse", "float32")
PROGRAM = PROGRAMS / "countdown.sq"
DOCS = Path(__file__).resolve().parents[2] / "docs"
DOC_NAME = "benchmarks_run.md"
COMMAND = "loopmlp bench run --write-docs"
SEED = 2024
TARGET_SECONDS = 0.1  # aim of one timed run
MEASURE_SECONDS = 0.6  # aim of all the runs of one measurement
REPEATS = 9  # best of at most this many runs
MIN_STEPS = 20  # a batch run has a fixed cost (loading, unloading): spread it
MAX_STEPS = 400
INTERPRETER_STEPS = 100  # per program, so its per-run checks are spread over many steps
# Work per step (weights multiplied x machines) past which a batch is not run: the reference
# multiplies every weight of every layer, copies and identities included, in float64 or int64.
WORK_LIMIT = {"reference": 4e7, "sparse": 4e8, "float32": 4e8}
# A profile's ladder stops after the first size whose network has more weights than this: the
# computer is built and compiled by Python code per weight, and the compact profile's folded
# layers grow as M N K log K.
NNZ_LIMIT = 1e6
TARGET_SIZE = (16, 16, 64)
TARGET_ONE = 50.0  # microseconds per step, compact profile (else paper-minimal)
TARGET_PAPER = 200.0  # microseconds per step, paper profile


@dataclass
class Row:
    """One engine on one profile at one size."""

    size: tuple[int, int, int]
    profile: str
    engine: str
    arithmetic: str | None = None
    network_nnz: int = 0
    work_nnz: int | None = None  # weights multiplied per step
    build_seconds: float = 0.0  # the computer
    prepare_seconds: float | None = None  # the engine (reference: its plan)
    us_per_step: float | None = None  # one machine, wall clock
    us_per_step_cpu: float | None = None  # one machine, CPU time of this process
    rates: dict[int, float | None] = field(default_factory=dict)  # batch -> machine-steps/s
    peak_mib: float | None = None
    peak_batch: int | None = None
    refused: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Interpreted:
    """The interpreter on the same programs, one machine after another."""

    size: tuple[int, int, int]
    steps: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else math.inf


@dataclass
class Fit:
    """time per machine-step ~ nnz^exponent over the ladder, for one profile, engine, batch."""

    profile: str
    engine: str
    batch: int
    exponent: float
    points: int


@dataclass
class Target:
    name: str
    target: str
    measured: str
    status: str  # met | missed | not measured


@dataclass
class Report:
    quick: bool
    rows: list[Row] = field(default_factory=list)
    interpreter: list[Interpreted] = field(default_factory=list)
    seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at start and end
    stopped: dict[str, str] = field(default_factory=dict)  # profile -> why its ladder stopped
    skipped: list[str] = field(default_factory=list)  # (size, profile) pairs not measured

    def interpreter_rate(self, size: tuple[int, int, int]) -> float | None:
        return next((i.rate for i in self.interpreter if i.size == size), None)

    def ratio(self, row: Row, batch: int) -> float | None:
        rate, base = row.rates.get(batch), self.interpreter_rate(row.size)
        return None if rate is None or not base else rate / base

    def fits(self) -> list[Fit]:
        return fits(self.rows)

    def targets(self) -> list[Target]:
        return targets(self)

    def to_json(self) -> dict[str, Any]:
        rows = []
        for r in self.rows:
            d = asdict(r)
            d["size"] = dict(zip(("words", "bits", "slots"), r.size))
            d["rates"] = {str(b): v for b, v in r.rates.items()}
            d["ratio_to_interpreter"] = {str(b): self.ratio(r, b) for b in r.rates}
            rows.append(d)
        return {
            "tool": "loopmlp", "version": version(), "command": "bench run", "quick": self.quick,
            "machine": machine(), "load_average": list(self.load),
            "seconds": round(self.seconds, 3), "program": PROGRAM.name, "batches": list(BATCHES),
            "rows": rows,
            "interpreter": [{"size": dict(zip(("words", "bits", "slots"), i.size)),
                             "steps": i.steps, "seconds": round(i.seconds, 6),
                             "cpu_seconds": round(i.cpu_seconds, 6),
                             "steps_per_second": i.rate} for i in self.interpreter],
            "fits": [asdict(f) for f in self.fits()],
            "skipped": list(self.skipped),
            "targets": [asdict(t) for t in self.targets()],
        }


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    threads = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
               if k in os.environ}
    return {**common.machine(), "scipy": scipy.__version__, "blas_threads": threads}


# --------------------------------------------------------------------------- programs
def _program(size: MachineSize) -> Any:
    return assemble(PROGRAM.read_text(encoding="utf-8"), str(PROGRAM), words=size.words,
                    bits=size.bits, slots=size.slots)


def one_machine(size: MachineSize) -> State:
    """countdown from the largest positive word: runs 3 (2^(N-1) - 1) steps before it halts."""
    program = _program(size)
    memory = list(program.state.memory)
    memory[program.data_labels["n"]] = (1 << (size.bits - 1)) - 1
    return State(tuple(memory), program.state.code, 0)


def batch_machines(size: MachineSize, count: int, seed: int = SEED) -> list[State]:
    """countdown with random memories: random n and ticks, random words the program leaves."""
    program = _program(size)
    rng = np.random.default_rng(seed)
    declared = max(program.data_labels.values()) + 1
    top = 1 << size.bits
    halt = _halt_word(program)
    out = []
    for _ in range(count):
        memory = list(program.state.memory)
        memory[program.data_labels["n"]] = int(rng.integers(1, top >> 1))
        memory[program.data_labels["ticks"]] = int(rng.integers(0, top))
        for a in range(declared, size.words):
            if a != halt:
                memory[a] = int(rng.integers(0, top))
        out.append(State(tuple(memory), program.state.code, 0))
    return out


def _halt_word(program: Any) -> int:
    """The word ``halt`` reads (it must stay 0)."""
    code = program.state.code
    return next(a for j, (a, b, c) in enumerate(code) if a == b and c == j)


# --------------------------------------------------------------------------- engines
class Reference:
    """Network.forward in its plan's arithmetic, looped; halted machines stop counting."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.plan = network.plan([(0, 1)] * len(network.inputs))
        self.arithmetic = self.plan.arithmetic

    def run(self, x: np.ndarray, steps: int) -> int:
        """Machine-steps taken in at most ``steps`` evaluations (each counts the machines whose
        state it changed), stopping early once every machine has halted."""
        counted = 0

        def step(x: np.ndarray) -> np.ndarray:
            nonlocal counted
            y = self.network.forward(x, self.arithmetic)
            counted += int(np.count_nonzero((y != x).any(axis=1)))
            return y

        if steps > 0:
            run_to_fixed_point(step, x, steps - 1, same=np.array_equal)
        return counted


Runner = Callable[[np.ndarray, int], int]  # (states, steps) -> machine-steps taken


def _engine_runner(engine: Engine) -> Runner:
    return lambda x, steps: engine.run(x, steps).machine_steps


def _rate(runner: Runner, x: np.ndarray) -> tuple[float, float]:
    """Best machine-steps per second over short runs (about TARGET_SECONDS each, at least
    MIN_STEPS steps), as many as fit in MEASURE_SECONDS and at most REPEATS: by the wall clock,
    and by the process's CPU time (which leaves out the time other processes had the CPU)."""
    t0 = time.perf_counter()
    runner(x, 2)
    probe = max(time.perf_counter() - t0, 1e-6) / 3  # an engine's run(x, 2) evaluates 3 steps
    steps = int(min(MAX_STEPS, max(MIN_STEPS, TARGET_SECONDS / probe)))
    repeats = int(min(REPEATS, max(1, MEASURE_SECONDS / (probe * steps))))
    wall = cpu = 0.0
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        done = runner(x, steps)
        c1, t1 = time.process_time(), time.perf_counter()
        wall = max(wall, done / max(t1 - t0, 1e-9))
        cpu = max(cpu, done / max(c1 - c0, 1e-9))
    return wall, cpu


def _peak(prepare: Callable[[], Runner], x: np.ndarray) -> float:
    """Peak MiB traced while preparing an engine and running it two steps on ``x``."""
    tracemalloc.start()
    try:
        prepare()(x, 2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


Tick = Callable[[str], None]


def measure_size(size: tuple[int, int, int], report: Report, tick: Tick) -> None:
    """Every profile and engine at one size, then the interpreter on the same programs."""
    machine_size = MachineSize(*size)
    single = one_machine(machine_size)
    batch = batch_machines(machine_size, max(BATCHES))
    for profile in ALL_PROFILES:
        if profile in report.stopped:
            report.skipped.append(f"{','.join(map(str, size))} {profile}: not built, "
                                  f"{report.stopped[profile]}")
            continue
        tick(f"{size} {profile}: building")
        t0 = time.perf_counter()
        comp = build(profile, machine_size)
        built = time.perf_counter() - t0
        if comp.network.nnz > NNZ_LIMIT:
            report.stopped[profile] = (f"its network has {comp.network.nnz:,} weights at "
                                       f"{','.join(map(str, size))}, past {NNZ_LIMIT:,.0f} "
                                       f"(building and compiling larger ones takes minutes)")
        one = comp.encode(single)[None, :]
        many = np.stack([comp.encode(s) for s in batch])
        for engine in ENGINES:
            tick(f"{size} {profile}: {engine}")
            report.rows.append(measure_engine(comp, engine, built, one, many))
    tick(f"{size}: interpreter")
    report.interpreter.append(measure_interpreter(machine_size, batch))


def _prepare(comp: Computer, engine: str) -> Callable[[], Runner]:
    if engine == "reference":
        return lambda: Reference(comp.network).run
    dtype = "float32" if engine == "float32" else "auto"
    return lambda: _engine_runner(Engine(comp, dtype))


def measure_engine(comp: Computer, engine: str, built: float, one: np.ndarray,
                   many: np.ndarray) -> Row:
    """One engine: prepare, peak memory, one machine, then each batch within its work limit."""
    size = (comp.size.words, comp.size.bits, comp.size.slots)
    row = Row(size, comp.profile, engine, network_nnz=comp.network.nnz, build_seconds=built)
    t0 = time.perf_counter()
    try:
        if engine == "reference":
            ref = Reference(comp.network)
            runner: Runner = ref.run
            row.arithmetic, row.work_nnz = ref.arithmetic, comp.network.nnz
        else:
            eng = Engine(comp, "float32" if engine == "float32" else "auto")
            runner = _engine_runner(eng)
            row.arithmetic, row.work_nnz = eng.arithmetic, eng.nnz
    except ParameterError as e:
        row.refused = str(e)
        return row
    row.prepare_seconds = time.perf_counter() - t0
    work = row.work_nnz or 1
    allowed = [b for b in BATCHES if b == 1 or work * b <= WORK_LIMIT[engine]]
    for b in BATCHES:
        if b not in allowed:
            row.rates[b] = None
            row.notes.append(f"B={b} skipped: {work} weights x {b} machines per step is past "
                             f"{WORK_LIMIT[engine]:.0e} for this engine")
    row.peak_batch = max(allowed)
    row.peak_mib = _peak(_prepare(comp, engine), many[:row.peak_batch])
    rate, cpu = _rate(runner, one)
    row.us_per_step = 1e6 / rate if rate else None
    row.us_per_step_cpu = 1e6 / cpu if cpu else None
    row.rates[1] = rate
    for b in allowed:
        if b > 1:
            row.rates[b], _ = _rate(runner, many[:b])
    return row


def measure_interpreter(size: MachineSize, states: Sequence[State]) -> Interpreted:
    """The interpreter on the batch's programs one after another (INTERPRETER_STEPS steps
    each at most): the first pass takes programs until about TARGET_SECONDS have passed, and
    the best of a few passes over those programs counts."""
    t0, count = time.perf_counter(), 0
    while count < len(states) and time.perf_counter() - t0 < TARGET_SECONDS:
        interpret(states[count], size, INTERPRETER_STEPS)
        count += 1
    each = max(time.perf_counter() - t0, 1e-6)
    best: Interpreted | None = None
    for _ in range(int(min(REPEATS, max(1, MEASURE_SECONDS / each)))):
        steps, t0, c0 = 0, time.perf_counter(), time.process_time()
        for s in states[:count]:
            steps += interpret(s, size, INTERPRETER_STEPS).steps
        got = Interpreted((size.words, size.bits, size.slots), steps,
                          time.perf_counter() - t0, time.process_time() - c0)
        if best is None or got.rate > best.rate:
            best = got
    assert best is not None
    return best


def run(quick: bool, tick: Tick | None = None,
        ladder: Sequence[tuple[int, int, int]] | None = None) -> Report:
    """Measure the ladder (``--quick``: its first two sizes)."""
    t0 = time.perf_counter()
    report = Report(quick)
    start_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    sizes = ladder if ladder is not None else (LADDER[:QUICK] if quick else LADDER)
    for size in sizes:
        measure_size(size, report, tick or (lambda _: None))
    report.load = (start_load, os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0)
    report.seconds = time.perf_counter() - t0
    return report


# --------------------------------------------------------------------------- analysis
def fits(rows: Sequence[Row]) -> list[Fit]:
    """Least squares of log(time per machine-step) on log(network nnz), per profile, engine
    and batch (1: one machine, where fixed costs per step weigh; 64: where the work does)."""
    out = []
    for profile in dict.fromkeys(r.profile for r in rows):
        for engine in ENGINES:
            for batch in FIT_BATCHES:
                pts = [(r.network_nnz, 1 / rate) for r in rows
                       if (r.profile, r.engine) == (profile, engine)
                       and (rate := r.rates.get(batch))]
                if len({n for n, _ in pts}) >= 2:
                    x = np.log([n for n, _ in pts])
                    y = np.log([t for _, t in pts])
                    slope = float(np.polyfit(x, y, 1)[0])
                    out.append(Fit(profile, engine, batch, slope, len(pts)))
    return out


def _find(report: Report, profile: str, engine: str) -> Row | None:
    return next((r for r in report.rows if (r.size, r.profile, r.engine)
                 == (TARGET_SIZE, profile, engine)), None)


def targets(report: Report) -> list[Target]:
    """The figures the engine aims for, at (M, N, K) = (16, 16, 64), with this run's values."""
    where = "M=16,N=16,K=64"
    compact = "compact" if "compact" in PROFILES else "paper-minimal"
    out = []
    for profile, limit in ((compact, TARGET_ONE), ("paper", TARGET_PAPER)):
        row = _find(report, profile, "sparse")
        name = f"one machine, {profile}, {where}"
        if row is None or row.us_per_step is None:
            out.append(Target(name, f"< {limit:g} us/step", "-", "not measured"))
        else:
            cpu = "" if row.us_per_step_cpu is None else f" ({row.us_per_step_cpu:.1f} CPU)"
            out.append(Target(name, f"< {limit:g} us/step",
                              f"{row.us_per_step:.1f} us/step{cpu}",
                              "met" if row.us_per_step < limit else "missed"))
    base = report.interpreter_rate(TARGET_SIZE)
    for profile in ALL_PROFILES:
        row = _find(report, profile, "sparse")
        name = f"1024 machines, {profile}, {where}"
        want = "more machine-steps/s than the interpreter"
        rate = None if row is None else row.rates.get(1024)
        if rate is None or base is None:
            out.append(Target(name, want, "-", "not measured"))
        else:
            out.append(Target(name, want, f"{rate:,.0f} vs {base:,.0f} steps/s "
                              f"({rate / base:.1f}x)", "met" if rate > base else "missed"))
    return out


# --------------------------------------------------------------------------- rendering
HEADER = ("M,N,K", "profile", "engine", "arith", "nnz", "work nnz", "build s", "prepare s",
          "us/step", "us/step cpu", "B=1 steps/s", "B=64 steps/s", "B=1024 steps/s", "peak MiB",
          "x interp B=1", "x interp B=1024")
RIGHT = set(range(4, len(HEADER)))


def _num(v: float | None, fmt: str = ",.0f") -> str:
    return "-" if v is None else format(v, fmt)


def cells(report: Report, r: Row) -> tuple[str, ...]:
    size = ",".join(map(str, r.size))
    if r.refused is not None:
        return (size, r.profile, r.engine, "refused", f"{r.network_nnz:,}") + ("-",) * 11
    ratio1, ratio_b = report.ratio(r, 1), report.ratio(r, 1024)
    peak = "-" if r.peak_mib is None else f"{r.peak_mib:,.1f} (B={r.peak_batch})"
    return (size, r.profile, r.engine, r.arithmetic or "-", f"{r.network_nnz:,}",
            _num(r.work_nnz), f"{r.build_seconds:.2f}", _num(r.prepare_seconds, ".3f"),
            _num(r.us_per_step, ",.1f"), _num(r.us_per_step_cpu, ",.1f"),
            _num(r.rates.get(1)), _num(r.rates.get(64)), _num(r.rates.get(1024)), peak,
            _num(ratio1, ".2f"), _num(ratio_b, ".2f"))


def _refusals(report: Report) -> list[str]:
    seen: dict[str, list[str]] = {}
    for r in report.rows:
        if r.refused:
            seen.setdefault(r.engine, []).append(f"{','.join(map(str, r.size))} {r.profile}: "
                                                 f"{r.refused}")
    return [line for lines in seen.values() for line in lines]


def _notes(report: Report) -> list[str]:
    return [f"{','.join(map(str, r.size))} {r.profile} {r.engine}: {n}"
            for r in report.rows for n in r.notes] + report.skipped


def render_plain(report: Report, out: IO[str]) -> None:
    """Aligned plain-text tables, then refusals, skips, the interpreter, fits and targets."""
    rows = [HEADER] + [cells(report, r) for r in report.rows]
    widths = [max(len(row[k]) for row in rows) for k in range(len(HEADER))]
    for row in rows:
        print("  ".join(c.rjust(w) if k in RIGHT else c.ljust(w)
                        for k, (c, w) in enumerate(zip(row, widths))).rstrip(), file=out)
    print(file=out)
    for line in _refusals(report):
        print(f"refused: {line}", file=out)
    for line in _notes(report):
        print(f"skipped: {line}", file=out)
    for i in report.interpreter:
        print(f"interpreter {','.join(map(str, i.size))}: {i.steps} steps in {i.seconds:.2f}s "
              f"= {i.rate:,.0f} steps/s ({1e6 / i.rate:.1f} us/step, "
              f"{1e6 * i.cpu_seconds / max(i.steps, 1):.1f} CPU)", file=out)
    for f in report.fits():
        print(f"fit: {f.profile} {f.engine} B={f.batch}: time per machine-step ~ "
              f"nnz^{f.exponent:.2f} ({f.points} sizes)", file=out)
    print("targets:", file=out)
    ts = [(t.name, t.target, t.measured, t.status) for t in report.targets()]
    tw = [max(len(t[k]) for t in ts) for k in range(4)] if ts else []
    for t in ts:
        print("  " + "  ".join(x.ljust(w) for x, w in zip(t, tw)).rstrip(), file=out)
    print(f"measured in {report.seconds:.1f}s (load average {report.load[0]:.1f} at the start, "
          f"{report.load[1]:.1f} at the end)", file=out)


def docs_text(report: Report) -> str:
    """``docs/benchmarks_run.md``: the table and how it was measured."""
    return "\n".join(_docs_head(report) + _docs_method() + _docs_tables(report)) + "\n"


def _docs_head(report: Report) -> list[str]:
    """The title and what the numbers were measured with."""
    m = machine()
    command = COMMAND.replace(" --write-docs", " --quick --write-docs") if report.quick \
        else COMMAND
    env = " ".join(f"{k}={v}" for k, v in m["blas_threads"].items())
    command = f"{env} {command}" if env else command
    threads = f" ({env}: BLAS threads for the reference)" if env else ""
    return [
        "# Running programs: engine benchmarks",
        "",
        f"Generated by `{command}` on {dt.date.today().isoformat()}; do not edit by hand. "
        f"`loopmlp bench run --json` gives the same measurements as JSON.",
        "",
        f"Measured on {m['cpu']}, {m['cores']} cores, {m['system']}, Python {m['python']}, "
        f"numpy {m['numpy']}, scipy {m['scipy']}, in {report.seconds:.0f} s{threads}. "
        f"The machine was "
        f"shared: the 1-minute load average was {report.load[0]:.1f} at the start and "
        f"{report.load[1]:.1f} at the end, so every timing is the best of up to {REPEATS} short "
        f"runs (about {TARGET_SECONDS:g} s and at least {MIN_STEPS} steps each).",
        "",
    ]


def _docs_method() -> list[str]:
    """How it was run: the program, the engines, the columns, the limits."""
    return [
        "## How it was run",
        "",
        f"- Program: `constructions/programs/{PROGRAM.name}` assembled at each size. One "
        "machine counts down from the largest positive word (it does not halt within the "
        f"measurement); a batch is {max(BATCHES)} machines with random memories (random `n` "
        f"and `ticks`, random values in every unused word; seed {SEED}), of which the first B "
        "are run.",
        "- Engines: `reference` is `Network.forward` in the arithmetic `Network.plan` proves "
        "exact (float32, float64 or int64), looped; `sparse` is "
        "`constructions.computer.runtime.Engine` (copy units aliased, identity layers skipped, "
        "shared partial sums, int32 or int64 from the computer's precision certificate, "
        "`loopmlp precision`); `float32` is that engine in float32, which refuses unless the "
        "certificate bounds every partial sum below 2^24.",
        "- `nnz` is the network's nonzero weights; `work nnz` the weights an engine multiplies "
        "per step. `build s` builds the computer; `prepare s` compiles the engine (for the "
        "reference: computes its plan). `us/step` is one machine; `B=... steps/s` counts "
        "state-changing machine-steps per second (a machine that halts stops counting; an "
        "engine's `run(x, T)` evaluates T + 1 steps, the last one to see whether it halted, "
        "and counts T). "
        "`peak MiB` is the tracemalloc peak of preparing the engine and running two steps on "
        "the largest batch measured.",
        "- Interpreter: `constructions.machine.subleq.run` (Python) on the same batch's programs "
        f"one after another, at most {INTERPRETER_STEPS} steps each, best of a few passes; "
        "`x interp` is an engine's rate divided by the interpreter's.",
        "- `us/step` is the wall clock and decides the targets; `us/step cpu` divides this "
        "process's CPU time instead, which leaves out the time other processes held the CPU "
        "(the reference's BLAS threads, if several, add up in it).",
        "- Fit: least squares of log(seconds per machine-step) on log(nnz) over the sizes, per "
        "profile and engine, for one machine (B=1) and for B=64.",
        "- A batch is skipped where weights x machines per step passes "
        f"{WORK_LIMIT['reference']:.0e} for the reference ({WORK_LIMIT['sparse']:.0e} for the "
        "engines); a profile's ladder "
        f"stops after the first size whose network has more than {NNZ_LIMIT:,.0f} weights. "
        "Both are listed at the end.",
        "",
    ]


def _docs_tables(report: Report) -> list[str]:
    """The targets, the measurements, the interpreter, the fits and what was left out."""
    lines = [
        "## Targets",
        "",
        "| figure | target | measured | status |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {t.name} | {t.target} | {t.measured} | {t.status} |"
              for t in report.targets()]
    lines += ["", "## Measurements", "",
              "| " + " | ".join(HEADER) + " |",
              "| " + " | ".join("---:" if k in RIGHT else "---" for k in range(len(HEADER)))
              + " |"]
    lines += ["| " + " | ".join(cells(report, r)) + " |" for r in report.rows]
    lines += ["", "| M,N,K | interpreter steps | seconds | steps/s | us/step | us/step cpu |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {','.join(map(str, i.size))} | {i.steps} | {i.seconds:.2f} | {i.rate:,.0f} "
              f"| {1e6 / i.rate:.1f} | {1e6 * i.cpu_seconds / max(i.steps, 1):.1f} |"
              for i in report.interpreter]
    fit_lines = [f"- {f.profile}, {f.engine}, B={f.batch}: time per machine-step ~ "
                 f"nnz^{f.exponent:.2f} ({f.points} sizes)" for f in report.fits()]
    if fit_lines:
        lines += ["", "## Scaling", ""] + fit_lines
    extra = [f"- refused: {r}" for r in _refusals(report)] + \
        [f"- skipped: {n}" for n in _notes(report)]
    if extra:
        lines += ["", "## Refused and skipped", ""] + extra
    return lines
