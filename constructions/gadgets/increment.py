"""Increment: PC + 1 mod 2^k, every carry implicit in a prefix sum.

    T_i = sum_{j<=i} 2^j PC_j + 1  in [1, 2^(i+1)]
    layer 1: P[i,tau] = ReLU(T_i - tau + 1), Q[i,tau] = ReLU(T_i - tau) for tau in (2^i, 2^(i+1))
    layer 2: PC1.bit[i] = ReLU((P - Q)[2^i] - (P - Q)[2^(i+1)])

Why it is exact: T_i is congruent to PC + 1 modulo 2^(i+1) and 1 <= T_i <= 2^(i+1), so its bit i
is [T_i >= 2^i] - [T_i >= 2^(i+1)]; at T_i = 2^(i+1) (all ones below) the bit wraps to 0, which is
the carry out of the top bit: PC + 1 mod 2^k.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verify.domains import Word
from verify.errors import ParameterError
from verify.layout import bit_names
from verify.obligation import Factorisation, Form
from verify.ops import bit, word, wrap
from verify.symbolic import Stage, SymbolicNet, Unit, affine

from .base import Gadget, step_units


def increment_contract(pc: Any, bits: int) -> Any:
    """The word-level contract: ``(pc + 1) mod 2^bits``."""
    return wrap(pc + 1, bits)


def increment_stages(bits: int, src: str, out: str,
                     tag: str) -> tuple[tuple[Unit, ...], tuple[Unit, ...]]:
    """Layer-1 and layer-2 units of ``out = src + 1 mod 2^bits``."""
    first: list[Unit] = []
    second: list[Unit] = []
    for i in range(bits):
        coeffs, const = increment_form(i, src)
        combo: dict[str, int] = {}
        for sign, tau in zip((1, -1), (1 << i, 1 << (i + 1))):
            p, q = step_units(f"{tag}[{i},{tau}]", coeffs, const, tau)
            first += [p, q]
            combo[p.name], combo[q.name] = sign, -sign
        second.append(Unit(f"{out}.bit[{i}]", affine(combo), True))
    return tuple(first), tuple(second)


def increment_form(i: int, src: str) -> tuple[dict[str, int], int]:
    """T_i as (coefficients, constant)."""
    return {f"{src}.bit[{j}]": 1 << j for j in range(i + 1)}, 1


def make_increment(bits: int) -> Gadget:
    """PC1 = PC + 1 mod 2^bits, depth 2."""
    if not 1 <= bits <= 128:
        raise ParameterError("bits", bits, "1 <= bits <= 128")
    first, second = increment_stages(bits, "PC", "PC1", "I")
    inputs = tuple(bit_names("PC", bits))
    net = SymbolicNet(inputs, (Stage(first, "increment: thresholds"),
                               Stage(second, "increment: bits")), f"increment[bits={bits}]")
    outs = tuple(u.name for u in second)

    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        nxt = increment_contract(word([x[n] for n in inputs]), bits)
        return {f"PC1.bit[{i}]": bit(nxt, i) for i in range(bits)}

    forms = tuple(Form(f"T{i}", *increment_form(i, "PC")) for i in range(bits))

    def form_spec(f: Mapping[str, Any]) -> dict[str, Any]:
        return {f"PC1.bit[{i}]": bit(f[f"T{i}"], i) for i in range(bits)}

    return Gadget("increment", {"bits": bits}, net, Word("PC", bits), spec, outs,
                  Factorisation(forms, form_spec), "bit i of T_i in [1, 2^(i+1)] by two steps")
