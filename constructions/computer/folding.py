"""Stage 4 of the build, folding: the affine layers of the compact profile composed into the
layers after them (:mod:`verify.fold`), ending in the affine decode layer.

The composed layers are formed on first use (:class:`~verify.network.DeferredNetwork`): a run
steps the same integer function in factored form (:func:`factored`), and only what reads the
composed weights themselves (``info``, proofs, the reference evaluation) forms them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from verify.errors import LayoutError
from verify.exact.limits import INT64_LIMIT
from verify.fold import compose
from verify.layout import Layout
from verify.network import DeferredNetwork, Layer, Network, index_tuple

from .placement import COMPACT_FOLDS, COMPACT_PLANS, DECODE


def decode_layer(layout: Layout) -> Layer:
    """The affine identity on the state (no ReLU): merges fold into it, giving the decode."""
    n = len(layout)
    return Layer(layout, layout, tuple(range(n)), tuple(range(n)), (1,) * n, (0,) * n, False,
                 DECODE)


def compose_fast(first: Layer, second: Layer, label: str) -> Layer:
    """:func:`verify.fold.compose` (the same layer, entry for entry) as one sparse product in
    int64 where no product or sum of ``W2 W1`` can reach 2^62, else through ``compose``."""
    if first.outputs != second.inputs or not first.nnz or not second.nnz:
        return compose(first, second, label)
    w1 = max(abs(min(first.vals)), abs(max(first.vals)))
    w2 = max(abs(min(second.vals)), abs(max(second.vals)))
    per_row = int(np.bincount(np.asarray(second.rows, dtype=np.int64)).max())
    if w1 * w2 * per_row >= INT64_LIMIT or not second._int64_ok or not first._int64_ok:
        return compose(first, second, label)
    product = (second.csr @ first.csr).tocsr()
    product.eliminate_zeros()
    product.sort_indices()
    rows = np.repeat(np.arange(product.shape[0], dtype=np.int64), np.diff(product.indptr))
    bias = list(second.bias)
    for r2, mid, v2 in zip(second.rows, second.cols, second.vals):
        if first.bias[mid]:
            bias[r2] += v2 * first.bias[mid]
    return Layer(first.inputs, second.outputs, index_tuple(rows, len(second.outputs)),
                 index_tuple(product.indices.astype(np.int64), len(first.inputs)),
                 tuple(product.data.astype(np.int64).tolist()), tuple(bias), second.relu, label)


def fold_layers(unfolded: Network, folds: Sequence[int]) -> tuple[Layer, ...]:
    """The layers of ``unfolded`` with each layer of ``folds`` composed into the next (as
    :func:`verify.fold.fold_all` composes them), from the back."""
    layers = list(unfolded.layers)
    for i in sorted(set(folds), reverse=True):
        layers[i:i + 2] = [compose_fast(layers[i], layers[i + 1], layers[i + 1].label)]
    return tuple(layers)


def factored(unfolded: Network, folds: Sequence[int], name: str) -> Network:
    """The folded network's integer function in factored form: ``unfolded`` with the ReLU of
    each layer of ``folds`` dropped.

    A fold composes layer i (its ReLU dropped) into layer i + 1: ``W' = W2 W1``,
    ``b' = W2 b1 + b2``, so ``W2 (W1 x + b1) + b2 = W' x + b'`` for every integer x: this
    network computes exactly the folded one, through the factors instead of their product
    (which for the compact profile has about M N m K weights, the factors M N m + m K).
    """
    drop = set(folds)
    return Network(tuple(dataclasses.replace(layer, relu=False) if i in drop else layer
                         for i, layer in enumerate(unfolded.layers)), name)


def fold_compact(net: Network, label: str,
                 before: Callable[[], object] | None = None) -> tuple[Network, Network]:
    """``(folded, unfolded)``: the unfolded network is ``net`` followed by the decode layer, and
    the folded one composes the layers of :data:`COMPACT_FOLDS` into the next, each labelled by
    its plan (formed on first use, after ``before()``: a size check that may refuse)."""
    unfolded = Network(net.layers + (decode_layer(net.outputs),), label + "~unfolded")
    layers = len(unfolded.layers) - len(set(COMPACT_FOLDS))
    if layers != len(COMPACT_PLANS):
        raise LayoutError(f"{label}: {layers} layers after folding, {len(COMPACT_PLANS)} plans")

    def make() -> tuple[Layer, ...]:
        if before is not None:
            before()
        folded = fold_layers(unfolded, COMPACT_FOLDS)
        return tuple(dataclasses.replace(layer, label=plan.label)
                     for layer, plan in zip(folded, COMPACT_PLANS))

    # a composed layer keeps the ReLU of the second layer
    depth = sum(layer.relu for i, layer in enumerate(unfolded.layers) if i not in COMPACT_FOLDS)
    return DeferredNetwork(make, label, unfolded.inputs, unfolded.outputs, depth), unfolded
