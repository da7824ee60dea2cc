"""Callyzer's listing streams (Connector.streams): its pages are the listing, fetch returns none of their
records, and the runner keeps each as a Record only, so no raw record outlives its page. Pinned against the
simulator: every lead arrives once, in the listing's order, and nothing else changes."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from syncd.config.load import load
from syncd.connectors.callsavvy_api import HAND_OVER
from syncd.runner import JobRun
from syncd.state.store import Store
from tests.e2e.harness import Harness

LEADS = 230  # three pages of up to 100


def seeded(h: Harness) -> JobRun:
    h.seed("callyzer", [{"details": {"first_name": f"Stream{i:03d}", "last_name": "Page",
                                     "contact_numbers": [f"91-98660{i:05d}"]}} for i in range(LEADS)])  # fmt: skip
    loaded = load(h.configure())
    return JobRun(loaded, "leads", Store(loaded.state_url))


def test_callyzer_hands_its_pages_over_and_returns_none_of_them(harness: Harness) -> None:
    job = seeded(harness)
    connector = job.connectors["callyzer"]
    assert connector.streams
    listed_ids = [lead["id"] for lead in harness.leads("callyzer")]

    async def fetch() -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]], list[dict[str, Any]]]:
        try:
            whole = await connector.fetch()  # nobody listening: the listing, as any caller gets it
            pages: list[list[dict[str, Any]]] = []

            def handed(records: list[dict[str, Any]], answer: bytes | None, sums: list[bytes] | None) -> None:
                pages.append(records)
                answers.append(answer)

            connector.on_page = handed
            returned = await connector.fetch()
            return whole, pages, returned
        finally:
            connector.on_page = None
            await job.aclose()

    answers: list[bytes | None] = []
    whole, pages, returned = asyncio.run(fetch())
    assert returned == []
    assert [len(p) for p in pages] == [100, 100, 30]
    # each page with the answer it came in, which lists exactly its leads (the runner's page memo keys on it)
    assert [[lead["id"] for lead in json.loads(a or b"{}")["result"]] for a in answers] == [
        [r["id"] for r in p] for p in pages
    ]
    assert [r["id"] for p in pages for r in p] == [r["id"] for r in whole]
    assert sorted(r["id"] for r in whole) == sorted(listed_ids)
    job.store.close()


def test_a_run_lists_every_streamed_lead_once_in_order_and_keeps_no_raw_record(harness: Harness) -> None:
    job = seeded(harness)
    kept: list[int] = []  # raw records the runner held after each page: must stay 0
    record_page = job._record_page

    def watched(
        system: str, raws: list[dict[str, Any]], answer: bytes | None = None, given: list[bytes] | None = None
    ) -> None:
        record_page(system, raws, answer, given)
        if system == "callyzer":
            held = [raw for raw, _ in job._paged[system] if raw is not None]
            held += [entry[0] for entry in job._seen[system].values() if entry[0] is not None]
            kept.append(len(held))

    job._record_page = watched  # type: ignore[method-assign]

    async def runs() -> tuple[Any, Any]:
        try:
            first = await job.run()
            second = await job.run()
            return first, second
        finally:
            await job.aclose()

    first, second = asyncio.run(runs())
    job.store.close()
    assert first.exit_code == 0 and second.exit_code == 0, (first.errors, second.errors)
    assert kept == [0, 0, 0, 0, 0, 0], kept  # three pages a run, two runs
    assert first.fetched["callyzer"] == LEADS and second.fetched["callyzer"] == LEADS
    assert first.plan is not None and second.plan is not None
    creates = [a.desired["first_name"] for a in first.plan.actions if a.kind == "create" and a.system == "callsavvy"]
    assert sorted(creates) == [f"Stream{i:03d}" for i in range(LEADS)]
    assert second.plan.actions == []  # the streamed listing, read again, is quiet
    # the next run's memo: every lead, in the listing's order
    assert [r.remote_id for r in job._by_sum["callyzer"].values()] == [lead["id"] for lead in harness.leads("callyzer")]
    names = sorted(x["name"] for x in harness.leads("callsavvy"))
    assert names == sorted(f"Stream{i:03d} Page" for i in range(LEADS))


def test_a_daemon_takes_back_unchanged_pages_whole_and_reads_an_edited_one(harness: Harness) -> None:
    """The page memo against the simulator, over real HTTP: once nothing changed, a daemon's run maps no
    listed record one by one; an edit through the provider reaches the other systems, its page read again. Our
    write to Callsavvy then changes one record of its one-answer listing: the next run reads that record's page of
    the answer one by one, not the whole answer."""
    job = seeded(harness)
    looked: Counter[str] = Counter()
    read = job._read_page

    def counted(system: str, raws: list[dict[str, Any]], keep: bool, given: list[bytes] | None = None) -> Any:
        looked[system] += len(raws)
        return read(system, raws, keep, given)

    job._read_page = counted  # type: ignore[method-assign]

    async def run() -> Any:
        looked.clear()
        return await job.run()

    async def runs() -> list[Any]:
        try:
            reports = [await run() for _ in range(3)]  # creates; reads back what it wrote; quiet
            quiet = dict(looked)
            lead = harness.leads("callyzer")[150]  # on the second page
            harness.edit("callyzer", lead["id"], {"details": {"company_name": "Paged Traders"}})
            reports.append(await run())
            edited_run = dict(looked)
            reports.append(await run())  # lists Callsavvy with the lead the last run wrote
            return [*reports, quiet, edited_run, dict(looked), lead]
        finally:
            await job.aclose()

    *reports, quiet, edited_run, after_write, lead = asyncio.run(runs())
    job.store.close()
    assert all(r.exit_code == 0 for r in reports), [r.errors for r in reports]
    assert reports[2].plan is not None and reports[2].plan.actions == []
    assert quiet.get("callyzer", 0) == quiet.get("callsavvy", 0) == 0, quiet
    assert edited_run.get("callyzer") == 100, edited_run  # that page only, of three
    name = f"{lead['details']['first_name']} {lead['details']['last_name']}"
    synced = [x for x in harness.leads("callsavvy") if x["name"] == name]
    assert [x["organization"] for x in synced] == ["Paged Traders"]
    # Callsavvy's one answer, handed over in pages of HAND_OVER: only the page holding the written lead is read
    # record by record (before, any change in the answer had all 230 read one by one)
    listed = harness.leads("callsavvy")
    assert len(listed) == LEADS > HAND_OVER
    at = next(i for i, x in enumerate(listed) if x["name"] == name)
    page = min(HAND_OVER, LEADS - at // HAND_OVER * HAND_OVER)
    assert after_write.get("callsavvy") == page and after_write.get("callyzer", 0) == 0, after_write
    assert reports[4].plan is not None and reports[4].plan.actions == []
