"""End to end: `syncd sync` in a subprocess, Callyzer ↔ Callsavvy leads, against the strict simulators."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import Harness


def cz(first: str, last: str, numbers: list[str], *, email: str = "", company: str = "", status: str = "",
       tags: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "details": {"first_name": first, "last_name": last, "email": email, "company_name": company,
                    "contact_numbers": numbers},
        "status": {"lead_status": status},
        "lead_tags": tags or [],
    }  # fmt: skip


def cs(name: str, phone: str, *, email: str = "", status: str = "Potential", organization: str = "",
       notes: str = "") -> dict[str, Any]:  # fmt: skip
    return {"name": name, "phone": phone, "email": email, "status": status, "priority": "Warm",
            "summary": "From the web form", "organization": organization, "notes": notes}  # fmt: skip


def by_number(leads: list[dict[str, Any]], national: str) -> list[dict[str, Any]]:
    return [lead for lead in leads if any(n.endswith(national) for n in lead["details"]["contact_numbers"])]


def by_phone(leads: list[dict[str, Any]], digits: str) -> list[dict[str, Any]]:
    return [lead for lead in leads if lead["phone"].replace(" ", "").endswith(digits)]


def linked_pair(h: Harness) -> tuple[dict[str, Any], dict[str, Any]]:
    """Raj, in both systems and linked by a first sync."""
    h.seed("callsavvy", [cs("Raj Gajjar", "+91 99887 76655", email="Raj.Gajjar@Example.com")])
    h.seed("callyzer", [cz("Raj", "Gajjar", ["91-9988776655"], email="raj.gajjar@example.com")])
    h.sync()
    return by_number(h.leads("callyzer"), "9988776655")[0], by_phone(h.leads("callsavvy"), "9988776655")[0]


def test_first_sync_links_the_same_person_and_creates_the_rest(harness: Harness) -> None:
    h = harness
    h.seed("callsavvy", [
        cs("Raj Gajjar", "+91 99887 76655", email="Raj.Gajjar@Example.com", organization="Gajjar Exports"),
        cs("Meera Nair", "+91 98450 12345", email="meera@nair.in"),
    ])  # fmt: skip
    h.seed("callyzer", [
        cz("Raj", "Gajjar", ["91-9988776655"], email="raj.gajjar@example.com"),
        cz("Vikram", "Rao", ["91-9876501234"], company="Rao Motors", status="Positive"),
    ])  # fmt: skip
    report = h.sync()
    assert report["exit_code"] == 0 and report["failed"] == []

    callyzer, callsavvy = h.leads("callyzer"), h.leads("callsavvy")
    assert len(callyzer) == 3 and len(callsavvy) == 3
    assert len(by_number(callyzer, "9988776655")) == 1, "Raj was duplicated in Callyzer"
    assert len(by_phone(callsavvy, "9988776655")) == 1, "Raj was duplicated in Callsavvy"
    meera = by_number(callyzer, "9845012345")[0]
    assert meera["details"]["first_name"] == "Meera" and meera["details"]["contact_numbers"] == ["91-9845012345"]
    vikram = by_phone(callsavvy, "9876501234")[0]
    assert vikram["name"] == "Vikram Rao" and vikram["organization"] == "Rao Motors"
    assert vikram["status"] == "Qualified", "Callyzer's Positive maps to the canonical Qualified"
    # the sandbox job merges existing leads with update_blank_only: Raj's blank company is filled in Callyzer
    assert by_number(callyzer, "9988776655")[0]["details"]["company_name"] == "Gajjar Exports"

    h.quiet()
    assert h.served_429() == 0


def test_an_edit_on_one_side_propagates_and_the_next_run_is_quiet(harness: Harness) -> None:
    h = harness
    raj_cz, raj_cs = linked_pair(h)
    h.edit("callyzer", raj_cz["id"], {"details": {"company_name": "Gajjar Global"}})
    report = h.sync()
    assert [(a["action"], a["system"], a["fields"]) for a in report["actions"]] == [
        ("update", "callsavvy", ["company"])
    ]
    assert by_phone(h.leads("callsavvy"), "9988776655")[0]["organization"] == "Gajjar Global"
    h.quiet()

    h.edit("callsavvy", raj_cs["lead_id"], {"notes": "Call after 5pm"})
    h.sync()
    assert by_number(h.leads("callyzer"), "9988776655")[0]["details"]["description"] == "Call after 5pm"
    h.quiet()


def test_a_note_longer_than_callyzers_api_takes_typed_in_callyzer_is_not_cut_there(harness: Harness) -> None:
    """Callyzer's screen took 1,304 characters; its API takes 1,000 (syncd's mapping cuts there). The edit goes to
    Callsavvy whole, and the Callyzer lead it came from is not written back with its note cut."""
    h = harness
    raj_cz, _ = linked_pair(h)
    note = "Called twice, wants a quote. " * 45
    note = note.strip()
    assert len(note) > 1000
    h.edit("callyzer", raj_cz["id"], {"details": {"description": note, "company_name": "Gajjar Global"}})
    written = h.write_calls()["callyzer"]
    report = h.sync()
    assert [(a["action"], a["system"]) for a in report["actions"]] == [("update", "callsavvy")]
    assert h.write_calls()["callyzer"] == written, "Callyzer was written to"
    assert by_number(h.leads("callyzer"), "9988776655")[0]["details"]["description"] == note
    assert by_phone(h.leads("callsavvy"), "9988776655")[0]["notes"] == note
    h.quiet()


def test_different_fields_edited_on_both_sides_both_survive(harness: Harness) -> None:
    h = harness
    raj_cz, raj_cs = linked_pair(h)
    h.edit("callyzer", raj_cz["id"], {"details": {"city": "Surat"}})
    h.edit("callsavvy", raj_cs["lead_id"], {"organization": "Gajjar Textiles", "status": "Interested"})
    report = h.sync()
    assert report["conflicts"] == []
    cz_after = by_number(h.leads("callyzer"), "9988776655")[0]
    cs_after = by_phone(h.leads("callsavvy"), "9988776655")[0]
    assert cz_after["details"]["city"] == "Surat"
    assert cz_after["details"]["company_name"] == "Gajjar Textiles"
    assert cz_after["status"]["lead_status"] == "Interested"
    assert cs_after["organization"] == "Gajjar Textiles" and cs_after["status"] == "Interested"
    h.quiet()


@pytest.mark.parametrize(
    ("policy", "prefer", "winner"),
    [("prefer", ["callsavvy", "callyzer"], "callsavvy"), ("prefer", ["callyzer", "callsavvy"], "callyzer"),
     ("newest", ["callyzer", "callsavvy"], "callyzer")],
)  # fmt: skip
def test_the_same_field_edited_on_both_sides_follows_the_policy(
    harness: Harness, policy: str, prefer: list[str], winner: str
) -> None:
    h = harness
    h.configure({"conflict": {"policy": policy, "prefer": prefer}})
    raj_cz, raj_cs = linked_pair(h)
    h.edit("callyzer", raj_cz["id"], {"details": {"company_name": "From Callyzer"}})
    h.edit("callsavvy", raj_cs["lead_id"], {"organization": "From Callsavvy"})
    report = h.sync()
    [conflict] = report["conflicts"]
    assert conflict["field"] == "company" and conflict["decision"] == winner and conflict["policy"] == policy
    assert conflict["values"] == {"callyzer": "From Callyzer", "callsavvy": "From Callsavvy"}
    if policy == "newest":  # Callsavvy gives no modified time: the report says the policy fell back
        assert "fell back to prefer" in conflict["note"]
    expected = "From Callyzer" if winner == "callyzer" else "From Callsavvy"
    assert by_number(h.leads("callyzer"), "9988776655")[0]["details"]["company_name"] == expected
    assert by_phone(h.leads("callsavvy"), "9988776655")[0]["organization"] == expected
    h.quiet()


def test_hold_policy_keeps_both_values_and_reports_the_conflict_every_run(harness: Harness) -> None:
    h = harness
    h.configure({"conflict": {"policy": "hold", "prefer": ["callsavvy", "callyzer"]}})
    raj_cz, raj_cs = linked_pair(h)
    h.edit("callyzer", raj_cz["id"], {"details": {"company_name": "From Callyzer"}})
    h.edit("callsavvy", raj_cs["lead_id"], {"organization": "From Callsavvy"})
    for _ in range(2):
        report = h.sync()
        assert [c["decision"] for c in report["conflicts"]] == ["held"]
        assert report["actions"] == []
    assert by_number(h.leads("callyzer"), "9988776655")[0]["details"]["company_name"] == "From Callyzer"
    assert by_phone(h.leads("callsavvy"), "9988776655")[0]["organization"] == "From Callsavvy"


EXISTING = cz("Raj", "Gajjar", ["91-9988776655"], company="Old Company", tags=["vip"])
INCOMING = cs("Rajesh Gajjar", "+91 99887 76655", email="raj@gajjar.in", organization="New Company")


@pytest.mark.parametrize(
    ("details", "tags", "first_name", "company", "email", "lead_tags"),
    [
        ("ignore", "ignore", "Raj", "Old Company", "", ["vip"]),
        ("overwrite", "overwrite", "Rajesh", "New Company", "raj@gajjar.in", ["callsavvy"]),
        ("update_blank_only", "append", "Raj", "Old Company", "raj@gajjar.in", ["vip", "callsavvy"]),
        ("ignore", "append", "Raj", "Old Company", "", ["vip", "callsavvy"]),
    ],
)
def test_existing_lead_policies_decide_what_an_existing_callyzer_lead_keeps(
    harness: Harness, details: str, tags: str, first_name: str, company: str, email: str, lead_tags: list[str]
) -> None:
    h = harness
    h.configure({"existing_lead": {"lead_details": details, "lead_tags": tags, "assignee": "ignore"}})
    h.seed("callyzer", [EXISTING])
    h.seed("callsavvy", [INCOMING])
    h.sync()
    [lead] = h.leads("callyzer")
    assert lead["details"]["first_name"] == first_name
    assert lead["details"]["company_name"] == company
    assert lead["details"]["email"] == email
    assert lead["lead_tags"] == lead_tags
    assert lead["details"]["contact_numbers"] == ["91-9988776655"], "the matched number is never rewritten"
    assert len(h.leads("callsavvy")) == 1
    h.quiet()


def test_existing_lead_policy_applies_to_an_existing_callsavvy_lead_too(harness: Harness) -> None:
    """The same words mean the same thing on Callsavvy, where syncd applies them itself."""
    h = harness
    h.configure({
        "conflict": {"policy": "prefer", "prefer": ["callyzer", "callsavvy"]},
        "existing_lead": {"lead_details": "update_blank_only", "lead_tags": "ignore", "assignee": "ignore"},
    })  # fmt: skip
    h.seed("callyzer", [cz("Raj", "Gajjar", ["91-9988776655"], email="raj@gajjar.in", company="Callyzer Co")])
    h.seed("callsavvy", [cs("Rajesh Gajjar", "+91 99887 76655", organization="Savvy Co")])
    h.sync()
    [lead] = h.leads("callsavvy")
    assert lead["email"] == "raj@gajjar.in", "blank e-mail filled"
    assert lead["organization"] == "Savvy Co" and lead["name"] == "Rajesh Gajjar", "non-blank details kept"
    h.quiet()


def test_rejected_leads_are_kept_in_failures_and_sync_once_fixed(harness: Harness) -> None:
    h = harness
    seeded = h.seed("callsavvy", [
        cs("Al Khan", "+91 98200 11111", email="al@khan.in"),
        cs("Divya Patel", "+91 12345", email="divya@patel.in"),
        cs("Meera Nair", "+91 98450 12345"),
    ])  # fmt: skip
    report = h.sync(expect=1)
    reasons = {f["who"].split(" <")[0]: f["reason"] for f in report["failed"]}
    assert set(reasons) == {"Al Khan", "Divya Patel"}
    assert "first_name" in reasons["Al Khan"] and "3 to 250" in reasons["Al Khan"]
    assert "not a valid phone number" in reasons["Divya Patel"]
    assert [lead["details"]["first_name"] for lead in h.leads("callyzer")] == ["Meera"]

    listed = h.cli("failures")
    assert listed.returncode == 0 and "Al Khan" in listed.stdout and "Divya Patel" in listed.stdout

    h.edit("callsavvy", seeded[0]["lead_id"], {"name": "Alam Khan"})
    report = h.sync(expect=1)  # Divya is still broken
    assert [f["who"].split(" <")[0] for f in report["failed"]] == ["Divya Patel"]
    h.edit("callsavvy", seeded[1]["lead_id"], {"phone": "+91 98111 22233"})
    report = h.sync(expect=0)
    assert sorted(lead["details"]["first_name"] for lead in h.leads("callyzer")) == ["Alam", "Divya", "Meera"]
    assert "no open failures" in h.cli("failures").stdout
    h.quiet()


def test_leads_callyzer_rejects_in_a_bulksave_keep_the_providers_message(harness: Harness) -> None:
    h = harness
    h.seed("callsavvy", [cs(f"Person Number{i}", f"+91 98200 1000{i}") for i in range(6)])
    h.fault("callyzer", {"kind": "partial", "endpoint": "*bulksave", "every": 2})
    report = h.sync(expect=1)
    assert len(report["failed"]) == 3
    assert {f["reason"] for f in report["failed"]} == {"There is some technical error, please try again later"}
    assert len(h.leads("callyzer")) == 3
    report = h.sync(expect=0)  # retried from the failures, nothing duplicated
    assert len(h.leads("callyzer")) == 6 and len(h.leads("callsavvy")) == 6
    assert "no open failures" in h.cli("failures").stdout
    h.quiet()


def test_dry_run_writes_nothing_and_lists_exactly_what_the_real_run_does(harness: Harness) -> None:
    h = harness
    raj_cz, _ = linked_pair(h)
    h.seed("callsavvy", [cs("Meera Nair", "+91 98450 12345")])
    h.seed("callyzer", [cz("Vikram", "Rao", ["91-9876501234"])])
    h.edit("callyzer", raj_cz["id"], {"details": {"company_name": "Gajjar Global"}})
    before_writes, before_stats = h.write_calls(), {s: h.stats(s)["writes"] for s in ("callyzer", "callsavvy")}
    dry = h.sync("--dry-run")
    assert h.write_calls() == before_writes
    assert {s: h.stats(s)["writes"] for s in ("callyzer", "callsavvy")} == before_stats
    planned = sorted((a["action"], a["system"], a["who"], tuple(a["fields"])) for a in dry["actions"])
    assert [a["action"] for a in dry["plan"]["actions"]] == [a["action"] for a in dry["actions"]]
    assert len(planned) == 3
    real = h.sync()
    assert sorted((a["action"], a["system"], a["who"], tuple(a["fields"])) for a in real["actions"]) == planned
    h.quiet()


def test_plan_shows_each_field_with_its_reason(harness: Harness) -> None:
    h = harness
    raj_cz, _ = linked_pair(h)
    h.edit("callyzer", raj_cz["id"], {"details": {"company_name": "Gajjar Global"}})
    proc = h.cli("plan")
    assert proc.returncode == 0, proc.stderr
    assert "UPDATE" in proc.stdout and "callsavvy" in proc.stdout
    assert "company" in proc.stdout and "'Gajjar Global'" in proc.stdout
    assert "changed on callyzer" in proc.stdout


def test_no_429_during_normal_syncs_and_a_forced_burst_is_retried(harness: Harness) -> None:
    h = harness
    h.seed("callsavvy", [cs(f"Person Number{i}", f"+91 98200 2000{i}") for i in range(8)])
    h.seed("callyzer", [cz(f"Lead{i}", "Callyzer", [f"91-98300300{i:02d}"]) for i in range(8)])
    h.sync()
    assert h.served_429() == 0, "pacing should keep every client under the limits"
    h.fault("callyzer", {"kind": "rate_limit", "count": 3, "retry_after": 0.2})
    h.fault("callsavvy", {"kind": "rate_limit", "count": 2, "retry_after": 0.1})
    report = h.sync()
    assert report["api"]["callyzer"]["rate_limited"] == 3 and report["api"]["callsavvy"]["rate_limited"] == 2
    assert h.served_429() == 5
    assert len(h.leads("callyzer")) == 16 and len(h.leads("callsavvy")) == 16
    h.quiet()


def test_server_errors_and_dropped_connections_are_retried_without_duplicates(harness: Harness) -> None:
    h = harness
    h.seed("callsavvy", [cs(f"Person Number{i}", f"+91 98200 4000{i}") for i in range(4)])
    h.fault("callyzer", [{"kind": "status", "status": 502, "count": 2}, {"kind": "reset", "count": 1},
                         {"kind": "malformed", "count": 1}])  # fmt: skip
    report = h.sync()
    assert report["api"]["callyzer"]["retries"] >= 4
    assert len(h.leads("callyzer")) == 4
    h.quiet()


def test_refused_credentials_stop_with_exit_3_and_no_retry_storm(harness: Harness) -> None:
    h = harness
    h.seed("callsavvy", [cs("Meera Nair", "+91 98450 12345")])
    h.configure()
    assert h.config_path is not None
    secret_file = h.dir / "secrets" / "callyzer-token"
    secret_file.write_text("wrong-token\n")
    report = h.sync(expect=3)
    assert any("401" in e and "credentials" in e for e in report["errors"])
    assert h.stats("callyzer")["requests"] == 1
    assert h.leads("callyzer") == []


def test_deletes_propagate_or_fall_back_to_a_tag(harness: Harness) -> None:
    h = harness
    _raj_cz, raj_cs = linked_pair(h)
    h.seed("callyzer", [cz("Vikram", "Rao", ["91-9876501234"])])
    h.sync()
    vikram_cs = by_phone(h.leads("callsavvy"), "9876501234")[0]

    h.delete("callsavvy", raj_cs["lead_id"])  # Callyzer has no delete: the fallback tag marks it
    report = h.sync()
    assert [(a["action"], a["system"]) for a in report["actions"]] == [("fallback", "callyzer")]
    assert "deleted-in-crm" in by_number(h.leads("callyzer"), "9988776655")[0]["lead_tags"]

    vikram_cz = by_number(h.leads("callyzer"), "9876501234")[0]
    h.delete("callyzer", vikram_cz["id"])
    report = h.sync()
    assert [(a["action"], a["system"]) for a in report["actions"]] == [("delete", "callsavvy")]
    assert [lead["lead_id"] for lead in h.leads("callsavvy")] == [
        lead["lead_id"] for lead in h.leads("callsavvy") if lead["lead_id"] != vikram_cs["lead_id"]
    ]
    assert by_phone(h.leads("callsavvy"), "9876501234") == []
    h.quiet()


def test_mass_delete_guard_stops_the_run_and_writes_nothing(harness: Harness) -> None:
    h = harness
    h.configure({"deletes": {"mode": "propagate", "max_share": 0.2, "min_count": 2,
                             "fallback": {"callyzer": {"tag": "deleted-in-crm"}}}})  # fmt: skip
    h.seed("callsavvy", [cs(f"Person Number{i}", f"+91 98200 5000{i}") for i in range(6)])
    h.sync()
    for lead in h.leads("callyzer")[:4]:
        h.delete("callyzer", lead["id"])
    before = h.write_calls()
    report = h.sync(expect=1)
    assert report["status"] == "aborted"
    assert any("mass-delete guard" in e for e in report["errors"])
    assert h.write_calls() == before and len(h.leads("callsavvy")) == 6
    report = h.sync("--allow-mass-delete")
    assert len(h.leads("callsavvy")) == 2
