"""Assembler and disassembler for the ``.sq`` SUBLEQ text format.

Design notes: docs/design/constructions.machine.asm.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from constructions.machine.subleq import (
    MAX_SLOTS,
    MAX_WORDS,
    MachineSize,
    State,
    check_size_field,
    make_state,
)
from verify.errors import InputError, ParameterError
from verify.files import read_text
from verify.ops import signed

PROGRAMS = Path(__file__).resolve().parents[1] / "programs"
"""The example programs shipped with the package (``constructions/programs``)."""

DEFAULT_BITS = 16
"""Word width when neither the caller nor the file's ``.size`` directive sets one."""

MAX_FILE_BYTES = 1 << 24
"""Largest ``.sq`` file :func:`load` reads (16 MiB), so a device or a huge file cannot hang it."""

RESERVED = frozenset({"subleq", "halt", "self"})
"""Names that cannot be labels."""

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_INT = r"[+-]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9]+)"
_UINT = r"(?:0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9]+)"
_SP = r"[ \t\r\f\v]*"
_NAME_RE = re.compile(_NAME)
_INT_RE = re.compile(_INT)
_LABEL_RE = re.compile(rf"({_NAME}){_SP}:{_SP}")
_WS_RE = re.compile(r"[ \t\r\f\v]+")
_REF = rf"(?P<name>{_NAME})(?:{_SP}(?P<sign>[+-]){_SP}(?P<off>{_UINT}))?"
_OPERAND_RE = re.compile(rf"{_REF}|(?P<num>{_INT})")
_SIZE_RE = re.compile(rf"(words|bits|slots)=({_UINT})")
_EXPECT_RE = re.compile(rf"{_SP}[;#]{_SP}expect{_SP}:(.*)")
_EXPECT_BODY_RE = re.compile(rf"{_SP}{_REF}{_SP}={_SP}(?P<value>{_INT}){_SP}")
_MAX_LITERAL = 80  # characters; far more than any 64-bit literal needs
MAX_LABELS = 1 << 20
"""Most labels one program may define, so a file of nothing but labels is refused quickly."""


class _LineError(Exception):
    """A problem with one line; the caller attaches path and line number."""


