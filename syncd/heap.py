"""The cyclic garbage collector paused around syncd's bulk steps, none of which makes a reference cycle.

A collection inside a plan would walk every input record and link (seconds at 1M); one inside a memo's load, every
object just made. Moving what a load makes straight to the oldest generation (``gc.freeze`` then ``gc.unfreeze``)
was measured and not kept: promoted objects do not count towards CPython's next full collection, so a process that
promotes often (a test process running hundreds of jobs' first runs) holds its cyclic garbage for long, and then
walks it all at once (bench/README "Sixteenth session")."""

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
