"""Write: store the word R at address B of a table of M words, every other word unchanged.

Layer 1 (per word j, bit t):

    K[j,t]  = ReLU(MEM[j].bit[t])                 (pass the old bit on)
    WU[j,t] = ReLU(MEM[j].bit[t] + e_j(B))        (= MEM[j].bit[t] [B = j])
    WV[j,t] = ReLU(R.bit[t] + e_j(B))             (= R.bit[t] [B = j])

Layer 2:

    MEM'[j].bit[t] = ReLU(K[j,t] - WU[j,t] + WV[j,t])

Why it is exact: for j != B the two gated terms vanish and the bit is kept; for j = B the old
bit cancels and R.bit[t] takes its place. The value inside the ReLU is in {0, 1} in both cases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from verify.domains import Word, product
from verify.errors import ParameterError
from verify.layout import bit_names
from verify.obligation import Factorisation, Form
from verify.ops import bit, ite, store, word
from verify.symbolic import Affine, DeferredNet, Stage, Unit, relu_unit

from .base import Gadget, WordArg, bits_of, match_forms
from .read import log2_exact


def write_contract(table: Sequence[Any], addr: Any, value: Any) -> list[Any]:
    """The word-level contract: ``table`` with word ``addr`` replaced by ``value``."""
    return store(table, addr, value)


def write_stages(words: int, bits: int, addr: WordArg, table: str, value: WordArg, out: str,
                 tag: str, keep: bool = True) -> tuple[tuple[Unit, ...], tuple[Unit, ...]]:
    """Layer-1 and layer-2 units of the write; with ``keep=False`` the caller passes
    ``table`` through itself (under the same names) and K[j,t] is not emitted."""
    m = log2_exact("words", words, 1 << 16)
    b = bits_of(addr, m)
    val = bits_of(value, bits)
    first: list[Unit] = []
    second: list[Unit] = []
    for j in range(words):
        olds = [f"{table}[{j}].bit[{t}]" for t in range(bits)]
        gated = match_forms(b, j, olds + list(val))  # WU forms, then WV forms
        for t in range(bits):
            old = olds[t]
            kept = f"{tag}.K[{j},{t}]" if keep else old
            if keep:
                first.append(relu_unit(kept, Affine.exact({old: 1})))
            wu, wv = f"{tag}.WU[{j},{t}]", f"{tag}.WV[{j},{t}]"
            first.append(relu_unit(wu, gated[t]))
            first.append(relu_unit(wv, gated[bits + t]))
            second.append(relu_unit(f"{out}[{j}].bit[{t}]",
                                    Affine.exact({kept: 1, wu: -1, wv: 1})))
    return tuple(first), tuple(second)


@lru_cache(maxsize=8)  # pure: a computer places the same table twice
def make_write(words: int, bits: int) -> Gadget:
    """``MEM'[j] = R if j == B else MEM[j]``."""
    if not 1 <= bits <= 64:
        raise ParameterError("bits", bits, "1 <= bits <= 64")
    m = log2_exact("words", words, 1 << 12)
    b = bit_names("B", m)
    inputs = (tuple(b) + tuple(bit_names("R", bits))
              + tuple(n for j in range(words) for n in bit_names(f"MEM[{j}]", bits)))

    def stages() -> tuple[Stage, Stage]:
        first, second = write_stages(words, bits, "B", "MEM", "R", "MEM'", "W")
        return Stage(first, "write: gate"), Stage(second, "write: merge")

    # the units are made when something proves or prints them (a computer places its own)
    net = DeferredNet(inputs, stages, f"write[words={words},bits={bits}]")
    outs = tuple(f"MEM'[{j}].bit[{t}]" for j in range(words) for t in range(bits))

    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        addr = word([x[n] for n in b])
        r = word([x[f"R.bit[{t}]"] for t in range(bits)])
        old = [word([x[f"MEM[{j}].bit[{t}]"] for t in range(bits)]) for j in range(words)]
        out: dict[str, Any] = {}
        for j, new in enumerate(write_contract(old, addr, r)):
            for t in range(bits):
                out[f"MEM'[{j}].bit[{t}]"] = bit(new, t)
        return out

    def form_spec(f: Mapping[str, Any]) -> dict[str, Any]:
        addr = word([f[n] for n in b])
        return {f"MEM'[{j}].bit[{t}]": ite(addr == j, f[f"R.bit[{t}]"], f[f"MEM[{j}].bit[{t}]"])
                for j in range(words) for t in range(bits)}

    domain = product(Word("B", m), Word("R", bits),
                     *[Word(f"MEM[{j}]", bits) for j in range(words)])
    return Gadget("write", {"words": words, "bits": bits}, net, domain, spec, outs,
                  Factorisation(tuple(Form(n, {n: 1}) for n in inputs), form_spec,
                                split=tuple(b) if words >= 16 else ()),
                  "old bit kept off the address; swapped for R.bit[t] at it")
