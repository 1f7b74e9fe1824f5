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
  cancels in the bound as it does in the network. ``M_j V_h`` is exactly 0 in the columns
  where every ``V_h`` is 0, so there the coefficient is ``|M_j|``, bounded once per activation
  pattern; the columns of one pattern are bounded together (matrix-matrix products), and a
  column of ``D`` whose radius is exactly 0 adds exactly 0;
- a row that the layer does not write (zero in every acting ``V_h``, in ``W2`` and in ``b2``)
  is the input's row, exactly, in the reals: the output box keeps the input's centre and
  radius there, and everything above is computed on the written rows only (the hidden units
  still read every row).

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
  the same holds for a stack of products (``(c, m, k) @ (c, k, l)``), each bounded alike. An
  infinite (or NaN) bound in an input makes the float product inf or NaN in every entry whose
  sum has it as a factor, unless the other factor is 0, and then the exact term is 0 too; a
  float product with an inf or NaN anywhere gives a bound that is infinite everywhere;
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
    docstring; also for stacks of matrices); infinite everywhere when an inf or NaN of an
    input meets a nonzero factor."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _nonneg_matmul_up(A, B)


_FACTORS: dict[int, float] = {}


def _nonneg_matmul_up(A: np.ndarray, B: np.ndarray) -> np.ndarray:  # noqa: N803
    """:func:`nonneg_matmul_up` without setting numpy's error state (the caller does). An
    infinite or NaN entry of an input makes the float product inf or NaN where it meets a
    nonzero factor (a zero factor makes the exact term 0), and then the bound is infinite."""
    k = A.shape[-1]
    factor = _FACTORS.get(k)
    if factor is None:
        factor = _FACTORS[k] = float(up(1.0 + (_inner(k) + 2) * 2.0 ** -51))
    P = A @ B
    if not np.isfinite(P).all():
        return np.full(P.shape, np.inf)
    return up(up(P * factor) + TINY)


def matmul_error(A: np.ndarray, B: np.ndarray) -> np.ndarray:  # noqa: N803
    """An upper bound of ``|fl(A @ B) - A @ B|`` entrywise: ``gamma_k |A| |B|`` and underflow."""
    k = _inner(A.shape[-1])
    gamma = float(up((k + 1) * 2.0 ** -52))  # >= k u / (1 - k u) while k u <= 2^-10
    with np.errstate(over="ignore", invalid="ignore"):
        return up(up(nonneg_matmul_up(np.abs(A), np.abs(B)) * gamma) + TINY)


def add_up(*terms: np.ndarray | float) -> np.ndarray:
    """An upper bound of the exact sum of non-negative arrays (each addition rounded up)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _add_up(*terms)


def _add_up(*terms: np.ndarray | float) -> np.ndarray:
    """:func:`add_up` without setting numpy's error state (the caller does)."""
    out = np.asarray(terms[0])
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
    A = np.asarray(A, dtype=np.float64)
    if A.ndim == 2:
        return arb_mat(A.shape[0], A.shape[1], A.ravel().tolist())
    return arb_mat(A.tolist())


def _balls(centre: arb_mat, rad: np.ndarray, rows: np.ndarray) -> arb_mat:
    """Rows ``rows`` of the ball matrix ``centre +- rad``."""
    n = centre.ncols()
    out = []
    for i, r_row in zip(rows.tolist(), rad[rows].tolist()):
        out.extend(centre[i, j] + arb(0, r) if r else centre[i, j] for j, r in enumerate(r_row))
    return arb_mat(len(rows), n, out)


def box_matrix(box: Box) -> arb_mat:
    """The box as a matrix of arb balls."""
    return _balls(box.centre(), box.rad, np.arange(box.rad.shape[0]))


def _mid_rad_parts(M: arb_mat) -> tuple[np.ndarray, np.ndarray, list[arb]]:  # noqa: N803
    """``(mid, rad, entries)`` of :func:`mid_rad`, with ``M``'s entries (row-major)."""
    e = M.entries()
    shape = (M.nrows(), M.ncols())
    mid = np.fromiter(map(float, e), np.float64, len(e)).reshape(shape)  # float of the midpoint
    rad = np.fromiter(map(float, map(arb.rad, e)), np.float64, len(e)).reshape(shape)
    with np.errstate(over="ignore", invalid="ignore"):
        up_rad = up(up(rad) + TINY)  # the conversion of the radius may round down
    if not (np.isfinite(mid).all() and np.isfinite(rad).all()):
        bad = ~np.isfinite(mid) | ~np.isfinite(rad)
        up_rad[bad] = np.inf
        mid[bad] = 0.0
    return mid, up_rad, e


