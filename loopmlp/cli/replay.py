"""``loopmlp replay NAME --at 'DA=3,DB=5'``: one input of a registered obligation through the
exact forward pass and the spec, so a counterexample pasted from a report reproduces."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from typing import IO

from loopmlp.report.model import short_name
from proofs import registry
from verify.errors import ParameterError
from verify.layout import bit_names
from verify.methods import replay
from verify.obligation import Obligation
from verify.result import Counterexample

from .common import EXIT_OK, EXIT_REFUTED, command


def add_arguments(rr: argparse.ArgumentParser) -> None:
    """``replay NAME --at 'X=1,Y=0'``."""
    command(rr, description="Rebuild the registered obligation NAME and evaluate the input given "
            "by --at through the exact forward pass and the spec. Words (e.g. DA) take one "
            "value, negative values in two's complement; other coordinates take theirs by name. "
            "Exit 1 when network and spec differ, 0 when they agree.")
    rr.add_argument("name", metavar="NAME", help="obligation name, as `loopmlp list` prints it")
    rr.add_argument("--at", required=True, metavar="'X=1,Y=0'",
                    help="the input: NAME=VALUE pairs separated by commas")
    rr.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Evaluate one input of a registered obligation: network against spec, per output."""
    ob = registry.build(args.name)
    point = point_of(ob, parse_at(args.at))
    if not ob.domain.contains(point):
        raise ParameterError("--at", args.at, f"an input in the domain of {ob.name} "
                             f"({ob.domain.describe()})")
    cex = replay(ob, point)
    shown = Counterexample(point, {}, {}, ob.domain.words())
    print(f"{ob.name}: {shown.call(short_name(ob.name))}", file=out)
    n = len(ob.checked_outputs)
    if cex is None:
        print(f"agrees: network equals spec on all {n} outputs", file=out)
        return EXIT_OK
    for o in cex.network:
        print(f"  {o}: network={cex.network[o]} spec={cex.spec[o]}", file=out)
    print(f"REFUTED: network and spec differ on {len(cex.network)} of {n} outputs", file=out)
    return EXIT_REFUTED


def parse_at(text: str) -> dict[str, int]:
    """``'DA=3,DB=-1,MEM[0].bit[2]=1'`` -> values by name (commas inside brackets are kept)."""
    parts: list[str] = []
    depth, cur = 0, ""
    for ch in text:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    out: dict[str, int] = {}
    for part in (p.strip() for p in parts):
        if not part:
            continue
        name, eq, value = part.rpartition("=")
        name = name.strip()
        if not eq or not name:
            raise ParameterError("--at", _short(part), "NAME=VALUE pairs separated by commas")
        if name in out:
            raise ParameterError("--at", _short(name), "each name once")
        try:
            out[name] = int(value.strip(), 0)
        except ValueError:
            raise ParameterError("--at", _short(part), "an integer value") from None
        if abs(out[name]) >= 1 << 256:
            raise ParameterError("--at", _short(part), "a value below 2**256 in size")
    if not out:
        raise ParameterError("--at", _short(text), "at least one NAME=VALUE")
    return out


def _short(text: str) -> str:
    """``text`` cut to 40 characters for a message."""
    return text if len(text) <= 40 else text[:37] + "..."


_BIT = re.compile(r"^(?P<word>.+)\.bit\[(?P<i>\d+)\]$")


def _bit_words(names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Words ``W`` whose bits ``W.bit[0]``, ..., ``W.bit[n-1]`` are all among ``names``."""
    found: dict[str, set[int]] = {}
    for n in names:
        m = _BIT.match(n)
        if m:
            found.setdefault(m["word"], set()).add(int(m["i"]))
    return {w: tuple(bit_names(w, len(ix))) for w, ix in found.items()
            if ix == set(range(len(ix)))}


def point_of(ob: Obligation, given: Mapping[str, int]) -> dict[str, int]:
    """Every input coordinate's value from ``given``: coordinates by name, words expanded to bits.

    Words are those of the domain, and any ``W`` whose bits ``W.bit[0..n-1]`` are all inputs
    (``MEM[2]=5``). A word of n bits takes a value in [-2^(n-1), 2^n - 1] (negative values are
    two's complement).
    """
    inputs = ob.network.inputs.names
    words = _bit_words(inputs) | ob.domain.words()
    box = dict(zip(ob.domain.names, ob.domain.box()))
    point: dict[str, int] = {}
    for name, v in given.items():
        if name in words:
            bits = words[name]
            n = len(bits)
            if not -(1 << (n - 1)) <= v < 1 << n:
                raise ParameterError(f"--at {name}", v, f"a {n}-bit word in "
                                     f"[{-(1 << (n - 1))}, {(1 << n) - 1}]")
            for i, b in enumerate(bits):
                if b in given:
                    raise ParameterError("--at", b, f"either the word {name} or its bits")
                point[b] = ((v % (1 << n)) >> i) & 1
        elif name in box:
            lo, hi = box[name]
            if not lo <= v <= hi:
                raise ParameterError(f"--at {name}", v, f"a value in [{lo}, {hi}]")
            point[name] = v
        else:
            known = list(words) + [c for c in inputs if not any(c in b for b in words.values())]
            shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
            raise ParameterError("--at", _short(name), f"an input of {ob.name} ({shown})")
    missing: list[str] = []
    for coord in inputs:
        if coord in point:
            continue
        # Name a whole missing word once, by its word name; else the coordinate itself.
        word = next((w for w, bits in words.items() if coord in bits), None)
        whole = word is not None and not any(b in point for b in words[word])
        label = word if whole and word is not None else coord
        if label not in missing:
            missing.append(label)
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6
                                          else "")
        raise ParameterError("--at", ",".join(f"{k}={v}" for k, v in given.items()),
                             f"a value for {shown}")
    return point
