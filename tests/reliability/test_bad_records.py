"""Bad records do not stop the run: malformed provider records travel the real HTTP path (injected verbatim
into the simulators' listings with ``POST /_sim/raw``) and are synced through the CLI, next to good records.

For every case: the run does not crash (exit 0 or 1, no traceback), the good records of the same listing
still reach every system, the bad record is quarantined (a failure listed by `syncd failures`, or in the
report with a message naming the system and the record), skipped with a warning naming the system and the
record, or handled correctly (synced as it should be), the state database passes ``PRAGMA integrity_check``,
and a second sync makes no write at all.

To keep the suite fast the cases are run in batches, one per provider listing: each batch is a fresh
sandbox (all four simulators, as the ``harness4`` fixture builds it) holding that listing's good records and
all of its bad cases, each with its own phone number, so that one case cannot stand in for another. Each
case is still its own test, asserting all of the above on its batch's runs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w

from syncd.config.schema import SystemConfig
from syncd.connectors.callyzer import Callyzer
from syncd.sandbox import Sandbox, mappings_dir
from syncd.sim.appsapi import AppsApiSim
from syncd.sim.callpage import CallPageSim
from syncd.sim.callsavvy import CallsavvySim
from syncd.sim.callyzer import CALLYZER_SANDBOX_TOKEN, CallyzerSim
from tests.conftest import assert_no_secret_leaked
from tests.e2e.harness import Harness

TARGETS = {"leads": ("callyzer", "callsavvy", "appsapi"), "contacts": ("callsavvy", "appsapi")}
LIST_OF_JOB = {"leads": "2", "contacts": "1"}  # the Apps API list each sandbox job syncs
MB = 1_000_000


def digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value or ""))[-10:]


def ago(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - seconds))


# --- provider-shaped records (the shape each listing answers with), to be broken one way at a time ---------
def cz(rid: Any, first: Any, phone: Any, **details: Any) -> dict[str, Any]:
    """A Callyzer /lead/get item (``rid`` None: no id key at all)."""
    lead: dict[str, Any] = {
        "details": {"first_name": first, "last_name": "Raw", "contact_numbers": [phone], **details},
        "status": {"lead_status": "", "reminder_date": "", "reminder_time": ""},
        "assigned_to": {"all_employees": True, "employee": []},
        "lead_tags": [],
        "created_at": "2024-01-01 10:00:00 IST",
        "modified_at": "2024-01-01 10:00:00 IST",
    }
    if rid is not None:
        lead["id"] = rid
    return lead


def cs(rid: Any, name: Any, phone: Any, **fields: Any) -> dict[str, Any]:
    """A Callsavvy getLeads item, with the listing's own spelling ``priorty``."""
    lead: dict[str, Any] = {"name": name, "lead_id": rid, "email": "", "phone": phone, "status": "Potential"}
    lead.update(organization="", location="", summary="raw", worth="", priorty="Warm", notes="", source="")
    if rid is None:
        del lead["lead_id"]
    lead.update(fields)
    return lead


def csc(rid: Any, name: Any, phone: Any, **fields: Any) -> dict[str, Any]:
    """A Callsavvy getContacts item."""
    contact: dict[str, Any] = {"name": name, "contact_id": rid, "email": "", "phone": phone, "group_id": ""}
    if rid is None:
        del contact["contact_id"]
    contact.update(fields)
    return contact


def aa(rid: Any, name: Any, phone: Any, **fields: Any) -> dict[str, Any]:
    """An Apps API contact-list entry (list 2, the `leads` job's)."""
    entry: dict[str, Any] = {"name": name, "id": rid, "contact_list_id": 2, "phone_number": phone, "email": None}
    entry.update(external_unique_id=None, created_at="2024-01-01T00:00:00.000Z", updated_at="2024-01-01T00:00:00.000Z")
    if rid is None:
        del entry["id"]
    entry.update(fields)
    return entry


def cp(cid: Any, to: Any, name: Any = "Raw Caller", **data: Any) -> dict[str, Any]:
    """A CallPage calls-history item: ``{"data": {...}, "id": N}``."""
    call: dict[str, Any] = {"id": cid, "to": to, "created_at": ago(3600), "human_status": "new"}
    call["call_request_fields"] = {"data": [{"slug": "name", "field_value": name, "value": name}]}
    call.update(data)
    return {"data": call, "id": cid}


# --- the cases ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Batch:
    """What one batch's runs left behind."""

    job: str
    report1: dict[str, Any]
    report2: dict[str, Any]
    exits: tuple[int, int]
    stderr: str
    failures: list[dict[str, Any]]
    held: dict[str, list[dict[str, Any]]]  # what each target system holds after both runs
    integrity: bool
    quiet_problems: list[str]
    good_missing: list[str]
    leak: str | None

    def holds(self, system: str, phone: str) -> list[dict[str, Any]]:
        key = "details" if system == "callyzer" else ""
        out = []
        for rec in self.held[system]:
            numbers = rec["details"]["contact_numbers"] if key else [rec.get("phone") or rec.get("phone_number")]
            if any(digits(n) == digits(phone) for n in numbers):
                out.append(rec)
        return out

    def one(self, system: str, phone: str) -> dict[str, Any]:
        found = self.holds(system, phone)
        assert len(found) == 1, f"{system} holds {len(found)} records with {phone}"
        return found[0]


