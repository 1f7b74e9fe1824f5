"""``loopmlp bench build``: the three figures (build, info, run) with their targets, at small
sizes here so that the test stays fast."""

from __future__ import annotations

import json

import pytest
from support.cli import run

from constructions.machine.subleq import MachineSize
from loopmlp.bench import build


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "BUILD_SIZE", MachineSize(4, 4, 4))
    monkeypatch.setattr(build, "INFO_ARGS", ("info", "--words", "4", "--json"))
    monkeypatch.setattr(build, "RUN_ARGS", build.RUN_ARGS[:2] + ("--profile", "compact",
                                                                 "--json"))


def test_bench_build_prints_the_three_figures(small: None) -> None:
    code, out, _ = run("bench", "build")
    assert code == 0
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["build", "info", "run"]
    assert all("target at most" in line for line in lines)
    assert "peak memory" in lines[1] and "peak memory" in lines[2]


def test_bench_build_json(small: None) -> None:
    code, out, err = run("bench", "build", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    figures = {f["name"]: f for f in doc["figures"]}
    assert set(figures) == {"build", "info", "run"}
    for f in figures.values():
        assert len(f["runs"]) == 1 and f["seconds"] == min(f["runs"]) > 0
        assert f["meets_target"] == (f["seconds"] <= f["target"])
    assert figures["run"]["peak_mib"] > 0 and figures["build"]["peak_mib"] is None


def test_bench_build_refuses_a_bad_repeat() -> None:
    code, _, err = run("bench", "build", "--repeat", "0")
    assert code == 2 and "--repeat" in err and len(err.strip().splitlines()) == 1


def test_a_failing_command_is_an_error(small: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "RUN_ARGS", ("run", "no-such-file.sq", "--json"))
    code, _, err = run("bench", "build")
    assert code == 2 and "bench build" in err
