"""A long initial sync checkpoints as it goes: killed half way and restarted, it repeats no write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.e2e.harness import Harness

N = 300
LIST_POSTS = "POST /contact_lists/{contact_list_id}/contacts"


def _seed(h: Harness) -> None:
    h.seed("callsavvy", [
        {"name": f"Lead Person{i:04d}", "phone": f"+91981{i:07d}", "status": "Potential", "priority": "Warm",
         "summary": "seed"} for i in range(N)
    ])  # fmt: skip


def _writes(h: Harness) -> dict[str, int]:
    return {s: h.stats(s)["writes"] for s in ("callyzer", "appsapi", "callsavvy")}


def _kill_half_way(h: Harness, system: str, endpoint: str, slow_appsapi: bool = False) -> None:
    """`syncd sync leads` (CallPage left out) as a user runs it, SIGKILLed once ``endpoint`` served N/2 calls.
    ``slow_appsapi``: syncd paces the Apps API 6× slower than it may, so that at the kill many people have
    their other writes done and their list entry still to come: written, but not recorded."""
    import tomli_w

    h.configure()
    config = h.box.config(h.dir, {"leads": h.box.leads_job()})
    if slow_appsapi:
        config["systems"]["appsapi"]["rate"]["interval"] *= 6
    config["jobs"]["leads"]["systems"] = [s for s in config["jobs"]["leads"]["systems"] if s["system"] != "callpage"]
    assert h.config_path is not None
    h.config_path.write_text(tomli_w.dumps(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd", "-c", str(h.config_path), "sync", "leads"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while h.stats(system)["by_endpoint"].get(endpoint, 0) < N // 2:
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before half way"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def test_a_kill_at_half_way_then_a_restart_writes_no_more_than_one_uninterrupted_run(harness4: Harness) -> None:
    h = harness4
    _seed(h)
    _kill_half_way(h, "appsapi", LIST_POSTS)
    at_kill = _writes(h)
    assert 0 < at_kill["appsapi"] < N, at_kill
    store = h.state()
    linked = store.links_count("leads")
    store.close()
    # checkpoints: what was written before the kill is already in the state, but for the chunk in flight (25
    # writes) and the chunk before it, whose recording (a worker thread, at most one a second: Checkpoint.save)
    # the kill may have caught before its commit; a chunk here takes about a second (20 ms a call + jitter)
    assert linked["appsapi"] >= at_kill["appsapi"] - 2 * 25, (linked, at_kill)
    assert linked["callsavvy"] == linked["appsapi"], "a person is recorded whole, once all its writes are done"

    report = h.sync("leads")
    assert report["exit_code"] == 0, report["failed"]
    total = _writes(h)
    # one uninterrupted run writes each lead once into Callyzer and once into the list, nothing into Callsavvy
    assert total == {"callyzer": N, "appsapi": N, "callsavvy": 0}, total
    entries = h.dump("appsapi")["contacts"]["2"]
    assert len(entries) == N and len({e["phone_number"] for e in entries}) == N
    assert len(h.leads("callyzer")) == N
    h.quiet("leads")


def test_a_restart_does_not_merge_back_what_the_killed_run_created(harness4: Harness) -> None:
    """People known only to Callyzer get a Callsavvy lead (which lists the tag "callsavvy") and a list entry.
    Killed half way, some are written but not yet recorded. On restart, the Callsavvy lead the dead run
    created is ours, not a source: nothing of it may be merged back into Callyzer, which one uninterrupted
    run never writes to."""
    h = harness4
    h.seed("callyzer", [
        {"details": {"first_name": f"Lead{i:04d}", "last_name": "Person", "contact_numbers": [f"91-981{i:07d}"]}}
        for i in range(N)
    ])  # fmt: skip
    _kill_half_way(h, "callsavvy", "/createLead", slow_appsapi=True)
    store = h.state()
    linked = store.links_count("leads")
    store.close()
    assert linked.get("callsavvy", 0) < N // 2 - 25, ("too few people written but unrecorded to tell", linked)
    report = h.sync("leads")
    assert report["exit_code"] == 0, report["failed"]
    assert not [a for a in report["actions"] if a["system"] == "callyzer"], "merged back into Callyzer"
    assert _writes(h) == {"callyzer": 0, "appsapi": N, "callsavvy": N}
    assert len(h.leads("callsavvy")) == N
    h.quiet("leads")
