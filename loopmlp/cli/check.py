"""``loopmlp check MODEL.onnx --spec NAME --bits N``: a foreign ONNX model checked against a
gadget's obligation, with the verdicts, counterexamples and exit codes of ``loopmlp prove``.

The verdict is about what the file computes in its own element type
(:mod:`verify.interchange.onnx_check`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import time
from typing import IO

from constructions.gadgets import Gadget, families
from constructions.gadgets.families import FAMILIES, Shape, make, shape
from loopmlp.report.results import results_json
from verify import names
from verify.errors import InputError, ParameterError
from verify.interchange import onnx_check, onnx_io
from verify.layout import Layout
from verify.methods import METHODS, Options, smt_bv
from verify.methods import check as check_obligation
from verify.network import Network
from verify.obligation import Obligation
from verify.result import Result, Verdict
from verify.spec_terms import SpecReadingError, reading

from .args import add_timeout, integer
from .common import command, verdict_exit
from .progress import Tracker, tracker

CHECK_METHODS = tuple(m for m in METHODS if m != "factorised") + ("smt-bv",)
"""Every method except factorised (which needs the gadget's own units), plus smt-bv (z3 over
bit-vectors)."""
CHECK_MAX_UNITS = 1 << 15
"""Largest gadget ``check`` builds as a spec, in units (estimated first: about 3 s to build)."""


def add_arguments(c: argparse.ArgumentParser) -> None:
    """``check MODEL.onnx --spec NAME``: the spec's sizes, the method and its timeout."""
    command(c)
    c.add_argument("model", metavar="MODEL.onnx", help="the ONNX model file to check")
    c.add_argument("--spec", required=True, metavar="NAME",
                   help=f"gadget ({', '.join(FAMILIES)}) or gadget/NAME[bits=N]")
    c.add_argument("--bits", type=integer, metavar="N",
                   help="word width of the spec (address width for match)")
    c.add_argument("--words", type=integer, metavar="M",
                   help="memory words of the spec (read, write), the PC width of cmpbranch "
                   "(default 2)")
    c.add_argument("--method", choices=CHECK_METHODS, default="auto",
                   help="default auto: exhaustive up to 2^24 inputs, else a short random "
                   "search, then smt-bv and smt sharing the timeout (factorised proofs need the "
                   "gadget's own units)")
    add_timeout(c, help="seconds for the solver (default 60)")
    c.add_argument("--json", action="store_true",
                   help="print the result as JSON (no progress display)")
    c.set_defaults(func=cmd_check)


def parse_spec_sizes(text: str, bits: int | None, words: int | None) -> tuple[str, int, int]:
    """``(name, bits, words)`` from ``NAME`` with ``--bits``/``--words``, or from an obligation
    name ``gadget/NAME[bits=N,...]``, validated and nothing built."""
    parsed = names.parse(text.strip())
    name = parsed.head.removeprefix("gadget/")
    if parsed.tail or re.fullmatch(r"[a-z_]+", name) is None:
        raise ParameterError("spec", text, f"a gadget name ({', '.join(FAMILIES)}) or an "
                             "obligation name such as gadget/subtract[bits=4]")
    given: dict[str, int] = {}
    for key, val in parsed.sizes:
        try:
            given[key] = int(val)
        except ValueError:
            raise ParameterError("spec", text, "sizes written as key=integer") from None
    if "addr" in given:
        given.setdefault("bits", given.pop("addr"))
    if "pc" in given and name == "cmpbranch":  # its second size is the PC width
        given.setdefault("words", given.pop("pc"))
    unknown = sorted(set(given) - {"bits", "words"})
    if unknown:
        raise ParameterError("spec", text, "sizes among bits, words, addr, and pc for "
                             f"cmpbranch (not {unknown[0]})")
    b = given.get("bits", bits)
    if b is None:
        raise ParameterError("bits", None, f"--bits N for the {name} gadget")
    w = given.get("words", words if words is not None else 2)
    families.check(name, b, w)
    return name, b, w


