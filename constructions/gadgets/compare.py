"""Compare: the branch flag f = [signed(R) <= 0] of an N-bit two's complement word R.

    layer 1: Z = ReLU(1 - sum_t R_t),  P = ReLU(R_(N-1))
    layer 2: F = ReLU(P + Z)

Why it is exact: R < 0 exactly when its sign bit R_(N-1) is 1, and then sum_t R_t >= 1 so Z = 0;
R = 0 exactly when every bit is 0, and then Z = 1 and P = 0; for R > 0 both are 0. So
P + Z = [R < 0] + [R = 0] is in {0, 1}.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verify.domains import Word
from verify.errors import ParameterError
from verify.layout import bit_names
from verify.obligation import Factorisation, Form
from verify.ops import ite, signed, word
from verify.symbolic import Stage, SymbolicNet, Unit, affine, relu_unit

from .base import Gadget


def compare_contract(r: Any, bits: int) -> Any:
    """The word-level contract: ``1 if signed(r) <= 0 else 0``."""
    return ite(signed(r, bits) <= 0, 1, 0)


def compare_units(bits: int, src: str, tag: str) -> tuple[Unit, Unit]:
    """Z = ReLU(1 - sum R) and P = ReLU(R_(N-1)), the layer-1 units."""
    rs = bit_names(src, bits)
    return (relu_unit(f"{tag}.Z", affine({r: -1 for r in rs}, 1)),
            relu_unit(f"{tag}.P", affine({rs[-1]: 1})))


def compare_stages(bits: int, src: str, flag: str,
                   tag: str) -> tuple[tuple[Unit, ...], tuple[Unit, ...]]:
    """Layer 1 (Z, P) and layer 2 (the flag) of the compare."""
    z, p = compare_units(bits, src, tag)
    return (z, p), (relu_unit(flag, affine({z.name: 1, p.name: 1})),)


def make_compare(bits: int) -> Gadget:
    """F = [signed(R) <= 0], depth 2."""
    if not 2 <= bits <= 128:
        raise ParameterError("bits", bits, "2 <= bits <= 128")
    first, second = compare_stages(bits, "R", "F", "C")
    rs = tuple(bit_names("R", bits))
    net = SymbolicNet(rs, (Stage(first, "compare: zero and sign"),
                           Stage(second, "compare: flag")), f"compare[bits={bits}]")

    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        return {"F": compare_contract(word([x[r] for r in rs]), bits)}

    forms = (Form("sign", {rs[-1]: 1}), Form("ones", {r: 1 for r in rs}))

    def form_spec(f: Mapping[str, Any]) -> dict[str, Any]:
        # The network's value on the whole box of (sign, ones); on reachable inputs it is the flag.
        return {"F": f["sign"] + ite(f["ones"] == 0, 1, 0)}

    return Gadget("compare", {"bits": bits}, net, Word("R", bits), spec, ("F",),
                  Factorisation(forms, form_spec), "[R < 0] + [R = 0], one of which is 1 at most")
