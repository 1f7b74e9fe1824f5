"""The report's pictures, drawn with matplotlib (the optional extra ``plot``).

Figures are drawn through matplotlib's object interface on the Agg canvas, never through
``pyplot``, so no global state or interactive backend is touched. PNGs are written without the
``Software`` metadata field, which would otherwise carry a URL into a report that promises none.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import SymLogNorm
from matplotlib.figure import Figure
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
    TraceView,
    bits_series,
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
def proof_times(results: Sequence[Result]) -> Picture | None:
    """Seconds against word width, one line per gadget family and method (log-log)."""
    series = bits_series(results)
    if not series:
        return None
    n = len(series)
    fig = Figure(figsize=(10, max(4.8, 0.2 * n + 1.5)), layout="constrained")
    ax = fig.add_subplot()
    floor = 1e-4  # an instant proof still needs a place on a log axis
    widths: set[int] = set()
    for (label, pts), colour, i in zip(sorted(series.items()), _colours(n), range(n)):
        xs = [b for b, _ in pts]
        ys = [max(r.seconds, floor) for _, r in pts]
        widths.update(xs)
        ax.plot(xs, ys, marker=MARKERS[i % len(MARKERS)], color=colour, label=label, lw=1.4,
                ms=5)
        for x, y, (_, r) in zip(xs, ys, pts):
            if r.verdict is Verdict.UNKNOWN:
                ax.plot([x], [y], marker="o", ms=10, mfc="none", mec=colour, mew=1.5)
            elif r.verdict is Verdict.REFUTED:
                ax.plot([x], [y], marker="X", ms=10, color=REFUTED_COLOUR)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ticks = sorted(w for w in widths if w & (w - 1) == 0 or w == max(widths))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("bits (word width)")
    ax.set_ylabel("seconds (log scale)")
    ax.grid(True, which="major", alpha=0.3)
    ax.plot([], [], marker="o", ms=10, mfc="none", mec="black", ls="none", label="unknown")
    ax.plot([], [], marker="X", ms=10, color=REFUTED_COLOUR, ls="none", label="refuted")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7.5, frameon=False,
              ncol=1 if n <= 24 else 2)
    ax.set_title("Proof time against word width, per gadget and method")
    return Picture(TIMES_PNG, "Proof time against bits",
                   "Seconds per obligation against its word width (log-log), one line per gadget "
                   "family and method. A hollow ring marks an unknown result, a red cross a "
                   "refuted one.", _png(fig))


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
def trace_heatmap(trace: TraceView) -> Picture:
    """Memory (signed values) over steps as a heatmap, with the PC above it."""
    import numpy as np

    mem = np.array(trace.memory, dtype=float).T  # (words, steps + 1)
    top = float(max(1.0, np.abs(mem).max()))
    fig = Figure(figsize=(10, 1.6 + 0.32 * len(trace.rows) + 1.4), layout="constrained")
    ax_pc, ax = fig.subplots(2, 1, sharex=True,
                             gridspec_kw={"height_ratios": [1, max(2, len(trace.rows) / 3)]})
    steps = np.arange(len(trace.pc))
    ax_pc.step(steps, trace.pc, where="post", color="#37474f", lw=1)
    ax_pc.set_ylabel("PC")
    ax_pc.grid(True, alpha=0.3)
    ax_pc.set_title(f"{trace.program}: {trace.steps} steps, {trace.reason} ({trace.size})",
                    fontsize=10)
    img = ax.imshow(mem, aspect="auto", interpolation="nearest", cmap="RdBu_r",
                    norm=SymLogNorm(linthresh=1.0, vmin=-top, vmax=top),
                    extent=(-0.5, len(trace.pc) - 0.5, len(trace.rows) - 0.5, -0.5))
    ax.set_yticks(range(len(trace.rows)), trace.rows, fontsize=8)
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
