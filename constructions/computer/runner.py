"""Run a looped network until its state is a fixed point (halted) or a step limit.

The arithmetic is chosen once per network from interval bounds over canonical states (every
coordinate in {0, 1}), so each step is exact (see :meth:`verify.network.Network.plan`). With
``check=True`` the reference interpreter runs alongside and every step is compared; the first
disagreement stops the run and is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from constructions.machine.fixpoint import run_to_fixed_point
from constructions.machine.subleq import State, advance, check_state
from verify.errors import ParameterError

from .model import Computer


@dataclass(frozen=True)
class NetworkRun:
    """The outcome of running a computer on a state."""

    state: State
    steps: int
    halted: bool
    reason: str  # "halted" | "step limit" | "disagrees with the interpreter at step S"
    agrees_with_interpreter: bool | None
    trace: tuple[State, ...] | None = None
    arithmetic: str = ""


class _DisagreementError(Exception):
    """The network's step left the interpreter's: the run ends with this result."""

    def __init__(self, run: NetworkRun) -> None:
        super().__init__(run.reason)
        self.run = run


def run_network(computer: Computer, state: State, max_steps: int, *, trace: bool = False,
                check: bool = False) -> NetworkRun:
    """Loop the network from ``state``; steps count state-changing iterations."""
    check_state(state, computer.size)
    if max_steps < 0:
        raise ParameterError("max_steps", max_steps, "a non-negative integer")
    net = computer.network
    arithmetic = net.plan([(0, 1)] * len(net.inputs)).arithmetic
    states: list[State] | None = [state] if trace else None
    shown = (lambda: tuple(states)) if states is not None else (lambda: None)
    ref = [state]  # the interpreter's state, one step behind the network's output
    calls = [0]

    def step(x: np.ndarray) -> np.ndarray:
        y = net.forward(x, arithmetic)
        if check:
            calls[0] += 1
            at = calls[0]  # the step the network just took
            ref_next = advance(ref[0], computer.size)
            try:
                got = computer.decode(y[0])
            except ParameterError:  # not even a canonical state: a disagreement, not bad input
                raise _DisagreementError(NetworkRun(
                    ref[0], at, False, f"disagrees with the interpreter at step {at} (the "
                    "network left a non-canonical state)", False, shown(), arithmetic)) from None
            if got != ref_next:
                raise _DisagreementError(NetworkRun(
                    got, at, False, f"disagrees with the interpreter at step {at}", False,
                    shown(), arithmetic))
            ref[0] = ref_next
        return y

    try:
        done = run_to_fixed_point(step, computer.encode(state)[None, :], max_steps,
                                  same=np.array_equal,
                                  visit=(lambda x: states.append(computer.decode(x[0])))
                                  if states is not None else None)
    except _DisagreementError as e:
        return e.run
    return NetworkRun(computer.decode(done.state[0]), done.steps, done.halted, done.reason,
                      True if check else None, shown(), arithmetic)
