"""``loopmlp report`` and ``loopmlp replay``: the HTML, Markdown, JSON and JUnit files, the
directory's manifest, ``--from``, and counterexamples that reproduce when pasted."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from support.cli import run

import proofs.registry
from loopmlp.report.directory import MANIFEST, REPORT_FILES
from loopmlp.report.junit import junit_xml
from loopmlp.report.model import bits_panels, coverage
from loopmlp.report.results import load_results
from proofs.kernel import full_adder, ripple_adder
from proofs.registry import Entry, of
from verify import ops
from verify.obligation import Obligation
from verify.result import Result, Verdict

PROGRAMS = Path(__file__).resolve().parents[2] / "constructions" / "programs"
# A small gadget catalogue and a short program keep each report quick.
FAST = ("--bits", "4", "--trace-program", str(PROGRAMS / "countdown.sq"))




def _renamed(ob: Obligation, name: str) -> Obligation:
    return Obligation(name, ob.network, ob.domain, ob.spec, ob.bounds, ob.outputs,
                      ob.factorisation, ob.note)


def _wrong_adder() -> Obligation:
    """A full adder checked against a spec whose carry is [a+b+c >= 1]: refuted."""
    ob = full_adder()
    return Obligation("test/wrong-adder", ob.network, ob.domain,
                      lambda v: {"sum": ops.bit(v["a"] + v["b"] + v["c"], 0),
                                 "carry": ops.ite(v["a"] + v["b"] + v["c"] >= 1, 1, 0)})


def _wrong_ripple() -> Obligation:
    """A 2-bit ripple adder against a spec that adds one too many: refuted on words X, Y."""
    ob = ripple_adder(2)
    good = ob.spec

    def spec(v: Any) -> Any:
        out = dict(good(v))
        out["S.bit[0]"] = 1 - out["S.bit[0]"]
        return out

    return Obligation("test/wrong-ripple[bits=2]", ob.network, ob.domain, spec)


GOOD = of("test/good-adder", lambda: _renamed(full_adder(), "test/good-adder"))
WRONG = of("test/wrong-adder", _wrong_adder)
WRONG_WORDS = of("test/wrong-ripple[bits=2]", _wrong_ripple)
TIMES_OUT = of("test/slow-smt", lambda: _renamed(ripple_adder(8), "test/slow-smt"), method="smt")


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``registry(entry, ...)``: make these the only registered obligations."""

    def use(*entries: Entry) -> None:
        monkeypatch.setattr(proofs.registry, "all_entries", lambda: list(entries))

    return use


# --------------------------------------------------------------------------- checkers
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "wbr", "source"}


class _Page(HTMLParser):
    """Collects text, every attribute that can fetch something, and unbalanced tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.refs: list[str] = []
        self.text: list[str] = []
        self.images = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images += 1
        for k, v in attrs:
            if k in ("src", "href", "srcset", "action", "data", "poster", "background"):
                self.refs.append(v or "")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert page.problems == [] and page.stack == [], (page.problems, page.stack)
    return page


def assert_self_contained(path: Path, page: _Page) -> None:
    text = path.read_text(encoding="utf-8")
    for ref in page.refs:  # pictures inline, links within the page or to the report's files
        assert ref.startswith(("data:", "#")) or ref in REPORT_FILES, ref
    assert "http://" not in text and "https://" not in text
    assert "@import" not in text and "<script" not in text and "<link" not in text
    assert all(m.startswith("data:") for m in re.findall(r"url\(\s*['\"]?([^)'\"]*)", text))


def validate_junit(path: Path) -> ET.Element:
    """The usual JUnit XML shape (Ant/Jenkins): testsuites > testsuite > testcase, with counts."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    assert root.tag in ("testsuites", "testsuite")
    for suite in suites:
        assert suite.tag == "testsuite"
        for attr in ("name", "tests", "failures", "errors", "skipped", "time", "timestamp",
                     "hostname"):
            assert attr in suite.attrib, attr
        assert float(suite.get("time", "")) >= 0
        cases = suite.findall("testcase")
        assert {c.tag for c in suite} <= {"properties", "testcase", "system-out", "system-err"}
        for p in suite.findall("properties/*"):
            assert p.tag == "property" and "name" in p.attrib and "value" in p.attrib
        for c in cases:
            assert c.get("name") and c.get("classname")
            assert float(c.get("time", "")) >= 0
            kinds = [e.tag for e in c]
            assert set(kinds) <= {"failure", "error", "skipped", "system-out", "system-err"}
            assert sum(k in ("failure", "error", "skipped") for k in kinds) <= 1
            for f in c.findall("failure"):
                assert f.get("message") and f.get("type")
        assert int(suite.get("tests", "")) == len(cases)
        assert int(suite.get("failures", "")) == len(suite.findall("testcase/failure"))
        assert int(suite.get("skipped", "")) == len(suite.findall("testcase/skipped"))
        assert int(suite.get("errors", "")) == len(suite.findall("testcase/error"))
    return root