Check = Callable[[Batch], None]


@dataclass(frozen=True)
class Case:
    name: str
    system: str  # whose listing holds the bad record
    values: tuple[Any, ...]  # the raw values injected (most cases: one)
    expect: str  # synced | quarantined | skipped | ignored
    ref: str = ""  # text that a message about the record must contain
    phone: str | None = None  # the record's phone, when it has one: where it must (not) arrive
    warned: bool = False  # a warning must also name it (a value that could not be read) ...
    wref: str = ""  # ... with this text (default: ref)
    check: Check | None = None
    xfail: str | None = None
    job: str = "leads"
    listing: str = ""

    @property
    def batch(self) -> str:
        return f"{self.system}-{self.job}"

    @property
    def raw_listing(self) -> str:
        if self.listing:
            return self.listing
        if self.system == "appsapi":
            return f"list_entries:{LIST_OF_JOB[self.job]}"
        return {"callyzer": "leads", "callpage": "calls"}.get(self.system, self.job)


CASES: list[Case] = []


def case(name: str, system: str, value: Any, expect: str, **kw: Any) -> None:
    values = kw.pop("values", None) or (value,)
    CASES.append(Case(name, system, tuple(values), expect, **kw))


def name_in(system: str, phone: str, expected: str) -> Check:
    def check(b: Batch) -> None:
        rec = b.one(system, phone)
        got = rec["details"]["first_name"] + " " + rec["details"]["last_name"] if system == "callyzer" else rec["name"]
        assert got == expected, f"{system} holds {got!r}, expected {expected!r}"

    return check


def field_in(system: str, phone: str, get: Callable[[dict[str, Any]], Any], expected: Any) -> Check:
    def check(b: Batch) -> None:
        got = get(b.one(system, phone))
        assert got == expected, f"{system} holds {str(got)[:80]!r}, expected {str(expected)[:80]!r}"

    return check


NO_ID = "has no usable"
NOT_A_RECORD = "is not a record"

# Callyzer (/lead/get pages) ---------------------------------------------------------------------------------
case("cz-id-missing", "callyzer", cz(None, "Nora Noid", "91-9811100001"), "skipped", ref="Nora Noid",
     phone="9811100001")  # fmt: skip
case("cz-id-null", "callyzer", cz(None, "Nadia Nullid", "91-9811100002") | {"id": None}, "skipped",
     ref="Nadia Nullid", phone="9811100002")  # fmt: skip
case("cz-id-blank", "callyzer", cz("   ", "Bina Blankid", "91-9811100003"), "skipped", ref="Bina Blankid",
     phone="9811100003")  # fmt: skip
case("cz-id-number", "callyzer", cz(12345, "Ivan Intid", "91-9811100004"), "synced", phone="9811100004",
     check=name_in("callsavvy", "9811100004", "Ivan Intid Raw"))  # fmt: skip
case("cz-id-list", "callyzer", cz(["a"], "Lila Listid", "91-9811100005"), "skipped", ref="Lila Listid",
     phone="9811100005")  # fmt: skip
case("cz-id-object", "callyzer", cz({"x": 1}, "Omar Objid", "91-9811100006"), "skipped", ref="Omar Objid",
     phone="9811100006")  # fmt: skip
case("cz-id-bool", "callyzer", cz(True, "Bela Boolid", "91-9811100007"), "skipped", ref="Bela Boolid",
     phone="9811100007")  # fmt: skip
case("cz-a-string", "callyzer", "just a lead", "skipped", ref="'just a lead'")
case("cz-a-number", "callyzer", 4242, "skipped", ref="(4242)")
case("cz-null", "callyzer", None, "skipped", ref="(None)")
case("cz-a-list", "callyzer", [1, 2], "skipped", ref="([1, 2])")
case("cz-details-missing", "callyzer", {"id": "cz-nodetails", "lead_tags": []}, "ignored")
case("cz-details-string", "callyzer", {"id": "cz-strdetails", "details": "Asha"}, "ignored", warned=True,
     ref="details is a string")  # fmt: skip
case("cz-names-empty", "callyzer", cz("cz-noname", "", "91-9811100008", last_name=""), "quarantined",
     ref="+919811100008", phone="9811100008")  # fmt: skip
case("cz-names-whitespace", "callyzer", cz("cz-wsname", "  \t ", "91-9811100009", last_name=" \n "),
     "quarantined", ref="+919811100009", phone="9811100009")  # fmt: skip
