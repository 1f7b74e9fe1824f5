"""``loopmlp bench proofs``: how long each method takes to prove each gadget, width by width.

Design notes: docs/design/loopmlp.bench.proofs.md.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from constructions.computer.pipeline import build
from constructions.gadgets import Gadget
from constructions.gadgets.families import FAMILIES as ALL_FAMILIES
from constructions.gadgets.families import Family
from constructions.machine.subleq import MachineSize
from loopmlp.cli.common import version
from proofs.computer import compositional_entry
from verify.files import write_file
from verify.methods import Options, exhaustive, factorised, smt
from verify.result import Result

from .common import installed, machine, measure, verdict_label

EXHAUSTIVE_LIMIT = 1 << 24
LADDER = tuple(range(1, 13)) + (16, 32, 64)
QUICK_LADDER = (2, 3, 16, 64)
QUICK_SMT_MAX = 4  # --quick: the solver only at widths up to this
THROUGHPUT_BITS, QUICK_THROUGHPUT_BITS = 12, 8
THROUGHPUT_TARGET = 100_000_000  # network evaluations per second
WIDE_BITS, WIDE_TARGET = 64, 0.5  # every gadget at 64 bits, build included, in seconds
MONOLITHIC = ("z3-int", "z3-bv", "cvc5-bv", "bitwuzla-bv")
"""The monolithic proofs run beside ours, each where its solver is installed: z3 over the
integers (the method ``smt``) and over bit-vectors, cvc5 and bitwuzla over bit-vectors."""
METHODS = ("exhaustive", "factorised", "smt", "z3-bv", "cvc5-bv", "bitwuzla-bv")
OURS = ("exhaustive", "factorised")
BUILD_PROFILE, BUILD_SIZE, BUILD_TARGET = "paper", MachineSize(256, 16, 256), 2.0
STEP_TARGET = 60.0  # the compositional step at BUILD_SIZE, seconds (--scale)
PROVE_ALL_TARGET, CROSS_CHECK_TARGET = 600.0, 900.0  # seconds (--scale)
SCALE_SLACK = 1.25  # a prove run is stopped at this many times its target
DOCS = Path(__file__).resolve().parents[2] / "docs"
SECTION = "## Proof times"
COMMAND = "loopmlp bench proofs --write-docs"


FAMILIES: tuple[Family, ...] = tuple(ALL_FAMILIES[name] for name in (
    "subtract", "add", "compare", "increment", "branch", "read", "write", "match"))
"""The families measured, in the order of the table (read and write with 2 words)."""


def widths(family: Family, quick: bool) -> list[int]:
    """The widths of the ladder (``--quick``: the reduced one) the family's maker accepts."""
    ladder = QUICK_LADDER if quick else LADDER
    return [b for b in ladder if family.lowest <= b <= family.highest]


@dataclass(frozen=True)
class Row:
    """One timed check: a gadget at one width by one method."""

    gadget: str
    bits: int
    sizes: dict[str, int]
    method: str
    verdict: str  # proved | refuted | unknown | timeout
    seconds: float
    build_seconds: float
    checked: int
    total: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 6)
        d["build_seconds"] = round(self.build_seconds, 6)
        return d


@dataclass(frozen=True)
class Throughput:
    """Exhaustive network evaluations per second on one gadget."""

    gadget: str
    bits: int
    evaluations: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.evaluations / self.seconds if self.seconds > 0 else float("inf")

    @property
    def status(self) -> str:
        """``met`` or ``missed`` at the width the target is set for; ``not measured`` at any
        other width (a quick run measures a smaller gadget, which says nothing of the target)."""
        if self.bits != THROUGHPUT_BITS:
            return "not measured"
        return "met" if self.per_second >= THROUGHPUT_TARGET else "missed"

    def line(self) -> str:
        status = self.status
        if status == "not measured":
            status = f"not measured, the target is set at {THROUGHPUT_BITS} bits"
        return (f"exhaustive throughput: {self.gadget}[bits={self.bits}]: {self.evaluations} "
                f"evaluations in {self.seconds:.2f}s = {self.per_second / 1e6:.2f} million/s "
                f"(target >= {THROUGHPUT_TARGET / 1e6:g} million/s: {status})")


