"""``loopmlp import``: convert programs written for other looped computers into ``.sq``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO, Any

from constructions import giannou
from verify.errors import LoopmlpError
from verify.files import write_file

from .cli import EXIT_OK


def add_commands(sub: Any) -> None:
    """Register ``import``."""
    from .cli import EXIT_CODES

    p = sub.add_parser(
        "import", help="convert a program in another format to .sq",
        description="Convert a program in the CSV format of Giannou et al.'s looped Transformer "
        "(a commands file with header 'a,b,c' and a memory file with header 'mem', indices "
        "are columns of their scratchpad | memory | commands layout) into .sq assembly.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
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
        from .giannou_cli import import_network

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
    _write(target, text, args.force)
    size = program.size
    print(f"{args.output}: {len(text.splitlines())} lines, words={size.words} bits={size.bits} "
          f"slots={size.slots}", file=out)
    return EXIT_OK


def _write(target: Path, text: str, force: bool) -> None:
    """Write ``text`` to ``target`` whole or not at all: a new file is created exclusively
    (so a file that appears meanwhile is not overwritten), a forced one is replaced by rename
    (:func:`verify.files.write_file`)."""
    write_file(target, text, exclusive=not force)