class _LocatedError(Exception):
    """A problem already tied to a line (e.g. a label reported where it was defined)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


def _show(token: str) -> str:
    """A token quoted for a message, shortened when long."""
    return repr(token if len(token) <= 40 else token[:37] + "...")


def _int(token: str) -> int:
    """Parse an integer literal already matched by ``_INT``."""
    if len(token) > _MAX_LITERAL:
        raise _LineError(f"integer {_show(token)} is too long")
    sign, body = (-1, token[1:]) if token[0] == "-" else (1, token.lstrip("+"))
    prefix = body[:2].lower()
    base = 16 if prefix == "0x" else 2 if prefix == "0b" else 10
    return sign * int(body[2:] if base != 10 else body, base)


def halt_word(data: Sequence[int], ab: Sequence[tuple[int, int] | None]) -> int:
    """The lowest address whose initial word is 0 and that no instruction ``(a, b)`` with
    ``a != b`` writes: it stays 0 forever, so ``subleq z, z, self`` on it changes nothing.

    ``data`` are the declared words (any word past them is 0), ``ab`` the data operands of the
    instructions (None for a halt). The address may lie past ``data`` (and past the memory).
    """
    dirty = {b for pair in ab if pair is not None for a, b in [pair] if a != b}
    for addr, value in enumerate(data):
        if value == 0 and addr not in dirty:
            return addr
    zero = len(data)
    while zero in dirty:
        zero += 1
    return zero


def _pow2_at_least(n: int, top: int) -> int:
    return min(top, 1 << max(1, (n - 1).bit_length()))


@dataclass(frozen=True)
class Program:
    """An assembled program: its machine size, initial state (``pc == 0``) and labels.

    ``data_labels`` maps names to data addresses, ``code_labels`` names to slots. ``source`` is
    the text it was assembled from (``None`` for a program built otherwise) and ``path`` where
    that text came from, used in messages. ``zero`` is the word that stays 0, which ``halt``
    and every unused slot use (``subleq zero, zero, self``); None when neither occurs.
    """

    size: MachineSize
    state: State
    data_labels: dict[str, int]
    code_labels: dict[str, int]
    source: str | None = None
    path: str = "<string>"
    zero: int | None = None


@dataclass
class _Operand:
    text: str
    name: str | None
    offset: int
    number: int | None


@dataclass
class _Ins:
    line: int
    operands: list[_Operand] | None  # None for halt


def _operand(text: str) -> _Operand:
    m = _OPERAND_RE.fullmatch(text)
    if m is None:
        hint = "; separate operands with commas" if _WS_RE.search(text) else ""
        raise _LineError(f"bad operand {_show(text)}: need an address, a label or label+k{hint}")
    if m["num"] is not None:
        return _Operand(text, None, 0, _int(m["num"]))
    offset = 0
    if m["off"] is not None:
        offset = _int(m["off"]) * (-1 if m["sign"] == "-" else 1)
    return _Operand(text, m["name"], offset, None)


class _Parser:
    """One pass over the lines: sections, labels, data words, instructions, ``.size``."""

    def __init__(self) -> None:
        self.section: str | None = None
        self.data: list[tuple[int, int]] = []  # (line, value as written)
        self.code: list[_Ins] = []
        self.labels: dict[str, tuple[str, int, int]] = {}  # name -> (kind, index, line)
        self.pending: dict[str, int] = {}  # labels waiting for their word/instruction -> line
        self.sizes: dict[str, tuple[int, int]] = {}  # name -> (value, line)
        self.patterns: set[int] = set()  # data words written as unsigned hex or binary

    def data_values(self) -> list[int]:
        """The data words as written."""
        return [v for _, v in self.data]

    def line(self, lineno: int, raw: str) -> None:
        body = raw
        for mark in (";", "#"):
            cut = body.find(mark)
            if cut >= 0:
                body = body[:cut]
        body = body.strip(" \t\r\f\v")
        if not body:
            return
        if body.startswith("."):
            self.directive(lineno, body)
            return
        if self.section is None:
            raise _LineError("line outside any section: write .data or .code first")
        pos = 0  # labels are matched in place: slicing per label is quadratic on long lines
        while (m := _LABEL_RE.match(body, pos)) is not None:
            self.label(lineno, m[1])
            pos = m.end()
        body = body[pos:]
        if not body:
            return
        if self.section == "data":
            self.data_line(lineno, body)
        else:
            self.code_line(lineno, body)

    def directive(self, lineno: int, body: str) -> None:
        head, *rest = _WS_RE.split(body)
        if head in (".data", ".code"):
            if rest:
                raise _LineError(f"{head} takes nothing after it, got {_show(' '.join(rest))}")
            self.flush_pending()
            self.section = head[1:]
        elif head == ".size":
            if not rest:
                raise _LineError(".size needs words=, bits= or slots=")
            for item in rest:
                m = _SIZE_RE.fullmatch(item)
                if m is None:
                    raise _LineError(f"bad .size item {_show(item)}: need words=, bits= or slots=")
                name = m[1]
                if name in self.sizes:
                    raise _LineError(
                        f"{name} set twice in .size (first on line {self.sizes[name][1]})"
                    )
                try:
                    value = check_size_field(name, _int(m[2]))
                except ParameterError as e:
                    raise _LineError(str(e)) from None
                self.sizes[name] = (value, lineno)
        else:
            raise _LineError(f"unknown directive {_show(head)}: need .data, .code or .size")

    def label(self, lineno: int, name: str) -> None:
        if name in RESERVED:
            raise _LineError(f"{_show(name)} is reserved and cannot be a label")
        if name in self.labels or name in self.pending:
            first = self.labels[name][2] if name in self.labels else self.pending[name]
            raise _LineError(f"duplicate label {_show(name)} (first defined on line {first})")
        if len(self.labels) + len(self.pending) >= MAX_LABELS:
            raise _LineError(f"more than {MAX_LABELS} labels")
        self.pending[name] = lineno

    def flush_pending(self) -> None:
        if self.pending:
            name, lineno = next(iter(self.pending.items()))
            raise _LocatedError(lineno, f"label {_show(name)} labels nothing in its section")

    def attach(self, kind: str, index: int) -> None:
        for name, lineno in self.pending.items():
            self.labels[name] = (kind, index, lineno)
        self.pending.clear()

    def data_line(self, lineno: int, body: str) -> None:
        tokens = _WS_RE.split(body)
        if tokens[0] in ("subleq", "halt"):
            raise _LineError(f"instruction {_show(tokens[0])} in .data section: write .code first")
        if len(self.data) + len(tokens) > MAX_WORDS:  # stop early: no memory holds it
            raise _LineError(f"data has more than {MAX_WORDS} words, the largest memory")
        for tok in tokens:
            if _INT_RE.fullmatch(tok) is None:
                raise _LineError(f"bad data value {_show(tok)}: need an integer")
        for tok in tokens:
            self.attach("data", len(self.data))
            if tok.lstrip("+")[:2].lower() in ("0x", "0b"):  # unsigned hex or binary
                self.patterns.add(len(self.data))
            self.data.append((lineno, _int(tok)))

    def code_line(self, lineno: int, body: str) -> None:
        parts = _WS_RE.split(body, maxsplit=1)
        op, rest = parts[0], (parts[1] if len(parts) > 1 else "")
        if op == "halt":
            if rest:
                raise _LineError(f"halt takes no operands, got {_show(rest)}")
            operands = None
        elif op == "subleq":
            texts = [t.strip(" \t\r\f\v") for t in rest.split(",")] if rest else []
            operands = [_operand(t) for t in texts if t]
            if len(operands) < len(texts):
                raise _LineError("empty operand: operands are separated by single commas")
            if len(texts) < 2:
                raise _LineError(f"missing operand: subleq needs 2 or 3 operands, got {len(texts)}")
            if len(texts) > 3:
                raise _LineError(
                    f"too many operands: subleq needs 2 or 3 operands, got {len(texts)}"
                )
        elif _INT_RE.fullmatch(op) is not None:
            raise _LineError("data value in .code section: write .data first")
        else:
            raise _LineError(f"unknown instruction {_show(op)}: need subleq or halt")
        if len(self.code) >= MAX_SLOTS:  # stop early: no code memory holds it
            raise _LineError(f"program has more than {MAX_SLOTS} instructions, the most slots")
        self.attach("code", len(self.code))
        self.code.append(_Ins(lineno, operands))


def _check_option(name: str, value: int | None) -> int | None:
    return None if value is None else check_size_field(name, value)


def assemble(
    text: str,
    path: str = "<string>",
    words: int | None = None,
    bits: int | None = None,
    slots: int | None = None,
) -> Program:
    """Assemble ``.sq`` text into a :class:`Program` (format in the module docstring).

    ``words``, ``bits`` and ``slots``, when given, override the file's ``.size`` directive and
    the inferred sizes. Raises :class:`~verify.errors.InputError` (``path:line: reason``) for any
    malformed text and :class:`~verify.errors.ParameterError` for invalid keyword arguments.
    """
    if not isinstance(text, str):
        raise ParameterError("text", type(text).__name__, "a str")
    options = {
        "words": _check_option("words", words),
        "bits": _check_option("bits", bits),
        "slots": _check_option("slots", slots),
    }
    parser = _Parser()
    try:
        for lineno, raw in enumerate(text.split("\n"), start=1):
            try:
                parser.line(lineno, raw)
            except _LineError as e:
                raise _LocatedError(lineno, str(e)) from None
        parser.flush_pending()
        if not parser.code:
            raise InputError(path, None, "empty program: no instructions in .code")
        return _finish(parser, options, text, path)
    except _LocatedError as e:
        raise InputError(path, e.line, e.reason) from None


def _finish(p: _Parser, options: dict[str, int | None], text: str, path: str) -> Program:
    """Lay out the parsed program: resolve operands, choose sizes and the halt word, check ranges.

    Problems found here are collected and the one on the earliest line is raised.
    """
    lay = _Layout(p, options)
    ab = lay.data_operands()
    targets = lay.targets()
    n_slots = lay.slots(targets)
    zero, halts = lay.halt_word(ab, n_slots > len(p.code))
    n_words = lay.words(ab, zero, halts)
    n_bits, top = lay.bits()
    lay.raise_first()
    size = MachineSize(n_words, n_bits, n_slots)
    code: list[tuple[int, int, int]] = []
    for j, (pair, c) in enumerate(zip(ab, targets, strict=True)):
        if pair is None:  # halt; a failed resolution was raised above
            assert zero is not None
            pair = (zero, zero)
        code.append((*pair, (j + 1) % n_slots if c is None else c))
    if zero is not None:  # unused slots: a halt that changes nothing
        code += [(zero, zero, j) for j in range(len(code), n_slots)]
    state = make_state(size, [v % top for _, v in p.data], code, pc=0)
    data_labels = {n: i for n, (k, i, _) in p.labels.items() if k == "data"}
    code_labels = {n: i for n, (k, i, _) in p.labels.items() if k == "code"}
    return Program(size, state, data_labels, code_labels, text, path, zero)


class _Layout:
    """The steps of :func:`_finish`, each adding the problems it finds to one list."""

    def __init__(self, p: _Parser, options: dict[str, int | None]) -> None:
        self.p, self.options = p, options
        self.problems: list[tuple[int, str]] = []

    def raise_first(self) -> None:
        """Raise the problem on the earliest line, if any."""
        if self.problems:
            raise _LocatedError(*min(self.problems))

    def pick(self, name: str) -> int | None:
        """A size from the ``.size`` directive or the keyword arguments; both set and different
        is a problem naming both."""
        given = self.options[name]
        if name not in self.p.sizes:
            return given
        value, line = self.p.sizes[name]
        if given is not None and given != value:
            self.problems.append((line, f".size {name}={value} conflicts with {name}={given} "
                                  "from the options: change one, or leave the option out"))
        return value

    def resolve(self, op: _Operand, want: str, slot: int) -> int:
        """An operand's value: a number, or a label (of the kind ``want``) plus its offset."""
        if op.number is not None:
            return op.number
        assert op.name is not None
        if op.name == "self":
            kind, base = "code", slot
        elif op.name not in self.p.labels:
            raise _LineError(f"unknown label {_show(op.name)}")
        else:
            kind, base, _ = self.p.labels[op.name]
        if kind != want:
            need = "a data address" if want == "data" else "a code slot"
            raise _LineError(
                f"{_show(op.name)} is a {kind} label; operand {_show(op.text)} needs {need}"
            )
        return base + op.offset

    def data_operands(self) -> list[tuple[int, int] | None]:
        """The data operands a, b of each instruction (None for halt); they need no sizes."""
        ab: list[tuple[int, int] | None] = []
        for ins in self.p.code:
            if ins.operands is None:
                ab.append(None)
                continue
            try:
                ab.append((self.resolve(ins.operands[0], "data", 0),
                           self.resolve(ins.operands[1], "data", 0)))
            except _LineError as e:
                self.problems.append((ins.line, str(e)))
                ab.append(None)
        self.raise_first()
        return ab

    def halt_word(self, ab: list[tuple[int, int] | None],
                  unused_slots: bool) -> tuple[int | None, list[int]]:
        """The zero word for halt and unused slots (never written except by ``subleq z, z``)
        and the lines of the halts; None when the program has neither."""
        halts = [ins.line for ins in self.p.code if ins.operands is None]
        if not halts and not unused_slots:
            return None, halts
        return halt_word(self.p.data_values(), ab), halts

    def words(self, ab: list[tuple[int, int] | None], zero: int | None,
              halts: list[int]) -> int:
        """The data memory size, and every address checked against it."""
        p = self.p
        used = [x for pair in ab if pair is not None for x in pair]
        need_words = max([2, len(p.data), *(x + 1 for x in used), (zero or 0) + 1])
        n_words = self.pick("words") or _pow2_at_least(need_words, MAX_WORDS)
        if len(p.data) > n_words:
            self.problems.append(
                (p.data[n_words][0], f"data has {len(p.data)} words: more than words={n_words}")
            )
        for ins, pair in zip(p.code, ab, strict=True):
            for x in pair or ():
                if not 0 <= x < n_words:
                    self.problems.append((ins.line, f"address {x} out of range for "
                                          f"words={n_words}"))
        if zero is not None and zero >= n_words:
            self.problems.append(
                (halts[0], f"halt needs a word that stays 0 and none is free in words={n_words}")
                if halts else
                (p.code[-1].line, f"the unused slots {len(p.code)} to {self.n_slots - 1} "
                 f"need a word that stays 0 for their halt and none is free in "
                 f"words={n_words}: declare a zero word")
            )
        return n_words

    def bits(self) -> tuple[int, int]:
        """The word width and ``2^bits``, every data value checked against it."""
        n_bits = self.pick("bits") or DEFAULT_BITS
        lo, top = -(1 << (n_bits - 1)), 1 << n_bits
        for i, (line, value) in enumerate(self.p.data):
            if i in self.p.patterns:
                if value >= top:
                    self.problems.append(
                        (line, f"value {value:#x} out of range for bits={n_bits}: need a bit "
                         f"pattern up to {top - 1:#x}"))
            elif not lo <= value < -lo:
                self.problems.append(
                    (line, f"value {value} out of range for bits={n_bits}: need {lo} to "
                     f"{-lo - 1} (or a bit pattern in hex or binary, up to {top - 1:#x})"))
        return n_bits, top

    def targets(self) -> list[int | None]:
        """The code operand c of each instruction (None: the next slot, known with the size)."""
        targets: list[int | None] = []
        for j, ins in enumerate(self.p.code):
            if ins.operands is None:
                targets.append(j)
            elif len(ins.operands) == 2:
                targets.append(None)
            else:
                try:
                    targets.append(self.resolve(ins.operands[2], "code", j))
                except _LineError as e:
                    self.problems.append((ins.line, str(e)))
                    targets.append(0)
        return targets

    def slots(self, targets: list[int | None]) -> int:
        """The code size, and every jump target checked against it."""
        p = self.p
        need_slots = max([2, len(p.code), *(c + 1 for c in targets if c is not None)])
        n_slots = self.pick("slots") or _pow2_at_least(need_slots, MAX_SLOTS)
        if len(p.code) > n_slots:
            self.problems.append(
                (
                    p.code[n_slots].line,
                    f"program has {len(p.code)} instructions: more than slots={n_slots}",
                )
            )
        for ins, c in zip(p.code, targets, strict=True):
            if c is not None and not 0 <= c < n_slots:
                self.problems.append((ins.line, f"slot {c} out of range for slots={n_slots}"))
        self.n_slots = n_slots
        return n_slots


