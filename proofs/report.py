"""``loopmlp report`` and ``loopmlp replay``: correctness reports for people and for CI.

``report`` runs the registered obligations (the selection of ``prove``) or reads a results file
written by ``prove --json``, and writes into one directory:

- ``index.html``: self-contained (CSS inline, pictures as ``data:`` URIs, no external URL), so
  it opens from disk and can be archived as one file;
- ``report.md``: the same content for a repository or a pull request, pictures as PNG files next
  to it;
- ``results.json``: exactly the ``prove --json`` document;
- ``junit.xml``: one testcase per obligation, for CI dashboards.

It never overwrites or removes a file it did not write: the directory keeps a manifest,
:data:`MANIFEST`, with the SHA-256 of every file the report wrote there, and a target that
exists with any other content (or is not a regular file, or lies beyond a link) is refused
before anything is written (:class:`verify.files.OutputDir`).

``replay NAME --at 'DA=3,DB=5'`` rebuilds a registered obligation and evaluates one input
through the exact forward pass and the spec: a refuted obligation's counterexample, pasted from a
report, reproduces the disagreement.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from verify.errors import InputError, LoopmlpError, ParameterError
from verify.files import OutputDir, read_text, write_file
from verify.layout import bit_names
from verify.obligation import Obligation
from verify.result import Counterexample, Result, Verdict, combine, summary

from .machine_cli import check_fits, check_steps, check_trace
from .report_content import (
    DEFAULT_TRACE_STEPS,
    PICTURE_NAMES,
    add_pictures,
    finding,
    prepare_report,
    replay_command,
    short_name,
    versions,
)

MANIFEST = ".loopmlp-report"
REPORT_FILES = ("index.html", "report.md", "results.json", "junit.xml")
REPORT_DIR = OutputDir(
    MANIFEST, re.compile("|".join(re.escape(n) for n in REPORT_FILES + PICTURE_NAMES)),
    "`loopmlp report`", "remove it or choose another --out")
"""The report directory: the files a report writes, recorded with their SHA-256 in MANIFEST."""
VERDICT_LABELS = tuple(v.label for v in Verdict)


def split_name(name: str) -> tuple[str, str]:
    """(classname, name) of a JUnit testcase: before and after the first ``/``."""
    head, sep, rest = name.partition("/")
    return (head, rest) if sep and head and rest else ("loopmlp", name)


def matches(name: str, patterns: Sequence[str] | None) -> bool:
    """The ``--only`` test of :func:`proofs.registry.select`, for results read from a file."""
    return not patterns or any(name == p or fnmatch.fnmatchcase(name, p) for p in patterns)


# --------------------------------------------------------------------------- JUnit XML
def junit_xml(results: Sequence[Result], seconds: float | None = None,
              suite: str = "loopmlp") -> str:
    """The results as JUnit XML: one ``<testcase>`` per obligation.

    A refuted obligation is a ``<failure>`` whose message gives the counterexample and the replay
    command; an unknown one is ``<skipped>`` with the reason. The suite's counts match the
    results (``errors`` is 0: a checker error stops the run with exit code 2 instead).
    """
    s = summary(results)
    total = sum(r.seconds for r in results) if seconds is None else seconds
    counts = {"tests": str(len(results)), "failures": str(s["refuted"]), "errors": "0",
              "skipped": str(s["unknown"]), "time": f"{total:.3f}"}
    root = ET.Element("testsuites", {"name": suite, **counts})
    ts = ET.SubElement(root, "testsuite", {
        "name": suite, **counts,
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "hostname": platform.node() or "localhost",
    })
    props = ET.SubElement(ts, "properties")
    for k, v in versions().items():
        ET.SubElement(props, "property", {"name": f"version.{k}", "value": v})
    for r in results:
        classname, name = split_name(r.obligation)
        case = ET.SubElement(ts, "testcase", {"classname": classname, "name": name,
                                              "time": f"{r.seconds:.3f}"})
        if r.verdict is Verdict.REFUTED:
            message = finding(r)
            text = r.line()
            if r.counterexample is not None:
                command = replay_command(r.obligation, r.counterexample)
                message = f"{message} -- reproduce: {command}"
                text += "\n\nreproduce:\n  " + command + "\n\ncounterexample:\n" + json.dumps(
                    r.counterexample.to_json(), indent=2)
            fail = ET.SubElement(case, "failure", {"type": "refuted", "message": message})
            fail.text = text
        elif r.verdict is Verdict.UNKNOWN:
            ET.SubElement(case, "skipped", {"message": f"unknown ({r.method}): {r.reason}"})
        out = ET.SubElement(case, "system-out")
        out.text = r.line()
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def write_junit(path: str | os.PathLike[str], results: Sequence[Result],
                seconds: float | None = None) -> None:
    """Write :func:`junit_xml` to ``path`` (used by ``prove --junit``), whole or not at all."""
    write_file(path, junit_xml(results, seconds))


# --------------------------------------------------------------------------- results files
def load_results(path: str) -> tuple[list[Result], float, str]:
    """Read a ``prove --json`` document: (results, total seconds, version that wrote it).

    Anything malformed raises :class:`~verify.errors.InputError` naming the file, on one line:
    a file that cannot be read or is larger than :data:`MAX_RESULTS_BYTES`, text that is not
    UTF-8 or not JSON (``NaN`` and ``Infinity`` included), nesting deeper than Python can
    parse, and any value of the wrong type or range.
    """
    path, text = read_text(path, MAX_RESULTS_BYTES)
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise InputError(path, e.lineno, f"not valid JSON: {e.msg} (column {e.colno})") from None
    except _SchemaError as e:
        raise InputError(path, None, f"not valid JSON: {e}") from None
    except ValueError as e:  # an integer literal longer than Python converts (4300 digits)
        raise InputError(path, None, f"not valid JSON: {e}") from None
    except RecursionError:
        raise InputError(path, None, "not a `loopmlp prove --json` document: nested too "
                         "deeply") from None
    try:
        return _parse_doc(doc)
    except _SchemaError as e:
        raise InputError(path, None, f"not a `loopmlp prove --json` document: {e}") from None


MAX_RESULTS_BYTES = 1 << 28
"""Largest results file :func:`load_results` reads (256 MiB), so a device cannot hang it."""


class _SchemaError(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise _SchemaError(f"{name} is not a number")


def _seconds(v: int | float, where: str) -> float:
    """A duration: finite and non-negative (a huge integer does not convert to a float)."""
    try:
        x = float(v)
    except OverflowError:
        x = float("inf")
    if not 0 <= x < float("inf"):
        raise _SchemaError(f"{where}: {v!r:.60} is not a non-negative number of seconds")
    return x


def _get(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict):
        raise _SchemaError(f"{where or 'top level'}: expected an object")
    if key not in obj:
        raise _SchemaError(f"{where + '.' if where else ''}{key}: missing")
    v = obj[key]
    ok = isinstance(v, kind) and not (isinstance(v, bool) and bool not in _kinds(kind))
    if not ok:
        raise _SchemaError(f"{where + '.' if where else ''}{key}: unexpected value {v!r:.60}")
    return v


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _int_map(obj: Any, where: str) -> dict[str, int]:
    if not isinstance(obj, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in obj.values()):
        raise _SchemaError(f"{where}: expected an object of integers")
    return {str(k): int(v) for k, v in obj.items()}


def _parse_doc(doc: Any) -> tuple[list[Result], float, str]:
    if _get(doc, "tool", str, "") != "loopmlp":
        raise _SchemaError(f"tool: {doc['tool']!r:.60} is not 'loopmlp'")
    version = _get(doc, "version", str, "")
    seconds = _seconds(_get(doc, "seconds", (int, float), ""), "seconds")
    raw = _get(doc, "results", list, "")
    results = [_parse_result(r, f"results[{i}]") for i, r in enumerate(raw)]
    if "summary" in doc and doc["summary"] != summary(results):
        raise _SchemaError(f"summary {doc['summary']!r:.80} does not match the results "
                           f"{summary(results)}")
    return results, seconds, version


def _parse_result(r: Any, where: str) -> Result:
    verdict = _get(r, "verdict", str, where)
    if verdict not in VERDICT_LABELS:
        raise _SchemaError(f"{where}.verdict: {verdict!r:.60} is not one of "
                           f"{', '.join(VERDICT_LABELS)}")
    cex_doc = r.get("counterexample")
    cex = None if cex_doc is None else _parse_cex(cex_doc, f"{where}.counterexample")
    details = r.get("details", {})
    if not isinstance(details, dict):
        raise _SchemaError(f"{where}.details: expected an object")
    seconds = _seconds(_get(r, "seconds", (int, float), where), f"{where}.seconds")
    checked, total = _get(r, "checked", int, where), _get(r, "total", int, where)
    if checked < 0 or total < 0:
        raise _SchemaError(f"{where}: checked={checked!r:.60} and total={total!r:.60} must "
                           "not be negative")
    return Result(
        _get(r, "obligation", str, where), Verdict[verdict.upper()], _get(r, "method", str, where),
        checked, total, seconds, _get(r, "reason", str, where), cex, details)


def _parse_cex(c: Any, where: str) -> Counterexample:
    coords = _int_map(_get(c, "coordinates", dict, where), f"{where}.coordinates")
    shown = _int_map(_get(c, "inputs", dict, where), f"{where}.inputs")
    network = _int_map(_get(c, "network", dict, where), f"{where}.network")
    spec = _int_map(_get(c, "spec", dict, where), f"{where}.spec")
    if network.keys() != spec.keys():
        raise _SchemaError(f"{where}: network and spec name different outputs")
    # A word shown in ``inputs`` but not a coordinate groups the bits WORD.bit[i] (LSB first).
    words: dict[str, tuple[str, ...]] = {}
    for w in shown:
        if w in coords:
            continue
        n = sum(1 for k in coords if k.startswith(f"{w}.bit["))
        bits = tuple(bit_names(w, n))
        if n == 0 or not all(b in coords for b in bits):
            raise _SchemaError(f"{where}.inputs: {w!r:.60} is neither a coordinate nor a word of "
                               "the coordinates")
        words[w] = bits
    return Counterexample(coords, network, spec, words)


# --------------------------------------------------------------------------- replay
def build_obligation(name: str) -> Obligation:
    """Rebuild the registered obligation called ``name`` (from its entry's ``build``)."""
    from proofs import registry

    entry = registry.find(name)
    build = getattr(entry, "build", None)
    if build is None:
        raise LoopmlpError(f"{name}: its registry entry cannot rebuild the obligation for replay")
    ob = build()
    if ob.name != name:
        raise LoopmlpError(f"registry: entry {name!r} built obligation {ob.name!r}")
    return ob


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


def cmd_replay(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Evaluate one input of a registered obligation: network against spec, per output."""
    from verify.engines import replay

    from .cli import EXIT_OK, EXIT_REFUTED

    ob = build_obligation(args.name)
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


# --------------------------------------------------------------------------- the directory
def check_report_dir(directory: Path, names: Sequence[str]) -> None:
    """Refuse, before any work, a directory the report could not write ``names`` into: see
    :class:`verify.files.OutputDir` (a missing directory is fine: it will be created)."""
    REPORT_DIR.check(directory, names)


def write_report_files(directory: Path, files: Mapping[str, str | bytes]) -> list[Path]:
    """Write ``files`` (name -> content) into ``directory``, never over a file it did not write.

    Every target is checked before anything is written. Files the manifest records from an
    earlier report that this one does not write are removed while their content is what the
    report wrote, so the directory holds one report.
    """
    return [Path(p) for p in REPORT_DIR.write(directory, files)]


# --------------------------------------------------------------------------- the command
MAX_TIMEOUT = 1e6
"""Largest solver timeout accepted, in seconds (about 11 days)."""


def check_timeout(option: str, value: float) -> float:
    """A timeout in seconds: a number in (0, :data:`MAX_TIMEOUT`] (not NaN, not infinite)."""
    if not 0 < value <= MAX_TIMEOUT:
        raise ParameterError(option, value,
                             f"a positive number of seconds, at most {MAX_TIMEOUT:g}")
    return value


def _check_trace_program(path: str | None, steps: int) -> None:
    """Refuse a trace program whose machine the report could not build, before any work.

    The report builds every profile at the program's size and keeps every traced state.
    """
    from constructions import asm
    from constructions.computer import PROFILES

    from .report_content import default_trace_program

    program = asm.load(path if path is not None else default_trace_program())
    for profile in PROFILES:
        check_fits(profile, program.size, "the size of --trace-program")
    check_trace(steps, program.size, "--trace-steps")


def _run_entries(args: argparse.Namespace, out: IO[str], err: IO[str]) -> tuple[list[Result],
                                                                                 float]:
    from verify.engines import Options

    from .cli import _progress, _UsageError
    from .registry import all_entries, run_entry, select

    entries = select(all_entries(), args.only, args.all)
    if not entries:
        raise _UsageError(f"--only {' '.join(args.only or [])!r}: no obligation matches")
    opts_method = args.method or "auto"
    timeout = 60.0 if args.timeout is None else args.timeout
    results: list[Result] = []
    t0 = time.perf_counter()
    with _progress(not args.quiet, err) as bar:
        task = bar.add_task("proving", total=len(entries)) if bar else None
        for entry in entries:
            r = run_entry(entry, Options(opts_method, timeout))
            results.append(r)
            if bar is not None:
                bar.advance(task)
            if not args.quiet or r.verdict is not Verdict.PROVED:
                print(r.line(), file=out, flush=True)
    return results, time.perf_counter() - t0


def cmd_report(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Run (or read) the results and write the report directory."""
    from . import report_render
    from .cli import _UsageError, results_json, verdict_exit

    if args.trace_steps < 0:
        raise ParameterError("--trace-steps", args.trace_steps, "a non-negative number of steps")
    check_steps(args.trace_steps, "--trace-steps")
    if not 1 <= args.bits <= 64:
        raise ParameterError("--bits", args.bits, "1 <= bits <= 64")
    if args.timeout is not None:
        check_timeout("--timeout", args.timeout)
    _check_trace_program(args.trace_program, args.trace_steps)
    directory = Path(args.out)
    # Refuse before any work is done; write_report_files checks again when it writes.
    check_report_dir(directory, REPORT_FILES + PICTURE_NAMES)
    loaded = None
    if args.from_file:
        given = [o for o, v in (("--method", args.method), ("--timeout", args.timeout),
                                ("--all", args.all)) if v is not None]
        if given:
            raise _UsageError(f"{given[0]}: has no effect with --from (the results are read)")
        loaded = load_results(args.from_file)
    rep = prepare_report(bits=args.bits, trace_program=args.trace_program,
                         trace_steps=args.trace_steps)
    if loaded is not None:
        results, seconds, made_by = loaded
        results = [r for r in results if matches(r.obligation, args.only)]
        source = f"results read from {args.from_file} (written by loopmlp {made_by})"
    else:
        results, seconds = _run_entries(args, out, err)
        source = f"{len(results)} obligations checked by this run"
    rep.results, rep.seconds, rep.source = results, seconds, source
    if args.no_pictures:
        rep.notes.append("Pictures were left out (--no-pictures).")
    else:
        add_pictures(rep)
    files: dict[str, str | bytes] = {
        "index.html": report_render.html(rep),
        "report.md": report_render.markdown(rep),
        "results.json": json.dumps(results_json(results, seconds), indent=2) + "\n",
        "junit.xml": junit_xml(results, seconds),
    }
    files.update({name: pic.png for name, pic in rep.pictures.items()})
    write_report_files(directory, files)
    s = rep.counts
    if not args.quiet:
        print(f"{len(results)} obligations: {s['proved']} proved, {s['refuted']} refuted, "
              f"{s['unknown']} unknown in {seconds:.1f}s", file=out)
        for note in rep.notes:
            print(f"note: {note}", file=err)
        print(f"report written to {directory / 'index.html'} ({len(files)} files)", file=out)
    return verdict_exit(combine(results))


def add_commands(sub: Any) -> None:
    """Register ``report`` and ``replay`` with the ``loopmlp`` parser."""
    from verify.engines import METHODS

    from .cli import EXIT_CODES

    fmt = argparse.RawDescriptionHelpFormatter
    rp = sub.add_parser(
        "report", help="write an HTML and Markdown correctness report, results.json and "
        "junit.xml", description="Run the obligations (as `prove` does) or read a results "
        "file, and write index.html (self-contained), report.md, results.json, junit.xml and "
        f"the pictures into a directory. A file is overwritten or removed only while its "
        f"SHA-256 is the one DIR/{MANIFEST} records (a file the report wrote). The exit code "
        "is that of the results.", epilog=EXIT_CODES,
        formatter_class=fmt)
    rp.add_argument("--out", metavar="DIR", default="reports",
                    help="directory to write into (default: reports)")
    rp.add_argument("--only", action="append", metavar="PATTERN",
                    help="glob over obligation names (repeatable), e.g. 'kernel/*'")
    rp.add_argument("--all", action="store_true", default=None,
                    help="include the slow obligations")
    rp.add_argument("--from", dest="from_file", metavar="FILE",
                    help="read the results of `loopmlp prove --json FILE` instead of running")
    rp.add_argument("--method", choices=METHODS, default=None,
                    help="checking method (default auto)")
    rp.add_argument("--timeout", type=float, default=None, metavar="S",
                    help="seconds per obligation for the solver (default 60)")
    rp.add_argument("--bits", type=int, default=8, metavar="N",
                    help="word width of the gadget catalogue shown (default 8)")
    rp.add_argument("--trace-program", metavar="FILE.sq", default=None,
                    help="program whose execution trace is pictured (default: factorial.sq)")
    rp.add_argument("--trace-steps", type=int, default=DEFAULT_TRACE_STEPS, metavar="N",
                    help=f"step limit of the traced run (default {DEFAULT_TRACE_STEPS})")
    rp.add_argument("--no-pictures", action="store_true",
                    help="leave the pictures out (faster; they need matplotlib anyway)")
    rp.add_argument("--quiet", action="store_true", help="print only what is not proved")
    rp.set_defaults(func=cmd_report)

    rr = sub.add_parser(
        "replay", help="evaluate one input of an obligation: network against spec",
        description="Rebuild the registered obligation NAME and evaluate the input given by "
        "--at through the exact forward pass and the spec. Words (e.g. DA) take one value, "
        "negative values in two's complement; other coordinates take theirs by name. Exit 1 "
        "when network and spec differ, 0 when they agree.", epilog=EXIT_CODES,
        formatter_class=fmt)
    rr.add_argument("name", metavar="NAME", help="obligation name, as `loopmlp list` prints it")
    rr.add_argument("--at", required=True, metavar="'X=1,Y=0'",
                    help="the input: NAME=VALUE pairs separated by commas")
    rr.set_defaults(func=cmd_replay)


