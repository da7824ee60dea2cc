"""`syncd run`: every job on its schedule, in one event loop, for months.

APScheduler 3.11's AsyncIOScheduler fires the jobs inside the daemon's loop. One job never runs twice at
once (a lock, besides APScheduler's max_instances) and late runs are coalesced into one. Each run has a
time limit: when it is reached the run stops at its next batch boundary, so a hung provider cannot
block every later run. SIGTERM stops taking new work, lets the runs in flight finish their batch (and
record it) within ``daemon.stop_timeout``, and exits 0. SIGHUP reloads the config; an invalid one is
logged and the old one keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from syncd import logging as slog
from syncd import notify
from syncd.config.load import ConfigError, LoadedConfig, load
from syncd.config.schema import JobConfig, parse_duration
from syncd.connectors.pacing import PaceBook
from syncd.metrics import Metrics
from syncd.runner import JobRun, RunReport
from syncd.state.store import Store

log = structlog.get_logger("syncd.daemon")


def trigger_for(job: JobConfig) -> BaseTrigger | None:
    if job.schedule.every:
        return IntervalTrigger(seconds=parse_duration(job.schedule.every))
    if job.schedule.cron:
        return CronTrigger.from_crontab(job.schedule.cron)
    return None


class Daemon:
    def __init__(self, config_path: Path, loaded: LoadedConfig) -> None:
        self.path = config_path
        self.loaded = loaded
        self.store = Store(loaded.state_url)
        self.jobs: dict[str, JobRun] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.running: dict[str, asyncio.Task[RunReport]] = {}
        self.retired: list[JobRun] = []  # JobRuns of an older config, closed once their run ends
        self.stop_event = asyncio.Event()
        self.scheduler: AsyncIOScheduler | None = None
        self.metrics = Metrics(loaded.config.metrics.listen)
        #: every job's calls to a system take turns from the same pacers: the provider counts the account's
        self.pacers = PaceBook()

    # --- lifecycle -----------------------------------------------------------------------------
    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.request_stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload()))
        self.scheduler = AsyncIOScheduler(event_loop=loop)
        self._install(self.loaded)
        self.scheduler.start()
        self.metrics.start()
        watchdog = loop.create_task(self._watchdog())
        scheduled = ", ".join(self.jobs) or "none"
        notify.notify(f"READY=1\nSTATUS=running; jobs: {scheduled}")
        log.info("daemon started", jobs=list(self.jobs), config=str(self.path))
        await self.stop_event.wait()
        notify.notify("STOPPING=1\nSTATUS=stopping")
        await self._shutdown()
        watchdog.cancel()
        log.info("daemon stopped")
        return 0

    def request_stop(self, why: str) -> None:
        if not self.stop_event.is_set():
            log.info("stop requested", signal=why, running=list(self.running))
            self.stop_event.set()

    async def _shutdown(self) -> None:
        assert self.scheduler is not None
        self.scheduler.shutdown(wait=False)
        for job in self.jobs.values():
            job.stop("syncd is stopping")
        tasks = list(self.running.values())
        if tasks:
            grace = parse_duration(self.loaded.config.daemon.stop_timeout)
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:  # the journal holds whatever was in flight; the next start finishes it
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for job in [*self.jobs.values(), *self.retired]:
            await job.aclose()
        self.store.close()
        self.metrics.stop()

    async def _watchdog(self) -> None:
        """Pings systemd from the event loop itself: a blocked loop misses its pings and gets restarted."""
        interval = notify.watchdog_interval()
        if interval is None:
            return
        while True:
            notify.notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    # --- jobs ------------------------------------------------------------------------------------
    def _install(self, loaded: LoadedConfig) -> None:
        assert self.scheduler is not None
        for job_id in [j.id for j in self.scheduler.get_jobs()]:
            self.scheduler.remove_job(job_id)
        self.retired.extend(self.jobs.values())
        self.jobs = {}
        for name, job in loaded.config.jobs.items():
            trigger = trigger_for(job)
            if trigger is None:
                log.info("job has no schedule; run it with `syncd sync`", job=name)
                continue
            self.jobs[name] = JobRun(loaded, name, self.store, pacers=self.pacers)
            self.locks.setdefault(name, asyncio.Lock())
            self.scheduler.add_job(
                self._run_job,
                trigger,
                args=[name],
                id=name,
                name=name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                next_run_time=datetime.now().astimezone(),
                replace_existing=True,
            )

    async def reload(self) -> None:
        log.info("reloading config", config=str(self.path))
        try:
            loaded = load(self.path)
        except ConfigError as exc:
            log.error("new config is invalid; keeping the running one", problems=exc.problems)
            notify.notify("STATUS=running; config reload failed, old config kept")
            return
        if loaded.state_url != self.loaded.state_url:
            log.warning("state.url changed: takes effect after a restart")
        slog.add_secrets(loaded.secret_values())
        self.loaded = loaded
        self._install(loaded)
        await self._close_idle_retired()
        notify.notify(f"STATUS=running; config reloaded; jobs: {', '.join(self.jobs) or 'none'}")
        log.info("config reloaded", jobs={n: _describe(loaded.config.jobs[n]) for n in self.jobs})

    async def _close_idle_retired(self) -> None:
        busy = {id(task) for task in self.running.values()}
        keep = []
        for job in self.retired:
            if getattr(job, "_task_id", None) in busy:
                keep.append(job)
            else:
                await job.aclose()
        self.retired = keep

    async def _run_job(self, name: str) -> None:
        lock = self.locks[name]
        if lock.locked() or self.stop_event.is_set():
            log.warning("previous run still going; this one is skipped", job=name)
            return
        async with lock:
            job = self.jobs.get(name)
            if job is None:
                return
            task = asyncio.get_running_loop().create_task(job.run())
            job._task_id = id(task)  # type: ignore[attr-defined]
            self.running[name] = task
            limit = parse_duration(self.loaded.config.jobs[name].schedule.timeout)
            started = time.monotonic()
            try:
                done, _ = await asyncio.wait({task}, timeout=limit)
                if not done:
                    log.error("run hit its time limit; stopping it at the next batch", job=name, limit=limit)
                    job.stop(f"time limit of {self.loaded.config.jobs[name].schedule.timeout} reached")
                    done, _ = await asyncio.wait({task}, timeout=min(60.0, max(1.0, limit * 0.1)))
                    if not done:
                        task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    report = await task
                    self.metrics.observe(report, self.store)
                    log.info("run done", job=name, status=report.status, seconds=round(time.monotonic() - started, 2))
            except Exception as exc:  # a bug must not kill the daemon: log it, the next run tries again
                log.exception("run crashed", job=name, error=str(exc))
            finally:
                self.running.pop(name, None)
                await self._close_idle_retired()


def _describe(job: JobConfig) -> dict[str, Any]:
    return {"every": job.schedule.every, "cron": job.schedule.cron, "timeout": job.schedule.timeout}


def run_daemon(config_path: Path, loaded: LoadedConfig) -> int:
    async def main() -> int:
        return await Daemon(config_path, loaded).serve()

    return asyncio.run(main())
