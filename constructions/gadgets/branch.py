"""Branch: select PC' = C if F else PC1, bit by bit.

    layer 1: BG_i = ReLU(C_i + F - 1) = C_i F,   BH_i = ReLU(PC1_i - F) = PC1_i (1 - F)
    layer 2: PC'.bit[i] = ReLU(BG_i + BH_i)

Why it is exact: for bits C_i, PC1_i, F in {0, 1} the two ReLUs are the products shown (AND and
AND-NOT), and at most one of them is 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verify.domains import Bits, Word, product
from verify.errors import ParameterError
from verify.layout import bit_names
from verify.obligation import Factorisation, Form
from verify.ops import bit, ite, word
from verify.symbolic import Stage, SymbolicNet, Unit, affine, relu_unit

from .base import Gadget, WordArg, bits_of


def branch_contract(target: Any, fallthrough: Any, flag: Any) -> Any:
    """The word-level contract: ``target if flag == 1 else fallthrough``."""
    return ite(flag == 1, target, fallthrough)


def branch_stages(bits: int, target: WordArg, fallthrough: WordArg, flag: str, out: WordArg,
                  tag: str) -> tuple[tuple[Unit, ...], tuple[Unit, ...]]:
    """Layer-1 (BG, BH) and layer-2 units of the select."""
    first: list[Unit] = []
    second: list[Unit] = []
    tg, fa, o = bits_of(target, bits), bits_of(fallthrough, bits), bits_of(out, bits)
    for i in range(bits):
        g = relu_unit(f"{tag}.BG[{i}]", affine({tg[i]: 1, flag: 1}, -1))
        h = relu_unit(f"{tag}.BH[{i}]", affine({fa[i]: 1, flag: -1}))
        first += [g, h]
        second.append(relu_unit(o[i], affine({g.name: 1, h.name: 1})))
    return tuple(first), tuple(second)


def make_branch(bits: int) -> Gadget:
    """PC' = C if F else PC1 for ``bits``-bit program counters."""
    if not 1 <= bits <= 128:
        raise ParameterError("bits", bits, "1 <= bits <= 128")
    first, second = branch_stages(bits, "C", "PC1", "F", "PC'", "B")
    inputs = tuple(bit_names("C", bits) + bit_names("PC1", bits)) + ("F",)
    net = SymbolicNet(inputs, (Stage(first, "branch: gate"), Stage(second, "branch: merge")),
                      f"branch[bits={bits}]")
    outs = tuple(u.name for u in second)

    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        c = word([x[f"C.bit[{i}]"] for i in range(bits)])
        n = word([x[f"PC1.bit[{i}]"] for i in range(bits)])
        pc = branch_contract(c, n, x["F"])
        return {f"PC'.bit[{i}]": bit(pc, i) for i in range(bits)}

    def form_spec(f: Mapping[str, Any]) -> dict[str, Any]:
        return {f"PC'.bit[{i}]": ite(f["F"] == 1, f[f"C.bit[{i}]"], f[f"PC1.bit[{i}]"])
                for i in range(bits)}

    domain = product(Word("C", bits), Word("PC1", bits), Bits(("F",)))
    return Gadget("branch", {"bits": bits}, net, domain, spec, outs,
                  Factorisation(tuple(Form(n, {n: 1}) for n in inputs), form_spec),
                  "AND and AND-NOT of bits, at most one of them 1")
