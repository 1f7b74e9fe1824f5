"""The state matrix of Giannou et al.'s SUBLEQ Transformer: its rows, its columns, and the
encoder and decoder between it and :class:`constructions.subleq.State`.

Columns (``n = s + m + commands``): ``s`` scratchpad columns, ``m`` memory columns, then one
column per command. Rows, with ``L = logn`` and ``N`` bits a word::

    commands   3L      the command (p_a, p_b, p_c) stored in each command column
    memory     N       the word stored in each memory column, MSB first
    scratchpad 3L+2N   column 0: mem[a] (N), mem[b] (N), then the current command (3L)
    pc         L       column 0: the program counter, as the code of a column
    position   L       column i >= 1: the code of i (column 0: zeros)
    buffer     max(3L, 2N)
    indicator  1       1 in the scratchpad columns, else 0

A column index ``i`` is coded as its ``L`` binary digits, MSB first, as +-1 (digit 1 is +1). A
word is its ``N``-bit two's complement in the same +-1 form. ``a`` and ``b`` name memory
columns, ``c`` a command column. The scratchpad's command rows keep the last command executed
(zeros before the first step): that is part of the network's state though not of SUBLEQ's.

A :class:`~constructions.subleq.State` needs power-of-two sizes, so a layout decodes into the
smallest machine that holds it (:meth:`Layout.machine`): words past ``m`` stay 0, slots past
``commands`` hold the filler. Their run never reaches those slots unless a command falls
through the last column, which their network sends to column ``n mod 2^L``; the decoder then
refuses the PC (it names no command), which a checked run reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from constructions.machine.subleq import (
    MAX_BITS,
    MAX_SLOTS,
    MAX_WORDS,
    Instruction,
    MachineSize,
    State,
)
from verify.errors import LoopmlpError, ParameterError

MAX_COLUMNS = 1 << 16
"""Most columns accepted (``n``)."""


class DecodeError(LoopmlpError):
    """A state matrix that does not decode to a machine state (the message says where)."""


def _pow2_at_least(k: int) -> int:
    return 1 << max(1, (k - 1).bit_length())


def default_logn(n: int) -> int:
    """``ceil(log2 n)``: the address width their examples use (at least 1)."""
    return max(1, (n - 1).bit_length())


@dataclass(frozen=True)
class Layout:
    """Sizes of the state matrix: ``s``, ``m``, ``commands`` columns, ``bits`` (N), ``logn``."""

    s: int
    m: int
    commands: int
    bits: int
    logn: int

    def __post_init__(self) -> None:
        for name, lo, hi in (("s", 1, MAX_COLUMNS), ("m", 1, MAX_WORDS),
                             ("commands", 1, MAX_SLOTS), ("bits", 2, MAX_BITS),
                             ("logn", 1, 17)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
                raise ParameterError(name, v, f"an integer from {lo} to {hi}")
            object.__setattr__(self, name, int(v))
        if self.n > MAX_COLUMNS:
            raise ParameterError("n", self.n, f"at most {MAX_COLUMNS} columns")
        if self.n > 1 << self.logn:
            raise ParameterError("logn", self.logn, f"2^logn >= n = {self.n} columns")

    @classmethod
    def for_size(cls, size: MachineSize, s: int = 2, logn: int | None = None) -> Layout:
        """The layout of a machine: ``m = words``, ``commands = slots``."""
        n = s + size.words + size.slots
        return cls(s, size.words, size.slots, size.bits, default_logn(n) if logn is None
                   else logn)

    # ------------------------------------------------------------------ sizes
    @property
    def n(self) -> int:
        """Columns."""
        return self.s + self.m + self.commands

    @property
    def buffer_rows(self) -> int:
        return max(3 * self.logn, 2 * self.bits)

    @property
    def d(self) -> int:
        """Rows: ``8L + 3N + max(3L, 2N) + 1``."""
        return 8 * self.logn + 3 * self.bits + self.buffer_rows + 1

    # ------------------------------------------------------------------ rows
    @property
    def cmd(self) -> int:
        return 0

    @property
    def mem(self) -> int:
        return 3 * self.logn

    @property
    def scratch_a(self) -> int:
        """First row of mem[a] in the scratchpad (its first row also holds the flag)."""
        return 3 * self.logn + self.bits

    @property
    def scratch_b(self) -> int:
        return self.scratch_a + self.bits

    @property
    def scratch_cmd(self) -> int:
        """First row of the current command (p_a, then p_b, then p_c) in the scratchpad."""
        return self.scratch_a + 2 * self.bits

    @property
    def pc(self) -> int:
        return self.scratch_cmd + 3 * self.logn

    @property
    def pos(self) -> int:
        return self.pc + self.logn

    @property
    def buffer(self) -> int:
        return self.pos + self.logn

    @property
    def indicator(self) -> int:
        return self.d - 1

    @property
    def first_command(self) -> int:
        """Column of command 0."""
        return self.s + self.m

    def row_names(self) -> list[str]:
        """A name for every row, e.g. ``mem.bit[15]`` (MSB is bit N-1), ``pc.bit[0]``."""
        L, N = self.logn, self.bits
        names: list[str] = []
        for f in "abc":
            names += [f"cmd.{f}.bit[{L - 1 - k}]" for k in range(L)]
        names += [f"mem.bit[{N - 1 - k}]" for k in range(N)]
        names += [f"scratch.mem_a.bit[{N - 1 - k}]" for k in range(N)]
        names += [f"scratch.mem_b.bit[{N - 1 - k}]" for k in range(N)]
        for f in "abc":
            names += [f"scratch.p_{f}.bit[{L - 1 - k}]" for k in range(L)]
        names += [f"pc.bit[{L - 1 - k}]" for k in range(L)]
        names += [f"pos.bit[{L - 1 - k}]" for k in range(L)]
        names += [f"buffer[{k}]" for k in range(self.buffer_rows)]
        names.append("indicator")
        return names

    def machine(self) -> MachineSize:
        """The smallest machine holding this layout's memory and commands."""
        return MachineSize(_pow2_at_least(self.m), self.bits, _pow2_at_least(self.commands))

    # ------------------------------------------------------------------ codes
    def address(self, column: int) -> np.ndarray:
        """The +-1 code of a column index, MSB first (``logn`` entries)."""
        L = self.logn
        return np.array([1 if (column >> (L - 1 - k)) & 1 else -1 for k in range(L)],
                        dtype=np.int8)

    def word(self, value: int) -> np.ndarray:
        """The +-1 code of an N-bit word (signed or unsigned), MSB first."""
        N = self.bits
        u = value % (1 << N)
        return np.array([1 if (u >> (N - 1 - k)) & 1 else -1 for k in range(N)], dtype=np.int8)

    def instruction_code(self, ins: Instruction) -> np.ndarray:
        """``[p_a, p_b, p_c]`` of an instruction (a, b memory words, c a command index)."""
        a, b, c = ins
        return np.concatenate([self.address(self.s + a), self.address(self.s + b),
                               self.address(self.first_command + c)])

    # ------------------------------------------------------------------ encoder
    def check_state(self, state: State) -> None:
        """Refuse a state this layout cannot hold (sizes, words past ``m``, reachable padding)."""
        if len(state.memory) < self.m or len(state.code) < self.commands:
            raise ParameterError("state", f"{len(state.memory)} words, {len(state.code)} "
                                 "slots", f"at least m={self.m} words and "
                                 f"commands={self.commands} slots")
        if any(state.memory[self.m:]):
            raise ParameterError("state.memory", "nonzero past m",
                                 f"words from m={self.m} on to be 0")
        if not 0 <= state.pc < self.commands:
            raise ParameterError("pc", state.pc, f"a command index below {self.commands}")
        for j, (a, b, c) in enumerate(state.code[:self.commands]):
            if not (0 <= a < self.m and 0 <= b < self.m and 0 <= c < self.commands):
                raise ParameterError(f"code[{j}]", (a, b, c), f"a, b below m={self.m} and c "
                                     f"below commands={self.commands}")
        for j in range(self.commands, len(state.code)):
            if state.code[j] != (0, 0, j):
                raise ParameterError(f"code[{j}]", state.code[j], "the filler past the "
                                     "layout's commands")

    def encode(self, state: State, last: Instruction | None = None) -> np.ndarray:
        """The canonical matrix of ``state`` (int8 entries in {-1, 0, 1}).

        ``last`` is the command the scratchpad still holds from the previous step (None: zeros,
        as before the first step).
        """
        self.check_state(state)
        X = np.zeros((self.d, self.n), dtype=np.int8)
        X[self.indicator, :self.s] = 1
        for i in range(1, self.n):
            X[self.pos:self.pos + self.logn, i] = self.address(i)
        X[self.pc:self.pc + self.logn, 0] = self.address(self.first_command + state.pc)
        for i in range(self.m):
            X[self.mem:self.mem + self.bits, self.s + i] = self.word(state.memory[i])
        for j in range(self.commands):
            X[:3 * self.logn, self.first_command + j] = self.instruction_code(state.code[j])
        if last is not None:
            X[self.scratch_cmd:self.scratch_cmd + 3 * self.logn, 0] = self.instruction_code(last)
        return X

    # ------------------------------------------------------------------ decoder
    def _bits(self, X: np.ndarray, rows: slice, col: int, what: str) -> int:  # noqa: N803
        v = np.asarray(X[rows, col], dtype=np.float64)
        if not np.all(np.isfinite(v)):
            raise DecodeError(f"{what}: non-finite entry")
        if np.any(v == 0):
            raise DecodeError(f"{what}: an entry is 0, neither +1 nor -1")
        out = 0
        for x in v:
            out = (out << 1) | int(x > 0)
        return out

    def _column(self, X: np.ndarray, rows: slice, col: int, what: str, lo: int, hi: int) -> int:  # noqa: N803
        c = self._bits(X, rows, col, what)
        if not lo <= c < hi:
            raise DecodeError(f"{what}: column {c}, need a column from {lo} to {hi - 1}")
        return c

    def decode(self, X: np.ndarray) -> State:  # noqa: N803 - matrix names as in the construction
        """The machine state a matrix stands for: every entry read by its sign.

        Raises :class:`DecodeError` naming the entry that is not finite, is 0, or codes a
        column outside its block.
        """
        if X.shape != (self.d, self.n):
            raise DecodeError(f"shape {X.shape}, need ({self.d}, {self.n})")
        L, N, s, m = self.logn, self.bits, self.s, self.m
        fc, n = self.first_command, self.n
        size = self.machine()
        memory = [self._bits(X, slice(self.mem, self.mem + N), s + i, f"memory word {i}")
                  for i in range(m)] + [0] * (size.words - m)
        code: list[Instruction] = []
        for j in range(self.commands):
            col = fc + j
            a = self._column(X, slice(0, L), col, f"command {j} field a", s, s + m) - s
            b = self._column(X, slice(L, 2 * L), col, f"command {j} field b", s, s + m) - s
            c = self._column(X, slice(2 * L, 3 * L), col, f"command {j} field c", fc, n) - fc
            code.append((a, b, c))
        code += [(0, 0, j) for j in range(self.commands, size.slots)]
        pc = self._column(X, slice(self.pc, self.pc + L), 0, "pc", fc, n) - fc
        return State(tuple(memory), tuple(code), pc)

    def decision_entries(self) -> list[tuple[int, int]]:
        """``(row, column)`` of every entry the decoder reads by its sign."""
        out: list[tuple[int, int]] = []
        for i in range(self.m):
            out += [(self.mem + k, self.s + i) for k in range(self.bits)]
        for j in range(self.commands):
            out += [(k, self.first_command + j) for k in range(3 * self.logn)]
        out += [(self.pc + k, 0) for k in range(self.logn)]
        return out
