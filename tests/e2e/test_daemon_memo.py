"""A daemon keeps one JobRun per job across runs, and its next run reuses the mapping of every record
listed unchanged (see JobRun._read). The memo must never hide an edit: pinned here against the simulators."""

from __future__ import annotations

import asyncio
import sys

from syncd.config.load import load
from syncd.engine.model import Record
from syncd.runner import JobRun
from syncd.state.store import Store
from tests.e2e.harness import Harness


def listed(job: JobRun) -> dict[str, Record]:
    """Callyzer's last listing as the JobRun keeps it, by remote id."""
    return {rec.remote_id: rec for rec in job._by_sum["callyzer"].values()}


def test_a_daemons_next_run_reuses_unchanged_records_and_sees_every_edit(harness: Harness) -> None:
    h = harness
    h.seed("callyzer", [{"details": {"first_name": f"Person{i:02d}", "last_name": "Memo",
                                     "contact_numbers": [f"91-98770{i:05d}"]}} for i in range(12)])  # fmt: skip
    path = h.configure()
    loaded = load(path)
    store = Store(loaded.state_url)
    job = JobRun(loaded, "leads", store)

    async def run() -> list[str]:
        report = await job.run()
        assert report.plan is not None and report.exit_code == 0, (report.errors, report.failed)
        return sorted(f"{a.kind} {a.system}" for a in report.plan.actions)

    async def daemon() -> None:  # one event loop for all the runs, as in `syncd run`
        try:
            await run()  # the initial sync: everyone created in Callsavvy
            first = listed(job)
            assert len(first) == 12
            for rec in first.values():  # the texts of listed values are shared (canonical.share_texts)
                name = rec.values["first_name"]
                assert isinstance(name, str) and sys.intern("".join(list(name))) is name
            assert await run() == []  # quiet
            again = listed(job)
            assert all(again[rid] is rec for rid, rec in first.items()), "unchanged records are not mapped again"

            lead = next(x for x in h.leads("callyzer") if x["details"]["first_name"] == "Person03")
            h.edit("callyzer", lead["id"], {"details": {"last_name": "Edited"}})
            assert await run() == ["update callsavvy"]
            after = listed(job)
            assert after[lead["id"]] is not first[lead["id"]]
            assert after[lead["id"]].values["last_name"] == "Edited"
            assert after[lead["id"]].raw == next(x for x in h.leads("callyzer") if x["id"] == lead["id"])
            assert sum(after[rid] is rec for rid, rec in first.items()) == 11
            mine = [x for x in h.leads("callsavvy") if x["phone"].replace(" ", "").endswith("9877000003")]
            assert [x["name"] for x in mine] == ["Person03 Edited"], mine
            assert await run() == []
        finally:
            await job.aclose()
            store.close()

    asyncio.run(daemon())
