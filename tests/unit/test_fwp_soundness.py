"""Ways the fast-weight proofs could say PROVED wrongly, each closed: NaN enclosures, corrupted
models under every method, incomplete enumerations, structure assumed instead of checked."""

from __future__ import annotations

import functools
import itertools
import random
import re

import numpy as np
import pytest

from constructions.fwp.languages import (
    LANGUAGES,
    PARITY_DFA,
    Language,
    counter_invariant,
    language,
    strings,
    walk,
)
from constructions.fwp.models import Model, replace_array, run
from constructions.fwp.recdelta import rd_parity
from constructions.fwp.srwm import srwm_dfa
from proofs.fwp import construction, constructions, dfa_all_lengths
from proofs.fwp_checks import counter_result, upto_result
from verify.errors import LoopmlpError
from verify.real.numbers import F64
from verify.result import Verdict

COUNTERS = ["lt-dyck1", "lt-anbn", "lt-anbncn", "lt-shuffle2"]
SRWMS = ["srwm-parity", "srwm-aa-star", "srwm-abab-star"]
UPTO = {"lt-dyck1": 4, "lt-anbn": 6, "lt-anbncn": 6, "lt-shuffle2": 3, "recdelta-parity": 4,
        "srwm-parity": 4, "srwm-aa-star": 6, "srwm-abab-star": 4, "ltdelta-reset-dyck1": 4}


def _wrong_somewhere(model: Model, lang: Language, length: int) -> bool:
    """A float64 run shows the model deciding some valid prefix wrongly (a sanity check that a
    mutation really breaks the model; never a proof)."""
    for n in range(1, length + 1):
        for toks in strings(lang, n):
            if int(np.argmax(run(model, F64, toks)[-1])) != lang.targets(toks)[-1]:
                return True
    return False


def _mutations(name: str) -> list[tuple[str, Model]]:
    """Two corruptions that make the model wrong: one output bias pushed up (wrong at the
    first prefix) and the embeddings of two symbols swapped."""
    model, lang = construction(name)
    first = next(a for a in range(len(lang.alphabet)) if lang.valid(lang.start, a))
    target = lang.targets([first])[0]
    other = (target + 1) % model.classes
    bias = model.out_b.copy()
    bias[other] += 100.0
    emb = model.embedding.copy()
    if len(lang.alphabet) > 1:
        emb[[0, 1]] = emb[[1, 0]]
    else:  # one symbol: drop the first coordinate it sets
        emb[0, np.flatnonzero(emb[0])[0]] = 0.0
    return [("out_b", replace_array(model, "out_b", bias)),
            ("embedding", replace_array(model, "embedding", emb))]


@pytest.mark.parametrize("name", list(constructions()))
def test_corrupted_models_are_never_proved_up_to_a_length(name: str) -> None:
    _, lang = construction(name)
    for what, bad in _mutations(name):
        assert _wrong_somewhere(bad, lang, UPTO[name]), (name, what)
        r = upto_result("x", bad, lang, UPTO[name])
        assert r.verdict is not Verdict.PROVED, (name, what, r.line())
        if r.verdict is Verdict.REFUTED:  # the string is decided wrongly, replayed
            assert r.counterexample is not None
            text = r.counterexample.to_json()["inputs"]["string"]
            assert int(np.argmax(run(bad, F64, lang.encode(text))[-1])) != \
                lang.targets(lang.encode(text))[-1]


@pytest.mark.parametrize("name", COUNTERS)
def test_corrupted_counters_are_refuted_for_every_length(name: str) -> None:
    _, lang = construction(name)
    for what, bad in _mutations(name):
        r = counter_result("x", bad, lang, counter_invariant(lang.name), 30.0)
        assert r.verdict is not Verdict.PROVED, (name, what, r.line())
        if what == "out_b":  # wrong at the first prefix: z3's counts realised and replayed
            assert r.verdict is Verdict.REFUTED and r.counterexample is not None, r.line()


