"""The ``loopmlp`` command line. Handlers take their output streams so tests can capture them.

Exit codes (also in ``--help``):
  0  every obligation proved (or the command succeeded)
  1  something was refuted
  2  usage error, bad input, or an internal error of the checker
  3  something unknown (timeout, too large) and nothing refuted
  130  interrupted (Ctrl-C): one line, ``loopmlp: interrupted``
  141  the reader of standard output went away (``loopmlp list | head -1``): nothing printed
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, redirect_stdout
from typing import IO, Any

from verify.errors import InternalError, LoopmlpError
from verify.files import check_replaceable, write_file
from verify.result import Result, Verdict, combine, summary

EXIT_OK, EXIT_REFUTED, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
"""Ctrl-C: 128 + SIGINT, what a shell reports for a command the signal stopped."""
EXIT_PIPE = 141
"""Standard output closed early: 128 + SIGPIPE, what a shell reports for ``yes | head -1``."""
EXIT_CODES = """exit codes:
  0  all proved (or success)
  1  something refuted
  2  usage error, malformed input, or internal error
  3  something unknown and nothing refuted
  130  interrupted (Ctrl-C)
  141  standard output closed early (e.g. piped into head): ends quietly"""


def version() -> str:
    """The installed version of loopmlp."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as v

    try:
        return v("loopmlp")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0+src"


def verdict_exit(verdict: Verdict) -> int:
    """Exit code of a combined verdict."""
    return {Verdict.PROVED: EXIT_OK, Verdict.REFUTED: EXIT_REFUTED,
            Verdict.UNKNOWN: EXIT_UNKNOWN}[verdict]


