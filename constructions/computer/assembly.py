"""Stages 2 and 3 of the build, liveness and assembly: which coordinates each layer carries
forward, and the layers of gadget units and copy units ``x = ReLU(x)`` that carry them."""

from __future__ import annotations

from collections.abc import Sequence

from verify.errors import LayoutError
from verify.symbolic import Stage, SymbolicNet, Unit, copy_unit

from .model import LayerPlan, Placement


def liveness(names: Sequence[str], produced: Sequence[Sequence[Unit]],
             plans: Sequence[LayerPlan], label: str) -> list[set[str]]:
    """Backward liveness: for each layer, what it must output, i.e. what later layers read (or
    the state, after the last layer). A coordinate layer 0 needs that is not in the state is
    refused."""
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
    return live_out


def assemble(names: list[str], placements: Sequence[Placement],
              plans: Sequence[LayerPlan], label: str) -> SymbolicNet:
    """Layers of gadget units plus the copies that liveness requires; identity layers copy all.

    Whatever a layer must output (:func:`liveness`) and does not compute itself, it copies from
    its input.
    """
    produced = [[u for (p, s) in plan.parts for u in placements[p].stages[s]] for plan in plans]
    live_out = liveness(names, produced, plans, label)
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
