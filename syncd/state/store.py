"""Reads and writes the sync state in bulk: one query to load a job, one transaction to record a run.

Recording follows one rule: a link's last-synced values advance only when what they describe is true
on the provider. A write that failed leaves its link as it was, and when any write of an entity failed
the entity's other links keep their old values too, so the next run sees the same change again and
retries it. Nothing an outside system changed is ever lost to a failed write.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, insert, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine, select

from syncd.engine.model import Action, EntityState, LinkState, LinkUpdate, Plan, Record
from syncd.logging import redact_text
from syncd.state.models import (
    SCHEMA_VERSION,
    Change,
    Cursor,
    Entity,
    Failure,
    HeldConflict,
    Journal,
    Link,
    Run,
    SchemaInfo,
    now,
)

STOPPING = "syncd is stopping"
#: schema version → the statements that take a database from it to the next (plain SQL both SQLite and
#: PostgreSQL accept); create_all makes new tables, these change existing ones
_UPGRADES: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE journal ADD COLUMN expected VARCHAR DEFAULT '{}' NOT NULL",),
}


def _json(values: Any) -> str:
    """Everything the state stores goes through here or _text: a secret a provider echoed never lands in it."""
    return redact_text(json.dumps(values, sort_keys=True, ensure_ascii=False))


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        #: the SQLite database file (None: in memory, or another backend)
        self.file: Path | None = None
        connect_args: dict[str, Any] = {}
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            path = self.file = Path(url[len("sqlite:///") :])
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():  # created private: it holds people's contact details
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            connect_args = {"timeout": 30, "check_same_thread": False}
        if url == "sqlite:///:memory:":  # one database for every thread (the runner reads and records in workers)
            self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
        else:
            self.engine = create_engine(url, connect_args=connect_args)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._migrate()

    def _migrate(self) -> None:
        SQLModel.metadata.create_all(self.engine)
        with Session(self.engine) as session:
            info = session.get(SchemaInfo, 1)
            if info is None:
                session.add(SchemaInfo(id=1, version=SCHEMA_VERSION))
            elif info.version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"the state database was written by a newer syncd (schema {info.version} > {SCHEMA_VERSION})"
                )
            else:
                for version in range(info.version, SCHEMA_VERSION):
                    for statement in _UPGRADES.get(version, ()):
                        session.exec(text(statement))  # type: ignore[call-overload]
                info.version = SCHEMA_VERSION
                session.add(info)
            session.commit()

    def close(self) -> None:
        self.engine.dispose()

    # --- loading --------------------------------------------------------------------------------
    def load_entities(
        self,
        job: str,
        listed: Mapping[str, Mapping[str, Record]] | None = None,
        only: Iterable[str] | None = None,
    ) -> dict[str, EntityState]:
        """The job's links (``only``: those of these entities). ``listed``: per system, this run's records by
        remote id. A link whose record is listed with exactly the values last synced takes that record's
        values dict rather than an equal copy of its own: the usual case, and at a million people most of the
        state's memory (bench/README.md). The planner treats both as read-only."""
        out: dict[str, EntityState] = {}
        loads = json.loads
        nothing: Mapping[str, Record] = {}
        listed = listed or {}
        names: dict[str, str] = {}  # one string per system name, not one per row
        with self.engine.connect() as conn:  # plain rows, not ORM objects: a million links load in seconds
            if only is None:
                rows: Iterable[Any] = conn.execute(text(_SYNCED_COLUMNS), {"job": job})
            else:
                of = _in(_OF_ENTITIES.format(columns="entity_id, system, remote_id, synced, gone"))
                rows = (row for part in _chunks(sorted(only)) for row in conn.execute(of, {"part": part}))
            for entity_id, system, remote_id, synced, gone in rows:
                ent = out.get(entity_id)
                if ent is None:
                    ent = out[entity_id] = EntityState(entity_id)
                system = names.setdefault(system, system)
                values = loads(synced)
                rec = listed.get(system, nothing).get(remote_id)
                if rec is not None:
                    remote_id = rec.remote_id  # the same text: one string for both
                    if rec.values == values:
                        values = rec.values
                ent.links[system] = LinkState(system, remote_id, values, bool(gone))
        return out

    @contextmanager
    def _driver_cursor(self) -> Iterator[Any]:
        """A cursor of the database driver itself, on a pooled connection (SQLite's hot reads of a run)."""
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
        finally:
            raw.close()  # back to the pool

    def links_by_remote(self, job: str, system: str, remote_ids: list[str]) -> list[tuple[str, str, str, bool]]:
        """(remote id, entity, synced text, gone) of the links that hold these remote ids: one query a page (for
        SQLite through the driver itself: SQLAlchemy's statement building cost more than the query)."""
        if self.engine.dialect.name == "sqlite":
            found: list[tuple[str, str, str, bool]] = []
            with self._driver_cursor() as cursor:
                for part in _chunks(remote_ids):
                    marks = ",".join("?" * len(part))
                    cursor.execute(
                        "SELECT remote_id, entity_id, synced, gone FROM link WHERE job = ? AND system = ? "
                        f"AND remote_id IN ({marks})",
                        (job, system, *part),
                    )
                    found.extend((rid, eid, synced, bool(gone)) for rid, eid, synced, gone in cursor.fetchall())
            return found
        of = _in("SELECT remote_id, entity_id, synced, gone FROM link WHERE job = :job AND system = :system "
                 "AND remote_id IN :part")  # fmt: skip
        with self.engine.connect() as conn:
            return [
                (rid, eid, synced, bool(gone))
                for part in _chunks(remote_ids)
                for rid, eid, synced, gone in conn.execute(of, {"job": job, "system": system, "part": part})
            ]

    def link_stream(self, job: str, *, synced: bool = False) -> Iterator[tuple[str, str, str, bool, str | None]]:
        """Every link of the job as (entity, system, remote id, gone, synced text or None), ordered by
        entity: read as a stream, so that deciding about a million people never holds them all."""
        columns = "entity_id, system, remote_id, gone, " + ("synced" if synced else "NULL")
        if self.engine.dialect.name == "sqlite":  # through the driver: SQLAlchemy's rows cost 3 µs each
            with self._driver_cursor() as cursor:
                cursor.execute(f"SELECT {columns} FROM link WHERE job = ? ORDER BY entity_id", (job,))
                while rows := cursor.fetchmany(5000):
                    for eid, system, remote_id, gone, text_ in rows:
                        yield eid, system, remote_id, bool(gone), text_
            return
        query = text(f"SELECT {columns} FROM link WHERE job = :job ORDER BY entity_id")
        with self.engine.connect() as conn:
            for eid, system, remote_id, gone, text_ in conn.execution_options(yield_per=5000).execute(
                query, {"job": job}
            ):
                yield eid, system, remote_id, bool(gone), text_

    # --- runs -----------------------------------------------------------------------------------
    def begin_run(self, job: str, dry_run: bool) -> str:
        run_id = uuid.uuid4().hex[:12]
        with Session(self.engine) as session:
            session.add(Run(id=run_id, job=job, dry_run=dry_run))
            session.commit()
        return run_id

    def finish_run(self, run_id: str, status: str, report: dict[str, Any]) -> None:
        with Session(self.engine) as session:
            run = session.get(Run, run_id)
            if run is not None:
                run.status = status
                run.finished_at = now()
                run.report = _json(report)
                session.add(run)
                session.commit()

    def runs(self, job: str | None = None, limit: int = 20) -> list[Run]:
        with Session(self.engine) as session:
            query = select(Run).order_by(Run.started_at.desc()).limit(limit)  # type: ignore[attr-defined]
            if job:
                query = query.where(Run.job == job)
            return list(session.exec(query))

    # --- the write journal ------------------------------------------------------------------------
    def journal(self, run_id: str, job: str, actions: Iterable[Action]) -> dict[int, int]:
        """Stores every write's intent before it is sent; returns id(action) → journal row id.

        One multi-row INSERT ... RETURNING, not ORM objects: 10,000 writes are journalled in a blink."""
        actions = list(actions)
        if not actions:
            return {}
        stamp = now()
        rows = [
            {
                "run_id": run_id, "job": job, "system": a.system, "entity_id": a.entity_id, "action": a.kind,
                "remote_id": a.remote_id,
                # only what this write changes: the rest of the record is somebody else's, maybe their edit
                "expected": _json({c.field: a.expected.get(c.field) for c in a.changes}),
                "state": "pending", "created_at": stamp, "finished_at": None,
            }
            for a in actions
        ]  # fmt: skip
        statement = insert(Journal).returning(Journal.id, sort_by_parameter_order=True)  # type: ignore[call-overload]
        with Session(self.engine) as session:
            ids = [row[0] for row in session.connection().execute(statement, rows)]
            session.commit()
        return {id(a): journal_id for a, journal_id in zip(actions, ids, strict=True)}

    def pending_journal(self, job: str) -> list[Journal]:
        with Session(self.engine) as session:
            return list(session.exec(select(Journal).where(Journal.job == job, Journal.state == "pending")))

    # --- recording a run --------------------------------------------------------------------------
    def record(
        self,
        run_id: str,
        plan: Plan,
        outcomes: dict[int, tuple[bool, str | None, str | None]],
        journal_ids: dict[int, int],
        complete_systems: set[str],
        *,
        recovered: Iterable[tuple[int, str, str]] = (),
        uncertain: set[int] | None = None,
        held_back: set[int] | None = None,
        only: set[str] | None = None,
        final: bool = True,
        skip: set[int] | None = None,
        link_updates: Iterable[LinkUpdate] | None = None,
        actions: Iterable[Action] | None = None,
    ) -> list[str]:
        """Applies a run's results in one transaction. ``outcomes``: id(action) → (ok, remote id, error).

        ``only``: record just these entities (a checkpoint during a long run: their writes are all done);
        ``final``: also settle what belongs to the whole run (failures, dropped entities, the journal rows
        of earlier runs); ``skip``: id() of link updates known to leave their link as stored. ``link_updates``
        and ``actions``: the plan's link updates and actions of the ``only`` entities, in the plan's order, when
        the caller has them at hand (a checkpoint: otherwise each of a long run's saves would pass over the
        whole plan). Returns problems found while recording (e.g. a provider merged two people)."""
        job = plan.job
        problems: list[str] = []
        updates_by_entity: dict[str, list[LinkUpdate]] = defaultdict(list)
        skip = skip or set()
        if link_updates is None:
            link_updates = (upd for upd in plan.links if only is None or upd.entity_id in only)
        if actions is None:
            actions = [a for a in plan.actions if only is None or a.entity_id in only]
        for upd in link_updates:
            if id(upd) not in skip:
                updates_by_entity[upd.entity_id].append(upd)
        with Session(self.engine) as session:
            links, by_remote, entities = self._load_for(session, job, updates_by_entity, outcomes)
            history: list[dict[str, Any]] = []
            new_entities: list[dict[str, Any]] = []
            stamp = now()
            for eid, updates in updates_by_entity.items():
                failed = any(u.action is not None and not outcomes.get(id(u.action), (False,))[0] for u in updates)
                for upd in updates:
                    remote_id = upd.remote_id
                    synced = upd.synced
                    if upd.action is not None:
                        ok, new_remote, _ = outcomes.get(id(upd.action), (False, None, None))
                        if not ok:
                            continue
                        remote_id = new_remote or remote_id
                        history.extend(self._changes(run_id, job, upd.action, stamp))
                        old = links.get((eid, upd.system))
                        if failed and old is not None and not upd.gone:
                            # another write of this person failed: advance only what this write changed, so
                            # a change this system made itself is seen again next run and reaches the rest
                            written = {c.field for c in upd.action.changes}
                            synced = {k: v for k, v in json.loads(old.synced).items() if k not in written}
                            synced.update({k: v for k, v in upd.synced.items() if k in written})
                    elif failed and not upd.new:
                        continue
                    if remote_id is None:
                        continue
                    if eid not in entities:
                        new_entities.append({"id": eid, "job": job, "created_at": stamp, "deleted_at": None})
                        entities.add(eid)
                    other = by_remote.get((upd.system, remote_id))
                    if other is not None and other.entity_id != eid:
                        problems.append(
                            f"{upd.system} record {remote_id} already belongs to another person "
                            f"(entity {other.entity_id}); not linked to {eid}"
                        )
                        continue
                    row = links.get((eid, upd.system))
                    encoded = _json(synced)
                    if row is not None and (row.remote_id, row.synced, row.gone) == (remote_id, encoded, upd.gone):
                        continue  # unchanged: a quiet run rewrites nothing
                    if row is None:
                        row = _LinkRow(None, eid, upd.system, remote_id, "{}", False)
                        links[(eid, upd.system)] = row
                    elif row.remote_id != remote_id:
                        by_remote.pop((row.system, row.remote_id), None)
                    row.remote_id, row.synced, row.gone, row.dirty = remote_id, encoded, upd.gone, True
                    by_remote[(upd.system, remote_id)] = row
            # in bulk, as plain statements: a checkpoint of thousands of people is a handful of round trips
            conn = session.connection()
            if new_entities:
                conn.execute(insert(Entity), new_entities)
            changed = [r for r in links.values() if r.dirty and r.id is not None]
            if changed:
                statement = (
                    update(Link)
                    .where(Link.id == bindparam("link_id"))  # type: ignore[arg-type]
                    .values(
                        remote_id=bindparam("rid"), synced=bindparam("val"), gone=bindparam("off"), updated_at=stamp
                    )
                )
                rows = [{"link_id": r.id, "rid": r.remote_id, "val": r.synced, "off": r.gone} for r in changed]
                conn.execute(statement, rows)
            added = [
                {"entity_id": r.entity_id, "job": job, "system": r.system, "remote_id": r.remote_id, "synced": r.synced,
                 "gone": r.gone, "updated_at": stamp}
                for r in links.values() if r.id is None
            ]  # fmt: skip
            if added:
                conn.execute(insert(Link), added)
            if history:
                conn.execute(insert(Change), history)
            by_state: dict[str, list[int]] = defaultdict(list)
            created: list[dict[str, Any]] = []
            for action in actions:
                key = id(action)
                journal_id = journal_ids.get(key)
                if journal_id is None:
                    continue
                ok, remote_id, _ = outcomes.get(key, (False, None, None))
                by_state["done" if ok else "pending" if key in (uncertain or set()) else "failed"].append(journal_id)
                if ok and remote_id:
                    created.append({"jid": journal_id, "rid": remote_id})
            for state, ids in by_state.items():  # one statement per state, not one round trip per row
                for part in _chunks(ids):
                    statement = update(Journal).where(Journal.id.in_(part))  # type: ignore[union-attr]
                    session.connection().execute(statement.values(state=state, finished_at=stamp))
            if created:
                session.connection().execute(
                    text("UPDATE journal SET remote_id = :rid WHERE id = :jid AND remote_id IS NULL"), created
                )
            if final:
                for eid in plan.dropped_entities:
                    ent = session.get(Entity, eid)
                    if ent is not None and ent.deleted_at is None:
                        ent.deleted_at = now()
                        session.add(ent)
                # an earlier run's unfinished write is settled only once this run listed its system in full and
                # every write of that person went through: until then it keeps telling the planner what is ours
                unsettled = {a.entity_id for a in plan.actions if not outcomes.get(id(a), (False,))[0]}
                for journal_id, entity_id, system in recovered:
                    if system not in complete_systems or entity_id in unsettled:
                        continue
                    entry = session.get(Journal, journal_id)
                    if entry is not None and entry.state == "pending":
                        entry.state = "recovered"
                        entry.finished_at = now()
                        session.add(entry)
                self._failures(session, run_id, plan, outcomes, complete_systems, held_back or set())
            session.commit()
        return problems

    @staticmethod
    def _load_for(
        session: Session,
        job: str,
        updates_by_entity: dict[str, list[LinkUpdate]],
        outcomes: dict[int, tuple[bool, str | None, str | None]],
    ) -> tuple[dict[tuple[str, str], _LinkRow], dict[tuple[str, str], _LinkRow], set[str]]:
        """Only the rows this recording touches: the entities' links and whoever holds their remote ids."""
        eids = list(updates_by_entity)
        remote: dict[str, set[str]] = defaultdict(set)
        for updates in updates_by_entity.values():
            for upd in updates:
                rid = upd.remote_id
                if upd.action is not None:
                    rid = outcomes.get(id(upd.action), (False, None, None))[1] or rid
                if rid is not None:
                    remote[upd.system].add(rid)
        conn = session.connection()
        rows: dict[int, _LinkRow] = {}
        entities: set[str] = set()
        of_entities = _in(_OF_ENTITIES.format(columns="id, entity_id, system, remote_id, synced, gone"))
        known = _in("SELECT id FROM entity WHERE job = :job AND id IN :part")
        holding = _in(f"{_LINK_COLUMNS} AND system = :system AND remote_id IN :part")
        for part in _chunks(eids):
            rows.update((found[0], _row(found)) for found in conn.execute(of_entities, {"part": part}))
            entities.update(conn.execute(known, {"job": job, "part": part}).scalars())
        for system, rids in remote.items():
            for part in _chunks(sorted(rids)):
                params = {"job": job, "system": system, "part": part}
                rows.update((found[0], _row(found)) for found in conn.execute(holding, params))
        links = {(lk.entity_id, lk.system): lk for lk in rows.values()}
        by_remote = {(lk.system, lk.remote_id): lk for lk in rows.values()}
        return links, by_remote, entities

    @staticmethod
    def _changes(run_id: str, job: str, action: Action, at: datetime) -> list[dict[str, Any]]:
        """The history rows of one write (inserted with the rest of the recording, in one statement)."""
        base = {"run_id": run_id, "job": job, "entity_id": action.entity_id, "system": action.system, "at": at}
        rows = [
            {**base, "action": action.kind, "field": c.field, "before": _json(c.before), "after": _json(c.after),
             "reason": redact_text(c.reason)}
            for c in action.changes
        ]  # fmt: skip
        if action.kind == "delete":
            rows.append({**base, "action": "delete", "field": "*", "before": None, "after": None,
                         "reason": redact_text(action.reason)})  # fmt: skip
        return rows

    @staticmethod
    def _failures(
        session: Session,
        run_id: str,
        plan: Plan,
        outcomes: dict[int, tuple[bool, str | None, str | None]],
        complete_systems: set[str],
        held_back: set[int],
    ) -> None:
        job = plan.job
        current: dict[tuple[str, str, str], dict[str, Any]] = {}
        for action in plan.actions:
            ok, _, error = outcomes.get(id(action), (False, None, None))
            if ok or (error or "").endswith(STOPPING) or id(action) in held_back:
                continue  # a write held back by a stop is not a record's failure: the next run sends it
            reason = "; ".join(action.problems) if action.problems else (error or "not sent")
            current[(action.system, action.entity_id, action.kind)] = {
                "entity_id": action.entity_id, "remote_id": action.remote_id, "label": action.label, "reason": reason,
            }  # fmt: skip
        for problem in plan.problems:
            current[(problem.system, f"{problem.system}:{problem.remote_id}", "match")] = {
                "entity_id": None, "remote_id": problem.remote_id, "label": problem.label, "reason": problem.reason,
            }  # fmt: skip
        existing = {
            (f.system, f.record_key, f.action): f
            for f in session.exec(select(Failure).where(Failure.job == job, Failure.resolved_at == None))  # noqa: E711
        }
        for key, info in current.items():
            row = existing.pop(key, None)
            if row is None:
                old = session.exec(
                    select(Failure).where(
                        Failure.job == job,
                        Failure.system == key[0],
                        Failure.record_key == key[1],
                        Failure.action == key[2],
                    )
                ).first()
                row = old or Failure(job=job, system=key[0], record_key=key[1], action=key[2], reason="", attempts=0)
                row.resolved_at = None
                row.first_seen = now() if old is not None else row.first_seen
            row.attempts += 1
            row.reason = redact_text(info["reason"])
            row.label = info["label"]
            row.entity_id = info["entity_id"]
            row.remote_id = info["remote_id"]
            row.last_seen = now()
            row.last_run = run_id
            session.add(row)
        for (system, _, _), row in existing.items():
            # not seen again on a full listing: it went through or went away (a skipped one waits for a person)
            if system in complete_systems and not row.skipped:
                row.resolved_at = now()
                session.add(row)

    # --- held conflicts ---------------------------------------------------------------------------
    def resolutions(self, job: str) -> dict[tuple[str, str], str]:
        """(entity, field) → the system a person chose for a held conflict."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(HeldConflict).where(
                    HeldConflict.job == job,
                    HeldConflict.resolved_at.is_(None),  # type: ignore[union-attr]
                    HeldConflict.take.is_not(None),  # type: ignore[union-attr]
                )
            )
            return {(r.entity_id, r.field): str(r.take) for r in rows}

    def record_conflicts(self, plan: Plan) -> None:
        """Keeps the held-conflict list in step with the run: new ones added, settled ones closed."""
        with Session(self.engine) as session:
            open_rows = {
                (r.entity_id, r.field): r
                for r in session.exec(
                    select(HeldConflict).where(HeldConflict.job == plan.job, HeldConflict.resolved_at == None)  # noqa: E711
                )
            }
            for conflict in plan.conflicts:
                key = (conflict.entity_id, conflict.field)
                row = open_rows.pop(key, None)
                if conflict.decision != "held":
                    if row is not None:  # decided this run (by a person's choice, or the edits converged)
                        row.resolved_at = now()
                        session.add(row)
                    continue
                if row is None:
                    row = session.exec(
                        select(HeldConflict).where(
                            HeldConflict.job == plan.job,
                            HeldConflict.entity_id == conflict.entity_id,
                            HeldConflict.field == conflict.field,
                        )
                    ).first() or HeldConflict(job=plan.job, entity_id=conflict.entity_id, field=conflict.field)
                    row.resolved_at, row.take, row.first_seen = None, None, now()
                row.label = conflict.label
                row.values = _json(conflict.values)
                row.last_seen = now()
                session.add(row)
            for row in open_rows.values():  # no longer in conflict: someone aligned the systems
                row.resolved_at = now()
                session.add(row)
            session.commit()

    def held_conflicts(self, job: str | None = None) -> list[HeldConflict]:
        with Session(self.engine) as session:
            query = select(HeldConflict).where(HeldConflict.resolved_at == None)  # noqa: E711
            if job:
                query = query.where(HeldConflict.job == job)
            return list(session.exec(query.order_by(HeldConflict.id)))  # type: ignore[arg-type]

    def resolve_conflict(self, conflict_id: int, take: str) -> HeldConflict:
        with Session(self.engine) as session:
            row = session.get(HeldConflict, conflict_id)
            if row is None or row.resolved_at is not None:
                raise KeyError(f"no open conflict #{conflict_id}")
            systems = json.loads(row.values)
            if take not in systems:
                raise ValueError(f"conflict #{conflict_id} is between {', '.join(systems)}, not {take!r}")
            row.take = take
            session.add(row)
            session.commit()
            session.refresh(row)
            return row

    # --- failures a person acts on -------------------------------------------------------------
    def set_failure_skipped(self, failure_id: int, skipped: bool) -> Failure:
        with Session(self.engine) as session:
            row = session.get(Failure, failure_id)
            if row is None:
                raise KeyError(f"no failure #{failure_id}")
            row.skipped = skipped
            if not skipped:
                row.resolved_at = None
            session.add(row)
            session.commit()
            session.refresh(row)
            return row

    def skipped(self, job: str) -> set[tuple[str, str, str]]:
        """(system, record key, action) of failures a person told syncd to stop retrying."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(Failure).where(Failure.job == job, Failure.skipped == True, Failure.resolved_at == None)  # noqa: E712,E711
            )
            return {(r.system, r.record_key, r.action) for r in rows}

    # --- what people ask about ------------------------------------------------------------------
    def find_entities(self, job: str | None, keys: set[str]) -> list[tuple[str, str]]:
        """(job, entity) whose last-synced values hold one of these normalized phones / e-mails."""
        from syncd.engine.match import keys as match_keys

        found = set()
        with Session(self.engine) as session:
            query = select(Link)
            if job:
                query = query.where(Link.job == job)
            for link in session.exec(query):
                if match_keys(json.loads(link.synced), ("phone", "email")) & keys:
                    found.add((link.job, link.entity_id))
        return sorted(found)

    def changes(self, job: str, entity_id: str) -> list[Change]:
        with Session(self.engine) as session:
            return list(
                session.exec(
                    select(Change)
                    .where(Change.job == job, Change.entity_id == entity_id)
                    .order_by(Change.at, Change.id)  # type: ignore[arg-type]
                )
            )

    def links_of(self, job: str, entity_id: str) -> list[Link]:
        with Session(self.engine) as session:
            return list(session.exec(select(Link).where(Link.job == job, Link.entity_id == entity_id)))

    def get_cursor(self, job: str, system: str, name: str = "cursor") -> str | None:
        with Session(self.engine) as session:
            row = session.exec(
                select(Cursor).where(Cursor.job == job, Cursor.system == system, Cursor.name == name)
            ).first()
            return row.value if row else None

    def set_cursor(self, job: str, system: str, value: str, name: str = "cursor") -> None:
        with Session(self.engine) as session:
            row = session.exec(
                select(Cursor).where(Cursor.job == job, Cursor.system == system, Cursor.name == name)
            ).first()
            row = row or Cursor(job=job, system=system, name=name, value=value)
            row.value = value
            session.add(row)
            session.commit()

    # --- each listing as the last run read it (syncd.state.memo) -----------------------------------
    def listing_memo(self, job: str, system: str) -> bytes | None:
        with self.engine.connect() as conn:
            found = conn.execute(
                text("SELECT memo FROM listing_memo WHERE job = :job AND system = :system"),
                {"job": job, "system": system},
            ).scalar_one_or_none()
        return None if found is None else bytes(found)

    def set_listing_memo(self, job: str, system: str, memo: bytes | None) -> None:
        """Replaces the system's memo (None: forgets it)."""
        with self.engine.begin() as conn:
            conn.execute(
                text("DELETE FROM listing_memo WHERE job = :job AND system = :system"), {"job": job, "system": system}
            )
            if memo is not None:
                conn.execute(
                    text("INSERT INTO listing_memo (job, system, memo) VALUES (:job, :system, :memo)"),
                    {"job": job, "system": system, "memo": memo},
                )

    # --- the phone conversions a job's last run made (syncd.state.phone_memo) ---------------------------
    def phone_memo(self, job: str) -> bytes | None:
        with self.engine.connect() as conn:
            found = conn.execute(
                text("SELECT memo FROM phone_memo WHERE job = :job"), {"job": job}
            ).scalar_one_or_none()
        return None if found is None else bytes(found)

    def set_phone_memo(self, job: str, memo: bytes) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM phone_memo WHERE job = :job"), {"job": job})
            conn.execute(text("INSERT INTO phone_memo (job, memo) VALUES (:job, :memo)"), {"job": job, "memo": memo})

    # --- when each system's next call may go (syncd.connectors.pacing.PaceBook) ----------------------
    def pacing(self, systems: Iterable[str]) -> dict[tuple[str, str], float]:
        """(system, endpoint) → the wall-clock time before which its next call may not go."""
        wanted = sorted(set(systems))
        if not wanted:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(_in("SELECT system, endpoint, not_before FROM pacing WHERE system IN :part"),
                                {"part": wanted})  # fmt: skip
            return {(system, endpoint): float(at) for system, endpoint, at in rows}

    def set_pacing(self, left: Mapping[tuple[str, str], float]) -> None:
        """Keeps the later of what is stored and what this process leaves: another process may have called since
        (one statement a row, so no other process's later turn is overwritten between a read and a write)."""
        if not left:
            return
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO pacing (system, endpoint, not_before) VALUES (:system, :endpoint, :at) "
                    "ON CONFLICT (system, endpoint) DO UPDATE SET not_before = excluded.not_before "
                    "WHERE pacing.not_before < excluded.not_before"
                ),
                [{"system": system, "endpoint": endpoint, "at": at} for (system, endpoint), at in left.items()],
            )

    def linked_remote_ids(self, job: str, system: str) -> set[str]:
        with Session(self.engine) as session:
            return set(session.exec(select(Link.remote_id).where(Link.job == job, Link.system == system)))

    def failures(self, job: str | None = None, *, include_resolved: bool = False) -> list[Failure]:
        with Session(self.engine) as session:
            query = select(Failure).order_by(Failure.id)  # type: ignore[arg-type]
            if job:
                query = query.where(Failure.job == job)
            if not include_resolved:
                query = query.where(Failure.resolved_at == None)  # noqa: E711
            return list(session.exec(query))

    def links_count(self, job: str) -> dict[str, int]:
        """Live links per system (counted by the database: a run asks as it starts, at 1M too)."""
        query = text("SELECT system, count(*) FROM link WHERE job = :job AND NOT gone GROUP BY system")
        with self.engine.connect() as conn:
            return {system: int(n) for system, n in conn.execute(query, {"job": job})}

    def integrity_ok(self) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(text("PRAGMA integrity_check")).scalar() == "ok")


