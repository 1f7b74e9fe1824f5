"""The profiles written straight from formulas, fewer ReLU layers than ``compact``: ``three-layer``
and ``two-layer``, each followed by the fixed affine decode of ``compact`` (design notes in
docs/design/constructions.computer.direct.md).

Both rest on the gated threshold: for an integer S, a gate g in {0, 1} and an integer L with
S - tau + 1 <= L on every state that occurs,

    ReLU(S - tau + 1 + L (g - 1)) - ReLU(S - tau + L (g - 1)) = g [S >= tau],

since for g = 1 it is the step of DESIGN.md section 3 and for g = 0 both arguments are <= 0. So the
subtract's bit extraction is done once per memory word, gated by the write address (the write
happens in the layer that extracts the bits), and the flag's thresholds once per PC bit, gated by
the jump target's bit and by the incremented PC's bit (the branch happens there too):

    WV[j,t] = g_j R_t,  R_t = [S_t >= 2^t] - [S_t >= 2^(t+1)] + [S_t >= 3 2^t],
    S_t = sum_{u<=t} 2^u (DB_u - DA_u) + 2^(t+1)                      (the subtract's prefix sums)
    F = [x >= -2^(N-1)] - [x >= 1] + [x >= 2^(N-1)],   x = DB - DA     (= [signed(DB - DA) <= 0])
    CF_i = C_i F,  PF_i = PC1_i F,  P1_i = ReLU(PC1_i)

and the decode is MEM'[j,t] = MEM[j,t] - WU[j,t] + WV[j,t], PC'_i = P1_i + CF_i - PF_i with
WU[j,t] = MEM[j,t] g_j. Each L is the largest S - tau + 1 over the range the read lemma proves for
S (operand bits in {0, 1}, or operand prefix words in [0, 2^(t+1) - 1]).

``three-layer``: fetch (and the increment's thresholds); read, write-address match, copies of C
and PC1; gated thresholds. ``two-layer`` reads the operands straight from PC and the instruction
table: the gated prefix word

    HA[p,j,t] = ReLU(sum_{u<=t} 2^u MEM[j,u] + 2^t (e_p(PC) + e_j(INS[p].a)))

is MEM[j] mod 2^(t+1) when PC = p and the a field of slot p is j, and 0 otherwise (e <= -2 on a
mismatch and the word is below 2^(t+1)); summed over p and j it is DA mod 2^(t+1), which is all
the prefix sum S_t needs. Likewise G[p,j] = ReLU(1 + e_p(PC) + e_j(INS[p].b)) sums to the write
gate g_j, HC[p,i] = ReLU(INS[p].c_i + e_p(PC)) to C_i. Width M N K (twice) in the first layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from constructions.gadgets.base import match_terms
from constructions.gadgets.increment import increment_form
from constructions.machine.subleq import MachineSize
from verify.layout import Layout, bit_names
from verify.network import Layer, Network

from .model import LayerPlan

Row = tuple[dict[str, int], int]
"""An affine form: (coefficients by name, constant)."""
Rows = dict[str, Row]

DIRECT_LABELS: dict[str, tuple[str, ...]] = {
    "three-layer": ("fetch; increment: thresholds", "read: match; write: gate, address",
                    "gated thresholds: write, select", "decode (affine)"),
    "two-layer": ("gated read from PC and table", "gated thresholds: write, select",
                  "decode (affine)"),
}
"""The label of each layer of the profiles written from formulas."""


def _acc(into: dict[str, int], coeffs: Mapping[str, int], scale: int = 1) -> None:
    for n, c in coeffs.items():
        v = into.get(n, 0) + scale * c
        if v:
            into[n] = v
        else:
            into.pop(n, None)


def combine(*parts: tuple[int, Row | Mapping[str, int]]) -> Row:
    """``sum scale * form``; a bare mapping is a form with constant 0."""
    coeffs: dict[str, int] = {}
    const = 0
    for scale, form in parts:
        c, b = (form, 0) if isinstance(form, Mapping) else form
        _acc(coeffs, c, scale)
        const += scale * b
    return coeffs, const


def substitute(form: Row, defs: Mapping[str, Row]) -> Row:
    """The form with every name of ``defs`` replaced by its definition (other names kept)."""
    coeffs: dict[str, int] = {}
    const = form[1]
    for n, c in form[0].items():
        if n in defs:
            _acc(coeffs, defs[n][0], c)
            const += c * defs[n][1]
        else:
            _acc(coeffs, {n: c})
    return coeffs, const


def top(form: Row, ranges: Mapping[str, tuple[int, int]]) -> int:
    """The largest value of a form whose names lie in their ``ranges``."""
    return form[1] + sum(c * ranges[n][1 if c > 0 else 0] for n, c in form[0].items())


def match(addr: Sequence[str], j: int, scale: int = 1) -> Row:
    """``scale * e_j(addr)``: 0 when the register holds j, else <= -2 scale."""
    coeffs, const = match_terms(addr, j)
    return {n: scale * c for n, c in coeffs.items()}, scale * const


def gated_steps(prefix: str, s: Row, taus: Sequence[tuple[int, int]], gate: Row, big: int,
                rows: Rows) -> dict[str, int]:
    """Rows ``prefix[tau]+`` and ``prefix[tau]-`` of ``g [S >= tau]`` for each (sign, tau) into
    ``rows``; returns the combination ``sum sign g [S >= tau]`` as weights over them."""
    combo: dict[str, int] = {}
    for sign, tau in taus:
        for tag, shift in (("+", 1), ("-", 0)):
            name = f"{prefix}[{tau}]{tag}"
            rows[name] = combine((1, s), (big, gate), (1, ({}, shift - tau - big)))
            combo[name] = sign if tag == "+" else -sign
    return combo


def _increment(pc: Sequence[str], rows: Rows) -> list[Row]:
    """The increment's thresholds into ``rows``; returns PC1_i as forms over them."""
    out: list[Row] = []
    for i in range(len(pc)):
        t = increment_form(i, "PC")
        combo: dict[str, int] = {}
        for sign, tau in ((1, 1 << i), (-1, 1 << (i + 1))):
            for tag, shift in (("+", 1), ("-", 0)):
                name = f"INC[{i}][{tau}]{tag}"
                rows[name] = (dict(t[0]), t[1] + shift - tau)
                combo[name] = sign if tag == "+" else -sign
        out.append((combo, 0))
    return out


