"""``loopmlp export`` and ``loopmlp check``: models and properties for other verification tools.

- ``export --onnx FILE``: the step network of the computer (``--profile``, sizes) or one gadget
  (``--gadget NAME --bits N``) as an ONNX model of MatMul, Add and Relu, exact in ``--dtype``.
- ``export --vnnlib DIR``: for each gadget, an ONNX model and a VNN-LIB property whose
  assertion is unsat exactly when the model meets the gadget's spec, plus ``instances.csv``.
- ``check MODEL.onnx --spec NAME --bits N``: a foreign ONNX model checked against a gadget's
  obligation, with the same verdicts, counterexamples and exit codes as ``loopmlp prove``.

Conventions (input ``x``, output ``y``, coordinate names in ``metadata_props``) are those of
:mod:`verify.onnx_io` and :mod:`verify.vnnlib_io`; docs/interchange.md states them for users.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import os
import re
import time
from typing import IO, Any

from constructions.computer import PROFILES, build
from constructions.gadgets import FAMILIES, Gadget
from constructions.subleq import MachineSize
from verify import onnx_io, vnnlib_io
from verify.engines import METHODS, Options, check, smt_bv
from verify.errors import InputError, LoopmlpError, ParameterError
from verify.layout import Layout
from verify.network import Network
from verify.obligation import Obligation
from verify.result import Result, Verdict

from .cli import EXIT_CODES, EXIT_OK, results_json, verdict_exit
from .machine_cli import _int
from .report import check_timeout

# Every method of verify.engines except factorised (which needs the gadget's own units), plus
# smt-bv (z3 over bit-vectors).
CHECK_METHODS = tuple(m for m in METHODS if m != "factorised") + ("smt-bv",)
MANIFEST = "loopmlp-export.json"
MAX_GADGET_BITS = 64
DEFAULT_SIZE = MachineSize(8, 8, 16)
GADGETS = FAMILIES
"""Gadgets by name (:data:`constructions.gadgets.FAMILIES`)."""


def gadget(name: str, bits: int, words: int = 2) -> Gadget:
    """The gadget ``name`` at the given sizes; a bad name or size is a ParameterError."""
    if name not in GADGETS:
        raise ParameterError("gadget", name, f"one of {', '.join(GADGETS)}")
    if not 1 <= bits <= MAX_GADGET_BITS:
        raise ParameterError("bits", bits, f"an integer from 1 to {MAX_GADGET_BITS}")
    if name in ("read", "write") and (words < 2 or words & (words - 1) or words > 1 << 16):
        raise ParameterError("words", words, "a power of two from 2 to 65536")
    try:
        return GADGETS[name](bits, words)
    except (ValueError, AssertionError) as e:
        if isinstance(e, LoopmlpError):
            raise
        raise ParameterError("bits", bits, f"a size the {name} gadget accepts ({e})") from None


def parse_spec(text: str, bits: int | None, words: int | None) -> Gadget:
    """``NAME`` with ``--bits``/``--words``, or an obligation name ``gadget/NAME[bits=N,...]``."""
    m = re.fullmatch(r"(?:gadget/)?([a-z_]+)(?:\[([^\]]*)\])?", text.strip())
    if m is None:
        raise ParameterError("spec", text, f"a gadget name ({', '.join(GADGETS)}) or an "
                             "obligation name such as gadget/subtract[bits=4]")
    name, sizes = m.group(1), m.group(2)
    given: dict[str, int] = {}
    for part in (sizes.split(",") if sizes else []):
        key, _, val = part.partition("=")
        try:
            given[key.strip()] = int(val)
        except ValueError:
            raise ParameterError("spec", text, "sizes written as key=integer") from None
    if "addr" in given:
        given.setdefault("bits", given.pop("addr"))
    unknown = sorted(set(given) - {"bits", "words"})
    if unknown:
        raise ParameterError("spec", text, f"sizes among bits, words, addr (not {unknown[0]})")
    b = given.get("bits", bits)
    if b is None:
        raise ParameterError("bits", None, f"--bits N for the {name} gadget")
    return gadget(name, b, given.get("words", words if words is not None else 2))


def _box(ob: Obligation, net: Network) -> list[tuple[int, int]]:
    box = dict(zip(ob.domain.names, ob.domain.box()))
    return [box[n] for n in net.inputs]


# --------------------------------------------------------------------------- export
def add_commands(sub: Any) -> None:
    """Register ``export`` and ``check``."""
    e = sub.add_parser("export", help="write ONNX models and VNN-LIB properties",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = e.add_mutually_exclusive_group(required=True)
    where.add_argument("--onnx", metavar="FILE", help="write one ONNX model")
    where.add_argument("--vnnlib", metavar="DIR",
                       help="write ONNX models, VNN-LIB properties and instances.csv for gadgets")
    e.add_argument("--profile", choices=PROFILES, default="paper",
                   help="computer profile (without --gadget)")
    e.add_argument("--gadget", choices=tuple(GADGETS), help="export one gadget, not the computer")
    e.add_argument("--words", type=_int, metavar="M",
                   help="data words (computer: default 8; read/write gadgets: default 2)")
    e.add_argument("--bits", type=_int, metavar="N",
                   help="bits per word (computer: default 8; gadgets: default 2 for --vnnlib)")
    e.add_argument("--slots", "--program-words", dest="slots", type=_int, metavar="K",
                   help="instruction slots (computer; default 16)")
    e.add_argument("--dtype", default="float64", choices=tuple(onnx_io.DTYPES),
                   help="element type of the model; refused where it is not exact "
                   "(default float64)")
    e.add_argument("--dynamic-batch", action="store_true",
                   help="input shape [batch, n] instead of [1, n]")
    e.add_argument("--vnnlib-version", choices=("1", "2"), default="1",
                   help="VNN-LIB dialect of the properties (default 1.0, as VNN-COMP)")
    e.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="timeout written into instances.csv (default 60)")
    e.add_argument("--force", action="store_true", help="replace files loopmlp did not write")
    e.set_defaults(func=cmd_export)

    c = sub.add_parser("check", help="check an ONNX model against a gadget's spec",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("model", metavar="MODEL.onnx")
    c.add_argument("--spec", required=True, metavar="NAME",
                   help=f"gadget ({', '.join(GADGETS)}) or gadget/NAME[bits=N]")
    c.add_argument("--bits", type=_int, metavar="N", help="word width of the spec")
    c.add_argument("--words", type=_int, metavar="M", help="memory words (read, write)")
    c.add_argument("--method", choices=CHECK_METHODS, default="auto",
                   help="auto: exhaustive up to 2^24 inputs, else smt-bv then smt, sharing the "
                   "timeout (factorised proofs need the gadget's own units)")
    c.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="seconds for the solver (default 60)")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.set_defaults(func=cmd_check)


def _gadget_args(args: argparse.Namespace, default_bits: int | None) -> Gadget:
    bits = args.bits if args.bits is not None else default_bits
    if bits is None:
        raise ParameterError("bits", None, f"--bits N for the {args.gadget} gadget")
    return gadget(args.gadget, bits, args.words if args.words is not None else 2)


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


def cmd_export(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Write an ONNX model (``--onnx``) or a VNN-LIB benchmark directory (``--vnnlib``)."""
    onnx_io.require_onnx()
    batch: int | str = "batch" if args.dynamic_batch else 1
    if args.vnnlib is not None:
        return _export_vnnlib(args, out, err)
    if args.gadget is not None:
        if args.slots is not None:
            raise ParameterError("slots", args.slots, "no --slots with --gadget")
        g = _gadget_args(args, None)
        model = gadget_model(g, args.dtype, batch)
        what = g.obligation_name
    else:
        size = MachineSize(DEFAULT_SIZE.words if args.words is None else args.words,
                           DEFAULT_SIZE.bits if args.bits is None else args.bits,
                           DEFAULT_SIZE.slots if args.slots is None else args.slots)
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
    check_timeout("--timeout", args.timeout)
    if args.profile != "paper" or args.slots is not None:
        raise ParameterError("vnnlib", args.vnnlib, "gadgets only (no --profile or --slots): a "
                             "step of the computer has too many input points to enumerate")
    names = [args.gadget] if args.gadget else list(GADGETS)
    bits = args.bits if args.bits is not None else 2
    words = args.words if args.words is not None else 2
    files: dict[str, bytes] = {}
    rows: list[tuple[str, str, str]] = []
    skipped: list[str] = []
    for name in names:
        g = gadget(name, bits, words)
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
    manifest = {"tool": "loopmlp", "files": sorted(files), "skipped": skipped,
                "vnnlib_version": args.vnnlib_version, "dtype": args.dtype}
    files[MANIFEST] = (json.dumps(manifest, indent=2) + "\n").encode()
    _write_dir(args.vnnlib, files, args.force)
    print(f"{args.vnnlib}: {len(rows)} instances (VNN-LIB {args.vnnlib_version}.0, "
          f"{args.dtype}) and instances.csv", file=out)
    for s in skipped:
        print(f"  skipped {s}: more than {vnnlib_io.MAX_POINTS} points", file=err)
    return EXIT_OK


