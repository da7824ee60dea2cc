"""Shared plumbing for the Callyzer and Callsavvy simulator tests.

Starting uvicorn per test would cost more than the tests themselves, so one loopback server runs for the
session and each test mounts a fresh simulator app into a named slot: every test gets clean state and
still talks to its simulator through a real socket.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncd.sim.server import LoopbackServer

SLOTS = ("callyzer", "callsavvy")


class _Slot:
    """An ASGI app that forwards to whichever simulator app is mounted in it."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.app is None:
            raise RuntimeError("no simulator mounted in this slot")
        await self.app(scope, receive, send)


class SimServer:
    def __init__(self, server: LoopbackServer, slots: dict[str, _Slot]) -> None:
        self._server = server
        self._slots = slots

    def url(self, name: str) -> str:
        return self._server.url(name)

    def mount(self, name: str, app: Any) -> None:
        """Serves ``app`` in slot ``name`` from now on."""
        self._slots[name].app = app


class Clock:
    """A settable clock for the simulators' timestamps (aware, UTC)."""

    def __init__(self, start: datetime = datetime(2024, 1, 15, 12, 0, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(scope="session")
def sim_server() -> Iterator[SimServer]:
    slots = {name: _Slot() for name in SLOTS}
    with LoopbackServer(dict(slots)) as server:
        yield SimServer(server, slots)


@pytest.fixture
def clock() -> Clock:
    return Clock()
