"""``loopmlp bench proofs``: the quick ladder, its JSON document, its plain table, the docs it
writes, and its usage errors."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from support.cli import run

import loopmlp.bench.proofs as bench
from verify.methods import Options
from verify.obligation import Obligation
from verify.result import Result, Verdict

VERDICTS = {"proved", "refuted", "unknown", "timeout"}
ROW_FIELDS = {"gadget", "bits", "sizes", "method", "verdict", "seconds", "build_seconds",
              "checked", "total", "reason"}




@pytest.fixture(scope="module")
def quick_json() -> tuple[int, dict[str, Any], str]:
    """One quick run without its 64-bit rung (seconds each under load: the slow test below
    runs the whole quick ladder), shared by the tests that read its JSON."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bench, "QUICK_LADDER", tuple(b for b in bench.QUICK_LADDER if b < 64))
        code, out, err = run("bench", "proofs", "--quick", "--json")
    return code, json.loads(out), err


def test_quick_json_has_the_documented_fields(quick_json: tuple[int, dict[str, Any], str]
                                              ) -> None:
    code, doc, err = quick_json
    assert code == 0, err
    assert err == ""  # quiet under --json
    assert {"tool", "version", "command", "quick", "monolithic_timeout", "exhaustive_limit",
            "machine", "seconds", "rows", "throughput", "targets"} <= set(doc)
    assert doc["tool"] == "loopmlp" and doc["command"] == "bench proofs"
    assert doc["quick"] is True and doc["monolithic_timeout"] == 10.0
    assert doc["exhaustive_limit"] == 1 << 24
    assert {"cpu", "cores", "python", "numpy", "z3"} <= set(doc["machine"])
    assert doc["rows"]
    for row in doc["rows"]:
        assert set(row) == ROW_FIELDS
        assert row["method"] in bench.METHODS
        assert row["verdict"] in VERDICTS
        assert row["seconds"] >= 0 and row["build_seconds"] >= 0
        assert isinstance(row["total"], int) and 0 <= row["checked"] <= row["total"]
    tp = doc["throughput"]
    assert tp["gadget"] == "subtract" and tp["bits"] == bench.QUICK_THROUGHPUT_BITS
    assert tp["evaluations"] == 1 << (2 * tp["bits"])
    assert tp["per_second"] > 0 and tp["target_per_second"] == 100_000_000
    wide = [f"{g} at 64 bits proved" for g in
            ("subtract", "add", "compare", "increment", "branch", "read", "write")]
    assert [t["name"] for t in doc["targets"]] == wide + [
        "all gadgets at 32 bits, together", "exhaustive throughput, subtract at 12 bits",
        "building paper at M=256,N=16,K=256", "compositional step, paper at M=256,N=16,K=256",
        "prove --all", "prove --cross-check, nothing unknown",
        "monolithic z3 on subtract times out"]
    for t in doc["targets"]:
        assert set(t) == {"name", "target", "measured", "status"}
        assert t["status"] in {"met", "missed", "agrees", "differs", "not measured"}
    by = {t["name"]: t for t in doc["targets"]}
    for name in (*wide, "building paper at M=256,N=16,K=256", "prove --all"):
        # no 64-bit rung in this run; no build with --quick; prove only with --scale
        assert by[name]["status"] == "not measured", by[name]
    assert set(doc["monolithic"]) <= set(bench.MONOLITHIC) and "z3-int" in doc["monolithic"]


def test_quick_ladder_covers_every_family_and_method(
        quick_json: tuple[int, dict[str, Any], str]) -> None:
    _, doc, _ = quick_json
    rows = doc["rows"]
    assert {r["gadget"] for r in rows} == {f.name for f in bench.FAMILIES}
    assert all(r["verdict"] == "proved" for r in rows), [r for r in rows
                                                         if r["verdict"] != "proved"]
    by = {(r["gadget"], r["bits"], r["method"]) for r in rows}
    # exhaustive only where the domain is at most 2^24 points, smt only at small widths
    assert ("subtract", 3, "exhaustive") in by and ("subtract", 16, "exhaustive") not in by
    assert ("compare", 16, "exhaustive") in by
    assert ("subtract", 16, "factorised") in by and ("subtract", 16, "smt") not in by
    assert not any(g == "match" and m == "factorised" for g, _, m in by)
    mono = [bench.method_of(c) for c in doc["monolithic"]]
    assert max(r["bits"] for r in rows if r["method"] in mono) <= bench.QUICK_SMT_MAX
    for method in mono:  # each installed monolithic configuration, beside ours
        assert ("subtract", 2, method) in by, method


