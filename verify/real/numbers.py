"""Three number systems behind one interface: float64 (fast), arb balls (sound), rationals
(exact).

Every value is a numpy array: ``float64`` for :data:`F64`, ``object`` arrays of ``flint.arb`` for
:class:`Arb` and of :class:`fractions.Fraction` for :data:`EXACT`. The model text in
:mod:`verify.real.ops` uses numpy (``@``, ``sum``, broadcasting) plus the elementwise functions a
backend provides, so the same lines run in all three. A fourth backend, :data:`LINEAR`, carries z3
terms through the affine and ReLU parts only (for proofs over unbounded counts).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import numpy as np

from verify.errors import LoopmlpError


class NotRationalError(LoopmlpError):
    """An operation whose exact value is not a rational number (exp, tanh, a non-square root)."""


class Backend:
    """One number system. Subclasses implement the elementwise primitives."""

    name = "abstract"
    exact = False

    def scalar(self, x: Any) -> Any:
        """A Python number or float as a scalar of this system (floats are taken exactly)."""
        raise NotImplementedError

    def array(self, a: Any) -> np.ndarray:
        """An array of numbers (floats taken exactly) converted to this system."""
        arr = np.asarray(a)
        if arr.dtype == object:
            return np.vectorize(self.scalar, otypes=[object])(arr) if arr.size else arr
        if self.name == "float64":
            return arr.astype(np.float64)
        out = np.empty(arr.shape, dtype=object)
        flat = arr.reshape(-1)
        res = out.reshape(-1)
        for i, v in enumerate(flat):
            res[i] = self.scalar(float(v) if arr.dtype.kind == "f" else int(v))
        return out

    def _map(self, f: Any, x: Any) -> Any:
        arr = np.asarray(x, dtype=object)
        out = np.empty(arr.shape, dtype=object)
        o, a = out.reshape(-1), arr.reshape(-1)
        for i, v in enumerate(a):
            o[i] = f(v)
        return out

    # Elementwise primitives (arrays in, arrays out).
    def exp(self, x: Any) -> Any:
        raise NotImplementedError

    def tanh(self, x: Any) -> Any:
        raise NotImplementedError

    def sqrt(self, x: Any) -> Any:
        raise NotImplementedError

    def relu(self, x: Any) -> Any:
        raise NotImplementedError

    def elu_p1(self, x: Any) -> Any:
        """elu(x) + 1: x + 1 for x > 0, exp(x) otherwise."""
        raise NotImplementedError

    def sigmoid(self, x: Any) -> Any:
        return 1 / (1 + self.exp(-x))

    def softmax(self, x: Any) -> Any:
        """exp(x_i) / sum_j exp(x_j) over the last axis."""
        e = self.exp(x)
        return e / e.sum(axis=-1, keepdims=True)

    def is_zero(self, v: Any) -> bool:
        """True when the scalar is exactly zero (a point at 0)."""
        return bool(v == 0)

    # Certified comparisons on scalars: True / False when sure, None when the enclosure cannot say.
    def positive(self, x: Any) -> bool | None:
        raise NotImplementedError

    def lower(self, x: Any) -> float:
        """A float that is <= the value (rounded down for the sound backends)."""
        raise NotImplementedError

    def upper(self, x: Any) -> float:
        raise NotImplementedError

    def mid(self, x: Any) -> float:
        return float(x)


class Float64(Backend):
    """IEEE float64 through numpy: fast, batched, not a proof."""

    name = "float64"

    def scalar(self, x: Any) -> Any:
        return np.float64(float(x))

    def exp(self, x: Any) -> Any:
        return np.exp(x)

    def tanh(self, x: Any) -> Any:
        return np.tanh(x)

    def sqrt(self, x: Any) -> Any:
        return np.sqrt(x)

    def relu(self, x: Any) -> Any:
        return np.maximum(x, 0.0)

    def elu_p1(self, x: Any) -> Any:
        return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))

    def sigmoid(self, x: Any) -> Any:
        return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x)))

    def softmax(self, x: Any) -> Any:
        z = np.asarray(x) - np.max(x, axis=-1, keepdims=True)  # the same value, no overflow
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)

    def positive(self, x: Any) -> bool | None:
        return bool(x > 0)

    def lower(self, x: Any) -> float:
        return float(x)

    def upper(self, x: Any) -> float:
        return float(x)


class Arb(Backend):
    """Balls of python-flint's ``arb``: every result contains the exact real value.

    ``prec`` is the working precision in bits; operations run under it (see :meth:`context`).
    """

    name = "arb"

    def __init__(self, prec: int = 53) -> None:
        from flint import arb

        self.prec = prec
        self._arb = arb

    @contextmanager
    def context(self) -> Any:
        """Run the enclosed code at this backend's precision."""
        from flint import ctx

        old = ctx.prec
        ctx.prec = self.prec
        try:
            yield self
        finally:
            ctx.prec = old

    def scalar(self, x: Any) -> Any:
        if isinstance(x, self._arb):
            return x
        if isinstance(x, Fraction):
            return self._arb(x.numerator) / self._arb(x.denominator)
        if isinstance(x, (float, np.floating)):
            if not math.isfinite(float(x)):
                raise LoopmlpError(f"weight {float(x)!r}: need a finite number")
            return self._arb(float(x))  # exact: a float is a dyadic rational
        return self._arb(int(x))

    def is_zero(self, v: Any) -> bool:
        return bool(v.is_zero())

    def ball(self, mid: float, rad: float) -> Any:
        """The ball [mid - rad, mid + rad] (both taken exactly, rad rounded up by arb)."""
        return self._arb(mid, rad)

    def exp(self, x: Any) -> Any:
        return self._map(lambda v: v.exp(), x)

    def sqrt(self, x: Any) -> Any:
        return self._map(lambda v: v.sqrt(), x)

    def _relu1(self, v: Any) -> Any:
        if v >= 0:
            return v
        if v <= 0:
            return self._arb(0)
        return self._arb.union(self._arb(0), v.upper())

    def relu(self, x: Any) -> Any:
        return self._map(self._relu1, x)

    def _elu1(self, v: Any) -> Any:
        if v >= 0:
            return v + 1
        if v <= 0:
            return v.exp()
        # elu + 1 is increasing: its range over the ball is [exp(lower), upper + 1].
        lo, hi = self._arb(v.lower()), self._arb(v.upper())
        return self._arb.union(lo.exp(), hi + 1)

    def elu_p1(self, x: Any) -> Any:
        return self._map(self._elu1, x)

    def _bounded(self, v: Any, lo: int, hi: int) -> Any:
        """``v`` cut to the range ``[lo, hi]`` the function is known to take: an arb result that
        is NaN or infinite (``1 / (1 + exp(huge))``, ``tanh`` of a wide ball) becomes the whole
        range, which still contains the exact value, instead of a NaN that no comparison sees."""
        box = self._arb((lo + hi) / 2, (hi - lo) / 2)  # exact: small dyadic mid and radius
        if not v.is_finite():
            return box
        return v if box.contains(v) else self._arb.intersection(v, box)

    def tanh(self, x: Any) -> Any:
        return self._map(lambda v: self._bounded(v.tanh(), -1, 1), x)

    def sigmoid(self, x: Any) -> Any:
        one = self._arb(1)
        return self._map(lambda v: self._bounded(one / (one + (-v).exp()), 0, 1), x)

    def softmax(self, x: Any) -> Any:
        """``1 / sum_j exp(x_j - x_i)``: the same value as ``exp(x_i) / sum_j exp(x_j)``, but each
        entry sees only differences of logits, so a dominant entry's enclosure stays tight."""
        arr = np.asarray(x, dtype=object)
        out = np.empty(arr.shape, dtype=object)
        one = self._arb(1)
        for idx in np.ndindex(arr.shape[:-1]):
            row = arr[idx]
            n = len(row)
            for i in range(n):
                total = one
                for j in range(n):
                    if j != i:
                        total = total + (row[j] - row[i]).exp()
                out[idx + (i,)] = self._bounded(one / total, 0, 1)
        return out

    def positive(self, x: Any) -> bool | None:
        if x > 0:
            return True
        if x <= 0:
            return False
        return None

    def lower(self, x: Any) -> float:
        """A float below every point of the ball; ``-inf`` for a NaN ball (it bounds nothing)."""
        if x.is_nan() or x.mid().is_nan():
            return float("-inf")
        f = float(x.lower())
        return f if self._arb(f) <= x.lower() else float(np.nextafter(f, -np.inf))

    def upper(self, x: Any) -> float:
        """A float above every point of the ball; ``inf`` for a NaN ball."""
        if x.is_nan() or x.mid().is_nan():
            return float("inf")
        f = float(x.upper())
        return f if self._arb(f) >= x.upper() else float(np.nextafter(f, np.inf))

    def mid(self, x: Any) -> float:
        return float(x.mid())


