"""The planner as a pure function: three-way merge per field, conflicts, existing_lead, deletes, guards."""

from __future__ import annotations

import dataclasses
import gc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncd import heap
from syncd.engine import existing_lead
from syncd.engine.model import ExistingLead, Fallback, Fetched, FieldChange, Record, SystemRole
from syncd.engine.plan import plan as make_plan

from .engine_helpers import (
    P1,
    P2,
    P3,
    P4,
    World,
    action_for,
    ids,
    kinds,
    linked,
    policies,
    rec,
    role,
    roles,
    run,
    state,
)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
ANN: dict[str, Any] = {"first_name": "Ann", "last_name": "Rao", "phone": P1, "email": "ann@x.co"}


def synced_pair(**extra: Any) -> World:
    """A world where Ann is on a and b, linked, in step (after one real sync)."""
    w = World(roles("a", "b"), policies(**extra))
    w.put("a", "a1", **ANN)
    p = w.sync()
    assert kinds(p) == [("create", "b")]
    assert w.plan().actions == []
    return w


def b_id(w: World) -> str:
    (rid,) = w.data["b"]
    return rid


# --- first sync -----------------------------------------------------------------------------------------


def test_first_sync_creates_on_the_other_side() -> None:
    p = run(roles("a", "b"), policies(), {}, ("a", [rec("a", "1", **ANN)]), ("b", []))
    create = action_for(p, "create", "b")
    assert create.desired == ANN
    assert create.expected == ANN
    assert create.reason == "new person"
    assert create.remote_id is None
    assert {c.field for c in create.changes} == set(ANN)
    assert all(c.before is None for c in create.changes)
    ups = {(u.system, u.remote_id, u.new) for u in p.links}
    assert ups == {("a", "1", True), ("b", None, True)}
    assert p.new_entities == ["N1"]


def test_create_sends_only_fields_the_target_writes() -> None:
    rls = {"a": role("a"), "b": role("b", fields={"first_name", "phone"})}
    p = run(rls, policies(), {}, ("a", [rec("a", "1", **ANN, company="Acme")]), ("b", []))
    assert action_for(p, "create", "b").desired == {"first_name": "Ann", "phone": P1}


def test_second_run_is_quiet() -> None:
    w = synced_pair()
    assert w.data["b"][b_id(w)] == ANN
    assert w.plan().actions == []


def test_invalid_create_is_kept_as_a_problem_not_sent() -> None:
    rls = {"a": role("a"), "b": role("b", validate=lambda v: [] if len(v.get("first_name", "")) >= 3 else ["short"])}
    w = World(rls, policies())
    w.put("a", "a1", first_name="Al", phone=P1)
    w.put("a", "a2", first_name="Ann", phone=P2)
    p = w.sync()
    bad = [a for a in p.actions if a.problems]
    assert [(a.kind, a.system, a.problems) for a in bad] == [("create", "b", ["short"])]
    assert len(p.writes()) == 1
    assert p.counts()["invalid"] == 1 and p.counts()["create"] == 1
    assert w.plan().counts()["invalid"] == 1  # retried, still invalid, still reported
    w.edit("a", "a1", first_name="Alan")
    assert kinds(w.sync()) == [("create", "b")]
    assert w.plan().actions == []


# --- one-side and both-side edits -------------------------------------------------------------------------


def test_one_side_edit_updates_the_other_with_reason() -> None:
    w = synced_pair()
    w.edit("a", "a1", company="Acme", email="ann@new.co")
    p = w.plan()
    update = action_for(p, "update", "b")
    assert update.remote_id == b_id(w)
    assert update.desired == {**ANN, "company": "Acme", "email": "ann@new.co"}
    assert update.changes == [
        FieldChange("company", None, "Acme", "changed on a"),
        FieldChange("email", "ann@x.co", "ann@new.co", "changed on a"),
    ]
    assert update.reason == "changed on a"
    assert p.conflicts == []
    w.apply(p)
    assert w.data["b"][b_id(w)] == w.data["a"]["a1"]
    assert w.plan().actions == []


def test_edit_on_the_lower_priority_side_flows_back() -> None:
    w = synced_pair()
    w.edit("b", b_id(w), notes="called")
    p = w.sync()
    assert kinds(p) == [("update", "a")]
    assert w.data["a"]["a1"]["notes"] == "called"
    assert w.plan().actions == []


