"""The symbolic negative results: no one-layer LT decides parity for every length, and
DeltaNet's transition spectrum in every dimension. Each identity holds, each fails when made
false, and the kernel agrees with the argument on random models."""

from __future__ import annotations

import numpy as np
import pytest

from constructions.fwp.languages import language
from constructions.fwp.models import FeedForward, Model, SumLayer, check_shapes, run
from proofs.fwp_symbolic import parity_alternates, parity_identities, spectrum_identities
from verify.real.numbers import F64

PARITY_CHECKS = ["recurrence", "normalised", "centring", "variance", "hidden", "readout",
                 "derivative", "vanishing", "degenerate"]
SPECTRUM_CHECKS = ["eigen-k", "eigen-perp", "split", "square", "range"]


def test_identities_hold() -> None:
    assert parity_identities() == dict.fromkeys(PARITY_CHECKS, True)
    assert spectrum_identities() == dict.fromkeys(SPECTRUM_CHECKS, True)
    assert parity_alternates()


@pytest.mark.parametrize("wrong", PARITY_CHECKS)
def test_a_false_parity_identity_is_not_accepted(wrong: str) -> None:
    got = parity_identities(wrong)
    assert got[wrong] is False and all(v for k, v in got.items() if k != wrong)


@pytest.mark.parametrize("wrong", SPECTRUM_CHECKS)
def test_a_false_spectrum_identity_is_not_accepted(wrong: str) -> None:
    got = spectrum_identities(wrong)
    assert got[wrong] is False and all(v for k, v in got.items() if k != wrong)


def _sign_changes(xs: np.ndarray) -> int:
    s = np.sign(xs)
    s = s[s != 0]
    return int(np.sum(s[1:] != s[:-1]))


def test_one_layer_lts_on_ones_change_decision_a_bounded_number_of_times() -> None:
    """The argument bounds the decision changes on 1^n (read as a function of real n): a hidden
    pre-activation ``(alpha + beta n) / sqrt(Q) + gamma`` has a derivative with a linear
    numerator, so at most two monotone pieces and two zeros: at most 2 f kinks. Between kinks
    the logit is ``G(n)``, whose derivative vanishes where ``L(n)^2 = delta^2 Q(n)^3`` (degree
    6): at most 7 monotone pieces, 7 zeros. Random one-layer LTs (layer norms, feed-forward
    blocks) stay within 7 (2 f + 1) changes over n = 1..400, where parity needs 399."""
    lang = language("parity")
    rng = np.random.default_rng(5)
    d, H, dh, f = 6, 2, 3, 4
    for _ in range(4):
        layer = SumLayer(H, dh, 1 + 0.2 * rng.normal(size=d), 0.2 * rng.normal(size=d),
                         rng.normal(size=(3 * H * dh, d)), 0.1 * rng.normal(size=(d, H * dh)))
        ff = FeedForward(1 + 0.2 * rng.normal(size=d), 0.2 * rng.normal(size=d),
                         rng.normal(size=(f, d)), rng.normal(size=f), rng.normal(size=(d, f)),
                         rng.normal(size=d))
        m = Model("lt", lang.alphabet, rng.normal(size=(2, d)), ((layer, ff),),
                  rng.normal(size=(2, d)), rng.normal(size=2))
        check_shapes(m)
        logits = np.array(run(m, F64, [1] * 400))
        assert _sign_changes(logits[:, 1] - logits[:, 0]) <= 7 * (2 * f + 1)


def test_deltanet_transition_eigenvalues_in_every_tried_dimension() -> None:
    rng = np.random.default_rng(3)
    for n in (5, 9, 17):
        k = np.exp(rng.normal(size=n))
        k /= k.sum()
        beta = 1 / (1 + np.exp(-rng.normal()))
        ev = np.linalg.eigvalsh(np.eye(n) - beta * np.outer(k, k))
        assert np.all(ev > 0) and np.all(ev <= 1 + 1e-12)
        assert np.isclose(ev.min(), 1 - beta * k @ k)
