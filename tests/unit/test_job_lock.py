"""One run of a job at a time across processes (syncd.state.job_lock): held, refused with the holder named,
released by the kernel when the holder dies, and per job."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from syncd.runner import EXIT_BUSY, RunReport
from syncd.state import job_lock
from syncd.state.store import Store
from tests.unit.test_aside import leads_job


def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state' / 'syncd.db'}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    state = Store(url(tmp_path))
    yield state
    state.close()


HOLDER = """
import sys, time
from syncd.state import job_lock
from syncd.state.store import Store
held = job_lock.hold(Store(sys.argv[1]), sys.argv[2])
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_holder_is_refused_with_the_first_named_until_it_lets_go(tmp_path: Path, store: Store) -> None:
    held = job_lock.hold(store, "leads")
    with pytest.raises(
        job_lock.JobBusy, match=rf"job 'leads' is being run by another syncd process \(pid {os.getpid()}"
    ):
        job_lock.hold(store, "leads")
    other = job_lock.hold(store, "contacts")  # another job: its own lock
    held.release()
    job_lock.hold(store, "leads").release()
    other.release()
    locks = sorted(p.name for p in (tmp_path / "state").iterdir() if p.suffix == ".lock")
    assert locks == ["syncd.db.contacts.lock", "syncd.db.leads.lock"]


def test_a_holder_killed_mid_run_leaves_no_lock_behind(tmp_path: Path, store: Store) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url(tmp_path), "leads"], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(job_lock.JobBusy, match=f"pid {proc.pid}"):
            job_lock.hold(store, "leads")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    job_lock.hold(store, "leads").release()  # at once: nothing to clear by hand, nothing to wait for


def test_job_names_map_to_distinct_safe_files_and_other_states_get_no_lock(tmp_path: Path) -> None:
    database = tmp_path / "state" / "syncd.db"
    a, b = job_lock.lock_path(database, "leads/x"), job_lock.lock_path(database, "leads x")
    assert a != b
    assert a.parent == b.parent == tmp_path / "state" and "/" not in a.name[len("syncd.db.") :]
    private = Store("sqlite:///:memory:")  # the process's own: nobody else to keep out
    assert job_lock.hold(private, "leads").note is None
    private.close()
    elsewhere = cast(Store, SimpleNamespace(file=None, url="postgresql://db/syncd"))  # (no server here to connect to)
    assert "no cross-process lock" in (job_lock.hold(elsewhere, "leads").note or "")


def test_a_run_that_finds_its_job_held_does_nothing_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = leads_job(tmp_path)
    held = job_lock.hold(job.store, "leads")
    try:
        started = time.monotonic()
        report = asyncio.run(job.run())
        assert time.monotonic() - started < 5
        assert (report.status, report.exit_code, report.run_id, report.api) == ("busy", EXIT_BUSY, "", {})
        assert "is being run by another syncd process" in report.errors[0]
        assert job.store.runs("leads") == [], "no run was begun"
        ran: list[bool] = []

        async def held_run(dry_run: bool, allow_mass_delete: bool, note: str | None) -> RunReport:
            ran.append(dry_run)
            return RunReport("leads", "dry", dry_run)

        monkeypatch.setattr(job, "_held_run", held_run)
        assert asyncio.run(job.run(dry_run=True)).status == "ok" and ran == [True], "a dry run writes nowhere: let in"
    finally:
        held.release()
        asyncio.run(job.aclose())
        job.store.close()
