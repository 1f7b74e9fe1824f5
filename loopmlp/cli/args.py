"""Argument types and checks shared by the commands: integers (``2**40`` style), machine sizes,
timeouts (one type, validated once) and step limits."""

from __future__ import annotations

import argparse
from typing import Any

from constructions.machine import limits
from constructions.machine.subleq import MachineSize
from verify.errors import ParameterError

MAX_TIMEOUT = 1e6
"""Largest solver timeout accepted, in seconds (about 11 days)."""
MAX_STEPS = 10**9
"""Largest ``--max-steps``: at about a millisecond a step, already weeks of looping."""
BYTES_PER_TRACED_WORD = 40
"""Memory one word of one traced state takes (a Python int in a tuple, with some slack)."""


def integer(text: str) -> int:
    """An integer option; ``2**40`` style powers are accepted (and then refused by size).

    The exponent must be an integer from 0 to 4096, so a power is always an integer. A value
    of 2**256 or more is refused here, so that no message ever spells out a huge number; below
    that, the option's own check names what is too large.
    """
    t = text.strip()
    shown = repr(text if len(text) <= 40 else text[:37] + "...")
    try:
        if "**" in t:
            base, exp = t.split("**", 1)
            e = int(exp)
            if not 0 <= e <= 4096:
                raise ValueError
            value = int(base) ** e
        else:
            value = int(t, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shown} is not an integer") from None
    if abs(value) >= 1 << 256:
        raise argparse.ArgumentTypeError(f"{shown} is too large (2**256 or more)")
    return value


def add_sizes(p: argparse.ArgumentParser,
              defaults: tuple[str, str, str] | None = None) -> None:
    """``--words``, ``--bits`` and ``--slots`` of a machine; ``defaults`` says, per option,
    what is used when it is not given."""
    words, bits, slots = (f"; default {d}" for d in defaults) if defaults else ("", "", "")
    p.add_argument("--words", type=integer, metavar="M",
                   help=f"data words (a power of two{words})")
    p.add_argument("--bits", type=integer, metavar="N",
                   help=f"bits per word{f' ({bits[2:]})' if bits else ''}")
    p.add_argument("--slots", type=integer, metavar="K",
                   help=f"instruction slots (a power of two{slots})")


# --------------------------------------------------------------------------- timeouts
def check_timeout(option: str, value: float) -> float:
    """A timeout in seconds: a number in (0, :data:`MAX_TIMEOUT`] (not NaN, not infinite)."""
    if not 0 < value <= MAX_TIMEOUT:
        raise ParameterError(option, value,
                             f"a positive number of seconds, at most {MAX_TIMEOUT:g}")
    return value


class _Timeout(argparse.Action):
    """Stores a float option after :func:`check_timeout` (a bad value is a ParameterError
    naming the option, raised while the command line is parsed)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, check_timeout(self.option_strings[0], values))


def add_timeout(p: argparse.ArgumentParser, *flags: str, default: float | None = 60.0,
                help: str | None = None) -> None:
    """A timeout option (``--timeout`` unless ``flags`` name it): seconds, checked by
    :func:`check_timeout` wherever it is given."""
    p.add_argument(*(flags or ("--timeout",)), type=float, default=default, metavar="S",
                   action=_Timeout, help=help)


# --------------------------------------------------------------------------- sizes and steps
def check_fits(profile: str, size: MachineSize,
               options: str = "--words, --bits or --slots", folded: bool = True) -> int:
    """:func:`constructions.machine.limits.check_fits`, naming the command-line options to
    lower."""
    return limits.check_fits(profile, size, options, folded)


def check_steps(max_steps: int, option: str = "--max-steps") -> int:
    """A step limit from 0 to :data:`MAX_STEPS`, or a ParameterError naming ``option``."""
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) \
            or not 0 <= max_steps <= MAX_STEPS:
        raise ParameterError(option, max_steps, f"an integer from 0 to {MAX_STEPS:,}")
    return max_steps


def check_trace(max_steps: int, size: MachineSize, option: str = "--max-steps") -> None:
    """Refuse a trace of up to ``max_steps + 1`` states that could not fit in memory."""
    need = (max_steps + 1) * (size.words + 1) * BYTES_PER_TRACED_WORD
    budget = limits.memory_budget()
    if need > budget:
        most = budget // ((size.words + 1) * BYTES_PER_TRACED_WORD) - 1
        raise ParameterError(
            option, max_steps,
            f"at most {most:,} steps when every state is kept (words={size.words}): up to "
            f"{max_steps + 1:,} states would take about {limits.gib(need)}, more than the "
            f"{limits.gib(budget)} allowed")

