"""The pacer's arithmetic, without timing anything: when may the next call go?"""

from __future__ import annotations

import asyncio
import itertools

from syncd.connectors.pacing import Pacer


def test_a_slow_answer_holds_the_next_call_back_by_its_lateness() -> None:
    async def scenario() -> list[float]:
        pacer = Pacer(1.0)
        first = await pacer.acquire()
        pacer.answered(first, 0.30)  # the first call paid for a handshake
        after_slow = pacer._next - first
        second = first  # pretend the next call went out exactly on time
        pacer.answered(second, 0.05)  # a normal round trip: the fastest seen so far
        pacer._next = second + pacer.interval
        pacer.answered(second, 0.05)
        after_fast = pacer._next - second
        pacer.answered(second, 0.25)
        after_late = pacer._next - second
        return [after_slow, after_fast, after_late]

    after_slow, after_fast, after_late = asyncio.run(scenario())
    assert abs(after_slow - 1.30) < 1e-9, "nothing to compare the first answer with: all of it is lateness, once"
    assert after_fast == 1.0, "a call as fast as the fastest adds nothing"
    assert abs(after_late - 1.20) < 1e-9, "0.25 s against a fastest of 0.05 s: 0.20 s later"


def test_calls_are_spaced_by_the_interval() -> None:
    async def scenario() -> list[float]:
        pacer = Pacer(0.01)
        return [await pacer.acquire() for _ in range(3)]

    sent = asyncio.run(scenario())
    assert all(b - a >= 0.01 - 1e-4 for a, b in itertools.pairwise(sent))


def test_a_lateness_learned_while_a_call_waits_for_its_turn_still_holds_it_back() -> None:
    """Two endpoint queues share one pacer: the second call is already waiting for its turn when the first
    one's slow answer comes in. It must go out after the later turn, not the one it started waiting for."""

    async def scenario() -> tuple[float, float, float]:
        pacer = Pacer(0.05)
        first = await pacer.acquire()
        pacer.answered(first, 0.001)  # the fastest round trip, and the connection paid for
        pacer._next = first + pacer.interval
        waiting = asyncio.ensure_future(pacer.acquire())  # its turn: first + 0.05
        await asyncio.sleep(0.01)
        pacer.answered(first, 0.041)  # 0.04 s later than the fastest: the turn moves to first + 0.09
        second = await waiting
        return first, second, pacer._next

    first, second, _ = asyncio.run(scenario())
    assert second - first >= 0.09 - 1e-3, f"sent {second - first:.3f} s after the first: the lateness was lost"
