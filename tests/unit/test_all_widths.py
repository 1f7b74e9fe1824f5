"""Every-width gadget proofs (proofs/all_widths.py): the lemmas prove, corrupted templates are
refuted with counterexamples that replay at a concrete width, corrupted networks fail the
structural check, and the closed forms agree with the built rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

import proofs.all_widths as aw
from constructions.gadgets import (
    Gadget,
    make_branch,
    make_compare,
    make_flag,
    make_match,
    make_subtract,
)
from verify.errors import ParameterError
from verify.network import Layer, Network
from verify.result import Verdict

SMALL = {"match": [{"addr": 1}, {"addr": 3}], "read": [{"words": 2, "bits": 1},
                                                      {"words": 4, "bits": 3}],
         "write": [{"words": 2, "bits": 1}, {"words": 4, "bits": 3}]}
"""A few sizes per family for the structural part of the fast tests (default: 1, 2, 5, 16)."""


def _sizes(fam: aw.Family) -> list[dict[str, int]]:
    if fam.name in SMALL:
        return SMALL[fam.name]
    return [s for s in fam.registered() if s["bits"] in (1, 2, 5, 16)]


@pytest.mark.parametrize("fam", aw.FAMILIES, ids=lambda f: f.name)
def test_family_proved(fam: aw.Family) -> None:
    r = aw.check_family(fam, _sizes(fam))
    assert r.verdict is Verdict.PROVED, r.line()
    assert r.method == "symbolic" and r.checked == r.total
    lemmas = r.details["lemmas"]
    assert lemmas and all(v["status"] == "proved" for v in lemmas.values())
    # checked/total counts the solver's claims plus the structural sizes, nothing else.
    claims = sum(int(v["claims"].split("/")[1]) for v in lemmas.values())
    assert r.total == claims + len(_sizes(fam))
    assert r.obligation == aw.obligation_name(fam) and r.obligation.endswith("=all]")


def _wrong_threshold(fam: aw.Prefix) -> aw.Prefix:
    (s0, t0), *rest = fam.thresholds
    return dataclasses.replace(fam, thresholds=((s0, lambda p: t0(p) + 1), *rest))


MUTANTS = {
    "subtract: threshold 2^i + 1": _wrong_threshold(aw.SUBTRACT),
    "subtract: third threshold 3 2^i - 1": dataclasses.replace(
        aw.SUBTRACT, thresholds=(*aw.SUBTRACT.thresholds[:2], (1, lambda p: 3 * p - 1))),
    "subtract: offset 2^(i+1) + 1": dataclasses.replace(aw.SUBTRACT, offset=lambda p: 2 * p + 1),
    "subtract: step bias off by one": dataclasses.replace(aw.SUBTRACT, step_bias=(1, 1)),
    "subtract: output bias -1": dataclasses.replace(aw.SUBTRACT, out_bias=-1),
    "subtract: weight 2^j + 1": dataclasses.replace(
        aw.SUBTRACT, coefs=(lambda q: -q, lambda q: q + 1)),
    "add: threshold 2^i + 1": _wrong_threshold(aw.ADD),
    "increment: offset 0": dataclasses.replace(aw.INCREMENT, offset=lambda p: 0),
    "increment: threshold 2^i + 1": _wrong_threshold(aw.INCREMENT),
    "match: bias -1": dataclasses.replace(aw.MATCH, shift=-1),
    "match: per-bit constant": dataclasses.replace(aw.MATCH, bit_const=lambda c: -(2 * c - 1)),
    "read: output bias -1": dataclasses.replace(aw.READ, out_bias=-1),
    "read: match bias +1": dataclasses.replace(aw.READ, shift=1),
    "write: merge weight 2": dataclasses.replace(aw.WRITE, merge=(1, -1, 2)),
    "compare: zero bias 2": dataclasses.replace(aw.COMPARE, z_bias=2),
    "compare: sign weight 2": dataclasses.replace(aw.COMPARE, p=2),
    "flag: equality bias -2": dataclasses.replace(aw.FLAG, eq_bias=(1, 0, -2)),
    "flag: threshold 3 2^(N-1) - 1": dataclasses.replace(
        aw.FLAG, thresholds=(*aw.FLAG.thresholds[:2], (1, lambda p: 3 * p - 1))),
    "branch: gate bias 0": dataclasses.replace(aw.BRANCH, g=(1, 1, 0)),
}


@pytest.mark.parametrize("name", MUTANTS)
def test_corrupted_template_refuted_with_replayed_counterexample(name: str) -> None:
    fam = MUTANTS[name]
    r = aw.check_family(fam, sizes=[])
    assert r.verdict is Verdict.REFUTED, r.line()
    cx, info = r.counterexample, r.details["counterexample"]
    assert cx is not None and info["lemma"] in r.details["lemmas"]
    assert r.details["lemmas"][info["lemma"]]["status"] == "refuted"
    # The solver's model names the sizes (every power of two in it is a real power of two) ...
    assert all(v & (v - 1) == 0 for k, v in info["model"].items()
               if k in ("P", "T", "W", "H", "Q", "M") and v > 0)
    # ... and the counterexample replays here, exactly, on the template built at those sizes,
    # against the gadget's own spec.
    sizes = info["sizes"]
    got = fam.template(sizes).forward_exact(cx.inputs)
    want = fam.gadget(sizes).spec(cx.inputs)
    assert cx.network and all(got[o] == cx.network[o] != want[o] == cx.spec[o]
                              for o in cx.network)


def test_subtract_threshold_counterexample_is_the_solver_model() -> None:
    r = aw.check_family(MUTANTS["subtract: threshold 2^i + 1"], sizes=[])
    info = r.details["counterexample"]
    assert info["source"] == "the solver's model, replayed exactly"
    assert info["where"].startswith("bit ") and "bits" in info["sizes"]
    assert r.counterexample is not None
    assert any(o.startswith("R.bit[") for o in r.counterexample.network)


HARMLESS = {
    # Not every change is a bug: with every match shifted up by one the write still cancels
    # the old bit, and BH = ReLU(PC1_i - 2F) is still PC1_i (1 - F).
    "write: match bias +1": dataclasses.replace(aw.WRITE, shift=1),
    "branch: BH = ReLU(PC1_i - 2F)": dataclasses.replace(aw.BRANCH, h=(1, -2, 0)),
}


@pytest.mark.parametrize("name", HARMLESS)
def test_harmless_changes_still_prove(name: str) -> None:
    assert aw.check_family(HARMLESS[name], sizes=[]).verdict is Verdict.PROVED


def _with_weight(net: Network, layer: int, entry: int, delta: int) -> Network:
    layers = list(net.layers)
    old = layers[layer]
    vals = list(old.vals)
    vals[entry] += delta
    layers[layer] = Layer(old.inputs, old.outputs, old.rows, old.cols, tuple(vals), old.bias,
                          old.relu, old.label)
    return Network(tuple(layers), net.name)


def _with_bias(net: Network, layer: int, row: int, delta: int) -> Network:
    layers = list(net.layers)
    old = layers[layer]
    bias = list(old.bias)
    bias[row] += delta
    layers[layer] = Layer(old.inputs, old.outputs, old.rows, old.cols, old.vals, tuple(bias),
                          old.relu, old.label)
    return Network(tuple(layers), net.name)


@pytest.mark.parametrize("fam", aw.FAMILIES, ids=lambda f: f.name)
def test_corrupted_network_fails_structure(fam: aw.Family) -> None:
    sizes = _sizes(fam)[-1]
    net = fam.gadget(sizes).network
    assert aw.structure(fam, sizes) == []
    last = len(net.layers) - 1
    weight = aw.structure(fam, sizes, _with_weight(net, 0, len(net.layers[0].vals) - 1, 1))
    bias = aw.structure(fam, sizes, _with_bias(net, last, 0, -1))
    assert weight and "weight" in weight[0] and "layer 0" in weight[0]
    assert bias and "bias" in bias[0] and net.layers[last].outputs.names[0] in bias[0]


def test_corrupted_builder_not_proved() -> None:
    # A builder whose network differs from the template at a registered width: the obligation
    # searches that width and refutes it with the built network's own counterexample.
    def corrupted(bits: int) -> Gadget:
        g = make_subtract(bits)
        g.__dict__["network"] = _with_bias(g.network, 0, 3, 1)  # the cached compiled network
        return g

    fam = dataclasses.replace(aw.SUBTRACT, maker=corrupted)
    r = aw.check_family(fam, sizes=[{"bits": 1}, {"bits": 3}])
    assert r.verdict is Verdict.REFUTED and "not the template" in r.reason
    assert r.details["structure"]["size"] == "bits=1"
    cx = r.counterexample
    assert cx is not None
    assert corrupted(1).network.forward_exact(cx.inputs) != make_subtract(1).spec(cx.inputs)


def test_vacuous_hypotheses_prove_nothing() -> None:
    def build(s: aw.Scope) -> list[aw.Claim]:
        x = s.int("x")
        return [aw.Claim("", (x >= 1, x <= 0), x == 7)]

    assert aw.prove(aw.Lemma("t/vacuous", "", build)).status == "vacuous"


def _fermat(s: aw.Scope) -> list[aw.Claim]:
    x, y, z = s.int("x"), s.int("y"), s.int("z")
    return [aw.Claim("", (x >= 1, y >= 1, z >= 1), x * x * x + y * y * y != z * z * z)]


def test_undecided_claim_is_unknown() -> None:
    # True (Fermat, n = 3) and out of the solver's reach: never proved, never refuted.
    outcome = aw.prove(aw.Lemma("t/fermat", "", _fermat), timeout=0.05)
    assert outcome.status == "unknown" and outcome.proved == 0 and not outcome.models

    @dataclasses.dataclass(frozen=True)
    class Hard(aw.Family):
        def lemmas(self) -> list[aw.Lemma]:
            return [aw.Lemma("hard/fermat", "", _fermat)]

    r = aw.check_family(Hard("hard"), sizes=[], timeout=0.05)
    assert r.verdict is Verdict.UNKNOWN and "hard/fermat unknown" in r.reason


def test_quotient_hint_is_what_the_composition_needs() -> None:
    # Without the division/unique instance the solver gives up on the subtract composition;
    # with it, the claim is linear reasoning.
    lemma = next(lm for lm in aw.SUBTRACT.lemmas() if lm.name == "subtract/bit")
    scope = aw.Scope(z3.Context())
    (claim,) = lemma.build(scope)
    s = z3.Solver(ctx=scope.ctx)
    s.set("timeout", 2000)
    s.add(*scope.facts, *claim.hypotheses, *claim.hints, z3.Not(claim.goal))
    assert s.check() == z3.unsat


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from([aw.SUBTRACT, aw.ADD, aw.INCREMENT, aw.FLAG]), st.integers(2, 12),
       st.data())
def test_template_networks_meet_the_spec(fam: aw.Family, bits: int, data: st.DataObject) -> None:
    # A differential check of the template's own instantiation (not a proof): random inputs.
    net = fam.template({"bits": bits})
    point = {n: data.draw(st.integers(0, 1)) for n in net.inputs}
    assert aw.replay(fam, {"bits": bits}, point) is None


@pytest.mark.parametrize("bits", [1, 2, 3, 16, 64])
def test_closed_forms_measured(bits: int) -> None:
    assert aw.measured(bits) == aw.expected(bits)


def test_closed_forms_known_values() -> None:
    # docs/precision.md at (16, 16, 64): 98,304 / 393,213 (paper) / 655,355 (compact).
    assert aw.expected(16) == {"pre_paper": 98304, "any_paper": 393213,
                               "pre_compact": 98304, "any_compact": 655355}


def test_closed_forms_proved() -> None:
    r = aw.check_closed_forms(widths=(1, 2, 3, 8, 32))
    assert r.verdict is Verdict.PROVED and r.checked == r.total, r.line()
    assert r.obligation == "precision/closed-forms[N=all]"


@pytest.mark.parametrize("forms", [
    aw.ClosedForms(pre=lambda h: 3 * h - 1),
    aw.ClosedForms(any_paper=lambda h: 12 * h - 4),
    aw.ClosedForms(any_compact=lambda h: 20 * h - 3),
], ids=["pre", "any-paper", "any-compact"])
def test_wrong_closed_form_refuted(forms: aw.ClosedForms) -> None:
    r = aw.check_closed_forms(forms, widths=(2, 3))
    assert r.verdict is Verdict.REFUTED, r.line()
    width = r.details["width"]
    assert width["measured"] == aw.measured(width["bits"]) != width["closed form"]
    assert any(v["status"] == "refuted" for v in r.details["lemmas"].values())


def test_entries() -> None:
    names = [e.name for e in aw.entries()]
    assert len(names) == len(set(names)) == len(aw.FAMILIES) + 1
    assert "gadget/subtract[bits=all]" in names and "precision/closed-forms[N=all]" in names


@pytest.mark.slow
@pytest.mark.parametrize("name", [e.name for e in aw.entries()])
def test_registered_obligations(name: str) -> None:
    entry = next(e for e in aw.entries() if e.name == name)
    r = entry.run(cast(Any, SimpleNamespace(timeout=120.0)))  # the run reads only timeout
    assert r.verdict is Verdict.PROVED and r.checked == r.total, r.line()


@pytest.mark.parametrize("maker, most, least", [
    (make_subtract, aw.MOST_BITS, 1), (make_compare, aw.MOST_BITS, 2),
    (make_flag, aw.MOST_BITS, 2), (make_branch, aw.MOST_BITS, 1), (make_match, 12, 1),
], ids=["subtract", "compare", "flag", "branch", "match"])
def test_builder_range_is_the_checked_range(maker: Callable[[int], Gadget], most: int,
                                             least: int) -> None:
    # The structural check covers every width these builders accept (or, for the prefix-sum
    # families, can be asked to with every_size()): the builders' limits are these.
    maker(most)
    for bad in (least - 1, most + 1):
        with pytest.raises(ParameterError):
            maker(bad)
    fam = {"subtract": aw.SUBTRACT, "compare": aw.COMPARE, "flag": aw.FLAG,
           "branch": aw.BRANCH, "match": aw.MATCH}[maker.__name__.removeprefix("make_")]
    key = "addr" if fam is aw.MATCH else "bits"
    assert [s[key] for s in fam.every_size()] == list(range(least, most + 1))


@pytest.mark.slow
@pytest.mark.parametrize("fam", [aw.SUBTRACT, aw.ADD, aw.INCREMENT], ids=lambda f: f.name)
def test_every_buildable_width(fam: aw.Family) -> None:
    r = aw.check_family(fam, fam.every_size(), timeout=600.0)
    assert r.verdict is Verdict.PROVED and r.checked == r.total, r.line()
