"""Input domains: bit vectors, words, one-hot sets, integer ranges, products, constraints.

Design notes: docs/design/verify.domains.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ParameterError
from .exact.limits import LIMITS
from .interval import Interval, Tracker
from .layout import bit_names
from .ops import logical_and

# Values in this range decode to int64 rows; anything wider decodes to Python ints.
_INT64_MIN, _INT64_MAX = -LIMITS["int64"], LIMITS["int64"] - 1


def _distinct(names: tuple[str, ...]) -> None:
    """Refuse a coordinate named twice: its two columns could hold different values."""
    if not names:
        raise ParameterError("names", names, "at least one coordinate")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ParameterError("names", dup, "distinct coordinate names")


class Domain:
    """Base class; subclasses fill in the five views described in the module docstring."""

    names: tuple[str, ...]

    @property
    def count(self) -> int:
        raise NotImplementedError

    def decode(self, idx: np.ndarray) -> np.ndarray:
        """Rows (len(idx), len(names)) of int64 values for member indices ``idx``."""
        raise NotImplementedError

    def box(self) -> list[tuple[int, int]]:
        raise NotImplementedError

    def z3_constraints(self, v: Mapping[str, Any]) -> list[Any]:
        raise NotImplementedError

    def strategy(self) -> Any:
        raise NotImplementedError

    def accept(self, values: Mapping[str, Any]) -> Any:
        """Predicate over a batch (or z3 terms); True everywhere unless constrained.

        Only the enumeration relies on it, on rows that :meth:`decode` made: it does not test
        the box or a one-hot shape. :meth:`contains` decides membership of any point."""
        return True

    def contains(self, point: Mapping[str, int]) -> bool:
        """Whether ``point`` (Python ints by name) is a member: the box, the shape (one-hot)
        and every predicate, decided exactly."""
        raise NotImplementedError

    def term_bound(self) -> int | None:
        """The largest magnitude of any value that :meth:`z3_constraints` and :meth:`accept`
        compute over the box (coordinates, one-hot sums, a predicate's intermediates), or None
        when no bound can be given (a predicate that cannot run on intervals)."""
        return None

    def words(self) -> dict[str, tuple[str, ...]]:
        """Groups of coordinates that read as one unsigned word (LSB first), for display."""
        return {}

    def chunks(self, chunk: int, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Members ``start..stop`` in chunks of at most ``chunk`` rows."""
        stop = self.count if stop is None else stop
        for lo in range(start, stop, chunk):
            yield self.decode(np.arange(lo, min(lo + chunk, stop), dtype=np.int64))

    def split(self, limit: int) -> tuple[Domain, Domain] | None:
        """``(inner, outer)`` over a partition of the coordinates, with at most ``limit`` inner
        members, such that member ``i + inner.count * o`` is inner member ``i`` together with
        outer member ``o``; None when the domain has no such split (or fits in ``limit``).

        Only the enumeration splits: membership (:meth:`accept`) stays the whole domain's.
        """
        return None

    def describe(self) -> str:
        return f"{type(self).__name__}({len(self.names)} coordinates, {self.count} points)"


@dataclass(frozen=True)
class Bits(Domain):
    """Independent {0,1} coordinates."""

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        _distinct(self.names)

    @property
    def count(self) -> int:
        return 1 << len(self.names)

    def contains(self, point: Mapping[str, int]) -> bool:
        return all(point[n] in (0, 1) for n in self.names)

    def term_bound(self) -> int:
        return 1

    def decode(self, idx: np.ndarray) -> np.ndarray:
        shifts = np.arange(len(self.names), dtype=np.int64)
        return (idx[:, None] >> shifts[None, :]) & 1

    def box(self) -> list[tuple[int, int]]:
        return [(0, 1)] * len(self.names)

    def split(self, limit: int) -> tuple[Domain, Domain] | None:
        """The low ``k = floor(log2 limit)`` bits inside, the others outside: index ``i`` has
        bit ``j`` = ``(i >> j) & 1``, so ``i = low + 2^k * high``."""
        if self.count <= limit or limit < 2:
            return None
        k = limit.bit_length() - 1
        return Bits(self.names[:k]), Bits(self.names[k:])

    def z3_constraints(self, v: Mapping[str, Any]) -> list[Any]:
        import z3

        return [z3.Or(v[n] == 0, v[n] == 1) for n in self.names]

    def strategy(self) -> Any:
        from hypothesis import strategies as st

        return st.fixed_dictionaries({n: st.integers(0, 1) for n in self.names})


def Word(prefix: str, bits: int) -> Bits:  # noqa: N802 - reads as a type, like Bits
    """An unsigned ``bits``-bit word stored as bits ``prefix.bit[i]``, LSB first."""
    if bits < 1:
        raise ParameterError("bits", bits, "bits >= 1")
    return _WordBits(tuple(bit_names(prefix, bits)), prefix)


@dataclass(frozen=True)
class _WordBits(Bits):
    prefix: str = ""

    def words(self) -> dict[str, tuple[str, ...]]:
        return {self.prefix: self.names}


@dataclass(frozen=True)
class OneHot(Domain):
    """Exactly one of the coordinates is 1, the others 0."""

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        _distinct(self.names)

    @property
    def count(self) -> int:
        return len(self.names)

    def contains(self, point: Mapping[str, int]) -> bool:
        return (all(point[n] in (0, 1) for n in self.names)
                and sum(point[n] for n in self.names) == 1)

    def term_bound(self) -> int:
        return len(self.names)  # the sum of the coordinates

    def decode(self, idx: np.ndarray) -> np.ndarray:
        return (idx[:, None] == np.arange(len(self.names))[None, :]).astype(np.int64)

    def box(self) -> list[tuple[int, int]]:
        return [(0, 1)] * len(self.names)

    def z3_constraints(self, v: Mapping[str, Any]) -> list[Any]:
        import z3

        cs = [z3.Or(v[n] == 0, v[n] == 1) for n in self.names]
        terms = [v[n] for n in self.names]
        # One term is no sum: z3 would print it as a one-argument (+ x), which SMT-LIB (and
        # cvc5) refuses.
        return cs + [(terms[0] if len(terms) == 1 else z3.Sum(*terms)) == 1]

    def strategy(self) -> Any:
        from hypothesis import strategies as st

        names = self.names
        return st.integers(0, len(names) - 1).map(
            lambda k: {n: int(i == k) for i, n in enumerate(names)}
        )


@dataclass(frozen=True)
class IntRange(Domain):
    """One integer coordinate in [lo, hi]."""

    name: str
    lo: int
    hi: int
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        for what in ("lo", "hi"):
            value = getattr(self, what)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ParameterError(what, value, "an integer")
            object.__setattr__(self, what, int(value))
        if self.hi < self.lo:
            raise ParameterError("hi", self.hi, f"hi >= lo = {self.lo}")
        object.__setattr__(self, "names", (self.name,))

    @property
    def count(self) -> int:
        return self.hi - self.lo + 1

    def decode(self, idx: np.ndarray) -> np.ndarray:
        """``lo + idx``: int64 when the whole range fits it (then no sum can wrap), else
        Python ints."""
        if _INT64_MIN <= self.lo and self.hi <= _INT64_MAX:
            return (np.asarray(idx, dtype=np.int64) + np.int64(self.lo))[:, None]
        return (np.asarray(idx).astype(object) + self.lo)[:, None]

    def contains(self, point: Mapping[str, int]) -> bool:
        return bool(self.lo <= point[self.name] <= self.hi)

    def term_bound(self) -> int:
        return max(abs(self.lo), abs(self.hi))

    def box(self) -> list[tuple[int, int]]:
        return [(self.lo, self.hi)]

    def z3_constraints(self, v: Mapping[str, Any]) -> list[Any]:
        return [v[self.name] >= self.lo, v[self.name] <= self.hi]

    def strategy(self) -> Any:
        from hypothesis import strategies as st

        return st.integers(self.lo, self.hi).map(lambda k: {self.name: k})


@dataclass(frozen=True)
class Product(Domain):
    """The Cartesian product of domains over disjoint coordinates (first factor varies fastest)."""

    factors: tuple[Domain, ...]
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.factors:
            raise ParameterError("factors", self.factors, "at least one factor")
        names: list[str] = []
        for f in self.factors:
            names.extend(f.names)
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ParameterError("factors", dup, "disjoint coordinates in a product")
        object.__setattr__(self, "names", tuple(names))

    @property
    def count(self) -> int:
        total = 1
        for f in self.factors:
            total *= f.count
        return total

    def decode(self, idx: np.ndarray) -> np.ndarray:
        cols = []
        rest = np.asarray(idx)
        for f in self.factors:
            c = f.count
            if c > _INT64_MAX:  # every index is below c: this factor takes all of it
                cols.append(f.decode(rest))
                rest = np.zeros_like(rest)
                continue
            cols.append(f.decode(rest % c))
            rest = rest // c
        if any(col.dtype == object for col in cols):
            cols = [col.astype(object) for col in cols]
        return np.concatenate(cols, axis=1)

    def contains(self, point: Mapping[str, int]) -> bool:
        return all(f.contains(point) for f in self.factors)

    def term_bound(self) -> int | None:
        bounds = [f.term_bound() for f in self.factors]
        return None if any(b is None for b in bounds) else max(b for b in bounds if b is not None)

    def box(self) -> list[tuple[int, int]]:
        return [b for f in self.factors for b in f.box()]

    def split(self, limit: int) -> tuple[Domain, Domain] | None:
        """The leading factors that fit in ``limit`` inside, the rest outside; the first factor
        that does not fit is itself split when it can, to fill the inner part.

        With the leading factors' index ``p`` (of ``size`` members) and the next factor split
        as ``f = s + |s_in| * t``: ``p + size * (f + |f| * r) = (p + size * s) + size * |s_in| *
        (t + |s_out| * r)``, since ``|f| = |s_in| * |s_out|``.
        """
        inner: list[Domain] = []
        size = 1
        for k, f in enumerate(self.factors):
            if size * f.count <= limit:
                inner.append(f)
                size *= f.count
                continue
            rest = list(self.factors[k:])
            parts = f.split(limit // size)
            if parts is not None:
                inner.append(parts[0])
                rest[0] = parts[1]
            if not inner:
                return None
            return product(*inner), product(*rest)
        return None

    def z3_constraints(self, v: Mapping[str, Any]) -> list[Any]:
        return [c for f in self.factors for c in f.z3_constraints(v)]

    def strategy(self) -> Any:
        from hypothesis import strategies as st

        def merge(parts: Sequence[dict[str, int]]) -> dict[str, int]:
            out: dict[str, int] = {}
            for p in parts:
                out.update(p)
            return out

        return st.tuples(*[f.strategy() for f in self.factors]).map(merge)

    def accept(self, values: Mapping[str, Any]) -> Any:
        return logical_and(*[f.accept(values) for f in self.factors])

    def words(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for f in self.factors:
            out.update(f.words())
        return out


@dataclass(frozen=True)
class Constrained(Domain):
    """A base domain restricted by a predicate (written with :mod:`verify.ops`)."""

    base: Domain
    predicate: Callable[[Mapping[str, Any]], Any]
    description: str
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", self.base.names)

    @property
    def count(self) -> int:
        return self.base.count

    def decode(self, idx: np.ndarray) -> np.ndarray:
        return self.base.decode(idx)

    def box(self) -> list[tuple[int, int]]:
        return self.base.box()

    def split(self, limit: int) -> tuple[Domain, Domain] | None:
        """The base's split; the predicate stays with :meth:`accept`, on whole members."""
        return self.base.split(limit)

    def z3_constraints(self, v: Mapping[str, Any]) -> list[Any]:
        return self.base.z3_constraints(v) + [self.predicate(v)]

    def contains(self, point: Mapping[str, int]) -> bool:
        return self.base.contains(point) and bool(self.predicate(point))

    def term_bound(self) -> int | None:
        """The base's bound and every intermediate value of an interval run of the predicate
        over the box (see :mod:`verify.interval`)."""
        base = self.base.term_bound()
        if base is None:
            return None
        tracker = Tracker()
        try:
            self.predicate({n: Interval(lo, hi, tracker)
                            for n, (lo, hi) in zip(self.names, self.box())})
        except Exception:  # noqa: BLE001 - any failure means no bound is claimed
            return None
        return max(base, tracker.max_abs)

    def strategy(self) -> Any:
        return self.base.strategy().filter(lambda d: bool(self.predicate(d)))

    def accept(self, values: Mapping[str, Any]) -> Any:
        return logical_and(self.base.accept(values), self.predicate(values))

    def words(self) -> dict[str, tuple[str, ...]]:
        return self.base.words()

    def describe(self) -> str:
        return f"{self.base.describe()} where {self.description}"


def product(*factors: Domain) -> Domain:
    """A product of the factors (a single factor is returned as it is)."""
    return factors[0] if len(factors) == 1 else Product(tuple(factors))
