"""A model read from ONNX checked against an obligation, with verdicts about what the file computes.

Design notes: docs/design/verify.interchange.onnx_check.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from verify.errors import InternalError
from verify.exact.limits import INT64_LIMIT
from verify.obligation import Obligation
from verify.result import Counterexample, Result, Verdict
from verify.spec_terms import on_columns

from .onnx_io import Loaded, Reference, onnxruntime_available
from .onnx_semantics import Exactness

SELF_CHECK_ALL = 1 << 16
"""A PROVED over a domain of at most this many points is confirmed by onnxruntime on each."""
SELF_CHECK_SAMPLE = 4096
"""Points of the box (fixed seed) on which a PROVED over a larger domain is confirmed."""
FILE_SEARCH_ALL = 1 << 20
"""A model whose arithmetic is not shown exact is evaluated on every point of a domain of at
most this many points, else on :data:`FILE_SEARCH_SAMPLE` points of the domain."""
FILE_SEARCH_SAMPLE = 1 << 14
CANDIDATES = 32
"""Points where numpy's run of the file differs from the spec that onnxruntime is asked about."""
SEED = 20240917
_CHUNK = 1 << 14

Checker = Callable[[Obligation], Result]


@dataclass(frozen=True)
class Checked:
    """The result and how it was reached: the exactness of the file's arithmetic over the
    box, whether onnxruntime was there to confirm it, and on how many points it agreed."""

    result: Result
    exactness: Exactness
    reference: str | None
    confirmed: int


@dataclass(frozen=True)
class ReferenceCounterexample(Counterexample):
    """A counterexample whose network values are onnxruntime's outputs (which may be a
    non-integer, an infinity or NaN in a float model: those are written as text)."""

    def to_json(self) -> dict[str, Any]:
        doc = Counterexample.to_json(replace(self, network={}))
        doc["network"] = {k: _jsonable(v) for k, v in self.network.items()}
        return doc


def _jsonable(v: Any) -> Any:
    return int(v) if isinstance(v, int) else repr(v)


def _number(v: Any) -> int | float:
    """An output value of onnxruntime as a Python int when it is one, else a float."""
    f = float(v) if np.asarray(v).dtype.kind == "f" else None
    if f is None:
        return int(v)
    return int(f) if np.isfinite(f) and f == int(f) else f


def _spec_int(v: Any) -> int:
    return int(v.item() if isinstance(v, np.ndarray) else v)


def check_model(path: str, ob: Obligation, loaded: Loaded, run: Checker) -> Checked:
    """Check ``ob`` (whose network is ``loaded.network``) as a statement about the file at
    ``path``; ``run`` checks an obligation with the engines (see the module docstring)."""
    box = _box(ob)
    exactness = loaded.semantics.analyse(box)
    ref = Reference(path, path, loaded.input_name) if onnxruntime_available() else None
    version = _ort_version() if ref is not None else None
    if exactness.exact:
        r = run(ob)
        confirmed = 0
        if ref is not None:
            if r.verdict is Verdict.PROVED:
                confirmed = _confirm_proved(path, ob, ref, box)
            elif r.counterexample is not None:
                row = [int(r.counterexample.inputs[n]) for n in ob.network.inputs]
                confirmed = _confirm_rows(path, ob, ref, np.array([row], dtype=object), box,
                                          batched=False)
        details = {**r.details, "model_arithmetic": exactness.reason()}
        return Checked(replace(r, details=details), exactness, version, confirmed)

    t0 = time.perf_counter()
    found, searched, method, candidates = _search_file(ob, loaded, ref)
    if found is not None:
        return Checked(found, exactness, version, 1)
    exact_r = run(ob)
    if exact_r.counterexample is not None and ref is not None:
        point = np.array([int(exact_r.counterexample.inputs[n]) for n in ob.network.inputs])
        hit = _reference_counterexample(ob, ref, point, loaded.dtype)
        if hit is not None:
            return Checked(_refuted(ob, hit, exact_r.method, exact_r.checked, t0, loaded.dtype),
                           exactness, version, 1)
    why = [exactness.reason(),
           f"the exact-integer reading is {exact_r.verdict.name} ({exact_r.method}"
           + (f": {exact_r.reason}" if exact_r.verdict is not Verdict.PROVED else "") + ")"]
    if candidates and ref is None:
        first = [int(v) for v in candidates[0]]
        why.append(f"numpy's {loaded.dtype} run of the file differs from the spec at "
                   f"{loaded.input_name} = {first}, but onnxruntime is not installed to "
                   "confirm it")
    elif candidates:
        why.append(f"numpy's {loaded.dtype} run of the file differs from the spec at "
                   f"{len(candidates)} points where onnxruntime does not")
    else:
        why.append(f"no counterexample in the model's own arithmetic on {searched} points "
                   f"({method})")
    r = Result(ob.name, Verdict.UNKNOWN, exact_r.method, 0, ob.domain.count,
               time.perf_counter() - t0, "; ".join(why), None,
               {"model_arithmetic": exactness.reason(), "file_points_searched": searched,
                "exact_reading": exact_r.verdict.label})
    return Checked(r, exactness, version, 0)


