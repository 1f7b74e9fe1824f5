"""The report's pictures, drawn with matplotlib (the optional extra ``plot``).

Figures are drawn through matplotlib's object interface on the Agg canvas, never through
``pyplot``, so no global state or interactive backend is touched. PNGs are written without the
``Software`` metadata field, which would otherwise carry a URL into a report that promises none.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import SymLogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

from verify.result import Result, Verdict

from .model import (
    LAYERS_PNG,
    TIMES_PNG,
    TRACE_PNG,
    NetworkView,
    Picture,
    Report,
    Series,
    TraceView,
    bits_panels,
)

MARKERS = "osD^v<>pP*h"
REFUTED_COLOUR = "#c62828"
IDENTITY_COLOUR = "#d9d9d9"


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def _colours(n: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _short(n: int) -> str:
    if n < 1000:
        return str(n)
    if n < 10**6:
        return f"{n / 1000:.3g}k"
    return f"{n / 10**6:.3g}M"


# --------------------------------------------------------------------------- proof times
MAX_PANELS = 36
"""Panels the proof-time picture draws at most (the families that took longest)."""
PANEL_COLUMNS = 4
LEGEND_LINES = 8
"""Lines a panel names in its own legend; more are drawn in one colour ramp, ends named."""
FLOOR = 1e-4
"""Seconds at which an instant proof is drawn on the log axis."""


def proof_times(results: Sequence[Result]) -> Picture | None:
    """Seconds against word width as small multiples: one panel per obligation family, one
    line per other sizes and method, all panels on one log scale of seconds.

    The picture stays readable at any size of run: each panel names only its own few lines,
    the figure grows by rows, and beyond :data:`MAX_PANELS` families the slowest are drawn and
    the caption says how many are left out.
    """
    panels = bits_panels(results)
    if not panels:
        return None
    left_out = max(0, len(panels) - MAX_PANELS)
    if left_out:
        slowest = sorted(panels, key=lambda k: -sum(r.seconds for s in panels[k].values()
                                                     for _, r in s))[:MAX_PANELS]
        panels = {k: panels[k] for k in sorted(slowest)}
    n = len(panels)
    cols = min(PANEL_COLUMNS, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(max(6.0, 3.6 * cols), 0.9 + 2.9 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    seconds = [max(r.seconds, FLOOR) for panel in panels.values() for s in panel.values()
               for _, r in s]
    for ax, (title, series) in zip(axes.flat, panels.items()):
        _panel(ax, title, series)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes[0][0].set_ylim(min(seconds) / 2, max(seconds) * 3)
    for ax in axes[:, 0]:
        ax.set_ylabel("seconds")
    fig.supxlabel("bits (word width), log scale", fontsize=10)
    count = sum(len(s) for p in panels.values() for s in p.values())
    fig.suptitle(f"Proof time against word width: {_plural(n, 'family', 'families')}, "
                 f"{_plural(count, 'obligation', 'obligations')}", fontsize=12)
    verdicts = {r.verdict for panel in panels.values() for s in panel.values() for _, r in s}
    key = [h for v, h in ((Verdict.UNKNOWN, Line2D([], [], marker="o", ms=9, mfc="none",
                                                    mec="black", ls="none", label="unknown")),
                          (Verdict.REFUTED, Line2D([], [], marker="X", ms=9,
                                                   color=REFUTED_COLOUR, ls="none",
                                                   label="refuted")))
           if v in verdicts]
    if key:
        fig.legend(handles=key, loc="outside lower right", ncol=2, fontsize=8, frameon=False)
    caption = ("Seconds per obligation against its word width, one panel per obligation family "
               "(log-log, the same seconds scale in every panel), one line per other sizes "
               "and checking method. A hollow ring marks an unknown result, a red cross a "
               "refuted one.")
    if left_out:
        caption += (f" {left_out} faster families are left out; their times are in the "
                    "table of obligations.")
    return Picture(TIMES_PNG, "Proof time against bits", caption, _png(fig))


def _panel(ax: Any, title: str, series: Series) -> None:
    """One family: a line per label, verdict marks, its own legend."""
    labels = list(series)
    many = len(labels) > LEGEND_LINES
    if many:
        from matplotlib import colormaps

        ramp = colormaps["viridis"]
        colours = [ramp(i / max(1, len(labels) - 1) * 0.9) for i in range(len(labels))]
    else:
        colours = _colours(len(labels))
    widths: set[int] = set()
    for i, (label, pts) in enumerate(series.items()):
        xs = [b for b, _ in pts]
        ys = [max(r.seconds, FLOOR) for _, r in pts]
        widths.update(xs)
        named = not many or i in (0, len(labels) - 1)
        ax.plot(xs, ys, marker=MARKERS[i % len(MARKERS)], color=colours[i], lw=1.3, ms=4,
                label=label if named else None)
        for x, y, (_, r) in zip(xs, ys, pts):
            if r.verdict is Verdict.UNKNOWN:
                ax.plot([x], [y], marker="o", ms=9, mfc="none", mec=colours[i], mew=1.4)
            elif r.verdict is Verdict.REFUTED:
                ax.plot([x], [y], marker="X", ms=9, color=REFUTED_COLOUR)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ticks = sorted(w for w in widths if w & (w - 1) == 0 or w in (min(widths), max(widths)))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(labelsize=7.5)
    if len(widths) == 1:
        w = next(iter(widths))
        ax.set_xlim(w / 1.6, w * 1.6)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(_fit(title, 38), fontsize=9)
    handles, names = ax.get_legend_handles_labels()
    if many:
        names = [f"{names[0]} (dark)", f"... {len(labels) - 2} more ...", f"{names[1]} (light)"]
        handles = [handles[0], Line2D([], [], ls="none"), handles[1]]
    ax.legend(handles, [_fit(t, 34) for t in names], fontsize=6.5, framealpha=0.7,
              edgecolor="none", loc="best", handlelength=1.5, borderaxespad=0.2)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the middle left out."""
    if len(text) <= width:
        return text
    half = (width - 1) // 2
    return text[:half] + "…" + text[-(width - 1 - half):]


