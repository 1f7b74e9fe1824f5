"""The sampled method: a hypothesis search for a counterexample. It can refute; it never
proves."""

from __future__ import annotations

import time

from verify.obligation import Obligation
from verify.result import Result, Verdict

from .base import Options, confirmed, finish, replay


def sampled(ob: Obligation, opts: Options = Options()) -> Result:
    """Search for a counterexample with hypothesis. Can refute; never proves."""
    from hypothesis import HealthCheck, find, settings
    from hypothesis.errors import NoSuchExample, Unsatisfiable
    from hypothesis.reporting import with_reporter

    t0 = time.perf_counter()
    seen = 0
    found: list[dict[str, int]] = []  # failing points, the latest being the most shrunk

    class _OutOfTimeError(BaseException):
        """Not an Exception, so hypothesis stops at once instead of shrinking it as a failure."""

    def differs(point: dict[str, int]) -> bool:
        nonlocal seen
        if time.perf_counter() - t0 > opts.timeout:
            raise _OutOfTimeError
        seen += 1
        if replay(ob, point) is None:
            return False
        found.append(dict(point))
        return True

    cfg = settings(max_examples=opts.samples, database=None, deadline=None, derandomize=True,
                   suppress_health_check=list(HealthCheck))
    try:
        with with_reporter(lambda *_: None):  # hypothesis would print a seed on the timeout
            point = find(ob.domain.strategy(), differs, settings=cfg)
    except (NoSuchExample, Unsatisfiable):  # Unsatisfiable: a predicate no sample passes
        return finish(ob, Verdict.UNKNOWN, "sampled", min(seen, ob.domain.count), ob.domain.count,
                     t0, f"no counterexample in {seen} samples; sampling never proves")
    except _OutOfTimeError:
        if not found:
            return finish(ob, Verdict.UNKNOWN, "sampled", min(seen, ob.domain.count),
                         ob.domain.count, t0, f"timeout after {opts.timeout:g}s with no "
                         f"counterexample in {seen} samples; sampling never proves")
        point = found[-1]  # the timeout came while shrinking a counterexample already found
    cex = confirmed(ob, point, "sampled")
    return finish(ob, Verdict.REFUTED, "sampled", min(seen, ob.domain.count), ob.domain.count,
                 t0, "counterexample found", cex)
