"""`syncd run` as an operations person leaves it: a real subprocess, signals, the simulators, the state."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from sqlmodel import Session, select

from syncd.state.models import Run
from tests.e2e.harness import Harness

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def runs(h: Harness, job: str | None = None) -> list[Run]:
    store = h.state()
    try:
        with Session(store.engine) as session:
            query = select(Run).order_by(Run.started_at)  # type: ignore[arg-type]
            return [r for r in session.exec(query) if job is None or r.job == job]
    finally:
        store.close()


def daemon_config(h: Harness, every: dict[str, str]) -> Path:
    config = h.box.config(h.dir, {"leads": h.box.leads_job(), "contacts": h.box.contacts_job()})
    config["jobs"]["leads"]["systems"] = [s for s in config["jobs"]["leads"]["systems"] if s["system"] != "callpage"]
    for job, interval in every.items():
        config["jobs"][job]["schedule"] = {"every": interval, "timeout": "2m"}
    config["daemon"] = {"stop_timeout": "20s"}
    config["logging"] = {"level": "info", "format": "json"}
    path = h.dir / "config.toml"
    path.write_text(tomli_w.dumps(config))
    os.chmod(path, 0o600)
    h.config_path = path
    return path


def start_daemon(h: Harness) -> subprocess.Popen[str]:
    assert h.config_path is not None
    log = open(h.dir / "daemon.log", "a")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "syncd", "-c", str(h.config_path), "run"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip


def log_lines(h: Harness) -> list[dict[str, Any]]:
    out = []
    for line in (h.dir / "daemon.log").read_text().splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def list_entries(h: Harness) -> list[dict[str, Any]]:
    return list(h.dump("appsapi")["contacts"].get("2", []))


def list_posts(h: Harness) -> int:
    return int(h.stats("appsapi")["by_endpoint"].get("POST /contact_lists/{contact_list_id}/contacts", 0))


def no_overlap(job_runs: list[Run]) -> bool:
    spans = sorted((r.started_at, r.finished_at) for r in job_runs if r.finished_at is not None)
    return all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))


def seed_people(h: Harness, n: int, offset: int = 0) -> None:
    group = next(g["group_id"] for g in h.dump("callsavvy")["groups"] if g["name"] == "Customers")
    h.seed_raw("callsavvy", {
        "leads": [{"name": f"Lead Person{i}", "phone": f"+91981{offset + i:07d}", "status": "Potential",
                   "priority": "Warm", "summary": "seed"} for i in range(n)],
        "contacts": [{"name": f"Contact Person{i}", "phone": f"+91982{offset + i:07d}", "group_id": group}
                     for i in range(min(n, 5))],
    })  # fmt: skip


def test_two_jobs_run_repeatedly_without_overlap_and_sigterm_exits_cleanly(harness4: Harness) -> None:
    h = harness4
    seed_people(h, 5)
    daemon_config(h, {"leads": "1s", "contacts": "1s"})
    proc = start_daemon(h)
    try:
        wait_for(lambda: len(runs(h, "leads")) >= 3 and len(runs(h, "contacts")) >= 3, 60, "three runs of each job")
        assert no_overlap(runs(h, "leads")) and no_overlap(runs(h, "contacts"))
        assert len(h.leads("callyzer")) == 5 and len(h.dump("appsapi")["contacts"]["1"]) == 5

        # a long run: 150 new Callsavvy leads to write into the Apps API list (1 request/s, compressed);
        # SIGTERM arrives in the middle of it
        posts_before = list_posts(h)
        seed_people(h, 150, offset=1000)
        wait_for(lambda: list_posts(h) >= posts_before + 20, 60, "writes in flight")
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert time.monotonic() - sent < 15, "SIGTERM must end the daemon promptly"
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = log_lines(h)
    assert any(line.get("event") == "daemon stopped" for line in lines)
    store = h.state()
    assert store.integrity_ok()
    store.close()
    assert all(r.finished_at is not None for r in runs(h)), "every run was recorded, the interrupted one too"
    interrupted = [r for r in runs(h) if r.status == "interrupted"]
    assert interrupted, "the run in flight stopped at a batch boundary"
    assert len(list_entries(h)) < 155, "the stop came before the run could finish"

    # the next start finishes the interrupted work, without a duplicate
    proc = start_daemon(h)
    try:
        wait_for(lambda: len(list_entries(h)) == 155 and len(h.leads("callyzer")) == 155, 120, "catch-up")
        wait_for(lambda: runs(h, "leads")[-1].status == "ok" and runs(h, "leads")[-1].finished_at is not None, 60,
                 "a clean run")  # fmt: skip
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    phones = [entry["phone_number"] for entry in list_entries(h)]
    assert len(phones) == len(set(phones)) == 155
    assert len(h.leads("callsavvy")) == 155
    numbers = [lead["details"]["contact_numbers"][0] for lead in h.leads("callyzer")]
    assert len(numbers) == len(set(numbers)) == 155


def test_sighup_reloads_the_schedule_and_a_broken_config_keeps_the_old_one(harness4: Harness) -> None:
    h = harness4
    seed_people(h, 3)
    path = daemon_config(h, {"leads": "1s", "contacts": "1h"})
    proc = start_daemon(h)
    try:
        wait_for(lambda: len(runs(h, "leads")) >= 3, 60, "leads to run every second")
        assert len(runs(h, "contacts")) == 1, "contacts runs once at start, then hourly"

        daemon_config(h, {"leads": "1h", "contacts": "1s"})
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(runs(h, "contacts")) >= 3, 60, "contacts on its new schedule")
        leads_after = len(runs(h, "leads"))
        time.sleep(2.5)
        assert len(runs(h, "leads")) <= leads_after + 1, "leads left its one-second schedule"

        good = path.read_text()
        path.write_text(good.replace('kind = "callyzer"', 'kind = "callyzerr"'))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: any(line.get("event", "").startswith("new config is invalid") for line in log_lines(h)), 20,
                 "the reload to be refused")  # fmt: skip
        before = len(runs(h, "contacts"))
        wait_for(lambda: len(runs(h, "contacts")) >= before + 2, 30, "the old schedule to keep running")
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    refused = next(line for line in log_lines(h) if line.get("event", "").startswith("new config is invalid"))
    assert any("systems.callyzer.kind" in p for p in refused["problems"])


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    syncd = shutil.which("syncd") or str(Path(sys.executable).parent / "syncd")
    for unit in SYSTEMD.iterdir():
        text = unit.read_text().replace("/opt/syncd/.venv/bin/syncd", syncd)
        (tmp_path / unit.name).write_text(text)
    for template in ("syncd-sync@.service", "syncd-sync@.timer"):
        instance = template.replace("@.", "@leads.")
        shutil.copy(tmp_path / template, tmp_path / instance)
    units = [str(tmp_path / n) for n in ("syncd.service", "syncd-sync@leads.service", "syncd-sync@leads.timer")]
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    service = (SYSTEMD / "syncd.service").read_text()
    required = (
        "Type=notify", "WatchdogSec=", "Restart=on-failure", "StateDirectory=syncd", "LoadCredential=",
        "DynamicUser=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
        "RestrictAddressFamilies=", "SystemCallFilter=@system-service",
    )  # fmt: skip
    for directive in required:
        assert directive in service, directive


def test_the_daemon_serves_prometheus_metrics(harness4: Harness) -> None:
    import socket
    import tomllib
    import urllib.request

    h = harness4
    seed_people(h, 3)
    path = daemon_config(h, {"leads": "1s", "contacts": "1h"})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tomllib.loads(path.read_text())
    config["metrics"] = {"listen": f"127.0.0.1:{port}"}
    path.write_text(tomli_w.dumps(config))
    proc = start_daemon(h)
    try:
        wait_for(lambda: len(runs(h, "leads")) >= 2, 60, "two runs")

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                return str(response.read().decode())

        wait_for(lambda: 'syncd_runs_total{job="leads",status="ok"}' in scrape(), 30, "the runs counted")
        text = scrape()
        assert 'syncd_api_calls_total{job="leads",system="callyzer"}' in text
        assert 'syncd_last_success_timestamp_seconds{job="leads"}' in text
        assert 'syncd_open_failures{job="leads"} 0.0' in text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
