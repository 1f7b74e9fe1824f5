"""``loopmlp bench process``: both processes run, their final states compared, the figures
printed (the ratio is reported, never asserted: it is a benchmark, not a timed test)."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import run as cli

COUNTDOWN = Path(__file__).resolve().parents[2] / "constructions" / "programs" / "countdown.sq"


def test_bench_process_json() -> None:
    code, out, err = cli("bench", "process", "--program", str(COUNTDOWN), "--repeat", "1",
                         "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["agrees"] is True and doc["steps"] == 29
    assert doc["interpreter_seconds"] > 0 and doc["loopmlp_seconds"] > 0
    assert doc["ratio"] == round(doc["loopmlp_seconds"] / doc["interpreter_seconds"], 2)
    assert doc["target"] == 30
    assert doc["interpreter_cpu"] > 0 and doc["loopmlp_cpu"] > 0
    assert doc["cpu_ratio"] == round(doc["loopmlp_cpu"] / doc["interpreter_cpu"], 2)


def test_bench_process_text_and_bad_repeat() -> None:
    code, out, _ = cli("bench", "process", "--program", str(COUNTDOWN), "--repeat", "1")
    assert code == 0
    assert "29 steps" in out and "final states: agree" in out and "target: at most 30" in out
    code, out, err = cli("bench", "process", "--repeat", "0")
    assert (code, out) == (2, "") and "--repeat" in err
