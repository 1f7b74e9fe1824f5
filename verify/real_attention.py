"""Sound enclosures of attention layers over the reals: arb matrix operations and a centred
form for ``A = X + sum_h V_h X S_h, X' = A + W2 ReLU(W1 A + b1) + b2``.

A state is enclosed by a :class:`Box`: float64 midpoints and radii, meaning every real matrix
within ``rad`` of ``mid`` entrywise. :func:`enclose_layer` returns a box holding the layer's
real output for every input in the input box. How:

- the softmax (``S_ij = exp(z_ij) / sum_k exp(z_kj)``, each column summing to 1) is enclosed
  with arb balls (python-flint) at :data:`PREC` bits, optionally after subtracting a column's
  largest midpoint (the same real number; arb does not overflow either way);
- write ``X = Xm + D`` (``|D| <= R``) and ``S = Sm + E`` (``|E| <= Sr``); the attention output is
  ``A = A0 + sum_h V_h Xm E_h + D + sum_h V_h D S_h`` with ``A0 = Xm + sum_h V_h Xm Sm_h``
  computed in arb;
- in the feed-forward part, a unit whose pre-activation has one sign over the whole box is
  linear (active or off), a pair of units with opposite weights, biases and output weights is
  linear (``ReLU(z) - ReLU(-z) = z``), and any other unit is replaced by the interval
  ``[0, max(0, z_hi)]``; so for the column ``j`` the part is ``out_j = M_j a_j + c_j + u_j``
  with ``M_j = I + W2 diag(sigma_j) W1``, exact on the linear units;
- the output is ``ff(A0)`` (arb) plus ``M_j`` applied to the three deviation terms, bounded in
  magnitude; the coefficient of ``D_j`` is ``M_j (I + sum_h V_h S_h[j, j])`` taken as one
  interval matrix, so that what the attention writes and the feed-forward part subtracts
  cancels in the bound as it does in the network.

Rounding: the radii are float64 numbers that must bound real quantities from above, so every
float operation on them is rounded outward, by one argument kept in this module:

- IEEE binary64 with round-to-nearest (numpy's and every BLAS's default): one operation
  ``+ - * /`` or a conversion from arb is off by less than one ulp of its result, so
  :func:`up` / :func:`down` (the next float towards +-inf) of it bound the exact result;
- a product of non-negative matrices with inner dimension ``k``, summed in any order, with or
  without fused multiply-adds, is at least ``(1 - gamma_k)`` times the exact product, minus
  ``k 2^-1022`` for underflow (flush to zero included), ``gamma_k = k u / (1 - k u)``, ``u =
  2^-53``; :func:`nonneg_matmul_up` multiplies by ``1 + 4 (k + 2) u`` (at least ``1 /
  ((1 - gamma_k) (1 - u))`` while ``k u <= 2^-10``, checked), rounds up and adds :data:`TINY`;
- a signed product ``fl(A B)`` is within ``gamma_k |A| |B|`` (plus underflow) of ``A B``
  (:func:`matmul_error`), which bounds how far the float matrices ``M`` and ``M V_h`` of the
  feed-forward coefficient are from the exact ones;
- a non-finite radius (an enclosure that overflowed) stays infinite: it never decides anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flint import arb, arb_mat, ctx

PREC = 128
"""Bits of arb precision."""
U = 2.0 ** -53
"""Unit roundoff of float64 (round to nearest)."""
TINY = 2.0 ** -960
"""Absolute floor added after a matrix product: at least ``k 2^-1022`` (every product of the
sum flushed to zero) for any ``k`` below 2^62."""
MAX_INNER = 1 << 40
"""Largest inner dimension of a float product bounded here (``k u`` far below 2^-10)."""


def up(x: Any) -> Any:
    """The next float above ``x`` (elementwise): an upper bound of the exact result of the one
    rounded operation that gave ``x``."""
    return np.nextafter(x, np.inf)


def down(x: Any) -> Any:
    """The next float below ``x``: a lower bound of the exact result of one rounded operation."""
    return np.nextafter(x, -np.inf)


def _inner(k: int) -> int:
    if k > MAX_INNER:
        raise ValueError(f"a float product of inner dimension {k}: at most {MAX_INNER} is "
                         "bounded here")
    return k


def nonneg_matmul_up(A: np.ndarray, B: np.ndarray) -> np.ndarray:  # noqa: N803
    """An upper bound of the exact ``A @ B`` for non-negative ``A``, ``B`` (see the module
    docstring); infinite where an input is not finite."""
    k = _inner(A.shape[-1])
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(B))):
        shape = (A @ np.zeros(B.shape)).shape
        return np.full(shape, np.inf)
    with np.errstate(over="ignore"):
        P = A @ B
        factor = float(up(1.0 + (k + 2) * 2.0 ** -51))
        return up(up(P * factor) + TINY)


def matmul_error(A: np.ndarray, B: np.ndarray) -> np.ndarray:  # noqa: N803
    """An upper bound of ``|fl(A @ B) - A @ B|`` entrywise: ``gamma_k |A| |B|`` and underflow."""
    k = _inner(A.shape[-1])
    gamma = float(up((k + 1) * 2.0 ** -52))  # >= k u / (1 - k u) while k u <= 2^-10
    with np.errstate(over="ignore", invalid="ignore"):
        return up(up(nonneg_matmul_up(np.abs(A), np.abs(B)) * gamma) + TINY)


def add_up(*terms: np.ndarray | float) -> np.ndarray:
    """An upper bound of the exact sum of non-negative arrays (each addition rounded up)."""
    out = np.asarray(terms[0])
    with np.errstate(over="ignore", invalid="ignore"):
        for t in terms[1:]:
            out = up(out + t)
    return out


def _finite_or_inf(x: np.ndarray) -> np.ndarray:
    """A radius with every NaN made infinite (a NaN bounds nothing)."""
    return np.where(np.isnan(x), np.inf, x)


@contextmanager
def precision(bits: int = PREC) -> Iterator[None]:
    """Run the enclosed arb computations at ``bits`` bits."""
    old = ctx.prec
    ctx.prec = bits
    try:
        yield
    finally:
        ctx.prec = old


@dataclass(frozen=True)
class Box:
    """Every matrix ``X`` with ``|X - centre| <= rad`` entrywise.

    ``centre`` is ``exact`` (an arb matrix of exact midpoints, kept at :data:`PREC` bits so that
    rounding does not feed the radii) when given, else ``mid``; ``mid`` is always the float64
    nearest to the centre, and :attr:`float_rad` a radius around ``mid`` itself.
    """

    mid: np.ndarray
    rad: np.ndarray
    exact: arb_mat | None = None

    @classmethod
    def point(cls, X: np.ndarray) -> Box:  # noqa: N803 - matrix names as in the construction
        m = np.asarray(X, dtype=np.float64)
        return cls(m, np.zeros_like(m))

    @property
    def float_rad(self) -> np.ndarray:
        """Radius around the float ``mid`` (adds the rounding of the centre to float64, less
        than an ulp of ``mid``: ``2 u |mid|``, or ``2^-1074`` below the normal range)."""
        if self.exact is None:
            return _finite_or_inf(self.rad)
        with np.errstate(over="ignore", invalid="ignore"):
            return _finite_or_inf(add_up(self.rad, up(np.abs(self.mid) * (2 * U)), TINY))

    @property
    def lo(self) -> np.ndarray:
        """A float lower bound of every entry over the box."""
        with np.errstate(over="ignore", invalid="ignore"):
            return down(self.mid - self.float_rad)

    @property
    def hi(self) -> np.ndarray:
        """A float upper bound of every entry over the box."""
        with np.errstate(over="ignore", invalid="ignore"):
            return up(self.mid + self.float_rad)

    def centre(self) -> arb_mat:
        return self.exact if self.exact is not None else arb_matrix(self.mid)

    def within(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """Upper bounds of ``|x - X|`` over the box (float64, rounded up; inf, never NaN, when
        the box is not finite)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return _finite_or_inf(add_up(up(np.abs(self.mid - X)), self.float_rad))


