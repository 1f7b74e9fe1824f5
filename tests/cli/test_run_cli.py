"""``loopmlp run`` and ``loopmlp info``: output, JSON, exit codes, and every malformed input.

A malformed program or option must give exit code 2 and exactly one line on stderr (naming the
file, and the line where there is one), no traceback, nothing on stdout, and no file written in
the working directory. Each test runs in a fresh ``tmp_path`` as the working directory.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from support.cli import run as cli

from constructions.machine.asm import check_expected, load
from constructions.machine.subleq import run as interpret
from constructions.machine.subleq import signed_memory
from verify.network import Network

CORPUS = Path(__file__).resolve().parents[2] / "constructions" / "programs"
COUNTDOWN = CORPUS / "countdown.sq"
OK = (".data\nzero: 0\nn: 3\none: 1\n.code\nloop: subleq one, n, done\n"
      "      subleq zero, zero, loop\ndone: halt\n")




@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# --------------------------------------------------------------------------- run


def test_run_check_json_on_a_corpus_program(workdir: Path) -> None:
    code, out, err = cli("run", str(COUNTDOWN), "--check", "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    program = load(COUNTDOWN)
    want = interpret(program.state, program.size, 100_000)
    assert doc["agrees_with_interpreter"] is True
    assert doc["halted"] is True and doc["reason"] == "halted"
    assert (doc["steps"], doc["pc"]) == (want.steps, want.state.pc)
    assert doc["words"] == list(signed_memory(want.state, program.size))
    assert doc["memory"]["ticks"] == 10 and doc["memory"]["n"] == 0
    assert (doc["profile"], doc["layers"]) == ("paper", 23)
    assert doc["size"] == {"words": 8, "bits": 16, "slots": 4}
    assert "trace" not in doc
    assert check_expected(program, want.state) == []
    assert listing(workdir) == set()


def test_run_text_output(workdir: Path) -> None:
    code, out, err = cli("run", str(COUNTDOWN), "--profile", "paper-minimal", "--check")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (f"{COUNTDOWN}: halted after 29 steps on the paper-minimal profile "
                        "(13 layers), pc=3")
    assert "  ticks = 10" in lines and "  n = 0" in lines
    assert lines[-1] == "  interpreter: agrees"
    code, out, _ = cli("run", str(COUNTDOWN), "--profile", "paper-minimal")
    assert code == 0 and "interpreter" not in out
    code, out, _ = cli("run", str(COUNTDOWN), "--profile", "paper-minimal", "--json")
    assert code == 0 and json.loads(out)["agrees_with_interpreter"] is None


def test_run_trace_lines(workdir: Path) -> None:
    (workdir / "ok.sq").write_text(OK, encoding="utf-8")
    program = load("ok.sq")
    want = interpret(program.state, program.size, 100, trace=True)
    assert want.trace is not None
    code, out, err = cli("run", "ok.sq", "--trace", "--profile", "paper-minimal")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    steps = [ln for ln in lines if ln.startswith("step ")]
    assert len(steps) == want.steps + 1 == len(want.trace)
    for n, (ln, s) in enumerate(zip(steps, want.trace)):
        words = signed_memory(s, program.size)
        named = " ".join(f"{k}={words[a]}" for k, a in program.data_labels.items())
        assert ln == f"step {n}: pc={s.pc} {named}"
    assert lines[len(steps)].startswith(f"ok.sq: halted after {want.steps} steps")
    assert listing(workdir) == {"ok.sq"}


def test_run_trace_json(workdir: Path) -> None:
    (workdir / "ok.sq").write_text(OK, encoding="utf-8")
    code, out, err = cli("run", "ok.sq", "--trace", "--json", "--check")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert len(doc["trace"]) == doc["steps"] + 1
    assert doc["trace"][-1] == {"pc": doc["pc"], "words": doc["words"]}
    assert [t["words"][1] for t in doc["trace"]][:2] == [3, 2]


def test_run_step_limit_exits_3(workdir: Path) -> None:
    code, out, err = cli("run", str(COUNTDOWN), "--max-steps", "5", "--json", "--check")
    assert (code, err) == (3, "")
    doc = json.loads(out)
    assert (doc["halted"], doc["reason"], doc["steps"]) == (False, "step limit", 5)
    assert doc["agrees_with_interpreter"] is True
    assert (doc["expectations_hold"], doc["expectations"]) == (None, [])
    code, out, err = cli("run", str(COUNTDOWN), "--max-steps", "5")
    assert (code, err) == (3, "")
    assert out.splitlines()[0].startswith(f"{COUNTDOWN}: did not halt within 5 steps on the")
    assert "  expectations: not checked (the program did not halt)" in out.splitlines()


def test_one_step_reads_right(workdir: Path) -> None:
    code, out, _ = cli("run", str(COUNTDOWN), "--max-steps", "1")
    assert code == 3
    assert f"{COUNTDOWN}: did not halt within 1 step on the" in out
    (workdir / "one.sq").write_text(".data\nz: 0\nx: 1\n.code\nsubleq x, x\nhalt\n",
                                    encoding="utf-8")
    code, out, _ = cli("run", "one.sq")
    assert code == 0
    assert out.startswith("one.sq: halted after 1 step on the paper profile")


def test_help_shows_defaults_and_exit_codes() -> None:
    code, out, _ = cli("run", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "(default 100000)" in text and "default engine" in text and "(default paper)" in text
    assert "3 the program did not halt within --max-steps" in text
    assert "1 the network disagrees with the interpreter (--check), or an expect line fails" \
        in text


@pytest.mark.parametrize("profile", ["paper", "compact"])
def test_engine_and_reference_agree(workdir: Path, profile: str) -> None:
    program = COUNTDOWN
    docs = {}
    for engine in ("engine", "reference"):
        for extra in ([], ["--check", "--trace"], ["--max-steps", "7"]):
            code, out, err = cli("run", str(program), "--profile", profile, "--engine", engine,
                                 "--json", *extra)
            assert err == ""
            doc = json.loads(out)
            assert doc.pop("engine") == engine
            docs[engine, tuple(extra)] = (code, doc)
    for extra in ([], ["--check", "--trace"], ["--max-steps", "7"]):
        assert docs["engine", tuple(extra)] == docs["reference", tuple(extra)]
    want = interpret(load(program).state, load(program).size, 100_000)
    code, doc = docs["engine", ()]
    assert (code, doc["steps"], doc["halted"]) == (0, want.steps, True)
    assert docs["engine", ("--max-steps", "7")][0] == 3


def test_engine_is_the_default(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Network, x: np.ndarray, arithmetic: str) -> np.ndarray:
        raise AssertionError("the reference evaluation ran")

    monkeypatch.setattr(Network, "forward", refuse)
    code, out, err = cli("run", str(COUNTDOWN), "--check", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["engine"] == "engine"
    code, out, err = cli("run", str(COUNTDOWN), "--engine", "reference")
    assert code == 2 and "the reference evaluation ran" in err


# --------------------------------------------------------------------------- expect lines

EXPECTING = (".data\nzero: 0\none: 1\nn: 3\nticks: 0\nneg1: -1\n.code\n"
             "loop: subleq neg1, ticks\n      subleq one, n, done\n      subleq zero, zero, loop\n"
             "done: halt\n")


def test_expect_lines_hold(workdir: Path) -> None:
    (workdir / "e.sq").write_text("; expect: ticks = 3\n; expect: n = 0\n" + EXPECTING,
                                  encoding="utf-8")
    code, out, err = cli("run", "e.sq")
    assert (code, err) == (0, "")
    assert "  expectations: 2 of 2 hold" in out.splitlines()
    code, out, _ = cli("run", "e.sq", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["expectations_hold"] is True
    assert doc["expectations"] == [
        {"ref": "ticks", "expected": 3, "got": 3, "holds": True},
        {"ref": "n", "expected": 0, "got": 0, "holds": True}]


def test_expect_mismatch_exits_1_naming_label_and_values(workdir: Path) -> None:
    (workdir / "e.sq").write_text("; expect: ticks = 4\n; expect: n = 0\n" + EXPECTING,
                                  encoding="utf-8")
    for engine in ("engine", "reference"):
        code, out, err = cli("run", "e.sq", "--check", "--engine", engine)
        assert (code, err) == (1, "")
        lines = out.splitlines()
        assert "  expectations: 1 of 2 hold" in lines
        assert "  expectation fails: ticks: expected 4, got 3" in lines
        assert "  interpreter: agrees" in lines
    code, out, _ = cli("run", "e.sq", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["expectations_hold"] is False
    assert doc["expectations"][0] == {"ref": "ticks", "expected": 4, "got": 3, "holds": False}


def test_expect_naming_an_unknown_label_is_bad_input(workdir: Path) -> None:
    (workdir / "e.sq").write_text("; expect: nope = 4\n" + EXPECTING, encoding="utf-8")
    code, out, err = cli("run", "e.sq")
    assert (code, out) == (2, "")
    assert "e.sq:1: expect names unknown data label 'nope'" in _one_error_line(err)


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.sq")))
def test_corpus_expect_lines_hold(workdir: Path, name: str) -> None:
    code, out, err = cli("run", str(CORPUS / name), "--profile", "compact", "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["expectations_hold"] is True and doc["expectations"]


# --------------------------------------------------------------------------- malformed input

MALFORMED = [
    ("unknown-label", ".data\nz: 0\n.code\nsubleq z, nope, 0\n", r"bad\.sq:4: unknown label"),
    ("value-range", ".data\nz: 0\nbig: 70000\n.code\nhalt\n",
     r"bad\.sq:3: value 70000 out of range for bits=16"),
    ("bad-syntax", ".data\nz: 0\n.code\nsubleq z z z z\n", r"bad\.sq:4: bad operand"),
    ("duplicate-label", ".data\nz: 0\nz: 1\n.code\nhalt\n", r"bad\.sq:3: .*z"),
    ("no-section", "subleq 0, 0\n", r"bad\.sq:1: "),
    ("too-many-operands", ".code\nsubleq 0, 1, 0, 1\n", r"bad\.sq:2: too many operands"),
    ("empty", "; nothing\n", r"bad\.sq: empty program"),
    ("data-label-as-target", ".data\nz: 0\n.code\nsubleq z, z, z\n", r"bad\.sq:4: 'z' is a data"),
]


def _one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err
    assert lines[0].startswith("loopmlp: error: ")
    return lines[0]


@pytest.mark.parametrize(("text", "message"), [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_program(workdir: Path, text: str, message: str) -> None:
    (workdir / "bad.sq").write_text(text, encoding="utf-8")
    for extra in ([], ["--json"], ["--check", "--trace"]):
        code, out, err = cli("run", "bad.sq", *extra)
        assert (code, out) == (2, "")
        assert re.search(message, _one_error_line(err)), err
    assert listing(workdir) == {"bad.sq"}


def test_program_too_large_for_options(workdir: Path) -> None:
    (workdir / "ok.sq").write_text(OK, encoding="utf-8")
    (workdir / "three.sq").write_text(".code\nsubleq 0, 0, 0\nsubleq 0, 0, 0\nsubleq 0, 0, 0\n",
                                      encoding="utf-8")
    code, out, err = cli("run", "three.sq", "--slots", "2")
    assert (code, out) == (2, "")
    assert re.search(r"three\.sq:4: program has 3 instructions: more than slots=2",
                     _one_error_line(err))
    code, out, err = cli("run", "ok.sq", "--slots", "2")
    assert (code, out) == (2, "")
    assert re.search(r"ok\.sq:6: slot 2 out of range for slots=2", _one_error_line(err))
    code, out, err = cli("run", "ok.sq", "--words", "2")
    assert (code, out) == (2, "")
    assert re.search(r"ok\.sq:4: data has 3 words: more than words=2", _one_error_line(err))


@pytest.mark.parametrize("kind", ["missing", "directory", "binary", "not-utf8-later"])
def test_unreadable_file(workdir: Path, kind: str) -> None:
    name = {"missing": "missing.sq", "directory": "dir.sq", "binary": "bin.sq",
            "not-utf8-later": "latin.sq"}[kind]
    if kind == "directory":
        (workdir / name).mkdir()
    elif kind == "binary":
        (workdir / name).write_bytes(b"\x00\xff\xfe\x89PNG\r\n\x1a\n\x00\x01\x02")
    elif kind == "not-utf8-later":
        (workdir / name).write_bytes(b".data\nz: 0\n; caf\xe9\n.code\nhalt\n")
    before = listing(workdir)
    code, out, err = cli("run", name, "--check", "--json")
    assert (code, out) == (2, "")
    line = _one_error_line(err)
    assert f"{name}" in line
    if kind == "not-utf8-later":
        assert f"{name}:3: not UTF-8" in line
    assert listing(workdir) == before


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--words", "2**40", "words=1099511627776: need a power of two from 2 to 65536"),
    ("--words", "3", "words=3: need a power of two"),
    ("--slots", "0", "slots=0: need a power of two"),
    ("--bits", "1", "bits=1: need an integer from 2 to 64"),
    ("--bits", "65", "bits=65: need an integer from 2 to 64"),
    ("--words", "many", "argument --words: 'many' is not an integer"),
    ("--max-steps", "ten", "argument --max-steps: 'ten' is not an integer"),
    ("--profile", "compact-9", "argument --profile: invalid choice"),
])
def test_bad_option(workdir: Path, option: str, value: str, message: str) -> None:
    (workdir / "ok.sq").write_text(OK, encoding="utf-8")
    code, out, err = cli("run", "ok.sq", option, value)
    assert (code, out) == (2, "")
    assert message in _one_error_line(err)
    assert listing(workdir) == {"ok.sq"}


def test_run_needs_a_file(workdir: Path) -> None:
    code, out, err = cli("run")
    assert (code, out) == (2, "")
    assert "FILE.sq" in _one_error_line(err)


class _BudgetError(Exception):
    pass


def test_negative_max_steps_is_refused(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A non-halting program: z keeps decreasing and the PC cycles 0 -> 1 -> 0.
    (workdir / "spin.sq").write_text(".data\nz: 1\no: 1\n.code\nsubleq o, z\nsubleq o, z, 0\n",
                                     encoding="utf-8")
    forward = Network.forward
    calls = [0]

    def bounded(self: Network, x: np.ndarray, arithmetic: str) -> np.ndarray:
        calls[0] += 1
        if calls[0] > 500:
            raise _BudgetError("ran past 500 steps with --max-steps -1")
        return forward(self, x, arithmetic)

    monkeypatch.setattr(Network, "forward", bounded)
    code, out, err = cli("run", "spin.sq", "--max-steps", "-1", "--profile", "paper-minimal")
    assert "_BudgetError" not in err, err
    assert (code, out) == (2, "")
    assert "max" in _one_error_line(err)


# --------------------------------------------------------------------------- info


def test_info_text(workdir: Path) -> None:
    code, out, err = cli("info", "--words", "4", "--bits", "4", "--slots", "4")
    assert (code, err) == (0, "")
    assert listing(workdir) == set()
    lines = out.splitlines()
    assert lines[0] == "profile paper: words=4 bits=4 slots=4"
    assert re.match(r"  layers 23 \(10 identity\), state width 42, widest layer \d+$", lines[1])
    rows = lines[3:]
    assert len(rows) == 23
    assert sum(r.endswith("  identity") for r in rows) == 10
    assert re.match(r"\s+0 fetch: match\s+42 -> \d+\s+nnz \d+$", rows[0])


def test_info_json_matches_text() -> None:
    code, out, err = cli("info", "--profile", "paper-minimal", "--words", "4", "--bits", "4",
                         "--slots", "4", "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["profile"] == "paper-minimal"
    assert (doc["layers"], doc["identity_layers"], doc["state_width"]) == (13, 0, 42)
    assert doc["parameters"] >= doc["nonzero_weights"] > 0
    assert doc["dense_parameters"] > doc["parameters"]
    _, text, _ = cli("info", "--profile", "paper-minimal", "--words", "4", "--bits", "4",
                     "--slots", "4")
    assert f"nonzero weights {doc['nonzero_weights']}," in text
    for x in doc["per_layer"]:
        assert set(x) == {"index", "label", "identity", "inputs", "outputs", "nonzero_weights",
                          "nonzero_biases"}
        assert x["label"] in text


@pytest.mark.parametrize(("argv", "message"), [
    (["--words", "2**40"], "words=1099511627776"),
    (["--bits", "1"], "bits=1"),
    (["--slots", "6"], "slots=6"),
    (["--profile", "nope"], "invalid choice"),
    pytest.param(
        ["--bits", "0", "--words", "4", "--slots", "4"], "bits=0",
        id="bits-0"),
])
def test_info_bad_size(argv: list[str], message: str) -> None:
    code, out, err = cli("info", *argv)
    assert (code, out) == (2, "")
    assert message in _one_error_line(err)


# --------------------------------------------------------------------------- sizes, literals, slots


def test_size_directive_and_option_in_conflict(workdir: Path) -> None:
    (workdir / "s.sq").write_text(".size bits=8\n.data\nz: 0\nn: 10\n.code\nhalt\n",
                                  encoding="utf-8")
    code, out, err = cli("run", "s.sq", "--bits", "4")
    assert (code, out) == (2, "")
    assert "s.sq:1: .size bits=8 conflicts with bits=4 from the options" in _one_error_line(err)
    code, out, err = cli("run", "s.sq", "--bits", "8", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["memory"]["n"] == 10


def test_decimal_literal_outside_the_signed_word_is_refused(workdir: Path) -> None:
    (workdir / "x.sq").write_text(".data\nz: 0\nx: 40000\n.code\nhalt\n", encoding="utf-8")
    code, out, err = cli("run", "x.sq")
    assert (code, out) == (2, "")
    assert "x.sq:3: value 40000 out of range for bits=16: need -32768 to 32767" \
        in _one_error_line(err)
    (workdir / "x.sq").write_text(".data\nz: 0\nx: 0x9c40\n.code\nhalt\n", encoding="utf-8")
    code, out, err = cli("run", "x.sq", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["memory"]["x"] == 40000 - 65536


def test_running_off_the_end_halts_and_changes_nothing(workdir: Path) -> None:
    # word 0 is x = 7: the old filler (subleq 0, 0, self) would have set it to 0
    (workdir / "end.sq").write_text(".data\nx: 7\nn: 3\none: 1\n.code\nsubleq one, n\n"
                                    "subleq one, n\nsubleq one, n\n", encoding="utf-8")
    for engine in ("engine", "reference"):
        code, out, err = cli("run", "end.sq", "--check", "--json", "--engine", engine)
        assert (code, err) == (0, "")
        doc = json.loads(out)
        assert doc["halted"] and doc["steps"] == 3 and doc["pc"] == 3
        assert doc["memory"] == {"x": 7, "n": 0, "one": 1}
