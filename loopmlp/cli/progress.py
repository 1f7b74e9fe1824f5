"""The progress display of long commands: a rich bar on a terminal, nothing otherwise."""

from __future__ import annotations

from contextlib import nullcontext
from typing import IO, Any


def progress(enabled: bool, stream: IO[str]) -> Any:
    """A rich progress display on ``stream``, or a no-op (``None``) when disabled or when
    ``stream`` is not a terminal.

    Each task shows its description, a bar, done/total, the time elapsed and an estimate of the
    time left (from the rate so far); a task whose total is not known yet shows a pulsing bar.
    """
    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(file=stream)
    if not console.is_terminal:
        return nullcontext(None)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                    console=console, transient=True)
