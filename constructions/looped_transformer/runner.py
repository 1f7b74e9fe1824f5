"""Checked runs of a looped Transformer on the SUBLEQ layout, in float64 or float32.

Every step is decoded (:meth:`~.layout.Layout.decode`) and compared with the reference
interpreter (:func:`constructions.subleq.step`); a run stops at the first step that goes
non-finite (naming the layer), does not decode, or decodes to another state, and otherwise at
the interpreter's fixed point (after checking that the network's step there decodes to the same
fixed point) or at the step limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from constructions.machine import subleq
from constructions.machine.giannou import GiannouProgram
from constructions.machine.subleq import MachineSize, State
from verify.errors import ParameterError

from .layout import DecodeError, Layout
from .network import DTYPES, LoopedTransformer, layer_forward


@dataclass(frozen=True)
class Failure:
    """Where a run first went wrong: the step (1 = the first step), the layer when an entry
    went non-finite, what happened, and the two states when both are known."""

    step: int
    kind: str  # "non-finite" | "undecodable" | "wrong"
    message: str
    layer: int | None = None
    network: State | None = None
    expected: State | None = None

    def line(self) -> str:
        where = f"step {self.step}" + (f", layer {self.layer}" if self.layer is not None else "")
        return f"{where}: {self.message}"


@dataclass
class RunReport:
    """What a checked run established."""

    steps: int
    halted: bool
    state: State
    failure: Failure | None
    dtype: str
    max_subtract: bool
    min_margin: float = float("inf")  # smallest |entry| the decoder read by its sign
    max_error: float = 0.0            # largest distance of such an entry from +-1
    trace: list[State] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None


def state_of_program(program: GiannouProgram) -> tuple[Layout, State]:
    """The layout and the initial machine state of a program in their column layout.

    The memory must start at the first column after the scratchpad's ``s`` columns and the
    commands right after the memory, as in their examples.
    """
    s, m, k = program.memory_start, len(program.memory), len(program.commands)
    if program.command_start != s + m:
        raise ParameterError("command_start", program.command_start,
                             f"the column after the memory ({s + m})")
    if s < 1:
        raise ParameterError("scratchpad", s, "at least 1 column")
    n = s + m + k
    lay = Layout(s, m, k, program.bits, max(1, (n - 1).bit_length()))
    size = lay.machine()
    code = [(a - s, b - s, c - s - m) for a, b, c in program.commands]
    state = subleq.make_state(size, list(program.memory), code, 0)
    return lay, state


def describe_difference(got: State, want: State, size: MachineSize) -> str:
    """``pc=13 (interpreter 12); word 6 = -8186 (interpreter 6)``: the fields that differ."""
    parts = []
    if got.pc != want.pc:
        parts.append(f"pc={got.pc} (interpreter {want.pc})")
    gm, wm = subleq.signed_memory(got, size), subleq.signed_memory(want, size)
    for i, (x, y) in enumerate(zip(gm, wm)):
        if x != y:
            parts.append(f"word {i} = {x} (interpreter {y})")
    for j, (ci, cj) in enumerate(zip(got.code, want.code)):
        if ci != cj:
            parts.append(f"command {j} = {ci} (interpreter {cj})")
    return "; ".join(parts) or "same state"


def _margins(lay: Layout, X: np.ndarray) -> tuple[float, float]:  # noqa: N803
    rows, cols = zip(*lay.decision_entries())
    v = np.abs(np.asarray(X[list(rows), list(cols)], dtype=np.float64))
    return float(np.min(v)), float(np.max(np.abs(v - 1.0)))


def run_checked(net: LoopedTransformer, lay: Layout, X0: np.ndarray, *,  # noqa: N803
                dtype: str = "float64", max_steps: int = 100_000, max_subtract: bool = False,
                keep_trace: bool = False) -> RunReport:
    """Run from ``X0`` in ``dtype``, decoding every step against the interpreter."""
    if dtype not in DTYPES:
        raise ParameterError("dtype", dtype, f"one of {', '.join(DTYPES)}")
    size = lay.machine()
    t = DTYPES[dtype]
    fnet = net.astype(t)
    X = np.asarray(X0, dtype=t)
    try:
        state = lay.decode(X)
    except DecodeError as e:
        return RunReport(0, False, subleq.make_state(size), Failure(0, "undecodable",
                         f"the initial state does not decode: {e}"), dtype, max_subtract)
    report = RunReport(0, False, state, None, dtype, max_subtract,
                       trace=[state] if keep_trace else [])
    report.min_margin, report.max_error = _margins(lay, X)
    for k in range(1, max_steps + 2):
        want = subleq.step(state, size)
        for i, layer in enumerate(fnet.layers):
            X = layer_forward(layer, X, net.lam, max_subtract)
            if not np.all(np.isfinite(X)):
                bad = np.argwhere(~np.isfinite(X))[0]
                what = "NaN" if np.isnan(X[bad[0], bad[1]]) else "inf"
                report.failure = Failure(k, "non-finite", f"{what} after layer {i} "
                                         f"({layer.label or 'unlabelled'}) at row {bad[0]}, "
                                         f"column {bad[1]}", layer=i, expected=want)
                return report
        try:
            got = lay.decode(X)
        except DecodeError as e:
            report.failure = Failure(k, "undecodable", f"does not decode: {e}", expected=want)
            return report
        margin, err = _margins(lay, X)
        report.min_margin = min(report.min_margin, margin)
        report.max_error = max(report.max_error, err)
        if got != want:
            report.failure = Failure(k, "wrong", describe_difference(got, want, size),
                                     network=got, expected=want)
            return report
        if want == state:
            report.halted = True
            return report
        if k > max_steps:
            return report
        state = want
        report.steps, report.state = k, state
        if keep_trace:
            report.trace.append(state)
    return report