class Exact(Backend):
    """Exact rationals: affine maps, ReLU, products and sums; anything else raises
    NotRationalError."""

    name = "exact"
    exact = True

    def scalar(self, x: Any) -> Any:
        if isinstance(x, Fraction):
            return x
        if isinstance(x, (float, np.floating)):
            if not math.isfinite(float(x)):
                raise LoopmlpError(f"weight {float(x)!r}: need a finite number")
            return Fraction(float(x))
        return Fraction(int(x))

    def exp(self, x: Any) -> Any:
        def f(v: Fraction) -> Fraction:
            if v == 0:
                return Fraction(1)
            raise NotRationalError(f"exp({v}) is not rational")

        return self._map(f, x)

    def tanh(self, x: Any) -> Any:
        def f(v: Fraction) -> Fraction:
            if v == 0:
                return Fraction(0)
            raise NotRationalError(f"tanh({v}) is not rational")

        return self._map(f, x)

    def sigmoid(self, x: Any) -> Any:
        def f(v: Fraction) -> Fraction:
            if v == 0:
                return Fraction(1, 2)
            raise NotRationalError(f"sigmoid({v}) is not rational")

        return self._map(f, x)

    def softmax(self, x: Any) -> Any:
        arr = np.asarray(x, dtype=object)
        if arr.shape[-1] == 1:  # softmax over one entry is exactly 1
            return self._map(lambda v: Fraction(1), arr)
        flat = arr.reshape(-1, arr.shape[-1])
        if all(len(set(row)) == 1 for row in flat):  # equal logits: exactly uniform
            return self._map(lambda v: Fraction(1, arr.shape[-1]), arr)
        raise NotRationalError("softmax of unequal logits is not rational")

    def sqrt(self, x: Any) -> Any:
        return self._map(exact_sqrt, x)

    def relu(self, x: Any) -> Any:
        return self._map(lambda v: v if v > 0 else Fraction(0), x)

    def elu_p1(self, x: Any) -> Any:
        def f(v: Fraction) -> Fraction:
            if v >= 0:
                return v + 1
            raise NotRationalError(f"elu({v}) + 1 = exp({v}) is not rational")

        return self._map(f, x)

    def positive(self, x: Any) -> bool | None:
        return bool(x > 0)

    def lower(self, x: Any) -> float:
        f = float(x)
        return f if Fraction(f) <= x else float(np.nextafter(f, -np.inf))

    def upper(self, x: Any) -> float:
        f = float(x)
        return f if Fraction(f) >= x else float(np.nextafter(f, np.inf))


