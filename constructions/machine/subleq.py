"""The SUBLEQ machine: the one definition every backend is checked against.

Design notes: docs/design/constructions.machine.subleq.md.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from verify.errors import ParameterError
from verify.ops import ite, select, signed, store, wrap

from .fixpoint import run_to_fixed_point

MAX_WORDS = 1 << 16
"""Largest data memory accepted (words); larger sizes are refused before anything is built."""
MAX_SLOTS = 1 << 16
"""Largest instruction memory accepted (slots)."""
MAX_BITS = 64
"""Widest word accepted (bits)."""

Instruction = tuple[int, int, int]


def _as_int(name: str, value: object, need: str) -> int:
    if isinstance(value, bool):
        raise ParameterError(name, value, need)
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ParameterError(name, value, need) from None


def check_size_field(name: str, value: object) -> int:
    """Validate one machine-size parameter (``words``, ``bits`` or ``slots``) and return it.

    ``words`` and ``slots`` must be powers of two from 2 to 65536; ``bits`` an integer from 2 to
    64. Raises :class:`~verify.errors.ParameterError`, e.g. ``words=1099511627776: need a power
    of two from 2 to 65536``.
    """
    if name == "bits":
        need = f"an integer from 2 to {MAX_BITS}"
        v = _as_int(name, value, need)
        if not 2 <= v <= MAX_BITS:
            raise ParameterError(name, value, need)
        return v
    if name in ("words", "slots"):
        top = MAX_WORDS if name == "words" else MAX_SLOTS
        need = f"a power of two from 2 to {top}"
        v = _as_int(name, value, need)
        if not 2 <= v <= top or v & (v - 1):
            raise ParameterError(name, value, need)
        return v
    raise ParameterError("name", name, "one of words, bits, slots")


@dataclass(frozen=True)
class MachineSize:
    """The size of a machine: ``words = M = 2^m``, ``bits = N``, ``slots = K = 2^k``.

    Validated on construction (see :func:`check_size_field`), so an absurd size is refused before
    any memory is allocated.
    """

    words: int
    bits: int
    slots: int

    def __post_init__(self) -> None:
        for name in ("words", "bits", "slots"):
            object.__setattr__(self, name, check_size_field(name, getattr(self, name)))

    @property
    def addr_bits(self) -> int:
        """m = log2(words): bits of a data address."""
        return self.words.bit_length() - 1

    @property
    def pc_bits(self) -> int:
        """k = log2(slots): bits of an instruction address (the PC)."""
        return self.slots.bit_length() - 1

    @property
    def ins_bits(self) -> int:
        """Q = 2m + k: bits of one instruction (a, b, c)."""
        return 2 * self.addr_bits + self.pc_bits


@dataclass(frozen=True)
class State:
    """A machine state: unsigned memory words, the full instruction table, and the PC.

    ``memory`` has ``words`` entries in ``[0, 2^bits)``; ``code`` has exactly ``slots`` triples
    (unused slots hold :func:`filler`); ``pc`` is in ``[0, slots)``. A state does not know its
    size; :func:`check_state` checks it against one.
    """

    memory: tuple[int, ...]
    code: tuple[Instruction, ...]
    pc: int


def filler(slot: int) -> Instruction:
    """The instruction :func:`make_state` puts in an unused slot: ``(0, 0, slot)``, i.e.
    ``subleq 0, 0, self``.

    It writes ``MEM[0] - MEM[0] = 0`` to ``MEM[0]`` and jumps to itself, so it is a fixed point
    after at most one step, having zeroed word 0. Assembled programs never run it: the assembler
    fills unused slots with a halt on a word that stays 0 (:mod:`constructions.machine.asm`),
    which changes nothing.
    """
    return (0, 0, slot)


def check_state(state: State, size: MachineSize) -> None:
    """Raise :class:`~verify.errors.ParameterError` unless ``state`` is a valid state of size."""
    if len(state.memory) != size.words:
        raise ParameterError("len(memory)", len(state.memory), f"words={size.words} entries")
    top = 1 << size.bits
    for i, v in enumerate(state.memory):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < top:
            raise ParameterError(f"memory[{i}]", v, f"an unsigned word in [0, {top})")
    if len(state.code) != size.slots:
        raise ParameterError("len(code)", len(state.code), f"slots={size.slots} entries")
    for j, ins in enumerate(state.code):
        ok = (
            isinstance(ins, tuple)
            and len(ins) == 3
            and all(isinstance(x, int) and not isinstance(x, bool) for x in ins)
        )
        if not ok or not (0 <= ins[0] < size.words and 0 <= ins[1] < size.words):
            raise ParameterError(f"code[{j}]", ins, f"(a, b, c) with a, b in [0, {size.words})")
        if not 0 <= ins[2] < size.slots:
            raise ParameterError(f"code[{j}]", ins, f"(a, b, c) with c in [0, {size.slots})")
    if isinstance(state.pc, bool) or not isinstance(state.pc, int):
        raise ParameterError("pc", state.pc, f"an integer in [0, {size.slots})")
    if not 0 <= state.pc < size.slots:
        raise ParameterError("pc", state.pc, f"an integer in [0, {size.slots})")


def make_state(
    size: MachineSize,
    memory: Sequence[int] = (),
    code: Sequence[Sequence[int]] = (),
    pc: int = 0,
) -> State:
    """Build a valid state, padding memory with zero words and code with :func:`filler`.

    Memory values may be given signed or unsigned (any integer in ``[-2^(N-1), 2^N)``); they are
    stored as unsigned words. Raises :class:`~verify.errors.ParameterError` on anything invalid.
    """
    if len(memory) > size.words:
        raise ParameterError("len(memory)", len(memory), f"at most words={size.words}")
    if len(code) > size.slots:
        raise ParameterError("len(code)", len(code), f"at most slots={size.slots}")
    lo, top = -(1 << (size.bits - 1)), 1 << size.bits
    words = []
    for i, v in enumerate(memory):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v < top:
            raise ParameterError(f"memory[{i}]", v, f"an integer in [{lo}, {top})")
        words.append(v % top)
    words.extend([0] * (size.words - len(words)))
    table = [tuple(ins) for ins in code]
    table.extend(filler(j) for j in range(len(table), size.slots))
    state = State(tuple(words), tuple(table), pc)  # type: ignore[arg-type]
    check_state(state, size)
    return state


def signed_memory(state: State, size: MachineSize) -> tuple[int, ...]:
    """The memory as two's-complement values in ``[-2^(N-1), 2^(N-1) - 1]``."""
    return tuple(signed(v, size.bits) for v in state.memory)