def test_clearing_a_field_propagates() -> None:
    w = synced_pair()
    w.data["a"]["a1"].pop("email")
    p = w.sync()
    assert action_for(p, "update", "b").changes == [FieldChange("email", "ann@x.co", None, "changed on a")]
    assert "email" not in w.data["b"][b_id(w)]
    assert w.plan().actions == []


def test_different_fields_edited_on_both_sides_both_survive() -> None:
    w = synced_pair()
    w.edit("a", "a1", company="Acme")
    w.edit("b", b_id(w), notes="called twice")
    p = w.sync()
    assert p.conflicts == []
    assert kinds(p) == [("update", "a"), ("update", "b")]
    assert action_for(p, "update", "a").changes == [FieldChange("notes", None, "called twice", "changed on b")]
    assert action_for(p, "update", "b").changes == [FieldChange("company", None, "Acme", "changed on a")]
    expected = {**ANN, "company": "Acme", "notes": "called twice"}
    assert w.data["a"]["a1"] == expected
    assert w.data["b"][b_id(w)] == expected
    assert w.plan().actions == []


def test_same_change_on_both_sides_is_no_conflict() -> None:
    w = synced_pair()
    w.edit("a", "a1", company="Acme")
    w.edit("b", b_id(w), company="Acme")
    p = w.sync()
    assert p.conflicts == [] and p.actions == []
    assert w.plan().actions == []


# --- conflicts ----------------------------------------------------------------------------------------------


def test_conflict_prefer_takes_the_priority_system() -> None:
    w = synced_pair()
    w.edit("a", "a1", company="From A")
    w.edit("b", b_id(w), company="From B")
    p = w.sync()
    (conflict,) = p.conflicts
    assert (conflict.field, conflict.decision, conflict.policy) == ("company", "a", "prefer")
    assert conflict.values == {"a": "From A", "b": "From B"}
    update = action_for(p, "update", "b")
    assert update.changes == [
        FieldChange("company", "From B", "From A", "conflict: changed on a, b; prefer chose a"),
    ]
    assert w.data["b"][b_id(w)]["company"] == "From A"
    assert w.plan().actions == []


def test_conflict_prefer_order_comes_from_the_policy() -> None:
    w = synced_pair()
    w.policies = policies("b", "a")
    w.edit("a", "a1", company="From A")
    w.edit("b", b_id(w), company="From B")
    p = w.sync()
    assert p.conflicts[0].decision == "b"
    assert kinds(p) == [("update", "a")]
    assert w.data["a"]["a1"]["company"] == "From B"


def test_conflict_newest_takes_the_later_modified_time() -> None:
    w = synced_pair(conflict="newest")
    w.edit("a", "a1", modified=T0, company="Old A")
    w.edit("b", b_id(w), modified=T0 + timedelta(minutes=5), company="New B")
    p = w.sync()
    (conflict,) = p.conflicts
    assert conflict.decision == "b"
    assert conflict.note == "modified 2024-05-01 10:05:00 UTC"
    assert action_for(p, "update", "a").changes[0].reason.startswith("conflict: changed on a, b; newest chose b")
    assert w.data["a"]["a1"]["company"] == "New B"
    assert w.plan().actions == []


def test_conflict_newest_without_modified_times_falls_back_to_prefer() -> None:
    w = synced_pair(conflict="newest")
    w.edit("a", "a1", modified=T0, company="From A")
    w.edit("b", b_id(w), company="From B")  # b gives no modified time
    p = w.sync()
    (conflict,) = p.conflicts
    assert conflict.decision == "a"
    assert "newest unavailable (b gives no modified time): fell back to prefer" in conflict.note
    assert "fell back to prefer" in action_for(p, "update", "b").changes[0].reason


def test_conflict_hold_propagates_nothing_and_is_seen_again() -> None:
    w = synced_pair(conflict="hold")
    w.edit("a", "a1", company="From A", notes="n")
    w.edit("b", b_id(w), company="From B")
    p = w.sync()
    (conflict,) = p.conflicts
    assert (conflict.field, conflict.decision, conflict.policy) == ("company", "held", "hold")
    # the other, unconflicted change still flows; the held field does not
    update = action_for(p, "update", "b")
    assert [c.field for c in update.changes] == ["notes"]
    assert "company" not in update.expected  # the held field keeps its old (blank) base
    assert w.data["a"]["a1"]["company"] == "From A"
    assert w.data["b"][b_id(w)]["company"] == "From B"
    # the next plan detects the same conflict again, and still writes nothing for it
    p2 = w.plan()
    assert [(c.field, c.decision) for c in p2.conflicts] == [("company", "held")]
    assert p2.actions == []
    # a person resolves it on b: now a single change, which flows
    w.edit("b", b_id(w), company="From A")
    p3 = w.sync()
    assert p3.conflicts == [] and p3.actions == []
    w.edit("b", b_id(w), company="Final")
    assert kinds(w.sync()) == [("update", "a")]
    assert w.data["a"]["a1"]["company"] == "Final"
    assert w.plan().actions == []


# --- existing_lead ------------------------------------------------------------------------------------------

A_NEW: dict[str, Any] = {
    "first_name": "Ann",
    "last_name": "Rao",
    "phone": P1,
    "phone2": P2,
    "company": "Acme",
    "tags": ["x", "y"],
}
B_OLD: dict[str, Any] = {"first_name": "Annie", "phone": P1, "phone2": P3, "email": "annie@b.co", "tags": ["y", "z"]}


@pytest.mark.parametrize(
    ("policy", "after"),
    [
        (ExistingLead(), B_OLD),
        (
            ExistingLead(lead_details="overwrite"),
            {**B_OLD, "first_name": "Ann", "last_name": "Rao", "company": "Acme"},
        ),
        (ExistingLead(lead_details="update_blank_only"), {**B_OLD, "last_name": "Rao", "company": "Acme"}),
        (ExistingLead(lead_tags="append"), {**B_OLD, "tags": ["y", "z", "x"]}),
        (ExistingLead(lead_tags="overwrite"), {**B_OLD, "tags": ["x", "y"]}),
        (
            ExistingLead(lead_details="overwrite", lead_tags="overwrite", assignee="overwrite"),
            {**B_OLD, "first_name": "Ann", "last_name": "Rao", "company": "Acme", "tags": ["x", "y"]},
        ),
    ],
)
def test_existing_lead_modes_on_first_match(policy: ExistingLead, after: dict[str, object]) -> None:
    w = World(roles("a", "b"), policies(existing_lead=policy))
    w.put("a", "a1", **A_NEW)
    w.put("b", "b1", **B_OLD)
    p = w.sync()
    assert p.problems == [] and p.conflicts == []
    assert all(a.system == "b" for a in p.actions)
    assert w.data["a"]["a1"] == A_NEW  # the incoming record is not touched
    assert w.data["b"]["b1"] == after
    assert w.data["b"]["b1"]["phone2"] == P3  # phones are never overwritten: they are what matched
    if after == B_OLD:
        assert p.actions == []
    else:
        (action,) = p.actions
        assert action.kind == "update" and action.reason.startswith("matched an existing b record; existing_lead")
    assert w.plan().actions == []


def test_existing_lead_native_merge_sends_the_incoming_record() -> None:
    rls = {"a": role("a"), "b": role("b", native_merge=True)}
    w = World(rls, policies(existing_lead=ExistingLead(lead_details="update_blank_only")))
    w.put("a", "a1", **A_NEW)
    w.put("b", "b1", **B_OLD)
    p = w.sync()
    (action,) = p.actions
    assert action.kind == "merge"
    assert action.desired == A_NEW  # the provider merges it itself
    assert action.expected == {**B_OLD, "last_name": "Rao", "company": "Acme"}
    assert w.data["b"]["b1"] == action.expected
    assert w.plan().actions == []


def test_existing_lead_merge_function() -> None:
    existing: dict[str, Any] = {"first_name": "Old", "phone": P1, "tags": ["a"], "assignee": ["u1"]}
    incoming: dict[str, Any] = {
        "first_name": "New",
        "last_name": "L",
        "phone": P2,
        "phone2": P3,
        "tags": ["b"],
        "assignee": ["u2"],
    }
    fields = ["first_name", "last_name", "phone", "phone2", "tags", "assignee"]
    keep = existing_lead.merge(existing, incoming, ExistingLead(), fields)
    assert keep == existing
    over = existing_lead.merge(existing, incoming, ExistingLead("overwrite", "overwrite", "append"), fields)
    assert over == {"first_name": "New", "last_name": "L", "phone": P1, "tags": ["b"], "assignee": ["u1", "u2"]}
    blank = existing_lead.merge(existing, {"first_name": "", "last_name": "L"}, ExistingLead("overwrite"), fields)
    assert blank == {**existing, "last_name": "L"}  # a blank incoming value never clears anything
    assert existing_lead.mode_for("tags", ExistingLead(lead_tags="append")) == "append"
    assert existing_lead.mode_for("company", ExistingLead(lead_details="overwrite")) == "overwrite"


