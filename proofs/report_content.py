"""What a correctness report shows, gathered as plain values before it is rendered.

:class:`Report` holds the results and everything around them: the gadgets' formulas, the layer
structure of the catalogue's networks and of the assembled computer (when the construction
provides one), and a program's execution trace. :mod:`proofs.report_render` turns it into HTML and
Markdown, :mod:`proofs.report_plots` draws its pictures.
"""

from __future__ import annotations

import math
import platform
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from verify.network import Network
from verify.result import Counterexample, Result, Verdict, _short, summary

DEFAULT_TRACE_STEPS = 2000
TIMES_PNG, LAYERS_PNG, TRACE_PNG = "proof-times.png", "layers.png", "trace.png"
PICTURE_NAMES = (TIMES_PNG, LAYERS_PNG, TRACE_PNG)  # every picture a report may have


# --------------------------------------------------------------------------- formatting
def coverage(checked: int, total: int) -> str:
    """``checked/total``, with ``2^k`` for large powers of two and ``~2^x`` for other huge counts.

    ``coverage(65536, 65536) == '2^16/2^16'``, ``coverage(8, 8) == '8/8'``.
    """
    return f"{_count(checked)}/{_count(total)}"


def _count(n: int) -> str:
    if n < 1 << 16:
        return str(n)
    if n & (n - 1) == 0:
        return f"2^{n.bit_length() - 1}"
    if n < 10**7:
        return f"{n:,}"
    return f"~2^{math.log2(n):.1f}"


def _quote(arg: str) -> str:
    """Single quotes for a shell unless the text itself holds one (then shlex's quoting)."""
    return f"'{arg}'" if "'" not in arg else shlex.quote(arg)


def replay_command(name: str, cex: Counterexample) -> str:
    """The command that reproduces a counterexample: ``loopmlp replay 'NAME' --at 'DA=3,DB=5'``."""
    at = ",".join(f"{k}={v}" for k, v in cex.compact_inputs().items())
    return f"loopmlp replay {_quote(name)} --at {_quote(at)}"


def short_name(name: str) -> str:
    """``gadget/subtract[bits=4]`` -> ``subtract``: the name a counterexample call reads with."""
    return _short(name)


def finding(r: Result) -> str:
    """What a result says beyond its verdict: the differing outputs, or why it is not proved."""
    if r.counterexample is not None:
        return r.counterexample.describe(short_name(r.obligation))
    if r.verdict is Verdict.PROVED:
        return ""
    return r.reason


# --------------------------------------------------------------------------- report content
@dataclass(frozen=True)
class Picture:
    """A PNG picture: ``name`` is its file name next to ``report.md``."""

    name: str
    title: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class LayerRow:
    """One layer of a network as the report shows it."""

    index: int
    label: str
    owner: str
    outputs: int
    inputs: int
    nnz: int
    identity: bool
    relu: bool


@dataclass(frozen=True)
class NetworkView:
    """A network's layer structure: which gadget owns which layer, widths and nonzeros."""

    title: str
    layers: tuple[LayerRow, ...]

    @property
    def nnz(self) -> int:
        return sum(r.nnz for r in self.layers)


@dataclass(frozen=True)
class GadgetView:
    """A gadget's formulas, per layer: the first few units and how many are left out."""

    title: str
    exactness: str
    layers: tuple[tuple[str, tuple[str, ...], int], ...]


@dataclass(frozen=True)
class TraceView:
    """A program run on the reference interpreter: memory (signed) and PC at every step."""

    program: str
    size: str
    steps: int
    reason: str
    rows: tuple[str, ...]  # one label per memory word
    memory: tuple[tuple[int, ...], ...]  # memory[step][word]
    pc: tuple[int, ...]


@dataclass
class Report:
    """Everything a report shows; :mod:`proofs.report_render` turns it into HTML and Markdown."""

    results: list[Result]
    seconds: float
    source: str
    versions: dict[str, str]
    generated: str
    gadgets: list[GadgetView] = field(default_factory=list)
    networks: list[NetworkView] = field(default_factory=list)
    trace: TraceView | None = None
    pictures: dict[str, Picture] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return summary(self.results)


def versions() -> dict[str, str]:
    """Versions of loopmlp and of what its proofs run on."""
    import numpy

    from .cli import version

    try:
        import z3

        z3_version = z3.get_version_string()
    except ImportError:  # pragma: no cover - a dependency
        z3_version = "not installed"
    return {"loopmlp": version(), "z3": z3_version, "Python": platform.python_version(),
            "numpy": numpy.__version__}


_BUDGET = re.compile(r"^identity \((?P<owner>.+?)(?: budget)?\)$")


def owner(label: str) -> str:
    """The gadget or stage that owns a layer: its label up to the first ``:``.

    An identity layer padding a gadget's budget, labelled ``identity (subtract budget)``, belongs
    to that gadget (``subtract``).
    """
    m = _BUDGET.match(label.strip())
    if m:
        return m["owner"]
    return label.split(":", 1)[0].strip() or "(unlabelled)"


def network_view(title: str, net: Network) -> NetworkView:
    """The layer structure of any network."""
    rows = tuple(LayerRow(i, layer.label, owner(layer.label), layer.shape[0], layer.shape[1],
                          layer.nnz, layer.is_identity, layer.relu)
                 for i, layer in enumerate(net.layers))
    return NetworkView(title, rows)


def gadget_view(g: Any, shown: int = 4) -> GadgetView:
    """A gadget's formulas with long layers collapsed to their first ``shown`` units."""
    layers = tuple((label, tuple(fs[:shown]), max(0, len(fs) - shown))
                   for label, fs in g.formulas())
    return GadgetView(g.obligation_name, g.exactness, layers)


