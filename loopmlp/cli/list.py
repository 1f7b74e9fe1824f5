"""``loopmlp list``: the names of the registered obligations."""

from __future__ import annotations

import argparse
from typing import IO

from proofs import registry

from .common import EXIT_OK


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``list [--only PATTERN]``."""
    p.add_argument("--only", action="append", metavar="PATTERN",
                   help="glob over obligation names (repeatable), e.g. 'gadget/*'; slow "
                   "obligations are listed too, marked (slow)")
    p.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """List registered obligation names."""
    for e in registry.select(registry.all_entries(), args.only, True):
        print(e.name + ("  (slow)" if e.slow else ""), file=out)
    return EXIT_OK
