"""Small caches of values derived from a long-lived object (a mask level, a template's occupancy).

The objects themselves are cached elsewhere (the catalog's level cache), so their identity is the
cheap key. An entry lives no longer than its object: it holds it weakly and goes when the object
goes, so a level the level cache lets go takes its pixels, reductions and alphas with it (holding
their objects, these caches kept up to 40 levels alive past the level cache's bound). Each cache
is bounded in bytes as well as in entries, least recently used out first.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import numpy as np
from PIL import Image

V = TypeVar("V")

DERIVED_BYTES = 32 << 20


def nbytes(value: Any) -> int:
    """The pixel bytes a cached value holds (arrays, images and tuples or lists of them; 0 for the rest)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, Image.Image):
        return value.width * value.height * len(value.getbands())
    if isinstance(value, tuple | list):
        return sum(nbytes(v) for v in value)
    return 0


class Derived(Generic[V]):
    def __init__(self, size: int, max_bytes: int = DERIVED_BYTES) -> None:
        self._size = size
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: dict[tuple[int, Hashable], tuple[Callable[[], object], V, int]] = {}

    def get(self, owner: object, extra: Hashable, make: Callable[[], V]) -> V:
        """The value for ``owner`` (by identity) and ``extra``, made by ``make()`` when not held."""
        key = (id(owner), extra)
        hit = self._items.pop(key, None)
        if hit is not None and hit[0]() is owner:
            self._items[key] = hit  # most recently used last
            return hit[1]
        if hit is not None:  # the id of an object since freed, now another's
            self.bytes -= hit[2]
        value = make()
        self._items[key] = (self._ref(owner, key), value, nbytes(value))
        self.bytes += self._items[key][2]
        while len(self._items) > self._size or (self.bytes > self.max_bytes and len(self._items) > 1):
            self._drop(next(iter(self._items)))
        return value

    def _ref(self, owner: object, key: tuple[int, Hashable]) -> Callable[[], object]:
        this = weakref.ref(self)

        def gone(ref: weakref.ref) -> None:
            cache = this()
            if cache is not None and key in cache._items and cache._items[key][0] is ref:
                cache._drop(key)

        try:
            return weakref.ref(owner, gone)
        except TypeError:  # no weak references to this kind of object: held until evicted
            return lambda: owner

    def _drop(self, key: tuple[int, Hashable]) -> None:
        self.bytes -= self._items.pop(key)[2]

    def __len__(self) -> int:
        return len(self._items)
