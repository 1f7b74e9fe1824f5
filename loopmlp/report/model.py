"""What a report shows, as plain values: the results and the views around them (gadgets,
layer structure, a trace, pictures), with the formatting every rendering shares."""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from verify import names
from verify.result import Result, Verdict, summary

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


MODEL_NAME = re.compile(r"^(?P<model>.+):(?P<spec>gadget/[^:]*)$")
"""The name ``loopmlp check`` gives a model's result: ``MODEL.onnx:gadget/subtract[bits=4]``."""
MODEL_PATH = "model_path"
"""The key in a result's ``details`` holding the path of the model a check read."""


def replay_command(r: Result) -> str | None:
    """The command that reproduces a result's counterexample (None without one).

    ``loopmlp replay 'NAME' --at 'DA=3,DB=5'`` for a registered obligation; for a model checked
    by ``loopmlp check`` (named ``MODEL.onnx:gadget/...``), ``loopmlp replay 'PATH' --spec
    'gadget/...' --at ...`` with the model's path as the check was given it.
    """
    if r.counterexample is None:
        return None
    at = ",".join(f"{k}={v}" for k, v in r.counterexample.compact_inputs().items())
    m = MODEL_NAME.match(r.obligation)
    if m is None:
        return f"loopmlp replay {_quote(r.obligation)} --at {_quote(at)}"
    path = r.details.get(MODEL_PATH)
    model = path if isinstance(path, str) and path else m["model"]
    return f"loopmlp replay {_quote(model)} --spec {_quote(m['spec'])} --at {_quote(at)}"


def short_name(name: str) -> str:
    """``gadget/subtract[bits=4]`` -> ``subtract``: the name a counterexample call reads with."""
    return names.short(name)


def finding(r: Result) -> str:
    """What a result says beyond its verdict: the differing outputs, or why it is not proved."""
    if r.counterexample is not None:
        return r.counterexample.describe(short_name(r.obligation))
    if r.verdict is Verdict.PROVED:
        return ""
    return r.reason


# --------------------------------------------------------------------------- the views
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
    """Everything a report shows; :mod:`loopmlp.report.render` turns it into HTML and Markdown."""

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


Series = dict[str, list[tuple[int, Result]]]
"""Points (bits, result) of one line, by line label."""


def bits_panels(results: Sequence[Result]) -> dict[str, Series]:
    """Results with one ``bits=N`` size, grouped as the proof-time picture draws them: one panel
    per obligation family (the name without its sizes), one line per other sizes and method.

    ``gadget/read[words=4,bits=8]`` checked by ``factorised`` is the point at bits 8 of the line
    ``words=4, factorised`` in the panel ``gadget/read``. Panels, lines and points are sorted.
    """
    out: dict[str, Series] = {}
    for r in results:
        parsed = names.parse(r.obligation)
        bits = [v for k, v in parsed.sizes if k == "bits" and re.fullmatch(r"\d+", v)]
        if len(bits) != 1:
            continue
        rest = ", ".join(f"{k}={v}" for k, v in parsed.sizes if k != "bits")
        label = f"{rest}, {r.method}" if rest else r.method
        panel = out.setdefault(parsed.head + parsed.tail, {})
        panel.setdefault(label, []).append((int(bits[0]), r))
    for panel in out.values():
        for pts in panel.values():
            pts.sort(key=lambda p: p[0])
    return {k: dict(sorted(out[k].items(), key=lambda kv: _natural(kv[0])))
            for k in sorted(out)}


def _natural(text: str) -> list[Any]:
    """Sort key reading runs of digits as numbers: ``words=4`` before ``words=16``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]
