"""A job runs in one process at a time (syncd.state.job_lock). Two `syncd sync leads` started together used to
plan from the same state and both create every new Apps API entry (20 entries for 10 people); a `syncd sync` by
hand while the daemon runs the job did the same. Now the second run does nothing, says which process holds the
job, and exits 4; the daemon skips a scheduled run the same way and runs the next one."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from syncd.state import job_lock
from tests.e2e.harness import Harness
from tests.e2e.test_daemon import daemon_config, log_lines, runs, seed_people, start_daemon, wait_for
from tests.e2e.test_four_systems import entries

#: writes paced at a second or so (speed 2): a run of ten new people lasts several seconds
SLOW = pytest.mark.parametrize("harness4", [2], indirect=True)


@SLOW
def test_a_second_syncd_sync_of_a_running_job_does_nothing_and_names_the_first(harness4: Harness) -> None:
    h = harness4
    seed_people(h, 10)
    path = h.configure()
    lock = job_lock.lock_path(h.dir / "syncd.db", "leads")
    cmd = [sys.executable, "-m", "syncd", "-c", str(path), "sync", "--json", "leads"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: lock.exists() and f"pid {first.pid}," in lock.read_text(), 30, "the first run to hold the job")
        second = h.cli("sync", "--json", "leads")
        assert first.poll() is None, "the first run was still going when the second ended"
        assert second.returncode == 4, second.stderr
        assert f"job 'leads' is being run by another syncd process (pid {first.pid}" in second.stdout
        _, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    people = {e["phone_number"] for e in entries(h)}
    assert len(entries(h)) == len(people) == 10, "nobody created twice"
    assert len(h.leads("callyzer")) == 10
    again = h.sync("leads")
    assert again["actions"] == [], "the first run did all of it"


@SLOW
def test_the_daemon_skips_a_run_while_another_process_holds_the_job_then_runs_it(harness4: Harness) -> None:
    h = harness4
    seed_people(h, 3)
    daemon_config(h, {"leads": "1s"})
    store = h.state()
    held = job_lock.hold(store, "leads")  # as a `syncd sync` by hand would
    proc = start_daemon(h)
    try:
        wait_for(lambda: sum(line.get("event") == "job busy: another process runs it" for line in log_lines(h)) >= 2,
                 30, "two scheduled runs skipped")  # fmt: skip
        assert runs(h, "leads") == [] and entries(h) == []
        held.release()
        wait_for(lambda: len(entries(h)) == 3 and any(r.status == "ok" for r in runs(h, "leads")), 60,
                 "the next scheduled run, once the job is free, done")  # fmt: skip
    finally:
        held.release()
        store.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    # every run whole, but the one under way when the test stopped the daemon: SIGTERM may cut that one short
    statuses = [r.status for r in runs(h, "leads")]
    assert statuses and all(s == "ok" for s in statuses[:-1]) and statuses[-1] in ("ok", "interrupted"), statuses
