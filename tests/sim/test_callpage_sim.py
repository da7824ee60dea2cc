"""The CallPage simulator over real loopback HTTP: envelope, auth, history paging and filters, limits,
faults, counters and the admin API."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from syncd.sim.callpage import CALLPAGE_BASE_PATH, CALLPAGE_SANDBOX_KEY, CallPageSim
from syncd.sim.server import LoopbackServer

HISTORY = "/v3/external/calls/history"
T0 = 1_700_000_000  # 2023-11-14 22:13:20 UTC
ENVELOPE_KEYS = {"hasError", "errorCode", "message", "data", "meta"}
# the keys of one history item's "data" in the doc's sample
DOC_ITEM_KEYS = {
    "id",
    "to",
    "utm",
    "call",
    "tags",
    "notes",
    "referer",
    "request",
    "feedback",
    "extension",
    "created_at",
    "department",
    "leadable_id",
    "traceroutes",
    "cancelled_at",
    "human_status",
    "scheduled_at",
    "to_formatted",
    "leadable_type",
    "scheduled_success",
    "call_request_fields",
    "leadable_description",
}
NESTED = ("utm", "call", "tags", "notes", "referer", "request", "feedback", "extension", "department")
FIELD_KEYS = {"id", "hint", "slug", "label", "value", "field_value", "placeholder"}
CREATED_AT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


class Harness:
    def __init__(self, sim: CallPageSim, server: LoopbackServer) -> None:
        self.sim = sim
        root = server.url("callpage")
        # A fresh connection per request: on a kept-alive loopback connection each answer waits
        # ~40 ms for a delayed ACK (the served sockets have Nagle on), which would slow the suite.
        fresh = {"Connection": "close"}
        self.api = httpx.Client(
            base_url=root + CALLPAGE_BASE_PATH, headers={**fresh, "Authorization": CALLPAGE_SANDBOX_KEY}, timeout=5
        )
        self.bare = httpx.Client(base_url=root + CALLPAGE_BASE_PATH, headers=fresh, timeout=5)
        self.admin = httpx.Client(base_url=root, headers=fresh, timeout=5)

    def close(self) -> None:
        for client in (self.api, self.bare, self.admin):
            client.close()

    def fault(self, **fault: Any) -> None:
        assert self.admin.post("/_sim/faults", json=fault).status_code == 200

    def history(self, **params: Any) -> dict[str, Any]:
        resp = self.api.get(HISTORY, params=params)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        assert body["hasError"] is False
        return body


@contextlib.contextmanager
def serve(sim: CallPageSim) -> Iterator[Harness]:
    with LoopbackServer({"callpage": sim.app()}) as server:
        harness = Harness(sim, server)
        try:
            yield harness
        finally:
            harness.close()


@pytest.fixture(scope="module")
def shared() -> Iterator[Harness]:
    with serve(CallPageSim(speed=200)) as harness:
        yield harness


@pytest.fixture
def h(shared: Harness) -> Harness:
    """One server for the module, emptied before each test through the admin API; the rate limit is
    off here and tested on its own servers."""
    admin = shared.admin
    assert admin.delete("/_sim/records").status_code == 200
    assert admin.delete("/_sim/faults").status_code == 200
    assert admin.post("/_sim/settings", json={"rate_limit": False}).json()["rate_limit"] is False
    assert admin.post("/_sim/stats/reset").status_code == 200
    return shared


@pytest.fixture
def limited() -> Iterator[Harness]:
    """The rate limit on, 1 request per 0.5 s (speed 2)."""
    with serve(CallPageSim(speed=2)) as harness:
        yield harness


def seed_series(h: Harness, n: int, step: int = 60) -> list[int]:
    calls = [{"to": f"+4812345{i:04d}", "name": f"Visitor {i}", "created_at": T0 + i * step} for i in range(n)]
    out = h.admin.post("/_sim/records", json={"calls": calls})
    assert out.status_code == 200
    return [item["id"] for item in out.json()["calls"]]


def assert_error(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status
    body = resp.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["hasError"] is True
    assert body["errorCode"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["data"] is None


# --- auth and envelope ----------------------------------------------------------------------


def test_success_envelope(h: Harness) -> None:
    resp = h.api.get(HISTORY)
    assert resp.status_code == 200
    assert resp.json() == {
        "hasError": False,
        "errorCode": 0,
        "message": "",
        "data": [],
        "meta": {"offset": None, "limit": None, "count": 0},
    }


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "wrong"},
        {"Authorization": f"Bearer {CALLPAGE_SANDBOX_KEY}"},
        {"X-Api-Key": CALLPAGE_SANDBOX_KEY},
    ],
)
def test_bad_key_is_401_envelope(h: Harness, headers: dict[str, str]) -> None:
    assert_error(h.bare.get(HISTORY, headers=headers), 401, "unauthorized")


def test_bare_key_is_accepted(h: Harness) -> None:
    assert h.bare.get(HISTORY, headers={"Authorization": CALLPAGE_SANDBOX_KEY}).status_code == 200


def test_greeting(h: Harness) -> None:
    body = h.api.get("/v1/external").json()
    assert body["hasError"] is False
    assert body["data"] == []
    assert "CallPage API" in body["message"]


def test_unknown_route_is_404_envelope(h: Harness) -> None:
    assert_error(h.api.get("/v3/external/nothing"), 404, "not_found")


def test_pretty_output(h: Harness) -> None:
    h.sim.add_callback("+48123456789", "Ada", None, created_at=T0)
    pretty = h.api.get(HISTORY, params={"pretty_output": 1})
    plain = h.api.get(HISTORY)
    assert "\n    " in pretty.text
    assert "\n" not in plain.text
    assert pretty.json() == plain.json()


# --- item shape -----------------------------------------------------------------------------


def test_history_item_has_the_doc_shape(h: Harness) -> None:
    item = h.sim.add_callback("+48123456789", "Mulder", "agent.mulder@callpage.io", created_at=T0)
    body = h.history()
    assert body["data"] == [item]
    assert set(item) == {"data", "id"}
    data = item["data"]
    assert set(data) == DOC_ITEM_KEYS
    assert data["id"] == item["id"]
    for key in (*NESTED, "traceroutes", "call_request_fields"):
        assert set(data[key]) == {"data"}, key
    assert data["to"] == "+48123456789"
    assert data["to_formatted"].startswith("+48 ")
    assert data["to_formatted"].replace(" ", "") == "+48123456789"
    assert data["created_at"] == "2023-11-14 22:13:20"
    assert CREATED_AT.match(data["created_at"])
    assert data["human_status"] == "new"
    assert data["leadable_type"] == "Widget"
    fields = data["call_request_fields"]["data"]
    assert all(set(f) == FIELD_KEYS for f in fields)
    assert {f["slug"]: (f["value"], f["field_value"]) for f in fields} == {
        "email": ("agent.mulder@callpage.io", "agent.mulder@callpage.io"),
        "name": ("Mulder", "Mulder"),
    }
    assert {f["slug"]: f["label"] for f in fields} == {"email": "E-mail", "name": "Your name"}


def test_fields_the_visitor_left_empty_are_absent(h: Harness) -> None:
    h.sim.add_callback("+48123456789", None, None, created_at=T0)
    h.sim.add_callback("+48123456788", "Only name", None, created_at=T0 + 1)
    first, second = h.history()["data"]
    assert first["data"]["call_request_fields"] == {"data": []}
    assert [f["slug"] for f in second["data"]["call_request_fields"]["data"]] == ["name"]


def test_seeded_tags_notes_status_and_extra_fields(h: Harness) -> None:
    out = h.sim.seed(
        {
            "calls": [
                {
                    "to": "+14155550100",
                    "email": "x@example.com",
                    "created_at": "2024-03-01T10:00:00+02:00",
                    "tags": ["hot", {"id": 7, "name": "vip"}],
                    "notes": ["Call back after 5pm"],
                    "human_status": "manager-failed",
                    "fields": {"company": "ACME"},
                    "scheduled_at": T0,
                }
            ]
        }
    )
    data = out["calls"][0]["data"]
    assert data["created_at"] == "2024-03-01 08:00:00"  # UTC
    assert data["human_status"] == "manager-failed"
    assert data["scheduled_at"] == "2023-11-14 22:13:20"
    tags = data["tags"]["data"]
    assert [t["name"] for t in tags] == ["hot", "vip"]
    assert tags[1]["id"] == 7
    assert isinstance(tags[0]["id"], int)
    note = data["notes"]["data"][0]
    assert note["content"] == "Call back after 5pm"
    assert CREATED_AT.match(note["created_at"])
    slugs = {f["slug"]: f["value"] for f in data["call_request_fields"]["data"]}
    assert slugs == {"email": "x@example.com", "company": "ACME"}
    assert h.history()["data"][0] == out["calls"][0]


# --- history: dates, limits, paging -----------------------------------------------------------


def test_date_range_is_inclusive(h: Harness) -> None:
    ids = seed_series(h, 5, step=10)  # T0, T0+10 ... T0+40
    body = h.history(date_from=T0 + 10, date_to=T0 + 30)
    assert [item["id"] for item in body["data"]] == ids[1:4]
    assert body["meta"]["count"] == 3
    assert [i["id"] for i in h.history(date_from=T0 + 35)["data"]] == ids[4:]
    assert [i["id"] for i in h.history(date_to=T0)["data"]] == ids[:1]
    assert h.history(date_from=T0 + 41)["data"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "yesterday"},
        {"date_from": "1700000000.5"},
        {"date_to": "-1"},
        {"date_from": T0 + 1, "date_to": T0},
        {"limit": 0},
        {"limit": "ten"},
        {"offset": -1},
        {"offset": "1.0"},
        {"display_hidden": "yes"},
        {"statuses[]": "lost"},
        {"phone_number": "48123456789"},
        {"phone_number": "+48123456789", "tel": "+48123456789"},
        {"call_id[]": "abc"},
        {"tag_ids[]": "x"},
        {"user_ids[]": "me"},
    ],
)
def test_bad_parameters_are_422_envelope(h: Harness, params: dict[str, Any]) -> None:
    assert_error(h.api.get(HISTORY, params=params), 422, "validation_error")


def test_limit_is_capped_and_count_is_the_total(h: Harness) -> None:
    seed_series(h, 120)
    capped = h.history(limit=100)
    assert len(capped["data"]) == 50
    assert capped["meta"] == {"offset": None, "limit": "100", "count": 120}
    assert len(h.history()["data"]) == 50  # the default (100) is capped too
    small = h.history(limit=10, offset=5)
    assert len(small["data"]) == 10
    assert small["meta"] == {"offset": "5", "limit": "10", "count": 120}


def test_offset_paging_by_meta_count_reads_everything_once_in_order(h: Harness) -> None:
    ids = seed_series(h, 120)
    seen: list[int] = []
    offset, requests = 0, 0
    while True:
        body = h.history(limit=100, offset=offset)
        requests += 1
        seen += [item["id"] for item in body["data"]]
        offset += len(body["data"])
        if offset >= body["meta"]["count"] or not body["data"]:
            break
    assert seen == ids
    assert requests == 3
    assert h.history(offset=120)["data"] == []


def test_sorted_by_created_at_then_id(h: Harness) -> None:
    late = h.sim.add_callback("+48123456701", "late", None, created_at=T0 + 100)
    early_b = h.sim.seed({"calls": [{"id": 900, "to": "+48123456702", "created_at": T0}]})["calls"][0]
    early_a = h.sim.seed({"calls": [{"id": 800, "to": "+48123456703", "created_at": T0}]})["calls"][0]
    assert [item["id"] for item in h.history()["data"]] == [early_a["id"], early_b["id"], late["id"]]


def test_custom_max_limit() -> None:
    with serve(CallPageSim(speed=200, max_limit=3)) as harness:
        harness.sim.rate_limit_enabled = False
        for i in range(5):
            harness.sim.add_callback(f"+4812345600{i}", None, None, created_at=T0 + i)
        body = harness.history(limit=4)
        assert len(body["data"]) == 3
        assert body["meta"]["count"] == 5


# --- history: other filters -------------------------------------------------------------------


def test_filters_phone_status_ids_tags_widgets_hidden(h: Harness) -> None:
    calls = h.sim.seed(
        {
            "calls": [
                {"to": "+48111111111", "created_at": T0, "human_status": "completed", "tags": ["a"]},
                {"to": "+48222222222", "created_at": T0 + 1, "widget_id": 5, "tags": ["b"]},
                {"to": "+48111111111", "created_at": T0 + 2, "hidden": True},
            ]
        }
    )["calls"]
    ids = [c["id"] for c in calls]
    tag_b = calls[1]["data"]["tags"]["data"][0]["id"]

    def found(**params: Any) -> list[int]:
        return [item["id"] for item in h.history(**params)["data"]]

    assert found(phone_number="+48111111111") == [ids[0], ids[2]]
    assert found(tel="+48222222222") == [ids[1]]
    assert found(**{"statuses[]": ["completed", "in-progress"]}) == [ids[0]]
    assert found(**{"call_id[]": [ids[1], ids[2]]}) == ids[1:]
    assert found(call_id=ids[0]) == [ids[0]]
    assert found(**{"tag_ids[]": tag_b}) == [ids[1]]
    assert found(**{"widget_ids[]": 5}) == [ids[1]]
    assert found(widget_id=5) == [ids[1]]
    assert found(display_hidden=0) == ids[:2]
    assert found(display_hidden=1) == ids
    assert found(**{"user_ids[]": 2}) == ids  # accepted, not a filter in the simulator
    assert h.history(phone_number="+48111111111")["meta"]["count"] == 2


# --- single call ------------------------------------------------------------------------------


def test_single_call_and_404(h: Harness) -> None:
    item = h.sim.add_callback("+48123456789", "Ada", "ada@example.com", created_at=T0)
    resp = h.api.get(f"/v3/external/calls/{item['id']}")
    assert resp.json() == {"hasError": False, "errorCode": 0, "message": "", "data": item, "meta": []}
    assert_error(h.api.get("/v3/external/calls/1"), 404, "not_found")


# --- rate limit -------------------------------------------------------------------------------


def test_rate_limit_429_with_retry_after_then_success(limited: Harness) -> None:
    assert limited.api.get(HISTORY).status_code == 200
    blocked = limited.api.get(HISTORY)
    assert_error(blocked, 429, "too_many_requests")
    wait = float(blocked.headers["Retry-After"])
    assert 0 < wait <= 0.5
    time.sleep(wait + 0.02)
    assert limited.api.get(HISTORY).status_code == 200
    assert limited.sim.stats.rate_limited == 1


def test_rate_limit_option() -> None:
    with serve(CallPageSim(speed=2, rate_per_second=3)) as harness:
        statuses = [harness.api.get(HISTORY).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]


# --- faults -----------------------------------------------------------------------------------


def test_status_fault_is_an_error_envelope(h: Harness) -> None:
    h.fault(kind="status", status=503, endpoint="GET /v3/external/calls/history")
    assert h.api.get("/v1/external").status_code == 200  # other endpoints unaffected
    assert_error(h.api.get(HISTORY), 503, "service_unavailable")
    assert h.api.get(HISTORY).status_code == 200


def test_rate_limit_fault(h: Harness) -> None:
    h.fault(kind="rate_limit", retry_after=2)
    resp = h.api.get(HISTORY)
    assert_error(resp, 429, "too_many_requests")
    assert float(resp.headers["Retry-After"]) == 2.0


def test_malformed_fault(h: Harness) -> None:
    h.fault(kind="malformed")
    resp = h.api.get(HISTORY)
    assert resp.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        resp.json()


def test_reset_fault(h: Harness) -> None:
    h.fault(kind="reset", endpoint="*history")
    with pytest.raises(httpx.TransportError):
        h.api.get(HISTORY)
    assert h.api.get(HISTORY).status_code == 200


def test_timeout_fault() -> None:
    # its own server: the delayed answer is still pending when the test ends
    with serve(CallPageSim(speed=200)) as harness:
        harness.fault(kind="timeout", delay=0.5)
        with pytest.raises(httpx.ReadTimeout):
            harness.api.get(HISTORY, timeout=0.1)


# --- counters ---------------------------------------------------------------------------------


def test_counters(h: Harness) -> None:
    h.api.get(HISTORY)
    h.api.get(HISTORY, params={"limit": 0})
    h.bare.get(HISTORY)
    h.api.get("/v3/external/calls/5")
    stats = h.admin.get("/_sim/stats").json()
    assert stats["requests"] == 4
    assert stats["writes"] == 0
    assert stats["by_endpoint"] == {"GET /v3/external/calls/history": 3, "GET /v3/external/calls/{call_id}": 1}
    assert stats["by_status"] == {"200": 1, "422": 1, "401": 1, "404": 1}


# --- admin API --------------------------------------------------------------------------------


def test_admin_seed_dump_edit_delete(h: Harness) -> None:
    seeded = h.admin.post(
        "/_sim/records",
        json={
            "calls": [
                {"to": "+48123456789", "name": "Jan", "created_at": T0},
                {"to": "+48123456780", "created_at": T0 + 5},
            ]
        },
    )
    assert seeded.status_code == 200
    first, second = seeded.json()["calls"]
    assert first["id"] != second["id"]
    assert h.admin.get("/_sim/records").json() == {"calls": [first, second]}
    assert h.sim.stats.requests == 0

    edited = h.admin.patch(
        f"/_sim/records/{first['id']}", json={"human_status": "completed", "tags": ["won"], "email": "jan@example.com"}
    )
    assert edited.status_code == 200
    item = h.history()["data"][0]
    assert item == edited.json()
    assert item["data"]["human_status"] == "completed"
    assert [t["name"] for t in item["data"]["tags"]["data"]] == ["won"]
    assert {f["slug"] for f in item["data"]["call_request_fields"]["data"]} == {"name", "email"}
    assert item["data"]["created_at"] == first["data"]["created_at"]  # untouched keys stay

    moved = h.admin.patch(f"/_sim/records/{first['id']}", json={"created_at": T0 + 10})
    assert moved.status_code == 200
    assert [i["id"] for i in h.history()["data"]] == [second["id"], first["id"]]

    assert h.admin.delete(f"/_sim/records/{second['id']}").status_code == 200
    assert [i["id"] for i in h.history()["data"]] == [first["id"]]
    assert h.admin.delete("/_sim/records").status_code == 200
    assert h.history()["meta"]["count"] == 0


@pytest.mark.parametrize("record_id", ["1", "abc", "10500001"])
def test_admin_unknown_call_is_404(h: Harness, record_id: str) -> None:
    assert h.admin.patch(f"/_sim/records/{record_id}", json={"name": "x"}).status_code == 404
    assert h.admin.delete(f"/_sim/records/{record_id}").status_code == 404


@pytest.mark.parametrize(
    "data",
    [
        {"calls": [{"to": "48123456789"}]},
        {"calls": [{"name": "no phone"}]},
        {"calls": [{"to": "+48123456789", "human_status": "lost"}]},
        {"calls": [{"to": "+48123456789", "created_at": "last week"}]},
        {"calls": [{"to": "+48123456789", "surname": "typo"}]},
        {"calls": [{"to": "+48123456789", "id": 5}, {"to": "+48123456789", "id": 5}]},
        {"leads": []},
    ],
)
def test_admin_seed_is_validated(h: Harness, data: dict[str, Any]) -> None:
    resp = h.admin.post("/_sim/records", json=data)
    assert resp.status_code == 400
    assert resp.json()["error"]


def test_admin_edit_is_validated(h: Harness) -> None:
    item = h.sim.add_callback("+48123456789", "Jan", None)
    assert h.admin.patch(f"/_sim/records/{item['id']}", json={"to": "bad"}).status_code == 400
    assert h.admin.patch(f"/_sim/records/{item['id']}", json={"id": 1}).status_code == 400
    assert h.history()["data"][0]["data"]["to"] == "+48123456789"


def test_add_callback_defaults_to_now(h: Harness) -> None:
    before = int(time.time())
    h.sim.add_callback("+48123456789", "Now", None)
    assert h.history(date_from=before - 1, date_to=int(time.time()) + 1)["meta"]["count"] == 1


def test_options_are_checked() -> None:
    with pytest.raises(ValueError):
        CallPageSim(max_limit=0)
    with pytest.raises(ValueError):
        CallPageSim(rate_per_second=0)
    with pytest.raises(TypeError):
        CallPageSim(per=5)  # type: ignore[call-arg]
