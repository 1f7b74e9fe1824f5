"""Interval evaluation of specs: a sound bound on every intermediate value.

A spec written with :mod:`verify.ops` can run on :class:`Interval` values. Every arithmetic
operation records the largest magnitude it sees (operands and result) in a shared
:class:`Tracker` (conditions carry it too, so the plain-integer branches ``ops.ite`` picks between
are recorded), so after one run the tracker bounds every subterm the spec can compute over the
input box. Anything without an exact integer enclosure (a float, an operator Interval does not
define) raises, and then no bound is claimed. The bit-vector encoding uses it to choose a width
in which modular arithmetic cannot wrap, which makes a bit-vector proof a proof over the
integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


class Tracker:
    """The largest magnitude seen so far."""

    def __init__(self) -> None:
        self.max_abs = 0

    def see(self, *values: int) -> None:
        for v in values:
            if abs(v) > self.max_abs:
                self.max_abs = abs(v)


class IBool:
    """A boolean that may be True, False, or either, with the tracker of the run that made it
    (so a value chosen by it, such as the plain-integer branches of ``ops.ite``, is recorded
    in the same run)."""

    __slots__ = ("tracker", "values")

    def __init__(self, values: frozenset[bool], tracker: Tracker | None = None) -> None:
        self.values = values
        self.tracker = tracker

    def _other(self, o: Any) -> tuple[frozenset[bool], Tracker | None]:
        if isinstance(o, IBool):
            return o.values, self.tracker or o.tracker
        return frozenset({bool(o)}), self.tracker

    def __and__(self, o: Any) -> IBool:
        ov, tracker = self._other(o)
        return IBool(frozenset(a and b for a in self.values for b in ov), tracker)

    __rand__ = __and__

    def __or__(self, o: Any) -> IBool:
        ov, tracker = self._other(o)
        return IBool(frozenset(a or b for a in self.values for b in ov), tracker)

    __ror__ = __or__

    def __invert__(self) -> IBool:
        return IBool(frozenset(not a for a in self.values), self.tracker)

    def __bool__(self) -> bool:
        if len(self.values) == 1:
            return next(iter(self.values))
        raise TypeError("an interval condition has no single truth value; use ops.ite")


BOTH = frozenset({True, False})


@dataclass(frozen=True)
class Interval:
    """The integers lo..hi (inclusive), carrying the tracker that records magnitudes."""

    lo: int
    hi: int
    tracker: Tracker

    def __post_init__(self) -> None:
        self.tracker.see(self.lo, self.hi)

    def _lift(self, o: Any) -> Interval:
        if isinstance(o, Interval):
            return o
        if isinstance(o, IBool):  # a condition used as 0/1
            vals = [int(v) for v in o.values]
            return Interval(min(vals), max(vals), self.tracker)
        if isinstance(o, (int, np.integer)):  # bool is an int
            return Interval(int(o), int(o), self.tracker)
        # A float (or anything else) has no exact integer enclosure: no bound is claimed.
        raise TypeError(f"no integer interval for {type(o).__name__} {o!r}")

    def _bool(self, values: frozenset[bool]) -> IBool:
        return IBool(values, self.tracker)

    def __bool__(self) -> bool:
        """Python's truth of an int, where every member of the interval agrees on it."""
        if self.lo == self.hi == 0:
            return False
        if self.lo > 0 or self.hi < 0:
            return True
        raise TypeError("an interval containing 0 has no single truth value; use ops.ite")

    def __add__(self, o: Any) -> Interval:
        o = self._lift(o)
        return Interval(self.lo + o.lo, self.hi + o.hi, self.tracker)

    __radd__ = __add__

    def __neg__(self) -> Interval:
        return Interval(-self.hi, -self.lo, self.tracker)

    def __sub__(self, o: Any) -> Interval:
        return self + (-self._lift(o))

    def __rsub__(self, o: Any) -> Interval:
        return self._lift(o) - self

    def __mul__(self, o: Any) -> Interval:
        o = self._lift(o)
        c = [self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi]
        return Interval(min(c), max(c), self.tracker)

    __rmul__ = __mul__

    def _cmp(self, o: Any, op: str) -> IBool:
        o = self._lift(o)
        table = {
            "<": (self.hi < o.lo, self.lo >= o.hi),
            "<=": (self.hi <= o.lo, self.lo > o.hi),
            ">": (self.lo > o.hi, self.hi <= o.lo),
            ">=": (self.lo >= o.hi, self.hi < o.lo),
        }
        sure, never = table[op]
        if sure:
            return self._bool(frozenset({True}))
        if never:
            return self._bool(frozenset({False}))
        return self._bool(BOTH)

    def __lt__(self, o: Any) -> IBool:  # type: ignore[override]
        return self._cmp(o, "<")

    def __le__(self, o: Any) -> IBool:  # type: ignore[override]
        return self._cmp(o, "<=")

    def __gt__(self, o: Any) -> IBool:  # type: ignore[override]
        return self._cmp(o, ">")

    def __ge__(self, o: Any) -> IBool:  # type: ignore[override]
        return self._cmp(o, ">=")

    def __eq__(self, o: Any) -> IBool:  # type: ignore[override]
        o = self._lift(o)
        if self.lo == self.hi == o.lo == o.hi:
            return self._bool(frozenset({True}))
        if self.hi < o.lo or o.hi < self.lo:
            return self._bool(frozenset({False}))
        return self._bool(BOTH)

    def __ne__(self, o: Any) -> IBool:  # type: ignore[override]
        return ~(self == o)

    def __hash__(self) -> int:
        return hash((self.lo, self.hi))

    def hull(self, o: Any) -> Interval:
        o = self._lift(o)
        return Interval(min(self.lo, o.lo), max(self.hi, o.hi), self.tracker)
