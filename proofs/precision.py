"""Precision certificates of the computer: ``precision/<profile>[M=..,N=..,K=..]`` obligations and
``loopmlp precision``.

For a profile and a machine size, :func:`constructions.engine.certificate` proves upper bounds on
every pre-activation and partial sum over every canonical state (:mod:`verify.precision`). An
obligation here checks three things:

1. the bounds hold where they can be measured: exhaustively over every canonical state at small
   sizes (every state the machine can be in: all bit patterns, since M and K are powers of two),
   on witness states otherwise; a measured value above its bound refutes the analysis;
2. they are attained: a witness state (decoded, in the details) reaches the largest value of
   every quantity, so the bound is the exact maximum;
3. they equal the closed forms of :func:`formula` (independent of M and K):
   ``paper``/``paper-minimal``: pre-activation 3 * 2^(N-1), any-order sum 6 * 2^N - 3;
   ``compact``: pre-activation 3 * 2^(N-1), any-order sum 10 * 2^N - 5.

A p-bit significand executes the network exactly when the needed magnitude is at most 2^p.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from constructions.computer import PROFILES, Computer, build
from constructions.engine import certificate
from constructions.subleq import MachineSize, State, filler
from verify.engines import Options
from verify.errors import ParameterError
from verify.precision import FORMATS, QUANTITIES, Certificate, measure
from verify.result import Result, Verdict

from .registry import Entry

EXHAUSTIVE_MAX = 16
"""Largest state width (bits) measured exhaustively (2^16 states)."""
FAST_SIZES = ((2, 3, 2), (16, 16, 64))
SLOW_SIZES = ((2, 4, 2), (16, 24, 64), (16, 32, 256))
ORDERS = ("any", "natural")


def formula(profile: str, bits: int) -> dict[str, int]:
    """The closed forms of the largest values (they do not depend on M or K)."""
    half = 1 << (bits - 1)
    out = {"pre": 3 * half, "natural": 3 * half, "weight": half + 1}
    if profile == "compact":
        out.update(any_order=10 * (1 << bits) - 5, product=(1 << (bits + 1)) - 2)
    else:
        out.update(any_order=6 * (1 << bits) - 3, product=3 * half)
    return out


def name(profile: str, size: MachineSize) -> str:
    """``precision/paper[M=16,N=16,K=64]``."""
    return f"precision/{profile}[M={size.words},N={size.bits},K={size.slots}]"


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
    when none is. Found from the closed forms and, with ``confirm``, checked by the analysis at
    N and N + 1 (the certificate grows with N: every bound is a multiple of 2^N plus a
    constant)."""
    cert_of = cert_of or (lambda p, s: certificate(build(p, s)))
    p = FORMATS[fmt][0]
    key = "any_order" if order == "any" else "natural"

    def need(bits: int) -> int:
        f = formula(profile, bits)
        return max(f[key], f["weight"], 0 if order == "any" else f["product"])

    guess = max([b for b in range(2, 65) if need(b) <= 1 << p], default=1)
    for bits in (guess, guess + 1) if confirm else ():
        if 2 <= bits <= 64:
            exact = cert_of(profile, MachineSize(words, bits, slots)).exact_in(fmt, order)
            if exact != (bits == guess):
                raise ParameterError("precision", f"{profile} N={bits}",
                                     "a certificate that agrees with its closed form")
    return guess


# ---------------------------------------------------------------------------- command
def add_commands(sub: Any) -> None:
    """Register ``precision``."""
    from .cli import EXIT_CODES
    from .machine_cli import _int

    p = sub.add_parser("precision", help="precision certificates: largest values, and the "
                       "float formats that run the network exactly", epilog=EXIT_CODES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", choices=PROFILES, action="append",
                   help="a profile (repeatable; default: all)")
    p.add_argument("--words", type=_int, default=16, metavar="M")
    p.add_argument("--bits", type=_int, default=16, metavar="N")
    p.add_argument("--slots", "--program-words", dest="slots", type=_int, default=64,
                   metavar="K")
    p.add_argument("--confirm-all", action="store_true",
                   help="check the largest N of every format by the analysis (default: float32; "
                   "the others from the closed forms)")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=cmd_precision)


def table(profiles: list[str], size: MachineSize,
          confirmed: tuple[str, ...] = ("float32",)) -> list[dict[str, Any]]:
    """One row per profile: the certificate at ``size`` and the largest certified N per format
    (checked by the analysis at N and N + 1 for the ``confirmed`` formats, from the closed forms
    for the others)."""
    rows = []
    for prof in profiles:
        cert = certificate(build(prof, size))
        row: dict[str, Any] = {
            "profile": prof, "words": size.words, "bits": size.bits, "slots": size.slots,
            "max_preactivation": cert.largest("pre"),
            "max_partial_sum_natural": cert.largest("natural"),
            "max_partial_sum_any_order": cert.largest("any_order"),
            "formats": {},
        }
        for fmt in FORMATS:
            confirm = fmt in confirmed
            row["formats"][fmt] = {
                "significand_bits": FORMATS[fmt][0],
                "exact": cert.exact_in(fmt, "any"),
                "exact_natural_order": cert.exact_in(fmt, "natural"),
                "largest_bits": largest_bits(prof, size.words, size.slots, fmt, "any",
                                             confirm=confirm),
                "largest_bits_natural_order": largest_bits(prof, size.words, size.slots, fmt,
                                                           "natural", confirm=confirm),
                "largest_bits_confirmed": confirm,
            }
        rows.append(row)
    return rows


def cmd_precision(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Print the certificate table."""
    size = MachineSize(args.words, args.bits, args.slots)
    rows = table(list(args.profile or PROFILES), size,
                 tuple(FORMATS) if args.confirm_all else ("float32",))
    if args.json:
        print(json.dumps({"rows": rows}, indent=2), file=out)
        return 0
    print(f"precision certificates over every canonical state, M={size.words} N={size.bits} "
          f"K={size.slots}", file=out)
    print("exact: yes/no at this size in any summation order (natural order in brackets); "
          "N<=: largest N certified at this M, K (float32 checked by the analysis at N and "
          "N+1; the others from the closed forms unless --confirm-all)", file=out)
    head = f"{'profile':<14}{'max|pre|':>14}{'max|partial|':>14}{'sum|w x|+|b|':>16}"
    for fmt in FORMATS:
        head += f"  {fmt + ' (p=' + str(FORMATS[fmt][0]) + ')':<22}"
    print(head, file=out)
    for r in rows:
        line = (f"{r['profile']:<14}{r['max_preactivation']:>14}"
                f"{r['max_partial_sum_natural']:>14}{r['max_partial_sum_any_order']:>16}")
        for fmt in FORMATS:
            f = r["formats"][fmt]
            yes = "yes" if f["exact"] else "no"
            nat = "yes" if f["exact_natural_order"] else "no"
            cell = f"{yes} ({nat}) N<={f['largest_bits']} ({f['largest_bits_natural_order']})"
            line += f"  {cell:<22}"
        print(line, file=out)
    return 0
