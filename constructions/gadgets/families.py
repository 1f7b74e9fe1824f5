"""The gadget families in one table: each family's maker, the sizes that name an instance, its
shape computed without building it, the widths its maker accepts and the widths that have an
obligation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from verify import names
from verify.errors import LoopmlpError, ParameterError

from .base import Gadget
from .branch import make_branch
from .compare import make_compare
from .compare_branch import make_compare_branch
from .flag import make_flag
from .increment import make_increment
from .match import make_match
from .read import make_read
from .subtract import make_add, make_subtract
from .write import make_write

MAX_BITS = 64
"""Widest gadget a command builds (``export``, ``check``)."""
MAX_WORDS = 1 << 16
"""Largest memory of a read or write gadget a command builds."""
WIDE = (16, 32, 64)
"""Widths beyond enumeration, proved through the factorised method."""

@dataclass(frozen=True)
class Shape:
    """A gadget's size computed from its sizes without building it: inputs, outputs and the
    width of each layer (``tests/interop/test_onnx_export.py`` holds it to the built gadgets)."""

    inputs: int
    outputs: int
    widths: tuple[int, ...]

    @property
    def units(self) -> int:
        """Units over all layers (building takes about 0.1 ms per unit)."""
        return sum(self.widths)

    @property
    def dense(self) -> int:
        """Numbers of a dense export: every layer's weight matrix and bias."""
        total, n_in = 0, self.inputs
        for w in self.widths:
            total += n_in * w + w
            n_in = w
        return total

@dataclass(frozen=True)
class Family:
    """A gadget family: ``make(bits, words)`` (``bits`` is the address width for match, ``words``
    the memory of read and write and the PC width of cmpbranch, whose ``pc`` is set),
    ``shape(bits, words, m)`` with ``m = log2(words)``, the widths ``lowest..highest`` the maker
    accepts, and the obligations: ``(words, widths)`` pairs."""

    name: str
    make: Callable[[int, int], Gadget]
    shape: Callable[[int, int, int], tuple[int, int, tuple[int, ...]]]
    lowest: int = 1
    highest: int = MAX_BITS
    memory: bool = False
    pc: bool = False
    proved: tuple[tuple[int, tuple[int, ...]], ...] = ()

    def sizes(self, bits: int, words: int = 2) -> dict[str, int]:
        """The sizes that name an instance, in the order of its name."""
        if self.name == "match":
            return {"addr": bits}
        if self.pc:
            return {"bits": bits, "pc": words}
        return {"words": words, "bits": bits} if self.memory else {"bits": bits}

    def obligation_name(self, bits: int, words: int = 2) -> str:
        """The obligation name of ``make(bits, words)``, without building it."""
        return names.name(f"gadget/{self.name}", self.sizes(bits, words))

_UP_TO_12 = tuple(range(1, 13)) + WIDE

FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("match", lambda bits, words: make_match(bits),
           lambda n, w, m: (n + 1, 1 << n, (1 << n,)), highest=12,
           proved=((2, tuple(range(1, 9))),)),
    Family("read", lambda bits, words: make_read(words, bits),
           lambda n, w, m: (m + w * n, n, (w * n, n)), memory=True,
           proved=((2, tuple(range(1, 9)) + WIDE), (4, (1, 2, 3, 4, 5, 8) + WIDE),
                   (8, (1, 2, 8) + WIDE), (256, (16,)))),
    Family("write", lambda bits, words: make_write(words, bits),
           lambda n, w, m: (m + n + w * n, w * n, (3 * w * n, w * n)), memory=True,
           proved=((2, tuple(range(1, 9)) + WIDE), (4, (1, 2, 3, 4, 5, 8) + WIDE),
                   (8, (1, 2, 8) + WIDE), (256, (16,)))),
    Family("subtract", lambda bits, words: make_subtract(bits),
           lambda n, w, m: (2 * n, n, (6 * n, n)), proved=((2, _UP_TO_12),)),
    Family("add", lambda bits, words: make_add(bits),
           lambda n, w, m: (2 * n, n, (6 * n, n)), proved=((2, _UP_TO_12),)),
    Family("compare", lambda bits, words: make_compare(bits),
           lambda n, w, m: (n, 1, (2, 1)), lowest=2,
           proved=((2, tuple(range(2, 17)) + (32, 64)),)),
    Family("flag", lambda bits, words: make_flag(bits),
           lambda n, w, m: (2 * n, 1, (9, 1)), lowest=2),
    Family("cmpbranch", make_compare_branch,
           lambda n, w, m: (n + 2 * w, w, (2 + 2 * w, 2 * w, w)), lowest=2, pc=True,
           proved=((1, tuple(range(2, 11))), (2, tuple(range(2, 9)) + WIDE),
                   (3, tuple(range(2, 7))), (4, (2, 3, 4)), (6, (16,)), (8, (16,)))),
    Family("increment", lambda bits, words: make_increment(bits),
           lambda n, w, m: (n, n, (4 * n, n)), proved=((2, tuple(range(1, 17)) + (32, 64)),)),
    Family("branch", lambda bits, words: make_branch(bits),
           lambda n, w, m: (2 * n + 1, n, (2 * n, n)),
           proved=((2, tuple(range(1, 12)) + WIDE),)),
)}
"""Every gadget family by name."""

def check(name: str, bits: int, words: int = 2) -> Family:
    """The family ``name``, once ``bits`` (1 to :data:`MAX_BITS`) and, for read and write,
    ``words`` (a power of two from 2 to :data:`MAX_WORDS`; for cmpbranch, the PC width from
    1 to :data:`MAX_BITS`) are in range: a ParameterError otherwise, before anything is built."""
    if name not in FAMILIES:
        raise ParameterError("gadget", name, f"one of {', '.join(FAMILIES)}")
    if not 1 <= bits <= MAX_BITS:
        raise ParameterError("bits", bits, f"an integer from 1 to {MAX_BITS}")
    family = FAMILIES[name]
    if family.memory and (words < 2 or words & (words - 1) or words > MAX_WORDS):
        raise ParameterError("words", words, f"a power of two from 2 to {MAX_WORDS}")
    if family.pc and not 1 <= words <= MAX_BITS:
        raise ParameterError("words", words, f"the PC width of {name}, from 1 to {MAX_BITS}")
    return family

def shape(name: str, bits: int, words: int = 2) -> Shape:
    """The shape of ``make(name, bits, words)``, from the constructions' formulas."""
    family = check(name, bits, words)
    return Shape(*family.shape(bits, words, max(words, 2).bit_length() - 1))

def make(name: str, bits: int, words: int = 2) -> Gadget:
    """The gadget ``name`` at the given sizes; a bad name or size is a ParameterError."""
    family = check(name, bits, words)
    try:
        return family.make(bits, words)
    except (ValueError, AssertionError) as e:
        if isinstance(e, LoopmlpError):
            raise
        raise ParameterError("bits", bits, f"a size the {name} gadget accepts ({e})") from None