class _UsageError(LoopmlpError):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` owns every exit code."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        prog = self.prog.removeprefix("loopmlp").strip()
        raise _UsageError(f"{prog}: {message}" if prog else message)


def results_json(results: Sequence[Result], seconds: float) -> dict[str, Any]:
    """The ``prove --json`` document."""
    return {
        "tool": "loopmlp",
        "version": version(),
        "seconds": round(seconds, 3),
        "results": [r.to_json() for r in results],
        "summary": summary(results),
    }


def _progress(enabled: bool, stream: IO[str]) -> Any:
    """A rich progress display on ``stream``, or a no-op when disabled."""
    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=stream)
    if not console.is_terminal:
        return nullcontext(None)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


@contextmanager
def _executor(args: argparse.Namespace) -> Iterator[Any]:
    """The executor of ``--executor`` in force for the run (the default: none, i.e. threads);
    obligations that cannot be serialised travel to workers by registry name."""
    from proofs.registry import build
    from verify import executor

    kind = getattr(args, "executor", "local")
    scheduler, workers = getattr(args, "scheduler", None), getattr(args, "workers", None)
    if kind == "local" and scheduler is None and workers is None:
        yield None
        return
    with executor.make(kind, scheduler, workers) as ex, executor.using(ex), \
            executor.rebuild_with(build):
        yield ex


def _distributed(args: argparse.Namespace, ex: Any, names: list[str]) -> Iterator[Result] | None:
    """With ``--distribute obligations``: the entries' results, in order, each run whole on a
    worker and its counterexample replayed again here; else None."""
    from proofs.registry import replayed_here, run_named
    from verify.engines import Options

    if getattr(args, "distribute", "blocks") != "obligations":
        return None
    if ex is None or not ex.remote:
        raise _UsageError("--distribute obligations needs --executor processes or dask")
    opts = Options(args.method, args.timeout, solver=args.solver, cross_check=args.cross_check)
    return (replayed_here(r) for r in ex.map(run_named, names, opts))


def cmd_prove(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Run the registered obligations and print one line each, then a summary."""
    from proofs.registry import all_entries, run_entry, select
    from proofs.report import check_timeout
    from verify.engines import Options

    check_timeout("--timeout", args.timeout)
    junit = getattr(args, "junit", None)
    if args.json == "-" and junit == "-":
        raise _UsageError("--json - and --junit -: only one of them can go to standard output")
    if args.json and args.json != "-":
        check_replaceable(args.json, JSON_MARKER, "results file")
    if junit and junit != "-":
        check_replaceable(junit, JUNIT_MARKER, "JUnit file")
    entries = select(all_entries(), args.only, args.all)
    if not entries:
        raise _UsageError(f"--only {' '.join(args.only or [])!r}: no obligation matches")
    # A document on standard output keeps it to itself: the lines go to stderr.
    doc_to_stdout = args.json == "-" or junit == "-"
    quiet = args.quiet or doc_to_stdout
    lines = err if doc_to_stdout else out
    results: list[Result] = []
    t0 = time.perf_counter()
    with _executor(args) as ex, _progress(not quiet, err) as bar:
        task = bar.add_task("proving", total=len(entries)) if bar else None
        remote = _distributed(args, ex, [e.name for e in entries])
        for entry in entries:
            sub = None
            if bar is not None:
                sub = bar.add_task(entry.name, total=None)

            def tick(done: int, total: int, sub: Any = sub) -> None:
                if bar is not None:
                    bar.update(sub, completed=done, total=total)

            opts = Options(args.method, args.timeout, progress=tick, solver=args.solver,
                           cross_check=args.cross_check)
            r = next(remote) if remote is not None else run_entry(entry, opts)
            results.append(r)
            if bar is not None:
                bar.remove_task(sub)
                bar.advance(task)
            if not quiet or r.verdict is not Verdict.PROVED:
                if not doc_to_stdout or not args.quiet:
                    print(r.line(), file=lines, flush=True)
    seconds = time.perf_counter() - t0
    s = summary(results)
    if not args.quiet:
        print(f"{len(results)} obligations: {s['proved']} proved, {s['refuted']} refuted, "
              f"{s['unknown']} unknown in {seconds:.1f}s", file=lines)
        if args.cross_check:
            print(solver_summary(results), file=lines)
    doc = results_json(results, seconds)
    if args.json:
        _write_json(args.json, doc, out)
    if junit == "-":
        from proofs.report import junit_xml

        out.write(junit_xml(results))
    elif junit:
        from proofs.report import write_junit

        write_junit(junit, results)
    return verdict_exit(combine(results))


def solver_summary(results: Sequence[Result]) -> str:
    """One line: per solver, the SMT queries the results asked and how they were answered.

    Under ``--cross-check`` every query went to both solvers and none disagreed (a disagreement
    stops the run with exit code 2 before this line)."""
    total: dict[str, dict[str, float]] = {}
    for r in results:
        for name, t in r.details.get("solvers", {}).items():
            acc = total.setdefault(name, {})
            for k, v in t.items():
                acc[k] = acc.get(k, 0) + v
    if not total:
        return "cross-check: no SMT query was asked"
    parts = [f"{name} {int(t['queries'])} queries ({int(t['unsat'])} unsat, {int(t['sat'])} sat, "
             f"{int(t['unknown'])} unknown, {t['seconds']:.1f}s)" for name, t in total.items()]
    return "cross-check: " + "; ".join(parts) + "; no disagreement"


JSON_MARKER = b'"tool": "loopmlp"'
"""What every results document written by ``prove --json`` starts with (its first key)."""
JUNIT_MARKER = b'<testsuites name="loopmlp"'
"""The root element of every JUnit file loopmlp writes."""


def _write_json(path: str, doc: dict[str, Any], out: IO[str]) -> None:
    text = json.dumps(doc, indent=2) + "\n"
    if path == "-":
        out.write(text)
    else:
        write_file(path, text)


def cmd_list(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """List registered obligation names."""
    from proofs.registry import all_entries, select

    for e in select(all_entries(), args.only, True):
        print(e.name + ("  (slow)" if e.slow else ""), file=out)
    return EXIT_OK


Handler = Callable[[argparse.Namespace, IO[str], IO[str]], int]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands register their handler as ``func``)."""
    # The engines (numpy, scipy) load here, not when the module is imported, so that the console
    # script is inside main's handlers (Ctrl-C, a closed pipe) a fraction of a second after start.
    from verify.engines import METHODS

    p = _Parser(prog="loopmlp", description="Exact verification of looped ReLU-MLP computers.",
                epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"loopmlp {version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    pr = sub.add_parser("prove", help="check the registered obligations", epilog=EXIT_CODES,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    pr.add_argument("--only", action="append", metavar="PATTERN",
                    help="glob over obligation names (repeatable), e.g. 'gadget/*'")
    pr.add_argument("--method", choices=METHODS, default="auto",
                    help="checking method (auto: exhaustive for small domains, else factorised "
                    "or smt; cvc5: smt decided by cvc5)")
    pr.add_argument("--timeout", type=float, default=60.0, metavar="S",
                    help="seconds per obligation for the solver (default 60)")
    pr.add_argument("--json", metavar="FILE", help="write results as JSON ('-' for stdout)")
    pr.add_argument("--junit", metavar="FILE",
                    help="write results as JUnit XML ('-' for stdout)")
    pr.add_argument("--all", action="store_true", help="include the slow obligations")
    pr.add_argument("--quiet", action="store_true", help="print only what is not proved")
    pr.add_argument("--solver", choices=("z3", "cvc5"), default="z3",
                    help="SMT solver for every solver query (cvc5 needs the cvc5 extra)")
    pr.add_argument("--cross-check", action="store_true",
                    help="decide every solver query with both z3 and cvc5: proved only when "
                    "both prove it, exit 2 when they contradict each other")
    pr.add_argument("--executor", choices=("local", "processes", "dask"), default="local",
                    help="where the blocks of exhaustive checks run: threads here (default), "
                    "worker processes, or a dask cluster (needs the dask extra)")
    pr.add_argument("--scheduler", metavar="ADDRESS",
                    help="dask scheduler, e.g. tcp://host:8786 (default: start a local cluster)")
    pr.add_argument("--workers", type=int, metavar="N",
                    help="worker processes or threads (default: the cores, at most 8)")
    pr.add_argument("--distribute", choices=("blocks", "obligations"), default="blocks",
                    help="with --executor processes|dask: send the blocks of each exhaustive "
                    "check (default), or whole obligations, to the workers")
    pr.set_defaults(func=cmd_prove)

    ls = sub.add_parser("list", help="list the registered obligations")
    ls.add_argument("--only", action="append", metavar="PATTERN")
    ls.set_defaults(func=cmd_list)

    for mod in COMMAND_MODULES:
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name == mod:
                continue
            raise
        module.add_commands(sub)
    return p


# Modules that add subcommands: each has ``add_commands(subparsers)``; every handler it sets as
# ``func`` has the signature ``(args, out, err) -> exit code``.
COMMAND_MODULES = ("proofs.machine_cli", "proofs.report", "proofs.bench", "proofs.bench_run",
                   "proofs.import_cli", "proofs.interop_cli", "proofs.bench_solvers",
                   "proofs.precision", "proofs.bench_long", "proofs.giannou_cli",
                   "proofs.lang_cli")


def main(argv: Sequence[str] | None = None, out: IO[str] | None = None,
         err: IO[str] | None = None) -> int:
    """Entry point: parse, dispatch, and map every error to a documented exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        return _dispatch(argv, out, err)
    except BrokenPipeError:  # the reader went away: end quietly, as other command-line tools do
        return EXIT_PIPE
    except KeyboardInterrupt:  # a second Ctrl-C while the first was being reported
        return EXIT_INTERRUPTED


def _dispatch(argv: Sequence[str] | None, out: IO[str], err: IO[str]) -> int:
    try:
        parser = build_parser()
        with redirect_stdout(out):  # --help and --version write to the given stream
            args = parser.parse_args(list(argv) if argv is not None else None)
        handler: Handler = args.func
        return handler(args, out, err)
    except SystemExit as e:  # --help / --version
        return int(e.code or 0)
    except InternalError as e:
        print(f"loopmlp: internal error: {e}", file=err)
        return EXIT_USAGE
    except LoopmlpError as e:
        print(f"loopmlp: error: {e}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("loopmlp: interrupted", file=err, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise
    except Exception as e:  # noqa: BLE001 - the promise is: no traceback, exit 2
        if os.environ.get("LOOPMLP_DEBUG"):
            raise
        print(f"loopmlp: internal error: {type(e).__name__}: {e} "
              "(set LOOPMLP_DEBUG=1 for a traceback)", file=err)
        return EXIT_USAGE


def entry_point() -> None:
    """Console script: :func:`main`, then standard output flushed here, where a reader that went
    away (exit 141) or a late Ctrl-C (exit 130) still ends the process quietly."""
    try:
        code = main()
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        code = EXIT_PIPE
    except KeyboardInterrupt:
        print("loopmlp: interrupted", file=sys.stderr, flush=True)
        code = EXIT_INTERRUPTED
    if code == EXIT_PIPE:
        # Whatever is still buffered for the closed pipe goes nowhere, instead of failing again
        # (with a message) when the interpreter flushes at exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (AttributeError, OSError, ValueError):  # no standard output to silence
            pass
    sys.exit(code)
