"""The looped ReLU-MLP SUBLEQ computer: gadgets placed in one layout, applied in a loop.

State (persistent between steps; every coordinate a {0,1} bit):

- ``MEM[j].bit[t]`` for the M data words (N bits, two's complement),
- ``INS[j].bit[q]`` for the K instructions, Q = 2m + k bits: a in bits [0, m), b in [m, 2m),
  c in [2m, 2m + k),
- ``PC.bit[i]`` (k bits).

One loop iteration is one SUBLEQ step (see :mod:`constructions.subleq`). The ``paper`` profile
follows the layer budget reported by Liang et al. (2024): read addresses 2, read data 2,
subtract 7, write back 2, next PC 6, compare and branch 4 = 23 layers. Each gadget's natural
depth is smaller (2/2/2/2/2/4 = 14); the rest of its budget is identity layers, reported as such
by ``loopmlp info``. ``paper-minimal`` is the same network without the identity layers.

``compact`` runs the gadgets side by side (the increment with the fetch; the flag straight from
the operands, :mod:`constructions.gadgets.flag`, beside the subtract; write and branch together)
and then folds every layer whose outputs are affine in non-negative values (the sums, the bits
R, PC1 and F, the merges) into the next one (:mod:`verify.fold`). Four ReLU layers remain,
fetch, read, threshold, write+select, then one affine layer decodes the state: MEM = K - WU + WV,
PC = BG + BH. The unfolded network is kept: ``fold/compact/...`` proves the two equal on every
canonical state.

Every coordinate a later layer needs is carried forward by a copy unit ``x = ReLU(x)``, exact on
{0,1} bits. Which coordinates are copied is computed by backward liveness, so the assembly never
carries a coordinate nobody reads, and every temporary is dead (not in the state) between steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from verify.errors import LayoutError, ParameterError
from verify.fold import fold_all
from verify.layout import Layout, bit_names
from verify.network import Layer, Network
from verify.symbolic import Stage, SymbolicNet, Unit, sym

from .gadgets import (
    Gadget,
    make_branch,
    make_compare,
    make_increment,
    make_read,
    make_subtract,
    make_write,
)
from .gadgets.branch import branch_stages
from .gadgets.compare import compare_stages
from .gadgets.flag import flag_stages, make_flag
from .gadgets.increment import increment_stages
from .gadgets.read import read_stages
from .gadgets.subtract import arith_stages
from .gadgets.write import write_stages
from .limits import check_fits
from .subleq import MachineSize, State

PROFILES = ("paper", "paper-minimal", "compact")
FOLDED_PROFILES = ("compact",)
PAPER_BUDGET = (("read addresses", 2), ("read data", 2), ("subtract", 7), ("write back", 2),
                ("next PC", 6), ("compare and branch", 4))


def state_names(size: MachineSize) -> list[str]:
    """The persistent coordinates in their fixed order: MEM, INS, PC."""
    names = [n for j in range(size.words) for n in bit_names(f"MEM[{j}]", size.bits)]
    names += [n for j in range(size.slots) for n in bit_names(f"INS[{j}]", size.ins_bits)]
    return names + bit_names("PC", size.pc_bits)


def copy_unit(name: str) -> Unit:
    """``name = ReLU(name)``, with its affine terms precomputed (thousands are built)."""
    u = Unit(name, sym(name), True)
    u.__dict__["terms"] = ({name: 1}, 0)
    return u


@dataclass(frozen=True, eq=False)
class Placement:
    """A gadget block inside the computer: which proved gadget, where, under which names.

    ``stages[k]`` are the computer's units for the gadget's stage k, in the same order as the
    standalone gadget's units, so ``zip`` of the two names the renaming.
    """

    role: str
    gadget: Gadget
    stages: tuple[tuple[Unit, ...], ...]
    inputs: tuple[str, ...]  # computer names of the gadget's inputs, in the gadget's order
    first_layer: int = -1


@dataclass(frozen=True)
class LayerPlan:
    """One layer of the assembly: gadget stages placed in it, or an identity layer."""

    label: str
    parts: tuple[tuple[int, int], ...]  # (placement index, stage index)
    identity: bool = False


@dataclass(frozen=True, eq=False)
class Computer:
    """A built computer: the looped network plus everything needed to check and run it.

    For a folded profile, ``unfolded`` is the network before folding (gadget blocks and copies,
    ending in the affine decode layer), ``unfolded_plans`` its layers, ``folds`` the indices of
    its layers composed into the next one, and the placements' ``first_layer`` count its
    layers; ``plans`` always has one entry per layer of ``network``.
    """

    profile: str
    size: MachineSize
    network: Network
    placements: tuple[Placement, ...]
    plans: tuple[LayerPlan, ...]
    unfolded: Network | None = None
    unfolded_plans: tuple[LayerPlan, ...] = ()
    folds: tuple[int, ...] = ()

    @cached_property
    def state(self) -> Layout:
        """The persistent coordinates (network input == network output)."""
        return self.network.inputs

    def encode(self, state: State) -> np.ndarray:
        """The network vector of a machine state (int64 bits)."""
        return encode(state, self.size)

    def decode(self, vec: np.ndarray) -> State:
        """The machine state of a network vector; refuses a vector that is not canonical."""
        return decode(vec, self.size)

    def identity_layers(self) -> list[int]:
        """Indices of the pass-through layers (padding of a gadget's budget)."""
        return [i for i, p in enumerate(self.plans) if p.identity]


def encode(state: State, size: MachineSize) -> np.ndarray:
    """State -> bit vector in :func:`state_names` order."""
    n, m, k = size.bits, size.addr_bits, size.pc_bits
    out = np.zeros(size.words * n + size.slots * size.ins_bits + k, dtype=np.int64)
    pos = 0
    for w in state.memory:
        out[pos:pos + n] = [(w >> t) & 1 for t in range(n)]
        pos += n
    for a, b, c in state.code:
        word = a | (b << m) | (c << (2 * m))
        out[pos:pos + size.ins_bits] = [(word >> q) & 1 for q in range(size.ins_bits)]
        pos += size.ins_bits
    out[pos:pos + k] = [(state.pc >> i) & 1 for i in range(k)]
    return out


def decode(vec: np.ndarray, size: MachineSize) -> State:
    """Bit vector -> State; every coordinate must be 0 or 1 (a canonical state)."""
    raw = np.asarray(vec).reshape(-1)
    want = size.words * size.bits + size.slots * size.ins_bits + size.pc_bits
    if raw.size != want:
        raise ParameterError("state vector", f"<{raw.size} coordinates>",
                             f"{want} coordinates for this machine size")
    bad = np.flatnonzero((raw != 0) & (raw != 1))
    if bad.size:
        raise ParameterError("state vector", f"coordinate {int(bad[0])} = {raw[bad[0]]}",
                             "every coordinate in {0, 1} (a canonical state)")
    v = raw.astype(np.int64)
    n, m = size.bits, size.addr_bits
    mem_end = size.words * n
    memory = tuple(sum(int(b) << t for t, b in enumerate(row))
                   for row in v[:mem_end].reshape(size.words, n))
    ins_end = mem_end + size.slots * size.ins_bits
    q = size.ins_bits
    rows = v[mem_end:ins_end].reshape(size.slots, q)
    code = []
    for row in rows:
        word = sum(int(b) << i for i, b in enumerate(row))
        code.append((word & ((1 << m) - 1), (word >> m) & ((1 << m) - 1), word >> (2 * m)))
    pc = sum(int(b) << i for i, b in enumerate(v[ins_end:]))
    return State(memory, tuple(code), pc)


def _placements(size: MachineSize, profile: str) -> list[Placement]:
    """The gadget blocks of one step, in pipeline order, with the computer's names.

    ``compact`` computes the flag from the operands (so it is ready beside the subtract) where
    the other profiles compare R."""
    n, m, k, q = size.bits, size.addr_bits, size.pc_bits, size.ins_bits
    fetch = bit_names("I", q)
    a_field, b_field, c_field = fetch[:m], fetch[m:2 * m], fetch[2 * m:]
    mem = [x for j in range(size.words) for x in bit_names(f"MEM[{j}]", n)]
    ins = [x for j in range(size.slots) for x in bit_names(f"INS[{j}]", q)]
    pc = bit_names("PC", k)
    return [
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
        Placement("compare", make_compare(n), compare_stages(n, "R", "F", "CMP"),
                  tuple(bit_names("R", n))) if profile not in FOLDED_PROFILES else
        Placement("flag", make_flag(n), flag_stages(n, "DA", "DB", "F", "FLG"),
                  tuple(bit_names("DA", n) + bit_names("DB", n))),
        Placement("branch", make_branch(k),
                  branch_stages(k, c_field, "PC1", "F", "PC", "BR"),
                  tuple(c_field + bit_names("PC1", k) + ["F"])),
    ]


def _plans(profile: str) -> list[LayerPlan]:
    """Which gadget stages go in which layer, and where the identity padding sits."""
    # Placement indices: 0 fetch, 1 read a, 2 read b, 3 subtract, 4 write, 5 increment,
    # 6 compare (flag in compact), 7 branch.
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
        ("compare and branch", [LayerPlan("compare: zero and sign", ((6, 0),)),
                                LayerPlan("compare: flag", ((6, 1),)),
                                LayerPlan("branch: gate", ((7, 0),)),
                                LayerPlan("branch: merge", ((7, 1),))]),
    ]
    out: list[LayerPlan] = []
    for (name, layers), (_, budget) in zip(blocks, PAPER_BUDGET):
        out += layers
        if profile == "paper":
            out += [LayerPlan(f"identity ({name} budget)", (), True)] * (budget - len(layers))
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