def test_arrival_into_a_known_person_uses_existing_lead() -> None:
    """b could not create before; a b record for the same phone shows up later and is merged, not duplicated."""
    rls = {"a": role("a"), "b": role("b", can_create=False)}
    w = World(rls, policies(existing_lead=ExistingLead(lead_details="update_blank_only")))
    w.put("a", "a1", **ANN, company="Acme")
    assert w.sync().actions == []
    w.put("b", "b9", first_name="Annie", phone=P1)
    p = w.sync()
    assert p.problems == []
    update = action_for(p, "update", "b")
    assert update.expected == {
        "first_name": "Annie",
        "last_name": "Rao",
        "phone": P1,
        "email": "ann@x.co",
        "company": "Acme",
    }
    assert w.link_of("b", "b9")[0] == w.link_of("a", "a1")[0]
    assert w.plan().actions == []


# --- deletes ------------------------------------------------------------------------------------------------


def test_delete_propagates() -> None:
    w = synced_pair()
    bid = b_id(w)
    del w.data["a"]["a1"]
    p = w.plan()
    delete = action_for(p, "delete", "b")
    assert (delete.remote_id, delete.reason) == (bid, "deleted on a")
    assert len(p.actions) == 1
    assert {(u.system, u.gone) for u in p.links} == {("a", True), ("b", True)}
    assert p.dropped_entities == ["N1"]
    w.apply(p)
    assert w.data["b"] == {}
    assert w.plan().actions == []


@pytest.mark.parametrize(
    ("fallback", "field", "value"),
    [(Fallback(tag="deleted"), "tags", ["vip", "deleted"]), (Fallback(status="Dead"), "status", "Dead")],
)
def test_delete_fallback_where_the_system_cannot_delete(fallback: Fallback, field: str, value: object) -> None:
    rls = {"a": role("a"), "b": role("b", can_delete=False)}
    w = World(rls, policies(fallbacks={"b": fallback}))
    w.put("a", "a1", **ANN, tags=["vip"], status="New")
    w.sync()
    bid = b_id(w)
    del w.data["a"]["a1"]
    p = w.sync()
    action = action_for(p, "fallback", "b")
    assert action.reason == "deleted on a; b cannot delete, so the fallback marks it"
    assert [c.field for c in action.changes] == [field]
    assert w.data["b"][bid][field] == value
    assert w.entities["N1"].links["b"].gone
    assert w.plan().actions == []  # the marked record is left alone, and nothing is re-created on a


def test_delete_without_fallback_where_the_system_cannot_delete() -> None:
    rls = {"a": role("a"), "b": role("b", can_delete=False)}
    w = World(rls, policies())
    w.put("a", "a1", **ANN)
    w.sync()
    del w.data["a"]["a1"]
    p = w.sync()
    assert p.actions == []
    assert all(link.gone for link in w.entities["N1"].links.values())
    assert w.plan().actions == []
    assert w.data["a"] == {}


def test_delete_ignored_marks_the_link_gone_and_never_recreates() -> None:
    w = synced_pair(deletes="ignore")
    bid = b_id(w)
    del w.data["a"]["a1"]
    p = w.sync()
    assert p.actions == []
    assert sorted((u.system, u.gone) for u in p.links) == [("a", True), ("b", False)]
    assert w.entities["N1"].links["a"].gone and not w.entities["N1"].links["b"].gone
    assert w.plan().actions == []
    w.edit("b", bid, company="Later")  # an edit on b later still does not bring the record back on a
    assert w.sync().actions == []
    assert w.data["a"] == {}
    assert w.plan().actions == []


