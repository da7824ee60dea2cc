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

    def grow(self, expected: dict[str, tuple[int, float]]) -> None:
        """Adds these write calls to the bar, per system (``expected``: calls and pacing interval), starting it
        on the first: a run that writes early (syncd.early_writes) sends its first writes while the slow
        listing still comes in, long before the rest of its plan. A system's calls count from its first
        writes on, so that the listing still read meanwhile is not taken for writes."""
        expected = {system: spec for system, spec in expected.items() if spec[0] > 0}
        if not expected or not self.console.is_terminal:
            return
        if self._bar is None:
            self._bar = Progress(
                TextColumn("[bold]{task.description:<12}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("write calls · ETA {task.fields[eta]} (rate-limit floor)"),
                console=self.console,
                transient=True,
            )
            self._bar.start()
            self._poller = asyncio.get_running_loop().create_task(self._poll())
        made = self.job.calls_made()
        for system, (calls, interval) in expected.items():
            before, _ = self._expected.get(system, (0, interval))
            self._expected[system] = (before + calls, interval)
            if system in self._tasks:
                self._bar.update(self._tasks[system], total=before + calls)
            else:
                self._base[system] = made.get(system, 0)
                self._tasks[system] = self._bar.add_task(system, total=calls, eta=_clock(calls * interval))
        self._show()

    def totals(self) -> dict[str, tuple[int, int]]:
        """Per system: (write calls counted done, write calls expected), as the bar shows them."""
        made = self.job.calls_made()
        return {
            system: (min(calls, made.get(system, 0) - self._base.get(system, 0)), calls)
            for system, (calls, _) in self._expected.items()
        }

    def _show(self) -> None:
        assert self._bar is not None
        for system, (done, calls) in self.totals().items():
            interval = self._expected[system][1]
            self._bar.update(self._tasks[system], completed=done, eta=_clock((calls - done) * interval))

    async def _poll(self) -> None:
        while self._bar is not None:
            self._show()
            await asyncio.sleep(0.2)

    def finish(self) -> None:
        """Takes the bar down (the run's report follows it); a next run starts a new one."""
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        if self._bar is not None:
            with contextlib.suppress(Exception):
                self._bar.stop()
            self._bar = None
        self._tasks, self._base, self._expected = {}, {}, {}


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.999)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"
