"""The corpus on the reconstruction of Giannou et al.'s looped Transformer: every program of
``constructions/programs`` runs in float64 at lam = 100 with every step decoded and compared
with the interpreter, and ends as its ``; expect:`` lines say; the same through
``loopmlp run --giannou-network FILE.npz --check`` after an export.

Programs whose state matrix has more than 40 columns take a second or more here and are slow.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest

from constructions.looped_transformer import runner, subleq_net
from constructions.looped_transformer.layout import Layout
from constructions.machine.asm import check_expected, load
from constructions.machine.subleq import run, signed_memory
from loopmlp.cli import main

CORPUS = Path(__file__).resolve().parents[2] / "constructions" / "programs"
PROGRAMS = sorted(CORPUS.glob("*.sq"))
LAM = 100.0


def _marks(path: Path) -> list[pytest.MarkDecorator]:
    size = load(path).size
    return [pytest.mark.slow] if 2 + size.words + size.slots > 40 else []


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=_marks(p)) for p in PROGRAMS])
def test_program_on_looped_transformer(path: Path) -> None:
    program = load(path)
    want = run(program.state, program.size, 20_000)
    lay = Layout.for_size(program.size)
    got = runner.run_checked(subleq_net.build(lay, LAM), lay, lay.encode(program.state),
                             max_steps=20_000)
    assert got.failure is None, f"{path.name}: {got.failure.line()}"
    assert got.halted and got.steps == want.steps
    assert got.state == want.state
    assert check_expected(program, got.state) == []
    assert got.min_margin == 1.0  # every entry read is +-1 exactly at lam = 100


def test_corpus_through_npz(tmp_path: Path) -> None:
    path = CORPUS / "multiply.sq"
    program = load(path)
    want = run(program.state, program.size, 20_000)
    npz = tmp_path / "multiply.npz"
    out, err = StringIO(), StringIO()
    assert main(["export", "--giannou-network", str(npz), "--program", str(path)], out,
                err) == 0, err.getvalue()
    out, err = StringIO(), StringIO()
    code = main(["run", "--giannou-network", str(npz), "--check", "--json"], out, err)
    assert (code, err.getvalue()) == (0, "")
    doc = json.loads(out.getvalue())
    assert doc["agrees_with_interpreter"] is True and doc["halted"] is True
    assert doc["steps"] == want.steps
    assert doc["words"] == list(signed_memory(want.state, program.size))