def arb_matrix(A: np.ndarray) -> arb_mat:  # noqa: N803 - matrix names as in the construction
    """``A`` as an exact arb matrix (float64 entries are exact binary numbers)."""
    return arb_mat(np.asarray(A, dtype=np.float64).tolist())


def box_matrix(box: Box) -> arb_mat:
    """The box as a matrix of arb balls."""
    c = box.centre().tolist()
    return arb_mat([[x + arb(0, r) if r else x for x, r in zip(crow, rrow)]
                    for crow, rrow in zip(c, box.rad.tolist())])


def mid_rad(M: arb_mat) -> Box:  # noqa: N803 - matrix names as in the construction
    """A box holding every ball of ``M``: exact midpoints, radii rounded up to float64."""
    rows = M.tolist()
    centre = [[x.mid() for x in row] for row in rows]
    mid = np.array([[float(c) for c in row] for row in centre], dtype=np.float64)
    rad = np.array([[float(x.rad()) for x in row] for row in rows], dtype=np.float64)
    bad = ~np.isfinite(mid) | ~np.isfinite(rad)
    with np.errstate(over="ignore", invalid="ignore"):
        rad = up(up(rad) + TINY)  # the conversion of the radius may round down
    rad[bad] = np.inf
    mid[bad] = 0.0
    return Box(mid, rad, arb_mat(centre))


