"""``loopmlp import --giannou``: programs in Giannou et al.'s CSV format, converted and run.

The reference here is a small interpreter of that format's own semantics, written over the CSV
files directly (column indices, PC starting at the first command column, the run ending when
the PC reaches the column after the last command). The converted ``.sq`` program is run on the
looped network with ``loopmlp run --check`` and its final memory must equal the reference's.
Malformed files must give exit code 2, one line on stderr, and no file written.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.cli import run as cli

from constructions.machine import asm, giannou
from constructions.machine.subleq import signed_memory, step

DATA = Path(__file__).resolve().parents[1] / "data" / "giannou"

# name -> (options, expected final memory words that matter: index -> value)
EXAMPLES = {
    "multiply": ((), {4: 42, 3: 0}),
    "sum": ((), {1: 15, 0: 0}),
    "doubling": (("--scratchpad", "8", "--bits", "8"), {2: -128, 3: 0}),
}




def reference(cmds_path: Path, mem_path: Path, s: int, bits: int,
              max_steps: int = 10_000) -> tuple[list[int], str]:
    """Run a CSV pair by the format's semantics: ``(final memory, why it stopped)``."""
    with open(cmds_path, newline="") as f:
        cmds = [(int(r["a"]), int(r["b"]), int(r["c"])) for r in csv.DictReader(f)]
    with open(mem_path, newline="") as f:
        mem = [int(r["mem"]) for r in csv.DictReader(f)]
    m, first = len(mem), s + len(mem)
    n = first + len(cmds)
    pc = first
    for _ in range(max_steps):
        a, b, c = cmds[pc - first]
        r = mem[b - s] - mem[a - s]
        r = (r + (1 << (bits - 1))) % (1 << bits) - (1 << (bits - 1))
        before = (list(mem), pc)
        mem[b - s] = r
        pc = c if r <= 0 else pc + 1
        if pc == n:
            return mem, "ran past the last command"
        if (mem, pc) == before:
            return mem, "fixed point"
    assert m >= 0
    return mem, "step limit"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_imported_program_runs_on_the_network_like_the_reference(name: str,
                                                                 tmp_path: Path) -> None:
    options, known = EXAMPLES[name]
    cmds, mem = DATA / f"{name}_cmds.csv", DATA / f"{name}_mem.csv"
    out_sq = tmp_path / f"{name}.sq"
    code, out, err = cli("import", "--giannou", str(cmds), str(mem), "-o", str(out_sq), *options)
    assert (code, err) == (0, ""), err
    assert out_sq.exists() and str(out_sq) in out
    code, out, err = cli("run", str(out_sq), "--check", "--json", "--profile", "compact")
    assert (code, err) == (0, ""), err
    doc = json.loads(out)
    assert doc["halted"] is True and doc["agrees_with_interpreter"] is True
    s = int(dict(zip(options[::2], options[1::2])).get("--scratchpad", 2))
    bits = int(dict(zip(options[::2], options[1::2])).get("--bits", 16))
    want, why = reference(cmds, mem, s, bits)
    assert why != "step limit"
    assert doc["words"][: len(want)] == want
    assert all(doc["words"][i] == v for i, v in known.items())  # the program's own result
    assert all(doc["memory"][f"m{i}"] == v for i, v in enumerate(want))


def test_halt_is_appended_only_when_the_last_command_can_fall_through(tmp_path: Path) -> None:
    text, program = giannou.convert(DATA / "sum_cmds.csv", DATA / "sum_mem.csv")
    assert text.rstrip().splitlines()[-1].startswith("halt")
    (tmp_path / "c.csv").write_text("a,b,c\n2,2,3\n")  # a == b: always jumps to itself
    (tmp_path / "m.csv").write_text("mem\n4\n")
    text, program = giannou.convert(tmp_path / "c.csv", tmp_path / "m.csv")
    assert "halt" not in text.split(".code")[1]
    assert program.state.code[0] == (0, 0, 0)


def test_stdout_crlf_blank_lines_and_force(tmp_path: Path) -> None:
    cmds, mem = tmp_path / "c.csv", tmp_path / "m.csv"
    cmds.write_bytes(b"\xef\xbb\xbfa,b,c\r\n2,3,4\r\n\r\n3,3,4\r\n\r\n")
    mem.write_bytes(b"mem\r\n-5\r\n 7 \r\n")
    code, out, err = cli("import", "--giannou", str(cmds), str(mem))
    assert (code, err) == (0, "")
    program = asm.assemble(out)
    assert signed_memory(program.state, program.size)[:2] == (-5, 7)
    assert program.state.code[:2] == ((0, 1, 0), (1, 1, 0))
    target = tmp_path / "out.sq"
    target.write_text("keep me\n")
    code, _, err = cli("import", "--giannou", str(cmds), str(mem), "-o", str(target))
    assert code == 2 and "--force" in err and target.read_text() == "keep me\n"
    code, _, err = cli("import", "--giannou", str(cmds), str(mem), "-o", str(target), "--force")
    assert (code, err) == (0, "") and target.read_text() == out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "m.csv", "out.sq"]


