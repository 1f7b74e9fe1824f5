"""Stage 1 of the build, placement: the gadget blocks of one step under the computer's names, and
which of their stages each layer of a profile holds (with the paper profile's identity
padding)."""

from __future__ import annotations

from constructions.gadgets import (
    make_branch,
    make_compare_branch,
    make_increment,
    make_read,
    make_subtract,
    make_write,
)
from constructions.gadgets.branch import branch_stages
from constructions.gadgets.compare_branch import compare_branch_stages
from constructions.gadgets.flag import flag_stages, make_flag
from constructions.gadgets.increment import increment_stages
from constructions.gadgets.read import read_stages
from constructions.gadgets.subtract import arith_stages
from constructions.gadgets.write import write_stages
from constructions.machine.subleq import MachineSize
from verify.layout import bit_names

from .direct import DIRECT_LABELS
from .model import FOLDED_PROFILES, LayerPlan, Placement

PAPER_BUDGET = (("read addresses", 2), ("read data", 2), ("subtract", 7), ("write back", 2),
                ("next PC", 6), ("compare and branch", 4))


def placements(size: MachineSize, profile: str) -> list[Placement]:
    """The gadget blocks of one step, in pipeline order, with the computer's names.

    ``compact`` computes the flag from the operands (so it is ready beside the subtract) and
    branches on it; the other profiles compare R and branch in one fused gadget
    (:mod:`constructions.gadgets.compare_branch`)."""
    n, m, k, q = size.bits, size.addr_bits, size.pc_bits, size.ins_bits
    fetch = bit_names("I", q)
    a_field, b_field, c_field = fetch[:m], fetch[m:2 * m], fetch[2 * m:]
    mem = [x for j in range(size.words) for x in bit_names(f"MEM[{j}]", n)]
    ins = [x for j in range(size.slots) for x in bit_names(f"INS[{j}]", q)]
    pc = bit_names("PC", k)
    common = [
        Placement("fetch", make_read(size.slots, q),
                  read_stages(size.slots, q, pc, "INS", fetch, "HI"), tuple(pc + ins)),
        Placement("read a", make_read(size.words, n),
                  read_stages(size.words, n, a_field, "MEM", "DA", "HA"), tuple(a_field + mem)),
        Placement("read b", make_read(size.words, n),
                  read_stages(size.words, n, b_field, "MEM", "DB", "HB"), tuple(b_field + mem)),
        Placement("subtract", make_subtract(n), arith_stages(n, "DA", "DB", "R", "SUB", True),
                  tuple(bit_names("DA", n) + bit_names("DB", n))),
        Placement("write", make_write(size.words, n),
                  write_stages(size.words, n, b_field, "MEM", "R", "MEM", "WR"),
                  tuple(b_field + bit_names("R", n) + mem)),
        Placement("increment", make_increment(k), increment_stages(k, "PC", "PC1", "INC"),
                  tuple(pc)),
    ]
    if profile not in FOLDED_PROFILES:
        return common + [
            Placement("compare and branch", make_compare_branch(n, k),
                      compare_branch_stages(n, k, "R", c_field, "PC1", "PC", "CB"),
                      tuple(bit_names("R", n) + c_field + bit_names("PC1", k)))]
    return common + [
        Placement("flag", make_flag(n), flag_stages(n, "DA", "DB", "F", "FLG"),
                  tuple(bit_names("DA", n) + bit_names("DB", n))),
        Placement("branch", make_branch(k),
                  branch_stages(k, c_field, "PC1", "F", "PC", "BR"),
                  tuple(c_field + bit_names("PC1", k) + ["F"])),
    ]


def layer_plans(profile: str) -> list[LayerPlan]:
    """Which gadget stages go in which layer, and where the identity padding sits."""
    # Placement indices: 0 fetch, 1 read a, 2 read b, 3 subtract, 4 write, 5 increment,
    # 6 compare and branch (in compact: 6 flag, 7 branch).
    if profile == "compact":
        return list(COMPACT_UNFOLDED)
    blocks: list[tuple[str, list[LayerPlan]]] = [
        ("read addresses", [LayerPlan("fetch: match", ((0, 0),)),
                            LayerPlan("fetch: sum", ((0, 1),))]),
        ("read data", [LayerPlan("read: match", ((1, 0), (2, 0))),
                       LayerPlan("read: sum", ((1, 1), (2, 1)))]),
        ("subtract", [LayerPlan("subtract: thresholds", ((3, 0),)),
                      LayerPlan("subtract: bits", ((3, 1),))]),
        ("write back", [LayerPlan("write: gate", ((4, 0),)),
                        LayerPlan("write: merge", ((4, 1),))]),
        ("next PC", [LayerPlan("increment: thresholds", ((5, 0),)),
                     LayerPlan("increment: bits", ((5, 1),))]),
        ("compare and branch", [LayerPlan("compare and branch: zero and sign", ((6, 0),)),
                                LayerPlan("compare and branch: gate", ((6, 1),)),
                                LayerPlan("compare and branch: merge", ((6, 2),))]),
    ]
    out: list[LayerPlan] = []
    for b, ((name, layers), (_, budget)) in enumerate(zip(blocks, PAPER_BUDGET)):
        pad = [LayerPlan(f"identity ({name} budget)", (), True)] * (budget - len(layers))
        if profile != "paper":
            pad = []
        # The last block's padding goes before it: the step ends on the merge, which writes
        # the state in its own order.
        out += pad + layers if b == len(blocks) - 1 else layers + pad
    return out


# compact before folding: gadgets side by side; the layers of COMPACT_FOLDS compute affine
# functions of non-negative values (sums, bits, the flag, merges) and are folded into the next.
COMPACT_UNFOLDED = (
    LayerPlan("fetch: match; increment: thresholds", ((0, 0), (5, 0))),
    LayerPlan("fetch: sum; increment: bits", ((0, 1), (5, 1))),
    LayerPlan("read: match", ((1, 0), (2, 0))),
    LayerPlan("read: sum", ((1, 1), (2, 1))),
    LayerPlan("subtract: thresholds; flag: sign and equality", ((3, 0), (6, 0))),
    LayerPlan("subtract: bits; flag: merge", ((3, 1), (6, 1))),
    LayerPlan("write: gate; branch: gate", ((4, 0), (7, 0))),
    LayerPlan("write: merge; branch: merge", ((4, 1), (7, 1))),
)
COMPACT_FOLDS = (1, 3, 5, 7)
DECODE = "decode (affine)"
COMPACT_PLANS = (
    LayerPlan("fetch: match; increment: thresholds", ()),
    LayerPlan("read: match (fetch sum, increment bits folded in)", ()),
    LayerPlan("threshold: subtract, flag (read sum folded in)", ()),
    LayerPlan("write+select: gates (R, F folded in)", ()),
    LayerPlan(DECODE, ()),  # MEM = K - WU + WV, PC = BG + BH
)


def depth(profile: str) -> int:
    """Layers of a profile's step network, known without building it."""
    if profile in DIRECT_LABELS:
        return len(DIRECT_LABELS[profile])
    return len(COMPACT_PLANS) if profile == "compact" else len(layer_plans(profile))
