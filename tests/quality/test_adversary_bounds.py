"""Pre-activation bounds (verify/network.py) are exact at the edge of int64: a box reaching
-2^63, whose magnitude numpy's abs gives back as -2^63, must not make the int64 fast path claim
bounds that a product there has wrapped."""

from __future__ import annotations

import numpy as np
import pytest

from verify.layout import Layout
from verify.network import Layer


@pytest.mark.parametrize("weight", [-2, -1, 1, 3])
def test_bounds_over_a_box_reaching_minus_two_to_the_63(weight: int) -> None:
    layer = Layer.from_rows(Layout(["a"]), Layout(["y"]), {"y": ({"a": weight}, 5)})
    lo, hi = -(2**63), 7
    got_lo, got_hi, mag = layer.preactivation_bounds(np.array([lo], dtype=object),
                                                     np.array([hi], dtype=object))
    ends = [weight * lo + 5, weight * hi + 5]
    assert (int(got_lo[0]), int(got_hi[0])) == (min(ends), max(ends))
    assert int(mag[0]) == abs(weight) * 2**63 + 5