def test_deleted_on_one_side_but_changed_on_the_other_is_restored() -> None:
    w = synced_pair()
    bid = b_id(w)
    del w.data["a"]["a1"]
    w.edit("b", bid, company="Acme")
    p = w.plan()
    assert [a.kind for a in p.actions] == ["create"]
    create = action_for(p, "create", "a")
    assert create.desired == {**ANN, "company": "Acme"}
    assert create.reason == "deleted on a, but changed on b since the last sync: restored"
    assert p.dropped_entities == []
    w.apply(p)
    (new_a,) = w.data["a"]
    assert w.data["a"][new_a] == {**ANN, "company": "Acme"}
    assert w.link_of("a", new_a)[0] == w.link_of("b", bid)[0] == "N1"
    assert w.plan().actions == []


def test_a_reappearing_record_of_a_gone_link_does_not_crash_the_planner() -> None:
    """deletes=ignore: a record once missing from a complete listing comes back (same id)."""
    w = synced_pair(deletes="ignore")
    saved = w.data["a"].pop("a1")
    w.sync()
    assert w.entities["N1"].links["a"].gone
    w.data["a"]["a1"] = saved
    p = w.plan()  # raised KeyError: the planner looked for a live link of a present record
    assert p.actions == [] and p.problems == []


def test_delete_waits_for_a_listing_that_failed_then_reaches_every_system() -> None:
    """a deleted while c's listing failed: c's record may hold an edit, so nothing is decided that run; the next
    (complete) run deletes on c and marks b (which cannot delete). Before: b was marked, the entity dropped
    with c's link live, and the next run raised KeyError on b's still-listed record."""
    rls = {"a": role("a"), "b": role("b", can_delete=False), "c": role("c")}
    w = World(rls, policies("a", "b", "c", fallbacks={"b": Fallback(tag="deleted")}))
    w.put("a", "a1", **ANN)
    w.sync()
    assert len(w.data["b"]) == len(w.data["c"]) == 1
    del w.data["a"]["a1"]
    p = w.sync(incomplete=["c"])
    assert p.actions == [] and p.dropped_entities == []
    p2 = w.sync()
    assert kinds(p2) == [("delete", "c"), ("fallback", "b")]
    assert w.data["c"] == {}
    assert next(iter(w.data["b"].values()))["tags"] == ["deleted"]
    assert all(link.gone for link in w.entities["N1"].links.values())
    assert w.plan().actions == []
    assert w.data["a"] == {}


def test_delete_seen_while_the_other_listing_failed_is_not_lost() -> None:
    w = synced_pair()
    del w.data["a"]["a1"]
    p = w.sync(incomplete=["b"])
    assert p.actions == []
    p2 = w.sync()
    assert kinds(p2) == [("delete", "b")]
    assert w.data["b"] == {}
    assert w.plan().actions == []


def test_delete_with_an_edit_on_a_record_listed_late_restores() -> None:
    w = synced_pair()
    bid = b_id(w)
    del w.data["a"]["a1"]
    w.edit("b", bid, company="Acme")  # made while b's listing was failing
    assert w.sync(incomplete=["b"]).actions == []
    p = w.sync()
    assert [(a.kind, a.system) for a in p.actions] == [("create", "a")]
    (aid,) = w.data["a"]
    assert w.data["a"][aid] == {**ANN, "company": "Acme"}
    assert w.plan().actions == []


# --- partial listings ----------------------------------------------------------------------------------------


def test_partial_listing_never_infers_a_delete() -> None:
    w = synced_pair()
    del w.data["a"]["a1"]
    p = w.plan(incomplete=["a"])
    assert p.actions == [] and p.dropped_entities == []
    assert not any(u.gone for u in p.links)
    w.apply(p)
    assert not w.entities["N1"].links["a"].gone


def test_change_made_while_the_other_listing_failed_is_not_lost() -> None:
    """b's fetch failed (Fetched([], complete=False)); a's edit must still reach b on the next run. Before,
    a's link advanced to the new value although b never got it, and the edit was lost for good."""
    w = synced_pair()
    w.edit("a", "a1", company="Acme")
    p = w.plan(incomplete=["b"])  # b's record is not in this listing: no update, no create, no delete
    assert p.actions == []
    w.apply(p)
    p2 = w.sync()
    assert kinds(p2) == [("update", "b")]
    assert w.data["b"][b_id(w)]["company"] == "Acme"
    assert w.plan().actions == []