def check_spec(name: str, bits: int, words: int = 2) -> Shape:
    """The spec's shape, refused with the estimate when it is too large to build for a check."""
    size = shape(name, bits, words)
    if size.units > CHECK_MAX_UNITS:
        raise ParameterError("spec", FAMILIES[name].obligation_name(bits, words),
                             f"a gadget of at most {CHECK_MAX_UNITS:,} units to check against; "
                             f"this one would have about {size.units:,} units and "
                             f"{size.inputs:,} inputs (estimated before building)")
    return size


def foreign_obligation(path: str, g: Gadget, loaded: onnx_io.Loaded | None = None
                       ) -> tuple[Obligation, onnx_io.Loaded]:
    """The gadget's obligation with the network of the ONNX model at ``path`` in its place.

    Coordinates are matched by the names in the model's metadata when it has them, else by
    position in the gadget's input and output order (the order ``export --gadget`` writes).
    """
    loaded = loaded if loaded is not None else onnx_io.load(path)
    ob = g.obligation()
    net = loaded.network
    want_in, want_out = ob.network.inputs.names, ob.network.outputs.names
    has_in, has_out = net.inputs.names, net.outputs.names
    named_in, named_out = loaded.named
    if named_in and set(has_in) != set(want_in):
        extra, missing = sorted(set(has_in) - set(want_in)), sorted(set(want_in) - set(has_in))
        raise InputError(path, None, f"input coordinates do not match {ob.name}: model only "
                         f"{extra[:3]}, spec only {missing[:3]}")
    if not named_in and len(has_in) != len(want_in):
        raise InputError(path, None, f"has {len(has_in)} inputs; {ob.name} needs "
                         f"{len(want_in)} (matched by position: the model names none)")
    if named_out:
        absent = [o for o in ob.checked_outputs if o not in has_out]
        if absent:
            raise InputError(path, None, f"output coordinates lack {absent[:3]} of {ob.name}")
    elif len(has_out) != len(want_out):
        raise InputError(path, None, f"has {len(has_out)} outputs; {ob.name} needs "
                         f"{len(want_out)} (matched by position: the model names none)")
    layers = list(net.layers)
    if not named_in:
        layers[0] = dataclasses.replace(layers[0], inputs=Layout(want_in))
    if not named_out:
        layers[-1] = dataclasses.replace(layers[-1], outputs=Layout(want_out, "output"))
    net = Network(tuple(layers), net.name)
    foreign = Obligation(f"{os.path.basename(path)}:{ob.name}", net, ob.domain, ob.spec,
                         dict(ob.bounds), ob.checked_outputs, None,
                         f"{ob.note} (network read from {path})".strip())
    return foreign, loaded


def run_check(ob: Obligation, method: str, timeout: float,
              track: Tracker | None = None) -> Result:
    """Check a foreign obligation. ``auto`` enumerates domains up to 2^24 points; beyond, a
    short random search first (a corrupted network is usually wrong on many inputs, and a
    counterexample found that way is replayed like any other; the search never proves), then
    z3 over bit-vectors gets half the time left and z3 over integers the rest (each decided
    gadgets the other could not: branch at 16 bits in 0.1 s over bit-vectors and not in 60 s
    over integers, subtract at 8 bits in 6 s over integers and 37 s over bit-vectors).

    ``track`` is told each stage, and the inputs enumerated block by block."""
    def stage(text: str) -> None:
        if track is not None:
            track.item(text)

    def tick(done: int, total: int) -> None:
        if track is not None:
            track.update(done, total)

    if method == "auto":
        if ob.domain.count <= Options().exhaustive_limit:
            stage("exhaustive: inputs enumerated")
            return check_obligation(ob, Options("exhaustive", timeout, progress=tick))
        t0 = time.perf_counter()
        stage("sampled: searching for a counterexample")
        search = check_obligation(ob, Options("sampled", min(timeout / 10, 5.0),
                                              samples=2000))
        if search.verdict is Verdict.REFUTED:
            return search
        stage("smt-bv: z3 over bit-vectors")
        first = _smt_bv(ob, max(timeout - (time.perf_counter() - t0), 0.02) / 2)
        if first.verdict is not Verdict.UNKNOWN:
            return first
        left = round(max(timeout - (time.perf_counter() - t0), 0.01), 2)
        stage("smt: z3 over the integers")
        second = check_obligation(ob, Options("smt", left))
        if second.verdict is not Verdict.UNKNOWN:
            return second
        return dataclasses.replace(second, seconds=time.perf_counter() - t0,
                                   reason=f"{first.reason}; {second.reason}")
    stage(f"{method}: inputs enumerated" if method == "exhaustive" else method)
    if method == "smt-bv":
        return _smt_bv(ob, timeout)
    return check_obligation(ob, Options(method, timeout, progress=tick))


