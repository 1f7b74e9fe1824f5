"""The factorised engine at 64 bits against corrupted weights: every family's mutants come back
refuted with a counterexample that replays, or unknown, and never proved.

Each mutant is first shown to differ from the spec at some point found by a seeded random
search through the exact forward pass (so a proof of it would be false), then checked.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest
from support.mutation import corrupt_weight

from constructions.gadgets.families import FAMILIES
from verify.methods import Options, replay
from verify.methods.factorised import factorised
from verify.obligation import Obligation
from verify.result import Verdict

WIDE = ("subtract", "add", "compare", "increment", "branch", "read", "write")
TRIES = 100
CANDIDATES = 80


def _witness(ob: Obligation, seed: int) -> Mapping[str, int] | None:
    """A point of the domain where the network differs from the spec, by a seeded search (every
    input of these gadgets is a bit)."""
    rng = random.Random(seed)
    names = ob.network.inputs.names
    for _ in range(TRIES):
        point = {n: rng.randint(0, 1) for n in names}
        if ob.domain.contains(point) and replay(ob, point) is not None:
            return point
    return None


def _mutant(family: str, layer: int) -> tuple[Obligation, Mapping[str, int]]:
    """A weight of ``layer`` (0, or -1 for the last) raised by one, with a point where the
    result differs from the spec: the first entry, from the middle of the layer outwards, whose
    change the search shows (so the mutant is a real one, never an equivalent network)."""
    ob = FAMILIES[family].make(64, 2).obligation()
    index = layer % len(ob.network.layers)
    nnz = ob.network.layers[index].nnz
    for k in sorted(range(nnz), key=lambda k: abs(k - nnz // 2))[:CANDIDATES]:
        bad = corrupt_weight(ob, index, k, 1)
        point = _witness(bad, seed=k)
        if point is not None:
            return bad, point
    raise AssertionError(f"{ob.name}: no weight of layer {index} changed by one shows")


@pytest.mark.parametrize("family", WIDE)
@pytest.mark.parametrize("layer", (-1, 0), ids=("last layer", "first layer"))
def test_a_corrupted_64_bit_gadget_is_never_proved(family: str, layer: int) -> None:
    bad, _ = _mutant(family, layer)
    r = factorised(bad, Options("factorised", timeout=20))
    assert r.verdict is not Verdict.PROVED, f"{bad.name}: PROVED a mutant: {r.line()}"
    if r.verdict is Verdict.REFUTED:
        assert r.counterexample is not None, r.line()
        assert bad.domain.contains(dict(r.counterexample.inputs)), r.line()
        assert replay(bad, r.counterexample.inputs) is not None, r.line()
    else:
        assert r.verdict is Verdict.UNKNOWN, r.line()


@pytest.mark.parametrize("family", WIDE)
def test_every_64_bit_gadget_is_proved_exactly(family: str) -> None:
    """The unmutated gadgets are proved, with the identities checked in exact integers."""
    r = factorised(FAMILIES[family].make(64, 2).obligation(), Options("factorised", timeout=60))
    assert r.verdict is Verdict.PROVED, r.line()
    assert "exact integers" in r.reason and r.details["identities"] > 0, r.line()
