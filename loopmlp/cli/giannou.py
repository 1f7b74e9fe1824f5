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
from typing import IO

from constructions.looped_transformer import subleq_net
from proofs.giannou import certify_lambda, frontier, frontier_plot

from .args import integer
from .common import EXIT_CODES, EXIT_OK, command
from .transformer import add_run_options, export_network, import_network, real, run_network


def add_arguments(g: argparse.ArgumentParser) -> None:
    """``giannou`` and its subcommands ``run``, ``export``, ``import`` and ``frontier``."""
    command(g)
    gs = g.add_subparsers(dest="giannou_command", required=True, parser_class=type(g))

    r = gs.add_parser("run", help="run a looped Transformer on SUBLEQ, checked step by step",
                      epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--network", metavar="FILE.npz", help="weights saved from their code "
                   "(default: the reconstruction of --program)")
    r.add_argument("--program", metavar="P.sq", help="the program to encode (needed without "
                   "X0 in the file)")
    r.add_argument("--bits", type=integer, metavar="N", help="bits per word of the program")
    r.add_argument("--max-steps", type=integer, default=100_000, metavar="S",
                   help="stop after S steps (default 100000)")
    r.add_argument("--check", action="store_true",
                   help="exit 1 at the first step that decodes wrongly or goes non-finite")
    r.add_argument("--json", action="store_true", help="print the run as JSON")
    add_run_options(r)
    r.set_defaults(func=cmd_run)

    e = gs.add_parser("export", help="write the reconstruction of a program as .npz")
    e.add_argument("file", metavar="FILE.npz", help="the file to write")
    e.add_argument("--program", required=True, metavar="P.sq", help="the program (required)")
    e.add_argument("--lam", type=real, default=subleq_net.DEFAULT_LAM, metavar="L",
                   help=f"softmax temperature (default {subleq_net.DEFAULT_LAM:g})")
    e.add_argument("--eps", type=real, default=subleq_net.DEFAULT_EPS, metavar="E",
                   help=f"error-correction flat zone (default {subleq_net.DEFAULT_EPS:g})")
    e.add_argument("--bits", type=integer, metavar="N",
                   help="bits per word (default: the program's)")
    e.add_argument("--force", action="store_true", help="overwrite FILE.npz")
    e.set_defaults(func=cmd_export)

    i = gs.add_parser("import", help="check a saved looped Transformer and describe it")
    i.add_argument("file", metavar="FILE.npz", help="the saved network")
    i.add_argument("--json", action="store_true", help="print the description as JSON")
    i.set_defaults(func=cmd_import)

    f = gs.add_parser("frontier", help="where the network stops being correct")
    f.add_argument("--plot", metavar="FILE.png", help="draw the (lambda, n) picture here")
    f.add_argument("--quick", action="store_true", help="fewer values, no certified runs")
    f.add_argument("--json", action="store_true", help="print the boundaries as JSON")
    f.set_defaults(func=cmd_frontier)


def cmd_run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """``giannou run``."""
    return run_network(args, out, args.network)


def cmd_export(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """``giannou export``."""
    return export_network(args.file, args.program, args.lam, args.eps, args.bits, args.force,
                          out)


def cmd_import(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """``giannou import``."""
    return import_network(args.file, args.json, out)


def cmd_frontier(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """``giannou frontier``: every boundary as a table row (or JSON), the real-number run at
    ``lam = 10`` unless ``--quick``, and the picture with ``--plot``."""
    rows = frontier(quick=args.quick)
    extra = [certify_lambda(10.0)] if not args.quick else []
    if args.plot:
        frontier_plot(args.plot)
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