def test_change_deferred_for_one_system_still_reaches_the_others() -> None:
    w = World(roles("a", "b", "c"), policies("a", "b", "c"))
    w.put("a", "a1", **ANN)
    w.sync()
    w.edit("a", "a1", company="Acme")
    p = w.sync(incomplete=["c"])
    assert kinds(p) == [("update", "b")]
    p2 = w.sync()
    assert kinds(p2) == [("update", "c")]
    assert {v["company"] for d in w.data.values() for v in d.values()} == {"Acme"}
    assert w.plan().actions == []


def test_partial_listing_never_creates_on_that_system() -> None:
    w = World(roles("a", "b"), policies())
    w.put("a", "a1", **ANN)
    p = w.sync(incomplete=["b"])
    assert p.actions == []
    assert w.data["b"] == {}
    assert kinds(w.sync()) == [("create", "b")]  # once b is listed in full, the create happens
    assert w.plan().actions == []


def test_incomplete_listing_is_passed_through_plan_directly() -> None:
    ents = state(linked("E1", a=("1", ANN), b=("2", ANN)))
    p = make_plan(
        "job", roles("a", "b"), policies(), ents, {"a": Fetched([], complete=False), "b": Fetched([], True)}, ids()
    )
    assert p.actions == []  # b missing from a complete listing, a unknown: b's delete must not hit a
    assert all(u.system != "a" or not u.gone for u in p.links)


# --- mass-delete guard --------------------------------------------------------------------------------------


def _deleted_world(n: int, deleted: int, **kw: Any) -> World:
    w = World(roles("a", "b"), policies(**kw))
    for i in range(n):
        w.put("a", f"a{i}", first_name=f"P{i}", email=f"p{i}@x.co")
    w.sync()
    for i in range(deleted):
        del w.data["a"][f"a{i}"]
    return w


@pytest.mark.parametrize(
    ("n", "deleted", "share", "min_count", "trips"),
    [
        (40, 10, 0.2, 10, False),  # limit max(10, 8) = 10
        (40, 11, 0.2, 10, True),
        (100, 20, 0.2, 10, False),  # limit max(10, 20) = 20
        (100, 21, 0.2, 10, True),
        (10, 3, 0.2, 2, True),  # limit max(2, 2) = 2
        (10, 2, 0.2, 2, False),
        (10, 10, 1.0, 0, False),
    ],
)
def test_mass_delete_guard(n: int, deleted: int, share: float, min_count: int, trips: bool) -> None:
    w = _deleted_world(n, deleted, max_delete_share=share, min_delete_count=min_count)
    p = w.plan()
    assert [a.kind for a in p.actions] == ["delete"] * deleted
    if trips:
        assert p.guard is not None
        assert f"would delete {deleted} of {n} b records" in p.guard
        assert "--allow-mass-delete" in p.guard
    else:
        assert p.guard is None


# --- listings and projection ---------------------------------------------------------------------------------


def test_duplicate_ids_in_one_listing_are_reported() -> None:
    ents = state(linked("E1", a=("1", ANN), b=("2", ANN)))
    p = run(
        roles("a", "b"),
        policies(),
        ents,
        ("a", [rec("a", "1", **ANN), rec("a", "1", **{**ANN, "company": "Other"})]),
        ("b", [rec("b", "2", **ANN)]),
    )
    (problem,) = p.problems
    assert (problem.system, problem.remote_id, problem.kind) == ("a", "1", "unreadable")
    assert "twice" in problem.reason
    assert p.actions == []  # the first copy counts; the second is not read as an edit


def test_what_the_target_really_holds_is_recorded_so_there_is_no_echo() -> None:
    rls = {"a": role("a"), "b": role("b", truncate={"notes": 5})}
    w = World(rls, policies())
    w.put("a", "a1", **ANN, notes="hello world")
    p = w.sync()
    assert action_for(p, "create", "b").expected["notes"] == "hello"
    assert w.plan().actions == []
    w.edit("a", "a1", notes="goodbye world")
    w.sync()
    assert w.data["b"][b_id(w)]["notes"] == "goodb"
    assert w.plan().actions == []