def _copies(names: Sequence[str], rows: Rows) -> None:
    for n in names:
        rows[n] = ({n: 1}, 0)


def _start(size: MachineSize) -> tuple[list[str], list[str], list[str], Rows]:
    """The MEM, INS and PC coordinates, and a first layer holding copies of MEM and INS."""
    mem = [x for j in range(size.words) for x in bit_names(f"MEM[{j}]", size.bits)]
    ins = [x for p in range(size.slots) for x in bit_names(f"INS[{p}]", size.ins_bits)]
    first: Rows = {}
    _copies(mem + ins, first)
    return mem, ins, bit_names("PC", size.pc_bits), first


def _last_layers(size: MachineSize, s_form: Callable[[int], Row], x_form: Row,
                 ranges: Mapping[str, tuple[int, int]], defs: Mapping[str, Row],
                 gates: Sequence[Row], targets: Sequence[Row], fallthrough: Sequence[Row],
                 carried: Sequence[str], wu: Mapping[str, Row]) -> tuple[Rows, Rows]:
    """The gated-threshold layer and the affine decode, from the operand forms ``s_form(t)``
    (S_t) and ``x_form`` (DB - DA) over abstract names with proved ``ranges`` and their
    definitions ``defs`` over the previous layer; ``gates[j]``, ``targets[i]`` (C_i) and
    ``fallthrough[i]`` (PC1_i) are forms over the previous layer, every one a bit on the states
    that occur; ``carried`` are copied; ``wu`` are the rows of WU[j,t] (empty when the previous
    layer already holds them, and then they are copied)."""
    n, k = size.bits, size.pc_bits
    rows: Rows = {}
    _copies(carried, rows)
    rows.update(wu)
    decode: Rows = {}
    for t in range(n):
        s = s_form(t)
        taus = ((1, 1 << t), (-1, 1 << (t + 1)), (1, 3 << t))
        big = top(s, ranges) - (1 << t) + 1  # S - tau + 1 <= big for every tau
        s_sub = substitute(s, defs)
        for j in range(size.words):
            combo = gated_steps(f"WV[{j}].bit[{t}]", s_sub, taus, gates[j], big, rows)
            mem, w = f"MEM[{j}].bit[{t}]", f"WU[{j}].bit[{t}]"
            decode[mem] = combine((1, {mem: 1}), (-1, {w: 1}), (1, combo))
    ins = [x for p in range(size.slots) for x in bit_names(f"INS[{p}]", size.ins_bits)]
    _copies(ins, decode)
    taus = ((1, -(1 << (n - 1))), (-1, 1), (1, 1 << (n - 1)))
    big = top(x_form, ranges) + (1 << (n - 1)) + 1
    x_sub = substitute(x_form, defs)
    for i in range(k):
        cf = gated_steps(f"CF[{i}]", x_sub, taus, targets[i], big, rows)
        pf = gated_steps(f"PF[{i}]", x_sub, taus, fallthrough[i], big, rows)
        rows[f"P1[{i}]"] = fallthrough[i]
        decode[f"PC.bit[{i}]"] = combine((1, {f"P1[{i}]": 1}), (1, cf), (-1, pf))
    return rows, decode


