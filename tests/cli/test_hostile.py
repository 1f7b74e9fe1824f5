"""Hostile inputs to every loader and command: one line on stderr, exit code 2, nothing written.

The files of ``tests/hostile/`` are the corpus: malformed, truncated, binary or absurd programs
and results files, each with the message it must produce below. Sizes are refused before
anything is allocated: the tests replace the builders with a trap that fails if it is reached.
Each CLI test runs in a fresh ``tmp_path`` as the working directory and checks that its listing
and modification times are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import run as cli

import constructions.computer.pipeline
import constructions.machine.limits
import loopmlp.cli.info
import loopmlp.cli.report
import loopmlp.cli.run
import loopmlp.report.results
import proofs.registry
import verify.files
from constructions.computer import PROFILES, build
from constructions.machine import asm
from constructions.machine.limits import estimate_weights
from constructions.machine.subleq import MachineSize
from loopmlp.cli.args import check_fits
from loopmlp.report.directory import write_report_files
from verify.errors import InputError, LoopmlpError, ParameterError

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "hostile"
CORPUS = ROOT / "constructions" / "programs"
OK = ".data\nz: 0\nn: 3\none: 1\n.code\nloop: subleq one, n, done\nsubleq z, z, loop\ndone: halt\n"
BUDGET = 4 << 30  # bytes: every size test runs as if the machine had 8 GiB




def one_error_line(err: str) -> str:
    """The single stderr line of a refused command (never a traceback or an internal error)."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert lines[0].startswith("loopmlp: error: "), err
    return lines[0]


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and modification time."""
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in root.rglob("*")}


class AllocatedError(Exception):
    """Raised by a trap put where a network would be built: the refusal came too late."""


def trap(*args: object, **kwargs: object) -> None:
    raise AllocatedError("reached the builder")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(constructions.machine.limits, "memory_budget", lambda: BUDGET)
    return tmp_path


def refused(argv: list[str], workdir: Path, pattern: str) -> str:
    """Run ``argv``; it must exit 2 with one line matching ``pattern`` and change nothing."""
    before = snapshot(workdir)
    code, out, err = cli(*argv)
    line = one_error_line(err)
    assert (code, out) == (2, ""), (code, out, err)
    assert re.search(pattern, line), line
    assert snapshot(workdir) == before
    return line


# --------------------------------------------------------------------------- programs
PROGRAMS = {
    "nul-byte.sq": r"nul-byte\.sq:2: bad data value '0\\x00'",
    "not-utf8.sq": r"not-utf8\.sq:3: not UTF-8 text: byte 0xe9 at offset 16",
    "binary.sq": r"binary\.sq:1: not UTF-8 text: byte 0x89 at offset 0",
    "empty.sq": r"empty\.sq: empty program: no instructions in \.code",
    "comments-only.sq": r"comments-only\.sq: empty program",
    "huge-literal.sq": r"huge-literal\.sq:2: integer '1000.*\.\.\.' is too long$",
    "huge-size.sq": r"huge-size\.sq:1: words=1099511627776: need a power of two from 2 to 65536",
    "size-not-power.sq": r"size-not-power\.sq:1: words=48: need a power of two",
    "size-zero-bits.sq": r"size-zero-bits\.sq:1: bits=0: need an integer from 2 to 64",
    "size-negative.sq": r"size-negative\.sq:1: bad \.size item 'slots=-4'",
    "size-unbuildable.sq": r"size-unbuildable\.sq: size='words=65536, bits=64, slots=65536': "
                           r"need a paper network of at most 7,158,278 weights .* about "
                           r"511,\d{3},\d{3} weights",
    "duplicate-label.sq": r"duplicate-label\.sq:5: duplicate label 'n' \(first defined on line 3\)",
    "undefined-label.sq": r"undefined-label\.sq:4: unknown label 'nowhere'",
    "address-range.sq": r"address-range\.sq:5: address 70000 out of range for words=4",
    "negative-address.sq": r"negative-address\.sq:4: address -1 out of range",
    "slot-range.sq": r"slot-range\.sq:5: slot 5 out of range for slots=2",
    "value-range.sq": r"value-range\.sq:4: value 256 out of range for bits=8: need -128 to 127",
    "reserved-label.sq": r"reserved-label\.sq:2: 'self' is reserved",
    "no-section.sq": r"no-section\.sq:1: line outside any section",
    "cr-only.sq": r"cr-only\.sq:1: \.data takes nothing after it",
}


def test_the_corpus_is_complete() -> None:
    assert {p.name for p in HOSTILE.glob("*.sq")} == set(PROGRAMS)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_hostile_program(name: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / name).write_bytes((HOSTILE / name).read_bytes())
    monkeypatch.setattr(loopmlp.cli.run, "build", trap)
    for extra in ([], ["--json", "--trace", "--check"]):
        refused(["run", name, *extra], workdir, PROGRAMS[name])


def test_every_prefix_of_every_corpus_program_assembles_or_names_the_line() -> None:
    """Cut at every byte offset: the prefix assembles, or the error is ``path[:line]: reason``."""
    cuts = assembled = 0
    for path in sorted(CORPUS.glob("*.sq")):
        data = path.read_bytes()
        for n in range(len(data) + 1):
            text = data[:n].decode("utf-8", errors="strict")  # the corpus is ASCII
            cuts += 1
            try:
                program = asm.assemble(text, "cut.sq")
            except InputError as e:
                assert re.fullmatch(r"cut\.sq(:\d+)?: .+", str(e)), str(e)
                if e.line is not None:
                    assert 1 <= e.line <= text.count("\n") + 1, str(e)
                continue
            assembled += 1
            assert program.state.pc == 0 and len(program.state.code) == program.size.slots
    assert cuts > 5000 and 0 < assembled < cuts


def test_load_refuses_what_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          fifo: Callable[[Path], Path]) -> None:
    (tmp_path / "dir.sq").mkdir()
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    fifo(tmp_path / "fifo.sq")
    (tmp_path / "link.sq").symlink_to("fifo.sq")
    for name, reason in [("dir.sq", "Is a directory"), ("missing.sq", "No such file"),
                         ("file.txt/x.sq", "Not a directory"), ("nul\0.sq", "embedded null"),
                         ("fifo.sq", r"not a regular file \(a FIFO\)"),
                         ("link.sq", r"not a regular file \(a FIFO\)")]:
        with pytest.raises(InputError, match=f"cannot read file: .*{reason}"):
            asm.load(tmp_path / name)
    locked = tmp_path / "locked.sq"
    locked.write_text(OK, encoding="utf-8")
    locked.chmod(0)
    if os.geteuid() != 0:  # root reads it anyway; the refusal is then simulated below
        with pytest.raises(InputError, match="locked.sq: cannot read file: Permission denied"):
            asm.load(locked)

    def denied(path: object, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(verify.files.os, "open", denied)
    with pytest.raises(InputError, match="locked.sq: cannot read file: Permission denied"):
        asm.load(locked)


def test_run_refuses_unreadable_paths(workdir: Path) -> None:
    (workdir / "dir.sq").mkdir()
    (workdir / "file.txt").write_text("x", encoding="utf-8")
    refused(["run", "dir.sq"], workdir, r"dir\.sq: cannot read file: Is a directory")
    refused(["run", "missing.sq"], workdir, r"missing\.sq: cannot read file: No such file")
    refused(["run", "file.txt/x.sq"], workdir, r"file\.txt/x\.sq: cannot read file: Not a dir")


def test_file_larger_than_the_limit(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asm, "MAX_FILE_BYTES", 64)
    (workdir / "big.sq").write_text(OK + ";" * 64, encoding="utf-8")
    refused(["run", "big.sq"], workdir, r"big\.sq: file larger than 64 bytes")


@pytest.mark.parametrize(("text", "pattern"), [
    (".data\n" + " ".join(f"a{i}:" for i in range(50_000)) + " 0\n.code\nhalt\n", None),
    (".data\n" + "0 " * 70_000 + "\n.code\nhalt\n",
     r"<string>:2: data has more than 65536 words, the largest memory"),
    (".data\nz: 0\n.code\n" + "subleq 0, 0\n" * 70_000,
     r"<string>:65540: program has more than 65536 instructions"),
    (".data\nz: 0\n; " + "x" * 2_000_000 + "\n.code\nhalt\n", None),
    (".code\nsubleq " + "a" * 2_000_000 + ", b\n", r"<string>:2: unknown label 'aaaa.*\.\.\.'$"),
], ids=["50k-labels-on-one-line", "70k-words", "70k-instructions", "2MB-comment",
        "2MB-label"])
def test_long_inputs_are_linear(text: str, pattern: str | None) -> None:
    """Long lines and huge programs are parsed (or refused) in about a second, not minutes."""
    import time

    t0 = time.perf_counter()
    if pattern is None:
        asm.assemble(text)
    else:
        with pytest.raises(InputError, match=pattern):
            asm.assemble(text)
    assert time.perf_counter() - t0 < 10


# --------------------------------------------------------------------------- sizes
SIZE_CASES = [
    (["--words", "2**40"], r"words=1099511627776: need a power of two from 2 to 65536"),
    (["--words", "0"], r"words=0: need a power of two"),
    (["--words", "-8"], r"words=-8: need a power of two"),
    (["--words", "12"], r"words=12: need a power of two"),
    (["--slots", "2**17"], r"slots=131072: need a power of two from 2 to 65536"),
    (["--bits", "10**6"], r"bits=1000000: need an integer from 2 to 64"),
    (["--bits", "-1"], r"bits=-1: need an integer from 2 to 64"),
    (["--words", "2**-1"], r"argument --words: '2\*\*-1' is not an integer"),
    (["--words", "10**400"], r"argument --words: '10\*\*400' is too large \(2\*\*256 or more\)"),
    (["--bits", "1" + "0" * 5000], r"argument --bits: '1000.*\.\.\.' is not an integer"),
    (["--words", "65536", "--bits", "64", "--slots", "65536"],
     r"size='words=65536, bits=64, slots=65536': need a paper network of at most 7,158,278 "
     r"weights \(4\.0 GiB, half of this machine's memory\); this one would have about "
     r"511,\d{3},\d{3} weights \(about 28\d\.\d GiB to build\): lower --words, --bits or --slots"),
    (["--profile", "compact", "--words", "65536", "--slots", "65536"],
     r"size='words=65536, bits=16, slots=65536': need a compact( \(unfolded\))? network"),
]


@pytest.mark.parametrize(("argv", "pattern"), SIZE_CASES)
def test_run_refuses_sizes_before_building(argv: list[str], pattern: str, workdir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "ok.sq").write_text(OK, encoding="utf-8")
    monkeypatch.setattr(loopmlp.cli.run, "build", trap)
    if "size=" in pattern:  # a valid size: the program assembles, the network is refused
        pattern = r"ok\.sq: " + pattern
    else:  # an invalid size: not even a state is allocated
        monkeypatch.setattr(asm, "make_state", trap)
    refused(["run", "ok.sq", *argv], workdir, pattern)


@pytest.mark.parametrize(("argv", "pattern"), SIZE_CASES)
def test_info_refuses_sizes_before_building(argv: list[str], pattern: str, workdir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loopmlp.cli.info, "build", trap)
    refused(["info", *argv], workdir, pattern.replace("argument", "info: argument"))


@pytest.mark.parametrize(("argv", "pattern"), [
    (["--max-steps", "-1"], r"--max-steps=-1: need an integer from 0 to 1,000,000,000"),
    (["--max-steps", "10**10"], r"--max-steps=10000000000: need an integer from 0 to 1,000,00"),
    (["--max-steps", "10**50"], r"--max-steps=1000.*: need an integer from 0"),
    (["--max-steps", "10**300"], r"argument --max-steps: '10\*\*300' is too large"),
    (["--max-steps", "1e9"], r"argument --max-steps: '1e9' is not an integer"),
    (["--trace", "--words", "65536", "--max-steps", "10**6"],
     r"ok\.sq: --max-steps=1000000: need at most 1,637 steps when every state is kept "
     r"\(words=65536\): up to 1,000,001 states would take about 2441\.4 GiB"),
])
def test_run_refuses_step_limits_before_building(argv: list[str], pattern: str,
                                                 workdir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "ok.sq").write_text(OK, encoding="utf-8")
    monkeypatch.setattr(loopmlp.cli.run, "build", trap)
    monkeypatch.setattr(constructions.machine.limits, "estimate_weights",
                        lambda profile, size, folded=True: 1)
    refused(["run", "ok.sq", *argv], workdir, pattern)


@pytest.mark.parametrize(("argv", "pattern"), [
    (["prove", "--timeout", "-1"], r"--timeout=-1\.0: need a positive number of seconds"),
    (["prove", "--timeout", "0"], r"--timeout=0\.0: need a positive number"),
    (["prove", "--timeout", "nan"], r"--timeout=nan: need a positive number"),
    (["prove", "--timeout", "1e400"], r"--timeout=inf: need a positive number of seconds, at "
                                      r"most 1e\+06"),
    (["prove", "--timeout", "ten"], r"argument --timeout: invalid float value: 'ten'"),
    (["bench", "solvers", "--timeout", "1e400"], r"--timeout=inf: need a positive number"),
    (["check", "m.onnx", "--spec", "subtract", "--bits", "4", "--timeout", "-1"],
     r"--timeout=-1\.0: need a positive number of seconds"),
    (["export", "--vnnlib", "v", "--bits", "2", "--timeout", "inf"],
     r"--timeout=inf: need a positive number"),
    (["bench", "proofs", "--monolithic-timeout", "1e400"],
     r"--monolithic-timeout=inf: need a positive number of seconds"),
    (["report", "--out", "r", "--timeout", "inf"], r"--timeout=inf: need a positive number"),
    (["report", "--out", "r", "--trace-steps", "-5"], r"--trace-steps=-5: need a non-negative"),
    (["report", "--out", "r", "--trace-steps", "10000000000"],
     r"--trace-steps=10000000000: need an integer from 0 to 1,000,000,000"),
    (["report", "--out", "r", "--trace-steps", "100000000"],
     r"--trace-steps=100000000: need at most 11,930,463 steps when every state is kept "
     r"\(words=8\)"),
    (["report", "--out", "r", "--bits", "0"], r"--bits=0: need 1 <= bits <= 64"),
    (["report", "--out", "r", "--bits", "1000000"], r"--bits=1000000: need 1 <= bits <= 64"),
    (["report", "--out", "r", "--trace-program", "big.sq"],
     r"size='words=65536, bits=64, slots=65536': need a paper network .* lower the size of "
     r"--trace-program"),
    (["report", "--out", "r", "--trace-program", "dir"], r"dir: cannot read file"),
    (["replay", "gadget/subtract[bits=2]", "--at", "DA=" + "9" * 5000],
     r"--at='DA=999.*\.\.\.': need an integer value$"),
    (["replay", "gadget/subtract[bits=2]", "--at", "DA=" + "9" * 100],
     r"--at='DA=999.*\.\.\.': need a value below 2\*\*256 in size$"),
    (["replay", "gadget/subtract[bits=2]", "--at", "x" * 500 + "=1"],
     r"--at='xxx.*\.\.\.': need an input of gadget/subtract\[bits=2\] \(DA, DB\)$"),
    (["replay", "gadget/subtract[bits=2]", "--at", "DA=4,DB=0"],
     r"--at DA=4: need a 2-bit word in \[-2, 3\]"),
])
def test_options_of_other_commands(argv: list[str], pattern: str, workdir: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "big.sq").write_bytes((HOSTILE / "size-unbuildable.sq").read_bytes())
    (workdir / "dir").mkdir()
    monkeypatch.setattr(proofs.registry, "run_entry", trap)  # nothing is proved
    monkeypatch.setattr(loopmlp.cli.report, "prepare_report", trap)
    monkeypatch.setattr(constructions.computer.pipeline, "assemble", trap)
    refused(argv, workdir, pattern)


def test_check_fits_from_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constructions.machine.limits, "memory_budget", lambda: BUDGET)
    for bad in (2**40, 0, 3, -2, 1.5, True, "16"):
        with pytest.raises(ParameterError, match="words="):
            MachineSize(bad, 16, 16)  # type: ignore[arg-type]
    size = MachineSize(65536, 64, 65536)
    for profile in PROFILES:
        with pytest.raises(ParameterError, match=f"need a {profile} network of at most"):
            check_fits(profile, size)
    assert check_fits("paper", MachineSize(16, 16, 64)) == estimate_weights(
        "paper", MachineSize(16, 16, 64))


@pytest.mark.parametrize("profile", PROFILES)
def test_the_estimate_is_close_to_the_built_network(profile: str) -> None:
    for words, bits, slots in [(2, 4, 2), (8, 8, 4), (4, 16, 16)]:
        size = MachineSize(words, bits, slots)
        real = build(profile, size).network.nnz
        assert 0.8 * real <= estimate_weights(profile, size) <= 1.25 * real, (size, real)


def test_build_refuses_an_unbuildable_size_before_allocating(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constructions.computer.pipeline, "state_names", trap)
    monkeypatch.setattr(constructions.computer.pipeline, "placements", trap)
    with pytest.raises(ParameterError, match="words=4096"):
        build("paper", MachineSize(4096, 64, 4096))


@pytest.mark.parametrize("profile", PROFILES)
def test_build_refuses_an_absurd_size_for_every_profile(
        profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constructions.computer.pipeline, "placements", trap)
    with pytest.raises(ParameterError,
                       match=f"need a {profile}( \\(unfolded\\))? network of at most"):
        build(profile, MachineSize(65536, 64, 65536))


def test_compact_folds_only_when_its_folded_layers_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Room for the unfolded layers (what run steps) but not for the folded ones: build
    # succeeds, and forming the folded layers is refused with the estimate.
    size = MachineSize(16, 16, 64)
    unfolded = estimate_weights("compact", size, folded=False)
    folded = estimate_weights("compact", size)
    assert unfolded < folded
    budget = (unfolded + folded) // 2 * constructions.machine.limits.BYTES_PER_WEIGHT
    monkeypatch.setattr(constructions.machine.limits, "memory_budget", lambda: budget)
    computer = build("compact", size)
    assert computer.unfolded is not None and len(computer.unfolded.layers) > 0
    with pytest.raises(ParameterError, match="need a compact network of at most"):
        computer.network.layers  # noqa: B018 - forming the folded layers


# --------------------------------------------------------------------------- JSON
RESULTS = {
    "results-truncated.json": r"results-truncated\.json:9: not valid JSON: Expecting property "
                              r"name",
    "results-nan.json": r"results-nan\.json: not valid JSON: NaN is not a number",
    "results-wrong-type.json": r"results: unexpected value \{'a': 1\}",
    "results-wrong-tool.json": r"tool: 'other' is not 'loopmlp'",
    "results-negative.json": r"results\[0\]: checked=-1 and total=8 must not be negative",
    "results-bad-verdict.json": r"results\[0\]\.verdict: 'maybe' is not one of",
    "results-huge-seconds.json": r"seconds: 1000.* is not a non-negative number of seconds",
    "results-deep.json": r"results-deep\.json: not a `loopmlp prove --json` document: nested "
                         r"too deeply",
    "results-not-utf8.json": r"results-not-utf8\.json:\d+: not UTF-8 text: byte 0xff at offset 14",
    "results-list.json": r"top level: expected an object",
}


def test_the_results_corpus_is_complete() -> None:
    assert {p.name for p in HOSTILE.glob("*.json")} == set(RESULTS)


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_hostile_results_file(name: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / name).write_bytes((HOSTILE / name).read_bytes())
    monkeypatch.setattr(loopmlp.cli.report, "prepare_report", trap)
    line = refused(["report", "--out", "out", "--from", name, "--no-pictures"], workdir,
                   RESULTS[name])
    assert line.startswith(f"loopmlp: error: {name}")


def test_results_truncated_at_every_offset(tmp_path: Path) -> None:
    """Every proper prefix of a valid results file is refused as an InputError naming it."""
    doc = {"tool": "loopmlp", "version": "1", "seconds": 0.5, "results": [
        {"obligation": "a/b", "verdict": "refuted", "method": "exhaustive", "checked": 3,
         "total": 8, "seconds": 0.1, "reason": "counterexample",
         "counterexample": {"coordinates": {"x": 1}, "inputs": {"x": 1},
                            "network": {"y": 0}, "spec": {"y": 1}}, "details": {}}],
        "summary": {"proved": 0, "refuted": 1, "unknown": 0}}
    data = json.dumps(doc).encode()
    path = tmp_path / "r.json"
    path.write_bytes(data)
    assert loopmlp.report.results.load_results(str(path))[0][0].counterexample is not None
    for n in range(len(data)):
        path.write_bytes(data[:n])
        with pytest.raises(InputError, match=r"r\.json(:\d+)?: "):
            loopmlp.report.results.load_results(str(path))


def test_results_larger_than_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loopmlp.report.results, "MAX_RESULTS_BYTES", 10)
    (tmp_path / "r.json").write_text("{}" + " " * 20, encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.json: file larger than 10 bytes"):
        loopmlp.report.results.load_results(str(tmp_path / "r.json"))


# --------------------------------------------------------------------------- output paths
@pytest.fixture
def fast_prove(monkeypatch: pytest.MonkeyPatch, kernel_registry: None) -> list[str]:
    return ["prove", "--only", "kernel/full-adder", "--quiet"]


@pytest.mark.parametrize(("option", "target", "pattern"), [
    ("--json", "adir", r"adir: is a directory; need a file name for the results file"),
    ("--json", "file.txt", r"file\.txt: exists and is not a results file written by loopmlp; "
                           r"not replaced"),
    ("--junit", "file.txt", r"file\.txt: exists and is not a JUnit file written by loopmlp"),
    ("--json", "file.txt/x.json", r"file\.txt/x\.json: cannot write \(Not a directory\)"),
    ("--json", "missing/x.json", r"missing/x\.json: cannot write \(No such file"),
    ("--junit", "adir", r"adir: is a directory; need a file name for the JUnit file"),
    ("--junit", "file.txt/x.xml", r"file\.txt/x\.xml: cannot write \(Not a directory\)"),
])
def test_prove_output_paths(option: str, target: str, pattern: str, workdir: Path,
                            fast_prove: list[str]) -> None:
    (workdir / "adir").mkdir()
    (workdir / "file.txt").write_text("mine\n", encoding="utf-8")
    refused([*fast_prove, option, target], workdir, pattern)
    assert (workdir / "file.txt").read_text(encoding="utf-8") == "mine\n"


def test_prove_replaces_only_its_own_outputs(workdir: Path, fast_prove: list[str]) -> None:
    for _ in range(2):  # the second run replaces what the first wrote
        assert cli(*fast_prove, "--json", "r.json", "--junit", "r.xml")[0] == 0
    assert json.loads((workdir / "r.json").read_text(encoding="utf-8"))["tool"] == "loopmlp"
    (workdir / "r.json").write_text('{"tool": "other"}\n', encoding="utf-8")
    refused([*fast_prove, "--json", "r.json"], workdir, r"r\.json: exists and is not a results")
    assert (workdir / "r.json").read_text(encoding="utf-8") == '{"tool": "other"}\n'


def test_prove_to_an_unwritable_place(workdir: Path, fast_prove: list[str]) -> None:
    refused([*fast_prove, "--json", "/proc/loopmlp.json"], workdir,
            r"/proc/loopmlp\.json: cannot write")


def test_report_never_touches_a_file_it_did_not_write(workdir: Path,
                                                      fast_prove: list[str]) -> None:
    assert cli(*fast_prove, "--json", "results.json")[0] == 0
    (workdir / "out").mkdir()
    foreign = workdir / "out" / "report.md"
    foreign.write_text("my notes\n", encoding="utf-8")
    base = ["report", "--from", "results.json", "--no-pictures"]
    refused([*base, "--out", "out"], workdir,
            r"out/report\.md: exists and was not written by `loopmlp report`")
    # A manifest that is not one loopmlp writes is refused, and so is the file it is next to.
    manifest = workdir / "out" / ".loopmlp-report"
    manifest.write_text("# x\nreport.md\n", encoding="utf-8")
    refused([*base, "--out", "out"], workdir,
            r"out/\.loopmlp-report: not a manifest written by `loopmlp report`")
    # A manifest naming the file is not enough: the content must have the recorded hash.
    manifest.write_text(json.dumps({"tool": "loopmlp", "files": {
        "../report.md": sha("my notes\n"), "/etc/passwd": sha("my notes\n"),
        "report.md": sha("another text\n")}}), encoding="utf-8")
    refused([*base, "--out", "out"], workdir, r"out/report\.md: exists and was not written by "
            r"`loopmlp report` \(its content differs from what is recorded in "
            r"out/\.loopmlp-report\)")
    (workdir / "plain.txt").write_text("mine\n", encoding="utf-8")
    refused([*base, "--out", "plain.txt"], workdir, r"plain\.txt: exists and is not a directory")
    refused([*base, "--out", "plain.txt/sub"], workdir, r"plain\.txt/sub")
    refused([*base, "--out", "/proc/loopmlp-report"], workdir, r"/proc/loopmlp-report")
    assert foreign.read_text(encoding="utf-8") == "my notes\n"


# --------------------------------------------------------------------------- special files
GIANNOU = ROOT / "tests" / "data" / "giannou"
CMDS, MEM = str(GIANNOU / "sum_cmds.csv"), str(GIANNOU / "sum_mem.csv")
READ_FIFO = r"cannot read file: not a regular file \(a FIFO\)$"
PROVE = ["prove", "--only", "kernel/full-adder", "--quiet"]
FROM = ["report", "--from", "results.json", "--no-pictures"]


@pytest.mark.parametrize(("argv", "fifo_at", "pattern"), [
    (["run", "p.sq"], "p.sq", r"p\.sq: " + READ_FIFO),
    (["run", "link.sq", "--json"], "p.sq", r"link\.sq: " + READ_FIFO),
    (["report", "--from", "p.json", "--out", "r"], "p.json", r"p\.json: " + READ_FIFO),
    (["report", "--out", "r", "--trace-program", "p.sq"], "p.sq", r"p\.sq: " + READ_FIFO),
    (["import", "--giannou", "p.csv", MEM], "p.csv", r"p\.csv: " + READ_FIFO),
    (["import", "--giannou", CMDS, "p.csv"], "p.csv", r"p\.csv: " + READ_FIFO),
    (["import", "--giannou", CMDS, MEM, "-o", "p.sq"], "p.sq", r"p\.sq: already exists"),
    ([*PROVE, "--json", "p.json"], "p.json",
     r"p\.json: is a FIFO, not a regular file; not replaced \(need a file name for the "
     r"results file\)$"),
    ([*PROVE, "--junit", "p.xml"], "p.xml", r"p\.xml: is a FIFO, not a regular file"),
    ([*FROM, "--out", "r"], "r/index.html",
     r"r/index\.html: is a FIFO, not a file `loopmlp report` wrote; not replaced"),
    ([*FROM, "--out", "r"], "r/.loopmlp-report",
     r"r/\.loopmlp-report: not a regular file \(a FIFO\)$"),
], ids=["run", "run-link", "report-from", "trace-program", "import-cmds", "import-mem",
        "import-out", "prove-json", "prove-junit", "report-out", "report-manifest"])
def test_a_fifo_is_refused_never_opened(argv: list[str], fifo_at: str, pattern: str,
                                        workdir: Path, fifo: Callable[[Path], Path],
                                        monkeypatch: pytest.MonkeyPatch,
                                        kernel_registry: None) -> None:
    """A FIFO (named pipe) anywhere a file is read or written: exit 2 at once, one line."""
    (workdir / "r").mkdir()
    (workdir / "results.json").write_text(json.dumps(
        {"tool": "loopmlp", "version": "0", "seconds": 0, "results": []}), encoding="utf-8")
    fifo(workdir / fifo_at)
    (workdir / "link.sq").symlink_to(fifo_at)
    monkeypatch.setattr(proofs.registry, "run_entry", trap)  # refused before any proof
    monkeypatch.setattr(loopmlp.cli.report, "prepare_report", trap)
    monkeypatch.setattr(loopmlp.cli.run, "build", trap)
    monkeypatch.setattr(loopmlp.cli.info, "build", trap)
    refused(argv, workdir, pattern)


def test_import_force_replaces_a_fifo_without_opening_it(workdir: Path,
                                                         fifo: Callable[[Path], Path]) -> None:
    fifo(workdir / "p.sq")
    code, out, err = cli("import", "--giannou", CMDS, MEM, "-o", "p.sq", "--force")
    assert (code, err) == (0, ""), err
    assert (workdir / "p.sq").is_file() and "subleq" in (workdir / "p.sq").read_text()


def test_prove_writes_through_a_link_to_its_own_results(workdir: Path,
                                                        fast_prove: list[str]) -> None:
    assert cli(*fast_prove, "--json", "r.json")[0] == 0
    (workdir / "r.json").write_text((workdir / "r.json").read_text() + " ")
    (workdir / "link.json").symlink_to("r.json")
    assert cli(*fast_prove, "--json", "link.json")[0] == 0
    assert (workdir / "link.json").is_symlink()
    assert (workdir / "r.json").read_text().endswith("}\n")
    assert sorted(p.name for p in workdir.iterdir()) == ["link.json", "r.json"]


# --------------------------------------------------------------------------- the real script
@pytest.mark.parametrize(("argv", "pattern"), [
    (["run", "binary.sq"], r"binary\.sq:1: not UTF-8 text"),
    (["report", "--from", "results-deep.json", "--out", "r"], r"nested too deeply"),
    (["info", "--words", "65536", "--bits", "64", "--slots", "65536"], r"need a paper network"),
])
def test_console_script(argv: list[str], pattern: str, tmp_path: Path) -> None:
    """The installed entry point, in a fresh process: exit 2, one line, no traceback."""
    for name in ("binary.sq", "huge-literal.sq", "results-deep.json"):
        (tmp_path / name).write_bytes((HOSTILE / name).read_bytes())
    (tmp_path / "dir.sq").mkdir()
    before = snapshot(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "LOOPMLP_DEBUG"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", "from loopmlp.cli import entry_point; entry_point()", *argv],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert re.search(pattern, one_error_line(proc.stderr))
    assert snapshot(tmp_path) == before


def test_no_loader_lets_another_exception_out(tmp_path: Path) -> None:
    """The promise of :mod:`verify.errors`: bad input is a LoopmlpError, whatever the loader."""
    for path in sorted(HOSTILE.iterdir()):
        try:
            if path.suffix == ".json":
                loopmlp.report.results.load_results(str(path))
            else:
                asm.load(path)
        except LoopmlpError:
            continue
        assert path.name == "size-unbuildable.sq", path  # a valid size: refused when built


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_forged_manifest_never_makes_the_report_delete_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside.md"
    outside.write_text("outside\n", encoding="utf-8")
    (out / "report.md").symlink_to(outside)
    (out / "notes.txt").write_text("mine\n", encoding="utf-8")
    (out / "results.json").write_text("edited by hand\n", encoding="utf-8")
    (out / "junit.xml").write_text("as written\n", encoding="utf-8")
    (out / ".loopmlp-report").write_text(json.dumps({"tool": "loopmlp", "files": {
        "notes.txt": sha("mine\n"),  # not a name the report writes: never removed
        "report.md": sha("outside\n"),  # a link: never followed, never removed
        "results.json": sha("as written\n"),  # changed since: kept
        "junit.xml": sha("as written\n"),  # unchanged: stale, removed
    }}), encoding="utf-8")
    write_report_files(out, {"index.html": "<html></html>\n"})
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine\n"
    assert outside.read_text(encoding="utf-8") == "outside\n"
    assert (out / "report.md").is_symlink()
    assert (out / "results.json").read_text(encoding="utf-8") == "edited by hand\n"
    assert not (out / "junit.xml").exists()
    doc = json.loads((out / ".loopmlp-report").read_text(encoding="utf-8"))
    assert doc["files"] == {"index.html": sha("<html></html>\n")}


def test_report_targets_beyond_a_link_or_special_are_refused(
        tmp_path: Path, fifo: Callable[[Path], Path]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside.html"
    outside.write_text("outside\n", encoding="utf-8")
    (out / "index.html").symlink_to(outside)
    (out / ".loopmlp-report").write_text(json.dumps({"tool": "loopmlp", "files": {
        "index.html": sha("outside\n")}}), encoding="utf-8")
    with pytest.raises(InputError, match=r"out/index\.html: is a symbolic link, not a file "
                       r"`loopmlp report` wrote; not replaced"):
        write_report_files(out, {"index.html": "<html></html>\n"})
    assert outside.read_text(encoding="utf-8") == "outside\n"
    (out / "index.html").unlink()
    fifo(out / "index.html")
    with pytest.raises(InputError, match=r"out/index\.html: is a FIFO, not a file"):
        write_report_files(out, {"index.html": "<html></html>\n"})
    (out / "index.html").unlink()
    (out / "index.html").mkdir()
    with pytest.raises(InputError, match=r"out/index\.html: is a directory"):
        write_report_files(out, {"index.html": "<html></html>\n"})
    assert os.listdir(out / "index.html") == []


def test_an_interrupted_report_is_recognised_next_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The manifest records old and new hashes before the files are replaced: whichever each
    file holds when a run stops, the next run replaces it."""
    out = tmp_path / "out"
    write_report_files(out, {"index.html": "one\n", "report.md": "one\n"})
    real = verify.files._Dir.replace
    calls: list[str] = []

    def dies_on_report_md(self: object, rel: str, data: bytes, **kw: bool) -> None:
        calls.append(rel)
        if rel == "report.md":
            raise KeyboardInterrupt
        real(self, rel, data, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(verify.files._Dir, "replace", dies_on_report_md)
    with pytest.raises(KeyboardInterrupt):
        write_report_files(out, {"index.html": "two\n", "report.md": "two\n"})
    assert calls == [".loopmlp-report", "index.html", "report.md"]
    assert (out / "index.html").read_text() == "two\n"
    assert (out / "report.md").read_text() == "one\n"
    monkeypatch.undo()
    write_report_files(out, {"index.html": "three\n", "report.md": "three\n"})
    assert {p.name for p in out.iterdir()} == {".loopmlp-report", "index.html", "report.md"}
    assert (out / "report.md").read_text() == "three\n"
