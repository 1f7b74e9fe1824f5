"""Shared fixtures: registry isolation, weight corruption, and FIFOs that cannot hang a test."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

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


FIFO_PATIENCE = 20.0
"""Seconds after which a FIFO made by the ``fifo`` fixture is opened from both ends."""


@pytest.fixture
def fifo() -> Iterator[Callable[[Path], Path]]:
    """``fifo(path)``: make a FIFO at ``path`` that no command may open.

    A command that opens one anyway blocks until the other end is opened; after
    :data:`FIFO_PATIENCE` seconds every FIFO made here is opened from both ends (again and
    again, until the test ends), so the command goes on and the suite never hangs, and the
    test fails in its teardown.
    """
    made: list[Path] = []
    done = threading.Event()
    fired = threading.Event()

    def release() -> None:
        if done.wait(FIFO_PATIENCE):
            return
        fired.set()
        while not done.wait(0.2):
            for p in made:
                try:
                    r = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
                except OSError:
                    continue
                try:
                    os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    pass
                os.close(r)

    def make(path: Path) -> Path:
        os.mkfifo(path)
        made.append(path)
        return path

    guard = threading.Thread(target=release, daemon=True)
    guard.start()
    yield make
    done.set()
    guard.join()
    assert not fired.is_set(), f"a command blocked on a FIFO ({', '.join(map(str, made))})"