def _write_dir(root: str, files: dict[str, bytes], force: bool) -> None:
    """Write the files under ``root``; refuse a non-empty directory loopmlp did not write."""
    if os.path.exists(root) and not os.path.isdir(root):
        raise InputError(root, None, "exists and is not a directory")
    if os.path.isdir(root) and os.listdir(root) and not force:
        if not os.path.isfile(os.path.join(root, MANIFEST)):
            raise InputError(root, None, "is a non-empty directory loopmlp did not write; use "
                             "--force to write into it")
    stale = sorted(set(_manifest_files(root)) - set(files))
    try:
        for sub in ("onnx", "vnnlib"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
    except OSError as e:
        raise InputError(root, None, f"cannot create ({e.strerror})") from None
    for rel, data in files.items():
        onnx_io.write_bytes(os.path.join(root, rel), data)
    for rel in stale:
        try:
            os.remove(os.path.join(root, rel))
        except OSError:
            pass


def _manifest_files(root: str) -> list[str]:
    """The files an earlier export into ``root`` wrote (plain relative paths only)."""
    try:
        with open(os.path.join(root, MANIFEST), encoding="utf-8") as f:
            listed = json.load(f).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [p for p in listed if isinstance(p, str) and re.fullmatch(
        r"(onnx|vnnlib)/[\w.\-]+\.(onnx|vnnlib)|instances\.csv", p)]


# --------------------------------------------------------------------------- check
def foreign_obligation(path: str, g: Gadget) -> tuple[Obligation, onnx_io.Loaded]:
    """The gadget's obligation with the network of the ONNX model at ``path`` in its place.

    Coordinates are matched by the names in the model's metadata when it has them, else by
    position in the gadget's input and output order (the order ``export --gadget`` writes).
    """
    loaded = onnx_io.load(path)
    ob = g.obligation()
    net = loaded.network
    want_in, want_out = ob.network.inputs.names, ob.network.outputs.names
    has_in, has_out = net.inputs.names, net.outputs.names
    named_in, named_out = loaded.named
    if named_in and set(has_in) != set(want_in):
        extra, missing = sorted(set(has_in) - set(want_in)), sorted(set(want_in) - set(has_in))
        raise InputError(path, None, f"input coordinates do not match {ob.name}: model only "
                         f"{extra[:3]}, spec only {missing[:3]}")
    if not named_in and len(has_in) != len(want_in):
        raise InputError(path, None, f"has {len(has_in)} inputs; {ob.name} needs "
                         f"{len(want_in)} (matched by position: the model names none)")
    if named_out:
        absent = [o for o in ob.checked_outputs if o not in has_out]
        if absent:
            raise InputError(path, None, f"output coordinates lack {absent[:3]} of {ob.name}")
    elif len(has_out) != len(want_out):
        raise InputError(path, None, f"has {len(has_out)} outputs; {ob.name} needs "
                         f"{len(want_out)} (matched by position: the model names none)")
    layers = list(net.layers)
    if not named_in:
        layers[0] = dataclasses.replace(layers[0], inputs=Layout(want_in))
    if not named_out:
        layers[-1] = dataclasses.replace(layers[-1], outputs=Layout(want_out, "output"))
    net = Network(tuple(layers), net.name)
    foreign = Obligation(f"{os.path.basename(path)}:{ob.name}", net, ob.domain, ob.spec,
                         dict(ob.bounds), ob.checked_outputs, None,
                         f"{ob.note} (network read from {path})".strip())
    return foreign, loaded


def run_check(ob: Obligation, method: str, timeout: float) -> Result:
    """Check a foreign obligation. ``auto`` enumerates domains up to 2^24 points; beyond, a
    short random search first (a corrupted network is usually wrong on many inputs, and a
    counterexample found that way is replayed like any other; the search never proves), then
    z3 over bit-vectors gets half the time left and z3 over integers the rest (each decided
    gadgets the other could not: branch at 16 bits in 0.1 s over bit-vectors and not in 60 s
    over integers, subtract at 8 bits in 6 s over integers and 37 s over bit-vectors)."""
    if method == "auto":
        if ob.domain.count <= Options().exhaustive_limit:
            return check(ob, Options("exhaustive", timeout))
        t0 = time.perf_counter()
        search = check(ob, Options("sampled", min(timeout / 10, 5.0), samples=2000))
        if search.verdict is Verdict.REFUTED:
            return search
        first = smt_bv(ob, Options("smt", max(timeout - (time.perf_counter() - t0), 0.02) / 2))
        if first.verdict is not Verdict.UNKNOWN:
            return first
        left = round(max(timeout - (time.perf_counter() - t0), 0.01), 2)
        second = check(ob, Options("smt", left))
        if second.verdict is not Verdict.UNKNOWN:
            return second
        return dataclasses.replace(second, seconds=time.perf_counter() - t0,
                                   reason=f"{first.reason}; {second.reason}")
    if method == "smt-bv":
        return smt_bv(ob, Options("smt", timeout))
    return check(ob, Options(method, timeout))


def cmd_check(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Check a foreign ONNX model against a gadget obligation; exit as ``prove`` does."""
    check_timeout("--timeout", args.timeout)
    onnx_io.require_onnx()
    g = parse_spec(args.spec, args.bits, args.words)
    ob, loaded = foreign_obligation(args.model, g)
    t0 = time.perf_counter()
    r = run_check(ob, args.method, args.timeout)
    seconds = time.perf_counter() - t0
    bound = onnx_io.exact_bound(ob.network, _box(ob, ob.network))
    exact = loaded.dtype in onnx_io.DTYPES and bound < onnx_io.DTYPES[loaded.dtype]
    note = None
    if loaded.dtype.startswith("float") and not exact:
        note = (f"note: the model is {loaded.dtype}, which is not exact for it (a partial sum "
                f"or weight reaches {bound}); the verdict is about its exact integer semantics")
    x = None
    if r.counterexample is not None:
        x = [int(r.counterexample.inputs[n]) for n in ob.network.inputs]
    if args.json:
        doc = results_json([r], seconds)
        doc["model"] = {"path": args.model, "dtype": loaded.dtype, "named": loaded.named,
                        "input": loaded.input_name, "exact_bound": bound,
                        "dtype_exact": exact, "counterexample_input": x}
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        print(r.line(), file=out)
        if x is not None:
            print(f"  {loaded.input_name} = {x}", file=out)
        if note:
            print(note, file=err)
    return verdict_exit(r.verdict)
