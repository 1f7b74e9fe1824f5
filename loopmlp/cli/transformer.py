"""The looped-Transformer pieces that ``giannou``, ``run``, ``import`` and ``export`` share: the
options of a run, and a run, an export and an import carried out and printed."""

from __future__ import annotations

import argparse
import json
from typing import IO

import numpy as np

from constructions.looped_transformer import certify, npz_io, runner, subleq_net
from constructions.looped_transformer.programs import describe, start, write_reconstruction
from constructions.machine import subleq

from .args import check_steps
from .common import EXIT_OK, EXIT_REFUTED, EXIT_UNKNOWN

DTYPES = ("float64", "float32", "exact")


def real(text: str) -> float:
    """A finite number (an argparse type)."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not np.isfinite(x):
        raise argparse.ArgumentTypeError(f"{text!r} is not finite")
    return x


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options of a looped-Transformer run (``giannou run`` and ``run``)."""
    p.add_argument("--dtype", choices=DTYPES, default="float64",
                   help="float64 or float32 as numpy computes them, or exact: sound "
                   "enclosures of the real-number run (a certified trace); default float64")
    p.add_argument("--max-subtract", action="store_true",
                   help="subtract each column's maximum inside the softmax (their code does not)")
    p.add_argument("--lam", type=real, metavar="L",
                   help=f"softmax temperature of a rebuilt network (default "
                   f"{subleq_net.DEFAULT_LAM:g})")
    p.add_argument("--eps", type=real, metavar="E",
                   help=f"error-correction flat zone of a rebuilt network (default "
                   f"{subleq_net.DEFAULT_EPS:g})")


def run_network(args: argparse.Namespace, out: IO[str], network: str | None) -> int:
    """``giannou run`` (also ``run --giannou-network``): run, decode every step against the
    interpreter (or enclose the real-number run with ``--dtype exact``), and print the result."""
    check_steps(args.max_steps)
    s = start(network, args.program, args.bits, args.lam, getattr(args, "eps", None))
    net, lay, name = s.net, s.layout, s.name
    size = lay.machine()
    if args.dtype == "exact":
        c = certify.certified_run(net, lay, s.X0, max_steps=args.max_steps,
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
    r = runner.run_checked(net, lay, s.X0, dtype=args.dtype, max_steps=args.max_steps,
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


def export_network(path: str, program: str, lam: float, eps: float, bits: int | None,
                   force: bool, out: IO[str]) -> int:
    """``giannou export`` (also ``export --giannou-network``): write the reconstruction of
    ``program`` and print its sizes."""
    net, lay = write_reconstruction(path, program, lam, eps, bits, force)
    print(f"{path}: {len(net.layers)} layers, d={lay.d} rows, n={lay.n} columns "
          f"(s={lay.s}, m={lay.m}, commands={lay.commands}, N={lay.bits}, logn={lay.logn}), "
          f"lam={lam:g}", file=out)
    return EXIT_OK


def import_network(path: str, as_json: bool, out: IO[str]) -> int:
    """``giannou import`` (also ``import --giannou-network``): check a saved network and print
    what it holds."""
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


__all__ = ["DTYPES", "add_run_options", "export_network", "import_network", "real",
           "run_network"]
