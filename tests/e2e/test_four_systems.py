"""End to end across all four systems: the `leads` job (CallPage → Callyzer ↔ Callsavvy ↔ an Apps API
custom list) and the `contacts` job (Callsavvy contacts ↔ the Apps API global list), through the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from sqlmodel import Session, select

from syncd.state.models import Entity, Journal, Link
from tests.e2e.harness import Harness

LIST = "2"  # the Apps API simulator's custom list used by the sandbox `leads` job


def entries(h: Harness, list_id: str = LIST) -> list[dict[str, Any]]:
    return list(h.dump("appsapi")["contacts"].get(list_id, []))


def global_list(h: Harness) -> list[dict[str, Any]]:
    return entries(h, "1")


def digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def links_by_entity(h: Harness, job: str) -> dict[str, dict[str, str]]:
    store = h.state()
    try:
        with Session(store.engine) as session:
            out: dict[str, dict[str, str]] = {}
            for link in session.exec(select(Link).where(Link.job == job, Link.gone == False)):  # noqa: E712
                out.setdefault(link.entity_id, {})[link.system] = link.remote_id
            return out
    finally:
        store.close()


def test_a_callpage_callback_becomes_one_lead_in_every_system(harness4: Harness) -> None:
    h = harness4
    h.seed_raw("callpage", {"calls": [{"to": "+919812345678", "name": "Kavya Iyer", "email": "Kavya@Iyer.in"}]})
    report = h.sync("leads")
    assert report["exit_code"] == 0, report
    [cz] = h.leads("callyzer")
    [cs] = h.leads("callsavvy")
    [entry] = entries(h)
    assert cz["details"]["first_name"] == "Kavya" and cz["details"]["contact_numbers"] == ["91-9812345678"]
    assert cz["details"]["email"] == "kavya@iyer.in" and cz["details"]["source"] == "CallPage"
    assert "callpage" in cz["lead_tags"]
    assert cs["name"] == "Kavya Iyer" and digits(cs["phone"]) == "919812345678"
    assert entry["name"] == "Kavya Iyer" and digits(entry["phone_number"]) == "919812345678"
    links = links_by_entity(h, "leads")
    assert len(links) == 1, links
    [systems] = links.values()
    assert set(systems) == {"callpage", "callyzer", "callsavvy", "appsapi"}
    assert entry["external_unique_id"] == next(iter(links)), "the Apps API entry carries the entity id"
    h.quiet("leads")


def test_edits_in_the_list_and_in_callsavvy_reach_everyone_and_the_next_run_is_quiet(harness4: Harness) -> None:
    h = harness4
    h.seed_raw("callpage", {"calls": [{"to": "+919812345678", "name": "Kavya Iyer", "email": "kavya@iyer.in"}]})
    h.sync("leads")
    [entry] = entries(h)
    h.edit("appsapi", f"contact_lists/{LIST}/contacts/{entry['id']}", {"email": "kavya.iyer@newmail.in"})
    h.sync("leads")
    assert h.leads("callyzer")[0]["details"]["email"] == "kavya.iyer@newmail.in"
    assert h.leads("callsavvy")[0]["email"] == "kavya.iyer@newmail.in"
    h.quiet("leads")

    [cs] = h.leads("callsavvy")
    h.edit("callsavvy", cs["lead_id"], {"name": "Kavya R Iyer"})
    h.sync("leads")
    assert entries(h)[0]["name"] == "Kavya R Iyer"
    cz = h.leads("callyzer")[0]["details"]
    assert (cz["first_name"], cz["last_name"]) == ("Kavya R", "Iyer")
    h.quiet("leads")


def test_repeated_callbacks_and_a_differently_formatted_callyzer_lead_stay_one_person(harness4: Harness) -> None:
    h = harness4
    h.seed("callyzer", [{"details": {"first_name": "Arjun", "last_name": "Mehta", "contact_numbers": ["9876512345"]},
                         "lead_tags": ["walk-in"]}])  # fmt: skip
    h.seed_raw("callpage", {"calls": [
        {"to": "+919876512345", "name": "Arjun Mehta"},
        {"to": "+919876512345", "name": "Arjun Mehta", "email": "arjun@mehta.in"},
    ]})  # fmt: skip
    h.sync("leads")
    h.seed_raw("callpage", {"calls": [{"to": "+919876512345", "name": "Arjun Mehta"}]})  # and a third time
    h.sync("leads")
    assert len(h.leads("callyzer")) == 1 and len(h.leads("callsavvy")) == 1 and len(entries(h)) == 1
    [cz] = h.leads("callyzer")
    assert cz["details"]["email"] == "arjun@mehta.in", "update_blank_only filled the blank e-mail"
    assert cz["details"]["contact_numbers"] == ["9876512345"], "the matched number is not rewritten"
    assert cz["lead_tags"] == ["walk-in", "callpage"]
    assert len(links_by_entity(h, "leads")) == 1
    h.quiet("leads")


def _contact_group(h: Harness, name: str) -> str:
    group_id: str = next(g["group_id"] for g in h.dump("callsavvy")["groups"] if g["name"] == name)
    return group_id


def test_contacts_sync_both_ways_and_an_edited_contact_stays_one_contact_and_one_link(harness4: Harness) -> None:
    h = harness4
    group = _contact_group(h, "Customers")
    h.seed_raw("callsavvy", {"contacts": [
        {"name": "Neha Kapoor", "email": "neha@kapoor.in", "phone": "+919811100001", "group_id": group},
        {"name": "Rohan Das", "phone": "+919811100002", "group_id": group},
    ]})  # fmt: skip
    h.seed_raw("appsapi", {"contacts": {"1": [{"name": "Isha Rao", "phone_number": "+919811100003"}]}})
    h.sync("contacts")
    assert sorted(c["name"] for c in h.dump("callsavvy")["contacts"]) == ["Isha Rao", "Neha Kapoor", "Rohan Das"]
    assert sorted(e["name"] for e in global_list(h)) == ["Isha Rao", "Neha Kapoor", "Rohan Das"]
    h.quiet("contacts")

    neha = next(c for c in h.dump("callsavvy")["contacts"] if c["name"] == "Neha Kapoor")
    entry = next(e for e in global_list(h) if e["name"] == "Neha Kapoor")
    h.edit("appsapi", f"contact_lists/1/contacts/{entry['id']}", {"email": "neha.k@kapoor.in"})
    report = h.sync("contacts")
    assert [(a["action"], a["system"]) for a in report["actions"]] == [("update", "callsavvy")]
    contacts = [c for c in h.dump("callsavvy")["contacts"] if "Neha" in c["name"]]
    assert len(contacts) == 1 and contacts[0]["email"] == "neha.k@kapoor.in"
    assert contacts[0]["contact_id"] != neha["contact_id"], "Callsavvy has no update: the contact was replaced"
    links = [s for s in links_by_entity(h, "contacts").values() if s.get("callsavvy") == contacts[0]["contact_id"]]
    assert len(links) == 1, "the link moved to the new contact_id"
    h.quiet("contacts")


def test_a_kill_between_the_create_and_the_delete_of_a_replace_loses_and_duplicates_nothing(harness4: Harness) -> None:
    h = harness4
    group = _contact_group(h, "Customers")
    h.seed_raw("callsavvy", {"contacts": [{"name": "Neha Kapoor", "phone": "+919811100001", "group_id": group}]})
    h.sync("contacts")
    [entry] = global_list(h)
    h.edit("appsapi", f"contact_lists/1/contacts/{entry['id']}", {"email": "neha@kapoor.in"})
    # the delete of the old contact hangs; the process is killed once the new contact exists
    h.fault("callsavvy", {"kind": "timeout", "endpoint": "*deleteContact", "delay": 60, "count": 1})
    assert h.config_path is not None
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd", "-c", str(h.config_path), "sync", "contacts"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while h.stats("callsavvy")["by_endpoint"].get("/deleteContact", 0) == 0:
        assert time.monotonic() < deadline and proc.poll() is None, "the run never reached the delete"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    contacts = h.dump("callsavvy")["contacts"]
    assert len(contacts) == 2, "killed between the two calls: old and new contact both exist"
    store = h.state()
    with Session(store.engine) as session:
        pending = list(session.exec(select(Journal).where(Journal.state == "pending")))
    store.close()
    assert [(j.system, j.action) for j in pending] == [("callsavvy", "update")]

    with h.box.admin("callsavvy") as c:
        c.delete("/_sim/faults")
    report = h.sync("contacts")
    assert [(a["action"], a["system"]) for a in report["actions"]] == [("delete", "callsavvy")]
    [contact] = h.dump("callsavvy")["contacts"]
    assert contact["email"] == "neha@kapoor.in"
    links = links_by_entity(h, "contacts")
    assert list(links.values()) == [{"callsavvy": contact["contact_id"], "appsapi": str(entry["id"])}]
    store = h.state()
    with Session(store.engine) as session:
        assert len(list(session.exec(select(Entity)))) == 1
        assert list(session.exec(select(Journal).where(Journal.state == "pending"))) == []
    store.close()
    # the Apps API link learns the e-mail its entry holds (the edit the replace carried): state only, no write
    h.quiet("contacts", planned=1)
    h.quiet("contacts")
