"""Corrupted address units in read and write gadgets: the decoder method never proves them, and
refutes them with a replayed counterexample wherever one case per address finds one."""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.mutation import corrupt_bias, corrupt_weight

from constructions.gadgets import make_read, make_write
from verify.methods import Options, replay
from verify.methods.casesplit import casesplit
from verify.methods.decoder import structure
from verify.obligation import Obligation
from verify.result import Verdict

OPTS = Options(timeout=30.0)


@cache
def gadget(kind: str, words: int, bits: int) -> Obligation:
    return (make_read if kind == "read" else make_write)(words, bits).obligation()


def address(ob: Obligation) -> tuple[str, ...]:
    return tuple(n for n in ob.network.inputs.names if n.startswith(("A.bit", "B.bit")))


def match_rows(ob: Obligation) -> list[int]:
    box = dict(zip(ob.domain.names, ob.domain.box()))
    return sorted(structure(ob.network, address(ob), box).word)


def entries_of(ob: Obligation, row: int, on_address: bool) -> list[int]:
    layer = ob.network.layers[0]
    ctl = set(address(ob))
    return [k for k, (r, c) in enumerate(zip(layer.rows, layer.cols))
            if r == row and (layer.inputs.names[c] in ctl) == on_address]


def mutant(ob: Obligation, row: int, what: str, which: int, delta: int) -> Obligation:
    """One address unit with its bias, one address coefficient or one data coefficient
    changed by ``delta``."""
    if what == "bias":
        return corrupt_bias(ob, 0, row, delta)
    ks = entries_of(ob, row, what == "address")
    return corrupt_weight(ob, 0, ks[which % len(ks)], delta)


def assert_sound(ob: Obligation, bad: Obligation, expect_refuted: bool) -> None:
    r = casesplit(bad, address(ob), OPTS, how="decoder")
    assert r.verdict is not Verdict.PROVED, f"{bad.name}: {r.reason}"
    if expect_refuted:
        assert r.verdict is Verdict.REFUTED, f"{bad.name}: {r.reason}"
    if r.verdict is Verdict.REFUTED:
        assert r.counterexample is not None
        assert bad.domain.contains(dict(r.counterexample.inputs))
        assert replay(bad, r.counterexample.inputs) is not None


@pytest.mark.parametrize("kind", ["read", "write"])
@settings(deadline=None, derandomize=True, max_examples=15)
@given(data=st.data())
def test_small_mutants_agree_with_one_case_per_address(kind: str, data: st.DataObject) -> None:
    ob = gadget(kind, 8, 2)
    row = data.draw(st.sampled_from(match_rows(ob)))
    what = data.draw(st.sampled_from(["bias", "address", "data"]))
    bad = mutant(ob, row, what, data.draw(st.integers(0, 7)), data.draw(st.sampled_from([-1, 1])))
    cases = casesplit(bad, address(ob), OPTS, how="cases")
    assert_sound(ob, bad, expect_refuted=cases.verdict is Verdict.REFUTED)


# At 256 words: mutations that change what the gadget computes at the unit's own address.
BIG: list[tuple[str, str, int, int]] = [
    ("bias", "gate bias -1: the unit is dead at its address (the spec lemma refutes)", 0, -1),
    ("bias", "gate bias +1: 1 + bit at its address (a slice off the template)", 0, 1),
    ("address", "a +2 coefficient made +1: -1 at its address (off the template)", 0, -1),
    ("data", "data coefficient 2: 2 * bit at its address (a slice off the template)", 0, 1),
]


def _row_with_a_one_bit(ob: Obligation) -> int:
    """A match unit of word 37 (address bits 1, 0, 1, 0, 0, 1, 0, 0): its first address
    coefficient is +2."""
    box = dict(zip(ob.domain.names, ob.domain.box()))
    words = structure(ob.network, address(ob), box).word
    return next(r for r, j in sorted(words.items()) if j == 37)


@pytest.mark.parametrize(("what", "why", "which", "delta"), [
    # The solver's model of the spec lemma takes several seconds to find: slow.
    pytest.param(*b, marks=pytest.mark.slow) if b[3] == -1 and b[0] == "bias" else b
    for b in BIG], ids=[b[1][:20] for b in BIG])
def test_read_at_256_words_refutes_a_corrupted_address_unit(what: str, why: str, which: int,
                                                            delta: int) -> None:
    ob = gadget("read", 256, 16)
    bad = mutant(ob, _row_with_a_one_bit(ob), what, which, delta)
    assert_sound(ob, bad, expect_refuted=True)


@pytest.mark.slow
@pytest.mark.parametrize(("what", "why", "which", "delta"), BIG, ids=[b[1][:20] for b in BIG])
def test_write_at_256_words_refutes_a_corrupted_address_unit(what: str, why: str, which: int,
                                                             delta: int) -> None:
    ob = gadget("write", 256, 16)
    bad = mutant(ob, _row_with_a_one_bit(ob), what, which, delta)
    assert_sound(ob, bad, expect_refuted=True)


def test_a_harmless_change_off_the_template_is_not_proved() -> None:
    # A -2 coefficient made -3 keeps the unit 0 off its address: no counterexample exists, but
    # the unit is not the template, so the decoder does not prove it.
    ob = gadget("read", 8, 2)
    row = match_rows(ob)[0]  # word 0: every address coefficient is -2
    bad = mutant(ob, row, "address", 0, -1)
    r = casesplit(bad, address(ob), OPTS, how="decoder")
    assert r.verdict is Verdict.UNKNOWN and "template" in r.reason
    assert casesplit(bad, address(ob), OPTS, how="cases").verdict is Verdict.PROVED
