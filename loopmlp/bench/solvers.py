"""``loopmlp bench solvers``: one monolithic SMT proof of a gadget, solver by solver, by width.

Design notes: docs/design/loopmlp.bench.solvers.md.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from verify.errors import ParameterError
from verify.methods.solvers import require_extras
from verify.result import Result

from . import common
from .common import CONFIGS, installed, measure, verdict_label
from .proofs import FAMILIES as BENCHED

DEFAULT_BITS = (4, 5, 6, 7, 8, 10, 12, 16, 24, 32)
DEFAULT_TIMEOUT = 60.0
COMMAND = "loopmlp bench solvers"


@dataclass(frozen=True)
class SolverRow:
    """One configuration at one width."""

    gadget: str
    bits: int
    config: str
    verdict: str  # proved | refuted | unknown | timeout | not tried
    seconds: float
    reason: str

    def line(self) -> str:
        if self.verdict == "not tried" and not self.gadget:  # a configuration left out
            return f"{self.config}: not tried ({self.reason})"
        if self.verdict == "not tried":
            return f"{self.gadget}[bits={self.bits}] {self.config}: not tried ({self.reason})"
        return (f"{self.gadget}[bits={self.bits}] {self.config}: {self.verdict.upper()} "
                f"{self.seconds:.2f}s ({self.reason})")


FAMILIES = {f.name: f for f in BENCHED}
"""The families ``--gadget`` names, as ``bench proofs`` measures them."""


def _row(gadget: str, bits: int, config: str, r: Result) -> SolverRow:
    return SolverRow(gadget, bits, config, verdict_label(r), r.seconds, r.reason)


def run(gadget: str, widths: Sequence[int], configs: Sequence[str], timeout: float,
        tick: Callable[[SolverRow | str], None] | None = None) -> list[SolverRow]:
    """Every width, every configuration in turn; a configuration stops at its first width it
    does not decide."""
    family = FAMILIES[gadget]
    rows: list[SolverRow] = []
    stopped: dict[str, int] = {}
    for bits in widths:
        ob = family.make(bits, 2).obligation()
        for config in configs:
            if config in stopped:
                rows.append(SolverRow(gadget, bits, config, "not tried", 0.0,
                                      f"undecided at {stopped[config]} bits"))
                continue
            if tick:
                tick(f"{gadget}[bits={bits}] {config} (limit {timeout:g}s)")
            row = _row(gadget, bits, config, measure(ob, config, timeout))
            rows.append(row)
            if tick:
                tick(row)
            if row.verdict not in ("proved", "refuted"):
                stopped[config] = bits
    return rows


def table(rows: Sequence[SolverRow], configs: Sequence[str]) -> list[str]:
    """A markdown table: one line per width that some configuration tried, one column per
    configuration."""
    head = "| bits | " + " | ".join(configs) + " |"
    lines = [head, "|" + " --- |" * (len(configs) + 1)]
    by = {(r.bits, r.config): r for r in rows}
    for bits in sorted({r.bits for r in rows if r.verdict != "not tried"}):
        cells = []
        for c in configs:
            r = by.get((bits, c))
            if r is None or r.verdict == "not tried":
                cells.append("-")
            elif r.verdict == "proved":
                cells.append(f"{r.seconds:.2f} s")
            else:
                cells.append(f"{r.verdict} ({r.seconds:.0f} s)")
        lines.append(f"| {bits} | " + " | ".join(cells) + " |")
    return lines


def parse_widths(text: str) -> list[int]:
    """The widths of ``--bits``: comma-separated integers from 1 to 64."""
    try:
        widths = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ParameterError("--bits", text, "comma-separated widths, e.g. 4,8,16") from None
    if not widths or any(b < 1 or b > 64 for b in widths):
        raise ParameterError("--bits", text, "widths from 1 to 64")
    return widths


def parse_configs(text: str | None) -> tuple[list[str], list[SolverRow]]:
    """The configurations of ``--solvers`` (a comma-separated subset of :data:`CONFIGS`) that
    can run, and a "not tried" row for each left out.

    Without ``--solvers``: every configuration whose solver is installed; each other one is
    left out with the extra it needs. A configuration named in ``--solvers`` whose solver is
    not installed is an error naming the extra (:class:`MissingExtraError`).
    """
    if text is None:
        run, missing = installed(tuple(CONFIGS))
        return list(run), [SolverRow("", 0, c, "not tried", 0.0, why)
                           for c, why in missing.items()]
    got = [x.strip() for x in text.split(",") if x.strip()]
    if not got or any(c not in CONFIGS for c in got):
        raise ParameterError("--solvers", text, f"a comma-separated subset of {','.join(CONFIGS)}")
    require_extras([CONFIGS[c][1] for c in got])
    return got, []


def machine() -> dict[str, Any]:
    """The machine, with the cvc5 and bitwuzla versions where they are installed."""
    info = common.machine()
    for extra in ("cvc5", "bitwuzla"):
        try:
            info[extra] = importlib.metadata.version(extra)
        except Exception:  # noqa: BLE001 - the version is informative only
            pass
    return info
