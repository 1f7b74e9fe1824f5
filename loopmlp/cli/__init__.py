"""The ``loopmlp`` command line: one module per command, and :func:`main` to run one.

Every handler takes its output streams as parameters (``(args, out, err) -> exit code``), so
tests call :func:`main` with ``StringIO`` streams.
"""

from .dispatch import entry_point, main

__all__ = ["entry_point", "main"]
