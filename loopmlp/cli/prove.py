"""``loopmlp prove``: check the registered obligations, one line each; and the prove loop that
``report`` runs too."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from loopmlp.report.junit import JUNIT_MARKER, junit_xml
from loopmlp.report.results import JSON_MARKER, results_text, write_document
from proofs import registry
from proofs.registry import Entry
from verify.files import check_replaceable
from verify.methods import METHODS, Options, memo
from verify.methods import executor as executors
from verify.methods.solvers import SOLVERS
from verify.result import Result, Verdict, combine, summary

from .args import add_timeout
from .common import UsageError, command, verdict_exit
from .progress import progress


def add_arguments(pr: argparse.ArgumentParser) -> None:
    """``prove``: the selection, the method and solver, the documents, where blocks run."""
    command(pr)
    pr.add_argument("--only", action="append", metavar="PATTERN",
                    help="glob over obligation names (repeatable), e.g. 'gadget/*'")
    pr.add_argument("--method", choices=METHODS, default="auto",
                    help="checking method (default auto: exhaustive for domains up to 2^24 "
                    "points, else factorised where declared, else smt; cvc5: smt decided by cvc5)")
    add_timeout(pr, help="seconds per obligation for the solver (default 60)")
    pr.add_argument("--json", metavar="FILE", help="write results as JSON ('-' for stdout)")
    pr.add_argument("--junit", metavar="FILE",
                    help="write results as JUnit XML ('-' for stdout)")
    pr.add_argument("--all", action="store_true", help="include the slow obligations")
    pr.add_argument("--quiet", action="store_true",
                    help="print only what is not proved, then the summary line; no progress "
                    "display")
    pr.add_argument("--solver", choices=SOLVERS, default=None,
                    help="SMT solver for every solver query (default z3; cvc5 and bitwuzla need "
                    "their extras; bitwuzla decides bit-vector queries only)")
    pr.add_argument("--cross-check", action="store_true",
                    help="decide every solver query with two solvers: z3 and the best second "
                    "solver for the query's logic (bitwuzla for bit-vectors, cvc5 for integers); "
                    "proved only when both prove it, exit 2 when they contradict each other")
    pr.add_argument("--cross-check-with", type=solver_pair, metavar="A,B",
                    help="cross-check with these two solvers instead, e.g. z3,cvc5")
    pr.add_argument("--executor", choices=executors.KINDS, default="local",
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


def cmd_prove(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Run the registered obligations and print one line each, then a summary."""
    junit = args.junit
    if args.json == "-" and junit == "-":
        raise UsageError("--json - and --junit -: only one of them can go to standard output")
    if args.json and args.json != "-":
        check_replaceable(args.json, JSON_MARKER, "results file")
    if junit and junit != "-":
        check_replaceable(junit, JUNIT_MARKER, "JUnit file")
    entries = selected(args)
    options(args)  # a bad combination of options fails before anything is written
    # A document on standard output keeps it to itself: the lines go to stderr, and no progress
    # display is drawn over them.
    doc_to_stdout = args.json == "-" or junit == "-"
    lines = err if doc_to_stdout else out
    results, seconds = prove_entries(entries, args, lines, err, quiet=args.quiet,
                                     show_progress=not (args.quiet or doc_to_stdout))
    if args.json:
        write_document(args.json, results_text(results, seconds), out)
    if junit:
        write_document(junit, junit_xml(results), out)
    # After the documents (a failed write is then the one line), and under --quiet too.
    print(summary_line(results, seconds), file=lines)
    if args.cross_check or args.cross_check_with:
        print(solver_summary(results), file=lines)
    return verdict_exit(combine(results))


def selected(args: argparse.Namespace) -> list[Entry]:
    """The registered entries ``--only`` and ``--all`` select; none is a usage error."""
    entries = registry.select(registry.all_entries(), args.only, args.all)
    if not entries:
        slow = registry.select(registry.all_entries(), args.only, True)
        if slow:
            raise UsageError(f"--only {' '.join(args.only or [])!r}: matches only slow "
                             f"obligations ({len(slow)}); add --all to run them, or name one "
                             "exactly")
        raise UsageError(f"--only {' '.join(args.only or [])!r}: no obligation matches")
    return entries


def summary_line(results: list[Result], seconds: float) -> str:
    """``N obligations: P proved, R refuted, U unknown in Ts`` (``1 obligation: ...``)."""
    s = summary(results)
    noun = "obligation" if len(results) == 1 else "obligations"
    return (f"{len(results)} {noun}: {s['proved']} proved, {s['refuted']} refuted, "
            f"{s['unknown']} unknown in {seconds:.1f}s")


