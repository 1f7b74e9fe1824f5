"""The assembled computer: state encoding, layer layouts, structure, and ``loopmlp info``.

- ``encode``/``decode`` are inverse on every state (hypothesis, several sizes), the vector is in
  the network's coordinate order (checked bit by bit against the coordinate names), and decode
  refuses a vector that is not canonical.
- Every profile's layers chain (each layer's outputs are the next layer's inputs) and close the
  loop on the state layout; :func:`proofs.computer.structure_problems` finds nothing.
- ``loopmlp info --json``: 23 layers of which 10 identity for ``paper``, none for
  ``paper-minimal``, and the per-layer facts agree with the network.
"""

from __future__ import annotations

import functools
import json
import re
from io import StringIO

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions.computer import PROFILES, Computer, build, decode, encode
from constructions.computer import state_names as names_of
from constructions.computer.placement import PAPER_BUDGET
from constructions.machine.subleq import MachineSize, State, make_state
from loopmlp.cli import main
from proofs.computer import structure_problems
from verify.errors import ParameterError

Size = tuple[int, int, int]
SIZES: tuple[Size, ...] = ((2, 2, 2), (4, 8, 4), (8, 16, 16), (2, 63, 2), (16, 3, 2))
BUILT: tuple[Size, ...] = ((2, 2, 2), (4, 4, 4), (8, 16, 16))
_FIELD = re.compile(r"(MEM|INS)\[(\d+)\]\.bit\[(\d+)\]|PC\.bit\[(\d+)\]")


@functools.cache
def computer(profile: str, size: Size) -> Computer:
    return build(profile, MachineSize(*size))


@st.composite
def states(draw: st.DrawFn, size: MachineSize) -> State:
    M, K = size.words, size.slots
    triple = st.tuples(st.integers(0, M - 1), st.integers(0, M - 1), st.integers(0, K - 1))
    memory = draw(st.lists(st.integers(0, (1 << size.bits) - 1), min_size=M, max_size=M))
    code = draw(st.lists(triple, min_size=K, max_size=K))
    return make_state(size, memory, code, draw(st.integers(0, K - 1)))


def _ids(s: Size) -> str:
    return "M{}N{}K{}".format(*s)


# --------------------------------------------------------------------------- encode / decode


@pytest.mark.parametrize("size", SIZES, ids=_ids)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_encode_decode_round_trip(size: Size, data: st.DataObject) -> None:
    ms = MachineSize(*size)
    state = data.draw(states(ms))
    vec = encode(state, ms)
    assert vec.dtype == np.int64 and vec.shape == (len(names_of(ms)),)
    assert set(np.unique(vec)) <= {0, 1}
    assert decode(vec, ms) == state
    # The bits sit where the coordinate names say (independent of encode's loop).
    m = ms.addr_bits
    for name, v in zip(names_of(ms), vec):
        hit = _FIELD.fullmatch(name)
        assert hit is not None, name
        kind, j, t, pc_bit = hit.groups()
        if kind == "MEM":
            want = state.memory[int(j)] >> int(t) & 1
        elif kind == "INS":
            a, b, c = state.code[int(j)]
            want = (a | b << m | c << 2 * m) >> int(t) & 1
        else:
            want = state.pc >> int(pc_bit) & 1
        assert v == want, name


@pytest.mark.parametrize("size", BUILT, ids=_ids)
def test_computer_encodes_in_network_order(size: Size) -> None:
    for profile in PROFILES:
        comp = computer(profile, size)
        assert list(comp.network.inputs.names) == names_of(comp.size)
        assert list(comp.state.names) == names_of(comp.size)
        state = make_state(comp.size, [1], [(1, 0, 1)], pc=1)
        assert comp.decode(comp.encode(state)) == state


@pytest.mark.parametrize("size", ((2, 2, 2), (4, 8, 4)), ids=_ids)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_decode_refuses_non_canonical(size: Size, data: st.DataObject) -> None:
    ms = MachineSize(*size)
    vec = encode(data.draw(states(ms)), ms)
    i = data.draw(st.integers(0, len(vec) - 1), "coordinate")
    bad = data.draw(st.sampled_from([2, -1, 3, -2, 1 << 40]), "value")
    vec[i] = bad
    with pytest.raises(ParameterError, match=rf"coordinate {i} = {bad}\b.*\{{0, 1\}}"):
        decode(vec, ms)


def test_round_trip_at_64_bits() -> None:
    ms = MachineSize(2, 64, 2)
    state = make_state(ms, [1 << 63, (1 << 64) - 1])
    assert decode(encode(state, ms), ms) == state


def test_decode_refuses_fractions() -> None:
    ms = MachineSize(2, 2, 2)
    vec = encode(make_state(ms), ms).astype(float)
    vec[0] = 0.5
    with pytest.raises(ParameterError):
        decode(vec, ms)


