"""Gadget obligations: every gadget at every width from 1 up to where enumeration is quick, plus
16, 32 and 64 bits through the factorised method (the widths are those of
:data:`constructions.gadgets.families.FAMILIES`)."""

from __future__ import annotations

from constructions.gadgets.families import FAMILIES, Family
from verify.errors import LoopmlpError

from .registry import Entry, of

ORDER = (("match",), ("subtract", "add"), ("compare",), ("increment",), ("branch",),
         ("read", "write"))
"""The order of the entries: families listed together take turns width by width."""
SLOW_WORDS = 8
"""Read and write with more memory words than this are slow."""


def _entry(family: Family, bits: int, words: int) -> Entry:
    return of(family.obligation_name(bits, words),
              lambda: family.make(bits, words).obligation(), slow=words > SLOW_WORDS)


def entries() -> list[Entry]:
    """All gadget obligations (``auto`` enumerates up to 2^24 points, factorises beyond)."""
    out: list[Entry] = []
    for group in ORDER:
        families = [FAMILIES[name] for name in group]
        proved = families[0].proved
        if any(f.proved != proved for f in families):
            raise LoopmlpError(f"gadget families {', '.join(group)} listed together have "
                               "different widths")
        for words, widths in proved:
            for bits in widths:
                out += [_entry(f, bits, words) for f in families]
    return out
