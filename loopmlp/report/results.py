"""The results document of ``prove --json`` (also ``results.json`` of a report): written, and
read back with every value checked."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
from collections.abc import Sequence
from typing import IO, Any

from loopmlp.cli.common import version
from verify.errors import InputError
from verify.files import read_text, write_file
from verify.layout import bit_names
from verify.result import Counterexample, Result, Verdict, count_from_json, summary

from .model import MODEL_NAME, MODEL_PATH

JSON_MARKER = b'"tool": "loopmlp"'
"""What every results document written by ``prove --json`` starts with (its first key)."""
VERDICT_LABELS = tuple(v.label for v in Verdict)


def results_json(results: Sequence[Result], seconds: float) -> dict[str, Any]:
    """The ``prove --json`` document."""
    return {
        "tool": "loopmlp",
        "version": version(),
        "seconds": round(seconds, 3),
        "results": [r.to_json() for r in results],
        "summary": summary(results),
    }


def results_text(results: Sequence[Result], seconds: float) -> str:
    """:func:`results_json` as the text written to a file."""
    return json.dumps(results_json(results, seconds), indent=2) + "\n"


def write_document(path: str, text: str, out: IO[str]) -> None:
    """Write a document to ``path``, whole or not at all, or to ``out`` when ``path`` is
    ``-``."""
    if path == "-":
        out.write(text)
    else:
        write_file(path, text)


def matches(name: str, patterns: Sequence[str] | None) -> bool:
    """The ``--only`` test of :func:`proofs.registry.select`, for results read from a file."""
    return not patterns or any(name == p or fnmatch.fnmatchcase(name, p) for p in patterns)


def load_results(path: str) -> tuple[list[Result], float, str]:
    """Read a ``prove --json`` document: (results, total seconds, version that wrote it).

    Anything malformed raises :class:`~verify.errors.InputError` naming the file, on one line:
    a file that cannot be read or is larger than :data:`MAX_RESULTS_BYTES`, text that is not
    UTF-8 or not JSON (``NaN`` and ``Infinity`` included), nesting deeper than Python can
    parse, and any value of the wrong type or range.
    """
    path, text = read_text(path, MAX_RESULTS_BYTES)
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise InputError(path, e.lineno, f"not valid JSON: {e.msg} (column {e.colno})") from None
    except _SchemaError as e:
        raise InputError(path, None, f"not valid JSON: {e}") from None
    except ValueError as e:  # an integer literal longer than Python converts (4300 digits)
        raise InputError(path, None, f"not valid JSON: {e}") from None
    except RecursionError:
        raise InputError(path, None, "not a `loopmlp prove --json` document: nested too "
                         "deeply") from None
    try:
        return _parse_doc(doc)
    except _SchemaError as e:
        raise InputError(path, None, f"not a `loopmlp prove --json` document: {e}") from None


MAX_RESULTS_BYTES = 1 << 28
"""Largest results file :func:`load_results` reads (256 MiB), so a device cannot hang it."""


class _SchemaError(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise _SchemaError(f"{name} is not a number")


def _seconds(v: int | float, where: str) -> float:
    """A duration: finite and non-negative (a huge integer does not convert to a float)."""
    try:
        x = float(v)
    except OverflowError:
        x = float("inf")
    if not 0 <= x < float("inf"):
        raise _SchemaError(f"{where}: {v!r:.60} is not a non-negative number of seconds")
    return x


def _get(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict):
        raise _SchemaError(f"{where or 'top level'}: expected an object")
    if key not in obj:
        raise _SchemaError(f"{where + '.' if where else ''}{key}: missing")
    v = obj[key]
    ok = isinstance(v, kind) and not (isinstance(v, bool) and bool not in _kinds(kind))
    if not ok:
        raise _SchemaError(f"{where + '.' if where else ''}{key}: unexpected value {v!r:.60}")
    return v


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _int_map(obj: Any, where: str) -> dict[str, int]:
    if not isinstance(obj, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in obj.values()):
        raise _SchemaError(f"{where}: expected an object of integers")
    return {str(k): int(v) for k, v in obj.items()}


def _parse_doc(doc: Any) -> tuple[list[Result], float, str]:
    if _get(doc, "tool", str, "") != "loopmlp":
        raise _SchemaError(f"tool: {doc['tool']!r:.60} is not 'loopmlp'")
    version = _get(doc, "version", str, "")
    seconds = _seconds(_get(doc, "seconds", (int, float), ""), "seconds")
    raw = _get(doc, "results", list, "")
    results = _with_model_path(doc, [_parse_result(r, f"results[{i}]")
                                     for i, r in enumerate(raw)])
    if "summary" in doc and doc["summary"] != summary(results):
        raise _SchemaError(f"summary {doc['summary']!r:.80} does not match the results "
                           f"{summary(results)}")
    return results, seconds, version


def _with_model_path(doc: dict[str, Any], results: list[Result]) -> list[Result]:
    """Results of ``loopmlp check --json`` (named ``MODEL:gadget/...``) with the model's path
    from the document's ``model.path`` kept in their details, so the command that replays a
    counterexample can name the file (a report rewrites results.json without ``model``)."""
    model = doc.get("model")
    path = model.get("path") if isinstance(model, dict) else None
    if not isinstance(path, str) or not path or len(path) > 4096:
        return results
    out = []
    for r in results:
        m = MODEL_NAME.match(r.obligation)
        if m and m["model"] == os.path.basename(path) and MODEL_PATH not in r.details:
            r = dataclasses.replace(r, details={**r.details, MODEL_PATH: path})
        out.append(r)
    return out


def _parse_result(r: Any, where: str) -> Result:
    verdict = _get(r, "verdict", str, where)
    if verdict not in VERDICT_LABELS:
        raise _SchemaError(f"{where}.verdict: {verdict!r:.60} is not one of "
                           f"{', '.join(VERDICT_LABELS)}")
    cex_doc = r.get("counterexample")
    cex = None if cex_doc is None else _parse_cex(cex_doc, f"{where}.counterexample")
    details = r.get("details", {})
    if not isinstance(details, dict):
        raise _SchemaError(f"{where}.details: expected an object")
    seconds = _seconds(_get(r, "seconds", (int, float), where), f"{where}.seconds")
    raw = _get(r, "checked", (int, str), where), _get(r, "total", (int, str), where)
    if any(isinstance(v, int) and v < 0 for v in raw):
        raise _SchemaError(f"{where}: checked={raw[0]!r:.60} and total={raw[1]!r:.60} must "
                           "not be negative")
    checked, total = _count(r, "checked", where), _count(r, "total", where)
    return Result(
        _get(r, "obligation", str, where), Verdict[verdict.upper()], _get(r, "method", str, where),
        checked, total, seconds, _get(r, "reason", str, where), cex, details)


def _count(r: Any, key: str, where: str) -> int:
    """``checked`` or ``total``: an integer (every version), or the exact string that newer
    versions write for counts beyond 2^53 (:func:`verify.result.count_json`)."""
    try:
        return count_from_json(_get(r, key, (int, str), where))
    except ValueError as e:
        raise _SchemaError(f"{where}.{key}: {e}") from None


def _parse_cex(c: Any, where: str) -> Counterexample:
    coords = _int_map(_get(c, "coordinates", dict, where), f"{where}.coordinates")
    shown = _int_map(_get(c, "inputs", dict, where), f"{where}.inputs")
    network = _int_map(_get(c, "network", dict, where), f"{where}.network")
    spec = _int_map(_get(c, "spec", dict, where), f"{where}.spec")
    if network.keys() != spec.keys():
        raise _SchemaError(f"{where}: network and spec name different outputs")
    # A word shown in ``inputs`` but not a coordinate groups the bits WORD.bit[i] (LSB first).
    words: dict[str, tuple[str, ...]] = {}
    for w in shown:
        if w in coords:
            continue
        n = sum(1 for k in coords if k.startswith(f"{w}.bit["))
        bits = tuple(bit_names(w, n))
        if n == 0 or not all(b in coords for b in bits):
            raise _SchemaError(f"{where}.inputs: {w!r:.60} is neither a coordinate nor a word of "
                               "the coordinates")
        words[w] = bits
    return Counterexample(coords, network, spec, words)
