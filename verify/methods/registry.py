"""The methods by name (the values of ``--method``) and :func:`check`, which runs the one asked
for, or picks one for ``auto``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from verify.obligation import Obligation
from verify.result import Result, Verdict
from verify.spec_terms import SpecReadingError, reading

from .base import METHODS, Options, with_tally
from .exhaustive import exhaustive
from .factorised import factorised
from .sampled import sampled
from .smt import smt
from .solvers import recording

Method = Callable[[Obligation, Options], Result]

ENGINES: dict[str, Method] = {"exhaustive": exhaustive, "smt": smt, "sampled": sampled,
                              "factorised": factorised}
"""Each method that runs by itself; ``auto`` picks one of them and ``cvc5`` is ``smt`` with the
cvc5 solver (:data:`~verify.methods.base.METHODS` lists every name ``--method`` accepts)."""
assert set(ENGINES) | {"auto", "cvc5"} == set(METHODS)


def check(ob: Obligation, opts: Options = Options()) -> Result:
    """Check with the chosen method; ``auto`` enumerates small domains, else factorises or
    calls the solver."""
    method = opts.method
    if method == "auto":
        if ob.domain.count <= opts.exhaustive_limit:
            method = "exhaustive"
        elif ob.factorisation is not None:
            method = "factorised"
        else:
            method = "smt"
    if method == "cvc5":
        method, opts = "smt", replace(opts, method="smt", solver="cvc5")
    if method == "exhaustive" and ob.domain.count > max(opts.exhaustive_limit, 1 << 30):
        return Result(ob.name, Verdict.UNKNOWN, "exhaustive", 0, ob.domain.count, 0.0,
                      f"domain has {ob.domain.count} points, beyond the exhaustive limit")
    if method == "factorised" and ob.factorisation is None:
        return Result(ob.name, Verdict.UNKNOWN, "factorised", 0, ob.domain.count, 0.0,
                      "no factorisation declared for this obligation")
    t0 = time.perf_counter()
    try:
        # The spec is read on solver terms only with the operations that mean there what they
        # mean in Python (verify.spec_terms); any other is an UNKNOWN with the reason.
        with recording() as log, reading():
            r = ENGINES[method](ob, opts)
    except SpecReadingError as e:
        return Result(ob.name, Verdict.UNKNOWN, method, 0, ob.domain.count,
                      time.perf_counter() - t0, str(e))
    return with_tally(r, log)
