"""``loopmlp bench proofs``: how long each method takes to prove each gadget, width by width.

Design notes: docs/design/loopmlp.bench.proofs.md.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from constructions.gadgets import Gadget
from constructions.gadgets.families import FAMILIES as ALL_FAMILIES
from constructions.gadgets.families import Family
from loopmlp.cli.common import version
from verify.files import write_file
from verify.methods import Options, exhaustive, factorised, smt
from verify.result import Result

from .common import machine, verdict_label

EXHAUSTIVE_LIMIT = 1 << 24
LADDER = tuple(range(1, 13)) + (16, 32, 64)
QUICK_LADDER = (2, 3, 16)
QUICK_SMT_MAX = 4  # --quick: the solver only at widths up to this
THROUGHPUT_BITS, QUICK_THROUGHPUT_BITS = 12, 8
THROUGHPUT_TARGET = 20_000_000  # network evaluations per second
METHODS = ("exhaustive", "factorised", "smt")
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
            "exhaustive_limit": EXHAUSTIVE_LIMIT,
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


def run_family(family: Family, quick: bool, timeout: float, tick: Tick) -> list[Row]:
    """Every width of one family, each method in turn; smt stops at its first timeout."""
    rows: list[Row] = []
    smt_open = True
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
        if smt_open and not (quick and bits > QUICK_SMT_MAX):
            tick(f"{what} smt (limit {timeout:g}s)", None, None)
            row = _row(family.name, g, bits, build, smt(ob, Options("smt", timeout=timeout)))
            rows.append(row)
            smt_open = row.verdict != "timeout"
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


def run(quick: bool, timeout: float, tick: Tick | None = None,
        families: Sequence[Family] = FAMILIES) -> Report:
    """Measure every family, then the throughput."""
    t0 = time.perf_counter()
    report = Report(quick, timeout)
    for family in families:
        report.rows += run_family(family, quick, timeout, tick or (lambda *_: None))
    report.throughput = measure_throughput(report)
    report.seconds = time.perf_counter() - t0
    return report


# --------------------------------------------------------------------------- targets
def _best(report: Report, gadget: str, bits: int) -> Row | None:
    """The fastest proof of a gadget at one width, by any method."""
    proved = [r for r in report.rows
              if (r.gadget, r.bits, r.verdict) == (gadget, bits, "proved")]
    return min(proved, key=lambda r: r.seconds, default=None)


def targets(report: Report) -> list[Target]:
    """The figures this project aims for (from its issue), with this run's measurements."""
    out: list[Target] = []
    best = _best(report, "subtract", 64)
    if best is None:
        out.append(Target("subtract at 64 bits proved", "< 5 s", "-", "not measured"))
    else:
        total = best.seconds + best.build_seconds
        out.append(Target("subtract at 64 bits proved", "< 5 s",
                          f"{total:.2f} s ({best.method}, build included)",
                          "met" if total < 5 else "missed"))
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
    if tp is None or tp.bits != THROUGHPUT_BITS:
        measured = "-" if tp is None else f"{tp.per_second / 1e6:.2f} million/s at {tp.bits} bits"
        out.append(Target("exhaustive throughput, subtract at 12 bits", ">= 20 million/s",
                          measured, "not measured"))
    else:
        out.append(Target("exhaustive throughput, subtract at 12 bits", ">= 20 million/s",
                          f"{tp.per_second / 1e6:.2f} million/s", tp.status))
    smt_rows = [r for r in report.rows if r.gadget == "subtract" and r.method == "smt"]
    first = next((r.bits for r in smt_rows if r.verdict == "timeout"), None)
    if first is None:
        last = max((r.bits for r in smt_rows), default=None)
        out.append(Target("monolithic z3 on subtract times out", "at 12 to 16 bits",
                          "-" if last is None else f"no timeout up to {last} bits",
                          "not measured" if last is None or last < 12 else "differs"))
    else:
        out.append(Target("monolithic z3 on subtract times out", "at 12 to 16 bits",
                          f"at {first} bits (limit {report.monolithic_timeout:g} s)",
                          "agrees" if 12 <= first <= 16 else "differs"))
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


def docs_section(report: Report, plot: str | None) -> str:
    """The "Proof times" section of docs/benchmarks.md, in Markdown."""
    m = machine()
    date = dt.date.today().isoformat()
    command = COMMAND.replace(" --write-docs", " --quick --write-docs") if report.quick else COMMAND
    # other work on the machine slows every method alike: say how busy it was
    load = "" if m["load_average"] is None else (
        f" (1-minute load average {m['load_average']:.1f} when it finished)")
    lines = [
        SECTION,
        "",
        f"Measured with `{command}` on {date}: "
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, numpy {m['numpy']}, "
        f"z3 {m['z3']}; {report.seconds:.0f} s in all{load}. `loopmlp bench proofs --json` "
        "gives the same measurements as JSON.",
        "",
        "Seconds are the check alone (building a gadget is listed as `build_seconds` in the "
        "JSON). Exhaustive runs where the domain has at most 2^24 points; factorised where "
        "the gadget declares its affine forms (every family but match); smt is the monolithic "
        f"z3 proof over integers with a {report.monolithic_timeout:g} s limit per width, not "
        "tried again at larger widths once it has timed out. Read and write have 2 words of "
        "`bits` bits; match's width is its address width. `-` means not run.",
        "",
    ]
    if plot:
        lines += [f"![Proof seconds against width, log scale]({plot})", ""]
    lines += ["| figure | target | measured | status |", "| --- | --- | --- | --- |"]
    lines += [f"| {t.name} | {t.target} | {t.measured} | {t.status} |" for t in report.targets()]
    lines.append("")
    if report.throughput is not None:
        lines += [report.throughput.line()[0].upper() + report.throughput.line()[1:] + ".", ""]
    lines += ["| gadget | bits | " + " | ".join(f"{m} (s)" for m in METHODS) + " |",
              "| --- | ---: | " + " | ".join("---:" for _ in METHODS) + " |"]
    seen: list[tuple[str, int]] = []
    for r in report.rows:
        if (r.gadget, r.bits) not in seen:
            seen.append((r.gadget, r.bits))
    for gadget, bits in seen:
        cells = [_cell(report, gadget, bits, m) for m in METHODS]
        lines.append(f"| {gadget} | {bits} | " + " | ".join(cells) + " |")
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


def plot(report: Report, path: Path) -> None:
    """Proof seconds against width, log scales: one panel per method, one line per gadget
    family in each; a timeout is an x at the limit. Needs matplotlib (the ``plot`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = list(dict.fromkeys(r.gadget for r in report.rows))
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(METHODS), figsize=(14, 5), sharey=True)
    for ax, method in zip(axes, METHODS):
        for k, gadget in enumerate(families):
            rows = [r for r in report.rows if (r.gadget, r.method) == (gadget, method)]
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
                               if method == "smt" else ""))
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
