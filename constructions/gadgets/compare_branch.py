"""Compare and branch fused (the ``cmpbranch`` family): PC' = C if signed(R) <= 0 else PC1, in
three layers.

    layer 1: Z = ReLU(1 - sum_t R_t),  P = ReLU(R_(N-1)),  C_i = ReLU(C_i),  PC1_i = ReLU(PC1_i)
    layer 2: BG_i = ReLU(C_i + P + Z - 1),   BH_i = ReLU(PC1_i - P - Z)
    layer 3: PC'.bit[i] = ReLU(BG_i + BH_i)

The compare's flag F = P + Z (:mod:`.compare`) is never a unit of its own: it is folded into the
branch's AND and AND-NOT units (:mod:`.branch`), which read it as the affine form P + Z.

Why it is exact: P + Z = [R < 0] + [R = 0] is in {0, 1} (the compare's argument: a negative R has
a nonzero bit, so Z = 0 when P = 1). With F = P + Z a bit, BG_i = C_i F and BH_i = PC1_i (1 - F)
for bits C_i and PC1_i, at most one of them is 1, and the copies ReLU(x) = x are exact on bits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verify.domains import Word, product
from verify.errors import ParameterError
from verify.layout import bit_names
from verify.obligation import Factorisation, Form
from verify.ops import ite, relu, word
from verify.symbolic import Stage, SymbolicNet, Unit, affine, copy_unit, relu_unit

from .base import Gadget, WordArg, bits_of
from .branch import branch_contract
from .compare import compare_contract, compare_units

Stages3 = tuple[tuple[Unit, ...], tuple[Unit, ...], tuple[Unit, ...]]


def compare_branch_contract(r: Any, target: Any, fallthrough: Any, bits: int) -> Any:
    """The word-level contract: ``target if signed(r) <= 0 else fallthrough``."""
    return branch_contract(target, fallthrough, compare_contract(r, bits))


def compare_branch_stages(bits: int, pc_bits: int, src: str, target: WordArg,
                          fallthrough: WordArg, out: WordArg, tag: str) -> Stages3:
    """The three layers of units: compare units and copies, gates, merges."""
    z, p = compare_units(bits, src, tag)
    tg, fa = bits_of(target, pc_bits), bits_of(fallthrough, pc_bits)
    o = bits_of(out, pc_bits)
    first = (z, p, *(copy_unit(n) for n in tg), *(copy_unit(n) for n in fa))
    second: list[Unit] = []
    third: list[Unit] = []
    for i in range(pc_bits):
        g = relu_unit(f"{tag}.BG[{i}]", affine({tg[i]: 1, p.name: 1, z.name: 1}, -1))
        h = relu_unit(f"{tag}.BH[{i}]", affine({fa[i]: 1, p.name: -1, z.name: -1}))
        second += [g, h]
        third.append(relu_unit(o[i], affine({g.name: 1, h.name: 1})))
    return first, tuple(second), tuple(third)


def make_compare_branch(bits: int, pc_bits: int) -> Gadget:
    """PC' = C if signed(R) <= 0 else PC1, for a ``bits``-bit R and ``pc_bits``-bit PCs."""
    if not 2 <= bits <= 128:
        raise ParameterError("bits", bits, "2 <= bits <= 128")
    if not 1 <= pc_bits <= 128:
        raise ParameterError("pc", pc_bits, "1 <= pc <= 128")
    stages = compare_branch_stages(bits, pc_bits, "R", "C", "PC1", "PC'", "CB")
    rs, cs, ns = (bit_names(x, w) for x, w in (("R", bits), ("C", pc_bits), ("PC1", pc_bits)))
    inputs = tuple(rs + cs + ns)
    labels = ("compare and branch: zero and sign", "compare and branch: gate",
              "compare and branch: merge")
    net = SymbolicNet(inputs, tuple(Stage(s, lab) for s, lab in zip(stages, labels)),
                      f"cmpbranch[bits={bits},pc={pc_bits}]")
    outs = tuple(u.name for u in stages[2])

    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        # The contract selects a whole word, so bit i of its result is the contract applied to
        # bit i of each word (a selection commutes with taking a bit); stated bit by bit, the
        # spec is linear and its lemma is decided over the integers.
        r = word([x[n] for n in rs])
        return {o: compare_branch_contract(r, x[cs[i]], x[ns[i]], bits)
                for i, o in enumerate(outs)}

    def form_spec(f: Mapping[str, Any]) -> dict[str, Any]:
        # The network's value on the whole box of the forms, where the flag P + Z may be 2 (a
        # sign bit with no bit set, which no input reaches); on reachable inputs it is 0 or 1
        # and this is ``C if flag else PC1``, which the spec lemma proves.
        flag = f["sign"] + ite(f["ones"] == 0, 1, 0)
        return {o: relu(f[cs[i]] + flag - 1) + relu(f[ns[i]] - flag)
                for i, o in enumerate(outs)}

    forms = (Form("sign", {rs[-1]: 1}), Form("ones", {r: 1 for r in rs}),
             *(Form(n, {n: 1}) for n in cs + ns))
    domain = product(Word("R", bits), Word("C", pc_bits), Word("PC1", pc_bits))
    return Gadget("cmpbranch", {"bits": bits, "pc": pc_bits}, net, domain, spec, outs,
                  Factorisation(forms, form_spec),
                  "the flag P + Z in {0, 1} read by AND and AND-NOT units of bits")
