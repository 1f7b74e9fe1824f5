"""What the benchmarks share: the machine they ran on, how a timed result is labelled, and the
monolithic SMT configurations (one solver, one theory) a gadget can be proved with."""

from __future__ import annotations

import os
import platform
from typing import Any

import numpy
import z3

from verify.methods import Options, smt, smt_bv
from verify.methods.solvers import MissingExtraError, require_extras
from verify.obligation import Obligation
from verify.result import Result, Verdict

CONFIGS: dict[str, tuple[str, str]] = {  # name: (engine, solver)
    "z3-int": ("smt", "z3"),
    "cvc5-int": ("smt", "cvc5"),
    "z3-bv": ("smt_bv", "z3"),
    "cvc5-bv": ("smt_bv", "cvc5"),
    "bitwuzla-bv": ("smt_bv", "bitwuzla"),  # bitwuzla has no integer theory
}


def measure(ob: Obligation, config: str, timeout: float) -> Result:
    """Decide ``ob`` monolithically with one configuration of :data:`CONFIGS`."""
    engine, solver = CONFIGS[config]
    run = smt if engine == "smt" else smt_bv
    return run(ob, Options("smt", timeout=timeout, solver=solver))


def installed(configs: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, str]]:
    """The configurations whose solver is installed, and for each other one the extra it
    needs."""
    run: list[str] = []
    missing: dict[str, str] = {}
    for c in configs:
        try:
            require_extras((CONFIGS[c][1],))
            run.append(c)
        except MissingExtraError as e:
            missing[c] = str(e).split(";")[0]
    return tuple(run), missing


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": numpy.__version__, "z3": z3.get_version_string(),
            "system": platform.system(), "load_average": load}


def verdict_label(r: Result) -> str:
    """The verdict as a table shows it: ``timeout`` for an unknown result the solver's time
    limit ended, else the verdict's label."""
    if r.verdict is Verdict.UNKNOWN and "timeout" in r.reason:
        return "timeout"
    return r.verdict.label
