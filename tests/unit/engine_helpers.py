"""Small in-memory systems for driving the planner as a pure function.

A role's write model is either ``replace`` (what is sent is what the system holds: blanks clear) or ``keep``
(blanks keep the stored value, like Callyzer's bulksave with an id). ``World`` holds each system's records
as canonical dicts, applies a plan's actions through the same write model, and advances the link state the
way ``Store.record`` does when every write succeeded.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from syncd import canonical
from syncd.canonical import Canon
from syncd.engine import existing_lead
from syncd.engine.model import (
    Action,
    EntityState,
    Fetched,
    LinkState,
    Plan,
    Policies,
    Record,
    SystemRole,
    pack,
)
from syncd.engine.plan import plan as make_plan

FIELDS = frozenset({"first_name", "last_name", "email", "phone", "phone2", "company", "status", "tags", "notes"})
P1, P2, P3, P4 = "+919988776655", "+919988776656", "+919988776657", "+919988776658"


def role(
    name: str,
    fields: Iterable[str] = FIELDS,
    *,
    mode: str = "replace",
    validate: Any = None,
    truncate: dict[str, int] | None = None,
    **flags: Any,
) -> SystemRole:
    names = frozenset(fields)
    cut = truncate or {}

    def project(rec: Record | None, desired: Canon) -> Canon:
        out: dict[str, Any] = {}
        if mode == "keep" and rec is not None:
            out.update({k: v for k, v in rec.values.items() if k in names})
        for key, value in desired.items():
            if key not in names:
                continue
            if mode == "keep" and canonical.is_blank(value):
                continue
            out[key] = value[: cut[key]] if key in cut and isinstance(value, str) else value
        return canonical.clean(out)

    return SystemRole(name, names, names, project, validate or (lambda v: []), **flags)


def roles(*names: str, **kw: Any) -> dict[str, SystemRole]:
    return {n: role(n, **kw) for n in names}


def rec(system: str, remote_id: str, modified: datetime | None = None, **values: Any) -> Record:
    return Record(system, remote_id, canonical.clean(values), pack({"id": remote_id}, system), modified)


def ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"N{next(counter)}"  # never one of the hand-built "E…" ids


def run(
    rls: dict[str, SystemRole],
    policies: Policies,
    entities: dict[str, EntityState],
    *listings: tuple[str, list[Record]] | tuple[str, list[Record], bool],
) -> Plan:
    fetched = {}
    for listing in listings:
        system, records, *rest = listing
        fetched[system] = Fetched(list(records), complete=rest[0] if rest else True)
    return make_plan("job", rls, policies, entities, fetched, ids())


def linked(eid: str, **links: tuple[str, dict[str, Any]]) -> EntityState:
    return EntityState(eid, {s: LinkState(s, rid, canonical.clean(v)) for s, (rid, v) in links.items()})


def state(*ents: EntityState) -> dict[str, EntityState]:
    return {e.id: e for e in ents}


def kinds(p: Plan) -> list[tuple[str, str]]:
    return sorted((a.kind, a.system) for a in p.actions)


class World:
    """Each system's records (remote id → canonical values) plus the link state, evolving run by run."""

    def __init__(self, rls: dict[str, SystemRole], policies: Policies) -> None:
        self.roles = rls
        self.policies = policies
        self.data: dict[str, dict[str, Canon]] = {s: {} for s in rls}
        self.modified: dict[tuple[str, str], datetime] = {}
        self.entities: dict[str, EntityState] = {}
        self._ids = itertools.count(1)
        self._new_entity = ids()

    def put(self, system: str, remote_id: str | None = None, modified: datetime | None = None, **values: Any) -> str:
        remote_id = remote_id or f"{system}{next(self._ids)}"
        self.data[system][remote_id] = canonical.clean(values)
        if modified is not None:
            self.modified[(system, remote_id)] = modified
        return remote_id

    def edit(self, system: str, remote_id: str, modified: datetime | None = None, **values: Any) -> None:
        self.data[system][remote_id] = canonical.clean({**self.data[system][remote_id], **values})
        if modified is not None:
            self.modified[(system, remote_id)] = modified

    def records(self, system: str) -> list[Record]:
        return [
            Record(system, rid, dict(v), pack({"id": rid}, system), self.modified.get((system, rid)))
            for rid, v in sorted(self.data[system].items())
        ]

    def plan(self, incomplete: Iterable[str] = ()) -> Plan:
        skip = set(incomplete)
        fetched = {s: Fetched(self.records(s) if s not in skip else [], complete=s not in skip) for s in self.roles}
        return make_plan("job", self.roles, self.policies, copy.deepcopy(self.entities), fetched, self._new_entity)

    def apply(self, p: Plan) -> dict[int, str]:
        """Writes every valid action through the system's write model; returns id(action) → remote id."""
        assert p.guard is None, p.guard
        created: dict[int, str] = {}
        for action in p.writes():
            store = self.data[action.system]
            r = self.roles[action.system]
            if action.kind == "delete":
                del store[action.remote_id or ""]
            elif action.kind == "create":
                rid = f"{action.system}{next(self._ids)}"
                store[rid] = r.project(None, action.desired)
                created[id(action)] = rid
            else:
                assert action.remote_id is not None
                current = Record(action.system, action.remote_id, store[action.remote_id], pack({}, action.system))
                desired = action.desired
                if action.kind == "merge":
                    desired = existing_lead.merge(current.values, desired, self.policies.existing_lead, r.writes)
                store[action.remote_id] = r.project(current, desired)
        self.record(p, created)
        return created

    def record(self, p: Plan, created: dict[int, str]) -> None:
        """``Store.record`` with every sendable write ok and every invalid one failed."""
        failed = {u.entity_id for u in p.links if u.action is not None and u.action.problems}
        for upd in p.links:
            if upd.action is not None and upd.action.problems:
                continue
            if upd.action is None and upd.entity_id in failed and not upd.new:
                continue
            remote_id = created.get(id(upd.action)) if upd.action is not None else None
            remote_id = remote_id or upd.remote_id
            assert remote_id is not None
            ent = self.entities.setdefault(upd.entity_id, EntityState(upd.entity_id))
            ent.links[upd.system] = LinkState(upd.system, remote_id, dict(upd.synced), upd.gone)

    def sync(self, incomplete: Iterable[str] = ()) -> Plan:
        p = self.plan(incomplete)
        self.apply(p)
        return p

    def link_of(self, system: str, remote_id: str) -> tuple[str, LinkState]:
        for eid, ent in self.entities.items():
            link = ent.links.get(system)
            if link is not None and link.remote_id == remote_id:
                return eid, link
        raise KeyError((system, remote_id))


def action_for(p: Plan, kind: str, system: str) -> Action:
    found = [a for a in p.actions if a.kind == kind and a.system == system]
    assert len(found) == 1, (kind, system, p.actions)
    return found[0]


def policies(*priority: str, **kw: Any) -> Policies:
    return Policies(priority=priority or ("a", "b"), **kw)
