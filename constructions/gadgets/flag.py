"""Flag: the branch flag f = [signed(DB - DA) <= 0] straight from the operands, depth 2.

With R = DB - DA mod 2^N (the subtract), f = [R < 0] + [R = 0] = R_(N-1) + [DB = DA]. Both terms
are read off affine forms of DA and DB, so the flag is ready one layer after the operands:

    layer 1: P[tau], Q[tau] = ReLU(S - tau + 1), ReLU(S - tau) for tau in (2^(N-1), 2^N, 3 2^(N-1)),
             S = sum_{j<N} 2^j (DB_j - DA_j) + 2^N     (the subtract's prefix sum of the sign bit)
             E+ = ReLU(x + 1), E0 = ReLU(x), E- = ReLU(x - 1),   x = sum_t 2^t (DB_t - DA_t)
    layer 2: F = ReLU((P - Q)[2^(N-1)] - (P - Q)[2^N] + (P - Q)[3 2^(N-1)] + E+ - 2 E0 + E-)

Why it is exact: the P - Q combination is bit N-1 of S, the sign bit R_(N-1) (as in the
subtract); for integer x, ReLU(x + 1) - 2 ReLU(x) + ReLU(x - 1) is 1 at x = 0 and 0 elsewhere, and
x = 0 exactly when DB = DA, when R = 0 and its sign bit is 0. So the value in the outer ReLU is
R_(N-1) + [R = 0] in {0, 1}.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verify.domains import Word, product
from verify.errors import ParameterError
from verify.layout import bit_names
from verify.obligation import Factorisation, Form
from verify.ops import bit, ite, word
from verify.symbolic import Stage, SymbolicNet, Unit, affine, relu_unit

from .base import Gadget
from .compare import compare_contract
from .subtract import bit_units, prefix_sum, subtract_contract


def flag_contract(da: Any, db: Any, bits: int) -> Any:
    """The word-level contract: the compare of the subtract, ``[signed(db - da) <= 0]``."""
    return compare_contract(subtract_contract(da, db, bits), bits)


def flag_stages(bits: int, a: str, b: str, flag: str,
                tag: str) -> tuple[tuple[Unit, ...], tuple[Unit, ...]]:
    """Layer 1 (sign thresholds, equality units) and layer 2 (the flag) over words a, b."""
    s_coeffs, s_const = prefix_sum(bits - 1, a, b, True)
    sign, combo = bit_units(f"{tag}.S", bits - 1, s_coeffs, s_const)
    x = {f"{b}.bit[{t}]": 1 << t for t in range(bits)}
    x.update({f"{a}.bit[{t}]": -(1 << t) for t in range(bits)})
    eq = tuple(relu_unit(f"{tag}.E{name}", affine(x, c))
               for name, c in (("+", 1), ("0", 0), ("-", -1)))
    merged = dict(combo)
    for u, w in zip(eq, (1, -2, 1)):
        merged[u.name] = w
    return sign + eq, (relu_unit(flag, affine(merged)),)


def make_flag(bits: int) -> Gadget:
    """F = [signed(DB - DA) <= 0] for ``bits``-bit two's complement words, depth 2."""
    if not 2 <= bits <= 128:
        raise ParameterError("bits", bits, "2 <= bits <= 128")
    first, second = flag_stages(bits, "DA", "DB", "F", "G")
    inputs = tuple(bit_names("DA", bits) + bit_names("DB", bits))
    net = SymbolicNet(inputs, (Stage(first, "flag: sign and equality"),
                               Stage(second, "flag: merge")), f"flag[bits={bits}]")

    def spec(x: Mapping[str, Any]) -> dict[str, Any]:
        da = word([x[f"DA.bit[{i}]"] for i in range(bits)])
        db = word([x[f"DB.bit[{i}]"] for i in range(bits)])
        return {"F": flag_contract(da, db, bits)}

    # Every layer-1 unit is affine in X = DB - DA (the sign sum S is X + 2^N).
    x = {f"DB.bit[{t}]": 1 << t for t in range(bits)}
    x.update({f"DA.bit[{t}]": -(1 << t) for t in range(bits)})

    def form_spec(f: Mapping[str, Any]) -> dict[str, Any]:
        return {"F": bit(f["X"] + (1 << bits), bits - 1) + ite(f["X"] == 0, 1, 0)}

    return Gadget("flag", {"bits": bits}, net, product(Word("DA", bits), Word("DB", bits)), spec,
                  ("F",), Factorisation((Form("X", x),), form_spec),
                  "sign bit of the prefix sum plus [DB = DA] by three ReLUs")
