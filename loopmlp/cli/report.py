"""``loopmlp report``: run the obligations (as ``prove`` does) or read a results file, and write
a correctness report into one directory.

The directory gets ``index.html`` (self-contained: CSS inline, pictures as ``data:`` URIs),
``report.md`` with the pictures as PNG files next to it, ``results.json`` (the ``prove --json``
document) and ``junit.xml``. A file there is replaced or removed only while its SHA-256 is the
one the directory's manifest records (:mod:`loopmlp.report.directory`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO

from constructions.computer import PROFILES
from constructions.machine import asm
from loopmlp.report import render
from loopmlp.report.content import (
    DEFAULT_TRACE_STEPS,
    add_pictures,
    default_trace_program,
    prepare_report,
)
from loopmlp.report.directory import MANIFEST, REPORT_FILES, check_report_dir, write_report_files
from loopmlp.report.junit import junit_xml
from loopmlp.report.model import PICTURE_NAMES
from loopmlp.report.results import load_results, matches, results_text
from verify.errors import ParameterError
from verify.methods import METHODS
from verify.result import combine

from .args import add_timeout, check_fits, check_steps, check_trace
from .common import UsageError, command, verdict_exit
from .prove import prove_entries, selected, summary_line


def add_arguments(rp: argparse.ArgumentParser) -> None:
    """``report``: where, what (the selection of ``prove`` or ``--from FILE``), and the
    content around the results."""
    command(rp, description="Run the obligations (as 'prove' does) or read a results file, and "
            "write index.html (self-contained), report.md, results.json, junit.xml and the "
            "pictures into a directory. A file is overwritten or removed only while its SHA-256 "
            f"is the one DIR/{MANIFEST} records (a file the report wrote). The exit code is that "
            "of the results.")
    rp.add_argument("--out", metavar="DIR", default="reports",
                    help="directory to write into (default: reports)")
    rp.add_argument("--only", action="append", metavar="PATTERN",
                    help="glob over obligation names (repeatable), e.g. 'kernel/*'")
    rp.add_argument("--all", action="store_true", default=None,
                    help="include the slow obligations")
    rp.add_argument("--from", dest="from_file", metavar="FILE",
                    help="read the results of 'loopmlp prove --json FILE' instead of running")
    rp.add_argument("--method", choices=METHODS, default=None,
                    help="checking method (default auto)")
    add_timeout(rp, default=None, help="seconds per obligation for the solver (default 60)")
    rp.add_argument("--bits", type=int, default=8, metavar="N",
                    help="word width of the gadget catalogue shown (default 8)")
    rp.add_argument("--trace-program", metavar="FILE.sq", default=None,
                    help="program whose execution trace is pictured (default: factorial.sq)")
    rp.add_argument("--trace-steps", type=int, default=DEFAULT_TRACE_STEPS, metavar="N",
                    help=f"step limit of the traced run (default {DEFAULT_TRACE_STEPS})")
    rp.add_argument("--no-pictures", action="store_true",
                    help="leave the pictures out (faster; they need matplotlib anyway)")
    rp.add_argument("--quiet", action="store_true",
                    help="print only what is not proved (no summary, no progress display)")
    rp.set_defaults(func=cmd_report)


def _check_trace_program(path: str | None, steps: int) -> None:
    """Refuse a trace program whose machine the report could not build, before any work.

    The report builds every profile at the program's size and keeps every traced state.
    """
    program = asm.load(path if path is not None else default_trace_program())
    for profile in PROFILES:
        check_fits(profile, program.size, "the size of --trace-program")
    check_trace(steps, program.size, "--trace-steps")


def cmd_report(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Run (or read) the results and write the report directory."""
    if args.trace_steps < 0:
        raise ParameterError("--trace-steps", args.trace_steps, "a non-negative number of steps")
    check_steps(args.trace_steps, "--trace-steps")
    if not 1 <= args.bits <= 64:
        raise ParameterError("--bits", args.bits, "1 <= bits <= 64")
    _check_trace_program(args.trace_program, args.trace_steps)
    directory = Path(args.out)
    # Refuse before any work is done; write_report_files checks again when it writes.
    check_report_dir(directory, REPORT_FILES + PICTURE_NAMES)
    loaded = None
    if args.from_file:
        given = [o for o, v in (("--method", args.method), ("--timeout", args.timeout),
                                ("--all", args.all)) if v is not None]
        if given:
            raise UsageError(f"{given[0]}: has no effect with --from (the results are read)")
        loaded = load_results(args.from_file)
    rep = prepare_report(bits=args.bits, trace_program=args.trace_program,
                         trace_steps=args.trace_steps)
    if loaded is not None:
        results, seconds, made_by = loaded
        results = [r for r in results if matches(r.obligation, args.only)]
        source = f"results read from {args.from_file} (written by loopmlp {made_by})"
    else:
        results, seconds = prove_entries(selected(args), args, out, err, quiet=args.quiet)
        source = f"{len(results)} obligations checked by this run"
    rep.results, rep.seconds, rep.source = results, seconds, source
    if args.no_pictures:
        rep.notes.append("Pictures were left out (--no-pictures).")
    else:
        add_pictures(rep)
    files: dict[str, str | bytes] = {
        "index.html": render.html(rep),
        "report.md": render.markdown(rep),
        "results.json": results_text(results, seconds),
        "junit.xml": junit_xml(results, seconds),
    }
    files.update({name: pic.png for name, pic in rep.pictures.items()})
    write_report_files(directory, files)
    if not args.quiet:
        print(summary_line(results, seconds), file=out)
        for note in rep.notes:
            print(f"note: {note}", file=err)
        print(f"report written to {directory / 'index.html'} ({len(files)} files)", file=out)
    return verdict_exit(combine(results))
