"""``loopmlp run`` and ``loopmlp info``: execute programs on the looped network, describe it."""

from __future__ import annotations

import argparse
import json
from typing import IO, Any

from constructions import asm
from constructions.computer import PROFILES, Computer, build
from constructions.runner import run_network
from constructions.subleq import MachineSize, State, signed_memory

from .cli import EXIT_OK, EXIT_REFUTED


def _sizes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--words", type=_int, metavar="M", help="data words (a power of two)")
    p.add_argument("--bits", type=_int, metavar="N", help="bits per word")
    p.add_argument("--slots", type=_int, metavar="K", help="instruction slots (a power of two)")


def _int(text: str) -> int:
    """An integer option; ``2**40`` style powers are accepted (and then refused by size)."""
    t = text.strip()
    try:
        if "**" in t:
            base, exp = t.split("**", 1)
            if int(exp) > 4096:
                raise ValueError
            return int(base) ** int(exp)
        return int(t, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def add_commands(sub: Any) -> None:
    """Register ``run`` and ``info``."""
    from .cli import EXIT_CODES

    r = sub.add_parser("run", help="run a .sq program on the looped network", epilog=EXIT_CODES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("file", metavar="FILE.sq")
    r.add_argument("--profile", choices=PROFILES, default="paper")
    _sizes(r)
    r.add_argument("--max-steps", type=_int, default=100_000, metavar="S")
    r.add_argument("--trace", action="store_true", help="print the state after every step")
    r.add_argument("--check", action="store_true",
                   help="run the reference interpreter alongside and compare every step")
    r.add_argument("--json", action="store_true", help="print the result as JSON")
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
    program = asm.load(args.file, words=args.words, bits=args.bits, slots=args.slots)
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
