"""Symbolic facts of the fast weight programmer family: no one-layer LT recognises parity for
every length, and DeltaNet's transition has its spectrum in (0, 1] in every dimension.

Both are statements about a model class or about every dimension, so their checks run on
symbols (sympy sums over a symbolic number of terms, z3 over real parameters). What the code
checks and what rests on the argument in the docstrings is said in each function and in
``docs/fwp.md``.
"""

from __future__ import annotations

import time
from typing import Any

from constructions.fwp.languages import language
from verify.methods import Options
from verify.result import Result, Verdict

PARITY = "fwp/lt/parity/no-one-layer"
SPECTRUM_ANY = "fwp/deltanet/spectrum[n=any]"


def _bad(name: str, wrong: str | None) -> Any:
    """A stray symbol added to the identity ``name`` when it is the one asked to be ``wrong``:
    the tests use it to see every check fail on a false identity."""
    import sympy

    return sympy.Symbol("stray") if name == wrong else 0


def _zero(expr: Any) -> bool:
    import sympy

    return bool(sympy.simplify(sympy.expand(expr)) == 0)


def parity_identities(wrong: str | None = None) -> dict[str, bool]:
    """The algebraic steps of the parity argument, each checked by sympy on symbols (symbolic
    widths ``d`` and hidden sizes ``f``, symbolic length ``n``):

    * ``recurrence``: ``W_n = n M`` solves ``W_0 = 0, W_n = W_{n-1} + M`` for a matrix symbol
      ``M = v (x) phi(k)`` of symbolic size, so ``y_n = W_n phi(q) = n y_1``;
    * ``normalised``: with sum normalisation ``y_n / (z_n . phi(q)) = y_1 / (z_1 . phi(q))`` when
      ``z_n = n z_1`` (the attention output is constant in n);
    * ``centring``: ``(e + n w) - mean(e + n w) = (e - mean e) + n (w - mean w)``;
    * ``variance``: ``sum_i (a_i + n b_i)^2 / d + eps = A + B n + C n^2`` with
      ``A = |a|^2/d + eps``, ``B = 2 a.b/d``, ``C = |b|^2/d``;
    * ``hidden``: a feed-forward pre-activation ``sum_i W_i ((a_i + n b_i) g_i / sqrt(Q) + l_i)
      + c`` is ``(alpha + beta n) / sqrt(Q) + gamma``;
    * ``readout``: ``sum_j rho_j s_j p_j(n) + r.(e + n w) + c`` with every ``p_j`` of that form
      and constant ``s_j`` is ``(alpha + beta n) / sqrt(Q) + gamma + delta n``;
    * ``derivative``: ``G(n) = (alpha + beta n) / sqrt(Q) + gamma + delta n`` has
      ``G'(n) = L(n) / Q^(3/2) + delta`` with ``L(n) = (beta A - alpha B / 2) + (beta B / 2 -
      alpha C) n``, linear in n;
    * ``vanishing``: ``L(n) / Q^(3/2) -> 0`` as ``n -> oo`` when ``C > 0``;
    * ``degenerate`` (z3): if ``A' + B n >= 0`` for every real n (``Q - eps``, a sum of squares,
      when ``C = 0``) then ``B = 0``.
    """
    import sympy
    import z3

    out: dict[str, bool] = {}
    n = sympy.Symbol("n", nonnegative=True)
    m = sympy.Symbol("m", integer=True, positive=True)
    size = sympy.Symbol("s", integer=True, positive=True)
    M = sympy.MatrixSymbol("M", size, size)
    out["recurrence"] = all(bool(getattr(sympy.simplify(x), "is_ZeroMatrix", False))
                            for x in (0 * M,  # W_0 = 0 M
                                      (m - 1) * M + M - m * M + _bad("recurrence", wrong) * M))
    y1, z1 = sympy.symbols("y1 z1", positive=True)
    out["normalised"] = _zero(m * y1 / (m * z1) - y1 / z1 + _bad("normalised", wrong))

    d = sympy.Symbol("d", integer=True, positive=True)
    f = sympy.Symbol("f", integer=True, positive=True)
    i, j, l2 = sympy.symbols("i j l", integer=True)
    e, w, a, b, g, lb, Wr, rho, s, al, be, ga = (sympy.IndexedBase(x) for x in (
        "e", "w", "a", "b", "g", "lb", "W", "rho", "s", "al", "be", "ga"))
    eps = sympy.Symbol("epsilon", positive=True)
    mean = sympy.Sum(e[l2] + n * w[l2], (l2, 1, d)) / d
    centred = e[i] + n * w[i] - mean
    want = (e[i] - sympy.Sum(e[l2], (l2, 1, d)) / d) + n * (w[i] - sympy.Sum(w[l2], (l2, 1, d)) / d)
    out["centring"] = _zero(centred - want + _bad("centring", wrong))
    var = sympy.Sum((a[i] + n * b[i]) ** 2, (i, 1, d)) / d + eps
    A = sympy.Sum(a[i] ** 2, (i, 1, d)) / d + eps
    B = 2 * sympy.Sum(a[i] * b[i], (i, 1, d)) / d
    C = sympy.Sum(b[i] ** 2, (i, 1, d)) / d
    out["variance"] = _zero(var - (A + B * n + C * n ** 2) + _bad("variance", wrong))
    Q = sympy.Symbol("Q", positive=True)
    c0 = sympy.Symbol("c0")
    pre = sympy.Sum(Wr[i] * ((a[i] + n * b[i]) * g[i] / sympy.sqrt(Q) + lb[i]), (i, 1, d)) + c0
    form = (sympy.Sum(Wr[i] * a[i] * g[i], (i, 1, d)) + n * sympy.Sum(Wr[i] * b[i] * g[i],
                                                                     (i, 1, d))) / sympy.sqrt(Q) \
        + sympy.Sum(Wr[i] * lb[i], (i, 1, d)) + c0
    out["hidden"] = _zero(pre - form + _bad("hidden", wrong))
    r = sympy.IndexedBase("r")
    p = (al[j] + be[j] * n) / sympy.sqrt(Q) + ga[j]
    logit = sympy.Sum(rho[j] * s[j] * p, (j, 1, f)) + sympy.Sum(r[i] * (e[i] + n * w[i]),
                                                                (i, 1, d)) + c0
    form = (sympy.Sum(rho[j] * s[j] * al[j], (j, 1, f))
            + n * sympy.Sum(rho[j] * s[j] * be[j], (j, 1, f))) / sympy.sqrt(Q) \
        + (sympy.Sum(rho[j] * s[j] * ga[j], (j, 1, f)) + sympy.Sum(r[i] * e[i], (i, 1, d)) + c0) \
        + n * sympy.Sum(r[i] * w[i], (i, 1, d))
    out["readout"] = _zero(logit - form + _bad("readout", wrong))

    alpha, beta, gamma, delta, Bs = sympy.symbols("alpha beta gamma delta B", real=True)
    As, Cs = sympy.symbols("A C", positive=True)
    Qs = As + Bs * n + Cs * n ** 2
    G = (alpha + beta * n) / sympy.sqrt(Qs) + gamma + delta * n
    L = (beta * As - alpha * Bs / 2) + (beta * Bs / 2 - alpha * Cs) * n
    out["derivative"] = _zero(sympy.diff(G, n) - L / Qs ** sympy.Rational(3, 2) - delta
                              + _bad("derivative", wrong)) and \
        sympy.degree(sympy.expand(L), n) <= 1
    out["vanishing"] = sympy.limit(L / Qs ** sympy.Rational(3, 2) + _bad("vanishing", wrong), n,
                                   sympy.oo) == 0

    za, zb = z3.Reals("A1 B")
    solver = z3.Solver()
    solver.set("timeout", 10_000)
    # the point n = -(A' + 1) / B would make A' + B n = -1 < 0
    solver.add(za >= 0, zb != 0, za + zb * (-(za + 1) / zb) >= (-1 if wrong == "degenerate" else 0))
    out["degenerate"] = solver.check() == z3.unsat
    return out


