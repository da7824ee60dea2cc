"""Against the four simulators over loopback: what a new process loads from the state (listing and phone memos) goes
straight to the collector's oldest generation (syncd.heap.promoted), also when two jobs run at once on one event
loop, as in a daemon; nothing stays frozen, and the runs' results are those of any run."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from syncd.config.load import LoadedConfig, load
from syncd.connectors.pacing import PaceBook
from syncd.engine.model import Record
from syncd.mapping import phone_cache
from syncd.runner import JobRun, RunReport
from syncd.state.store import Store
from tests.e2e.harness import Harness

JOBS = ("leads", "contacts")


async def both(jobs: list[JobRun]) -> list[RunReport]:
    """One run of each job at once, on one event loop, as a daemon runs them."""
    return list(await asyncio.gather(*(job.run() for job in jobs)))


def new_jobs(loaded: LoadedConfig, store: Store) -> list[JobRun]:
    """Both jobs as a new process holds them (no memo in memory), taking turns at each system (one PaceBook)."""
    phone_cache.clear()
    pacers = PaceBook()
    return [JobRun(loaded, name, store, pacers=pacers) for name in JOBS]


def process(loaded: LoadedConfig, store: Store) -> list[RunReport]:
    """Both jobs' runs in a new process."""
    jobs = new_jobs(loaded, store)

    async def run() -> list[RunReport]:
        try:
            return await both(jobs)
        finally:
            for job in jobs:
                await job.aclose()

    return asyncio.run(run())


def test_what_a_new_process_loads_goes_to_the_oldest_generation_and_its_runs_are_as_ever(
    harness4: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness4
    h.seed("callyzer", [{"details": {"first_name": f"Kept{i:03d}", "last_name": "Heap",
                                     "contact_numbers": [f"91-98774{i:05d}"]}} for i in range(40)])  # fmt: skip
    loaded = load(h.configure())
    store = Store(loaded.state_url)
    try:
        for report in process(loaded, store) + process(loaded, store):  # the initial sync, then settled
            assert report.exit_code == 0, (report.job, report.errors, report.failed)

        recalls: list[tuple[int, int]] = []  # (Records loaded, of them in the oldest generation) as each load ends
        recall = JobRun._recall

        def watched(job: JobRun, systems: list[str]) -> Any:
            got = recall(job, systems)
            oldest = {id(o) for o in gc.get_objects(generation=2)}
            records = [rec for by_sum, _ in got.values() for rec in by_sum.values()]
            assert all(isinstance(rec, Record) and gc.is_tracked(rec) for rec in records)
            recalls.append((len(records), sum(id(rec) in oldest for rec in records)))
            return got

        monkeypatch.setattr(JobRun, "_recall", watched)
        jobs = new_jobs(loaded, store)

        async def daemon() -> list[list[RunReport]]:
            try:
                return [await both(jobs), await both(jobs)]
            finally:
                for job in jobs:
                    await job.aclose()

        first, second = asyncio.run(daemon())
        for report in first + second:
            assert report.exit_code == 0 and report.plan is not None, (report.job, report.errors)
            assert report.plan.writes() == [], "quiet: nothing to write"
        assert sum(report.read_afresh for report in first) == 0, "every record came from the memo"
        assert len(recalls) == 2, "each job's first run in this process loads its memo, the next runs do not"
        assert sum(loaded for loaded, _ in recalls) >= 3 * 40
        assert all(oldest == loaded for loaded, oldest in recalls), recalls
        assert gc.get_freeze_count() == 0, "nothing stays frozen"
    finally:
        store.close()
