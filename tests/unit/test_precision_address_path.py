"""Where the address path, not the words' bits, sets the precision bounds (small N against
log2 M or log2 K): the certificate exceeds the closed forms there, and the largest certified N
comes from the certificate at the actual M and K, never from the closed forms alone."""

from __future__ import annotations

import io
import json

import pytest

from constructions.computer import build
from constructions.computer.runtime import certificate
from constructions.machine.subleq import MachineSize
from loopmlp.cli import main
from proofs.precision import formula, largest_bits
from verify.errors import ParameterError


@pytest.mark.parametrize(("profile", "size", "quantity", "bound", "closed"), [
    ("paper", (64, 2, 2), "any_order", 25, 21),     # match units up to 4L + 1, L = 6
    ("compact", (64, 2, 2), "any_order", 45, 35),
    ("paper", (4, 2, 64), "pre", 63, 6),            # increment threshold 2^k - 1, k = 6
])
def test_the_address_path_exceeds_the_closed_forms(profile: str, size: tuple[int, int, int],
                                                  quantity: str, bound: int,
                                                  closed: int) -> None:
    cert = certificate(build(profile, MachineSize(*size)))
    assert formula(profile, size[1])[quantity] == closed
    assert cert.largest(quantity) == bound


class _Exact:
    """A stand-in certificate that is exact in every format up to ``limit`` bits."""

    def __init__(self, bits: int, limit: int) -> None:
        self.ok = bits <= limit

    def exact_in(self, fmt: str, order: str) -> bool:
        return self.ok


def _cert_of(limit: int, seen: list[int]):  # type: ignore[no-untyped-def]
    def cert_of(profile: str, size: MachineSize) -> _Exact:
        seen.append(size.bits)
        assert (size.words, size.slots) == (4, 512)  # asked at the actual M and K
        return _Exact(size.bits, limit)
    return cert_of


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5])
def test_largest_bits_is_what_the_certificate_at_m_k_proves(limit: int) -> None:
    """bfloat16 in any order: the closed form allows N = 5 for paper; a certificate that is
    exact only up to ``limit`` (the address path of a large K) brings the answer down to it."""
    seen: list[int] = []
    got = largest_bits("paper", 4, 512, "bfloat16", "any", cert_of=_cert_of(limit, seen),
                       confirm=False)
    assert got == max(limit, 1)
    assert got == 1 or got in seen  # the answer itself was certified


def test_a_certificate_below_its_closed_form_is_refused() -> None:
    with pytest.raises(ParameterError):
        largest_bits("paper", 4, 512, "bfloat16", "any", cert_of=_cert_of(9, []), confirm=True)


@pytest.mark.slow
def test_precision_command_never_claims_an_uncertified_n() -> None:
    """At K = 256 the increment thresholds reach 255, so no N is exact in bfloat16 in every
    order (the closed form alone would say N <= 5, the very N asked about)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(["precision", "--profile", "paper", "--words", "2", "--bits", "5",
                 "--slots", "256", "--json"], out, err)
    assert code == 0, err.getvalue()
    bf16 = json.loads(out.getvalue())["rows"][0]["formats"]["bfloat16"]
    assert not bf16["exact"] and bf16["largest_bits"] == 1
    assert bf16["exact_natural_order"] and bf16["largest_bits_natural_order"] >= 5