def _catalogue(bits: int) -> tuple[list[GadgetView], list[NetworkView]]:
    from constructions.gadgets import catalogue

    gadgets = catalogue(bits)
    views = [gadget_view(g) for g in gadgets]
    # All gadget layers side by side: the catalogue read as one pipeline.
    layers = [layer for g in gadgets for layer in g.network.layers]
    rows = tuple(LayerRow(i, layer.label, owner(layer.label), layer.shape[0], layer.shape[1],
                          layer.nnz, layer.is_identity, layer.relu)
                 for i, layer in enumerate(layers))
    nets = [NetworkView(f"gadget catalogue (bits={bits}), every gadget's layers in turn", rows)]
    return views, nets


def _computer_networks(size: Any, notes: list[str]) -> list[NetworkView]:
    """The assembled computer's layer structure per profile, when the construction provides it."""
    try:
        from constructions import computer  # type: ignore[attr-defined]
    except ModuleNotFoundError as e:
        if e.name != "constructions.computer":
            raise
        notes.append("The assembled computer (constructions.computer) is not part of this "
                     "installation: its layer structure is left out.")
        return []
    out = []
    for profile in getattr(computer, "PROFILES", ("paper", "compact")):
        what = f"the computer, profile {profile!r}, {_size_text(size)}"
        try:
            built = computer.build(profile, size)
        except Exception as e:  # noqa: BLE001 - an optional section: say what failed and go on
            notes.append(f"{what}: could not be built ({type(e).__name__}: {e}); its layer "
                         "structure is left out.")
            continue
        net = built if isinstance(built, Network) else getattr(built, "network", None)
        if not isinstance(net, Network):
            notes.append(f"{what}: the construction returned no network; its layer structure "
                         "is left out.")
            continue
        out.append(network_view(what, net))
    return out


def _size_text(size: Any) -> str:
    return f"words={size.words}, bits={size.bits}, slots={size.slots}"


def default_trace_program() -> Path:
    """``constructions/programs/factorial.sq``, wherever the package is installed."""
    import constructions

    return Path(constructions.__file__).parent / "programs" / "factorial.sq"


def _shown_path(path: str | Path) -> str:
    """A program's path as a reader knows it: relative to the working directory or the package."""
    import constructions

    p = Path(path).resolve()
    for base in (Path.cwd(), Path(constructions.__file__).parent.parent):
        try:
            return p.relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return str(path)


def trace_view(path: str | Path, max_steps: int) -> tuple[TraceView, Any]:
    """Run a program on the reference interpreter with a trace; (view, machine size)."""
    from constructions import asm, subleq

    prog = asm.load(path)
    run = subleq.run(prog.state, prog.size, max_steps, trace=True)
    assert run.trace is not None
    names: dict[int, list[str]] = {}
    for label, addr in prog.data_labels.items():
        names.setdefault(addr, []).append(label)
    rows = tuple(", ".join(names.get(a, [])) or f"[{a}]" for a in range(prog.size.words))
    memory = tuple(subleq.signed_memory(s, prog.size) for s in run.trace)
    reason = run.reason if run.halted else f"{run.reason} ({max_steps} steps)"
    view = TraceView(_shown_path(path), _size_text(prog.size), run.steps, reason, rows, memory,
                     tuple(s.pc for s in run.trace))
    return view, prog.size


def prepare_report(*, bits: int = 8, trace_program: str | Path | None = None,
                   trace_steps: int = DEFAULT_TRACE_STEPS) -> Report:
    """A report with everything but the results: gadgets, layer structure, trace.

    Built before any obligation runs, so a bad ``--trace-program`` fails at once.
    """
    rep = Report([], 0.0, "", versions(), datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    rep.gadgets, rep.networks = _catalogue(bits)
    program = trace_program if trace_program is not None else default_trace_program()
    rep.trace, size = trace_view(program, trace_steps)
    rep.networks += _computer_networks(size, rep.notes)
    return rep


def add_pictures(rep: Report) -> None:
    """Draw the pictures when matplotlib is installed; otherwise say so in the report."""
    try:
        import matplotlib
    except ImportError:
        rep.notes.append("matplotlib is not installed, so this report has no pictures; install "
                         "the optional extra `pip install 'loopmlp[plot]'` to get them.")
        return
    from . import report_plots

    rep.versions["matplotlib"] = matplotlib.__version__
    for pic in report_plots.pictures(rep):
        rep.pictures[pic.name] = pic



_SIZES = re.compile(r"^(?P<head>[^\[]*)\[(?P<sizes>[^\]]*)\](?P<tail>.*)$")


def bits_series(results: Sequence[Result]) -> dict[str, list[tuple[int, Result]]]:
    """Results with a ``bits=N`` size, grouped by family (other sizes kept) and method.

    ``gadget/read[words=4,bits=8]`` checked by ``factorised`` joins the series
    ``gadget/read[words=4] (factorised)`` at bits 8.
    """
    out: dict[str, list[tuple[int, Result]]] = {}
    for r in results:
        m = _SIZES.match(r.obligation)
        if not m:
            continue
        sizes = [s.strip() for s in m["sizes"].split(",")]
        bits = [s for s in sizes if re.fullmatch(r"bits=\d+", s)]
        if len(bits) != 1:
            continue
        rest = [s for s in sizes if s not in bits]
        key = m["head"] + (f"[{','.join(rest)}]" if rest else "") + m["tail"]
        out.setdefault(f"{key} ({r.method})", []).append((int(bits[0][5:]), r))
    for v in out.values():
        v.sort(key=lambda p: p[0])
    return out
