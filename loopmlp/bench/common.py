"""What the benchmarks share: the machine they ran on, and how a timed result is labelled."""

from __future__ import annotations

import os
import platform
from typing import Any

import numpy
import z3

from verify.result import Result, Verdict


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
