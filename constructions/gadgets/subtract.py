"""Subtract (and add): N-bit two's complement words with every carry implicit in a prefix sum.

For bit i the prefix sum

    S_i = sum_{j<=i} 2^j (DB_j - DA_j) + 2^(i+1)        (subtract: R = DB - DA mod 2^N)
    S_i = sum_{j<=i} 2^j (DA_j + DB_j)                   (add:      R = DA + DB mod 2^N)

lies in [0, 2^(i+2) - 1] and is congruent to R modulo 2^(i+1), so R_i = bit_i(S_i). Layer 1 has six
units per bit, two per threshold tau in (2^i, 2^(i+1), 3 * 2^i):

    P[i,tau] = ReLU(S_i - tau + 1),  Q[i,tau] = ReLU(S_i - tau)

and layer 2 reads off the bit:

    R.bit[i] = ReLU((P - Q)[2^i] - (P - Q)[2^(i+1)] + (P - Q)[3*2^i])

Why it is exact: for integer S, ReLU(S - tau + 1) - ReLU(S - tau) = [S >= tau]; and for
0 <= S < 2^(i+2), bit_i(S) = [S >= 2^i] - [S >= 2^(i+1)] + [S >= 3 * 2^i]. The value in the outer
ReLU is that bit, in {0, 1}. Depth is 2 at every width: no carry chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verify.domains import Word, product
from verify.errors import ParameterError
from verify.layout import bit_names
from verify.obligation import Factorisation, Form
from verify.ops import bit, word, wrap
from verify.symbolic import Stage, SymbolicNet, Unit, affine

from .base import Gadget, step_units


def subtract_contract(da: Any, db: Any, bits: int) -> Any:
    """The word-level contract: ``(db - da) mod 2^bits``."""
    return wrap(db - da, bits)


def add_contract(da: Any, db: Any, bits: int) -> Any:
    """The word-level contract: ``(da + db) mod 2^bits``."""
    return wrap(da + db, bits)


def thresholds(i: int) -> tuple[int, int, int]:
    """The three thresholds whose steps spell bit i of a value below 2^(i+2)."""
    return (1 << i, 1 << (i + 1), 3 << i)


def bit_units(tag: str, i: int, s_coeffs: Mapping[str, int],
              s_const: int) -> tuple[tuple[Unit, ...], dict[str, int]]:
    """The six layer-1 units of bit i of S, and the layer-2 combination that reads the bit."""
    units: list[Unit] = []
    combo: dict[str, int] = {}
    for sign, tau in zip((1, -1, 1), thresholds(i)):
        p, q = step_units(f"{tag}[{i},{tau}]", s_coeffs, s_const, tau)
        units += [p, q]
        combo[p.name] = sign
        combo[q.name] = -sign
    return tuple(units), combo


def prefix_sum(i: int, a: str, b: str, subtract: bool) -> tuple[dict[str, int], int]:
    """S_i as (coefficients, constant) over the bits of words ``a`` and ``b``."""
    coeffs: dict[str, int] = {}
    for j in range(i + 1):
        coeffs[f"{b}.bit[{j}]"] = 1 << j
        coeffs[f"{a}.bit[{j}]"] = -(1 << j) if subtract else 1 << j
    return coeffs, (1 << (i + 1)) if subtract else 0


def arith_stages(bits: int, a: str, b: str, out: str, tag: str,
                 subtract: bool) -> tuple[tuple[Unit, ...], tuple[Unit, ...]]:
    """Layer-1 and layer-2 units of ``out = b - a`` (or ``a + b``) mod 2^bits."""
    first: list[Unit] = []
    second: list[Unit] = []
    for i in range(bits):
        s_coeffs, s_const = prefix_sum(i, a, b, subtract)
        units, combo = bit_units(tag, i, s_coeffs, s_const)
        first += units
        second.append(Unit(f"{out}.bit[{i}]", affine(combo), True))
    return tuple(first), tuple(second)


def _make(bits: int, subtract: bool) -> Gadget:
    if not 1 <= bits <= 128:
        raise ParameterError("bits", bits, "1 <= bits <= 128")
    name = "subtract" if subtract else "add"
    first, second = arith_stages(bits, "DA", "DB", "R", "T", subtract)
    inputs = tuple(bit_names("DA", bits) + bit_names("DB", bits))
    net = SymbolicNet(inputs, (Stage(first, f"{name}: thresholds"),
                               Stage(second, f"{name}: bits")), f"{name}[bits={bits}]")
    outs = tuple(u.name for u in second)

    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        da = word([x[f"DA.bit[{i}]"] for i in range(bits)])
        db = word([x[f"DB.bit[{i}]"] for i in range(bits)])
        r = subtract_contract(da, db, bits) if subtract else add_contract(da, db, bits)
        return {f"R.bit[{i}]": bit(r, i) for i in range(bits)}

    forms = tuple(Form(f"S{i}", *prefix_sum(i, "DA", "DB", subtract)) for i in range(bits))

    def form_spec(f: Mapping[str, Any]) -> dict[str, Any]:
        return {f"R.bit[{i}]": bit(f[f"S{i}"], i) for i in range(bits)}

    what = "DB - DA" if subtract else "DA + DB"
    return Gadget(name, {"bits": bits}, net, product(Word("DA", bits), Word("DB", bits)), spec,
                  outs, Factorisation(forms, form_spec),
                  f"R = {what} mod 2^N; bit i read off the prefix sum S_i by three steps")


def make_subtract(bits: int) -> Gadget:
    """R = DB - DA mod 2^bits (two's complement), depth 2."""
    return _make(bits, True)


def make_add(bits: int) -> Gadget:
    """R = DA + DB mod 2^bits, the same construction without the offset."""
    return _make(bits, False)
