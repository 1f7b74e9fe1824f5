"""The loop every runner of a machine uses: apply a step until the state stops changing (the
machine halted) or a step limit is reached."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

S = TypeVar("S")


@dataclass(frozen=True)
class Stopped(Generic[S]):
    """Where a run stopped: the last state reached, the state-changing steps taken, and
    whether that state is a fixed point of the step."""

    state: S
    steps: int
    halted: bool

    @property
    def reason(self) -> str:
        """``halted`` or ``step limit``."""
        return "halted" if self.halted else "step limit"


def run_to_fixed_point(step: Callable[[S], S], state: S, max_steps: int, *,
                       same: Callable[[S, S], bool] = operator.eq,
                       visit: Callable[[S], None] | None = None) -> Stopped[S]:
    """Apply ``step`` until it returns a state ``same`` as the one it was given (halted) or
    ``max_steps`` state-changing steps are done; ``visit`` sees every state reached after the
    first.

    A state reached after exactly ``max_steps`` steps that is itself a fixed point counts as
    halted: the limit bounds the steps taken, not the final fixed-point test.
    """
    steps = 0
    while True:
        nxt = step(state)
        if same(nxt, state):
            return Stopped(state, steps, True)
        if steps == max_steps:
            return Stopped(state, steps, False)
        state = nxt
        steps += 1
        if visit is not None:
            visit(state)
