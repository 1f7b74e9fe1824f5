"""The checking methods, one module per ``--method``, and what they share.

Every method returns a :class:`~verify.result.Result` and prints nothing; every counterexample
is replayed through the exact forward pass (:func:`~verify.methods.base.replay`) before it is
returned, and every SMT query goes through :func:`verify.methods.solvers.decide`.
"""

from .base import (
    METHODS,
    Options,
    Progress,
    replay,
    spec_bound,
    spec_value,
    width_for,
    with_tally,
)
from .casesplit import casesplit
from .exhaustive import exhaustive
from .factorised import factorised
from .registry import check
from .sampled import sampled
from .smt import bv_width, smt, smt_bv

__all__ = ["METHODS", "Options", "Progress", "bv_width", "casesplit", "check", "exhaustive",
           "factorised", "replay", "sampled", "smt", "smt_bv", "spec_bound", "spec_value",
           "width_for", "with_tally"]
