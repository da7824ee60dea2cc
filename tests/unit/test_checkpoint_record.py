"""A long run records its people in checkpoints as their writes finish (runner.Checkpoint). Each save hands the
Store only its people's link updates and actions, from an index of the plan built once per run, instead of a pass
over the whole plan. Recording a plan that way must leave exactly what recording it at once leaves."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import text

from syncd.engine.model import Fetched, Plan
from syncd.engine.plan import plan as make_plan
from syncd.runner import Checkpoint
from syncd.state.store import Store
from tests.unit.engine_helpers import ids, policies, rec, role

SYSTEMS = ("a", "b")


def _seeded(path: Path) -> Store:
    """Six people linked on a and b, as a first run leaves them."""
    store = Store(f"sqlite:///{path}")
    fetched = {s: Fetched([rec(s, f"{s}-{i}", **_person(i)) for i in range(6)]) for s in SYSTEMS}
    p = make_plan("job", {s: role(s) for s in SYSTEMS}, policies(*SYSTEMS), {}, fetched, ids())
    store.record("seed", p, {}, {}, set(SYSTEMS))
    return store


def _person(i: int, **changes: Any) -> dict[str, Any]:
    return {"first_name": f"P{i}", "last_name": "Rao", "email": f"p{i}@example.in", "phone": f"+9198000000{i:02d}",
            **changes}  # fmt: skip


def _plan(store: Store) -> Plan:
    """Edits on both sides, two new people on a (creates on b), one person unchanged."""
    a = [rec("a", f"a-{i}", **_person(i, last_name=f"Edited{i}" if i in (0, 1, 2) else "Rao")) for i in range(6)]
    a += [rec("a", f"a-{i}", **_person(i)) for i in (6, 7)]
    b = [rec("b", f"b-{i}", **_person(i, email=f"new{i}@example.in" if i in (3, 4) else f"p{i}@example.in"))
         for i in range(6)]  # fmt: skip
    fetched = {"a": Fetched(a), "b": Fetched(b)}
    rls = {s: role(s) for s in SYSTEMS}
    new = iter(range(1, 100))
    return make_plan("job", rls, policies(*SYSTEMS), store.load_entities("job"), fetched, lambda: f"M{next(new)}")


def _outcomes(p: Plan) -> dict[int, tuple[bool, str | None, str | None]]:
    """Every write lands but the update of person 1's b record; creates get new ids."""
    out: dict[int, tuple[bool, str | None, str | None]] = {}
    for n, a in enumerate(p.actions):
        failed = a.system == "b" and a.remote_id == "b-1"
        out[id(a)] = (not failed, a.remote_id or f"{a.system}-new{n}", "502" if failed else None)
    return out


QUERIES = {
    "links": "SELECT entity_id, system, remote_id, synced, gone FROM link",
    "entities": "SELECT id FROM entity WHERE deleted_at IS NULL",
    "journal": "SELECT entity_id, system, action, state, remote_id FROM journal",
    "history": "SELECT entity_id, system, field, before, after FROM change",
}


def _state(store: Store) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return {name: sorted(conn.execute(text(query)).all()) for name, query in QUERIES.items()}


def test_a_plan_recorded_in_checkpoints_leaves_what_one_recording_leaves(tmp_path: Path) -> None:
    at_once, in_parts = _seeded(tmp_path / "once.db"), _seeded(tmp_path / "parts.db")
    assert _state(at_once) == _state(in_parts)

    p = _plan(at_once)
    assert sorted(a.kind for a in p.actions) == ["create", "create", "update", "update", "update", "update", "update"]
    journal = at_once.journal("r1", "job", p.actions)
    outcomes = _outcomes(p)
    at_once.record("r1", p, outcomes, journal, set(SYSTEMS))

    q = _plan(in_parts)
    journal = in_parts.journal("r1", "job", q.actions)
    outcomes = _outcomes(q)
    job = SimpleNamespace(uncertain=set(), held_back=set(), store=in_parts, unchanged=set())
    checkpoint = Checkpoint("r1", journal, set(SYSTEMS))
    people = sorted({a.entity_id for a in q.actions})

    async def run() -> None:
        checkpoint.outcomes = outcomes
        checkpoint.add(q, q.actions)
        checkpoint.save(job, every=0)  # type: ignore[arg-type]  # the people with nothing to send
        await checkpoint.drain()
        for part in (people[:2], people[2:4]):  # the rest is left to the final recording, as a kill would
            checkpoint.done([a for a in q.actions if a.entity_id in part])
            checkpoint.save(job, every=0)  # type: ignore[arg-type]
            await checkpoint.drain()

    asyncio.run(run())
    assert checkpoint.problems == []
    assert checkpoint.recorded and checkpoint.unrecorded()
    in_parts.record("r1", q, outcomes, journal, set(SYSTEMS), only=checkpoint.unrecorded())

    once, parts = _state(at_once), _state(in_parts)
    assert once == parts
    assert {row[3] for row in once["journal"]} == {"done", "failed"}
    assert len(once["links"]) == 16 and len(once["history"]) >= 7
    at_once.close()
    in_parts.close()
