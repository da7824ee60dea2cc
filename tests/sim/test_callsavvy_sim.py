"""The Callsavvy simulator over real loopback HTTP: auth, envelope, leads, contacts, the two rate-limit
windows, faults, counters and the admin API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from syncd.sim.callsavvy import (
    CALLSAVVY_SANDBOX_PRIVATE_KEY,
    CALLSAVVY_SANDBOX_PUBLIC_KEY,
    MSG_AUTH,
    MSG_EMAIL,
    MSG_EMAIL_OR_PHONE,
    MSG_METHOD,
    MSG_NOT_JSON,
    MSG_PHONE,
    MSG_PRIORITY,
    MSG_STATUS,
    CallsavvySim,
)

KEYS = {"Public-Key": CALLSAVVY_SANDBOX_PUBLIC_KEY, "Private-Key": CALLSAVVY_SANDBOX_PRIVATE_KEY}
LEAD: dict[str, Any] = {
    "name": "John Doe",
    "email": "john@doe.com",
    "phone": "+1888777666",
    "status": "Interested",
    "priority": "Hot",
    "summary": "Indicated Interest in CRM Tool",
}
LISTED_KEYS = [
    "lead_id", "name", "email", "phone", "status", "organization", "location", "summary", "worth", "priorty",
    "notes", "source",
]  # fmt: skip


class Clients:
    def __init__(self, root: str) -> None:
        self.api = httpx.Client(base_url=root + "/v1", headers=KEYS, timeout=5)
        self.bare = httpx.Client(base_url=root + "/v1", timeout=5)
        self.admin = httpx.Client(base_url=root, timeout=5)

    def close(self) -> None:
        for client in (self.api, self.bare, self.admin):
            client.close()


class Harness:
    def __init__(self, sim: CallsavvySim, clients: Clients) -> None:
        self.sim = sim
        self.api, self.bare, self.admin = clients.api, clients.bare, clients.admin

    def call(self, resource: str, body: Any = None) -> httpx.Response:
        return self.api.post(f"/{resource}", json=body) if body is not None else self.api.post(f"/{resource}")

    def data(self, resource: str, body: Any = None) -> Any:
        response = self.call(resource, body)
        assert response.status_code == 200, response.text
        envelope = response.json()
        assert envelope["resource"] == resource and envelope["status"] == "success"
        assert set(envelope) == {"resource", "status", "data"}
        return envelope["data"]

    def create_lead(self, **fields: Any) -> str:
        lead_id: str = self.data("createLead", {**LEAD, **fields})[0]["lead_id"]
        return lead_id

    def groups(self) -> dict[str, str]:
        return {g["name"]: g["group_id"] for g in self.data("getContactGroups")}

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.admin.get("/_sim/stats").json()
        return stats


def error(response: httpx.Response, status: int, resource: str) -> str:
    """Asserts an error envelope; answers its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"resource", "status", "message"}
    assert (body["resource"], body["status"]) == (resource, "error")
    message: str = body["message"]
    return message


@pytest.fixture(scope="module")
def clients(sim_server: Any) -> Iterator[Clients]:
    made = Clients(sim_server.url("callsavvy"))
    yield made
    made.close()


@pytest.fixture
def new(sim_server: Any, clients: Clients) -> Callable[..., Harness]:
    """Mounts a new simulator built with the given options (rate limiting off unless asked for)."""

    def make(*, rate_limit: bool = False, **options: Any) -> Harness:
        sim = CallsavvySim(**{"speed": 200, **options})
        sim.rate_limit_enabled = rate_limit
        sim_server.mount("callsavvy", sim.app())
        return Harness(sim, clients)

    return make


@pytest.fixture
def cs(new: Callable[..., Harness]) -> Harness:
    return new()


# --- auth, envelope, request format ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Public-Key": CALLSAVVY_SANDBOX_PUBLIC_KEY},
        {"Private-Key": CALLSAVVY_SANDBOX_PRIVATE_KEY},
        {"Public-Key": CALLSAVVY_SANDBOX_PUBLIC_KEY, "Private-Key": "wrong"},
        {"Public-Key": CALLSAVVY_SANDBOX_PRIVATE_KEY, "Private-Key": CALLSAVVY_SANDBOX_PUBLIC_KEY},
    ],
)
def test_bad_keys_are_401(cs: Harness, headers: dict[str, str]) -> None:
    response = cs.bare.post("/getSummary", json={}, headers=headers)
    assert error(response, 401, "getSummary") == MSG_AUTH