case("cz-name-is-number", "callyzer", cz("cz-numname", 12345, "91-9811100010"), "synced", phone="9811100010",
     check=name_in("callsavvy", "9811100010", "12345 Raw"))  # fmt: skip
case("cz-email-is-list", "callyzer", cz("cz-emaillist", "Emil Emaillist", "91-9811100011", email=["a@x.com"]),
     "synced", warned=True, ref="details.email: expected a value, got a list", phone="9811100011",
     check=field_in("callsavvy", "9811100011", lambda r: r["email"], ""))  # fmt: skip
case("cz-numbers-is-string", "callyzer",
     {"id": "cz-numstr", "details": {"first_name": "Numa Numstr", "contact_numbers": "91-9811100012"}},
     "quarantined", warned=True, ref="Numa Numstr", wref="contact_numbers is a string, not a list")  # fmt: skip
case("cz-numbers-is-object", "callyzer",
     {"id": "cz-numobj", "details": {"first_name": "Numo Numobj", "contact_numbers": {"0": "91-9811100013"}}},
     "quarantined", warned=True, ref="Numo Numobj", wref="contact_numbers is an object, not a list")  # fmt: skip
case("cz-phone-too-short", "callyzer", cz("cz-shortphone", "Shor Tphone", "91-12"), "quarantined", warned=True,
     ref="91-12")  # fmt: skip
case("cz-phone-letters", "callyzer", cz("cz-letters", "Lett Ers", "CALL-ME-NOW"), "quarantined", warned=True,
     ref="CALL-ME-NOW")  # fmt: skip
case("cz-phone-odd-format", "callyzer", cz("cz-oddphone", "Odin Oddphone", "+91 (981) 110-0014"), "synced",
     phone="9811100014")  # fmt: skip
case("cz-phone-00-prefix", "callyzer", cz("cz-00phone", "Zara Zerozero", "0091 98111 00015"), "synced",
     phone="9811100015")  # fmt: skip
case("cz-phone-national", "callyzer", cz("cz-natphone", "Nita National", "9811100016"), "synced",
     phone="9811100016")  # fmt: skip
case("cz-notes-1mb", "callyzer", cz("cz-hugenotes", "Hugo Hugenotes", "91-9811100017", description="n" * MB),
     "synced", phone="9811100017",
     check=field_in("callsavvy", "9811100017", lambda r: len(r["notes"]), MB))  # fmt: skip
case("cz-name-10k", "callyzer", cz("cz-longname", "L" * 10_000, "91-9811100018"), "quarantined",
     ref="+919811100018", phone="9811100018")  # fmt: skip
case("cz-control-chars", "callyzer", cz("cz-ctrl", "Ash\x00a\x07\x1b[31m", "91-9811100019"), "synced",
     phone="9811100019", check=name_in("callsavvy", "9811100019", "Asha[31m Raw"))  # fmt: skip
case("cz-rtl-emoji", "callyzer", cz("cz-rtl", "مريم 🌟", "91-9811100020", last_name="\u200fחנה\u200e"), "synced",
     phone="9811100020", check=name_in("callsavvy", "9811100020", "مريم 🌟 \u200fחנה\u200e"))  # fmt: skip
case("cz-duplicate-id", "callyzer", None, "quarantined", ref="Dora Duptwo", phone="9811100022",
     values=[cz("cz-dup", "Dora Dupone", "91-9811100021"), cz("cz-dup", "Dora Duptwo", "91-9811100022")],
     check=lambda b: b.one("callsavvy", "9811100021") and None)  # fmt: skip
case("cz-status-unknown", "callyzer",
     cz("cz-weird", "Wendy Weird", "91-9811100023") | {"status": {"lead_status": "Weird"}}, "quarantined",
     ref="Wendy Weird", phone="9811100023")  # fmt: skip
case("cz-price-object", "callyzer", cz("cz-priceobj", "Pria Priceobj", "91-9811100024", price={"amount": 5}),
     "synced", warned=True, ref="details.price: expected a value, got an object", phone="9811100024")  # fmt: skip
case("cz-price-words", "callyzer", cz("cz-pricebad", "Prem Pricebad", "91-9811100025", price="lots"), "synced",
     warned=True, ref="'lots' is not a number", phone="9811100025")  # fmt: skip
case("cz-tags-string", "callyzer", cz("cz-tagstr", "Tara Tagstr", "91-9811100026") | {"lead_tags": "vip"},
     "synced", phone="9811100026")  # fmt: skip
case("cz-tags-mixed", "callyzer", cz("cz-tagmix", "Tina Tagmix", "91-9811100027") | {"lead_tags": ["a", 1, None, {}]},
     "synced", warned=True, ref="lead_tags: 1 item(s) are objects or lists", phone="9811100027")  # fmt: skip
