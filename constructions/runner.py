"""Run a looped network until its state is a fixed point (halted) or a step limit.

The arithmetic is chosen once per network from interval bounds over canonical states (every
coordinate in {0, 1}), so each step is exact (see :meth:`verify.network.Network.plan`). With
``check=True`` the reference interpreter runs alongside and every step is compared; the first
disagreement stops the run and is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from verify.errors import ParameterError

from .computer import Computer
from .subleq import State, _step, check_state


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


def run_network(computer: Computer, state: State, max_steps: int, *, trace: bool = False,
                check: bool = False) -> NetworkRun:
    """Loop the network from ``state``; steps count state-changing iterations."""
    check_state(state, computer.size)
    if max_steps < 0:
        raise ParameterError("max_steps", max_steps, "a non-negative integer")
    net = computer.network
    plan = net.plan([(0, 1)] * len(net.inputs))
    x = computer.encode(state)[None, :]
    states: list[State] | None = [state] if trace else None
    ref = state
    steps = 0
    agrees: bool | None = True if check else None
    while True:
        y = net.forward(x, plan.arithmetic)
        if check:
            ref_next = _step(ref, computer.size)
            try:
                got = computer.decode(y[0])
            except ParameterError:  # not even a canonical state: a disagreement, not bad input
                return NetworkRun(ref, steps + 1, False,
                                  f"disagrees with the interpreter at step {steps + 1} "
                                  "(the network left a non-canonical state)", False,
                                  tuple(states) if states is not None else None,
                                  plan.arithmetic)
            if got != ref_next:
                return NetworkRun(got, steps + 1, False,
                                  f"disagrees with the interpreter at step {steps + 1}", False,
                                  tuple(states) if states is not None else None, plan.arithmetic)
            ref = ref_next
        if np.array_equal(y, x):
            halted, reason = True, "halted"
            break
        if steps == max_steps:
            halted, reason = False, "step limit"
            break
        x = y
        steps += 1
        if states is not None:
            states.append(computer.decode(x[0]))
    return NetworkRun(computer.decode(x[0]), steps, halted, reason, agrees,
                      tuple(states) if states is not None else None, plan.arithmetic)
