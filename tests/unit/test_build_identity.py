"""The build gives the same networks as the sympy-based build it replaced: weight matrices hashed
byte for byte against values stored from the sympy build, and every unit's terms against its
sympy expression."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import pytest

from constructions.computer import PROFILES, build
from constructions.computer.assembly import assemble
from constructions.computer.model import state_names
from constructions.computer.pipeline import first_layers
from constructions.computer.placement import layer_plans, placements
from constructions.gadgets import (
    Gadget,
    make_add,
    make_branch,
    make_compare,
    make_flag,
    make_increment,
    make_match,
    make_read,
    make_subtract,
    make_write,
)
from constructions.machine.subleq import MachineSize
from verify.layout import Layout
from verify.network import Layer, Network
from verify.symbolic import affine_terms


def net_hash(net: Network) -> str:
    """A digest of every layer: label, activation, coordinate names, W entries and bias."""
    h = hashlib.sha256()
    for layer in net.layers:
        h.update(repr((layer.label, layer.relu, layer.inputs.names,
                       layer.outputs.names)).encode())
        for part in (layer.rows, layer.cols, layer.vals, layer.bias):
            h.update(np.array(part, dtype=np.int64).tobytes())
            h.update(b"|")
    return h.hexdigest()[:16]


# Computed with the build in which every unit was a sympy expression compiled term by term:
# (profile, (words, bits, slots)) -> (network, unfolded network of a folded profile). The
# profiles whose construction has changed since are compared with their sympy compilation
# below instead.
STORED: dict[tuple[str, tuple[int, int, int]], tuple[str, str | None]] = {
    ("compact", (2, 2, 2)): ("5c8c2449758b1aef", "5c03f93991e79b77"),
    ("compact", (4, 8, 4)): ("743e7d1ab088a099", "eac562f19bd2945e"),
    ("compact", (8, 4, 16)): ("a52bb76e464c2862", "9011a33b9f1dd458"),
    ("compact", (16, 16, 8)): ("f8dd7e4a31d106aa", "cdc02635d7a99491"),
    ("compact", (32, 8, 64)): ("a47482d9e7ee49da", "47628e98f4039911"),
}
STORED_LARGE: dict[tuple[str, tuple[int, int, int]], tuple[str, str | None]] = {
    ("compact", (64, 16, 64)): ("b52626a87241c043", "526440e679ef65d9"),
}
# gadget -> (network, its printed formulas)
GADGETS: dict[str, tuple[Callable[[], Gadget], str, str]] = {
    "read": (lambda: make_read(8, 3), "c5cca3f94a144683", "57441bd32aad2823"),
    "write": (lambda: make_write(4, 3), "5d8a5a14e580b567", "e71ef4490088ee22"),
    "match": (lambda: make_match(3), "ac68e8ef20ebcf7b", "824658c870d61b56"),
    "subtract": (lambda: make_subtract(4), "14f221738cb1bb03", "8fd9d8c042e5a902"),
    "add": (lambda: make_add(4), "893d83749cb8d5e2", "497df5b75b11b822"),
    "compare": (lambda: make_compare(4), "b96828f63b450c73", "de13455d02606de6"),
    "increment": (lambda: make_increment(3), "64492a5e7b8ad532", "8b11facd35cce3cd"),
    "branch": (lambda: make_branch(3), "e3d87477789cbb30", "6633519953ab3cd5"),
    "flag": (lambda: make_flag(4), "a2e9bfc770bca390", "45579ae7390d9030"),
}


def _check(profile: str, size: tuple[int, int, int], want: tuple[str, str | None]) -> None:
    c = build(profile, MachineSize(*size))
    unfolded = net_hash(c.unfolded) if c.unfolded is not None else None
    assert (net_hash(c.network), unfolded) == want, f"{profile} at {size}"


@pytest.mark.parametrize("key", sorted(STORED), ids=lambda k: f"{k[0]}-{k[1]}")
def test_build_gives_the_stored_networks(key: tuple[str, tuple[int, int, int]]) -> None:
    _check(*key, STORED[key])


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(STORED_LARGE), ids=lambda k: f"{k[0]}-{k[1]}")
def test_build_gives_the_stored_networks_at_large_sizes(
        key: tuple[str, tuple[int, int, int]]) -> None:
    _check(*key, STORED_LARGE[key])


@pytest.mark.parametrize("name", sorted(GADGETS))
def test_gadgets_give_the_stored_networks_and_formulas(name: str) -> None:
    make, want_net, want_text = GADGETS[name]
    g = make()
    text = "\n".join(line for _, lines in g.formulas() for line in lines)
    assert net_hash(g.network) == want_net
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == want_text


Units = list[tuple[str, object, bool]]


def _sympy_network(inputs: tuple[str, ...], stages: list[tuple[str, Units]],
                   name: str) -> Network:
    """The network compiled the old way: each unit's sympy expression read term by term."""
    layout = Layout(inputs)
    layers = []
    for k, (label, units) in enumerate(stages):
        out = Layout()
        for n, _, _ in units:
            out.add(n, label or f"stage {k}")
        rows = {n: affine_terms(expr, f"unit {n}") for n, expr, _ in units}
        layers.append(Layer.from_rows(layout, out, rows, relu=units[0][2], label=label))
        layout = out
    return Network(tuple(layers), name)


def _through_sympy(profile: str, size: tuple[int, int, int]) -> None:
    ms = MachineSize(*size)
    plans = layer_plans(profile)
    placed = first_layers(placements(ms, profile), plans)
    net = assemble(state_names(ms), placed, plans, profile)
    stages = [(s.label, [(u.name, u.expr, u.relu) for u in s.units]) for s in net.stages]
    assert net_hash(net.network) == net_hash(_sympy_network(net.inputs, stages, profile))
    built = build(profile, ms)  # a folded profile's unfolded network ends in its decode layer
    layers = built.unfolded.layers[:-1] if built.unfolded is not None else built.network.layers
    assert net_hash(Network(layers)) == net_hash(net.network)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("size", [(2, 2, 2), (4, 4, 4), (8, 3, 16)])
def test_every_profile_compiles_as_through_sympy(profile: str, size: tuple[int, int, int]
                                                 ) -> None:
    """Every profile: the network of the build (compiled straight from the units' terms, copies
    as one block) equals the same units, a copy unit for each copy, compiled one by one from
    their sympy expressions."""
    _through_sympy(profile, size)


@pytest.mark.slow
@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_compiles_as_through_sympy_at_a_large_size(profile: str) -> None:
    _through_sympy(profile, (64, 16, 32))
