"""Looped-Transformer weights in the ``.npz`` form of Giannou et al.'s layer objects.

A file holds, for each layer ``i`` in execution order (``L0``, ``L1``, ...):
``L{i}.Q``, ``L{i}.K``, ``L{i}.V`` for a one-head layer, or ``L{i}.Q1``, ``L{i}.K1``,
``L{i}.V1``, ``L{i}.Q2``, ``L{i}.K2``, ``L{i}.V2`` for two heads; ``L{i}.W1``, ``L{i}.b1``,
``L{i}.W2``, ``L{i}.b2`` with the shapes their layer object holds (Q, K: logn x d; V: d x d;
W1: width x d; b1: width x n; W2: d x width; b2: d x n); the scalars ``lam``, ``s``, ``m``,
``n``, ``logn``, ``N``; and optionally ``X0`` (d x n, the initial state). ``d`` follows from
``logn`` and ``N`` (:class:`~.layout.Layout`).

:func:`load` checks everything before it allocates: the scalars, then every array's shape and
type from its header, then the total size against a budget; only then are the arrays read
(``allow_pickle=False``) and checked to be finite. Every refusal is an
:class:`~verify.errors.InputError` naming the file and the array.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from dataclasses import dataclass

import numpy as np

from constructions.machine.limits import memory_budget
from verify.errors import InputError, LoopmlpError
from verify.files import read_bytes, write_file

from .layout import Layout
from .network import Head, Layer, LoopedTransformer

SCALARS = ("lam", "s", "m", "n", "logn", "N")
MAX_LAYERS = 1024
MAX_FILE_BYTES = 1 << 31
"""Largest ``.npz`` read (2 GiB)."""
_KEY = re.compile(r"L(\d{1,4})\.(Q|K|V|Q1|K1|V1|Q2|K2|V2|W1|b1|W2|b2)")


@dataclass(frozen=True)
class SavedNetwork:
    """A network read from (or to be written to) an ``.npz``: its layers, layout and X0."""

    net: LoopedTransformer
    layout: Layout
    X0: np.ndarray | None = None


def _header(name: str, z: zipfile.ZipFile, member: str) -> tuple[tuple[int, ...], np.dtype]:
    try:
        with z.open(member) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"format version {version}")
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise InputError(name, None, f"{member}: not a numpy array ({e})") from None
    return tuple(int(x) for x in shape), np.dtype(dtype)


def _int_scalar(name: str, key: str, value: np.ndarray) -> int:
    if value.shape not in ((), (1,)) or value.dtype.kind not in "iuf":
        raise InputError(name, None, f"{key}: need an integer scalar, got shape "
                         f"{value.shape} dtype {value.dtype}")
    x = value.reshape(()).item()
    if isinstance(x, float) and (not np.isfinite(x) or x != int(x)):
        raise InputError(name, None, f"{key}={x!r}: need an integer")
    return int(x)


def load(path: str | os.PathLike[str]) -> SavedNetwork:
    """Read and check a saved network (format in the module docstring)."""
    name, raw = read_bytes(path, MAX_FILE_BYTES)
    try:
        z = zipfile.ZipFile(io.BytesIO(raw))
        members = {m[:-4]: m for m in z.namelist() if m.endswith(".npy")}
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise InputError(name, None, f"not an .npz archive ({e})") from None
    headers = {key: _header(name, z, m) for key, m in members.items()}

    def small(key: str) -> np.ndarray:
        if key not in members:
            raise InputError(name, None, f"missing scalar {key!r}")
        shape, dtype = headers[key]
        if int(np.prod(shape)) > 1:
            raise InputError(name, None, f"{key}: need a scalar, got shape {shape}")
        return _read(name, z, members[key], key)

    lam_a = small("lam")
    if lam_a.dtype.kind not in "iuf":
        raise InputError(name, None, f"lam: need a number, got dtype {lam_a.dtype}")
    lam = float(lam_a.reshape(()).item())
    if not np.isfinite(lam) or lam <= 0:
        raise InputError(name, None, f"lam={lam!r}: need a positive finite number")
    s, m, n, logn, N = (_int_scalar(name, k, small(k)) for k in SCALARS[1:])
    try:
        lay = Layout(s, m, n - s - m, N, logn)
    except LoopmlpError as e:
        raise InputError(name, None, f"layout s={s}, m={m}, n={n}, logn={logn}, N={N}: {e}"
                         ) from None
    d = lay.d

    layers: dict[int, dict[str, str]] = {}
    for key in members:
        mt = _KEY.fullmatch(key)
        if mt is None:
            if key not in SCALARS and key != "X0":
                raise InputError(name, None, f"unexpected array {key!r} (need L<i>.<Q|K|V|Q1|"
                                 "...|W1|b1|W2|b2>, the scalars or X0)")
            continue
        i = int(mt[1])
        if i >= MAX_LAYERS:
            raise InputError(name, None, f"{key}: more than {MAX_LAYERS} layers")
        layers.setdefault(i, {})[mt[2]] = key
    if not layers:
        raise InputError(name, None, "no layer arrays (need L0.Q, L0.K, ...)")
    count = max(layers) + 1
    total = 0
    plan: list[tuple[int, list[str]]] = []
    for i in range(count):
        got = layers.get(i, {})
        heads = 2 if "Q1" in got or "Q2" in got else 1
        need = (["Q", "K", "V"] if heads == 1 else ["Q1", "K1", "V1", "Q2", "K2", "V2"]) + \
            ["W1", "b1", "W2", "b2"]
        for f in need:
            if f not in got:
                raise InputError(name, None, f"missing array 'L{i}.{f}'")
        extra = sorted(set(got) - set(need))
        if extra:
            raise InputError(name, None, f"L{i}.{extra[0]}: not expected in a "
                             f"{heads}-head layer")
        w_shape = headers[got["W1"]][0]
        width = w_shape[0] if len(w_shape) == 2 else -1
        q_shape = headers[got[need[0]]][0]
        q = q_shape[0] if len(q_shape) == 2 else -1
        shapes = {"W1": (width, d), "b1": (width, n), "W2": (d, width), "b2": (d, n)}
        for f in need[:-4]:
            shapes[f] = (d, d) if f.startswith("V") else (q, d)
        for f in need:
            shape, dtype = headers[got[f]]
            if shape != shapes[f] or width < 1 or q < 1:
                raise InputError(name, None, f"L{i}.{f}: shape {shape}, need "
                                 f"{shapes[f] if width >= 1 and q >= 1 else '2-D'} "
                                 f"(d={d}, n={n})")
            if dtype.kind not in "iuf":
                raise InputError(name, None, f"L{i}.{f}: dtype {dtype}, need a real number "
                                 "type")
            total += int(np.prod(shape)) * 8
        plan.append((heads, [got[f] for f in need]))
    if "X0" in members:
        shape, dtype = headers["X0"]
        if shape != (d, n) or dtype.kind not in "iuf":
            raise InputError(name, None, f"X0: shape {shape} dtype {dtype}, need ({d}, {n}) "
                             "real")
        total += d * n * 8
    budget = memory_budget() // 4
    if total > budget:
        raise InputError(name, None, f"the arrays would take {total:,} bytes as float64, more "
                         f"than the {budget:,} allowed")

    built: list[Layer] = []
    for i, (heads, keys) in enumerate(plan):
        arrays = [_finite(name, key, _read(name, z, members[key], key)) for key in keys]
        hs = tuple(Head(*arrays[3 * h:3 * h + 3]) for h in range(heads))
        W1, b1, W2, b2 = arrays[3 * heads:]
        built.append(Layer(hs, W1, b1, W2, b2, f"layer {i}"))
    X0 = None
    if "X0" in members:
        X0 = _finite(name, "X0", _read(name, z, members["X0"], "X0"))
    return SavedNetwork(LoopedTransformer(tuple(built), lam), lay, X0)


def _read(name: str, z: zipfile.ZipFile, member: str, key: str) -> np.ndarray:
    try:
        with z.open(member) as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise InputError(name, None, f"{key}: cannot read ({e})") from None


def _finite(name: str, key: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        r, c = (int(x) for x in np.argwhere(~np.isfinite(a))[0])
        raise InputError(name, None, f"{key}: non-finite value {a[r, c]!r} at ({r}, {c})")
    return a


def to_bytes(saved: SavedNetwork) -> bytes:
    """The ``.npz`` bytes of a network (format in the module docstring)."""
    lay = saved.layout
    arrays: dict[str, np.ndarray] = {
        "lam": np.array(saved.net.lam), "s": np.array(lay.s), "m": np.array(lay.m),
        "n": np.array(lay.n), "logn": np.array(lay.logn), "N": np.array(lay.bits)}
    for i, layer in enumerate(saved.net.layers):
        if len(layer.heads) == 1:
            h = layer.heads[0]
            arrays |= {f"L{i}.Q": h.Q, f"L{i}.K": h.K, f"L{i}.V": h.V}
        else:
            for k, h in enumerate(layer.heads, start=1):
                arrays |= {f"L{i}.Q{k}": h.Q, f"L{i}.K{k}": h.K, f"L{i}.V{k}": h.V}
        arrays |= {f"L{i}.W1": layer.W1, f"L{i}.b1": layer.b1, f"L{i}.W2": layer.W2,
                   f"L{i}.b2": layer.b2}
    if saved.X0 is not None:
        arrays["X0"] = np.asarray(saved.X0, dtype=np.float64)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def save(path: str | os.PathLike[str], saved: SavedNetwork, *, force: bool = False) -> None:
    """Write ``saved`` to ``path`` (an existing file only with ``force``)."""
    write_file(path, to_bytes(saved), exclusive=not force)