@pytest.mark.parametrize("cut", [-1, 1], ids=["short", "long"])
def test_decode_refuses_wrong_length(cut: int) -> None:
    ms = MachineSize(2, 2, 2)
    vec = encode(make_state(ms, pc=1), ms)
    vec = vec[:cut] if cut < 0 else np.append(vec, [0] * cut)
    with pytest.raises(ParameterError):
        decode(vec, ms)


# --------------------------------------------------------------------------- layers


@pytest.mark.parametrize("size", BUILT, ids=_ids)
@pytest.mark.parametrize("profile", PROFILES)
def test_layers_chain_and_close_the_loop(profile: str, size: Size) -> None:
    comp = computer(profile, size)
    layers = comp.network.layers
    for i, (a, b) in enumerate(zip(layers, layers[1:])):
        assert a.outputs == b.inputs, f"layer {i} ({a.label}) -> layer {i + 1} ({b.label})"
    assert layers[-1].outputs == layers[0].inputs
    assert list(layers[0].inputs.names) == names_of(comp.size)
    # A folded profile ends in its affine decode layer; every other layer is a ReLU layer.
    affine_tail = 1 if comp.unfolded is not None else 0
    assert all(layer.relu for layer in layers[:len(layers) - affine_tail])
    assert not any(layer.relu for layer in layers[len(layers) - affine_tail:])
    assert len(comp.plans) == len(layers)
    assert [p.label for p in comp.plans] == [layer.label for layer in layers]


@pytest.mark.parametrize("size", BUILT, ids=_ids)
@pytest.mark.parametrize("profile", PROFILES)
def test_structure_is_exact(profile: str, size: Size) -> None:
    assert structure_problems(computer(profile, size)) == []


@pytest.mark.parametrize("profile", PROFILES)
def test_identity_layers_are_exact_identities(profile: str) -> None:
    comp = computer(profile, (4, 4, 4))
    for i, layer in enumerate(comp.network.layers):
        assert layer.is_identity == (i in comp.identity_layers()), f"layer {i} ({layer.label})"
    want = {"paper": sum(b for _, b in PAPER_BUDGET), "compact": 4}.get(profile, 23 - 10)
    assert comp.network.depth == want


def test_build_refuses_unknown_profile() -> None:
    with pytest.raises(ParameterError, match="profile='compact-x'"):
        build("compact-x", MachineSize(2, 2, 2))


@pytest.mark.slow
def test_build_at_256_words_256_slots() -> None:
    comp = build("paper", MachineSize(256, 16, 256))
    assert comp.network.depth == 23 and len(comp.identity_layers()) == 10
    assert comp.network.outputs == comp.network.inputs
    state = make_state(comp.size, [5, 3], [(1, 0, 0), (2, 2, 1)], pc=0)
    net = comp.network
    y = net.forward(comp.encode(state)[None, :], net.plan([(0, 1)] * len(net.inputs)).arithmetic)
    assert comp.decode(y[0]) == make_state(comp.size, [2, 3], [(1, 0, 0), (2, 2, 1)], pc=1)


# --------------------------------------------------------------------------- loopmlp info


def info(*argv: str) -> dict:
    out, err = StringIO(), StringIO()
    assert main(["info", *argv, "--json"], out, err) == 0, err.getvalue()
    assert err.getvalue() == ""
    return json.loads(out.getvalue())


def test_info_paper_has_ten_identity_layers() -> None:
    doc = info("--profile", "paper")
    assert (doc["layers"], doc["identity_layers"]) == (23, 10)
    assert doc["size"] == {"words": 16, "bits": 16, "slots": 64}
    assert [x["index"] for x in doc["per_layer"]] == list(range(23))
    assert sum(x["identity"] for x in doc["per_layer"]) == 10
    assert doc["nonzero_weights"] == sum(x["nonzero_weights"] for x in doc["per_layer"])
    assert doc["state_width"] == len(names_of(MachineSize(16, 16, 64)))
    assert doc["widest_layer"] == max(x["outputs"] for x in doc["per_layer"])
    for x, y in zip(doc["per_layer"], doc["per_layer"][1:]):
        assert x["outputs"] == y["inputs"]
    assert doc["per_layer"][-1]["outputs"] == doc["per_layer"][0]["inputs"] == doc["state_width"]


def test_info_paper_minimal_has_no_identity_layers() -> None:
    doc = info("--profile", "paper-minimal", "--words", "4", "--bits", "4", "--slots", "4")
    assert doc["identity_layers"] == 0
    assert not any(x["identity"] for x in doc["per_layer"])
    assert doc["layers"] == 23 - 10 == len(doc["per_layer"])
    paper = info("--profile", "paper", "--words", "4", "--bits", "4", "--slots", "4")
    kept = [x["label"] for x in paper["per_layer"] if not x["identity"]]
    assert [x["label"] for x in doc["per_layer"]] == kept