@pytest.mark.slow
def test_the_quick_ladder_measures_every_gadget_at_64_bits() -> None:
    code, out, err = run("bench", "proofs", "--quick", "--json")
    assert code == 0, err
    doc = json.loads(out)
    by = {t["name"]: t for t in doc["targets"]}
    for g in ("subtract", "add", "compare", "increment", "branch", "read", "write"):
        t = by[f"{g} at 64 bits proved"]
        assert t["measured"].endswith("(factorised, build included)"), t
        assert t["status"] == ("met" if float(t["measured"].split()[0]) < 0.5 else "missed")


def test_the_64_bit_targets_are_read_off_the_measured_rows() -> None:
    def row(gadget: str, seconds: float, build: float) -> bench.Row:
        return bench.Row(gadget, 64, {"bits": 64}, "factorised", "proved", seconds, build, 1, 1,
                         "")

    report = bench.Report(False, 30.0, [row("subtract", 0.3, 0.1), row("add", 0.45, 0.1)])
    by = {t.name: t for t in bench.targets(report)}
    assert (by["subtract at 64 bits proved"].measured, by["subtract at 64 bits proved"].status
            ) == ("0.40 s (factorised, build included)", "met")
    assert (by["add at 64 bits proved"].measured, by["add at 64 bits proved"].status
            ) == ("0.55 s (factorised, build included)", "missed")
    assert "compare at 64 bits proved" not in by  # not in the run: no row
    report.build_paper = 2.5
    assert {t.name: t.status for t in bench.targets(report)}[
        "building paper at M=256,N=16,K=256"] == "missed"
    report.scale = {"prove_all": {"exit": 0, "seconds": 420.0,
                                  "summary": {"proved": 3, "refuted": 0, "unknown": 0}},
                    "cross_check": {"exit": 3, "seconds": 400.0,
                                    "summary": {"proved": 2, "refuted": 0, "unknown": 1}}}
    got = {t.name: (t.measured, t.status) for t in bench.targets(report)}
    assert got["prove --all"] == ("7.0 min, 3 proved, 0 refuted, 0 unknown", "met")
    assert got["prove --cross-check, nothing unknown"][1] == "missed"
    # --all holds the all-lengths claims refuted by design: its exit 1 with nothing unknown meets
    report.scale["prove_all"] = {"exit": 1, "seconds": 500.0,
                                 "summary": {"proved": 3, "refuted": 2, "unknown": 0}}
    assert {t.name: t.status for t in bench.targets(report)}["prove --all"] == "met"
    report.scale["prove_all"]["summary"]["unknown"] = 1
    assert {t.name: t.status for t in bench.targets(report)}["prove --all"] == "missed"


def test_plain_table_lists_every_row_and_the_targets() -> None:
    report = bench.run(True, 5.0, families=bench.FAMILIES[2:3])  # compare only: fast
    out = StringIO()
    bench.render_plain(report, out)
    text = out.getvalue()
    head, *lines = text.splitlines()
    assert head.split() == ["gadget", "bits", "method", "verdict", "seconds"]
    assert sum(1 for ln in lines if ln.startswith("compare ")) == len(report.rows)
    assert "exhaustive throughput: subtract[bits=8]" in text
    assert "targets:" in text and "compare at 64 bits proved" in text


def test_a_timeout_stops_the_solver_for_larger_widths(monkeypatch: pytest.MonkeyPatch) -> None:
    real = bench.smt

    def smt(ob: Obligation, opts: Options) -> Result:
        if ob.domain.count < 1 << 6:
            return real(ob, opts)
        return Result(ob.name, Verdict.UNKNOWN, "smt", 0, ob.domain.count, opts.timeout,
                      f"z3: timeout after {opts.timeout:g}s")

    monkeypatch.setattr(bench, "smt", smt)
    monkeypatch.setattr(bench, "LADDER", (2, 3, 4, 16))
    seen: list[str] = []
    rows = bench.run_family(bench.FAMILIES[0], False, 7.0, lambda what, *_: seen.append(what),
                            ("z3-int",))
    smt_rows = [(r.bits, r.verdict) for r in rows if r.method == "smt"]
    assert smt_rows == [(2, "proved"), (3, "timeout")]
    assert [r.bits for r in rows if r.method == "factorised"] == [2, 3, 4, 16]
    assert [r.bits for r in rows if r.method == "exhaustive"] == [2, 3, 4]
    assert "subtract[bits=3] smt (limit 7s)" in seen

    report = bench.Report(False, 7.0, rows)
    section = bench.docs_section(report, None)
    assert "| subtract | 3 | " in section and "timeout (7 s)" in section
    assert "| subtract | 4 | " in section
    # the ratio column: the monolithic proof's time over ours, or a bound past a timeout
    ours = min(r.seconds for r in rows if r.bits == 3 and r.method in bench.OURS)
    assert f"| > {7.0 / ours:.3g} |" in section.splitlines()[
        next(i for i, ln in enumerate(section.splitlines()) if ln.startswith("| subtract | 3 |"))]


