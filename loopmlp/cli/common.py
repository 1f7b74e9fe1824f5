"""What every command shares: the exit codes (one table), the usage error, the argument parser
that raises instead of exiting, and the version."""

from __future__ import annotations

import argparse
from typing import Any

from verify.errors import LoopmlpError
from verify.result import Verdict

EXIT_OK, EXIT_REFUTED, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
"""Ctrl-C: 128 + SIGINT, what a shell reports for a command the signal stopped."""
EXIT_PIPE = 141
"""Standard output closed early: 128 + SIGPIPE, what a shell reports for ``yes | head -1``."""

MEANINGS: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "all proved (or success)"),
    (EXIT_REFUTED, "something refuted"),
    (EXIT_USAGE, "usage error, malformed input, or internal error"),
    (EXIT_UNKNOWN, "something unknown and nothing refuted"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
    (EXIT_PIPE, "standard output closed early (e.g. piped into head): ends quietly"),
)
"""Every exit code of ``loopmlp`` and what it means."""
EXIT_CODES = "exit codes:\n" + "\n".join(f"  {code}  {what}" for code, what in MEANINGS)
"""The exit codes as the epilog of ``--help``."""

VERDICT_EXIT = {Verdict.PROVED: EXIT_OK, Verdict.REFUTED: EXIT_REFUTED,
                Verdict.UNKNOWN: EXIT_UNKNOWN}


def verdict_exit(verdict: Verdict) -> int:
    """Exit code of a combined verdict."""
    return VERDICT_EXIT[verdict]


def version() -> str:
    """The installed version of loopmlp."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("loopmlp")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0+src"


class UsageError(LoopmlpError):
    """A command line that cannot be run: exit code 2, one line on stderr."""


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` owns every exit code."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        prog = self.prog.removeprefix("loopmlp").strip()
        raise UsageError(f"{prog}: {message}" if prog else message)


def command(parser: argparse.ArgumentParser, *, description: str | None = None,
            epilog: str | None = EXIT_CODES) -> argparse.ArgumentParser:
    """Give a command's parser its description and the exit codes as epilog, laid out as
    written."""
    parser.description = description
    parser.epilog = epilog
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser
