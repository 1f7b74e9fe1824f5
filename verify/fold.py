"""Folding: compose one layer into the next, and the obligation that the fold is sound.

Design notes: docs/design/verify.fold.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .domains import Domain
from .errors import LayoutError, ParameterError
from .network import Layer, Network
from .obligation import Obligation


def compose(first: Layer, second: Layer, label: str | None = None) -> Layer:
    """``second`` after ``first`` with ``first``'s ReLU dropped: W' = W2 W1, b' = W2 b1 + b2.

    The result reads ``first``'s inputs, writes ``second``'s outputs and keeps ``second``'s
    ReLU (or its absence).
    """
    if first.outputs != second.inputs:
        raise LayoutError(f"fold: layer {first.label!r} writes {len(first.outputs)} coordinates "
                          f"but layer {second.label!r} reads {len(second.inputs)} different ones")
    by_row: list[list[tuple[int, int]]] = [[] for _ in range(len(first.outputs))]
    for r, c, v in zip(first.rows, first.cols, first.vals):
        by_row[r].append((c, v))
    acc: dict[tuple[int, int], int] = {}
    bias = list(second.bias)
    for r2, mid, v2 in zip(second.rows, second.cols, second.vals):
        bias[r2] += v2 * first.bias[mid]
        for c, v1 in by_row[mid]:
            key = (r2, c)
            acc[key] = acc.get(key, 0) + v2 * v1
    keys = sorted(k for k, v in acc.items() if v)
    return Layer(first.inputs, second.outputs, tuple(k[0] for k in keys),
                 tuple(k[1] for k in keys), tuple(acc[k] for k in keys), tuple(bias),
                 second.relu, second.label if label is None else label)


def fold(network: Network, i: int, label: str | None = None) -> Network:
    """``network`` with layer ``i`` composed into layer ``i + 1`` (see :func:`compose`).

    Exact only where layer i's ReLU is the identity on the states that occur; prove that with
    :func:`fold_obligation` before relying on the result.
    """
    n = len(network.layers)
    if not 0 <= i < n - 1:
        raise ParameterError("i", i, f"0 <= i < {n - 1} (a layer with a layer after it)")
    layers = network.layers
    merged = compose(layers[i], layers[i + 1], label)
    return Network(layers[:i] + (merged,) + layers[i + 2:], network.name)


def fold_all(network: Network, indices: list[int], name: str | None = None) -> Network:
    """Fold each layer of ``indices`` (indices of ``network``) into the layer after it."""
    out = network
    for i in sorted(set(indices), reverse=True):  # from the back, so earlier indices hold
        out = fold(out, i)
    return Network(out.layers, name or network.name)


def fold_obligation(name: str, unfolded: Network, folded: Network, domain: Domain,
                    bounds: Mapping[str, int] | None = None) -> Obligation:
    """``folded(x) == unfolded(x)`` on every output, for every x of ``domain``.

    The obligation's network is ``folded``; its spec evaluates ``unfolded`` in the semantics of
    the values it is given: z3 terms through :meth:`Network.forward_z3`, numpy columns through
    :meth:`Network.forward` in the arithmetic :meth:`Network.plan` proves exact over the
    domain's box, Python ints through :meth:`Network.forward_exact` (the replay path). On
    intervals it raises TypeError, so no spec bound is claimed; it declares itself exact on
    batches of Python ints (``batch_exact``), so the engines run it on such batches.
    """
    if unfolded.inputs != folded.inputs or unfolded.outputs != folded.outputs:
        raise LayoutError(f"{name}: the folded and the unfolded network must read and write the "
                          "same coordinates in the same order")
    box = dict(zip(domain.names, domain.box()))
    plan = unfolded.plan([box[n] for n in unfolded.inputs])
    names = unfolded.inputs.names
    outs = unfolded.outputs.names

    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        first = x[names[0]]
        if isinstance(first, np.ndarray):
            cols = [np.asarray(x[n]) for n in names]
            dtype = object if plan.arithmetic == "python" else np.int64
            batch = np.stack([c.astype(dtype) for c in cols], axis=1)
            y = unfolded.forward(batch, plan.arithmetic)
            return {o: y[:, k] for k, o in enumerate(outs)}
        if isinstance(first, (int, np.integer)):
            return unfolded.forward_exact({n: int(x[n]) for n in names})
        if type(first).__module__.startswith("z3"):
            return unfolded.forward_z3(x)
        raise TypeError(f"{name}: the unfolded network runs on ints, numpy columns or z3 terms, "
                        f"not {type(first).__name__}")

    return Obligation(name, folded, domain, spec, dict(bounds or {}),
                      note="folded network == unfolded network", batch_exact=True)