def three_layer_rows(size: MachineSize) -> list[Rows]:
    """The rows of the three ReLU layers and the decode of ``three-layer``."""
    n, m, k, q = size.bits, size.addr_bits, size.pc_bits, size.ins_bits
    mem, ins, pc, l1 = _start(size)
    for p in range(size.slots):
        ep = match(pc, p)
        for i in range(q):
            l1[f"HI[{p}].bit[{i}]"] = combine((1, {f"INS[{p}].bit[{i}]": 1}), (1, ep))
    pc1 = _increment(pc, l1)

    def field(lo: int, width: int) -> list[Row]:
        return [({f"HI[{p}].bit[{lo + i}]": 1 for p in range(size.slots)}, 0)
                for i in range(width)]

    a, b, c = field(0, m), field(m, m), field(2 * m, k)
    an, bn = bit_names("A", m), bit_names("B", m)
    fetched = dict(zip(an + bn, a + b))
    l2: Rows = {}
    _copies(mem + ins, l2)
    for j in range(size.words):
        ea, eb = substitute(match(an, j), fetched), substitute(match(bn, j), fetched)
        for t in range(n):
            x = f"MEM[{j}].bit[{t}]"
            l2[f"HA[{j}].bit[{t}]"] = combine((1, {x: 1}), (1, ea))
            l2[f"HB[{j}].bit[{t}]"] = combine((1, {x: 1}), (1, eb))
            l2[f"WU[{j}].bit[{t}]"] = combine((1, {x: 1}), (1, eb))
        l2[f"G[{j}]"] = combine((1, ({}, 1)), (1, eb))
    for i in range(k):
        l2[f"CC[{i}]"] = c[i]
        l2[f"PP[{i}]"] = pc1[i]
    defs: dict[str, Row] = {}
    for t in range(n):
        defs[f"DA.bit[{t}]"] = ({f"HA[{j}].bit[{t}]": 1 for j in range(size.words)}, 0)
        defs[f"DB.bit[{t}]"] = ({f"HB[{j}].bit[{t}]": 1 for j in range(size.words)}, 0)
    ranges = dict.fromkeys(defs, (0, 1))
    wu = [f"WU[{j}].bit[{t}]" for j in range(size.words) for t in range(n)]
    l3, decode = _last_layers(
        size, lambda t: _bit_prefix_sum(t), _bit_prefix_sum(n - 1, offset=False), ranges, defs,
        [({f"G[{j}]": 1}, 0) for j in range(size.words)], [({f"CC[{i}]": 1}, 0) for i in range(k)],
        [({f"PP[{i}]": 1}, 0) for i in range(k)], mem + ins + wu, {})
    return [l1, l2, l3, decode]


def _bit_prefix_sum(t: int, offset: bool = True) -> Row:
    """S_t = sum_{u<=t} 2^u (DB_u - DA_u) + 2^(t+1) (without the offset: DB - DA mod 2^(t+1)
    unwrapped, x for t = N - 1)."""
    coeffs: dict[str, int] = {}
    for u in range(t + 1):
        coeffs[f"DB.bit[{u}]"] = 1 << u
        coeffs[f"DA.bit[{u}]"] = -(1 << u)
    return coeffs, (1 << (t + 1)) if offset else 0