def mid_rad(M: arb_mat) -> Box:  # noqa: N803 - matrix names as in the construction
    """A box holding every ball of ``M``: exact midpoints, radii rounded up to float64."""
    mid, rad, _ = _mid_rad_parts(M)
    return Box(mid, rad, M.mid())


def softmax_columns(Z: arb_mat, max_subtract: bool = False) -> arb_mat:  # noqa: N803
    """Enclosure of ``exp(Z) / column sums of exp(Z)``; with ``max_subtract`` each column is
    first shifted by its largest midpoint (the same real value)."""
    n, k = Z.nrows(), Z.ncols()
    z = Z.entries()
    out: list[arb] = [arb(0)] * (n * k)
    for j in range(k):
        col = z[j::k]
        if max_subtract:
            top = max(float(x.mid()) for x in col)
            col = [x - top for x in col]
        e = [x.exp() for x in col]
        total = sum(e[1:], e[0])
        out[j::k] = [x / total for x in e]
    return arb_mat(n, k, out)


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


def _select(rows: np.ndarray, size: int) -> np.ndarray:
    """The 0/1 matrix picking ``rows`` out of ``size`` (a product with it, or with its
    transpose, copies entries: every entry of the product is one product by 1, exact)."""
    E = np.zeros((len(rows), size))
    E[np.arange(len(rows)), rows] = 1.0
    return E


@dataclass(frozen=True)
class _Head:
    """What the enclosure needs of one head that acts (``V != 0``): ``rows``, the rows of the
    state its scores read, and ``Q``, ``K`` restricted to them (None: no scores, ``S = 1/n``)."""

    V: np.ndarray
    abs_v: np.ndarray
    V_arb: arb_mat
    rows: np.ndarray
    Q: arb_mat | None
    K: arb_mat | None


@dataclass(frozen=True)
class _Plan:
    """A layer's constants: its acting heads, the rows it writes, its pairs of units and the
    other units, and the weights restricted to them, in arb and as float magnitudes."""

    heads: tuple[_Head, ...]
    written: np.ndarray
    plus: np.ndarray
    minus: np.ndarray
    free: np.ndarray
    pick_written: arb_mat
    keep_diag: arb_mat
    put_written: arb_mat
    W1_free: arb_mat
    b1_free: arb_mat
    abs_w1_free: np.ndarray
    W1_plus: arb_mat
    b1_plus: arb_mat
    put_free: arb_mat
    put_plus: arb_mat
    W2_written: arb_mat
    W2_written_free: arb_mat
    abs_w2_written_free: np.ndarray
    b2_written: arb_mat
    vcols: np.ndarray
    rest: np.ndarray


def written_rows(layer: Any) -> np.ndarray:
    """Rows of the state ``layer`` writes: a nonzero row of a ``V_h``, ``W2`` or ``b2``. Every
    other row of the output equals the input's, exactly."""
    out = np.any(layer.W2 != 0, axis=1) | np.any(layer.b2 != 0, axis=1)
    for head in layer.heads:
        out |= np.any(head.V != 0, axis=1)
    return out


def _plan(layer: Any) -> _Plan:
    W1, b1, W2, b2 = (np.asarray(a, dtype=np.float64) for a in
                      (layer.W1, layer.b1, layer.W2, layer.b2))
    d, units = W2.shape
    heads = []
    for head in layer.heads:
        if not np.any(head.V):
            continue  # V = 0: the head adds exactly 0 (the state is finite)
        V = np.asarray(head.V, dtype=np.float64)
        if np.any(head.Q) and np.any(head.K):
            rows = np.flatnonzero(np.any(head.Q != 0, axis=0) | np.any(head.K != 0, axis=0))
            Q, K = arb_matrix(head.Q[:, rows]), arb_matrix(head.K[:, rows])
        else:
            rows, Q, K = np.zeros(0, dtype=int), None, None
        heads.append(_Head(V, np.abs(V), arb_matrix(V), rows, Q, K))
    written = np.flatnonzero(written_rows(layer))
    vcols = np.flatnonzero(np.any([hd.V != 0 for hd in heads], axis=(0, 1))) if heads else \
        np.zeros(0, dtype=int)
    plus, minus = _pairs(W1, b1, W2)
    free = np.setdiff1d(np.arange(units), np.concatenate([plus, minus]))
    keep = np.ones(d)
    keep[written] = 0.0
    W2w = W2[written]
    return _Plan(tuple(heads), written, plus, minus, free,
                 arb_matrix(_select(written, d)), arb_matrix(np.diag(keep)),
                 arb_matrix(_select(written, d).T),
                 arb_matrix(W1[free]), arb_matrix(b1[free]), np.abs(W1[free]),
                 arb_matrix(W1[plus]), arb_matrix(b1[plus]),
                 arb_matrix(_select(free, units).T), arb_matrix(_select(plus, units).T),
                 arb_matrix(W2w), arb_matrix(W2w[:, free]), np.abs(W2w[:, free]),
                 arb_matrix(b2[written]), vcols, np.setdiff1d(np.arange(d), vcols))


