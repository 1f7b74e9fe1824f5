"""``loopmlp bench solvers``: one monolithic SMT proof of a gadget, solver by solver, by width.

The gadget's obligation (subtract by default) is built once per width and the same formula is
decided by each configuration:

- ``z3-int``: :func:`verify.engines.smt` with z3 (integers, ReLU as ``If``);
- ``cvc5-int``: the same formula, as SMT-LIB text, decided by cvc5;
- ``z3-bv`` / ``cvc5-bv``: :func:`verify.engines.smt_bv`, bit-vectors of a width that provably
  cannot wrap, by z3 / by cvc5.

Each run has ``--timeout`` seconds; once a configuration times out (or is undecided), its larger
widths are not tried and the table says so. Seconds include building the z3 terms and, for
cvc5, printing and parsing the SMT-LIB text; building the gadget is not timed.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import IO, Any

from verify.engines import Options, smt, smt_bv
from verify.errors import ParameterError
from verify.obligation import Obligation
from verify.result import Result, Verdict

CONFIGS: dict[str, tuple[str, str]] = {  # name: (engine, solver)
    "z3-int": ("smt", "z3"),
    "cvc5-int": ("smt", "cvc5"),
    "z3-bv": ("smt_bv", "z3"),
    "cvc5-bv": ("smt_bv", "cvc5"),
}
DEFAULT_BITS = (4, 5, 6, 7, 8, 10, 12, 16, 24, 32)
DEFAULT_TIMEOUT = 60.0
COMMAND = "loopmlp bench solvers"


@dataclass(frozen=True)
class SolverRow:
    """One configuration at one width."""

    gadget: str
    bits: int
    config: str
    verdict: str  # proved | refuted | unknown | timeout | not tried
    seconds: float
    reason: str

    def line(self) -> str:
        if self.verdict == "not tried":
            return f"{self.gadget}[bits={self.bits}] {self.config}: not tried ({self.reason})"
        return (f"{self.gadget}[bits={self.bits}] {self.config}: {self.verdict.upper()} "
                f"{self.seconds:.2f}s ({self.reason})")


def _families() -> dict[str, Callable[[int], Any]]:
    from proofs.bench import FAMILIES

    return {f.name: f.build for f in FAMILIES}


def measure(ob: Obligation, config: str, timeout: float) -> Result:
    """Decide ``ob`` monolithically with one configuration."""
    engine, solver = CONFIGS[config]
    run = smt if engine == "smt" else smt_bv
    return run(ob, Options("smt", timeout=timeout, solver=solver))


def _row(gadget: str, bits: int, config: str, r: Result) -> SolverRow:
    verdict = r.verdict.label
    if r.verdict is Verdict.UNKNOWN and "timeout" in r.reason:
        verdict = "timeout"
    return SolverRow(gadget, bits, config, verdict, r.seconds, r.reason)


def run(gadget: str, widths: Sequence[int], configs: Sequence[str], timeout: float,
        tick: Callable[[SolverRow | str], None] | None = None) -> list[SolverRow]:
    """Every width, every configuration in turn; a configuration stops at its first width it
    does not decide."""
    build = _families()[gadget]
    rows: list[SolverRow] = []
    stopped: dict[str, int] = {}
    for bits in widths:
        ob = build(bits).obligation()
        for config in configs:
            if config in stopped:
                rows.append(SolverRow(gadget, bits, config, "not tried", 0.0,
                                      f"undecided at {stopped[config]} bits"))
                continue
            if tick:
                tick(f"{gadget}[bits={bits}] {config} (limit {timeout:g}s)")
            row = _row(gadget, bits, config, measure(ob, config, timeout))
            rows.append(row)
            if tick:
                tick(row)
            if row.verdict not in ("proved", "refuted"):
                stopped[config] = bits
    return rows


def table(rows: Sequence[SolverRow], configs: Sequence[str]) -> list[str]:
    """A markdown table: one line per width that some configuration tried, one column per
    configuration."""
    head = "| bits | " + " | ".join(configs) + " |"
    lines = [head, "|" + " --- |" * (len(configs) + 1)]
    by = {(r.bits, r.config): r for r in rows}
    for bits in sorted({r.bits for r in rows if r.verdict != "not tried"}):
        cells = []
        for c in configs:
            r = by.get((bits, c))
            if r is None or r.verdict == "not tried":
                cells.append("-")
            elif r.verdict == "proved":
                cells.append(f"{r.seconds:.2f} s")
            else:
                cells.append(f"{r.verdict} ({r.seconds:.0f} s)")
        lines.append(f"| {bits} | " + " | ".join(cells) + " |")
    return lines


def _widths(text: str) -> list[int]:
    try:
        widths = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ParameterError("--bits", text, "comma-separated widths, e.g. 4,8,16") from None
    if not widths or any(b < 1 or b > 64 for b in widths):
        raise ParameterError("--bits", text, "widths from 1 to 64")
    return widths


def _configs(text: str) -> list[str]:
    got = [x.strip() for x in text.split(",") if x.strip()]
    if not got or any(c not in CONFIGS for c in got):
        raise ParameterError("--solvers", text, f"a comma-separated subset of {','.join(CONFIGS)}")
    return got


def cmd_bench_solvers(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Measure, print one line per run (or JSON), then the table."""
    from proofs.bench import machine
    from proofs.cli import EXIT_OK, EXIT_REFUTED, _progress, version
    from proofs.report import check_timeout

    widths, configs = _widths(args.bits), _configs(args.solvers)
    check_timeout("--timeout", args.timeout)
    if args.gadget not in _families():
        raise ParameterError("--gadget", args.gadget, f"one of {', '.join(_families())}")
    if any(CONFIGS[c][1] == "cvc5" for c in configs):
        from verify.solvers import require_cvc5

        require_cvc5()
    t0 = time.perf_counter()
    with _progress(not args.json, err) as bar:
        task = bar.add_task("", total=None) if bar is not None else None

        def tick(what: SolverRow | str) -> None:
            if isinstance(what, str):
                if bar is not None:
                    bar.update(task, description=what)
            elif not args.json:
                print(what.line(), file=out, flush=True)

        rows = run(args.gadget, widths, configs, args.timeout, tick)
    seconds = time.perf_counter() - t0
    if args.json:
        doc = {"tool": "loopmlp", "version": version(), "command": "bench solvers",
               "gadget": args.gadget, "timeout": args.timeout, "machine": _machine(machine()),
               "seconds": round(seconds, 3),
               "rows": [{**asdict(r), "seconds": round(r.seconds, 6)} for r in rows]}
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        print("", file=out)
        for ln in table(rows, configs):
            print(ln, file=out)
        print(f"{len(rows)} runs in {seconds:.1f}s (limit {args.timeout:g}s each)", file=out)
    return EXIT_REFUTED if any(r.verdict == "refuted" for r in rows) else EXIT_OK


