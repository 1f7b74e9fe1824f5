"""``loopmlp prove`` and ``loopmlp list``: exit codes 0/1/2/3, output lines, the JSON file."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.cli import run

import proofs.registry
from proofs.kernel import full_adder, ripple_adder
from proofs.registry import Entry, of, select
from verify import ops
from verify.errors import InternalError
from verify.obligation import Obligation
from verify.result import count_from_json

VERDICTS = {"proved", "refuted", "unknown"}




def _wrong_adder() -> Obligation:
    ob = full_adder()
    return Obligation("test/wrong-adder", ob.network, ob.domain,
                      lambda v: {"sum": ops.bit(v["a"] + v["b"] + v["c"], 0),
                                 "carry": ops.ite(v["a"] + v["b"] + v["c"] >= 1, 1, 0)})


def _renamed(ob: Obligation, name: str) -> Obligation:
    return Obligation(name, ob.network, ob.domain, ob.spec, ob.bounds, ob.outputs,
                      ob.factorisation, ob.note)


GOOD = of("test/good-adder", lambda: _renamed(full_adder(), "test/good-adder"))
WRONG = of("test/wrong-adder", _wrong_adder)
TIMES_OUT = of("test/slow-smt", lambda: _renamed(ripple_adder(8), "test/slow-smt"), method="smt")
SLOW = of("test/slow-entry", lambda: _renamed(full_adder(), "test/slow-entry"), slow=True)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``registry(entry, ...)``: make these the only registered obligations."""

    def use(*entries: Entry) -> None:
        monkeypatch.setattr(proofs.registry, "all_entries", lambda: list(entries))

    return use


def validate(doc: Any) -> None:
    """The ``prove --json`` schema, checked field by field."""
    assert isinstance(doc, dict)
    assert doc["tool"] == "loopmlp"
    assert isinstance(doc["version"], str) and doc["version"]
    assert isinstance(doc["results"], list)
    for r in doc["results"]:
        assert isinstance(r["obligation"], str) and r["obligation"]
        assert r["verdict"] in VERDICTS
        assert isinstance(r["method"], str) and r["method"]
        for key in ("checked", "total"):  # exact: a number up to 2^53, else a string
            v = r[key]
            assert (isinstance(v, int) and v <= 2**53) or (
                isinstance(v, str) and re.fullmatch(r"2\^\d+|\d+", v)), v
        checked, total = count_from_json(r["checked"]), count_from_json(r["total"])
        assert 0 <= checked <= total or total == 0
        assert isinstance(r["seconds"], (int, float)) and r["seconds"] >= 0
        assert isinstance(r["reason"], str)
        cex = r["counterexample"]
        if r["verdict"] == "refuted":
            assert isinstance(cex, dict)
            for key in ("inputs", "coordinates", "network", "spec"):
                assert isinstance(cex[key], dict)
                assert all(isinstance(v, int) for v in cex[key].values())
            assert cex["network"].keys() == cex["spec"].keys()
            assert all(cex["network"][k] != cex["spec"][k] for k in cex["network"])
        else:
            assert cex is None
    s = doc["summary"]
    assert set(s) == VERDICTS
    assert s == {v: sum(r["verdict"] == v for r in doc["results"]) for v in VERDICTS}