def test_keys_option(new: Callable[..., Harness]) -> None:
    cs = new(public_key="pub", private_key="priv")
    assert cs.call("getSummary").status_code == 401
    assert cs.bare.post("/getSummary", headers={"Public-Key": "pub", "Private-Key": "priv"}).status_code == 200


def test_get_summary(cs: Harness) -> None:
    data = cs.data("getSummary")
    assert set(data) == {
        "assigned_number", "account_status", "business_id", "credit_balance", "account_currency", "package",
        "validity",
    }  # fmt: skip


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_only_post_is_accepted(cs: Harness, method: str) -> None:
    response = cs.api.request(method, "/getLeads")
    assert error(response, 405, "getLeads") == MSG_METHOD


def test_unknown_resource_is_404(cs: Harness) -> None:
    response = cs.api.post("/getTickets", json={})
    assert error(response, 404, "getTickets") == "Unknown resource 'getTickets'"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"name": "x"}', "text/plain"),
        (b'{"name": "x"}', None),
        (b"name=x", "application/x-www-form-urlencoded"),
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"text"', "application/json"),
    ],
)
def test_body_must_be_a_json_object(cs: Harness, content: bytes, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = cs.api.post("/createContact", content=content, headers=headers)
    assert error(response, 400, "createContact") == MSG_NOT_JSON
    assert cs.sim.contacts == {}


def test_empty_body_only_for_resources_without_required_parameters(cs: Harness) -> None:
    for resource in ("getLeads", "getContacts", "getContactGroups", "getSummary"):
        assert cs.call(resource).status_code == 200
    for resource in ("createLead", "updateLead", "deleteLead", "createContact", "createBulkContact", "deleteContact"):
        assert error(cs.call(resource), 400, resource) == MSG_NOT_JSON
    assert cs.api.post("/getSummary", json={}).status_code == 200
    assert (
        cs.api.post(
            "/getSummary", content=b"{}", headers={"Content-Type": "application/json; charset=utf-8"}
        ).status_code
        == 200
    )


# --- leads ------------------------------------------------------------------------------------------------------
LEAD_RULES: list[tuple[str, dict[str, Any], str]] = [
    ("name missing", {"name": None}, "The name field is required"),
    ("name blank", {"name": "  "}, "The name field is required"),
    ("no email or phone", {"email": "", "phone": None}, MSG_EMAIL_OR_PHONE),
    ("bad email", {"email": "john@doe"}, MSG_EMAIL),
    ("email without at", {"email": "john.doe.com"}, MSG_EMAIL),
    ("phone letters", {"phone": "call me"}, MSG_PHONE),
    ("phone short", {"phone": "+1234"}, MSG_PHONE),
    ("phone long", {"phone": "+1" + "2" * 20}, MSG_PHONE),
    ("phone double plus", {"phone": "++18887776666"}, MSG_PHONE),
    ("status missing", {"status": ""}, "The status field is required"),
    ("status unknown", {"status": "Won"}, MSG_STATUS),
    ("status case", {"status": "interested"}, MSG_STATUS),
    ("priority missing", {"priority": None}, "The priority field is required"),
    ("priority unknown", {"priority": "Urgent"}, MSG_PRIORITY),
    ("summary missing", {"summary": ""}, "The summary field is required"),
    ("non-string field", {"worth": 3000}, "The worth field must be a string"),
    ("first rule wins", {"name": "", "status": "Won"}, "The name field is required"),
]


@pytest.mark.parametrize(("patch", "message"), [c[1:] for c in LEAD_RULES], ids=[c[0] for c in LEAD_RULES])
def test_create_lead_rule(cs: Harness, patch: dict[str, Any], message: str) -> None:
    body = {**LEAD, **patch}
    assert error(cs.call("createLead", body), 400, "createLead") == message
    assert cs.sim.leads == {}


@pytest.mark.parametrize(("patch", "message"), [c[1:] for c in LEAD_RULES], ids=[c[0] for c in LEAD_RULES])
def test_update_lead_rule(cs: Harness, patch: dict[str, Any], message: str) -> None:
    lead_id = cs.create_lead()
    assert error(cs.call("updateLead", {**LEAD, "lead_id": lead_id, **patch}), 400, "updateLead") == message
    assert cs.data("getLeads")[0]["name"] == "John Doe"


@pytest.mark.parametrize(
    "patch",
    [
        {"email": ""},
        {"phone": ""},
        {"phone": "+1 (888) 777-666"},
        {"phone": "0044 20 7946 0958"},
        *({"status": status} for status in ("Potential", "Qualified", "Converted", "Not Interested", "Bad Fit")),
        *({"priority": priority} for priority in ("Warm", "Cold", "Dead")),
    ],
)
def test_create_lead_accepts(cs: Harness, patch: dict[str, Any]) -> None:
    cs.create_lead(**patch)
    assert len(cs.sim.leads) == 1


def test_created_lead_is_listed_like_the_doc_sample(cs: Harness) -> None:
    lead_id = cs.create_lead(organization="Callsavvy LLC", location="Doha, Qatar", worth="$3,000", source="Facebook")
    [listed] = cs.data("getLeads")
    assert list(listed) == LISTED_KEYS  # `priorty` as in the sample, and no `priority`
    assert listed == {
        **{k: v for k, v in LEAD.items() if k != "priority"},
        "lead_id": lead_id,
        "priorty": "Hot",
        "organization": "Callsavvy LLC",
        "location": "Doha, Qatar",
        "worth": "$3,000",
        "source": "Facebook",
        "notes": "",
    }


def test_create_lead_answers_a_list_with_the_id(cs: Harness) -> None:
    data = cs.data("createLead", LEAD)
    assert isinstance(data, list) and list(data[0]) == ["lead_id"]
    assert [lead["lead_id"] for lead in cs.data("getLeads")] == [data[0]["lead_id"]]


def test_duplicate_leads_are_accepted(cs: Harness) -> None:
    first = cs.create_lead()
    second = cs.create_lead()
    assert first != second
    assert [lead["phone"] for lead in cs.data("getLeads")] == [LEAD["phone"], LEAD["phone"]]


def test_get_leads_is_not_paged(cs: Harness) -> None:
    cs.sim.seed({"leads": [{**LEAD, "phone": f"+1555000{i:04d}"} for i in range(250)]})
    assert len(cs.data("getLeads")) == 250


def test_get_leads_status_filter(cs: Harness) -> None:
    interested = cs.create_lead()
    cs.create_lead(status="Converted")
    assert [lead["lead_id"] for lead in cs.data("getLeads", {"status": "Interested"})] == [interested]
    assert cs.data("getLeads", {"status": "Bad Fit"}) == []
    assert error(cs.call("getLeads", {"status": "Hot"}), 400, "getLeads") == MSG_STATUS


def test_update_lead_is_a_full_replace(cs: Harness) -> None:
    lead_id = cs.create_lead(organization="Acme", notes="call after 5", worth="$10")
    data = cs.data("updateLead", {**LEAD, "lead_id": lead_id, "status": "Converted", "worth": "$20"})
    assert data == {"lead_id": lead_id}
    [lead] = cs.data("getLeads")
    assert (lead["status"], lead["worth"]) == ("Converted", "$20")
    assert (lead["organization"], lead["notes"]) == ("", "")  # not sent: wiped


def test_update_lead_needs_an_existing_id(cs: Harness) -> None:
    assert error(cs.call("updateLead", LEAD), 400, "updateLead") == "The lead_id field is required"
    assert error(cs.call("updateLead", {**LEAD, "lead_id": "nope"}), 404, "updateLead") == "Lead not found"


def test_delete_lead(cs: Harness) -> None:
    keep, gone = cs.create_lead(), cs.create_lead(name="Jane")
    assert cs.data("deleteLead", {"lead_id": gone}) == {"lead_id": gone}
    assert [lead["lead_id"] for lead in cs.data("getLeads")] == [keep]
    assert error(cs.call("deleteLead", {"lead_id": gone}), 404, "deleteLead") == "Lead not found"
    assert error(cs.call("deleteLead", {"lead_id": ""}), 400, "deleteLead") == "The lead_id field is required"


# --- contacts ------------------------------------------------------------------------------------------------
def test_default_groups(cs: Harness) -> None:
    groups = cs.data("getContactGroups")
    assert [g["name"] for g in groups] == ["Customers", "Prospects"]
    assert all(set(g) == {"name", "group_id"} and g["group_id"] for g in groups)


def test_groups_option(new: Callable[..., Harness]) -> None:
    cs = new(groups=["VIP"])
    assert list(cs.groups()) == ["VIP"]


def test_create_contact_and_list_by_group(cs: Harness) -> None:
    groups = cs.groups()
    data = cs.data("createContact", {"name": "John Doe", "email": "john@doe.com", "group_id": groups["Customers"]})
    assert list(data) == ["contact_id", "name"] and data["name"] == "John Doe"
    other = cs.data("createContact", {"name": "Jane", "phone": "+1888777666"})
    listed = cs.data("getContacts")
    assert listed == [
        {"contact_id": data["contact_id"], "name": "John Doe", "email": "john@doe.com", "phone": "",
         "group_id": groups["Customers"]},
        {"contact_id": other["contact_id"], "name": "Jane", "email": "", "phone": "+1888777666", "group_id": ""},
    ]  # fmt: skip
    assert [c["contact_id"] for c in cs.data("getContacts", {"group_id": groups["Customers"]})] == [data["contact_id"]]
    assert cs.data("getContacts", {"group_id": groups["Prospects"]}) == []


def test_unknown_group_is_404(cs: Harness) -> None:
    assert error(cs.call("getContacts", {"group_id": "nope"}), 404, "getContacts") == "Contact group not found"
    response = cs.call("createContact", {"name": "Jane", "email": "j@x.io", "group_id": "nope"})
    assert error(response, 404, "createContact") == "Contact group not found"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"email": "j@x.io"}, "The name field is required"),
        ({"name": "Jane"}, MSG_EMAIL_OR_PHONE),
        ({"name": "Jane", "email": "jane"}, MSG_EMAIL),
        ({"name": "Jane", "phone": "12"}, MSG_PHONE),
        ({"name": ["Jane"], "phone": "+1888777666"}, "The name field must be a string"),
    ],
)
def test_create_contact_rules(cs: Harness, body: dict[str, Any], message: str) -> None:
    assert error(cs.call("createContact", body), 400, "createContact") == message
    assert cs.sim.contacts == {}