def _smt_bv(ob: Obligation, timeout: float) -> Result:
    """:func:`smt_bv`, its result named ``smt-bv`` when it was decided over bit-vectors (it
    falls back to integers, and stays ``smt``, when no width bounds every term)."""
    t0 = time.perf_counter()
    try:
        with reading():  # the spec read on solver terms as every method reads it
            r = smt_bv(ob, Options("smt", timeout))
    except SpecReadingError as e:
        return Result(ob.name, Verdict.UNKNOWN, "smt-bv", 0, ob.domain.count,
                      time.perf_counter() - t0, str(e))
    if "bv_width" in r.details:
        return dataclasses.replace(r, method="smt-bv")
    return r


def cmd_check(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Check a foreign ONNX model against a gadget obligation; exit as ``prove`` does.

    Everything cheap is validated first (the timeout, the spec's name and sizes, the model's
    path, the spec's size estimated without building it, the model's input count), so a bad
    argument never waits for a build. The verdict is about what the file computes in its own
    element type (:mod:`verify.interchange.onnx_check`). On a terminal, a progress display on
    ``err`` names the stage and counts the inputs enumerated, block by block."""
    onnx_io.require_onnx()
    name, bits, words = parse_spec_sizes(args.spec, args.bits, args.words)
    onnx_io.check_path(args.model)
    size = check_spec(name, bits, words)
    loaded = onnx_io.load(args.model, inputs=size.inputs,
                         spec=FAMILIES[name].obligation_name(bits, words))
    ob, loaded = foreign_obligation(args.model, make(name, bits, words), loaded)
    t0 = time.perf_counter()
    with tracker(not args.json, err, f"check {ob.name}") as track:

        def run(o: Obligation) -> Result:
            r = run_check(o, args.method, args.timeout, track)
            if onnx_io.onnxruntime_available() and (
                    r.verdict is Verdict.PROVED or r.counterexample is not None):
                track.item("onnxruntime: confirming the verdict on the file")
            return r

        track.item("interval bounds of the file's own arithmetic")
        checked = onnx_check.check_model(args.model, ob, loaded, run)
    r = checked.result
    seconds = time.perf_counter() - t0
    x = None
    if r.counterexample is not None:
        x = [int(r.counterexample.inputs[n]) for n in ob.network.inputs]
    if args.json:
        doc = results_json([r], seconds)
        ex = checked.exactness
        doc["model"] = {"path": args.model, "dtype": loaded.dtype, "named": loaded.named,
                        "input": loaded.input_name, "exact_bound": ex.bound,
                        "dtype_exact": ex.exact, "exactness": ex.to_json(),
                        "reference": checked.reference,
                        "reference_points": checked.confirmed, "counterexample_input": x}
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        print(r.line(), file=out)
        if x is not None:
            print(f"  {loaded.input_name} = {x}", file=out)
    return verdict_exit(r.verdict)
