"""Specs for tests: a network written out with :mod:`verify.ops`, as an independent spec."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from verify import ops
from verify.network import Network


def network_spec(net: Network) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A spec that is ``net`` itself, written with :mod:`verify.ops`: it runs on ints, numpy
    batches, intervals and z3 terms alike, and shares no code with the network's evaluators."""

    def spec(v: Mapping[str, Any]) -> dict[str, Any]:
        x = [v[n] for n in net.inputs]
        for layer in net.layers:
            acc: list[Any] = list(layer.bias)
            for r, c, w in zip(layer.rows, layer.cols, layer.vals, strict=True):
                acc[r] = acc[r] + w * x[c]
            x = [ops.relu(a) for a in acc] if layer.relu else acc
        return dict(zip(net.outputs.names, x, strict=True))

    return spec