@dataclass
class LayerCache:
    """What one layer's enclosure reuses between calls: the layer's constants (:class:`_Plan`)
    and per activation pattern the matrices ``M`` and ``M V_h`` (:class:`Pattern`)."""

    plan: _Plan | None = None
    patterns: dict[bytes, Pattern] = field(default_factory=dict)


def enclose_layer(layer: Any, box: Box, lam: float, cache: LayerCache,
                  max_subtract: bool = False) -> tuple[Box, dict[str, Any]]:
    """A box holding ``layer`` applied to every matrix of ``box`` (see the module docstring).

    ``layer`` has ``heads`` (each with ``Q``, ``K``, ``V``), ``W1``, ``b1``, ``W2``, ``b2``.
    Also returns facts for reports: how many units were undecided.
    """
    d, n = box.mid.shape
    with precision(), np.errstate(over="ignore", invalid="ignore"):
        if cache.plan is None:
            cache.plan = _plan(layer)
        plan = cache.plan
        Xm_a = box.centre()
        R = _finite_or_inf(box.rad)
        heads = []  # (head, Sm, Sr, Sabs)
        A0 = Xm_a
        for hd in plan.heads:
            if hd.Q is not None and hd.K is not None:
                Xb = _balls(Xm_a, R, hd.rows)
                Z = (hd.K * Xb).transpose() * (hd.Q * Xb) * arb(lam)
                S = mid_rad(softmax_columns(Z, max_subtract))
            else:
                S = Box(np.full((n, n), 1.0 / n), np.zeros((n, n)),
                        arb_mat([[arb(1) / n] * n for _ in range(n)]))
            A0 = A0 + hd.V_arb * (Xm_a * S.centre())
            # Sm: float centre, Sr: radius about it (rounding of the centre included)
            Sr = S.float_rad
            heads.append((hd, S.mid, Sr, _add_up(np.abs(S.mid), Sr)))
        # Deviation of A from A0, entrywise: R + sum_h |V_h| (|Xm| Sr_h + R |S_h|).
        dev = R
        XSr = []
        if heads:
            # |Xm|: the centre itself, or within an ulp (2 u |mid|, or 2^-1074) of the float mid
            absXm = np.abs(box.mid) if box.exact is None else \
                _add_up(up(np.abs(box.mid) * (1 + 2 * U)), TINY)
            for hd, _, Sr, Sabs in heads:
                XSr.append(_nonneg_matmul_up(absXm, Sr))
                dev = _add_up(dev, _nonneg_matmul_up(
                    hd.abs_v, _add_up(XSr[-1], _nonneg_matmul_up(R, Sabs))))
        # Units in a pair are linear (the plus unit passes z, the minus unit nothing); the
        # other units are active, off or undecided over the box.
        units = len(plan.plus) + len(plan.minus) + len(plan.free)
        sigma = np.zeros((units, n), dtype=np.int8)
        sigma[plan.plus, :] = 1
        undecided = np.zeros((len(plan.free), n), dtype=bool)
        H = arb_mat(units, n)
        zhi = np.zeros((len(plan.free), n))
        if len(plan.free):
            Z0 = plan.W1_free * A0 + plan.b1_free
            zmid, zr, zent = _mid_rad_parts(Z0)
            # the radius about the float mid (Box.float_rad): adds 2 u |mid| and 2^-960
            zrad = _add_up(zr, up(np.abs(zmid) * (2 * U)), TINY,
                           _nonneg_matmul_up(plan.abs_w1_free, dev))
            zlo, zhi = down(zmid - zrad), up(zmid + zrad)
            active = zlo >= 0  # False for NaN
            undecided = ~(active | (zhi <= 0))
            sigma[plan.free, :] = active
            zero = arb(0)
            H = plan.put_free * arb_mat(len(plan.free), n,
                                        [x if s else zero for x, s in
                                         zip(zent, active.ravel().tolist())])
        if len(plan.plus):
            H = H + plan.put_plus * (plan.W1_plus * A0 + plan.b1_plus)
        # Point part on the written rows: A0 + W2 (sigma * Z0) + b2, in arb.
        point = plan.pick_written * A0 + plan.W2_written * H + plan.b2_written
        # Undecided units: ReLU(z) in [0, max(0, z_hi)] = top +- top.
        spread = np.zeros((len(plan.written), n))
        if np.any(undecided):
            top = up(np.where(undecided, np.maximum(zhi, 0.0), 0.0) / 2)
            top = np.where(undecided, np.where(np.isnan(top), np.inf, top), 0.0)
            if np.all(np.isfinite(top)):
                point = point + plan.W2_written_free * arb_matrix(top)
                spread = _nonneg_matmul_up(plan.abs_w2_written_free, top)
            else:
                spread = np.full(spread.shape, np.inf)
        mid_w, rad_w, _ = _mid_rad_parts(point)
        rad_w = _add_up(rad_w, spread)
        # Deviation terms through M_j, per activation pattern.
        if np.any(R) or heads:
            rad_w = _add_up(rad_w, _deviation_terms(cache, heads, XSr, R, sigma, layer, d, n))
        # The rows the layer does not write are its input's, exactly.
        mid, rad = box.mid.copy(), R.copy()
        mid[plan.written] = mid_w
        rad[plan.written] = rad_w
        exact = plan.keep_diag * Xm_a + plan.put_written * point.mid()
    facts = {"undecided_units": int(np.count_nonzero(undecided))}
    return Box(mid, _finite_or_inf(rad), exact), facts