GOOD_CMDS = "a,b,c\n2,3,4\n3,3,5\n"
GOOD_MEM = "mem\n1\n-1\n"
HOSTILE = [
    # (commands text, memory text, extra options, file:line, words in the reason)
    ("", GOOD_MEM, (), "c.csv", "empty file"),
    ("\n\n", GOOD_MEM, (), "c.csv", "empty file"),
    (GOOD_CMDS, "", (), "m.csv", "empty file"),
    ("a,b,c\n", GOOD_MEM, (), "c.csv", "no commands"),
    (GOOD_CMDS, "mem\n", (), "m.csv", "no memory values"),
    ("2,3,4\n3,3,5\n", GOOD_MEM, (), "c.csv:1", "missing header"),
    (GOOD_CMDS, "1\n-1\n", (), "m.csv:1", "missing header"),
    ("x,y,z\n2,3,4\n", GOOD_MEM, (), "c.csv:1", "wrong columns"),
    (",a,b,c\n0,2,3,4\n", GOOD_MEM, (), "c.csv:1", "wrong columns"),
    ("a,b,c\n2,3\n", GOOD_MEM, (), "c.csv:2", "wrong columns"),
    ("a,b,c\n2,3,4,5\n", GOOD_MEM, (), "c.csv:2", "wrong columns"),
    (GOOD_CMDS, "mem,x\n1,2\n", (), "m.csv:1", "wrong columns"),
    ("a,b,c\n2,3,4\n2,x,4\n", GOOD_MEM, (), "c.csv:3", "not an integer"),
    ("a,b,c\n2.0,3,4\n", GOOD_MEM, (), "c.csv:2", "not an integer"),
    (GOOD_CMDS, "mem\n1\n1e3\n", (), "m.csv:3", "not an integer"),
    ("a,b,c\n1,3,4\n", GOOD_MEM, (), "c.csv:2", "outside memory"),
    ("a,b,c\n2,4,4\n", GOOD_MEM, (), "c.csv:2", "outside memory"),
    ("a,b,c\n2,3,6\n", GOOD_MEM, (), "c.csv:2", "outside the program"),
    ("a,b,c\n2,3,3\n", GOOD_MEM, (), "c.csv:2", "outside the program"),
    (GOOD_CMDS, "mem\n1\n128\n", ("--bits", "8"), "m.csv:3", "does not fit bits=8"),
    (GOOD_CMDS, "mem\n-129\n0\n", ("--bits", "8"), "m.csv:2", "does not fit bits=8"),
    (GOOD_CMDS, "mem\n1\n" + "9" * 60 + "\n", (), "m.csv:3", "not an integer"),
    (GOOD_CMDS, GOOD_MEM, ("--bits", "1"), "bits=1", "need an integer from 2"),
    (GOOD_CMDS, GOOD_MEM, ("--command-start", "3"), "command_start=3", "need an integer >= 4"),
    (GOOD_CMDS, GOOD_MEM, ("--scratchpad", "-1"), "scratchpad=-1", "need an integer >= 0"),
]


@pytest.mark.parametrize("cmds_text, mem_text, options, where, reason", HOSTILE)
def test_hostile_csv_exit_2_one_line_no_file(tmp_path: Path, cmds_text: str, mem_text: str,
                                              options: tuple[str, ...], where: str,
                                              reason: str) -> None:
    (tmp_path / "c.csv").write_text(cmds_text)
    (tmp_path / "m.csv").write_text(mem_text)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = cli("import", "--giannou", str(tmp_path / "c.csv"), str(tmp_path / "m.csv"),
                         "-o", str(tmp_path / "out.sq"), *options)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert where in err and reason in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_unreadable_inputs(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text(GOOD_MEM)
    (tmp_path / "bad.csv").write_bytes(b"a,b,c\n2,3,\xff\n")
    for cmds, reason in ((tmp_path / "missing.csv", "cannot read"), (tmp_path, "cannot read"),
                         (tmp_path / "bad.csv", "not UTF-8")):
        code, out, err = cli("import", "--giannou", str(cmds), str(tmp_path / "m.csv"))
        assert code == 2 and out == "" and err.count("\n") == 1 and reason in err, err


@st.composite
def programs(draw: st.DrawFn) -> tuple[int, int, list[int], list[tuple[int, int, int]]]:
    s = draw(st.integers(0, 9))
    bits = draw(st.integers(2, 9))
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    mem = draw(st.lists(st.integers(lo, hi), min_size=1, max_size=9))
    k = draw(st.integers(1, 12))
    first = s + len(mem)
    col = st.integers(s, first - 1)
    cmds = draw(st.lists(st.tuples(col, col, st.integers(first, first + k - 1)),
                         min_size=k, max_size=k))
    return s, bits, mem, cmds


@settings(max_examples=60, deadline=None)
@given(programs())
def test_step_by_step_against_the_reference(tmp_path_factory: pytest.TempPathFactory,
                                            prog: tuple[int, int, list[int],
                                                        list[tuple[int, int, int]]]) -> None:
    """Any valid program: the converted machine takes the same steps as the format's
    semantics, word for word and PC for PC, and halts where the reference runs off the end."""
    s, bits, mem, cmds = prog
    d = tmp_path_factory.mktemp("p")
    (d / "c.csv").write_text("a,b,c\n" + "".join(f"{a},{b},{c}\n" for a, b, c in cmds))
    (d / "m.csv").write_text("mem\n" + "".join(f"{v}\n" for v in mem))
    _, program = giannou.convert(d / "c.csv", d / "m.csv", scratchpad=s, bits=bits)
    size, state = program.size, program.state
    first, n = s + len(mem), s + len(mem) + len(cmds)
    ref, pc = list(mem), first
    for _ in range(40):
        a, b, c = cmds[pc - first]
        r = (ref[b - s] - ref[a - s] + (1 << (bits - 1))) % (1 << bits) - (1 << (bits - 1))
        ref[b - s] = r
        pc = c if r <= 0 else pc + 1
        state = step(state, size)
        assert list(signed_memory(state, size))[: len(mem)] == ref
        assert state.pc == pc - first
        if pc == n:
            assert step(state, size) == state  # the appended halt: a fixed point
            break
