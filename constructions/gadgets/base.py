"""The gadget value and the shared formulas of DESIGN.md section 3.

A :class:`Gadget` is built by a pure function of its sizes (``make_subtract(bits)``). It holds its
symbolic network (units ``ReLU(affine form)``, held as integer coefficients), the compiled exact
network, the spec (a plain function over integers that also runs on z3 terms), the domain, and,
where the wide case needs it, the factorisation its proofs go through.

Notation: ``sigma_i(j) = 2 bit_i(j) - 1`` is the +-1 code of index j (LSB first). Bits are stored
as {0,1}; the +-1 codes live only in the weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from verify import names
from verify.domains import Domain
from verify.layout import bit_names
from verify.network import Network
from verify.obligation import Factorisation, Form, Obligation, Spec
from verify.symbolic import Affine, SymbolicNet, Unit, affine, relu_unit

WordArg = str | Sequence[str]
"""A word argument: a prefix (bits ``prefix.bit[i]``) or the explicit bit names, LSB first."""


def bits_of(word: WordArg, n: int) -> list[str]:
    """The n bit names of a word argument."""
    if isinstance(word, str):
        return bit_names(word, n)
    names = list(word)
    if len(names) != n:
        raise ValueError(f"word {names[:2]}... has {len(names)} bits, need {n}")
    return names


def sigma(i: int, j: int) -> int:
    """The +-1 code of bit i of index j."""
    return 2 * ((j >> i) & 1) - 1


def match_terms(addr: Sequence[str], j: int) -> tuple[dict[str, int], int]:
    """e_j(x) = sum_i sigma_i(j) (2 x_i - 1) - L as (coefficients, constant).

    e_j(x) = -2 Hamming(x, j): it is 0 exactly when the L-bit register x holds j, else <= -2.
    """
    coeffs = {a: 2 * sigma(i, j) for i, a in enumerate(addr)}
    const = -sum(sigma(i, j) for i in range(len(addr))) - len(addr)
    return coeffs, const


def match_form(addr: Sequence[str], j: int, extra: Mapping[str, int] | None = None,
               const: int = 0) -> Affine:
    """``extra + e_j(addr) + const`` as an affine form."""
    coeffs, c = match_terms(addr, j)
    merged = dict(extra or {})
    for k, v in coeffs.items():
        merged[k] = merged.get(k, 0) + v
    return affine(merged, c + const)


def match_forms(addr: Sequence[str], j: int, extras: Sequence[str]) -> list[Affine]:
    """``match_form(addr, j, {x: 1})`` for every name x of ``extras``, the match terms
    computed once (the address blocks of a computer make one per word and bit)."""
    coeffs, c = match_terms(addr, j)
    if any(x in coeffs for x in extras):
        return [match_form(addr, j, {x: 1}) for x in extras]
    return [Affine.exact({x: 1, **coeffs}, c) for x in extras]


def step_units(prefix: str, s_coeffs: Mapping[str, int], s_const: int,
               tau: int) -> tuple[Unit, Unit]:
    """[S >= tau] = ReLU(S - tau + 1) - ReLU(S - tau) for integer S: the two units."""
    return (relu_unit(f"{prefix}+", affine(s_coeffs, s_const - tau + 1)),
            relu_unit(f"{prefix}-", affine(s_coeffs, s_const - tau)))


def word_form(name: str, prefix: str, bits: int, weight: int = 1) -> Form:
    """The affine form ``weight * sum_i 2^i prefix.bit[i]``."""
    return Form(name, {b: weight << i for i, b in enumerate(bit_names(prefix, bits))})


@dataclass(frozen=True, eq=False)
class Gadget:
    """A gadget: symbolic units, compiled weights, spec, domain and proof hints."""

    name: str
    sizes: Mapping[str, int]
    net: SymbolicNet
    domain: Domain
    spec: Spec
    outputs: tuple[str, ...]
    factorisation: Factorisation | None = None
    exactness: str = ""
    extras: Mapping[str, object] = field(default_factory=dict)

    @cached_property
    def network(self) -> Network:
        """The exact integer network."""
        return self.net.network

    @property
    def obligation_name(self) -> str:
        return names.name(f"gadget/{self.name}", self.sizes)

    def obligation(self) -> Obligation:
        """network == spec on every output, over the whole domain."""
        return Obligation(self.obligation_name, self.network, self.domain, self.spec,
                          dict(self.sizes), self.outputs, self.factorisation, self.exactness)

    def formulas(self) -> list[tuple[str, list[str]]]:
        """Per layer: (label, the formulas of its units)."""
        return self.net.formulas()