def _deviation_terms(cache: LayerCache, heads: Sequence[Any], XSr: Sequence[np.ndarray],  # noqa: N803
                     R: np.ndarray, sigma: np.ndarray, layer: Any, d: int,  # noqa: N803
                     n: int) -> np.ndarray:
    """Upper bounds, on the written rows, of ``M_j`` applied to column ``j``'s deviation:
    ``|M_j (I + sum_h V_h S_h[j, j])| R_j + sum_h |M_j V_h| (sum_{i != j} R_i |S_h[i, j]| +
    |Xm| Sr_h[:, j])``, every column at once (a stack of matrix-vector products).

    Only the columns ``C`` where some ``V_h`` is nonzero (:attr:`_Plan.vcols`) depend on the
    scores: elsewhere ``M V_h`` is exactly 0, so the coefficient is ``|M|`` there, bounded by
    :attr:`Pattern.base`, and ``|M V_h|`` adds nothing there. Where ``R`` is 0 the first term is
    exactly 0."""
    plan = cache.plan
    assert plan is not None
    C, rest = plan.vcols, plan.rest
    found: dict[bytes, Pattern] = {}
    pats = []
    for column in np.ascontiguousarray(sigma.T):
        key = column.tobytes()
        pat = found.get(key)
        if pat is None:
            pat = found[key] = _pattern(cache, key, heads, layer.W1, layer.W2, d)
        pats.append(pat)

    def stack(get: Any) -> np.ndarray:
        """One matrix per column (the same one broadcast when every column has one pattern)."""
        return get(pats[0])[None] if len(found) == 1 else np.stack([get(p) for p in pats])

    any_r = bool(np.any(R))
    if not heads:  # the columns of one pattern together, a matrix-matrix product
        if not any_r:
            return np.zeros((len(plan.written), n))
        if len(found) == 1:
            return _nonneg_matmul_up(pats[0].base, R)
        extra = np.empty((len(plan.written), n))
        for pat in found.values():
            cols = [j for j in range(n) if pats[j] is pat]
            extra[:, cols] = _nonneg_matmul_up(pat.base, R[:, cols])
        return extra
    extra = np.zeros((n, len(plan.written), 1))
    if any_r:
        diag = np.arange(n)
        s_lo = np.array([down(Sm[diag, diag] - Sr[diag, diag]) for _, Sm, Sr, _ in heads])
        s_hi = np.array([up(Sm[diag, diag] + Sr[diag, diag]) for _, Sm, Sr, _ in heads])
        coef = _coefficients(stack(lambda p: p.M), stack(lambda p: p.EM),
                             [stack(lambda p, h=h: p.P[h]) for h in range(len(heads))],
                             [stack(lambda p, h=h: p.EP[h]) for h in range(len(heads))],
                             s_lo, s_hi)
        extra = _add_up(_nonneg_matmul_up(stack(lambda p: p.base[:, rest]),
                                          R[rest].T[:, :, None]),
                        _nonneg_matmul_up(coef, R[C].T[:, :, None]))
    for h, ((_, _, _, Sabs), xs) in enumerate(zip(heads, XSr)):
        # sum_{i != j} R_i |S_h[i, j]| + |Xm| Sr_h[:, j] on the rows C: what M_j V_h multiplies
        off = _add_up(_nonneg_matmul_up(R[C], Sabs - np.diag(np.diag(Sabs))), xs[C])
        extra = _add_up(extra, _nonneg_matmul_up(stack(lambda p, h=h: p.abs_p[h]),
                                                 off.T[:, :, None]))
    return extra[:, :, 0].T


