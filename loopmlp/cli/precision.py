"""``loopmlp precision``: the precision certificates of the profiles at a machine size, and the
float formats that run each network exactly."""

from __future__ import annotations

import argparse
import functools
import json
from typing import IO, Any

from constructions.computer import ALL_PROFILES, PROFILES, build
from constructions.computer.runtime import certificate
from constructions.machine.subleq import MachineSize
from proofs.precision import largest_bits
from verify.exact.precision import FORMATS, Certificate

from .args import integer
from .common import command
from .progress import Tracker, tracker

ORDERS = (("any", "any order"), ("natural", "natural order"))
"""The summation orders a largest N is searched for: (argument, words on the display)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``precision``: profiles and the machine size."""
    command(p)
    p.add_argument("--profile", choices=ALL_PROFILES, action="append",
                   help="a profile (repeatable; default: paper, paper-minimal and compact; "
                        "three-layer and two-layer when named, their largest N searched "
                        "from 64 bits down)")
    p.add_argument("--words", type=integer, default=16, metavar="M",
                   help="data words of the machine (default 16)")
    p.add_argument("--bits", type=integer, default=16, metavar="N",
                   help="bits per word (default 16)")
    p.add_argument("--slots", "--program-words", dest="slots", type=integer, default=64,
                   metavar="K", help="instruction slots (default 64)")
    p.add_argument("--confirm-all", action="store_true",
                   help="check that N + 1 is not certified for every format's largest N "
                   "(default: float32 only; every largest N is itself certified at M, K)")
    p.add_argument("--json", action="store_true",
                   help="print the table as JSON (no progress display)")
    p.set_defaults(func=cmd_precision)


@functools.lru_cache(maxsize=64)
def _certificate(profile: str, size: MachineSize) -> Certificate:
    return certificate(build(profile, size))


def steps(profiles: list[str]) -> int:
    """The items of :func:`table`'s work: per profile, its certificate at the size, and the
    search for the largest N of every format in both summation orders."""
    return len(profiles) * (1 + len(FORMATS) * len(ORDERS))


def table(profiles: list[str], size: MachineSize,
          confirmed: tuple[str, ...] = ("float32",),
          track: Tracker | None = None) -> list[dict[str, Any]]:
    """One row per profile: the certificate at ``size`` and the largest N per format that the
    analysis certifies at ``size``'s M and K (also checked to be the largest, at N + 1, for the
    ``confirmed`` formats). ``track`` is told each item (:func:`steps` in all) as it starts and
    ends, and each N the bisection tries."""
    rows = []
    for prof in profiles:
        if track is not None:
            track.item(f"{prof} certificate M={size.words} N={size.bits} K={size.slots}")
        cert = _certificate(prof, size)
        if track is not None:
            track.advance()
        row: dict[str, Any] = {
            "profile": prof, "words": size.words, "bits": size.bits, "slots": size.slots,
            "max_preactivation": cert.largest("pre"),
            "max_partial_sum_natural": cert.largest("natural"),
            "max_partial_sum_any_order": cert.largest("any_order"),
            "formats": {},
        }
        for fmt in FORMATS:
            confirm = fmt in confirmed
            largest = {}
            for order, words in ORDERS:
                largest[order] = largest_bits(prof, size.words, size.slots, fmt, order,
                                              _tried(track, f"{prof} {fmt} ({words})"),
                                              confirm=confirm)
                if track is not None:
                    track.advance()
            row["formats"][fmt] = {
                "significand_bits": FORMATS[fmt][0],
                "exact": cert.exact_in(fmt, "any"),
                "exact_natural_order": cert.exact_in(fmt, "natural"),
                "largest_bits": largest["any"],
                "largest_bits_natural_order": largest["natural"],
                "largest_bits_confirmed": confirm,
            }
        rows.append(row)
    return rows


def _tried(track: Tracker | None, what: str) -> Any:
    """The certificate maker of a largest-N search, naming each N it tries on ``track``."""
    def cert_of(profile: str, size: MachineSize) -> Certificate:
        if track is not None:
            track.item(f"{what} N={size.bits}?")
        return _certificate(profile, size)
    return cert_of


def cmd_precision(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Print the certificate table; on a terminal, a progress display on ``err`` while it is
    computed (the items done of all, the current one, elapsed and left)."""
    size = MachineSize(args.words, args.bits, args.slots)
    profiles = list(args.profile or PROFILES)
    with tracker(not args.json, err, "precision", steps(profiles)) as track:
        rows = table(profiles, size, tuple(FORMATS) if args.confirm_all else ("float32",),
                     track)
    if args.json:
        print(json.dumps({"rows": rows}, indent=2), file=out)
        return 0
    print(f"precision certificates over every canonical state, M={size.words} N={size.bits} "
          f"K={size.slots}", file=out)
    print("exact: yes/no at this size in any summation order (natural order in brackets); "
          "N<=: largest N certified at this M, K by the analysis (float32 also checked at "
          "N+1; the others too with --confirm-all)", file=out)
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