@dataclass(frozen=True)
class Target:
    """A figure to compare a measurement with; ``status`` says how it compares."""

    name: str
    target: str
    measured: str
    status: str  # met | missed | agrees | differs | not measured


@dataclass
class Report:
    """Everything one ``bench proofs`` run measured."""

    quick: bool
    monolithic_timeout: float
    rows: list[Row] = field(default_factory=list)
    throughput: Throughput | None = None
    seconds: float = 0.0
    configs: tuple[str, ...] = ("z3-int",)  # the monolithic configurations run
    left_out: dict[str, str] = field(default_factory=dict)  # configuration: the extra it needs
    build_paper: float | None = None  # seconds to build BUILD_PROFILE at BUILD_SIZE
    scale: dict[str, Any] = field(default_factory=dict)  # the --scale measurements
    load_start: float | None = None  # the 1-minute load average when the run began

    def targets(self) -> list[Target]:
        return targets(self)

    def to_json(self) -> dict[str, Any]:
        tp = self.throughput
        return {
            "tool": "loopmlp",
            "version": version(),
            "command": "bench proofs",
            "quick": self.quick,
            "monolithic_timeout": self.monolithic_timeout,
            "monolithic": list(self.configs),
            "left_out": dict(self.left_out),
            "exhaustive_limit": EXHAUSTIVE_LIMIT,
            "build_seconds": None if self.build_paper is None else round(self.build_paper, 6),
            "scale": self.scale,
            "load_average_start": self.load_start,
            "machine": machine(),
            "seconds": round(self.seconds, 3),
            "rows": [r.to_json() for r in self.rows],
            "throughput": None if tp is None else {
                "gadget": tp.gadget, "bits": tp.bits, "evaluations": tp.evaluations,
                "seconds": round(tp.seconds, 6), "per_second": round(tp.per_second, 1),
                "target_per_second": THROUGHPUT_TARGET,
            },
            "targets": [asdict(t) for t in self.targets()],
        }


# --------------------------------------------------------------------------- measuring
def _row(family: str, g: Gadget, bits: int, build: float, r: Result) -> Row:
    return Row(family, bits, dict(g.sizes), r.method, verdict_label(r), r.seconds, build,
               r.checked, r.total, r.reason)


Tick = Callable[[str, int | None, int | None], None]


def method_of(config: str) -> str:
    """The method column of a monolithic configuration: ``smt`` for z3 over the integers (the
    method of that name), else the configuration's own name."""
    return "smt" if config == "z3-int" else config


def run_family(family: Family, quick: bool, timeout: float, tick: Tick,
               configs: Sequence[str] = ("z3-int",)) -> list[Row]:
    """Every width of one family, each method in turn; each monolithic configuration stops at
    its first width it does not decide (a timeout, or an unknown)."""
    rows: list[Row] = []
    open_configs = list(configs)
    for bits in widths(family, quick):
        t0 = time.perf_counter()
        g = family.make(bits, 2)
        ob = g.obligation()
        build = time.perf_counter() - t0  # obligation() compiles the units: not in the timings
        what = f"{family.name}[bits={bits}]"

        def progress(done: int, total: int, what: str = what) -> None:
            tick(f"{what} exhaustive", done, total)

        if ob.domain.count <= EXHAUSTIVE_LIMIT:
            tick(f"{what} exhaustive", 0, ob.domain.count)
            rows.append(_row(family.name, g, bits, build,
                             exhaustive(ob, Options("exhaustive", progress=progress))))
        if ob.factorisation is not None:
            tick(f"{what} factorised", None, None)
            rows.append(_row(family.name, g, bits, build,
                             factorised(ob, Options("factorised", timeout=timeout))))
        if quick and bits > QUICK_SMT_MAX:
            continue
        for config in list(open_configs):
            method = method_of(config)
            tick(f"{what} {method} (limit {timeout:g}s)", None, None)
            r = (smt(ob, Options("smt", timeout=timeout)) if config == "z3-int"
                 else measure(ob, config, timeout))
            row = _row(family.name, g, bits, build, replace(r, method=method))
            rows.append(row)
            if row.verdict in ("timeout", "unknown"):
                open_configs.remove(config)
    return rows


