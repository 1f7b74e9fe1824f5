"""Reading a spec on solver terms: the spec's Python text run on z3 terms, with the operations
whose z3 meaning is not their Python meaning refused instead of silently changed.

A spec is a Python function. Replayed at a point it means what Python computes; run on z3
terms, each operation means what z3 makes of it, and for a few the two differ:

- the truth of a symbolic condition (``if a == b``, ``and``/``or``/``not``, ``min``/``max``):
  z3 answers ``a == b`` by comparing the two *expressions*, so ``1 if a == b else 0`` reads as
  0 and a solver would prove a claim that is false at ``a = b``;
- ``/``: true division in Python (a float), integer division in z3;
- ``%`` by a negative or symbolic divisor: Python's remainder takes the divisor's sign, z3's
  integer ``mod`` is never negative;
- ``**`` with a symbolic or negative exponent: a float in Python where the exponent is
  negative, an integer power in z3;
- hashing a term (``d.get(x, 0)``, ``x in {0, 1}``): Python finds the key by value, a term's
  hash is that of its expression, so the lookup silently misses;
- ``~`` of a condition: z3's ``Not``, but ``~True`` is -2 on a Python bool (truthy);
- a Python float meeting a term: z3 reads its decimal text as an exact rational (``0.1`` is
  1/10, ``a + 1e17 - 1e17`` is ``a``), Python rounds (and a spec's value must be an int).

Inside :func:`reading` (per context: a worker thread started with a copy of the context
reads as its starter does) each of these raises :class:`SpecReadingError`, which the
methods report as UNKNOWN with the reason; ``%`` by a positive constant (what
:func:`verify.ops.wrap` uses) and everything :mod:`verify.ops` offers (``ite``, ``bit``,
``select``, ...) keep their meaning. Outside :func:`reading` z3 behaves as it always does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from verify.errors import LoopmlpError


class SpecReadingError(LoopmlpError):
    """A spec used an operation whose meaning on solver terms differs from its Python one."""


_DEPTH: ContextVar[int] = ContextVar("loopmlp_spec_reading", default=0)
_LOCK = threading.Lock()
_INSTALLED = False
HINT = "write the spec with verify.ops (ite, bit, wrap, select, ...) so both readings agree"


def active() -> bool:
    """Whether this context (a thread, or a context copied into one) reads specs on solver
    terms."""
    return _DEPTH.get() > 0


@contextmanager
def reading() -> Iterator[None]:
    """Run the block (a spec called on z3 terms) with the guard of the module docstring."""
    _install()
    token = _DEPTH.set(_DEPTH.get() + 1)
    try:
        yield
    finally:
        _DEPTH.reset(token)


def _positive_constant(z3: Any, d: Any) -> bool:
    if isinstance(d, bool):
        return False
    if isinstance(d, int):
        return d > 0
    if z3.is_int_value(d):
        return d.as_long() > 0
    if z3.is_bv_value(d):
        return d.as_signed_long() > 0
    return False


def _natural_constant(z3: Any, e: Any) -> bool:
    if isinstance(e, bool):
        return False
    if isinstance(e, int):
        return e >= 0
    return bool(z3.is_int_value(e) and e.as_long() >= 0)


def _install() -> None:
    """Wrap z3's truth, division, remainder, power and hash once per process (each wrapper
    does nothing new outside :func:`reading`)."""
    global _INSTALLED
    if _INSTALLED:
        return
    with _LOCK:
        if _INSTALLED:
            return
        import z3

        def guard(orig: Callable[..., Any],
                  refuse: Callable[..., str | None]) -> Callable[..., Any]:
            """``orig``, raising ``refuse(...)`` of its arguments (when not None) inside
            :func:`reading`."""
            def guarded(*args: Any, **kwargs: Any) -> Any:
                if active():
                    why = refuse(*args, **kwargs)
                    if why is not None:
                        raise SpecReadingError(why)
                return orig(*args, **kwargs)
            return guarded

        def truth(self: Any) -> str | None:
            if z3.is_true(self) or z3.is_false(self):
                return None
            return (f"the spec takes the truth of the symbolic condition {str(self)[:80]!r} "
                    "(a Python if, and, or, not, min or max on a solver term); z3 would read "
                    f"it structurally, not by value: {HINT}")

        def division(name: str) -> Callable[..., str | None]:
            return lambda self, other: (
                f"the spec divides a solver term with '/' ({name}): true division in "
                f"Python, integer division in z3; use // on plain ints or {HINT}")

        def remainder(reflected: bool) -> Callable[..., str | None]:
            def why(self: Any, other: Any) -> str | None:
                divisor = self if reflected else other
                if _positive_constant(z3, divisor):
                    return None
                return (f"the spec takes '%' of a solver term by {str(divisor)[:40]!r}: only a "
                        "positive constant divisor means the same in Python and z3 (Python's "
                        f"remainder takes the divisor's sign, z3's is never negative); {HINT}")
            return why

        def power(reflected: bool) -> Callable[..., str | None]:
            def why(self: Any, other: Any) -> str | None:
                exponent = self if reflected else other
                if _natural_constant(z3, exponent):
                    return None
                return (f"the spec raises a solver term to the power {str(exponent)[:40]!r}: "
                        "only a constant exponent of at least 0 means the same in Python and "
                        f"z3 (a negative one gives a float in Python); {HINT}")
            return why

        def hashed(self: Any) -> str:
            return (f"the spec hashes the solver term {str(self)[:80]!r} (a dict or set "
                    "lookup): Python finds a key by value, a term hashes as an expression, so "
                    f"the lookup would silently miss; {HINT}")

        def inverted(self: Any) -> str:
            return (f"the spec takes '~' of the condition {str(self)[:80]!r}: z3's Not, but "
                    "-2 or -1 on a Python bool (both true); use verify.ops.logical_not")

        def float_value(val: Any, ctx: Any = None) -> str | None:
            if not isinstance(val, float):
                return None
            return (f"the spec combines a solver term with the float {val!r}: z3 reads it as "
                    "an exact rational, Python rounds; a spec computes with ints only")

        z3.AstRef.__bool__ = guard(z3.AstRef.__bool__, truth)  # type: ignore[method-assign]
        z3.ExprRef.__hash__ = guard(z3.ExprRef.__hash__, hashed)  # type: ignore[method-assign]
        z3.BoolRef.__invert__ = guard(  # type: ignore[method-assign]
            z3.BoolRef.__invert__, inverted)
        for name, reflected in (("__pow__", False), ("__rpow__", True)):
            setattr(z3.ArithRef, name, guard(z3.ArithRef.__dict__[name], power(reflected)))

        import z3.z3 as z3_module

        # what z3's operators call on a float operand
        z3_module.RealVal = z3.RealVal = guard(z3_module.RealVal, float_value)

        for cls in (z3.ArithRef, z3.BitVecRef):
            for name in ("__truediv__", "__rtruediv__", "__div__"):
                if name in cls.__dict__:
                    setattr(cls, name, guard(cls.__dict__[name], division(name)))
            for name, reflected in (("__mod__", False), ("__rmod__", True)):
                setattr(cls, name, guard(cls.__dict__[name], remainder(reflected)))
        _INSTALLED = True


def floor_div(x: Any, c: int) -> Any:
    """``x // c`` for a z3 integer term and a positive constant (z3's ``div`` floors for a
    positive divisor, as Python's ``//`` does); for :mod:`verify.ops`."""
    import z3

    if c <= 0:
        raise ValueError(f"floor_div by {c}: a positive constant is needed")
    ctx = x.ctx
    return z3.ArithRef(z3.Z3_mk_div(ctx.ref(), x.as_ast(), z3.IntVal(c, ctx).as_ast()), ctx)


class Column(np.ndarray):
    """A spec's input column in a batch (the exhaustive engines): a numpy array on which ``~``
    of a condition (a bool array) is refused, since numpy reads it as *not* where Python reads
    ``~True`` as -2 (true); every other operation is numpy's own."""

    def __invert__(self) -> Any:
        if self.dtype == np.bool_:
            raise SpecReadingError(
                "the spec takes '~' of a condition: numpy's not on a batch, but -2 or -1 on a "
                "Python bool (both true); use verify.ops.logical_not")
        return np.ndarray.__invert__(self)


def on_columns(spec: Callable[[Any], Any], cols: Any) -> dict[str, Any]:
    """``spec(cols)`` on a batch of points (a mapping of numpy columns), each column seen as a
    :class:`Column`; the outputs come back as plain arrays."""
    wrapped = {n: c.view(Column) if isinstance(c, np.ndarray) else c for n, c in cols.items()}
    out = spec(wrapped)
    return {k: np.asarray(v) if isinstance(v, Column) else v for k, v in out.items()}