def test_the_system_an_edit_came_from_is_not_written_back_nor_projected() -> None:
    """A value longer than the API takes, typed in the provider's own screen: the other system gets it cut to
    what it holds, and the record it came from keeps it whole (no write there, and no projection asked)."""
    asked: list[str] = []

    def counted(r: SystemRole) -> SystemRole:
        def project(rec: Record | None, desired: dict[str, Any]) -> dict[str, Any]:
            asked.append(r.name)
            return r.project(rec, desired)

        return dataclasses.replace(r, project=project)

    rls = {"a": counted(role("a", truncate={"notes": 5})), "b": counted(role("b"))}
    w = World(rls, policies())
    w.put("a", "a1", **ANN)
    w.sync()
    w.edit("a", "a1", notes="goodbye world")
    asked.clear()
    p = w.plan()
    assert kinds(p) == [("update", "b")]
    assert asked == ["b"]  # (the planner's; applying the plan asks again, as a provider would store it)
    w.apply(p)
    assert w.data["a"]["a1"]["notes"] == "goodbye world"
    assert w.data["b"][b_id(w)]["notes"] == "goodbye world"
    assert w.plan().actions == []


def test_blank_keeps_target_is_not_fought_over() -> None:
    """A target that cannot clear a field (Callyzer) keeps it; the next run must not try again."""
    rls = {"a": role("a"), "b": role("b", mode="keep")}
    w = World(rls, policies())
    w.put("a", "a1", **ANN, company="Acme")
    w.sync()
    w.data["a"]["a1"].pop("company")
    w.sync()
    assert w.data["b"][b_id(w)]["company"] == "Acme"
    assert w.plan().actions == []


def test_system_that_cannot_update_gets_no_update() -> None:
    rls = {"a": role("a"), "b": role("b", can_update=False)}
    w = World(rls, policies())
    w.put("a", "a1", **ANN)
    w.sync()
    w.edit("a", "a1", company="Acme")
    assert w.sync().actions == []
    assert w.plan().actions == []


def test_plan_counts() -> None:
    ents = state(linked("E1", a=("1", ANN), b=("2", ANN)), linked("E2", a=("3", {"phone": P3}), b=("4", {"phone": P3})))
    p = run(
        roles("a", "b"),
        policies(),
        ents,
        ("a", [rec("a", "1", **{**ANN, "company": "Acme"}), rec("a", "9", first_name="New", phone=P4)]),
        ("b", [rec("b", "2", **ANN), rec("b", "4", phone=P3)]),
    )
    assert p.counts() == {"update": 1, "create": 1, "delete": 1, "conflicts": 0, "ambiguous": 0}


def test_record_matching_only_a_person_deleted_this_run_is_a_new_person() -> None:
    """Cyrus lives on b only (a's listing failed when he arrived). Then b deletes him and, in the same
    period, a new record with his phone appears on a. The new record must become a person in that run,
    not be skipped and created one run later (a second run with no outside change makes zero writes)."""
    w = World(roles("a", "b"), policies())
    w.put("b", "b1", first_name="Cyrus", phone=P1)
    assert w.sync(incomplete=["a"]).actions == []
    del w.data["b"]["b1"]
    w.put("a", "a6", first_name="Devi", phone=P1)
    p = w.sync()
    assert [(a.kind, a.system, a.desired.get("first_name")) for a in p.actions] == [("create", "b", "Devi")]
    eid, _ = w.link_of("a", "a6")
    assert eid not in p.dropped_entities
    assert w.plan().actions == []


# --- the planner makes no reference cycle (syncd.heap pauses the collector for it: nothing is left to collect) -----


def test_the_planner_leaves_no_cyclic_garbage() -> None:
    w = World(roles("a", "b", "c"), policies("a", "b", "c"))
    for i in range(30):
        w.put("a", f"a{i}", first_name=f"N{i}", last_name="Cycle", phone=P1 if i == 0 else None)
    w.sync()
    w.edit("a", "a1", company="Acme")  # an update
    w.edit("b", next(iter(w.data["b"])), company="Other")  # an update from b
    w.put("a", "a-new", first_name="New", last_name="Person", email="new@x.co")  # creates
    del w.data["a"]["a2"]  # a delete
    entities, fetched = w.entities, {s: Fetched(w.records(s), complete=True) for s in w.roles}
    gc.collect()
    with heap.paused():  # (as the planner runs in syncd; gc.collect() still collects when asked)
        result = make_plan("job", w.roles, w.policies, entities, fetched, w._new_entity)
        assert {a.kind for a in result.actions} >= {"create", "update", "delete"}, kinds(result)
        del result
        found = gc.collect()
    assert found == 0, f"{found} objects the planner made sit in reference cycles: syncd.heap's pause assumes none"
