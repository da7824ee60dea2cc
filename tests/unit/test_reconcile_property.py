"""Reconciliation as a state machine: two in-memory systems, the real planner and the real Store.

Between syncs, people are created, edited (on one side or both), deleted and reverted to older content. A
sync plans, applies the plan's writes to the in-memory systems, records the outcomes in the Store, and must
then leave both systems in step: the same values for every person, one record per person per system,
links that match the systems exactly, every change made since the last sync present on both sides (the
conflict policy, prefer a, deciding between two different edits of one field), and a quiet second plan.
"""

from __future__ import annotations

import copy
import itertools
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from syncd import canonical
from syncd.canonical import Canon
from syncd.engine.model import EntityState, ExistingLead, Fetched, LinkUpdate, Plan, Policies, Record, SystemRole, pack
from syncd.engine.plan import plan
from syncd.state.store import Store

JOB = "people"
SYSTEMS = ("a", "b")
FIELDS = ("first_name", "last_name", "email", "phone", "company", "notes")
EDITABLE = tuple(f for f in FIELDS if f != "phone")  # phones are what people are matched by
PHONES = tuple(f"+9199887766{n:02d}" for n in range(6))
VALUES = {
    "first_name": ("Ann", "Bob", "Cyrus", "Devi"),
    "last_name": ("Rao", "Iyer", "Shah"),
    "email": ("ann@x.co", "bob@y.co", "c@z.co"),
    "company": ("Acme", "Zenith", "Orbit"),
    "notes": ("called", "left a message", "wants a demo", "n"),
}


def _project(rec: Record | None, desired: Canon) -> Canon:
    """Full replace: the system holds exactly the fields it was sent."""
    return canonical.clean({k: v for k, v in desired.items() if k in FIELDS})


ROLES = {s: SystemRole(s, frozenset(FIELDS), frozenset(FIELDS), _project, lambda values: []) for s in SYSTEMS}
POLICIES = Policies(
    priority=SYSTEMS,
    conflict="prefer",
    # both records of a person created apart take the details of a's (phones are never overwritten)
    existing_lead=ExistingLead(lead_details="overwrite"),
    deletes="propagate",
    min_delete_count=10**6,
    match_on=("phone",),
)

values_st = st.fixed_dictionaries({name: st.sampled_from(options) for name, options in VALUES.items()})
system_st = st.sampled_from(SYSTEMS)
field_st = st.sampled_from(EDITABLE)
index_st = st.integers(min_value=0, max_value=50)