def measure_throughput(report: Report) -> Throughput:
    """Exhaustive evaluations per second on subtract (12 bits; 8 with ``--quick``), reusing the
    ladder's timing when it has that row."""
    bits = QUICK_THROUGHPUT_BITS if report.quick else THROUGHPUT_BITS
    for r in report.rows:
        if (r.gadget, r.bits, r.method, r.verdict) == ("subtract", bits, "exhaustive", "proved"):
            return Throughput("subtract", bits, r.checked, r.seconds)
    res = exhaustive(ALL_FAMILIES["subtract"].make(bits, 2).obligation())
    return Throughput("subtract", bits, res.checked, res.seconds)


def measure_build() -> float:
    """Seconds to build :data:`BUILD_PROFILE` at :data:`BUILD_SIZE`
    (:func:`constructions.computer.pipeline.build`)."""
    t0 = time.perf_counter()
    build(BUILD_PROFILE, BUILD_SIZE)
    return time.perf_counter() - t0


def measure_step(timeout: float = 600.0) -> dict[str, Any]:
    """The compositional step of :data:`BUILD_PROFILE` at :data:`BUILD_SIZE`, proved as
    ``prove`` proves it: verdict and seconds."""
    t0 = time.perf_counter()
    r = compositional_entry(BUILD_PROFILE, BUILD_SIZE, slow=True).run(
        Options(timeout=timeout))
    return {"verdict": r.verdict.label, "seconds": round(time.perf_counter() - t0, 3),
            "reason": r.reason[:300]}


# Every obligation, whole obligations spread over worker processes (one per core): how a user
# proves everything on a machine with more than one core.
PROVE_ALL_FLAGS = ("--all", "--executor", "processes", "--distribute", "obligations")


def measure_prove(*flags: str, limit: float) -> dict[str, Any]:
    """``loopmlp prove FLAGS --quiet --json FILE`` as a user runs it (a fresh process): its
    exit code, wall seconds and the summary of its JSON. Stopped after ``limit`` seconds
    (``exit`` None, ``stopped`` True)."""
    with tempfile.TemporaryDirectory(prefix="loopmlp-bench-") as tmp:
        path = f"{tmp}/results.json"
        t0 = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, "-c", "import sys; from loopmlp.cli import entry_point; "
                 "sys.exit(entry_point())", "prove", *flags, "--quiet", "--json", path],
                capture_output=True, text=True, check=False, timeout=limit)
        except subprocess.TimeoutExpired:
            return {"flags": list(flags), "exit": None, "seconds": round(limit, 3),
                    "summary": {}, "stopped": True}
        seconds = time.perf_counter() - t0
        try:
            with open(path, encoding="utf-8") as f:
                summary = json.load(f).get("summary", {})
        except (OSError, ValueError):
            summary = {}
    tail = (done.stderr.strip().splitlines() or [""])[-1][:300]
    return {"flags": list(flags), "exit": done.returncode, "seconds": round(seconds, 3),
            "summary": summary, **({"stderr": tail} if done.returncode not in (0, 1, 3) else {})}


