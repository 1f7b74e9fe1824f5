"""Obligations and the correctness frontier of Giannou et al.'s looped Transformer (the
reconstruction of :mod:`constructions.looped_transformer.subleq_net`).

Obligations (registered like the gadgets', see :mod:`proofs.registry`):

- ``giannou/step[m=..,N=..,commands=..,lam=..]``: for every canonical state of that machine
  (every memory content, program counter and command table, and every command the scratchpad
  may still hold: none, or one of the table) whose successor stays inside the command columns,
  one step maps the state's matrix to the successor's within :data:`STEP_TOLERANCE` in every
  entry, over the reals (sound arb enclosures, :mod:`constructions.looped_transformer.certify`).
- ``giannou/invariant[...,eps=..]``: the same states, each as the box of radius ``eps`` in every
  entry; the image lies within ``eps`` of the successor in every entry the network writes (the
  other rows are passed through unchanged by every layer, which is checked on the weights, and
  are compared all the same wherever the successor's canonical value differs), so every run
  from within ``eps`` of a canonical state that never falls off the last command decodes
  correctly at every step.

The frontier (:func:`frontier`) searches the temperature ``lam``, the column count ``n``, the
word width ``N`` and the float format for where the network stops being correct, and gives for
each boundary point its certificate (a certified run or step) or its witness (a state and a
step that go wrong, replayed).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from constructions.looped_transformer import certify, examples, runner, subleq_net
from constructions.looped_transformer.layout import Layout
from constructions.looped_transformer.network import LoopedTransformer
from constructions.machine import subleq
from constructions.machine.subleq import Instruction, State
from verify.result import Counterexample, Result, Verdict

from .registry import Entry

STEP_TOLERANCE = 1e-9
"""Largest distance from the successor's matrix accepted in a step proof (the real step of the
float weights is off by about 2e-16: e.g. ``(1 - 2 eps) * fl(1 / (1 - 2 eps))`` is not 1)."""


# --------------------------------------------------------------------------- step proofs
def passthrough_rows(net: LoopedTransformer) -> np.ndarray:
    """Rows no layer writes (every ``V_h``, ``W2`` and ``b2`` row zero): each layer's output
    equals its input there, exactly."""
    d = net.layers[0].W2.shape[0]
    written = np.zeros(d, dtype=bool)
    for layer in net.layers:
        written |= np.any(layer.W2 != 0, axis=1) | np.any(layer.b2 != 0, axis=1)
        for h in layer.heads:
            written |= np.any(h.V != 0, axis=1)
    return ~written


def canonical_states(lay: Layout) -> Iterator[tuple[State, Instruction | None]]:
    """Every canonical state of the layout whose step does not fall off the last command,
    with each command the scratchpad may hold (none, or one of the table)."""
    size = lay.machine()
    words = range(1 << lay.bits)
    ins = [(a, b, c) for a in range(lay.m) for b in range(lay.m) for c in range(lay.commands)]
    for memory in itertools.product(words, repeat=lay.m):
        for code in itertools.product(ins, repeat=lay.commands):
            for pc in range(lay.commands):
                st = subleq.make_state(size, list(memory), list(code), pc)
                if _falls_off(st, lay):
                    continue
                for last in [None, *sorted(set(code))]:
                    yield st, last


def _falls_off(st: State, lay: Layout) -> bool:
    """Whether the step falls through past the last command (their network then points the
    PC at column n mod 2^logn, which is no command; this project's machine wraps to slot 0)."""
    a, b, _ = st.code[st.pc]
    r = (st.memory[b] - st.memory[a]) % (1 << lay.bits)
    jumps = r == 0 or r >= 1 << (lay.bits - 1)
    return not jumps and st.pc + 1 >= lay.commands


def count_states(lay: Layout) -> int:
    return sum(1 for _ in canonical_states(lay))


def count_left_out(lay: Layout) -> int:
    """How many (state, scratchpad command) pairs :func:`canonical_states` leaves out because
    the step falls off the last command."""
    size = lay.machine()
    words = range(1 << lay.bits)
    ins = [(a, b, c) for a in range(lay.m) for b in range(lay.m) for c in range(lay.commands)]
    out = 0
    for memory in itertools.product(words, repeat=lay.m):
        for code in itertools.product(ins, repeat=lay.commands):
            for pc in range(lay.commands):
                if _falls_off(subleq.make_state(size, list(memory), list(code), pc), lay):
                    out += 1 + len(set(code))
    return out


def _layout(m: int, bits: int, commands: int, s: int = 2) -> Layout:
    n = s + m + commands
    return Layout(s, m, commands, bits, max(1, (n - 1).bit_length()))


def step_name(m: int, bits: int, commands: int, lam: float, eps: float | None = None) -> str:
    tail = "" if eps is None else f",eps={eps:g}"
    return f"giannou/{'step' if eps is None else 'invariant'}[m={m},N={bits}," \
           f"commands={commands},lam={lam:g}{tail}]"


def check_steps(m: int, bits: int, commands: int, lam: float, eps: float | None = None,
                progress: Callable[[int, int], None] | None = None,
                net: LoopedTransformer | None = None) -> Result:
    """The step (``eps`` None) or invariant obligation at one size, as a Result (``net``: another
    network on the same layout in place of the reconstruction, e.g. a corrupted copy)."""
    name = step_name(m, bits, commands, lam, eps)
    t0 = time.perf_counter()
    lay = _layout(m, bits, commands)
    if net is None:
        net = subleq_net.build(lay, lam)
    net.check(lay.d, lay.n)
    enc = certify.Enclosure(net)
    keep = passthrough_rows(net)
    radius = 0.0 if eps is None else eps
    tol = STEP_TOLERANCE if eps is None else eps
    states = list(canonical_states(lay))
    worst = 0.0
    for k, (st, last) in enumerate(states):
        proof = certify.prove_step(enc, lay, st, last, radius, tol, ignore_rows=keep)
        worst = max(worst, proof.deviation)
        if progress is not None and k % 64 == 0:
            progress(k, len(states))
        if not proof.ok:
            return _failed(name, lay, net, st, last, proof, k, len(states),
                           time.perf_counter() - t0, eps)
    left_out = count_left_out(lay)
    return Result(name, Verdict.PROVED, "enclosure", len(states), len(states),
                  time.perf_counter() - t0,
                  f"every canonical state enclosed ({left_out} whose step falls off the last "
                  "command left out)",
                  details={"max_deviation": worst, "tolerance": tol, "lam": lam,
                           "passthrough_rows": int(np.count_nonzero(keep)),
                           "left_out_falls_off": left_out,
                           "layout": dataclasses.asdict(lay)})


def _inputs(st: State, last: Instruction | None) -> dict[str, int]:
    out = {f"mem[{i}]": v for i, v in enumerate(st.memory)}
    out["pc"] = st.pc
    for j, (a, b, c) in enumerate(st.code):
        out |= {f"code[{j}].a": a, f"code[{j}].b": b, f"code[{j}].c": c}
    if last is not None:
        out |= {"last.a": last[0], "last.b": last[1], "last.c": last[2]}
    return out


def _failed(name: str, lay: Layout, net: LoopedTransformer, st: State,
            last: Instruction | None, proof: certify.StepProof, k: int, total: int,
            seconds: float, eps: float | None) -> Result:
    """A failed state: refuted when the exact step is certified wrong (replayed by enclosing
    it again from the point state), else unknown."""
    size = lay.machine()
    want = subleq.step(st, size)
    X = lay.encode(st, last).astype(np.float64)
    enc = certify.Enclosure(net)
    box, _ = enc.step(certify.Box.point(X))
    got, margin, why = certify.decide(lay, box)
    row, col = proof.where
    if got is not None and got != want:
        diff = runner.describe_difference(got, want, size)
        cx = Counterexample(_inputs(st, last), {"pc": got.pc}, {"pc": want.pc})
        return Result(name, Verdict.REFUTED, "enclosure", k + 1, total, seconds,
                      f"certified wrong: {diff}", cx, {"state": k})
    reason = (f"state {k}: entry (row {row}, column {col}) within {proof.deviation:.3g} of the "
              f"successor, need {STEP_TOLERANCE if eps is None else eps:g}"
              + (f"; {why}" if why else ""))
    return Result(name, Verdict.UNKNOWN, "enclosure", k, total, seconds, reason,
                  details={"state": _inputs(st, last)})


STEP_SIZES: tuple[tuple[int, int, int, bool], ...] = ((2, 2, 1, False), (2, 2, 2, True),
                                                      (2, 3, 2, True))
"""``(m, N, commands, slow)`` of the step and invariant obligations."""
INVARIANT_EPS = 1e-12
"""Radius of the invariant's boxes (at 1e-9 the enclosures do not decide it: each read's
scores move by about ``lam * logn`` times the radius)."""


def entries() -> list[Entry]:
    """Step and invariant obligations at :data:`STEP_SIZES`, ``lam = 100``."""
    out: list[Entry] = []
    for m, bits, commands, slow in STEP_SIZES:
        for eps in (None, INVARIANT_EPS):
            name = step_name(m, bits, commands, subleq_net.DEFAULT_LAM, eps)

            def run(opts: Any, m: int = m, bits: int = bits, commands: int = commands,
                    eps: float | None = eps) -> Result:
                return check_steps(m, bits, commands, subleq_net.DEFAULT_LAM, eps,
                                   getattr(opts, "progress", None))

            out.append(Entry(name, run, slow))
    return out


# --------------------------------------------------------------------------- frontier
@dataclass
class Boundary:
    """One boundary point: the last parameter value that works and the first that does not,
    each with its evidence (a certificate or a replayed witness)."""

    axis: str
    semantics: str
    fixed: str
    good: float | None
    bad: float | None
    certificate: str
    witness: str
    seconds: float = 0.0

    def row(self) -> list[str]:
        def fmt(x: float | None) -> str:
            return "-" if x is None else f"{x:g}"

        return [self.axis, self.semantics, self.fixed, fmt(self.good), fmt(self.bad),
                self.certificate, self.witness]


def columns_machine(n: int, bits: int = 8) -> tuple[Layout, State]:
    """A machine of ``n`` columns (s = 2, m = 2, n - 4 commands): a countdown, then
    self-loops."""
    commands = n - 4
    lay = Layout(2, 2, commands, bits, max(1, (n - 1).bit_length()))
    code = [(0, 1, 0), *[(0, 0, j) for j in range(1, commands)]]
    return lay, subleq.make_state(lay.machine(), [1, 3], code, 0)


def wide_machine(bits: int) -> tuple[Layout, State]:
    """Four words near ``2^(N-2)`` and four commands that mix them (for the width search)."""
    lay = Layout(2, 4, 4, bits, 4)
    big = (1 << (bits - 2)) - 3
    st = subleq.make_state(lay.machine(), [big, -big // 3, 5, 0],
                           [(0, 2, 1), (1, 2, 2), (2, 1, 3), (3, 3, 0)], 0)
    return lay, st


def _run(lay: Layout, st: State, lam: float, dtype: str, steps: int,
         max_subtract: bool = False) -> runner.RunReport:
    net = subleq_net.build(lay, lam)
    return runner.run_checked(net, lay, lay.encode(st), dtype=dtype, max_steps=steps,
                              max_subtract=max_subtract)


def _witness(r: runner.RunReport, what: str) -> str:
    f = r.failure
    assert f is not None
    return f"{what}: {f.line()} (replayed)"


def _replayed(lay: Layout, st: State, lam: float, dtype: str, steps: int, first: runner.Failure,
              max_subtract: bool = False) -> bool:
    again = _run(lay, st, lam, dtype, steps, max_subtract).failure
    return again is not None and again.line() == first.line()


def search_columns(lam: float = 100.0, lo: int = 8, hi: int = 1024) -> Boundary:
    """Smallest ``n`` whose first float64 step goes non-finite (plain softmax), by bisection."""
    t0 = time.perf_counter()

    def bad(n: int) -> runner.RunReport | None:
        lay, st = columns_machine(n)
        r = _run(lay, st, lam, "float64", 1)
        return r if r.failure is not None and r.failure.kind == "non-finite" else None

    if bad(lo) or not bad(hi):
        return Boundary("n", "float64", f"lam={lam:g}", None, None, "no boundary in range",
                        "", time.perf_counter() - t0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if bad(mid) else (mid, hi)
    r = bad(hi)
    assert r is not None and r.failure is not None
    lay, st = columns_machine(hi)
    assert _replayed(lay, st, lam, "float64", 1, r.failure)
    stable = _run(lay, st, lam, "float64", 4, max_subtract=True)
    good_lay, good_st = columns_machine(lo)
    ok = _run(good_lay, good_st, lam, "float64", 4)
    cert = (f"n={lo}: 4 steps decode correctly (float64); n={hi} with the max subtracted: "
            f"{'correct' if stable.ok else stable.failure.line() if stable.failure else '?'}")
    if not ok.ok:
        cert = f"n={lo}: {ok.failure.line() if ok.failure else '?'}"
    return Boundary("n", "float64", f"lam={lam:g}, logn=ceil(log2 n)", lo, hi, cert,
                    _witness(r, f"n={hi}, countdown state, step 1"), time.perf_counter() - t0)


def _lam_grid() -> list[float]:
    return [float(x) for x in np.arange(8.0, 20.01, 0.5)]


def search_lambda(dtype: str = "float64", grid: list[float] | None = None,
                  certify_good: bool = True) -> list[Boundary]:
    """The edges of the largest window of a ``lam`` grid on which their factorial(7) runs
    correctly in ``dtype``: below it the read is too soft, above it (in float32) ``exp``
    overflows. Each edge has the last good and the first bad grid value, the bad one's
    failure replayed as its witness."""
    t0 = time.perf_counter()
    lay, st = runner.state_of_program(examples.FACTORIAL)
    grid = grid or _lam_grid()
    results = {lam: _run(lay, st, lam, dtype, 500) for lam in grid}
    ok = [lam for lam in grid if results[lam].ok]
    fixed = "factorial(7), N=15, n=23"
    if not ok:
        r = results[grid[0]]
        return [Boundary("lam", dtype, fixed, None, grid[0], "no grid value works",
                         _witness(r, f"lam={grid[0]:g}"), time.perf_counter() - t0)]
    # the longest run of consecutive good grid values
    best: list[float] = []
    cur: list[float] = []
    for lam in grid:
        cur = cur + [lam] if results[lam].ok else []
        if len(cur) > len(best):
            best = cur
    edges = []
    for good, bad in ((best[0], max((x for x in grid if x < best[0]), default=None)),
                      (best[-1], min((x for x in grid if x > best[-1]), default=None))):
        r = results[good]
        cert = (f"lam={good:g}: {r.steps} steps, halted, word 2 = "
                f"{subleq.signed_memory(r.state, lay.machine())[2]} ({dtype} run)")
        if certify_good:
            cert += "; reals: " + certify_lambda(good)
        wit = ""
        if bad is not None:
            rb = results[bad]
            assert rb.failure is not None and _replayed(lay, st, bad, dtype, 500, rb.failure)
            wit = _witness(rb, f"lam={bad:g}, factorial(7)")
            if certify_good and dtype == "float64":
                wit += "; reals: " + certify_lambda(bad)
        edges.append(Boundary("lam", dtype, fixed, good, bad, cert, wit,
                              time.perf_counter() - t0))
    return [e for e in edges if e.bad is not None] or edges[:1]


def certify_lambda(lam: float) -> str:
    """The real-number run of factorial(7) at ``lam``: certified, certified wrong, or
    undecided, with the step."""
    lay, st = runner.state_of_program(examples.FACTORIAL)
    c = certify.certified_run(subleq_net.build(lay, lam), lay, lay.encode(st), max_steps=500)
    if c.failure is None:
        return f"lam={lam:g}: all {len(c.records)} steps certified (margin {c.min_margin:.3g})"
    f = c.failure
    return f"lam={lam:g}: step {f.step} {f.status}: {f.message}"


def search_bits(dtype: str, lam: float, lo: int = 8, hi: int = 60) -> Boundary:
    """Smallest word width ``N`` at which the mixing program fails in ``dtype`` (a scan)."""
    t0 = time.perf_counter()
    last_good = None
    for bits in range(lo, hi + 1):
        lay, st = wide_machine(bits)
        r = _run(lay, st, lam, dtype, 40)
        if r.failure is not None:
            assert _replayed(lay, st, lam, dtype, 40, r.failure)
            cert = f"N={last_good}: 40 steps correct ({dtype})" if last_good else ""
            return Boundary("N", dtype, f"lam={lam:g}, words near 2^(N-2), n=10", last_good,
                            bits, cert, _witness(r, f"N={bits}"), time.perf_counter() - t0)
        last_good = bits
    return Boundary("N", dtype, f"lam={lam:g}", last_good, None, f"correct up to N={hi}", "",
                    time.perf_counter() - t0)


def frontier(quick: bool = False) -> list[Boundary]:
    """Every boundary of the frontier (``quick``: fewer values and no certified runs)."""
    grid = [8.0, 9.0, 10.0, 11.0, 12.0, 14.0, 16.0, 20.0] if quick else None
    return [search_columns(100.0, 8, 256 if quick else 1024),
            *search_lambda("float64", grid, certify_good=not quick),
            *search_lambda("float32", grid, certify_good=False),
            search_bits("float32", 10.0, 16, 32),
            search_bits("float64", 100.0, 40 if quick else 16, 60)]


def frontier_plot(path: str, lam_values: list[float] | None = None) -> None:
    """Correct / wrong / non-finite over (lam, n) in float64 for the countdown machines, and
    the factorial(7) outcome over lam, as a picture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lams = lam_values or [5.0, 10.0, 20.0, 40.0, 60.0, 80.0, 88.0, 100.0, 120.0]
    ns = [16, 32, 64, 96, 128, 129, 160, 256]
    grid = np.zeros((len(ns), len(lams)))
    for i, n in enumerate(ns):
        lay, st = columns_machine(n)
        for j, lam in enumerate(lams):
            r = _run(lay, st, lam, "float64", 3)
            grid[i, j] = 0 if r.ok else (2 if r.failure and r.failure.kind == "non-finite"
                                         else 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.imshow(grid, cmap=matplotlib.colors.ListedColormap(["#4c9a2a", "#e0a030", "#c03030"]),
              vmin=0, vmax=2, aspect="auto", origin="lower")
    ax.set_xticks(range(len(lams)), [f"{x:g}" for x in lams])
    ax.set_yticks(range(len(ns)), [str(n) for n in ns])
    ax.set_xlabel("lambda")
    ax.set_ylabel("columns n")
    ax.set_title("float64, softmax without max subtraction: green correct, "
                 "orange wrong, red NaN/inf", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


__all__ = ["Boundary", "check_steps", "entries", "frontier", "frontier_plot",
           "passthrough_rows", "search_bits", "search_columns", "search_lambda"]
