"""A reconstruction of Giannou et al.'s SUBLEQ Transformer: ten layers per step.

Built from the construction of "Looped Transformers as Programmable Computers" (2023) as its
public implementation realises it, on the rows of :class:`~.layout.Layout` (``L = logn``, ``N``
bits, ``C`` a large constant, 100 there):

1. read the instruction: attention keyed on ``pc + position`` copies ``(command + current
   command) / 2`` into the buffer of column 0 (column 0 and the PC's column tie), and the
   feed-forward part adds ``new - old = 2 buffer - 2 old`` to the scratchpad's command rows of
   the scratchpad columns (``ReLU(+-(2 buffer - 2 old) + C ind - C)``), then clears the buffer
   (``-ReLU(x) + ReLU(-x)``);
2. read memory: two heads keyed on ``p_a`` and ``p_b``, the same trick into mem[a], mem[b];
3-5. subtract: the buffer gets the bits of mem[a] flipped (``2 ReLU(-x) - 1``), then those plus 1
   (two's complement negation), then mem[b] gets ``mem[b] + (-mem[a])``; each output bit of a
   sum is ``2 (r1 - r2 + r3 - r4 + r5 - r6) - 3`` over six ReLU units whose pairs are unit ramps
   at the thresholds ``2^(i-1)``, ``2^i``, ``3 * 2^(i-1)`` of the partial sum of the low bits; the
   last layer also clears the buffer and mem[a];
6. write memory: attention keyed on ``p_b + position`` lets column b see ``(old + new) / 2``
   and the feed-forward part (gated off the scratchpad by ``-C ind``) writes ``new - old``;
7-9. branch: flag = ``ReLU(sign bit) + ReLU(-sum bits - N + 1)`` (1 iff mem[b] <= 0) into the
   first scratchpad row, PC <- PC + 1 by the same six-unit ramps, then
   PC <- ``flag ? p_c : PC + 1`` through ``ReLU(+-p - (1 - flag))`` and ``ReLU(+-p - flag)``;
   the flag is cleared;
10. error correction: memory, PC, p_a, p_b and p_c go through the three-level quantiser
   ``x -> ((x+1-eps)+ - (x+eps)+ + (x-eps)+ - (x-1+eps)+) / (1 - 2 eps) - 1`` (written as
   ``x + ... - x`` with ``-ReLU(x) + ReLU(-x)``), which is flat at -1, 0 and 1 within ``eps``.

One deviation: their code recomputes ``eps`` from the state before every error correction
(the largest distance of any entry from {-1, 0, 1}), which makes the last layer's weights
depend on its input. A fixed network needs a fixed ``eps``; it is a parameter here
(:data:`DEFAULT_EPS`).
"""

from __future__ import annotations

import numpy as np

from verify.errors import ParameterError

from .layout import Layout
from .network import Head, Layer, LoopedTransformer

LARGE = 100.0
"""The gating constant of the read and write layers."""
DEFAULT_EPS = 0.1
"""Half-width of the flat zones of the error correction."""
DEFAULT_LAM = 100.0
"""Softmax temperature of their factorial example."""
LABELS = ("read instruction", "read memory", "subtract: flip", "subtract: negate",
          "subtract: add", "write memory", "branch: flag", "branch: pc+1", "branch: select",
          "error correction")


class _Blank:
    """Zero arrays of one layer, filled in place."""

    def __init__(self, lay: Layout, width: int, heads: int = 1) -> None:
        d, n, L = lay.d, lay.n, lay.logn
        self.heads = [(np.zeros((L, d)), np.zeros((d, d))) for _ in range(heads)]
        self.W1 = np.zeros((width, d))
        self.b1 = np.zeros((width, n))
        self.W2 = np.zeros((d, width))
        self.b2 = np.zeros((d, n))

    def layer(self, label: str) -> Layer:
        # K = Q in every head of this construction.
        return Layer(tuple(Head(Q, Q.copy(), V) for Q, V in self.heads),
                     self.W1, self.b1, self.W2, self.b2, label)


def _copy_gated(f: _Blank, unit: int, old: int, buf: int, k: int, ind: int, gate: float,
                bias: float) -> int:
    """Units ``new - old`` written to rows ``old``, clearing rows ``buf`` (k rows each).

    ``+-(2 buf - 2 old) + gate * ind + bias`` feeds the two ReLUs whose difference is added to
    ``old``; ``+-buf`` feed the two that clear the buffer. Returns the next free unit.
    """
    eye = np.eye(k)
    u = unit
    for sign, out in ((1, 1), (-1, -1)):
        f.W1[u:u + k, old:old + k] = -2 * sign * eye
        f.W1[u:u + k, buf:buf + k] = 2 * sign * eye
        f.W1[u:u + k, ind] = gate
        f.b1[u:u + k, :] = bias
        f.W2[old:old + k, u:u + k] = out * eye
        u += k
    for sign in (1, -1):
        f.W1[u:u + k, buf:buf + k] = sign * eye
        f.W2[buf:buf + k, u:u + k] = -sign * eye
        u += k
    return u