# --------------------------------------------------------------------------- exit 0
def test_exit_0_when_every_obligation_is_proved(kernel_registry: None, tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    code, out, err = run("prove", "--json", str(path))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[-1].startswith("6 obligations: 6 proved, 0 refuted, 0 unknown in ")
    for line in lines[:-1]:
        assert re.fullmatch(r"kernel/\S+: PROVED (exhaustive|smt) (\d+)/\2 \d+\.\d\ds", line), line
    doc = json.loads(path.read_text())
    validate(doc)
    assert doc["summary"] == {"proved": 6, "refuted": 0, "unknown": 0}
    assert [r["obligation"] for r in doc["results"]] == [
        line.split(":")[0] for line in lines[:-1]
    ]


def test_only_selects_by_glob_and_list_names_entries(kernel_registry: None) -> None:
    code, out, _ = run("prove", "--only", "kernel/full-adder*")
    assert code == 0
    assert [line.split(":")[0] for line in out.splitlines()[:-1]] == [
        "kernel/full-adder", "kernel/full-adder/smt"]
    code, out, _ = run("list")
    assert code == 0 and "kernel/ripple-adder[bits=8]" in out.splitlines()


def test_slow_entries_run_only_with_all_or_by_name(registry: Callable[..., None]) -> None:
    registry(GOOD, SLOW)
    assert "test/slow-entry" not in run("prove")[1]
    assert "test/slow-entry: PROVED" in run("prove", "--all")[1]
    assert "test/slow-entry: PROVED" in run("prove", "--only", "test/slow-entry")[1]
    assert "test/slow-entry" not in run("prove", "--only", "test/*")[1]
    assert "test/slow-entry: PROVED" in run("prove", "--only", "test/slow-*", "--all")[1]
    assert "test/slow-entry  (slow)" in run("list")[1]


def test_quiet_prints_only_what_is_not_proved(registry: Callable[..., None]) -> None:
    registry(GOOD)
    code, out, err = run("prove", "--quiet")
    assert (code, err) == (0, "")
    assert re.fullmatch(r"1 obligation: 1 proved, 0 refuted, 0 unknown in \d+\.\ds\n", out)
    registry(GOOD, WRONG)
    code, out, _ = run("prove", "--quiet")
    assert code == 1 and out.startswith("test/wrong-adder: REFUTED") and "good" not in out
    assert out.splitlines()[-1].startswith("2 obligations: 1 proved, 1 refuted")


def test_json_to_stdout_keeps_stdout_pure(registry: Callable[..., None]) -> None:
    registry(GOOD, WRONG)
    code, out, err = run("prove", "--json", "-")
    assert code == 1
    doc = json.loads(out)
    validate(doc)
    # every line (proved ones too) and the summary go to stderr, as with a file
    assert "test/wrong-adder: REFUTED" in err and "test/good-adder: PROVED" in err
    assert err.splitlines()[-1].startswith("2 obligations: 1 proved, 1 refuted")
    code, out, err = run("prove", "--json", "-", "--quiet")
    assert code == 1 and json.loads(out)["summary"]["refuted"] == 1
    assert "good-adder" not in err and "test/wrong-adder: REFUTED" in err


def test_junit_to_stdout_keeps_stdout_pure(registry: Callable[..., None], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    registry(GOOD, WRONG)
    code, out, err = run("prove", "--junit", "-", "--json", "r.json")
    assert code == 1
    root = ET.fromstring(out)  # all of stdout is the document
    assert root.get("name") == "loopmlp" and root[0].get("failures") == "1"
    assert "test/wrong-adder: REFUTED" in err and "2 obligations:" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # no file called '-'
    code, out, err = run("prove", "--junit", "-", "--json", "-")
    assert (code, out) == (2, "") and err == (
        "loopmlp: error: --json - and --junit -: only one of them can go to standard output\n")


def test_version_and_help_exit_0() -> None:
    code, out, _ = run("--version")
    assert code == 0 and out.startswith("loopmlp ")
    code, out, _ = run("prove", "--help")
    assert code == 0 and "exit codes" in out


# --------------------------------------------------------------------------- exit 1
def test_exit_1_when_something_is_refuted(registry: Callable[..., None], tmp_path: Path) -> None:
    registry(GOOD, WRONG, TIMES_OUT)
    path = tmp_path / "r.json"
    code, out, err = run("prove", "--timeout", "0.5", "--json", str(path))
    assert code == 1, err  # refuted wins over unknown
    line = next(x for x in out.splitlines() if x.startswith("test/wrong-adder"))
    assert re.match(r"test/wrong-adder: REFUTED exhaustive \d+/8 \d+\.\d\ds wrong-adder\(", line)
    assert "carry network=0 spec=1" in line
    doc = json.loads(path.read_text())
    validate(doc)
    assert doc["summary"] == {"proved": 1, "refuted": 1, "unknown": 1}
    wrong = next(r for r in doc["results"] if r["verdict"] == "refuted")
    assert wrong["counterexample"]["network"] == {"carry": 0}
    assert wrong["counterexample"]["spec"] == {"carry": 1}
    assert sum(wrong["counterexample"]["inputs"].values()) == 1


def test_refuted_with_smt_too(registry: Callable[..., None]) -> None:
    registry(WRONG)
    code, out, _ = run("prove", "--method", "smt")
    assert code == 1 and "test/wrong-adder: REFUTED smt" in out


# --------------------------------------------------------------------------- exit 3
def test_exit_3_when_the_solver_times_out(registry: Callable[..., None], tmp_path: Path) -> None:
    registry(GOOD, TIMES_OUT)
    path = tmp_path / "r.json"
    code, out, err = run("prove", "--timeout", "0.5", "--json", str(path))
    assert code == 3, err
    assert re.search(r"test/slow-smt: UNKNOWN smt 0/65536 \S+ \(z3: timeout after 0\.5s\)", out)
    doc = json.loads(path.read_text())
    validate(doc)
    assert doc["summary"] == {"proved": 1, "refuted": 0, "unknown": 1}
    slow = doc["results"][1]
    assert slow["verdict"] == "unknown" and "timeout" in slow["reason"]


def test_exit_3_when_only_sampled_which_never_proves(registry: Callable[..., None]) -> None:
    registry(GOOD)
    code, out, _ = run("prove", "--method", "sampled")
    assert code == 3
    assert "test/good-adder: UNKNOWN sampled" in out and "never proves" in out


# --------------------------------------------------------------------------- exit 2
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["prove", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "required: command"),
        (["frobnicate"], "invalid choice"),
        (["prove", "--method", "magic"], "invalid choice: 'magic'"),
        (["prove", "--timeout", "soon"], "invalid float value: 'soon'"),
        (["prove", "--timeout", "0"], "timeout=0.0: need a positive number of seconds"),
        (["prove", "--only", "no/such/*"], "--only 'no/such/*': no obligation matches"),
    ],
)
def test_exit_2_on_usage_errors(kernel_registry: None, argv: list[str], message: str) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert message in err
    assert err.startswith("loopmlp: ") and "Traceback" not in err
    assert out == ""


