"""``loopmlp export``: ONNX models and VNN-LIB properties for other verification tools.

``--onnx FILE`` writes the step network of the computer (``--profile``, sizes) or one gadget
(``--gadget NAME --bits N``) as a model of MatMul, Add and Relu, exact in ``--dtype``;
``--vnnlib DIR`` writes, for each gadget, a model and a property whose assertion is unsat exactly
when the model meets the gadget's spec, plus ``instances.csv`` (docs/interchange.md).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
from typing import IO, Any

from constructions.computer import ALL_PROFILES, build
from constructions.computer.placement import depth
from constructions.gadgets import Gadget
from constructions.gadgets.families import FAMILIES, make, shape
from constructions.machine.subleq import MachineSize
from verify.errors import ParameterError
from verify.files import OutputDir
from verify.interchange import onnx_io, vnnlib_io
from verify.network import Network
from verify.obligation import Obligation

from .args import add_timeout, integer
from .common import EXIT_OK, command
from .transformer import export_network

MANIFEST = "loopmlp-export.json"
VNNLIB_DIR = OutputDir(
    MANIFEST, re.compile(r"onnx/[\w.\-]+\.onnx|vnnlib/[\w.\-]+\.vnnlib|instances\.csv"),
    "`loopmlp export --vnnlib`", "remove it, choose another directory or pass --force",
    fresh_only=True)
"""The directory of ``export --vnnlib``: a non-empty one is written into only when it holds the
manifest of an earlier export (or with ``--force``); see :class:`verify.files.OutputDir`."""
DEFAULT_SIZE = MachineSize(8, 8, 16)


def add_arguments(e: argparse.ArgumentParser) -> None:
    """``export``: where (one model, a VNN-LIB directory, or a looped Transformer), what (the
    computer or a gadget), its sizes and element type."""
    command(e)
    where = e.add_mutually_exclusive_group(required=True)
    where.add_argument("--onnx", metavar="FILE", help="write one ONNX model")
    where.add_argument("--giannou-network", metavar="FILE.npz",
                       help="write the looped-Transformer reconstruction of --program in the "
                       ".npz form of Giannou et al.'s layers (see docs/giannou.md)")
    e.add_argument("--program", metavar="P.sq", help="the program (with --giannou-network)")
    e.add_argument("--lam", type=float, default=100.0, metavar="L",
                   help="softmax temperature (with --giannou-network, default 100)")
    where.add_argument("--vnnlib", metavar="DIR",
                       help="write ONNX models, VNN-LIB properties and instances.csv for gadgets")
    e.add_argument("--profile", choices=ALL_PROFILES, default="paper",
                   help="computer profile (without --gadget; default paper)")
    e.add_argument("--gadget", choices=tuple(FAMILIES), help="export one gadget, not the computer")
    e.add_argument("--words", type=integer, metavar="M",
                   help="data words (computer: default 8; read/write gadgets: default 2)")
    e.add_argument("--bits", type=integer, metavar="N",
                   help="bits per word (computer: default 8; gadgets: default 2 for --vnnlib)")
    e.add_argument("--slots", "--program-words", dest="slots", type=integer, metavar="K",
                   help="instruction slots (computer; default 16)")
    e.add_argument("--dtype", default="float64", choices=tuple(onnx_io.DTYPES),
                   help="element type of the model; refused where it is not exact "
                   "(default float64)")
    e.add_argument("--dynamic-batch", action="store_true",
                   help="input shape [batch, n] instead of [1, n]")
    e.add_argument("--vnnlib-version", choices=("1", "2"), default="1",
                   help="VNN-LIB dialect of the properties (default 1.0, as VNN-COMP)")
    add_timeout(e, help="timeout written into instances.csv (default 60)")
    e.add_argument("--force", action="store_true", help="replace files loopmlp did not write")
    e.set_defaults(func=cmd_export)


def _box(ob: Obligation, net: Network) -> list[tuple[int, int]]:
    box = dict(zip(ob.domain.names, ob.domain.box()))
    return [box[n] for n in net.inputs]


def gadget_model(g: Gadget, dtype: str, batch: int | str = 1) -> Any:
    """The ONNX model of a gadget, exact in ``dtype`` over its domain."""
    ob = g.obligation()
    return onnx_io.to_model(
        ob.network, _box(ob, ob.network), dtype=dtype, batch=batch,
        doc=(f"loopmlp {ob.name}: the gadget's network; `loopmlp check MODEL.onnx --spec "
             f"'{ob.name}'` checks a model against the gadget's spec over its whole domain."),
        meta={"loopmlp.obligation": ob.name, "loopmlp.outputs_checked":
              json.dumps(list(ob.checked_outputs))})


def computer_model(profile: str, size: MachineSize, dtype: str, batch: int | str = 1) -> Any:
    """The ONNX model of one step of the computer, exact in ``dtype`` on {0,1} states."""
    net = build(profile, size).network
    return onnx_io.to_model(
        net, [(0, 1)] * len(net.inputs), dtype=dtype, batch=batch,
        doc=(f"loopmlp {net.name}: one SUBLEQ step; the output is the next state in the input's "
             "coordinates, so y can be fed back as x."),
        meta={"loopmlp.profile": profile, "loopmlp.size": json.dumps(
            {"words": size.words, "bits": size.bits, "slots": size.slots})})


def computer_dense_floor(profile: str, size: MachineSize) -> int:
    """A lower bound on the dense weights of a step network, computed without building it:
    every layer reads the whole state (copies carry it) and writes at least as many
    coordinates, so each holds at least ``state width ** 2`` weights."""
    width = size.words * size.bits + size.slots * size.ins_bits + size.pc_bits
    return depth(profile) * width * width


def cmd_export(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Write an ONNX model (``--onnx``) or a VNN-LIB benchmark directory (``--vnnlib``)."""
    if args.giannou_network is not None:
        if args.program is None:
            raise ParameterError("--program", None, "a .sq program for --giannou-network")
        return export_network(args.giannou_network, args.program, args.lam, 0.1, args.bits,
                              args.force, out)
    onnx_io.require_onnx()
    batch: int | str = "batch" if args.dynamic_batch else 1
    if args.vnnlib is not None:
        return _export_vnnlib(args, out, err)
    onnx_io.check_target(args.onnx, args.force)  # before anything is built
    if args.gadget is not None:
        if args.slots is not None:
            raise ParameterError("slots", args.slots, "no --slots with --gadget")
        bits = args.bits
        if bits is None:
            raise ParameterError("bits", None, f"--bits N for the {args.gadget} gadget")
        words = args.words if args.words is not None else 2
        dense = shape(args.gadget, bits, words).dense
        if dense > onnx_io.MAX_DENSE:
            raise ParameterError("gadget", args.gadget, f"a size whose ONNX export holds at most "
                                 f"{onnx_io.MAX_DENSE:,} dense weights; at bits={bits}, "
                                 f"words={words} it would hold about {dense:,} (estimated "
                                 "before building)")
        g = make(args.gadget, bits, words)
        model = gadget_model(g, args.dtype, batch)
        what = g.obligation_name
    else:
        size = MachineSize(DEFAULT_SIZE.words if args.words is None else args.words,
                           DEFAULT_SIZE.bits if args.bits is None else args.bits,
                           DEFAULT_SIZE.slots if args.slots is None else args.slots)
        dense = computer_dense_floor(args.profile, size)
        if dense > onnx_io.MAX_DENSE:
            raise ParameterError("size", f"words={size.words}, bits={size.bits}, slots="
                                 f"{size.slots}", f"a machine whose ONNX export holds at most "
                                 f"{onnx_io.MAX_DENSE:,} dense weights; the {args.profile} step "
                                 f"would hold at least {dense:,} (estimated before building)")
        model = computer_model(args.profile, size, args.dtype, batch)
        what = model.graph.name
    onnx_io.save(model, args.onnx, force=args.force)
    n_in = model.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    n_out = model.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    bound = {p.key: p.value for p in model.metadata_props}["loopmlp.exact_bound"]
    print(f"{args.onnx}: {what} as ONNX ({len(model.graph.node)} nodes, {n_in} inputs, {n_out} "
          f"outputs, {args.dtype}, exact: largest value {bound})", file=out)
    return EXIT_OK