def decode_layer(layout: Layout) -> Layer:
    """The affine identity on the state (no ReLU): merges fold into it, giving the decode."""
    n = len(layout)
    return Layer(layout, layout, tuple(range(n)), tuple(range(n)), (1,) * n, (0,) * n, False,
                 DECODE)


def _assemble(names: list[str], placements: Sequence[Placement],
              plans: Sequence[LayerPlan], label: str) -> SymbolicNet:
    """Layers of gadget units plus the copies that liveness requires; identity layers copy all.

    Backward liveness: a layer must output what later layers read (or the state, at the end);
    whatever of that it does not compute itself, it copies from its input.
    """
    produced = [[u for (p, s) in plan.parts for u in placements[p].stages[s]] for plan in plans]
    live_out: list[set[str]] = [set() for _ in plans]
    need = set(names)
    for i in range(len(plans) - 1, -1, -1):
        live_out[i] = need
        if plans[i].identity:
            continue
        made = {u.name for u in produced[i]}
        reads = {n for u in produced[i] for n in u.terms[0]}
        need = reads | (need - made)
    missing = need - set(names)
    if missing:
        raise LayoutError(f"{label}: layer 0 reads {sorted(missing)[:3]}, which nothing writes")
    stages: list[Stage] = []
    prev = list(names)
    for i, plan in enumerate(plans):
        if plan.identity:
            units = [copy_unit(n) for n in prev]
        else:
            made = {u.name for u in produced[i]}
            copies = [copy_unit(n) for n in prev if n in live_out[i] and n not in made]
            units = copies + list(produced[i])
            if i == len(plans) - 1:  # the loop closes: outputs in state order, nothing else
                by_name = {u.name: u for u in units}
                extra = set(by_name) - set(names)
                if extra:
                    raise LayoutError(f"{label}: the last layer leaves {sorted(extra)[:3]}")
                units = [by_name[n] for n in names]
        stages.append(Stage(tuple(units), plan.label))
        prev = [u.name for u in units]
    return SymbolicNet(tuple(names), tuple(stages), label)


