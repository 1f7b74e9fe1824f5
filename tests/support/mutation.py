"""Weight mutations: a layer, a network or an obligation with one weight or one bias changed."""

from __future__ import annotations

import dataclasses

from verify.network import Layer, Network
from verify.obligation import Obligation


def with_entry(layer: Layer, k: int, delta: int) -> Layer:
    """``layer`` with its ``k``-th nonzero weight changed by ``delta``."""
    vals = list(layer.vals)
    vals[k] += delta
    return dataclasses.replace(layer, vals=tuple(vals))


def with_weight(layer: Layer, row: int, col: int, delta: int) -> Layer:
    """``layer`` with ``W[row, col]`` changed by ``delta`` (an entry that becomes 0 is dropped,
    a zero one is added)."""
    entries = {(r, c): v for r, c, v in zip(layer.rows, layer.cols, layer.vals)}
    entries[(row, col)] = entries.get((row, col), 0) + delta
    keys = sorted(k for k, v in entries.items() if v != 0)
    return dataclasses.replace(layer, rows=tuple(k[0] for k in keys),
                               cols=tuple(k[1] for k in keys),
                               vals=tuple(entries[k] for k in keys))


def with_bias(layer: Layer, row: int, delta: int) -> Layer:
    """``layer`` with bias ``row`` changed by ``delta``."""
    bias = list(layer.bias)
    bias[row] += delta
    return dataclasses.replace(layer, bias=tuple(bias))


def with_layer(net: Network, index: int, layer: Layer, suffix: str = "~corrupt") -> Network:
    """``net`` with layer ``index`` replaced, renamed with ``suffix``."""
    layers = list(net.layers)
    layers[index] = layer
    return Network(tuple(layers), net.name + suffix)


def with_network(ob: Obligation, net: Network, suffix: str) -> Obligation:
    """``ob`` (domain, spec, factorisation) over another network, renamed with ``suffix``."""
    return dataclasses.replace(ob, name=ob.name + suffix, network=net)


def corrupt_weight(ob: Obligation, layer: int, entry: int, delta: int) -> Obligation:
    """``ob`` with the ``entry``-th nonzero weight of layer ``layer`` changed by ``delta``."""
    net = with_layer(ob.network, layer, with_entry(ob.network.layers[layer], entry, delta))
    return with_network(ob, net, f"~W{layer}[{entry}]{delta:+d}")


def corrupt_bias(ob: Obligation, layer: int, row: int, delta: int) -> Obligation:
    """``ob`` with bias ``row`` of layer ``layer`` changed by ``delta``."""
    net = with_layer(ob.network, layer, with_bias(ob.network.layers[layer], row, delta))
    return with_network(ob, net, f"~b{layer}[{row}]{delta:+d}")
