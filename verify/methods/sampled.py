"""The sampled method: a hypothesis search for a counterexample. It can refute; it never
proves, and it writes nothing to disk."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from verify.obligation import Obligation
from verify.result import Result, Verdict

from .base import Options, confirmed, finish, replay


@contextmanager
def _scratch_storage() -> Iterator[None]:
    """Hypothesis's storage (a cache of constants it reads from local source files) in a
    temporary directory for the search, so nothing is left in the working directory; the
    previous home directory is restored afterwards."""
    from hypothesis import configuration

    before = configuration.storage_directory(intent_to_write=False).home_directory
    with tempfile.TemporaryDirectory(prefix="loopmlp-hypothesis-") as tmp:
        configuration.set_hypothesis_home_dir(tmp)
        try:
            yield
        finally:
            configuration.set_hypothesis_home_dir(before)


def sampled(ob: Obligation, opts: Options = Options()) -> Result:
    """Search for a counterexample with hypothesis. Can refute; never proves.

    ``checked`` counts distinct inputs; when they are the whole domain the reason says so and
    names the method that proves it (exhaustive). No example database, no files written."""
    from hypothesis import HealthCheck, find, settings
    from hypothesis.errors import NoSuchExample, Unsatisfiable
    from hypothesis.reporting import with_reporter

    t0 = time.perf_counter()
    seen = 0
    distinct: set[tuple[int, ...]] = set()  # kept while the domain is small enough to fill
    fill = ob.domain.count <= opts.samples
    found: list[dict[str, int]] = []  # failing points, the latest being the most shrunk

    class _OutOfTimeError(BaseException):
        """Not an Exception, so hypothesis stops at once instead of shrinking it as a failure."""

    def differs(point: dict[str, int]) -> bool:
        nonlocal seen
        if time.perf_counter() - t0 > opts.timeout:
            raise _OutOfTimeError
        seen += 1
        wrong = replay(ob, point)  # checks the point lies in the domain, every coordinate given
        if fill:
            distinct.add(tuple(int(point[n]) for n in ob.network.inputs))
        if wrong is None:
            return False
        found.append(dict(point))
        return True

    def covered() -> int:
        """Distinct inputs tried (the samples, at most the domain, when it is too large to
        fill)."""
        return len(distinct) if fill else min(seen, ob.domain.count)

    cfg = settings(max_examples=opts.samples, database=None, deadline=None, derandomize=True,
                   suppress_health_check=list(HealthCheck))
    try:
        with _scratch_storage(), with_reporter(lambda *_: None):  # no seed printed on timeout
            point = find(ob.domain.strategy(), differs, settings=cfg)
    except (NoSuchExample, Unsatisfiable):  # Unsatisfiable: a predicate no sample passes
        return finish(ob, Verdict.UNKNOWN, "sampled", covered(), ob.domain.count, t0,
                      _no_counterexample(ob, covered(), seen))
    except _OutOfTimeError:
        if not found:
            return finish(ob, Verdict.UNKNOWN, "sampled", covered(), ob.domain.count, t0,
                          f"timeout after {opts.timeout:g}s: "
                          + _no_counterexample(ob, covered(), seen))
        point = found[-1]  # the timeout came while shrinking a counterexample already found
    cex = confirmed(ob, point, "sampled")
    return finish(ob, Verdict.REFUTED, "sampled", covered(), ob.domain.count, t0,
                  "counterexample found", cex)


def _no_counterexample(ob: Obligation, covered: int, seen: int) -> str:
    """Why a search that found nothing is unknown, in words that fit what it covered."""
    if covered >= ob.domain.count:
        return (f"every one of the {ob.domain.count} inputs sampled, no counterexample; "
                "sampling never proves: --method exhaustive proves it")
    return f"no counterexample in {seen} samples; sampling never proves"
