"""The `syncd` command. Config errors exit 2 before any network call; see runner.py for the other codes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import click

from syncd import logging as slog
from syncd.config.load import ConfigError, LoadedConfig, load
from syncd.runner import EXIT_CONFIG, EXIT_OK, EXIT_RECORDS, JobRun, RunReport

DEFAULT_CONFIG = "config.toml"


def _load(ctx: click.Context) -> LoadedConfig:
    path = ctx.obj["config"]
    try:
        loaded = load(path)
    except ConfigError as exc:
        click.echo(f"syncd: invalid configuration ({len(exc.problems)} problem(s)):", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        ctx.exit(EXIT_CONFIG)
    slog.add_secrets(loaded.secret_values())
    cfg = loaded.config.logging
    slog.configure(ctx.obj.get("log_level") or cfg.level, cfg.format)
    return loaded


def _jobs(ctx: click.Context, loaded: LoadedConfig, names: tuple[str, ...]) -> list[str]:
    unknown = [n for n in names if n not in loaded.config.jobs]
    if unknown:
        click.echo(
            f"syncd: {loaded.path}: jobs: no job named {', '.join(unknown)} (defined: {', '.join(loaded.config.jobs)})",
            err=True,
        )
        ctx.exit(EXIT_CONFIG)
    return list(names) or list(loaded.config.jobs)


async def run_jobs(
    loaded: LoadedConfig, jobs: list[str], *, dry_run: bool, allow_mass_delete: bool = False, progress: bool = False
) -> list[RunReport]:
    from syncd.connectors.pacing import PaceBook
    from syncd.progress import TerminalProgress
    from syncd.state.store import Store

    store = Store(loaded.state_url)
    pacers = PaceBook()  # the jobs call the same accounts: one allowance each, shared
    reports = []
    try:
        for name in jobs:
            job = JobRun(loaded, name, store, pacers=pacers)
            if progress:
                job.progress = TerminalProgress(job)
            try:
                reports.append(await job.run(dry_run=dry_run, allow_mass_delete=allow_mass_delete))
            finally:
                await job.aclose()
    finally:
        store.close()
    return reports


def _exit_code(reports: list[RunReport]) -> int:
    return max((r.exit_code for r in reports), default=EXIT_OK)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config",
    default=lambda: os.environ.get("SYNCD_CONFIG", DEFAULT_CONFIG),
    show_default="$SYNCD_CONFIG or ./config.toml",
    help="Path of the TOML config file.",
)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
@click.pass_context
def main(ctx: click.Context, config: str, log_level: str | None) -> None:
    """Keeps leads and contacts in step across Callyzer, Callsavvy, the Apps API and CallPage.

    \b
    Exit codes: 0 clean, 1 some records failed (see `syncd failures`), 2 config error,
    3 a provider unreachable or its credentials refused.
    """
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    ctx.obj["log_level"] = log_level


@main.command()
@click.argument("jobs", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Fetch and plan, print the plan, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report (and plan) as JSON.")
@click.option("--allow-mass-delete", is_flag=True, help="Run even when deletes exceed the configured share.")
@click.pass_context
def sync(ctx: click.Context, jobs: tuple[str, ...], dry_run: bool, as_json: bool, allow_mass_delete: bool) -> None:
    """Run JOBS once (all jobs when none are named)."""
    from syncd.render import plan_json, plan_text, report_text

    loaded = _load(ctx)
    reports = asyncio.run(
        run_jobs(
            loaded,
            _jobs(ctx, loaded, jobs),
            dry_run=dry_run,
            allow_mass_delete=allow_mass_delete,
            progress=not as_json and sys.stderr.isatty(),
        )
    )
    if as_json:
        out = []
        for r in reports:
            item = r.summary()
            if r.plan is not None and dry_run:
                item["plan"] = plan_json(r.plan)
            out.append(item)
        click.echo(slog.redact_text(json.dumps(out, indent=2, default=str)))
    else:
        for r in reports:
            if dry_run and r.plan is not None:
                click.echo(slog.redact_text(plan_text(r.plan)))
            click.echo(slog.redact_text(report_text(r)))
    ctx.exit(_exit_code(reports))


@main.command()
@click.argument("jobs", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.pass_context
def plan(ctx: click.Context, jobs: tuple[str, ...], as_json: bool) -> None:
    """Show, per record and field, what a sync of JOBS would do and why. Writes nothing."""
    from syncd.render import plan_json, plan_text

    loaded = _load(ctx)
    reports = asyncio.run(run_jobs(loaded, _jobs(ctx, loaded, jobs), dry_run=True))
    if as_json:
        click.echo(slog.redact_text(json.dumps([plan_json(r.plan) for r in reports if r.plan], indent=2, default=str)))
    else:
        for r in reports:
            if r.plan is not None:
                click.echo(slog.redact_text(plan_text(r.plan)))
            for error in r.errors:
                click.echo(f"ERROR {slog.redact_text(error)}")
    ctx.exit(_exit_code(reports))


@main.group()
def config() -> None:
    """Check the configuration."""


@config.command("validate")
@click.pass_context
def config_validate(ctx: click.Context) -> None:
    """Print OK, or every problem with file, key and what is expected (exit 2)."""
    loaded = _load(ctx)
    jobs = ", ".join(loaded.config.jobs)
    click.echo(f"OK: {loaded.path} ({len(loaded.config.systems)} systems; jobs: {jobs})")


@main.command()
@click.option("--job", default=None, help="Only this job.")
@click.option("--all", "include_resolved", is_flag=True, help="Include resolved failures.")
@click.option("--retry", "retry_id", type=int, default=None, help="Retry failure ID now (un-skips it).")
@click.option("--skip", "skip_id", type=int, default=None, help="Stop retrying failure ID.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def failures(
    ctx: click.Context,
    job: str | None,
    include_resolved: bool,
    retry_id: int | None,
    skip_id: int | None,
    as_json: bool,
) -> None:
    """List records that failed (rejected by a provider, invalid, or ambiguous); they are retried every run."""
    from syncd.render import report_text
    from syncd.state.store import Store

    loaded = _load(ctx)
    store = Store(loaded.state_url)
    try:
        if skip_id is not None or retry_id is not None:
            target = skip_id if skip_id is not None else retry_id
            assert target is not None
            try:
                row = store.set_failure_skipped(target, skipped=skip_id is not None)
            except KeyError as exc:
                click.echo(f"syncd: {exc.args[0]}", err=True)
                ctx.exit(EXIT_CONFIG)
            if skip_id is not None:
                click.echo(f"#{row.id} skipped: syncd stops retrying it ({row.label or row.record_key})")
                return
            click.echo(f"#{row.id} will be retried; running job {row.job!r} now")
            store.close()
            reports = asyncio.run(run_jobs(loaded, [row.job], dry_run=False))
            for report in reports:
                click.echo(slog.redact_text(report_text(report)))
            ctx.exit(_exit_code(reports))
        rows = store.failures(job, include_resolved=include_resolved)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    if not rows:
        click.echo("no open failures")
        return
    for r in rows:
        state = "resolved" if r.resolved_at else f"open, {r.attempts} attempt(s)"
        state += ", skipped" if r.skipped else ""
        who = r.label or r.record_key
        click.echo(f"#{r.id} [{r.job}] {r.system} {r.action} {who} ({state}, last {r.last_seen:%Y-%m-%d %H:%M})")
        click.echo(f"    {r.reason}")


@main.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run every scheduled job on its schedule until SIGTERM (the daemon; systemd Type=notify aware).

    SIGHUP reloads the config; an invalid new config is logged and the running one kept."""
    from syncd.daemon import run_daemon

    loaded = _load(ctx)
    ctx.exit(run_daemon(Path(ctx.obj["config"]), loaded))


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Per job: the last run and its result, counts, the next run, open failures, held conflicts."""
    from syncd.status import job_status, status_table

    loaded = _load(ctx)
    rows = job_status(loaded)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
    else:
        status_table(rows)


@main.command()
@click.argument("who")
@click.option("--job", default=None, help="Only this job.")
@click.pass_context
def history(ctx: click.Context, who: str, job: str | None) -> None:
    """Every change syncd made to the person with this phone number or e-mail address."""
    from syncd.status import history_lines

    loaded = _load(ctx)
    lines = history_lines(loaded, who, job)
    if not lines:
        click.echo(f"syncd knows no one with {who!r}", err=True)
        ctx.exit(EXIT_RECORDS)
    click.echo("\n".join(lines))


@main.group(invoke_without_command=True)
@click.option("--job", default=None, help="Only this job.")
@click.pass_context
def conflicts(ctx: click.Context, job: str | None) -> None:
    """Conflicts held for a person (conflict policy `hold`); decide one with `conflicts resolve`."""
    if ctx.invoked_subcommand is not None:
        return
    from syncd.state.store import Store

    loaded = _load(ctx)
    store = Store(loaded.state_url)
    rows = store.held_conflicts(job)
    store.close()
    if not rows:
        click.echo("no conflicts held")
    for r in rows:
        values = ", ".join(f"{s}={v!r}" for s, v in json.loads(r.values).items())
        chosen = f"; {r.take} chosen, applied next run" if r.take else ""
        click.echo(f"#{r.id} [{r.job}] {r.label}: {r.field} — {values} (since {r.first_seen:%Y-%m-%d %H:%M}{chosen})")


@conflicts.command("resolve")
@click.argument("conflict_id", type=int)
@click.option("--take", required=True, help="The system whose value wins.")
@click.pass_context
def conflicts_resolve(ctx: click.Context, conflict_id: int, take: str) -> None:
    """Decide a held conflict: the next run sends TAKE's value to every system."""
    from syncd.state.store import Store

    loaded = _load(ctx)
    store = Store(loaded.state_url)
    try:
        row = store.resolve_conflict(conflict_id, take)
    except (KeyError, ValueError) as exc:
        click.echo(f"syncd: {exc.args[0]}", err=True)
        ctx.exit(EXIT_RECORDS)
    finally:
        store.close()
    click.echo(f"#{row.id} {row.field} of {row.label}: {take}'s value will be sent everywhere on the next run")


