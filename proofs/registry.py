"""The registry of obligations: every proof the project claims, by name.

Each proofs module exposes ``entries() -> list[Entry]``; :func:`all_entries` gathers them in a
fixed order. An entry is lazy: nothing is built until it runs, so listing is instant. A module
that cannot be imported is an error, never a silently shorter list: a proof run that skipped
its obligations would report them neither proved nor missing.
"""

from __future__ import annotations

import fnmatch
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from verify.errors import InternalError, LoopmlpError
from verify.methods import Options, memo, replay, with_tally
from verify.methods.solvers import recording
from verify.obligation import Obligation
from verify.result import Result, Verdict

MODULES = ("proofs.kernel", "proofs.gadgets", "proofs.computer", "proofs.profiles",
           "proofs.precision", "proofs.all_widths", "proofs.giannou", "proofs.fwp")


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
            opts = replace(opts, method=method)
        return memo.checked(ob, opts)  # within a prove run, each content is checked once

    return Entry(name, run, slow, build)


def all_entries() -> list[Entry]:
    """Every registered entry, in registration order; names are unique."""
    out: list[Entry] = []
    seen: set[str] = set()
    for mod in MODULES:
        try:
            module = importlib.import_module(mod)
        except Exception as e:  # noqa: BLE001 - whatever broke it, the list would be short
            raise LoopmlpError(f"registry: the obligation module {mod} cannot be imported "
                               f"({type(e).__name__}: {e})") from None
        for entry in module.entries():
            if entry.name in seen:
                raise LoopmlpError(f"registry: obligation {entry.name!r} registered twice")
            seen.add(entry.name)
            out.append(entry)
    return out


def select(entries: list[Entry], patterns: list[str] | None, include_slow: bool) -> list[Entry]:
    """Entries matching any glob pattern (all when none); slow ones only when asked or named.

    Names contain brackets, which a glob reads as a character class: a pattern also matches
    when its brackets, read literally, do (``gadget/*[bits=all]`` selects every family's
    ``[bits=all]`` entry)."""
    if patterns:
        # An exact name always matches and runs even when slow; a glob selects slow entries only
        # with --all.
        globs = [(p, _literal_brackets(p)) for p in patterns]
        return [e for e in entries
                if any(e.name == p or ((fnmatch.fnmatchcase(e.name, p)
                                        or fnmatch.fnmatchcase(e.name, lit))
                                       and (include_slow or not e.slow)) for p, lit in globs)]
    return [e for e in entries if include_slow or not e.slow]


def _literal_brackets(pattern: str) -> str:
    """``pattern`` with every ``[`` and ``]`` escaped for :mod:`fnmatch`."""
    return "".join("[[]" if c == "[" else "[]]" if c == "]" else c for c in pattern)


def find(name: str) -> Entry:
    """The entry with exactly this name."""
    for e in all_entries():
        if e.name == name:
            return e
    raise LoopmlpError(f"no obligation named {name!r} (see `loopmlp list`)")


def build(name: str) -> Obligation:
    """Build the obligation of the entry with exactly this name (``replay`` evaluates a point of
    it; worker processes rebuild an obligation this way when it cannot be serialised, see
    :mod:`verify.methods.executor`)."""
    entry = find(name)
    if entry.build is None:
        raise LoopmlpError(f"{name}: its registry entry cannot rebuild the obligation")
    ob = entry.build()
    if ob.name != name:
        raise LoopmlpError(f"registry: entry {name!r} built obligation {ob.name!r}")
    return ob


def run_named(opts: Options, name: str) -> Result:
    """:func:`run_entry` on the entry with this name: the task ``prove --distribute
    obligations`` sends to a worker (it pickles by reference; ``opts`` has no progress)."""
    return run_entry(find(name), opts)


def replayed_here(r: Result) -> Result:
    """A result computed in another process, its counterexample replayed again in this one
    (entries without a builder were replayed by the worker's engine only)."""
    if r.counterexample is None:
        return r
    entry = find(r.obligation) if any(e.name == r.obligation for e in all_entries()) else None
    if entry is None or entry.build is None:
        return r
    if replay(entry.build(), r.counterexample.inputs) is None:
        raise InternalError(f"{r.obligation}: a worker's counterexample "
                            f"{dict(r.counterexample.inputs)} does not replay here")
    return r


def run_entry(entry: Entry, opts: Options) -> Result:
    """Run one entry; an error raised while building or checking becomes an UNKNOWN result
    only for resource limits, never for a wrong answer (those propagate)."""
    t0 = time.perf_counter()
    try:
        with recording() as log:  # every SMT query of the entry, whichever path asked it
            r = entry.run(opts)
        return with_tally(r, log)
    except MemoryError:
        return Result(entry.name, Verdict.UNKNOWN, opts.method, 0, 0, time.perf_counter() - t0,
                      "out of memory")
