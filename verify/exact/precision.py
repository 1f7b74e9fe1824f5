"""Precision certificates: how large can any value of an integer ReLU network get, and in which
floating-point formats is it therefore computed exactly.

Design notes: docs/design/verify.exact.precision.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from verify.errors import ParameterError, ShapeError
from verify.exact.limits import INT64_LIMIT, LARGEST, significand_bits
from verify.network import Layer, Network

Register = Sequence[Mapping[str, int]]
"""An address register: its bit forms, least significant first, each ``{input name: weight}``."""

QUANTITIES = ("pre", "natural", "any_order", "product", "weight")

FORMATS: dict[str, tuple[int, float]] = {
    fmt: (significand_bits(fmt), LARGEST[fmt]) for fmt in ("float32", "bfloat16", "float16")}
"""Significand bits p (the implicit bit included) and the largest finite value of each format."""


@dataclass(frozen=True)
class LayerBound:
    """The bounds of one layer: each quantity's largest value over its units, and where."""

    label: str
    pre: int
    natural: int
    any_order: int
    product: int
    weight: int
    where: Mapping[str, str] = field(default_factory=dict)
    guarded: int = 0  # units of the layer's output with a proved guard
    formed: int = 0  # units of the layer's output that are ReLU(F + b) of a shared form


@dataclass(frozen=True)
class Certificate:
    """Per-layer bounds of a network over its inputs (from :func:`analyse` or :func:`measure`)."""

    network: str
    layers: tuple[LayerBound, ...]

    def largest(self, quantity: str) -> int:
        """The largest value of ``quantity`` over every layer."""
        return max(getattr(b, quantity) for b in self.layers)

    def where(self, quantity: str) -> tuple[int, str]:
        """(layer index, unit) where ``quantity`` is largest."""
        top = self.largest(quantity)
        i = next(i for i, b in enumerate(self.layers) if getattr(b, quantity) == top)
        return i, self.layers[i].where.get(quantity, "")

    def needed(self, order: str = "any") -> int:
        """The magnitude every exact format must hold: ``any`` order of accumulation, or the
        ``natural`` one (which also needs every product)."""
        if order == "any":
            return max(self.largest("any_order"), self.largest("weight"))
        if order == "natural":
            return max(self.largest("natural"), self.largest("product"), self.largest("weight"))
        raise ParameterError("order", order, "'any' or 'natural'")

    def exact_in(self, fmt: str, order: str = "any") -> bool:
        """Whether the format (:data:`FORMATS`) executes the network exactly."""
        if fmt not in FORMATS:
            raise ParameterError("format", fmt, f"one of {', '.join(FORMATS)}")
        return self.needed(order) <= 1 << FORMATS[fmt][0]


@dataclass
class _Facts:
    """What is proved about the coordinates a layer reads."""

    lo: list[int]
    hi: list[int]
    guard: list[tuple[int, int] | None]  # (register key, j)
    form: list[int | None]  # form id
    offset: list[int]  # the bias b_u of a form member ReLU(F + b_u)
    forms: dict[int, tuple[int, int]]  # form id -> (min F, max F)