def _export_vnnlib(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    if args.dynamic_batch:
        raise ParameterError("dynamic-batch", True, "--onnx (the models of a VNN-LIB benchmark "
                             "have batch 1)")
    if not args.dtype.startswith("float"):
        raise ParameterError("dtype", args.dtype, "float32 or float64 for a VNN-LIB benchmark "
                             "(verifiers read real-valued models)")
    if args.profile != "paper" or args.slots is not None:
        raise ParameterError("vnnlib", args.vnnlib, "gadgets only (no --profile or --slots): a "
                             "step of the computer has too many input points to enumerate")
    VNNLIB_DIR.check(args.vnnlib, [], args.force)  # before any work; the write checks again
    names = [args.gadget] if args.gadget else list(FAMILIES)
    bits = args.bits if args.bits is not None else 2
    words = args.words if args.words is not None else 2
    files: dict[str, bytes] = {}
    rows: list[tuple[str, str, str]] = []
    skipped: list[str] = []
    for name in names:
        g = make(name, bits, words)
        ob = g.obligation()
        if ob.domain.count > vnnlib_io.MAX_POINTS and not args.gadget:
            skipped.append(f"{ob.name} ({ob.domain.count} points)")
            continue
        prop = vnnlib_io.negated_spec(ob)
        stem = g.name + "_" + "_".join(f"{k}{v}" for k, v in g.sizes.items())
        model = gadget_model(g, args.dtype, 1)
        comment = (f"written by loopmlp: {ob.name}, model onnx/{stem}.onnx ({args.dtype})\n"
                   "inputs are integers: one disjunct per integer point of the domain")
        if args.vnnlib_version == "1":
            text = vnnlib_io.to_vnnlib1(prop, comment)
        else:
            text = vnnlib_io.to_vnnlib2(prop, comment, args.dtype)
        files[f"onnx/{stem}.onnx"] = model.SerializeToString()
        files[f"vnnlib/{stem}.vnnlib"] = text.encode()
        rows.append((f"onnx/{stem}.onnx", f"vnnlib/{stem}.vnnlib", f"{args.timeout:g}"))
    if not rows:
        raise ParameterError("bits", bits, f"a size with at most {vnnlib_io.MAX_POINTS} input "
                             "points for some gadget")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    files["instances.csv"] = buf.getvalue().encode()
    # Every file with its SHA-256 in the manifest (VNNLIB_DIR says what is refused and removed).
    VNNLIB_DIR.write(args.vnnlib, files, args.force, {
        "skipped": skipped, "vnnlib_version": args.vnnlib_version, "dtype": args.dtype})
    print(f"{args.vnnlib}: {len(rows)} instances (VNN-LIB {args.vnnlib_version}.0, "
          f"{args.dtype}) and instances.csv", file=out)
    for s in skipped:
        print(f"  skipped {s}: more than {vnnlib_io.MAX_POINTS} points", file=err)
    return EXIT_OK
