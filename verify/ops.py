"""One table of operations shared by the concrete and the symbolic semantics.

A specification is written once against these functions and runs on Python ints, on numpy
integer arrays (a whole batch at once) and on z3 terms (Int or BitVec). Nothing here knows
about any gadget or machine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from .interval import IBool, Interval
from .spec_terms import floor_div

try:  # z3 is a hard dependency, but keep the import local to the symbolic branches' checks.
    import z3
except ImportError:  # pragma: no cover - z3-solver is in the project's dependencies
    z3 = None


# True while a spec runs on batches of Python ints (object arrays): arrays that the operations
# below make from plain integers are then object arrays too, never int64 (which would wrap).
_PYTHON_INTS: ContextVar[bool] = ContextVar("loopmlp_python_int_batches", default=False)


@contextmanager
def python_int_batches() -> Iterator[None]:
    """Within the block, batches hold Python ints: ``ite`` and ``select`` make the arrays of
    their plain-integer values as object arrays, so a magnitude beyond int64 stays exact."""
    token = _PYTHON_INTS.set(True)
    try:
        yield
    finally:
        _PYTHON_INTS.reset(token)


def _batch_value(v: Any) -> Any:
    """A plain integer as the batches of the current run hold it (object under
    :func:`python_int_batches`)."""
    if _PYTHON_INTS.get() and not isinstance(v, np.ndarray):
        return np.array(v, dtype=object)
    return v


def is_z3(x: Any) -> bool:
    """True when ``x`` is a z3 expression."""
    return z3 is not None and isinstance(x, z3.ExprRef)


def is_bv(x: Any) -> bool:
    """True when ``x`` is a z3 bit-vector term (signed, wide enough never to wrap)."""
    return is_z3(x) and z3.is_bv(x)


def _bv_width_of(cond: Any) -> int:
    """The bit-vector width of the terms a condition compares, or 0 for integer terms."""
    if not is_z3(cond):
        return 0
    if z3.is_bv(cond):
        return int(cond.size())
    for k in range(cond.num_args()):
        w = _bv_width_of(cond.arg(k))
        if w:
            return w
    return 0


def _interval(*xs: Any) -> Any:
    for x in xs:
        if isinstance(x, Interval):
            return x
    return None


def _ibool(*xs: Any) -> bool:
    return any(isinstance(x, IBool) for x in xs)


def _any_z3(*xs: Any) -> bool:
    return any(is_z3(x) for x in xs)


def _any_array(*xs: Any) -> bool:
    return any(isinstance(x, np.ndarray) for x in xs)


def ite(cond: Any, a: Any, b: Any) -> Any:
    """``a if cond else b``, elementwise on arrays, ``If`` on z3 terms."""
    if _any_z3(cond, a, b):
        if not is_z3(a) and not is_z3(b):
            width = _bv_width_of(cond)
            if width:  # plain-int branches take the bit-vector sort of the condition's terms
                a, b = (z3.BitVecVal(int(a), width, cond.ctx),
                        z3.BitVecVal(int(b), width, cond.ctx))
        return z3.If(cond, a, b)
    iv = _interval(a, b)
    if iv is not None or _ibool(cond):
        # Interval run: both branches are lifted onto the run's tracker (also when the
        # condition decides between them), so every magnitude either can take is recorded and
        # the value stays an interval for whatever the spec does with it next.
        vals = cond.values if isinstance(cond, IBool) else frozenset({bool(cond)})
        tracker = iv.tracker if iv is not None else cond.tracker
        if tracker is None:
            raise TypeError("an interval condition from no interval run")
        base = iv if iv is not None else Interval(0, 0, tracker)
        then, other = base._lift(a), base._lift(b)
        if vals == frozenset({True}):
            return then
        if vals == frozenset({False}):
            return other
        return then.hull(other)
    if _any_array(cond, a, b):
        return np.where(cond, _batch_value(a), _batch_value(b))
    return a if cond else b


def relu(x: Any) -> Any:
    """max(x, 0): ``If(x > 0, x, 0)`` on z3 terms."""
    if is_z3(x):
        return z3.If(x > 0, x, 0)
    if isinstance(x, np.ndarray):
        return np.maximum(x, 0)
    if _interval(x) is not None:
        return type(x)(max(x.lo, 0), max(x.hi, 0), x.tracker)
    return x if x > 0 else 0


def logical_and(*cs: Any) -> Any:
    """Conjunction of conditions (bools, bool arrays or z3 booleans)."""
    if _any_z3(*cs):
        return z3.And(*[c for c in cs if not isinstance(c, bool) or not c])
    out: Any = True
    for c in cs:
        out = out & c
    return out


def logical_or(*cs: Any) -> Any:
    """Disjunction of conditions (bools, bool arrays or z3 booleans)."""
    if _any_z3(*cs):
        return z3.Or(*cs)
    out: Any = False
    for c in cs:
        out = out | c
    return out


def logical_not(c: Any) -> Any:
    """Negation of a condition."""
    if is_z3(c):
        return z3.Not(c)
    if _ibool(c):
        return ~c
    if isinstance(c, np.ndarray):
        return np.logical_not(c)
    return not c


def wrap(x: Any, bits: int) -> Any:
    """x mod 2^bits, in [0, 2^bits). On z3 Ints this is ``%`` by a constant (always >= 0);
    on bit-vectors a mask (two's complement makes that the same residue)."""
    if is_bv(x):
        return x & ((1 << bits) - 1)
    iv = _interval(x)
    if iv is not None:
        iv.tracker.see(1 << bits)
        k = x.lo >> bits
        if k == x.hi >> bits:  # one period: the residue is exact
            return type(x)(x.lo - (k << bits), x.hi - (k << bits), x.tracker)
        return type(x)(0, (1 << bits) - 1, x.tracker)
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "iu" and bits < 8 * x.dtype.itemsize:
            # The low bits of two's complement: the residue, one pass cheaper than a division.
            return np.bitwise_and(x, x.dtype.type((1 << bits) - 1))
        return np.mod(x, 1 << bits)
    return x % (1 << bits)


def signed(x: Any, bits: int) -> Any:
    """The two's-complement value of an unsigned ``bits``-bit word x in [0, 2^bits)."""
    half = 1 << (bits - 1)
    return ite(x >= half, x - (1 << bits), x)


def bit(x: Any, i: int) -> Any:
    """Bit i (LSB = 0) of a non-negative integer x."""
    if isinstance(x, np.ndarray):
        return (x >> i) & 1
    if is_bv(x):
        return z3.LShR(x, i) & 1
    if is_z3(x):
        return floor_div(x, 1 << i) % 2
    iv = _interval(x)
    if iv is not None:
        iv.tracker.see(1 << i)
        if x.lo >= 0 and x.lo >> i == x.hi >> i:  # no multiple of 2^i inside: one value
            b = (x.lo >> i) & 1
            return type(x)(b, b, x.tracker)
        return type(x)(0, 1, x.tracker)
    return (x >> i) & 1


def word(bits_lsb_first: Sequence[Any]) -> Any:
    """sum_i 2^i b_i: the unsigned value of a bit vector given LSB first."""
    total: Any = 0
    for i, b in enumerate(bits_lsb_first):
        total = total + (1 << i) * b
    return total


def select(values: Sequence[Any], index: Any) -> Any:
    """``values[index]`` for ``0 <= index < len(values)``, and the last value for any other
    index, on every backend: a symbolic index is the chain ``If(index == 0, values[0], If(...,
    values[-1]))``, and the concrete ones follow the same rule, so no backend raises where
    another gives a value."""
    iv = _interval(index)
    if iv is not None:
        # The symbolic chain compares the index with every position: a bit-vector sort must
        # hold them all (else a position wraps onto a negative index).
        iv.tracker.see(len(values) - 1)
        out = iv._lift(values[0])
        for v in values[1:]:
            out = out.hull(v)
        return out
    if is_z3(index):
        # Through ite, so plain-integer values take the bit-vector sort of the index.
        out = values[-1]
        for j in range(len(values) - 2, -1, -1):
            out = ite(index == j, values[j], out)
        return out
    if isinstance(index, np.ndarray):
        # Values and index broadcast together, so a value may vary where the index does not.
        shape = np.broadcast_shapes(index.shape, *(np.shape(v) for v in values))
        stacked = np.stack([np.broadcast_to(_batch_value(v), shape) for v in values])
        index = np.broadcast_to(index, shape)
        inside = (index >= 0) & (index < len(values))
        positions = np.where(inside, index, len(values) - 1).astype(np.int64)
        return np.take_along_axis(stacked, positions[None, ...], axis=0)[0]
    return values[index] if 0 <= index < len(values) else values[-1]


def store(values: Sequence[Any], index: Any, value: Any) -> list[Any]:
    """A copy of ``values`` with ``values[index] = value`` (symbolic index allowed)."""
    if is_z3(index) or isinstance(index, np.ndarray) or _interval(index) is not None:
        return [ite(index == j, value, v) for j, v in enumerate(values)]
    out = list(values)
    out[index] = value
    return out