def test_exit_2_when_the_json_file_cannot_be_written(registry: Callable[..., None],
                                                      tmp_path: Path) -> None:
    registry(GOOD)
    target = tmp_path / "missing-dir" / "r.json"
    code, _, err = run("prove", "--json", str(target))
    assert code == 2
    assert f"{target}: cannot write" in err and "Traceback" not in err
    code, _, err = run("prove", "--json", str(tmp_path))  # a directory
    assert code == 2 and "is a directory" in err


def test_exit_2_on_an_internal_error(registry: Callable[..., None]) -> None:
    def broken(opts: Any) -> Any:
        raise InternalError("test: a counterexample that does not replay")

    def crashing(opts: Any) -> Any:
        raise RuntimeError("boom")

    registry(Entry("test/broken", broken))
    code, _, err = run("prove")
    assert code == 2 and "internal error: test: a counterexample" in err
    registry(Entry("test/crashing", crashing))
    code, _, err = run("prove")
    assert code == 2 and "RuntimeError: boom" in err and "LOOPMLP_DEBUG" in err


# --------------------------------------------------------------------------- known gaps
def test_only_accepts_an_exact_name_as_listed() -> None:
    from proofs.kernel import entries

    names = [e.name for e in select(entries(), ["kernel/ripple-adder[bits=4]"], False)]
    assert names == ["kernel/ripple-adder[bits=4]"]


def test_brackets_in_a_glob_also_match_literally() -> None:
    from proofs.gadgets import entries

    every = select(entries(), ["gadget/*[bits=12]"], False)
    assert sorted(e.name for e in every) == [f"gadget/{f}[bits=12]" for f in
                                             ("add", "compare", "increment", "subtract")]
    # ...while a character class still works as a glob.
    cls = select(entries(), ["gadget/subtract[[]bits=1[01][]]"], False)
    assert [e.name for e in cls] == ["gadget/subtract[bits=10]", "gadget/subtract[bits=11]"]