case("cz-modified-garbage", "callyzer", cz("cz-when", "Wren When", "91-9811100028") | {"modified_at": "yesterday"},
     "synced", phone="9811100028")  # fmt: skip
case("cz-email-invalid", "callyzer", cz("cz-bademail", "Ella Bademail", "91-9811100029", email="not-an-email"),
     "quarantined", ref="Ella Bademail", phone="9811100029")  # fmt: skip
case("cz-bool-name", "callyzer", cz("cz-boolname", True, "91-9811100030", last_name="Boolean"), "synced",
     phone="9811100030", check=name_in("callsavvy", "9811100030", "true Boolean"))  # fmt: skip

# Callsavvy leads (getLeads) -------------------------------------------------------------------------------
case("cs-id-missing", "callsavvy", cs(None, "Nell Noid", "+919822200001"), "skipped", ref="Nell Noid",
     phone="9822200001")  # fmt: skip
case("cs-id-number", "callsavvy", cs(777, "Ines Intid", "+919822200002"), "synced", phone="9822200002",
     check=name_in("callyzer", "9822200002", "Ines Intid"))  # fmt: skip
case("cs-empty-object", "callsavvy", {}, "skipped", ref="({})")
case("cs-a-string", "callsavvy", "oops", "skipped", ref="'oops'")
case("cs-priority-both", "callsavvy", cs("cs-both", "Bob Bothprio", "+919822200003", priority="Cold"), "synced",
     phone="9822200003")  # fmt: skip
case("cs-priority-neither", "callsavvy",
     {k: v for k, v in cs("cs-neither", "Nia Neitherprio", "+919822200004").items() if k != "priorty"}, "synced",
     phone="9822200004")  # fmt: skip
case("cs-name-is-number", "callsavvy", cs("cs-namenum", 42, "+919822200005"), "quarantined", ref="42 <",
     phone="9822200005")  # fmt: skip
case("cs-name-is-list", "callsavvy", cs("cs-namelist", ["Ann", "Lee"], "+919822200006"), "quarantined",
     warned=True, ref="+919822200006", wref="name: expected a value, got a list", phone="9822200006")  # fmt: skip
case("cs-email-is-object", "callsavvy", cs("cs-emailobj", "Emma Emailobj", "+919822200007", email={"a": "b"}),
     "synced", warned=True, ref="email: expected a value, got an object", phone="9822200007")  # fmt: skip
case("cs-phone-words", "callsavvy", cs("cs-phonewords", "Paul Phonewords", "call me maybe"), "quarantined",
     warned=True, ref="call me maybe")  # fmt: skip
case("cs-worth-currency", "callsavvy", cs("cs-worth", "Wanda Worth", "+919822200008", worth="Rs. 5,000"),
     "synced", phone="9822200008",
     check=field_in("callyzer", "9822200008", lambda r: r["details"]["price"], "5000"))  # fmt: skip
case("cs-notes-nul", "callsavvy", cs("cs-nul", "Nuala Nul", "+919822200009", notes="a\x00b\x1bc"), "synced",
     phone="9822200009",
     check=field_in("callyzer", "9822200009", lambda r: r["details"]["description"], "abc"))  # fmt: skip
case("cs-duplicate-id", "callsavvy", None, "quarantined", ref="Dan Duptwo", phone="9822200011",
     values=[cs("cs-dup", "Dan Dupone", "+919822200010"), cs("cs-dup", "Dan Duptwo", "+919822200011")])  # fmt: skip
case("cs-phone-is-number", "callsavvy", cs("cs-phonenum", "Nina Phonenum", 919822200012), "synced",
     phone="9822200012")  # fmt: skip

# Callsavvy contacts (getContacts; the `contacts` job) --------------------------------------------------------
case("csc-id-missing", "callsavvy", csc(None, "Cora Noid", "+919833300001"), "skipped", ref="Cora Noid",
     phone="9833300001", job="contacts")  # fmt: skip
case("csc-a-number", "callsavvy", 7, "skipped", ref="(7)", job="contacts")
case("csc-name-empty", "callsavvy", csc("csc-noname", "", "+919833300002"), "synced", phone="9833300002",
     job="contacts")  # fmt: skip
case("csc-phone-invalid", "callsavvy", csc("csc-badphone", "Cleo Badphone", "123"), "quarantined", warned=True,
     ref="'123'", job="contacts")  # fmt: skip
case("csc-email-shouting", "callsavvy",
     csc("csc-upper", "Cyd Upper", "+919833300003", email="  MIXED@Case.COM "), "synced", phone="9833300003",
     job="contacts",
     check=field_in("appsapi", "9833300003", lambda r: r["email"], "mixed@case.com"))  # fmt: skip

# Apps API list entries (list 2, the `leads` job) ---------------------------------------------------------------
case("aa-id-missing", "appsapi", aa(None, "Abe Noid", "+919844400001"), "skipped", ref="Abe Noid",
     phone="9844400001")  # fmt: skip
