"""``loopmlp precision``: the precision certificates of the profiles at a machine size, and the
float formats that run each network exactly."""

from __future__ import annotations

import argparse
import json
from typing import IO, Any

from constructions.computer import PROFILES, build
from constructions.computer.runtime import certificate
from constructions.machine.subleq import MachineSize
from proofs.precision import largest_bits
from verify.exact.precision import FORMATS

from .args import integer
from .common import command


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``precision``: profiles and the machine size."""
    command(p)
    p.add_argument("--profile", choices=PROFILES, action="append",
                   help="a profile (repeatable; default: all)")
    p.add_argument("--words", type=integer, default=16, metavar="M",
                   help="data words of the machine (default 16)")
    p.add_argument("--bits", type=integer, default=16, metavar="N",
                   help="bits per word (default 16)")
    p.add_argument("--slots", "--program-words", dest="slots", type=integer, default=64,
                   metavar="K", help="instruction slots (default 64)")
    p.add_argument("--confirm-all", action="store_true",
                   help="check that N + 1 is not certified for every format's largest N "
                   "(default: float32 only; every largest N is itself certified at M, K)")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=cmd_precision)


def table(profiles: list[str], size: MachineSize,
          confirmed: tuple[str, ...] = ("float32",)) -> list[dict[str, Any]]:
    """One row per profile: the certificate at ``size`` and the largest N per format that the
    analysis certifies at ``size``'s M and K (also checked to be the largest, at N + 1, for the
    ``confirmed`` formats)."""
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