def load(
    path: str | os.PathLike[str],
    words: int | None = None,
    bits: int | None = None,
    slots: int | None = None,
) -> Program:
    """Read and assemble a ``.sq`` file (UTF-8, an optional byte-order mark is ignored).

    A file that cannot be read (missing, a directory, no permission), is larger than
    :data:`MAX_FILE_BYTES` or is not UTF-8 raises :class:`~verify.errors.InputError` naming the
    path.
    """
    name, text = read_text(path, MAX_FILE_BYTES)
    return assemble(text, name, words=words, bits=bits, slots=slots)


def _expectations(text: str, path: str) -> list[tuple[int, str, str, int, int]]:
    """``(line, key, name, offset, value)`` for each ``; expect: ref = value`` line."""
    found: list[tuple[int, str, str, int, int]] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(text.split("\n"), start=1):
        m = _EXPECT_RE.fullmatch(raw)
        if m is None:
            continue
        body = _EXPECT_BODY_RE.fullmatch(m[1])
        if body is None:
            raise InputError(path, lineno, "bad expect line: need '; expect: label = value'")
        try:
            offset = 0 if body["off"] is None else _int(body["off"])
            value = _int(body["value"])
        except _LineError as e:
            raise InputError(path, lineno, str(e)) from None
        offset = -offset if body["sign"] == "-" else offset
        name = body["name"]
        key = name if offset == 0 else f"{name}{offset:+d}"
        if key in seen:
            raise InputError(path, lineno, f"{key} expected twice (first on line {seen[key]})")
        seen[key] = lineno
        found.append((lineno, key, name, offset, value))
    return found


