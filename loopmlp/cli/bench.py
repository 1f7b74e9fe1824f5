"""``loopmlp bench``: the benchmarks, one subcommand each (``proofs``, ``run``, ``solvers``,
``long``, ``process``), measured by :mod:`loopmlp.bench` and printed or written into docs/."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from constructions.computer import ALL_PROFILES
from loopmlp.bench import build, long, process, proofs, run, solvers
from verify.errors import LoopmlpError, ParameterError
from verify.files import write_file

from .args import add_timeout
from .common import EXIT_OK, EXIT_REFUTED, command, version
from .progress import progress, tracker


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``bench BENCHMARK``: each benchmark a subcommand with its own options."""
    subs = p.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    _proofs(subs.add_parser(
        "proofs", help="time exhaustive, factorised and smt proofs of every gadget by width"))
    _run(subs.add_parser(
        "run", help="time the engines that run programs on the looped network, size by size"))
    _solvers(subs.add_parser(
        "solvers", help="time monolithic z3 and cvc5 proofs (integers, bit-vectors) by width"))
    _long(subs.add_parser(
        "long", help="a million-step run of the engine, checked against the interpreter"))
    _process(subs.add_parser(
        "process", help="loopmlp run as a whole process against a plain Python interpreter"))
    _build(subs.add_parser(
        "build", help="building computers at scale: build, info and run of large machines"))


def _docs_options(p: argparse.ArgumentParser, what: str, default: Path) -> None:
    p.add_argument("--write-docs", action="store_true", help=what)
    p.add_argument("--docs-dir", default=str(default), metavar="DIR", help=argparse.SUPPRESS)


# --------------------------------------------------------------------------- proofs
def _proofs(p: argparse.ArgumentParser) -> None:
    command(p, description="How long each method takes to prove each gadget, width by "
            "width.")
    p.add_argument("--json", action="store_true", help="print the measurements as JSON")
    p.add_argument("--quick", action="store_true",
                   help=f"a reduced ladder (widths {', '.join(map(str, proofs.QUICK_LADDER))}; "
                   f"smt up to {proofs.QUICK_SMT_MAX} bits; throughput at "
                   f"{proofs.QUICK_THROUGHPUT_BITS} bits)")
    add_timeout(p, "--monolithic-timeout", default=10.0,
                help="seconds per query for each monolithic SMT proof (z3 over integers and "
                "bit-vectors, cvc5, bitwuzla: each where installed; default 10: each solver "
                "stops at the first width it times out at, so the ladder ends in minutes)")
    p.add_argument("--scale", action="store_true",
                   help="also the long figures: the compositional step at M=256, and "
                   "'loopmlp prove --all' and 'prove --cross-check' in fresh processes "
                   "(tens of minutes)")
    _docs_options(p, "write the 'Proof times' section of docs/benchmarks.md and "
                  "docs/proof_times.png (the plot needs matplotlib)", proofs.DOCS)
    p.set_defaults(func=cmd_bench_proofs)


