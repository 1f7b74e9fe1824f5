"""Stage 4 of the build, folding: the affine layers of the compact profile composed into the
layers after them (:mod:`verify.fold`), ending in the affine decode layer."""

from __future__ import annotations

import dataclasses

from verify.errors import LayoutError
from verify.fold import fold_all
from verify.layout import Layout
from verify.network import Layer, Network

from .placement import COMPACT_FOLDS, COMPACT_PLANS, DECODE


def decode_layer(layout: Layout) -> Layer:
    """The affine identity on the state (no ReLU): merges fold into it, giving the decode."""
    n = len(layout)
    return Layer(layout, layout, tuple(range(n)), tuple(range(n)), (1,) * n, (0,) * n, False,
                 DECODE)


def fold_compact(net: Network, label: str) -> tuple[Network, Network]:
    """``(folded, unfolded)``: the unfolded network is ``net`` followed by the decode layer, and
    the folded one composes the layers of :data:`COMPACT_FOLDS` into the next, each labelled by
    its plan."""
    unfolded = Network(net.layers + (decode_layer(net.outputs),), label + "~unfolded")
    folded = fold_all(unfolded, list(COMPACT_FOLDS), label)
    if len(folded.layers) != len(COMPACT_PLANS):
        raise LayoutError(f"{label}: {len(folded.layers)} layers after folding, "
                          f"{len(COMPACT_PLANS)} plans")
    folded = Network(tuple(dataclasses.replace(layer, label=plan.label)
                           for layer, plan in zip(folded.layers, COMPACT_PLANS)), label)
    return folded, unfolded
