"""Import of programs in the CSV format of Giannou et al.'s looped Transformer.

Design notes: docs/design/constructions.machine.giannou.md.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from constructions.machine import asm
from constructions.machine.subleq import MAX_BITS, MAX_SLOTS, MAX_WORDS
from verify.errors import InputError, ParameterError
from verify.files import read_text

DEFAULT_SCRATCHPAD = 2
"""Scratchpad columns in the repository's example programs (``s``)."""

MAX_FILE_BYTES = 1 << 24
"""Largest CSV file read (16 MiB)."""

_INT_RE = re.compile(r"[+-]?[0-9]{1,40}")
_COMMAND_HEADER = ("a", "b", "c")
_MEMORY_HEADER = ("mem",)


@dataclass(frozen=True)
class GiannouProgram:
    """A program in the column layout: commands as column triples, memory as signed values.

    ``command_lines`` and ``memory_lines`` are the CSV line of each entry, for messages and
    comments; ``memory_start`` and ``command_start`` are the first memory and command columns.
    """

    commands: tuple[tuple[int, int, int], ...]
    memory: tuple[int, ...]
    memory_start: int
    command_start: int
    bits: int
    commands_path: str = "<commands>"
    memory_path: str = "<memory>"
    command_lines: tuple[int, ...] = ()
    memory_lines: tuple[int, ...] = ()

    @property
    def columns(self) -> int:
        """``n``: the column after the last command, where a run ends."""
        return self.command_start + len(self.commands)

    @property
    def needs_halt(self) -> bool:
        """Whether the last command can fall through to column ``n`` (it does unless a == b)."""
        a, b, _ = self.commands[-1]
        return a != b


def _read_rows(path: str | os.PathLike[str], header: tuple[str, ...],
               what: str) -> tuple[str, list[tuple[int, list[int]]]]:
    """The data rows of a CSV file under the expected header, as (line, integers)."""
    name, text = read_text(path, MAX_FILE_BYTES)
    want = ",".join(header)
    rows: list[tuple[int, list[int]]] = []
    seen_header = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue  # blank lines are skipped, as a CSV reader does
        cells = [c.strip() for c in line.split(",")]
        if not seen_header:
            got = tuple(c.strip('"').strip() for c in cells)
            if got != header:
                if all(_INT_RE.fullmatch(c) for c in cells):
                    raise InputError(name, lineno, f"missing header: need the line {want!r} "
                                     f"first, got {_show(line)}")
                raise InputError(name, lineno, f"wrong columns: header {_show(line)}, need "
                                 f"{want!r}")
            seen_header = True
            continue
        if len(cells) != len(header):
            raise InputError(name, lineno, f"wrong columns: {len(cells)} cells, need "
                             f"{len(header)} ({want})")
        values = []
        for col, cell in zip(header, cells):
            if _INT_RE.fullmatch(cell) is None:
                raise InputError(name, lineno, f"{col}={_show(cell)} is not an integer")
            values.append(int(cell))
        rows.append((lineno, values))
    if not seen_header:
        raise InputError(name, None, f"empty file: need a header line {want!r} and {what}")
    if not rows:
        raise InputError(name, None, f"no {what} after the header")
    return name, rows


