"""``loopmlp giannou`` and the ``--giannou-network`` flags of run, import and export."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import numpy as np

from loopmlp.cli import main

PROGRAMS = Path(__file__).resolve().parents[2] / "constructions" / "programs"
COUNTDOWN = str(PROGRAMS / "countdown.sq")


def _main(*argv: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_run_a_program_checked() -> None:
    code, out, err = _main("giannou", "run", "--program", COUNTDOWN, "--check")
    assert (code, err) == (0, "")
    assert "halted after 29 steps in float64" in out and "agrees at every step" in out


def test_a_soft_temperature_fails_the_check_naming_the_step() -> None:
    code, out, _ = _main("giannou", "run", "--program", COUNTDOWN, "--check", "--lam", "5")
    assert code == 1
    assert "DISAGREES at step 2" in out


def test_export_import_run_round_trip(tmp_path: Path) -> None:
    npz = str(tmp_path / "cd.npz")
    code, out, err = _main("export", "--giannou-network", npz, "--program", COUNTDOWN)
    assert (code, err) == (0, "") and "10 layers" in out
    code, out, err = _main("import", "--giannou-network", npz)
    assert (code, err) == (0, "") and "L1: 2 head(s)" in out and "X0: pc=0" in out
    code, out, err = _main("run", "--giannou-network", npz, "--check", "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["halted"] and doc["steps"] == 29 and doc["words"][3] == 0
    code, out, _ = _main("run", "--giannou-network", npz, "--dtype", "exact", "--check",
                         "--max-steps", "0")
    assert code == 0 and "1 steps certified over the reals" in out
    code, _, err = _main("export", "--giannou-network", npz, "--program", COUNTDOWN)
    assert code == 2 and "already exists" in err


def test_float32_overflow_is_named(tmp_path: Path) -> None:
    code, out, _ = _main("giannou", "run", "--program", COUNTDOWN, "--dtype", "float32",
                         "--check")
    assert code == 1 and "NaN after layer 0 (read instruction)" in out


def test_refusals_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, lam=np.array(1.0))
    for argv in (["run", "--giannou-network", str(bad)],
                 ["import", "--giannou-network", str(tmp_path / "missing.npz")],
                 ["giannou", "run"],
                 ["export", "--giannou-network", str(tmp_path / "x.npz")],
                 ["import", "--giannou-network", str(bad), "--giannou", "a", "b"]):
        code, out, err = _main(*argv)
        assert code == 2, argv
        assert err.count("\n") == 1 and "Traceback" not in err, (argv, err)
