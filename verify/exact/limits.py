"""The arithmetic limits: for every number type, the magnitude below which it holds every integer
exactly, in one table that every exactness decision reads."""

from __future__ import annotations

LIMITS: dict[str, int] = {
    "float16": 1 << 11,
    "bfloat16": 1 << 8,
    "float32": 1 << 24,
    "float64": 1 << 53,
    "int16": 1 << 15,
    "int32": 1 << 31,
    "int64": 1 << 63,
}
"""Every integer of magnitude below ``LIMITS[t]`` is a value of type ``t``: ``2^p`` for a float
format with ``p`` significand bits (the implicit bit included), the range of an integer type."""

INT64_LIMIT = LIMITS["int64"] >> 1
"""The bound below which loopmlp's own int64 arithmetic is used: a factor 2 of head-room below
the type's range, so the sum of two values below it cannot wrap."""

LARGEST: dict[str, float] = {
    "float16": 65504.0,
    "bfloat16": (2 - 2 ** -7) * 2 ** 127,
    "float32": (2 - 2 ** -23) * 2 ** 127,
}
"""The largest finite value of each float format the precision certificates consider."""


def limit(kind: str, *, headroom: bool = False) -> int:
    """``LIMITS[kind]``, or :data:`INT64_LIMIT` for int64 with ``headroom``."""
    return INT64_LIMIT if headroom and kind == "int64" else LIMITS[kind]


def significand_bits(fmt: str) -> int:
    """``p`` of a float format: ``LIMITS[fmt] == 2^p``."""
    return LIMITS[fmt].bit_length() - 1


def exact_types(bound: int, kinds: tuple[str, ...], *, headroom: bool = False) -> list[str]:
    """The types among ``kinds`` that hold every value of magnitude at most ``bound``, in the
    order given."""
    return [k for k in kinds if bound < limit(k, headroom=headroom)]
