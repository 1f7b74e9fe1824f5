"""Obligations: a network, a domain, a specification, a name and the bounds it is claimed for.

The spec is a plain function from input values (by coordinate name) to expected output values
(by coordinate name), written with :mod:`verify.ops` so that it runs unchanged on Python ints,
on numpy batches (one array per coordinate) and on z3 terms. Specs are two-sided equalities:
every listed output must *equal* the spec's value, never merely be bounded by it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .domains import Domain
from .errors import LayoutError, ParameterError
from .network import Network

Spec = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True, eq=False)
class Form:
    """An affine form over input coordinates: ``sum coeffs[n] * x[n] + const``.

    Factorised proofs state that a block's first-layer units see their inputs only through a
    few forms; see :mod:`verify.methods.factorised`.
    """

    name: str
    coeffs: Mapping[str, int]
    const: int = 0


@dataclass(frozen=True, eq=False)
class Factorisation:
    """The data a factorised proof needs: the forms, and the spec through the forms.

    ``forms`` lists the affine forms; ``form_spec(values)`` gives the expected outputs from the
    values of the forms alone (by form name). The factorised engine proves (1) every first-layer
    unit is an affine function of one form, symbolically; (2) the reduced network over the forms'
    range equals ``form_spec``; (3) ``form_spec(forms(x)) == spec(x)`` for every x of the domain,
    a lemma about the specs alone, proved by z3 over bit-vectors.
    """

    forms: tuple[Form, ...]
    form_spec: Spec
    groups: tuple[tuple[str, ...], ...] = ()  # outputs checked together; default: per output
    split: tuple[str, ...] = ()  # control inputs to case-split on instead (methods.casesplit)
    split_from: int = 0  # use the split when the domain has more than this many points


@dataclass(frozen=True, eq=False)
class Obligation:
    """``network(x) == spec(x)`` on every outputs name, for every x in ``domain``.

    ``batch_exact`` declares that the spec, when it cannot run on intervals, is still exact on
    batches of Python ints (object arrays): it computes in object arithmetic only, or in an
    arithmetic it proves exact itself (:func:`verify.fold.fold_obligation`). Without it such a
    spec is evaluated point by point in the exhaustive engine.
    """

    name: str
    network: Network
    domain: Domain
    spec: Spec
    bounds: Mapping[str, int] = field(default_factory=dict)
    outputs: tuple[str, ...] | None = None
    factorisation: Factorisation | None = None
    note: str = ""
    batch_exact: bool = False

    def __post_init__(self) -> None:
        net_in = set(self.network.inputs.names)
        dom = set(self.domain.names)
        if net_in != dom:
            extra = sorted(dom - net_in)[:3]
            missing = sorted(net_in - dom)[:3]
            raise LayoutError(
                f"obligation {self.name}: domain and network inputs differ "
                f"(domain only: {extra}, network only: {missing})"
            )
        if not self.checked_outputs:
            # Nothing to compare would make every engine prove it: refuse it instead.
            raise ParameterError(f"obligation {self.name}: outputs", self.checked_outputs,
                                 "at least one output to check")
        for o in self.checked_outputs:
            self.network.outputs.index(o)

    @property
    def checked_outputs(self) -> tuple[str, ...]:
        """The outputs the spec constrains (default: every network output)."""
        return self.outputs if self.outputs is not None else self.network.outputs.names
