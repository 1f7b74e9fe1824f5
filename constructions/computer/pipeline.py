"""The build of a computer, its stages run in order: placement, liveness and assembly, then
folding for a folded profile; the profiles written from formulas come from :mod:`.direct`."""

from __future__ import annotations

from constructions.machine.limits import check_fits
from constructions.machine.subleq import MachineSize
from verify import names
from verify.errors import LayoutError, ParameterError

from .assembly import assemble
from .direct import direct_network, registers
from .folding import fold_compact
from .model import (
    ALL_PROFILES,
    DIRECT_PROFILES,
    FOLDED_PROFILES,
    Computer,
    LayerPlan,
    Placement,
    state_names,
)
from .placement import COMPACT_FOLDS, COMPACT_PLANS, DECODE, layer_plans, placements


def build(profile: str, size: MachineSize) -> Computer:
    """The looped network of ``profile`` for a machine of ``size``."""
    if profile not in ALL_PROFILES:
        raise ParameterError("profile", profile, f"one of {', '.join(ALL_PROFILES)}")
    check_fits(profile, size, folded=False)  # compact's folded layers: checked when formed
    coordinates = state_names(size)
    label = names.name(profile, {"words": size.words, "bits": size.bits, "slots": size.slots})
    if profile in DIRECT_PROFILES:
        net, direct_plans = direct_network(profile, size, coordinates, label)
        return Computer(profile, size, net, (), direct_plans,
                        registers=registers(profile, size))
    plans = layer_plans(profile)
    placed = first_layers(placements(size, profile), plans)
    net = assemble(coordinates, placed, plans, label).network
    if net.outputs != net.inputs:
        raise LayoutError(f"{label}: the step does not map the state layout to itself")
    if profile not in FOLDED_PROFILES:
        return Computer(profile, size, net, placed, tuple(plans))
    folded, unfolded = fold_compact(net, label, lambda: check_fits(profile, size))
    return Computer(profile, size, folded, placed, COMPACT_PLANS, unfolded,
                    tuple(plans) + (LayerPlan(DECODE, (), True),), COMPACT_FOLDS)


def first_layers(found: list[Placement], plans: list[LayerPlan]) -> tuple[Placement, ...]:
    """The placements with the layer of their first stage filled in from the plans."""
    first: dict[int, int] = {}
    for li, plan in enumerate(plans):
        for p, s in plan.parts:
            if s == 0:
                first[p] = li
    return tuple(Placement(p.role, p.gadget, p.stages, p.inputs, first[i])
                 for i, p in enumerate(found))
