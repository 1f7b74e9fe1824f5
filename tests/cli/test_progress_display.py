"""The progress display of ``prove``, ``precision``, ``bench long`` and ``check``: drawn on a
terminal (a stream whose ``isatty()`` is true), never into a pipe, under ``--json`` or
``--quiet``."""

from __future__ import annotations

from importlib.util import find_spec
from io import StringIO
from pathlib import Path

import pytest

from constructions.machine.asm import PROGRAMS
from loopmlp.bench import long
from loopmlp.cli import main

PROGRAM = str(PROGRAMS / "factorial.sq")
"""A program of 212 steps: a few checkpoints of 50 steps."""


class Terminal(StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable that forces or forbids a terminal; a wide one, so nothing is cut short."""
    for name in ("TTY_COMPATIBLE", "FORCE_COLOR", "NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")


def on_terminal(*argv: str) -> tuple[int, str, str]:
    """``loopmlp argv...`` with stderr a terminal: (exit code, stdout, stderr)."""
    out, err = StringIO(), Terminal()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def in_pipe(*argv: str) -> tuple[int, str, str]:
    """``loopmlp argv...`` with both streams captured as pipes are (no terminal)."""
    out, err = StringIO(), StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def drawn(err: str) -> bool:
    """Whether a progress display was drawn: its ``left`` column and a cursor control."""
    return " left " in err and "\x1b[" in err


# --------------------------------------------------------------------------- prove
def test_prove_draws_on_a_terminal_only(kernel_registry: None) -> None:
    code, out, err = on_terminal("prove", "--only", "kernel/full-adder")
    assert code == 0 and drawn(err) and "obligations" in err
    assert "kernel/full-adder: PROVED" in out
    code, out, err = in_pipe("prove", "--only", "kernel/full-adder")
    assert code == 0 and err == "" and "PROVED" in out
    code, out, err = on_terminal("prove", "--only", "kernel/full-adder", "--quiet")
    assert code == 0 and err == "" and "1 obligation" in out


# --------------------------------------------------------------------------- precision
PRECISION = ("precision", "--profile", "compact", "--words", "4", "--bits", "4", "--slots", "4")


def test_precision_shows_items_done_of_all_and_the_current_one() -> None:
    code, out, err = on_terminal(*PRECISION)
    assert code == 0 and drawn(err)
    assert "precision: compact certificate M=4 N=4 K=4" in err
    assert "precision: compact float32 (any order) N=" in err
    assert "/7" in err  # one certificate and 3 formats x 2 orders
    assert out.splitlines()[-1].startswith("compact")  # the table is unchanged on stdout


def test_precision_draws_nothing_into_a_pipe_or_with_json() -> None:
    code, out, err = in_pipe(*PRECISION)
    assert code == 0 and err == "" and "compact" in out
    code, out, err = on_terminal(*PRECISION, "--json")
    assert code == 0 and err == "" and out.lstrip().startswith("{")


# --------------------------------------------------------------------------- bench long
LONG = ("bench", "long", "--program", PROGRAM, "--checkpoint", "50", "--max-steps", "1000")


def test_bench_long_shows_checkpoints_and_steps() -> None:
    code, out, err = on_terminal(*LONG)
    assert code == 0 and drawn(err)
    assert "bench long: checkpoint 1 (to step 50), engine" in err
    assert "/1000" in err
    assert "| 212 | yes |" in out


def test_bench_long_draws_nothing_into_a_pipe_or_with_json() -> None:
    code, out, err = in_pipe(*LONG)
    assert code == 0 and err == "" and "| 212 | yes |" in out
    code, out, err = on_terminal(*LONG, "--json")
    assert code == 0 and err == "" and '"steps": 212' in out


def test_long_run_ticks_in_order_and_ends_at_the_step_count() -> None:
    seen: list[tuple[str, int]] = []
    doc = long.long_run(PROGRAM, "compact", 50, 1000, lambda what, n: seen.append((what, n)))
    assert doc["agrees"] and doc["steps"] == 212
    counts = [n for _, n in seen]
    assert counts == sorted(counts) and counts[-1] == 212
    assert [p["steps"] for p in doc["checkpoints"]] == [50, 100, 150, 200, 212]
    assert any(w.startswith("checkpoint 5 (to step 250), interpreter") for w, _ in seen)


# --------------------------------------------------------------------------- check
needs_onnx = pytest.mark.skipif(find_spec("onnx") is None, reason="needs the onnx extra")


@pytest.fixture
def model(tmp_path: Path) -> str:
    path = tmp_path / "subtract4.onnx"
    code, _, err = in_pipe("export", "--onnx", str(path), "--gadget", "subtract", "--bits", "4")
    assert code == 0, err
    return str(path)


@needs_onnx
def test_check_shows_the_stage_and_the_inputs_enumerated(model: str) -> None:
    code, out, err = on_terminal("check", model, "--spec", "subtract", "--bits", "4")
    assert code == 0 and drawn(err)
    assert "check subtract4.onnx:gadget/subtract[bits=4]: " in err
    assert "exhaustive: inputs enumerated" in err and "256/256" in err
    assert "PROVED exhaustive 256/256" in out


@needs_onnx
def test_check_draws_nothing_into_a_pipe_or_with_json(model: str) -> None:
    code, out, err = in_pipe("check", model, "--spec", "subtract", "--bits", "4")
    assert code == 0 and err == "" and "PROVED" in out
    code, out, err = on_terminal("check", model, "--spec", "subtract", "--bits", "4", "--json")
    assert code == 0 and err == "" and out.lstrip().startswith("{")
