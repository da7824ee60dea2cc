"""`syncd demo`: the sandbox with a realistic sample, every job run once with a progress bar, a summary
checked against the simulators' own state, and where to look next."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from syncd import logging as slog
from syncd.config.load import LoadedConfig, load
from syncd.connectors.pacing import PaceBook
from syncd.runner import JobRun, RunReport
from syncd.sample import sample_all
from syncd.sandbox import Sandbox
from syncd.state.store import Store


def seed(box: Sandbox) -> dict[str, int]:
    counts = {}
    for system, body in sample_all().items():
        with box.admin(system) as client:
            if system == "callsavvy":  # contacts go to the Customers group the `contacts` job syncs
                groups = client.get("/_sim/records").json()["groups"]
                customers = next(g["group_id"] for g in groups if g["name"] == "Customers")
                body = {**body, "contacts": [{**c, "group_id": customers} for c in body["contacts"]]}
            client.post("/_sim/records", json=body).raise_for_status()
        counts[system] = _records_in(box, system)
    return counts


def _records_in(box: Sandbox, system: str, job: str | None = None) -> int:
    with box.admin(system) as client:
        dump: dict[str, Any] = client.get("/_sim/records").json()
    if system == "callpage":
        return len({call["data"]["to"] if "data" in call else call.get("to") for call in dump["calls"]})
    if system == "appsapi":
        lists = dump["contacts"]
        return len(lists.get("1" if job == "contacts" else "2", [])) if job else sum(len(v) for v in lists.values())
    if system == "callsavvy" and job == "contacts":
        return len(dump["contacts"])
    return len(dump["leads"]) if job or system != "callsavvy" else len(dump["leads"]) + len(dump["contacts"])


async def _run_all(loaded: LoadedConfig, console: Console) -> list[RunReport]:
    from syncd.progress import TerminalProgress

    store = Store(loaded.state_url)
    pacers = PaceBook()  # (the jobs share the simulated accounts' allowances, as syncd sync's do)
    reports = []
    try:
        for name in loaded.config.jobs:
            job = JobRun(loaded, name, store, pacers=pacers)
            job.progress = TerminalProgress(job, console)
            console.print(f"[bold]syncing job {name!r}[/] …")
            try:
                reports.append(await job.run())
            finally:
                await job.aclose()
    finally:
        store.close()
    return reports


def demo(directory: Path, speed: float) -> int:
    console = Console()
    if directory.exists():
        shutil.rmtree(directory)
    started = time.monotonic()
    with Sandbox(speed=speed, all_systems=True) as box:
        seeded = seed(box)
        console.print("Sandbox seeded: " + ", ".join(f"{s} {n}" for s, n in seeded.items()) + " records")
        path = box.write_config(directory)
        loaded = load(path)
        slog.add_secrets(loaded.secret_values())
        slog.configure("error", "auto")
        first = asyncio.run(_run_all(loaded, console))
        second = asyncio.run(_run_all(loaded, console))
        summary, matches = _summary(box, loaded, first)
        console.print(summary)
        stats = box.stats()
    total_429 = sum(s["rate_limited"] for s in stats.values())
    by_system_429 = {k: s["rate_limited"] for k, s in stats.items() if s["rate_limited"]}
    where_429 = f" {by_system_429}" if by_system_429 else ""
    quiet_writes = sum(len(r.plan.writes()) if r.plan else 0 for r in second)
    failed = sum(len(r.failed) for r in first)
    console.print(
        f"First run: {sum(len(r.plan.writes()) for r in first if r.plan)} writes, {failed} records need a person "
        f"(invalid on purpose). Second run: {quiet_writes} writes. 429s served: {total_429}{where_429}. "
        f"{time.monotonic() - started:.0f}s in all."
    )
    console.print(
        f"\nNext: [bold]syncd -c {path} plan[/]   [bold]syncd -c {path} status[/]   "
        f"[bold]syncd -c {path} failures[/]   [bold]syncd -c {path} history +91…[/]\n"
        f"(the state stays in {directory}; the simulators stopped with the demo: `syncd sim` serves them)"
    )
    # 429s are reported, not fatal: they were retried and lost nothing (at 40× compression a busy machine's
    # scheduling hiccups can exceed the client's jitter allowance; at the providers' real pace they cannot)
    return 0 if quiet_writes == 0 and matches else 1


def _summary(box: Sandbox, loaded: LoadedConfig, first: list[RunReport]) -> tuple[Table, bool]:
    """Per job and system: what the simulator holds against what syncd linked (plus the records it
    reported as needing a person): the two must agree."""
    store = Store(loaded.state_url)
    all_ok = True
    table = Table(title="syncd demo: what each system holds now")
    for column in ("job", "system", "records in the system", "linked by syncd", "written", "need a person", "match"):
        table.add_column(column)
    try:
        for report in first:
            linked = store.links_count(report.job)
            written: dict[str, int] = {}
            for action in report.plan.writes() if report.plan else []:
                written[action.system] = written.get(action.system, 0) + 1
            for system in loaded.config.jobs[report.job].systems:
                name = system.system
                held = _records_in(box, name, report.job)
                failed = sum(1 for f in report.failed if f["system"] == name and f["action"] == "match")
                ok = held == linked.get(name, 0) + failed
                all_ok = all_ok and ok
                needs = sum(1 for f in report.failed if f["system"] == name)
                row = (held, linked.get(name, 0), written.get(name, 0), needs)
                table.add_row(report.job, name, *(str(n) for n in row), "✓" if ok else "✗")
    finally:
        store.close()
    return table, all_ok
