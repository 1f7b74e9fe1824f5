"""``info`` and ``run`` show a progress line while a large network is built: on a terminal
only, never under ``--json`` or into a pipe."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import run

from loopmlp.cli import building

PROGRAM = Path(__file__).resolve().parents[2] / "constructions" / "programs" / "countdown.sq"


@pytest.fixture
def every_build_is_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(building, "SHOW_FROM", 0)


@pytest.mark.parametrize("argv", [("info", "--words", "4"), ("run", str(PROGRAM))])
def test_a_large_build_shows_progress_on_a_terminal(
        argv: tuple[str, ...], every_build_is_large: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    code, out, err = run(*argv)
    assert code == 0
    assert "building the paper network" in err
    assert "building" not in out


@pytest.mark.parametrize("argv", [("info", "--words", "4"), ("run", str(PROGRAM))])
def test_no_progress_under_json_or_into_a_pipe(argv: tuple[str, ...],
                                               every_build_is_large: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    code, _, err = run(*argv, "--json")
    assert code == 0 and "building" not in err
    monkeypatch.delenv("TTY_COMPATIBLE")
    code, _, err = run(*argv)
    assert code == 0 and err == ""