class _Sum:
    """Running bounds of a partial sum ``b + w_1 x_1 + ...``, term by term."""

    __slots__ = ("facts", "top", "bottom", "mag", "natural", "product", "blocks", "best",
                 "members", "fval")

    def __init__(self, facts: _Facts, bias: int) -> None:
        self.facts = facts
        self.top = self.bottom = bias
        self.mag = self.natural = abs(bias)
        self.product = 0
        self.blocks: dict[int, dict[int, list[int]]] = {}
        self.best: dict[int, list[int]] = {}
        self.members: dict[int, list[tuple[int, int]]] = {}
        self.fval: dict[int, tuple[int, int, int]] = {}

    def add(self, c: int, w: int) -> None:
        f = self.facts
        lo, hi = f.lo[c], f.hi[c]
        g = f.form[c]
        if g is not None:
            members = self.members.setdefault(g, [])
            members.append((w, f.offset[c]))
            new = _form_range(members, f.forms[g])
            old = self.fval.get(g, (0, 0, 0))
            self.fval[g] = new
            self._shift(new[0] - old[0], new[1] - old[1], new[2] - old[2])
        elif f.guard[c] is not None:
            key, j = f.guard[c]  # type: ignore[misc]
            lo, hi = min(lo, 0), max(hi, 0)
            block = self.blocks.setdefault(key, {}).setdefault(j, [0, 0, 0])
            block[0] += max(w * lo, w * hi)
            block[1] += min(w * lo, w * hi)
            block[2] += abs(w) * max(-lo, hi)
            best = self.best.setdefault(key, [0, 0, 0])
            new = (max(best[0], block[0]), min(best[1], block[1]), max(best[2], block[2]))
            self._shift(new[0] - best[0], new[1] - best[1], new[2] - best[2])
            best[:] = new
        else:
            self._shift(max(w * lo, w * hi), min(w * lo, w * hi), abs(w) * max(-lo, hi))
        self.product = max(self.product, abs(w) * max(-lo, hi))
        self.natural = max(self.natural, self.top, -self.bottom)

    def _shift(self, top: int, bottom: int, mag: int) -> None:
        self.top += top
        self.bottom += bottom
        self.mag += mag


def _form_range(members: list[tuple[int, int]], span: tuple[int, int]) -> tuple[int, int, int]:
    """(max, min, max magnitude) of ``sum w ReLU(F + b)`` over integers F in ``span``."""
    lo, hi = span
    points = {lo, hi} | {-b for _, b in members if lo <= -b <= hi}
    values = [sum(w * max(x + b, 0) for w, b in members) for x in points]
    return max(values), min(values), sum(abs(w) * max(hi + b, 0) for w, b in members)


def _bound(entries: Sequence[tuple[int, int]], bias: int, facts: _Facts) -> _Sum:
    acc = _Sum(facts, bias)
    for c, w in entries:
        acc.add(c, w)
    return acc


def _rows(layer: Layer) -> list[list[tuple[int, int]]]:
    out: list[list[tuple[int, int]]] = [[] for _ in range(len(layer.outputs))]
    for r, c, v in zip(layer.rows, layer.cols, layer.vals):
        out[r].append((c, v))
    return out


_Regs = tuple[dict[int, tuple[int, int, int, int]], dict[int, int]]


def _registers_at(layer: Layer, registers: Sequence[Register], facts: _Facts,
                  key0: int) -> _Regs:
    """Input column -> (register key, bit, weight in the bit's form, form size), for every
    register whose forms the layer can read and whose bits are proved to lie in {0, 1}; and
    the number of bits of each register key."""
    index = {n: i for i, n in enumerate(layer.inputs.names)}
    out: dict[int, tuple[int, int, int, int]] = {}
    nbits: dict[int, int] = {}
    for r, reg in enumerate(registers):
        if not all(n in index for form in reg for n in form):
            continue
        cols = [{index[n]: w for n, w in form.items()} for form in reg]
        if any(c in out for form in cols for c in form):
            continue  # overlapping registers: use the first only
        ok = True
        for form in cols:
            acc = _bound(sorted(form.items()), 0, facts)
            ok = ok and acc.bottom >= 0 and acc.top <= 1
        if ok:
            nbits[key0 + r] = len(cols)
            for i, form in enumerate(cols):
                for c, w in form.items():
                    out[c] = (key0 + r, i, w, len(form))
    return out, nbits


