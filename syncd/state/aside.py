"""Listed records a run sets aside on disk, so that a quiet person never sits in memory.

A run of a million people where one in a hundred changed used to hold every listed record and every link
in Python objects (2.5 GB, bench/README.md), only for the planner to skip the quiet 99%. Instead, as each
page is mapped, a record that holds exactly the values its link last synced (clean values, nothing
unreadable, no mapping problem), or whose link is gone, goes to a private temporary SQLite file, and the
listing keeps a number in its place. Once every listing is in, :meth:`SetAside.decide` names the people who need
the planner, in one grouped query of SQLite over the job's links with the state's file attached (or, for a state
SQLite cannot attach, over a stream of the links ordered by person): anyone with some links gone (all gone:
deleted everywhere, quiet), a link on a system outside the job's ranking, a record replaced half-way, listed
changed, listed twice, or missing from a complete listing; anyone without a link on a system the planner
would create in; anyone sharing a phone, an e-mail or an entity id with an unlinked record (the matcher must
see them). Those are loaded with their set-aside records put
back; every other person is one the planner would find quiet (``_EntityPlanner.quiet_check``, which
``engine.plan.quiet_scope`` keeps in step with this) and is only counted.

The rule errs one way only: a person loaded needlessly is found quiet by the planner; a person set aside
wrongly would be a change not synced. ``tests/unit/test_aside.py`` plans the same runs both ways.

A run sets aside only on a large state (``[state] set_aside_from``, JobRun): below it the daemon's memo holds
every record anyway, and planning everyone costs less CPU than setting them aside.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import operator
import sqlite3
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, field

from syncd import canonical
from syncd.engine import match
from syncd.engine.model import Record
from syncd.state.store import Store, _chunks

#: what a set-aside record leaves in its listing: its row in the file
Placeholder = int


@dataclass
class Decision:
    """Who the planner must see, and what it is told about the rest."""

    active: set[str]
    set_aside: int  # quiet people not loaded
    linked: dict[str, int] = field(default_factory=dict)  # live links per system, everyone's (delete guard)


class SetAside:
    """One run's set-aside records (a temporary file, deleted when closed)."""

    def __init__(self, store: Store, job: str) -> None:
        self.store = store
        self.job = job
        # "": a private temporary database, on disk beyond a small page cache, removed on close
        self.db = sqlite3.connect("", check_same_thread=False, uri=True)  # (uri: the state attached read-only)
        self.db.execute("PRAGMA journal_mode = OFF")  # thrown away with the run: nothing to roll back or recover
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute(
            "CREATE TABLE aside (seq INTEGER PRIMARY KEY, system TEXT NOT NULL, remote_id TEXT NOT NULL, "
            "entity_id TEXT NOT NULL, packed BLOB NOT NULL)"
        )
        self.count = 0
        self.per_system: dict[str, int] = defaultdict(int)
        self.indexed = False

    def close(self) -> None:
        self.db.close()

    def page(self, system: str, records: list[Record | None]) -> list[Record | Placeholder | None]:
        """The page with each record that may be set aside replaced by its placeholder. One query for the
        page's links; a record is set aside when its link is live and holds exactly the record's values (compared
        as the planner compares them: a redacted secret never matches), or when its link is gone (the planner
        leaves a record under a gone link alone, and its person is planned only if a live link is left)."""
        ids = [rec.remote_id for rec in records if rec is not None and not rec.problems and not rec.unreadable]
        if not ids:
            return list(records)
        links = {
            rid: (eid, None if gone else synced)
            for rid, eid, synced, gone in self.store.links_by_remote(self.job, system, ids)
        }
        out: list[Record | Placeholder | None] = []
        rows: list[tuple[int, str, str, str, bytes]] = []
        loads = json.loads
        for rec in records:
            link = links.get(rec.remote_id) if rec is not None else None
            if rec is None or link is None or rec.problems or rec.unreadable:
                out.append(rec)
                continue
            synced = link[1]  # None: the link is gone
            if synced is not None and rec.values != loads(synced):  # (a record's values are clean: see Record)
                out.append(rec)
                continue
            self.count += 1
            rows.append((self.count, system, rec.remote_id, link[0], rec.packed))
            out.append(self.count)
        if rows:
            self.db.executemany("INSERT INTO aside VALUES (?, ?, ?, ?, ?)", rows)
            self.per_system[system] += len(rows)
        return out

    def drop(self, system: str) -> None:
        """A listing that failed: what it set aside says nothing (its records are not this run's)."""
        self.db.execute("DELETE FROM aside WHERE system = ?", (system,))
        self.per_system.pop(system, None)

    def settle(self, system: str, listing: list[Record | Placeholder]) -> None:
        """Forgets what a page set aside that the listing did not keep: a listing read again part-way (the Apps
        API's, when it changed while paged) hands some records twice, and only the final listing counts."""
        kept = [item for item in listing if not isinstance(item, Record)]
        if len(kept) == self.per_system.get(system, 0):
            return
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS kept (seq INTEGER PRIMARY KEY)")
        self.db.execute("DELETE FROM kept")
        self.db.executemany("INSERT INTO kept VALUES (?)", ((seq,) for seq in kept))
        self.db.execute("DELETE FROM aside WHERE system = ? AND seq NOT IN (SELECT seq FROM kept)", (system,))
        self.per_system[system] = len(kept)

    def decide(
        self,
        listings: Mapping[str, list[Record | Placeholder]],
        complete: Mapping[str, bool],
        must_live: Iterable[str],
        match_on: tuple[str, ...],
        replacing: Iterable[tuple[str, str]] = (),
    ) -> Decision:
        """``listings``: each system's listing (records and placeholders); ``complete`` and ``must_live``: from
        ``engine.plan.quiet_scope``; ``replacing``: (entity, system) of replaces an earlier run left half done."""
        active = {eid for eid, _ in replacing}
        must = set(must_live)
        # listed records the planner will see: their owners are loaded, and unlinked ones may match anyone
        kept: dict[str, list[Record]] = defaultdict(list)
        for system, listing in listings.items():
            for item in listing:
                if isinstance(item, Record):
                    kept[system].append(item)
        keys: set[str] = set()
        for system, recs in kept.items():
            owners = {
                rid: eid for rid, eid, _, _ in self.store.links_by_remote(self.job, system, [r.remote_id for r in recs])
            }
            active.update(owners.values())
            for rec in recs:
                if rec.remote_id not in owners:
                    keys |= match.record_keys(rec, (*match_on, "entity"))
        hints = {k[len("entity:") :] for k in keys if k.startswith("entity:")}
        active.update(hints)
        keys -= {f"entity:{h}" for h in hints}
        # a remote id set aside twice in a listing: the planner reports it
        active.update(
            eid for (eid,) in self.db.execute(
                "SELECT DISTINCT entity_id FROM aside GROUP BY system, remote_id HAVING count(*) > 1"
            )
        )  # fmt: skip
        self._index_people()
        if (state := _attachable(self.store)) is not None:
            quiet, linked = self._decide_joined(state, active, keys, complete, must, match_on)
        else:
            quiet, linked = self._decide_streamed(active, keys, complete, must, match_on)
        return Decision(active, quiet, linked)

    def _decide_joined(
        self,
        state: str,
        active: set[str],
        keys: set[str],
        complete: Mapping[str, bool],
        must: set[str],
        match_on: tuple[str, ...],
    ) -> tuple[int, dict[str, int]]:
        """The decision made by SQLite itself, with the state's file attached read-only: the Python stream of
        every link cost about 30 µs a person (30 s at 1M), SQLite's grouped join a few. ``_quiet`` and
        ``_shares`` in SQL; adds the people the planner must see to ``active``."""
        db = self.db
        db.commit()  # (the pages' inserts: ATTACH and DETACH need no open transaction)
        db.execute("ATTACH DATABASE ? AS state", (state,))
        cursor = None
        try:
            if keys:
                active.update(self._sharing(keys, match_on))
            db.execute("CREATE TEMP TABLE IF NOT EXISTS active (entity_id TEXT PRIMARY KEY)")
            db.execute("DELETE FROM temp.active")
            db.executemany("INSERT OR IGNORE INTO temp.active VALUES (?)", ((eid,) for eid in active))
            ranked = _within("l.system", list(complete))
            full = _within("l.system", [s for s, whole in complete.items() if whole])
            needed = _within("l.system", sorted(must))
            # a person is quiet when every link is gone, or when every link is live, on a ranked system, set
            # aside unless its listing is not complete, and the systems the planner would create in are linked
            quiet_sql = (
                f"(min(l.gone) = 1 OR (max(l.gone) = 0 AND total(NOT {ranked[0]}) = 0"
                f" AND total({full[0]} AND NOT EXISTS (SELECT 1 FROM aside a"
                " WHERE a.entity_id = l.entity_id AND a.system = l.system)) = 0"
                f" AND total({needed[0]}) = ?))"
            )
            query = (
                f"SELECT CASE WHEN {quiet_sql} AND l.entity_id NOT IN (SELECT entity_id FROM temp.active)"
                " THEN NULL ELSE l.entity_id END FROM state.link l WHERE l.job = ? GROUP BY l.entity_id"
            )
            quiet = 0
            cursor = db.execute(query, (*ranked[1], *full[1], *needed[1], len(must), self.job))
            while rows := cursor.fetchmany(5000):
                for (eid,) in rows:
                    if eid is None:
                        quiet += 1
                    else:
                        active.add(eid)
        finally:
            if cursor is not None:
                cursor.close()
            db.commit()
            db.execute("DETACH DATABASE state")
        return quiet, self.store.links_count(self.job)

    def _sharing(self, keys: set[str], match_on: tuple[str, ...]) -> set[str]:
        """The people with a live link whose synced values hold one of these match keys. SQLite picks the
        links that may (a phone equal to a key; an e-mail equal to one once trimmed and lower-cased, or not
        plain printable ASCII, where SQLite's trim and lower differ from Python's), ``_shares`` decides."""
        db = self.db
        db.execute("CREATE TEMP TABLE IF NOT EXISTS keyvals (value TEXT PRIMARY KEY)")
        db.execute("DELETE FROM temp.keyvals")
        db.executemany("INSERT OR IGNORE INTO temp.keyvals VALUES (?)", ((key.partition(":")[2],) for key in keys))
        tests: list[str] = []
        params: list[str] = []
        if "phone" in match_on:
            for name in canonical.PHONE_FIELDS:
                tests.append("json_extract(l.synced, ?) IN (SELECT value FROM temp.keyvals)")
                params.append(_path(name))
        if "email" in match_on:
            for name in canonical.EMAIL_FIELDS:
                tests.append("lower(trim(json_extract(l.synced, ?))) IN (SELECT value FROM temp.keyvals)")
                tests.append("json_extract(l.synced, ?) GLOB '*[^ -~]*'")
                params += [_path(name), _path(name)]
        if not tests:
            return set()
        query = "SELECT l.entity_id, l.synced FROM state.link l WHERE l.job = ? AND NOT l.gone AND "
        found: set[str] = set()
        for eid, synced in db.execute(f"{query}({' OR '.join(tests)})", (self.job, *params)).fetchall():
            if _shares([(eid, "", "", False, synced)], keys, match_on):
                found.add(eid)
        return found

    def _decide_streamed(
        self,
        active: set[str],
        keys: set[str],
        complete: Mapping[str, bool],
        must: set[str],
        match_on: tuple[str, ...],
    ) -> tuple[int, dict[str, int]]:
        """The decision in Python, over a stream of every link ordered by person: a state SQLite cannot attach
        (in memory, or another database)."""
        linked: dict[str, int] = defaultdict(int)
        quiet = 0
        people = itertools.groupby(self.store.link_stream(self.job, synced=bool(keys)), key=operator.itemgetter(0))
        nothing: frozenset[str] = frozenset()
        while batch := [(eid, list(rows)) for eid, rows in itertools.islice(people, 500)]:
            # which systems set each person's record aside (looked up by person: no order shared between files)
            listed: dict[str, set[str]] = defaultdict(set)
            marks = ",".join("?" * len(batch))
            query = f"SELECT entity_id, system FROM aside WHERE entity_id IN ({marks})"
            for eid, system in self.db.execute(query, [eid for eid, _ in batch]):
                listed[eid].add(system)
            for eid, links in batch:
                for _, system, _, gone, _ in links:
                    if not gone:
                        linked[system] += 1
                if eid in active:
                    continue
                if not _quiet(links, listed.get(eid, nothing), complete, must) or (
                    keys and _shares(links, keys, match_on)
                ):
                    active.add(eid)
                else:
                    quiet += 1
        return quiet, dict(linked)

    def restore(self, active: set[str], rebuild: Callable[[str, bytes], Record | None]) -> dict[Placeholder, Record]:
        """The set-aside records of these people, rebuilt from their raw bytes (mapping is a pure function
        of the raw record, so each is the Record the page held)."""
        out: dict[Placeholder, Record] = {}
        for seq, system, _, packed in self.of_people(active):
            rec = rebuild(system, packed)
            if rec is not None:
                out[seq] = rec
        return out

    def of_people(self, people: Iterable[str]) -> Iterator[tuple[Placeholder, str, str, bytes]]:
        """(placeholder, system, entity, packed record) of every record of these people set aside so far, 500
        people at a time."""
        self._index_people()
        for part in _chunks(sorted(people)):
            marks = ",".join("?" * len(part))
            query = f"SELECT seq, system, entity_id, packed FROM aside WHERE entity_id IN ({marks}) ORDER BY seq"
            yield from self.db.execute(query, part).fetchall()

    def at(self, placeholders: list[Placeholder]) -> list[tuple[Placeholder, str, bytes]]:
        """(placeholder, entity, packed record) of these placeholders."""
        out: list[tuple[Placeholder, str, bytes]] = []
        for part in _chunks(placeholders):
            marks = ",".join("?" * len(part))
            out.extend(self.db.execute(f"SELECT seq, entity_id, packed FROM aside WHERE seq IN ({marks})", part))
        return out

    def _index_people(self) -> None:
        """Asked by person from now on: the decision at the end, and the early writes' rounds before it."""
        if not self.indexed:
            self.db.execute("CREATE INDEX IF NOT EXISTS aside_entity ON aside (entity_id, system)")
            self.indexed = True


