"""``loopmlp import``: programs written for other looped computers converted into ``.sq``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO

from constructions.machine import giannou
from verify.errors import LoopmlpError
from verify.files import write_file

from .common import EXIT_OK, command
from .transformer import import_network


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``import --giannou CMDS.csv MEM.csv`` (or ``--giannou-network FILE.npz``)."""
    command(p, description="Convert a program in the CSV format of Giannou et al.'s looped "
            "Transformer (a commands file with header 'a,b,c' and a memory file with header "
            "'mem', indices are columns of their scratchpad | memory | commands layout) into "
            ".sq assembly.")
    p.add_argument("--giannou-network", metavar="FILE.npz",
                   help="instead: check a looped Transformer saved from their code (arrays "
                   "L<i>.Q/K/V/W1/b1/W2/b2, scalars lam, s, m, n, logn, N, optional X0) and "
                   "describe it")
    p.add_argument("--giannou", nargs=2, metavar=("CMDS.csv", "MEM.csv"),
                   help="the commands and the initial memory")
    p.add_argument("-o", "--output", metavar="OUT.sq", help="write here (default: stdout)")
    p.add_argument("--force", action="store_true", help="overwrite OUT.sq if it exists")
    p.add_argument("--scratchpad", type=int, default=giannou.DEFAULT_SCRATCHPAD, metavar="S",
                   help=f"scratchpad columns (default {giannou.DEFAULT_SCRATCHPAD})")
    p.add_argument("--memory-start", type=int, metavar="COL",
                   help="column of the first memory word (default: S)")
    p.add_argument("--command-start", type=int, metavar="COL",
                   help="column of the first command (default: memory start + number of words)")
    p.add_argument("--bits", type=int, default=16, metavar="N",
                   help="bits per word; memory values must fit (default 16)")
    p.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Convert, assemble the result as a check, then write it (never over an existing file
    unless ``--force``)."""
    if args.giannou_network is not None:
        if args.giannou is not None:
            raise LoopmlpError("--giannou and --giannou-network: give one of them")
        return import_network(args.giannou_network, False, out)
    if args.giannou is None:
        raise LoopmlpError("import: need --giannou CMDS.csv MEM.csv or --giannou-network "
                           "FILE.npz")
    cmds, mem = args.giannou
    target = None
    if args.output is not None:
        target = Path(args.output)
        for src in (cmds, mem):
            if target.exists() and Path(src).exists() and target.samefile(src):
                raise LoopmlpError(f"{args.output}: is the input {src}; choose another -o")
        if target.exists() and not args.force:
            raise LoopmlpError(f"{args.output}: already exists; pass --force to overwrite it")
    text, program = giannou.convert(cmds, mem, scratchpad=args.scratchpad,
                                    memory_start=args.memory_start,
                                    command_start=args.command_start, bits=args.bits)
    if target is None:
        out.write(text)
        return EXIT_OK
    write_file(target, text, exclusive=not args.force)  # a file that appears meanwhile is kept
    size = program.size
    print(f"{args.output}: {len(text.splitlines())} lines, words={size.words} bits={size.bits} "
          f"slots={size.slots}", file=out)
    return EXIT_OK

