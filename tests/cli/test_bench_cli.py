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
    """One quick run, shared by the tests that read its JSON."""
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
    assert doc["quick"] is True and doc["monolithic_timeout"] == 60.0
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
    assert tp["per_second"] > 0 and tp["target_per_second"] == 20_000_000
    assert [t["name"] for t in doc["targets"]] == [
        "subtract at 64 bits proved", "all gadgets at 32 bits, together",
        "exhaustive throughput, subtract at 12 bits", "monolithic z3 on subtract times out"]
    for t in doc["targets"]:
        assert set(t) == {"name", "target", "measured", "status"}
        assert t["status"] in {"met", "missed", "agrees", "differs", "not measured"}


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
    assert max(r["bits"] for r in rows if r["method"] == "smt") <= bench.QUICK_SMT_MAX


def test_plain_table_lists_every_row_and_the_targets() -> None:
    report = bench.run(True, 5.0, families=bench.FAMILIES[2:3])  # compare only: fast
    out = StringIO()
    bench.render_plain(report, out)
    text = out.getvalue()
    head, *lines = text.splitlines()
    assert head.split() == ["gadget", "bits", "method", "verdict", "seconds"]
    assert sum(1 for ln in lines if ln.startswith("compare ")) == len(report.rows)
    assert "exhaustive throughput: subtract[bits=8]" in text
    assert "targets:" in text and "subtract at 64 bits proved" in text


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
    rows = bench.run_family(bench.FAMILIES[0], False, 7.0, lambda what, *_: seen.append(what))
    smt_rows = [(r.bits, r.verdict) for r in rows if r.method == "smt"]
    assert smt_rows == [(2, "proved"), (3, "timeout")]
    assert [r.bits for r in rows if r.method == "factorised"] == [2, 3, 4, 16]
    assert [r.bits for r in rows if r.method == "exhaustive"] == [2, 3, 4]
    assert "subtract[bits=3] smt (limit 7s)" in seen

    report = bench.Report(False, 7.0, rows)
    section = bench.docs_section(report, None)
    assert "| subtract | 3 | " in section and "timeout (7 s)" in section
    assert "| subtract | 4 | " in section


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
