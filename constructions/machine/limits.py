"""Size limits: how big a machine's network would be, estimated before anything is built.

:func:`check_fits` is called by :func:`constructions.computer.build` and by every command that
takes a machine size, so an absurd size (``--words 2**40``) is refused with the estimate and the
limit instead of exhausting memory.
"""

from __future__ import annotations

import os

from verify.errors import ParameterError

from .subleq import MachineSize

BYTES_PER_WEIGHT = 600
"""Memory one weight of a built network takes (measured: about 550 bytes for ``paper`` at
1024 words, 150 for ``compact``, counting the symbolic units the build goes through)."""

# Weight count of each profile as a function of the size, fitted on 84 built networks from
# 2 to 64 words and slots and 2 to 48 bits and checked on larger ones (up to 1024 words for
# paper): every estimate was within 20% of the true count. Terms, in this order:
# M*N*m, M*N, K*Q*k, N*N, W (state width), 1, and for compact M*N*m*K (the fetch sum folded
# into the data match), M*N*N (the read sums folded into the thresholds), K*Q*N.
_FIT = {
    "paper": (3.5, 9.33, 1.12, 6.37, 24.7, 174.0, 0.0, 0.0, 0.0),
    "paper-minimal": (3.67, 8.19, 1.09, 6.24, 15.78, 114.0, 0.0, 0.0, 0.0),
    "compact": (2.17, 31.33, 0.91, 0.0, 7.5, 54.0, 2.0, 6.02, 0.02),
}


def direct_weights(profile: str, size: MachineSize) -> int:
    """The exact nonzero weight count of ``three-layer`` or ``two-layer`` (written from formulas,
    :mod:`constructions.computer.direct`), layer by layer: copies, matches, gated thresholds
    (each reading the whole operand sum), decode."""
    M, N, K = size.words, size.bits, size.slots
    m, k, q = size.addr_bits, size.pc_bits, size.ins_bits
    carry = M * N + K * q
    inc = 2 * k * (k + 1)
    decode = 8 * M * N + K * q + 13 * k
    if profile == "two-layer":
        first = (carry + 2 * K * M * (N * (N + 1) // 2 + N * (k + m)) + K * M * (k + m)
                 + K * k * (1 + k) + inc)
        second = (carry + M * N * (1 + K) + 6 * M * N * (2 * K * M + K)
                  + 6 * k * (4 * K * M + K + 4) + 4 * k)
        return first + second + decode
    first = carry + K * q * (1 + k) + inc
    second = carry + 3 * M * N * (1 + m * K) + M * m * K + k * K + 4 * k
    third = carry + M * N + 6 * M * (M * N * (N + 1) + N) + 6 * k * (4 * N * M + 2) + k
    return first + second + third + decode


def estimate_weights(profile: str, size: MachineSize, folded: bool = True) -> int:
    """About how many nonzero weights ``build(profile, size)`` makes, computed without building
    (exactly, for the profiles of :func:`direct_weights`).

    ``folded=False`` sizes what ``build`` forms at once: for ``compact`` its unfolded layers (the
    folded ones are formed on first use), estimated by ``paper-minimal``'s formula, which was
    16 to 22% above the true count from 16 to 256 words. A profile without a fitted formula
    gets the largest estimate of the known ones.
    """
    if profile in ("three-layer", "two-layer"):
        return direct_weights(profile, size)
    if profile == "compact" and not folded:
        return estimate_weights("paper-minimal", size)
    M, N, K = size.words, size.bits, size.slots
    m, k, q = size.addr_bits, size.pc_bits, size.ins_bits
    width = M * N + K * q + k
    terms = (M * N * m, M * N, K * q * k, N * N, width, 1, M * N * m * K, M * N * N, K * q * N)
    fits = [_FIT[profile]] if profile in _FIT else list(_FIT.values())
    return max(round(sum(c * t for c, t in zip(fit, terms))) for fit in fits)


def memory_budget() -> int:
    """Bytes a network or a trace may take: half of this machine's memory (8 GiB if unknown)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        total = 16 << 30
    return max(total, 1 << 30) // 2


def gib(n: float) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def check_fits(profile: str, size: MachineSize, options: str = "the machine size",
               folded: bool = True) -> int:
    """Refuse a machine whose network would not fit in :func:`memory_budget`, before building
    (``folded``: as :func:`estimate_weights`).

    Returns the estimated weight count. The :class:`~verify.errors.ParameterError` gives the
    estimate and the limit, e.g. ``size='words=4096, bits=64, slots=4096': need a paper network
    of at most ... weights``.
    """
    weights = estimate_weights(profile, size, folded)
    budget = memory_budget()
    most = budget // BYTES_PER_WEIGHT
    if weights > most:
        raise ParameterError(
            "size", f"words={size.words}, bits={size.bits}, slots={size.slots}",
            f"a {profile}{' (unfolded)' if profile == 'compact' and not folded else ''} "
            f"network of at most {most:,} weights ({gib(budget)}, half of this "
            f"machine's memory); this one would have about {weights:,} weights (about "
            f"{gib(weights * BYTES_PER_WEIGHT)} to build): lower {options}")
    return weights

