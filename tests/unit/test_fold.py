"""verify.fold: composing a layer into the next, and the obligation that proves it sound."""

from __future__ import annotations

import random

import pytest

from verify.domains import Bits
from verify.errors import LayoutError, ParameterError
from verify.fold import compose, fold, fold_all, fold_obligation
from verify.layout import Layout
from verify.methods import Options, check, replay
from verify.network import Layer, Network
from verify.result import Verdict

IN = Layout([f"x{i}" for i in range(5)])
MID = Layout([f"h{i}" for i in range(4)])
OUT = Layout([f"y{i}" for i in range(3)])


def dense(rng: random.Random, rows: int, cols: int, lo: int, hi: int) -> list[list[int]]:
    return [[rng.randint(lo, hi) for _ in range(cols)] for _ in range(rows)]


def network(seed: int, negative: bool) -> Network:
    """Three layers over 5 bits; layer 0 has non-negative weights and bias (its ReLU is the
    identity on every input) unless ``negative``."""
    rng = random.Random(seed)
    lo = -3 if negative else 0
    first = Layer.from_dense(dense(rng, 4, 5, lo, 3), [rng.randint(lo, 2) for _ in range(4)],
                             IN, MID, label="first")
    if negative:  # make sure some pre-activation is negative on some input
        first = Layer.from_dense([[-1, 0, 0, 0, 0]] + dense(rng, 3, 5, lo, 3), [0, 1, 1, 1],
                                 IN, MID, label="first")
    second = Layer.from_dense(dense(rng, 3, 4, -2, 2), [rng.randint(-2, 2) for _ in range(3)],
                              MID, OUT, label="second")
    last = Layer.from_dense([[1, 0, 0], [0, 1, 0], [0, 0, 1]], [0, 0, 0], OUT, OUT,
                            relu=False, label="last")
    return Network((first, second, last), f"random{seed}")


def points() -> list[dict[str, int]]:
    return [{f"x{i}": (v >> i) & 1 for i in range(5)} for v in range(32)]


def test_compose_is_the_matrix_product() -> None:
    net = network(1, negative=True)
    a, b = net.layers[0], net.layers[1]
    merged = compose(a, b)
    assert merged.inputs == a.inputs and merged.outputs == b.outputs and merged.relu
    w1 = {(r, c): v for r, c, v in zip(a.rows, a.cols, a.vals)}
    w2 = {(r, c): v for r, c, v in zip(b.rows, b.cols, b.vals)}
    for r in range(3):
        coeffs, bias = merged.row(f"y{r}")
        assert bias == sum(w2.get((r, k), 0) * a.bias[k] for k in range(4)) + b.bias[r]
        for c in range(5):
            want = sum(w2.get((r, k), 0) * w1.get((k, c), 0) for k in range(4))
            assert coeffs.get(f"x{c}", 0) == want


@pytest.mark.parametrize("seed", range(5))
def test_fold_where_relu_is_identity_is_proved(seed: int) -> None:
    net = network(seed, negative=False)
    folded = fold(net, 0)
    assert len(folded.layers) == 2 and folded.depth == 1
    assert all(folded.forward_exact(p) == net.forward_exact(p) for p in points())
    ob = fold_obligation(f"fold/random{seed}", net, folded, Bits(tuple(IN.names)))
    for method in ("exhaustive", "smt"):
        assert check(ob, Options(method)).verdict is Verdict.PROVED, method
    # Folding the last ReLU layer into the affine one leaves a network with no ReLU at all.
    flat = fold_all(net, [0, 1])
    assert flat.depth == 0 and len(flat.layers) == 1


@pytest.mark.parametrize("method", ["exhaustive", "smt"])
def test_fold_of_a_negative_preactivation_is_refuted_and_replays(method: str) -> None:
    net = network(7, negative=True)
    folded = fold(net, 0)
    ob = fold_obligation("fold/negative", net, folded, Bits(tuple(IN.names)))
    result = check(ob, Options(method))
    assert result.verdict is Verdict.REFUTED, result.line()
    cex = result.counterexample
    assert cex is not None and cex.network != cex.spec
    assert replay(ob, cex.inputs) == cex
    point = dict(cex.inputs)
    assert folded.forward_exact(point) != net.forward_exact(point)


def test_fold_refuses_bad_arguments() -> None:
    net = network(0, negative=False)
    with pytest.raises(ParameterError, match="i=2"):
        fold(net, 2)
    with pytest.raises(LayoutError):
        compose(net.layers[1], net.layers[0])
    other = Network((Layer.identity(IN),))
    with pytest.raises(LayoutError):
        fold_obligation("fold/mismatch", other, fold(net, 0), Bits(tuple(IN.names)))