def _ort_version() -> str:
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__} (CPUExecutionProvider)"


def _box(ob: Obligation) -> list[tuple[int, int]]:
    box = dict(zip(ob.domain.names, ob.domain.box()))
    return [box[n] for n in ob.network.inputs]


# --------------------------------------------------------------------------- self-check
def _box_sample(box: Sequence[tuple[int, int]], count: int) -> np.ndarray:
    """``count`` points of the box (fixed seed), its two corners first."""
    rng = np.random.default_rng(SEED)
    cols = []
    for lo, hi in box:
        if -INT64_LIMIT < lo and hi < INT64_LIMIT:
            col = rng.integers(lo, hi, size=count, endpoint=True).astype(object)
        else:
            col = np.array([lo + int(rng.integers(0, INT64_LIMIT)) % (hi - lo + 1)
                            for _ in range(count)], dtype=object)
        col[0], col[-1] = lo, hi
        cols.append(col)
    return np.stack(cols, axis=1) if cols else np.zeros((count, 0), dtype=object)


def _confirm_proved(path: str, ob: Obligation, ref: Reference,
                    box: Sequence[tuple[int, int]]) -> int:
    dom = ob.domain
    if dom.count <= SELF_CHECK_ALL:
        order = [dom.names.index(n) for n in ob.network.inputs]
        rows = np.concatenate(list(dom.chunks(SELF_CHECK_ALL)))[:, order]
    else:
        rows = _box_sample(box, SELF_CHECK_SAMPLE)
    return _confirm_rows(path, ob, ref, rows, box, batched=True)


def _confirm_rows(path: str, ob: Obligation, ref: Reference, rows: np.ndarray,
                  box: Sequence[tuple[int, int]], batched: bool) -> int:
    """onnxruntime and the loader's network must agree on every output at every row."""
    net = ob.network
    plan = net.plan(box)
    want = net.forward(np.asarray(rows, dtype=object if plan.arithmetic == "python"
                                  else np.int64), plan.arithmetic)
    count = len(rows)
    got = ref.run_many(rows) if batched else ref.run(rows)
    bad = _differ(got, want)
    if bad.size and batched:  # the batched copy may not be the file: ask the file itself
        got = ref.run(rows[bad])
        want, rows = want[bad], rows[bad]
        bad = _differ(got, want)
    if bad.size:
        i = int(bad[0])
        j = int(np.flatnonzero(_differ_row(got[i], want[i]))[0]) if got.shape == want.shape \
            else 0
        value = _number(got[i][j]) if got.ndim == 2 and got.shape[1] > j else list(got.shape)
        raise InternalError(
            f"{path}: onnxruntime and the loader disagree at input "
            f"{[int(v) for v in rows[i]]}: output {net.outputs.names[j]} onnxruntime="
            f"{value} loader={int(want[i][j])} ({ob.name}); this is a bug in the checker, no "
            "verdict is given")
    return count