def build(profile: str, size: MachineSize) -> Computer:
    """The looped network of ``profile`` for a machine of ``size``."""
    if profile not in PROFILES:
        raise ParameterError("profile", profile, f"one of {', '.join(PROFILES)}")
    check_fits(profile, size)
    names = state_names(size)
    placements = _placements(size, profile)
    plans = _plans(profile)
    first: dict[int, int] = {}
    for li, plan in enumerate(plans):
        for p, s in plan.parts:
            if s == 0:
                first[p] = li
    placed = tuple(Placement(p.role, p.gadget, p.stages, p.inputs, first[i])
                   for i, p in enumerate(placements))
    label = f"{profile}[words={size.words},bits={size.bits},slots={size.slots}]"
    net = _assemble(names, placed, plans, label).network
    if net.outputs != net.inputs:
        raise LayoutError(f"{label}: the step does not map the state layout to itself")
    if profile not in FOLDED_PROFILES:
        return Computer(profile, size, net, placed, tuple(plans))
    unfolded = Network(net.layers + (decode_layer(net.outputs),), label + "~unfolded")
    folded = fold_all(unfolded, list(COMPACT_FOLDS), label)
    if len(folded.layers) != len(COMPACT_PLANS):
        raise LayoutError(f"{label}: {len(folded.layers)} layers after folding, "
                          f"{len(COMPACT_PLANS)} plans")
    folded = Network(tuple(dataclasses.replace(layer, label=plan.label)
                           for layer, plan in zip(folded.layers, COMPACT_PLANS)), label)
    return Computer(profile, size, folded, placed, COMPACT_PLANS, unfolded,
                    tuple(plans) + (LayerPlan(DECODE, (), True),), COMPACT_FOLDS)