# --------------------------------------------------------------------------- layer structure
def layer_structure(views: Sequence[NetworkView]) -> Picture | None:
    """One bar per layer: height its width, colour the gadget that owns it, nonzeros on top."""
    views = [v for v in views if v.layers]
    if not views:
        return None
    owners: list[str] = []
    for v in views:
        for row in v.layers:
            if row.owner not in owners:
                owners.append(row.owner)
    colour = dict(zip(owners, _colours(len(owners))))
    longest = max(len(v.layers) for v in views)
    fig = Figure(figsize=(max(9.0, 0.45 * longest + 3), 3.2 * len(views) + 0.6),
                 layout="constrained")
    axes = fig.subplots(len(views), 1, squeeze=False)[:, 0]
    for ax, view in zip(axes, views):
        xs = [r.index for r in view.layers]
        hs = [r.outputs for r in view.layers]
        face = [IDENTITY_COLOUR if r.identity else colour[r.owner] for r in view.layers]
        edge = [colour[r.owner] for r in view.layers]
        bars = ax.bar(xs, hs, width=0.8, color=face, edgecolor=edge, linewidth=1.2)
        for bar, r in zip(bars, view.layers):
            if r.identity:
                bar.set_hatch("//")
            if not r.relu:
                bar.set_linestyle("--")
            ax.annotate(_short(r.nnz), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                        fontsize=7)
        if max(hs) > 50 * max(1, min(hs)):
            ax.set_yscale("log")
        ax.margins(y=0.18)
        ax.set_xticks(xs)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_ylabel("width (units)")
        ax.set_title(f"{view.title}: {len(view.layers)} layers, {view.nnz:,} nonzero weights",
                     fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    axes[-1].set_xlabel("layer (number above a bar: its nonzero weights)")
    handles = [Patch(facecolor=colour[o], edgecolor=colour[o], label=o) for o in owners]
    handles.append(Patch(facecolor=IDENTITY_COLOUR, edgecolor="grey", hatch="//",
                         label="identity layer"))
    fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 6),
               fontsize=8, frameon=False)
    return Picture(LAYERS_PNG, "Layer structure",
                   "Each bar is one layer: its height the layer's width (output units), its "
                   "colour the gadget that owns it (the layer label up to ':'), the number on top "
                   "its nonzero weights. Hatched grey bars are identity layers; a dashed outline "
                   "marks an affine layer without ReLU.", _png(fig))


# --------------------------------------------------------------------------- trace
TRACE_ROWS = 48
"""Memory words labelled one by one in the trace; a larger memory labels every k-th word."""


def trace_heatmap(trace: TraceView) -> Picture:
    """Memory (signed values) over steps as a heatmap, with the PC above it."""
    import numpy as np

    mem = np.array(trace.memory, dtype=float).T  # (words, steps + 1)
    top = float(max(1.0, np.abs(mem).max()))
    shown = min(len(trace.rows), TRACE_ROWS)  # rows the height grows with; beyond, labels thin
    fig = Figure(figsize=(10, 1.6 + 0.32 * shown + 1.4), layout="constrained")
    ax_pc, ax = fig.subplots(2, 1, sharex=True,
                             gridspec_kw={"height_ratios": [1, max(2, shown / 3)]})
    steps = np.arange(len(trace.pc))
    ax_pc.step(steps, trace.pc, where="post", color="#37474f", lw=1)
    ax_pc.set_ylabel("PC")
    ax_pc.grid(True, alpha=0.3)
    ax_pc.set_title(f"{trace.program}: {trace.steps} steps, {trace.reason} ({trace.size})",
                    fontsize=10)
    img = ax.imshow(mem, aspect="auto", interpolation="nearest", cmap="RdBu_r",
                    norm=SymLogNorm(linthresh=1.0, vmin=-top, vmax=top),
                    extent=(-0.5, len(trace.pc) - 0.5, len(trace.rows) - 0.5, -0.5))
    every = -(-len(trace.rows) // TRACE_ROWS)
    ax.set_yticks(range(0, len(trace.rows), every), trace.rows[::every], fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylabel("memory word")
    fig.colorbar(img, ax=ax, label="signed value (symmetric log scale)", pad=0.01)
    return Picture(TRACE_PNG, "Execution trace",
                   f"The memory of {trace.program} at every step of the reference interpreter "
                   "(rows are words, labelled as in the program; colour is the signed value), "
                   "with the program counter above.", _png(fig))


def pictures(rep: Report) -> list[Picture]:
    """Every picture the report's content allows."""
    out = [proof_times(rep.results), layer_structure(rep.networks)]
    if rep.trace is not None:
        out.append(trace_heatmap(rep.trace))
    return [p for p in out if p is not None]
