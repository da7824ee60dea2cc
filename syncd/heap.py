"""The cyclic garbage collector around syncd's bulk steps, none of which makes a reference cycle.

- **Paused** (:func:`paused`) while a plan is made: a collection inside it would walk every input record and link
  (seconds at 1M). The young collection right after it walks what the plan made (about 0.08 s for a 10k initial
  sync's 18,559 writes); that walk is left alone, see below.
- **Promoted** (:func:`promoted`) when a new process loads what the job's last run left (listing and phone memos):
  the collector is paused, and as the load ends every tracked object (the 100k or so it made among them) goes
  straight to the oldest generation (``gc.freeze`` then ``gc.unfreeze``: two list splices, nothing walked), instead
  of being walked by the young collections that follow, once or twice each as they age (a one-shot steady run at
  10k: cyclic GC 0.03–0.04 s → under 0.005 s, bench/README "Sixteenth session"). Nothing stays frozen.

Promoting moves whatever else is young at that moment too (in a daemon, another job's objects): a cycle among them
becomes garbage in the oldest generation and waits for a full collection, and CPython does not count promoted
objects towards the next one. Once per process start that is nothing; after every plan (a steady run plans once per
page of the slowest listing, among the event loop's own short-lived objects) it could hold a daemon's cyclic
garbage for long, so plans are not promoted."""

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
