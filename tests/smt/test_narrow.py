"""Bit-vector narrowing (verify/methods/narrow.py) against z3's own reading of the original
query: random terms of every operator the pass knows (and some it does not), compared at every
point of a small domain and by an equivalence query; and the lemma it exists for."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from verify.methods.narrow import narrow

WIDTHS = (1, 3, 4, 6)


class _Maker:
    """Random bit-vector terms over three variables, from a seeded generator."""

    def __init__(self, seed: int, ctx: z3.Context) -> None:
        self.r = random.Random(seed)
        self.ctx = ctx
        self.vars = [z3.BitVec(f"x{j}", self.r.choice((2, 3)), ctx) for j in range(3)]

    def fit(self, e: Any, w: int) -> Any:
        """``e`` made ``w`` bits wide (extended or cut, both ways)."""
        n = e.size()
        if n == w:
            return e
        if n > w:
            lo = self.r.randint(0, n - w)
            return z3.Extract(lo + w - 1, lo, e)
        return (z3.ZeroExt if self.r.random() < 0.5 else z3.SignExt)(w - n, e)

    def bv(self, w: int, depth: int) -> Any:
        r = self.r
        if depth == 0 or r.random() < 0.15:
            if r.random() < 0.3:
                return z3.BitVecVal(r.randrange(1 << w), w, self.ctx)
            return self.fit(r.choice(self.vars), w)
        a = self.bv(w, depth - 1)
        pick = r.randrange(17)
        if pick < 6:
            b = self.bv(w, depth - 1)
            return [a + b, a - b, a * b, a & b, a | b, a ^ b][pick]
        if pick == 6:
            return -a
        if pick == 7:
            return ~a
        if pick == 8 and w > 1:
            k = r.randint(1, w - 1)
            return z3.Concat(self.bv(w - k, depth - 1), self.bv(k, depth - 1))
        if pick == 9:
            wide = self.bv(w + r.randint(1, 4), depth - 1)
            return self.fit(wide, w)
        if pick == 10:
            return a << r.randrange(w + 2)
        if pick == 11:
            return z3.LShR(a, r.randrange(w + 2))
        if pick == 12:
            return a >> r.randrange(w + 2)  # arithmetic
        if pick == 13:
            return z3.If(self.boolean(depth - 1), a, self.bv(w, depth - 1))
        if pick == 14:  # operators the pass does not know: kept whole, cut after
            return [z3.UDiv, z3.URem, z3.SRem][r.randrange(3)](a, self.bv(w, depth - 1))
        if pick == 15:
            return a & z3.BitVecVal(r.randrange(1 << w), w, self.ctx)
        return a << self.bv(w, depth - 1)  # a shift by a term, not a numeral

    def masked(self, w: int, depth: int) -> Any:
        """A term, often with high bits known to be zero (what the pass narrows on)."""
        r = self.r
        a = self.bv(w, depth)
        pick = r.randrange(6)
        if pick == 0:
            return z3.LShR(a, r.randrange(w + 1))
        if pick == 1:
            return a & z3.BitVecVal(r.randrange(1 << w), w, self.ctx)
        if pick == 2 and w > 1:
            k = r.randint(1, w - 1)
            return z3.ZeroExt(k, self.bv(w - k, depth))
        if pick == 3 and w > 1:
            k = r.randint(1, w - 1)
            return z3.Concat(z3.BitVecVal(0, k, self.ctx), self.bv(w - k, depth))
        if pick == 4:
            return z3.If(self.boolean(depth - 1), z3.LShR(a, 1), a & 1)
        return a

    def boolean(self, depth: int) -> Any:
        r = self.r
        w = r.choice(WIDTHS)
        pick = r.randrange(8)
        if pick == 7:  # a term against a small numeral: only the term's known zeros narrow it
            a = self.masked(w, max(depth, 1))
            return a == z3.BitVecVal(r.randrange(1 << r.randint(0, w)), w, self.ctx)
        if depth <= 0 or pick < 3:
            a, b = self.masked(w, max(depth, 1)), self.masked(w, max(depth, 1))
            return [a == b, a != b, z3.ULT(a, b)][pick % 3]
        if pick == 3:
            return z3.And(self.boolean(depth - 1), self.boolean(depth - 1))
        if pick == 4:
            return z3.Or(self.boolean(depth - 1), z3.Not(self.boolean(depth - 1)))
        if pick == 5:
            return z3.Xor(self.boolean(depth - 1), self.boolean(depth - 1))
        return z3.Implies(self.boolean(depth - 1), self.boolean(depth - 1))


def _value(e: Any, point: list[tuple[Any, Any]]) -> bool:
    got = z3.simplify(z3.substitute(e, *point))
    assert z3.is_true(got) or z3.is_false(got), got
    return z3.is_true(got)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1))
def test_narrowed_query_has_the_same_truth_value_everywhere(seed: int) -> None:
    ctx = z3.Context()
    m = _Maker(seed, ctx)
    queries = [m.boolean(3) for _ in range(2)]
    narrowed = narrow(queries)
    for q, n in zip(queries, narrowed):
        # At every point of the variables' (small) domain, by z3's evaluation of each term.
        ranges = [range(1 << v.size()) for v in m.vars]
        for values in itertools.product(*ranges):
            point = [(v, z3.BitVecVal(x, v.size(), ctx)) for v, x in zip(m.vars, values)]
            assert _value(q, point) == _value(n, point), (seed, q, n, values)
        # And as one query: no assignment where the two differ.
        s = z3.Solver(ctx=ctx)
        s.add(q != n)
        assert s.check() == z3.unsat, (seed, q, n)


def test_equality_of_masked_bits_is_cut_to_the_bits_that_can_differ() -> None:
    ctx = z3.Context()
    x, y = z3.BitVec("x", 64, ctx), z3.BitVec("y", 64, ctx)
    q = (z3.LShR(x + y, 5) & 1) == (z3.LShR(x - y, 5) & 1)
    (n,) = narrow([q])
    # Bit 5 of a sum needs bits 0..5 of its operands: nothing of 64 bits is left.
    assert "64" not in str(n.children()[0].sort())
    sizes = {t.size() for t in _terms(n) if z3.is_bv(t) and not t.eq(x) and not t.eq(y)}
    assert max(sizes) <= 6, sizes  # only the variables keep their 64 bits
    s = z3.Solver(ctx=ctx)
    s.add(q != n)
    assert s.check() == z3.unsat


def _terms(e: Any) -> list[Any]:
    out, stack, seen = [], [e], set()
    while stack:
        t = stack.pop()
        if t.get_id() in seen:
            continue
        seen.add(t.get_id())
        out.append(t)
        stack.extend(t.children())
    return out


def test_a_difference_above_the_compared_bits_still_counts() -> None:
    # x & 0xF0 == y & 0xF0: the high nibble is compared, the low nibble is not.
    ctx = z3.Context()
    x, y = z3.BitVec("x", 8, ctx), z3.BitVec("y", 8, ctx)
    (n,) = narrow([(x & 0xF0) == (y & 0xF0)])
    s = z3.Solver(ctx=ctx)
    s.add(n, x == 0x10, y == 0x20)
    assert s.check() == z3.unsat
    s = z3.Solver(ctx=ctx)
    s.add(n, x == 0x1A, y == 0x1B)
    assert s.check() == z3.sat


@pytest.mark.parametrize("bits", [8, 64])
def test_subtract_lemma_narrowed_is_decided_and_a_wrong_one_refuted(bits: int) -> None:
    ctx = z3.Context()
    w = bits + 3
    a = [z3.BitVec(f"a{i}", w, ctx) for i in range(bits)]
    b = [z3.BitVec(f"b{i}", w, ctx) for i in range(bits)]
    dom = [c for x in a + b for c in (x >= 0, x <= 1)]
    da = sum(((1 << i) * x for i, x in enumerate(a)), z3.BitVecVal(0, w, ctx))
    db = sum(((1 << i) * x for i, x in enumerate(b)), z3.BitVecVal(0, w, ctx))
    r = (db - da) & ((1 << bits) - 1)

    def prefix(i: int, offset: int) -> Any:
        s = z3.BitVecVal(offset, w, ctx)
        for j in range(i + 1):
            s = s + (1 << j) * b[j] - (1 << j) * a[j]
        return s

    good = [(z3.LShR(r, i) & 1) != (z3.LShR(prefix(i, 1 << (i + 1)), i) & 1) for i in range(bits)]
    s = z3.Solver(ctx=ctx)
    s.add(narrow([*dom, z3.Or(*good)]))
    assert s.check() == z3.unsat
    # The offset of the top bit's prefix sum wrong by 2^bits: bit `bits-1` is unchanged, so
    # still unsat; by 2^(bits-1) it flips that bit, and the narrowed query must find it.
    for offset, verdict in ((1 << bits) + (1 << bits), z3.unsat), ((1 << (bits - 1)), z3.sat):
        bad = good[:-1] + [(z3.LShR(r, bits - 1) & 1)
                           != (z3.LShR(prefix(bits - 1, offset), bits - 1) & 1)]
        s = z3.Solver(ctx=ctx)
        s.add(narrow([*dom, z3.Or(*bad)]))
        assert s.check() == verdict
        if verdict == z3.sat:  # the model is one of the original query too
            model = s.model()
            s2 = z3.Solver(ctx=ctx)
            s2.add(*dom, z3.Or(*bad))
            s2.add(*[v == model.eval(v, model_completion=True) for v in a + b])
            assert s2.check() == z3.sat


def test_cvc5_is_given_the_statement_as_it_was_and_the_others_the_narrowed_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import verify.methods.solvers as solvers

    ctx = z3.Context()
    x, y = z3.BitVec("x", 16, ctx), z3.BitVec("y", 16, ctx)
    plain = [(z3.LShR(x + y, 3) & 1) != (z3.LShR(y + x, 3) & 1)]
    f = solvers.Formulation(narrow(plain), {"x": x, "y": y}, plain)
    seen: dict[str, str] = {}

    def fake(name: str) -> Any:
        def answer(text: str, variables: Any, timeout: float) -> solvers.Answer:
            seen[name] = text
            return solvers.Answer(name, "unsat", 0.0)
        return answer

    monkeypatch.setattr(solvers, "_cvc5", fake("cvc5"))
    monkeypatch.setattr(solvers, "_bitwuzla", fake("bitwuzla"))
    monkeypatch.setattr(solvers, "require_cvc5", lambda: None)
    monkeypatch.setattr(solvers, "require_bitwuzla", lambda: None)
    for pair in (("z3", "cvc5"), ("z3", "bitwuzla")):
        d = solvers.decide_any([f], what="t", timeout=5, solvers=pair)
        assert d.status == "unsat"
    assert "extract" not in seen["cvc5"] and "bvlshr" in seen["cvc5"]
    assert "extract" in seen["bitwuzla"]
