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
from verify import onnx_check, onnx_io, vnnlib_io
from verify.engines import METHODS, Options, check, smt_bv
from verify.errors import InputError, LoopmlpError, ParameterError
from verify.files import OutputDir
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
VNNLIB_DIR = OutputDir(
    MANIFEST, re.compile(r"onnx/[\w.\-]+\.onnx|vnnlib/[\w.\-]+\.vnnlib|instances\.csv"),
    "`loopmlp export --vnnlib`", "remove it, choose another directory or pass --force",
    fresh_only=True)
"""The directory of ``export --vnnlib``: a non-empty one is written into only when it holds the
manifest of an earlier export (or with ``--force``); see :class:`verify.files.OutputDir`."""
MAX_GADGET_BITS = 64
DEFAULT_SIZE = MachineSize(8, 8, 16)
GADGETS = FAMILIES
"""Gadgets by name (:data:`constructions.gadgets.FAMILIES`)."""


def check_gadget(name: str, bits: int, words: int = 2) -> None:
    """Refuse a gadget name or size out of range, before anything is built."""
    if name not in GADGETS:
        raise ParameterError("gadget", name, f"one of {', '.join(GADGETS)}")
    if not 1 <= bits <= MAX_GADGET_BITS:
        raise ParameterError("bits", bits, f"an integer from 1 to {MAX_GADGET_BITS}")
    if name in ("read", "write") and (words < 2 or words & (words - 1) or words > 1 << 16):
        raise ParameterError("words", words, "a power of two from 2 to 65536")


def gadget(name: str, bits: int, words: int = 2) -> Gadget:
    """The gadget ``name`` at the given sizes; a bad name or size is a ParameterError."""
    check_gadget(name, bits, words)
    try:
        return GADGETS[name](bits, words)
    except (ValueError, AssertionError) as e:
        if isinstance(e, LoopmlpError):
            raise
        raise ParameterError("bits", bits, f"a size the {name} gadget accepts ({e})") from None


@dataclasses.dataclass(frozen=True)
class GadgetSize:
    """A gadget's size computed from its sizes without building it: inputs, outputs and the
    width of each layer (``tests/interop/test_onnx_export.py`` holds it to the built gadgets)."""

    inputs: int
    outputs: int
    widths: tuple[int, ...]

    @property
    def units(self) -> int:
        """Units over all layers (building takes about 0.1 ms per unit)."""
        return sum(self.widths)

    @property
    def dense(self) -> int:
        """Numbers of a dense export: every layer's weight matrix and bias."""
        total, n_in = 0, self.inputs
        for w in self.widths:
            total += n_in * w + w
            n_in = w
        return total


def gadget_size(name: str, bits: int, words: int = 2) -> GadgetSize:
    """The size of ``gadget(name, bits, words)``, from the constructions' formulas."""
    check_gadget(name, bits, words)
    n, m = bits, max(words, 2).bit_length() - 1
    mn = words * bits
    table = {
        "match": (n + 1, 1 << n, (1 << n,)),
        "read": (m + mn, n, (mn, n)),
        "write": (m + n + mn, mn, (3 * mn, mn)),
        "subtract": (2 * n, n, (6 * n, n)),
        "add": (2 * n, n, (6 * n, n)),
        "compare": (n, 1, (2, 1)),
        "flag": (2 * n, 1, (9, 1)),
        "increment": (n, n, (4 * n, n)),
        "branch": (2 * n + 1, n, (2 * n, n)),
    }
    i, o, w = table[name]
    return GadgetSize(i, o, w)


def parse_spec_sizes(text: str, bits: int | None, words: int | None) -> tuple[str, int, int]:
    """``(name, bits, words)`` from ``NAME`` with ``--bits``/``--words``, or from an obligation
    name ``gadget/NAME[bits=N,...]``, validated and nothing built."""
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
    w = given.get("words", words if words is not None else 2)
    check_gadget(name, b, w)
    return name, b, w


def parse_spec(text: str, bits: int | None, words: int | None) -> Gadget:
    """The gadget named by ``text`` (see :func:`parse_spec_sizes`)."""
    return gadget(*parse_spec_sizes(text, bits, words))


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
    where.add_argument("--giannou-network", metavar="FILE.npz",
                       help="write the looped-Transformer reconstruction of --program in the "
                       ".npz form of Giannou et al.'s layers (see docs/giannou.md)")
    e.add_argument("--program", metavar="P.sq", help="the program (with --giannou-network)")
    e.add_argument("--lam", type=float, default=100.0, metavar="L",
                   help="softmax temperature (with --giannou-network, default 100)")
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


PROFILE_LAYERS = {"paper": 23, "paper-minimal": 14, "compact": 5}
"""Layers of each profile's step network (ReLU and affine)."""


def computer_dense_floor(profile: str, size: MachineSize) -> int:
    """A lower bound on the dense weights of a step network, computed without building it:
    every layer reads the whole state (copies carry it) and writes at least as many
    coordinates, so each holds at least ``state width ** 2`` weights."""
    width = size.words * size.bits + size.slots * size.ins_bits + size.pc_bits
    return PROFILE_LAYERS.get(profile, 1) * width * width