def parity_alternates(length: int = 8) -> bool:
    """The parity language's target on ``1^n`` alternates for every n: in its automaton ``1``
    swaps the two states, whose classes differ (checked on the automaton), and the language's
    targets on ``1^1 .. 1^length`` agree."""
    lang = language("parity")
    dfa = lang.dfa
    if dfa is None or dfa.states != 2:
        return False
    one = lang.alphabet.index("1")
    swaps = all(dfa.delta[q][one] == 1 - q for q in range(2)) and dfa.accept[0] != dfa.accept[1]
    ts = lang.targets(lang.encode("1" * length))
    return swaps and all(ts[k] != ts[k + 1] for k in range(length - 1))


def no_one_layer_parity(opts: Options) -> Result:
    """No one-layer LT (any width, heads, weights, feed-forward size) decides parity for every
    length.

    Argument: on ``1^n`` every position holds the same token and there is no positional input,
    so ``q, k, v`` are the same at every step (read off the kernel's text, not machine-checked);
    hence ``y_n = n y_1`` (constant with sum normalisation) and the residual is ``e + n w``. Its
    layer norm is ``(a + n b) g / sqrt(Q(n)) + l`` coordinatewise, Q quadratic; every hidden
    pre-activation is ``G_j(n) = (alpha_j + beta_j n) / sqrt(Q) + gamma_j``. A function of this
    form (plus ``delta n``) has a derivative ``L(n) / Q^(3/2) + delta``: eventually of one sign
    (``L`` linear; the first term vanishes at infinity when ``C > 0``, and ``C = 0`` forces
    ``B = 0``, Q constant), so it is eventually monotone and eventually of one sign. So every
    ReLU is eventually 0 or the identity, the class-1-minus-class-0 logit is eventually of the
    same form, eventually of one sign, and the decision eventually constant, while parity's
    target on ``1^n`` alternates. The machine checks every identity of this chain
    (:func:`parity_identities`) and the alternation (:func:`parity_alternates`); the chaining
    is this text.
    """
    t0 = time.perf_counter()
    checks = parity_identities()
    checks["alternates"] = parity_alternates()
    secs = time.perf_counter() - t0
    failed = [k for k, ok in checks.items() if not ok]
    details = {"method": "sympy + z3", "checks": checks}
    if failed:
        return Result(PARITY, Verdict.UNKNOWN, "symbolic", len(checks) - len(failed),
                      len(checks), secs, f"not established: {', '.join(failed)}",
                      details=details)
    return Result(PARITY, Verdict.PROVED, "symbolic", len(checks), len(checks), secs,
                  "every one-layer LT's decision on 1^n is eventually constant (symbolic "
                  "identities for any width, heads and weights); parity alternates",
                  details=details)


