"""Every default obligation of the fast weight programmer family, with its expected verdict."""

from __future__ import annotations

import pytest

from proofs.fwp import entries
from proofs.registry import all_entries, run_entry
from verify.methods import Options
from verify.result import Verdict

DEFAULT = [e for e in entries() if not e.slow]
# the default obligations that take a few seconds on a loaded two-core machine
HEAVY = {"fwp/lt/shuffle2/all-lengths"}


def test_registered() -> None:
    names = {e.name for e in all_entries()}
    assert {e.name for e in entries()} <= names


@pytest.mark.parametrize("entry", [pytest.param(e, marks=pytest.mark.slow) if e.name in HEAVY
                                   else e for e in DEFAULT], ids=[e.name for e in DEFAULT])
def test_default_obligation_proved(entry: object) -> None:
    r = run_entry(entry, Options("auto", 60.0))  # type: ignore[arg-type]
    assert r.verdict is Verdict.PROVED, r.line()


def test_recdelta_all_lengths_refuted_with_replayed_witness() -> None:
    entry = next(e for e in entries() if e.name == "fwp/recdelta/parity/all-lengths")
    r = run_entry(entry, Options("auto", 60.0))
    assert r.verdict is Verdict.REFUTED
    assert r.counterexample is not None
    assert "0^" in r.line() and r.counterexample.to_json()["spec"]["class"] == 0


def test_latch_all_lengths_refuted_one_symbol_past_its_bound() -> None:
    byname = {e.name: e for e in entries()}
    r = run_entry(byname["fwp/ltdelta/reset-dyck1/all-lengths"], Options("auto", 60.0))
    assert r.verdict is Verdict.REFUTED and r.counterexample is not None, r.line()
    cx = r.counterexample.to_json()
    bound = r.details["proved_length"]
    assert cx["inputs"]["length"] == bound + 1 and cx["spec"]["class"] == 1
    assert cx["inputs"]["string"] == f"(^{bound - 1} 1 ("


def test_corrupted_counter_refuted_by_z3_with_a_replayed_string() -> None:
    from constructions.fwp.counters import lt_dyck1
    from constructions.fwp.languages import counter_invariant, language
    from constructions.fwp.models import replace_array
    from proofs.fwp_checks import counter_result

    base = lt_dyck1()
    m = replace_array(base, "out_b", base.out_b + [0.0, -1.5])  # depth 1 now reads as empty
    r = counter_result("x", m, language("dyck1"), counter_invariant("dyck1"), 30.0)
    assert r.verdict is Verdict.REFUTED, r.line()
    assert r.counterexample is not None


def test_corrupted_srwm_not_proved() -> None:
    from constructions.fwp.languages import PARITY_DFA
    from constructions.fwp.models import replace_array
    from constructions.fwp.srwm import srwm_dfa
    from proofs.fwp import dfa_all_lengths

    base = srwm_dfa(PARITY_DFA)
    wk = base.blocks[0][0].W_k.copy()
    wk[0, 3, 0] = 0.0  # keys no longer constant: the precondition fails
    m = replace_array(base, "blocks.0.W_k", wk)
    r = dfa_all_lengths("x", m, PARITY_DFA)
    assert r.verdict is Verdict.UNKNOWN and "unequal rows" in r.reason