def test_create_bulk_contact(cs: Harness) -> None:
    group = cs.groups()["Prospects"]
    contacts = [
        {"name": "A One", "email": "a@x.io", "group_id": group},
        {"name": "B Two", "phone": "+44 20 7946 0958"},
    ]
    created = cs.data("createBulkContact", {"contacts": contacts})
    assert [c["name"] for c in created] == ["A One", "B Two"]
    assert all(set(c) == {"contact_id", "name", "email", "phone", "group_id"} for c in created)
    assert created == cs.data("getContacts")
    assert cs.stats()["writes_by_endpoint"] == {"/createBulkContact": 2}


@pytest.mark.parametrize(
    ("contacts", "message"),
    [
        ([{"name": "A", "email": "a@x.io"}, {"name": "B"}], "contacts[1]: Either email or phone is required"),
        ([{"name": "A", "email": "a@x"}], "contacts[0]: Invalid email address"),
        ([{"name": "A", "email": "a@x.io", "group_id": "nope"}], "contacts[0]: Contact group not found"),
        ([{"name": "A", "email": "a@x.io"}, "B"], "contacts[1]: Request body must be JSON"),
        ([], "contacts must be a list of 1 to 100 contacts"),
        ([{"name": "A", "email": "a@x.io"}] * 101, "contacts must be a list of 1 to 100 contacts"),
        (None, "contacts must be a list of 1 to 100 contacts"),
    ],
)
def test_create_bulk_contact_is_all_or_nothing(cs: Harness, contacts: Any, message: str) -> None:
    body = {} if contacts is None else {"contacts": contacts}
    response = cs.api.post("/createBulkContact", json=body)
    assert error(response, 400, "createBulkContact") == message
    assert cs.sim.contacts == {}
    assert cs.stats()["writes"] == 0


