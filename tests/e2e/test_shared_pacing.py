"""A provider counts an account's calls, whichever job or process makes them (syncd.connectors.pacing.PaceBook):
the leads and contacts jobs both call Callsavvy and the Apps API, `syncd sync` runs them one after the other and
the daemon at once, and a `syncd sync` may start right after another ended. None of them may draw a 429.

The simulators run slower here than in the other end-to-end tests (speed 5: the Apps API's window is 0.2 s),
so that two calls from two jobs, or from two runs, land inside one window unless they take turns."""

from __future__ import annotations

import asyncio
import signal

import pytest

from syncd.config.load import load
from syncd.runner import JobRun
from syncd.state.store import Store
from tests.e2e.harness import Harness
from tests.e2e.test_daemon import daemon_config, runs, seed_people, start_daemon, wait_for

SLOW = pytest.mark.parametrize("harness4", [5], indirect=True)


@SLOW
def test_both_jobs_take_turns_on_the_accounts_they_share_in_syncd_sync_and_in_the_daemon(harness4: Harness) -> None:
    h = harness4
    seed_people(h, 4)
    daemon_config(h, {"leads": "1s", "contacts": "1s"})
    proc = h.cli("sync", "--json")
    assert proc.returncode == 0, proc.stderr
    assert h.served_429() == 0, "the contacts job called inside the leads job's window"

    before = {system: h.stats(system)["requests"] for system in ("callsavvy", "appsapi")}
    daemon = start_daemon(h)
    try:  # both jobs fire on the same second, run after run
        wait_for(lambda: len(runs(h, "leads")) >= 4 and len(runs(h, "contacts")) >= 4, 60, "four runs of each job")
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    assert all(h.stats(system)["requests"] > before[system] + 6 for system in before)
    assert h.served_429() == 0, "two jobs running at once called inside one window"


@SLOW
def test_a_run_right_after_another_process_waits_for_the_turn_it_left(harness4: Harness) -> None:
    """Two JobRuns with their own pacers and one state file: the second is a new process started as the first
    ended (its bulksave to Callyzer, whose window is 0.4 s here, is the first run's last call)."""
    h = harness4
    h.seed_raw("callsavvy", {"leads": [{"name": f"Turn Taker{i}", "phone": f"+91983{i:07d}", "status": "Potential",
                                        "priority": "Warm", "summary": "seed"} for i in range(3)]})  # fmt: skip
    path = h.configure()
    loaded = load(path)

    def one_process() -> int:
        store = Store(loaded.state_url)
        job = JobRun(loaded, "leads", store)

        async def run() -> int:
            try:
                report = await job.run()
            finally:
                await job.aclose()
            assert report.exit_code == 0, (report.errors, report.failed)
            return len(report.plan.actions) if report.plan else 0

        try:
            return asyncio.run(run())
        finally:
            store.close()

    assert one_process() >= 3 and h.stats("callyzer")["by_endpoint"].get("/lead/bulksave", 0) == 1
    store = h.state()
    try:  # what it left: each system's next turn
        assert {"callyzer", "callsavvy", "appsapi"} <= {system for system, _ in store.pacing(h.box.sims)}
    finally:
        store.close()
    assert one_process() == 0
    assert h.served_429() == 0, "the second process called inside the first one's window"