def cmd_bench_proofs(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Time every method on every gadget, print the table (or JSON), optionally write docs."""
    with progress(not args.json, err) as bar:
        current: dict[str, Any] = {}

        def tick(what: str, done: int | None, total: int | None) -> None:
            if bar is None:
                return
            if current.get("what") != what:  # a new step: a fresh bar (or a spinner)
                if "task" in current:
                    bar.remove_task(current["task"])
                current.update(what=what, task=bar.add_task(what, total=total))
            bar.update(current["task"], completed=done or 0)

        report = proofs.run(args.quick, args.monolithic_timeout, tick, scale=args.scale)
    if args.json:
        out.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        render = proofs.render_rich if Console(file=out).is_terminal else proofs.render_plain
        render(report, out)
    if args.write_docs:
        try:
            for path in proofs.write_docs(report, Path(args.docs_dir), err):
                print(f"wrote {path}", file=err)
        except OSError as e:
            raise LoopmlpError(f"{args.docs_dir}: cannot write ({e.strerror})") from None
    refuted = any(r.verdict == "refuted" for r in report.rows)
    return EXIT_REFUTED if refuted else EXIT_OK


# --------------------------------------------------------------------------- run
def _run(p: argparse.ArgumentParser) -> None:
    command(p, description="How fast the looped computer runs programs, engine by engine.")
    p.add_argument("--json", action="store_true", help="print the measurements as JSON")
    p.add_argument("--quick", action="store_true",
                   help=f"only the first {run.QUICK} sizes of the ladder")
    _docs_options(p, f"write docs/{run.DOC_NAME}", run.DOCS)
    p.set_defaults(func=cmd_bench_run)


def cmd_bench_run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Measure the ladder, print the table (or JSON), optionally write the docs page."""
    with progress(not args.json, err) as bar:
        task = bar.add_task("bench run", total=None) if bar is not None else None

        def tick(what: str) -> None:
            if bar is not None:
                bar.update(task, description=what)

        report = run.run(args.quick, tick)
    if args.json:
        out.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        run.render_plain(report, out)
    if args.write_docs:
        path = Path(args.docs_dir) / run.DOC_NAME
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LoopmlpError(f"{path}: cannot write ({e.strerror})") from None
        write_file(path, run.docs_text(report))
        print(f"wrote {path}", file=err)
    return EXIT_OK


# --------------------------------------------------------------------------- solvers
def _solvers(p: argparse.ArgumentParser) -> None:
    command(p, description="One monolithic SMT proof of a gadget, solver by solver, by "
            "width.")
    p.add_argument("--gadget", default="subtract", metavar="NAME",
                   help="gadget family (default subtract; see 'loopmlp bench proofs')")
    widths = ",".join(map(str, solvers.DEFAULT_BITS))
    p.add_argument("--bits", default=widths, metavar="LIST",
                   help=f"comma-separated widths (default {widths})")
    p.add_argument("--solvers", metavar="LIST",
                   help=f"configurations to run, of {','.join(solvers.CONFIGS)} (default: each "
                   "whose solver is installed)")
    add_timeout(p, default=solvers.DEFAULT_TIMEOUT,
                help=f"seconds per run (default {solvers.DEFAULT_TIMEOUT:g})")
    p.add_argument("--json", action="store_true", help="print the measurements as JSON")
    p.set_defaults(func=cmd_bench_solvers)


def cmd_bench_solvers(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Measure, print one line per run (or JSON), then the table."""
    widths, (configs, left_out) = solvers.parse_widths(args.bits), solvers.parse_configs(
        args.solvers)
    if args.gadget not in solvers.FAMILIES:
        raise ParameterError("--gadget", args.gadget, f"one of {', '.join(solvers.FAMILIES)}")
    if not args.json:
        for row in left_out:
            print(row.line(), file=out)
    t0 = time.perf_counter()
    with progress(not args.json, err) as bar:
        task = bar.add_task("", total=None) if bar is not None else None

        def tick(what: solvers.SolverRow | str) -> None:
            if isinstance(what, str):
                if bar is not None:
                    bar.update(task, description=what)
            elif not args.json:
                print(what.line(), file=out, flush=True)

        rows = solvers.run(args.gadget, widths, configs, args.timeout, tick)
    seconds = time.perf_counter() - t0
    if args.json:
        doc = {"tool": "loopmlp", "version": version(), "command": "bench solvers",
               "gadget": args.gadget, "timeout": args.timeout, "machine": solvers.machine(),
               "seconds": round(seconds, 3),
               "rows": [{**asdict(r), "seconds": round(r.seconds, 6)} for r in rows],
               "left_out": [{"config": r.config, "reason": r.reason} for r in left_out]}
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        print("", file=out)
        for ln in solvers.table(rows, configs):
            print(ln, file=out)
        print(f"{len(rows)} runs in {seconds:.1f}s (limit {args.timeout:g}s each)", file=out)
    return EXIT_REFUTED if any(r.verdict == "refuted" for r in rows) else EXIT_OK


# --------------------------------------------------------------------------- long
def _long(p: argparse.ArgumentParser) -> None:
    command(p, description="An endurance run of the engine against the interpreter.")
    p.add_argument("--program", default=str(long.PROGRAM), metavar="FILE.sq",
                   help="the SUBLEQ program to run (default: the bundled long program)")
    p.add_argument("--profile", choices=ALL_PROFILES, default="compact",
                   help="network profile that runs it (default compact)")
    p.add_argument("--checkpoint", type=int, default=100_000, metavar="S",
                   help="steps between full-state comparisons (default 100000)")
    p.add_argument("--max-steps", type=int, default=2_000_000, metavar="S",
                   help="steps to run at most (default 2000000)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    _docs_options(p, f"write docs/{long.DOC_NAME}", long.DOCS)
    p.set_defaults(func=cmd_bench_long)


def cmd_bench_long(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Run, print, optionally write the page; exit 1 when engine and interpreter disagree. On a
    terminal, a progress display on ``err``: steps run of at most ``--max-steps``, the current
    checkpoint and side (engine or interpreter), elapsed and left."""
    with tracker(not args.json, err, "bench long", args.max_steps) as track:

        def tick(what: str, steps: int) -> None:
            track.item(what)
            track.update(steps)

        doc = long.long_run(args.program, args.profile, args.checkpoint, args.max_steps, tick)
    if args.json:
        print(json.dumps(doc, indent=2), file=out)
    else:
        print(long.render(doc), end="", file=out)
    if args.write_docs:
        write_file(Path(args.docs_dir) / long.DOC_NAME, long.render(doc))
    return EXIT_OK if doc["agrees"] and not doc["expectations"] else EXIT_REFUTED


# --------------------------------------------------------------------------- process
def _process(p: argparse.ArgumentParser) -> None:
    command(p, description="The wall time of 'loopmlp run' as a whole process against a plain "
            "Python SUBLEQ interpreter's, on one long program.")
    p.add_argument("--program", default=str(process.PROGRAM), metavar="FILE.sq",
                   help="the SUBLEQ program (default: the bundled 150,884-step program)")
    p.add_argument("--profile", choices=ALL_PROFILES, default="compact",
                   help="network profile that runs it (default compact)")
    p.add_argument("--repeat", type=int, default=3, metavar="R",
                   help="runs of each, the best wall time counts (default 3)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_bench_process)


def cmd_bench_process(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Measure and print; exit 1 when the two final states differ."""
    with progress(not args.json, err) as bar:
        task = bar.add_task("bench process", total=None) if bar is not None else None

        def tick(what: str) -> None:
            if bar is not None:
                bar.update(task, description=what)

        bench = process.measure(args.program, args.profile, args.repeat, tick)
    if args.json:
        print(json.dumps(bench.to_json(), indent=2), file=out)
    else:
        print(process.render(bench), end="", file=out)
    return EXIT_OK if bench.agrees else EXIT_REFUTED


# --------------------------------------------------------------------------- build
def _build(p: argparse.ArgumentParser) -> None:
    command(p, description="The cost of large machines: build of the paper profile at "
            "256/16/256 in this process, loopmlp info at 1024/32/1024 and loopmlp run "
            "--profile compact at 256 words and slots as whole processes (with their peak "
            "memory), each against its target.")
    p.add_argument("--repeat", type=int, default=1, metavar="R",
                   help="runs of each, the best wall time counts (default 1)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_bench_build)


def cmd_bench_build(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Measure and print; exit 0 whether or not the targets are met (they are figures)."""
    with tracker(not args.json, err, "bench build") as track:
        bench = build.measure(args.repeat, track.item)
    if args.json:
        print(json.dumps(bench.to_json(), indent=2), file=out)
    else:
        print(build.render(bench), end="", file=out)
    return EXIT_OK
