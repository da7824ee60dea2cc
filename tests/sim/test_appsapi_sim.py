"""The Apps API simulator over real loopback HTTP: auth, paging, CRUD, validation, limits, faults, admin."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from syncd.sim.appsapi import (
    APPSAPI_BASE_PATH,
    APPSAPI_SANDBOX_SUBDOMAIN,
    APPSAPI_SANDBOX_TOKEN,
    FIRST_CAMPAIGN_CONTACT_ID,
    FIRST_ENTRY_ID,
    GLOBAL_LIST_ID,
    SANDBOX_CAMPAIGN_ID,
    AppsApiSim,
)
from syncd.sim.server import LoopbackServer

AUTH = (APPSAPI_SANDBOX_SUBDOMAIN, APPSAPI_SANDBOX_TOKEN)
CUSTOM_LIST_ID = 2  # the seeded custom list
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
CAMPAIGN = f"/outbound_dialer/campaigns/{SANDBOX_CAMPAIGN_ID}"
# the keys of the doc's campaign contact sample, plus phone_number and email
CAMPAIGN_CONTACT_KEYS = {
    "assigned_call_id",
    "assigned_participant_id",
    "campaign_id",
    "created_at",
    "id",
    "name",
    "outbound_number",
    "priority",
    "status",
    "unique_id",
    "updated_at",
    "phone_number",
    "email",
}


class Harness:
    """One simulator served on loopback, with an API client and an admin client."""

    def __init__(self, sim: AppsApiSim, server: LoopbackServer) -> None:
        self.sim = sim
        self.server = server
        root = server.url("appsapi")
        # A fresh connection per request: on a kept-alive loopback connection each answer waits
        # ~40 ms for a delayed ACK (the served sockets have Nagle on), which would slow the suite.
        fresh = {"Connection": "close"}
        self.api = httpx.Client(base_url=root + APPSAPI_BASE_PATH, auth=AUTH, timeout=5, headers=fresh)
        self.admin = httpx.Client(base_url=root, timeout=5, headers=fresh)
        self.bare = httpx.Client(base_url=root + APPSAPI_BASE_PATH, timeout=5, headers=fresh)

    def close(self) -> None:
        for client in (self.api, self.admin, self.bare):
            client.close()

    def fault(self, **fault: Any) -> None:
        assert self.admin.post("/_sim/faults", json=fault).status_code == 200

    def entry(self, list_id: int = CUSTOM_LIST_ID, **fields: Any) -> dict[str, Any]:
        resp = self.api.post(f"/contact_lists/{list_id}/contacts", json=fields)
        assert resp.status_code == 201, resp.text
        body: dict[str, Any] = resp.json()
        return body


@contextlib.contextmanager
def serve(sim: AppsApiSim) -> Iterator[Harness]:
    with LoopbackServer({"appsapi": sim.app()}) as server:
        harness = Harness(sim, server)
        try:
            yield harness
        finally:
            harness.close()


@pytest.fixture(scope="module")
def shared() -> Iterator[Harness]:
    with serve(AppsApiSim(speed=200)) as harness:
        yield harness


@pytest.fixture
def h(shared: Harness) -> Harness:
    """One server for the module, back to the sandbox defaults before each test through the admin
    API; the rate limit is off here and tested on its own servers."""
    admin = shared.admin
    assert admin.delete("/_sim/records").status_code == 200
    assert admin.delete("/_sim/faults").status_code == 200
    assert admin.post("/_sim/settings", json={"rate_limit": False}).json()["rate_limit"] is False
    assert admin.post("/_sim/stats/reset").status_code == 200
    return shared


@pytest.fixture
def limited() -> Iterator[Harness]:
    """The rate limit on, 1 request per 0.5 s (speed 2)."""
    with serve(AppsApiSim(speed=2)) as harness:
        yield harness


# --- auth and error shape ------------------------------------------------------------------


def test_valid_basic_auth_is_accepted(h: Harness) -> None:
    assert h.api.get("/contact_lists").status_code == 200


@pytest.mark.parametrize(
    "auth",
    [
        None,
        (APPSAPI_SANDBOX_SUBDOMAIN, "wrong-token"),
        ("other-subdomain", APPSAPI_SANDBOX_TOKEN),
        (APPSAPI_SANDBOX_TOKEN, APPSAPI_SANDBOX_SUBDOMAIN),
    ],
)
def test_bad_credentials_get_401_in_the_error_shape(h: Harness, auth: tuple[str, str] | None) -> None:
    resp = h.bare.get("/contact_lists", auth=auth) if auth else h.bare.get("/contact_lists")
    assert resp.status_code == 401
    assert set(resp.json()) == {"message"}
    assert "Unauthorized" in resp.json()["message"]
    assert resp.headers["WWW-Authenticate"].startswith("Basic")


def test_bearer_token_is_not_basic_auth(h: Harness) -> None:
    resp = h.bare.get("/contact_lists", headers={"Authorization": f"Bearer {APPSAPI_SANDBOX_TOKEN}"})
    assert resp.status_code == 401


def test_unknown_route_is_404_in_the_error_shape(h: Harness) -> None:
    resp = h.api.get("/no_such_resource")
    assert resp.status_code == 404
    assert resp.json() == {"message": "Resource not found - Please check your subdomain"}


# --- seeded state and paging -----------------------------------------------------------------


def test_seeded_global_and_custom_lists(h: Harness) -> None:
    resp = h.api.get("/contact_lists")
    lists = resp.json()
    assert [(lst["id"], lst["name"], lst["global"]) for lst in lists] == [
        (GLOBAL_LIST_ID, "Global", True),
        (CUSTOM_LIST_ID, "Sandbox custom list", False),
    ]
    assert resp.headers["Total"] == "2"
    assert resp.headers["Per-Page"] == "100"
    assert all(ISO_MS.match(lst["created_at"]) and ISO_MS.match(lst["updated_at"]) for lst in lists)


@pytest.mark.parametrize("per", ["1000", "1001", "0", "-1", "abc", "1.5", ""])
def test_per_out_of_bounds_is_400(h: Harness, per: str) -> None:
    resp = h.api.get("/contact_lists", params={"per": per})
    assert resp.status_code == 400
    assert "less than 1000" in resp.json()["message"]


@pytest.mark.parametrize("page", ["0", "-2", "x"])
def test_bad_page_is_400(h: Harness, page: str) -> None:
    resp = h.api.get(f"/contact_lists/{CUSTOM_LIST_ID}/contacts", params={"page": page})
    assert resp.status_code == 400
    assert "page" in resp.json()["message"]


def test_per_999_is_the_largest_page(h: Harness) -> None:
    resp = h.api.get("/contact_lists", params={"per": "999"})
    assert resp.status_code == 200
    assert resp.headers["Per-Page"] == "999"


def test_paging_walks_every_entry_once_and_ends_with_an_empty_page(h: Harness) -> None:
    h.sim.seed({"contacts": {str(CUSTOM_LIST_ID): [{"phone_number": f"+1415555{i:04d}"} for i in range(7)]}})
    seen: list[int] = []
    sizes = []
    for page in (1, 2, 3, 4):
        resp = h.api.get(f"/contact_lists/{CUSTOM_LIST_ID}/contacts", params={"page": page, "per": 3})
        assert resp.status_code == 200
        assert resp.headers["Total"] == "7"
        assert resp.headers["Per-Page"] == "3"
        sizes.append(len(resp.json()))
        seen += [row["id"] for row in resp.json()]
    assert sizes == [3, 3, 1, 0]
    assert seen == list(range(FIRST_ENTRY_ID, FIRST_ENTRY_ID + 7))


def test_default_page_size_is_100(h: Harness) -> None:
    h.sim.seed({"contacts": {str(CUSTOM_LIST_ID): [{"phone_number": f"+1415555{i:04d}"} for i in range(101)]}})
    resp = h.api.get(f"/contact_lists/{CUSTOM_LIST_ID}/contacts")
    assert len(resp.json()) == 100
    assert resp.headers["Total"] == "101"
    second = h.api.get(f"/contact_lists/{CUSTOM_LIST_ID}/contacts", params={"page": 2})
    assert [row["id"] for row in second.json()] == [FIRST_ENTRY_ID + 100]


# --- contact lists --------------------------------------------------------------------------


def test_contact_list_create_rename_delete(h: Harness) -> None:
    created = h.api.post("/contact_lists", json={"name": "VIP callers", "color": "ignored"})
    assert created.status_code == 201
    lst = created.json()
    assert lst["name"] == "VIP callers"
    assert lst["global"] is False
    assert "color" not in lst
    h.entry(lst["id"], phone_number="+14155550100")

    renamed = h.api.patch(f"/contact_lists/{lst['id']}", json={"name": "VIP"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "VIP"
    assert renamed.json()["updated_at"] > lst["updated_at"]
    assert renamed.json()["contacts_count"] == 1

    assert h.api.delete(f"/contact_lists/{lst['id']}").status_code == 204
    assert h.api.get(f"/contact_lists/{lst['id']}/contacts").status_code == 404
    assert lst["id"] not in [row["id"] for row in h.api.get("/contact_lists").json()]


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": 7}, {"name": "x" * 256}])
def test_contact_list_name_validation(h: Harness, body: dict[str, Any]) -> None:
    resp = h.api.post("/contact_lists", json=body)
    assert resp.status_code == 422
    assert "name" in resp.json()["errors"]


def test_contact_list_names_are_unique(h: Harness) -> None:
    resp = h.api.post("/contact_lists", json={"name": "sandbox CUSTOM list"})
    assert resp.status_code == 422
    assert "has already been taken" in resp.json()["message"]


def test_global_list_cannot_be_edited_or_deleted_but_takes_entries(h: Harness) -> None:
    assert h.api.patch(f"/contact_lists/{GLOBAL_LIST_ID}", json={"name": "Mine"}).status_code == 422
    assert h.api.delete(f"/contact_lists/{GLOBAL_LIST_ID}").status_code == 422
    entry = h.entry(GLOBAL_LIST_ID, phone_number="+14155550100")
    assert entry["contact_list_id"] == GLOBAL_LIST_ID
    assert h.api.get("/contact_lists").json()[0]["name"] == "Global"


def test_unknown_contact_list_is_404(h: Harness) -> None:
    assert h.api.patch("/contact_lists/999", json={"name": "x"}).status_code == 404
    assert h.api.delete("/contact_lists/999").status_code == 404
    resp = h.api.post("/contact_lists/999/contacts", json={"phone_number": "+14155550100"})
    assert resp.status_code == 404
    assert "999" in resp.json()["message"]


# --- list entries ---------------------------------------------------------------------------


def test_entry_create_read_update_delete(h: Harness) -> None:
    entry = h.entry(name="Ada", phone_number="+1 760-867-5309", email="ada@example.com", external_unique_id="L-1")
    assert entry["id"] == FIRST_ENTRY_ID
    assert entry["phone_number"] == "+1 760-867-5309"  # stored as sent
    assert entry["contact_list_id"] == CUSTOM_LIST_ID
    assert ISO_MS.match(entry["created_at"])
    assert entry["updated_at"] == entry["created_at"]
    assert h.api.get(f"/contact_lists/{CUSTOM_LIST_ID}/contacts").json() == [entry]

    url = f"/contact_lists/{CUSTOM_LIST_ID}/contacts/{entry['id']}"
    changed = h.api.patch(url, json={"name": "Ada L."})
    assert changed.status_code == 200
    assert changed.json()["name"] == "Ada L."
    assert changed.json()["email"] == "ada@example.com"  # untouched keys stay
    assert changed.json()["updated_at"] > entry["updated_at"]
    assert changed.json()["created_at"] == entry["created_at"]

    same = h.api.patch(url, json={"name": "Ada L."})
    assert same.json()["updated_at"] == changed.json()["updated_at"]

    cleared = h.api.patch(url, json={"email": None})
    assert cleared.json()["email"] is None

    assert h.api.delete(url).status_code == 204
    assert h.api.get(f"/contact_lists/{CUSTOM_LIST_ID}/contacts").json() == []
    assert h.api.patch(url, json={"name": "x"}).status_code == 404
    assert h.api.delete(url).status_code == 404


def test_entry_ignores_unknown_and_server_owned_keys(h: Harness) -> None:
    entry = h.entry(phone_number="+14155550100", id=5, created_at="2001-01-01T00:00:00.000Z", favourite=True)
    assert entry["id"] == FIRST_ENTRY_ID
    assert entry["created_at"] != "2001-01-01T00:00:00.000Z"
    assert "favourite" not in entry


def test_entry_is_only_reachable_through_its_own_list(h: Harness) -> None:
    entry = h.entry(phone_number="+14155550100")
    assert h.api.patch(f"/contact_lists/{GLOBAL_LIST_ID}/contacts/{entry['id']}", json={}).status_code == 404
    assert h.api.delete(f"/contact_lists/{GLOBAL_LIST_ID}/contacts/{entry['id']}").status_code == 404


def test_duplicate_external_unique_id_in_a_list_is_422(h: Harness) -> None:
    first = h.entry(phone_number="+14155550100", external_unique_id="CRM-42")
    resp = h.api.post(
        f"/contact_lists/{CUSTOM_LIST_ID}/contacts",
        json={"phone_number": "+14155550101", "external_unique_id": "CRM-42"},
    )
    assert resp.status_code == 422
    assert "CRM-42" in resp.json()["message"]
    assert resp.json()["errors"] == {"external_unique_id": ["'CRM-42' has already been taken"]}

    other = h.entry(phone_number="+14155550102", external_unique_id="CRM-43")
    patch = h.api.patch(
        f"/contact_lists/{CUSTOM_LIST_ID}/contacts/{other['id']}", json={"external_unique_id": "CRM-42"}
    )
    assert patch.status_code == 422
    assert "CRM-42" in patch.json()["message"]
    # re-sending an entry's own id is no clash, and another list is another namespace
    own = h.api.patch(f"/contact_lists/{CUSTOM_LIST_ID}/contacts/{first['id']}", json={"external_unique_id": "CRM-42"})
    assert own.status_code == 200
    h.entry(GLOBAL_LIST_ID, phone_number="+14155550100", external_unique_id="CRM-42")
    # entries without an external id never clash
    h.entry(phone_number="+14155550103")
    h.entry(phone_number="+14155550104", external_unique_id="")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "phone_number"),
        ({"name": "No way to reach me"}, "phone_number"),
        ({"phone_number": "12345"}, "phone_number"),
        ({"phone_number": "call me"}, "phone_number"),
        ({"phone_number": "+0 415 555 0100"}, "phone_number"),
        ({"phone_number": 14155550100}, "phone_number"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"phone_number": "+14155550100", "name": 5}, "name"),
        ({"phone_number": "+14155550100", "name": "x" * 256}, "name"),
        ({"phone_number": "+14155550100", "external_unique_id": 42}, "external_unique_id"),
    ],
)
def test_entry_validation_is_422_naming_the_field(h: Harness, body: dict[str, Any], field: str) -> None:
    resp = h.api.post(f"/contact_lists/{CUSTOM_LIST_ID}/contacts", json=body)
    assert resp.status_code == 422
    assert field in resp.json()["errors"]
    assert field in resp.json()["message"]
    assert h.api.get(f"/contact_lists/{CUSTOM_LIST_ID}/contacts").json() == []


@pytest.mark.parametrize(
    "body",
    [
        {"phone_number": "+1 (415) 555-0100"},
        {"phone_number": "14155550100"},
        {"email": "only@example.com"},
        {"phone_number": "+44.20.7946.0958", "name": "x" * 255},
    ],
)
def test_entry_accepts_valid_contact_details(h: Harness, body: dict[str, Any]) -> None:
    entry = h.entry(**body)
    assert all(entry[key] == value for key, value in body.items())


def test_patch_cannot_remove_the_last_way_to_reach_an_entry(h: Harness) -> None:
    entry = h.entry(phone_number="+14155550100")
    resp = h.api.patch(f"/contact_lists/{CUSTOM_LIST_ID}/contacts/{entry['id']}", json={"phone_number": None})
    assert resp.status_code == 422
    stored = h.api.get(f"/contact_lists/{CUSTOM_LIST_ID}/contacts").json()[0]
    assert stored["phone_number"] == "+14155550100"


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"'])
def test_body_must_be_a_json_object(h: Harness, raw: bytes) -> None:
    resp = h.api.post(
        f"/contact_lists/{CUSTOM_LIST_ID}/contacts", content=raw, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    assert set(resp.json()) == {"message"}


# --- campaign contacts ---------------------------------------------------------------------


def test_campaign_contact_lifecycle(h: Harness) -> None:
    body = {
        "name": "Grace",
        "email": "customer@somedomain.com",
        "phone_number": "+1 111-111-1111",
        "outbound_number": "+1 760-867-5309",
        "external_unique_id": "UID_123456",
        "unknown": "ignored",
    }
    created = h.api.post(CAMPAIGN + "/contacts", json=body)
    assert created.status_code == 201
    contact = created.json()
    assert set(contact) == CAMPAIGN_CONTACT_KEYS
    assert contact["id"] == FIRST_CAMPAIGN_CONTACT_ID
    assert contact["campaign_id"] == SANDBOX_CAMPAIGN_ID
    assert contact["unique_id"] == "UID_123456"
    assert contact["status"] == "Upcoming"
    assert contact["priority"] is None
    assert contact["assigned_call_id"] is None
    assert h.api.get(CAMPAIGN + "/contacts").json() == [contact]

    updated = h.api.patch(CAMPAIGN + "/contact", json={"contact_id": contact["id"], "name": "Grace H."})
    assert updated.status_code == 200
    assert updated.json()["name"] == "Grace H."
    assert updated.json()["phone_number"] == "+1 111-111-1111"
    assert updated.json()["updated_at"] > contact["updated_at"]

    by_string_id = h.api.patch(CAMPAIGN + "/contact", json={"contact_id": str(contact["id"]), "email": None})
    assert by_string_id.status_code == 200
    assert by_string_id.json()["email"] is None

    deleted = h.api.request(
        "DELETE",
        CAMPAIGN + "/contact",
        json={"contact_id": contact["id"], "phone_number": "+1 111-111-1111", "external_unique_id": "UID_123456"},
    )
    assert deleted.status_code == 204
    assert h.api.get(CAMPAIGN + "/contacts").json() == []
    gone = h.api.request("DELETE", CAMPAIGN + "/contact", json={"contact_id": contact["id"]})
    assert gone.status_code == 404


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"contact_id": None}, 400),
        ({"contact_id": "abc"}, 400),
        ({"contact_id": True}, 400),
        ({"contact_id": 99}, 404),
    ],
)
def test_campaign_contact_id_in_body(h: Harness, method: str, body: dict[str, Any], status: int) -> None:
    h.api.post(CAMPAIGN + "/contacts", json={"phone_number": "+14155550100"})
    resp = h.api.request(method, CAMPAIGN + "/contact", json=body)
    assert resp.status_code == status
    assert "contact" in resp.json()["message"]
    assert len(h.api.get(CAMPAIGN + "/contacts").json()) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No phone", "email": "a@example.com"}, "phone_number"),
        ({"phone_number": "555"}, "phone_number"),
        ({"phone_number": "+14155550100", "outbound_number": "nope"}, "outbound_number"),
        ({"phone_number": "+14155550100", "email": "bad"}, "email"),
    ],
)
def test_campaign_contact_validation(h: Harness, body: dict[str, Any], field: str) -> None:
    resp = h.api.post(CAMPAIGN + "/contacts", json=body)
    assert resp.status_code == 422
    assert field in resp.json()["errors"]


def test_campaign_contact_duplicate_external_unique_id(h: Harness) -> None:
    h.api.post(CAMPAIGN + "/contacts", json={"phone_number": "+14155550100", "external_unique_id": "E-1"})
    resp = h.api.post(CAMPAIGN + "/contacts", json={"phone_number": "+14155550101", "external_unique_id": "E-1"})
    assert resp.status_code == 422
    assert "E-1" in resp.json()["message"]
    second = h.api.post(CAMPAIGN + "/contacts", json={"phone_number": "+14155550101", "external_unique_id": "E-2"})
    patch = h.api.patch(CAMPAIGN + "/contact", json={"contact_id": second.json()["id"], "external_unique_id": "E-1"})
    assert patch.status_code == 422


def test_unknown_campaign_is_404(h: Harness) -> None:
    assert h.api.get("/outbound_dialer/campaigns/77/contacts").status_code == 404
    resp = h.api.post("/outbound_dialer/campaigns/77/contacts", json={"phone_number": "+14155550100"})
    assert resp.status_code == 404
    assert h.api.patch("/outbound_dialer/campaigns/77/contact", json={"contact_id": 1}).status_code == 404


def test_campaign_contacts_are_paged(h: Harness) -> None:
    h.sim.seed({"campaign_contacts": {"1": [{"phone_number": f"+1415555{i:04d}"} for i in range(5)]}})
    resp = h.api.get(CAMPAIGN + "/contacts", params={"per": 2, "page": 3})
    assert resp.headers["Total"] == "5"
    assert [c["id"] for c in resp.json()] == [FIRST_CAMPAIGN_CONTACT_ID + 4]


def test_users_list_has_the_doc_shape(h: Harness) -> None:
    resp = h.api.get("/users")
    assert resp.status_code == 200
    assert resp.headers["Total"] == "1"
    user = resp.json()[0]
    assert {"id", "email", "first_name", "last_name", "agent_number", "teams", "roles"} <= set(user)


# --- rate limit -----------------------------------------------------------------------------


def test_rate_limit_429_with_retry_after_then_success(limited: Harness) -> None:
    assert limited.api.get("/contact_lists").status_code == 200
    blocked = limited.api.get("/contact_lists")
    assert blocked.status_code == 429
    assert set(blocked.json()) == {"message"}
    wait = float(blocked.headers["Retry-After"])
    assert 0 < wait <= 0.5
    # the window is per customer, not per endpoint
    assert limited.api.get("/users").status_code == 429
    time.sleep(wait + 0.02)
    assert limited.api.get("/users").status_code == 200
    assert limited.sim.stats.rate_limited == 2


def test_rejected_credentials_do_not_use_the_window(limited: Harness) -> None:
    assert limited.bare.get("/contact_lists").status_code == 401
    assert limited.api.get("/contact_lists").status_code == 200


def test_rate_limit_option_and_whole_second_retry_after_at_real_speed() -> None:
    with serve(AppsApiSim(speed=1, rate_per_second=2)) as harness:
        assert harness.api.get("/contact_lists").status_code == 200
        assert harness.api.get("/contact_lists").status_code == 200
        blocked = harness.api.get("/contact_lists")
        assert blocked.status_code == 429
        assert blocked.headers["Retry-After"] == "1"


# --- faults ---------------------------------------------------------------------------------


def test_status_fault_uses_the_error_shape_and_is_scoped_to_its_endpoint(h: Harness) -> None:
    h.fault(kind="status", status=503, count=2, endpoint="GET /contact_lists")
    assert h.api.get("/users").status_code == 200
    for _ in range(2):
        resp = h.api.get("/contact_lists")
        assert resp.status_code == 503
        assert resp.json() == {"message": "Simulated fault"}
    assert h.api.get("/contact_lists").status_code == 200


def test_status_fault_on_a_write_changes_nothing(h: Harness) -> None:
    h.fault(kind="status", status=500, endpoint="POST *")
    resp = h.api.post(f"/contact_lists/{CUSTOM_LIST_ID}/contacts", json={"phone_number": "+14155550100"})
    assert resp.status_code == 500
    assert h.api.get(f"/contact_lists/{CUSTOM_LIST_ID}/contacts").json() == []
    assert h.sim.stats.writes == 0


def test_rate_limit_fault(h: Harness) -> None:
    h.fault(kind="rate_limit", retry_after=3)
    resp = h.api.get("/contact_lists")
    assert resp.status_code == 429
    assert float(resp.headers["Retry-After"]) == 3.0
    assert h.sim.stats.rate_limited == 1
    assert h.api.get("/contact_lists").status_code == 200


def test_malformed_fault(h: Harness) -> None:
    h.fault(kind="malformed")
    resp = h.api.get("/contact_lists")
    assert resp.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        resp.json()


def test_reset_fault_drops_the_connection(h: Harness) -> None:
    h.fault(kind="reset")
    with pytest.raises(httpx.TransportError):
        h.api.get("/contact_lists")
    assert h.api.get("/contact_lists").status_code == 200


def test_timeout_fault() -> None:
    # its own server: the delayed answer is still pending when the test ends
    with serve(AppsApiSim(speed=200)) as harness:
        harness.fault(kind="timeout", delay=0.5)
        with pytest.raises(httpx.ReadTimeout):
            harness.api.get("/contact_lists", timeout=0.1)


# --- counters -------------------------------------------------------------------------------


def test_counters_count_requests_writes_and_statuses(h: Harness) -> None:
    entries = f"/contact_lists/{CUSTOM_LIST_ID}/contacts"
    entry = h.entry(phone_number="+14155550100")
    h.api.patch(f"{entries}/{entry['id']}", json={"name": "N"})
    h.api.post(entries, json={})  # 422: a request, not a write
    h.api.get(entries)
    h.api.delete(f"{entries}/{entry['id']}")
    h.bare.get(entries)  # 401
    stats = h.admin.get("/_sim/stats").json()
    assert stats["requests"] == 6
    assert stats["writes"] == 3
    assert stats["writes_by_endpoint"] == {
        "POST /contact_lists/{contact_list_id}/contacts": 1,
        "PATCH /contact_lists/{contact_list_id}/contacts/{id}": 1,
        "DELETE /contact_lists/{contact_list_id}/contacts/{id}": 1,
    }
    assert stats["by_endpoint"]["POST /contact_lists/{contact_list_id}/contacts"] == 2
    assert stats["by_endpoint"]["GET /contact_lists/{contact_list_id}/contacts"] == 2
    assert stats["by_status"] == {"201": 1, "200": 2, "422": 1, "204": 1, "401": 1}


def test_campaign_writes_are_counted(h: Harness) -> None:
    contact = h.api.post(CAMPAIGN + "/contacts", json={"phone_number": "+14155550100"}).json()
    h.api.patch(CAMPAIGN + "/contact", json={"contact_id": contact["id"], "name": "x"})
    h.api.request("DELETE", CAMPAIGN + "/contact", json={"contact_id": contact["id"]})
    assert h.sim.stats.writes_by_endpoint == {
        "POST /outbound_dialer/campaigns/{campaign_id}/contacts": 1,
        "PATCH /outbound_dialer/campaigns/{campaign_id}/contact": 1,
        "DELETE /outbound_dialer/campaigns/{campaign_id}/contact": 1,
    }


# --- admin API ------------------------------------------------------------------------------


def test_admin_seed_dump_edit_delete(h: Harness) -> None:
    seeded = h.admin.post(
        "/_sim/records",
        json={
            "contact_lists": [{"name": "Imported", "contacts": [{"name": "Kim", "phone_number": "+14155550100"}]}],
            "contacts": {"1": [{"email": "g@example.com", "external_unique_id": "G-1"}]},
            "campaigns": [{"id": 9, "name": "Spring", "contacts": [{"phone_number": "+14155550101"}]}],
            "campaign_contacts": {"1": [{"phone_number": "+14155550102", "status": "Finished"}]},
        },
    )
    assert seeded.status_code == 200
    out = seeded.json()
    new_list = out["contact_lists"][0]
    assert new_list["id"] == 3
    kim = out["contacts"]["3"][0]
    assert kim["id"] == FIRST_ENTRY_ID
    assert out["contacts"]["1"][0]["external_unique_id"] == "G-1"
    assert out["campaign_contacts"]["9"][0]["campaign_id"] == 9
    assert out["campaign_contacts"]["1"][0]["status"] == "Finished"
    assert h.sim.stats.requests == 0  # seeding is not API traffic

    assert h.api.get("/contact_lists/3/contacts").json() == [kim]
    assert len(h.api.get("/outbound_dialer/campaigns/9/contacts").json()) == 1
    dump = h.admin.get("/_sim/records").json()
    assert [lst["name"] for lst in dump["contact_lists"]] == ["Global", "Sandbox custom list", "Imported"]
    assert dump["contacts"]["3"] == [kim]

    edited = h.admin.patch(f"/_sim/records/contact_lists/3/contacts/{kim['id']}", json={"name": "Kim Lee"})
    assert edited.status_code == 200
    assert edited.json()["updated_at"] > kim["updated_at"]
    assert h.api.get("/contact_lists/3/contacts").json()[0]["name"] == "Kim Lee"
    contact_id = out["campaign_contacts"]["1"][0]["id"]
    h.admin.patch(f"/_sim/records/campaigns/1/contacts/{contact_id}", json={"status": "Dialing"})
    assert h.api.get(CAMPAIGN + "/contacts").json()[0]["status"] == "Dialing"
    assert h.sim.stats.writes == 0

    assert h.admin.delete(f"/_sim/records/contact_lists/3/contacts/{kim['id']}").status_code == 200
    assert h.api.get("/contact_lists/3/contacts").json() == []
    assert h.admin.delete("/_sim/records/contact_lists/3").status_code == 200
    assert h.api.get("/contact_lists/3/contacts").status_code == 404


@pytest.mark.parametrize(
    "record_id", ["contact_lists/99", "contact_lists/2/contacts/5", "campaigns/1/contacts/5", "bogus/1"]
)
def test_admin_unknown_record_is_404(h: Harness, record_id: str) -> None:
    assert h.admin.patch(f"/_sim/records/{record_id}", json={"name": "x"}).status_code == 404
    assert h.admin.delete(f"/_sim/records/{record_id}").status_code == 404


@pytest.mark.parametrize(
    "data",
    [
        {"contacts": {"2": [{"phone_number": "bad"}]}},
        {
            "contacts": {
                "2": [
                    {"phone_number": "+14155550100", "external_unique_id": "A"},
                    {"email": "b@x.io", "external_unique_id": "A"},
                ]
            }
        },
        {"contacts": {"42": [{"phone_number": "+14155550100"}]}},
        {"contact_lists": [{"name": "Second global", "global": True}]},
        {"lists": []},
    ],
)
def test_admin_seed_is_validated(h: Harness, data: dict[str, Any]) -> None:
    resp = h.admin.post("/_sim/records", json=data)
    assert resp.status_code == 400
    assert resp.json()["error"]


def test_admin_edit_is_validated(h: Harness) -> None:
    entry = h.entry(phone_number="+14155550100")
    resp = h.admin.patch(f"/_sim/records/contact_lists/2/contacts/{entry['id']}", json={"phone_number": "x"})
    assert resp.status_code == 400


def test_admin_reset_returns_to_the_sandbox_defaults(h: Harness) -> None:
    h.entry(phone_number="+14155550100")
    h.api.post("/contact_lists", json={"name": "Temp"})
    assert h.admin.delete("/_sim/records").status_code == 200
    assert [lst["id"] for lst in h.api.get("/contact_lists").json()] == [GLOBAL_LIST_ID, CUSTOM_LIST_ID]
    assert h.api.get(f"/contact_lists/{CUSTOM_LIST_ID}/contacts").json() == []
    assert h.entry(phone_number="+14155550100")["id"] == FIRST_ENTRY_ID


def test_options_are_checked() -> None:
    with pytest.raises(ValueError):
        AppsApiSim(rate_per_second=0)
    with pytest.raises(ValueError):
        AppsApiSim(default_per=1000)
    with pytest.raises(TypeError):
        AppsApiSim(unknown_option=1)  # type: ignore[call-arg]