def softmax_columns(Z: arb_mat, max_subtract: bool = False) -> arb_mat:  # noqa: N803
    """Enclosure of ``exp(Z) / column sums of exp(Z)``; with ``max_subtract`` each column is
    first shifted by its largest midpoint (the same real value)."""
    rows = Z.tolist()
    n, k = len(rows), len(rows[0]) if rows else 0
    out = [[arb(0)] * k for _ in range(n)]
    for j in range(k):
        col = [rows[i][j] for i in range(n)]
        if max_subtract:
            top = max(float(x.mid()) for x in col)
            col = [x - top for x in col]
        e = [x.exp() for x in col]
        total = sum(e[1:], e[0])
        for i in range(n):
            out[i][j] = e[i] / total
    return arb_mat(out)


@dataclass
class LayerCache:
    """What one layer's enclosure reuses between calls: its arb weights, its pairs of units,
    and per activation pattern the matrices ``M`` and ``M V_h``."""

    arbs: dict[str, arb_mat] = field(default_factory=dict)
    pairs: tuple[np.ndarray, np.ndarray] | None = None
    patterns: dict[bytes, Pattern] = field(default_factory=dict)


def _pairs(W1: np.ndarray, b1: np.ndarray, W2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
    """``(plus, minus)``: units k whose negation k' is also a unit (weights, biases and output
    weights all negated), so ``W2_k ReLU(z) + W2_k' ReLU(-z) = W2_k z``."""
    def sig(a: np.ndarray) -> bytes:
        return (np.asarray(a, dtype=np.float64) + 0.0).tobytes()  # -0.0 and 0.0 alike

    key: dict[tuple[bytes, bytes, bytes], int] = {}
    for k in range(W1.shape[0]):
        key.setdefault((sig(W1[k]), sig(b1[k]), sig(W2[:, k])), k)
    plus: list[int] = []
    minus: list[int] = []
    used: set[int] = set()
    for k in range(W1.shape[0]):
        if k in used or not np.any(W1[k]):
            continue
        k2 = key.get((sig(-W1[k]), sig(-b1[k]), sig(-W2[:, k])))
        if k2 is not None and k2 != k and k2 not in used:
            plus.append(k)
            minus.append(k2)
            used.update((k, k2))
    return np.array(plus, dtype=int), np.array(minus, dtype=int)


def enclose_layer(layer: Any, box: Box, lam: float, cache: LayerCache,
                  max_subtract: bool = False) -> tuple[Box, dict[str, Any]]:
    """A box holding ``layer`` applied to every matrix of ``box`` (see the module docstring).

    ``layer`` has ``heads`` (each with ``Q``, ``K``, ``V``), ``W1``, ``b1``, ``W2``, ``b2``.
    Also returns facts for reports: how many units were undecided.
    """
    W1, b1, W2, b2 = layer.W1, layer.b1, layer.W2, layer.b2
    d, n = box.mid.shape
    with precision(), np.errstate(over="ignore", invalid="ignore"):
        if not cache.arbs:
            cache.arbs = {"W1": arb_matrix(W1), "b1": arb_matrix(b1), "W2": arb_matrix(W2),
                          "b2": arb_matrix(b2)}
            for h, head in enumerate(layer.heads):
                cache.arbs[f"V{h}"] = arb_matrix(head.V)
                cache.arbs[f"Q{h}"] = arb_matrix(head.Q)
                cache.arbs[f"K{h}"] = arb_matrix(head.K)
            cache.pairs = _pairs(W1, b1, W2)
        Xm_a = box.centre()
        Xb = box_matrix(box) if np.any(box.rad) else Xm_a
        R = _finite_or_inf(box.rad)
        heads = []  # (V, Sm, Sr, Sabs) for the heads that act
        A0 = Xm_a
        for h, head in enumerate(layer.heads):
            if not np.any(head.V):
                continue  # V = 0: the head adds exactly 0 (the state is finite)
            if np.any(head.Q) and np.any(head.K):
                KX = cache.arbs[f"K{h}"] * Xb
                QX = cache.arbs[f"Q{h}"] * Xb
                Z = KX.transpose() * QX * arb(lam)
                S = mid_rad(softmax_columns(Z, max_subtract))
            else:
                S = Box(np.full((n, n), 1.0 / n), np.zeros((n, n)),
                        arb_mat([[arb(1) / n] * n for _ in range(n)]))
            A0 = A0 + cache.arbs[f"V{h}"] * (Xm_a * S.centre())
            # Sm: float centre, Sr: radius about it (rounding of the centre included)
            Sr = S.float_rad
            heads.append((head.V, S.mid, Sr, add_up(np.abs(S.mid), Sr)))
        # Deviation of A from A0, entrywise: R + sum_h |V_h| (|Xm| Sr_h + R |S_h|).
        # |Xm|: the centre itself, or within an ulp (2 u |mid|, or 2^-1074) of the float mid
        absXm = np.abs(box.mid) if box.exact is None else \
            add_up(up(np.abs(box.mid) * (1 + 2 * U)), TINY)
        dev = R
        XSr, RS = [], []
        for V, _, Sr, Sabs in heads:
            XSr.append(nonneg_matmul_up(absXm, Sr))
            RS.append(nonneg_matmul_up(R, Sabs))
            dev = add_up(dev, nonneg_matmul_up(np.abs(V), add_up(XSr[-1], RS[-1])))
        Z0 = cache.arbs["W1"] * A0 + cache.arbs["b1"]
        Zb = mid_rad(Z0)
        zrad = add_up(Zb.float_rad, nonneg_matmul_up(np.abs(W1), dev))
        zlo, zhi = down(Zb.mid - zrad), up(Zb.mid + zrad)
        active = zlo >= 0  # False for NaN
        decided = active | (zhi <= 0)
        plus, minus = cache.pairs if cache.pairs is not None else (np.array([], int),) * 2
        sigma = active.astype(np.float64)
        sigma[plus, :] = 1.0
        sigma[minus, :] = 0.0
        decided[plus, :] = True
        decided[minus, :] = True
        undecided = ~decided
        sigma[undecided] = 0.0
        # Point part: A0 + W2 (sigma * Z0) + b2, in arb.
        H = _mask(Z0, sigma)
        point = A0 + cache.arbs["W2"] * H + cache.arbs["b2"]
        # Undecided units: ReLU(z) in [0, max(0, z_hi)] = top +- top.
        spread = np.zeros((d, n))
        if np.any(undecided):
            top = up(np.where(undecided, np.maximum(zhi, 0.0), 0.0) / 2)
            top = np.where(undecided, np.where(np.isnan(top), np.inf, top), 0.0)
            if np.all(np.isfinite(top)):
                point = point + cache.arbs["W2"] * arb_matrix(top)
                spread = nonneg_matmul_up(np.abs(W2), top)
            else:
                spread = np.full((d, n), np.inf)
        out = mid_rad(point)
        rad = add_up(out.rad, spread)
        # Deviation terms through M_j, per activation pattern.
        if np.any(R) or heads:
            extra = np.zeros((d, n))
            groups: dict[bytes, list[int]] = {}
            for j in range(n):
                groups.setdefault(sigma[:, j].astype(np.int8).tobytes(), []).append(j)
            # sum_{i != j} R_i |S_h[i, j]| + |Xm| Sr_h[:, j]: the terms M_j V_h multiplies
            eye = np.eye(n, dtype=bool)
            offdiag = [add_up(nonneg_matmul_up(R, np.where(eye, 0.0, Sabs)), xs)
                       for (_, _, _, Sabs), xs in zip(heads, XSr)]
            for key, cols in groups.items():
                pat = _pattern(cache, key, heads, W1, W2, d)
                for j in cols:
                    s_rng = [(down(Sm[j, j] - Sr[j, j]), up(Sm[j, j] + Sr[j, j]))
                             for _, Sm, Sr, _ in heads]
                    coef = pat.coefficient(s_rng)
                    col = nonneg_matmul_up(coef, R[:, j])
                    for h in range(len(heads)):
                        col = add_up(col, nonneg_matmul_up(pat.abs_p[h], offdiag[h][:, j]))
                    extra[:, j] = col
            rad = add_up(rad, extra)
    facts = {"undecided_units": int(np.count_nonzero(undecided))}
    return Box(out.mid, _finite_or_inf(rad), out.exact), facts


def _mask(Z: arb_mat, sigma: np.ndarray) -> arb_mat:  # noqa: N803
    rows = Z.tolist()
    return arb_mat([[x if s else arb(0) for x, s in zip(row, srow)]
                    for row, srow in zip(rows, sigma.tolist())])


@dataclass(frozen=True)
class Pattern:
    """The feed-forward part's linear map ``M = I + W2 diag(sigma) W1`` for one activation
    pattern, and ``P_h = M V_h``, as floats with rigorous error bounds: ``|M - fl M| <= EM``,
    ``|M V_h - P_h| <= EP_h``; ``absP_h >= |M V_h|``."""

    M: np.ndarray
    P: list[np.ndarray]
    EM: np.ndarray
    EP: list[np.ndarray]
    abs_p: list[np.ndarray]

    def coefficient(self, s_rng: Sequence[tuple[float, float]]) -> np.ndarray:
        """An upper bound of ``|M + sum_h s_h M V_h|`` over ``s_h`` in ``s_rng[h]``, entrywise.

        The interval ends ``lo``, ``hi`` are float sums of ``2 H + 1`` rounded terms, each off by
        at most ``u`` times a partial sum of ``B = |fl M| + sum_h max |s_h| |P_h|`` (plus
        underflow); ``(2 H + 4) u B`` covers that, and ``EM + sum_h max |s_h| EP_h`` the
        distance of the float matrices from the exact ones.
        """
        lo, hi = self.M.copy(), self.M.copy()
        B, err = np.abs(self.M), self.EM
        for (s_lo, s_hi), P, EP in zip(s_rng, self.P, self.EP):
            a, b = s_lo * P, s_hi * P
            lo += np.minimum(a, b)
            hi += np.maximum(a, b)
            smax = float(max(abs(s_lo), abs(s_hi)))
            B = add_up(B, up(smax * np.abs(P)))
            err = add_up(err, up(smax * EP))
        slack = up(B * float(up((2 * len(self.P) + 4) * U))) + TINY
        return add_up(np.maximum(np.abs(lo), np.abs(hi)), slack, err)


def _pattern(cache: LayerCache, key: bytes, heads: Sequence[Any], W1: np.ndarray,  # noqa: N803
             W2: np.ndarray, d: int) -> Pattern:  # noqa: N803
    """The :class:`Pattern` of the activation pattern ``key`` (cached per layer)."""
    hit = cache.patterns.get(key)
    if hit is not None and len(hit.P) == len(heads):
        return hit
    sigma = np.frombuffer(key, dtype=np.int8).astype(bool)
    W1s, W2s = W1[sigma], W2[:, sigma]
    prod = W2s @ W1s
    M = np.eye(d) + prod
    # |M - fl M|: the product's error, then the addition of I (at most one ulp of the result)
    EM = add_up(matmul_error(W2s, W1s), np.spacing(np.abs(M)))
    P = [M @ V for V, *_ in heads]
    # |M V - fl(fl M V)| <= |fl(fl M V) - fl M V| + |fl M - M| |V|
    EP = [add_up(matmul_error(M, V), nonneg_matmul_up(EM, np.abs(V))) for V, *_ in heads]
    abs_p = [add_up(np.abs(p), e) for p, e in zip(P, EP)]
    out = Pattern(M, P, EM, EP, abs_p)
    cache.patterns[key] = out
    return out
