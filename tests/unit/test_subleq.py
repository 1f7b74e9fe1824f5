"""The SUBLEQ machine: hand-computed steps, halting, the runner, and the symbolic step."""

from __future__ import annotations

import re

import numpy as np
import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions.machine.subleq import (
    MachineSize,
    State,
    check_state,
    filler,
    is_halted,
    make_state,
    run,
    signed_memory,
    step,
    step_symbolic,
)
from verify.errors import LoopmlpError, ParameterError

S8 = MachineSize(words=4, bits=8, slots=4)


def one_step(memory: list[int], ins: tuple[int, int, int], pc: int = 0) -> State:
    """Run the single instruction ``ins`` placed at slot ``pc`` of an 8-bit, 4-word machine."""
    code = [filler(j) for j in range(S8.slots)]
    code[pc] = ins
    return step(make_state(S8, memory, code, pc), S8)


# --- sizes -----------------------------------------------------------------------------------


def test_size_properties() -> None:
    size = MachineSize(words=8, bits=16, slots=4)
    assert (size.addr_bits, size.pc_bits, size.ins_bits) == (3, 2, 8)
    assert MachineSize(words=np.int64(2), bits=2, slots=2).words == 2  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(words=2**40), "words=1099511627776: need a power of two from 2 to 65536"),
        (dict(words=3), "words=3: need a power of two from 2 to 65536"),
        (dict(words=1), "words=1: need a power of two from 2 to 65536"),
        (dict(words=0), "words=0: need a power of two from 2 to 65536"),
        (dict(slots=2**17), "slots=131072: need a power of two from 2 to 65536"),
        (dict(slots=-4), "slots=-4: need a power of two from 2 to 65536"),
        (dict(bits=1), "bits=1: need an integer from 2 to 64"),
        (dict(bits=65), "bits=65: need an integer from 2 to 64"),
        (dict(bits=True), "bits=True: need an integer from 2 to 64"),
        (dict(bits="8"), "bits='8': need an integer from 2 to 64"),
        (dict(words=4.0), "words=4.0: need a power of two from 2 to 65536"),
    ],
)
def test_size_validation(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = dict(words=4, bits=8, slots=4) | kwargs
    with pytest.raises(ParameterError) as info:
        MachineSize(**args)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert isinstance(info.value, LoopmlpError)


# --- hand-computed steps ---------------------------------------------------------------------


def test_negative_result_branches() -> None:
    s = one_step([0, 5, 3, 0], (1, 2, 3))  # MEM[2] = 3 - 5 = -2
    assert s.memory == (0, 5, 254, 0) and s.pc == 3


def test_positive_result_falls_through() -> None:
    s = one_step([0, 5, 3, 0], (2, 1, 3))  # MEM[1] = 5 - 3 = 2
    assert s.memory == (0, 2, 3, 0) and s.pc == 1


def test_zero_result_branches() -> None:
    s = one_step([0, 5, 5, 0], (1, 2, 0), pc=1)
    assert s.memory == (0, 5, 0, 0) and s.pc == 0


def test_same_operand_writes_zero_and_jumps() -> None:
    s = one_step([0, 77, 0, 0], (1, 1, 2))
    assert s.memory == (0, 0, 0, 0) and s.pc == 2


def test_wrap_around_negative_to_positive() -> None:
    s = one_step([1, 128, 0, 0], (0, 1, 3))  # -128 - 1 = -129 wraps to 127 > 0
    assert s.memory == (1, 127, 0, 0) and s.pc == 1


def test_wrap_around_positive_to_negative() -> None:
    s = one_step([255, 127, 0, 0], (0, 1, 3))  # 127 - (-1) = 128 wraps to -128 <= 0
    assert s.memory == (255, 128, 0, 0) and s.pc == 3
    assert signed_memory(s, S8) == (-1, -128, 0, 0)


def test_pc_wraps_mod_slots() -> None:
    s = one_step([0, 5, 3, 0], (2, 1, 0), pc=3)
    assert s.pc == 0


def test_code_is_not_data() -> None:
    state = make_state(S8, [0, 5, 3, 0], [(1, 2, 3), (2, 1, 0)])
    assert step(state, S8).code == state.code


# --- halting and the runner ------------------------------------------------------------------


def test_halt_on_zero_word_is_fixed_point() -> None:
    state = make_state(S8, [0, 9], [(0, 0, 0)])
    assert is_halted(state, S8)


def test_self_jump_on_nonzero_word_halts_after_one_step() -> None:
    state = make_state(S8, [0, 9], [(1, 1, 0)])
    assert not is_halted(state, S8)
    result = run(state, S8, max_steps=10)
    assert result.halted and result.reason == "halted" and result.steps == 1
    assert result.state.memory == (0, 0, 0, 0)


def test_filler_pads_unused_slots() -> None:
    state = make_state(S8, [3], [(0, 0, 1)])
    assert state.code == ((0, 0, 1), (0, 0, 1), (0, 0, 2), (0, 0, 3))
    assert state.memory == (3, 0, 0, 0)


def countdown() -> State:
    # n at address 1 counts 3, 2, 1, 0; one at 2; zero at 0.
    return make_state(S8, [0, 3, 1], [(2, 1, 2), (0, 0, 0), (0, 0, 2)])


def test_run_counts_state_changing_steps() -> None:
    result = run(countdown(), S8, max_steps=100, trace=True)
    # (sub, jump) x2, sub to 0 -> slot 2 which is already a fixed point.
    assert result.halted and result.steps == 5
    assert result.state.memory[1] == 0 and result.state.pc == 2
    assert result.trace is not None and len(result.trace) == result.steps + 1
    assert result.trace[0] == countdown() and result.trace[-1] == result.state
    for before, after in zip(result.trace, result.trace[1:], strict=False):
        assert step(before, S8) == after


def test_run_step_limit() -> None:
    result = run(countdown(), S8, max_steps=3)
    assert not result.halted and result.reason == "step limit" and result.steps == 3
    assert result.trace is None
    assert run(countdown(), S8, max_steps=5).halted  # the limit bounds steps, not the test


def test_run_zero_steps_on_halted_state() -> None:
    state = make_state(S8, [], [(0, 0, 0)])
    result = run(state, S8, max_steps=0)
    assert result.halted and result.steps == 0 and result.state == state


def test_run_rejects_negative_limit() -> None:
    with pytest.raises(ParameterError, match="max_steps=-1"):
        run(countdown(), S8, max_steps=-1)


@pytest.mark.parametrize(
    ("state", "name"),
    [
        (State((0,) * 3, (filler(0),) * 4, 0), "len(memory)=3"),
        (State((0, 0, 256, 0), tuple(filler(j) for j in range(4)), 0), "memory[2]=256"),
        (State((0, 0, -1, 0), tuple(filler(j) for j in range(4)), 0), "memory[2]=-1"),
        (State((0,) * 4, (filler(0),) * 3, 0), "len(code)=3"),
        (State((0,) * 4, ((0, 4, 0),) * 4, 0), "code[0]=(0, 4, 0)"),
        (State((0,) * 4, ((0, 0, 4),) * 4, 0), "code[0]=(0, 0, 4)"),
        (State((0,) * 4, tuple(filler(j) for j in range(4)), 4), "pc=4"),
    ],
)
def test_check_state(state: State, name: str) -> None:
    with pytest.raises(ParameterError, match=re.escape(name)):
        check_state(state, S8)
    with pytest.raises(ParameterError):
        step(state, S8)


def test_make_state_rejects_out_of_range_values() -> None:
    with pytest.raises(ParameterError, match=re.escape("memory[0]=256")):
        make_state(S8, [256])
    with pytest.raises(ParameterError, match=re.escape("memory[0]=-129")):
        make_state(S8, [-129])
    assert make_state(S8, [-128, 255]).memory[:2] == (128, 255)


# --- one definition, three kinds of value ----------------------------------------------------


def states(size: MachineSize) -> st.SearchStrategy[State]:
    word = st.integers(0, (1 << size.bits) - 1)
    ins = st.tuples(
        st.integers(0, size.words - 1),
        st.integers(0, size.words - 1),
        st.integers(0, size.slots - 1),
    )
    return st.builds(
        State,
        st.lists(word, min_size=size.words, max_size=size.words).map(tuple),
        st.lists(ins, min_size=size.slots, max_size=size.slots).map(tuple),
        st.integers(0, size.slots - 1),
    )


SMALL = MachineSize(words=4, bits=6, slots=4)
_MEM = [z3.Int(f"m{i}") for i in range(SMALL.words)]
_CODE = [tuple(z3.Int(f"{f}{j}") for f in "abc") for j in range(SMALL.slots)]
_PC = z3.Int("pc")
_SYM_MEM, _SYM_PC = step_symbolic(_MEM, _CODE, _PC, SMALL)


def _concrete(term: z3.ExprRef, state: State) -> int:
    subs = [(_MEM[i], z3.IntVal(v)) for i, v in enumerate(state.memory)]
    subs += [(_PC, z3.IntVal(state.pc))]
    for j, ins in enumerate(state.code):
        subs += [(_CODE[j][f], z3.IntVal(ins[f])) for f in range(3)]
    value = z3.simplify(z3.substitute(term, *subs))
    assert z3.is_int_value(value), value
    return value.as_long()


@settings(max_examples=60, deadline=None)
@given(states(SMALL))
def test_symbolic_step_agrees_with_concrete(state: State) -> None:
    after = step(state, SMALL)
    assert tuple(_concrete(t, state) for t in _SYM_MEM) == after.memory
    assert _concrete(_SYM_PC, state) == after.pc


def test_symbolic_step_is_proved_for_all_memories() -> None:
    """With the code and PC concrete, z3 proves the symbolic step equals the formula."""
    size = MachineSize(words=4, bits=8, slots=4)
    mem = [z3.Int(f"m{i}") for i in range(size.words)]
    code = [(1, 2, 3), (0, 0, 1), (0, 0, 2), (0, 0, 3)]
    new_mem, new_pc = step_symbolic(mem, code, 0, size)
    solver = z3.Solver()
    solver.set(timeout=10_000)
    solver.add([z3.And(m >= 0, m < 256) for m in mem])
    r = (mem[2] - mem[1]) % 256
    spec = z3.And(
        new_mem[2] == r,
        *(new_mem[i] == mem[i] for i in (0, 1, 3)),
        new_pc == z3.If(z3.Or(r == 0, r >= 128), 3, 1),
    )
    solver.add(z3.Not(spec))
    assert solver.check() == z3.unsat


@settings(max_examples=30, deadline=None)
@given(st.lists(states(SMALL), min_size=1, max_size=8))
def test_numpy_batch_agrees_with_concrete(batch: list[State]) -> None:
    memory = [np.array([s.memory[i] for s in batch]) for i in range(SMALL.words)]
    code = [
        tuple(np.array([s.code[j][f] for s in batch]) for f in range(3)) for j in range(SMALL.slots)
    ]
    pc = np.array([s.pc for s in batch])
    new_mem, new_pc = step_symbolic(memory, code, pc, SMALL)
    for k, s in enumerate(batch):
        after = step(s, SMALL)
        assert tuple(int(m[k]) for m in new_mem) == after.memory
        assert int(new_pc[k]) == after.pc
