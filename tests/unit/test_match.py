"""Matching: unlinked records join entities by normalized phone / e-mail; ambiguity is reported, never guessed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syncd.engine import match
from syncd.engine.model import Record, pack
from syncd.mapping.apply import Mapper
from syncd.mapping.spec import load

from .engine_helpers import P1, P2, P3, World, linked, policies, rec, roles, run, state

MAPPINGS = Path(__file__).parents[2] / "mappings"


# --- keys and groups -----------------------------------------------------------------------------------


def test_keys_use_e164_phones_and_lowercased_emails() -> None:
    values: dict[str, Any] = {"phone": P1, "phone2": P2, "email": " Ann@Example.COM "}
    assert match.keys(values, ("phone", "email")) == {f"phone:{P1}", f"phone:{P2}", "email:ann@example.com"}
    assert match.keys(values, ("email",)) == {"email:ann@example.com"}
    assert match.keys(values, ("phone",)) == {f"phone:{P1}", f"phone:{P2}"}
    # an unreadable phone (kept raw by the mapping) or a non-address never matches anything
    assert match.keys({"phone": "12345", "email": "n/a"}, ("phone", "email")) == set()


def _r(system: str, rid: str, **values: Any) -> Record:
    return rec(system, rid, **values)


def test_group_links_transitively() -> None:
    records = [
        _r("a", "1", phone=P1, email="x@y.co"),
        _r("b", "2", phone=P1),
        _r("c", "3", email="X@Y.co"),
        _r("b", "9", phone=P3),
    ]
    groups = match.group(records, {}, {}, ("phone", "email"))
    shapes = sorted(sorted((r.system, r.remote_id) for r in g.records) for g in groups)
    assert shapes == [[("a", "1"), ("b", "2"), ("c", "3")], [("b", "9")]]
    assert all(g.ambiguous is None and g.entity_id is None for g in groups)


def test_group_joins_a_known_entity() -> None:
    groups = match.group(
        [_r("b", "2", phone=P1)], {"E1": {f"phone:{P1}"}, "E2": {f"phone:{P2}"}}, {"E1": {"a"}}, ["phone"]
    )
    assert len(groups) == 1
    assert groups[0].entity_id == "E1" and groups[0].ambiguous is None


# --- through the planner ----------------------------------------------------------------------------------


def test_first_sync_links_phone_in_different_formats_instead_of_duplicating() -> None:
    """Callyzer's "91-9988776655" and Callsavvy's "+91 99887 76655" are one person."""
    cz = Mapper(load(MAPPINGS / "callyzer-leads.toml"), "IN", "Asia/Kolkata")
    cs = Mapper(load(MAPPINGS / "callsavvy-leads.toml"), "IN", "Asia/Kolkata")
    cz_raw = {"id": "c1", "details": {"first_name": "Ann", "contact_numbers": ["91-9988776655"]}}
    cs_raw = {"lead_id": "s1", "name": "Ann Rao", "phone": "+91 99887 76655"}
    cz_rec = Record("cz", "c1", cz.to_canonical(cz_raw).values, pack(cz_raw, "cz"))
    cs_rec = Record("cs", "s1", cs.to_canonical(cs_raw).values, pack(cs_raw, "cs"))
    assert cz_rec.values["phone"] == cs_rec.values["phone"] == P1
    p = run(roles("cz", "cs"), policies("cz", "cs"), {}, ("cz", [cz_rec]), ("cs", [cs_rec]))
    assert p.actions == []  # existing_lead ignore: nothing to write, and above all no create
    assert p.problems == []
    assert p.new_entities == ["N1"]
    assert sorted((u.entity_id, u.system, u.remote_id, u.new) for u in p.links) == [
        ("N1", "cs", "s1", True),
        ("N1", "cz", "c1", True),
    ]


def test_first_sync_links_email_in_different_case() -> None:
    p = run(
        roles("a", "b"),
        policies(),
        {},
        ("a", [rec("a", "1", first_name="Ann", email="Ann.Rao@Example.com")]),
        ("b", [rec("b", "2", first_name="Ann", email="ann.rao@example.COM")]),
    )
    assert [a.kind for a in p.actions] == []
    assert {(u.system, u.remote_id) for u in p.links} == {("a", "1"), ("b", "2")}
    assert len({u.entity_id for u in p.links}) == 1


def test_unmatched_records_each_become_a_person() -> None:
    p = run(
        roles("a", "b"),
        policies(),
        {},
        ("a", [rec("a", "1", first_name="Ann", phone=P1)]),
        ("b", [rec("b", "2", first_name="Bob", phone=P2)]),
    )
    assert sorted((a.kind, a.system, a.desired["first_name"]) for a in p.actions) == [
        ("create", "a", "Bob"),
        ("create", "b", "Ann"),
    ]
    assert len(p.new_entities) == 2


def test_match_on_email_only_ignores_phones() -> None:
    p = run(
        roles("a", "b"),
        policies(match_on=("email",)),
        {},
        ("a", [rec("a", "1", first_name="Ann", phone=P1)]),
        ("b", [rec("b", "2", first_name="Bob", phone=P1)]),
    )
    assert sorted(a.kind for a in p.actions) == ["create", "create"]
    assert p.problems == []


def test_known_remote_id_wins_over_phone() -> None:
    """A linked record whose phone changed stays with its entity; the change is an edit, not a new person."""
    ents = state(linked("E1", a=("1", {"first_name": "Ann", "phone": P1}), b=("2", {"first_name": "Ann", "phone": P1})))
    p = run(
        roles("a", "b"),
        policies(),
        ents,
        ("a", [rec("a", "1", first_name="Ann", phone=P2)]),
        ("b", [rec("b", "2", first_name="Ann", phone=P1)]),
    )
    assert p.new_entities == []
    (action,) = p.actions
    assert (action.kind, action.system, action.remote_id, action.desired["phone"]) == ("update", "b", "2", P2)


def test_new_record_matching_a_linked_person_on_another_system_joins_it() -> None:
    ents = state(linked("E1", a=("1", {"first_name": "Ann", "phone": P1})))
    p = run(
        roles("a", "b", can_create=False),
        policies(),
        ents,
        ("a", [rec("a", "1", first_name="Ann", phone=P1)]),
        ("b", [rec("b", "7", first_name="Ann", phone=P1)]),
    )
    assert p.problems == [] and p.new_entities == []
    assert ("E1", "b", "7") in {(u.entity_id, u.system, u.remote_id) for u in p.links}


# --- ambiguity: reported, no action -------------------------------------------------------------------------


def _no_action_for(p: object, *remote: tuple[str, str]) -> None:
    assert all((a.system, a.remote_id) not in remote for a in p.actions)  # type: ignore[attr-defined]
    assert all((u.system, u.remote_id) not in remote for u in p.links)  # type: ignore[attr-defined]


def test_two_records_of_one_system_sharing_a_phone_are_ambiguous() -> None:
    p = run(
        roles("a", "b"),
        policies(),
        {},
        ("a", [rec("a", "1", first_name="Ann", phone=P1), rec("a", "2", first_name="Anne", phone=P1)]),
        ("b", [rec("b", "3", first_name="A", phone=P1)]),
    )
    assert p.actions == [] and p.links == [] and p.new_entities == []
    assert sorted((x.system, x.remote_id, x.kind) for x in p.problems) == [
        ("a", "1", "ambiguous"),
        ("a", "2", "ambiguous"),
        ("b", "3", "ambiguous"),
    ]
    assert all("2 a records share a phone or e-mail: 1, 2" in x.reason for x in p.problems)
    assert p.counts()["ambiguous"] == 3


def test_record_matching_two_entities_is_ambiguous() -> None:
    ents = state(
        linked("E1", a=("1", {"first_name": "Ann", "phone": P1})),
        linked("E2", a=("2", {"first_name": "Bob", "email": "bob@x.co"})),
    )
    p = run(
        roles("a", "b", can_create=False),
        policies(),
        ents,
        ("a", [rec("a", "1", first_name="Ann", phone=P1), rec("a", "2", first_name="Bob", email="bob@x.co")]),
        ("b", [rec("b", "9", first_name="Ann", phone=P1, email="BOB@x.co")]),
    )
    assert [(x.system, x.remote_id) for x in p.problems] == [("b", "9")]
    assert "matches 2 known people" in p.problems[0].reason
    _no_action_for(p, ("b", "9"))
    assert p.actions == []


def test_new_record_duplicating_a_linked_one_is_ambiguous() -> None:
    ents = state(linked("E1", a=("1", {"first_name": "Ann", "phone": P1}), b=("2", {"first_name": "Ann", "phone": P1})))
    p = run(
        roles("a", "b"),
        policies(),
        ents,
        ("a", [rec("a", "1", first_name="Ann", phone=P1), rec("a", "5", first_name="Ann R", phone=P1)]),
        ("b", [rec("b", "2", first_name="Ann", phone=P1)]),
    )
    assert [(x.system, x.remote_id) for x in p.problems] == [("a", "5")]
    assert "already has a a record" in p.problems[0].reason
    assert p.actions == []
    _no_action_for(p, ("a", "5"))


def test_ambiguity_is_reported_again_until_resolved_and_others_proceed() -> None:
    w = World(roles("a", "b"), policies())
    w.put("a", "1", first_name="Ann", phone=P1)
    w.put("a", "2", first_name="Anne", phone=P1)
    w.put("a", "3", first_name="Cat", phone=P3)
    p = w.sync()
    assert sorted(x.remote_id for x in p.problems) == ["1", "2"]
    assert [(a.kind, a.system, a.desired["first_name"]) for a in p.actions] == [("create", "b", "Cat")]
    p2 = w.plan()
    assert sorted(x.remote_id for x in p2.problems) == ["1", "2"]
    assert p2.actions == []
    del w.data["a"]["2"]  # a person removes the duplicate
    p3 = w.sync()
    assert p3.problems == []
    assert [(a.kind, a.system, a.desired["first_name"]) for a in p3.actions] == [("create", "b", "Ann")]