@pytest.mark.parametrize("name", SRWMS)
def test_corrupted_automata_are_not_proved_for_every_length(name: str) -> None:
    model, lang = construction(name)
    assert lang.dfa is not None
    muts = _mutations(name)
    # the records of delta(0, a) and delta(1, a) swapped in W_q (rows P(0, 0) and P(1, 0))
    V = len(lang.alphabet)
    wq = model.blocks[0][0].W_q.copy()
    wq[0, [1 + V, 1 + 2 * V]] = wq[0, [1 + 2 * V, 1 + V]]
    muts.append(("W_q", replace_array(model, "blocks.0.W_q", wq)))
    for what, bad in muts:
        assert _wrong_somewhere(bad, lang, 4), what
        r = dfa_all_lengths("x", bad, lang.dfa)
        assert r.verdict is not Verdict.PROVED, (name, what, r.line())


def test_a_weight_that_overflows_to_nan_is_not_proved() -> None:
    # 1e300 in W_q: the enclosures of softmax (and of everything after it) used to be NaN, and
    # a NaN margin passed "margin <= 0" as correct, so a wrong model was PROVED both ways
    model = srwm_dfa(PARITY_DFA, "srwm-parity")
    wq = model.blocks[0][0].W_q.copy()
    wq[0, 0, 0] = 1e300
    bad = replace_array(model, "blocks.0.W_q", wq)
    lang = language("parity")
    assert _wrong_somewhere(bad, lang, 2)
    assert dfa_all_lengths("x", bad, PARITY_DFA).verdict is not Verdict.PROVED
    assert upto_result("x", bad, lang, 4).verdict is not Verdict.PROVED


def test_wrong_class_count_is_refused() -> None:
    model, _ = construction("lt-anbn")  # three classes
    r = counter_result("x", model, language("dyck1"), counter_invariant("dyck1"), 10.0)
    assert r.verdict is Verdict.UNKNOWN and "classes" in r.reason
    with pytest.raises(LoopmlpError, match="classes"):
        upto_result("x", model, language("dyck1"), 2)


# ---- Recurrent Delta: the scalar state and the bound ------------------------------------------


def test_recdelta_structure_is_checked_not_assumed() -> None:
    from proofs.fwp_leak import prove_up_to, refute

    model = rd_parity()
    slow = model.blocks[0][0].slow.copy()
    slow[4 * 1 + 2, 0] = 0.5  # head 1 gets a value: its fast weight no longer stays 0
    bad = replace_array(model, "blocks.0.slow", slow)
    for check in (lambda: prove_up_to(bad, limit=8), lambda: refute(bad)):
        with pytest.raises(LoopmlpError, match="head 1"):
            check()


def test_recdelta_corrupted_bound_stops_short() -> None:
    from proofs.fwp_leak import prove_up_to

    for what, bad in _mutations("recdelta-parity"):
        assert prove_up_to(bad, limit=64).length < 64, what


def test_recdelta_box_ends_grow_by_exactly_the_growth() -> None:
    from fractions import Fraction

    from proofs.fwp_leak import box_ends

    c, r0, g, n = Fraction(2.984705), Fraction(1e-14), Fraction(1.07e-16), 10**16
    assert box_ends(c, r0, g, n + 1)[1] - box_ends(c, r0, g, n)[1] == g
    assert box_ends(c, r0, g, n)[0] - box_ends(c, r0, g, n + 1)[0] == g
    # the same ends in float64 do not move: a box that does not grow cannot absorb the drift
    f = float(c) + (float(r0) + n * float(g))
    assert float(c) + (float(r0) + (n + 1) * float(g)) == f


# ---- the specs: enumerations complete, targets as the definitions say --------------------------


@functools.cache
def _reference(name: str, s: str) -> tuple[bool, int | None]:
    """(valid prefix, target) written from the definitions, independently of languages.py."""
    if name == "parity":
        return True, int(s.count("1") % 2 == 0)
    if name == "aa-star":
        return True, int(len(s) % 2 == 0)
    if name == "abab-star":
        return True, int(re.fullmatch("(abab)*", s) is not None)
    if name == "dyck1":
        depth = [s[:i].count("(") - s[:i].count(")") for i in range(len(s) + 1)]
        return min(depth) >= 0, int(depth[-1] > 0)
    if name == "reset-dyck1":
        d, ok = 0, True
        for ch in s:
            d = 0 if ch == "1" else d + (1 if ch == "(" else -1)
            ok = ok and d >= 0
        return ok, int(d > 0)
    if name == "shuffle2":
        ok = all(s[:i].count("(") >= s[:i].count(")") and s[:i].count("[") >= s[:i].count("]")
                 for i in range(len(s) + 1))
        return ok, 2 * int(s.count("(") > s.count(")")) + int(s.count("[") > s.count("]"))
    letters = "abc" if name == "anbncn" else "ab"
    m = re.fullmatch("(a*)(b*)(c*)" if name == "anbncn" else "(a*)(b*)", s)
    if m is None or not s.startswith("a"):
        return False, None
    counts = [len(g) for g in m.groups()]
    n = counts[0]
    if any(c > n for c in counts) or (name == "anbncn" and counts[2] and counts[1] < n):
        return False, None
    nxt = [ch for ch in letters if _reference(name, s + ch)[0]] if len(s) < 40 else []
    if not nxt:
        return True, len(letters)  # the end
    return True, {("a", "b"): 0, ("b",): 1, ("c",): 2}[tuple(nxt)]


