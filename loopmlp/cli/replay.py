"""``loopmlp replay NAME --at 'DA=3,DB=5'``: one input of a registered obligation (or of an ONNX
model checked against a gadget, as ``loopmlp check`` does) through the exact forward pass and the
spec, printing both sides' values, so a counterexample pasted from a report reproduces."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from typing import IO, Any

from constructions.gadgets.families import make
from loopmlp.report.model import MODEL_NAME, short_name
from proofs import registry
from verify.errors import ParameterError
from verify.interchange import onnx_io
from verify.layout import bit_names
from verify.methods import replay, spec_value
from verify.obligation import Obligation
from verify.result import Counterexample

from .args import integer
from .check import check_spec, foreign_obligation, parse_spec_sizes
from .common import EXIT_OK, EXIT_REFUTED, command

MAX_VALUE_LINES = 40
"""Output values printed at most (words count once); a difference is always printed."""


def add_arguments(rr: argparse.ArgumentParser) -> None:
    """``replay NAME --at 'X=1,Y=0'``, or ``replay MODEL.onnx --spec NAME --at ...``."""
    command(rr, description="Rebuild the registered obligation NAME and evaluate the input given "
            "by --at through the exact forward pass and the spec, printing the values of both. "
            "With --spec, NAME is an ONNX model checked against that gadget as 'loopmlp check' "
            "does (a name MODEL.onnx:gadget/... from a check's results means the same). Words "
            "(e.g. DA) take one value, negative values in two's complement; other coordinates "
            "take theirs by name. Exit 1 when network and spec differ, 0 when they agree.")
    rr.add_argument("name", metavar="NAME", help="obligation name, as 'loopmlp list' prints it, "
                    "or MODEL.onnx with --spec")
    rr.add_argument("--at", required=True, metavar="'X=1,Y=0'",
                    help="the input: NAME=VALUE pairs separated by commas")
    rr.add_argument("--spec", metavar="SPEC", help="NAME is an ONNX model; the gadget it is "
                    "checked against, as for 'loopmlp check' (e.g. 'gadget/subtract[bits=4]')")
    rr.add_argument("--bits", type=integer, metavar="N", help="word width of --spec")
    rr.add_argument("--words", type=integer, metavar="M", help="memory words of --spec")
    rr.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Evaluate one input, network against spec, per output; print both values."""
    m = MODEL_NAME.match(args.name)
    if args.spec is not None and m:
        raise ParameterError("--spec", args.spec, f"no --spec: {args.name} names its spec")
    if args.spec is not None:
        return _replay_model(args.name, args.spec, args, out)
    if m:
        return _replay_model(m["model"], m["spec"], args, out)
    for opt in ("bits", "words"):
        if getattr(args, opt) is not None:
            raise ParameterError(f"--{opt}", getattr(args, opt), "--spec (it sizes the gadget "
                                 "a model is checked against)")
    return _replay_registered(registry.build(args.name), args.at, out)


def _replay_registered(ob: Obligation, at: str, out: IO[str]) -> int:
    point = _point(ob, at)
    net = ob.network.forward_exact(point)
    want = ob.spec(point)
    values = {o: (int(net[o]), spec_value(ob, o, want[o])) for o in ob.checked_outputs}
    cex = replay(ob, point)
    differ = sorted(cex.network) if cex is not None else []
    return _print(ob, point, values, differ, "the exact forward pass", out)


