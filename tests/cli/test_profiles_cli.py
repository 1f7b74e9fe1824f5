"""The profiles written from formulas on the command line: ``run --check`` agrees with the
interpreter, ``info --json`` reports their ReLU layers, ``export --onnx`` writes them, and an
unknown profile is refused with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import run as cli

from constructions.computer import build
from constructions.computer.runtime import certificate
from constructions.machine.asm import load
from constructions.machine.subleq import MachineSize, signed_memory
from constructions.machine.subleq import run as interpret

CORPUS = Path(__file__).resolve().parents[2] / "constructions" / "programs"
LAYERS = {"three-layer": 3, "two-layer": 2}


@pytest.mark.parametrize("profile", sorted(LAYERS))
@pytest.mark.parametrize("program", ["countdown.sq", "multiply.sq"])
def test_run_check_agrees_with_the_interpreter(profile: str, program: str) -> None:
    path = CORPUS / program
    code, out, err = cli("run", str(path), "--profile", profile, "--check", "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    prog = load(path)
    want = interpret(prog.state, prog.size, 100_000)
    assert doc["agrees_with_interpreter"] is True and doc["halted"] is True
    assert (doc["profile"], doc["layers"]) == (profile, LAYERS[profile])
    assert (doc["steps"], doc["pc"]) == (want.steps, want.state.pc)
    assert doc["words"] == list(signed_memory(want.state, prog.size))


@pytest.mark.parametrize("profile", sorted(LAYERS))
def test_info_json_reports_the_relu_layers(profile: str) -> None:
    code, out, err = cli("info", "--profile", profile, "--words", "4", "--bits", "4", "--slots",
                         "4", "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert (doc["profile"], doc["layers"], doc["identity_layers"]) == (profile, LAYERS[profile], 0)
    assert len(doc["per_layer"]) == LAYERS[profile] + 1  # and the affine decode
    assert doc["per_layer"][-1]["outputs"] == doc["state_width"]


@pytest.mark.parametrize("profile", sorted(LAYERS))
def test_export_onnx(tmp_path: Path, profile: str) -> None:
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    path = tmp_path / "step.onnx"
    code, out, err = cli("export", "--onnx", str(path), "--profile", profile, "--words", "2",
                         "--bits", "3", "--program-words", "2")
    assert (code, err) == (0, "")
    assert out.startswith(f"{path}: {profile}[words=2,bits=3,slots=2] as ONNX")
    assert path.stat().st_size > 0


def test_unknown_profile_is_refused_in_one_line() -> None:
    code, out, err = cli("info", "--profile", "one-layer")
    assert code == 2 and out == ""
    assert "one-layer" in err and "two-layer" in err and "three-layer" in err


@pytest.mark.parametrize("profile", sorted(LAYERS))
def test_precision_searches_the_largest_certified_width(profile: str) -> None:
    code, out, err = cli("precision", "--profile", profile, "--words", "2", "--bits", "4",
                         "--slots", "2", "--json")
    assert (code, err) == (0, "")
    (row,) = json.loads(out)["rows"]
    assert row["profile"] == profile
    best = row["formats"]["float32"]["largest_bits"]
    assert 2 <= best < 64

    def exact(bits: int) -> bool:
        return certificate(build(profile, MachineSize(2, bits, 2))).exact_in("float32", "any")

    assert exact(best) and not exact(best + 1)
