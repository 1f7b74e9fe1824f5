"""Shared fixtures for the kernel tests: registry isolation and weight corruption."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from verify.network import Layer, Network
from verify.obligation import Obligation


@pytest.fixture
def kernel_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Restrict the registry to ``proofs.kernel``, so CLI tests do not depend on other modules."""
    import proofs.registry

    monkeypatch.setattr(proofs.registry, "MODULES", ("proofs.kernel",))


def _with_entry(layer: Layer, k: int, value: int) -> Layer:
    vals = list(layer.vals)
    vals[k] = value
    return Layer(layer.inputs, layer.outputs, layer.rows, layer.cols, tuple(vals), layer.bias,
                 layer.relu, layer.label)


def _with_bias(layer: Layer, r: int, value: int) -> Layer:
    bias = list(layer.bias)
    bias[r] = value
    return Layer(layer.inputs, layer.outputs, layer.rows, layer.cols, layer.vals, tuple(bias),
                 layer.relu, layer.label)


def corrupt_weight(ob: Obligation, layer: int, entry: int, delta: int) -> Obligation:
    """``ob`` with the ``entry``-th nonzero weight of layer ``layer`` changed by ``delta``."""
    layers = list(ob.network.layers)
    layers[layer] = _with_entry(layers[layer], entry, layers[layer].vals[entry] + delta)
    return _replace_network(ob, Network(tuple(layers), ob.network.name + "~corrupt"),
                            f"~W{layer}[{entry}]{delta:+d}")


def corrupt_bias(ob: Obligation, layer: int, row: int, delta: int) -> Obligation:
    """``ob`` with bias ``row`` of layer ``layer`` changed by ``delta``."""
    layers = list(ob.network.layers)
    layers[layer] = _with_bias(layers[layer], row, layers[layer].bias[row] + delta)
    return _replace_network(ob, Network(tuple(layers), ob.network.name + "~corrupt"),
                            f"~b{layer}[{row}]{delta:+d}")


def _replace_network(ob: Obligation, net: Network, suffix: str) -> Obligation:
    return Obligation(ob.name + suffix, net, ob.domain, ob.spec, ob.bounds, ob.outputs,
                      ob.factorisation, ob.note)


@pytest.fixture
def corrupt() -> Callable[..., Obligation]:
    """``corrupt(ob, layer, entry, delta)``: one weight of ``ob``'s network changed."""
    return corrupt_weight


@pytest.fixture
def corrupt_b() -> Callable[..., Obligation]:
    """``corrupt_b(ob, layer, row, delta)``: one bias of ``ob``'s network changed."""
    return corrupt_bias