class Reconcile(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="syncd-prop-")
        self.store = Store(f"sqlite:///{Path(self.tmp) / 'state.db'}")
        self.data: dict[str, dict[str, Canon]] = {s: {} for s in SYSTEMS}
        self.history: dict[tuple[str, str], list[Canon]] = {}
        self.baseline: dict[str, dict[str, Canon]] = {s: {} for s in SYSTEMS}
        self._ids = itertools.count(1)
        self._entities = itertools.count(1)
        self.syncs = 0

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- helpers ---------------------------------------------------------------------------------------
    def _set(self, system: str, rid: str, values: dict[str, Any]) -> None:
        clean = canonical.clean(values)
        self.data[system][rid] = clean
        history = self.history.setdefault((system, rid), [])
        if not history or history[-1] != clean:
            history.append(dict(clean))

    def _pick(self, system: str, index: int) -> str | None:
        rids = sorted(self.data[system])
        return rids[index % len(rids)] if rids else None

    def _entities_now(self) -> dict[str, EntityState]:
        return self.store.load_entities(JOB)

    def _free_phones(self, system: str) -> list[str]:
        used = {v.get("phone") for v in self.data[system].values()}
        for ent in self._entities_now().values():
            link = ent.links.get(system)
            if link is not None and not link.gone:
                used.add(link.synced.get("phone"))
        return [p for p in PHONES if p not in used]

    def _plan(self, failed: str | None = None) -> Plan:
        fetched = {
            s: Fetched([Record(s, rid, dict(v), pack({"id": rid}, s)) for rid, v in sorted(self.data[s].items())])
            if s != failed
            else Fetched([], complete=False)
            for s in SYSTEMS
        }
        # as a run loads it: a link listed unchanged shares its record's values dict (Store.load_entities)
        state = self.store.load_entities(JOB, {s: {r.remote_id: r for r in f.records} for s, f in fetched.items()})
        inputs = _inputs(state, fetched)
        start = next(self._entities)
        fast = plan(JOB, ROLES, POLICIES, state, fetched, _ids(start))
        full = plan(JOB, ROLES, POLICIES, copy.deepcopy(state), fetched, _ids(start), fast=False)
        # shared values (a link's and its record's dict, texts and lists shared across records) rely on this
        assert _inputs(state, fetched) == inputs, "the planner changed its inputs"
        self._entities = itertools.count(start + len(full.new_entities) + 1)
        _check_fast_path(fast, full, state)
        return fast

    # --- rules: the outside world -------------------------------------------------------------------------
    @initialize(system=system_st, values=values_st, phone=index_st)
    def start(self, system: str, values: dict[str, str], phone: int) -> None:
        self.create(system, values, phone)

    @rule(system=system_st, values=values_st, phone=index_st)
    def create(self, system: str, values: dict[str, str], phone: int) -> None:
        free = self._free_phones(system)
        if not free:
            return
        rid = f"{system}-{next(self._ids)}"
        self._set(system, rid, {**values, "phone": free[phone % len(free)]})

    @rule(system=system_st, index=index_st, field=field_st, value=st.integers(0, 3))
    def edit(self, system: str, index: int, field: str, value: int) -> None:
        rid = self._pick(system, index)
        if rid is None:
            return
        options = VALUES[field]
        self._set(system, rid, {**self.data[system][rid], field: options[value % len(options)]})

    @rule(index=index_st, field_a=field_st, field_b=field_st, value_a=st.integers(0, 3), value_b=st.integers(0, 3))
    def edit_both(self, index: int, field_a: str, field_b: str, value_a: int, value_b: int) -> None:
        pairs = [
            (ent.links["a"].remote_id, ent.links["b"].remote_id)
            for _, ent in sorted(self._entities_now().items())
            if all(s in ent.links and not ent.links[s].gone for s in SYSTEMS)
            and ent.links["a"].remote_id in self.data["a"]
            and ent.links["b"].remote_id in self.data["b"]
        ]
        if not pairs:
            return
        rid_a, rid_b = pairs[index % len(pairs)]
        opts_a, opts_b = VALUES[field_a], VALUES[field_b]
        self._set("a", rid_a, {**self.data["a"][rid_a], field_a: opts_a[value_a % len(opts_a)]})
        self._set("b", rid_b, {**self.data["b"][rid_b], field_b: opts_b[value_b % len(opts_b)]})

    @rule(system=system_st, index=index_st)
    def delete(self, system: str, index: int) -> None:
        rid = self._pick(system, index)
        if rid is not None:
            del self.data[system][rid]

    @rule(system=system_st, index=index_st, back=st.integers(1, 5))
    def revert(self, system: str, index: int, back: int) -> None:
        rid = self._pick(system, index)
        if rid is None:
            return
        history = self.history[(system, rid)]
        if len(history) < 2:
            return
        self._set(system, rid, history[max(0, len(history) - 1 - back)])

    # --- the sync --------------------------------------------------------------------------------------------
    @rule(failed=system_st)
    def sync_with_a_failed_listing(self, failed: str) -> None:
        """One system's fetch failed this run: nothing may be inferred about it, nothing sent to it, and
        nothing changed elsewhere may be lost for it (checked by the next full sync)."""
        p = self._run(failed)
        assert all(a.system != failed for a in p.actions)
        assert all(a.kind != "delete" for a in p.actions)

    @precondition(lambda self: any(self.data.values()) or self.syncs == 0)
    @rule()
    def sync(self) -> None:
        changed = self._changed_since_last_sync()
        self._run()
        self._check_links_match_systems()
        self._check_in_step()
        self._check_no_lost_update(changed)
        quiet = self._plan()
        assert quiet.actions == [], [(a.kind, a.system, a.reason, a.changes) for a in quiet.actions]
        assert quiet.conflicts == [] and quiet.problems == []
        self.baseline = copy.deepcopy(self.data)

    def _run(self, failed: str | None = None) -> Plan:
        p = self._plan(failed)
        assert p.guard is None
        assert p.problems == [], p.problems
        outcomes: dict[int, tuple[bool, str | None, str | None]] = {}
        for action in p.actions:
            assert action.problems == []
            store = self.data[action.system]
            if action.kind == "create":
                rid = f"{action.system}-{next(self._ids)}"
                self._set(action.system, rid, _project(None, action.desired))
                outcomes[id(action)] = (True, rid, None)
            elif action.kind == "delete":
                assert action.remote_id in store
                del store[action.remote_id]
                outcomes[id(action)] = (True, action.remote_id, None)
            else:
                assert action.kind in ("update", "merge"), action.kind
                assert action.remote_id in store
                current = Record(action.system, action.remote_id, store[action.remote_id], pack({}, action.system))
                self._set(action.system, action.remote_id, _project(current, action.desired))
                outcomes[id(action)] = (True, action.remote_id, None)
        run_id = self.store.begin_run(JOB, False)
        journal = self.store.journal(run_id, JOB, p.writes())
        assert self.store.record(run_id, p, outcomes, journal, set(SYSTEMS)) == []
        self.store.finish_run(run_id, "ok", {})
        self.syncs += 1
        return p

    # --- invariants after a sync ---------------------------------------------------------------------------
    def _changed_since_last_sync(self) -> dict[tuple[str, str], dict[str, Any]]:
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for s in SYSTEMS:
            for rid, before in self.baseline[s].items():
                now = self.data[s].get(rid)
                if now is None:
                    continue
                diff = {f: now.get(f) for f in FIELDS if not canonical.same(before.get(f), now.get(f))}
                if diff:
                    out[(s, rid)] = diff
        return out

    def _live_pairs(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for eid, ent in self._entities_now().items():
            live = {s: link.remote_id for s, link in ent.links.items() if not link.gone}
            if live:
                out[eid] = live
        return out

    def _check_links_match_systems(self) -> None:
        linked: dict[str, set[str]] = {s: set() for s in SYSTEMS}
        for eid, ent in self._entities_now().items():
            for s, link in ent.links.items():
                if link.gone:
                    assert link.remote_id not in self.data[s], f"{s}:{link.remote_id} is gone but still there"
                    continue
                assert link.remote_id in self.data[s], f"{eid} links {s}:{link.remote_id}, which does not exist"
                assert link.synced == self.data[s][link.remote_id], (eid, s, link.synced, self.data[s][link.remote_id])
                assert link.remote_id not in linked[s], f"{s}:{link.remote_id} linked twice"
                linked[s].add(link.remote_id)
        for s in SYSTEMS:
            assert set(self.data[s]) == linked[s], f"unlinked {s} records: {set(self.data[s]) - linked[s]}"

    def _check_in_step(self) -> None:
        for eid, live in self._live_pairs().items():
            assert set(live) == set(SYSTEMS), f"{eid} lives on {sorted(live)} only"
            assert self.data["a"][live["a"]] == self.data["b"][live["b"]], (eid, live)
        for s in SYSTEMS:  # one record per person per system: no two records of a system share a phone
            phones = [v.get("phone") for v in self.data[s].values()]
            assert len(phones) == len(set(phones)), f"duplicate people on {s}: {phones}"

    def _check_no_lost_update(self, changed: dict[tuple[str, str], dict[str, Any]]) -> None:
        owner = {(s, rid): eid for eid, live in self._live_pairs().items() for s, rid in live.items()}
        by_entity: dict[str, dict[str, dict[str, Any]]] = {}
        for (s, rid), fields in changed.items():
            assert (s, rid) in owner, f"{s}:{rid} was edited since the last sync and is gone or unlinked"
            by_entity.setdefault(owner[(s, rid)], {})[s] = fields
        for eid, by_system in by_entity.items():
            live = self._live_pairs()[eid]
            for field in {f for fields in by_system.values() for f in fields}:
                winner = next(by_system[s][field] for s in SYSTEMS if s in by_system and field in by_system[s])
                for s in SYSTEMS:
                    held = self.data[s][live[s]].get(field)
                    assert canonical.same(held, winner), f"{eid}.{field}: {s} holds {held!r}, expected {winner!r}"


TestReconcile = Reconcile.TestCase
TestReconcile.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class _SlowReconcile(Reconcile):
    pass


@pytest.mark.slow
class TestReconcileSlow(_SlowReconcile.TestCase):  # type: ignore[misc,valid-type]
    settings = settings(
        max_examples=300, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


def _ids(start: int) -> Any:
    counter = itertools.count(start)
    return lambda: f"e{next(counter)}"


def _inputs(state: dict[str, EntityState], fetched: dict[str, Fetched]) -> Any:
    """A deep copy of everything the planner reads, to compare before and after."""
    links = {eid: {s: (k.remote_id, k.synced, k.gone) for s, k in ent.links.items()} for eid, ent in state.items()}
    return copy.deepcopy((links, {s: [(r.remote_id, r.values) for r in f.records] for s, f in fetched.items()}))


def _check_fast_path(fast: Plan, full: Plan, state: dict[str, EntityState]) -> None:
    """The planner's fast path for people nobody changed agrees with the full path: the same writes, and the
    link updates it leaves out are exactly those that leave a link as the state holds it."""

    def writes(p: Plan) -> list[tuple[str, str, str, str | None, str, str]]:
        return sorted((a.kind, a.system, a.entity_id, a.remote_id, repr(a.desired), repr(a.expected))
                      for a in p.actions)  # fmt: skip

    def key(u: LinkUpdate) -> tuple[str, str, str | None, str, bool, bool, bool]:
        return (u.entity_id, u.system, u.remote_id, repr(sorted(u.synced.items())), u.new, u.gone, u.action is None)

    assert writes(fast) == writes(full)
    assert fast.new_entities == full.new_entities and fast.conflicts == full.conflicts
    left_out = Counter(map(key, full.links)) - Counter(map(key, fast.links))
    assert Counter(map(key, fast.links)) + left_out == Counter(map(key, full.links)), "the fast path added updates"
    for eid, system, remote_id, synced, new, gone, unwritten in left_out:
        link = state[eid].links[system]
        assert unwritten and not new, (eid, system)
        kept = (link.remote_id, repr(sorted(link.synced.items())), link.gone)
        assert kept == (remote_id, synced, gone), (eid, system)
    # (people deleted everywhere are quiet too: the full path has nothing for them, not even a link update)
    deleted = {eid for eid, ent in state.items() if ent.links and all(k.gone for k in ent.links.values())}
    assert fast.quiet == len({k[0] for k in left_out} | deleted)