case("aa-id-string", "appsapi", aa("abc", "Aria Strid", "+919844400002"), "synced", phone="9844400002")
case("aa-id-list", "appsapi", aa([1], "Alma Listid", "+919844400003"), "skipped", ref="Alma Listid",
     phone="9844400003")  # fmt: skip
case("aa-id-object", "appsapi", aa({"a": 1}, "Axel Objid", "+919844400004"), "skipped", ref="Axel Objid",
     phone="9844400004")  # fmt: skip
case("aa-a-string", "appsapi", "entry", "skipped", ref="'entry'")
case("aa-duplicate-id", "appsapi", None, "quarantined", ref="Dina Duptwo", phone="9844400006",
     values=[aa(5001, "Dina Dupone", "+919844400005"), aa(5001, "Dina Duptwo", "+919844400006")])  # fmt: skip
case("aa-email-is-number", "appsapi", aa(5002, "Enzo Emailnum", "+919844400007", email=5), "quarantined",
     ref="Enzo Emailnum", phone="9844400007")  # fmt: skip
case("aa-hint-is-object", "appsapi", aa(5003, "Hana Hintobj", "+919844400008", external_unique_id={"x": 1}),
     "synced", phone="9844400008")  # fmt: skip
case("aa-hint-unknown", "appsapi", aa(5004, "Hugh Hintunknown", "+919844400009", external_unique_id="deadbeef"),
     "synced", phone="9844400009")  # fmt: skip
case("aa-name-whitespace", "appsapi", aa(5005, "   ", "+919844400010"), "quarantined", ref="+919844400010",
     phone="9844400010")  # fmt: skip
case("aa-phone-formatted", "appsapi", aa(5006, "Fay Formatted", "+91 98444-00011"), "synced",
     phone="9844400011")  # fmt: skip
case("aa-updated-garbage", "appsapi", aa(5007, "Uma Updated", "+919844400012", updated_at="never"), "synced",
     phone="9844400012")  # fmt: skip

# CallPage calls history ------------------------------------------------------------------------------------------
case("cp-item-without-data", "callpage", {"id": 10900001}, "skipped", ref="call 10900001")
case("cp-data-is-string", "callpage", {"data": "call", "id": 10900002}, "skipped", ref="call 10900002")
case("cp-a-string", "callpage", "call", "skipped", ref="'call'")
case("cp-null", "callpage", None, "skipped", ref="(None)")
case("cp-to-too-short", "callpage", cp(10900003, "12"), "skipped", ref="call 10900003")
case("cp-to-is-number", "callpage", cp(10900004, 919855500001), "skipped", ref="call 10900004",
     phone="9855500001")  # fmt: skip
case("cp-created-garbage", "callpage", cp(10900005, "+919855500002", created_at="soon"), "skipped",
     ref="call 10900005", phone="9855500002")  # fmt: skip
case("cp-created-year-33658", "callpage", cp(10900006, "+919855500003", created_at=10**12), "skipped",
     ref="call 10900006", phone="9855500003")  # fmt: skip
case("cp-fields-is-string", "callpage", cp(10900007, "+919855500004", call_request_fields="x"), "quarantined",
     ref="+919855500004", phone="9855500004")  # fmt: skip
case("cp-duplicate-id", "callpage", None, "synced", warned=True, ref="listed twice", phone="9855500006",
     values=[cp(10900008, "+919855500005", "Cyra Dupone"), cp(10900008, "+919855500006", "Cyra Duptwo")],
     check=lambda b: b.one("callyzer", "9855500005") and None)  # fmt: skip
case("cp-flat-item", "callpage", {"id": 10900009, "to": "+919855500007", "created_at": ago(60),
     "call_request_fields": {"data": [{"slug": "name", "field_value": "Flo Flat"}]}}, "synced",
     phone="9855500007", check=name_in("callsavvy", "9855500007", "Flo Flat"))  # fmt: skip
case("cp-name-10k", "callpage", cp(10900010, "+919855500008", "N" * 10_000), "quarantined", ref="+919855500008",
     phone="9855500008")  # fmt: skip

# --- good records, seeded the ordinary way, in the same listings ------------------------------------------------
GOOD_PHONES = {
    "leads": {"callyzer": "9700000001", "callsavvy": "9700000002", "appsapi": "9700000003", "callpage": "9700000004"},
    "contacts": {"callsavvy": "9700000005", "appsapi": "9700000006"},
}