def _differ_row(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.array([_number(g) != int(w) for g, w in zip(got, want)], dtype=bool)


def _differ(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Indices of the rows where any output differs (compared exactly)."""
    if got.shape != want.shape:
        return np.arange(len(want))
    if got.dtype.kind == "f":
        finite = np.isfinite(got) & (got == np.round(got))
        safe = np.where(finite, got, 0).astype(np.float64)
        as_int = safe.astype(object) if np.abs(safe).max(initial=0) >= 2.0 ** 62 else \
            safe.astype(np.int64)
        diff = ~finite | (as_int != np.asarray(want, dtype=as_int.dtype))
    else:
        diff = got.astype(object) != np.asarray(want, dtype=object)
    return np.flatnonzero(np.asarray(diff, dtype=bool).any(axis=1))


# --------------------------------------------------------------------------- file arithmetic
def _domain_points(ob: Obligation) -> tuple[list[np.ndarray], int, str]:
    """Chunks of domain members (rows in the domain's order) to search, their count, and
    whether that is every member or a sample."""
    dom = ob.domain
    if dom.count <= FILE_SEARCH_ALL:
        return list(dom.chunks(_CHUNK)), dom.count, "exhaustive"
    sample = _box_sample(dom.box(), FILE_SEARCH_SAMPLE)
    keep = [r for r in sample if dom.contains(dict(zip(dom.names, map(int, r))))]
    rows = np.array(keep, dtype=object) if keep else np.zeros((0, len(dom.names)), dtype=object)
    return [rows[i:i + _CHUNK] for i in range(0, len(rows), _CHUNK)], len(rows), "sampled"


def _spec_columns(ob: Obligation, rows: np.ndarray) -> dict[str, np.ndarray]:
    dom = ob.domain
    cols = {n: np.asarray(rows[:, i]).astype(np.int64) for i, n in enumerate(dom.names)}
    want = on_columns(ob.spec, cols)
    return {o: np.broadcast_to(np.asarray(want[o]), (len(rows),)) for o in ob.checked_outputs}


def _search_file(ob: Obligation, loaded: Loaded, ref: Reference | None
                 ) -> tuple[Result | None, int, str, list[np.ndarray]]:
    """Search the domain for a point where the file's arithmetic misses the spec: numpy's run
    first, then onnxruntime's where numpy finds nothing; a point counts only when onnxruntime
    (the file as it is) reproduces it."""
    t0 = time.perf_counter()
    dom = ob.domain
    order = [dom.names.index(n) for n in ob.network.inputs]
    outs = ob.network.outputs.names
    idx = [outs.index(o) for o in ob.checked_outputs]
    chunks, total, method = _domain_points(ob)
    candidates: list[np.ndarray] = []
    searched = 0
    for rows in chunks:
        if not len(rows):
            continue
        keep = np.asarray(dom.accept({n: rows[:, i] for i, n in enumerate(dom.names)}),
                          dtype=bool)
        rows = rows[np.broadcast_to(keep, (len(rows),))]
        if not len(rows):
            continue
        x = rows[:, order]
        got = loaded.semantics.run(np.asarray(x, dtype=np.int64))[:, idx]
        want = _spec_columns(ob, rows)
        wrong = _misses(got, [want[o] for o in ob.checked_outputs])
        searched += len(rows)
        for i in wrong[:CANDIDATES - len(candidates)]:
            candidates.append(x[i])
        if len(candidates) >= CANDIDATES:
            break
    if ref is None:
        return None, searched, method, candidates
    for row in candidates:
        hit = _reference_counterexample(ob, ref, row, loaded.dtype)
        if hit is not None:
            return _refuted(ob, hit, method, searched, t0, loaded.dtype), searched, method, \
                candidates
    # numpy's order of accumulation is not onnxruntime's: ask onnxruntime itself.
    budget = SELF_CHECK_ALL
    for rows in chunks:
        if budget <= 0 or not len(rows):
            break
        rows = rows[:budget]
        budget -= len(rows)
        x = rows[:, order]
        got = ref.run_many(x)[:, idx]
        wrong = _misses(got, [_spec_columns(ob, rows)[o] for o in ob.checked_outputs])
        for i in wrong[:CANDIDATES]:
            hit = _reference_counterexample(ob, ref, x[i], loaded.dtype)
            if hit is not None:
                return _refuted(ob, hit, method, searched, t0, loaded.dtype), searched, \
                    method, candidates
    return None, searched, method, candidates


def _misses(got: np.ndarray, want: Sequence[np.ndarray]) -> np.ndarray:
    """Rows where some output differs from the spec (a candidate only: confirmed exactly)."""
    bad = np.zeros(len(got), dtype=bool)
    for j, w in enumerate(want):
        g = got[:, j]
        if g.dtype.kind == "f":
            bad |= ~(g.astype(np.float64) == np.asarray(w).astype(np.float64))
        else:
            bad |= g.astype(object) != np.asarray(w).astype(object)
    return np.flatnonzero(bad)


def _reference_counterexample(ob: Obligation, ref: Reference, row: np.ndarray, dtype: str
                              ) -> ReferenceCounterexample | None:
    """The counterexample at ``row`` (network input order) as onnxruntime computes it on the
    file as it is, or None when onnxruntime meets the spec there (or the row is no member)."""
    point = {n: int(v) for n, v in zip(ob.network.inputs, row)}
    if not ob.domain.contains(point):
        return None
    y = ref.run(np.array([list(point.values())], dtype=np.int64))[0]
    want = ob.spec(point)
    outs = ob.network.outputs.names
    net: dict[str, Any] = {}
    spec: dict[str, int] = {}
    for o in ob.checked_outputs:
        got, exp = _number(y[outs.index(o)]), _spec_int(want[o])
        if got != exp:
            net[o], spec[o] = got, exp
    if not net:
        return None
    return ReferenceCounterexample(point, net, spec, ob.domain.words())


def _refuted(ob: Obligation, cex: Counterexample, method: str, checked: int, t0: float,
             dtype: str) -> Result:
    return Result(ob.name, Verdict.REFUTED, method, checked, ob.domain.count,
                  time.perf_counter() - t0,
                  f"counterexample in the model's own {dtype} arithmetic, computed by "
                  "onnxruntime on the file", cex,
                  {"arithmetic": f"{dtype}, as the model computes it (onnxruntime)"})

