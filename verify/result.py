"""Verdicts and results: values, never printed by the library.

Verdicts are ordered ``REFUTED < UNKNOWN < PROVED`` so results combine with ``min``. The method
that produced a verdict is its own field, never part of the verdict.
"""

from __future__ import annotations

import re
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
        head = (f"{self.obligation}: {self.verdict.name} {self.method} {self.coverage()} "
                f"{self.seconds:.2f}s")
        if self.counterexample is not None:
            return f"{head} {self.counterexample.describe(short(self.obligation))}"
        if self.verdict is not Verdict.PROVED:
            return f"{head} ({self.reason})"
        return head

    def coverage(self) -> str:
        """What ``checked`` and ``total`` count, in the words of the method (:data:`COVERAGE`):
        ``65536/65536`` for inputs, ``3/3 claims``, ``2000 samples of 2^64 inputs``."""
        return coverage(self.method, self.checked, self.total)

    def to_json(self) -> dict[str, Any]:
        return {
            "obligation": self.obligation,
            "verdict": self.verdict.label,
            "method": self.method,
            "checked": count_json(self.checked),
            "total": count_json(self.total),
            "seconds": round(self.seconds, 6),
            "counterexample": self.counterexample.to_json() if self.counterexample else None,
            "reason": self.reason,
            "details": _jsonable(self.details),
        }


COVERAGE: dict[str, str] = {
    "exhaustive": "inputs evaluated, of the inputs in the domain",
    "smt": "inputs the solver's answer covers (all of them on unsat, else 0), of the domain",
    "cvc5": "as smt, decided by cvc5",
    "smt-bv": "as smt, over bit-vectors (check)",
    "factorised": "inputs covered by the proof (all of them when proved, else 0)",
    "piecewise": "as factorised: one affine piece at a time",
    "direct": "as factorised: the small network checked directly",
    "reduced": "as factorised: the reduced network",
    "sampled": "distinct inputs sampled, of the domain (never a proof, even when all of them)",
    "certificate": "states measured, of the input bit vectors the bound is proved for",
    "structural": "claims about the network's structure",
    "compositional": "claims: gadget contracts composed into the step",
    "symbolic": "claims (lemmas for every size, and sizes compared with the template)",
    "induction": "claims of an inductive invariant",
    "enclosure": "canonical states enclosed",
    "enumerated": "prefixes of the language decided",
}
"""Every method a result can name and what its ``checked`` and ``total`` count. The methods of
``prove --method`` are the first six; the others are named by obligations that prove their
claim their own way, and by ``check --method smt-bv``."""

_NOUNS = {"structural": "claims", "compositional": "claims", "symbolic": "claims",
          "induction": "claims", "enclosure": "states", "enumerated": "prefixes"}


def coverage(method: str, checked: int, total: int) -> str:
    """``checked/total`` in the words of ``method``: inputs bare (``256/256``), other units
    named (``3/3 claims``); a sample count as ``N samples of T inputs``, or ``all T inputs
    sampled`` when the samples happened to cover the domain; a certificate as the states it
    measured against the bound it proved for every state."""
    if method == "sampled":
        if total and checked >= total:
            return f"all {count_text(total)} inputs sampled"
        return f"{count_text(checked)} samples of {count_text(total)} inputs"
    if method == "certificate":
        return f"bound for every state, {count_text(checked)} states measured"
    ratio = f"{count_text(checked)}/{count_text(total)}"
    noun = _NOUNS.get(method)
    if noun is None:
        return ratio
    return f"{ratio} {noun[:-1] if total == 1 else noun}"


def count_text(n: int) -> str:
    """A count for a line: digits up to 10^12, beyond that ``2^k`` for a power of two, else
    about three significant digits (``1.23e+15``)."""
    if n < 10**12:
        return str(n)
    if n & (n - 1) == 0:
        return f"2^{n.bit_length() - 1}"
    return f"{n:.3g}"


JSON_EXACT = 1 << 53
"""Counts up to this are JSON numbers; beyond it common JSON readers round them (doubles)."""
MAX_COUNT_BITS = 1 << 16
"""Largest count :func:`count_from_json` accepts: below 2^65536 (``2^k`` with k at most 65535)."""


def count_json(n: int) -> int | str:
    """A count as written in JSON: a number up to 2^53, else an exact string, ``"2^1158"`` for a
    power of two and the decimal digits otherwise."""
    if n <= JSON_EXACT:
        return n
    if n & (n - 1) == 0:
        return f"2^{n.bit_length() - 1}"
    return str(n)


def count_from_json(v: Any) -> int:
    """Read a count written by :func:`count_json` (or an integer of older files); ValueError
    names what is wrong."""
    if isinstance(v, bool):
        raise ValueError(f"{v!r} is not a count")
    if isinstance(v, int):
        n = v
    elif isinstance(v, str) and (m := re.fullmatch(r"2\^(\d{1,5})", v)):
        n = 1 << int(m.group(1))
    elif isinstance(v, str) and re.fullmatch(r"\d{1,20000}", v):
        n = int(v)
    else:
        raise ValueError(f"{v!r:.60} is not a count (an integer, digits, or 2^k)")
    if n < 0 or n.bit_length() > MAX_COUNT_BITS:
        raise ValueError(f"{v!r:.60} is not a count from 0 to below 2^{MAX_COUNT_BITS}")
    return n


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