def _clear(f: _Blank, unit: int, row: int, k: int) -> int:
    """Units ``-ReLU(x) + ReLU(-x)`` that add ``-x`` to rows ``row..row+k`` (clearing them)."""
    eye = np.eye(k)
    for sign in (1, -1):
        f.W1[unit:unit + k, row:row + k] = sign * eye
        f.W2[row:row + k, unit:unit + k] = -sign * eye
        unit += k
    return unit


def _adder(f: _Blank, width: int, inputs: tuple[int, ...], out: int, carry_in: float,
           unit: int = 0) -> int:
    """Six ramp units per output bit: bit i (1 = LSB) of ``sum of the inputs + carry_in``.

    Each input is a block of ``width`` +-1 rows, MSB first; the partial sum of the low ``i``
    bits is ``s_i = sum_j 2^(j-1) (b_j + 1) / 2 + carry_in`` (affine in the rows), and the
    output row ``out + width - i`` is ``2 (r1 - r2 + r3 - r4 + r5 - r6) - 3``, where the pairs
    are ramps of slope 1 from ``2^(i-1) - 1``, to ``2^i``, from ``3 * 2^(i-1) - 1``. Biases are
    only in column 0. Returns the next free unit.
    """
    signs = np.array([1, 1, -1, -1, 1, 1], dtype=float)
    for i in range(1, width + 1):
        base = unit + 6 * (width - i)
        for j in range(1, i + 1):
            for row in inputs:
                f.W1[base:base + 6, row + width - j] = signs * 2.0 ** (j - 1) / 2
        s = (2.0 ** i - 1) / 2 * len(inputs) + carry_in
        h = 2.0 ** (i - 1)
        f.b1[base:base + 6, 0] = [s - h + 1, s - h, -s + 2 * h, -s + 2 * h - 1,
                                  s - 3 * h + 1, s - 3 * h]
        f.W2[out + width - i, base:base + 6] = 2.0 * np.array([1, -1, 1, -1, 1, -1])
    f.b2[out:out + width, 0] = -3.0
    return unit + 6 * width


def _quantise(f: _Blank, unit: int, row: int, k: int, eps: float) -> int:
    """Error-correction units for rows ``row..row+k`` (every column). Returns the next unit."""
    eye = np.eye(k)
    scale = 1.0 / (1.0 - 2.0 * eps)
    for g, (w, b, out) in enumerate(((1, 1 - eps, scale), (1, eps, -scale), (1, -eps, scale),
                                     (1, -1 + eps, -scale), (-1, 0.0, 1.0), (1, 0.0, -1.0))):
        u = unit + g * k
        f.W1[u:u + k, row:row + k] = w * eye
        f.b1[u:u + k, :] = b
        f.W2[row:row + k, u:u + k] = out * eye
    f.b2[row:row + k, :] = -1.0
    return unit + 6 * k


