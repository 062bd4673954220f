"""Small caches of values derived from a long-lived object (a mask level, a template's occupancy).

The objects themselves are cached elsewhere (paint's level cache), so their identity is the cheap
key; each entry keeps its object, so that the id() of an object since freed and reused by another
can never return the other's value. First in, first out: a few entries serve a whole album.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Derived(Generic[V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: dict[tuple[int, Hashable], tuple[object, V]] = {}

    def get(self, owner: object, extra: Hashable, make: Callable[[], V]) -> V:
        """The value for ``owner`` (by identity) and ``extra``, made by ``make()`` when not held."""
        key = (id(owner), extra)
        hit = self._items.get(key)
        if hit is None or hit[0] is not owner:
            if len(self._items) >= self._size:
                self._items.pop(next(iter(self._items)))
            hit = self._items[key] = (owner, make())
        return hit[1]

    def __len__(self) -> int:
        return len(self._items)
