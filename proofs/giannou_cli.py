"""``loopmlp giannou``: run, certify, import, export and map the frontier of Giannou et al.'s
looped Transformer (:mod:`constructions.looped_transformer`).

- ``giannou run [--network FILE.npz] [--program P.sq] [--dtype float64|float32|exact]
  [--check]``: run from the file's ``X0`` (or a program encoded into its layout; without a
  file, the reconstruction of the program), decoding every step against the interpreter;
  ``exact`` encloses the real-number run soundly (a certified trace).
- ``giannou export FILE.npz --program P.sq [--lam L] [--bits N]``: write the reconstruction.
- ``giannou import FILE.npz``: check a saved network and describe it.
- ``giannou frontier [--plot FILE.png] [--quick] [--json]``: the correctness frontier.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import IO, Any

import numpy as np

from constructions.looped_transformer import certify, npz_io, runner, subleq_net
from constructions.looped_transformer.layout import Layout
from constructions.looped_transformer.network import LoopedTransformer
from constructions.machine import asm, subleq
from constructions.machine.subleq import State
from loopmlp.cli.args import check_steps
from loopmlp.cli.args import integer as _int
from loopmlp.cli.common import EXIT_CODES, EXIT_OK, EXIT_REFUTED, EXIT_UNKNOWN
from verify.errors import InputError, LoopmlpError, ParameterError

DTYPES = ("float64", "float32", "exact")


def _float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not np.isfinite(x):
        raise argparse.ArgumentTypeError(f"{text!r} is not finite")
    return x


def add_run_options(p: argparse.ArgumentParser, network_flag: str = "--network") -> None:
    """The options of a looped-Transformer run (shared with ``loopmlp run``)."""
    p.add_argument("--dtype", choices=DTYPES, default="float64",
                   help="float64 or float32 as numpy computes them, or exact: sound "
                   "enclosures of the real-number run (a certified trace)")
    p.add_argument("--max-subtract", action="store_true",
                   help="subtract each column's maximum inside the softmax (their code does not)")
    p.add_argument("--lam", type=_float, metavar="L",
                   help=f"softmax temperature of a rebuilt network (default "
                   f"{subleq_net.DEFAULT_LAM:g})")
    p.add_argument("--eps", type=_float, metavar="E",
                   help=f"error-correction flat zone of a rebuilt network (default "
                   f"{subleq_net.DEFAULT_EPS:g})")


def add_commands(sub: Any) -> None:
    """Register ``giannou`` and its subcommands."""
    g = sub.add_parser("giannou", help="Giannou et al.'s looped Transformer: run, certify, "
                       "import, export, frontier", epilog=EXIT_CODES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    gs = g.add_subparsers(dest="giannou_command", required=True, parser_class=type(g))

    r = gs.add_parser("run", help="run a looped Transformer on SUBLEQ, checked step by step",
                      epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--network", metavar="FILE.npz", help="weights saved from their code")
    r.add_argument("--program", metavar="P.sq", help="the program to encode (needed without "
                   "X0 in the file)")
    r.add_argument("--bits", type=_int, metavar="N", help="bits per word of the program")
    r.add_argument("--max-steps", type=_int, default=100_000, metavar="S")
    r.add_argument("--check", action="store_true",
                   help="exit 1 at the first step that decodes wrongly or goes non-finite")
    r.add_argument("--json", action="store_true")
    add_run_options(r)
    r.set_defaults(func=cmd_run)

    e = gs.add_parser("export", help="write the reconstruction of a program as .npz")
    e.add_argument("file", metavar="FILE.npz")
    e.add_argument("--program", required=True, metavar="P.sq")
    e.add_argument("--lam", type=_float, default=subleq_net.DEFAULT_LAM, metavar="L")
    e.add_argument("--eps", type=_float, default=subleq_net.DEFAULT_EPS, metavar="E")
    e.add_argument("--bits", type=_int, metavar="N")
    e.add_argument("--force", action="store_true", help="overwrite FILE.npz")
    e.set_defaults(func=cmd_export)

    i = gs.add_parser("import", help="check a saved looped Transformer and describe it")
    i.add_argument("file", metavar="FILE.npz")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_import)

    f = gs.add_parser("frontier", help="where the network stops being correct")
    f.add_argument("--plot", metavar="FILE.png", help="draw the (lambda, n) picture here")
    f.add_argument("--quick", action="store_true", help="fewer values, no certified runs")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_frontier)


# --------------------------------------------------------------------------- helpers
def load_program(path: str, bits: int | None) -> asm.Program:
    return asm.load(path, bits=bits)


def network_and_state(network: str | None, program: str | None, bits: int | None,
                      lam: float | None, eps: float | None
                      ) -> tuple[LoopedTransformer, Layout, np.ndarray, str]:
    """The network, its layout, the initial matrix and a name for messages."""
    if network is not None:
        saved = npz_io.load(network)
        net, lay = saved.net, saved.layout
        if lam is not None:
            net = LoopedTransformer(net.layers, lam)
        if program is not None:
            p = load_program(program, bits if bits is not None else lay.bits)
            try:
                X0 = lay.encode(_fit(p.state, lay)).astype(np.float64)
            except ParameterError as e:
                raise InputError(program, None, f"does not fit the layout of {network}: {e}"
                                 ) from None
        elif saved.X0 is not None:
            X0 = saved.X0
        else:
            raise InputError(network, None, "holds no X0; pass --program P.sq")
        return net, lay, X0, network
    if program is None:
        raise ParameterError("--program", None, "a .sq program (or --network FILE.npz)")
    p = load_program(program, bits)
    lay = Layout.for_size(p.size)
    net = subleq_net.build(lay, subleq_net.DEFAULT_LAM if lam is None else lam,
                           subleq_net.DEFAULT_EPS if eps is None else eps)
    return net, lay, lay.encode(p.state).astype(np.float64), program


def _fit(state: State, lay: Layout) -> State:
    """A program's state (assembled at the layout's word width) on the layout's machine:
    refused when it uses more words or commands than the layout has."""
    if any(state.memory[lay.m:]):
        raise ParameterError("memory", len(state.memory), f"at most m={lay.m} words in use")
    if any(state.code[j] != subleq.filler(j) for j in range(lay.commands, len(state.code))):
        raise ParameterError("code", len(state.code), f"at most {lay.commands} commands")
    return subleq.make_state(lay.machine(), list(state.memory[:lay.m]),
                             list(state.code[:lay.commands]), state.pc)


# --------------------------------------------------------------------------- commands
def run_network(args: argparse.Namespace, out: IO[str], network: str | None) -> int:
    """The body of ``giannou run`` (also ``loopmlp run --giannou-network``)."""
    check_steps(args.max_steps)
    net, lay, X0, name = network_and_state(network, args.program, args.bits, args.lam,
                                           getattr(args, "eps", None))
    size = lay.machine()
    if args.dtype == "exact":
        c = certify.certified_run(net, lay, X0, max_steps=args.max_steps,
                                  max_subtract=args.max_subtract)
        words = list(subleq.signed_memory(c.state, size))[:lay.m]
        doc = {"semantics": "reals (arb enclosures)", "steps": c.steps, "halted": c.halted,
               "pc": c.state.pc, "words": words, "certified_steps": len(c.records),
               "min_margin": c.min_margin, "seconds": round(c.seconds, 3),
               "failure": None if c.failure is None else {
                   "step": c.failure.step, "status": c.failure.status,
                   "message": c.failure.message}}
        if args.json:
            out.write(json.dumps(doc, indent=2) + "\n")
        else:
            print(f"{name}: {len(c.records)} steps certified over the reals (lam={net.lam:g}), "
                  f"least margin {c.min_margin:.3g}, {c.seconds:.1f}s", file=out)
            print(f"  words = {words}, pc = {c.state.pc}, halted = {c.halted}", file=out)
            if c.failure is not None:
                print(f"  step {c.failure.step}: {c.failure.status.upper()}: "
                      f"{c.failure.message}", file=out)
        if c.failure is None:
            return EXIT_OK
        if not args.check:
            return EXIT_OK
        return EXIT_REFUTED if c.failure.status == "certified wrong" else EXIT_UNKNOWN
    r = runner.run_checked(net, lay, X0, dtype=args.dtype, max_steps=args.max_steps,
                           max_subtract=args.max_subtract)
    words = list(subleq.signed_memory(r.state, size))[:lay.m]
    if args.json:
        out.write(json.dumps({
            "semantics": args.dtype, "max_subtract": args.max_subtract, "lam": net.lam,
            "steps": r.steps, "halted": r.halted, "pc": r.state.pc, "words": words,
            "agrees_with_interpreter": r.ok, "min_margin": r.min_margin,
            "max_error": r.max_error,
            "failure": None if r.failure is None else {
                "step": r.failure.step, "kind": r.failure.kind, "layer": r.failure.layer,
                "message": r.failure.message}}, indent=2) + "\n")
    else:
        how = "halted" if r.halted else "stopped"
        print(f"{name}: {how} after {r.steps} steps in {args.dtype} (lam={net.lam:g}"
              f"{', max subtracted' if args.max_subtract else ''}), pc={r.state.pc}", file=out)
        print(f"  words = {words}", file=out)
        if r.failure is None:
            print(f"  interpreter: agrees at every step (least |entry| read {r.min_margin:.3g}, "
                  f"largest distance from +-1 {r.max_error:.3g})", file=out)
        else:
            print(f"  interpreter: DISAGREES at {r.failure.line()}", file=out)
    return EXIT_REFUTED if (args.check and r.failure is not None) else EXIT_OK


def cmd_run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    return run_network(args, out, args.network)


def export_network(path: str, program: str, lam: float, eps: float, bits: int | None,
                   force: bool, out: IO[str]) -> int:
    """The body of ``giannou export`` (also ``loopmlp export --giannou-network``)."""
    p = load_program(program, bits)
    lay = Layout.for_size(p.size)
    net = subleq_net.build(lay, lam, eps)
    if os.path.exists(path) and not force:
        raise LoopmlpError(f"{path}: already exists; pass --force to overwrite it")
    npz_io.save(path, npz_io.SavedNetwork(net, lay, lay.encode(p.state)), force=force)
    print(f"{path}: {len(net.layers)} layers, d={lay.d} rows, n={lay.n} columns "
          f"(s={lay.s}, m={lay.m}, commands={lay.commands}, N={lay.bits}, logn={lay.logn}), "
          f"lam={lam:g}", file=out)
    return EXIT_OK


def cmd_export(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    return export_network(args.file, args.program, args.lam, args.eps, args.bits, args.force,
                          out)


def describe(saved: npz_io.SavedNetwork) -> dict[str, Any]:
    lay, net = saved.layout, saved.net
    doc: dict[str, Any] = {
        "layers": len(net.layers), "lam": net.lam, "d": lay.d, "n": lay.n, "s": lay.s,
        "m": lay.m, "commands": lay.commands, "N": lay.bits, "logn": lay.logn,
        "per_layer": [{"heads": len(layer.heads), "width": layer.width,
                       "nonzero": int(sum(np.count_nonzero(a) for a in (
                           layer.W1, layer.b1, layer.W2, layer.b2,
                           *[x for h in layer.heads for x in (h.Q, h.K, h.V)])))}
                      for layer in net.layers],
        "X0": None}
    if saved.X0 is not None:
        try:
            st = lay.decode(saved.X0)
            doc["X0"] = {"pc": st.pc, "words": list(subleq.signed_memory(st, lay.machine()))
                         [:lay.m]}
        except LoopmlpError as e:
            doc["X0"] = {"error": str(e)}
    return doc


def import_network(path: str, as_json: bool, out: IO[str]) -> int:
    """The body of ``giannou import`` (also ``loopmlp import --giannou-network``)."""
    d = describe(npz_io.load(path))
    if as_json:
        out.write(json.dumps(d, indent=2) + "\n")
        return EXIT_OK
    print(f"{path}: {d['layers']} layers, lam={d['lam']:g}, d={d['d']} rows, n={d['n']} "
          f"columns (s={d['s']}, m={d['m']}, commands={d['commands']}, N={d['N']}, "
          f"logn={d['logn']})", file=out)
    for i, x in enumerate(d["per_layer"]):
        print(f"  L{i}: {x['heads']} head(s), width {x['width']}, {x['nonzero']} nonzero",
              file=out)
    if d["X0"] is None:
        print("  no X0", file=out)
    elif "error" in d["X0"]:
        print(f"  X0 does not decode: {d['X0']['error']}", file=out)
    else:
        print(f"  X0: pc={d['X0']['pc']} words={d['X0']['words']}", file=out)
    return EXIT_OK


def cmd_import(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    return import_network(args.file, args.json, out)


def cmd_frontier(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from . import giannou as lib

    rows = lib.frontier(quick=args.quick)
    extra = [lib.certify_lambda(10.0)] if not args.quick else []
    if args.plot:
        lib.frontier_plot(args.plot)
    if args.json:
        out.write(json.dumps({"boundaries": [b.__dict__ for b in rows],
                              "reals": extra}, indent=2) + "\n")
        return EXIT_OK
    head = ["axis", "semantics", "fixed", "last good", "first bad", "certificate", "witness"]
    print(" | ".join(head), file=out)
    for b in rows:
        print(" | ".join(b.row()), file=out)
    for line in extra:
        print(f"reals: {line}", file=out)
    if args.plot:
        print(f"picture: {args.plot}", file=out)
    return EXIT_OK


__all__ = ["add_commands", "add_run_options", "export_network", "import_network",
           "run_network"]
