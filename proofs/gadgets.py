"""Gadget obligations: every gadget at every width from 1 up to where enumeration is quick,
plus 16, 32 and 64 bits through the factorised method.

Names: ``gadget/<name>[bits=N]``, with ``words=M`` for read and write and ``addr=L`` for match.
"""

from __future__ import annotations

from collections.abc import Callable

from constructions.gadgets import (
    Gadget,
    make_add,
    make_branch,
    make_compare,
    make_increment,
    make_match,
    make_read,
    make_subtract,
    make_write,
)

from .registry import Entry, of

WIDE = (16, 32, 64)


def _entry(build: Callable[[], Gadget], name: str, slow: bool = False) -> Entry:
    return of(name, lambda: build().obligation(), slow=slow)


def _name(gadget: str, **sizes: int) -> str:
    return f"gadget/{gadget}[{','.join(f'{k}={v}' for k, v in sizes.items())}]"


def entries() -> list[Entry]:
    """All gadget obligations (``auto`` enumerates up to 2^24 points, factorises beyond)."""
    out: list[Entry] = []
    for addr in range(1, 9):
        out.append(_entry(lambda a=addr: make_match(a), _name("match", addr=addr)))
    for bits in list(range(1, 13)) + list(WIDE):
        out.append(_entry(lambda b=bits: make_subtract(b), _name("subtract", bits=bits)))
        out.append(_entry(lambda b=bits: make_add(b), _name("add", bits=bits)))
    for bits in list(range(2, 17)) + [32, 64]:
        out.append(_entry(lambda b=bits: make_compare(b), _name("compare", bits=bits)))
    for bits in list(range(1, 17)) + [32, 64]:
        out.append(_entry(lambda b=bits: make_increment(b), _name("increment", bits=bits)))
    for bits in list(range(1, 12)) + list(WIDE):
        out.append(_entry(lambda b=bits: make_branch(b), _name("branch", bits=bits)))
    for words, widths in ((2, list(range(1, 9)) + list(WIDE)), (4, [1, 2, 3, 4, 5, 8, 16, 32, 64]),
                          (8, [1, 2, 8, 16, 32, 64]), (256, [16])):
        for bits in widths:
            out.append(_entry(lambda w=words, b=bits: make_read(w, b),
                              _name("read", words=words, bits=bits), slow=words > 8))
            out.append(_entry(lambda w=words, b=bits: make_write(w, b),
                              _name("write", words=words, bits=bits), slow=words > 8))
    return out
