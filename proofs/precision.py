"""Precision certificates of the computer: the ``precision/<profile>[M=..,N=..,K=..]``
obligations, and the largest word width at which a float format is certified exact.

Design notes: docs/design/proofs.precision.md.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from constructions.computer import PROFILES, Computer, build
from constructions.computer.runtime import certificate
from constructions.machine.subleq import MachineSize, State, filler
from verify import names
from verify.errors import ParameterError
from verify.exact.precision import FORMATS, QUANTITIES, Certificate, measure
from verify.methods import Options
from verify.result import Result, Verdict

from .registry import Entry

EXHAUSTIVE_MAX = 16
"""Largest state width (bits) measured exhaustively (2^16 states)."""
FAST_SIZES = ((2, 3, 2), (16, 16, 64))
SLOW_SIZES = ((2, 4, 2), (16, 24, 64), (16, 32, 256))
ORDERS = ("any", "natural")


def formula(profile: str, bits: int) -> dict[str, int]:
    """The closed forms of the largest values of the data path (the words' bits), which do not
    depend on M or K. The certificate at (M, N, K) is never below them, and equals them when
    N is large against ``log2 M`` and ``log2 K``; otherwise the address path dominates (match
    units up to ``4L + 1`` for ``L`` address bits, increment thresholds ``2^k - 1`` for ``k``
    PC bits, compact's write gates ``6 * 2^N - 3 + 4m``) and the certificate is larger."""
    half = 1 << (bits - 1)
    out = {"pre": 3 * half, "natural": 3 * half, "weight": half + 1}
    if profile == "compact":
        out.update(any_order=10 * (1 << bits) - 5, product=(1 << (bits + 1)) - 2)
    else:
        out.update(any_order=6 * (1 << bits) - 3, product=3 * half)
    return out


def name(profile: str, size: MachineSize) -> str:
    """``precision/paper[M=16,N=16,K=64]``."""
    return names.name(f"precision/{profile}", {"M": size.words, "N": size.bits, "K": size.slots})


def witness_states(size: MachineSize, extra: int = 24, seed: int = 0) -> list[State]:
    """Candidate states for the largest values: subtracting 0 from an all-ones word (the largest
    prefix sums), all-ones operands, the last slot, and ``extra`` random states."""
    m, n, k = size.words, size.bits, size.slots
    ones = (1 << n) - 1
    code = [filler(j) for j in range(k)]
    out = []
    for pc, (a, b, c), mem in (
        (0, (0, 1, 0), [0, ones] + [0] * (m - 2)),
        (0, (0, 1, k - 1), [ones, ones] + [ones] * (m - 2)),
        (k - 1, (m - 1, m - 2, k - 1), [ones] * (m - 2) + [ones, 0]),
        (k - 1, (m - 1, m - 1, k - 1), [ones] * m),
    ):
        prog = list(code)
        prog[pc] = (a, b, c)
        out.append(State(tuple(mem), tuple(prog), pc))
    out.append(State((ones,) * m, tuple((m - 1, m - 1, k - 1) for _ in range(k)), k - 1))
    rng = np.random.default_rng(seed)
    for _ in range(extra):
        words = tuple(int(v) for v in rng.integers(0, 1 << min(n, 62), m))
        table = tuple((int(rng.integers(m)), int(rng.integers(m)), int(rng.integers(k)))
                      for _ in range(k))
        out.append(State(words, table, int(rng.integers(k))))
    return out


def _states(computer: Computer) -> tuple[np.ndarray, str]:
    width = len(computer.network.inputs)
    if width <= EXHAUSTIVE_MAX:
        grid = (np.arange(1 << width)[:, None] >> np.arange(width)[None, :]) & 1
        return grid.astype(np.int64), "exhaustive"
    return np.stack([computer.encode(s) for s in witness_states(computer.size)]), "witness"


def check(profile: str, size: MachineSize) -> Result:
    """The obligation ``precision/<profile>[...]`` (see the module docstring)."""
    t0 = time.perf_counter()
    comp = build(profile, size)
    cert = certificate(comp)
    states, how = _states(comp)
    seen = measure(comp.network, states)
    got = seen.certificate
    want = formula(profile, size.bits)
    details: dict[str, Any] = {
        "bound": {q: cert.largest(q) for q in QUANTITIES},
        "measured": {q: got.largest(q) for q in QUANTITIES},
        "formula": want,
        "where": {q: list(cert.where(q)) for q in QUANTITIES},
        "states": how,
        "exact": {f"{fmt}/{order}": cert.exact_in(fmt, order) for fmt in FORMATS
                  for order in ORDERS},
    }
    over = [(i, q) for i, (b, g) in enumerate(zip(cert.layers, got.layers))
            for q in QUANTITIES if getattr(g, q) > getattr(b, q)]
    seconds = time.perf_counter() - t0
    n = int(states.shape[0])
    total = 1 << len(comp.network.inputs)
    if over:
        i, q = over[0]
        return Result(name(profile, size), Verdict.REFUTED, "certificate", n, total, seconds,
                      f"layer {i} ({cert.layers[i].label}): measured {q} "
                      f"{getattr(got.layers[i], q)} above the proved bound "
                      f"{getattr(cert.layers[i], q)}", None, details)
    w = seen.witness.get("any_order", 0)
    details["witness"] = _describe(comp.decode(states[w]))
    loose = [q for q in QUANTITIES[:4] if got.largest(q) != cert.largest(q)]
    off = [q for q in want if cert.largest(q) != want[q]]
    if loose or off:
        why = (f"not attained by the {how} states: {', '.join(loose)}" if loose else
               f"differs from the closed form: {', '.join(off)}")
        return Result(name(profile, size), Verdict.UNKNOWN, "certificate", n, total, seconds,
                      why, None, details)
    return Result(name(profile, size), Verdict.PROVED, "certificate", n, total, seconds,
                  f"bounds proved, attained ({how}), equal to the closed forms", None, details)


def _describe(state: State) -> dict[str, Any]:
    return {"pc": state.pc, "instruction": list(state.code[state.pc]),
            "memory": list(state.memory)}


def _entry(profile: str, size: tuple[int, int, int], slow: bool) -> Entry:
    ms = MachineSize(*size)

    def run(opts: Options) -> Result:
        return check(profile, ms)

    return Entry(name(profile, ms), run, slow)


def entries() -> list[Entry]:
    """One obligation per profile and size; the larger sizes are slow."""
    return [_entry(p, s, slow) for slow, sizes in ((False, FAST_SIZES), (True, SLOW_SIZES))
            for p in PROFILES for s in sizes]


# ---------------------------------------------------------------------------- largest N
def largest_bits(profile: str, words: int, slots: int, fmt: str, order: str = "any",
                 cert_of: Callable[[str, MachineSize], Certificate] | None = None,
                 confirm: bool = True) -> int:
    """The largest N (2 <= N <= 64) at which the format is certified exact at (M, N, K), or 1
    when none is. The value returned is always certified by the analysis at (M, N, K) itself:
    the closed forms (:func:`formula`) give only an upper bound, since the certificate is never
    below them but exceeds them where the address path dominates (small N against log2 M or
    log2 K). The search starts at that bound and goes down (by bisection: the certificate grows
    with N, every bound being a multiple of 2^N plus a term of M and K) to the largest N the
    analysis certifies; with ``confirm`` it also checks that N + 1 is not certified."""
    cert_of = cert_of or _certificate
    p = FORMATS[fmt][0]
    key = "any_order" if order == "any" else "natural"

    def need(bits: int) -> int:
        if profile not in PROFILES:  # no closed form: the search starts at 64 bits
            return 0
        f = formula(profile, bits)
        return max(f[key], f["weight"], 0 if order == "any" else f["product"])

    def exact(bits: int) -> bool:
        return cert_of(profile, MachineSize(words, bits, slots)).exact_in(fmt, order)

    bound = max([b for b in range(2, 65) if need(b) <= 1 << p], default=1)
    if bound < 2:
        return 1
    if exact(bound):
        best = bound
    elif not exact(2):
        return 1
    else:  # exact at lo, not at hi
        lo, hi = 2, bound
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if exact(mid) else (lo, mid)
        best = lo
    if confirm and best < 64 and exact(best + 1):
        raise ParameterError("precision", f"{profile} N={best + 1}",
                             "a certificate no smaller than its closed form")
    return best


@functools.lru_cache(maxsize=64)
def _certificate(profile: str, size: MachineSize) -> Certificate:
    return certificate(build(profile, size))
