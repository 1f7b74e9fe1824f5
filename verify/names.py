"""Obligation names, ``family/kind[key=value,...]`` with an optional suffix: formatted and parsed
in this one place."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_NAME = re.compile(r"^(?P<head>[^\[]*)\[(?P<sizes>[^\]]*)\](?P<tail>.*)$")


def sizes_tag(sizes: Mapping[str, object]) -> str:
    """``[words=4,bits=8]``: sizes in the order given."""
    return "[" + ",".join(f"{k}={v}" for k, v in sizes.items()) + "]"


def name(head: str, sizes: Mapping[str, object] | None = None, tail: str = "") -> str:
    """``name('gadget/subtract', {'bits': 4})`` is ``gadget/subtract[bits=4]``."""
    return head + (sizes_tag(sizes) if sizes else "") + tail


@dataclass(frozen=True)
class Parsed:
    """A name taken apart: the part before the sizes, each ``key=value`` as written (values
    as text), and what follows the sizes."""

    head: str
    sizes: tuple[tuple[str, str], ...]
    tail: str


def parse(text: str) -> Parsed:
    """The parts of a name; a name without sizes is all head."""
    m = _NAME.match(text)
    if m is None:
        return Parsed(text, (), "")
    parts = [s.strip() for s in m["sizes"].split(",")] if m["sizes"] else []
    sizes = tuple((k.strip(), v) for k, _, v in (p.partition("=") for p in parts))
    return Parsed(m["head"], sizes, m["tail"])


def short(text: str) -> str:
    """``gadget/subtract[bits=4]`` -> ``subtract``: the name a counterexample is called by."""
    return text.rsplit("/", 1)[-1].split("[", 1)[0]