@main.command()
@click.option(
    "--speed", default=20.0, show_default=True, help="Compress the providers' rate-limit windows by this factor."
)
@click.option("--seed/--no-seed", default=True, show_default=True, help="Load the sample leads.")
@click.option("--dir", "directory", default="state/sandbox", show_default=True, type=click.Path(path_type=Path),
              help="Where to write the sandbox config, secrets and state.")  # fmt: skip
@click.option("--port", "ports", multiple=True, help="system=port to fix a simulator's port (e.g. callyzer=8101).")
def sim(speed: float, seed: bool, directory: Path, ports: tuple[str, ...]) -> None:
    """Serve the provider simulators on loopback until interrupted, with a config that points at them."""
    from syncd.sandbox import Sandbox

    fixed = {p.split("=", 1)[0]: int(p.split("=", 1)[1]) for p in ports}
    with Sandbox(speed=speed, ports=fixed, all_systems=True) as box:
        if seed:
            from syncd.demo import seed as seed_sample

            seed_sample(box)
        path = box.write_config(directory)
        click.echo(f"Simulators on loopback (rate limits compressed {speed:g}×):")
        for system in box.sims:
            click.echo(f"  {system:<10} {box.base_url(system)}   admin: {box.server.url(system)}/_sim/stats")
        click.echo(f"Credentials are the providers' sandbox keys, written to {directory / 'secrets'} (mode 600).")
        click.echo(f"Config: {path}\nTry:    syncd -c {path} plan\n        syncd -c {path} sync\nCtrl-C stops.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("stopped")


@main.command()
@click.option("--speed", default=40.0, show_default=True, help="Rate-limit compression of the simulators.")
@click.option("--dir", "directory", default="state/demo", show_default=True, type=click.Path(path_type=Path))
@click.pass_context
def demo(ctx: click.Context, speed: float, directory: Path) -> None:
    """Start the four simulators with sample data, run every job (twice), and show what happened."""
    from syncd.demo import demo as run_demo

    ctx.exit(run_demo(directory, speed))


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
