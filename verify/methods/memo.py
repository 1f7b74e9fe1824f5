"""Results reused within one run: an obligation checked once is not checked again, keyed on its
exact content (the network's weights, the domain, the outputs, the spec's code and the name),
never on its name alone."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace

from verify.obligation import Obligation
from verify.result import Result, Verdict

from .base import Options
from .registry import check

_STORE: ContextVar[dict[str, Result] | None] = ContextVar("loopmlp_reused_results", default=None)


@contextmanager
def reuse() -> Iterator[None]:
    """Within the block, :func:`checked` keeps every proved or refuted result and answers a
    second check of the same content from it (``prove`` runs its whole loop in one block)."""
    token = _STORE.set({})
    try:
        yield
    finally:
        _STORE.reset(token)


def network_digest(ob: Obligation) -> str:
    """SHA-256 of the network's exact content: per layer its coordinates, every nonzero weight
    with its position, every bias, and whether it has a ReLU."""
    h = hashlib.sha256()
    h.update(repr(tuple(ob.network.inputs.names)).encode())
    for layer in ob.network.layers:
        h.update(repr((tuple(layer.outputs.names), layer.rows, layer.cols, layer.vals,
                       layer.bias, layer.relu)).encode())
    return h.hexdigest()


def spec_parts(spec: object) -> tuple[str, ...]:
    """The spec's identity: its module and name, its code and constants, and the values it
    closes over and defaults to (two closures of one function over different values differ)."""
    code = getattr(spec, "__code__", None)
    cells = getattr(spec, "__closure__", None) or ()
    captured = []
    for cell in cells:
        try:
            captured.append(repr(cell.cell_contents))
        except ValueError:  # an empty cell
            captured.append("<empty>")
    return (getattr(spec, "__module__", ""), getattr(spec, "__qualname__", repr(spec)),
            repr(code.co_code) if code is not None else "",
            repr(code.co_consts) if code is not None else "",
            repr(captured), repr(getattr(spec, "__defaults__", None)),
            repr(getattr(spec, "__kwdefaults__", None)))


def content_key(ob: Obligation, opts: Options) -> str:
    """What makes two checks the same: the name, the network's content, the domain, the
    checked outputs, the spec (:func:`spec_parts`), and the method and solvers asked."""
    h = hashlib.sha256()
    for part in (ob.name, network_digest(ob), repr(ob.domain), repr(ob.checked_outputs),
                 *spec_parts(ob.spec), opts.method, repr(opts.solvers)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def checked(ob: Obligation, opts: Options,
            run: Callable[[Obligation, Options], Result] = check) -> Result:
    """``run(ob, opts)``, or inside :func:`reuse` the result of an earlier check of the same
    content (``details["reused"]`` is then True). Only proved and refuted results are kept: an
    unknown one may be a timeout, and is checked again."""
    store = _STORE.get()
    if store is None:
        return run(ob, opts)
    key = content_key(ob, opts)
    hit = store.get(key)
    if hit is not None:
        return replace(hit, seconds=0.0, details={**hit.details, "reused": True})
    r = run(ob, opts)
    if r.verdict in (Verdict.PROVED, Verdict.REFUTED):
        store[key] = r
    return r
