"""Domains: enumeration yields each member once, z3 constraints admit exactly the members."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verify import ops
from verify.domains import Bits, Constrained, Domain, IntRange, OneHot, Product, Word, product
from verify.errors import ParameterError


def _rows(dom: Domain, chunk: int = 1 << 16) -> list[tuple[int, ...]]:
    """Every enumerated row of the domain's box, in order."""
    return [tuple(int(v) for v in row) for rows in dom.chunks(chunk) for row in rows]


def _members(dom: Domain, chunk: int = 1 << 16) -> list[tuple[int, ...]]:
    """The enumerated rows the domain accepts."""
    out = []
    for rows in dom.chunks(chunk):
        cols = {n: rows[:, i] for i, n in enumerate(dom.names)}
        ok = np.broadcast_to(np.asarray(dom.accept(cols), dtype=bool), (len(rows),))
        out.extend(tuple(int(v) for v in row) for row, keep in zip(rows, ok, strict=True) if keep)
    return out


def _z3_models(dom: Domain, limit: int) -> set[tuple[int, ...]]:
    """All solutions of the domain's z3 constraints (at most ``limit`` + 1 are looked for)."""
    import z3

    ctx = z3.Context()
    v = {n: z3.Int(n, ctx) for n in dom.names}
    s = z3.Solver(ctx=ctx)
    s.add(*dom.z3_constraints(v))
    found: set[tuple[int, ...]] = set()
    while len(found) <= limit and s.check() == z3.sat:
        m = s.model()
        point = tuple(m.eval(v[n], model_completion=True).as_long() for n in dom.names)
        found.add(point)
        s.add(z3.Or(*[v[n] != p for n, p in zip(dom.names, point, strict=True)]))
    return found


def _odd_weight(v: Mapping[str, Any]) -> Any:
    """An odd number of the bits a, b, c is set (written once, run on every backend)."""
    return (v["a"] + v["b"] + v["c"]) % 2 == 1


def _small_domains() -> dict[str, tuple[Domain, list[tuple[int, ...]]]]:
    """Small domains with their members written out independently, via itertools."""
    bits4 = list(itertools.product((0, 1), repeat=4))
    lsb_first = [tuple(reversed(t)) for t in bits4]  # index i has bit j = (i >> j) & 1
    onehot = [tuple(int(i == k) for i in range(5)) for k in range(5)]
    ints = [(x,) for x in range(-3, 5)]
    bits2 = [tuple(reversed(t)) for t in itertools.product((0, 1), repeat=2)]
    prod = [(*b, z) for z, b in itertools.product(range(-1, 2), bits2)]
    odd = [t for t in (tuple(reversed(u)) for u in itertools.product((0, 1), repeat=3))
           if sum(t) % 2 == 1]
    onehot3 = [tuple(int(i == k) for i in range(3)) for k in range(3)]
    mixed = [(*oh, w) for w, oh in itertools.product(range(3), onehot3)]
    return {
        "bits": (Bits(("p", "q", "r", "s")), lsb_first),
        "word": (Word("X", 4), lsb_first),
        "onehot": (OneHot(tuple(f"h{i}" for i in range(5))), onehot),
        "intrange": (IntRange("x", -3, 4), ints),
        "product": (Product((Word("Y", 2), IntRange("z", -1, 1))), prod),
        "constrained": (Constrained(Bits(("a", "b", "c")), _odd_weight, "a+b+c odd"), odd),
        "onehot*intrange": (product(OneHot(("u0", "u1", "u2")), IntRange("w", 0, 2)), mixed),
        "constrained-in-product": (
            product(Constrained(Bits(("a", "b", "c")), _odd_weight, "odd"), IntRange("k", 5, 6)),
            [(*t, k) for k, t in itertools.product((5, 6), odd)],
        ),
    }


DOMAINS = _small_domains()