def test_delete_contact(cs: Harness) -> None:
    contact_id = cs.data("createContact", {"name": "Jane", "email": "j@x.io"})["contact_id"]
    assert cs.data("deleteContact", {"contact_id": contact_id}) == {"contact_id": contact_id}
    assert cs.data("getContacts") == []
    assert error(cs.call("deleteContact", {"contact_id": contact_id}), 404, "deleteContact") == "Contact not found"


def test_there_is_no_contact_update(cs: Harness) -> None:
    assert error(cs.call("updateContact", {"contact_id": "x", "name": "y"}), 404, "updateContact")


# --- rate limits ---------------------------------------------------------------------------------------------
def test_per_endpoint_and_global_windows(new: Callable[..., Harness]) -> None:
    cs = new(rate_limit=True, speed=20)  # one minute becomes 3 s: far longer than the ~150 calls below
    for _ in range(50):
        assert cs.call("getLeads").status_code == 200
    limited = cs.call("getLeads")
    assert error(limited, 429, "getLeads") == "Too Many Requests"
    assert 0 < float(limited.headers["Retry-After"]) <= 3
    # another endpoint still passes: the 51st getLeads hit its own window, and did not count globally
    for _ in range(50):
        assert cs.call("getContacts").status_code == 200
    # 100 accepted across the API: the global window is full for every endpoint
    assert error(cs.call("getSummary"), 429, "getSummary") == "Too Many Requests"
    assert cs.call("getContactGroups").status_code == 429
    stats = cs.stats()
    assert (stats["requests"], stats["rate_limited"]) == (103, 3)
    assert stats["by_status"] == {"200": 100, "429": 3}


