"""Small obligations about the kernel itself: they keep ``loopmlp prove`` honest end to end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verify import names
from verify.domains import Bits, IntRange, Word, product
from verify.layout import Layout, bit_names
from verify.network import Layer, Network
from verify.obligation import Obligation
from verify.ops import bit, word

from .registry import Entry, of


def relu_identity(span: int) -> Obligation:
    """x = ReLU(x) - ReLU(-x) for every integer x in [-span, span]."""
    x, h, y = Layout(["x"]), Layout(["pos", "neg"]), Layout(["y"])
    l1 = Layer.from_rows(x, h, {"pos": ({"x": 1}, 0), "neg": ({"x": -1}, 0)}, label="split")
    l2 = Layer.from_rows(h, y, {"y": ({"pos": 1, "neg": -1}, 0)}, relu=False, label="join")
    return Obligation(
        f"kernel/relu-identity[span={span}]",
        Network((l1, l2), "relu-identity"),
        IntRange("x", -span, span),
        lambda v: {"y": v["x"]},
        {"span": span},
    )


def full_adder() -> Obligation:
    """(carry, sum) of three bits: s = a+b+c, carry = ReLU(s-1) - ReLU(s-2), sum = s - 2 carry."""
    ins = Layout(["a", "b", "c"])
    hid = Layout(["a'", "b'", "c'", "u1", "u2"])
    out = Layout(["sum", "carry"])
    s = {"a": 1, "b": 1, "c": 1}
    l1 = Layer.from_rows(ins, hid, {
        "a'": ({"a": 1}, 0), "b'": ({"b": 1}, 0), "c'": ({"c": 1}, 0),
        "u1": (s, -1), "u2": (s, -2),
    }, label="threshold")
    l2 = Layer.from_rows(hid, out, {
        "carry": ({"u1": 1, "u2": -1}, 0),
        "sum": ({"a'": 1, "b'": 1, "c'": 1, "u1": -2, "u2": 2}, 0),
    }, relu=False, label="combine")

    def spec(v: Mapping[str, Any]) -> dict[str, Any]:
        total = v["a"] + v["b"] + v["c"]
        return {"sum": bit(total, 0), "carry": bit(total, 1)}

    return Obligation("kernel/full-adder", Network((l1, l2), "full-adder"),
                      Bits(("a", "b", "c")), spec)


def ripple_adder(bits: int) -> Obligation:
    """Two ``bits``-bit words added with a carry chain of full adders, one layer pair per bit.

    Each stage passes every not-yet-used bit through (ReLU is the identity on bits), so the depth
    is 2 * bits: a deliberately deep network for the kernel's engines to chew on.
    """
    xs, ys = bit_names("X", bits), bit_names("Y", bits)
    cur = Layout(xs + ys)
    layers: list[Layer] = []
    carry: str | None = None
    done: list[str] = []
    for i in range(bits):
        keep = [n for n in cur if n not in (xs[i], ys[i], carry)]
        hid = Layout(keep + [f"t{i}", f"u{i}", f"v{i}"])
        s = {xs[i]: 1, ys[i]: 1, **({carry: 1} if carry else {})}
        rows: dict[str, tuple[dict[str, int], int]] = {k: ({k: 1}, 0) for k in keep}
        rows[f"t{i}"] = (s, 0)
        rows[f"u{i}"] = (s, -1)
        rows[f"v{i}"] = (s, -2)
        layers.append(Layer.from_rows(cur, hid, rows, label=f"stage {i} threshold"))
        done.append(f"S.bit[{i}]")
        nxt = Layout([k for k in keep] + [f"S.bit[{i}]", f"c{i}"])
        rows2: dict[str, tuple[dict[str, int], int]] = {k: ({k: 1}, 0) for k in keep}
        rows2[f"S.bit[{i}]"] = ({f"t{i}": 1, f"u{i}": -2, f"v{i}": 2}, 0)
        rows2[f"c{i}"] = ({f"u{i}": 1, f"v{i}": -1}, 0)
        layers.append(Layer.from_rows(hid, nxt, rows2, label=f"stage {i} combine"))
        cur, carry = nxt, f"c{i}"

    def spec(v: Mapping[str, Any]) -> dict[str, Any]:
        total = word([v[n] for n in xs]) + word([v[n] for n in ys])
        out = {f"S.bit[{i}]": bit(total, i) for i in range(bits)}
        out[f"c{bits - 1}"] = bit(total, bits)
        return out

    return Obligation(names.name("kernel/ripple-adder", {"bits": bits}),
                      Network(tuple(layers), "ripple"),
                      product(Word("X", bits), Word("Y", bits)), spec, {"bits": bits})


def entries() -> list[Entry]:
    """The kernel's own obligations."""
    return [
        of("kernel/relu-identity[span=1048576]", lambda: relu_identity(1 << 20)),
        of("kernel/full-adder", full_adder),
        of("kernel/ripple-adder[bits=4]", lambda: ripple_adder(4)),
        of("kernel/ripple-adder[bits=8]", lambda: ripple_adder(8)),
        of("kernel/full-adder/smt", lambda: _renamed(full_adder(), "/smt"), method="smt"),
        of("kernel/ripple-adder[bits=3]/smt", lambda: _renamed(ripple_adder(3), "/smt"),
           method="smt"),
    ]


def _renamed(ob: Obligation, suffix: str) -> Obligation:
    return Obligation(ob.name + suffix, ob.network, ob.domain, ob.spec, ob.bounds, ob.outputs,
                      ob.factorisation, ob.note)
