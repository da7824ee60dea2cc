"""The two recovery rules the crash and fault suites found, pinned with the real planner and the real Store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syncd.engine.model import EntityState, ExistingLead, Fallback, Fetched, LinkState
from syncd.engine.plan import plan as make_plan
from syncd.state.store import Store
from tests.unit.engine_helpers import P1, ids, policies, rec, role

BASE: dict[str, Any] = {"first_name": "Raj", "last_name": "Gajjar", "email": "raj@old.in", "phone": P1}


def _linked_everywhere(store: Store, systems: tuple[str, ...]) -> None:
    """Seeds the store as a first run does: the same person listed on every system is matched into one,
    linked everywhere with BASE as the last-synced values, and nothing is written."""
    fetched = {s: Fetched([rec(s, f"{s}-1", **BASE)]) for s in systems}
    rls = {s: role(s) for s in systems}
    p = make_plan("job", rls, policies(*systems), {}, fetched, ids())
    assert p.actions == [] and len(p.new_entities) == 1 and len(p.links) == len(systems)
    store.record("seed", p, {}, {}, set(systems))


def test_a_change_survives_when_its_propagation_partly_fails(tmp_path: Path) -> None:
    """a changed the e-mail, b the last name; b's update fails, c's and a's succeed. a's own e-mail change
    must still be seen next run, or it would never reach b."""
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    systems = ("a", "b", "c")
    _linked_everywhere(store, systems)
    rls = {s: role(s) for s in systems}
    now = {
        "a": {**BASE, "email": "raj@new.in"},
        "b": {**BASE, "last_name": "Patel"},
        "c": dict(BASE),
    }
    fetched = {s: Fetched([rec(s, f"{s}-1", **v)]) for s, v in now.items()}
    p = make_plan("job", rls, policies(*systems), store.load_entities("job"), fetched, ids())
    assert sorted((a.kind, a.system) for a in p.actions) == [("update", "a"), ("update", "b"), ("update", "c")]
    outcomes = {id(a): (a.system != "b", a.remote_id, None if a.system != "b" else "502") for a in p.actions}
    store.record("r1", p, outcomes, {}, set(systems))
    for a in p.actions:  # what landed
        if a.system != "b":
            now[a.system] = dict(a.expected)

    fetched = {s: Fetched([rec(s, f"{s}-1", **v)]) for s, v in now.items()}
    again = make_plan("job", rls, policies(*systems), store.load_entities("job"), fetched, ids())
    [update] = again.actions
    assert update.system == "b" and update.expected["email"] == "raj@new.in", again.actions
    store.close()


def test_an_unrecorded_write_that_landed_is_an_echo_not_an_edit() -> None:
    """A run marked Callyzer's lead as deleted (the fallback tag) and died before recording it. The next
    run must not take the tag for an edit and restore the deleted person elsewhere."""
    rls = {"a": role("a"), "b": role("b", can_delete=False)}
    base = {**BASE, "tags": ["vip"]}
    ent = EntityState("E1", {"a": LinkState("a", "a-1", dict(base)), "b": LinkState("b", "b-1", dict(base))})
    tagged = {**base, "tags": ["vip", "deleted-in-crm"]}
    fetched = {"a": Fetched([]), "b": Fetched([rec("b", "b-1", **tagged)])}  # deleted on a; b already marked
    pol = policies("a", "b", fallbacks={"b": Fallback(tag="deleted-in-crm")})

    def plan(echoes: dict[tuple[str, str], dict[str, object]]) -> list[tuple[str, str]]:
        p = make_plan("job", rls, pol, {"E1": ent}, fetched, ids(), echoes=echoes)  # type: ignore[arg-type]
        return sorted((a.kind, a.system) for a in p.actions)

    assert plan({}) == [("create", "a")], "without the journal the tag looks like an edit: restored"
    assert plan({("E1", "b"): {"tags": tagged["tags"]}}) == [], "with it the tag is ours: the delete stands"


def test_an_echo_covers_only_the_fields_the_write_changed() -> None:
    """A replace carried a last name to b and died unrecorded; meanwhile a person had changed b's e-mail.
    The last name is our echo; the e-mail is still that person's edit and must reach a."""
    rls = {"a": role("a"), "b": role("b")}
    ent = EntityState("E1", {"a": LinkState("a", "a-1", dict(BASE)), "b": LinkState("b", "b-1", dict(BASE))})
    a_now = {**BASE, "last_name": "Patel"}  # a's own change, which the dead run was carrying to b
    b_now = {**BASE, "last_name": "Patel", "email": "raj@new.in"}
    fetched = {"a": Fetched([rec("a", "a-1", **a_now)]), "b": Fetched([rec("b", "b-1", **b_now)])}
    echoes = {("E1", "b"): {"last_name": "Patel"}}
    p = make_plan("job", rls, policies("a", "b"), {"E1": ent}, fetched, ids(), echoes=echoes)  # type: ignore[arg-type]
    [update] = p.actions
    assert update.system == "a" and update.expected["email"] == "raj@new.in"


def test_the_journal_keeps_only_the_fields_a_write_changes(tmp_path: Path) -> None:
    import json

    from sqlmodel import Session, select

    from syncd.engine.model import Action, FieldChange
    from syncd.state.models import Journal

    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    expected = {**BASE, "last_name": "Patel", "email": "somebody-else@edit.in"}
    action = Action("update", "b", "E1", "b-1", expected, expected, [FieldChange("last_name", "Gajjar", "Patel", "r")],
                    "r", "Raj")  # fmt: skip
    store.journal("r1", "job", [action])
    with Session(store.engine) as session:
        [row] = session.exec(select(Journal))
    assert json.loads(row.expected) == {"last_name": "Patel"}
    store.close()


