"""The progress bar of a run on a terminal (syncd.progress) against the simulators: it counts every write call the
run makes, the early ones included (sent while Callyzer is still listed), and none of the listing's reads."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from rich.console import Console

from syncd.config.load import load
from syncd.progress import TerminalProgress
from syncd.runner import JobRun
from syncd.state.store import Store
from tests.e2e.harness import Harness
from tests.e2e.test_early_writes import LEADS, configure
from tests.e2e.test_four_systems import LIST, entries

WRITABLE = ("callyzer", "callsavvy", "appsapi")


class Watched(TerminalProgress):
    """The bar as a terminal would show it, with what it counted when it grew and when it was taken down."""

    def __init__(self, job: JobRun) -> None:
        super().__init__(job, Console(file=io.StringIO(), force_terminal=True, width=120))
        self.grown: list[tuple[dict[str, int], int]] = []  # (calls added, Callyzer calls made so far)
        self.shown: list[dict[str, tuple[int, int]]] = []  # (done, expected) per system, right after each
        self.final: dict[str, tuple[int, int]] = {}

    def grow(self, expected: dict[str, tuple[int, float]]) -> None:
        self.grown.append(({s: n for s, (n, _) in expected.items()}, self.job.calls_made()["callyzer"]))
        super().grow(expected)
        self.shown.append(self.totals())

    def finish(self) -> None:
        if self._expected:
            self.final = self.totals()
        super().finish()


def test_the_bar_counts_the_early_writes_and_ends_at_every_write_call_made(harness4: Harness) -> None:
    h = harness4
    configure(h, in_memory=True)
    h.seed("callyzer", [{"details": {"first_name": f"Bar{i:03d}", "last_name": "Lister",
                                     "contact_numbers": [f"91-98770{i:05d}"]}} for i in range(LEADS)])  # fmt: skip
    assert h.sync("leads")["exit_code"] == 0
    for lead in sorted(h.leads("callsavvy"), key=lambda r: r["name"])[:8]:
        h.edit("callsavvy", lead["lead_id"], {"name": lead["name"].replace("Bar", "Savvy")})
    for entry in sorted(entries(h), key=lambda r: r["name"])[100:106]:
        email = f"{entry['name'].split()[0].lower()}@apps.example"
        h.edit("appsapi", f"contact_lists/{LIST}/contacts/{entry['id']}", {"email": email})
    for lead in sorted(h.leads("callyzer"), key=lambda r: r["details"]["first_name"])[200:205]:
        h.edit("callyzer", lead["id"], {"details": {**lead["details"], "last_name": "Zedited"}})
    writes_before = h.write_calls()
    requests_before = {s: h.stats(s)["requests"] for s in WRITABLE}

    assert h.config_path is not None
    loaded = load(h.config_path)
    store = Store(loaded.state_url)
    job = JobRun(loaded, "leads", store)
    bar = Watched(job)
    job.progress = bar

    async def run() -> Any:
        try:
            return await job.run()
        finally:
            await job.aclose()

    try:
        report = asyncio.run(run())
    finally:
        store.close()
    assert report.exit_code == 0, (report.errors, report.failed)
    assert report.early > 0, "people were planned while Callyzer was still listed"

    # the bar came up with the first early writes, before Callyzer's last page (4 pages)
    first, callyzer_calls = bar.grown[0]
    assert callyzer_calls < -(-LEADS // 100), bar.grown
    assert "callyzer" not in first and sum(first.values()) > 0, bar.grown
    # Callyzer's bulksave came on the bar with the rest of the plan, once its pages were all read: none of them
    # counts as a write done
    assert bar.shown[-1]["callyzer"] == (0, 1), bar.shown
    # it ended with every write call counted, and counted done: the calls the simulators served less the reads
    # (Callyzer's four pages, Callsavvy's one getLeads, the Apps API's one page)
    served = {s: h.stats(s)["requests"] - requests_before[s] for s in WRITABLE}
    writes = {s: served[s] - reads for s, reads in (("callyzer", 4), ("callsavvy", 1), ("appsapi", 1))}
    assert writes == {"callyzer": 1, "callsavvy": 11, "appsapi": 13}, served
    assert bar.final == {s: (n, n) for s, n in writes.items()}, (bar.final, bar.grown)
    assert h.write_calls() != writes_before
    assert h.served_429() == 0
