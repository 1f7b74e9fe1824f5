"""Fuzzing every file loader and ``loopmlp run``: bad input is a LoopmlpError, nothing else.

Inputs are arbitrary bytes, arbitrary text, token soups of the ``.sq`` language, and mutations
(byte flips, insertions, deletions, truncations) of the real corpus programs and of a valid
results file. In process, the only exception a loader may raise is a
:class:`~verify.errors.LoopmlpError`; through ``main(["run", FILE])`` the command either succeeds
or exits 2 with exactly one stderr line starting ``loopmlp: error:``, and never creates or
modifies a file in its working directory.

To fuzz a new loader, add one line to :data:`LOADERS`: a name and a callable that takes the path
of the fuzzed file. Every loader of a path must also refuse each of :data:`SPECIAL` (FIFOs,
devices, directories, links to them) at once, without opening it. A loader that needs an
optional dependency imports it inside the callable and is listed only where the dependency
is installed, e.g.
``*([("onnx_io.load", lambda p: onnx_load(str(p)))] if find_spec("onnx") else [])``, so the
others are still fuzzed without it. A loader of text can read the path itself, e.g.
``lambda p: load_text(p.read_text("utf-8", "replace"))`` (and is then named in
:data:`TEXT_LOADERS`, which the special files skip).

The default budget is small (200 examples in all, a few seconds);
``-m slow`` runs the same properties with a large one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from functools import cache
from importlib.util import find_spec
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import constructions.machine.limits
import loopmlp.cli.run
from constructions.fwp import io as fwp_io
from constructions.machine import asm, giannou
from loopmlp.cli import main
from loopmlp.cli.replay import parse_at, point_of
from loopmlp.report.results import load_results
from proofs import registry
from verify.errors import LoopmlpError

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted((ROOT / "constructions" / "programs").glob("*.sq"))
HOSTILE = sorted((ROOT / "tests" / "hostile").iterdir())


def _assemble_and_check(path: Path) -> object:
    program = asm.load(path)
    return asm.check_expected(program, program.state)


def _results(path: Path) -> object:
    return load_results(str(path))


# (name, callable that loads a path): one line per loader.
_GIANNOU = Path(__file__).resolve().parent.parent / "data" / "giannou"
_GIANNOU_CMDS, _GIANNOU_MEM = _GIANNOU / "sum_cmds.csv", _GIANNOU / "sum_mem.csv"


def _onnx_load(path: str) -> Any:
    from verify.interchange.onnx_io import load

    return load(path)


LOADERS: list[tuple[str, Callable[[Path], Any]]] = [
    ("asm.load", asm.load),
    ("asm.load+sizes", lambda p: asm.load(p, words=8, bits=8, slots=8)),
    ("asm.load+check_expected", _assemble_and_check),
    ("asm.assemble", lambda p: asm.assemble(p.read_text("utf-8", "replace"), str(p))),
    ("asm.expected", lambda p: asm.expected(p.read_text("utf-8", "replace"), str(p))),
    ("report.load_results", _results),
    ("giannou.read(commands)", lambda p: giannou.read(p, _GIANNOU_MEM)),
    ("giannou.read(memory)", lambda p: giannou.read(_GIANNOU_CMDS, p)),
    *([("onnx_io.load", lambda p: _onnx_load(str(p)))] if find_spec("onnx") else []),
    ("looped_transformer.npz_io.load", lambda p: _npz_load(p)),
    ("fwp.io.load", lambda p: fwp_io.load(p, ["lt"], ("(", ")"), [2])),
]

def _npz_load(p: Path) -> Any:
    from constructions.looped_transformer import npz_io

    return npz_io.load(p)


TEXT_LOADERS = ("asm.assemble", "asm.expected")
"""Loaders of text, not of a path: the test itself reads the file for them."""

# Paths that are not regular files: every loader of a path refuses each at once, without
# opening a FIFO or a device (a FIFO would block until a writer came). One line per kind:
# (name, maker of the path in a fresh directory; ``fifo`` makes a FIFO that cannot hang).
SPECIAL: list[tuple[str, Callable[[Path, Callable[[Path], Path]], Path]]] = [
    ("fifo", lambda d, fifo: fifo(d / "p.sq")),
    ("link to a fifo", lambda d, fifo: _link(d / "l.sq", fifo(d / "q.sq"))),
    ("directory", lambda d, fifo: _mkdir(d / "dir.sq")),
    ("dangling link", lambda d, fifo: _link(d / "gone.sq", d / "nowhere.sq")),
    *[(dev, lambda d, fifo, dev=dev: Path(dev)) for dev in ("/dev/zero", "/dev/null")
      if os.path.exists(dev)],
]
NOT_REGULAR = ("fifo", "link to a fifo", "/dev/zero", "/dev/null")


def _link(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


_RESULTS_DOC = json.dumps({
    "tool": "loopmlp", "version": "1", "seconds": 0.5, "results": [
        {"obligation": "a/b", "verdict": "refuted", "method": "exhaustive", "checked": 3,
         "total": 8, "seconds": 0.1, "reason": "counterexample",
         "counterexample": {"coordinates": {"DA.bit[0]": 1, "DA.bit[1]": 0, "x": 1},
                            "inputs": {"DA": 1, "x": 1}, "network": {"y": 0},
                            "spec": {"y": 1}}, "details": {"n": [1, 2]}}],
    "summary": {"proved": 0, "refuted": 1, "unknown": 0}}, indent=1).encode()
SEEDS = [p.read_bytes() for p in CORPUS] + [_RESULTS_DOC] + [
    p.read_bytes() for p in HOSTILE if p.stat().st_size < 4000]

TOKENS = [".data", ".code", ".size", " words=", " bits=", " slots=", "subleq", "halt", "self",
          "z:", "n:", "z", "n", ",", " ", "\t", "\n", "\r\n", ";", "#", "; expect: n = 3",
          "0", "1", "-1", "0x7fff", "0b101", "65536", "+", "-", "z+1", "n-2", ":", "\x00",
          "\ufeff", "\u00e9", "9" * 90, "2**40"]


PROGRAM_SEEDS = [p.read_bytes() for p in CORPUS]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes] = SEEDS) -> bytes:
    """A seed file with a few byte flips, insertions, deletions and a possible truncation."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "flip", "insert", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
                [t.encode() for t in TOKENS]))
        elif kind == "delete" and data:
            del data[at:at + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


SOUP = st.lists(st.sampled_from(TOKENS), max_size=60).map(lambda ts: "".join(ts).encode())
ANY_INPUT = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    SOUP,
    mutated(),
)