def spectrum_identities(wrong: str | None = None) -> dict[str, bool]:
    """DeltaNet's transition ``A = I - beta k k^T`` in a symbolic dimension ``n`` (sympy sums over
    ``j = 1..n``, entry ``i`` with ``1 <= i <= n``):

    * ``eigen-k``: ``(A k)_i = (1 - beta |k|^2) k_i``;
    * ``eigen-perp``: ``(A v)_i = v_i - beta (k.v) k_i``, so ``A v = v`` when ``k.v = 0``;
    * ``split``: ``x = (k.x / |k|^2) k + w`` with ``k.w = 0`` (the two parts span R^n);
    * ``square`` (z3): ``0 <= x <= 1`` implies ``x^2 <= x`` (so ``|k|^2 <= sum k = 1``);
    * ``range`` (z3): ``0 < S <= 1`` and ``0 < beta < 1`` give ``0 < 1 - beta S <= 1``.
    """
    import sympy
    import z3

    n = sympy.Symbol("n", integer=True, positive=True)
    i, j = sympy.symbols("i j", integer=True)
    beta = sympy.Symbol("beta")
    k, v, x = (sympy.IndexedBase(s) for s in ("k", "v", "x"))
    in_range = sympy.And(i >= 1, i <= n)

    def entry(expr: Any) -> Any:
        # a Kronecker sum gives Piecewise((value, 1 <= i <= n), (0, True)): take the entry i
        return expr.replace(
            lambda e: isinstance(e, sympy.Piecewise) and len(e.args) == 2
            and e.args[0].cond == in_range and e.args[1] == (0, True),
            lambda e: e.args[0].expr)

    def apply(vec: Any) -> Any:
        return entry(sympy.expand(sympy.Sum((sympy.KroneckerDelta(i, j) - beta * k[i] * k[j])
                                            * vec[j], (j, 1, n))).doit())

    # every sum is over j (sympy compares sums by their bound symbol; an inner sum binds its own)
    S = sympy.Sum(k[j] ** 2, (j, 1, n))
    out: dict[str, bool] = {}
    out["eigen-k"] = _zero(apply(k) - (1 - beta * S) * k[i] + _bad("eigen-k", wrong))
    kv = sympy.Sum(k[j] * v[j], (j, 1, n))
    out["eigen-perp"] = _zero(apply(v) - (v[i] - beta * kv * k[i]) + _bad("eigen-perp", wrong))
    kx = sympy.Sum(k[j] * x[j], (j, 1, n))
    out["split"] = _zero(sympy.Sum(k[j] * (x[j] - kx / S * k[j]), (j, 1, n))
                         + _bad("split", wrong)) and \
        _zero(kx / S * k[i] + (x[i] - kx / S * k[i]) - x[i])
    zx, zs, zb = z3.Reals("x S beta")
    checks = {"square": [zx >= 0, zx <= 1 + (wrong == "square"), zx * zx > zx],
              "range": [zs > 0, zs <= 1 + (wrong == "range"), zb > 0, zb < 1,
                        z3.Or(1 - zb * zs <= 0,
                                                              1 - zb * zs > 1)]}
    for name, facts in checks.items():
        solver = z3.Solver()
        solver.set("timeout", 10_000)
        solver.add(*facts)
        out[name] = solver.check() == z3.unsat
    return out