def test_a_global_rejection_does_not_count_in_the_endpoint_window(new: Callable[..., Harness]) -> None:
    cs = new(rate_limit=True, speed=20)
    for _ in range(50):
        assert cs.call("getContacts").status_code == 200
    for _ in range(49):
        assert cs.call("getLeads").status_code == 200
    assert cs.call("getSummary").status_code == 200  # the 100th
    for _ in range(50):
        assert cs.call("getSummary").status_code == 429  # global: must not fill getSummary's window
    summary_window = cs.sim.limiters_for(None, "/getSummary")[0]  # type: ignore[arg-type]
    assert summary_window.peek(time.monotonic()) is None  # 1 hit, not 51: it still has room


def test_retry_after_header_option(new: Callable[..., Harness]) -> None:
    cs = new(rate_limit=True, speed=20, retry_after_header=False)
    for _ in range(50):
        cs.call("getSummary")
    limited = cs.call("getSummary")
    assert limited.status_code == 429
    assert "Retry-After" not in limited.headers


def test_writes_are_rate_limited_too(new: Callable[..., Harness]) -> None:
    cs = new(rate_limit=True, speed=20)
    for i in range(50):
        cs.create_lead(name=f"Lead {i}")
    assert error(cs.call("createLead", LEAD), 429, "createLead") == "Too Many Requests"
    assert len(cs.sim.leads) == 50 and cs.stats()["writes"] == 50


# --- faults ----------------------------------------------------------------------------------------------------
def _fault(cs: Harness, **fault: Any) -> None:
    assert cs.admin.post("/_sim/faults", json=fault).status_code == 200


def test_fault_status(cs: Harness) -> None:
    _fault(cs, kind="status", endpoint="/createLead", message="Internal Server Error")
    response = cs.call("createLead", LEAD)
    assert error(response, 500, "createLead") == "Internal Server Error"
    assert cs.sim.leads == {}
    cs.create_lead()
    assert len(cs.sim.leads) == 1


def test_fault_rate_limit(cs: Harness) -> None:
    _fault(cs, kind="rate_limit", retry_after=5)
    response = cs.call("getLeads")
    assert error(response, 429, "getLeads") == "Too Many Requests"
    assert response.headers["Retry-After"] == "5.000"
    assert cs.stats()["rate_limited"] == 1


def test_fault_malformed(cs: Harness) -> None:
    _fault(cs, kind="malformed", endpoint="/getContacts")
    response = cs.call("getContacts")
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_fault_reset(cs: Harness) -> None:
    _fault(cs, kind="reset")
    with pytest.raises(httpx.TransportError):
        cs.call("createLead", LEAD)
    assert cs.sim.leads == {}


def test_fault_timeout(cs: Harness) -> None:
    _fault(cs, kind="timeout", delay=0.5)
    with pytest.raises(httpx.ReadTimeout):
        cs.api.post("/getLeads", json={}, timeout=0.1)
    assert cs.call("getLeads").status_code == 200


def test_fault_count_and_glob(cs: Harness) -> None:
    _fault(cs, kind="status", status=503, endpoint="/get*", count=2)
    assert cs.call("createLead", LEAD).status_code == 200
    assert [cs.call(r).status_code for r in ("getLeads", "getSummary", "getLeads")] == [503, 503, 200]


