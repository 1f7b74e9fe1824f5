"""Stages 2 and 3 of the build, liveness and assembly: which coordinates each layer carries
forward, and the layers of gadget units and copies ``x = ReLU(x)`` that carry them."""

from __future__ import annotations

from collections.abc import Sequence

from verify.errors import LayoutError
from verify.layout import Layout
from verify.network import Network
from verify.symbolic import DeferredNet, Stage, SymbolicNet, Unit, compile_units, copy_unit

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
    its input. The network is compiled straight from the gadget units and the names of the
    copies; the stages, a copy unit ``x = ReLU(x)`` for each copy, are made only when asked
    for (:class:`~verify.symbolic.DeferredNet`), and compile to the same network.
    """
    produced = [[u for (p, s) in plan.parts for u in placements[p].stages[s]] for plan in plans]
    live_out = liveness(names, produced, plans, label)
    outputs: list[list[str]] = []  # per layer: its output names, in order
    prev = names
    for i, plan in enumerate(plans):
        if plan.identity:
            outs = prev
        else:
            made = {u.name for u in produced[i]}
            outs = [n for n in prev if n in live_out[i] and n not in made]
            outs += [u.name for u in produced[i]]
            if i == len(plans) - 1:  # the loop closes: outputs in state order, nothing else
                extra = set(outs) - set(names)
                if extra:
                    raise LayoutError(f"{label}: the last layer leaves {sorted(extra)[:3]}")
                outs = list(names)
        outputs.append(outs)
        prev = outs

    def stages() -> list[Stage]:
        out = []
        for plan, units, outs in zip(plans, produced, outputs):
            by_name = {u.name: u for u in units}
            out.append(Stage(tuple(by_name[n] if n in by_name else copy_unit(n) for n in outs),
                             plan.label))
        return out

    def network() -> Network:
        layout, before = Layout(names), names
        layers = []
        for plan, units, outs in zip(plans, produced, outputs):
            # an identity layer writes exactly what it reads: it shares the layout
            out = layout if outs is before else Layout(outs, plan.label)
            layers.append(compile_units(layout, out, units, plan.label))
            layout, before = out, outs
        return Network(tuple(layers), label)

    return DeferredNet(tuple(names), stages, label, network)
