"""The gadgets of the looped ReLU-MLP computer, one module per family.

Each ``make_*`` is a pure function of its sizes returning a :class:`~.base.Gadget`.
"""

from collections.abc import Callable

from .base import Gadget
from .branch import make_branch
from .compare import make_compare
from .flag import make_flag
from .increment import make_increment
from .match import make_match
from .read import make_read
from .subtract import make_add, make_subtract
from .write import make_write

__all__ = ["FAMILIES", "Gadget", "make_add", "make_branch", "make_compare", "make_flag",
           "make_increment", "make_match", "make_read", "make_subtract", "make_write",
           "catalogue"]

FAMILIES: dict[str, Callable[[int, int], Gadget]] = {
    "match": lambda bits, words: make_match(bits),
    "read": lambda bits, words: make_read(words, bits),
    "write": lambda bits, words: make_write(words, bits),
    "subtract": lambda bits, words: make_subtract(bits),
    "add": lambda bits, words: make_add(bits),
    "compare": lambda bits, words: make_compare(bits),
    "flag": lambda bits, words: make_flag(bits),
    "increment": lambda bits, words: make_increment(bits),
    "branch": lambda bits, words: make_branch(bits),
}
"""Every gadget family by name, as ``maker(bits, words)``: ``bits`` is the word width (the
address width for ``match``), ``words`` the memory size of ``read`` and ``write``."""


def catalogue(bits: int = 8) -> list[Gadget]:
    """One instance of every gadget family at a readable size (for reports and ``info``)."""
    return [make_match(2), make_read(4, bits), make_write(4, bits), make_subtract(bits),
            make_add(bits), make_compare(bits), make_increment(bits), make_branch(bits)]
