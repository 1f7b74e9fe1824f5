"""Executors: where the blocks of an exhaustive check run.

Design notes: docs/design/verify.methods.executor.md.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Self

from verify.errors import LoopmlpError, ParameterError

KINDS = ("local", "processes", "dask")
UNTRIM = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
_NONE: Any = object()  # no context given to map


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _args(fn: Callable[..., Any], context: Any, item: Any) -> tuple[Any, ...]:
    """The call of one item: ``fn(item)``, or ``fn(context, item)`` when a context is given
    (decided here, in this process: the sentinel does not survive pickling)."""
    return (fn, item) if context is _NONE else (fn, context, item)


def _call(fn: Callable[..., Any], context: Any, item: Any) -> Any:
    return fn(item) if context is _NONE else fn(context, item)


class Executor:
    """Runs ``fn`` over items, results in item order (see the module docstring)."""

    kind = "local"
    remote = False  # True when work leaves this process (and must pickle)

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                    or workers < 1):
            raise ParameterError("workers", workers, "a positive integer")
        self.workers = workers if workers is not None else max(1, min(cores(), 8))

    def map(self, fn: Callable[..., Any], items: Iterable[Any],
            context: Any = _NONE) -> Generator[Any, None, None]:
        """``fn(context, item)`` for each item, in order, up to ``2 * workers`` ahead on a
        thread pool; one worker or one item runs inline."""
        items = list(items)
        if self.workers == 1 or len(items) <= 1:
            yield from (_call(fn, context, x) for x in items)
            return
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="exhaustive")
        try:
            ahead: deque[Future[Any]] = deque()
            nxt = 0
            while ahead or nxt < len(items):
                while nxt < len(items) and len(ahead) < 2 * self.workers:
                    ahead.append(pool.submit(_call, fn, context, items[nxt]))
                    nxt += 1
                yield ahead.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def describe(self) -> str:
        return f"{self.kind} ({self.workers} workers)"

    def close(self) -> None:
        """Release workers and connections (nothing for the local kind)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProcessExecutor(Executor):
    """A pool of spawned worker processes, restarted when a worker dies."""

    kind = "processes"
    remote = True

    def __init__(self, workers: int | None = None, restarts: int = 3) -> None:
        super().__init__(workers)
        self.restarts = restarts
        self._pool: Any = None

    def _fresh_pool(self) -> Any:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = ProcessPoolExecutor(self.workers,
                                         mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def map(self, fn: Callable[..., Any], items: Iterable[Any],
            context: Any = _NONE) -> Generator[Any, None, None]:
        from concurrent.futures.process import BrokenProcessPool

        items = list(items)
        pool = self._pool or self._fresh_pool()
        ahead: deque[tuple[int, Future[Any]]] = deque()
        nxt, restarts = 0, 0
        try:
            while ahead or nxt < len(items):
                try:
                    # A pool whose worker died refuses new work as well as pending results:
                    # both go to the restart below.
                    while nxt < len(items) and len(ahead) < 2 * self.workers:
                        ahead.append((nxt, pool.submit(*_args(fn, context, items[nxt]))))
                        nxt += 1
                    result = ahead[0][1].result()
                except BrokenProcessPool:
                    # A worker died: every item not yet returned goes to a fresh pool.
                    restarts += 1
                    if restarts > self.restarts:
                        raise LoopmlpError(f"processes executor: worker processes died "
                                           f"{restarts} times; giving up") from None
                    pool = self._fresh_pool()
                    pending = [i for i, _ in ahead]
                    ahead = deque()
                    for i in pending:
                        ahead.append((i, pool.submit(*_args(fn, context, items[i]))))
                    continue
                ahead.popleft()
                yield result
        finally:
            for _, f in ahead:
                f.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor(Executor):
    """Tasks on a dask.distributed cluster: at ``address``, or a local one started here."""

    kind = "dask"
    remote = True

    def __init__(self, address: str | None = None, workers: int | None = None,
                 client: Any = None) -> None:
        super().__init__(workers)
        self.address = address
        self._client = client
        self._own: list[Any] = []  # what this executor started and must close

    @property
    def client(self) -> Any:
        if self._client is None:
            distributed = _import_distributed()
            try:
                if self.address is None:
                    import dask

                    # dask sets MALLOC_TRIM_THRESHOLD_ in its workers, which makes every large
                    # numpy temporary a fresh mmap: the blocks ran 3 to 4 times slower with it.
                    with dask.config.set({UNTRIM: None}):
                        cluster = distributed.LocalCluster(n_workers=self.workers,
                                                           threads_per_worker=1,
                                                           dashboard_address=None)
                    self._own.append(cluster)
                    self._client = distributed.Client(cluster)
                else:
                    self._client = distributed.Client(self.address, timeout=10)
            except (OSError, TimeoutError, ValueError) as e:
                where = self.address or "a local cluster"
                raise LoopmlpError(f"--scheduler {where}: cannot connect ({e})") from None
            self._own.append(self._client)
        return self._client

    def _threads(self) -> int:
        try:
            return max(1, sum(self.client.nthreads().values()))
        except Exception:  # noqa: BLE001 - only a hint for how far ahead to submit
            return self.workers

    def map(self, fn: Callable[..., Any], items: Iterable[Any],
            context: Any = _NONE) -> Generator[Any, None, None]:
        items = list(items)
        client = self.client
        window = 2 * self._threads() + 2
        shared = _NONE if context is _NONE else client.scatter(context, broadcast=True,
                                                               hash=False)
        ahead: deque[Any] = deque()
        nxt = 0

        def release() -> None:
            # Best effort: a client closed meanwhile has already dropped everything.
            nonlocal shared
            try:
                if ahead:
                    client.cancel(list(ahead))
                if shared is not _NONE:
                    client.cancel([shared])
            except (RuntimeError, OSError):
                pass
            ahead.clear()
            shared = _NONE

        try:
            while ahead or nxt < len(items):
                while nxt < len(items) and len(ahead) < window:
                    ahead.append(client.submit(*_args(fn, shared, items[nxt]), pure=False))
                    nxt += 1
                result = ahead.popleft().result()
                if not ahead and nxt == len(items):
                    release()  # the last result: let go before the caller stops asking
                yield result
        finally:
            release()

    def describe(self) -> str:
        where = self.address or "local cluster"
        return f"dask ({where})"

    def close(self) -> None:
        for thing in reversed(self._own):
            thing.close()
        self._own.clear()
        self._client = None


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise LoopmlpError("--executor dask needs dask.distributed: "
                           "pip install 'loopmlp[dask]'") from None
    return distributed


def make(kind: str, scheduler: str | None = None, workers: int | None = None) -> Executor:
    """An executor of the given kind (``local``, ``processes`` or ``dask``)."""
    if kind not in KINDS:
        raise ParameterError("executor", kind, f"one of {', '.join(KINDS)}")
    if scheduler is not None and kind != "dask":
        raise ParameterError("scheduler", scheduler, "--executor dask")
    if kind == "local":
        return Executor(workers)
    if kind == "processes":
        return ProcessExecutor(workers)
    _import_distributed()  # fail now, with the extra to install, not mid-run
    return DaskExecutor(scheduler, workers)


_current: ContextVar[Executor | None] = ContextVar("loopmlp_executor", default=None)


def current() -> Executor | None:
    """The executor in force (None: the default local one)."""
    return _current.get()


@contextmanager
def using(executor: Executor | None) -> Iterator[Executor | None]:
    """Run the enclosed checks on ``executor``."""
    token = _current.set(executor)
    try:
        yield executor
    finally:
        _current.reset(token)


# --------------------------------------------------------------------------- shipping
Builder = Callable[[str], Any]
_builder: ContextVar[Builder | None] = ContextVar("loopmlp_builder", default=None)


@contextmanager
def rebuild_with(builder: Builder | None) -> Iterator[None]:
    """Let obligations that cannot be serialised travel by name, rebuilt on the worker by
    ``builder`` (a top-level function, so that it pickles by reference)."""
    token = _builder.set(builder)
    try:
        yield
    finally:
        _builder.reset(token)


@dataclass(frozen=True)
class Shipment:
    """A picklable stand-in for an obligation: its serialised form, or its name and builder.

    ``key`` identifies it in a worker's cache; ``fingerprint`` is checked after a rebuild.
    """

    key: str
    name: str
    payload: bytes | None
    builder: Builder | None
    fingerprint: tuple[Any, ...]

    def obligation(self) -> Any:
        """The obligation, deserialised or rebuilt (once per process)."""
        with _cache_lock:
            hit = _obligations.get(self.key)
        if hit is not None:
            return hit
        if self.payload is not None:
            ob = pickle.loads(self.payload)
        else:
            assert self.builder is not None
            ob = self.builder(self.name)
        if getattr(ob, "name", None) != self.name or fingerprint(ob) != self.fingerprint:
            raise LoopmlpError(f"{self.name}: the obligation rebuilt on a worker differs from "
                               "the one being checked")
        with _cache_lock:
            _obligations[self.key] = ob
            while len(_obligations) > 4:
                _obligations.pop(next(iter(_obligations)))
        return ob


_obligations: dict[str, Any] = {}
_cache_lock = threading.Lock()


def fingerprint(ob: Any) -> tuple[Any, ...]:
    """Cheap identity of an obligation: name, domain, network size."""
    net = ob.network
    return (ob.name, ob.domain.describe(), net.depth, net.nnz, tuple(ob.checked_outputs))


def ship(ob: Any, by: str = "auto") -> Shipment:
    """Package ``ob`` for a worker: by value (cloudpickle, else pickle) or by name.

    ``by`` is ``auto`` (value when it serialises, else name), ``value`` or ``name``.
    """
    fp = fingerprint(ob)
    payload = None
    why = "by value not asked for"
    if by in ("auto", "value"):
        try:
            try:
                import cloudpickle

                payload = cloudpickle.dumps(ob)
            except ImportError:
                payload = pickle.dumps(ob)
        except Exception as e:  # noqa: BLE001 - any pickling failure means: not by value
            why = f"{type(e).__name__}: {e}"
    if payload is not None:
        return Shipment("v:" + hashlib.sha256(payload).hexdigest(), ob.name, payload, None, fp)
    builder = _builder.get()
    if by == "value" or builder is None:
        raise LoopmlpError(f"{ob.name}: cannot send the obligation to workers ({why}) and no "
                           "registry entry rebuilds it; use --executor local")
    return Shipment(f"n:{ob.name}:{hash(fp)}", ob.name, None, builder, fp)