def expected(text: str, path: str = "<string>") -> dict[str, int]:
    """The ``; expect: ref = value`` lines of a program text, as ``{ref: value}``.

    ``ref`` is normalised to ``label`` or ``label+k`` / ``label-k``; values are as written
    (usually signed). Malformed or repeated expect lines raise :class:`~verify.errors.InputError`.
    """
    return {key: value for _, key, _, _, value in _expectations(text, path)}


@dataclass(frozen=True)
class Expectation:
    """One ``; expect: ref = value`` line held against a final state: ``expected`` as written,
    ``got`` the word as a signed value; ``holds`` when they are equal modulo ``2^N``."""

    ref: str
    expected: int
    got: int
    holds: bool

    def __str__(self) -> str:
        return f"{self.ref}: expected {self.expected}, got {self.got}"


def expectations(program: Program, state: State) -> list[Expectation]:
    """Every expect line of the program held against a final state, in file order.

    An expect line naming an unknown label or an address outside memory raises
    :class:`~verify.errors.InputError`. A program without source text has no expectations.
    """
    if program.source is None:
        return []
    size = program.size
    out = []
    for line, key, name, offset, value in _expectations(program.source, program.path):
        if name not in program.data_labels:
            raise InputError(program.path, line, f"expect names unknown data label {_show(name)}")
        addr = program.data_labels[name] + offset
        if not 0 <= addr < size.words:
            raise InputError(
                program.path,
                line,
                f"expect {key}: address {addr} out of range for words={size.words}",
            )
        got = state.memory[addr]
        out.append(Expectation(key, value, signed(got, size.bits),
                               got == value % (1 << size.bits)))
    return out