@pytest.mark.parametrize("key", sorted(DOMAINS))
def test_enumeration_yields_every_member_exactly_once(key: str) -> None:
    dom, expected = DOMAINS[key]
    got = _members(dom)
    assert Counter(got) == Counter(expected)
    assert max(Counter(got).values()) == 1
    # The box is enumerated completely, once, in index order.
    box = _rows(dom)
    assert len(box) == dom.count == len(set(box))


@pytest.mark.parametrize("key", sorted(DOMAINS))
@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_chunking_does_not_change_the_enumeration(key: str, chunk: int) -> None:
    dom, _ = DOMAINS[key]
    assert _rows(dom, chunk) == _rows(dom)
    assert [tuple(r) for rows in dom.chunks(2, start=1, stop=4) for r in rows.tolist()] == \
        _rows(dom)[1:4]


@pytest.mark.parametrize("key", sorted(DOMAINS))
def test_z3_constraints_admit_exactly_the_members(key: str) -> None:
    dom, expected = DOMAINS[key]
    assert _z3_models(dom, limit=len(expected)) == set(expected)


@pytest.mark.parametrize("key", sorted(DOMAINS))
def test_the_box_contains_every_member(key: str) -> None:
    dom, expected = DOMAINS[key]
    box = dom.box()
    assert len(box) == len(dom.names)
    for point in expected:
        assert all(lo <= v <= hi for v, (lo, hi) in zip(point, box, strict=True))


@pytest.mark.parametrize("key", sorted(DOMAINS))
def test_strategy_draws_only_members(key: str) -> None:
    dom, expected = DOMAINS[key]
    members = set(expected)

    @settings(max_examples=60, deadline=None)
    @given(dom.strategy())
    def check(point: dict[str, int]) -> None:
        assert set(point) == set(dom.names)
        assert tuple(point[n] for n in dom.names) in members
        assert bool(dom.accept(point))

    check()


def test_bits_order_is_lsb_first() -> None:
    dom = Word("PC", 3)
    assert dom.names == ("PC.bit[0]", "PC.bit[1]", "PC.bit[2]")
    assert dom.words() == {"PC": dom.names}
    rows = dom.decode(np.arange(8, dtype=np.int64))
    assert [ops.word(list(r)) for r in rows.tolist()] == list(range(8))


def test_product_varies_the_first_factor_fastest() -> None:
    dom = Product((IntRange("a", 0, 2), IntRange("b", 10, 11)))
    assert _rows(dom) == [(0, 10), (1, 10), (2, 10), (0, 11), (1, 11), (2, 11)]
    assert dom.count == 6 and dom.box() == [(0, 2), (10, 11)]


def test_product_of_words_keeps_their_words_and_counts_big() -> None:
    dom = product(Word("X", 40), Word("Y", 40), IntRange("z", 0, 2))
    assert dom.count == 3 << 80  # counted exactly, never enumerated
    assert set(dom.words()) == {"X", "Y"}
    assert product(IntRange("z", 0, 2)) == IntRange("z", 0, 2)
    assert "where" in Constrained(Word("X", 2), _odd_weight, "odd").describe()


def test_constrained_keeps_the_box_of_its_base() -> None:
    base = Bits(("a", "b", "c"))
    dom = Constrained(base, _odd_weight, "odd")
    assert dom.count == base.count == 8  # coverage is counted over the box
    assert dom.box() == base.box() and dom.names == base.names
    assert bool(dom.accept({"a": 1, "b": 0, "c": 0}))
    assert not bool(dom.accept({"a": 1, "b": 1, "c": 0}))


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda: Word("X", 0), "bits=0: need bits >= 1"),
        (lambda: Bits(()), "names=(): need at least one coordinate"),
        (lambda: OneHot(()), "names=(): need at least one coordinate"),
        (lambda: IntRange("x", 3, 2), "hi=2: need hi >= lo = 3"),
        (lambda: Product((Bits(("a",)), IntRange("a", 0, 1))), "factors='a': need disjoint"),
        (lambda: Product(()), "factors=(): need at least one factor"),
    ],
)
def test_bad_domains_name_the_parameter(make: Callable[[], Domain], text: str) -> None:
    with pytest.raises(ParameterError) as e:
        make()
    assert text in str(e.value)


