"""The build of a computer for a command, with a progress display on a terminal when the
network is large enough for the build to take more than a moment."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, TypeVar

from constructions.machine.subleq import MachineSize

from .progress import tracker

SHOW_FROM = 1_000_000
"""Estimated weights from which a build shows its progress (about a second's work)."""

T = TypeVar("T")


def with_progress(work: Callable[[], T], profile: str, size: MachineSize, weights: int,
                  err: IO[str], enabled: bool) -> T:
    """``work()`` (a build, and whatever reads the whole network), under a progress line on
    ``err`` when ``enabled``, ``err`` is a terminal and the network has about ``weights`` >=
    :data:`SHOW_FROM` weights (the estimate of :func:`constructions.machine.limits.
    check_fits`); nothing is drawn into a pipe or a file."""
    label = (f"building the {profile} network, words={size.words} bits={size.bits} "
             f"slots={size.slots} (about {weights:,} weights)")
    with tracker(enabled and weights >= SHOW_FROM, err, label):
        return work()
