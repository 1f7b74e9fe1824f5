"""Bit-vector narrowing: a query rewritten, equivalence by equivalence, so that each value is
computed only in the low bits that some comparison reads.

Two facts of modular arithmetic do the work. The low ``w`` bits of a sum, difference, product,
negation, bitwise operation, shift left, concatenation or extension depend only on the low ``w``
bits of its operands; and where both sides of an equality are known to be zero above bit ``m``
(a mask, a shift right, a zero extension: :meth:`_Narrower.active`), the equality holds exactly
when their low ``m`` bits agree. A lemma ``bit_i(S) == bit_i(R)`` over 67-bit sums then asks for
``i + 1``-bit sums: the solver bit-blasts adders of the width each bit needs, not of the query's.

The pass reads the query's graph once: each value's demand (the most low bits any reader needs)
is found from the comparisons down, then each value is built once at its demand, and a reader
that needs fewer bits takes an ``Extract`` of it. Every rule is an equivalence for every value
of the variables, so the rewritten query has exactly the models of the original; an operation
the rules do not know keeps its operands whole, and only its result is cut (by ``Extract``,
which is its definition).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verify.errors import InternalError

_ARITH = ("BADD", "BSUB", "BMUL", "BAND", "BOR", "BXOR")


class _Narrower:
    """One rewriting pass over a set of z3 Boolean assertions, on z3's own terms (the C API:
    a query of tens of thousands of terms is read and rebuilt in a fraction of a second).

    Every term made here gets a reference at once and gives it back in :meth:`release`."""

    def __init__(self, roots: Sequence[Any]) -> None:
        import z3

        self.z3 = z3
        self.ctx = roots[0].ctx
        self.c = self.ctx.ref()
        op = {name: getattr(z3, f"Z3_OP_{name}") for name in (
            *_ARITH, "BNEG", "BNOT", "CONCAT", "EXTRACT", "ZERO_EXT", "SIGN_EXT", "BSHL", "BLSHR",
            "BASHR", "ITE", "EQ", "DISTINCT", "BNUM")}
        self.op = op
        self.makers = {  # the binary operations rebuilt operand by operand
            op["BADD"]: z3.Z3_mk_bvadd, op["BSUB"]: z3.Z3_mk_bvsub, op["BMUL"]: z3.Z3_mk_bvmul,
            op["BAND"]: z3.Z3_mk_bvand, op["BOR"]: z3.Z3_mk_bvor, op["BXOR"]: z3.Z3_mk_bvxor}
        self.made: list[Any] = []
        # Per term id: the term, its operands, its operator (-1 for none), its width (0: not a
        # bit-vector), its numeral value (None: not a numeral).
        self.term: dict[int, Any] = {}
        self.args: dict[int, list[int]] = {}
        self.kind: dict[int, int] = {}
        self.width: dict[int, int] = {}
        self.value: dict[int, int | None] = {}
        self.order: list[int] = []  # operands before the terms that read them
        self._collect([r.as_ast() for r in roots])
        self.act: dict[int, int] = {}
        for i in self.order:
            if self.width[i]:
                self.act[i] = min(self._active(i), self.width[i])
        self.demand: dict[int, int] = {}  # bit-vectors: low bits needed; others: 1
        for r in roots:
            self._need(self._id(r.as_ast()), 1)
        for i in reversed(self.order):  # every reader before what it reads
            if i in self.demand:
                self._demands(i, self.demand[i])
        self.built: dict[int, Any] = {}
        self.same: set[int] = set()  # terms rebuilt as they were
        for i in self.order:
            if i in self.demand:
                self.built[i] = self._build(i)

    # -- z3's terms -----------------------------------------------------------------------
    def _id(self, a: Any) -> int:
        return int(self.z3.Z3_get_ast_id(self.c, a))

    def _keep(self, a: Any) -> Any:
        if not a:
            raise InternalError("narrowing: z3 made no term")
        self.z3.Z3_inc_ref(self.c, a)
        self.made.append(a)
        return a

    def release(self) -> None:
        for a in self.made:
            self.z3.Z3_dec_ref(self.c, a)
        self.made.clear()

    def _collect(self, roots: list[Any]) -> None:
        z3, c = self.z3, self.c
        stack: list[tuple[Any, bool]] = [(r, False) for r in reversed(roots)]
        while stack:
            a, done = stack.pop()
            i = self._id(a)
            if done:
                if i not in self.kind:
                    self._describe(i, a)
                continue
            if i in self.args:
                continue
            kids: list[Any] = []
            if z3.Z3_get_ast_kind(c, a) in (z3.Z3_APP_AST, z3.Z3_NUMERAL_AST):
                app = z3.Z3_to_app(c, a)
                kids = [z3.Z3_get_app_arg(c, app, j) for j in range(z3.Z3_get_app_num_args(c, app))]
            self.args[i] = [self._id(k) for k in kids]
            stack.append((a, True))
            stack.extend((k, False) for k in reversed(kids) if self._id(k) not in self.args)

    def _describe(self, i: int, a: Any) -> None:
        z3, c = self.z3, self.c
        self.term[i] = a
        self.order.append(i)
        sort = z3.Z3_get_sort(c, a)
        bv = z3.Z3_get_sort_kind(c, sort) == z3.Z3_BV_SORT
        self.width[i] = int(z3.Z3_get_bv_sort_size(c, sort)) if bv else 0
        k = -1
        if z3.Z3_get_ast_kind(c, a) in (z3.Z3_APP_AST, z3.Z3_NUMERAL_AST):
            k = int(z3.Z3_get_decl_kind(c, z3.Z3_get_app_decl(c, z3.Z3_to_app(c, a))))
        self.kind[i] = k
        self.value[i] = int(z3.Z3_get_numeral_string(c, a)) if bv and k == self.op["BNUM"] else None

    def _param(self, i: int, j: int) -> int:
        z3, c = self.z3, self.c
        return int(z3.Z3_get_decl_int_parameter(
            c, z3.Z3_get_app_decl(c, z3.Z3_to_app(c, self.term[i])), j))

    def _shift(self, i: int) -> int | None:
        """The shift amount of a shift term, when it is a numeral."""
        return self.value[self.args[i][1]]

    # -- how many low bits may be nonzero -------------------------------------------------
    def _active(self, i: int) -> int:
        """An upper bound on the number of low bits of term ``i`` that may be nonzero (read as
        unsigned): every bit at or above it is 0 whatever the variables are."""
        op, k, n = self.op, self.kind[i], self.width[i]
        value = self.value[i]
        if value is not None:
            return value.bit_length()
        args = self.args[i]
        act = [self.act.get(a, 0) for a in args]
        if k == op["BAND"]:
            return min(act)
        if k in (op["BOR"], op["BXOR"]):
            return max(act)
        if k == op["ZERO_EXT"]:
            return act[0]
        if k == op["CONCAT"]:
            # args[0] holds the high bits: the highest part with a nonzero bit sets the bound.
            below = n
            for a, high in zip(args, act):
                below -= self.width[a]
                if high:
                    return below + high
            return 0
        if k == op["EXTRACT"]:
            hi, lo = self._param(i, 0), self._param(i, 1)
            return max(0, min(hi - lo + 1, act[0] - lo))
        s = self._shift(i) if k in (op["BLSHR"], op["BSHL"]) else None
        if k == op["BLSHR"] and s is not None:
            return max(0, act[0] - s)
        if k == op["BSHL"] and s is not None:
            return 0 if s >= n else act[0] + s
        if k == op["ITE"]:
            return max(act[1], act[2])
        return n

    # -- what each term's readers need ----------------------------------------------------
    def _need(self, i: int, w: int) -> None:
        if self.demand.get(i, -1) < w:
            self.demand[i] = w

    def _whole(self, i: int) -> None:
        for a in self.args[i]:
            self._need(a, self.width[a] or 1)

    def _compared(self, i: int) -> int | None:
        """For an equality or disequality of two bit-vectors, the low bits that can differ."""
        args = self.args[i]
        if (self.kind[i] in (self.op["EQ"], self.op["DISTINCT"]) and len(args) == 2
                and self.width[args[0]]):
            return max(self.act[args[0]], self.act[args[1]])
        return None

    def _demands(self, i: int, d: int) -> None:
        op, k, n, args = self.op, self.kind[i], self.width[i], self.args[i]
        if not args:
            return
        if not n:
            m = self._compared(i)
            if m is None:
                self._whole(i)  # connectives and other atoms: every operand whole
            else:
                for a in args:
                    self._need(a, m)
            return
        if k in (*(op[x] for x in _ARITH), op["BNEG"], op["BNOT"]):
            for a in args:
                self._need(a, d)
        elif k == op["CONCAT"]:
            below = n
            for a in args:
                below -= self.width[a]
                self._need(a, min(self.width[a], max(0, d - below)))
        elif k == op["EXTRACT"]:
            self._need(args[0], self._param(i, 1) + d)
        elif k in (op["ZERO_EXT"], op["SIGN_EXT"]):
            self._need(args[0], min(d, self.width[args[0]]))
        elif k == op["BSHL"] and (s := self._shift(i)) is not None:
            self._need(args[0], max(0, d - s))
            self._need(args[1], self.width[args[1]])
        elif k in (op["BLSHR"], op["BASHR"]) and (s := self._shift(i)) is not None:
            self._need(args[0], s + d if s + d <= n else n)
            self._need(args[1], self.width[args[1]])
        elif k == op["ITE"]:
            self._need(args[0], 1)
            self._need(args[1], d)
            self._need(args[2], d)
        else:
            self._whole(i)

    # -- building -------------------------------------------------------------------------
    def _numeral(self, v: int, w: int) -> Any:
        z3, c = self.z3, self.c
        return self._keep(z3.Z3_mk_numeral(c, str(v & ((1 << w) - 1)), z3.Z3_mk_bv_sort(c, w)))

    def _cut(self, a: Any, w: int, width: int) -> Any:
        """The low ``w`` bits of the built term ``a`` of ``width`` bits."""
        return a if w == width else self._keep(self.z3.Z3_mk_extract(self.c, w - 1, 0, a))

    def get(self, a: int, w: int) -> Any:
        """The low ``w`` bits of operand ``a`` (``a`` rebuilt when ``w`` is its width)."""
        if not self.width[a]:
            return self.built[a]
        return self._cut(self.built[a], w, self.demand[a])

    def _build(self, i: int) -> Any:
        z3, c, op = self.z3, self.c, self.op
        args, k, n = self.args[i], self.kind[i], self.width[i]
        d = self.demand[i]
        if (all(a in self.same for a in args) and (not n or d == n)
                and self._compared(i) is None):
            self.same.add(i)
            return self.term[i]
        if not n:
            m = self._compared(i)
            if m is None:
                return self._rebuilt(i)
            if m == 0:
                same = self._keep(z3.Z3_mk_true(c))
            else:
                same = self._keep(z3.Z3_mk_eq(c, self.get(args[0], m), self.get(args[1], m)))
            return same if k == op["EQ"] else self._keep(z3.Z3_mk_not(c, same))
        if d == 0:  # nobody reads a bit of it (an equality of two zeros): any stand-in
            return self._numeral(0, 1)
        value = self.value[i]
        if value is not None:
            return self._numeral(value, d)
        if not args:
            return self._cut(self.term[i], d, n)
        mk = self.makers
        if k in mk:
            out = self.get(args[0], d)
            for a in args[1:]:
                out = self._keep(mk[k](c, out, self.get(a, d)))
            return out
        if k == op["BNEG"]:
            return self._keep(z3.Z3_mk_bvneg(c, self.get(args[0], d)))
        if k == op["BNOT"]:
            return self._keep(z3.Z3_mk_bvnot(c, self.get(args[0], d)))
        if k == op["CONCAT"]:
            out = None
            below = n
            for a in args:
                below -= self.width[a]
                take = min(self.width[a], max(0, d - below))
                if take:
                    part = self.get(a, take)
                    out = part if out is None else self._keep(z3.Z3_mk_concat(c, out, part))
            return out
        if k == op["EXTRACT"]:
            lo = self._param(i, 1)
            return self._keep(z3.Z3_mk_extract(c, lo + d - 1, lo, self.get(args[0], lo + d)))
        if k in (op["ZERO_EXT"], op["SIGN_EXT"]):
            x = args[0]
            if d <= self.width[x]:
                return self.get(x, d)
            ext = z3.Z3_mk_zero_ext if k == op["ZERO_EXT"] else z3.Z3_mk_sign_ext
            return self._keep(ext(c, d - self.width[x], self.get(x, self.width[x])))
        if k == op["BSHL"] and (s := self._shift(i)) is not None:
            if s >= d:
                return self._numeral(0, d)
            inner = self.get(args[0], d - s)
            return inner if s == 0 else self._keep(z3.Z3_mk_concat(c, inner, self._numeral(0, s)))
        if k in (op["BLSHR"], op["BASHR"]) and (s := self._shift(i)) is not None:
            if s + d <= n:  # bits s .. s+d-1 of the operand, all inside it
                return self._keep(z3.Z3_mk_extract(c, s + d - 1, s, self.get(args[0], s + d)))
        elif k == op["ITE"]:
            return self._keep(z3.Z3_mk_ite(c, self.get(args[0], 1), self.get(args[1], d),
                                           self.get(args[2], d)))
        # Anything else: the operation on its whole operands, then cut.
        return self._cut(self._rebuilt(i), d, n)

    def _rebuilt(self, i: int) -> Any:
        """Term ``i`` with its operands rebuilt whole (the term itself when none changed)."""
        z3, c = self.z3, self.c
        args = self.args[i]
        if all(a in self.same for a in args):
            return self.term[i]
        new = (z3.Ast * len(args))(*[self.get(a, self.width[a] or 1) for a in args])
        decl = z3.Z3_get_app_decl(c, z3.Z3_to_app(c, self.term[i]))
        return self._keep(z3.Z3_mk_app(c, decl, len(args), new))


def narrow(assertions: Sequence[Any]) -> list[Any]:
    """The z3 Boolean ``assertions`` with every bit-vector equality (and disequality) in their
    Boolean structure compared only on the bits that can differ, each term computed at the
    width its readers need: the same set of models."""
    import z3

    if not assertions:
        return []
    n = _Narrower(assertions)
    try:
        return [z3.BoolRef(n.built[n._id(a.as_ast())], n.ctx) for a in assertions]
    finally:
        n.release()
