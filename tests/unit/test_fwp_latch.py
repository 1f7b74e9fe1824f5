"""The LT + DeltaNet reset Dyck-1 latch: its structure checked, its bound and its witness meeting,
its per-count table enclosing the float values, and corrupted copies stopped."""

from __future__ import annotations

import numpy as np
import pytest

from constructions.fwp.languages import language
from constructions.fwp.ltdelta import gap_failure, lt_delta_reset_dyck1
from constructions.fwp.models import replace_array, run
from proofs.fwp_latch import (
    Table,
    check_structure,
    conditions_hold,
    head_inputs,
    prove_bound,
    refute,
    table,
)
from verify.errors import LoopmlpError
from verify.real.numbers import F64, Arb

LANG = language("reset-dyck1")


def _decide(model: object, text: str) -> int:
    return int(np.argmax(run(model, F64, LANG.encode(text))[-1]))  # type: ignore[arg-type]


def test_bound_meets_the_witness() -> None:
    """Every string up to N + 1 is proved and ``(^N 1 (`` (length N + 2) is refuted, with N
    where the float guide puts the gap failure; float64 agrees on both sides."""
    gamma = 2.0 ** -5  # a shorter version of the same construction, so the test stays fast
    model = lt_delta_reset_dyck1(gamma=gamma)
    b = prove_bound(model)
    N = gap_failure(gamma=gamma)
    assert b.failing_count == N and b.length == N + 1, b
    w = refute(model, N)
    assert (w.target, w.decision) == (1, 0) and w.text == f"(^{N} 1 ("
    assert _decide(model, "(" * N + "1(") == 0
    assert _decide(model, "(" * (N - 1) + "1(") == 1
    with pytest.raises(LoopmlpError, match="does not certify"):
        refute(model, N - 1)


def test_bound_limit_is_respected() -> None:
    b = prove_bound(lt_delta_reset_dyck1(), limit=100)
    assert b.length == 100 and b.failing_count is None and b.min_margin > 0.4


def test_table_encloses_the_float_values() -> None:
    model = lt_delta_reset_dyck1()
    facts = check_structure(model, LANG)
    nb = Arb(64)
    with nb.context():
        tb = table(model, facts, 40, nb)
        for c in (0, 1, 7, 40):
            for a in range(3):
                vt, _, va, _ = head_inputs(model, nb, facts, a, c)
                assert tb.f_lo[c] <= nb.lower(vt) and nb.upper(va) <= tb.f_hi[c]
    # the float value of the second layer's value after "(" * c: c / sqrt(1 + kappa c^2)
    kappa = 2 * 2.0 ** -16 / model.d
    for c in (1, 7, 40):
        f = c / np.sqrt(1 + kappa * c * c)
        assert tb.f_lo[c] <= f <= tb.f_hi[c] and tb.f_hi[c] - tb.f_lo[c] < 1e-12


def test_checks_refuse_a_table_that_breaks_the_induction() -> None:
    model = lt_delta_reset_dyck1()
    facts = check_structure(model, LANG)
    nb = Arb(64)
    with nb.context():
        tb = table(model, facts, 20, nb)
    assert conditions_hold(facts, tb, 20)[0]
    dip = Table(list(tb.f_lo), list(tb.f_hi), list(tb.leak))
    dip.f_lo[5] = dip.f_lo[4] - 1  # not non-decreasing
    assert not conditions_hold(facts, dip, 20)[0]
    leaky = Table(list(tb.f_lo), list(tb.f_hi), [0.01] * 21)  # a gate that leaks 1%
    assert not conditions_hold(facts, leaky, 20)[0]
    wide = Table(list(tb.f_lo), [x + 0.6 for x in tb.f_hi], list(tb.leak))  # depth 0 undecided
    assert not conditions_hold(facts, wide, 20)[0]


@pytest.mark.parametrize("key, index, value, needle", [
    ("blocks.1.slow", (4 * 5 + 2, 30), 1.0, "heads with a value weight"),
    ("out_w", (1, 30), 1e-3, "count from the residual"),
    ("out_w", (1, 0), 1e-3, "current symbol"),
    ("blocks.1.out", (33, 1), 2.0, "weighs the two heads"),
    ("blocks.0.slow", (0, 0), 1.0, "affine in the count"),
])
def test_structure_is_checked_not_assumed(key: str, index: tuple[int, int], value: float,
                                          needle: str) -> None:
    model = lt_delta_reset_dyck1()
    arr = np.array(model.arrays()[key], dtype=np.float64)
    arr[index] = value
    bad = replace_array(model, key, arr)
    with pytest.raises(LoopmlpError, match=needle):
        check_structure(bad, LANG)


def test_a_weak_gate_stops_the_bound_before_the_first_wrong_string() -> None:
    model = lt_delta_reset_dyck1()
    slow = np.array(model.blocks[1][0].slow)
    slow[3, 20] = 3.0  # the latch's reset gate: sigmoid(3) leaves 5% of the old value
    bad = replace_array(model, "blocks.1.slow", slow)
    b = prove_bound(bad, limit=200)
    # the reset after c openings latches about 0.95 f(c): depth 0 reads as positive once
    # 0.05 c > 1/2 (float64 finds it, a sanity check); the bound stays below that length
    wrong = next(c for c in range(1, 40) if _decide(bad, "(" * c + "1") == 1)
    assert 0 <= b.length < wrong + 1, (b.length, wrong)