@settings(max_examples=50, deadline=None)
@given(st.integers(-20, 20), st.integers(0, 12), st.integers(1, 4))
def test_intrange_and_bits_enumerate_like_itertools(lo: int, span: int, nbits: int) -> None:
    dom = product(IntRange("x", lo, lo + span), Bits(tuple(f"b{i}" for i in range(nbits))))
    want = [(x, *reversed(b)) for b, x in itertools.product(
        itertools.product((0, 1), repeat=nbits), range(lo, lo + span + 1))]
    assert sorted(_rows(dom)) == sorted(want)
    assert len(_rows(dom)) == dom.count


@pytest.mark.parametrize("make", [lambda: Bits(("a", "b", "a")), lambda: OneHot(("h", "h"))],
                         ids=["bits", "onehot"])
def test_a_coordinate_named_twice_is_refused(make: Callable[[], Domain]) -> None:
    # Two columns of one name could hold different values: the network would read one and the
    # spec the other, and a one-hot sum over h + h = 1 has no solution at all.
    with pytest.raises(ParameterError, match="need distinct coordinate names"):
        make()


@pytest.mark.parametrize(("lo", "hi"), [(0.5, 3), (0, 2.0), (True, 3)])
def test_intrange_bounds_must_be_integers(lo: Any, hi: Any) -> None:
    with pytest.raises(ParameterError, match="need an integer"):
        IntRange("x", lo, hi)


@pytest.mark.parametrize("key", sorted(DOMAINS))
def test_contains_is_exactly_membership(key: str) -> None:
    """Every point of a box around the domain's box: members in, everything else out."""
    dom, expected = DOMAINS[key]
    members = set(expected)
    around = [range(lo - 1, hi + 2) for lo, hi in dom.box()]
    for point in itertools.product(*around):
        assert dom.contains(dict(zip(dom.names, point, strict=True))) == (point in members)


@pytest.mark.parametrize("lo", [(1 << 63) - 3, -(1 << 63) - 2, 1 << 80, -(1 << 80)])
def test_decoding_beyond_int64_is_exact(lo: int) -> None:
    dom = product(Bits(("b",)), IntRange("x", lo, lo + 5), IntRange("y", -1, 0))
    rows = _rows(dom, chunk=5)
    want = [(b, x, y) for y, x, b in itertools.product(range(-1, 1), range(lo, lo + 6),
                                                       range(2))]
    assert rows == want


def test_decoding_a_factor_wider_than_int64_indexes_exactly() -> None:
    dom = product(Bits(("b",)), IntRange("x", 0, 1 << 70))
    rows = dom.decode(np.arange(0, 6, dtype=np.int64))
    assert [tuple(int(v) for v in r) for r in rows] == [(i % 2, i // 2) for i in range(6)]


def test_term_bounds_cover_every_value_of_the_constraints() -> None:
    assert Bits(("a", "b")).term_bound() == 1
    assert OneHot(tuple(f"h{i}" for i in range(20))).term_bound() == 20
    assert IntRange("x", -(1 << 70), 3).term_bound() == 1 << 70
    wide = Constrained(Bits(("a", "b", "c")), lambda v: v["a"] * (1 << 40) * 3 >= 1, "wide")
    bound = wide.term_bound()
    assert bound is not None and bound >= 3 << 40
    assert product(Word("X", 2), wide).term_bound() == bound
    # A predicate that cannot run on intervals (``%``) has no bound: no bit-vector width, and
    # the enumeration evaluates it on Python ints.
    mod = Constrained(Bits(("a", "b", "c")), lambda v: (v["a"] + v["b"]) % 2 == 0, "even")
    assert mod.term_bound() is None
    assert product(mod, IntRange("k", 0, 1)).term_bound() is None
