"""One run of one job: fetch → map → plan → apply → record. All I/O lives here, none in the engine.

Exit codes (also the CLI's): 0 clean, 1 some records failed or need a person, 2 config error,
3 a provider unreachable or its credentials refused.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import structlog

from syncd.canonical import share_texts
from syncd.config.load import LoadedConfig
from syncd.config.schema import JobSystem
from syncd.connectors.base import Connector
from syncd.connectors.callsavvy_leads import CallsavvyLeads
from syncd.connectors.callyzer import Callyzer
from syncd.connectors.errors import AuthError, ProviderError
from syncd.connectors.pacing import PaceBook
from syncd.early_feed import AsideFeed, Feed, MemoryFeed
from syncd.early_writes import EarlyPlanner
from syncd.engine.model import (
    ALL_READ,
    Action,
    EntityState,
    ExistingLead,
    Fallback,
    Fetched,
    LinkUpdate,
    Plan,
    Policies,
    Record,
    SystemRole,
    flat,
    squeeze,
    sum_of,
    unpack,
)
from syncd.engine.plan import plan as make_plan
from syncd.engine.plan import quiet_scope
from syncd.mapping import phone_cache
from syncd.mapping.apply import Mapper
from syncd.state import job_lock, memo, phone_memo
from syncd.state.aside import Placeholder, SetAside
from syncd.state.models import Journal
from syncd.state.store import Store

log = structlog.get_logger("syncd.run")

EXIT_OK, EXIT_RECORDS, EXIT_CONFIG, EXIT_UNREACHABLE, EXIT_BUSY = 0, 1, 2, 3, 4
STOPPING = "syncd is stopping"  # writes not sent because of SIGTERM or the run's time limit: not failures


def connector_class(kind: str, obj: str, entry: JobSystem) -> type[Connector]:
    """Which connector serves a system in a job (the config loader has checked the combination)."""
    if kind == "callyzer":
        return Callyzer
    if kind == "callsavvy":
        if obj == "contacts":
            from syncd.connectors.callsavvy_contacts import CallsavvyContacts

            return CallsavvyContacts
        return CallsavvyLeads
    if kind == "appsapi":
        from syncd.connectors import appsapi

        return appsapi.AppsApiCampaignContacts if entry.campaign_id is not None else appsapi.AppsApiListEntries
    if kind == "callpage":
        from syncd.connectors.callpage import CallPageLeads

        return CallPageLeads
    raise ValueError(f"no connector for {kind} {obj}")


Outcomes = dict[int, tuple[bool, str | None, str | None]]  # id(action) → (ok, remote id, error)


#: the most records of one system a daemon keeps mapped between runs (see JobRun._read): above it, the
#: memory is worth more than the mapping time saved
MEMO_LIMIT = 250_000


class Checkpoint:
    """Which people of a run are fully written and recorded; records the newly finished ones on ``save``."""

    def __init__(self, run_id: str, journal_ids: dict[int, int], complete: set[str]) -> None:
        self.run_id = run_id
        self.journal_ids = journal_ids
        self.complete = complete
        self.left: dict[str, int] = {}  # entity → writes still in flight
        self.finished: set[str] = set()  # all written, not yet recorded
        self.recorded: set[str] = set()
        self.last_save = 0.0
        self.problems: list[str] = []
        self.plan: Plan | None = None
        self.outcomes: Outcomes = {}
        self.saving: asyncio.Future[None] | None = None
        #: each person's link updates and actions, in the plan's order, and the person's place in it
        self.links_of: dict[str, list[LinkUpdate]] = {}
        self.actions_of: dict[str, list[Action]] = {}
        self.place: dict[str, int] = {}

    def add(self, plan: Plan, actions: list[Action]) -> None:
        """Indexes (more of) the run's plan by person once, so that each save costs what it records, not a pass
        over the whole plan: a 100k initial sync saves about 650 times (bench/README.md). A run adds the parts
        it writes early (``syncd.early_writes``), then the rest; no person is in two parts."""
        if self.plan is None:
            self.plan = plan
        for upd in plan.links:
            self.links_of.setdefault(upd.entity_id, []).append(upd)
            self.place.setdefault(upd.entity_id, len(self.place))
        for action in plan.actions:
            self.actions_of.setdefault(action.entity_id, []).append(action)
            self.place.setdefault(action.entity_id, len(self.place))
        left = {u.entity_id: 0 for u in plan.links}
        for action in actions:
            left[action.entity_id] = left.get(action.entity_id, 0) + 1
        self.left.update(left)
        self.finished |= {eid for eid, n in left.items() if n == 0}

    def done(self, actions: list[Action]) -> None:
        for action in actions:
            self.left[action.entity_id] -= 1
            if self.left[action.entity_id] == 0:
                self.finished.add(action.entity_id)

    def unrecorded(self) -> set[str]:
        return set(self.left) - self.recorded

    def save(self, job: JobRun, *, every: float = 1.0) -> None:
        """Records the people finished since the last save, at most once per ``every`` seconds: a kill
        loses at most that much bookkeeping, which the next run's journal and matching recover.

        The recording runs in a worker thread, one at a time, so the event loop keeps every provider's
        calls on their pace meanwhile; :meth:`drain` waits for the one in flight."""
        now = time.monotonic()
        if not self.finished or self.plan is None or now - self.last_save < every:
            return
        if self.saving is not None and not self.saving.done():
            return  # the next save takes these too
        self.last_save = now
        finished, self.finished = self.finished, set()
        people = sorted(finished, key=self.place.__getitem__)  # in the plan's order, as a whole-plan pass has them
        updates = [upd for eid in people for upd in self.links_of.get(eid, ())]
        actions = [a for eid in people for a in self.actions_of.get(eid, ())]
        # a snapshot of what these people's writes did: the loop goes on filling the live dicts meanwhile
        mine = {id(a) for a in actions}
        outcomes = {k: v for k in mine if (v := self.outcomes.get(k)) is not None}
        uncertain, held_back = job.uncertain & mine, job.held_back & mine
        plan, store = self.plan, job.store

        def record() -> None:
            self.problems += store.record(
                self.run_id, plan, outcomes, self.journal_ids, self.complete,
                uncertain=uncertain, held_back=held_back, only=finished, final=False, skip=job.unchanged,
                link_updates=updates, actions=actions,
            )  # fmt: skip
            self.recorded |= finished

        previous = self.saving
        self.saving = asyncio.ensure_future(asyncio.to_thread(record))
        if previous is not None:
            previous.result()  # done (checked above): raises what it met

    async def drain(self) -> None:
        if self.saving is not None:
            saving, self.saving = self.saving, None
            await saving


class Writer:
    """Sends a run's writes as they are planned: one worker per system takes its actions in order, in chunks of
    the connector's ``write_chunk``, and records the people whose writes are all done (``Checkpoint``). The
    writes of a system that batches (Callyzer's bulksave), or that is still being listed, wait for
    :meth:`release`: sent early they would go out in part-filled batches, or move the listing under its pages."""

    def __init__(self, job: JobRun, checkpoint: Checkpoint) -> None:
        self.job, self.checkpoint = job, checkpoint
        self.outcomes: Outcomes = checkpoint.outcomes
        self.queues: dict[str, asyncio.Queue[Action | None]] = {}
        self.workers: list[asyncio.Task[None]] = []
        self.waiting: dict[str, list[Action]] = {}
        self.hold: set[str] | None = None  # the systems whose writes wait (None: none)

    def send(self, plan: Plan, actions: list[Action]) -> None:
        self.checkpoint.add(plan, actions)
        self.checkpoint.save(self.job, every=0)  # the people with nothing to send are done already
        for action in actions:
            if self.hold is not None and action.system in self.hold:
                self.waiting.setdefault(action.system, []).append(action)
            else:
                self._queue(action.system).put_nowait(action)

    def release(self) -> None:
        self.hold = None
        for system, actions in self.waiting.items():
            queue = self._queue(system)
            for action in actions:
                queue.put_nowait(action)
        self.waiting.clear()

    def _queue(self, system: str) -> asyncio.Queue[Action | None]:
        queue = self.queues.get(system)
        if queue is None:
            queue = self.queues[system] = asyncio.Queue()
            self.workers.append(asyncio.ensure_future(self._work(system, queue)))
        return queue

    async def _work(self, name: str, queue: asyncio.Queue[Action | None]) -> None:
        job, outcomes = self.job, self.outcomes
        connector = job.connectors[name]
        last = False
        while not last:
            first = await queue.get()
            if first is None:
                return
            chunk = [first]
            while len(chunk) < connector.write_chunk and not queue.empty():
                action = queue.get_nowait()
                if action is None:
                    last = True
                    break
                chunk.append(action)
            try:
                results = await connector.write(chunk, job.mappers[name])
            except ProviderError as exc:
                for action in chunk:
                    outcomes[id(action)] = (False, None, str(exc))
                if isinstance(exc, AuthError):
                    raise
                continue
            for item in results:
                outcomes[id(item.action)] = (item.ok, item.remote_id, item.error)
                if item.uncertain:
                    job.uncertain.add(id(item.action))
            self.checkpoint.done(chunk)
            self.checkpoint.save(job)

    def waited(self) -> list[Action]:
        return [a for actions in self.waiting.values() for a in actions]

    async def close(self, *, send: bool = True) -> None:
        """Sends what waits (or, not ``send``, leaves it unsent: not done, so not recorded as written), then
        waits for every write and the last checkpoint."""
        if send:
            self.release()
        self.waiting.clear()
        for queue in self.queues.values():
            queue.put_nowait(None)
        results = await asyncio.gather(*self.workers, return_exceptions=True)
        await self.checkpoint.drain()
        for result in results:
            if isinstance(result, BaseException):
                raise result


@dataclass
class EarlyRun:
    """What a run planned and sent before its slowest listing was in (``syncd.early_writes``)."""

    planner: EarlyPlanner
    writer: Writer  # (and its checkpoint)
    parts: list[Plan] = field(default_factory=list)


def _joined(parts: list[Plan], rest: Plan) -> Plan:
    """The run's plan: the parts planned early, then the rest (whose people are none of theirs)."""
    if not parts:
        return rest
    return Plan(
        rest.job,
        actions=[a for p in parts for a in p.actions] + rest.actions,
        links=[u for p in parts for u in p.links] + rest.links,
        new_entities=rest.new_entities,
        dropped_entities=rest.dropped_entities,
        conflicts=[c for p in parts for c in p.conflicts] + rest.conflicts,
        problems=[q for p in parts for q in p.problems] + rest.problems,
        guard=rest.guard,
        quiet=rest.quiet,
    )


def _expected_of(pending: list[Journal], kinds: tuple[str, ...]) -> dict[tuple[str, str], dict[str, Any]]:
    """(entity, system) → what the unfinished writes of these kinds leave on the record (the journal's)."""
    return {
        (j.entity_id, j.system): json.loads(j.expected)
        for j in pending
        if j.action in kinds and j.expected not in ("", "{}")
    }


@dataclass
class Listing:
    """One system's listing as fetched: its records, with a placeholder for each one set aside."""

    items: list[Record | Placeholder]
    complete: bool
    incremental: bool


@dataclass
class LoadedState:
    """What a run reads from the state once the listings are in (JobRun._load_state)."""

    fetched: dict[str, Fetched]
    entities: dict[str, EntityState]
    pending: list[Journal]
    replacing: dict[tuple[str, str], str]
    resolutions: dict[tuple[str, str], str]
    skipped: set[tuple[str, str, str]]
    set_aside: int = 0
    linked: dict[str, int] | None = None


def _unchanged(plan: Plan, entities: dict[str, EntityState]) -> set[int]:
    """The link updates that leave a link exactly as the state holds it: recording skips them, so a quiet
    run of N people neither reads nor rewrites N rows."""
    out: set[int] = set()
    for upd in plan.links:
        if upd.action is not None or upd.new:
            continue
        ent = entities.get(upd.entity_id)
        link = ent.links.get(upd.system) if ent is not None else None
        if link is not None and (link.remote_id, link.gone, link.synced) == (upd.remote_id, upd.gone, upd.synced):
            out.add(id(upd))
    return out


class Progress(Protocol):
    def grow(self, expected: dict[str, tuple[int, float]]) -> None: ...

    def finish(self) -> None: ...


@dataclass
class RunReport:
    job: str
    run_id: str
    dry_run: bool
    status: str = "ok"
    exit_code: int = EXIT_OK
    plan: Plan | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    api: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched: dict[str, int] = field(default_factory=dict)
    loaded: int = 0  # people read from the state for the planner (the unchanged rest were set aside unread)
    early: int = 0  # people planned and written while the slowest listing still came in (syncd.early_writes)
    read_afresh: int = 0  # listed records mapped this run (the rest were remembered: syncd.state.memo)
    remembered: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        counts = self.plan.counts() if self.plan else {}
        return {
            "job": self.job,
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "status": self.status,
            "exit_code": self.exit_code,
            "fetched": self.fetched,
            "planned": counts,
            "people": {
                "unchanged": self.plan.quiet if self.plan else 0,
                "planned_in_memory": self.loaded,
                "planned_early": self.early,
            },
            "records": {"read_afresh": self.read_afresh, "remembered": self.remembered},
            "failed": self.failed,
            "errors": self.errors,
            "warnings": self.warnings,
            "actions": [
                {
                    "action": a.kind,
                    "system": a.system,
                    "who": a.label,
                    "entity": a.entity_id,
                    "remote_id": a.remote_id,
                    "fields": sorted(c.field for c in a.changes),
                    "invalid": bool(a.problems),
                }
                for a in (self.plan.actions if self.plan else [])
            ],
            "conflicts": [c.as_json() for c in (self.plan.conflicts if self.plan else [])],
            "api": self.api,
            "seconds": round(self.seconds, 3),
        }


def policies_for(loaded: LoadedConfig, job_name: str) -> Policies:
    job = loaded.config.jobs[job_name]
    names = [s.system for s in job.systems]
    priority = [s for s in job.conflict.prefer if s in names] + [s for s in names if s not in job.conflict.prefer]
    return Policies(
        priority=tuple(priority),
        conflict=job.conflict.policy,
        existing_lead=ExistingLead(**job.existing_lead.model_dump()),
        deletes=job.deletes.mode,
        max_delete_share=job.deletes.max_share,
        min_delete_count=job.deletes.min_count,
        fallbacks={k: Fallback(**v.model_dump()) for k, v in job.deletes.fallback.items()},
        match_on=tuple(job.match_on),
    )


def build_role(name: str, connector: Connector, mapper: Mapper, create: bool, update: bool, delete: bool) -> SystemRole:
    # the planner projects a write's values, then validates the same values (one dict, read-only): what each
    # field sends is worked out once for both, for the last values projected
    last: tuple[dict[str, Any], list[Any]] | None = None

    def outbound(values: dict[str, Any]) -> list[Any]:
        nonlocal last
        if last is None or last[0] is not values:
            last = (values, mapper.outbound(values))
        return last[1]

    def project(rec: Record | None, desired: dict[str, Any]) -> dict[str, Any]:
        raw = rec.raw if rec is not None else None
        stored = connector.simulate(raw, mapper.to_provider(desired, raw, outbound(desired)))
        return mapper.to_canonical(stored).values

    def validate(values: dict[str, Any]) -> list[str]:
        outs = outbound(values)
        return mapper.validate(values, outs) + connector.validate(mapper.to_provider(values, None, outs))

    return SystemRole(
        name=name,
        reads=frozenset(mapper.reads),
        writes=frozenset(mapper.writes),
        project=project,
        validate=validate,
        can_create=create and connector.can_create,
        can_update=update and connector.can_update,
        can_delete=delete and connector.can_delete,
        native_merge=connector.native_merge,
    )


class JobRun:
    """Holds a job's connectors, mappers and roles for one or more runs (the daemon reuses it)."""

    def __init__(
        self,
        loaded: LoadedConfig,
        job_name: str,
        store: Store,
        transports: dict[str, httpx.AsyncBaseTransport] | None = None,
        pacers: PaceBook | None = None,
    ) -> None:
        """``pacers``: the process's (the daemon's, or one ``syncd sync``'s), so that the jobs calling one system
        share its allowance; else the job's own."""
        self.loaded = loaded
        self.job_name = job_name
        self.store = store
        job = loaded.config.jobs[job_name]
        self.policies = policies_for(loaded, job_name)
        self.uncertain: set[int] = set()  # id(action) of writes that may have landed in part: journal stays pending
        self.stopping: str | None = None
        self.held_back: set[int] = set()  # id(action) of writes a person skipped (syncd failures --skip)
        self.unchanged: set[int] = set()  # id(link update) of links the run leaves exactly as stored
        # system → the Records of the last listing (the memo: their raw records only packed) by the SHA-256 of
        # their raw record's flat bytes, which _read looks them up in; and remote id → (raw record, its Record,
        # that SHA-256) of the one being read (_read)
        self._by_sum: dict[str, dict[bytes, Record]] = {}
        # (raw None: handed over by a listing that streams, not kept)
        self._seen: dict[str, dict[str, tuple[dict[str, Any] | None, Record, bytes]]] = {}
        # this fetch's pages, mapped (a placeholder for a record set aside)
        self._paged: dict[str, list[tuple[dict[str, Any] | None, Record | Placeholder | None]]] = {}
        # system → SHA-256 of a provider's answer → the Records of the page it held, with their own SHA-256s, for
        # the pages of the last listing (``_pages``) and of the one being read (``_pages_now``): a daemon's next run
        # takes back a page listed with the same bytes whole (``_record_page``). Only while the listing is memoized
        # (MEMO_LIMIT)
        self._pages: dict[str, dict[bytes, memo.Page]] = {}
        self._pages_now: dict[str, dict[bytes, memo.Page]] = {}
        # a new process's first fetch: the systems whose listing memo came from the state (syncd.state.memo), as
        # the Records of ``_by_sum``
        self._recalled: set[str] = set()
        self._afresh: dict[str, int] = {}  # this fetch's records mapped afresh, per system
        self._remembered = 0  # and taken back instead (in memory or from the state)
        self._to_remember: list[str] = []  # systems whose listing changed: their memo is rewritten
        # the process's phone conversions (syncd.mapping.phone_cache) made when this JobRun last took the job's from
        # the state or left them there (syncd.state.phone_memo); None: not taken yet
        self._phones_at: int | None = None
        #: live links of the job's largest system from which a run sets quiet people's records aside on disk as their
        #: pages come (``[state] set_aside_from``). Below it every person is planned in memory: the memo holds
        #: their records anyway (MEMO_LIMIT), and setting aside costs ~6–13 µs a record. None: never.
        self.set_aside_from: int | None = loaded.config.state.set_aside_from
        self._aside: SetAside | None = None
        #: writes planned and sent before the slowest listing was in, this run (``syncd.early_writes``)
        self._early: EarlyRun | None = None
        #: whether a run may write early at all (``[jobs.X] write_early``; off: every write waits for every listing)
        self.early_writes = job.write_early
        self._restarts: dict[str, int] = {}  # listings read again from their first page, this fetch
        self._wake: asyncio.Event | None = None  # set when the slow listing has a new page, or is in
        self.progress: Progress | None = None  # set by the CLI on a terminal
        self.pacers = pacers if pacers is not None else PaceBook()
        self.mappers: dict[str, Mapper] = {}
        self.connectors: dict[str, Connector] = {}
        self.roles: dict[str, SystemRole] = {}
        for entry in job.systems:
            sys_cfg = loaded.config.systems[entry.system]
            spec = loaded.mappings[job_name][entry.system]
            mapper = Mapper(spec, sys_cfg.default_region, sys_cfg.timezone)
            cls = connector_class(sys_cfg.kind, job.object, entry)
            connector = cls(
                entry.system,
                sys_cfg,
                loaded.secrets[entry.system],
                entry=entry,
                transport=(transports or {}).get(entry.system),
                pacers=self.pacers,
            )
            if isinstance(connector, Callyzer):
                connector.existing_lead = self.policies.existing_lead
            self.mappers[entry.system] = mapper
            self.connectors[entry.system] = connector
            self.roles[entry.system] = build_role(
                entry.system, connector, mapper, entry.create, entry.update, entry.delete
            )

    async def aclose(self) -> None:
        for connector in self.connectors.values():
            await connector.aclose()

    def _expected_calls(self, actions: list[Action]) -> dict[str, tuple[int, float]]:
        """Per system: the write calls these actions take and the pacing interval (the ETA's floor)."""
        out = {}
        for name, connector in self.connectors.items():
            mine = [a for a in actions if a.system == name]
            if mine:
                out[name] = (connector.expected_calls(mine), connector.http.interval)
        return out

    def calls_made(self) -> dict[str, int]:
        return {name: c.http.stats.calls for name, c in self.connectors.items()}

    def stop(self, why: str = STOPPING) -> None:
        """Ends the run in flight at the next batch boundary: no new write is sent, what was sent is recorded."""
        self.stopping = why
        for connector in self.connectors.values():
            connector.down = STOPPING

    async def run(self, *, dry_run: bool = False, allow_mass_delete: bool = False) -> RunReport:
        """One run; a run that may write holds the job's lock across processes (syncd.state.job_lock), and one
        that finds it held does nothing (status "busy", EXIT_BUSY)."""
        try:
            held = None if dry_run else job_lock.hold(self.store, self.job_name)
        except job_lock.JobBusy as exc:
            report = RunReport(self.job_name, "", dry_run, status="busy", exit_code=EXIT_BUSY, errors=[str(exc)])
            log.warning("job busy: another process runs it", job=self.job_name, error=str(exc))
            return report
        try:
            return await self._held_run(dry_run, allow_mass_delete, held.note if held is not None else None)
        finally:
            if held is not None:
                held.release()

    async def _held_run(self, dry_run: bool, allow_mass_delete: bool, note: str | None) -> RunReport:
        started = time.monotonic()
        run_id = self.store.begin_run(self.job_name, dry_run)
        report = RunReport(self.job_name, run_id, dry_run)
        if note:  # (no lock on this state backend)
            report.warnings.append(note)
        bound = log.bind(job=self.job_name, run_id=run_id)
        bound.info("run started", dry_run=dry_run)
        self.stopping = None
        self.held_back = set()
        for name, connector in self.connectors.items():
            connector.down = None
            connector.fetch_warnings = []
            connector.cursor = self.store.get_cursor(self.job_name, name) if connector.incremental else None
        try:  # no call inside the window of the calls another process made last (a cache of timing only)
            self.pacers.respect(self.store.pacing(self.connectors))
        except Exception as exc:
            bound.warning("pacing left by the last run not read", error=str(exc))
        try:
            await self._run(report, bound, dry_run, allow_mass_delete)
        except AuthError as exc:
            report.status, report.exit_code = "failed", EXIT_UNREACHABLE
            report.errors.append(str(exc))
            bound.error("credentials refused; job stopped", error=str(exc))
        finally:
            if self.progress is not None:
                self.progress.finish()
            if self._aside is not None:  # a run that ended before planning
                self._aside.close()
                self._aside = None
            report.api = {name: c.http.stats.as_json() for name, c in self.connectors.items()}
            for connector in self.connectors.values():
                connector.http.stats.__init__()  # type: ignore[misc]
            report.seconds = time.monotonic() - started
            if not dry_run:
                self._leave_phones(bound)
            try:
                self.store.set_pacing(self.pacers.left(self.connectors))
            except Exception as exc:
                bound.warning("pacing not stored for the next run", error=str(exc))
            self.store.finish_run(
                run_id, "dry-run" if dry_run and report.status == "ok" else report.status, report.summary()
            )
            bound.info(
                "run finished", status=report.status, exit_code=report.exit_code, seconds=round(report.seconds, 2)
            )
        return report

    async def _run(self, report: RunReport, bound: Any, dry_run: bool, allow_mass_delete: bool) -> None:
        self.uncertain, self.unchanged, self._early = set(), set(), None
        try:
            listings = await self._fetch(report, bound, early=self.early_writes and not dry_run)
        except BaseException:
            if self._early is not None:  # what went out while the listings came in is recorded all the same
                await self._close_early(report, self._early, send=False)
            raise
        report.read_afresh, report.remembered = sum(self._afresh.values()), self._remembered
        if self._to_remember and not dry_run:  # what this run read, for the next process (syncd.state.memo)
            try:
                await asyncio.to_thread(self._remember, self._to_remember)
            except Exception as exc:  # a cache: the run goes on without it (the next one maps afresh)
                bound.warning("listing memo not stored", error=str(exc))
        early = self._early
        if early is not None:
            early.planner.forget()  # (a second copy of the state would double a large run's memory)
        report.early = len(early.planner.settled) if early is not None else 0
        # the state is read once the listings are in: only the people the planner must see (the rest were set
        # aside as their pages came, syncd.state.aside), and a link listed unchanged shares its record's values
        # instead of holding an equal copy; in a worker thread, as it streams every link once, beside a fetch
        # paced at one page per second or two
        state = await asyncio.to_thread(self._load_state, listings)
        fetched, entities, pending, replacing = state.fetched, state.entities, state.pending, state.replacing
        report.loaded = len(entities)
        # an earlier run's writes that may have landed unrecorded: what they leave on a record is an echo
        echoes = _expected_of(pending, ("update", "merge", "fallback"))
        # what an earlier run's creates sent and never recorded: a record holding it is ours, not a source
        created = _expected_of(pending, ("create",))
        plan = make_plan(
            self.job_name,
            self.roles,
            self.policies,
            entities,
            fetched,
            lambda: uuid.uuid4().hex,
            replacing=replacing,
            resolutions=state.resolutions,
            echoes=echoes,
            created=created,
            set_aside=state.set_aside,
            linked=state.linked,
            settled=early.planner.settled if early is not None else (),
        )
        for system, result in fetched.items():
            for rec in result.records:
                for problem in rec.problems:  # kept as read; a target that cannot take it fails visibly
                    report.warnings.append(f"{system} {rec.remote_id}: {problem}")
        whole = _joined(early.parts, plan) if early is not None else plan
        report.plan = whole
        self.unchanged |= _unchanged(plan, entities)
        complete = {s for s, f in fetched.items() if f.complete}
        if self.stopping:
            report.status = "interrupted"
            report.errors.append(f"stopped before writing: {self.stopping}")
            if early is not None:
                await self._close_early(report, early, send=True)
            return
        if plan.guard and not allow_mass_delete:
            report.status, report.exit_code = "aborted", EXIT_RECORDS
            report.errors.append(plan.guard)
            bound.error("mass-delete guard", message=plan.guard)
            if early is not None:
                await self._close_early(report, early, send=True)
            return
        if dry_run:
            self._grade(report, plan, {})
            return
        sendable = self._sendable(plan, state.skipped)
        journal_ids = self.store.journal(report.run_id, self.job_name, sendable)
        if early is not None:
            writer = early.writer
            checkpoint = writer.checkpoint
            checkpoint.journal_ids.update(journal_ids)
            checkpoint.complete = complete
        else:
            checkpoint = Checkpoint(report.run_id, journal_ids, complete)
            writer = Writer(self, checkpoint)
        if self.progress is not None:  # (the early writes held for the end are sent with these)
            self.progress.grow(self._expected_calls(sendable + writer.waited()))
        outcomes = await self._apply(writer, plan, sendable)
        problems = checkpoint.problems + self.store.record(
            report.run_id,
            whole,
            outcomes,
            checkpoint.journal_ids,
            complete,
            recovered=[(j.id, j.entity_id, j.system) for j in pending if j.id],
            uncertain=self.uncertain,
            held_back=self.held_back,
            only=checkpoint.unrecorded(),
            final=True,
            skip=self.unchanged,
        )
        report.errors.extend(problems)
        self.store.record_conflicts(whole)
        for name, connector in self.connectors.items():
            if connector.incremental and name in report.fetched:  # fetched this run: its cursor may advance
                cursor = connector.next_cursor(self.store.linked_remote_ids(self.job_name, name))
                if cursor is not None:
                    self.store.set_cursor(self.job_name, name, cursor)
        self._grade(report, whole, outcomes)

    async def _close_early(self, report: RunReport, early: EarlyRun, *, send: bool) -> None:
        """The end of a run that wrote early and stops before the rest of its plan (a stop, the mass-delete
        guard, a listing that failed for good): the early writes still waiting go out when ``send`` (none holds
        a delete; on a stop they come back unsent), and what went out is recorded and reported."""
        part = _joined(early.parts, Plan(self.job_name))
        checkpoint = early.writer.checkpoint
        if send and self.progress is not None:
            self.progress.grow(self._expected_calls(early.writer.waited()))
        try:
            await early.writer.close(send=send)
        finally:
            problems = checkpoint.problems + self.store.record(
                report.run_id,
                part,
                checkpoint.outcomes,
                checkpoint.journal_ids,
                checkpoint.complete,
                uncertain=self.uncertain,
                held_back=self.held_back,
                only=checkpoint.unrecorded(),
                final=False,
                skip=self.unchanged,
            )
            report.errors.extend(problems)
            self.store.record_conflicts(part)
        sent = sum(1 for ok, _, _ in early.writer.outcomes.values() if ok)
        report.errors.append(
            f"{sent} writes to {len(early.planner.settled)} people had gone out already, before the last listing "
            "was in (all their records were listed; none was a delete)"
        )
        self._grade(report, part, early.writer.outcomes)

    def _load_state(self, listings: dict[str, Listing]) -> LoadedState:
        """What the planner needs from the state: the people it must see (all of them when nothing was set
        aside) with their listed records, earlier runs' unfinished writes, the conflicts people resolved, and
        the writes a person said to stop retrying (syncd failures --skip)."""
        job = self.job_name
        pending = self.store.pending_journal(job)
        replacing = {  # the latest unfinished replace of each record (a later one starts only once the old is gone)
            (j.entity_id, j.system): j.remote_id or ""
            for j in sorted(pending, key=lambda j: j.id or 0)
            if j.action == "update" and j.system in self.connectors and self.connectors[j.system].replaces
        }
        aside, self._aside = self._aside, None
        decision = None
        restored: dict[int, Record] = {}
        try:
            if aside is not None:
                complete, must_live = quiet_scope(
                    self.roles, self.policies, {name: lst.complete for name, lst in listings.items()}
                )
                items = {name: lst.items for name, lst in listings.items()}
                decision = aside.decide(items, complete, must_live, tuple(self.policies.match_on), replacing)
                restored = aside.restore(decision.active, self._rebuild)
        finally:
            if aside is not None:
                aside.close()
        fetched: dict[str, Fetched] = {}
        for name, lst in listings.items():
            records: list[Record] = []
            for item in lst.items:
                if not isinstance(item, Record):
                    found = restored.get(item)
                    if found is None:
                        continue  # a quiet person's: the planner is told how many, not who
                    item = found
                records.append(item)
            fetched[name] = Fetched(records, complete=lst.complete, incremental=lst.incremental)
        listed = {name: {rec.remote_id: rec for rec in result.records} for name, result in fetched.items()}
        return LoadedState(
            fetched,
            self.store.load_entities(job, listed, only=decision.active if decision is not None else None),
            pending,
            replacing,
            self.store.resolutions(job),
            self.store.skipped(job),
            decision.set_aside if decision is not None else 0,
            decision.linked if decision is not None else None,
        )

    def _rebuild(self, system: str, packed: bytes) -> Record | None:
        """A set-aside record, mapped again from its raw bytes (as its page was: the same Record)."""
        return self._record(system, unpack(packed, system), keep=False)

    async def _fetch(self, report: RunReport, bound: Any, *, early: bool = False) -> dict[str, Listing]:
        """Every listing at once. ``early``: once all but the slowest are in, the people whose records are all
        listed are planned and written while it goes on (``_early_rounds``)."""
        names = list(self.connectors)
        threshold = self.set_aside_from
        big = threshold is not None and (
            threshold == 0 or max(self.store.links_count(self.job_name).values(), default=0) >= threshold
        )
        self._aside = SetAside(self.store, self.job_name) if big else None
        self._afresh, self._remembered, self._to_remember = {}, 0, []
        if self._phones_at is None:  # (a new process: the conversions the job's last run left)
            try:
                await asyncio.to_thread(self._recall_phones)
            except Exception as exc:  # a cache: without it every number is parsed, as before
                bound.warning("phone memo not loaded", error=str(exc))
            self._phones_at = phone_cache.made()
        # (a source read by cursor lists each record once: nothing to remember)
        fresh = [name for name in names if name not in self._by_sum and not self.connectors[name].incremental]
        if fresh:
            try:
                recalled = await asyncio.to_thread(self._recall, fresh)
                for name, (by_sum, by_answer) in recalled.items():
                    self._by_sum[name], self._pages[name] = by_sum, by_answer
                self._recalled = set(recalled)
            except Exception as exc:  # a cache: without it every record is mapped afresh
                bound.warning("listing memo not loaded", error=str(exc))
        # each page is mapped as it arrives, while the next one waits for its turn under the rate limit, so
        # the last page leaves little local work before planning (_record_page keeps the pages' records, in order,
        # for _map to take back)
        for name in names:
            self.connectors[name].on_page = functools.partial(self._record_page, name)
            self.connectors[name].on_restart = functools.partial(self._restart_listing, name)
            self._seen[name] = {}
        self._restarts = {}
        self._wake = asyncio.Event()
        tasks = {name: asyncio.ensure_future(self._listing(name)) for name in names}
        rounds = asyncio.ensure_future(self._early_rounds(report.run_id, tasks)) if early else None
        try:
            results = await asyncio.gather(*tasks.values(), return_exceptions=True)
            if rounds is not None:
                await rounds
        finally:
            if rounds is not None and not rounds.done():
                rounds.cancel()
            for name in names:
                self.connectors[name].on_page = None
                self.connectors[name].on_restart = None
            self._wake = None
        listings: dict[str, Listing] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, AuthError):
                raise result  # (run() closes the set-aside file)
            if isinstance(result, BaseException):
                if not isinstance(result, ProviderError):
                    raise result
                report.errors.append(f"{result} — its records were left alone this run")
                report.exit_code = EXIT_UNREACHABLE
                report.status = "failed"
                bound.error("fetch failed", system=name, error=str(result))
                if self._aside is not None:
                    self._aside.drop(name)
                listings[name] = Listing([], complete=False, incremental=False)
                continue
            incremental = self.connectors[name].incremental
            items, skipped = result
            seen = self._seen.pop(name, None)
            before = self._by_sum.get(name)  # (the last run's, in memory or from the state)
            # this listing is the memo of the next run (a failed listing keeps the last one); the Records
            # only, so that no raw dict outlives the fetch; none above MEMO_LIMIT (_read stopped keeping them)
            now = self._by_sum[name] = {kept[2]: kept[1] for kept in seen.values()} if seen is not None else {}
            pages = self._pages_now.pop(name, None)
            if seen is not None and pages is not None:
                self._pages[name] = pages
            else:
                self._pages.pop(name, None)
            if not incremental and (
                (seen is None and name in self._recalled)  # (above MEMO_LIMIT: forgotten)
                or (seen is not None and (self._afresh.get(name) or before is None or before.keys() != now.keys()))
            ):
                self._to_remember.append(name)  # (rewritten only when the listing changed)
            listings[name] = Listing(items, complete=not incremental, incremental=incremental)
            report.warnings.extend(skipped)
            report.warnings.extend(f"{name}: {w}" for w in self.connectors[name].fetch_warnings)
            report.fetched[name] = len(items) + len(skipped)
        self._seen.clear()  # what a failed listing had read: not a memo
        self._pages_now.clear()
        self._paged.clear()
        self._recalled = set()
        return listings

    def _recall(self, systems: list[str]) -> dict[str, tuple[dict[bytes, Record], dict[bytes, memo.Page]]]:
        """The listings the last run left in the state, and their pages, for a process that has none in memory."""
        out = {}
        for name in systems:
            stored = self.store.listing_memo(self.job_name, name)
            loaded = memo.load(self.mappers[name], name, stored) if stored is not None else None
            if loaded is not None:
                out[name] = loaded
        return out

    def _recall_phones(self) -> None:
        """Gives the process the phone conversions the job's last run left in the state (syncd.state.phone_memo)."""
        stored = self.store.phone_memo(self.job_name)
        if stored is not None:
            phone_memo.adopt(stored)

    def _leave_phones(self, bound: Any) -> None:
        """Leaves the process's phone conversions for the job's next process, when this run made new ones."""
        made = phone_cache.made()
        if self._phones_at is None or made == self._phones_at:
            return
        try:
            self.store.set_phone_memo(self.job_name, phone_memo.dump())
            self._phones_at = made
        except Exception as exc:  # a cache: the next process parses its numbers instead
            bound.warning("phone memo not stored", error=str(exc))

    def _remember(self, systems: list[str]) -> None:
        """Stores these listings as this run read them (in a worker thread, while the run plans and writes)."""
        for name in systems:
            records = self._by_sum.get(name)
            taken = memo.dump(self.mappers[name], name, records, self._pages.get(name)) if records else None
            self.store.set_listing_memo(self.job_name, name, taken)

    async def _early_rounds(self, run_id: str, tasks: Mapping[str, asyncio.Future[Any]]) -> None:
        """Once every listing but one is in, whole (none failed; the last not a cursor-read source), plans the
        people whose records are all listed as the last one's pages come, round by round, and sends their writes
        (``syncd.early_writes``): a steady run's writes to the fast systems then go out while the slow system is
        still listed, instead of queueing behind its last page."""
        waiting = set(tasks.values())
        while len(waiting) > 1:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if any(task.cancelled() or task.exception() is not None for task in done):
                return
        slow = next((name for name, task in tasks.items() if task in waiting), None)
        if slow is None:
            return
        if self.connectors[slow].incremental:
            # (said, not silent: whoever wonders why this run's writes waited for the last listing finds why)
            log.info(
                "no early writes this run",
                job=self.job_name,
                why=f"{slow} is listed last and read from a cursor: it lists only what changed, so who has all "
                "their records listed is known only once it is in",
            )
            return
        listed = {name: task.result()[0] for name, task in tasks.items() if name != slow}
        kinds = {name: (not self.connectors[name].incremental, self.connectors[name].incremental) for name in listed}
        pending, resolutions, skipped = await asyncio.to_thread(self._early_state)
        planner = EarlyPlanner(
            self.job_name, self.roles, self.policies, slow, kinds,
            {j.entity_id for j in pending}, resolutions, lambda: uuid.uuid4().hex,
        )  # fmt: skip
        # (the slow system's last listing, a daemon's or the state's memo, by remote id)
        before = {r.remote_id: r for r in self._by_sum.get(slow, {}).values()} or None
        feed: Feed = (
            MemoryFeed(self.store, self.job_name, planner, before)
            if self._aside is None
            else AsideFeed(self.store, self.job_name, planner, self._aside, self._rebuild)
        )
        await feed.start(listed)
        read, restarts = 0, self._restarts.get(slow, 0)
        wake = self._wake
        while wake is not None and not tasks[slow].done() and not self.stopping:
            wake.clear()
            if self._restarts.get(slow, 0) != restarts:
                planner.restart()
                read, restarts = 0, self._restarts.get(slow, 0)
            # (counted before the feed's await: a page that comes in meanwhile is the next round's)
            paged = self._paged.get(slow, [])
            new, read = paged[read:], len(paged)
            await feed.page([item for _, item in new])
            part = planner.plan_round()
            if part is not None:
                await self._write_early(run_id, slow, planner, part, skipped)
            if not tasks[slow].done():
                await wake.wait()

    def _early_state(self) -> tuple[list[Journal], dict[tuple[str, str], str], set[tuple[str, str, str]]]:
        job, store = self.job_name, self.store
        return store.pending_journal(job), store.resolutions(job), store.skipped(job)

    async def _write_early(
        self, run_id: str, slow: str, planner: EarlyPlanner, part: Plan, skipped: set[tuple[str, str, str]]
    ) -> None:
        early = self._early
        if early is None:
            complete = {name for name, (full, _) in planner.kinds.items() if full and name != slow}
            checkpoint = Checkpoint(run_id, {}, complete)
            writer = Writer(self, checkpoint)
            # a batching system's writes fill whole batches at the end; the slow system is still being listed
            writer.hold = {slow} | {name for name, c in self.connectors.items() if c.batches}
            early = self._early = EarlyRun(planner, writer)
        sendable = self._sendable(part, skipped)
        ids = await asyncio.to_thread(self.store.journal, run_id, self.job_name, sendable)
        early.writer.checkpoint.journal_ids.update(ids)
        self.unchanged |= _unchanged(part, planner.entities)
        early.parts.append(part)
        early.writer.send(part, sendable)
        if self.progress is not None:  # (what the writer holds for the end is counted then)
            held = early.writer.hold or set()
            self.progress.grow(self._expected_calls([a for a in sendable if a.system not in held]))

    def _sendable(self, plan: Plan, skipped: set[tuple[str, str, str]]) -> list[Action]:
        """The plan's writes to send: not the invalid ones, nor those a person said to stop retrying (syncd
        failures --skip), which are held back."""
        self.held_back |= {id(a) for a in plan.actions if (a.system, a.entity_id, a.kind) in skipped}
        return [a for a in plan.actions if not a.problems and (a.system, a.entity_id, a.kind) not in skipped]

    def _restart_listing(self, system: str) -> None:
        """A listing read again from its first page: what its pages handed over so far is forgotten."""
        self._restarts[system] = self._restarts.get(system, 0) + 1
        self._paged.pop(system, None)
        if self._aside is not None:
            self._aside.drop(system)
        if system in self._seen:
            self._seen[system] = {}

    async def _listing(self, name: str) -> tuple[list[Record | Placeholder], list[str]]:
        """One system's listing, mapped as soon as it is read: a listing that comes in one answer (Callsavvy's)
        is released then, not held while the other systems' pages still come in."""
        try:
            raws = await self.connectors[name].fetch()
        finally:
            if self._wake is not None:
                self._wake.set()
        items, skipped = self._map(name, raws)
        if self._aside is not None:
            self._aside.settle(name, items)
        return items, skipped

    def _map(self, system: str, raws: list[dict[str, Any]]) -> tuple[list[Record | Placeholder], list[str]]:
        """The listing in canonical form (most of it mapped already, page by page during the fetch, and set
        aside where it may be), and a warning for each record it had to skip. A listing that streams: the
        pages' records come first, all of them (the connector did not return them), then ``raws``."""
        records: list[Record | Placeholder] = []
        skipped: list[str] = []
        # the pages' records, in the order the listing holds them: taken by identity, without a second lookup
        paged = self._paged.pop(system, [])
        listing: list[Record | Placeholder | None] = []
        if self.connectors[system].streams:
            listing.extend(record for _, record in paged)
            paged = []
        fresh: list[Record | None] = []  # mapped here, not yet set aside (in chunks: never the whole listing at once)

        def set_aside() -> None:
            listing.extend(self._aside.page(system, fresh) if self._aside is not None else fresh)
            fresh.clear()

        at = 0
        for raw in raws:
            if at < len(paged) and paged[at][0] is raw:
                if fresh:
                    set_aside()
                listing.append(paged[at][1])
                at += 1
            else:
                fresh.append(self._record(system, raw))
                if len(fresh) >= 500:
                    set_aside()
        set_aside()
        raws.clear()  # the connector's listing: mapped, and read by nobody else (a million leads is a gigabyte)
        for position, record in enumerate(listing):
            if record is None:
                where = ".".join(str(s) for s in self.mappers[system].spec.id_path)
                skipped.append(f"{system}: record #{position + 1} of the listing has no {where} (mapping id): skipped")
                continue
            records.append(record)
        return records, skipped

    def _record_page(
        self, system: str, raws: list[dict[str, Any]], answer: bytes | None = None, given: list[bytes] | None = None
    ) -> None:
        """Maps a page as it arrives, and sets aside the records that hold what their links last synced. Keeps
        each raw record with its Record (a placeholder once set aside; None: no id), so that _map takes them back
        by identity (by raw, not by Record.raw: a memo hit's Record holds last run's equal raw); a listing that
        streams returns none of them, so its raw records are not kept: they go with the page.

        ``answer``: the provider's answer the page is a function of (``Connector.page_read``). A page whose answer
        has the SHA-256 of one the last listing held is that page again, record for record: its Records are
        taken back whole, as ``_record`` would take back each (flattening and comparing each record costs 3–8 µs,
        hashing the answer well under one). ``given``: the SHA-256 of each raw record's flat bytes, where the
        connector took them (``Connector.page_read``)."""
        keep = not self.connectors[system].streams
        seen = self._seen.get(system)
        digest = hashlib.sha256(answer).digest() if answer is not None and seen is not None else None
        known = self._pages.get(system, {}).get(digest) if digest is not None else None
        records: list[Record | None]
        sums: list[bytes | None]
        if known is not None and len(known[0]) == len(raws):
            records, sums = list(known[0]), known[1]
            assert seen is not None  # (a digest is taken only while the listing is memoized)
            for raw, rec, sum_ in zip(raws, records, sums, strict=True):
                if rec is not None and sum_ is not None:
                    seen[rec.remote_id] = (raw if keep else None, rec, sum_)
                    self._remembered += 1
            if len(seen) > MEMO_LIMIT:  # (as _record: no memo of this listing)
                del self._seen[system]
        else:
            records, sums = self._read_page(system, raws, keep, given)
        if digest is not None and system in self._seen:
            self._pages_now.setdefault(system, {})[digest] = (records, sums)
        items = self._aside.page(system, records) if self._aside is not None else records
        self._paged.setdefault(system, []).extend(zip(raws if keep else [None] * len(raws), items, strict=True))
        if self._wake is not None:
            self._wake.set()

    def _read_page(
        self, system: str, raws: list[dict[str, Any]], keep: bool, given: list[bytes] | None = None
    ) -> tuple[list[Record | None], list[bytes | None]]:
        """Each record of a page as :meth:`_read` gives it, the daemon memo's hits taken in this one loop: they are
        most records of a steady run, at about 2 µs each, so a call and a few lookups more per record count.
        ``given``: each record's SHA-256 as the connector took it, so that a hit costs no flattening."""
        if given is not None and len(given) != len(raws):
            # a connector's mistake, on a first listing as on any other: safe to read the page without them, but
            # not to let it pass unseen
            log.warning(
                "record digests ignored",
                system=system,
                why=f"{len(given)} digest(s) handed with a page of {len(raws)} record(s): read without them",
            )
            given = None
        records: list[Record | None] = []
        sums: list[bytes | None] = []
        by_sum, seen = self._by_sum.get(system), self._seen.get(system)
        digest: bytes | None
        if not by_sum or seen is None:  # (nothing to look up: a first listing, or one above MEMO_LIMIT)
            read = self._read
            for raw in raws:
                rec, digest = read(system, raw, keep)
                records.append(rec)
                sums.append(digest)
            return records, sums
        fresh = self._fresh
        hits = 0
        for at, raw in enumerate(raws):
            if given is None:
                plain = flat(raw)
                found = sum_of(plain)
            else:
                plain, found = None, given[at]
            rec = by_sum.get(found)
            if rec is None:
                rec, digest = fresh(system, raw, keep, flat(raw) if plain is None else plain, found)
            else:
                hits += 1
                seen[rec.remote_id] = (raw if keep else None, rec, found)
                digest = found
            records.append(rec)
            sums.append(digest)
        self._remembered += hits
        if len(seen) > MEMO_LIMIT:  # (as _read: no memo of this listing)
            self._seen.pop(system, None)
        return records, sums

    def _record(self, system: str, raw: dict[str, Any], keep: bool = True) -> Record | None:
        """One listed record in canonical form; None when it has no id."""
        return self._read(system, raw, keep)[0]

    def _read(self, system: str, raw: dict[str, Any], keep: bool = True) -> tuple[Record | None, bytes | None]:
        """One listed record in canonical form (None when it has no id), and the SHA-256 of its flat bytes.

        Mapping is a pure function of the raw record, so a record is mapped once per run however often it
        is asked for (as its page arrives, then as the listing is put together), and a daemon's next run
        reuses the Record of a raw record it listed unchanged last time, looked up by that SHA-256 (raw records
        with the same bytes have the same Record, id included: a hit costs flattening and hashing, about 2 µs,
        and neither the id's reading nor decompressing the memo's bytes to compare them), instead of the
        mapping, libphonenumber included. The memo holds one listing per system, replaced by each run's, never
        a history. A new process's first run takes it from the state instead (syncd.state.memo), Records under
        the same SHA-256s."""
        plain = flat(raw)
        by_sum = self._by_sum.get(system)
        # (no SHA-256 where there is neither a memo to look it up in nor one to keep it for: above MEMO_LIMIT)
        digest = sum_of(plain) if by_sum or system in self._seen else None
        record = by_sum.get(digest) if by_sum and digest is not None else None
        if record is None:
            return self._fresh(system, raw, keep, plain, digest)
        self._remembered += 1
        self._keep(system, raw if keep else None, record, digest)
        return record, digest

    def _fresh(
        self, system: str, raw: dict[str, Any], keep: bool, plain: bytes, digest: bytes | None
    ) -> tuple[Record | None, bytes | None]:
        """A record the memo does not hold, mapped (or, asked again for the same raw record this run, taken
        back); ``plain``, ``digest``: its flat bytes and their SHA-256 (None above MEMO_LIMIT)."""
        mapper = self.mappers[system]
        if (remote_id := mapper.remote_id(raw)) is None:
            return None, None
        seen = self._seen.get(system)
        if (now := seen.get(remote_id) if seen is not None else None) is not None and now[0] is raw:
            return now[1], now[2]
        inbound = mapper.to_canonical(raw)
        share_texts(inbound.values)
        record = Record(
            system,
            remote_id,
            inbound.values,
            squeeze(plain, system),
            mapper.modified(raw),
            tuple(inbound.problems),
            mapper.entity_hint(raw),
            frozenset(inbound.unreadable) if inbound.unreadable else ALL_READ,
        )
        self._afresh[system] = self._afresh.get(system, 0) + 1
        self._keep(system, raw if keep else None, record, digest)
        return record, digest

    def _keep(self, system: str, raw: dict[str, Any] | None, record: Record, digest: bytes | None) -> None:
        """This listing's memo takes the record, until it holds more than MEMO_LIMIT: then the listing has none,
        and its records need not outlive their pages."""
        seen = self._seen.get(system)
        if seen is not None and digest is not None:
            seen[record.remote_id] = (raw, record, digest)
            if len(seen) > MEMO_LIMIT:
                del self._seen[system]

    async def _apply(self, writer: Writer, plan: Plan, actions: list[Action]) -> Outcomes:
        """Sends the writes, every system at once, each in chunks (a Callyzer chunk is one full bulksave),
        after any sent early (``syncd.early_writes``); after each chunk the people whose writes are all done
        are recorded, so a long run killed half way repeats none of what it finished."""
        writer.send(plan, actions)
        await writer.close()
        return writer.outcomes

    def _grade(self, report: RunReport, plan: Plan, outcomes: dict[int, tuple[bool, str | None, str | None]]) -> None:
        for action in plan.actions:
            ok, _, error = outcomes.get(id(action), (False, None, None))
            if report.dry_run and not action.problems:
                continue
            if not ok and ((error or "").endswith(STOPPING) or id(action) in self.held_back):
                continue
            if not ok:
                reason = "; ".join(action.problems) or error or "not sent"
                report.failed.append(
                    {"system": action.system, "action": action.kind, "who": action.label, "reason": reason}
                )
        for problem in plan.problems:
            who = problem.label or problem.remote_id
            report.failed.append({"system": problem.system, "action": "match", "who": who, "reason": problem.reason})
        if report.failed and report.exit_code == EXIT_OK:
            report.exit_code = EXIT_RECORDS
            report.status = "partial"
        if self.stopping and report.status in ("ok", "partial"):
            report.status = "interrupted"
            report.errors.append(f"stopped early: {self.stopping}; the next run sends the rest")
