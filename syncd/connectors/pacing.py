"""Client-side pacing that keeps a provider's sliding window from ever seeing two calls too close.

A provider counts a call when it *arrives*; a client only knows when it *sent* it. Spacing sends by the
interval is right while every call takes the same time to arrive, and wrong when one is slow — the first
call on a new connection pays for the TCP and TLS handshakes, so the next call, sent on time, lands too
close behind it and draws a 429. So each pacer also learns the fastest round trip it has seen and, once a
call's answer is in, holds the next call back by that call's excess over the fastest: a slow call delays
its successor by exactly its own lateness, a normal one by nothing; the very first call, with nothing to
compare it with, delays its successor by its whole round trip. (aiolimiter, used before, paces by send
time only; no library paces by the estimated arrival, hence this small class.)
"""

from __future__ import annotations

import asyncio
import time


class Pacer:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next = 0.0  # monotonic time before which no call may be sent
        self._lock = asyncio.Lock()
        self._fastest: float | None = None  # the shortest round trip seen

    async def acquire(self) -> float:
        """Waits for this call's turn; returns its send time (give it back to ``answered``)."""
        async with self._lock:
            now = time.monotonic()
            # a loop, not one sleep: an answer that comes in while this call waits (a call of another endpoint
            # queue, in flight on the same pacer) may push the turn further back by its lateness
            while now < self._next:
                await asyncio.sleep(self._next - now)
                now = time.monotonic()
            self._next = now + self.interval
            return now

    def answered(self, sent: float, round_trip: float) -> None:
        """A call sent at ``sent`` was answered after ``round_trip`` seconds."""
        if self._fastest is None:
            # the first answer gives nothing to compare with, and its call usually paid for the connection:
            # hold the next call back by all of it, once
            self._fastest = round_trip
            lateness = round_trip
        else:
            self._fastest = min(self._fastest, round_trip)
            lateness = round_trip - self._fastest
        if lateness > 0:
            self._next = max(self._next, sent + self.interval + lateness)
