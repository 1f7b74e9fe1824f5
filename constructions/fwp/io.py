"""Models to and from ``.npz`` and ``.safetensors`` files, with the parameter names of the
reference implementation (a ``torch.nn.Sequential`` called ``layers``: the sequence layer of
block i at ``layers.{2i}``, its feed-forward block at ``layers.{2i+1}``).

=========================================  ==========================================  =========
file key                                   model field                                 shape
=========================================  ==========================================  =========
``embedding.weight``                       ``Model.embedding``                         (V, d)
``layers.{2i}.layer_norm.weight|bias``     ``ln_w``, ``ln_b``                          (d,)
``layers.{2i}.slow_net.weight``            ``slow`` (LT, DeltaNet, Recurrent Delta)    (rows, d)
``layers.{2i}.out_linear.weight``          ``out``                                     (d, H dh)
``layers.{2i}.R_q|R_k|R_v``                ``R_q``, ``R_k``, ``R_v``                   (1,H,dh,dh)
``layers.{2i}.r_b``                        ``r_b``                                     (1,H,1,dh)
``layers.{2i}.W_y|W_q|W_k``                SRWM ``W_y``, ``W_q``, ``W_k``              (1,H,dh,dh)
``layers.{2i}.w_b``                        SRWM ``w_b``                                (1,H,dh,4)
``layers.{2i+1}.layer_norm.weight|bias``   ``FeedForward.ln_w``, ``ln_b``              (d,)
``layers.{2i+1}.linear1.weight|bias``      ``W1``, ``b1`` (or ``ff_layers.0.*``)       (f,d),(f,)
``layers.{2i+1}.linear2.weight|bias``      ``W2``, ``b2`` (or ``ff_layers.3.*``)       (d,f),(d,)
``out_layer.weight|bias``                  ``out_w``, ``out_b``                        (C,d),(C,)
=========================================  ==========================================  =========

``slow`` rows per head: LT ``3 dh`` (q, k, v), DeltaNet and Recurrent Delta ``3 dh + 1`` (q, k,
v, beta). The reference implementation has ``H dh = d``; the number of heads is read from the
shapes where they determine it (DeltaNet: ``rows - 3 d``; Recurrent Delta and SRWM: the tensors)
and must be given for LT layers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from verify.errors import InputError, LoopmlpError, ShapeError

from .models import (
    KINDS,
    LN_EPS,
    DeltaLayer,
    FeedForward,
    Model,
    RecDeltaLayer,
    SrwmLayer,
    SumLayer,
    check_shapes,
)

MAX_BYTES = 1 << 30


def to_arrays(m: Model) -> dict[str, np.ndarray]:
    """The model's tensors under the reference implementation's names."""
    out: dict[str, np.ndarray] = {"embedding.weight": m.embedding}
    for i, (layer, ff) in enumerate(m.blocks):
        p, f = f"layers.{2 * i}.", f"layers.{2 * i + 1}."
        out[p + "layer_norm.weight"], out[p + "layer_norm.bias"] = layer.ln_w, layer.ln_b
        out[p + "out_linear.weight"] = layer.out
        if isinstance(layer, SrwmLayer):
            for k in ("W_y", "W_q", "W_k", "w_b"):
                out[p + k] = getattr(layer, k)[None]
        else:
            out[p + "slow_net.weight"] = layer.slow
        if isinstance(layer, RecDeltaLayer):
            for k in ("R_q", "R_k", "R_v"):
                out[p + k] = getattr(layer, k)[None]
            out[p + "r_b"] = layer.r_b[None, :, None, :]
        out[f + "layer_norm.weight"], out[f + "layer_norm.bias"] = ff.ln_w, ff.ln_b
        out[f + "linear1.weight"], out[f + "linear1.bias"] = ff.W1, ff.b1
        out[f + "linear2.weight"], out[f + "linear2.bias"] = ff.W2, ff.b2
    out["out_layer.weight"], out["out_layer.bias"] = m.out_w, m.out_b
    return {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in out.items()}


def save(m: Model, path: str | os.PathLike[str]) -> None:
    """Write ``.npz`` or ``.safetensors`` (by suffix)."""
    p = Path(path)
    arrays = to_arrays(m)
    try:
        if p.suffix == ".safetensors":
            from safetensors.numpy import save_file

            save_file(arrays, str(p))
        elif p.suffix == ".npz":
            with p.open("wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]
        else:
            raise InputError(str(p), None, "need a .npz or .safetensors file name")
    except OSError as e:
        raise InputError(str(p), None, f"cannot write ({e.strerror or e})") from None


def read_arrays(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every tensor of a ``.npz`` or ``.safetensors`` file, as float64 (finite values only)."""
    p = Path(os.fsdecode(path))
    name = str(p)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise InputError(name, None, f"cannot read file: {e.strerror or e}") from None
    if not p.is_file():
        raise InputError(name, None, "not a regular file")
    if size > MAX_BYTES:
        raise InputError(name, None, f"file larger than {MAX_BYTES} bytes")
    try:
        if p.suffix == ".safetensors":
            from safetensors.numpy import load_file

            raw = dict(load_file(name))
        elif p.suffix == ".npz":
            with np.load(name, allow_pickle=False) as z:
                raw = {k: z[k] for k in z.files}
        else:
            raise InputError(name, None, "need a .npz or .safetensors file")
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - any malformed archive is the user's file
        raise InputError(name, None, f"not a readable weight file ({type(e).__name__}: "
                         f"{str(e)[:120]})") from None
    out = {}
    for k, v in raw.items():
        if v.dtype.kind not in "fiu":
            raise InputError(name, None, f"tensor {k!r}: dtype {v.dtype}, need numbers")
        a = np.asarray(v, dtype=np.float64)
        if not np.all(np.isfinite(a)):
            raise InputError(name, None, f"tensor {k!r}: a value is not finite")
        out[k] = a
    return out


