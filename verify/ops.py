"""One table of operations shared by the concrete and the symbolic semantics.

A specification is written once against these functions and runs on Python ints, on numpy
integer arrays (a whole batch at once) and on z3 terms (Int or BitVec). Nothing here knows
about any gadget or machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

try:  # z3 is a hard dependency, but keep the import local to the symbolic branches' checks.
    import z3
except ImportError:  # pragma: no cover - z3-solver is in the project's dependencies
    z3 = None


def is_z3(x: Any) -> bool:
    """True when ``x`` is a z3 expression."""
    return z3 is not None and isinstance(x, z3.ExprRef)


def _any_z3(*xs: Any) -> bool:
    return any(is_z3(x) for x in xs)


def _any_array(*xs: Any) -> bool:
    return any(isinstance(x, np.ndarray) for x in xs)


def ite(cond: Any, a: Any, b: Any) -> Any:
    """``a if cond else b``, elementwise on arrays, ``If`` on z3 terms."""
    if _any_z3(cond, a, b):
        return z3.If(cond, a, b)
    if _any_array(cond, a, b):
        return np.where(cond, a, b)
    return a if cond else b


def relu(x: Any) -> Any:
    """max(x, 0): ``If(x > 0, x, 0)`` on z3 terms."""
    if is_z3(x):
        return z3.If(x > 0, x, 0)
    if isinstance(x, np.ndarray):
        return np.maximum(x, 0)
    return x if x > 0 else 0


def logical_and(*cs: Any) -> Any:
    """Conjunction of conditions (bools, bool arrays or z3 booleans)."""
    if _any_z3(*cs):
        return z3.And(*cs)
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
    if isinstance(c, np.ndarray):
        return ~c
    return not c


def wrap(x: Any, bits: int) -> Any:
    """x mod 2^bits, in [0, 2^bits). On z3 Ints this is ``%`` by a constant (always >= 0)."""
    if isinstance(x, np.ndarray):
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
    if is_z3(x):
        return (x / (1 << i)) % 2
    return (x >> i) & 1


def word(bits_lsb_first: Sequence[Any]) -> Any:
    """sum_i 2^i b_i: the unsigned value of a bit vector given LSB first."""
    total: Any = 0
    for i, b in enumerate(bits_lsb_first):
        total = total + (1 << i) * b
    return total


def select(values: Sequence[Any], index: Any) -> Any:
    """values[index], with a symbolic index turned into a chain of ``If``."""
    if is_z3(index):
        out = values[-1]
        for j in range(len(values) - 2, -1, -1):
            out = z3.If(index == j, values[j], out)
        return out
    if isinstance(index, np.ndarray):
        stacked = np.stack([np.broadcast_to(v, index.shape) for v in values])
        return np.take_along_axis(stacked, index[None, ...], axis=0)[0]
    return values[index]


def store(values: Sequence[Any], index: Any, value: Any) -> list[Any]:
    """A copy of ``values`` with ``values[index] = value`` (symbolic index allowed)."""
    if is_z3(index) or isinstance(index, np.ndarray):
        return [ite(index == j, value, v) for j, v in enumerate(values)]
    out = list(values)
    out[index] = value
    return out