@dataclass(slots=True)
class _LinkRow:
    """A link row as recording reads and changes it: plain values, written back in bulk."""

    id: int | None
    entity_id: str
    system: str
    remote_id: str
    synced: str
    gone: bool
    dirty: bool = False


_LINK_COLUMNS = "SELECT id, entity_id, system, remote_id, synced, gone FROM link WHERE job = :job"
_SYNCED_COLUMNS = "SELECT entity_id, system, remote_id, synced, gone FROM link WHERE job = :job"
#: the links of some entities. Not "job = :job AND …": SQLite then searches the job's index, every link of the
#: job for each chunk of ids (a checkpoint at 100k people took twice one at 10k; 1M: 16 s to load 10k people).
#: An entity id belongs to one job, so its links are that job's.
_OF_ENTITIES = "SELECT {columns} FROM link WHERE entity_id IN :part"


def _in(query: str) -> Any:
    """A statement whose ``:part`` is a list, expanded to one parameter per item (IN lists in chunks)."""
    return text(query).bindparams(bindparam("part", expanding=True))


def _row(found: Any) -> _LinkRow:
    link_id, entity_id, system, remote_id, synced, gone = found
    return _LinkRow(link_id, entity_id, system, remote_id, synced, bool(gone))


def _chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    """SQL IN lists of a size every database takes."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
