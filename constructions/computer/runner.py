"""Run a looped network until its state is a fixed point (halted) or a step limit, on the fast
engine (:mod:`.runtime`) or on the reference evaluation (:meth:`verify.network.Network.forward`).

Both are exact: the reference chooses its arithmetic once per network from interval bounds over
canonical states (every coordinate in {0, 1}, see :meth:`verify.network.Network.plan`), the engine
from the computer's precision certificate. With ``check=True`` the reference interpreter runs
alongside and every step is compared; the first disagreement stops the run and is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from constructions.machine.fixpoint import run_to_fixed_point
from constructions.machine.subleq import MachineSize, State, advance, check_state
from verify.errors import ParameterError

from .model import Computer
from .runtime import Engine, step_network

ENGINES = ("engine", "reference")
"""How a network is stepped: the compiled engine (fast) or ``Network.forward`` (the reference,
for cross-checks); both give the same states."""


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


class _Reference:
    """The interpreter's state one step behind the network, kept also as a bit vector so that a
    step is compared with one vector comparison (only ``MEM[b]`` and the PC bits change)."""

    def __init__(self, computer: Computer, state: State) -> None:
        self.size: MachineSize = computer.size
        self.state = state
        self.vec = computer.encode(state)
        size = self.size
        self.pc_at = size.words * size.bits + size.slots * size.ins_bits

    def advance(self) -> None:
        """One interpreter step, the bit vector updated to match."""
        size, old = self.size, self.state
        new = advance(old, size)
        b = old.code[old.pc][1]
        n = size.bits
        word = new.memory[b]
        self.vec[b * n:(b + 1) * n] = [(word >> t) & 1 for t in range(n)]
        self.vec[self.pc_at:] = [(new.pc >> i) & 1 for i in range(size.pc_bits)]
        self.state = new


def run_network(computer: Computer, state: State, max_steps: int, *, trace: bool = False,
                check: bool = False, engine: str = "reference",
                compiled: Engine | None = None) -> NetworkRun:
    """Loop the network from ``state``; steps count state-changing iterations.

    ``engine`` is one of :data:`ENGINES`; ``compiled`` is an :class:`~.runtime.Engine` of the
    same computer to reuse (``engine="engine"`` only). One built here steps
    :func:`~.runtime.step_network` (a folded profile in factored form: the same integer
    function) and takes its partial-sum bound from interval arithmetic: exact like the
    certified bound, and far cheaper to compute at large sizes (a single machine barely runs
    faster in int32 than in int64).
    """
    check_state(state, computer.size)
    if max_steps < 0:
        raise ParameterError("max_steps", max_steps, "a non-negative integer")
    if engine not in ENGINES:
        raise ParameterError("engine", engine, f"one of {', '.join(ENGINES)}")
    if engine == "engine":
        if compiled is None:
            fast = Engine(step_network(computer), bounds="interval")
        elif compiled.computer is not computer:
            raise ParameterError("compiled", "an engine of another computer",
                                 "an Engine built from this computer")
        else:
            fast = compiled
        arithmetic = fast.arithmetic
        if not trace and not check:
            done = fast.run(computer.encode(state)[None, :], max_steps)
            halted = bool(done.halted[0])
            return NetworkRun(computer.decode(done.states[0]), int(done.steps[0]), halted,
                              "halted" if halted else "step limit", None, None, arithmetic)
        forward: Callable[[np.ndarray], np.ndarray] = fast.stepper()
    else:
        net = computer.network
        arithmetic = net.plan([(0, 1)] * len(net.inputs)).arithmetic

        def forward(x: np.ndarray) -> np.ndarray:
            return net.forward(x[None, :], arithmetic)[0]
    return _loop(computer, state, max_steps, forward, trace, check, arithmetic)


def _loop(computer: Computer, state: State, max_steps: int,
          forward: Callable[[np.ndarray], np.ndarray], trace: bool, check: bool,
          arithmetic: str) -> NetworkRun:
    """Step by step, with the trace kept and every step compared with the interpreter when
    asked."""
    states: list[State] | None = [state] if trace else None
    shown = (lambda: tuple(states)) if states is not None else (lambda: None)
    ref = _Reference(computer, state) if check else None
    calls = [0]

    def step(x: np.ndarray) -> np.ndarray:
        y = forward(x)
        if ref is not None:
            calls[0] += 1
            at = calls[0]  # the step the network just took
            before = ref.state
            ref.advance()
            if not np.array_equal(y, ref.vec):
                try:
                    got = computer.decode(y)
                except ParameterError:  # not even a canonical state: a disagreement
                    raise _DisagreementError(NetworkRun(
                        before, at, False, f"disagrees with the interpreter at step {at} (the "
                        "network left a non-canonical state)", False, shown(),
                        arithmetic)) from None
                raise _DisagreementError(NetworkRun(
                    got, at, False, f"disagrees with the interpreter at step {at}", False,
                    shown(), arithmetic))
        return y

    try:
        done = run_to_fixed_point(step, computer.encode(state), max_steps,
                                  same=np.array_equal,
                                  visit=(lambda x: states.append(computer.decode(x)))
                                  if states is not None else None)
    except _DisagreementError as e:
        return e.run
    return NetworkRun(computer.decode(done.state), done.steps, done.halted, done.reason,
                      True if check else None, shown(), arithmetic)