def build(lay: Layout, lam: float = DEFAULT_LAM, eps: float = DEFAULT_EPS) -> LoopedTransformer:
    """The ten layers of one SUBLEQ step on ``lay`` (see the module docstring)."""
    if not (isinstance(lam, (int, float)) and np.isfinite(lam) and lam > 0):
        raise ParameterError("lam", lam, "a positive finite number")
    if not (isinstance(eps, (int, float)) and 0 <= eps < 0.5):
        raise ParameterError("eps", eps, "a number in [0, 0.5)")
    L, N, ind = lay.logn, lay.bits, lay.indicator
    Lc = 3 * L
    layers: list[Layer] = []

    # 1. read the instruction
    f = _Blank(lay, 4 * Lc)
    Q, V = f.heads[0]
    Q[:, lay.pc:lay.pc + L] = np.eye(L)
    Q[:, lay.pos:lay.pos + L] = np.eye(L)
    V[lay.buffer:lay.buffer + Lc, lay.cmd:lay.cmd + Lc] = np.eye(Lc)
    V[lay.buffer:lay.buffer + Lc, lay.scratch_cmd:lay.scratch_cmd + Lc] = np.eye(Lc)
    _copy_gated(f, 0, lay.scratch_cmd, lay.buffer, Lc, ind, LARGE, -LARGE)
    layers.append(f.layer(LABELS[0]))

    # 2. read memory: head 1 mem[a], head 2 mem[b]
    f = _Blank(lay, 8 * N, heads=2)
    for h, (Q, V) in enumerate(f.heads):
        p = lay.scratch_cmd + h * L
        Q[:, p:p + L] = np.eye(L)
        Q[:, lay.pos:lay.pos + L] = np.eye(L)
        buf, target = lay.buffer + h * N, lay.scratch_a + h * N
        V[buf:buf + N, lay.mem:lay.mem + N] = np.eye(N)
        V[buf:buf + N, target:target + N] = np.eye(N)
        _copy_gated(f, 4 * N * h, target, buf, N, ind, LARGE, -LARGE)
    layers.append(f.layer(LABELS[1]))

    # 3. buffer <- mem[a] with every bit flipped (column 0)
    f = _Blank(lay, N)
    f.W1[:, lay.scratch_a:lay.scratch_a + N] = -np.eye(N)
    f.W2[lay.buffer:lay.buffer + N, :] = 2 * np.eye(N)
    f.b2[lay.buffer:lay.buffer + N, 0] = -1.0
    layers.append(f.layer(LABELS[2]))

    # 4. second buffer half <- flipped + 1 = -mem[a]
    f = _Blank(lay, 6 * N)
    _adder(f, N, (lay.buffer,), lay.buffer + N, 1.0)
    layers.append(f.layer(LABELS[3]))

    # 5. mem[b] <- mem[b] + (-mem[a]); clear the buffer and mem[a]
    f = _Blank(lay, 14 * N)
    u = _adder(f, N, (lay.buffer + N, lay.scratch_b), lay.scratch_b, 0.0)
    u = _clear(f, u, lay.buffer, N)
    u = _clear(f, u, lay.buffer + N, N)
    u = _clear(f, u, lay.scratch_a, N)
    _clear(f, u, lay.scratch_b, N)  # the adder's output replaces mem[b]
    layers.append(f.layer(LABELS[4]))

    # 6. write mem[b] - mem[a] to column b
    f = _Blank(lay, 4 * N)
    Q, V = f.heads[0]
    Q[:, lay.scratch_cmd + L:lay.scratch_cmd + 2 * L] = np.eye(L)
    Q[:, lay.pos:lay.pos + L] = np.eye(L)
    V[lay.buffer:lay.buffer + N, lay.mem:lay.mem + N] = np.eye(N)
    V[lay.buffer:lay.buffer + N, lay.scratch_b:lay.scratch_b + N] = np.eye(N)
    _copy_gated(f, 0, lay.mem, lay.buffer, N, ind, -LARGE, 0.0)
    layers.append(f.layer(LABELS[5]))

    # 7. flag (first scratchpad row) <- [mem[b] <= 0]; clear mem[b]
    f = _Blank(lay, 2 + 2 * N)
    f.W1[0, lay.scratch_b] = 1.0
    f.W1[1, lay.scratch_b:lay.scratch_b + N] = -1.0
    f.b1[1, 0] = -N + 1.0
    f.W2[lay.scratch_a, 0:2] = 1.0
    _clear(f, 2, lay.scratch_b, N)
    layers.append(f.layer(LABELS[6]))

    # 8. PC <- PC + 1
    f = _Blank(lay, 8 * L)
    u = _adder(f, L, (lay.pc,), lay.pc, 1.0)
    _clear(f, u, lay.pc, L)  # the adder's output replaces the PC
    layers.append(f.layer(LABELS[7]))

    # 9. PC <- flag ? p_c : PC; clear the flag
    f = _Blank(lay, 6 * L + 2)
    pc_c, flag, pc = lay.scratch_cmd + 2 * L, lay.scratch_a, lay.pc
    eye = np.eye(L)
    for g, (src, sign, fsign, bias, out) in enumerate((
            (pc_c, 1, 1, -1.0, 1), (pc_c, -1, 1, -1.0, -1),
            (pc, 1, -1, 0.0, 1), (pc, -1, -1, 0.0, -1))):
        u = g * L
        f.W1[u:u + L, src:src + L] = sign * eye
        f.W1[u:u + L, flag] = fsign
        f.b1[u:u + L, 0] = bias
        f.W2[pc:pc + L, u:u + L] = out * eye
    _clear(f, 4 * L, pc, L)
    _clear(f, 6 * L, flag, 1)
    layers.append(f.layer(LABELS[8]))

    # 10. error correction of memory, PC, p_c, p_b, p_a
    f = _Blank(lay, 6 * (N + 4 * L))
    u = _quantise(f, 0, lay.mem, N, eps)
    for row in (lay.pc, lay.scratch_cmd + 2 * L, lay.scratch_cmd + L, lay.scratch_cmd):
        u = _quantise(f, u, row, L, eps)
    layers.append(f.layer(LABELS[9]))
    return LoopedTransformer(tuple(layers), float(lam))