def _suite(root: ET.Element) -> ET.Element:
    return root if root.tag == "testsuite" else root[0]


# --------------------------------------------------------------------------- the HTML page
def test_html_parses_lists_every_obligation_and_fetches_nothing(
        kernel_registry: None, tmp_path: Path) -> None:
    out_dir = tmp_path / "rep"
    code, out, err = run("report", "--out", str(out_dir), "--only", "kernel/full-adder*",
                         "--only", "kernel/ripple-adder[[]bits=[34]]*", *FAST)
    assert code == 0, err
    assert f"report written to {out_dir / 'index.html'}" in out
    page = parse_page(out_dir / "index.html")
    assert_self_contained(out_dir / "index.html", page)
    text = " ".join(page.text)
    doc = json.loads((out_dir / "results.json").read_text())
    names = [r["obligation"] for r in doc["results"]]
    assert len(names) == 4
    for name in names:
        assert name in text
    assert "4 proved, 0 refuted, 0 unknown" in text  # the page title
    for part in ("loopmlp", "z3", "Python", "numpy", "read: match", "countdown.sq"):
        assert part in text, part
    md = (out_dir / "report.md").read_text()
    assert all(f"`{n}`" in md for n in names)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert page.images == 0 and "matplotlib is not installed" in text
    else:
        assert page.images == 3  # proof times (ripple-adder has bits), layers, trace
        for name in ("proof-times.png", "layers.png", "trace.png"):
            assert (out_dir / name).read_bytes().startswith(b"\x89PNG")
            assert f"]({name})" in md