def _load_all(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.sq"
        path.write_bytes(data)
        for name, loader in LOADERS:
            try:
                loader(path)
            except LoopmlpError:
                pass
            except Exception as e:  # noqa: BLE001 - the property under test
                raise AssertionError(
                    f"{name} raised {type(e).__name__}: {e} on {data!r:.300}") from e


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in root.rglob("*")}


@cache
def _cached_build(profile: str, size: Any) -> Any:
    from constructions.computer import build

    return build(profile, size)


def _run_cli(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        root = Path(tmp)
        (root / "prog.sq").write_bytes(data)
        mp.chdir(root)
        # Networks of more than about 200k weights are refused (fast), the rest built once.
        mp.setattr(constructions.machine.limits, "memory_budget", lambda: 200_000 * 600)
        mp.setattr(loopmlp.cli.run, "build", _cached_build)
        mp.delenv("LOOPMLP_DEBUG", raising=False)
        before = _snapshot(root)
        out, err = StringIO(), StringIO()
        code = main(["run", "prog.sq", "--max-steps", "20", "--profile", "paper-minimal",
                     "--check"], out, err)
        assert _snapshot(root) == before, data
        text = err.getvalue()
        if code in (0, 1, 3):  # halted; an expect line fails; did not halt within the limit
            assert text == "" and out.getvalue().startswith("prog.sq: "), (data, text)
            assert "  interpreter: agrees" in out.getvalue().splitlines(), (data, out.getvalue())
            return
        lines = text.splitlines()
        assert code == 2, (code, data, text)
        assert len(lines) == 1 and lines[0].startswith("loopmlp: error: "), (data, text)
        assert "Traceback" not in text and out.getvalue() == ""


FAST = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
FAST_CLI = settings(FAST, max_examples=50)
BIG = settings(FAST, max_examples=5000)
BIG_CLI = settings(FAST, max_examples=1000)


@FAST
@given(ANY_INPUT)
def test_loaders_raise_only_loopmlp_errors(data: bytes) -> None:
    _load_all(data)


@FAST_CLI
@given(st.one_of(mutated(PROGRAM_SEEDS), SOUP))
def test_run_exits_0_or_2_with_one_line(data: bytes) -> None:
    _run_cli(data)


@cache
def _replay_obligation() -> Any:
    return registry.build("gadget/subtract[bits=2]")


AT_TOKENS = ["DA", "DB", "=", ",", "-", "1", "0x", "3", "[", "]", ".bit[", "0]", " ", "9" * 80]
AT_TEXT = st.one_of(st.text(max_size=60),
                    st.lists(st.sampled_from(AT_TOKENS), max_size=12).map("".join))


@settings(FAST, max_examples=50)
@given(AT_TEXT)
def test_replay_at_raises_only_parameter_errors(text: str) -> None:
    """``replay --at TEXT`` parses to a point of the obligation or names what is wrong."""
    ob = _replay_obligation()
    try:
        point = point_of(ob, parse_at(text))
    except LoopmlpError as e:
        assert "\n" not in str(e) and len(str(e)) < 300, str(e)
        return
    assert set(point) == set(ob.network.inputs.names)


@pytest.mark.slow
@BIG
@given(ANY_INPUT)
def test_loaders_raise_only_loopmlp_errors_big(data: bytes) -> None:
    _load_all(data)


@pytest.mark.slow
@BIG_CLI
@given(st.one_of(mutated(PROGRAM_SEEDS), SOUP, st.binary(max_size=300)))
def test_run_exits_0_or_2_with_one_line_big(data: bytes) -> None:
    _run_cli(data)


@pytest.mark.parametrize(("kind", "make"), SPECIAL, ids=[k for k, _ in SPECIAL])
def test_every_loader_refuses_what_is_not_a_regular_file(
        kind: str, make: Callable[[Path, Callable[[Path], Path]], Path], tmp_path: Path,
        fifo: Callable[[Path], Path]) -> None:
    path = make(tmp_path, fifo)
    for name, loader in LOADERS:
        if name in TEXT_LOADERS:
            continue
        with pytest.raises(LoopmlpError) as caught:
            loader(path)
        if kind in NOT_REGULAR:
            assert "not a regular file" in str(caught.value), (name, str(caught.value))


def test_the_fuzzed_loaders_accept_the_corpus() -> None:
    """The property is not vacuous: every loader of programs accepts every corpus program."""
    for path in CORPUS:
        for name, loader in LOADERS:
            if name.startswith("asm.") and name != "asm.load+sizes":
                loader(path)
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "r.json"
        p.write_bytes(_RESULTS_DOC)
        results, _, _ = load_results(str(p))
        assert results[0].counterexample is not None
    assert os.path.isdir(ROOT / "tests" / "hostile")
