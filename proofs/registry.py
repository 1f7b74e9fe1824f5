"""The registry of obligations: every proof the project claims, by name.

Each proofs module exposes ``entries() -> list[Entry]``; :func:`all_entries` gathers them in a
fixed order. An entry is lazy: nothing is built until it runs, so listing is instant.
"""

from __future__ import annotations

import fnmatch
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from verify.engines import Options, check
from verify.errors import LoopmlpError
from verify.obligation import Obligation
from verify.result import Result, Verdict

MODULES = ("proofs.kernel", "proofs.gadgets", "proofs.computer")


@dataclass(frozen=True)
class Entry:
    """A named, lazily built check. ``slow`` entries run only with ``prove --all``."""

    name: str
    run: Callable[[Options], Result]
    slow: bool = False
    build: Callable[[], Obligation] | None = None  # for replaying a counterexample by name


def of(name: str, build: Callable[[], Obligation], *, slow: bool = False,
       method: str | None = None) -> Entry:
    """An entry that builds an obligation and checks it (``method`` overrides ``auto``)."""

    def run(opts: Options) -> Result:
        ob = build()
        if ob.name != name:
            raise LoopmlpError(f"registry: entry {name!r} built obligation {ob.name!r}")
        if method is not None and opts.method == "auto":
            opts = Options(method, opts.timeout, opts.exhaustive_limit, opts.chunk,
                           opts.samples, opts.progress)
        return check(ob, opts)

    return Entry(name, run, slow, build)


def all_entries() -> list[Entry]:
    """Every registered entry, in registration order; names are unique."""
    out: list[Entry] = []
    seen: set[str] = set()
    for mod in MODULES:
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name == mod:
                continue
            raise
        for entry in module.entries():
            if entry.name in seen:
                raise LoopmlpError(f"registry: obligation {entry.name!r} registered twice")
            seen.add(entry.name)
            out.append(entry)
    return out


def select(entries: list[Entry], patterns: list[str] | None, include_slow: bool) -> list[Entry]:
    """Entries matching any glob pattern (all when none); slow ones only when asked or named."""
    if patterns:
        # An exact name always matches (even though '[' is a glob character) and runs even when
        # slow; a glob selects slow entries only with --all.
        return [e for e in entries
                if any(e.name == p or (fnmatch.fnmatchcase(e.name, p)
                                       and (include_slow or not e.slow)) for p in patterns)]
    return [e for e in entries if include_slow or not e.slow]


def find(name: str) -> Entry:
    """The entry with exactly this name."""
    for e in all_entries():
        if e.name == name:
            return e
    raise LoopmlpError(f"no obligation named {name!r} (see `loopmlp list`)")


def run_entry(entry: Entry, opts: Options) -> Result:
    """Run one entry; an error raised while building or checking becomes an UNKNOWN result
    only for resource limits, never for a wrong answer (those propagate)."""
    t0 = time.perf_counter()
    try:
        return entry.run(opts)
    except MemoryError:
        return Result(entry.name, Verdict.UNKNOWN, opts.method, 0, 0, time.perf_counter() - t0,
                      "out of memory")