def test_a_replace_whose_link_moved_deletes_the_old_record_not_the_new() -> None:
    """A replace (create the new record, delete the old) whose delete failed; the run after took the new
    record as the link and advanced everyone, while its own retried delete failed again. The next run must
    delete the old record (still listed, unlinked) and keep the new one, not the other way round, or the
    person's edit that the replace carried is undone on every system."""
    rls = {"a": role("a"), "b": role("b")}
    edited = {**BASE, "last_name": "Patel"}  # made on a; the replace carried it to b as record b-new
    ent = EntityState("E1", {"a": LinkState("a", "a-1", dict(edited)), "b": LinkState("b", "b-new", dict(edited))})
    fetched = {
        "a": Fetched([rec("a", "a-1", **edited)]),
        "b": Fetched([rec("b", "b-old", **BASE), rec("b", "b-new", **edited)]),
    }
    p = make_plan(
        "job", rls, policies("a", "b"), {"E1": ent}, fetched, ids(),
        replacing={("E1", "b"): "b-old"}, echoes={("E1", "b"): {"last_name": "Patel"}},
    )  # fmt: skip
    assert [(a.kind, a.system, a.remote_id) for a in p.actions] == [("delete", "b", "b-old")], p.actions
    assert not p.problems
    # the old record gone meanwhile: nothing left to do, and the link stays on the new record
    fetched["b"] = Fetched([rec("b", "b-new", **edited)])
    p = make_plan("job", rls, policies("a", "b"), {"E1": ent}, fetched, ids(), replacing={("E1", "b"): "b-old"})
    assert p.actions == [] and {(u.system, u.remote_id) for u in p.links} == {("a", "a-1"), ("b", "b-new")}


def test_a_new_replace_waits_until_the_old_record_of_the_last_one_is_gone() -> None:
    """While a run still deletes the old record of an earlier replace, a change for that system waits a run
    (the system that made it keeps its old base), so no second replace of the record is ever unfinished."""
    rls = {"a": role("a"), "b": role("b")}
    carried = {**BASE, "last_name": "Patel"}  # the earlier replace carried this to b as b-new
    ent = EntityState("E1", {"a": LinkState("a", "a-1", dict(carried)), "b": LinkState("b", "b-old", dict(BASE))})
    a_now = {**carried, "email": "raj@new.in"}  # and meanwhile the person changed the e-mail on a
    fetched = {
        "a": Fetched([rec("a", "a-1", **a_now)]),
        "b": Fetched([rec("b", "b-old", **BASE), rec("b", "b-new", **carried)]),
    }
    p = make_plan(
        "job", rls, policies("a", "b"), {"E1": ent}, fetched, ids(),
        replacing={("E1", "b"): "b-old"}, echoes={("E1", "b"): {"last_name": "Patel"}},
    )  # fmt: skip
    assert [(a.kind, a.system, a.remote_id) for a in p.actions] == [("delete", "b", "b-old")], p.actions
    links = {u.system: u for u in p.links}
    assert links["b"].remote_id == "b-new" and links["b"].synced["last_name"] == "Patel"
    assert links["a"].synced["email"] == BASE["email"], "a keeps its old base: the e-mail is seen again next run"

    # next run: the old record is gone, the replace is settled; the e-mail now goes to b
    ent = EntityState(
        "E1", {"a": LinkState("a", "a-1", dict(links["a"].synced)), "b": LinkState("b", "b-new", dict(carried))}
    )
    fetched = {"a": Fetched([rec("a", "a-1", **a_now)]), "b": Fetched([rec("b", "b-new", **carried)])}
    p = make_plan("job", rls, policies("a", "b"), {"E1": ent}, fetched, ids())
    [update] = p.actions
    assert (update.kind, update.system, update.expected["email"]) == ("update", "b", "raj@new.in")


def test_a_record_a_killed_run_created_is_no_source_on_restart() -> None:
    """A run created a's record from b's (a stamps its own tag on what it lists) and was killed before it
    recorded the person. On restart both records arrive unlinked: b's is the source, as it was the first
    time, so nothing is merged back into b that one uninterrupted run would not have written."""
    rls = {"a": role("a"), "b": role("b")}
    pol = policies("a", "b", existing_lead=ExistingLead("update_blank_only", "append", "ignore"))
    ours = {**BASE, "tags": ["from-a"]}  # what the create sent, as a lists it
    fetched = {"a": Fetched([rec("a", "a-9", **ours)]), "b": Fetched([rec("b", "b-1", **BASE)])}

    def writes(created: dict[tuple[str, str], dict[str, object]]) -> list[tuple[str, str]]:
        p = make_plan("job", rls, pol, {}, fetched, ids(), created=created)  # type: ignore[arg-type]
        return [(a.kind, a.system) for a in p.actions]

    assert writes({}) == [("update", "b")], "without the journal a's tags look like a's own, merged into b"
    assert writes({("killed-run-entity", "a"): ours}) == []
    # a record edited since it was created is somebody's again: its values count
    fetched["a"] = Fetched([rec("a", "a-9", **{**ours, "last_name": "Patel"})])
    assert writes({("killed-run-entity", "a"): ours}) == [("update", "b")]
