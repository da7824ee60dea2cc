"""syncd.heap: what a load makes goes straight to the oldest generation, unwalked, and nothing stays frozen, so that a
cycle among those objects is still freed by a full collection."""

from __future__ import annotations

import gc
import weakref

import pytest

from syncd import heap


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def generation_of(obj: object) -> int | None:
    return next((g for g in range(3) if any(o is obj for o in gc.get_objects(generation=g))), None)


def test_what_the_block_made_is_in_the_oldest_generation_and_nothing_stays_frozen() -> None:
    before = gc.get_freeze_count()
    with heap.promoted():
        assert not gc.isenabled(), "paused while the block loads"
        made = [(i, str(i)) for i in range(1_000)]
        assert generation_of(made) == 0
    assert gc.isenabled()
    assert generation_of(made) == 2 and generation_of(made[500]) == 2
    assert gc.get_freeze_count() == before == 0


def test_a_cycle_it_promoted_is_still_freed_by_a_full_collection() -> None:
    with heap.promoted():
        node = Node()
    alive = weakref.ref(node)
    del node
    gc.collect(1)
    assert alive() is not None, "in the oldest generation: a young collection does not walk it"
    gc.collect()
    assert alive() is None


def test_a_block_that_raises_is_promoted_all_the_same_and_the_collector_is_on_again() -> None:
    with pytest.raises(ValueError), heap.promoted():
        made = [object() for _ in range(10)]
        raise ValueError("memo unreadable")
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert generation_of(made) == 2


def test_paused_leaves_the_collector_as_it_found_it() -> None:
    with heap.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with heap.paused(), heap.promoted():
            pass
        assert not gc.isenabled(), "a caller that paused it keeps it paused"
    finally:
        gc.enable()
