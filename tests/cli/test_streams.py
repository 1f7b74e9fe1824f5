"""Standard output and Ctrl-C: a reader that goes away ends a command quietly (exit 141), Ctrl-C
ends it with one line (exit 130), in process and through the console script in a real process."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path
from typing import IO

import pytest

import loopmlp.cli.list
from loopmlp.cli import main
from loopmlp.cli.common import EXIT_INTERRUPTED, EXIT_PIPE

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = [sys.executable, "-c", "from loopmlp.cli import entry_point; entry_point()"]
LONG = str(ROOT / "constructions" / "programs" / "long" / "long_loop.sq")


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k != "LOOPMLP_DEBUG"}
    e["PYTHONPATH"] = str(ROOT)
    return e


def default_sigint() -> None:
    """In the child: Ctrl-C as in a terminal, even where this test runs with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class ClosedPipe(StringIO):
    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stdout_in_process_is_exit_141_and_silent() -> None:
    err = StringIO()
    assert main(["list"], ClosedPipe(), err) == EXIT_PIPE == 141
    assert err.getvalue() == ""


def test_ctrl_c_in_process_is_exit_130_and_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
        print("half a line", end="", file=out)
        raise KeyboardInterrupt

    monkeypatch.setattr(loopmlp.cli.list, "cmd_list", interrupted)
    out, err = StringIO(), StringIO()
    assert main(["list"], out, err) == EXIT_INTERRUPTED == 130
    assert err.getvalue() == "loopmlp: interrupted\n"


@pytest.mark.parametrize("argv", [["list"], ["info"], ["prove", "--only", "kernel/full-adder"]])
def test_a_reader_that_went_away_ends_the_command_quietly(argv: list[str]) -> None:
    """Standard output is a pipe whose reader is gone before the first write: exit 141,
    nothing on stderr (no traceback, no 'Exception ignored' at exit)."""
    proc = subprocess.Popen([*SCRIPT, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env(), cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == EXIT_PIPE, err
    assert err == b""


@pytest.mark.parametrize("argv", [["list"], ["info"]])
def test_piped_into_head(argv: list[str]) -> None:
    """``loopmlp list | head -1`` in a shell: one line out, nothing on stderr, and loopmlp
    exits 0 (everything fitted in the pipe before head left) or 141 (it did not)."""
    proc = subprocess.run(["bash", "-c", '"$@" | head -1; echo "${PIPESTATUS[0]}" >&2', "sh",
                           *SCRIPT, *argv], capture_output=True, text=True, env=env(),
                          timeout=60, cwd=ROOT)
    assert proc.stdout.count("\n") == 1 and proc.stdout.strip(), proc
    assert proc.stderr in ("0\n", "141\n"), proc.stderr


def test_ctrl_c_in_a_real_process_is_exit_130_and_one_line() -> None:
    """SIGINT while the network runs a long program: one line, exit 130, within seconds."""
    code = ("import sys; from loopmlp import cli; print('ready', file=sys.stderr, flush=True); "
            "cli.entry_point()")
    proc = subprocess.Popen([sys.executable, "-c", code, "run", LONG, "--max-steps", "10**9"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                            cwd=ROOT, preexec_fn=default_sigint)
    assert proc.stderr is not None
    assert proc.stderr.readline() == "ready\n"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert (proc.returncode, out, err) == (EXIT_INTERRUPTED, "", "loopmlp: interrupted\n")