def _quiet(
    links: list[tuple[str, str, str, bool, str | None]],
    listed: Set[str],
    complete: Mapping[str, bool],
    must: set[str],
) -> bool:
    """The links half of ``quiet_check``: every link live and ranked, and its record set aside (its values
    as last synced), or missing from a listing that is not complete; or every link gone."""
    if all(gone for _, _, _, gone, _ in links):
        return True
    systems = set()
    for _, system, _, gone, _ in links:
        full = complete.get(system)
        if full is None or gone:
            return False
        if system not in listed and full:
            return False
        systems.add(system)
    return bool(systems) and must <= systems


def _shares(links: list[tuple[str, str, str, bool, str | None]], keys: set[str], match_on: tuple[str, ...]) -> bool:
    """Whether the person holds a phone or e-mail of an unlinked record (their listed values are their synced
    ones, so the synced values are all the keys the matcher sees)."""
    for _, _, _, gone, synced in links:
        if not gone and synced is not None and match.keys(json.loads(synced), match_on) & keys:
            return True
    return False


def _attachable(store: Store) -> str | None:
    """The state as a read-only SQLite URI, when SQLite can attach it (a database file) and has the JSON
    functions the decision uses (built in since SQLite 3.38; an older library may lack them)."""
    if store.file is None or store.engine.dialect.name != "sqlite" or not _has_json():
        return None
    return "file:" + urllib.parse.quote(str(store.file.resolve())) + "?mode=ro"


@functools.cache
def _has_json() -> bool:
    try:
        with contextlib.closing(sqlite3.connect(":memory:")) as db:
            return bool(db.execute("""SELECT json_extract('{"a": 1}', '$.a') = 1""").fetchone()[0])
    except sqlite3.OperationalError:
        return False


def _within(column: str, values: list[str]) -> tuple[str, list[str]]:
    """``column IN (values)`` as SQL and its parameters; no values: plain false (no empty list to read)."""
    if not values:
        return "0", []
    return f"{column} IN ({','.join('?' * len(values))})", values


def _path(name: str) -> str:
    """A JSON path to one top-level field (quoted: any name)."""
    return "$." + json.dumps(name)