def _show(text: str) -> str:
    text = text.strip()
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _layout_int(name: str, value: int | None, lo: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ParameterError(name, value, f"an integer >= {lo}")
    return value


def read(commands: str | os.PathLike[str], memory: str | os.PathLike[str], *,
         scratchpad: int = DEFAULT_SCRATCHPAD, memory_start: int | None = None,
         command_start: int | None = None, bits: int = asm.DEFAULT_BITS) -> GiannouProgram:
    """Read and check a ``CMDS.csv`` / ``MEM.csv`` pair (format in the module docstring).

    ``memory_start`` defaults to ``scratchpad``, ``command_start`` to ``memory_start + m`` with
    ``m`` the number of values in the memory file. Memory values must fit ``bits``-bit two's
    complement; ``a`` and ``b`` must name memory columns and ``c`` a command column.
    """
    s = _layout_int("scratchpad", scratchpad, 0)
    assert s is not None
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= MAX_BITS:
        raise ParameterError("bits", bits, f"an integer from 2 to {MAX_BITS}")
    mem_path, mem_rows = _read_rows(memory, _MEMORY_HEADER, "memory values")
    cmd_path, cmd_rows = _read_rows(commands, _COMMAND_HEADER, "commands")
    m = len(mem_rows)
    if m > MAX_WORDS:
        raise InputError(mem_path, mem_rows[MAX_WORDS][0],
                         f"{m} memory values: more than {MAX_WORDS} words")
    if len(cmd_rows) >= MAX_SLOTS:  # one slot is kept for the halt
        raise InputError(cmd_path, cmd_rows[MAX_SLOTS - 1][0],
                         f"{len(cmd_rows)} commands: more than {MAX_SLOTS - 1}")
    mem0 = _layout_int("memory_start", memory_start, 0)
    mem0 = s if mem0 is None else mem0
    cmd0 = _layout_int("command_start", command_start, mem0 + m)
    cmd0 = mem0 + m if cmd0 is None else cmd0
    n = cmd0 + len(cmd_rows)

    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    for line, (v,) in mem_rows:
        if not lo <= v <= hi:
            raise InputError(mem_path, line,
                             f"value {v} does not fit bits={bits}: need {lo} to {hi}")
    for line, (a, b, c) in cmd_rows:
        for field, x in (("a", a), ("b", b)):
            if not mem0 <= x < mem0 + m:
                raise InputError(cmd_path, line, f"{field}={x} is outside memory: need a "
                                 f"memory column from {mem0} to {mem0 + m - 1}")
        if not cmd0 <= c < n:
            raise InputError(cmd_path, line, f"c={c} is outside the program: need a command "
                             f"column from {cmd0} to {n - 1}")
    return GiannouProgram(
        tuple((a, b, c) for _, (a, b, c) in cmd_rows),
        tuple(v for _, (v,) in mem_rows),
        mem0, cmd0, bits, cmd_path, mem_path,
        tuple(line for line, _ in cmd_rows), tuple(line for line, _ in mem_rows),
    )


def to_sq(program: GiannouProgram) -> str:
    """The program as ``.sq`` text: word ``i`` labelled ``m<i>``, one instruction per command.

    The text assembles (:func:`constructions.machine.asm.assemble`) to a machine whose run from
    slot 0 performs the same steps on the same memory as the column layout's run from its first
    command; comments give each word's and each command's column and CSV line.
    """
    p = program
    lines = [
        f"; imported from {os.path.basename(p.commands_path)} and "
        f"{os.path.basename(p.memory_path)} (Giannou et al. column layout)",
        f"; memory columns {p.memory_start}..{p.memory_start + len(p.memory) - 1} are words "
        f"0..{len(p.memory) - 1}, command columns {p.command_start}..{p.columns - 1} are slots "
        f"0..{len(p.commands) - 1}",
    ]
    if p.needs_halt:
        lines.append(f"; running past the last command (column {p.columns}) ends the run: "
                     f"slot {len(p.commands)} is a halt")
    lines += [f".size bits={p.bits}", ".data"]
    width = max(len(f"m{i}: {v}") for i, v in enumerate(p.memory)) + 1
    for i, (v, line) in enumerate(zip(p.memory, p.memory_lines or [None] * len(p.memory))):
        where = f"column {p.memory_start + i}" + (f", line {line}" if line else "")
        lines.append(f"{f'm{i}: {v}':<{width}}; {where}")
    lines.append(".code")
    cmd_lines = p.command_lines or [None] * len(p.commands)
    for j, ((a, b, c), line) in enumerate(zip(p.commands, cmd_lines)):
        slot = c - p.command_start
        target = "self" if slot == j else str(slot)
        body = f"subleq m{a - p.memory_start}, m{b - p.memory_start}, {target}"
        where = f"column {p.command_start + j}" + (f", line {line}" if line else "")
        lines.append(f"{body:<28}; {where}: {a},{b},{c}")
    if p.needs_halt:
        lines.append(f"{'halt':<28}; column {p.columns}: end of the program")
    return "\n".join(lines) + "\n"


def convert(commands: str | os.PathLike[str], memory: str | os.PathLike[str], *,
            scratchpad: int = DEFAULT_SCRATCHPAD, memory_start: int | None = None,
            command_start: int | None = None,
            bits: int = asm.DEFAULT_BITS) -> tuple[str, asm.Program]:
    """Read a CSV pair, convert it, and assemble the result: ``(text, program)``.

    Assembling here means that text which is returned is known to load; the program's size is
    the smallest that holds it (words and slots powers of two).
    """
    program = read(commands, memory, scratchpad=scratchpad, memory_start=memory_start,
                   command_start=command_start, bits=bits)
    text = to_sq(program)
    return text, asm.assemble(text, path="<import>")