def run(quick: bool, timeout: float, tick: Tick | None = None,
        families: Sequence[Family] = FAMILIES, scale: bool = False) -> Report:
    """Measure every family with our methods and each installed monolithic configuration,
    then the throughput, the build of the paper machine (not with ``quick``) and, with
    ``scale``, the compositional step at M=256, ``prove --all`` and ``prove --cross-check``."""
    t0 = time.perf_counter()
    configs, left_out = installed(MONOLITHIC)
    report = Report(quick, timeout, configs=configs, left_out=left_out,
                    load_start=machine()["load_average"])
    step = tick or (lambda *_: None)
    for family in families:
        report.rows += run_family(family, quick, timeout, step, configs)
    report.throughput = measure_throughput(report)
    if not quick:
        step(f"build {BUILD_PROFILE} at {_size(BUILD_SIZE)}", None, None)
        report.build_paper = measure_build()
    if scale:
        step(f"compositional step, {BUILD_PROFILE} at {_size(BUILD_SIZE)}", None, None)
        report.scale["step"] = measure_step()
        step("loopmlp prove " + " ".join(PROVE_ALL_FLAGS), None, None)
        report.scale["prove_all"] = measure_prove(*PROVE_ALL_FLAGS,
                                                  limit=SCALE_SLACK * PROVE_ALL_TARGET)
        step("loopmlp prove --cross-check", None, None)
        report.scale["cross_check"] = measure_prove("--cross-check",
                                                    limit=SCALE_SLACK * CROSS_CHECK_TARGET)
    report.seconds = time.perf_counter() - t0
    return report


def _size(size: MachineSize) -> str:
    return f"M={size.words},N={size.bits},K={size.slots}"


# --------------------------------------------------------------------------- targets
def _best(report: Report, gadget: str, bits: int,
          methods: Sequence[str] = OURS) -> Row | None:
    """The fastest proof of a gadget at one width by one of ``methods`` (default: ours)."""
    proved = [r for r in report.rows
              if (r.gadget, r.bits, r.verdict) == (gadget, bits, "proved")
              and r.method in methods]
    return min(proved, key=lambda r: r.seconds, default=None)


def ratio(report: Report, gadget: str, bits: int) -> str:
    """How many times longer the fastest monolithic proof took than ours (``> N`` when every
    monolithic configuration tried timed out, ``-`` when a side is missing)."""
    ours = _best(report, gadget, bits)
    if ours is None:
        return "-"
    mono = [method_of(c) for c in report.configs]
    best = _best(report, gadget, bits, mono)
    if best is not None:
        return f"{best.seconds / max(ours.seconds, 1e-6):.3g}"
    tried = [r for r in report.rows if (r.gadget, r.bits) == (gadget, bits) and r.method in mono]
    if tried and all(r.verdict == "timeout" for r in tried):
        return f"> {report.monolithic_timeout / max(ours.seconds, 1e-6):.3g}"
    return "-"


def _seconds(x: float) -> str:
    return f"{x:.2f} s" if x < 120 else f"{x / 60:.1f} min"


def _limit(x: float) -> str:
    return f"{x:g} s" if x < 120 else f"{x / 60:g} min"


def _gadget_targets(report: Report) -> list[Target]:
    """One row per family with a factorisation: proved at 64 bits in time, build included."""
    out: list[Target] = []
    for family in FAMILIES:
        if not any(r.gadget == family.name for r in report.rows) or family.highest < WIDE_BITS:
            continue
        if not any((r.gadget, r.method) == (family.name, "factorised") for r in report.rows):
            continue
        name = f"{family.name} at {WIDE_BITS} bits proved"
        best = _best(report, family.name, WIDE_BITS)
        if best is None:
            tried = any((r.gadget, r.bits) == (family.name, WIDE_BITS) for r in report.rows)
            out.append(Target(name, f"< {WIDE_TARGET:g} s", "not proved" if tried else "-",
                              "missed" if tried else "not measured"))
            continue
        total = best.seconds + best.build_seconds
        out.append(Target(name, f"< {WIDE_TARGET:g} s",
                          f"{total:.2f} s ({best.method}, build included)",
                          "met" if total < WIDE_TARGET else "missed"))
    return out