def test_the_ratio_is_the_fastest_monolithic_proof_over_ours() -> None:
    def row(method: str, seconds: float, verdict: str = "proved") -> bench.Row:
        return bench.Row("add", 8, {"bits": 8}, method, verdict, seconds, 0.0, 1, 1, "")

    report = bench.Report(False, 30.0, [row("exhaustive", 0.5), row("factorised", 0.25),
                                        row("smt", 10.0), row("z3-bv", 5.0),
                                        row("bitwuzla-bv", 30.0, "timeout")],
                          configs=("z3-int", "z3-bv", "bitwuzla-bv"))
    assert bench.ratio(report, "add", 8) == "20"
    assert bench.ratio(report, "add", 9) == "-"


def test_write_docs_replaces_only_its_section(tmp_path: Path) -> None:
    md = tmp_path / "benchmarks.md"
    md.write_text("# Benchmarks\n\nintro\n\n## Proof times\n\nold numbers\n\n"
                  "## Step times\n\nkept\n", encoding="utf-8")
    report = bench.run(True, 5.0, families=bench.FAMILIES[2:3])
    err = StringIO()
    written = bench.write_docs(report, tmp_path, err)
    text = md.read_text(encoding="utf-8")
    assert "old numbers" not in text
    assert text.index("# Benchmarks") < text.index("## Proof times") < text.index("## Step times")
    assert "intro" in text and "kept" in text
    assert "loopmlp bench proofs --quick --write-docs" in text
    assert "| compare | 16 |" in text
    assert md in written
    png = tmp_path / "proof_times.png"
    if png in written:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "(proof_times.png)" in text
    else:
        assert "matplotlib is not installed" in err.getvalue()


def test_replace_section_appends_when_absent() -> None:
    assert bench.replace_section("# B\n", "## Proof times\n\nx\n") == "# B\n\n## Proof times\n\nx\n"
    assert bench.replace_section("", "## Proof times\n") == "## Proof times\n"


@pytest.mark.parametrize(("argv", "message"), [
    (["bench", "proofs", "--monolithic-timeout", "0"], "--monolithic-timeout=0.0: need"),
    (["bench", "proofs", "--monolithic-timeout", "soon"], "invalid float value"),
    (["bench"], "required"),
])
def test_usage_errors_exit_2(argv: list[str], message: str) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_help_documents_the_options_and_exit_codes() -> None:
    code, out, _ = run("bench", "proofs", "--help")
    assert code == 0
    for opt in ("--json", "--quick", "--monolithic-timeout", "--write-docs"):
        assert opt in out
    assert "exit codes" in out


def test_throughput_at_another_width_is_not_measured_nor_missed() -> None:
    from loopmlp.bench.proofs import THROUGHPUT_BITS, Report, Throughput, targets

    small = Throughput("subtract", THROUGHPUT_BITS - 4, 256, 1.0)  # far below the target rate
    assert small.status == "not measured"
    assert "missed" not in small.line() and f"set at {THROUGHPUT_BITS} bits" in small.line()
    report = Report(True, 60.0)
    report.throughput = small
    row = next(t for t in targets(report) if t.name.startswith("exhaustive throughput"))
    assert row.status == "not measured"
    slow = Throughput("subtract", THROUGHPUT_BITS, 256, 1.0)
    assert slow.status == "missed" and "missed" in slow.line()


def test_long_run_page_has_no_figure_it_did_not_measure() -> None:
    from loopmlp.bench import long

    doc = {"program": "p.sq", "profile": "compact", "arithmetic": "int64",
           "size": {"words": 4, "bits": 4, "slots": 4}, "steps": 10, "halted": True,
           "agrees": True, "expectations": [], "engine_steps_per_second": 1234.0,
           "interpreter_steps_per_second": 567.0, "checkpoints": []}
    page = long.render(doc)
    rates = re.findall(r"([\d,]+) steps/s", page)
    assert sorted(rates) == ["1,234", "567"], rates
