"""The gadgets of the looped ReLU-MLP computer, one module per family, and the table of families
(:mod:`.families`).

Each ``make_*`` is a pure function of its sizes returning a :class:`~.base.Gadget`.
"""

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

__all__ = ["Gadget", "catalogue", "make_add", "make_branch", "make_compare",
           "make_compare_branch", "make_flag",
           "make_increment", "make_match", "make_read", "make_subtract", "make_write"]


def catalogue(bits: int = 8) -> list[Gadget]:
    """One instance of every gadget family at a readable size (for reports and ``info``)."""
    return [make_match(2), make_read(4, bits), make_write(4, bits), make_subtract(bits),
            make_add(bits), make_compare(bits), make_increment(bits), make_branch(bits)]
