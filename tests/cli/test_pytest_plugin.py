"""``pytest --loopmlp``: obligations collected, proved and failed inside a user's own test run."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

# A user's own obligation module, outside the package: max(a, b) = a + ReLU(b - a), written as
# ReLU(a) - ReLU(-a) + ReLU(b - a). BROKEN adds 1 to the last unit's bias.
USER_MODULE = '''
from proofs.registry import of
from verify.domains import IntRange, product
from verify.layout import Layout
from verify.network import Layer, Network
from verify.obligation import Obligation
from verify.ops import ite

BROKEN = {broken}


def max_net(name="mine/max"):
    ins, hid, out = Layout(["a", "b"]), Layout(["ap", "an", "d"]), Layout(["m"])
    l1 = Layer.from_rows(ins, hid, {{"ap": ({{"a": 1}}, 0), "an": ({{"a": -1}}, 0),
                                    "d": ({{"b": 1, "a": -1}}, 1 if BROKEN else 0)}})
    l2 = Layer.from_rows(hid, out, {{"m": ({{"ap": 1, "an": -1, "d": 1}}, 0)}}, relu=False)
    return Obligation(name, Network((l1, l2), "max"),
                      product(IntRange("a", -50, 50), IntRange("b", -50, 50)),
                      lambda v: {{"m": ite(v["b"] > v["a"], v["b"], v["a"])}})


def entries():
    return [of("mine/max", max_net),
            of("mine/max/smt", lambda: max_net("mine/max/smt"), method="smt"),
            of("mine/max/slow", lambda: max_net("mine/max/slow"), slow=True)]
'''


def _pytest(tmp: Path, *args: str, broken: bool = False) -> subprocess.CompletedProcess[str]:
    (tmp / "my_obligations.py").write_text(USER_MODULE.format(broken=broken))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=tmp, capture_output=True, text=True, timeout=120)


def test_a_users_module_is_collected_and_proved(tmp_path: Path) -> None:
    # With a module of the user's, loopmlp's own obligations are left out by default.
    r = _pytest(tmp_path, "--loopmlp", "--loopmlp-module", "my_obligations.py", "-v",
                "--junitxml", "j.xml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "loopmlp::mine/max PASSED" in r.stdout
    assert "loopmlp::mine/max/smt PASSED" in r.stdout
    assert "mine/max/slow" not in r.stdout  # slow entries only with --loopmlp-all
    assert "kernel/" not in r.stdout and "2 passed" in r.stdout
    cases = ET.parse(tmp_path / "j.xml").getroot().iter("testcase")
    props = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")}
             for c in cases}
    assert props["mine/max"] == {"verdict": "proved", "method": "exhaustive"}
    assert props["mine/max/smt"]["method"] == "smt"


def test_a_broken_construction_fails_with_its_counterexample(tmp_path: Path) -> None:
    r = _pytest(tmp_path, "--loopmlp", "--loopmlp-builtin", "no",
                "--loopmlp-module", "my_obligations.py", "-x", broken=True)
    assert r.returncode == 1, r.stdout + r.stderr
    # -x stops at the first failure; the exhaustive engine finds the first point of the domain.
    assert "mine/max: REFUTED exhaustive" in r.stdout
    assert "max(a=-50, b=-50): m network=-49 spec=-50" in r.stdout
    assert "1 failed" in r.stdout and "mine/max/smt" not in r.stdout


def test_selection_by_glob_by_slow_mark_and_by_keyword(tmp_path: Path) -> None:
    r = _pytest(tmp_path, "--loopmlp", "--loopmlp-module", "my_obligations.py", "--loopmlp-all",
                "--loopmlp-builtin", "yes",
                "--loopmlp-only", "mine/*", "--loopmlp-only", "kernel/full-adder",
                "-m", "not slow", "-k", "not smt", "-v")
    assert r.returncode == 0, r.stdout + r.stderr
    ran = sorted(line.split()[0] for line in r.stdout.splitlines() if " PASSED" in line)
    assert ran == ["loopmlp::kernel/full-adder", "loopmlp::mine/max"]
    assert "2 deselected" in r.stdout  # mine/max/slow by -m, mine/max/smt by -k


def test_inert_without_the_flag_and_clear_on_a_bad_module(tmp_path: Path) -> None:
    (tmp_path / "test_nothing.py").write_text("def test_one():\n    assert True\n")
    r = _pytest(tmp_path, "-q")
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout + r.stderr
    r = _pytest(tmp_path, "--loopmlp", "--loopmlp-module", "missing.py", "-q")
    assert r.returncode == 4, r.stdout + r.stderr  # pytest's usage-error code
    assert "--loopmlp-module missing.py: no such file" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("option", [("--loopmlp-timeout", "nan"), ("--loopmlp-method", "magic")])
def test_bad_options_are_usage_errors(tmp_path: Path, option: tuple[str, str]) -> None:
    r = _pytest(tmp_path, "--loopmlp", *option, "-q")
    assert r.returncode == 4, r.stdout + r.stderr
    assert option[0] in r.stderr
