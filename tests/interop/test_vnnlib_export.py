"""``loopmlp export --vnnlib DIR``: the properties read back mean "some output differs from the
spec at some integer input point".

The VNN-LIB 2.0 files are re-read by the ``vnnlib`` package (which reads only 2.0); the 1.0 files
by a small s-expression reader here. Either way the disjuncts are evaluated on the exported
model's outputs (onnxruntime): the correct model satisfies none of them at any point of the
domain, and a corrupted model satisfies one at the counterexample ``loopmlp check`` reports.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
from onnx import numpy_helper  # noqa: E402
from support.cli import run  # noqa: E402

from constructions.gadgets.families import FAMILIES as GADGETS  # noqa: E402
from constructions.gadgets.families import make as gadget  # noqa: E402
from verify.interchange import onnx_io  # noqa: E402

Constraint = tuple[str, int, str, float]  # (X|Y, index, <=|>=, bound)




def dnf_v2(path: Path) -> list[list[Constraint]]:
    vnnlib = pytest.importorskip("vnnlib", reason="the onnx extra is not installed")
    query = vnnlib.parse_query_file(str(path))
    (assertion,) = query.assertions
    out = []
    for conj in assertion.expr.to_dnf():
        cs = []
        for c in conj:
            lhs = c.lhs.to_linear_expr()
            (term,) = lhs.terms
            assert term.coeff == 1.0
            op = "<=" if type(c).__name__ == "LessEqual" else ">="
            assert type(c).__name__ in ("LessEqual", "GreaterEqual")
            cs.append((term.var_name[0], term.var.indices[1], op,
                       c.rhs.to_linear_expr().constant))
        out.append(cs)
    return out


def dnf_v1(path: Path) -> list[list[Constraint]]:
    text = path.read_text()
    body = text[text.index("(assert (or"):]
    out = []
    for conj in re.findall(r"\(and ((?:\([<>]= [XY]_\d+ -?[\d.]+\) ?)+)\)", body):
        out.append([(v, int(i), op, float(b))
                    for op, v, i, b in re.findall(r"\(([<>]=) ([XY])_(\d+) (-?[\d.]+)\)", conj)])
    assert body.count("(and ") == len(out)
    return out


def satisfied(dnf: list[list[Constraint]], x: np.ndarray, y: np.ndarray) -> bool:
    def ok(c: Constraint) -> bool:
        v = (x if c[0] == "X" else y)[c[1]]
        return v <= c[3] if c[2] == "<=" else v >= c[3]

    return any(all(ok(c) for c in conj) for conj in dnf)


@pytest.mark.parametrize("version", ["1", "2"])
def test_exported_properties_mean_the_negated_spec(tmp_path: Path, version: str) -> None:
    d = tmp_path / "bench"
    code, out, err = run("export", "--vnnlib", str(d), "--bits", "2", "--vnnlib-version", version)
    assert code == 0, err
    rows = list(csv.reader((d / "instances.csv").open()))
    assert len(rows) == len(GADGETS)
    manifest = json.loads((d / "loopmlp-export.json").read_text())
    assert manifest["tool"] == "loopmlp" and "instances.csv" in manifest["files"]
    reader = dnf_v2 if version == "2" else dnf_v1
    for onnx_rel, prop_rel, timeout in rows:
        assert float(timeout) == 60
        stem = Path(onnx_rel).stem
        name = stem.split("_")[0]
        g = gadget(name, 2, 2)
        ob = g.obligation()
        dnf = reader(d / prop_rel)
        points = np.concatenate(list(ob.domain.chunks(1 << 16)))
        x = points[:, [ob.domain.names.index(n) for n in ob.network.inputs]]
        assert len(dnf) == 2 * len(x) * len(ob.checked_outputs)
        y = onnx_io.run_onnxruntime(str(d / onnx_rel), x)
        assert not any(satisfied(dnf, xi, yi) for xi, yi in zip(x, y)), stem
        # Shifting any one output by 1 at any point violates the spec: the property sees it.
        k = len(x) // 2
        for j in [ob.network.outputs.names.index(o) for o in ob.checked_outputs]:
            for delta in (1, -1):
                yy = y[k].copy()
                yy[j] += delta
                assert satisfied(dnf, x[k], yy), (stem, j, delta)


def test_corrupted_model_counterexample_satisfies_the_property(tmp_path: Path) -> None:
    d = tmp_path / "bench"
    assert run("export", "--vnnlib", str(d), "--gadget", "subtract", "--bits", "2",
               "--vnnlib-version", "2")[0] == 0
    src = d / "onnx" / "subtract_bits2.onnx"
    model = onnx.load(str(src))
    t = next(t for t in model.graph.initializer if t.name == "b0")
    arr = numpy_helper.to_array(t).copy()
    arr[0] += 1
    t.CopyFrom(numpy_helper.from_array(arr, "b0"))
    bad = tmp_path / "bad.onnx"
    onnx.save(model, str(bad))
    code, out, _ = run("check", str(bad), "--spec", "subtract", "--bits", "2", "--json")
    assert code == 1
    x = np.array(json.loads(out)["model"]["counterexample_input"])
    y = onnx_io.run_onnxruntime(str(bad), x[None])[0]
    assert satisfied(dnf_v2(d / "vnnlib" / "subtract_bits2.vnnlib"), x, y)


def test_vnnlib_refusals(tmp_path: Path) -> None:
    code, _, err = run("export", "--vnnlib", str(tmp_path / "a"), "--gadget", "subtract",
                       "--bits", "8")
    assert code == 2 and "at most 4096 points" in err and not (tmp_path / "a").exists()
    code, _, err = run("export", "--vnnlib", str(tmp_path / "b"), "--profile", "compact")
    assert code == 2 and "gadgets only" in err
    for extra, reason in ((["--dtype", "int32"], "float32 or float64"),
                          (["--timeout", "0"], "timeout=0.0"),
                          (["--dynamic-batch"], "batch 1")):
        code, _, err = run("export", "--vnnlib", str(tmp_path / "c"), *extra)
        assert code == 2 and reason in err and not (tmp_path / "c").exists(), err
    other = tmp_path / "theirs"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    code, _, err = run("export", "--vnnlib", str(other), "--bits", "2")
    assert code == 2 and "did not write" in err and sorted(p.name for p in other.iterdir()) == [
        "notes.txt"]
    assert run("export", "--vnnlib", str(other), "--bits", "2", "--force")[0] == 0
    assert (other / "notes.txt").read_text() == "keep"
    # A directory loopmlp wrote may be rewritten without --force.
    assert run("export", "--vnnlib", str(other), "--bits", "2", "--gadget", "add")[0] == 0
    # ... and the files of the earlier export that the new one does not write are removed.
    assert sorted(p.name for p in (other / "onnx").iterdir()) == ["add_bits2.onnx"]
    assert (other / "notes.txt").read_text() == "keep"


# --------------------------------------------------------------------------- overwrite protection
def listing(root: Path) -> dict[str, bytes | str]:
    """Every path under ``root``: a file's bytes, a link's target."""
    return {str(p.relative_to(root)): (f"-> {os.readlink(p)}" if p.is_symlink()
                                       else p.read_bytes() if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


def test_a_link_in_the_directory_is_never_followed(tmp_path: Path) -> None:
    """A subfolder that is a link to elsewhere: nothing is written or removed through it, not
    even with --force (an earlier export's models there are not touched)."""
    d = tmp_path / "bench"
    assert run("export", "--vnnlib", str(d), "--bits", "2")[0] == 0
    elsewhere = tmp_path / "elsewhere"
    (d / "onnx").rename(elsewhere)
    (d / "onnx").symlink_to(elsewhere)
    before = listing(tmp_path)
    for force in ([], ["--force"]):
        code, out, err = run("export", "--vnnlib", str(d), "--bits", "2", "--gadget", "add",
                             *force)
        assert (code, out) == (2, "")
        assert err == (f"loopmlp: error: {d / 'onnx'}: is a symbolic link; loopmlp never writes "
                       "or removes anything through a link in its output directory\n")
        assert listing(tmp_path) == before


def test_a_linked_target_is_replaced_only_with_force_and_never_followed(tmp_path: Path) -> None:
    d = tmp_path / "bench"
    assert run("export", "--vnnlib", str(d), "--bits", "2", "--gadget", "add")[0] == 0
    outside = tmp_path / "outside.onnx"
    outside.write_bytes(b"not a model")
    (d / "onnx" / "add_bits2.onnx").unlink()
    (d / "onnx" / "add_bits2.onnx").symlink_to(outside)
    code, _, err = run("export", "--vnnlib", str(d), "--bits", "2", "--gadget", "add")
    assert code == 2 and err.count("\n") == 1 and "add_bits2.onnx: is a symbolic link, not a " \
        "file `loopmlp export --vnnlib` wrote; not replaced" in err
    assert run("export", "--vnnlib", str(d), "--bits", "2", "--gadget", "add", "--force")[0] == 0
    assert outside.read_bytes() == b"not a model"
    model = d / "onnx" / "add_bits2.onnx"
    assert not model.is_symlink() and onnx.load(str(model)).producer_name == "loopmlp"


def test_a_forged_manifest_never_makes_export_replace_or_delete(tmp_path: Path) -> None:
    d = tmp_path / "bench"
    (d / "onnx").mkdir(parents=True)
    mine, target = d / "onnx" / "mine.onnx", d / "onnx" / "add_bits2.onnx"
    mine.write_bytes(b"my model")
    target.write_bytes(b"my add")
    manifest = d / "loopmlp-export.json"
    argv = ("export", "--vnnlib", str(d), "--bits", "2", "--gadget", "add")
    # Names without hashes (the earlier format) prove nothing: refused as a whole.
    manifest.write_text(json.dumps({"tool": "loopmlp", "files": [
        "onnx/mine.onnx", "onnx/add_bits2.onnx"]}))
    before = listing(tmp_path)
    code, _, err = run(*argv)
    assert code == 2 and err.count("\n") == 1 and f"{manifest}: not a manifest written by " \
        "`loopmlp export --vnnlib`" in err
    assert listing(tmp_path) == before
    # Hashes that are not those of the files: the target is refused, nothing changes.
    manifest.write_text(json.dumps({"tool": "loopmlp", "files": {
        "onnx/mine.onnx": "0" * 64, "onnx/add_bits2.onnx": "1" * 64, "../../x.onnx": "2" * 64}}))
    before = listing(tmp_path)
    code, _, err = run(*argv)
    assert code == 2 and err.count("\n") == 1 and f"{target}: exists and was not written by " \
        "`loopmlp export --vnnlib` (its content differs from what is recorded in" in err
    assert listing(tmp_path) == before
    # --force replaces the target it names; the other listed file is kept (its hash does not
    # match), and the new manifest records exactly what was written.
    assert run(*argv, "--force")[0] == 0
    assert mine.read_bytes() == b"my model"
    assert onnx.load(str(target)).producer_name == "loopmlp"
    files = json.loads(manifest.read_text())["files"]
    assert files == {rel: hashlib.sha256((d / rel).read_bytes()).hexdigest() for rel in (
        "onnx/add_bits2.onnx", "vnnlib/add_bits2.vnnlib", "instances.csv")}
    # A file changed since loopmlp wrote it is never replaced without --force.
    (d / "instances.csv").write_text("edited\n")
    code, _, err = run(*argv)
    assert code == 2 and "instances.csv: exists and was not written" in err
    assert (d / "instances.csv").read_text() == "edited\n"
