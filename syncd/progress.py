"""A progress bar for long runs on a terminal: write calls made against the calls planned, with the ETA
the providers' rate limits allow (remaining calls × each system's pacing interval, systems in parallel)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

if TYPE_CHECKING:
    from syncd.runner import JobRun


class TerminalProgress:
    def __init__(self, job: JobRun, console: Console | None = None) -> None:
        self.job = job
        self.console = console or Console(stderr=True)
        self._bar: Progress | None = None
        self._poller: asyncio.Task[None] | None = None
        self._tasks: dict[str, TaskID] = {}
        self._base: dict[str, int] = {}
        self._expected: dict[str, tuple[int, float]] = {}

    def start(self, expected: dict[str, tuple[int, float]]) -> None:
        if not expected or not self.console.is_terminal:
            return
        self._expected = expected
        self._base = self.job.calls_made()
        self._bar = Progress(
            TextColumn("[bold]{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("write calls · ETA {task.fields[eta]} (rate-limit floor)"),
            console=self.console,
            transient=True,
        )
        for system, (calls, interval) in expected.items():
            self._tasks[system] = self._bar.add_task(system, total=calls, eta=_clock(calls * interval))
        self._bar.start()
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        assert self._bar is not None
        while True:
            made = self.job.calls_made()
            for system, task in self._tasks.items():
                calls, interval = self._expected[system]
                done = min(calls, made.get(system, 0) - self._base.get(system, 0))
                self._bar.update(task, completed=done, eta=_clock((calls - done) * interval))
            await asyncio.sleep(0.2)

    def finish(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        if self._bar is not None:
            with contextlib.suppress(Exception):
                self._bar.stop()
            self._bar = None


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.999)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"