def two_layer_rows(size: MachineSize) -> list[Rows]:
    """The rows of the two ReLU layers and the decode of ``two-layer``."""
    n, m, k, q = size.bits, size.addr_bits, size.pc_bits, size.ins_bits
    mem, ins, pc, l1 = _start(size)
    pairs = [(p, j) for p in range(size.slots) for j in range(size.words)]
    for p, j in pairs:
        slot = bit_names(f"INS[{p}]", q)
        for t in range(n):
            word = {f"MEM[{j}].bit[{u}]": 1 << u for u in range(t + 1)}
            for name, fld in (("HA", slot[:m]), ("HB", slot[m:2 * m])):
                l1[f"{name}[{p},{j}].w[{t}]"] = combine(
                    (1, word), (1, match(pc, p, 1 << t)), (1, match(fld, j, 1 << t)))
        l1[f"G[{p},{j}]"] = combine((1, ({}, 1)), (1, match(pc, p)), (1, match(slot[m:2 * m], j)))
    for p in range(size.slots):
        slot = bit_names(f"INS[{p}]", q)
        for i in range(k):
            l1[f"HC[{p}].bit[{i}]"] = combine((1, {slot[2 * m + i]: 1}), (1, match(pc, p)))
    pc1 = _increment(pc, l1)
    defs: dict[str, Row] = {}
    ranges: dict[str, tuple[int, int]] = {}
    for t in range(n):
        for name in ("DA", "DB"):
            defs[f"{name}.w[{t}]"] = ({f"H{name[1]}[{p},{j}].w[{t}]": 1 for p, j in pairs}, 0)
            ranges[f"{name}.w[{t}]"] = (0, (2 << t) - 1)

    def s_form(t: int) -> Row:
        return {f"DB.w[{t}]": 1, f"DA.w[{t}]": -1}, 2 << t

    gates = [({f"G[{p},{j}]": 1 for p in range(size.slots)}, 0) for j in range(size.words)]
    wu: Rows = {}
    for j in range(size.words):
        for t in range(n):
            wu[f"WU[{j}].bit[{t}]"] = combine((1, {f"MEM[{j}].bit[{t}]": 1}), (1, gates[j]),
                                              (1, ({}, -1)))
    targets = [({f"HC[{p}].bit[{i}]": 1 for p in range(size.slots)}, 0) for i in range(k)]
    l2, decode = _last_layers(size, s_form, ({f"DB.w[{n - 1}]": 1, f"DA.w[{n - 1}]": -1}, 0),
                              ranges, defs, gates, targets, pc1, mem + ins, wu)
    return [l1, l2, decode]


ROWS: dict[str, Callable[[MachineSize], list[Rows]]] = {
    "three-layer": three_layer_rows, "two-layer": two_layer_rows}


def registers(profile: str, size: MachineSize) -> tuple[tuple[dict[str, int], ...], ...]:
    """The address registers the precision analysis may use to bound the matches: PC, and in
    ``three-layer`` the fetched a and b fields as sums of the fetch units."""
    pc = tuple({n: 1} for n in bit_names("PC", size.pc_bits))
    if profile != "three-layer":
        return (pc,)
    m = size.addr_bits
    fields = tuple(tuple({f"HI[{p}].bit[{lo + i}]": 1 for p in range(size.slots)}
                         for i in range(m)) for lo in (0, m))
    return (pc, *fields)


def direct_network(profile: str, size: MachineSize, state: Sequence[str],
                   label: str) -> tuple[Network, tuple[LayerPlan, ...]]:
    """The network of a profile written from formulas: its ReLU layers, then the affine decode
    onto the ``state`` coordinates in their order; and one plan per layer."""
    stages = ROWS[profile](size)
    layers: list[Layer] = []
    prev = Layout(state)
    for li, (rows, text) in enumerate(zip(stages, DIRECT_LABELS[profile])):
        last = li == len(stages) - 1
        out = Layout(state) if last else Layout(rows)
        layers.append(Layer.from_rows(prev, out, rows, relu=not last, label=text))
        prev = out
    plans = tuple(LayerPlan(text, ()) for text in DIRECT_LABELS[profile])
    return Network(tuple(layers), label), plans
