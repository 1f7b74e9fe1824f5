"""The .sq assembler: layout, sizes, halt, every kind of malformed input, round trips, fuzzing."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constructions.machine.asm import (
    Program,
    assemble,
    check_expected,
    disassemble,
    expected,
    load,
)
from constructions.machine.subleq import MachineSize, State, filler, make_state, run
from verify.errors import InputError, ParameterError

EXAMPLE = """\
; comment (also '#')
.data
zero: 0
one:  1
n:    5
.code
loop:  subleq one, n, done     ; n -= 1; if n <= 0 goto done
       subleq zero, zero, loop # unconditional jump
done:  halt                    ; self-loop on a zero word
"""


def test_design_example() -> None:
    p = assemble(EXAMPLE)
    assert p.size == MachineSize(words=4, bits=16, slots=4)
    assert p.data_labels == {"zero": 0, "one": 1, "n": 2}
    assert p.code_labels == {"loop": 0, "done": 2}
    assert p.state.memory == (0, 1, 5, 0)
    assert p.state.code == ((1, 2, 2), (0, 0, 0), (0, 0, 2), filler(3))
    assert p.state.pc == 0 and p.source == EXAMPLE
    result = run(p.state, p.size, 100)
    assert result.halted and result.state.memory[2] == 0 and result.state.pc == 2


def test_operand_forms() -> None:
    p = assemble(
        """
        .data
        arr: 3 -1 0x10 0b101 +7
        x:
        y: 0xffff
        .code
        start: subleq arr+2, 4          ; label+k and an integer address
               subleq y, arr - 0, self
               subleq 0, 1, start+0
               subleq x, y             ; omitted c: the next slot, mod K
        """
    )
    assert p.data_labels == {"arr": 0, "x": 5, "y": 5}
    assert p.state.memory[:6] == (3, 0xFFFF, 16, 5, 7, 0xFFFF)
    assert p.state.code[:4] == ((2, 4, 1), (5, 0, 1), (0, 1, 0), (5, 5, 0))
    assert p.size == MachineSize(words=8, bits=16, slots=4)


def test_signed_values_and_bit_patterns_are_the_same_word() -> None:
    a = assemble(".data\nx: -1\n.code\nhalt\n", bits=8)
    b = assemble(".data\nx: 0xff\n.code\nhalt\n", bits=8)
    c = assemble(".data\nx: 0b11111111\n.code\nhalt\n", bits=8)
    assert a.state == b.state == c.state and a.state.memory[0] == 255


@pytest.mark.parametrize(("bits", "value", "ok"), [
    (16, "32767", True), (16, "-32768", True), (16, "32768", False), (16, "40000", False),
    (16, "-32769", False), (16, "0xffff", True), (16, "+0xffff", True), (16, "0x10000", False),
    (16, "-0x8000", True), (16, "-0x8001", False), (8, "0b11111111", True),
    (8, "0b100000000", False), (8, "128", False), (8, "-128", True), (8, "127", True),
])
def test_decimal_literals_are_signed_and_patterns_unsigned(bits: int, value: str,
                                                           ok: bool) -> None:
    text = f".data\nz: 0\nx: {value}\n.code\nhalt\n"
    if ok:
        assert assemble(text, bits=bits).state.memory[1] == int(value, 0) % (1 << bits)
    else:
        with pytest.raises(InputError, match=f"<string>:3: value .* out of range for "
                           f"bits={bits}"):
            assemble(text, bits=bits)


def test_a_decimal_out_of_the_signed_range_names_the_range() -> None:
    with pytest.raises(InputError) as e:
        assemble(".data\nx: 40000\n.code\nhalt\n")
    assert e.value.reason == ("value 40000 out of range for bits=16: need -32768 to 32767 "
                              "(or a bit pattern in hex or binary, up to 0xffff)")
    with pytest.raises(InputError) as e:
        assemble(".data\nx: 0x10000\n.code\nhalt\n")
    assert e.value.reason == "value 0x10000 out of range for bits=16: need a bit pattern up to " \
        "0xffff"


@pytest.mark.parametrize("name", ["words", "bits", "slots"])
def test_size_directive_and_option_in_conflict(name: str) -> None:
    text = ".size words=8 bits=8 slots=4\n.data\nz: 0\nn: 10\n.code\nhalt\n"
    other = {"words": 16, "bits": 4, "slots": 8}[name]
    file = {"words": 8, "bits": 8, "slots": 4}[name]
    with pytest.raises(InputError) as e:
        assemble(text, path="p.sq", **{name: other})
    assert (e.value.path, e.value.line) == ("p.sq", 1)
    assert e.value.reason.startswith(f".size {name}={file} conflicts with {name}={other} "
                                     "from the options")
    same = assemble(text, **{name: file})  # the same value twice is no conflict
    assert same.size == MachineSize(8, 8, 4) and same.state.memory[1] == 10


def test_unused_slots_hold_a_halt_on_the_zero_word() -> None:
    # x is word 0 and not zero: the old filler subleq 0, 0, self would have cleared it
    p = assemble(".data\nx: 7\nz: 0\n.code\nsubleq z, z\n")
    assert p.size.slots == 2 and p.zero == 1
    assert p.state.code == ((1, 1, 1), (1, 1, 1))
    result = run(p.state, p.size, 100)
    assert result.halted and result.state.memory == p.state.memory
    # no zero word declared: the lowest undeclared word, counted in the memory size
    q = assemble(".data\nx: 7\ny: 5\n.code\nsubleq x, y\nsubleq x, y\nsubleq x, y\n")
    assert q.zero == 2 and q.state.code[3] == (2, 2, 3) and q.size.words == 4
    done = run(q.state, q.size, 100)
    assert done.halted and done.state.memory[0] == 7 and done.state.pc == 3
    text = disassemble(q)
    assert "; slots 3 to 3 are unused: the assembler fills them with halt (subleq 2, 2, self)" \
        in text.splitlines()
    assert assemble(text).state == q.state


def test_unused_slots_with_no_free_zero_word_are_refused() -> None:
    with pytest.raises(InputError) as e:
        assemble(".size words=2\n.data\nx: 7\ny: 5\n.code\nsubleq x, y\nsubleq x, y\n"
                 "subleq x, y\n")
    assert e.value.line == 8  # the last instruction
    assert e.value.reason == ("the unused slots 3 to 3 need a word that stays 0 for their halt "
                              "and none is free in words=2: declare a zero word")


def test_sections_continue_and_labels_stack() -> None:
    p = assemble(".data\na: 1\n.code\nhalt\n.data\nb: c: 2\n.code\nd:\n\n  e: subleq a, b\n")
    assert p.data_labels == {"a": 0, "b": 1, "c": 1}
    assert p.code_labels == {"d": 1, "e": 1}


def test_halt_uses_declared_zero_word() -> None:
    p = assemble(".data\nx: 4\nz: 0\n.code\nsubleq x, x\nhalt\n")
    # x is written only by subleq x, x; but it starts at 4, so z is the halt word.
    assert p.state.code[1] == (1, 1, 1)


def test_halt_skips_zero_words_that_are_written() -> None:
    p = assemble(".data\nacc: 0\nz: 0\nv: 3\n.code\nsubleq v, acc\nhalt\n")
    assert p.state.code[1] == (1, 1, 1)


def test_halt_allocates_hidden_zero_word() -> None:
    p = assemble(".data\nv: 3\nw: 5\n.code\nsubleq v, w\nsubleq v, 2\nhalt\n")
    # address 2 is written by subleq v, 2, so the hidden zero word is address 3.
    assert p.state.code[2] == (3, 3, 2)
    assert p.size.words == 4 and p.data_labels == {"v": 0, "w": 1}
    assert run(p.state, p.size, 10).halted


def test_sizes_from_options_directive_and_default() -> None:
    text = ".size words=16 slots=8 bits=12\n.data\nx: 1\n.code\nhalt\n"
    assert assemble(text).size == MachineSize(words=16, bits=12, slots=8)
    assert assemble(text, words=16, bits=12).size == MachineSize(words=16, bits=12, slots=8)
    assert assemble(".data\nx: 1\n.code\nhalt\n", words=32, bits=8).size == \
        MachineSize(words=32, bits=8, slots=2)
    assert assemble(".code\nhalt\n").size == MachineSize(words=2, bits=16, slots=2)


def test_bad_options_are_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="words=3"):
        assemble(EXAMPLE, words=3)
    with pytest.raises(ParameterError, match="bits=0"):
        assemble(EXAMPLE, bits=0)
    with pytest.raises(ParameterError):
        assemble(b".code\nhalt\n")  # type: ignore[arg-type]


# (text, line, fragment of the reason)
MALFORMED = [
    (".data\nx: 1\n.code\nsubleq x, y\n", 4, "unknown label 'y'"),
    (".data\nx: 1\nx: 2\n.code\nhalt\n", 3, "duplicate label 'x' (first defined on line 2)"),
    (".data\nx: 1\n.code\nx: halt\n", 4, "duplicate label 'x'"),
    (".data\nx:\nx: 1\n.code\nhalt\n", 3, "duplicate label 'x'"),
    (
        ".data\nx: 65536\n.code\nhalt\n",
        2,
        "value 65536 out of range for bits=16: need -32768 to 32767",
    ),
    (".data\nx: -32769\n.code\nhalt\n", 2, "value -32769 out of range"),
    (".size bits=8\n.data\nx: 256\n.code\nhalt\n", 3, "out of range for bits=8"),
    (
        ".size words=2\n.data\nx: 1\n.code\nhalt\nsubleq x, 2\n",
        6,
        "address 2 out of range for words=2",
    ),
    (".data\nx: 1\n.code\nsubleq x, x-1\n", 4, "address -1 out of range"),
    (".code\nsubleq 0, 70000\n", 2, "address 70000 out of range for words=65536"),
    (
        ".size slots=2\n.code\nhalt\nhalt\nhalt\n",
        5,
        "program has 3 instructions: more than slots=2",
    ),
    (".size slots=2\n.code\nsubleq 0, 0, 2\nhalt\n", 3, "slot 2 out of range for slots=2"),
    (".size words=2\n.data\n1 2\n3\n.code\nhalt\n", 4, "data has 3 words: more than words=2"),
    (".size words=2\n.data\n1 2\n.code\nsubleq 0, 1\nhalt\n", 6, "halt needs a word that stays 0"),
    (
        ".data\nx: 1\n.code\nsubleq x x\n",
        4,
        "bad operand 'x x': need an address, a label or label+k; separate",
    ),
    (".data\nx: 1\n.code\nsubleq x, y$\n", 4, "bad operand 'y$'"),
    (".data\nx: 1\n.code\nsubleq x,, x\n", 4, "empty operand"),
    (".data\nx: one\n.code\nhalt\n", 2, "bad data value 'one'"),
    (".data\nsubleq 0, 0\n", 2, "instruction 'subleq' in .data section"),
    (".data\nx: halt\n", 2, "instruction 'halt' in .data section"),
    (".code\nx: 5\n", 2, "data value in .code section"),
    (".code\nsubleq 0\n", 2, "missing operand: subleq needs 2 or 3 operands, got 1"),
    (".code\nsubleq\n", 2, "missing operand: subleq needs 2 or 3 operands, got 0"),
    (".code\nsubleq 0, 0, 0, 0\n", 2, "too many operands: subleq needs 2 or 3 operands, got 4"),
    (".code\nhalt 0\n", 2, "halt takes no operands"),
    (".code\nmov 0, 1\n", 2, "unknown instruction 'mov'"),
    ("x: 1\n", 1, "line outside any section"),
    ("\n\n.text\n", 3, "unknown directive '.text'"),
    (".data extra\n", 1, ".data takes nothing after it"),
    (".size words=3\n.code\nhalt\n", 1, "words=3: need a power of two from 2 to 65536"),
    (".size bits=\n", 1, "bad .size item 'bits='"),
    (".size\n", 1, ".size needs"),
    (".size bits=8 bits=8\n", 1, "bits set twice"),
    (".data\nself: 0\n", 2, "'self' is reserved"),
    (".data\nx:\n.code\nhalt\n", 2, "label 'x' labels nothing"),
    (".code\nhalt\nend:\n", 3, "label 'end' labels nothing"),
    (".data\nx: 0\n.code\nsubleq x, x, x\n", 4, "'x' is a data label"),
    (".code\ns: subleq s, 0\n", 2, "'s' is a code label"),
    (".code\nsubleq self, 0\n", 2, "'self' is a code label"),
    (".code\nsubleq 0, 0, self-1\n", 2, "slot -1 out of range"),
    (".data\nx: " + "9" * 200 + "\n", 2, "is too long"),
]


@pytest.mark.parametrize(("text", "line", "reason"), MALFORMED)
def test_malformed_input(text: str, line: int, reason: str) -> None:
    with pytest.raises(InputError) as info:
        assemble(text, path="prog.sq")
    err = info.value
    assert (err.path, err.line) == ("prog.sq", line), str(err)
    assert reason in err.reason, str(err)
    assert str(err).startswith(f"prog.sq:{line}: ")


@pytest.mark.parametrize("text", ["", "; nothing\n", ".data\nx: 1\n", ".code\n\n"])
def test_empty_program(text: str) -> None:
    with pytest.raises(InputError) as info:
        assemble(text, path="e.sq")
    assert info.value.line is None and "empty program" in str(info.value)
    assert str(info.value).startswith("e.sq: ")


def test_first_problem_by_line_is_reported() -> None:
    text = ".data\nx: 1\n.code\nsubleq x, 9\nsubleq x, 8\n"
    with pytest.raises(InputError) as info:
        assemble(text, words=8)
    assert info.value.line == 4


# --- files -----------------------------------------------------------------------------------


def test_load(tmp_path: Path) -> None:
    f = tmp_path / "p.sq"
    f.write_text("\ufeff" + EXAMPLE, encoding="utf-8")
    p = load(f, bits=8)
    assert p.path == str(f) and p.size.bits == 8 and p.state == assemble(EXAMPLE, bits=8).state


def test_load_errors_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sq"
    with pytest.raises(InputError, match=r"missing\.sq: cannot read file"):
        load(missing)
    with pytest.raises(InputError, match="cannot read file"):
        load(tmp_path)
    binary = tmp_path / "bin.sq"
    binary.write_bytes(b".data\nx: 1\n\xff\xfe\n")
    with pytest.raises(InputError) as info:
        load(binary)
    assert info.value.line == 3 and "not UTF-8" in info.value.reason
    bad = tmp_path / "bad.sq"
    bad.write_text(".code\nsubleq\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.sq:2: missing operand"):
        load(bad)
    with pytest.raises(InputError):
        load("nul\0byte.sq")


def test_load_refuses_huge_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import constructions.machine.asm as asm

    monkeypatch.setattr(asm, "MAX_FILE_BYTES", 100)
    f = tmp_path / "big.sq"
    f.write_text(EXAMPLE * 2, encoding="utf-8")
    with pytest.raises(InputError, match="file larger than 100 bytes"):
        load(f)


# --- expectations ----------------------------------------------------------------------------


def test_expected_and_check_expected() -> None:
    text = "; expect: n = 0\n#expect: arr+1 = -1\n;   expect :arr - 0 = 2\n" + EXAMPLE.replace(
        "n:    5", "n:    5\narr: 2 -1"
    )
    assert expected(text) == {"n": 0, "arr+1": -1, "arr": 2}
    p = assemble(text)
    result = run(p.state, p.size, 100)
    assert check_expected(p, result.state) == []
    assert check_expected(p, p.state) == ["n: expected 0, got 5"]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("\n; expect: n == 0\n", 2, "bad expect line"),
        ("; expect: n = 0\n; expect: n = 1\n", 2, "n expected twice"),
        ("; expect: 3 = 0\n", 1, "bad expect line"),
    ],
)
def test_bad_expect_lines(text: str, line: int, reason: str) -> None:
    with pytest.raises(InputError) as info:
        expected(text, "x.sq")
    assert info.value.line == line and reason in info.value.reason


def test_expect_naming_unknown_label() -> None:
    p = assemble("; expect: q = 1\n; expect: n+9 = 0\n" + EXAMPLE)
    with pytest.raises(InputError, match="<string>:1: expect names unknown data label 'q'"):
        check_expected(p, p.state)
    p = assemble("; expect: n+9 = 0\n" + EXAMPLE)
    with pytest.raises(InputError, match="address 11 out of range for words=4"):
        check_expected(p, p.state)


# --- round trips -----------------------------------------------------------------------------

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: s not in ("subleq", "halt", "self")
)


@st.composite
def programs(draw: st.DrawFn) -> Program:
    size = MachineSize(
        words=2 ** draw(st.integers(1, 5)),
        bits=draw(st.integers(2, 64)),
        slots=2 ** draw(st.integers(1, 5)),
    )
    top = 1 << size.bits
    memory = draw(st.lists(st.integers(0, top - 1), min_size=size.words, max_size=size.words))
    n_code = draw(st.integers(1, size.slots))
    code = draw(
        st.lists(
            st.tuples(
                st.integers(0, size.words - 1),
                st.integers(0, size.words - 1),
                st.integers(0, size.slots - 1),
            ),
            min_size=n_code,
            max_size=n_code,
        )
    )
    names = draw(st.lists(NAMES, unique=True, max_size=8))
    data_labels, code_labels = {}, {}
    for name in names:
        if draw(st.booleans()):
            data_labels[name] = draw(st.integers(0, size.words - 1))
        else:
            code_labels[name] = draw(st.integers(0, n_code - 1))
    state = make_state(size, memory, code)
    return Program(size, state, data_labels, code_labels, None)


@settings(max_examples=200, deadline=None)
@given(programs())
def test_disassemble_round_trip(p: Program) -> None:
    text = disassemble(p)
    q = assemble(text)
    assert (q.size, q.state) == (p.size, p.state)
    assert (q.data_labels, q.code_labels) == (p.data_labels, p.code_labels)
    assert disassemble(q) == text


def test_disassemble_keeps_expectations() -> None:
    p = assemble("; expect: n = 0\n" + EXAMPLE)
    text = disassemble(p)
    assert text.startswith("; expect: n = 0\n.size words=4 bits=16 slots=4\n")
    assert assemble(text).state == p.state


def test_disassemble_rejects_bad_labels() -> None:
    p = assemble(EXAMPLE)
    bad = Program(p.size, p.state, {"halt": 0}, {}, None)
    with pytest.raises(ParameterError, match="label='halt'"):
        disassemble(bad)


# --- fuzzing: any text gives a Program or an InputError, nothing else -------------------------

FRAGMENTS = [
    ".data",
    ".code",
    ".size words=4",
    ".size bits=8 slots=2",
    ".size slots=65536",
    ".text",
    "x: 1",
    "y: -1 2 3",
    "z:",
    "x: 0x7fff",
    "0b11",
    "-32768",
    "99999",
    "subleq x, y",
    "subleq x, y, z",
    "subleq 0, 1, 2",
    "subleq x+1, y-1, self",
    "halt",
    "loop: halt",
    "subleq",
    "subleq ,",
    "subleq x,,y",
    "self: 0",
    "halt: 1",
    "a: b: subleq a, b",
    ": 5",
    "subleq 70000, 0",
    "; expect: x = 1",
    "# c",
    "\t",
    "",
    "x: 1 ; c",
    "subleq x y",
]


def check_total(text: str, **options: int) -> None:
    try:
        p = assemble(text, path="fuzz.sq", **options)
    except InputError as e:
        assert e.path == "fuzz.sq"
        assert e.line is None or 1 <= e.line <= text.count("\n") + 1
        return
    assert isinstance(p.state, State) and len(p.state.code) == p.size.slots
    assert assemble(disassemble(p)).state == p.state


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_fuzz_arbitrary_text(text: str) -> None:
    check_total(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.sampled_from(FRAGMENTS), st.text(alphabet=" \t:;#.,+-0x1abcdefhlqsu$", max_size=12)
        ),
        max_size=12,
    ),
    st.sampled_from([{}, {"words": 2}, {"bits": 8}, {"slots": 2}, {"words": 64, "slots": 64}]),
)
def test_fuzz_near_miss_text(lines: list[str], options: dict[str, int]) -> None:
    check_total("\n".join(lines), **options)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_fuzz_expected(text: str) -> None:
    with contextlib.suppress(InputError):
        expected(text)