def _fetch(code: Sequence[Sequence[Any]], pc: Any, field: int) -> Any:
    # select() on a concrete index is values[index]; skip building the field column then.
    if isinstance(pc, int):
        return code[pc][field]
    return select([ins[field] for ins in code], pc)


def step_symbolic(
    memory: Sequence[Any],
    code: Sequence[Sequence[Any]],
    pc: Any,
    size: MachineSize,
) -> tuple[list[Any], Any]:
    """One SUBLEQ step on any mix of Python ints, numpy integer arrays and z3 Int terms.

    ``memory`` is the list of ``words`` unsigned words, ``code`` the ``slots`` triples
    ``(a, b, c)`` (each field may be symbolic), ``pc`` the program counter. Returns the new memory
    list and the new PC::

        (a, b, c) = code[pc]
        r = (memory[b] - memory[a]) mod 2^N
        memory' = memory with memory'[b] = r
        pc' = c if signed(r) <= 0 else (pc + 1) mod K

    Symbolic indices must be constrained to their ranges by the caller: out of range,
    :func:`verify.ops.select` reads the last entry and :func:`verify.ops.store` writes nowhere.
    """
    a = _fetch(code, pc, 0)
    b = _fetch(code, pc, 1)
    c = _fetch(code, pc, 2)
    r = wrap(select(memory, b) - select(memory, a), size.bits)
    new_memory = store(memory, b, r)
    new_pc = ite(signed(r, size.bits) <= 0, c, wrap(pc + 1, size.pc_bits))
    return new_memory, new_pc


def advance(state: State, size: MachineSize) -> State:
    """One concrete step of a state already checked against ``size`` (no check: runners check
    the first state once)."""
    memory, pc = step_symbolic(state.memory, state.code, state.pc, size)
    return State(tuple(memory), state.code, pc)


def step(state: State, size: MachineSize) -> State:
    """One concrete step (:func:`step_symbolic` on Python ints) of a state checked against size."""
    check_state(state, size)
    return advance(state, size)


def is_halted(state: State, size: MachineSize) -> bool:
    """True when ``state`` is a fixed point of the step."""
    return step(state, size) == state


@dataclass(frozen=True)
class RunResult:
    """The outcome of :func:`run`.

    ``state`` is the last state reached; ``steps`` the number of state-changing steps performed;
    ``halted`` whether ``state`` is a fixed point of the step; ``reason`` is ``"halted"`` or
    ``"step limit"``; ``trace`` (when asked for) holds every state from the initial one to
    ``state``, so ``len(trace) == steps + 1``.
    """

    state: State
    steps: int
    halted: bool
    reason: str
    trace: tuple[State, ...] | None = None


def run(state: State, size: MachineSize, max_steps: int, trace: bool = False) -> RunResult:
    """Step ``state`` until it stops changing or ``max_steps`` state-changing steps are done
    (:func:`~constructions.machine.fixpoint.run_to_fixed_point`)."""
    limit = _as_int("max_steps", max_steps, "a non-negative integer")
    if limit < 0:
        raise ParameterError("max_steps", max_steps, "a non-negative integer")
    check_state(state, size)
    states: list[State] | None = [state] if trace else None
    done = run_to_fixed_point(lambda s: advance(s, size), state, limit,
                              visit=states.append if states is not None else None)
    return RunResult(done.state, done.steps, done.halted, done.reason,
                     tuple(states) if states is not None else None)
