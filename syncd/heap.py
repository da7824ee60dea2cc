"""The cyclic garbage collector around syncd's bulk steps, none of which makes a reference cycle.

Each step that makes many objects at once runs :func:`promoted`: the collector is paused inside it, and what it made
goes straight to the oldest generation as it ends (``gc.freeze`` then ``gc.unfreeze``: two list splices, nothing
walked), instead of being walked by the young collections that follow, once or twice each as they age.

- **A plan**: a collection inside it would walk every input record and link (seconds at 1M), and the one right
  after it walked every object the plan made (about 0.09 s for a 10k initial sync's 18,559 writes).
- **What a new process loads from the state** (listing and phone memos): some 100k objects for 30k records (a
  one-shot steady run at 10k: cyclic GC 0.03–0.05 s → 0.002–0.008 s, bench/README "Sixteenth session").

Nothing stays frozen. What else was young at that moment (in a daemon, another job's objects) is promoted too: a
cycle among them is freed by the next full collection instead of a young one. Promoted objects do not count towards
the next full collection (CPython counts only the survivors of young ones), so none comes sooner."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """The block runs with the cyclic collector off; it is on again after, if it was before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def promoted() -> Iterator[None]:
    """:func:`paused`; then, before the collector is on again, every tracked object (what the block made among them)
    is moved to the oldest generation without a walk, whether or not the block raised."""
    with paused():
        try:
            yield
        finally:
            gc.freeze()
            gc.unfreeze()
