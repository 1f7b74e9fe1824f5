"""The ``loopmlp`` entry point: the table of commands, the parser, and the mapping of every
outcome to a documented exit code.

The top-level parser knows each command by its name and one line of help; a command's module
is imported only when that command runs (or shows its own ``--help``), so ``loopmlp --help``
starts without loading the kernel.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass
from typing import IO

from verify.errors import InternalError, LoopmlpError

from .common import (
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_PIPE,
    EXIT_USAGE,
    Parser,
    version,
)


@dataclass(frozen=True)
class Command:
    """A command: its name, its line in ``loopmlp --help``, and the module that defines it.

    The module has ``add_arguments(parser)``, which configures the command's parser and sets
    its handler as ``func``: ``(args, out, err) -> exit code``.
    """

    name: str
    help: str
    module: str


COMMANDS: tuple[Command, ...] = (
    Command("prove", "check the registered obligations", "loopmlp.cli.prove"),
    Command("list", "list the registered obligations", "loopmlp.cli.list"),
    Command("run", "run a .sq program on the looped network", "loopmlp.cli.run"),
    Command("info", "layers, widths and weights of a profile", "loopmlp.cli.info"),
    Command("report", "write an HTML and Markdown correctness report, results.json and "
            "junit.xml", "loopmlp.cli.report"),
    Command("replay", "evaluate one input of an obligation: network against spec",
            "loopmlp.cli.replay"),
    Command("bench", "time the checks", "loopmlp.cli.bench"),
    Command("import", "convert a program in another format to .sq", "loopmlp.cli.import_"),
    Command("export", "write ONNX models and VNN-LIB properties", "loopmlp.cli.export"),
    Command("check", "check an ONNX model against a gadget's spec", "loopmlp.cli.check"),
    Command("precision", "precision certificates: largest values, and the float formats that "
            "run the network exactly", "loopmlp.cli.precision"),
    Command("giannou", "Giannou et al.'s looped Transformer: run, certify, import, export, "
            "frontier", "loopmlp.cli.giannou"),
    Command("lang", "fast weight programmers on formal languages", "loopmlp.cli.lang"),
)
"""Every command, in the order ``loopmlp --help`` lists them."""

Handler = Callable[[argparse.Namespace, IO[str], IO[str]], int]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, with ``command``'s module loaded and its arguments added (the
    other commands are only named)."""
    p = Parser(prog="loopmlp", description="Exact verification of looped ReLU-MLP computers.",
               epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"loopmlp {version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for c in COMMANDS:
        if c.name != command:
            sub.add_parser(c.name, help=c.help)
            continue
        importlib.import_module(c.module).add_arguments(sub.add_parser(c.name, help=c.help))
    return p


def command_of(argv: Sequence[str]) -> str | None:
    """The command a command line names: its first word that is not an option (the top-level
    options take no value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None, out: IO[str] | None = None,
         err: IO[str] | None = None) -> int:
    """Entry point: parse, dispatch, and map every error to a documented exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        return _dispatch(list(argv) if argv is not None else sys.argv[1:], out, err)
    except BrokenPipeError:  # the reader went away: end quietly, as other command-line tools do
        return EXIT_PIPE
    except KeyboardInterrupt:  # a second Ctrl-C while the first was being reported
        return EXIT_INTERRUPTED


def _dispatch(argv: list[str], out: IO[str], err: IO[str]) -> int:
    try:
        parser = build_parser(command_of(argv))
        with redirect_stdout(out):  # --help and --version write to the given stream
            args = parser.parse_args(argv)
        handler: Handler = args.func
        return handler(args, out, err)
    except SystemExit as e:  # --help / --version
        return int(e.code or 0)
    except InternalError as e:
        print(f"loopmlp: internal error: {e}", file=err)
        return EXIT_USAGE
    except LoopmlpError as e:
        print(f"loopmlp: error: {e}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("loopmlp: interrupted", file=err, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise
    except Exception as e:  # noqa: BLE001 - the promise is: no traceback, exit 2
        if os.environ.get("LOOPMLP_DEBUG"):
            raise
        print(f"loopmlp: internal error: {type(e).__name__}: {e} "
              "(set LOOPMLP_DEBUG=1 for a traceback)", file=err)
        return EXIT_USAGE


def entry_point() -> None:
    """Console script: :func:`main`, then standard output flushed here, where a reader that went
    away (exit 141) or a late Ctrl-C (exit 130) still ends the process quietly."""
    try:
        code = main()
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        code = EXIT_PIPE
    except KeyboardInterrupt:
        print("loopmlp: interrupted", file=sys.stderr, flush=True)
        code = EXIT_INTERRUPTED
    if code == EXIT_PIPE:
        # Whatever is still buffered for the closed pipe goes nowhere, instead of failing again
        # (with a message) when the interpreter flushes at exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (AttributeError, OSError, ValueError):  # no standard output to silence
            pass
    sys.exit(code)
