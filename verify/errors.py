"""The error hierarchy: one root, a few kinds, messages that name each bad value.

Every error the user can cause is a :class:`LoopmlpError`; the CLI turns it into one line on
stderr and exit code 2. An :class:`InternalError` means the checker itself is wrong (for example
a counterexample that does not replay) and is never a finding about the user's network.
"""

from __future__ import annotations


class LoopmlpError(Exception):
    """Root of every error loopmlp raises on purpose."""


class ParameterError(LoopmlpError, ValueError):
    """A parameter is out of range; the message reads ``name=value: need ...``."""

    def __init__(self, name: str, value: object, need: str) -> None:
        self.name, self.value, self.need = name, value, need
        super().__init__(f"{name}={value!r}: need {need}")


class LayoutError(LoopmlpError):
    """Two writes to one named coordinate, or a name that is not in the layout."""


class ShapeError(LoopmlpError):
    """A weight matrix or vector whose shape does not match its layer (W is W[out, in])."""


class InputError(LoopmlpError):
    """A user file is malformed: the message reads ``path:line: reason``."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


class InternalError(LoopmlpError):
    """The checker contradicted itself (for example a counterexample that does not replay)."""