def _coefficients(M: np.ndarray, EM: np.ndarray, P: Sequence[np.ndarray],  # noqa: N803
                  EP: Sequence[np.ndarray], s_lo: np.ndarray, s_hi: np.ndarray) -> np.ndarray:  # noqa: N803
    """Upper bounds of ``|M + sum_h s_h M V_h|`` over ``s_h`` in ``[s_lo[h, c], s_hi[h, c]]``,
    entrywise, one matrix per column ``c``, from the float ``M`` and ``P_h`` (``M V_h``) with
    their error bounds ``EM`` and ``EP_h`` (each of shape ``(1 or columns, rows, k)``).

    The interval ends ``lo``, ``hi`` are float sums of ``2 H + 1`` rounded terms, each off by
    at most ``u`` times a partial sum of ``B = |fl M| + sum_h max |s_h| |P_h|`` (plus
    underflow); ``(2 H + 4) u B`` covers that, and ``EM + sum_h max |s_h| EP_h`` the distance
    of the float matrices from the exact ones.
    """
    cols = s_lo.shape[1]
    lo = np.broadcast_to(M, (cols, *M.shape[1:])).copy()
    hi = lo.copy()
    B, err = np.abs(M), EM
    for a_s, b_s, Ph, EPh in zip(s_lo, s_hi, P, EP):
        a_s, b_s = a_s[:, None, None], b_s[:, None, None]
        a, b = a_s * Ph, b_s * Ph
        lo += np.minimum(a, b)
        hi += np.maximum(a, b)
        smax = np.maximum(np.abs(a_s), np.abs(b_s))
        B = _add_up(B, up(smax * np.abs(Ph)))
        err = _add_up(err, up(smax * EPh))
    slack = _add_up(up(B * float(up((2 * len(P) + 4) * U))), TINY)
    return _add_up(np.maximum(np.abs(lo), np.abs(hi)), slack, err)


@dataclass(frozen=True)
class Pattern:
    """The feed-forward part's linear map ``M = I + W2 diag(sigma) W1`` for one activation
    pattern, and ``P_h = M V_h``, on the layer's written rows, as floats with rigorous error
    bounds: ``|M - fl M| <= EM``, ``|M V_h - P_h| <= EP_h``; ``abs_p[h] >= |M V_h|``. ``base``
    bounds ``|M|`` (:func:`_coefficients` with no head, every column); ``M``, ``EM`` and the
    ``P_h`` matrices are kept on the columns where some ``V_h`` is nonzero (elsewhere ``M V_h``
    is exactly 0)."""

    M: np.ndarray
    P: list[np.ndarray]
    EM: np.ndarray
    EP: list[np.ndarray]
    abs_p: list[np.ndarray]
    base: np.ndarray


def _pattern(cache: LayerCache, key: bytes, heads: Sequence[Any], W1: np.ndarray,  # noqa: N803
             W2: np.ndarray, d: int) -> Pattern:  # noqa: N803
    """The :class:`Pattern` of the activation pattern ``key`` (cached per layer)."""
    hit = cache.patterns.get(key)
    if hit is not None and len(hit.P) == len(heads):
        return hit
    assert cache.plan is not None
    rows, C = cache.plan.written, cache.plan.vcols
    sigma = np.frombuffer(key, dtype=np.int8).astype(bool)
    W1s, W2s = W1[sigma], W2[rows][:, sigma]
    prod = W2s @ W1s
    M = np.eye(d)[rows] + prod
    # |M - fl M|: the product's error, then the addition of I (at most one ulp of the result)
    with np.errstate(over="ignore", invalid="ignore"):
        EM = add_up(matmul_error(W2s, W1s), np.spacing(np.abs(M)))
        base = _coefficients(M[None], EM[None], [], [], np.zeros((0, 1)), np.zeros((0, 1)))[0]
        P = [M @ hd.V[:, C] for hd, *_ in heads]
        # |M V - fl(fl M V)| <= |fl(fl M V) - fl M V| + |fl M - M| |V|
        EP = [add_up(matmul_error(M, hd.V[:, C]), nonneg_matmul_up(EM, hd.abs_v[:, C]))
              for hd, *_ in heads]
        abs_p = [add_up(np.abs(p), e) for p, e in zip(P, EP)]
    out = Pattern(M[:, C], P, EM[:, C], EP, abs_p, base)
    cache.patterns[key] = out
    return out
