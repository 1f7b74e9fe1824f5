"""Bit-vector narrowing (verify/methods/narrow.py) on the terms its own fuzz test does not make:
n-ary operators as z3's parser and simplifier build them, three-way distinct, Boolean equality,
shifts by numerals at and beyond the width, arithmetic shifts, rotations, repetitions,
``bvcomp``, conversions through the integers, unsigned comparisons and numerals over 64 bits.
Each narrowed query must have exactly the original's models (an equivalence query)."""

from __future__ import annotations

import random
from typing import Any

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from verify.methods.narrow import narrow

ONES70 = f"(_ bv{(1 << 70) - 1} 70)"  # a numeral wider than 64 bits
# Hand-written SMT-LIB, each a Boolean over x, y, z (8 bits) and w (70 bits): one per shape.
DECLS = ("(declare-const x (_ BitVec 8)) (declare-const y (_ BitVec 8)) "
         "(declare-const z (_ BitVec 8)) (declare-const w (_ BitVec 70)) "
         "(declare-const p Bool) (declare-const q Bool)")
CASES = [
    "(= ((_ extract 2 0) (bvadd x y z #x81)) ((_ extract 2 0) (bvmul x y z)))",
    "(= (bvand (bvadd x y z) #x0f) (bvand (bvsub x y) #x0f))",
    "(= (bvand (bvmul x y z #x03) #x01) (bvand (bvneg z) #x01))",
    "(= (concat #x0 ((_ extract 3 0) x) #x00) (concat #x00 (bvand y #x0f)))",
    "(distinct (bvand x #x03) (bvand y #x03) (bvand z #x03))",
    "(distinct (bvlshr x #x06) (bvand y #x03))",
    "(= (bvshl x #x08) (bvand y #x00))",
    "(= (bvshl x #xff) #x00)",
    "(= (bvlshr x #x08) (bvlshr y #x09))",
    "(= (bvand (bvashr x #x07) #x01) (bvand (bvashr y #x08) #x01))",
    "(= (bvand (bvashr x #x03) #x07) (bvand y #x07))",
    "(= (bvashr x #x04) (bvlshr y #x04))",
    "(= ((_ sign_extend 8) x) ((_ zero_extend 8) y))",
    "(= (bvand ((_ rotate_left 3) x) #x07) (bvand y #x07))",
    "(= (bvand ((_ rotate_right 9) x) #x01) (bvand y #x01))",
    "(= (bvand ((_ repeat 2) x) #x00ff) (concat #x00 y))",
    "(= (bvcomp x y) (bvcomp y z))",
    "(= (bvand ((_ sign_extend 8) x) #x0f00) (bvand (concat y z) #x0f00))",
    "(= ((_ extract 0 0) ((_ extract 5 2) x)) ((_ extract 2 2) y))",
    "(= (bvand ((_ int2bv 8) (+ (bv2nat x) 1)) #x01) (bvand (bvadd y #x01) #x01))",
    "(bvule (bvand x #x0f) (bvand (bvadd y z) #x0f))",
    "(bvslt (bvand x #x0f) (bvlshr y #x04))",
    "(= (= (bvand x #x01) #x01) (= (bvand y #x01) #x00))",
    "(= p (= (bvand x #x03) (bvand y #x03)))",
    "(ite (= (bvand x #x01) #x00) (= (bvand y #x03) #x01) (= (bvadd x y) z))",
    "(= (ite p (bvand x #x0f) (bvlshr y #x04)) (ite q z #x00))",
    f"(= (bvand w {ONES70}) ((_ zero_extend 46) (bvand (concat x y z) #x0ffff0)))",
    f"(= ((_ extract 68 60) (bvadd w {ONES70})) ((_ extract 68 60) (bvsub w (_ bv1 70))))",
    "(= (bvand (bvlshr w (_ bv66 70)) (_ bv3 70)) ((_ zero_extend 62) (bvlshr x #x06)))",
    "(= (bvand (bvudiv x y) #x01) (bvand (bvurem z y) #x01))",
    "(= (bvand (bvsdiv x #x03) #x03) (bvand (bvsmod y #xfd) #x03))",
    "(= (bvand (bvsrem x z) #x01) #x01)",
    "(and (= (bvand x #x01) (bvand y #x01)) (not (= (bvadd x y) (bvmul x #x02))))",
]


def _equivalent(q: Any) -> None:
    (n,) = narrow([q])
    s = z3.Solver(ctx=q.ctx)
    s.add(z3.Xor(q, n))
    assert s.check() == z3.unsat, (q, n, s.model())


@pytest.mark.parametrize("text", CASES)
def test_hand_written_query_keeps_its_models(text: str) -> None:
    ctx = z3.Context()
    (q,) = z3.parse_smt2_string(f"{DECLS} (assert {text})", ctx=ctx)
    _equivalent(q)


def test_several_assertions_sharing_terms_at_different_widths() -> None:
    ctx = z3.Context()
    x, y = z3.BitVec("x", 16, ctx), z3.BitVec("y", 16, ctx)
    s = x * y + x
    qs = [(s & 1) == (y & 1), z3.ULT(s, y), z3.Extract(9, 3, s) == z3.Extract(6, 0, x)]
    narrowed = narrow(qs)
    for q, n in zip(qs, narrowed):
        solver = z3.Solver(ctx=ctx)
        solver.add(z3.Xor(q, n))
        assert solver.check() == z3.unsat, (q, n)


def _simplified(seed: int, ctx: z3.Context) -> Any:
    """A random query through z3's simplifier, which makes n-ary sums, products, bitwise
    operations and concatenations, and its own forms of negation and extraction."""
    r = random.Random(seed)
    v = [z3.BitVec(f"v{i}", r.choice((3, 5, 9)), ctx) for i in range(3)]

    def term(w: int, depth: int) -> Any:
        if depth == 0 or r.random() < 0.2:
            x = r.choice(v)
            if x.size() > w:
                return z3.Extract(w - 1, 0, x)
            return z3.ZeroExt(w - x.size(), x) if x.size() < w else x
        a, b, c = (term(w, depth - 1) for _ in range(3))
        pick = r.randrange(8)
        return [a + b + c, a * b * c, a & b & ~c, a | b ^ c, a - b - c,
                z3.LShR(a, r.randrange(w + 1)) & (r.randrange(1 << w)),
                z3.If(z3.ULE(a, b), a << r.randrange(w + 1), c),
                z3.RotateLeft(a, r.randrange(2 * w)) ^ b][pick]

    w = r.choice((4, 8))
    a, b = term(w, 3), term(w, 3)
    mask = r.randrange(1 << w)
    q = z3.Or((a & mask) == (b & mask), z3.Distinct(a & 3, b & 3, (a + b) & 3))
    return z3.simplify(q)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1))
def test_simplified_queries_keep_their_models(seed: int) -> None:
    _equivalent(_simplified(seed, z3.Context()))