# --- counters ----------------------------------------------------------------------------------------------------
def test_counters(cs: Harness) -> None:
    lead_id = cs.create_lead()
    cs.data("updateLead", {**LEAD, "lead_id": lead_id})
    cs.call("createLead", {"name": "x"})  # 400: not a write
    cs.data("createBulkContact", {"contacts": [{"name": "A", "email": "a@x.io"}, {"name": "B", "email": "b@x.io"}]})
    cs.data("deleteLead", {"lead_id": lead_id})
    cs.data("getLeads")
    cs.bare.post("/getLeads")  # 401
    stats = cs.stats()
    assert stats["requests"] == 7
    assert stats["writes"] == 5
    assert stats["writes_by_endpoint"] == {
        "/createLead": 1,
        "/updateLead": 1,
        "/createBulkContact": 2,
        "/deleteLead": 1,
    }
    assert stats["by_endpoint"]["/getLeads"] == 2
    assert stats["by_status"] == {"200": 5, "400": 1, "401": 1}


# --- admin ---------------------------------------------------------------------------------------------------------
def test_seed_dump_edit_delete(cs: Harness) -> None:
    response = cs.admin.post(
        "/_sim/records",
        json={
            "groups": [{"name": "Partners", "group_id": "grp-partners"}],
            "leads": [
                {**LEAD, "priority": "Warm"},
                {"lead_id": "lead-fixed", "name": "Old Spelling", "phone": "+15550001", "status": "Qualified",
                 "priorty": "Cold", "summary": "s"},
            ],
            "contacts": [{"name": "Pat", "email": "pat@x.io", "group_id": "grp-partners"}],
        },
    )  # fmt: skip
    assert response.status_code == 200, response.text
    seeded = response.json()
    assert [lead["priorty"] for lead in seeded["leads"]] == ["Warm", "Cold"]
    assert seeded["leads"][1]["lead_id"] == "lead-fixed"
    assert seeded["groups"] == [{"name": "Partners", "group_id": "grp-partners"}]
    contact_id = seeded["contacts"][0]["contact_id"]
    assert cs.stats()["requests"] == 0

    dump = cs.admin.get("/_sim/records").json()
    assert dump["leads"] == cs.data("getLeads") == seeded["leads"]
    assert dump["contacts"] == cs.data("getContacts") == seeded["contacts"]
    assert [g["name"] for g in dump["groups"]] == ["Customers", "Prospects", "Partners"]

    edited = cs.admin.patch("/_sim/records/lead-fixed", json={"priorty": "Dead", "notes": "edited in the UI"})
    assert edited.status_code == 200
    assert (edited.json()["priorty"], edited.json()["notes"]) == ("Dead", "edited in the UI")
    assert cs.data("getLeads")[1] == edited.json()
    edited = cs.admin.patch(f"/_sim/records/{contact_id}", json={"phone": "+15550002"})
    assert cs.data("getContacts")[0]["phone"] == "+15550002" == edited.json()["phone"]

    assert cs.admin.delete("/_sim/records/lead-fixed").status_code == 200
    assert cs.admin.delete(f"/_sim/records/{contact_id}").status_code == 200
    assert [lead["name"] for lead in cs.data("getLeads")] == ["John Doe"]
    assert cs.data("getContacts") == []
    assert cs.admin.delete("/_sim/records/lead-fixed").status_code == 404
    assert cs.admin.patch("/_sim/records/nope", json={"name": "x"}).status_code == 404


@pytest.mark.parametrize(
    "seed",
    [
        {"leads": [{**LEAD, "status": "Won"}]},
        {"leads": [{**LEAD, "colour": "red"}]},
        {"contacts": [{"name": "Pat", "group_id": "missing"}]},
        {"leads": [LEAD], "contacts": [{"name": "Pat", "contact_id": "c1"}, {"name": "Sam", "contact_id": "c1"}]},
        {"widgets": []},
    ],
)
def test_bad_seed_is_400_and_stores_nothing(cs: Harness, seed: dict[str, Any]) -> None:
    assert cs.admin.post("/_sim/records", json=seed).status_code == 400
    assert cs.data("getLeads") == [] and cs.data("getContacts") == []


@pytest.mark.parametrize("patch", [{"priority": "Urgent"}, {"lead_id": "other"}, {"worth": 5}])
def test_bad_lead_edit_is_400(cs: Harness, patch: dict[str, Any]) -> None:
    lead_id = cs.create_lead()
    assert cs.admin.patch(f"/_sim/records/{lead_id}", json=patch).status_code == 400
    assert cs.data("getLeads")[0]["priorty"] == "Hot"


def test_reset_records_restores_the_default_groups(cs: Harness) -> None:
    cs.create_lead()
    cs.sim.seed({"groups": [{"name": "Extra"}]})
    assert cs.admin.delete("/_sim/records").status_code == 200
    assert cs.data("getLeads") == []
    assert list(cs.groups()) == ["Customers", "Prospects"]