def _guard(row: list[tuple[int, int]], bias: int, facts: _Facts,
           registers: _Regs) -> tuple[int, int] | None:
    """(register key, j) when the row is ``rest + e_j(R)`` with ``ReLU`` zero unless R = j."""
    regs, nbits = registers
    touched = {regs[c][0] for c, _ in row if c in regs}
    for key in sorted(touched):
        ratio: dict[int, set[Any]] = {}
        count: dict[int, int] = {}
        size: dict[int, int] = {}
        rest: list[tuple[int, int]] = []
        for c, w in row:
            if c in regs and regs[c][0] == key:
                _, i, fw, n = regs[c]
                ratio.setdefault(i, set()).add(w / fw if w % fw else w // fw)
                count[i] = count.get(i, 0) + 1
                size[i] = n
            else:
                rest.append((c, w))
        bits = nbits[key]
        coeff = []
        for i in range(bits):
            vals = ratio.get(i, set())
            if count.get(i, 0) != size.get(i, -1) or len(vals) != 1:
                break
            v = next(iter(vals))
            if v not in (2, -2):
                break
            coeff.append(int(v))
        if len(coeff) != bits:
            continue
        top = _bound(rest, bias, facts).top + sum(max(v, 0) for v in coeff)
        if top - 2 <= 0:
            return key, sum(1 << i for i, v in enumerate(coeff) if v > 0)
    return None


def analyse(network: Network, box: Sequence[tuple[int, int]] | None = None,
            registers: Sequence[Register] = ()) -> Certificate:
    """Proved upper bounds of every quantity (see the module docstring), per layer.

    ``box`` gives each input's integer range (default ``[0, 1]``); ``registers`` are the address
    registers whose matches gate units (each used in every layer that can read all its forms).
    """
    width = len(network.inputs)
    box = [(0, 1)] * width if box is None else [(int(a), int(b)) for a, b in box]
    if len(box) != width:
        raise ShapeError(f"network {network.name!r}: box has {len(box)} intervals for "
                         f"{width} inputs")
    facts = _Facts([a for a, _ in box], [b for _, b in box], [None] * width, [None] * width,
                   [0] * width, {})
    out: list[LayerBound] = []
    next_form = 0
    for li, layer in enumerate(network.layers):
        regs = _registers_at(layer, registers, facts, li * len(registers)) if layer.relu \
            else ({}, {})
        rows = _rows(layer)
        n = len(layer.outputs)
        new = _Facts([0] * n, [0] * n, [None] * n, [None] * n, [0] * n, dict(facts.forms))
        best = dict.fromkeys(QUANTITIES[:4], -1)
        where: dict[str, str] = {}
        by_row: dict[tuple[tuple[int, int], ...], list[int]] = {}
        for r, row in enumerate(rows):
            b = layer.bias[r]
            acc = _bound(row, b, facts)
            lo, hi = acc.bottom, acc.top
            for q, v in (("pre", max(hi, -lo)), ("natural", acc.natural),
                         ("any_order", acc.mag), ("product", acc.product)):
                if v > best[q]:
                    best[q], where[q] = v, layer.outputs.names[r]
            new.lo[r], new.hi[r] = (max(lo, 0), max(hi, 0)) if layer.relu else (lo, hi)
            if len(row) == 1 and row[0][1] == 1 and b == 0 and (not layer.relu
                                                                or facts.lo[row[0][0]] >= 0):
                c = row[0][0]  # a copy: the same value, so the same facts
                new.guard[r], new.form[r], new.offset[r] = facts.guard[c], facts.form[c], \
                    facts.offset[c]
                continue
            if layer.relu:
                new.guard[r] = _guard(row, b, facts, regs) if regs[0] else None
                if row:
                    by_row.setdefault(tuple(row), []).append(r)
        if layer.relu:
            for row_key, members in by_row.items():
                if len(members) < 2:
                    continue
                span = _bound(row_key, 0, facts)
                new.forms[next_form] = (span.bottom, span.top)
                for r in members:
                    new.form[r], new.offset[r] = next_form, layer.bias[r]
                next_form += 1
        weight = max([abs(v) for v in layer.vals] + [abs(v) for v in layer.bias] + [0])
        out.append(LayerBound(layer.label, best["pre"], best["natural"], best["any_order"],
                              best["product"], weight, where,
                              sum(g is not None for g in new.guard),
                              sum(g is not None for g in new.form)))
        facts = new
    return Certificate(network.name, tuple(out))


# ---------------------------------------------------------------------------- exact measurement
@dataclass(frozen=True)
class Measured:
    """The quantities evaluated exactly on a batch of inputs: the per-layer maxima (a
    :class:`Certificate` whose bounds are attained) and, per quantity, the input attaining it."""

    certificate: Certificate
    witness: Mapping[str, int]  # quantity -> row of the batch


def _layer_quantities(layer: Layer, x: np.ndarray) -> tuple[dict[str, np.ndarray],
                                                            dict[str, np.ndarray]]:
    """Per input row, the largest value of each quantity over the layer's units, and the unit."""
    batch = x.shape[0]
    n_out = len(layer.outputs)
    rows = np.array(layer.rows, dtype=np.int64)
    cols = np.array(layer.cols, dtype=np.int64)
    vals = np.array(layer.vals, dtype=np.int64)
    bias = np.array(layer.bias, dtype=np.int64)
    order = np.lexsort((np.arange(rows.size), rows))  # stored order within each row
    rows, cols, vals = rows[order], cols[order], vals[order]
    counts = np.bincount(rows, minlength=n_out)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    best = {q: np.full(batch, -1, dtype=np.int64) for q in QUANTITIES[:4]}
    unit = {q: np.zeros(batch, dtype=np.int64) for q in QUANTITIES[:4]}

    chunk = max(1, (1 << 22) // max(1, rows.size))
    for s in range(0, batch, chunk):
        xs = x[s:s + chunk]
        sl = slice(s, s + xs.shape[0])
        terms = xs[:, cols] * vals  # (chunk, nnz), in stored order
        pre = np.tile(bias, (xs.shape[0], 1))
        mag = np.tile(np.abs(bias), (xs.shape[0], 1))
        np.add.at(pre.T, rows, terms.T)
        np.add.at(mag.T, rows, np.abs(terms).T)
        prod = np.zeros_like(pre)
        np.maximum.at(prod.T, rows, np.abs(terms).T)
        nat = np.abs(np.tile(bias, (xs.shape[0], 1)))
        if rows.size:
            csum = np.cumsum(terms, axis=1)
            before = np.where(starts > 0, csum[:, np.maximum(starts - 1, 0)], 0)
            partial = csum - before[:, rows] + bias[rows]
            np.maximum.at(nat.T, rows, np.abs(partial).T)
        for q, v in (("pre", np.abs(pre)), ("natural", nat), ("any_order", mag),
                     ("product", prod)):
            sub_best, sub_unit = best[q][sl], unit[q][sl]
            arg = v.argmax(axis=1)
            val = v[np.arange(v.shape[0]), arg]
            better = val > sub_best
            sub_best[better], sub_unit[better] = val[better], arg[better]
    return best, unit


def measure(network: Network, x: Any) -> Measured:
    """The quantities evaluated exactly (int64) on every row of ``x`` (batch, inputs).

    The caller keeps the values inside int64: a network whose :meth:`analyse` bound is below
    2^62 cannot overflow here.
    """
    arr = np.asarray(x, dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != len(network.inputs) or arr.shape[0] == 0:
        raise ShapeError(f"network {network.name!r}: measure needs a non-empty batch of shape "
                         f"(batch, {len(network.inputs)}), got {arr.shape}")
    layers: list[LayerBound] = []
    top = dict.fromkeys(QUANTITIES[:4], -1)
    witness: dict[str, int] = {}
    for layer in network.layers:
        best, unit = _layer_quantities(layer, arr)
        where = {}
        values = {}
        for q in QUANTITIES[:4]:
            i = int(best[q].argmax())
            values[q] = int(best[q][i])
            where[q] = layer.outputs.names[int(unit[q][i])]
            if values[q] > top[q]:
                top[q], witness[q] = values[q], i
        weight = max([abs(v) for v in layer.vals] + [abs(v) for v in layer.bias] + [0])
        layers.append(LayerBound(layer.label, values["pre"], values["natural"],
                                 values["any_order"], values["product"], weight, where))
        pre = np.asarray(layer.csr @ arr.T).T + layer.bias64
        arr = np.maximum(pre, 0) if layer.relu else pre
    return Measured(Certificate(network.name, tuple(layers)), witness)


# ---------------------------------------------------------------------------- rounded forward
def round_significand(x: np.ndarray, bits: int, largest: float | None = None) -> np.ndarray:
    """Integers rounded to ``bits`` significant bits, to nearest, ties to even (IEEE).

    Exact in int64 (no float64 step): this is how a float format with a ``bits``-bit
    significand stores an integer. A magnitude above ``largest`` (the format's largest finite
    value) becomes +-2^62, standing for infinity.
    """
    a = np.abs(x).astype(np.int64)
    out = a.copy()
    big = a > (1 << bits)
    if big.any():
        v = a[big]
        e = np.frexp(v.astype(np.float64))[1].astype(np.int64)  # bit length, up to one too many
        e -= (np.left_shift(np.int64(1), e - 1) > v).astype(np.int64)
        shift = e - bits
        q = v >> shift
        rem = v - (q << shift)
        half = np.left_shift(np.int64(1), shift - 1)
        q += ((rem > half) | ((rem == half) & (q & 1 == 1))).astype(np.int64)
        out[big] = q << shift
    if largest is not None:
        out[out > largest] = INT64_LIMIT  # beyond the format: an overflow marker
    return np.where(x < 0, -out, out)


def forward_rounded(network: Network, x: Any, fmt: str) -> np.ndarray:
    """The network in a float format, emulated: the natural order (bias first, then each row's
    entries in stored order), every product and every sum rounded to the format's significand
    (:func:`round_significand`), then ``ReLU``. Not exact in general: the point is to show where
    it is wrong. Inputs and weights are integers; a rounded integer is an integer."""
    if fmt not in FORMATS:
        raise ParameterError("format", fmt, f"one of {', '.join(FORMATS)}")
    bits, largest = FORMATS[fmt]
    arr = np.asarray(x, dtype=np.int64)

    def rnd(v: np.ndarray) -> np.ndarray:
        return round_significand(v, bits, largest)

    for layer in network.layers:
        acc = np.tile(rnd(np.array(layer.bias, dtype=np.int64)), (arr.shape[0], 1))
        for rows, cols, vals in _by_position(layer):
            acc[:, rows] = rnd(acc[:, rows] + rnd(arr[:, cols] * rnd(vals)))
        arr = np.maximum(acc, 0) if layer.relu else acc
    return arr


def forward_float32(network: Network, x: Any) -> np.ndarray:
    """The network in IEEE float32 (numpy), in the natural order of :func:`forward_rounded`:
    the reference the emulation is checked against. Returns the values as int64."""
    arr = np.asarray(x).astype(np.float32)
    for layer in network.layers:
        acc = np.tile(np.array(layer.bias, dtype=np.float32), (arr.shape[0], 1))
        for rows, cols, vals in _by_position(layer):
            acc[:, rows] = acc[:, rows] + arr[:, cols] * vals.astype(np.float32)
        arr = np.maximum(acc, np.float32(0)) if layer.relu else acc
    big = np.abs(arr) > 2.0 ** 62
    out = np.where(big, 0, arr).astype(np.int64)
    return np.where(big, np.sign(arr).astype(np.int64) << 62, out)


def _by_position(layer: Layer) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The entries grouped by their position k within their row: step k adds every row's k-th
    term at once (rows are distinct within a step, so this is the natural order per row)."""
    seen: dict[int, int] = {}
    pos = []
    for r in layer.rows:
        pos.append(seen.get(r, 0))
        seen[r] = pos[-1] + 1
    p = np.array(pos, dtype=np.int64)
    rows = np.array(layer.rows, dtype=np.int64)
    cols = np.array(layer.cols, dtype=np.int64)
    vals = np.array(layer.vals, dtype=np.int64)
    return [(rows[p == k], cols[p == k], vals[p == k]) for k in range(int(p.max(initial=-1)) + 1)]
