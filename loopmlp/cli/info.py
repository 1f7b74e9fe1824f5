"""``loopmlp info``: the layers, widths and weights of a profile's network at a machine size."""

from __future__ import annotations

import argparse
import json
from typing import IO, Any

from constructions.computer import ALL_PROFILES, Computer, build
from constructions.machine.subleq import MachineSize

from .args import add_sizes, check_fits
from .building import with_progress
from .common import EXIT_OK


def add_arguments(i: argparse.ArgumentParser) -> None:
    """``info``: profile, sizes, JSON."""
    i.add_argument("--profile", choices=ALL_PROFILES, default="paper",
                   help="network profile to describe (default paper)")
    add_sizes(i, ("16", "16", "64"))
    i.add_argument("--json", action="store_true",
                   help="print the layers, widths and weight counts as JSON")
    i.set_defaults(func=cmd_info)


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
    weights = check_fits(args.profile, size)
    d = with_progress(lambda: describe(build(args.profile, size)), args.profile, size, weights,
                      err, not args.json)
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