def seed_good(h: Harness, job: str) -> None:
    p = GOOD_PHONES[job]
    if job == "leads":
        h.seed(
            "callyzer",
            [{"details": {"first_name": "Gita", "last_name": "Good", "contact_numbers": [f"91-{p['callyzer']}"]}}],
        )
        h.seed("callsavvy", [{"name": "Hari Good", "phone": f"+91{p['callsavvy']}", "status": "Potential",
                              "priority": "Warm", "summary": "good"}])  # fmt: skip
        h.seed_raw("appsapi", {"contacts": {"2": [{"name": "Indu Good", "phone_number": f"+91{p['appsapi']}"}]}})
        h.seed_raw("callpage", {"calls": [{"to": f"+91{p['callpage']}", "name": "Jaya Good", "created_at": ago(600)}]})
        return
    groups = h.dump("callsavvy")["groups"]
    customers = next(g["group_id"] for g in groups if g["name"] == "Customers")
    h.seed_raw(
        "callsavvy", {"contacts": [{"name": "Kiran Good", "phone": f"+91{p['callsavvy']}", "group_id": customers}]}
    )
    h.seed_raw("appsapi", {"contacts": {"1": [{"name": "Lata Good", "phone_number": f"+91{p['appsapi']}"}]}})


def holdings(h: Harness, job: str) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for system in TARGETS[job]:
        dump = h.dump(system)
        if system == "appsapi":
            out[system] = list(dump["contacts"].get(LIST_OF_JOB[job], []))
        elif system == "callsavvy" and job == "contacts":
            out[system] = list(dump["contacts"])
        else:
            out[system] = list(dump["leads"])
    return out


def parse_report(stdout: str) -> dict[str, Any]:
    try:
        reports = json.loads(stdout)
    except json.JSONDecodeError:
        return {}
    return reports[0] if isinstance(reports, list) and reports else {}


def run_batch(cases: list[Case], directory: Path) -> Batch:
    """A fresh sandbox (the `harness4` set-up), the good records and every case of one listing, two syncs."""
    job = cases[0].job
    with Sandbox(speed=50, all_systems=True) as box:
        h = Harness(box, directory)
        seed_good(h, job)
        for c in cases:
            with box.admin(c.system) as client:
                answer = client.post("/_sim/raw", json={"listing": c.raw_listing, "records": list(c.values)})
                assert answer.status_code == 200, answer.text
        first = h.cli("sync", "--json", job)
        before = h.write_calls()
        second = h.cli("sync", "--json", job)
        after = h.write_calls()
        listed = h.cli("failures", "--json", "--job", job)
        held = holdings(h, job)
        store = h.state()
        try:
            integrity = store.integrity_ok()
        finally:
            store.close()
        try:
            assert_no_secret_leaked(h)
            leak = None
        except AssertionError as exc:
            leak = str(exc)
    report1, report2 = parse_report(first.stdout), parse_report(second.stdout)
    quiet = [f"{s}: {after[s] - before[s]} write(s) on the second run" for s in after if after[s] != before[s]]
    quiet += [f"second run planned a write: {a}" for a in report2.get("actions", []) if not a.get("invalid")]
    if not report2:
        quiet.append(f"second run printed no report: {second.stdout[-500:]}")
    batch = Batch(
        job=job,
        report1=report1,
        report2=report2,
        exits=(first.returncode, second.returncode),
        stderr=first.stderr + second.stderr + listed.stderr,
        failures=json.loads(listed.stdout) if listed.returncode == 0 else [],
        held=held,
        integrity=integrity,
        quiet_problems=quiet,
        good_missing=[],
        leak=leak,
    )
    for source, phone in GOOD_PHONES[job].items():
        for system in TARGETS[job]:
            if len(batch.holds(system, phone)) != 1:
                batch.good_missing.append(f"the good record of {source} ({phone}) is not in {system}")
    return batch


