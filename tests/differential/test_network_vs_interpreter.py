"""The looped network against the reference interpreter, after every step, on random machines.

A random machine is a random instruction table (every triple in range, or a short program padded
with the halting filler), random memory words (with the sign and wrap-around boundaries drawn
often) and a random PC. Each is stepped by the network of every profile in ``PROFILES`` and by
:func:`constructions.machine.subleq.step`; after every step the decoded network state must equal the
interpreter's exactly (memory, code and PC), every coordinate must be 0 or 1, and the code must
never change.

Three drivers:

- a batch of machines stepped in lockstep through ``Network.forward`` in the arithmetic the
  runner chooses (the plan over canonical states),
- :func:`constructions.computer.runner.run_network` with ``trace`` and ``check`` against
  :func:`constructions.machine.subleq.run` (steps, halting, reason, trace),
- a stateful test that interleaves single network steps, memory and PC pokes (decoded from the
  network's vector, changed, re-encoded) and short checked runs; this one also runs the
  profiles written from formulas (``three-layer``, ``two-layer``).

Computers are built once per (profile, size). Sizes up to M = 64, N = 16, K = 64; the larger
ones are slow (building, and the dense float path of the mid-sized layers).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from constructions.computer import ALL_PROFILES, PROFILES, Computer, build, state_names
from constructions.computer.runner import run_network
from constructions.machine.subleq import MachineSize, State, make_state, run, step

Size = tuple[int, int, int]  # (words, bits, slots)

FAST_SIZES: tuple[Size, ...] = ((2, 2, 2), (4, 4, 4), (8, 8, 8), (4, 16, 4), (8, 16, 8))
SLOW_SIZES: tuple[Size, ...] = ((16, 16, 16), (16, 16, 64), (64, 16, 64))


@functools.cache
def computer(profile: str, size: Size) -> tuple[Computer, str]:
    """The computer of ``profile`` at ``size`` and the exact arithmetic its runner uses."""
    comp = build(profile, MachineSize(*size))
    net = comp.network
    return comp, net.plan([(0, 1)] * len(net.inputs)).arithmetic


# --------------------------------------------------------------------------- strategies


def words(bits: int) -> st.SearchStrategy[int]:
    """Unsigned N-bit words, with 0, +-1 and the signed extremes drawn often."""
    top = 1 << bits
    edges = sorted({0, 1, 2, top - 1, top - 2, top // 2 - 1, top // 2, top // 2 + 1})
    return st.one_of(st.sampled_from(edges), st.integers(0, top - 1))


@st.composite
def machines(draw: st.DrawFn, size: MachineSize) -> State:
    """A valid state: random triples in every slot, or a shorter program padded with filler."""
    M, N, K = size.words, size.bits, size.slots
    triple = st.tuples(st.integers(0, M - 1), st.integers(0, M - 1), st.integers(0, K - 1))
    n_code = draw(st.one_of(st.just(K), st.integers(1, K)))
    code = draw(st.lists(triple, min_size=n_code, max_size=n_code))
    memory = draw(st.lists(words(N), min_size=M, max_size=M))
    pc = draw(st.integers(0, K - 1))
    return make_state(size, memory, code, pc)


# --------------------------------------------------------------------------- lockstep


def lockstep(profile: str, size: Size, states: list[State], steps: int) -> None:
    """Step every state ``steps`` times as one batch; compare with the interpreter each time."""
    comp, arith = computer(profile, size)
    ms = comp.size
    x = np.stack([comp.encode(s) for s in states])
    assert x.shape == (len(states), len(state_names(ms)))
    refs = list(states)
    for t in range(1, steps + 1):
        y = comp.network.forward(x, arith)
        assert y.shape == x.shape
        bad = np.argwhere((y != 0) & (y != 1))
        assert not bad.size, (
            f"{profile}{size} step {t}: machine {bad[0][0]} has "
            f"{comp.state.names[bad[0][1]]} = {y[tuple(bad[0])]} (not a bit)"
        )
        for i, ref in enumerate(refs):
            want = step(ref, ms)
            got = comp.decode(y[i])
            assert got.code == states[i].code, f"{profile}{size} step {t}: code changed"
            assert got == want, (
                f"{profile}{size} step {t}, machine {i}: network pc={got.pc} "
                f"memory={got.memory}, interpreter pc={want.pc} memory={want.memory}; "
                f"initial state {states[i]}"
            )
            refs[i] = want
        x = y


def _lockstep_test(sizes: tuple[Size, ...], examples: int, max_batch: int,
                   max_steps: int) -> Callable[..., None]:
    @pytest.mark.parametrize("size", sizes, ids=lambda s: "M{}N{}K{}".format(*s))
    @pytest.mark.parametrize("profile", PROFILES)
    @settings(max_examples=examples, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def test(profile: str, size: Size, data: st.DataObject) -> None:
        ms = MachineSize(*size)
        states = data.draw(st.lists(machines(ms), min_size=1, max_size=max_batch), "states")
        steps = data.draw(st.integers(max_steps // 3, max_steps), "steps")
        lockstep(profile, size, states, steps)

    return test


test_lockstep_small = _lockstep_test(FAST_SIZES, examples=25, max_batch=4, max_steps=30)
test_lockstep_large = pytest.mark.slow(
    _lockstep_test(SLOW_SIZES, examples=5, max_batch=16, max_steps=24)
)


# --------------------------------------------------------------------------- the runner


@pytest.mark.parametrize("size", ((2, 2, 2), (4, 8, 4), (8, 16, 8)),
                         ids=lambda s: "M{}N{}K{}".format(*s))
@pytest.mark.parametrize("profile", PROFILES)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_runner_matches_interpreter_run(profile: str, size: Size, data: st.DataObject) -> None:
    comp, arith = computer(profile, size)
    ms = comp.size
    state = data.draw(machines(ms), "state")
    limit = data.draw(st.integers(0, 25), "max_steps")
    want = run(state, ms, limit, trace=True)
    got = run_network(comp, state, limit, trace=True, check=True)
    assert got.agrees_with_interpreter is True, got.reason
    assert (got.steps, got.halted, got.reason) == (want.steps, want.halted, want.reason)
    assert got.state == want.state
    assert got.trace == want.trace
    assert got.arithmetic == arith


# --------------------------------------------------------------------------- stateful


def lockstep_machine(profile: str, size: Size) -> type[RuleBasedStateMachine]:
    """A state machine holding one network vector and the interpreter's state beside it."""
    ms = MachineSize(*size)

    class Lockstep(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.comp, self.arith = computer(profile, size)
            self.x: np.ndarray | None = None
            self.ref: State | None = None
            self.code: tuple[tuple[int, int, int], ...] = ()

        @initialize(state=machines(ms))
        def load(self, state: State) -> None:
            self.x = self.comp.encode(state)[None, :]
            self.ref = state
            self.code = state.code

        def decoded(self) -> State:
            assert self.x is not None
            return self.comp.decode(self.x[0])

        @rule()
        def network_step(self) -> None:
            assert self.x is not None and self.ref is not None
            self.x = self.comp.network.forward(self.x, self.arith)
            self.ref = step(self.ref, ms)

        @rule(addr=st.integers(0, ms.words - 1), value=words(ms.bits))
        def poke_memory(self, addr: int, value: int) -> None:
            assert self.ref is not None
            now = self.decoded()
            memory = list(now.memory)
            memory[addr] = value
            self.x = self.comp.encode(dataclasses.replace(now, memory=tuple(memory)))[None, :]
            ref_memory = list(self.ref.memory)
            ref_memory[addr] = value
            self.ref = dataclasses.replace(self.ref, memory=tuple(ref_memory))

        @rule(pc=st.integers(0, ms.slots - 1))
        def poke_pc(self, pc: int) -> None:
            assert self.ref is not None
            self.x = self.comp.encode(dataclasses.replace(self.decoded(), pc=pc))[None, :]
            self.ref = dataclasses.replace(self.ref, pc=pc)

        @rule(limit=st.integers(0, 6))
        def checked_run(self, limit: int) -> None:
            assert self.ref is not None
            got = run_network(self.comp, self.decoded(), limit, check=True)
            want = run(self.ref, ms, limit)
            assert got.agrees_with_interpreter is True, got.reason
            assert (got.state, got.steps, got.halted) == (want.state, want.steps, want.halted)
            self.x = self.comp.encode(got.state)[None, :]
            self.ref = want.state

        @invariant()
        def agrees(self) -> None:
            if self.x is None or self.ref is None:
                return
            assert set(np.unique(self.x)) <= {0, 1}
            now = self.decoded()
            assert now.code == self.code, "the code changed"
            assert now == self.ref, (
                f"network pc={now.pc} memory={now.memory}, "
                f"interpreter pc={self.ref.pc} memory={self.ref.memory}"
            )

    Lockstep.__name__ = Lockstep.__qualname__ = (
        f"Lockstep_{profile.replace('-', '_')}_M{size[0]}N{size[1]}K{size[2]}"
    )
    return Lockstep


STATEFUL = settings(max_examples=15, stateful_step_count=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

TestStatefulPaper = lockstep_machine("paper", (8, 8, 8)).TestCase
TestStatefulPaper.settings = STATEFUL
TestStatefulPaperMinimal = lockstep_machine("paper-minimal", (4, 16, 8)).TestCase
TestStatefulPaperMinimal.settings = STATEFUL
TestStatefulCompact = lockstep_machine("compact", (4, 16, 8)).TestCase
TestStatefulCompact.settings = STATEFUL
TestStatefulThreeLayer = lockstep_machine("three-layer", (4, 16, 8)).TestCase
TestStatefulThreeLayer.settings = STATEFUL
TestStatefulTwoLayer = lockstep_machine("two-layer", (4, 16, 8)).TestCase
TestStatefulTwoLayer.settings = STATEFUL
TestStatefulLarge = pytest.mark.slow(lockstep_machine("paper", (64, 16, 64)).TestCase)
TestStatefulLarge.settings = settings(STATEFUL, max_examples=5)


def test_stateful_covers_every_profile() -> None:
    assert set(ALL_PROFILES) == {"paper", "paper-minimal", "compact", "three-layer",
                                 "two-layer"}, (
        "add a stateful test for a new profile")


# --------------------------------------------------------------------------- known bugs


def test_runner_at_64_bits() -> None:
    comp, _ = computer("paper-minimal", (2, 64, 2))
    state = make_state(comp.size, [1, 1 << 63], [(0, 1, 1), (1, 0, 0)])
    got = run_network(comp, state, 4, check=True)
    assert got.agrees_with_interpreter is True, got.reason
    assert got.state == run(state, comp.size, 4).state