@pytest.mark.parametrize("name", list(LANGUAGES))
def test_enumeration_is_every_valid_string_with_the_defined_targets(name: str) -> None:
    lang = language(name)
    max_len = 6 if len(lang.alphabet) <= 3 else 5
    for n in range(1, max_len + 1):  # the empty string has no prefix to decide
        brute = []
        for t in itertools.product(range(len(lang.alphabet)), repeat=n):
            s = lang.decode(list(t))
            if all(_reference(name, s[:i])[0] for i in range(1, n + 1)):
                brute.append(list(t))
        assert list(strings(lang, n)) == brute, (name, n)
        for toks in brute:
            s = lang.decode(toks)
            assert lang.targets(toks) == [_reference(name, s[:i])[1] for i in range(1, n + 1)]
    assert sum(1 for _ in walk(lang, max_len)) == sum(
        len(list(strings(lang, n))) for n in range(1, max_len + 1))


@pytest.mark.parametrize("name", ["dyck1", "anbn", "anbncn", "shuffle2"])
def test_counter_invariant_holds_on_every_reachable_count(name: str) -> None:
    from proofs.fwp_checks import _string_with_counts

    lang = language(name)
    inv = counter_invariant(name)
    for _depth, _, st in walk(lang, 8):
        assert inv(st), (name, st)
        assert _string_with_counts(lang, list(st)) is not None


# ---- the negative results ---------------------------------------------------------------------


def test_one_layer_lts_agree_on_the_reset_witnesses_and_two_layers_can_differ() -> None:
    """The kernel is consistent with the argument of fwp/lt/reset-dyck1/no-one-layer: random
    one-layer LTs give the two witnesses overlapping enclosures (a check of the reduction to
    token counts, not the proof); a two-layer LT separates them."""
    from constructions.fwp.models import FeedForward, SumLayer, check_shapes
    from proofs.fwp import WITNESSES
    from verify.real.numbers import ARB

    lang = language("reset-dyck1")
    rng = np.random.default_rng(11)
    d, H, dh = 4, 2, 2

    def lt(layers: int) -> Model:
        blocks = tuple((SumLayer(H, dh, 1 + 0.1 * rng.normal(size=d), 0.1 * rng.normal(size=d),
                                 rng.normal(size=(3 * H * dh, d)), rng.normal(size=(d, H * dh))),
                        FeedForward(np.ones(d), np.zeros(d), rng.normal(size=(3, d)),
                                    rng.normal(size=3), rng.normal(size=(d, 3)), np.zeros(d)))
                       for _ in range(layers))
        m = Model("lt", lang.alphabet, rng.normal(size=(3, d)), blocks, rng.normal(size=(2, d)),
                  rng.normal(size=2))
        check_shapes(m)
        return m

    for _ in range(3):
        m = lt(1)
        a, b = (run(m, ARB, lang.encode(w))[-1] for w in WITNESSES)
        assert all(x.overlaps(y) for x, y in zip(a, b))
    two = lt(2)
    fa, fb = (run(two, F64, lang.encode(w))[-1] for w in WITNESSES)
    assert not np.allclose(fa, fb)


def test_spectrum_obligation_names_its_dimensions() -> None:
    from proofs.fwp import SPECTRUM, entries

    assert SPECTRUM in {e.name for e in entries()} and "n=2..4" in SPECTRUM


def test_sampled_strings_are_valid() -> None:
    from constructions.fwp.languages import sample

    for name in LANGUAGES:
        lang = language(name)
        toks = sample(lang, 30, random.Random(1))
        assert lang.encode(lang.decode(toks)) == toks
