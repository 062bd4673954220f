import gc
import weakref

import numpy as np

from batch_job.derived import Derived


class Owner:
    pass


def test_a_value_is_made_once_per_owner_and_key():
    cache: Derived[list] = Derived(4)
    made = []
    a = Owner()
    first = cache.get(a, 2, lambda: made.append(1) or ["a2"])
    again = cache.get(a, 2, lambda: made.append(1) or ["other"])
    assert first is again and made == [1]
    assert cache.get(a, 3, lambda: ["a3"]) == ["a3"]


def test_an_entry_for_another_object_under_the_same_id_is_remade():
    # The id() of a freed object can be reused: the entry keeps its owner and checks it.
    cache: Derived[str] = Derived(4)
    old, new = Owner(), Owner()
    cache._items[(id(new), None)] = (weakref.ref(old), "old's value", 0)
    assert cache.get(new, None, lambda: "new's value") == "new's value"


def test_the_cache_stays_bounded_least_recently_used_out_first():
    cache: Derived[int] = Derived(3)
    owners = [Owner() for _ in range(5)]
    for i, owner in enumerate(owners):
        cache.get(owner, None, lambda i=i: i)
    assert len(cache) == 3
    assert cache.get(owners[0], None, lambda: -1) == -1  # evicted, made again
    assert cache.get(owners[4], None, lambda: -1) == 4  # still held
    assert cache.get(owners[3], None, lambda: -1) == 3  # the least recent, used: now the most recent
    newest = Owner()
    cache.get(newest, None, lambda: 5)
    assert cache.get(owners[3], None, lambda: -1) == 3
    assert cache.get(owners[0], None, lambda: -2) == -2  # the least recent went


def test_an_entry_goes_with_its_owner():
    cache: Derived[np.ndarray] = Derived(4)
    owner = Owner()
    cache.get(owner, None, lambda: np.zeros(1000, np.uint8))
    assert len(cache) == 1 and cache.bytes == 1000
    del owner
    gc.collect()
    assert len(cache) == 0 and cache.bytes == 0


def test_the_cache_is_bounded_in_bytes_whatever_the_album():
    # A long album: a new owner every photo, each value 1 MB; the count bound alone would allow 1,000.
    cache: Derived[np.ndarray] = Derived(1000, max_bytes=8 << 20)
    owners = [Owner() for _ in range(200)]
    for owner in owners:
        cache.get(owner, None, lambda: np.ones(1 << 20, np.uint8))
        assert cache.bytes <= 8 << 20
    assert len(cache) == 8 and cache.bytes == sum(v.nbytes for _r, v, _n in cache._items.values())
