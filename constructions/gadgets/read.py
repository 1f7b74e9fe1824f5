"""Read: fetch word ``A`` of a table of M words (a data word, or an instruction's fields).

Hidden units, one per word j and bit t (layer 1), and the output bits (layer 2):

    H[j,t] = ReLU(MEM[j].bit[t] + e_j(A))
    D.bit[t] = ReLU(sum_j H[j,t])

Why it is exact: by the match primitive H[j,t] = MEM[j].bit[t] [A = j], so exactly one term of
the sum can be nonzero and D.bit[t] = MEM[A].bit[t] in {0, 1}; the outer ReLU is the identity on
that sum. The output bit t depends only on column t and on A, so the wide case factorises into one
(m + M)-bit check per output bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from verify.domains import Word, product
from verify.errors import ParameterError
from verify.layout import bit_names
from verify.obligation import Factorisation, Form
from verify.ops import bit, select, word
from verify.symbolic import Affine, DeferredNet, Stage, Unit, relu_unit

from .base import Gadget, WordArg, bits_of, match_forms


def log2_exact(name: str, n: int, most: int) -> int:
    """log2(n) for a power of two 2 <= n <= most, else a ParameterError naming ``name``."""
    if not (isinstance(n, int) and 2 <= n <= most and n & (n - 1) == 0):
        raise ParameterError(name, n, f"a power of two from 2 to {most}")
    return n.bit_length() - 1


def read_contract(table: Sequence[Any], addr: Any) -> Any:
    """The word-level contract: ``table[addr]``."""
    return select(table, addr)


def read_stages(words: int, bits: int, addr: WordArg, table: str, out: WordArg,
                tag: str) -> tuple[tuple[Unit, ...], tuple[Unit, ...]]:
    """The two layers of units that read ``table[addr]`` into ``out`` (names are parameters)."""
    m = log2_exact("words", words, 1 << 16)
    a = bits_of(addr, m)
    o = bits_of(out, bits)
    hidden = tuple(
        relu_unit(f"{tag}[{j},{t}]", form) for j in range(words)
        for t, form in enumerate(match_forms(a, j, [f"{table}[{j}].bit[{t}]"
                                                    for t in range(bits)]))
    )
    outs = tuple(
        relu_unit(o[t], Affine.exact({f"{tag}[{j},{t}]": 1 for j in range(words)}))
        for t in range(bits)
    )
    return hidden, outs


@lru_cache(maxsize=8)  # pure: a computer places the same table twice
def make_read(words: int, bits: int) -> Gadget:
    """``D = MEM[A]`` for M = ``words`` words of ``bits`` bits."""
    if not 1 <= bits <= 64:
        raise ParameterError("bits", bits, "1 <= bits <= 64")
    m = log2_exact("words", words, 1 << 12)
    a = bit_names("A", m)
    inputs = tuple(a) + tuple(n for j in range(words) for n in bit_names(f"MEM[{j}]", bits))

    def stages() -> tuple[Stage, Stage]:
        hidden, outs = read_stages(words, bits, "A", "MEM", "D", "H")
        return Stage(hidden, "read: match"), Stage(outs, "read: sum")

    # the units are made when something proves or prints them (a computer places its own)
    net = DeferredNet(inputs, stages, f"read[words={words},bits={bits}]")
    names = tuple(f"D.bit[{t}]" for t in range(bits))

    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        mem = [word([x[f"MEM[{j}].bit[{t}]"] for t in range(bits)]) for j in range(words)]
        d = read_contract(mem, word([x[n] for n in a]))
        return {f"D.bit[{t}]": bit(d, t) for t in range(bits)}

    forms = tuple(Form(n, {n: 1}) for n in inputs)

    def form_spec(f: Mapping[str, Any]) -> dict[str, Any]:
        sel = word([f[n] for n in a])
        return {f"D.bit[{t}]": select([f[f"MEM[{j}].bit[{t}]"] for j in range(words)], sel)
                for t in range(bits)}

    domain = product(Word("A", m), *[Word(f"MEM[{j}]", bits) for j in range(words)])
    return Gadget("read", {"words": words, "bits": bits}, net, domain, spec, names,
                  # Many words: split on the address (each case prunes every other word);
                  # few words: one small check per output bit through the forms.
                  Factorisation(forms, form_spec, split=tuple(a) if words >= 16 else ()),
                  "one-hot match: exactly one H[j,t] can be nonzero")
