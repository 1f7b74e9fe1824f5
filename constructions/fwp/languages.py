"""The formal languages as specs: per-prefix targets, enumerators and samplers.

A :class:`Language` is a machine over an alphabet: a start state, a transition, a validity test
(which symbols may follow; strings are restricted to valid ones) and the target class of every
non-empty prefix. Counter languages keep token counts as their state and write ``valid`` and
``target`` against :mod:`verify.ops`, so the same text runs on Python ints and on z3 terms.
Regular languages are given by a :class:`Dfa` (every string over the alphabet is valid).

Targets (as in Bhattamishra et al. 2020's generators):

* parity: 1 if the prefix has an even number of 1s; (aa)*: 1 iff the length is even;
  (abab)*: 1 iff the prefix is in (abab)*.
* a^n b^n: the set of allowed next symbols, one class each: {a,b}, {b}, {end}.
* a^n b^n c^n: {a,b}, {b}, {c}, {end}.
* Dyck-1: 1 if the stack is non-empty; shuffle-2: 2 [depth of () > 0] + [depth of [] > 0].
* reset Dyck-1: 1 iff the depth since the last reset symbol ``1`` is positive.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from verify.errors import LoopmlpError, ParameterError
from verify.ops import ite, logical_and, logical_or

Counts = tuple[Any, ...]


@dataclass(frozen=True)
class Dfa:
    """A complete DFA: ``delta[s][a]`` the next state, ``accept[s]`` the target class of s."""

    alphabet: tuple[str, ...]
    delta: tuple[tuple[int, ...], ...]
    accept: tuple[int, ...]
    start: int = 0

    def __post_init__(self) -> None:
        n = len(self.delta)
        if n == 0:
            raise ParameterError("dfa.states", 0, "at least one state")
        if len(self.accept) != n:
            raise ParameterError("dfa.accept", len(self.accept), f"{n} entries (one a state)")
        if not 0 <= self.start < n:
            raise ParameterError("dfa.start", self.start, f"a state in 0..{n - 1}")
        for s, row in enumerate(self.delta):
            if len(row) != len(self.alphabet):
                raise ParameterError(f"dfa.delta[{s}]", len(row),
                                     f"{len(self.alphabet)} entries (one per symbol)")
            for t in row:
                if not 0 <= t < n:
                    raise ParameterError(f"dfa.delta[{s}]", t, f"a state in 0..{n - 1}")
        for s, c in enumerate(self.accept):
            if c not in (0, 1):
                raise ParameterError(f"dfa.accept[{s}]", c, "0 or 1")

    @property
    def states(self) -> int:
        return len(self.delta)

    @staticmethod
    def from_json(doc: Any, where: str = "dfa") -> Dfa:
        """``{"alphabet": ["a", ...], "delta": [[...], ...], "accept": [0|1, ...], "start": 0}``."""
        if not isinstance(doc, dict):
            raise LoopmlpError(f"{where}: need a JSON object with alphabet, delta, accept")
        try:
            alphabet = tuple(str(a) for a in doc["alphabet"])
            delta = tuple(tuple(int(t) for t in row) for row in doc["delta"])
            accept = tuple(int(c) for c in doc["accept"])
            start = int(doc.get("start", 0))
        except (KeyError, TypeError, ValueError) as e:
            raise LoopmlpError(f"{where}: malformed DFA ({type(e).__name__}: {e}); need "
                               "alphabet, delta (a list of rows of ints), accept") from None
        if len(set(alphabet)) != len(alphabet) or any(len(a) != 1 for a in alphabet):
            raise LoopmlpError(f"{where}: alphabet {list(alphabet)}: need distinct single "
                               "characters")
        return Dfa(alphabet, delta, accept, start)


@dataclass(frozen=True)
class Language:
    """A language with per-prefix targets. ``state`` is a tuple (counts, or a DFA state)."""

    name: str
    alphabet: tuple[str, ...]
    classes: tuple[str, ...]
    start: tuple[Any, ...]
    step: Callable[[tuple[Any, ...], int], tuple[Any, ...]]
    valid: Callable[[tuple[Any, ...], int], Any]
    target: Callable[[tuple[Any, ...]], Any]
    counter: bool = False
    dfa: Dfa | None = None

    def encode(self, text: str) -> list[int]:
        """The token indices of ``text``; raises naming the first bad symbol or invalid prefix."""
        out: list[int] = []
        st = self.start
        for pos, ch in enumerate(text):
            if ch not in self.alphabet:
                raise LoopmlpError(f"string {text!r}: symbol {ch!r} at {pos} is not in the "
                                   f"alphabet {''.join(self.alphabet)!r} of {self.name}")
            a = self.alphabet.index(ch)
            if not self.valid(st, a):
                raise LoopmlpError(f"string {text!r}: {ch!r} at {pos} cannot follow "
                                   f"{text[:pos]!r} in {self.name}")
            st = self.step(st, a)
            out.append(a)
        return out

    def decode(self, tokens: Sequence[int]) -> str:
        return "".join(self.alphabet[t] for t in tokens)

    def targets(self, tokens: Sequence[int]) -> list[int]:
        """The target class after every prefix."""
        st = self.start
        out = []
        for a in tokens:
            st = self.step(st, a)
            out.append(int(self.target(st)))
        return out


# ---- counter languages -------------------------------------------------------------------------


def _add(n: Counts, a: int) -> Counts:
    return tuple(c + (1 if i == a else 0) for i, c in enumerate(n))


def dyck1() -> Language:
    """Dyck-1 over ``()``; target 1 iff the stack is non-empty."""
    return Language(
        "dyck1", ("(", ")"), ("empty", "open"), (0, 0), _add,
        lambda n, a: True if a == 0 else n[0] - n[1] >= 1,
        lambda n: ite(n[0] - n[1] >= 1, 1, 0), counter=True)


def anbn() -> Language:
    """a^n b^n (n >= 1) with the allowed-next-symbol classes {a,b}, {b}, {end}."""

    def valid(n: Counts, a: int) -> Any:
        return n[1] == 0 if a == 0 else n[1] < n[0]

    def target(n: Counts) -> Any:
        return ite(n[1] == 0, 0, ite(n[1] < n[0], 1, 2))

    return Language("anbn", ("a", "b"), ("a|b", "b", "end"), (0, 0), _add, valid, target,
                    counter=True)


def anbncn() -> Language:
    """a^n b^n c^n (n >= 1) with classes {a,b}, {b}, {c}, {end}."""

    def valid(n: Counts, a: int) -> Any:
        if a == 0:
            return logical_and(n[1] == 0, n[2] == 0)
        if a == 1:
            return logical_and(n[1] < n[0], n[2] == 0)
        return logical_and(n[1] == n[0], n[2] < n[1])

    def target(n: Counts) -> Any:
        return ite(n[1] == 0, 0, ite(n[1] < n[0], 1, ite(n[2] < n[1], 2, 3)))

    return Language("anbncn", ("a", "b", "c"), ("a|b", "b", "c", "end"), (0, 0, 0), _add,
                    valid, target, counter=True)


def shuffle2() -> Language:
    """The shuffle of two Dyck-1 languages over ``()[]``; class 2 [() open] + [[] open]."""

    def valid(n: Counts, a: int) -> Any:
        if a == 1:
            return n[0] - n[1] >= 1
        if a == 3:
            return n[2] - n[3] >= 1
        return True

    def target(n: Counts) -> Any:
        return ite(n[0] - n[1] >= 1, 2, 0) + ite(n[2] - n[3] >= 1, 1, 0)

    return Language("shuffle2", ("(", ")", "[", "]"), ("none", "[]", "()", "both"),
                    (0, 0, 0, 0), _add, valid, target, counter=True)


def reset_dyck1() -> Language:
    """Dyck-1 over ``()`` with a reset symbol ``1``; state: the depth since the last reset."""

    def step(s: tuple[Any, ...], a: int) -> tuple[Any, ...]:
        return (0,) if a == 2 else (s[0] + (1 if a == 0 else -1),)

    return Language(
        "reset-dyck1", ("(", ")", "1"), ("zero", "positive"), (0,), step,
        lambda s, a: True if a != 1 else s[0] >= 1,
        lambda s: ite(s[0] >= 1, 1, 0))


# ---- regular languages -------------------------------------------------------------------------


def from_dfa(name: str, dfa: Dfa) -> Language:
    """The language of a DFA: every string is valid, the target is the class of the state."""
    return Language(name, dfa.alphabet, ("reject", "accept"), (dfa.start,),
                    lambda s, a: (dfa.delta[s[0]][a],), lambda s, a: True,
                    lambda s: dfa.accept[s[0]], dfa=dfa)


PARITY_DFA = Dfa(("0", "1"), ((0, 1), (1, 0)), (1, 0))
AA_DFA = Dfa(("a",), ((1,), (0,)), (1, 0))
# (abab)*: states 0..3 count the position in abab, 4 is dead.
ABAB_DFA = Dfa(("a", "b"), ((1, 4), (4, 2), (3, 4), (4, 0), (4, 4)), (1, 0, 0, 0, 0))


def parity() -> Language:
    return from_dfa("parity", PARITY_DFA)


def aa_star() -> Language:
    return from_dfa("aa-star", AA_DFA)


def abab_star() -> Language:
    return from_dfa("abab-star", ABAB_DFA)


def counter_invariant(name: str) -> Callable[[Counts], Any]:
    """An inductive invariant over the counts of the valid prefixes of a counter language (its
    start and closure are checked by z3, never assumed)."""
    invariants: dict[str, Callable[[Counts], Any]] = {
        "dyck1": lambda n: n[0] >= n[1],
        "anbn": lambda n: n[1] <= n[0],
        "anbncn": lambda n: logical_and(n[1] <= n[0], n[2] <= n[1],
                                        logical_or(n[2] == 0, n[1] == n[0])),
        "shuffle2": lambda n: logical_and(n[0] >= n[1], n[2] >= n[3]),
    }
    if name not in invariants:
        raise LoopmlpError(f"language {name!r}: not a counter language")
    return invariants[name]


LANGUAGES: dict[str, Callable[[], Language]] = {
    "parity": parity, "aa-star": aa_star, "abab-star": abab_star, "anbn": anbn,
    "anbncn": anbncn, "dyck1": dyck1, "shuffle2": shuffle2, "reset-dyck1": reset_dyck1,
}


def language(name: str) -> Language:
    """The language called ``name`` (see :data:`LANGUAGES`)."""
    if name not in LANGUAGES:
        raise LoopmlpError(f"--language {name!r}: need one of {', '.join(LANGUAGES)}")
    return LANGUAGES[name]()


# ---- enumeration and sampling ------------------------------------------------------------------


def walk(lang: Language, max_length: int) -> Iterator[tuple[int, int, tuple[Any, ...]]]:
    """Depth-first over every valid string up to ``max_length``, each prefix once: yields
    ``(depth, token, state after it)``; a node at depth ``k`` extends the last node yielded at
    depth ``k - 1`` (so a caller keeps one stack of its own states)."""
    if max_length < 0:
        raise ParameterError("max_length", max_length, ">= 0")
    stack: list[tuple[int, tuple[Any, ...]]] = [(0, lang.start)]
    # Iterative DFS: children pushed in reverse so they come out in alphabet order.
    todo: list[tuple[int, int, tuple[Any, ...]]] = []
    for a in reversed(range(len(lang.alphabet))):
        if lang.valid(lang.start, a):
            todo.append((1, a, lang.start))
    del stack
    while todo:
        depth, a, parent = todo.pop()
        st = lang.step(parent, a)
        yield depth, a, st
        if depth < max_length:
            for b in reversed(range(len(lang.alphabet))):
                if lang.valid(st, b):
                    todo.append((depth + 1, b, st))


def count_prefixes(lang: Language, max_length: int) -> int:
    """How many non-empty valid prefixes of length at most ``max_length`` there are."""
    return sum(1 for _ in walk(lang, max_length))


def strings(lang: Language, length: int) -> Iterator[list[int]]:
    """Every valid string of exactly ``length`` tokens (in alphabet order)."""
    path: list[int] = []
    for depth, a, _ in walk(lang, length):
        del path[depth - 1:]
        path.append(a)
        if depth == length:
            yield list(path)


def sample(lang: Language, length: int, rng: random.Random) -> list[int]:
    """A random valid string of at most ``length`` tokens (shorter when no symbol may follow):
    each next symbol uniform among the valid ones."""
    st = lang.start
    out: list[int] = []
    for _ in range(length):
        options = [a for a in range(len(lang.alphabet)) if lang.valid(st, a)]
        if not options:
            break
        a = rng.choice(options)
        out.append(a)
        st = lang.step(st, a)
    return out