# --------------------------------------------------------------------------- labels and counts
def test_sampled_says_when_it_covered_the_whole_domain(registry: Callable[..., None],
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    registry(GOOD)
    code, out, _ = run("prove", "--method", "sampled")
    assert code == 3
    line = out.splitlines()[0]
    assert line.startswith("test/good-adder: UNKNOWN sampled all 8 inputs sampled "), line
    assert "--method exhaustive proves it" in line
    assert list(tmp_path.iterdir()) == []  # no .hypothesis folder left behind


def test_huge_counts_stay_exact_in_json_and_read_back(tmp_path: Path) -> None:
    from loopmlp.report.results import load_results, results_text
    from verify.result import Result, Verdict

    odd = 3**400  # no power of two, far beyond a double's 53 bits
    rs = [Result("t/a", Verdict.PROVED, "certificate", 29, 1 << 1158, 0.1, "ok"),
          Result("t/b", Verdict.UNKNOWN, "sampled", 2000, odd, 0.1, "none found"),
          Result("t/c", Verdict.PROVED, "exhaustive", 8, 8, 0.1, "ok")]
    path = tmp_path / "r.json"
    path.write_text(results_text(rs, 0.3))
    doc = json.loads(path.read_text())
    validate(doc)
    assert [r["total"] for r in doc["results"]] == ["2^1158", str(odd), 8]
    back, _, _ = load_results(str(path))
    assert [(r.checked, r.total) for r in back] == [(r.checked, r.total) for r in rs]
    # an older file with the integer written out is read too
    doc["results"][0]["total"] = 1 << 1158
    path.write_text(json.dumps(doc))
    assert load_results(str(path))[0][0].total == 1 << 1158
    assert rs[0].line().startswith(
        "t/a: PROVED certificate bound for every state, 29 states measured ")
    assert rs[1].line().startswith(f"t/b: UNKNOWN sampled 2000 samples of {odd:.3g} inputs ")
    doc["results"][0]["total"] = "2^x"
    path.write_text(json.dumps(doc))
    code, _, err = run("report", "--from", str(path), "--out", str(tmp_path / "rep"))
    assert code == 2 and "total" in err and err.count("\n") == 1


def test_readme_documents_every_method_a_result_can_name() -> None:
    from verify.result import COVERAGE

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## The JSON results", 1)[1].split("\n## ", 1)[0]
    for method in COVERAGE:
        assert f"`{method}`" in section, method


def test_help_texts_are_complete_and_plain() -> None:
    import argparse

    from loopmlp.cli.dispatch import build_parser

    for command, option in (("list", "--only"), ("run", "--profile"), ("run", "--max-steps"),
                            ("info", "--json"), ("precision", "--words"),
                            ("precision", "--bits")):
        sub = next(a for a in build_parser(command)._actions
                   if isinstance(a, argparse._SubParsersAction)).choices[command]
        action = next(a for a in sub._actions if option in a.option_strings)
        assert action.help and action.help.strip(), (command, option)
    for argv in (["report"], ["replay"], ["bench", "proofs"], ["bench", "long"],
                 ["bench", "solvers"], ["bench", "run"], ["prove"], ["check"]):
        code, out, _ = run(*argv, "--help")
        assert code == 0 and "`" not in out, argv


def test_ctrl_c_exits_130(registry: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> None:
    registry(GOOD)

    def interrupted(*_: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(proofs.registry, "run_entry", interrupted)
    code, out, err = run("prove")
    assert (code, out, err) == (130, "", "loopmlp: interrupted\n")


def test_check_smt_bv_reports_itself(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    model = tmp_path / "add.onnx"
    assert run("export", "--onnx", str(model), "--gadget", "add", "--bits", "3")[0] == 0
    code, out, err = run("check", str(model), "--spec", "add", "--bits", "3",
                         "--method", "smt-bv", "--json")
    assert code == 0, err
    r = json.loads(out)["results"][0]
    assert r["method"] == "smt-bv" and r["details"]["bv_width"] > 0
    code, out, _ = run("check", str(model), "--spec", "add", "--bits", "3", "--method", "smt")
    assert code == 0 and ": PROVED smt " in out


def test_a_glob_matching_only_slow_obligations_says_so(registry: Callable[..., None]) -> None:
    registry(GOOD, SLOW)
    code, out, err = run("prove", "--only", "test/slow*")
    assert code == 2 and out == ""
    assert "matches only slow obligations (1); add --all" in err and "Traceback" not in err
    code, out, _ = run("prove", "--only", "test/slow*", "--all")
    assert code == 0 and "test/slow-entry: PROVED" in out