def _replay_model(model: str, spec: str, args: argparse.Namespace, out: IO[str]) -> int:
    """The model's values as the file computes them (onnxruntime's CPU provider, the reference
    of ``check``), or the exact reading of its folded network without onnxruntime."""
    onnx_io.require_onnx()
    name, bits, words = parse_spec_sizes(spec, args.bits, args.words)
    onnx_io.check_path(model)
    size = check_spec(name, bits, words)
    loaded = onnx_io.load(model, inputs=size.inputs, spec=spec)
    ob, loaded = foreign_obligation(model, make(name, bits, words), loaded)
    point = _point(ob, args.at)
    net = ob.network.forward_exact(point)
    want = ob.spec(point)
    exact = {o: int(net[o]) for o in ob.checked_outputs}
    if onnx_io.onnxruntime_available():
        ref = onnx_io.Reference(model, model, loaded.input_name)
        row = ref.run([[point[n] for n in ob.network.inputs]])[0]
        outs = ob.network.outputs.names
        got: dict[str, Any] = {o: _number(row[outs.index(o)]) for o in ob.checked_outputs}
        source = f"the file in {loaded.dtype}, run by onnxruntime"
    else:
        got = dict(exact)
        source = "the file's exact-integer reading (onnxruntime is not installed)"
    values = {o: (got[o], spec_value(ob, o, want[o])) for o in ob.checked_outputs}
    differ = [o for o, (g, w) in values.items() if g != w]
    code = _print(ob, point, values, differ, source, out)
    off = [o for o in ob.checked_outputs if exact[o] != got[o]]
    if off:
        print(f"note: the exact-integer reading differs from the file on {len(off)} outputs, "
              f"e.g. {off[0]}={exact[off[0]]} (the file computes {got[off[0]]})", file=out)
    return code


def _number(v: Any) -> int | float:
    """A value onnxruntime returned: a Python int where it is one, else a float."""
    f = float(v)
    return int(f) if f == f and abs(f) != float("inf") and f == int(f) else f


def _point(ob: Obligation, at: str) -> dict[str, int]:
    point = point_of(ob, parse_at(at))
    if not ob.domain.contains(point):
        raise ParameterError("--at", at, f"an input in the domain of {ob.name} "
                             f"({ob.domain.describe()})")
    return point


def _print(ob: Obligation, point: Mapping[str, int], values: Mapping[str, tuple[Any, int]],
           differ: Sequence[str], source: str, out: IO[str]) -> int:
    """The input, every output's two values (words grouped), the differences and the verdict."""
    shown = Counterexample(point, {}, {}, ob.domain.words())
    print(f"{ob.name}: {shown.call(short_name(ob.name))}", file=out)
    print(f"  values (network = {source}):", file=out)
    lines = value_lines(values)
    for line in lines[:MAX_VALUE_LINES]:
        print(f"    {line}", file=out)
    if len(lines) > MAX_VALUE_LINES:
        print(f"    ... and {len(lines) - MAX_VALUE_LINES} more", file=out)
    n = len(values)
    if not differ:
        print(f"agrees: network equals spec on all {n} outputs", file=out)
        return EXIT_OK
    for o in differ:
        print(f"  {o}: network={values[o][0]} spec={values[o][1]}", file=out)
    print(f"REFUTED: network and spec differ on {len(differ)} of {n} outputs", file=out)
    return EXIT_REFUTED


def value_lines(values: Mapping[str, tuple[Any, int]]) -> list[str]:
    """``NAME: network=X spec=Y`` per output, bits of a word (all 0 or 1 on both sides) read
    as one unsigned value ``W: network=5 spec=4 (4 bits)``; a differing line ends ``differs``."""
    words = _bit_words(list(values))
    done: set[str] = set()
    lines = []
    for o in values:
        if o in done:
            continue
        word = next((w for w, bits in words.items() if o in bits), None)
        bits = words.get(word, ()) if word is not None else ()
        if bits and all(values[b][0] in (0, 1) and values[b][1] in (0, 1) for b in bits):
            g = sum(int(values[b][0]) << i for i, b in enumerate(bits))
            w = sum(int(values[b][1]) << i for i, b in enumerate(bits))
            done.update(bits)
            mark = "  differs" if g != w else ""
            lines.append(f"{word}: network={g} spec={w} ({len(bits)} bits){mark}")
        else:
            done.add(o)
            g, w = values[o]
            lines.append(f"{o}: network={g} spec={w}{'  differs' if g != w else ''}")
    return lines


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
