"""The structure checks read a layer's units as the forward pass does: repeated ``(row, col)``
entries add up (proofs/computer.py and proofs/all_widths.py)."""

from __future__ import annotations

from proofs import all_widths, computer
from verify.layout import Layout
from verify.network import Layer, Network


def _layer(vals: tuple[int, ...]) -> Layer:
    return Layer(Layout(["a", "b"]), Layout(["y"]), (0, 0, 0), (0, 0, 1), vals, (3,), True, "t")


def test_repeated_entries_add_up_in_the_structure_checks() -> None:
    layer = _layer((1, 1, 5))
    assert computer._rows(layer) == {"y": ({"a": 2, "b": 5}, 3)}
    assert all_widths._rows(layer) == [{"a": 2, "b": 5}]
    assert layer.row("y") == computer._rows(layer)["y"]  # the layer's own reading
    # and the forward pass: y = ReLU(2a + 5b + 3)
    assert Network((layer,), "n").forward_exact({"a": 1, "b": 1})["y"] == 10


def test_entries_that_cancel_leave_no_coefficient() -> None:
    layer = _layer((2, -2, 5))
    assert computer._rows(layer) == {"y": ({"b": 5}, 3)}
    assert all_widths._rows(layer) == [{"b": 5}]