def check_expected(program: Program, state: State) -> list[str]:
    """Compare a final state against the program's expect lines; return one line per mismatch.

    A value matches when it equals the word modulo ``2^N``. Each mismatch reads
    ``ref: expected E, got G`` (both signed). Raises as :func:`expectations`.
    """
    return [str(e) for e in expectations(program, state) if not e.holds]


def _check_label(name: str) -> None:
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None or name in RESERVED:
        raise ParameterError("label", name, "an identifier [A-Za-z_][A-Za-z0-9_]* not reserved")


def disassemble(program: Program) -> str:
    """Text that assembles back to the same size, initial state and labels.

    The text starts with a ``.size`` directive, writes every instruction as ``subleq a, b, c``
    (a label where the address has one, else the integer; ``self`` for a jump to itself), omits
    trailing zero words and the trailing slots that assembly fills anyway (the halt on the word
    that stays 0, saying so in a comment), and carries over the source's expect lines.
    """
    size, state = program.size, program.state
    data_names: dict[int, list[str]] = {}
    for name, addr in program.data_labels.items():
        _check_label(name)
        data_names.setdefault(addr, []).append(name)
    code_names: dict[int, list[str]] = {}
    for name, slot in program.code_labels.items():
        _check_label(name)
        code_names.setdefault(slot, []).append(name)
    if set(program.data_labels) & set(program.code_labels):
        raise ParameterError(
            "label",
            sorted(set(program.data_labels) & set(program.code_labels)),
            "each name used once, as a data or a code label",
        )

    lines = []
    if program.source is not None:  # expect lines are comments: carried over verbatim
        lines += [
            raw.strip(" \t\r\f\v")
            for raw in program.source.split("\n")
            if _EXPECT_RE.fullmatch(raw)
        ]
    lines += [f".size words={size.words} bits={size.bits} slots={size.slots}", ".data"]
    last_data = max([-1, *(i for i, v in enumerate(state.memory) if v), *data_names], default=-1)
    for addr in range(last_data + 1):
        prefix = "".join(f"{n}: " for n in data_names.get(addr, []))
        lines.append(f"{prefix}{signed(state.memory[addr], size.bits)}")

    def data_ref(addr: int) -> str:
        return data_names[addr][0] if addr in data_names else str(addr)

    lines.append(".code")
    zero = halt_word(state.memory, [ins[:2] for ins in state.code])
    idle = [(zero, zero, j) for j in range(size.slots)]  # what assembly puts in unused slots
    last_code = max([0, *(j for j, ins in enumerate(state.code) if ins != idle[j]),
                     *code_names])
    for j in range(last_code + 1):
        a, b, c = state.code[j]
        target = code_names[c][0] if c in code_names else "self" if c == j else str(c)
        prefix = "".join(f"{n}: " for n in code_names.get(j, []))
        lines.append(f"{prefix}subleq {data_ref(a)}, {data_ref(b)}, {target}")
    if last_code + 1 < size.slots:
        lines.append(f"; slots {last_code + 1} to {size.slots - 1} are unused: the assembler "
                     f"fills them with halt (subleq {data_ref(zero)}, {data_ref(zero)}, self)")
    return "\n".join(lines) + "\n"
