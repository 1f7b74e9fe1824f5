"""Gadget obligations: every gadget at every width from 1 up to where enumeration is quick, plus
16, 32 and 64 bits through the factorised method (the widths are those of
:data:`constructions.gadgets.families.FAMILIES`)."""

from __future__ import annotations

from constructions.gadgets.families import FAMILIES, Family
from verify.errors import LoopmlpError

from .registry import Entry, of

ORDER = (("match",), ("subtract", "add"), ("compare",), ("increment",), ("branch",),
         ("cmpbranch",), ("read", "write"))
"""The order of the entries: families listed together take turns width by width."""
SLOW_WORDS = 256
"""Read and write with more memory words than this are slow (256 words take about 1.5 s each
by the decoder method)."""


def _entry(family: Family, bits: int, words: int) -> Entry:
    """The obligation ``network == spec`` of one gadget over its whole domain.

    Read and write with 16 words or more (M = 2^m words, address bits x) are proved by the
    decoder method (:mod:`verify.methods.decoder`, docs/decoder.md), without a case per address:

    1. lemma, by z3 once per m with j and x symbolic: e_j(x) = sum_i (4 bit_i(j) - 2) x_i
       - 2 popcount(j) is 0 when x = j and <= -2 otherwise;
    2. structure, checked on the integer weights: every first-layer unit that reads x has
       coefficients 4 bit_i(j) - 2 for one word j and a gate g(d) (its data terms and the rest
       of its bias) bounded by 2 on the box, hence equals [x = j] ReLU(g(d)) by the lemma;
    3. per word, the network at address a is a slice (free units and word a's units); each
       distinct slice up to renaming is evaluated on its whole box once and equals one input
       (MEM[a].bit[t] for read; R.bit[t] at the address and the old bit elsewhere for write);
    4. the selection model so obtained equals the spec: one z3 query with the address symbolic.

    Steps 1, 2 and 4 and the evaluations of step 3 are machine checks; that they compose is the
    argument of docs/decoder.md. A sat model is replayed through the exact network before it
    is reported; a unit off the template is never proved (its addresses are checked as cases).
    """
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