def prove_entries(entries: list[Entry], args: argparse.Namespace, lines: IO[str], err: IO[str],
                  *, quiet: bool, echo: bool = True, show_progress: bool | None = None
                  ) -> tuple[list[Result], float]:
    """The prove loop: every entry checked with the options of ``args`` (``--method``,
    ``--timeout``, ``--solver``, ``--cross-check``, ``--executor`` where the command has them),
    and each result's line on ``lines`` (with ``quiet``, only what is not proved; nothing
    without ``echo``). Returns the results and the seconds taken.

    A progress display on ``err`` when ``show_progress`` (default: not ``quiet``) and ``err``
    is a terminal: the obligations done of all, the time elapsed and an estimate of the time
    left, and below it the current obligation with its own progress where its method reports
    one (blocks of an enumeration, cases of a case split, groups of a factorisation).

    Within the loop an obligation of the same content is checked once
    (:func:`verify.methods.memo.reuse`)."""
    results: list[Result] = []
    t0 = time.perf_counter()
    shown = not quiet if show_progress is None else show_progress
    # One reuse scope for the run: a gadget proved as its own obligation is not proved again as
    # a premise of a compositional step (keyed on content: verify.methods.memo).
    with _executor(args) as ex, progress(shown, err) as bar, memo.reuse():
        task = bar.add_task("obligations", total=len(entries)) if bar else None
        remote = _distributed(args, ex, [e.name for e in entries])
        for entry in entries:
            sub = bar.add_task(f"  {entry.name}", total=None) if bar is not None else None

            def tick(done: int, total: int, sub: Any = sub) -> None:
                if bar is not None:
                    bar.update(sub, completed=done, total=total)

            r = next(remote) if remote is not None else registry.run_entry(
                entry, options(args, tick))
            results.append(r)
            if bar is not None:
                bar.remove_task(sub)
                bar.advance(task)
            if echo and (not quiet or r.verdict is not Verdict.PROVED):
                print(r.line(), file=lines, flush=True)
    return results, time.perf_counter() - t0


def options(args: argparse.Namespace, tick: Any = None) -> Options:
    """The checking options of a command line (``--method`` and ``--timeout`` left out or
    not given: auto, 60 s)."""
    method = getattr(args, "method", None) or "auto"
    timeout = getattr(args, "timeout", None)
    solver, pair = solver_choice(args)
    return Options(method, 60.0 if timeout is None else timeout, progress=tick, solver=solver,
                   cross_check=getattr(args, "cross_check", False), cross_check_with=pair)


def solver_pair(text: str) -> tuple[str, str]:
    """``--cross-check-with A,B``: two different solvers, comma-separated."""
    pair = tuple(x.strip() for x in text.split(","))
    if len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= set(SOLVERS):
        raise argparse.ArgumentTypeError(
            f"{text!r}: need two different solvers of {', '.join(SOLVERS)}, e.g. z3,cvc5")
    return pair[0], pair[1]


def solver_choice(args: argparse.Namespace) -> tuple[str, tuple[str, ...]]:
    """``--solver`` (z3 when not given) and ``--cross-check-with``, refusing the combinations
    that cannot mean what they say: a solver besides ``--method cvc5`` or besides
    ``--cross-check-with``, and bitwuzla (no integer theory) for the smt method, whose every
    query is over the integers."""
    method = getattr(args, "method", None) or "auto"
    solver = getattr(args, "solver", None)
    pair: tuple[str, ...] = getattr(args, "cross_check_with", None) or ()
    if pair and solver is not None:
        raise UsageError(f"--solver {solver} with --cross-check-with {','.join(pair)}: name the "
                         "solvers in --cross-check-with only")
    if method == "cvc5" and (solver not in (None, "cvc5") or pair[:1] not in ((), ("cvc5",))):
        given = f"--solver {solver}" if solver else f"--cross-check-with {','.join(pair)}"
        raise UsageError(f"--method cvc5 with {given}: method cvc5 is smt decided by cvc5; "
                         "use --method smt with the solver you want")
    if method in ("smt", "cvc5") and "bitwuzla" in (solver, *pair):
        raise UsageError("--method smt with bitwuzla: the smt method asks over the integers "
                         "and bitwuzla has no integer theory (use --method factorised or auto)")
    return solver or "z3", pair


@contextmanager
def _executor(args: argparse.Namespace) -> Iterator[Any]:
    """The executor of ``--executor`` in force for the run (the default: none, i.e. threads);
    obligations that cannot be serialised travel to workers by registry name."""
    kind = getattr(args, "executor", "local")
    scheduler, workers = getattr(args, "scheduler", None), getattr(args, "workers", None)
    if kind == "local" and scheduler is None and workers is None:
        yield None
        return
    with executors.make(kind, scheduler, workers) as ex, executors.using(ex), \
            executors.rebuild_with(registry.build):
        yield ex


def _distributed(args: argparse.Namespace, ex: Any, names: list[str]) -> Iterator[Result] | None:
    """With ``--distribute obligations``: the entries' results, in order, each run whole on a
    worker and its counterexample replayed again here; else None."""
    if getattr(args, "distribute", "blocks") != "obligations":
        return None
    if ex is None or not ex.remote:
        raise UsageError("--distribute obligations needs --executor processes or dask")
    return (registry.replayed_here(r) for r in ex.map(registry.run_named, names, options(args)))


def solver_summary(results: list[Result]) -> str:
    """One line: per solver, the SMT queries the results asked and how they were answered.

    Under ``--cross-check`` (or ``--cross-check-with``) every query went to both solvers and
    none disagreed (a disagreement stops the run with exit code 2 before this line)."""
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
