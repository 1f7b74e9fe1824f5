"""The contract lemmas of the computer replay every solver counterexample before refuting."""

from __future__ import annotations

from typing import Any

import pytest

import proofs.computer as computer
from constructions.machine.subleq import MachineSize
from verify.errors import InternalError
from verify.methods.solvers import Answer, Decision
from verify.result import Verdict

SIZE = MachineSize(words=2, bits=2, slots=2)


def _sat(model: dict[str, int]) -> Any:
    def decide(*_: Any, **__: Any) -> Decision:
        return Decision("test", "sat", (Answer("z3", "sat", 0.0, model=model),))
    return decide


def test_a_counterexample_that_does_not_replay_is_an_internal_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a, b, c in range pack and split back unchanged: no difference, so no refutation.
    monkeypatch.setattr(computer, "decide", _sat({"a": 1, "b": 0, "c": 1}))
    with pytest.raises(InternalError, match="does not replay"):
        computer.contracts_check(SIZE, 5.0)


def test_a_counterexample_outside_the_ranges_is_an_internal_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(computer, "decide", _sat({"a": 7, "b": 0, "c": 0}))
    with pytest.raises(InternalError, match="does not replay"):
        computer.contracts_check(SIZE, 5.0)


def test_a_replayed_difference_is_refuted(monkeypatch: pytest.MonkeyPatch) -> None:
    # With the write contract broken, a real state steps differently and the model replays.
    monkeypatch.setattr(computer, "write_contract", lambda memory, b, r: list(memory))
    verdict, why = computer.contracts_check(SIZE, 30.0)
    assert verdict is Verdict.REFUTED and why.startswith("execution")


def test_the_true_lemmas_are_proved() -> None:
    verdict, width = computer.contracts_check(SIZE, 30.0)
    assert verdict is Verdict.PROVED and width > 0