def _get(arrays: dict[str, np.ndarray], name: str, *keys: str,
         used: set[str] | None = None) -> np.ndarray:
    """The tensor stored under the first of ``keys`` present (the others are aliases of the
    same parameter: present too, they must hold the same values); ``used`` collects the keys."""
    found = [k for k in keys if k in arrays]
    if not found:
        raise InputError(name, None, f"missing tensor {keys[0]!r}")
    for k in found[1:]:
        if arrays[k].shape != arrays[found[0]].shape or \
                not np.array_equal(arrays[k], arrays[found[0]]):
            raise InputError(name, None, f"tensors {found[0]!r} and {k!r} name the same "
                             "parameter but differ")
    if used is not None:
        used.update(found)
    return arrays[found[0]]


def load(path: str | os.PathLike[str], kinds: list[str], alphabet: tuple[str, ...],
         heads: list[int] | None = None, ln_eps: float = LN_EPS,
         model_name: str | None = None) -> Model:
    """A model from a weight file; ``kinds`` per layer (one entry repeats for every layer)."""
    name = os.fsdecode(path)
    every = read_arrays(path)
    used: set[str] = set()

    def get(*keys: str) -> np.ndarray:
        return _get(every, name, *keys, used=used)

    arrays = every
    for k in kinds:
        if k not in KINDS:
            raise LoopmlpError(f"--model {k!r}: need one of {', '.join(KINDS)}")
    n = 0
    while any(k.startswith(f"layers.{2 * n}.") for k in arrays):
        n += 1
    if n == 0:
        raise InputError(name, None, "no layers.0.* tensors: not a model of the reference "
                         "implementation")
    if len(kinds) == 1:
        kinds = kinds * n
    if len(kinds) != n:
        raise LoopmlpError(f"--model: {len(kinds)} layer kinds for {n} layers")
    if heads and len(heads) not in (1, n):
        raise LoopmlpError(f"--heads: {len(heads)} values for {n} layers (give one, or one "
                           "per layer)")
    emb = get("embedding.weight")
    if emb.ndim != 2 or emb.shape[0] != len(alphabet):
        raise ShapeError(f"{name}: embedding.weight has shape {emb.shape}, need "
                         f"({len(alphabet)}, d) for the alphabet {''.join(alphabet)!r}")
    d = emb.shape[1]
    blocks = []
    for i, kind in enumerate(kinds):
        p, f = f"layers.{2 * i}.", f"layers.{2 * i + 1}."
        ln_w = get(p + "layer_norm.weight")
        ln_b = get(p + "layer_norm.bias")
        out = get(p + "out_linear.weight")
        H = heads[i if len(heads) > 1 else 0] if heads else None
        layer: Any
        if kind == "srwm":
            W_y = get(p + "W_y")
            if W_y.ndim != 4:
                raise ShapeError(f"{name}: {p}W_y has shape {W_y.shape}, need (1, H, dh, dh)")
            parts = [get(p + k) for k in ("W_y", "W_q", "W_k", "w_b")]
            for k, t in zip(("W_y", "W_q", "W_k", "w_b"), parts):
                if t.ndim != 4 or t.shape[0] != 1:
                    raise ShapeError(f"{name}: {p}{k} has shape {t.shape}, need (1, H, dh, .)")
            my, mq, mk, mb = (t[0] for t in parts)
            Hs, dh = W_y.shape[1], W_y.shape[2]
            layer = SrwmLayer(Hs, dh, my, mq, mk, mb, ln_w, ln_b, out)
        else:
            slow = get(p + "slow_net.weight")
            rows = slow.shape[0]
            if kind == "lt":
                if H is None:
                    raise LoopmlpError(f"--heads: needed for the LT layer {i} (its shapes do not "
                                       "determine the number of heads)")
                if H <= 0 or rows % (3 * H):
                    raise ShapeError(f"{name}: {p}slow_net.weight has {rows} rows, not 3 dh "
                                     f"per head for {H} heads")
                layer = SumLayer(H, rows // (3 * H), ln_w, ln_b, slow, out)
            else:
                if kind == "recdelta":
                    R = get(p + "R_q")
                    H = R.shape[1] if R.ndim == 4 else H
                if H is None:
                    H = rows - 3 * d
                if H <= 0 or rows % H or (rows // H - 1) % 3:
                    raise ShapeError(f"{name}: {p}slow_net.weight has {rows} rows, not "
                                     f"3 dh + 1 per head for {H} heads")
                dh = (rows // H - 1) // 3
                if kind == "deltanet":
                    layer = DeltaLayer(H, dh, ln_w, ln_b, slow, out)
                else:
                    r_b = get(p + "r_b")
                    rq, rk, rv = (get(p + k) for k in ("R_q", "R_k", "R_v"))
                    for k, t in (("R_q", rq), ("R_k", rk), ("R_v", rv)):
                        if t.shape != (1, H, dh, dh):
                            raise ShapeError(f"{name}: {p}{k} has shape {t.shape}, need "
                                             f"(1, {H}, {dh}, {dh})")
                    if r_b.shape != (1, H, 1, dh):
                        raise ShapeError(f"{name}: {p}r_b has shape {r_b.shape}, need "
                                         f"(1, {H}, 1, {dh})")
                    layer = RecDeltaLayer(H, dh, ln_w, ln_b, slow, rq[0], rk[0], rv[0],
                                          r_b[0, :, 0, :], out)
        ff = FeedForward(get(f + "layer_norm.weight"),
                         get(f + "layer_norm.bias"),
                         get(f + "linear1.weight", f + "ff_layers.0.weight"),
                         get(f + "linear1.bias", f + "ff_layers.0.bias"),
                         get(f + "linear2.weight", f + "ff_layers.3.weight"),
                         get(f + "linear2.bias", f + "ff_layers.3.bias"))
        blocks.append((layer, ff))
    m = Model(model_name or Path(name).stem, alphabet, emb, tuple(blocks),
              get("out_layer.weight"), get("out_layer.bias"),
              ln_eps)
    # a tensor the model does not read would be verified away: refuse it
    unread = sorted(set(every) - used)
    if unread:
        raise InputError(name, None, f"tensor {unread[0]!r} is not a parameter of the "
                         f"{'+'.join(kinds)} model read here ({len(unread)} unread)")
    try:
        check_shapes(m)
    except ShapeError as e:
        raise ShapeError(f"{name}: {e}") from None
    return m
