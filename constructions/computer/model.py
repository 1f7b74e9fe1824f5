"""The computer's values: the state layout and its bit encoding, the gadget placements and layer
plans the build produces, and the built :class:`Computer` (the design is in
docs/design/constructions.computer.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from constructions.gadgets import Gadget
from constructions.machine.subleq import MachineSize, State
from verify.errors import ParameterError
from verify.layout import Layout, bit_names
from verify.network import Network
from verify.symbolic import Unit

PROFILES = ("paper", "paper-minimal", "compact")
"""The profiles assembled from proved gadgets."""
FOLDED_PROFILES = ("compact",)
DIRECT_PROFILES = ("three-layer", "two-layer")
"""The profiles written straight from formulas (:mod:`.direct`), fewer ReLU layers than
``compact``."""
ALL_PROFILES = PROFILES + DIRECT_PROFILES
"""Every profile :func:`constructions.computer.build` accepts."""


def state_names(size: MachineSize) -> list[str]:
    """The persistent coordinates in their fixed order: MEM, INS, PC."""
    names = [n for j in range(size.words) for n in bit_names(f"MEM[{j}]", size.bits)]
    names += [n for j in range(size.slots) for n in bit_names(f"INS[{j}]", size.ins_bits)]
    return names + bit_names("PC", size.pc_bits)


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
    layers; ``plans`` always has one entry per layer of ``network``. ``registers`` are
    address registers (bit forms over some layer's inputs) of a profile written from formulas,
    which has no placements to read them from (:func:`.runtime.match_registers`).
    """

    profile: str
    size: MachineSize
    network: Network
    placements: tuple[Placement, ...]
    plans: tuple[LayerPlan, ...]
    unfolded: Network | None = None
    unfolded_plans: tuple[LayerPlan, ...] = ()
    folds: tuple[int, ...] = ()
    registers: tuple[tuple[Mapping[str, int], ...], ...] = ()

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
