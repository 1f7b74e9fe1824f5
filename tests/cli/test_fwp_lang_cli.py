"""``loopmlp lang``: list, run, check (saved constructions and corrupted copies), dfa, save."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest

from constructions.fwp.io import read_arrays
from loopmlp.cli import main


def run(*argv: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_list() -> None:
    code, out, _ = run("lang", "list")
    assert code == 0 and "lt-dyck1" in out and "srwm-abab-star" in out and "reset-dyck1" in out
    assert any(line.split()[:3] == ["ltdelta-reset-dyck1", "lt+deltanet", "reset-dyck1"]
               for line in out.splitlines())


def test_run_latch_construction() -> None:
    code, out, _ = run("lang", "run", "ltdelta-reset-dyck1", "((1()1(", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["agrees"] is True
    assert [p["target"] for p in doc["prefixes"]] == [1, 1, 0, 1, 0, 0, 1]


def test_run_json_schema() -> None:
    code, out, _ = run("lang", "run", "lt-anbn", "aabb", "--json")
    doc = json.loads(out)
    assert code == 0
    assert set(doc) == {"construction", "language", "string", "prefixes", "agrees"}
    assert [p["target"] for p in doc["prefixes"]] == [0, 0, 1, 2]
    assert all(p["decision"] == p["target"] and p["margin_low"] > 0.49 for p in doc["prefixes"])
    assert doc["agrees"] is True


@pytest.mark.parametrize("argv, needle", [
    (("lang", "run", "lt-dyck1", "())"), "cannot follow"),
    (("lang", "run", "lt-dyck1", "(x"), "not in the alphabet"),
    (("lang", "run", "nope", "("), "construction 'nope'"),
    (("lang", "check", "/nonexistent.npz", "--model", "lt", "--language", "dyck1",
      "--max-length", "4", "--heads", "26"), "cannot read"),
])
def test_errors_are_one_line_exit_2(argv: tuple[str, ...], needle: str) -> None:
    code, _, err = run(*argv)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


CASES = [("lt-dyck1", "lt", "dyck1", "26", 8), ("lt-anbn", "lt", "anbn", "26", 12),
         ("recdelta-parity", "recdelta", "parity", "21", 6),
         ("srwm-abab-star", "srwm", "abab-star", "2", 6),
         ("ltdelta-reset-dyck1", "lt,deltanet", "reset-dyck1", "34,34", 5)]


@pytest.mark.parametrize("cons, kind, lang, heads, length", CASES)
@pytest.mark.parametrize("suffix", ["npz", "safetensors"])
def test_saved_construction_proved(cons: str, kind: str, lang: str, heads: str, length: int,
                                   suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"{cons}.{suffix}"
    assert run("lang", "save", cons, str(path))[0] == 0
    code, out, _ = run("lang", "check", str(path), "--model", kind, "--language", lang,
                       "--max-length", str(length), "--heads", heads, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["verdict"] == "proved" and doc["min_margin"] > 0


def _corrupt(src: Path, dst: Path, key: str, index: tuple[int, ...], value: float) -> None:
    arrays = read_arrays(src)
    arrays[key][index] = value
    if dst.suffix == ".npz":
        np.savez(dst, **arrays)  # type: ignore[arg-type]
    else:
        from safetensors.numpy import save_file

        save_file(arrays, str(dst))


@pytest.mark.parametrize("cons, kind, lang, heads, length, key, index, value", [
    ("lt-dyck1", "lt", "dyck1", "26", 8, "out_layer.bias", (1,), -1.5),
    ("lt-anbn", "lt", "anbn", "26", 12, "layers.0.slow_net.weight", (8, 10), 1.0),
    ("recdelta-parity", "recdelta", "parity", "21", 6, "layers.0.R_v", (0, 0, 0, 0), -1.0),
    ("srwm-abab-star", "srwm", "abab-star", "2", 6, "layers.1.linear2.weight", (14, 0), 8.0),
    # the latch's gate on the reset symbol turned off: the latch keeps its old count
    ("ltdelta-reset-dyck1", "lt,deltanet", "reset-dyck1", "34,34", 5,
     "layers.2.slow_net.weight", (3, 20), -400.0),
])
@pytest.mark.parametrize("suffix", ["npz", "safetensors"])
def test_corrupted_copy_refuted(cons: str, kind: str, lang: str, heads: str, length: int, key: str,
                                index: tuple[int, ...], value: float, suffix: str,
                                tmp_path: Path) -> None:
    good = tmp_path / f"good.{suffix}"
    bad = tmp_path / f"bad.{suffix}"
    run("lang", "save", cons, str(good))
    _corrupt(good, bad, key, index, value)
    code, out, _ = run("lang", "check", str(bad), "--model", kind, "--language", lang,
                       "--max-length", str(length), "--heads", heads, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["verdict"] == "refuted", doc
    fail = doc["failure"]
    assert fail["target"] != fail["decision"]
    # the reported string really is decided wrongly by the corrupted file's model
    code2, out2, _ = run("lang", "check", str(bad), "--model", kind, "--language", lang,
                         "--max-length", str(len(fail["string"])), "--heads", heads)
    assert code2 == 1 and repr(fail["string"]) in out2


def test_check_refuses_bad_file(tmp_path: Path) -> None:
    p = tmp_path / "junk.npz"
    p.write_bytes(b"not a zip")
    code, _, err = run("lang", "check", str(p), "--model", "lt", "--language", "dyck1",
                       "--max-length", "3", "--heads", "2")
    assert code == 2 and "junk.npz" in err


def test_dfa_command(tmp_path: Path) -> None:
    # strings over {a, b} without two b's in a row
    p = tmp_path / "nobb.json"
    p.write_text(json.dumps({"alphabet": ["a", "b"], "delta": [[0, 1], [0, 2], [2, 2]],
                             "accept": [1, 1, 0]}))
    code, out, _ = run("lang", "dfa", str(p), "--max-length", "6")
    assert code == 0 and "all-lengths: PROVED" in out and "upto[6]: PROVED" in out
    p.write_text('{"alphabet": ["a"], "delta": [[5]], "accept": [1]}')
    code, _, err = run("lang", "dfa", str(p))
    assert code == 2 and "dfa.delta" in err


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    p = tmp_path / "m.npz"
    assert run("lang", "save", "lt-dyck1", str(p))[0] == 0
    code, _, err = run("lang", "save", "lt-dyck1", str(p))
    assert code == 2 and "already exists" in err


@pytest.mark.parametrize("suffix", ["npz", "safetensors"])
def test_a_weight_that_overflows_is_not_proved(suffix: str, tmp_path: Path) -> None:
    # W_q[0, 0, 0] = 1e300: every enclosure after the softmax used to be NaN, and NaN margins
    # passed as correct ("PROVED" for a model that decides "11" wrongly)
    good, bad = tmp_path / f"good.{suffix}", tmp_path / f"bad.{suffix}"
    run("lang", "save", "srwm-parity", str(good))
    _corrupt(good, bad, "layers.0.W_q", (0, 0, 0, 0), 1e300)
    code, out, _ = run("lang", "check", str(bad), "--model", "srwm", "--language", "parity",
                       "--max-length", "4", "--json")
    assert code in (1, 3) and json.loads(out)["verdict"] != "proved", out


def test_check_refuses_tensors_it_would_not_read(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    run("lang", "save", "lt-dyck1", str(good))
    arrays = read_arrays(good)
    extra = dict(arrays, **{"layers.0.slow_net.bias": np.ones(arrays[
        "layers.0.slow_net.weight"].shape[0])})
    np.savez(tmp_path / "extra.npz", **extra)  # type: ignore[arg-type]
    code, _, err = run("lang", "check", str(tmp_path / "extra.npz"), "--model", "lt",
                       "--language", "dyck1", "--max-length", "3", "--heads", "26")
    assert code == 2 and "layers.0.slow_net.bias" in err and len(err.strip().splitlines()) == 1
    alias = dict(arrays, **{"layers.1.ff_layers.0.weight":
                            arrays["layers.1.linear1.weight"] + 1.0})
    np.savez(tmp_path / "alias.npz", **alias)  # type: ignore[arg-type]
    code, _, err = run("lang", "check", str(tmp_path / "alias.npz"), "--model", "lt",
                       "--language", "dyck1", "--max-length", "3", "--heads", "26")
    assert code == 2 and "differ" in err
    same = dict(arrays, **{"layers.1.ff_layers.0.weight": arrays["layers.1.linear1.weight"]})
    np.savez(tmp_path / "same.npz", **same)  # type: ignore[arg-type]
    assert run("lang", "check", str(tmp_path / "same.npz"), "--model", "lt", "--language",
               "dyck1", "--max-length", "3", "--heads", "26")[0] == 0
    code, _, err = run("lang", "check", str(good), "--model", "lt", "--language", "dyck1",
                       "--max-length", "3", "--heads", "26,26")
    assert code == 2 and "--heads" in err
