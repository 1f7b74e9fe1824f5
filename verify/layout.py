"""Named coordinates: a layout maps names such as ``MEM[3].bit[5]`` to vector indices.

Gadget code never uses bare indices; it names coordinates and the layout resolves them. A layout
refuses to give one name two slots, and names both writers of a clash when it happens.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .errors import LayoutError


def bit_names(prefix: str, bits: int) -> list[str]:
    """The coordinate names of a word, LSB first: ``prefix.bit[0]``, ``prefix.bit[1]``, ..."""
    return [f"{prefix}.bit[{i}]" for i in range(bits)]


class Layout:
    """An ordered set of coordinate names, each with the owner that wrote it.

    ``add`` is the only way in, so a collision cannot go unnoticed: adding a name twice raises
    :class:`LayoutError` naming the coordinate and both owners.
    """

    __slots__ = ("_index", "_names", "_owner")

    def __init__(self, names: Iterable[str] = (), owner: str = "input") -> None:
        given = list(names)
        index = {name: i for i, name in enumerate(given)}
        if len(index) == len(given):  # no name twice: taken in one step
            self._index, self._names, self._owner = index, given, [owner] * len(given)
            return
        self._index = {}
        self._names = []
        self._owner = []
        for name in given:
            self.add(name, owner)  # names the clash

    def add(self, name: str, owner: str = "input") -> int:
        """Give ``name`` the next index; refuse a name that is already written."""
        if name in self._index:
            first = self._owner[self._index[name]]
            raise LayoutError(f"coordinate {name} is written by both {first!r} and {owner!r}")
        self._index[name] = len(self._names)
        self._names.append(name)
        self._owner.append(owner)
        return self._index[name]

    def extend(self, names: Iterable[str], owner: str = "input") -> list[int]:
        """Add several names; returns their indices."""
        return [self.add(n, owner) for n in names]

    def index(self, name: str) -> int:
        """The index of ``name``; an unknown name is a :class:`LayoutError`."""
        try:
            return self._index[name]
        except KeyError:
            raise LayoutError(
                f"unknown coordinate {name!r} (layout has {len(self)} names)"
            ) from None

    def indices(self, names: Iterable[str]) -> list[int]:
        """Indices of several names, in order."""
        given = names if isinstance(names, (list, tuple)) else list(names)
        try:
            return list(map(self._index.__getitem__, given))
        except KeyError:
            return [self.index(n) for n in given]  # names the unknown coordinate

    def owner(self, name: str) -> str:
        """Who wrote ``name``."""
        return self._owner[self.index(name)]

    @property
    def names(self) -> tuple[str, ...]:
        """All names in index order."""
        return tuple(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and self._names == other._names

    def __hash__(self) -> int:
        return hash(tuple(self._names))

    def __repr__(self) -> str:
        head = ", ".join(self._names[:4])
        more = f", ... ({len(self)} names)" if len(self) > 4 else ""
        return f"Layout([{head}{more}])"