def cmd_export(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Write an ONNX model (``--onnx``) or a VNN-LIB benchmark directory (``--vnnlib``)."""
    if args.giannou_network is not None:
        from .giannou_cli import export_network

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
        dense = gadget_size(args.gadget, bits, words).dense
        if dense > onnx_io.MAX_DENSE:
            raise ParameterError("gadget", args.gadget, f"a size whose ONNX export holds at most "
                                 f"{onnx_io.MAX_DENSE:,} dense weights; at bits={bits}, "
                                 f"words={words} it would hold about {dense:,} (estimated "
                                 "before building)")
        g = gadget(args.gadget, bits, words)
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
    check_timeout("--timeout", args.timeout)
    if args.profile != "paper" or args.slots is not None:
        raise ParameterError("vnnlib", args.vnnlib, "gadgets only (no --profile or --slots): a "
                             "step of the computer has too many input points to enumerate")
    VNNLIB_DIR.check(args.vnnlib, [], args.force)  # before any work; the write checks again
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
    _write_dir(args.vnnlib, files, args.force, {
        "skipped": skipped, "vnnlib_version": args.vnnlib_version, "dtype": args.dtype})
    print(f"{args.vnnlib}: {len(rows)} instances (VNN-LIB {args.vnnlib_version}.0, "
          f"{args.dtype}) and instances.csv", file=out)
    for s in skipped:
        print(f"  skipped {s}: more than {vnnlib_io.MAX_POINTS} points", file=err)
    return EXIT_OK


def _write_dir(root: str, files: dict[str, bytes], force: bool,
               meta: dict[str, Any]) -> None:
    """Write the files under ``root`` and record them, with their SHA-256 and ``meta``, in
    :data:`MANIFEST` (:data:`VNNLIB_DIR` says what is refused and what is removed)."""
    VNNLIB_DIR.write(root, files, force, meta)


# --------------------------------------------------------------------------- check
CHECK_MAX_UNITS = 1 << 15
"""Largest gadget ``check`` builds as a spec, in units (estimated first: about 3 s to build)."""


def spec_label(name: str, bits: int, words: int = 2) -> str:
    """The obligation name of ``gadget(name, bits, words)``, without building it."""
    if name == "match":
        return f"gadget/match[addr={bits}]"
    if name in ("read", "write"):
        return f"gadget/{name}[words={words},bits={bits}]"
    return f"gadget/{name}[bits={bits}]"


def check_spec(name: str, bits: int, words: int = 2) -> GadgetSize:
    """The spec's size, refused with the estimate when it is too large to build for a check."""
    size = gadget_size(name, bits, words)
    if size.units > CHECK_MAX_UNITS:
        raise ParameterError("spec", spec_label(name, bits, words),
                             f"a gadget of at most {CHECK_MAX_UNITS:,} units to check against; "
                             f"this one would have about {size.units:,} units and "
                             f"{size.inputs:,} inputs (estimated before building)")
    return size


def foreign_obligation(path: str, g: Gadget, loaded: onnx_io.Loaded | None = None
                       ) -> tuple[Obligation, onnx_io.Loaded]:
    """The gadget's obligation with the network of the ONNX model at ``path`` in its place.

    Coordinates are matched by the names in the model's metadata when it has them, else by
    position in the gadget's input and output order (the order ``export --gadget`` writes).
    """
    loaded = loaded if loaded is not None else onnx_io.load(path)
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
    """Check a foreign ONNX model against a gadget obligation; exit as ``prove`` does.

    Everything cheap is validated first (the timeout, the spec's name and sizes, the model's
    path, the spec's size estimated without building it, the model's input count), so a bad
    argument never waits for a build. The verdict is about what the file computes in its own
    element type (:mod:`verify.onnx_check`)."""
    check_timeout("--timeout", args.timeout)
    onnx_io.require_onnx()
    name, bits, words = parse_spec_sizes(args.spec, args.bits, args.words)
    onnx_io.check_path(args.model)
    size = check_spec(name, bits, words)
    loaded = onnx_io.load(args.model, inputs=size.inputs, spec=spec_label(name, bits, words))
    ob, loaded = foreign_obligation(args.model, gadget(name, bits, words), loaded)
    t0 = time.perf_counter()
    checked = onnx_check.check_model(args.model, ob, loaded,
                                     lambda o: run_check(o, args.method, args.timeout))
    r = checked.result
    seconds = time.perf_counter() - t0
    x = None
    if r.counterexample is not None:
        x = [int(r.counterexample.inputs[n]) for n in ob.network.inputs]
    if args.json:
        doc = results_json([r], seconds)
        ex = checked.exactness
        doc["model"] = {"path": args.model, "dtype": loaded.dtype, "named": loaded.named,
                        "input": loaded.input_name, "exact_bound": ex.bound,
                        "dtype_exact": ex.exact, "exactness": ex.to_json(),
                        "reference": checked.reference,
                        "reference_points": checked.confirmed, "counterexample_input": x}
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        print(r.line(), file=out)
        if x is not None:
            print(f"  {loaded.input_name} = {x}", file=out)
    return verdict_exit(r.verdict)
