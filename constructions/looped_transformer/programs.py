"""What a run, an export and an import of a looped Transformer start from: a ``.sq`` program
or a saved ``.npz`` network turned into a network, its layout and an initial matrix; the
reconstruction of a program written to a file; a saved network described as a document.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from constructions.machine import asm, subleq
from constructions.machine.subleq import State
from verify.errors import InputError, LoopmlpError, ParameterError

from . import npz_io, subleq_net
from .layout import Layout
from .network import LoopedTransformer


@dataclass(frozen=True)
class Start:
    """A network ready to run: the network, its layout, the initial matrix ``X0`` and a name
    for messages (the file it came from)."""

    net: LoopedTransformer
    layout: Layout
    X0: np.ndarray
    name: str


def fit(state: State, lay: Layout) -> State:
    """A program's state (assembled at the layout's word width) on the layout's machine:
    refused when it uses more words or commands than the layout has."""
    if any(state.memory[lay.m:]):
        raise ParameterError("memory", len(state.memory), f"at most m={lay.m} words in use")
    for j in range(lay.commands, len(state.code)):  # the filler, or the assembler's idle halt
        a, b, c = state.code[j]
        if (a, b, c) != subleq.filler(j) and not (a == b and c == j and state.memory[a] == 0):
            raise ParameterError("code", len(state.code), f"at most {lay.commands} commands")
    return subleq.make_state(lay.machine(), list(state.memory[:lay.m]),
                             list(state.code[:lay.commands]), state.pc)


def start(network: str | None, program: str | None, bits: int | None, lam: float | None,
          eps: float | None) -> Start:
    """The network of the file ``network`` (its temperature replaced by ``lam`` when given),
    started from ``program`` encoded into its layout or else from the file's ``X0``; without a
    file, the reconstruction of ``program`` (``lam`` and ``eps`` defaulting to
    :data:`~.subleq_net.DEFAULT_LAM` and :data:`~.subleq_net.DEFAULT_EPS`)."""
    if network is not None:
        saved = npz_io.load(network)
        net, lay = saved.net, saved.layout
        if lam is not None:
            net = LoopedTransformer(net.layers, lam)
        if program is not None:
            p = asm.load(program, bits=bits if bits is not None else lay.bits)
            try:
                X0 = lay.encode(fit(p.state, lay)).astype(np.float64)
            except ParameterError as e:
                raise InputError(program, None, f"does not fit the layout of {network}: {e}"
                                 ) from None
        elif saved.X0 is not None:
            X0 = saved.X0
        else:
            raise InputError(network, None, "holds no X0; pass --program P.sq")
        return Start(net, lay, X0, network)
    if program is None:
        raise ParameterError("--program", None, "a .sq program (or --network FILE.npz)")
    p = asm.load(program, bits=bits)
    lay = Layout.for_size(p.size)
    net = subleq_net.build(lay, subleq_net.DEFAULT_LAM if lam is None else lam,
                           subleq_net.DEFAULT_EPS if eps is None else eps)
    return Start(net, lay, lay.encode(p.state).astype(np.float64), program)


def write_reconstruction(path: str, program: str, lam: float, eps: float, bits: int | None,
                         force: bool) -> tuple[LoopedTransformer, Layout]:
    """Build the reconstruction of ``program`` and save it, with the program as ``X0``, to
    ``path`` (an existing file only with ``force``)."""
    p = asm.load(program, bits=bits)
    lay = Layout.for_size(p.size)
    net = subleq_net.build(lay, lam, eps)
    if os.path.exists(path) and not force:
        raise LoopmlpError(f"{path}: already exists; pass --force to overwrite it")
    npz_io.save(path, npz_io.SavedNetwork(net, lay, lay.encode(p.state)), force=force)
    return net, lay


def describe(saved: npz_io.SavedNetwork) -> dict[str, Any]:
    """A saved network as a document: sizes, temperature, heads, width and nonzero weights of
    every layer, and the state its ``X0`` decodes to (or why it does not)."""
    lay, net = saved.layout, saved.net
    doc: dict[str, Any] = {
        "layers": len(net.layers), "lam": net.lam, "d": lay.d, "n": lay.n, "s": lay.s,
        "m": lay.m, "commands": lay.commands, "N": lay.bits, "logn": lay.logn,
        "per_layer": [{"heads": len(layer.heads), "width": layer.width,
                       "nonzero": int(sum(np.count_nonzero(a) for a in (
                           layer.W1, layer.b1, layer.W2, layer.b2,
                           *[x for h in layer.heads for x in (h.Q, h.K, h.V)])))}
                      for layer in net.layers],
        "X0": None}
    if saved.X0 is not None:
        try:
            st = lay.decode(saved.X0)
            doc["X0"] = {"pc": st.pc, "words": list(subleq.signed_memory(st, lay.machine()))
                         [:lay.m]}
        except LoopmlpError as e:
            doc["X0"] = {"error": str(e)}
    return doc


__all__ = ["Start", "describe", "fit", "start", "write_reconstruction"]