def _scale_target(report: Report, key: str, name: str, limit: float) -> Target:
    got = report.scale.get(key)
    if got is None:
        return Target(name, f"< {_limit(limit)}", "- (opt-in: --scale)", "not measured")
    if key == "step":
        ok = got["verdict"] == "proved"
        measured = f"{_seconds(got['seconds'])}, {got['verdict']}"
    elif got.get("stopped"):
        ok = False
        measured = f"stopped after {_seconds(got['seconds'])}, unfinished"
    else:
        s = got.get("summary", {})
        # `--all` includes the all-lengths claims that are false by construction (refuted with
        # their witness strings), so it exits 1; the target is its time with nothing unknown.
        refuted_ok = key == "prove_all" or s.get("refuted", 1) == 0
        ok = got["exit"] in (0, 1) and s.get("unknown", 1) == 0 and refuted_ok
        measured = (f"{_seconds(got['seconds'])}, {s.get('proved', '?')} proved, "
                    f"{s.get('refuted', '?')} refuted, {s.get('unknown', '?')} unknown"
                    if s else f"{_seconds(got['seconds'])}, exit {got['exit']}")
    return Target(name, f"< {_limit(limit)}", measured,
                  "met" if ok and got["seconds"] < limit else "missed")


def targets(report: Report) -> list[Target]:
    """The figures this project aims for, with this run's measurements (each measured by the
    run itself; the ones behind ``--scale`` are "not measured" without it)."""
    out = _gadget_targets(report)
    at32 = sorted({r.gadget for r in report.rows if r.bits == 32})
    bests = [_best(report, g, 32) for g in at32]
    if not at32:
        out.append(Target("all gadgets at 32 bits, together", "< 30 s", "-", "not measured"))
    elif any(b is None for b in bests):
        missing = [g for g, b in zip(at32, bests) if b is None]
        out.append(Target("all gadgets at 32 bits, together", "< 30 s",
                          f"not proved: {', '.join(missing)}", "missed"))
    else:
        total = sum(b.seconds + b.build_seconds for b in bests if b is not None)
        out.append(Target("all gadgets at 32 bits, together", "< 30 s",
                          f"{total:.2f} s ({len(at32)} gadgets, build included)",
                          "met" if total < 30 else "missed"))
    tp = report.throughput
    want = f">= {THROUGHPUT_TARGET / 1e6:g} million/s"
    if tp is None or tp.bits != THROUGHPUT_BITS:
        measured = "-" if tp is None else f"{tp.per_second / 1e6:.2f} million/s at {tp.bits} bits"
        out.append(Target("exhaustive throughput, subtract at 12 bits", want, measured,
                          "not measured"))
    else:
        out.append(Target("exhaustive throughput, subtract at 12 bits", want,
                          f"{tp.per_second / 1e6:.2f} million/s", tp.status))
    build_name = f"building {BUILD_PROFILE} at {_size(BUILD_SIZE)}"
    if report.build_paper is None:
        out.append(Target(build_name, f"< {BUILD_TARGET:g} s", "- (not with --quick)",
                          "not measured"))
    else:
        out.append(Target(build_name, f"< {BUILD_TARGET:g} s", f"{report.build_paper:.2f} s",
                          "met" if report.build_paper < BUILD_TARGET else "missed"))
    out.append(_scale_target(report, "step", f"compositional step, {BUILD_PROFILE} at "
                             f"{_size(BUILD_SIZE)}", STEP_TARGET))
    out.append(_scale_target(report, "prove_all", "prove --all", PROVE_ALL_TARGET))
    out.append(_scale_target(report, "cross_check", "prove --cross-check, nothing unknown",
                             CROSS_CHECK_TARGET))
    smt_rows = [r for r in report.rows if r.gadget == "subtract" and r.method == "smt"]
    first = next((r.bits for r in smt_rows if r.verdict == "timeout"), None)
    if first is None:
        last = max((r.bits for r in smt_rows), default=None)
        out.append(Target("monolithic z3 on subtract times out", "at 9 to 16 bits",
                          "-" if last is None else f"no timeout up to {last} bits",
                          "not measured" if last is None or last < 16 else "differs"))
    else:
        out.append(Target("monolithic z3 on subtract times out", "at 9 to 16 bits",
                          f"at {first} bits (limit {report.monolithic_timeout:g} s)",
                          "agrees" if 9 <= first <= 16 else "differs"))
    return out


