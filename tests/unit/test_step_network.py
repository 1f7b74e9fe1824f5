"""The network a run steps and how the engine steps it: a folded profile in factored form
computes exactly the folded network, the build leaves the composed weights unformed until
something reads them, and chained kernel calls give the products made one by one."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from constructions.computer import FOLDED_PROFILES, build
from constructions.computer.folding import compose_fast
from constructions.computer.runtime import CHAINED_KERNELS, Engine, step_network
from constructions.gadgets import make_read
from constructions.machine.subleq import MachineSize
from verify.fold import compose
from verify.layout import Layout
from verify.network import Layer, Network


@pytest.mark.parametrize("profile", FOLDED_PROFILES)
@pytest.mark.parametrize("size", [(2, 2, 2), (4, 8, 4), (8, 4, 16)])
def test_factored_form_computes_the_folded_network(profile: str,
                                                   size: tuple[int, int, int]) -> None:
    c = build(profile, MachineSize(*size))
    f = step_network(c)
    assert f.inputs == c.network.inputs and f.outputs == c.network.outputs
    rng = np.random.default_rng(sum(size))
    width = len(f.inputs)
    canonical = rng.integers(0, 2, size=(64, width))
    wide = rng.integers(-5, 6, size=(16, width))  # an identity of affine maps: any integers
    for x in (canonical, wide):
        assert np.array_equal(f.forward(x, "int64"), c.network.forward(x, "int64"))


def test_the_composed_layers_are_formed_only_when_read() -> None:
    c = build("compact", MachineSize(4, 4, 4))
    assert "layers" not in c.network.__dict__
    assert c.network.depth == 4 and c.network.inputs == c.unfolded.inputs
    assert "layers" not in c.network.__dict__
    assert len(c.network.layers) == 5


def test_fast_composition_is_compose_entry_for_entry() -> None:
    c = build("compact", MachineSize(8, 6, 8))
    layers = c.unfolded.layers
    for i in c.folds:
        want = compose(layers[i], layers[i + 1], "x")
        got = compose_fast(layers[i], layers[i + 1], "x")
        for part in ("rows", "cols", "vals", "bias", "relu", "inputs", "outputs"):
            assert getattr(got, part) == getattr(want, part), (i, part)
    big = Layer.from_dense([[1 << 40, 3], [0, -(1 << 40)]], [1, 2], Layout(["a", "b"]),
                           Layout(["c", "d"]), relu=False)
    again = Layer.from_dense([[1 << 30, 1], [2, 1 << 30]], [0, 5], big.outputs,
                             Layout(["e", "f"]))
    for part in ("rows", "cols", "vals", "bias"):  # beyond int64: the exact path
        assert getattr(compose_fast(big, again, "y"), part) == getattr(compose(big, again, "y"),
                                                                        part)


def test_an_engine_over_entries_out_of_row_order_is_exact() -> None:
    ins, outs = Layout(["a", "b", "c"]), Layout(["x", "y", "z"])
    first = Layer(ins, outs, (2, 0, 1, 0, 2), (0, 1, 2, 2, 1), (3, -2, 1, 5, 1), (0, 1, -1),
                  True, "l")
    second = Layer(outs, ins, (1, 0, 2, 2), (0, 2, 1, 0), (1, 1, 2, -1), (0, 0, 0), True, "m")
    net = Network((first, second))
    x = np.random.default_rng(0).integers(0, 2, size=(20, 3))
    for share in (True, False):
        assert np.array_equal(Engine(net, share=share).step(x), net.forward(x, "int64"))


@pytest.mark.parametrize("profile", ["compact", "paper"])
def test_chained_kernel_calls_give_the_products_one_by_one(profile: str) -> None:
    c = build(profile, MachineSize(8, 6, 8))
    net = step_network(c)
    chained, plain = Engine(net), Engine(net, fast=False)
    if CHAINED_KERNELS:
        assert len(chained.chained) < len(chained.blocks)
    x = np.random.default_rng(3).integers(0, 2, size=(40, len(net.inputs)))
    want = c.network.forward(x, "int64")
    assert np.array_equal(chained.step(x), want) and np.array_equal(plain.step(x), want)
    step = chained.stepper()  # one machine: the single-column kernel
    for k in range(3):
        assert np.array_equal(step(x[k]), want[k])


def test_deferred_networks_pickle_as_plain_ones() -> None:
    c = build("compact", MachineSize(4, 4, 4))
    again = pickle.loads(pickle.dumps(c.network))
    assert type(again) is Network and len(again.layers) == len(c.network.layers)
    x = np.random.default_rng(5).integers(0, 2, size=(8, len(again.inputs)))
    assert np.array_equal(again.forward(x, "int64"), c.network.forward(x, "int64"))
    gadget_net = make_read(4, 2).net
    plain = pickle.loads(pickle.dumps(gadget_net))
    assert [u.name for s in plain.stages for u in s.units] == \
        [u.name for s in gadget_net.stages for u in s.units]
