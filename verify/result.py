"""Verdicts and results: values, never printed by the library.

Verdicts are ordered ``REFUTED < UNKNOWN < PROVED`` so results combine with ``min``. The method
that produced a verdict is its own field, never part of the verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from .names import short


class Verdict(IntEnum):
    """Ordered verdicts: combine with ``min``."""

    REFUTED = 0
    UNKNOWN = 1
    PROVED = 2

    @property
    def label(self) -> str:
        """Lower-case name, as written in JSON."""
        return self.name.lower()


@dataclass(frozen=True)
class Counterexample:
    """An input on which the network and the spec disagree (already replayed when reported).

    ``inputs`` maps every input coordinate to its value; ``network`` and ``spec`` map each output
    that differs to the two values; ``words`` groups input bits into words for display.
    """

    inputs: Mapping[str, int]
    network: Mapping[str, int]
    spec: Mapping[str, int]
    words: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def compact_inputs(self) -> dict[str, int]:
        """Inputs with word-grouped bits shown as one unsigned value per word."""
        out: dict[str, int] = {}
        grouped: set[str] = set()
        for w, bits in self.words.items():
            out[w] = sum(int(self.inputs[b]) << i for i, b in enumerate(bits))
            grouped.update(bits)
        for n, v in self.inputs.items():
            if n not in grouped:
                out[n] = int(v)
        return out

    def call(self, name: str) -> str:
        """``name(DA=3, DB=5)``: the input as a call that reads like the spec's arguments."""
        args = ", ".join(f"{k}={v}" for k, v in self.compact_inputs().items())
        return f"{name}({args})"

    def describe(self, name: str) -> str:
        """``name(DA=3, DB=5): R.bit[0] network=1 spec=0; ...``."""
        diffs = "; ".join(
            f"{o} network={self.network[o]} spec={self.spec[o]}" for o in self.network
        )
        return f"{self.call(name)}: {diffs}"

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": self.compact_inputs(),
            "coordinates": {k: int(v) for k, v in self.inputs.items()},
            "network": {k: int(v) for k, v in self.network.items()},
            "spec": {k: int(v) for k, v in self.spec.items()},
        }


@dataclass(frozen=True)
class Result:
    """What one check established about one obligation."""

    obligation: str
    verdict: Verdict
    method: str
    checked: int
    total: int
    seconds: float
    reason: str
    counterexample: Counterexample | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """One greppable line: ``name: PROVED exhaustive 65536/65536 0.21s``."""
        cover = f"{self.checked}/{self.total}" if self.total < 10**12 else _pow2(
            self.checked, self.total
        )
        head = f"{self.obligation}: {self.verdict.name} {self.method} {cover} {self.seconds:.2f}s"
        if self.counterexample is not None:
            return f"{head} {self.counterexample.describe(short(self.obligation))}"
        if self.verdict is not Verdict.PROVED:
            return f"{head} ({self.reason})"
        return head

    def to_json(self) -> dict[str, Any]:
        return {
            "obligation": self.obligation,
            "verdict": self.verdict.label,
            "method": self.method,
            "checked": self.checked,
            "total": self.total,
            "seconds": round(self.seconds, 6),
            "counterexample": self.counterexample.to_json() if self.counterexample else None,
            "reason": self.reason,
            "details": _jsonable(self.details),
        }


def _pow2(checked: int, total: int) -> str:
    def fmt(n: int) -> str:
        if n > 0 and n & (n - 1) == 0:
            return f"2^{n.bit_length() - 1}"
        return f"{n:.3g}"

    return f"{fmt(checked)}/{fmt(total)}"


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (str, bool, float)) or x is None:
        return x
    if isinstance(x, int):
        return int(x)
    return str(x)


def combine(results: Iterable[Result]) -> Verdict:
    """The weakest verdict of several results (PROVED for none)."""
    return min((r.verdict for r in results), default=Verdict.PROVED)


def summary(results: Iterable[Result]) -> dict[str, int]:
    """Counts per verdict, as in the JSON ``summary``."""
    out = {"proved": 0, "refuted": 0, "unknown": 0}
    for r in results:
        out[r.verdict.label] += 1
    return out
