"""syncd.heap: the collector is paused for a block and left as the block found it."""

from __future__ import annotations

import gc

import pytest

from syncd import heap


def test_paused_leaves_the_collector_as_it_found_it() -> None:
    with heap.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with heap.paused():
            pass
        assert not gc.isenabled(), "a caller that paused it keeps it paused"
    finally:
        gc.enable()


def test_paused_resumes_the_collector_when_the_block_raises() -> None:
    with pytest.raises(ValueError), heap.paused():
        raise ValueError("memo unreadable")
    assert gc.isenabled()


@heap.paused()
def _inside() -> bool:
    return gc.isenabled()


def test_paused_as_a_decorator_pauses_each_call() -> None:
    assert _inside() is False and _inside() is False
    assert gc.isenabled()