# --------------------------------------------------------------------------- rendering
HEADER = ("gadget", "bits", "method", "verdict", "seconds")


def _cells(r: Row) -> tuple[str, ...]:
    return (r.gadget, str(r.bits), r.method, r.verdict, f"{r.seconds:.3f}")


def render_plain(report: Report, out: IO[str]) -> None:
    """Aligned plain-text tables (when stdout is not a terminal)."""
    rows = [HEADER] + [_cells(r) for r in report.rows]
    widths = [max(len(row[k]) for row in rows) for k in range(len(HEADER))]
    right = {1, 4}
    for row in rows:
        print("  ".join(c.rjust(w) if k in right else c.ljust(w)
                        for k, (c, w) in enumerate(zip(row, widths))).rstrip(), file=out)
    _render_tail_plain(report, out)


def _render_tail_plain(report: Report, out: IO[str]) -> None:
    print(file=out)
    if report.throughput is not None:
        print(report.throughput.line(), file=out)
    print("targets:", file=out)
    ts = report.targets()
    cols = [(t.name, t.target, t.measured, t.status) for t in ts]
    widths = [max(len(c[k]) for c in cols) for k in range(4)]
    for c in cols:
        print("  " + "  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip(), file=out)
    print(f"measured in {report.seconds:.1f}s", file=out)


def render_rich(report: Report, out: IO[str]) -> None:
    """rich tables (when stdout is a terminal)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out)
    table = Table(title="proof times")
    for k, h in enumerate(HEADER):
        table.add_column(h, justify="right" if k in (1, 4) else "left")
    style = {"proved": "green", "refuted": "red", "timeout": "yellow", "unknown": "yellow"}
    for r in report.rows:
        cells = list(_cells(r))
        cells[3] = f"[{style.get(r.verdict, '')}]{r.verdict}[/]"
        table.add_row(*cells)
    console.print(table)
    if report.throughput is not None:
        console.print(report.throughput.line(), markup=False, highlight=False)
    tt = Table(title="targets")
    for h in ("figure", "target", "measured", "status"):
        tt.add_column(h)
    for t in report.targets():
        tt.add_row(*(Text(c) for c in (t.name, t.target, t.measured, t.status)))
    console.print(tt)
    console.print(f"measured in {report.seconds:.1f}s", markup=False, highlight=False)


# --------------------------------------------------------------------------- docs
def _cell(report: Report, gadget: str, bits: int, method: str) -> str:
    row = next((r for r in report.rows
                if (r.gadget, r.bits, r.method) == (gadget, bits, method)), None)
    if row is None:
        return "-"
    if row.verdict == "proved":
        return f"{row.seconds:.3f}"
    if row.verdict == "timeout":
        return f"timeout ({report.monolithic_timeout:g} s)"
    return f"{row.verdict} ({row.seconds:.2f} s)"


def _versions(configs: Sequence[str]) -> str:
    """``cvc5 1.2.0, bitwuzla 0.7.0``: the versions of the other solvers run."""
    out = []
    for name in ("cvc5", "bitwuzla"):
        if any(c.startswith(name) for c in configs):
            try:
                out.append(f"{name} {importlib.metadata.version(name)}")
            except importlib.metadata.PackageNotFoundError:
                out.append(name)
    return "".join(f", {v}" for v in out)


def load_note(report: Report, m: dict[str, Any]) -> str:
    """The load on the machine while the run measured, and what it means for the figures."""
    end = m["load_average"]
    if end is None:
        return ""
    start = report.load_start if report.load_start is not None else end
    busy = max(start, end) > 0.75 * (m["cores"] or 1)
    note = (f" The 1-minute load average was {start:.1f} when the run began and {end:.1f} "
            f"when it finished, on {m['cores']} cores")
    if busy:
        return note + (": the machine was shared with other work while it measured, so every "
                       "figure here is slower than it would be on an idle machine, the "
                       "solvers' most of all.")
    return note + "."


def docs_section(report: Report, plot: str | None) -> str:
    """The "Proof times" section of docs/benchmarks.md, in Markdown."""
    m = machine()
    date = dt.date.today().isoformat()
    command = COMMAND.replace(" --write-docs", " --quick --write-docs") if report.quick else COMMAND
    if report.scale:
        command = command.replace(" --write-docs", " --scale --write-docs")
    mono = [method_of(c) for c in report.configs]
    methods = [x for x in METHODS if x in OURS or x in mono]
    left = "".join(f" {c} was not run ({why})." for c, why in report.left_out.items())
    lines = [
        SECTION,
        "",
        f"Measured with `{command}` on {date}: "
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, numpy {m['numpy']}, "
        f"z3 {m['z3']}{_versions(report.configs)}; {report.seconds:.0f} s in all."
        f"{load_note(report, m)} `loopmlp bench proofs --json` gives the same measurements "
        "as JSON.",
        "",
        "Seconds are the check alone (building a gadget is listed as `build_seconds` in the "
        "JSON; the targets include it). Ours: exhaustive where the domain has at most 2^24 "
        "points, factorised where the gadget declares its affine forms (every family but "
        "match). Beside them, in the same run, the monolithic SMT proof of the same gadget, "
        "the one query a user would otherwise ask: smt is z3 over the integers, z3-bv, "
        "cvc5-bv and bitwuzla-bv the named solver over bit-vectors of a width that cannot "
        f"wrap, each with a {report.monolithic_timeout:g} s limit per query and not tried "
        f"again at larger widths once it has timed out.{left} The last column is the "
        "fastest monolithic proof's time over ours (`> x` when every monolithic proof timed "
        "out, x being the limit over ours). Read and write have 2 words of `bits` bits; "
        "match's width is its address width. `-` means not run.",
        "",
    ]
    if plot:
        lines += [f"![Proof seconds against width, log scale]({plot})", ""]
    lines += ["| figure | target | measured | status |", "| --- | --- | --- | --- |"]
    lines += [f"| {t.name} | {t.target} | {t.measured} | {t.status} |" for t in report.targets()]
    lines.append("")
    if report.scale:
        lines += ["`prove --all` is measured as `loopmlp prove " + " ".join(PROVE_ALL_FLAGS)
                  + "` (whole obligations on one worker process per core); it exits 1 by "
                  "design, since it includes the all-lengths claims refuted with their "
                  "witness strings, and counts as met when nothing is unknown.", ""]
    if not report.scale:
        lines += ["The compositional step at M=256, `prove --all` and `prove --cross-check` "
                  "take minutes each: `loopmlp bench proofs --scale` measures them (each "
                  "`prove` in a fresh process, as a user runs it).", ""]
    if report.throughput is not None:
        lines += [report.throughput.line()[0].upper() + report.throughput.line()[1:] + ".", ""]
    lines += ["| gadget | bits | " + " | ".join(f"{x} (s)" for x in methods)
              + " | monolithic / ours |",
              "| --- | ---: | " + " | ".join("---:" for _ in methods) + " | ---: |"]
    seen: list[tuple[str, int]] = []
    for r in report.rows:
        if (r.gadget, r.bits) not in seen:
            seen.append((r.gadget, r.bits))
    for gadget, bits in seen:
        cells = [_cell(report, gadget, bits, x) for x in methods]
        lines.append(f"| {gadget} | {bits} | " + " | ".join(cells)
                     + f" | {ratio(report, gadget, bits)} |")
    return "\n".join(lines) + "\n"


def replace_section(text: str, section: str) -> str:
    """``text`` with its "Proof times" section replaced by ``section`` (appended if absent);
    every other section is kept as it is."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.rstrip() == SECTION), None)
    if start is None:
        sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        return text + sep + section
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].startswith("## ") or lines[i].startswith("# ")), len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + section + ("\n" + tail if tail else "")


