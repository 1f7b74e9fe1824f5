"""``loopmlp run`` and ``loopmlp info``: execute programs on the looped network, describe it."""

from __future__ import annotations

import argparse
import json
from typing import IO, Any

from constructions import asm, limits
from constructions.computer import PROFILES, Computer, build
from constructions.runner import run_network
from constructions.subleq import MachineSize, State, signed_memory
from verify.errors import InputError, ParameterError

from .cli import EXIT_OK, EXIT_REFUTED


def _sizes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--words", type=_int, metavar="M", help="data words (a power of two)")
    p.add_argument("--bits", type=_int, metavar="N", help="bits per word")
    p.add_argument("--slots", type=_int, metavar="K", help="instruction slots (a power of two)")


def _int(text: str) -> int:
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


# --------------------------------------------------------------------------- size limits
MAX_STEPS = 10**9
"""Largest ``--max-steps``: at about a millisecond a step, already weeks of looping."""

BYTES_PER_TRACED_WORD = 40
"""Memory one word of one traced state takes (a Python int in a tuple, with some slack)."""


def check_fits(profile: str, size: MachineSize,
               options: str = "--words, --bits or --slots") -> int:
    """:func:`constructions.limits.check_fits`, naming the command-line options to lower."""
    return limits.check_fits(profile, size, options)


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


def add_commands(sub: Any) -> None:
    """Register ``run`` and ``info``."""
    from .cli import EXIT_CODES

    r = sub.add_parser("run", help="run a .sq program on the looped network", epilog=EXIT_CODES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("file", metavar="FILE.sq", nargs="?",
                   help="the program (optional with --giannou-network when the file holds X0)")
    r.add_argument("--profile", choices=PROFILES, default="paper")
    _sizes(r)
    r.add_argument("--max-steps", type=_int, default=100_000, metavar="S")
    r.add_argument("--trace", action="store_true", help="print the state after every step")
    r.add_argument("--check", action="store_true",
                   help="run the reference interpreter alongside and compare every step")
    r.add_argument("--json", action="store_true", help="print the result as JSON")
    r.add_argument("--giannou-network", metavar="FILE.npz",
                   help="run a looped Transformer saved from Giannou et al.'s code instead "
                   "(see docs/giannou.md; --dtype, --lam, --max-subtract apply)")
    from .giannou_cli import add_run_options

    add_run_options(r)
    r.set_defaults(func=cmd_run)

    i = sub.add_parser("info", help="layers, widths and weights of a profile")
    i.add_argument("--profile", choices=PROFILES, default="paper")
    _sizes(i)
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)


def _labels(program: asm.Program) -> dict[str, int]:
    return dict(program.data_labels)


def cmd_run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Assemble, build, loop; exit 1 when --check finds a disagreement."""
    if args.giannou_network is not None:
        from .giannou_cli import run_network as run_giannou

        args.program = args.file
        return run_giannou(args, out, args.giannou_network)
    if args.file is None:
        raise ParameterError("FILE.sq", None, "a program to run (or --giannou-network)")
    # Every limit is checked before the network is built or a state is stored.
    check_steps(args.max_steps)
    program = asm.load(args.file, words=args.words, bits=args.bits, slots=args.slots)
    try:
        check_fits(args.profile, program.size)
        if args.trace:
            check_trace(args.max_steps, program.size)
    except ParameterError as e:  # the size may come from the file: name it
        raise InputError(args.file, None, str(e)) from None
    computer = build(args.profile, program.size)
    result = run_network(computer, program.state, args.max_steps, trace=args.trace,
                         check=args.check)
    size = program.size
    words = list(signed_memory(result.state, size))
    memory = {label: words[addr] for label, addr in _labels(program).items()}
    if args.json:
        doc = {
            "halted": result.halted,
            "steps": result.steps,
            "pc": result.state.pc,
            "memory": memory,
            "words": words,
            "agrees_with_interpreter": result.agrees_with_interpreter,
            "profile": args.profile,
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
        print(f"{args.file}: {result.reason} after {result.steps} steps on the {args.profile} "
              f"profile ({computer.network.depth} layers), pc={result.state.pc}", file=out)
        for k, v in memory.items():
            print(f"  {k} = {v}", file=out)
        if result.agrees_with_interpreter is not None:
            verdict = "agrees" if result.agrees_with_interpreter else "DISAGREES"
            print(f"  interpreter: {verdict}", file=out)
    return EXIT_REFUTED if result.agrees_with_interpreter is False else EXIT_OK


def _named(program: asm.Program, state: State, size: MachineSize) -> dict[str, int]:
    words = signed_memory(state, size)
    return {label: words[addr] for label, addr in program.data_labels.items()}


def describe(computer: Computer) -> dict[str, Any]:
    """The facts ``info`` prints: per layer role, width, nonzeros; totals."""
    net = computer.network
    layers = []
    for i, (layer, plan) in enumerate(zip(net.layers, computer.plans)):
        layers.append({
            "index": i,
            "label": plan.label,
            "identity": layer.is_identity,
            "inputs": len(layer.inputs),
            "outputs": len(layer.outputs),
            "nonzero_weights": layer.nnz,
            "nonzero_biases": sum(1 for b in layer.bias if b),
        })
    s = computer.size
    return {
        "profile": computer.profile,
        "size": {"words": s.words, "bits": s.bits, "slots": s.slots},
        "layers": net.depth,
        "identity_layers": sum(1 for x in layers if x["identity"]),
        "state_width": len(net.inputs),
        "widest_layer": net.widest,
        "nonzero_weights": net.nnz,
        "parameters": net.parameters,
        "dense_parameters": sum(a * b + a for a, b in (layer.shape for layer in net.layers)),
        "per_layer": layers,
    }


def cmd_info(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Describe a profile at a machine size (default 16 words, 16 bits, 64 slots)."""
    size = MachineSize(16 if args.words is None else args.words,
                       16 if args.bits is None else args.bits,
                       64 if args.slots is None else args.slots)
    check_fits(args.profile, size)
    d = describe(build(args.profile, size))
    if args.json:
        out.write(json.dumps(d, indent=2) + "\n")
        return EXIT_OK
    print(f"profile {d['profile']}: words={size.words} bits={size.bits} slots={size.slots}",
          file=out)
    print(f"  layers {d['layers']} ({d['identity_layers']} identity), state width "
          f"{d['state_width']}, widest layer {d['widest_layer']}", file=out)
    print(f"  nonzero weights {d['nonzero_weights']}, parameters (nonzero weights + biases) "
          f"{d['parameters']}, dense equivalent {d['dense_parameters']}", file=out)
    for x in d["per_layer"]:
        tag = "  identity" if x["identity"] else ""
        print(f"  {x['index']:>3} {x['label']:<34} {x['inputs']:>7} -> {x['outputs']:<7} "
              f"nnz {x['nonzero_weights']}{tag}", file=out)
    return EXIT_OK
