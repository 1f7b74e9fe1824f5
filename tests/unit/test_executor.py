"""Executors for exhaustive blocks: local threads, worker processes, a dask cluster.

Each kind must give the same Result as the default (verdict, points checked, total, the first
counterexample in enumeration order), on the split path and the batch path, for a proved and
a refuted obligation; a worker lost mid-run must have its block re-run, never dropped.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from loopmlp.cli import main
from proofs.registry import build
from verify.errors import LoopmlpError, ParameterError
from verify.methods import Options, executor, exhaustive
from verify.obligation import Obligation
from verify.result import Result, Verdict

CHUNK = 4096  # small blocks, so that even small obligations span many of them


def square(x: int) -> int:
    return x * x


def die_once(marker: str, x: int) -> int:
    """``x * x``, but the process running it exits the first time it sees ``x == 5``."""
    if x == 5 and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)
    return x * x


def same(a: Result, b: Result) -> None:
    assert (a.obligation, a.verdict, a.method, a.checked, a.total) == \
        (b.obligation, b.verdict, b.method, b.checked, b.total)
    assert a.counterexample == b.counterexample
    assert a.details.get("arithmetic") == b.details.get("arithmetic")


def check_on(ex: executor.Executor | None, ob: Obligation) -> Result:
    with executor.using(ex), executor.rebuild_with(build):
        return exhaustive(ob, Options("exhaustive", chunk=CHUNK))


@pytest.fixture(scope="module")
def processes() -> Iterator[executor.ProcessExecutor]:
    with executor.ProcessExecutor(2) as ex:
        yield ex


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    import dask

    with dask.config.set({executor.UNTRIM: None}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def dask_ex(dask_cluster: Any) -> Iterator[executor.DaskExecutor]:
    with executor.DaskExecutor(dask_cluster.scheduler_address) as ex:
        yield ex


def obligations(corrupt: Callable[..., Obligation],
                corrupt_b: Callable[..., Obligation]) -> list[Obligation]:
    sub8 = build("gadget/subtract[bits=8]")  # split path: 65536 points, 16 blocks
    adder = build("kernel/ripple-adder[bits=4]")  # batch path
    # The bias corruption first shows at point 16385, in the fifth block.
    return [sub8, corrupt_b(sub8, 0, 40, -1), adder, corrupt(adder, 0, 0, 1)]


# --------------------------------------------------------------------------- map


def test_map_keeps_order_on_every_kind(processes: executor.ProcessExecutor,
                                       dask_ex: executor.DaskExecutor) -> None:
    for ex in (executor.Executor(1), executor.Executor(3), processes, dask_ex):
        assert list(ex.map(square, range(23))) == [x * x for x in range(23)], ex.kind
    assert list(executor.Executor(2).map(lambda c, x: c + x, [1, 2], 10)) == [11, 12]


def test_local_stops_early_and_cancels_the_rest() -> None:
    started: list[int] = []

    def work(x: int) -> int:
        started.append(x)
        return x

    gen = executor.Executor(2).map(work, range(1000))
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()
    assert len(started) <= 3 + 2 * 2 + 1  # at most the look-ahead window ran


def test_make_and_bad_options() -> None:
    assert executor.make("local").kind == "local" and not executor.make("local").remote
    assert executor.make("processes", workers=2).remote
    with pytest.raises(ParameterError, match="executor="):
        executor.make("threads")
    with pytest.raises(ParameterError, match="need --executor dask"):
        executor.make("processes", scheduler="tcp://x:1")
    with pytest.raises(ParameterError, match="workers=0"):
        executor.Executor(0)


def test_processes_rerun_the_item_of_a_dead_worker(tmp_path: Path,
                                                   processes: executor.ProcessExecutor) -> None:
    marker = tmp_path / "died"
    got = list(processes.map(die_once, range(12), str(marker)))
    assert marker.exists()  # the worker did die
    assert got == [x * x for x in range(12)]  # and nothing was lost


# --------------------------------------------------------------------------- exhaustive


def test_same_result_on_every_kind(processes: executor.ProcessExecutor,
                                   dask_ex: executor.DaskExecutor,
                                   corrupt: Callable[..., Obligation],
                                   corrupt_b: Callable[..., Obligation]) -> None:
    obs = obligations(corrupt, corrupt_b)
    for ob in obs:
        want = check_on(None, ob)
        for ex in (executor.Executor(2), processes, dask_ex):
            got = check_on(ex, ob)
            same(got, want)
            assert ("executor" in got.details) == ex.remote
    verdicts = [check_on(None, ob) for ob in obs]
    assert [r.verdict for r in verdicts] == [Verdict.PROVED, Verdict.REFUTED, Verdict.PROVED,
                                             Verdict.REFUTED]
    assert verdicts[1].checked == 16385  # found in a later block, and it is the first one


def test_by_name_rebuilds_on_the_worker(processes: executor.ProcessExecutor) -> None:
    ob = build("gadget/subtract[bits=8]")
    with executor.rebuild_with(build):
        shipment = executor.ship(ob, by="name")
    assert shipment.payload is None and shipment.name == ob.name
    assert shipment.obligation().name == ob.name
    renamed = Obligation("not/registered", ob.network, ob.domain, ob.spec)
    with pytest.raises(LoopmlpError, match="no obligation named"):
        executor.Shipment("n:x", renamed.name, None, build, executor.fingerprint(renamed)) \
            .obligation()
    with pytest.raises(LoopmlpError, match="cannot send"):
        executor.ship(renamed, by="name")  # no builder in force


def _killer(base: Obligation, counter: str, marker: str, parent: int) -> Obligation:
    """``base`` whose spec, on a worker, exits its process the fifth time it checks a block
    (once: a marker file remembers), and counts every block it checks in ``counter``."""
    base_spec = base.spec

    def spec(cols: Any) -> Any:
        import os

        import numpy

        if os.getpid() != parent and isinstance(next(iter(cols.values())), numpy.ndarray):
            with open(counter, "a") as f:
                f.write(".")
            if os.path.getsize(counter) >= 5:
                try:  # exclusive creation: exactly one worker dies, once
                    os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    pass
                else:
                    os._exit(1)
        return base_spec(cols)

    return Obligation(base.name, base.network, base.domain, spec, base.bounds, base.outputs)


@pytest.mark.parametrize("kind", [pytest.param("processes", marks=pytest.mark.slow), "dask"])
def test_lost_worker_block_is_rerun(kind: str, tmp_path: Path, dask_cluster: Any) -> None:
    base = build("gadget/subtract[bits=8]")
    counter, marker = tmp_path / "count", tmp_path / "died"
    ob = _killer(base, str(counter), str(marker), os.getpid())
    want = check_on(None, base)
    ex: executor.Executor = (executor.ProcessExecutor(2) if kind == "processes"
                             else executor.DaskExecutor(dask_cluster.scheduler_address))
    with ex:
        got = check_on(ex, ob)
    assert marker.exists()  # a worker died mid-run
    blocks = -(-base.domain.count // CHUNK)
    assert counter.stat().st_size >= blocks + 1  # the lost block ran again
    same(got, want)
    assert got.verdict is Verdict.PROVED and got.checked == got.total == 65536


# --------------------------------------------------------------------------- cli


def test_prove_cli_executor_flags(kernel_registry: None, dask_cluster: Any) -> None:
    out, err = StringIO(), StringIO()
    code = main(["prove", "--only", "kernel/ripple-adder[[]bits=4[]]", "--executor", "dask",
                 "--scheduler", dask_cluster.scheduler_address, "--json", "-"], out, err)
    assert code == 0 and "1 proved" in err.getvalue()
    doc = json.loads(out.getvalue())
    assert (doc["results"][0]["checked"], doc["results"][0]["total"]) == (256, 256)
    assert doc["results"][0]["details"]["executor"].startswith("dask (tcp://")
    out, err = StringIO(), StringIO()
    code = main(["prove", "--scheduler", "tcp://127.0.0.1:1"], out, err)
    assert code == 2 and err.getvalue().count("\n") == 1 and "--executor dask" in err.getvalue()


def test_dask_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_distributed(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    out, err = StringIO(), StringIO()
    code = main(["prove", "--executor", "dask"], out, err)
    assert code == 2 and "pip install 'loopmlp[dask]'" in err.getvalue()
    assert err.getvalue().count("\n") == 1


def test_default_is_local_and_needs_nothing() -> None:
    assert executor.current() is None
    ob = build("gadget/subtract[bits=6]")
    r = exhaustive(ob, Options("exhaustive"))
    assert r.verdict is Verdict.PROVED and "executor" not in r.details


def test_prove_distributes_whole_obligations(kernel_registry: None, dask_cluster: Any) -> None:
    def lines(*extra: str) -> list[str]:
        out, err = StringIO(), StringIO()
        code = main(["prove", "--only", "kernel/*", *extra], out, err)
        assert (code, err.getvalue()) == (0, "")
        return [re.sub(r" [0-9.]+s$", "", x) for x in out.getvalue().splitlines()[:-1]]

    want = lines()
    assert len(want) == 6
    assert lines("--executor", "dask", "--scheduler", dask_cluster.scheduler_address,
                 "--distribute", "obligations") == want


def test_a_workers_counterexample_is_replayed_here() -> None:
    from proofs.registry import replayed_here
    from verify.errors import InternalError
    from verify.result import Counterexample

    ob = build("kernel/full-adder")
    point = {n: 0 for n in ob.network.inputs}
    bogus = Result(ob.name, Verdict.REFUTED, "exhaustive", 1, 8, 0.0, "counterexample found",
                   Counterexample(point, {}, {}))
    with pytest.raises(InternalError, match="does not replay here"):
        replayed_here(bogus)
    out, err = StringIO(), StringIO()
    assert main(["prove", "--distribute", "obligations"], out, err) == 2
    assert "needs --executor processes or dask" in err.getvalue()


def test_processes_recover_a_pool_broken_before_the_map(tmp_path: Path) -> None:
    # A worker that died between two maps leaves a pool that refuses new work at submit
    # time (not only at result time): the next map must restart it, not fail.
    with executor.ProcessExecutor(1) as ex:
        marker = tmp_path / "died"
        assert list(ex.map(die_once, [1], str(marker))) == [1]  # the pool is up
        ex._pool.submit(os._exit, 1)
        deadline = time.monotonic() + 30
        while not ex._pool._broken and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ex._pool._broken  # the pool is broken before the map starts
        assert list(ex.map(die_once, range(6), str(marker))) == [x * x for x in range(6)]