MONO_PANEL = "monolithic, fastest solver"


def _fastest(report: Report, gadget: str, mono: Sequence[str]) -> list[Row]:
    """Per width, the fastest monolithic proof of ``gadget`` (a timeout row where every
    configuration tried timed out)."""
    out: list[Row] = []
    for bits in sorted({r.bits for r in report.rows if r.gadget == gadget}):
        tried = [r for r in report.rows if (r.gadget, r.bits) == (gadget, bits)
                 and r.method in mono]
        best = _best(report, gadget, bits, mono)
        if best is not None:
            out.append(best)
        elif tried and all(r.verdict == "timeout" for r in tried):
            out.append(tried[0])
    return out


def plot(report: Report, path: Path) -> None:
    """Proof seconds against width, log scales: a panel for each of our methods and one for
    the fastest monolithic solver at each width, one line per gadget family in each; a
    timeout (of every solver) is an x at the limit. Needs matplotlib (the ``plot`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = list(dict.fromkeys(r.gadget for r in report.rows))
    colours = plt.get_cmap("tab10")
    mono = [method_of(c) for c in report.configs]
    panels = [*OURS, MONO_PANEL]
    fig, axes = plt.subplots(1, len(panels), figsize=(14, 5), sharey=True)
    for ax, method in zip(axes, panels):
        for k, gadget in enumerate(families):
            rows = ([r for r in report.rows if (r.gadget, r.method) == (gadget, method)]
                    if method != MONO_PANEL else _fastest(report, gadget, mono))
            done = [r for r in rows if r.verdict == "proved"]
            if done:
                ax.plot([r.bits for r in done], [max(r.seconds, 1e-4) for r in done],
                        marker="o", markersize=3, color=colours(k % 10), label=gadget)
            late = [r for r in rows if r.verdict == "timeout"]
            if late:
                ax.plot([r.bits for r in late], [report.monolithic_timeout] * len(late),
                        linestyle="none", marker="x", markersize=9, color=colours(k % 10))
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 2, 4, 8, 16, 32, 64], ["1", "2", "4", "8", "16", "32", "64"])
        ax.set_yscale("log")
        ax.set_title(method + (f" (x: timeout at {report.monolithic_timeout:g} s)"
                               if method not in OURS else ""))
        ax.set_xlabel("bits (address bits for match)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds to prove")
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_docs(report: Report, docs: Path, err: IO[str]) -> list[Path]:
    """Write the plot (when matplotlib is there) and the "Proof times" section."""
    docs.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    image: str | None = "proof_times.png"
    try:
        plot(report, docs / "proof_times.png")
        written.append(docs / "proof_times.png")
    except ImportError:
        print("loopmlp: matplotlib is not installed, so docs/proof_times.png is not written "
              "(install the plot extra: pip install -e '.[plot]')", file=err)
        image = None
    md = docs / "benchmarks.md"
    old = md.read_text(encoding="utf-8") if md.exists() else (
        "# Benchmarks\n\nEvery timing here comes with the command that reproduces it.\n\n")
    write_file(md, replace_section(old, docs_section(report, image)))
    written.append(md)
    return written
