"""The ``loopmlp`` command line run in-process with captured streams."""

from __future__ import annotations

from io import StringIO

from loopmlp.cli import main


def run(*argv: str) -> tuple[int, str, str]:
    """``loopmlp argv...`` with captured streams: (exit code, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()
