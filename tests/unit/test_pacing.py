"""The pacer's arithmetic, without timing anything: when may the next call go?"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

from syncd.connectors.pacing import PaceBook, Pacer
from syncd.state.store import Store


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


def test_a_book_gives_every_client_of_a_system_the_same_pacers() -> None:
    book = PaceBook()
    a = book.pacer("callsavvy", "", 0.6)
    assert book.pacer("callsavvy", "", 0.6) is a
    assert book.pacer("callsavvy", "getLeads", 1.2) is not a and book.pacer("appsapi", "", 0.6) is not a
    assert book.pacer("callsavvy", "", 0.9) is a and a.interval == 0.9, "a reloaded config's interval holds for all"


def test_two_clients_of_one_system_and_one_book_take_turns() -> None:
    async def scenario() -> list[float]:
        book = PaceBook()
        leads, contacts = book.pacer("appsapi", "", 0.02), book.pacer("appsapi", "", 0.02)
        return sorted(await asyncio.gather(*(p.acquire() for p in (leads, contacts, leads, contacts))))

    sent = asyncio.run(scenario())
    assert all(b - a >= 0.02 - 1e-4 for a, b in itertools.pairwise(sent))


def test_the_turn_one_process_leaves_holds_back_the_next_process_first_call(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")

    async def first_process() -> float:
        book = PaceBook()
        pacer = book.pacer("callyzer", "", 0.3)
        sent = await pacer.acquire()
        store.set_pacing(book.left(["callyzer"]))
        return sent

    async def next_process() -> float:
        book = PaceBook()
        book.respect(store.pacing(["callyzer", "appsapi"]))  # before its pacers are made, as a run starts
        return await book.pacer("callyzer", "", 0.3).acquire()

    try:
        last = asyncio.run(first_process())
        first = asyncio.run(next_process())
    finally:
        store.close()
    assert first - last >= 0.3 - 0.01, f"the next process called {first - last:.3f} s after the last call"


def test_the_state_keeps_the_later_turn_and_a_clock_set_back_stalls_nobody(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        now = time.time()
        store.set_pacing({("callsavvy", ""): now + 5, ("callsavvy", "getLeads"): now + 1})
        store.set_pacing({("callsavvy", ""): now + 2, ("appsapi", ""): now + 3})  # another process, earlier
        assert store.pacing(["callsavvy", "appsapi", "callyzer"]) == {
            ("callsavvy", ""): now + 5, ("callsavvy", "getLeads"): now + 1, ("appsapi", ""): now + 3
        }  # fmt: skip
        assert store.pacing([]) == {} and store.pacing(["callpage"]) == {}
    finally:
        store.close()
    book = PaceBook()
    pacer = book.pacer("callyzer", "", 2.0)
    book.respect({("callyzer", ""): time.time() + 3600, ("callsavvy", "getLeads"): time.time() + 0.5})
    assert pacer._next - time.monotonic() <= 2.0 + PaceBook.CAP, "an hour ahead (a clock set back): capped"
    later = book.pacer("callsavvy", "getLeads", 1.2)  # made after it was told: still holds it
    assert 0.3 < later._next - time.monotonic() <= 0.5
