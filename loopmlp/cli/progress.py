"""The progress display of long commands: a rich bar on a terminal, nothing otherwise; and
:class:`Tracker`, one line of it (done of total, the current item) that does nothing when no
display is shown."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import IO, Any


def progress(enabled: bool, stream: IO[str]) -> Any:
    """A rich progress display on ``stream``, or a no-op (``None``) when disabled or when
    ``stream`` is not a terminal.

    Each task shows its description, a bar, done/total, the time elapsed and an estimate of the
    time left (from the rate so far); a task whose total is not known yet shows a pulsing bar.
    A stream counts as a terminal when its ``isatty()`` says so or ``TTY_COMPATIBLE=1`` is set
    (``FORCE_COLOR`` alone does not draw a display into a pipe or a file); ``TTY_COMPATIBLE=0``
    turns the display off.
    """
    if not enabled or not (_isatty(stream) or os.environ.get("TTY_COMPATIBLE") == "1"):
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
    # Descriptions are plain text: obligation names hold brackets that rich would read as markup.
    return Progress(TextColumn("{task.description}", markup=False), BarColumn(bar_width=20),
                    MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("left"),
                    TimeRemainingColumn(), console=console, transient=True)


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


class Tracker:
    """One line of a progress display: ``label: current item``, done of total, elapsed and the
    time left. Without a display (``bar`` None) every call does nothing."""

    def __init__(self, bar: Any, label: str, total: int | None) -> None:
        self.bar, self.label = bar, label
        self.task = bar.add_task(label, total=total) if bar is not None else None

    def item(self, text: str) -> None:
        """Name the item being worked on now (drawn at once: an item may take less time than
        the display waits between two redraws)."""
        if self.bar is not None:
            self.bar.update(self.task, description=f"{self.label}: {text}" if text
                            else self.label, refresh=True)

    def update(self, done: int, total: int | None = None) -> None:
        """Set how much is done (and the total, when it becomes known or changes)."""
        if self.bar is None:
            return
        if total is None:
            self.bar.update(self.task, completed=done)
        else:
            self.bar.update(self.task, completed=done, total=total)

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more items done."""
        if self.bar is not None:
            self.bar.advance(self.task, n)


@contextmanager
def tracker(enabled: bool, stream: IO[str], label: str,
            total: int | None = None) -> Iterator[Tracker]:
    """A :class:`Tracker` on a display drawn on ``stream`` while the block runs (see
    :func:`progress`); a tracker that does nothing when the display is off."""
    with progress(enabled, stream) as bar:
        yield Tracker(bar, label, total)
