"""The content of a report gathered before it is rendered: the versions, the gadgets'
formulas, the layer structure of the catalogue and of the computer, a program's trace, and the
pictures (:mod:`loopmlp.report.plots`, when matplotlib is installed)."""

from __future__ import annotations

import platform
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from constructions import computer
from constructions.gadgets import catalogue
from constructions.machine import asm, subleq
from loopmlp.cli.common import version
from verify.network import Layer, Network

from .model import (
    GadgetView,
    LayerRow,
    NetworkView,
    Report,
    TraceView,
)

DEFAULT_TRACE_STEPS = 2000


def versions() -> dict[str, str]:
    """Versions of loopmlp and of what its proofs run on."""
    import numpy

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


def layer_rows(layers: Sequence[Layer]) -> tuple[LayerRow, ...]:
    """One row per layer, numbered in turn."""
    return tuple(LayerRow(i, layer.label, owner(layer.label), layer.shape[0], layer.shape[1],
                          layer.nnz, layer.is_identity, layer.relu)
                 for i, layer in enumerate(layers))


def network_view(title: str, net: Network) -> NetworkView:
    """The layer structure of any network."""
    return NetworkView(title, layer_rows(net.layers))


def gadget_view(g: Any, shown: int = 4) -> GadgetView:
    """A gadget's formulas with long layers collapsed to their first ``shown`` units."""
    layers = tuple((label, tuple(fs[:shown]), max(0, len(fs) - shown))
                   for label, fs in g.formulas())
    return GadgetView(g.obligation_name, g.exactness, layers)


def _catalogue(bits: int) -> tuple[list[GadgetView], list[NetworkView]]:
    gadgets = catalogue(bits)
    views = [gadget_view(g) for g in gadgets]
    # All gadget layers side by side: the catalogue read as one pipeline.
    rows = layer_rows([layer for g in gadgets for layer in g.network.layers])
    nets = [NetworkView(f"gadget catalogue (bits={bits}), every gadget's layers in turn", rows)]
    return views, nets


def _computer_networks(size: Any, notes: list[str]) -> list[NetworkView]:
    """The assembled computer's layer structure per profile (a profile that cannot be built at
    this size is left out, with a note saying why)."""
    out = []
    for profile in computer.PROFILES:
        what = f"the computer, profile {profile!r}, {_size_text(size)}"
        try:
            built = computer.build(profile, size)
        except Exception as e:  # noqa: BLE001 - an optional section: say what failed and go on
            notes.append(f"{what}: could not be built ({type(e).__name__}: {e}); its layer "
                         "structure is left out.")
            continue
        out.append(network_view(what, built.network))
    return out


def _size_text(size: Any) -> str:
    return f"words={size.words}, bits={size.bits}, slots={size.slots}"


def default_trace_program() -> Path:
    """``constructions/programs/factorial.sq``, wherever the package is installed."""
    return asm.PROGRAMS / "factorial.sq"


def _shown_path(path: str | Path) -> str:
    """A program's path as a reader knows it: relative to the working directory or the package."""
    p = Path(path).resolve()
    for base in (Path.cwd(), asm.PROGRAMS.parents[1]):
        try:
            return p.relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return str(path)


def trace_view(path: str | Path, max_steps: int) -> tuple[TraceView, Any]:
    """Run a program on the reference interpreter with a trace; (view, machine size)."""
    prog = asm.load(path)
    run = subleq.run(prog.state, prog.size, max_steps, trace=True)
    assert run.trace is not None
    labels: dict[int, list[str]] = {}
    for label, addr in prog.data_labels.items():
        labels.setdefault(addr, []).append(label)
    rows = tuple(", ".join(labels.get(a, [])) or f"[{a}]" for a in range(prog.size.words))
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
        rep.notes.append("matplotlib is not installed, so this report has no pictures; it is "
                         "a dependency of loopmlp: `pip install matplotlib` to get them.")
        return
    from . import plots  # needs matplotlib, a dependency that may still be missing

    rep.versions["matplotlib"] = matplotlib.__version__
    for pic in plots.pictures(rep):
        rep.pictures[pic.name] = pic
