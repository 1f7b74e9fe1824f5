"""Results reused within one run: an obligation checked once is not checked again, keyed on its
exact content (the network's weights, the domain, the outputs, the spec's code with every value
it reads, and the name), never on its name alone."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace

import numpy as np

from verify.obligation import Obligation
from verify.result import Result, Verdict

from .base import Options
from .registry import check

# Each result with the objects its key names by identity (kept alive: no other object can take
# their addresses while the store holds the key).
_STORE: ContextVar[dict[str, tuple[Result, list[object]]] | None] = ContextVar(
    "loopmlp_reused_results", default=None)


@contextmanager
def reuse() -> Iterator[None]:
    """Within the block, :func:`checked` keeps every proved or refuted result and answers a
    second check of the same content from it (``prove`` runs its whole loop in one block)."""
    token = _STORE.set({})
    try:
        yield
    finally:
        _STORE.reset(token)


def network_digest(ob: Obligation) -> str:
    """SHA-256 of the network's exact content: per layer its coordinates, every nonzero weight
    with its position, every bias, and whether it has a ReLU."""
    h = hashlib.sha256()
    h.update(repr(tuple(ob.network.inputs.names)).encode())
    for layer in ob.network.layers:
        h.update(repr((tuple(layer.outputs.names), layer.rows, layer.cols, layer.vals,
                       layer.bias, layer.relu)).encode())
    return h.hexdigest()


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


class _Reader:
    """Texts of values' contents that two values share only when they compute alike: a
    function by its code (bytecode, constants, the names it reads, nested code) and the values
    it closes over, defaults to and reads as globals; containers, partials, bound methods and
    dataclasses and objects with attributes by their parts; arrays by their bytes. Anything
    else whose ``repr`` shows only an address is named by its identity, and kept in
    :attr:`pinned` (whoever keeps the key keeps those objects alive). Each value is read once
    per key."""

    def __init__(self) -> None:
        self.done: dict[int, str] = {}
        self.path: set[int] = set()
        self.alive: list[object] = []  # the ids in ``done`` stay those of these objects
        self.pinned: list[object] = []

    def read(self, obj: object) -> str:
        if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
            return repr(obj)
        key = id(obj)
        if key in self.done:
            return self.done[key]
        if key in self.path:
            return "<cycle>"
        self.path.add(key)
        try:
            text = self._read(obj)
        finally:
            self.path.discard(key)
        self.done[key] = text
        self.alive.append(obj)
        return text

    def _read(self, obj: object) -> str:
        if isinstance(obj, (list, tuple, set, frozenset)):
            parts = [self.read(x) for x in obj]
            if isinstance(obj, (set, frozenset)):
                parts.sort()
            return f"{type(obj).__name__}({', '.join(parts)})"
        if isinstance(obj, dict):
            items = sorted(f"{self.read(k)}: {self.read(v)}" for k, v in obj.items())
            return f"dict({', '.join(items)})"
        if isinstance(obj, np.ndarray):
            data = repr(obj.tolist()) if obj.dtype == object else obj.tobytes().hex()
            return f"ndarray({obj.dtype}, {obj.shape}, {hashlib.sha256(data.encode()).hexdigest()})"
        if isinstance(obj, np.generic):
            return f"{type(obj).__name__}({obj!r})"
        if isinstance(obj, types.ModuleType):
            return f"module {obj.__name__}"
        if isinstance(obj, type):
            return f"type {obj.__module__}.{obj.__qualname__}"
        if isinstance(obj, types.CodeType):
            return self._code(obj)
        if isinstance(obj, types.FunctionType):
            return self._function(obj)
        if isinstance(obj, types.MethodType):
            return f"method({self.read(obj.__func__)}, {self.read(obj.__self__)})"
        if isinstance(obj, functools.partial):
            return (f"partial({self.read(obj.func)}, {self.read(obj.args)}, "
                    f"{self.read(obj.keywords)})")
        if isinstance(obj, types.BuiltinFunctionType):
            return f"builtin {getattr(obj, '__module__', '')}.{obj.__qualname__}"
        if dataclasses.is_dataclass(obj):
            fields = [f"{f.name}={self.read(getattr(obj, f.name))}"
                      for f in dataclasses.fields(obj) if hasattr(obj, f.name)]
            return f"{type(obj).__module__}.{type(obj).__qualname__}({', '.join(fields)})"
        kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
        try:
            text = repr(obj)
        except Exception:  # noqa: BLE001 - a repr that fails says nothing: named by identity
            text = " at 0x0"
        if not _ADDRESS.search(text):
            return f"{kind}:{text}"
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict):  # a plain object (a callable spec): its type and attributes
            return f"{kind}({self.read(attrs)})"
        self.pinned.append(obj)
        return f"{kind}@{id(obj)}"

    def _code(self, code: types.CodeType) -> str:
        consts = [self._code(c) if isinstance(c, types.CodeType) else repr(c)
                  for c in code.co_consts]
        return f"code({code.co_code.hex()}, {consts}, {code.co_names})"

    def _function(self, fn: types.FunctionType) -> str:
        """A function's code, the values in its cells, its defaults, and the globals its code
        (or code nested in it) names, with the attributes of a module it names."""
        cells = []
        for cell in fn.__closure__ or ():
            try:
                cells.append(self.read(cell.cell_contents))
            except ValueError:  # an empty cell
                cells.append("<empty>")
        names: set[str] = set()
        stack = [fn.__code__]
        while stack:
            code = stack.pop()
            names.update(code.co_names)
            stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
        reads = [f"{n}={self.read(fn.__globals__[n])}" for n in sorted(names)
                 if n in fn.__globals__]
        # ``module.name``: the module is named, and the attributes the code reads of it read.
        for m in sorted(names):
            module = fn.__globals__.get(m)
            if isinstance(module, types.ModuleType):
                attrs = vars(module)  # not getattr: no module-level __getattr__ runs
                reads += [f"{m}.{n}={self.read(attrs[n])}" for n in sorted(names)
                          if n != m and n in attrs]
        return (f"function {fn.__module__}.{fn.__qualname__}({self._code(fn.__code__)}, "
                f"cells={cells}, defaults={self.read(fn.__defaults__)}, "
                f"kwdefaults={self.read(fn.__kwdefaults__)}, globals={reads})")


def spec_parts(spec: object) -> tuple[str, ...]:
    """The spec's identity: its code (with the names it reads) and every value it closes over,
    defaults to or reads as a global, followed into the functions it calls (two closures of one
    function over different values differ, and so do two lambdas calling different functions)."""
    return (_Reader().read(spec),)


def content_key(ob: Obligation, opts: Options) -> str:
    """What makes two checks the same: the name, the network's content, the domain, the
    checked outputs, the spec (:func:`spec_parts`), and the method and solvers asked."""
    return _key(ob, opts)[0]


def _key(ob: Obligation, opts: Options) -> tuple[str, list[object]]:
    """The key, and the objects it names by identity."""
    reader = _Reader()
    h = hashlib.sha256()
    for part in (ob.name, network_digest(ob), reader.read(ob.domain), repr(ob.checked_outputs),
                 reader.read(ob.spec), opts.method, repr(opts.solvers)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest(), reader.pinned


def checked(ob: Obligation, opts: Options,
            run: Callable[[Obligation, Options], Result] = check) -> Result:
    """``run(ob, opts)``, or inside :func:`reuse` the result of an earlier check of the same
    content (``details["reused"]`` is then True). Only proved and refuted results are kept: an
    unknown one may be a timeout, and is checked again."""
    store = _STORE.get()
    if store is None:
        return run(ob, opts)
    key, pinned = _key(ob, opts)
    hit = store.get(key)
    if hit is not None:
        return replace(hit[0], seconds=0.0, details={**hit[0].details, "reused": True})
    r = run(ob, opts)
    if r.verdict in (Verdict.PROVED, Verdict.REFUTED):
        store[key] = (r, pinned)
    return r
