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
from collections.abc import Iterable, Mapping


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

    def not_before(self) -> float:
        """The wall-clock time before which the next call may not go (what a later process must respect)."""
        return time.time() + max(0.0, self._next - time.monotonic())

    def respect(self, not_before: float, cap: float) -> None:
        """Holds the next call back to a wall-clock time another process left, by at most ``cap`` seconds (a
        clock set back must not stall the calls)."""
        wait = min(not_before - time.time(), cap)
        if wait > 0:
            self._next = max(self._next, time.monotonic() + wait)


#: (system, endpoint) of a pacer: "" for a system's global allowance
PaceKey = tuple[str, str]


class PaceBook:
    """Every pacer of a process, by system and endpoint.

    A provider counts an account's calls, not a job's: the leads and contacts jobs both call Callsavvy and the
    Apps API, and a daemon runs them at once. With a pacer each, each job used the whole allowance and the two
    together drew 429s (a quarter of the Apps API's calls, at real pace); so every client of a system (by its
    name in the config) takes its turns from the same pacers, owned by the process (the daemon, or one
    ``syncd sync``). The next process learns where they stood from the state (:meth:`left`, :meth:`respect`).
    """

    #: the longest a call waits for a turn another process left (its interval's worth is the real wait)
    CAP = 10.0

    def __init__(self) -> None:
        self._pacers: dict[PaceKey, Pacer] = {}
        self._told: dict[PaceKey, float] = {}  # turns an earlier process left, for pacers not made yet

    def pacer(self, system: str, endpoint: str, interval: float) -> Pacer:
        """The pacer of one allowance; a config reloaded with another interval changes it for every client."""
        key = (system, endpoint)
        pacer = self._pacers.get(key)
        if pacer is None:
            pacer = self._pacers[key] = Pacer(interval)
            if key in self._told:
                pacer.respect(self._told.pop(key), interval + self.CAP)
        pacer.interval = interval
        return pacer

    def left(self, systems: Iterable[str]) -> dict[PaceKey, float]:
        """When each of these systems' pacers lets its next call go, in wall-clock time, for the next process."""
        wanted = set(systems)
        return {key: pacer.not_before() for key, pacer in self._pacers.items() if key[0] in wanted}

    def respect(self, stored: Mapping[PaceKey, float]) -> None:
        """What an earlier process left: no call before it (a pacer of this process that knows later keeps its
        own turn)."""
        for key, not_before in stored.items():
            pacer = self._pacers.get(key)
            if pacer is not None:
                pacer.respect(not_before, pacer.interval + self.CAP)
            else:  # (an endpoint's pacer is made at its first call)
                self._told[key] = max(not_before, self._told.get(key, not_before))
