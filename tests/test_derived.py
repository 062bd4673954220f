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
    cache._items[(id(new), None)] = (old, "old's value")
    assert cache.get(new, None, lambda: "new's value") == "new's value"


def test_the_cache_stays_bounded_first_in_first_out():
    cache: Derived[int] = Derived(3)
    owners = [Owner() for _ in range(5)]
    for i, owner in enumerate(owners):
        cache.get(owner, None, lambda i=i: i)
    assert len(cache) == 3
    assert cache.get(owners[0], None, lambda: -1) == -1  # evicted, made again
    assert cache.get(owners[4], None, lambda: -1) == 4  # still held
