"""``loopmlp run`` on a program never imports sympy (the build holds units as integer
coefficients; formulas are made only when printed): checked in a fresh process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "constructions" / "programs" / "countdown.sq"
CHECK = """
import io, sys
from loopmlp.cli import main
out, err = io.StringIO(), io.StringIO()
code = main(sys.argv[1:], out, err)
assert code == 0, (code, err.getvalue())
assert "halted" in out.getvalue(), out.getvalue()
print("sympy" if "sympy" in sys.modules else "")
"""


@pytest.mark.parametrize("profile", ["paper", "compact"])
def test_run_does_not_import_sympy(profile: str) -> None:
    done = subprocess.run([sys.executable, "-c", CHECK, "run", str(PROGRAM), "--profile",
                           profile, "--check"], capture_output=True, text=True, cwd=ROOT,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_check_sees_an_import() -> None:
    """The same check reports sympy once something imports it (so it can fail)."""
    done = subprocess.run([sys.executable, "-c", "import sympy\n" + CHECK, "run",
                           str(PROGRAM)], capture_output=True, text=True, cwd=ROOT,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sympy"