def test_without_matplotlib_the_report_has_no_pictures_and_says_so(
        registry: Callable[..., None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    registry(GOOD)
    code, _, err = run("report", "--out", str(tmp_path), *FAST)
    assert code == 0, err
    assert "matplotlib is not installed" in err
    page = parse_page(tmp_path / "index.html")
    assert page.images == 0 and "matplotlib is not installed" in " ".join(page.text)
    assert not list(tmp_path.glob("*.png"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [MANIFEST, "index.html", "report.md", "results.json", "junit.xml"])


# --------------------------------------------------------------------------- JUnit
def test_junit_has_the_usual_shape_and_counts_that_match(registry: Callable[..., None],
                                                         tmp_path: Path) -> None:
    registry(GOOD, WRONG, TIMES_OUT)
    code, _, err = run("report", "--out", str(tmp_path), "--timeout", "0.5", "--no-pictures",
                       *FAST)
    assert code == 1, err  # refuted wins over unknown, as for prove
    suite = _suite(validate_junit(tmp_path / "junit.xml"))
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["summary"] == {"proved": 1, "refuted": 1, "unknown": 1}
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"),
            suite.get("errors")) == ("3", "1", "1", "0")
    cases = {(c.get("classname"), c.get("name")): c for c in suite.findall("testcase")}
    assert set(cases) == {("test", "good-adder"), ("test", "wrong-adder"), ("test", "slow-smt")}
    skipped = cases[("test", "slow-smt")].find("skipped")
    assert skipped is not None and "timeout" in skipped.get("message", "")
    for r in doc["results"]:
        c = cases[tuple(r["obligation"].split("/", 1))]  # type: ignore[index]
        assert abs(float(c.get("time", "")) - r["seconds"]) < 1e-3


def test_prove_junit_writes_the_same_shape(registry: Callable[..., None], tmp_path: Path) -> None:
    registry(GOOD, WRONG)
    code, _, err = run("prove", "--junit", str(tmp_path / "j.xml"))
    assert code == 1, err
    suite = _suite(validate_junit(tmp_path / "j.xml"))
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")


# --------------------------------------------------------------------------- replay
def _failure_command(junit: Path, name: str) -> str:
    suite = _suite(validate_junit(junit))
    classname, short = name.split("/", 1)
    case = next(c for c in suite.findall("testcase")
                if (c.get("classname"), c.get("name")) == (classname, short))
    failure = case.find("failure")
    assert failure is not None
    message = failure.get("message", "")
    assert "reproduce: loopmlp replay" in message
    return message.split("reproduce: ", 1)[1]


@pytest.mark.parametrize(("entry", "differs"), [
    (WRONG, "carry: network=0 spec=1"),
    (WRONG_WORDS, "S.bit[0]: network="),
])
def test_a_refuted_counterexample_pasted_from_the_report_reproduces(
        registry: Callable[..., None], tmp_path: Path, entry: Entry, differs: str) -> None:
    registry(GOOD, entry)
    code, _, err = run("report", "--out", str(tmp_path), "--no-pictures", *FAST)
    assert code == 1, err
    command = _failure_command(tmp_path / "junit.xml", entry.name)
    html_text = " ".join(parse_page(tmp_path / "index.html").text)
    assert command in html_text
    assert command in (tmp_path / "report.md").read_text()
    argv = shlex.split(command)
    assert argv[:2] == ["loopmlp", "replay"]
    code, out, err = run(*argv[1:])
    assert code == 1, err
    assert differs in out and "REFUTED" in out


def test_replay_takes_words_and_exits_0_where_network_and_spec_agree(
        registry: Callable[..., None]) -> None:
    registry(GOOD, WRONG, WRONG_WORDS)
    code, out, _ = run("replay", "test/wrong-adder", "--at", "a=0,b=0,c=0")
    assert code == 0 and "agrees" in out
    # X=1, Y=2: the network's S.bit[0] is 1, the wrong spec's is 0.
    code, out, _ = run("replay", "test/wrong-ripple[bits=2]", "--at", "X=1,Y=2")
    assert code == 1 and "S.bit[0]: network=1 spec=0" in out
    assert "S: network=3 spec=2 (2 bits)  differs" in out  # 1 + 2, and the spec's bit flipped
    assert "wrong-ripple(X=1, Y=2)" in out
    # A negative word value is its two's complement: Y=-2 is Y=2 for two bits.
    assert run("replay", "test/wrong-ripple[bits=2]", "--at", "X=1,Y=-2")[1] == out


def test_replay_on_a_registered_gadget() -> None:
    code, out, err = run("replay", "gadget/subtract[bits=4]", "--at", "DA=3,DB=5")
    assert code == 0, err
    assert "subtract(DA=3, DB=5)" in out and "agrees" in out
    # Both sides' values are printed, the bits of a word read as one value: R = DB - DA.
    assert "R: network=2 spec=2 (4 bits)" in out
    # MEM[j] names the word MEM[j].bit[0..]; a missing word is named as a word.
    code, out, err = run("replay", "gadget/read[words=2,bits=2]", "--at", "A=1,MEM[0]=1,MEM[1]=2")
    assert code == 0 and "agrees" in out, err
    assert "D: network=2 spec=2 (2 bits)" in out
    code, _, err = run("replay", "gadget/read[words=2,bits=2]", "--at", "A=1")
    assert code == 2 and "need a value for MEM[0], MEM[1]" in err


@pytest.mark.parametrize(("at", "message"), [
    ("a=1,b=0", "need a value for c"),
    ("a=1,b=0,c=0,q=1", "'q': need an input of test/wrong-adder"),
    ("a=2,b=0,c=0", "--at a=2: need a value in [0, 1]"),
    ("a=1,a=0,b=0,c=0", "need each name once"),
    ("a=one,b=0,c=0", "need an integer value"),
])
def test_replay_usage_errors_exit_2_on_one_line(registry: Callable[..., None], at: str,
                                               message: str) -> None:
    registry(WRONG)
    code, out, err = run("replay", "test/wrong-adder", "--at", at)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1, err


def test_replay_of_an_unknown_obligation_exits_2(registry: Callable[..., None]) -> None:
    registry(GOOD)
    code, _, err = run("replay", "test/nope", "--at", "a=1")
    assert code == 2 and "test/nope" in err and err.count("\n") == 1


# --------------------------------------------------------------------------- the directory
def test_report_never_overwrites_a_file_it_did_not_write(registry: Callable[..., None],
                                                         tmp_path: Path) -> None:
    registry(GOOD)
    mine = tmp_path / "index.html"
    mine.write_text("my own page")
    code, out, err = run("report", "--out", str(tmp_path), "--no-pictures", *FAST)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(mine) in err and "not written by" in err
    assert mine.read_text() == "my own page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html"]

    # Into a fresh directory, then again over its own files: fine, and unrelated files stay.
    rep = tmp_path / "rep"
    assert run("report", "--out", str(rep), "--no-pictures", *FAST)[0] == 0
    (rep / "notes.txt").write_text("keep me")
    manifest = json.loads((rep / MANIFEST).read_text())
    assert manifest["files"] == {n: hashlib.sha256((rep / n).read_bytes()).hexdigest()
                                 for n in ("index.html", "report.md", "results.json",
                                           "junit.xml")}
    assert run("report", "--out", str(rep), "--no-pictures", *FAST)[0] == 0
    assert (rep / "notes.txt").read_text() == "keep me"

    # A file whose content is not what the report wrote is refused, listed or not.
    (rep / "junit.xml").write_text("<mine/>")
    code, _, err = run("report", "--out", str(rep), "--no-pictures", *FAST)
    assert code == 2 and err.count("\n") == 1 and str(rep / "junit.xml") in err
    assert "its content differs from what is recorded" in err
    manifest = json.loads((rep / MANIFEST).read_text())
    del manifest["files"]["junit.xml"]
    (rep / MANIFEST).write_text(json.dumps(manifest))
    code, _, err = run("report", "--out", str(rep), "--no-pictures", *FAST)
    assert code == 2 and str(rep / "junit.xml") in err and "not recorded in" in err
    assert (rep / "junit.xml").read_text() == "<mine/>"


def test_out_that_is_a_file_exits_2(registry: Callable[..., None], tmp_path: Path) -> None:
    registry(GOOD)
    f = tmp_path / "file"
    f.write_text("x")
    code, _, err = run("report", "--out", str(f), "--no-pictures", *FAST)
    assert code == 2 and "not a directory" in err and err.count("\n") == 1


# --------------------------------------------------------------------------- --from
@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    ('{"tool": "loopmlp", "version": "0.1.0", "seconds": 1, "results": [{"obligation": "a", '
     '"verdict": "maybe"}]}', "results[0].verdict: 'maybe' is not one of"),
    ('{"tool": "other"}', "tool: 'other' is not 'loopmlp'"),
    ("[]", "top level: expected an object"),
])
def test_from_a_malformed_file_exits_2_naming_it(tmp_path: Path, content: str,
                                                  message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, out, err = run("report", "--from", str(bad), "--out", str(tmp_path / "rep"), *FAST)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(bad) in err and message in err, err
    assert not (tmp_path / "rep").exists()


def test_from_a_missing_file_and_with_run_options_exits_2(tmp_path: Path) -> None:
    code, _, err = run("report", "--from", str(tmp_path / "none.json"), "--out", str(tmp_path))
    assert code == 2 and "none.json: cannot read file" in err
    good = tmp_path / "r.json"
    good.write_text('{"tool": "loopmlp", "version": "0", "seconds": 0, "results": []}')
    code, _, err = run("report", "--from", str(good), "--method", "smt", "--out", str(tmp_path))
    assert code == 2 and "--method: has no effect with --from" in err


def test_from_reads_what_prove_wrote(registry: Callable[..., None], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    registry(GOOD, WRONG, WRONG_WORDS)
    path = tmp_path / "r.json"
    assert run("prove", "--json", str(path))[0] == 1
    registry()  # --from must not run anything
    code, out, err = run("report", "--from", str(path), "--out", str(tmp_path / "rep"),
                         "--no-pictures", *FAST)
    assert code == 1, err
    before = json.loads(path.read_text())
    after = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert after["results"] == before["results"] and after["summary"] == before["summary"]
    assert after.keys() == before.keys()
    results, _, _ = load_results(str(path))
    wrong = next(r for r in results if r.obligation == "test/wrong-ripple[bits=2]")
    assert wrong.counterexample is not None and set(wrong.counterexample.words) == {"X", "Y"}
    # --only filters the results read.
    code, _, _ = run("report", "--from", str(path), "--only", "test/good*", "--out",
                     str(tmp_path / "rep2"), "--no-pictures", *FAST)
    assert code == 0
    doc = json.loads((tmp_path / "rep2" / "results.json").read_text())
    assert [r["obligation"] for r in doc["results"]] == ["test/good-adder"]


# --------------------------------------------------------------------------- formatting
def test_coverage_uses_powers_of_two_for_huge_counts() -> None:
    assert coverage(8, 8) == "8/8"
    assert coverage(65536, 65536) == "2^16/2^16"
    assert coverage(0, 1 << 128) == "0/2^128"
    assert coverage(2097153, 2097153) == "2,097,153/2,097,153"
    assert coverage(3 << 40, 1 << 42) == "~2^41.6/2^42"


def test_junit_of_no_results_is_an_empty_suite() -> None:
    root = ET.fromstring(junit_xml([]))
    assert root[0].get("tests") == "0" and root[0].findall("testcase") == []
    r = Result("plain", Verdict.PROVED, "exhaustive", 1, 1, 0.0, "every input checked")
    case = ET.fromstring(junit_xml([r]))[0].find("testcase")
    assert case is not None and (case.get("classname"), case.get("name")) == ("loopmlp", "plain")


# --------------------------------------------------------------------------- check results
def _corrupt_model(tmp_path: Path) -> Path:
    """``subtract[bits=3]`` exported as ONNX with one weight of its first layer raised by one."""
    onnx = pytest.importorskip("onnx", reason="needs the onnx extra")
    from onnx import numpy_helper

    good = tmp_path / "good.onnx"
    assert run("export", "--onnx", str(good), "--gadget", "subtract", "--bits", "3")[0] == 0
    model = onnx.load(str(good))
    t = next(t for t in model.graph.initializer if numpy_helper.to_array(t).ndim == 2)
    w = numpy_helper.to_array(t).copy()
    w[0, 0] += 1
    t.CopyFrom(numpy_helper.from_array(w, t.name))
    bad = tmp_path / "bad.onnx"
    onnx.save(model, str(bad))
    return bad


SUGGESTED = re.compile(r"loopmlp replay .*?--at '[^']*'")


@pytest.mark.parametrize("relative", [False, True])
def test_every_command_a_report_of_check_results_suggests_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: bool) -> None:
    bad = _corrupt_model(tmp_path)
    if relative:  # the path as the check was given it, run from the same directory
        monkeypatch.chdir(tmp_path)
    model = bad.name if relative else str(bad)
    code, out, err = run("check", model, "--spec", "subtract", "--bits", "3", "--json")
    assert code == 1, err
    (tmp_path / "r.json").write_text(out)
    rep = tmp_path / "rep"
    code, _, err = run("report", "--from", str(tmp_path / "r.json"), "--out", str(rep),
                       "--no-pictures", *FAST)
    assert code == 1, err
    texts = [(rep / "report.md").read_text(), " ".join(parse_page(rep / "index.html").text),
             _failure_command(rep / "junit.xml", f"{bad.name}:gadget/subtract[bits=3]")]
    commands = {c for t in texts for c in SUGGESTED.findall(t)}
    assert commands and all(f"{model}' --spec 'gadget/subtract[bits=3]'" in c
                            for c in commands), commands
    for command in commands:
        code, out, err = run(*shlex.split(command)[1:])
        assert code == 1 and err == "", (command, err)
        assert "REFUTED" in out and "network (" not in out
        diffs = re.findall(r"^  (R\.bit\[\d\]): network=(\S+) spec=(\S+)$", out, re.M)
        assert diffs and all(g != w for _, g, w in diffs), out
    # The name the check gave its result replays too, from where the model is.
    monkeypatch.chdir(tmp_path)
    at = shlex.split(next(iter(commands)))[-1]
    code, out, _ = run("replay", f"{bad.name}:gadget/subtract[bits=3]", "--at", at)
    assert code == 1 and "by onnxruntime" in out
    # The model as exported agrees with the spec there, with both values printed.
    code, out, _ = run("replay", "good.onnx", "--spec", "subtract", "--bits", "3", "--at", at)
    assert code == 0 and "agrees" in out and re.search(r"R: network=(\d+) spec=\1 ", out), out


def test_replay_of_a_model_refuses_a_second_spec_and_sizes_without_one(
        registry: Callable[..., None]) -> None:
    registry(GOOD)
    code, _, err = run("replay", "m.onnx:gadget/add[bits=2]", "--spec", "add", "--at", "DA=1")
    assert code == 2 and "names its spec" in err and err.count("\n") == 1
    code, _, err = run("replay", "test/good-adder", "--bits", "2", "--at", "a=1,b=0,c=0")
    assert code == 2 and "--bits" in err and err.count("\n") == 1


# --------------------------------------------------------------------------- pictures
def _results(families: int, widths: Sequence[int], methods: Sequence[str]) -> list[Result]:
    return [Result(f"gadget/f{i}[words=2,bits={b}]", Verdict.PROVED, m, 1, 1,
                   0.001 * (i + 1) * b, "") for i in range(families) for b in widths
            for m in methods]


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_proof_times_are_small_multiples_that_stay_readable_at_any_size(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    from loopmlp.report import plots

    monkeypatch.setattr(plots, "MAX_PANELS", 4)  # the rule at a size that draws quickly
    panels = bits_panels(_results(3, (2, 4, 8), ("exhaustive", "smt")))
    assert list(panels) == ["gadget/f0", "gadget/f1", "gadget/f2"]
    assert list(panels["gadget/f0"]) == ["words=2, exhaustive", "words=2, smt"]
    assert [b for b, _ in panels["gadget/f0"]["words=2, smt"]] == [2, 4, 8]
    sizes = {}
    for n in (1, 3, 9):
        pic = plots.proof_times(_results(n, (1, 2, 4, 8, 16), ("exhaustive", "factorised")))
        assert pic is not None
        sizes[n] = _png_size(pic.png)
        assert ("left out" in pic.caption) == (n > plots.MAX_PANELS)
    # A panel keeps its size however many there are: width by at most four columns, height
    # by rows, and no more rows than MAX_PANELS allows.
    cols = plots.PANEL_COLUMNS
    assert sizes[9][1] <= (0.9 + 2.9 * -(-plots.MAX_PANELS // cols)) * 110 + 1
    assert sizes[1][0] <= sizes[3][0] <= sizes[9][0] <= cols * 3.6 * 110 + 1


def test_pictures_are_part_of_the_default_install() -> None:
    import tomllib

    project = tomllib.loads((PROGRAMS.parents[1] / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("matplotlib") for d in project["dependencies"])
    assert any(d.startswith("selenium") for d in project["optional-dependencies"]["test"])