def _machine(info: dict[str, Any]) -> dict[str, Any]:
    """The machine, with the cvc5 version when it is installed."""
    try:
        from importlib.metadata import version

        info = {**info, "cvc5": version("cvc5")}
    except Exception:  # noqa: BLE001 - the version is informative only
        pass
    return info


def add_commands(subparsers: Any) -> None:
    """``loopmlp bench solvers``."""
    from proofs.bench import _bench_subparsers
    from proofs.cli import EXIT_CODES

    p = _bench_subparsers(subparsers).add_parser(
        "solvers", help="time monolithic z3 and cvc5 proofs (integers, bit-vectors) by width",
        description=__doc__.split("\n\n")[0] if __doc__ else None, epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gadget", default="subtract", metavar="NAME",
                   help="gadget family (default subtract; see `loopmlp bench proofs`)")
    p.add_argument("--bits", default=",".join(map(str, DEFAULT_BITS)), metavar="LIST",
                   help=f"comma-separated widths (default {','.join(map(str, DEFAULT_BITS))})")
    p.add_argument("--solvers", default=",".join(CONFIGS), metavar="LIST",
                   help=f"configurations to run (default {','.join(CONFIGS)})")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                   help=f"seconds per run (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--json", action="store_true", help="print the measurements as JSON")
    p.set_defaults(func=cmd_bench_solvers)