def spectrum_any(opts: Options) -> Result:
    """DeltaNet's transition ``I - beta k k^T`` has its spectrum in (0, 1] in every dimension.

    Checked (:func:`spectrum_identities`): ``k`` is an eigenvector with eigenvalue
    ``1 - beta |k|^2``, every vector orthogonal to ``k`` is fixed, every vector splits into the
    two; ``x^2 <= x`` on [0, 1]; and the eigenvalue range. Argument: the orthogonal complement
    of ``k != 0`` has dimension ``n - 1``, so the spectrum is ``{1, 1 - beta |k|^2}``; DeltaNet's
    key is positive (``phi > 0``) and sums to 1, so each entry is in (0, 1], and summing
    ``k_i^2 <= k_i`` gives ``0 < |k|^2 <= 1``; ``beta = sigmoid(b)`` is in (0, 1).
    """
    t0 = time.perf_counter()
    checks = spectrum_identities()
    secs = time.perf_counter() - t0
    failed = [k for k, ok in checks.items() if not ok]
    details = {"method": "sympy + z3", "checks": checks}
    if failed:
        return Result(SPECTRUM_ANY, Verdict.UNKNOWN, "symbolic", len(checks) - len(failed),
                      len(checks), secs, f"not established: {', '.join(failed)}",
                      details=details)
    return Result(SPECTRUM_ANY, Verdict.PROVED, "symbolic", len(checks), len(checks), secs,
                  "eigenvalues 1 (on k's orthogonal complement) and 1 - beta |k|^2 in (0, 1] "
                  "(on k), for a symbolic dimension n", details=details)
