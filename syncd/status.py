"""What `syncd status` and `syncd history` show: read from the state, never from the providers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from syncd import phones
from syncd.config.load import LoadedConfig
from syncd.config.schema import parse_duration
from syncd.state.store import Store


def next_run(loaded: LoadedConfig, job: str, last_start: datetime | None) -> str:
    schedule = loaded.config.jobs[job].schedule
    now = datetime.now(UTC)
    if schedule.every:
        if last_start is None:
            return "at daemon start"
        due = last_start.replace(tzinfo=last_start.tzinfo or UTC) + timedelta(seconds=parse_duration(schedule.every))
        return f"{max(due, now):%Y-%m-%d %H:%M:%S} UTC"
    if schedule.cron:
        from apscheduler.triggers.cron import CronTrigger

        due = CronTrigger.from_crontab(schedule.cron).get_next_fire_time(None, now.astimezone())
        return f"{due:%Y-%m-%d %H:%M:%S %Z}" if due else "never"
    return "not scheduled (syncd sync only)"


def job_status(loaded: LoadedConfig) -> list[dict[str, Any]]:
    store = Store(loaded.state_url)
    try:
        out = []
        for job in loaded.config.jobs:
            runs = [r for r in store.runs(job, limit=50) if not r.dry_run]
            last = runs[0] if runs else None
            report = json.loads(last.report) if last else {}
            out.append(
                {
                    "job": job,
                    "last_run": f"{last.started_at:%Y-%m-%d %H:%M:%S}" if last else "never",
                    "result": last.status if last else "-",
                    "seconds": report.get("seconds"),
                    "planned": report.get("planned", {}),
                    "linked": store.links_count(job),
                    "next_run": next_run(loaded, job, last.started_at if last else None),
                    "open_failures": len(store.failures(job)),
                    "held_conflicts": len(store.held_conflicts(job)),
                    "last_clean": next(
                        (f"{r.started_at:%Y-%m-%d %H:%M:%S}" for r in runs if r.status == "ok"), "never"
                    ),
                }
            )
        return out
    finally:
        store.close()


def status_table(rows: list[dict[str, Any]], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="syncd status")
    for column in ("job", "last run (UTC)", "result", "records linked", "next run", "failures", "conflicts"):
        table.add_column(column)
    for row in rows:
        linked = ", ".join(f"{s} {n}" for s, n in sorted(row["linked"].items())) or "-"
        table.add_row(
            row["job"], row["last_run"], row["result"], linked, row["next_run"],
            str(row["open_failures"]), str(row["held_conflicts"]),
        )  # fmt: skip
    console.print(table)


def _keys(who: str, loaded: LoadedConfig) -> set[str]:
    if "@" in who:
        return {"email:" + who.strip().lower()}
    keys = set()
    for region in {s.default_region for s in loaded.config.systems.values()} or {"US"}:
        try:
            keys.add("phone:" + phones.to_e164(who, region))
        except phones.PhoneError:
            continue
    return keys


def history_lines(loaded: LoadedConfig, who: str, job: str | None) -> list[str]:
    store = Store(loaded.state_url)
    try:
        lines: list[str] = []
        for job_name, entity_id in store.find_entities(job, _keys(who, loaded)):
            links = store.links_of(job_name, entity_id)
            where = ", ".join(f"{lk.system} {lk.remote_id}" + (" (gone)" if lk.gone else "") for lk in links)
            lines.append(f"[{job_name}] person {entity_id[:12]} — {where}")
            changes = store.changes(job_name, entity_id)
            if not changes:
                lines.append("  no change made by syncd yet")
            for c in changes:
                before = "∅" if c.before in (None, "null") else c.before
                after = "∅" if c.after in (None, "null") else c.after
                lines.append(
                    f"  {c.at:%Y-%m-%d %H:%M:%S} run {c.run_id} {c.system:<10} {c.action:<7} {c.field}: "
                    f"{before} → {after}  ({c.reason})"
                )
        return lines
    finally:
        store.close()
