"""``loopmlp run``: a ``.sq`` program executed on the looped network, optionally checked step by
step against the reference interpreter."""

from __future__ import annotations

import argparse
import json
from typing import IO

from constructions.computer import ALL_PROFILES, build
from constructions.computer.runner import ENGINES, run_network
from constructions.machine import asm
from constructions.machine.subleq import MachineSize, State, signed_memory
from verify.errors import InputError, ParameterError

from .args import add_sizes, check_fits, check_steps, check_trace, integer
from .building import with_progress
from .common import EXIT_OK, EXIT_REFUTED, EXIT_UNKNOWN, command
from .transformer import add_run_options
from .transformer import run_network as run_giannou

RUN_EXIT_CODES = """exit codes:
  0  the program halted (its expect lines hold; with --check the network agrees)
  1  the network disagrees with the interpreter (--check), or an expect line fails
  2  usage error, malformed input, or internal error
  3  the program did not halt within --max-steps
  130  interrupted (Ctrl-C)"""
"""The exit codes of ``loopmlp run``, as the epilog of its ``--help``."""


def add_arguments(r: argparse.ArgumentParser) -> None:
    """``run FILE.sq``: profile, sizes, step limit, trace, check, JSON; or a looped Transformer
    with ``--giannou-network``."""
    command(r, epilog=RUN_EXIT_CODES)
    r.add_argument("file", metavar="FILE.sq", nargs="?",
                   help="the program (optional with --giannou-network when the file holds X0)")
    r.add_argument("--profile", choices=ALL_PROFILES, default="paper",
                   help="network profile that runs the program (default paper)")
    add_sizes(r, ("the file's .size, else the smallest that fits",
                  "the file's .size, else 16",
                  "the file's .size, else the smallest that fits"))
    r.add_argument("--max-steps", type=integer, default=100_000, metavar="S",
                   help="stop after S steps if the program has not halted (default 100000)")
    r.add_argument("--trace", action="store_true", help="print the state after every step")
    r.add_argument("--check", action="store_true",
                   help="run the reference interpreter alongside and compare every step")
    r.add_argument("--engine", choices=ENGINES, default="engine",
                   help="how the network is stepped: the compiled engine, or the reference "
                   "evaluation Network.forward for cross-checks (same states; default engine)")
    r.add_argument("--json", action="store_true", help="print the result as JSON")
    r.add_argument("--giannou-network", metavar="FILE.npz",
                   help="run a looped Transformer saved from Giannou et al.'s code instead "
                   "(see docs/giannou.md; --dtype, --lam, --max-subtract apply)")
    add_run_options(r)
    r.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Assemble, build, loop; exit 1 when --check finds a disagreement or an expect line fails,
    3 when the program did not halt within --max-steps."""
    if args.giannou_network is not None:
        args.program = args.file
        return run_giannou(args, out, args.giannou_network)
    if args.file is None:
        raise ParameterError("FILE.sq", None, "a program to run (or --giannou-network)")
    # Every limit is checked before the network is built or a state is stored.
    check_steps(args.max_steps)
    program = asm.load(args.file, words=args.words, bits=args.bits, slots=args.slots)
    try:
        weights = check_fits(args.profile, program.size, folded=False)  # run steps it unfolded
        if args.trace:
            check_trace(args.max_steps, program.size)
    except ParameterError as e:  # the size may come from the file: name it
        raise InputError(args.file, None, str(e)) from None
    expectations = asm.expectations(program, program.state)  # a bad expect line: exit 2 now
    computer = with_progress(lambda: build(args.profile, program.size), args.profile,
                             program.size, weights, err, not args.json)
    result = run_network(computer, program.state, args.max_steps, trace=args.trace,
                         check=args.check, engine=args.engine)
    size = program.size
    words = list(signed_memory(result.state, size))
    memory = _named(program, result.state, size)
    if result.halted:
        expectations = asm.expectations(program, result.state)
    holds = all(e.holds for e in expectations) if result.halted and expectations else None
    if args.json:
        doc = {
            "halted": result.halted,
            "steps": result.steps,
            "pc": result.state.pc,
            "memory": memory,
            "words": words,
            "agrees_with_interpreter": result.agrees_with_interpreter,
            "expectations_hold": holds,
            "expectations": [{"ref": e.ref, "expected": e.expected, "got": e.got,
                              "holds": e.holds} for e in expectations]
            if holds is not None else [],
            "profile": args.profile,
            "engine": args.engine,
            "layers": computer.network.depth,
            "size": {"words": size.words, "bits": size.bits, "slots": size.slots},
            "reason": result.reason,
        }
        if result.trace is not None:
            doc["trace"] = [{"pc": s.pc, "words": list(signed_memory(s, size))}
                            for s in result.trace]
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        if result.trace is not None:
            for n, s in enumerate(result.trace):
                print(f"step {n}: pc={s.pc} " + " ".join(
                    f"{k}={v}" for k, v in _named(program, s, size).items()), file=out)
        what = ("did not halt within" if result.reason == "step limit" else
                f"{result.reason} after")
        print(f"{args.file}: {what} {_steps(result.steps)} on the {args.profile} "
              f"profile ({computer.network.depth} layers), pc={result.state.pc}", file=out)
        for k, v in memory.items():
            print(f"  {k} = {v}", file=out)
        if holds is not None:
            failed = [e for e in expectations if not e.holds]
            print(f"  expectations: {len(expectations) - len(failed)} of {len(expectations)} "
                  "hold", file=out)
            for x in failed:
                print(f"  expectation fails: {x}", file=out)
        elif expectations:
            print("  expectations: not checked (the program did not halt)", file=out)
        if result.agrees_with_interpreter is not None:
            verdict = "agrees" if result.agrees_with_interpreter else "DISAGREES"
            print(f"  interpreter: {verdict}", file=out)
    if result.agrees_with_interpreter is False or holds is False:
        return EXIT_REFUTED
    return EXIT_OK if result.halted else EXIT_UNKNOWN


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


def _named(program: asm.Program, state: State, size: MachineSize) -> dict[str, int]:
    words = signed_memory(state, size)
    return {label: words[addr] for label, addr in program.data_labels.items()}
