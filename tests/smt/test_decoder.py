"""The decoder method: the template lemma, the structural check, read and write proved for every
address at once, and agreement with one case per address at small sizes."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verify.methods.decoder as dec
from constructions.gadgets import make_match, make_read, make_write
from constructions.gadgets.base import match_terms
from verify.methods import Options
from verify.methods.casesplit import casesplit
from verify.methods.decoder import (
    applies,
    decoder,
    match_lemma,
    structure,
    template,
    template_value,
)
from verify.result import Verdict


def _address(ob: object) -> tuple[str, ...]:
    names = ob.network.inputs.names  # type: ignore[attr-defined]
    return tuple(n for n in names if n.startswith(("A.bit", "B.bit", "X.bit")))


@pytest.mark.parametrize("m", range(1, 9))
def test_the_template_lemma_is_proved(m: int) -> None:
    lemma = match_lemma(m, timeout=30.0)
    assert lemma.verdict is Verdict.PROVED, lemma.reason


@settings(deadline=None, derandomize=True, max_examples=200)
@given(st.integers(1, 12).flatmap(lambda m: st.tuples(st.just(m), st.integers(0, (1 << m) - 1),
                                                        st.integers(0, (1 << m) - 1))))
def test_the_template_is_minus_twice_the_hamming_distance(mjx: tuple[int, int, int]) -> None:
    m, j, x = mjx
    assert template_value(j, x, m) == -2 * bin(j ^ x).count("1")


@pytest.mark.parametrize("m", [1, 3, 8])
def test_the_gadgets_match_units_are_the_template(m: int) -> None:
    names = [f"A.bit[{i}]" for i in range(m)]
    for j in range(1 << m):
        coeffs, const = match_terms(names, j)
        want, k = template(j, m)
        assert [coeffs[n] for n in names] == want and const == k


def test_structure_names_a_unit_off_the_template() -> None:
    ob = make_read(8, 2).obligation()
    box = dict(zip(ob.domain.names, ob.domain.box()))
    layer = ob.network.layers[0]
    good = structure(ob.network, _address(ob), box)
    assert not good.problems and len(good.word) == 16
    assert sorted(set(good.word.values())) == list(range(8))
    vals = list(layer.vals)
    k = next(i for i, (r, c) in enumerate(zip(layer.rows, layer.cols))
             if r == 5 and layer.inputs.names[c].startswith("A.bit"))
    vals[k] += 1
    bad_net = dataclasses.replace(ob.network, layers=(dataclasses.replace(layer, vals=tuple(vals)),
                                                       *ob.network.layers[1:]))
    bad = structure(bad_net, _address(ob), box)
    assert set(bad.problems) == {5}


@pytest.mark.parametrize(("make", "words", "bits"), [
    (make_read, 16, 3), (make_write, 16, 3), (make_read, 32, 2), (make_write, 64, 1),
])
def test_decoder_proves_read_and_write(make: object, words: int, bits: int) -> None:
    ob = make(words, bits).obligation()  # type: ignore[operator]
    r = decoder(ob, _address(ob), Options(timeout=30.0))
    assert r.verdict is Verdict.PROVED, r.reason
    assert "no case per address" in r.reason


def test_decoder_proves_the_match_gadget() -> None:
    ob = make_match(5).obligation()
    assert decoder(ob, _address(ob), Options(timeout=30.0)).verdict is Verdict.PROVED


@pytest.mark.parametrize(("make", "words", "bits"), [
    (make_read, 2, 2), (make_write, 2, 2), (make_read, 4, 2), (make_write, 4, 2),
    (make_read, 8, 1), (make_write, 8, 1),
])
def test_decoder_and_cases_agree_on_the_gadgets(make: object, words: int, bits: int) -> None:
    ob = make(words, bits).obligation()  # type: ignore[operator]
    ctl = _address(ob)
    cases = casesplit(ob, ctl, Options(timeout=30.0), how="cases")
    dec = casesplit(ob, ctl, Options(timeout=30.0), how="decoder")
    assert cases.verdict is dec.verdict is Verdict.PROVED
    assert "cases" in cases.details and "match_units" in dec.details


def test_auto_uses_the_decoder_from_16_words_and_cases_below() -> None:
    big = make_read(16, 1).obligation()
    assert "match_units" in casesplit(big, _address(big), Options(timeout=30.0)).details
    small = make_read(8, 1).obligation()
    assert "cases" in casesplit(small, _address(small), Options(timeout=30.0)).details


def test_decoder_refuses_what_it_does_not_take() -> None:
    ob = make_read(4, 1).obligation()
    assert applies(ob, ()) != ""
    assert applies(ob, ("MEM[0].bit[0]", "A.bit[0]")) == ""  # bits: it applies ...
    r = decoder(ob, ("MEM[0].bit[0]",), Options(timeout=30.0))
    assert r.verdict is not Verdict.PROVED  # ... and finds MEM[0] is no address
    with pytest.raises(Exception, match="how"):
        casesplit(ob, _address(ob), Options(), how="nonsense")


@pytest.mark.slow
@pytest.mark.parametrize(("make", "words", "bits"), [
    (make_read, 256, 16), (make_write, 256, 16), (make_read, 256, 24),
])
def test_decoder_proves_the_step_gadgets_at_256_words(make: object, words: int,
                                                      bits: int) -> None:
    ob = make(words, bits).obligation()  # type: ignore[operator]
    r = decoder(ob, _address(ob), Options(timeout=60.0))
    assert r.verdict is Verdict.PROVED, r.reason


def test_a_false_template_lemma_is_refuted_with_a_replayed_witness(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def off_by_one(j: object, m: int) -> tuple[list[object], object]:
        coeffs, k = template(j, m)
        return coeffs, k + 1  # 1 at the address: no longer a match

    monkeypatch.setattr(dec, "template", off_by_one)
    monkeypatch.setattr(dec, "_LEMMAS", {})
    lemma = dec.match_lemma(3, timeout=30.0)
    assert lemma.verdict is Verdict.REFUTED and lemma.witness is not None
    j, x = lemma.witness
    e = dec.template_value(j, x, 3)
    assert (x == j and e != 0) or (x != j and e > -2)
    ob = make_read(8, 1).obligation()
    r = dec.decoder(ob, _address(ob), Options(timeout=30.0))
    assert r.verdict is Verdict.UNKNOWN and "lemma" in r.reason
