"""Address match and masked copy: the read primitive.

``make_match(addr)``: inputs an L-bit register ``X`` and a value bit ``v``; one ReLU layer with
one unit per index j < 2^L:

    O[j] = ReLU(v + e_j(X)),   e_j(X) = sum_i sigma_i(j) (2 X_i - 1) - L = -2 Hamming(X, j).

Why it is exact: e_j(X) = 0 when X = j, so O[j] = ReLU(v) = v; otherwise e_j(X) <= -2 and
v + e_j(X) <= -1, so O[j] = 0. Hence O[j] = v [X = j] for v in {0, 1}: a one-hot decoder gated
by v, which every read and write gadget uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verify.domains import Bits, Word, product
from verify.errors import ParameterError
from verify.layout import bit_names
from verify.ops import ite, word
from verify.symbolic import Stage, SymbolicNet, relu_unit

from .base import Gadget, match_form


def make_match(addr: int) -> Gadget:
    """The gated decoder O[j] = v [X = j] for an ``addr``-bit register X."""
    if not 1 <= addr <= 12:
        raise ParameterError("addr", addr, "1 <= addr <= 12")
    xs = bit_names("X", addr)
    outs = tuple(f"O[{j}]" for j in range(1 << addr))
    units = tuple(relu_unit(o, match_form(xs, j, {"v": 1})) for j, o in enumerate(outs))
    net = SymbolicNet(tuple(xs) + ("v",), (Stage(units, "match"),), f"match[addr={addr}]")

    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        reg = word([x[n] for n in xs])
        return {o: ite(reg == j, x["v"], 0) for j, o in enumerate(outs)}

    return Gadget("match", {"addr": addr}, net, product(Word("X", addr), Bits(("v",))), spec,
                  outs, exactness="e_j(X) = -2 Hamming(X, j): 0 on a match, <= -2 otherwise")