class Batches:
    """Runs each batch once, when a case of it is first asked for."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.done: dict[str, Batch] = {}
        self.passed: list[str] = []

    def get(self, name: str) -> Batch:
        if name not in self.done:
            cases = [c for c in CASES if c.batch == name]
            self.done[name] = run_batch(cases, self.factory.mktemp(name))
        return self.done[name]


@pytest.fixture(scope="module")
def batches(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batches]:
    yield Batches(tmp_path_factory)


def _messages(b: Batch) -> tuple[list[str], list[str]]:
    """The warnings of the first run, and every failure (report and `syncd failures`) as one line each."""
    failed = [json.dumps(f, ensure_ascii=False) for f in b.report1.get("failed", [])]
    failed += [json.dumps(f, ensure_ascii=False) for f in b.failures if f.get("resolved_at") is None]
    return list(b.report1.get("warnings", [])), failed


def _targets(c: Case) -> list[str]:
    return [s for s in TARGETS[c.job] if s != c.system]


def assert_case(c: Case, b: Batch) -> None:
    assert b.report1, f"the first run printed no report (exit {b.exits[0]}):\n{b.stderr[-3000:]}"
    assert b.exits[0] in (0, 1), f"first run exit {b.exits[0]}: {b.report1.get('errors')}\n{b.stderr[-2000:]}"
    assert b.exits[1] in (0, 1), f"second run exit {b.exits[1]}: {b.report2.get('errors')}"
    assert "Traceback" not in b.stderr, b.stderr[-3000:]
    assert not b.good_missing, b.good_missing
    warnings, failed = _messages(b)
    named = [w for w in warnings if w.startswith(c.system) and c.ref in w]
    wnamed = [w for w in warnings if w.startswith(c.system) and (c.wref or c.ref) in w]
    if c.expect == "synced":
        assert c.phone, "a synced case names its phone"
        for system in _targets(c):
            assert b.holds(system, c.phone), f"{c.name}: not synced to {system}"
    elif c.expect == "quarantined":
        hits = [f for f in failed if c.ref in f and '"system"' in f]
        assert hits, f"{c.name}: no failure names {c.ref!r}:\n" + "\n".join(failed)
        assert any(f.get("resolved_at") is None and c.ref in json.dumps(f, ensure_ascii=False) for f in b.failures), (
            f"{c.name}: `syncd failures` does not list it as open"
        )
    elif c.expect == "skipped":
        assert named, f"{c.name}: no warning names {c.system} and {c.ref!r}:\n" + "\n".join(warnings)
        if c.phone:
            for system in _targets(c):
                assert not b.holds(system, c.phone), f"{c.name}: a skipped record reached {system}"
    elif c.expect == "ignored":  # nothing to sync in it: nothing is invented from it, nothing fails for it
        assert not [a for a in b.report1.get("actions", []) if a["who"] == "(no name)"], b.report1["actions"]
    else:
        raise AssertionError(f"unknown expectation {c.expect}")
    if c.warned:
        assert wnamed, f"{c.name}: no warning names {c.system} and {c.wref or c.ref!r}:\n" + "\n".join(warnings)
    if c.check is not None:
        c.check(b)
    assert b.integrity, "PRAGMA integrity_check failed"
    assert not b.quiet_problems, b.quiet_problems
    assert b.leak is None, b.leak


def _param(c: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []
    return pytest.param(c, id=c.name, marks=marks)


@pytest.mark.parametrize("c", [_param(c) for c in CASES])
def test_malformed_record(c: Case, batches: Batches) -> None:
    assert_case(c, batches.get(c.batch))
    batches.passed.append(c.name)


def test_case_count(batches: Batches, capsys: pytest.CaptureFixture[str]) -> None:
    by_system: dict[str, int] = {}
    for c in CASES:
        by_system[c.batch] = by_system.get(c.batch, 0) + 1
    with capsys.disabled():
        print(f"\nmalformed provider records: {len(CASES)} ({', '.join(f'{k} {v}' for k, v in by_system.items())});"
              f" passed in this session: {len(batches.passed)}")  # fmt: skip
    assert len(CASES) >= 50
    assert len({c.name for c in CASES}) == len(CASES)


# --- bugs outside this suite's files, pinned -----------------------------------------------------------------
def _sync(h: Harness, job: str = "leads") -> dict[str, Any]:
    proc = h.cli("sync", "--json", job)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    return parse_report(proc.stdout)


def test_an_unreadable_value_is_not_taken_for_a_clear(harness4: Harness) -> None:
    h = harness4
    lead = cz("cz-keeper", "Kemal Keeper", "91-9811100099", email="kemal@keeper.in")
    with h.box.admin("callyzer") as client:
        client.post("/_sim/raw", json=[lead]).raise_for_status()
    _sync(h)
    [before] = [r for r in h.leads("callsavvy") if digits(r["phone"]) == "9811100099"]
    assert before["email"] == "kemal@keeper.in"
    lead["details"]["email"] = {"address": "kemal@keeper.in"}  # the provider now lists it garbled
    with h.box.admin("callyzer") as client:
        client.delete("/_sim/raw").raise_for_status()
        client.post("/_sim/raw", json=[lead]).raise_for_status()
    report = _sync(h)
    assert any("details.email" in w for w in report["warnings"]), report["warnings"]
    [after] = [r for r in h.leads("callsavvy") if digits(r["phone"]) == "9811100099"]
    assert after["email"] == "kemal@keeper.in", "an unreadable e-mail on Callyzer erased it in Callsavvy"


def test_a_record_without_the_mapped_id_is_reported(harness4: Harness) -> None:
    h = harness4
    text = (mappings_dir() / "callsavvy-leads.toml").read_text(encoding="utf-8")
    custom = h.dir / "callsavvy-by-ref.toml"
    custom.write_text(text.replace('id = "lead_id"', 'id = "crm_ref"'), encoding="utf-8")
    job = Sandbox.leads_job()
    job["systems"][1]["mapping"] = str(custom)
    config = h.box.config(h.dir, {"leads": job})
    h.config_path = h.dir / "config.toml"
    h.config_path.write_text(tomli_w.dumps(config), encoding="utf-8")
    h.config_path.chmod(0o600)
    h.seed("callsavvy", [{"name": "Rhea Noref", "phone": "+919822200099", "status": "Potential",
                          "priority": "Warm", "summary": "no crm_ref"}])  # fmt: skip
    report = _sync(h)
    assert any(w.startswith("callsavvy") and "crm_ref" in w for w in report["warnings"]), report["warnings"]


# --- the injection itself: verbatim, paged, counted, scoped, cleared ---------------------------------------------
def _client(sim: Any, headers: dict[str, str]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app()), base_url="http://sim", headers=headers)


def test_raw_values_are_served_verbatim_paged_and_counted() -> None:
    async def main() -> None:
        czs, css, aas, cps = CallyzerSim(), CallsavvySim(), AppsApiSim(), CallPageSim()
        for sim in (czs, css, aas, cps):
            sim.rate_limit_enabled = False
        junk: list[Any] = ["text", 7, None, [1], {"no": "id"}, True, 2.5, {"id": {"x": 1}}, "", {}]
        leads = [cz(f"raw-{i}", f"Raw Person{i}", f"91-98{i:08d}") for i in range(140)]
        async with _client(czs, {"Authorization": f"Bearer {CALLYZER_SANDBOX_TOKEN}"}) as c:
            assert (await c.post("/_sim/raw", json={"listing": "nope", "records": []})).status_code == 400
            assert (await c.post("/_sim/raw", json={"records": "not a list"})).status_code == 400
            assert (await c.post("/_sim/raw", json=leads[:70] + junk + leads[70:])).json()["pending"] == 150
            assert czs.raw_records == leads[:70] + junk + leads[70:]
            first = (await c.post("/api/v2.1/lead/get", json={"page_no": 1, "page_size": 100})).json()
            second = (await c.post("/api/v2.1/lead/get", json={"page_no": 2, "page_size": 100})).json()
            assert first["total_records"] == second["total_records"] == 150
            assert first["result"][70:80] == junk and len(second["result"]) == 50
            assert (await c.get("/_sim/raw")).json() == {"leads": leads[:70] + junk + leads[70:]}
            assert (await c.delete("/_sim/raw")).status_code == 200
            emptied = (await c.post("/api/v2.1/lead/get", json={})).json()
            assert emptied["result"] is None and emptied["total_records"] == 0
        async with _client(css, {"Public-Key": css.public_key, "Private-Key": css.private_key}) as c:
            await c.post("/_sim/raw", json=["lead-junk"])
            await c.post("/_sim/raw", json={"listing": "contacts", "records": ["contact-junk"]})
            assert (await c.post("/v1/getLeads", json={})).json()["data"] == ["lead-junk"]
            assert (await c.post("/v1/getContacts", json={})).json()["data"] == ["contact-junk"]
        async with _client(aas, {"Authorization": "Basic " + _basic(aas.subdomain, aas.token)}) as c:
            await c.post("/_sim/raw", json={"listing": "list_entries:2", "records": [{"id": "x"}, "y"]})
            listed = await c.get("/apps/api/v1/contact_lists/2/contacts", params={"per": 1, "page": 2})
            assert listed.json() == ["y"] and listed.headers["Total"] == "2"
            assert (await c.get("/apps/api/v1/contact_lists/1/contacts")).json() == []  # scoped to list 2
        async with _client(cps, {"Authorization": cps.key}) as c:
            await c.post("/_sim/raw", json=[None, {"id": 1}])
            body = (await c.get("/api/v3/external/calls/history", params={"date_from": 0, "date_to": 1})).json()
            assert body["data"] == [None, {"id": 1}] and body["meta"]["count"] == 2  # whatever the filters

    asyncio.run(main())


def test_callyzer_reads_to_the_end_past_skipped_items() -> None:
    """Skipped items still count against total_records: the listing is read to its end, and no further."""

    async def main() -> None:
        sim = CallyzerSim()
        sim.rate_limit_enabled = False
        sim.add_raw([cz(f"raw-{i}", f"Raw Person{i}", f"91-98{i:08d}") for i in range(95)] + [None] * 10 + ["x"] * 5)
        cfg = SystemConfig(kind="callyzer", base_url="http://sim/api/v2.1", rate={"interval": 0.001, "jitter": 0})
        transport = httpx.ASGITransport(app=sim.app())
        connector = Callyzer("callyzer", cfg, {"token": CALLYZER_SANDBOX_TOKEN}, transport=transport)
        try:
            leads = await connector.fetch()
        finally:
            await connector.aclose()
        assert len(leads) == 95 and connector.http.stats.calls == 2
        assert len(connector.fetch_warnings) == 15
        assert connector.fetch_warnings[0] == "/lead/get page 1: item 96 is not a record (None); skipped"
        assert connector.fetch_warnings[-1] == "/lead/get page 2: item 10 is not a record ('x'); skipped"

    asyncio.run(main())


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()
