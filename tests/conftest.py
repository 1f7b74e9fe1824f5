"""Shared fixtures: registry isolation, weight corruption, and FIFOs that cannot hang a test."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.mutation import corrupt_bias, corrupt_weight

import proofs.registry
from verify.obligation import Obligation


@pytest.fixture
def kernel_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Restrict the registry to ``proofs.kernel``, so CLI tests do not depend on other modules."""
    monkeypatch.setattr(proofs.registry, "MODULES", ("proofs.kernel",))


@pytest.fixture
def corrupt() -> Callable[..., Obligation]:
    """``corrupt(ob, layer, entry, delta)``: one weight of ``ob``'s network changed."""
    return corrupt_weight


@pytest.fixture
def corrupt_b() -> Callable[..., Obligation]:
    """``corrupt_b(ob, layer, row, delta)``: one bias of ``ob``'s network changed."""
    return corrupt_bias


FIFO_PATIENCE = 20.0
"""Seconds after which a FIFO made by the ``fifo`` fixture is opened from both ends."""


@pytest.fixture
def fifo() -> Iterator[Callable[[Path], Path]]:
    """``fifo(path)``: make a FIFO at ``path`` that no command may open.

    A command that opens one anyway blocks until the other end is opened; after
    :data:`FIFO_PATIENCE` seconds every FIFO made here is opened from both ends (again and
    again, until the test ends), so the command goes on and the suite never hangs, and the
    test fails in its teardown.
    """
    made: list[Path] = []
    done = threading.Event()
    fired = threading.Event()

    def release() -> None:
        if done.wait(FIFO_PATIENCE):
            return
        fired.set()
        while not done.wait(0.2):
            for p in made:
                try:
                    r = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
                except OSError:
                    continue
                try:
                    os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    pass
                os.close(r)

    def make(path: Path) -> Path:
        os.mkfifo(path)
        made.append(path)
        return path

    guard = threading.Thread(target=release, daemon=True)
    guard.start()
    yield make
    done.set()
    guard.join()
    assert not fired.is_set(), f"a command blocked on a FIFO ({', '.join(map(str, made))})"