def exact_sqrt(v: Fraction) -> Fraction:
    """The rational square root of ``v`` when it is a perfect square, else NotRationalError."""
    if v < 0:
        raise NotRationalError(f"sqrt({v}) of a negative number")
    n, d = v.numerator, v.denominator
    rn, rd = math.isqrt(n), math.isqrt(d)
    if rn * rn == n and rd * rd == d:
        return Fraction(rn, rd)
    raise NotRationalError(f"sqrt({v}) is not rational")


class Linear(Backend):
    """z3 terms through affine maps and ReLU: the symbolic semantics used for proofs over counts.

    Constants are exact rationals (``z3.Q``); exp, tanh, sqrt of a non-constant
    raise NotRationalError.
    """

    name = "z3"
    exact = True

    def scalar(self, x: Any) -> Any:
        import z3

        if isinstance(x, z3.ExprRef):
            return x
        q = EXACT.scalar(x)
        return z3.Q(q.numerator, q.denominator) if q.denominator != 1 else z3.RealVal(q.numerator)

    def is_zero(self, v: Any) -> bool:
        c = self._const(v)
        return c is not None and c == 0

    def _const(self, v: Any) -> Fraction | None:
        import z3

        if isinstance(v, Fraction):
            return v
        if isinstance(v, (int, float)):
            return EXACT.scalar(v)
        v = z3.simplify(v)
        if z3.is_rational_value(v):
            return Fraction(v.numerator_as_long(), v.denominator_as_long())
        if z3.is_int_value(v):
            return Fraction(v.as_long())
        return None

    def _lift(self, f: Any, x: Any) -> Any:
        def g(v: Any) -> Any:
            c = self._const(v)
            if c is None:
                raise NotRationalError("a transcendental function of a symbolic value")
            return self.scalar(f(np.array([c], dtype=object))[0])

        return self._map(g, x)

    def exp(self, x: Any) -> Any:
        return self._lift(EXACT.exp, x)

    def tanh(self, x: Any) -> Any:
        return self._lift(EXACT.tanh, x)

    def sigmoid(self, x: Any) -> Any:
        return self._lift(EXACT.sigmoid, x)

    def sqrt(self, x: Any) -> Any:
        return self._lift(EXACT.sqrt, x)

    def elu_p1(self, x: Any) -> Any:
        return self._lift(EXACT.elu_p1, x)

    def softmax(self, x: Any) -> Any:
        arr = np.asarray(x, dtype=object)
        consts = self._map(self._const, arr)
        if any(c is None for c in consts.reshape(-1)):
            raise NotRationalError("softmax of symbolic values")
        return self._map(self.scalar, EXACT.softmax(consts))

    def relu(self, x: Any) -> Any:
        import z3

        def f(v: Any) -> Any:
            c = self._const(v)
            if c is not None:
                return self.scalar(max(c, Fraction(0)))
            return z3.If(v > 0, v, 0)

        return self._map(f, x)

    def positive(self, x: Any) -> bool | None:
        c = self._const(x)
        return None if c is None else bool(c > 0)


F64 = Float64()
EXACT = Exact()
LINEAR = Linear()
ARB = Arb(53)


def is_zero_array(a: Any) -> bool:
    """True when every entry of a float or rational weight array is exactly zero."""
    arr = np.asarray(a)
    if arr.dtype != object:
        return bool(np.all(arr == 0))
    return all(isinstance(v, (int, float, Fraction)) and v == 0 for v in arr.reshape(-1))
