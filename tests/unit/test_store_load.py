"""Store.load_entities shares a listed record's values with its link when they are equal (the memory of a quiet
run), and never when they differ; the planner reads either the same way. A real SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syncd.engine.model import Fetched
from syncd.engine.plan import plan as make_plan
from syncd.state.store import Store
from tests.unit.engine_helpers import P1, P2, ids, policies, rec, role

ANN: dict[str, Any] = {"first_name": "Ann", "last_name": "Lee", "phone": P1}
BOB: dict[str, Any] = {"first_name": "Bob", "last_name": "Roy", "phone": P2}


def test_a_link_listed_unchanged_shares_its_records_values(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    rls = {s: role(s) for s in ("a", "b")}
    first = {s: Fetched([rec(s, f"{s}-ann", **ANN), rec(s, f"{s}-bob", **BOB)]) for s in ("a", "b")}
    seeded = make_plan("job", rls, policies("a", "b"), {}, first, ids())
    assert seeded.actions == [] and len(seeded.links) == 4
    store.record("seed", seeded, {}, {}, {"a", "b"})

    # Bob's last name changed on b; everything else is listed as last synced
    now = {"a": [rec("a", "a-ann", **ANN), rec("a", "a-bob", **BOB)],
           "b": [rec("b", "b-ann", **ANN), rec("b", "b-bob", **{**BOB, "last_name": "Rao"})]}  # fmt: skip
    listed = {s: {r.remote_id: r for r in records} for s, records in now.items()}
    entities = store.load_entities("job", listed)
    links = {(s, link.remote_id): link for ent in entities.values() for s, link in ent.links.items()}
    assert links[("a", "a-ann")].synced is listed["a"]["a-ann"].values
    assert links[("b", "b-ann")].synced is listed["b"]["b-ann"].values
    assert links[("a", "a-bob")].synced is listed["a"]["a-bob"].values
    changed = links[("b", "b-bob")]
    assert changed.synced is not listed["b"]["b-bob"].values and changed.synced == BOB

    # without the listing every link has its own copy, with the same content
    alone = store.load_entities("job")
    assert {(s, lk.remote_id): lk.synced for e in alone.values() for s, lk in e.links.items()} == {
        k: lk.synced for k, lk in links.items()
    }
    assert all(lk.synced is not r.values for e in alone.values() for lk in e.links.values() for r in now["a"])

    # the planner sees the same either way: Ann is quiet, Bob's new name goes to a
    for state in (entities, alone):
        p = make_plan("job", rls, policies("a", "b"), state, {s: Fetched(r) for s, r in now.items()}, ids())
        assert [(a.kind, a.system, a.remote_id, a.desired["last_name"]) for a in p.actions] == [
            ("update", "a", "a-bob", "Rao")
        ]
        assert p.quiet == 1
    store.close()
