"""The looped ReLU-MLP SUBLEQ computer: gadgets placed in one layout and applied in a loop.

:func:`build` (:mod:`.pipeline`) runs the stages (:mod:`.placement`, :mod:`.assembly`,
:mod:`.folding`) and returns a :class:`Computer`; :mod:`.runner` loops its network on a state,
:mod:`.runtime` compiles it for batches of machines. The design is in
docs/design/constructions.computer.md.
"""

from .model import (
    ALL_PROFILES,
    DIRECT_PROFILES,
    FOLDED_PROFILES,
    PROFILES,
    Computer,
    LayerPlan,
    Placement,
    decode,
    encode,
    state_names,
)
from .pipeline import build

__all__ = ["ALL_PROFILES", "DIRECT_PROFILES", "FOLDED_PROFILES", "PROFILES", "Computer",
           "LayerPlan", "Placement", "build",
           "decode", "encode", "state_names"]
