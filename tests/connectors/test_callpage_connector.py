"""The CallPage connector against CallPageSim over real loopback HTTP: the read window, paging by
meta.count under the server's cap, one record per visitor phone, the cursor, errors and retries, and the
shipped mapping."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from syncd.config.schema import JobSystem, RateConfig, RetryConfig, SystemConfig
from syncd.connectors.callpage import CallPageLeads
from syncd.connectors.errors import AuthError, ProviderError, Rejected
from syncd.engine.model import Action
from syncd.mapping.apply import Mapper
from syncd.mapping.spec import load
from syncd.runner import connector_class
from syncd.sim.callpage import CALLPAGE_BASE_PATH, CALLPAGE_SANDBOX_KEY, CallPageSim
from syncd.sim.server import LoopbackServer

SPEED = 50
HISTORY = "GET /v3/external/calls/history"
DAY = 86_400
MAPPING = Path(__file__).parents[2] / "mappings" / "callpage-leads.toml"
ATTEMPTS = 4


class _Slot:
    """An ASGI app forwarding to whichever app a test mounted: one server, fresh state per test."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[LoopbackServer, _Slot]]:
    slot = _Slot()
    with LoopbackServer({"callpage": slot}) as served:
        yield served, slot


class Env:
    def __init__(self, served: LoopbackServer, slot: _Slot, sim: CallPageSim) -> None:
        self.url = served.url("callpage") + CALLPAGE_BASE_PATH
        self.slot = slot
        self.sim = sim
        slot.app = sim.app()

    def config(self, **overrides: Any) -> SystemConfig:
        values: dict[str, Any] = {
            "kind": "callpage",
            "base_url": self.url,
            "default_region": "IN",
            "rate": RateConfig(interval=1.0 / SPEED, jitter=0.02),
            "retry": RetryConfig(attempts=ATTEMPTS, backoff=0.01, max_wait=1.0),
            "timeout": 5.0,
            **overrides,
        }
        return SystemConfig(**values)

    def fetch(
        self, cursor: str | None = None, token: str = CALLPAGE_SANDBOX_KEY, **overrides: Any
    ) -> tuple[CallPageLeads, list[dict[str, Any]]]:
        async def go() -> tuple[CallPageLeads, list[dict[str, Any]]]:
            conn = CallPageLeads("callpage", self.config(**overrides), {"token": token})
            conn.cursor = cursor
            try:
                return conn, await conn.fetch()
            finally:
                await conn.aclose()

        return asyncio.run(go())

    def requests(self) -> int:
        return int(self.sim.stats.by_endpoint[HISTORY])

    def fault(self, **spec: Any) -> None:
        from syncd.sim.common import Fault

        self.sim.faults.append(Fault.from_json(spec))

    def set_to(self, item: dict[str, Any], to: str) -> None:
        """The simulator only seeds E.164; this rewrites one call's ``to`` as it is served, to stand for
        a provider answer in another form."""
        self.sim.calls[item["id"]]["item"]["data"]["to"] = to


@pytest.fixture
def env(server: tuple[LoopbackServer, _Slot]) -> Env:
    return Env(*server, CallPageSim(speed=SPEED))


def now() -> int:
    return int(time.time())


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


# --- the class ----------------------------------------------------------------------------------


def test_the_runner_finds_a_read_only_incremental_connector() -> None:
    cls = connector_class("callpage", "leads", JobSystem(system="callpage", mapping="m.toml"))
    assert cls is CallPageLeads
    assert cls.kind == "callpage"
    assert (cls.can_create, cls.can_update, cls.can_delete, cls.incremental) == (False, False, False, True)


def test_write_fails_every_action_and_simulate_is_the_identity(env: Env) -> None:
    conn = CallPageLeads("callpage", env.config(), {"token": "k"})
    actions = [Action("update", "callpage", "e1", "+919988776655", {"first_name": "Asha"}, {}, [], "test", "Asha")]
    results = asyncio.run(conn.write(actions, Mapper(load(MAPPING), "IN")))
    assert [(r.action, r.ok, r.error) for r in results] == [(actions[0], False, "CallPage is read-only")]
    current = {"phone": "+919988776655", "name": "Asha"}
    assert conn.simulate(current, {"phone": "+910000000000"}) == current
    assert conn.simulate(None, {"phone": "+919988776655"}) == {"phone": "+919988776655"}
    assert env.requests() == 0
    asyncio.run(conn.aclose())


# --- the read window and paging --------------------------------------------------------------------


def test_first_run_reads_history_days_back_to_now(env: Env) -> None:
    t = now()
    env.sim.seed(
        {
            "calls": [
                {"to": "+919800000001", "created_at": t - 3 * DAY - 120},  # before the window
                {"to": "+919800000002", "created_at": t - 3 * DAY + 120},
                {"to": "+919800000003", "created_at": t - 60},
                {"to": "+919800000004", "created_at": t + 3600},  # after now: a later run's
            ]
        }
    )
    conn, records = env.fetch(history_days=3)
    assert [r["phone"] for r in records] == ["+919800000002", "+919800000003"]
    assert conn.window is not None
    date_from, date_to = conn.window
    assert t <= date_to <= now()
    assert date_from == date_to - 3 * DAY
    assert env.requests() == 1


@pytest.mark.parametrize(
    ("calls", "page_size", "max_limit", "expected"),
    [
        (120, None, 50, 3),  # asks 100, gets 50: paged by meta.count, not stopped at the short page
        (100, None, 50, 2),
        (120, 30, 50, 4),
        (250, None, 1000, 3),  # the default limit is 100
        (7, 3, 50, 3),
        (0, None, 50, 1),
    ],
)
def test_pages_by_meta_count_with_the_fewest_calls(
    server: tuple[LoopbackServer, _Slot], calls: int, page_size: int | None, max_limit: int, expected: int
) -> None:
    env = Env(*server, CallPageSim(speed=SPEED, max_limit=max_limit))
    t = now() - 10_000
    env.sim.seed({"calls": [{"to": f"+9198{i:08d}", "created_at": t + i} for i in range(calls)]})
    conn, records = env.fetch(page_size=page_size)
    assert [r["phone"] for r in records] == [f"+9198{i:08d}" for i in range(calls)]
    effective = min(page_size or 100, max_limit)
    assert expected == max(1, math.ceil(calls / effective))
    assert env.requests() == expected
    assert conn.http.stats.calls == expected
    assert conn.http.stats.rate_limited == 0
    assert env.sim.stats.rate_limited == 0


# --- one record per visitor phone -------------------------------------------------------------------


def test_call_backs_from_one_phone_in_two_formats_are_one_record(env: Env) -> None:
    t = now() - 5000
    first, second, _, _ = env.sim.seed(
        {
            "calls": [
                {"to": "+919988776655", "name": "Asha Rao", "email": "asha@old.example", "created_at": t},
                {"to": "+919988776655", "name": "Asha R. Rao", "created_at": t + 100, "tags": ["hot"]},
                {
                    "to": "+919988776655",
                    "email": "Asha@New.example",
                    "created_at": t + 200,
                    "tags": ["vip", "hot"],
                    "notes": ["Call after 5pm"],
                    "human_status": "completed",
                    "fields": {"company": "ACME"},
                },
                {"to": "+14155550100", "name": "Bob Lee", "created_at": t + 150},
            ]
        }
    )["calls"]
    env.set_to(second, "+91 99887 76655")
    env.set_to(first, "09988776655")  # national form, read with the system's default region (IN)
    _, records = env.fetch()
    by_phone = {r["phone"]: r for r in records}
    assert sorted(by_phone) == ["+14155550100", "+919988776655"]
    asha = by_phone["+919988776655"]
    assert asha == {
        "phone": "+919988776655",
        "name": "Asha R. Rao",  # the latest non-blank name
        "email": "Asha@New.example",  # the latest e-mail (the mapping lowers it)
        "created_at": iso(t + 200),
        "created_ts": t + 200,
        "first_call_at": iso(t),
        "calls": 3,
        "call_ids": [first["id"], second["id"], asha["call_ids"][2]],
        "tags": ["hot", "vip"],
        "notes": "Call after 5pm",
        "status": "completed",
        "fields": {"company": "ACME"},
    }
    assert by_phone["+14155550100"]["calls"] == 1
    assert by_phone["+14155550100"]["email"] is None
    assert [r["phone"] for r in records] == ["+14155550100", "+919988776655"]  # by latest call


def test_calls_without_a_phone_are_skipped_with_the_reason(env: Env) -> None:
    t = now() - 5000
    good, bad, blank = env.sim.seed(
        {
            "calls": [
                {"to": "+919988776655", "name": "Asha", "created_at": t},
                {"to": "+919988776656", "name": "Anonymous", "created_at": t + 1},
                {"to": "+919988776657", "created_at": t + 2},
            ]
        }
    )["calls"]
    env.set_to(bad, "anonymous")
    env.set_to(blank, "")
    conn, records = env.fetch()
    assert [r["phone"] for r in records] == ["+919988776655"]
    skipped = {s.call_id: s for s in conn.skipped}
    assert sorted(skipped) == sorted([str(bad["id"]), str(blank["id"])])
    assert skipped[str(bad["id"])].to == "anonymous"
    assert "not a phone number" in skipped[str(bad["id"])].reason
    assert skipped[str(blank["id"])].reason == "no visitor phone number (to)"
    # a skipped call never holds the cursor back: it can never be linked
    assert conn.next_cursor({"+919988776655"}) == str(t + 2)
    assert good["id"] not in {int(k) for k in skipped}


# --- the cursor -----------------------------------------------------------------------------------------


def test_cursor_advances_to_the_latest_call_when_every_phone_is_linked(env: Env) -> None:
    t = now() - 5000
    env.sim.seed({"calls": [{"to": f"+91990000000{i}", "created_at": t + 10 * i} for i in range(3)]})
    conn, records = env.fetch()
    assert conn.next_cursor({r["phone"] for r in records}) == str(t + 20)


def test_cursor_stays_before_an_unlinked_phones_call_and_it_is_read_again(env: Env) -> None:
    t = now() - 5000
    env.sim.seed(
        {
            "calls": [
                {"to": "+919900000001", "created_at": t},
                {"to": "+919900000002", "created_at": t + 10},  # ambiguous or failed: not linked
                {"to": "+919900000003", "created_at": t + 20},
                {"to": "+919900000002", "created_at": t + 30},
            ]
        }
    )
    conn, _ = env.fetch()
    cursor = conn.next_cursor({"+919900000001", "+919900000003"})
    assert cursor == str(t + 10 - 1)
    conn2, records = env.fetch(cursor=cursor, overlap_seconds=0)
    again = {r["phone"]: r for r in records}
    assert again["+919900000002"]["calls"] == 2  # both of its calls, so the record is whole again
    assert "+919900000001" not in again
    assert conn2.next_cursor({f"+91990000000{i}" for i in (1, 2, 3)}) == str(t + 30)


def test_overlap_rereads_the_boundary_and_the_cursor_never_moves_back(env: Env) -> None:
    t = now() - 5000
    env.sim.seed(
        {
            "calls": [
                {"to": "+919900000001", "created_at": t - 100},  # before cursor - overlap
                {"to": "+919900000002", "created_at": t - 30},  # inside the overlap
                {"to": "+919900000003", "created_at": t},  # the boundary: the stored cursor itself
            ]
        }
    )
    conn, records = env.fetch(cursor=str(t), overlap_seconds=60)
    assert conn.window is not None and conn.window[0] == t - 60
    assert [r["phone"] for r in records] == ["+919900000002", "+919900000003"]
    linked = {"+919900000001", "+919900000002", "+919900000003"}
    assert conn.next_cursor(linked) == str(t)
    # a call that lands at the boundary second after the last run is read by the next one
    env.sim.seed({"calls": [{"to": "+919900000004", "name": "Late", "created_at": t}]})
    conn, records = env.fetch(cursor=str(t), overlap_seconds=60)
    assert "+919900000004" in {r["phone"] for r in records}
    assert conn.next_cursor(linked | {"+919900000004"}) == str(t)


def test_no_calls_keeps_the_stored_cursor(env: Env) -> None:
    t = now() - 5000
    env.sim.seed({"calls": [{"to": "+919900000001", "created_at": t - 1000}]})  # before the window
    conn, records = env.fetch(cursor=str(t), overlap_seconds=60)
    assert records == []
    assert conn.next_cursor(set()) is None
    conn, _ = env.fetch()
    assert conn.next_cursor(set()) == str(t - 1000 - 1)  # read now and unlinked: one second before it


# --- errors and retries -----------------------------------------------------------------------------------


def test_a_wrong_key_is_an_auth_error_and_not_retried(env: Env) -> None:
    with pytest.raises(AuthError) as caught:
        env.fetch(token="Bearer " + CALLPAGE_SANDBOX_KEY)
    assert "401" in str(caught.value)
    assert CALLPAGE_SANDBOX_KEY not in str(caught.value)
    assert env.requests() == 1


def test_429_and_500_are_retried(env: Env) -> None:
    t = now() - 5000
    env.sim.seed({"calls": [{"to": f"+9198{i:08d}", "created_at": t + i} for i in range(60)]})
    env.fault(kind="rate_limit", retry_after=0.05)
    env.fault(kind="status", status=500, endpoint="*history")
    conn, records = env.fetch()
    assert len(records) == 60
    assert conn.http.stats.rate_limited == 1
    assert conn.http.stats.retries == 2
    assert env.requests() == 2 + 2  # two pages, two retried answers


def test_a_malformed_body_is_retried(env: Env) -> None:
    env.sim.seed({"calls": [{"to": "+919900000001", "created_at": now() - 100}]})
    env.fault(kind="malformed")
    conn, records = env.fetch()
    assert [r["phone"] for r in records] == ["+919900000001"]
    assert conn.http.stats.retries == 1


def test_a_body_that_stays_malformed_is_a_provider_error(env: Env) -> None:
    env.fault(kind="malformed", count=ATTEMPTS)
    with pytest.raises(ProviderError) as caught:
        env.fetch()
    assert "gave up after retries" in str(caught.value)
    assert env.requests() == ATTEMPTS


def test_an_error_envelope_is_rejected_with_its_message(env: Env) -> None:
    env.fault(kind="status", status=422, message="The date from must be an integer.")
    with pytest.raises(Rejected) as caught:
        env.fetch()
    assert "The date from must be an integer." in str(caught.value)
    assert env.requests() == 1


def _plain(body: dict[str, Any]) -> Starlette:
    async def history(request: Request) -> JSONResponse:
        return JSONResponse(body)

    return Starlette(routes=[Route(f"{CALLPAGE_BASE_PATH}/v3/external/calls/history", history)])


def test_a_json_body_without_the_envelope_is_retried_then_an_error(env: Env) -> None:
    env.slot.app = _plain({"calls": []})
    with pytest.raises(ProviderError) as caught:
        env.fetch()
    assert "without CallPage's envelope" in str(caught.value)


def test_has_error_on_a_200_is_rejected(env: Env) -> None:
    env.slot.app = _plain({"hasError": True, "errorCode": "forbidden_scope", "message": "Missing calls.view"})
    with pytest.raises(Rejected) as caught:
        env.fetch()
    assert "Missing calls.view" in str(caught.value)
    assert "forbidden_scope" in str(caught.value)


# --- the mapping -----------------------------------------------------------------------------------------


def test_the_mapping_reads_an_aggregated_record(env: Env) -> None:
    t = now() - 5000
    env.sim.seed(
        {
            "calls": [
                {"to": "+919988776655", "name": "asha", "email": "asha@old.example", "created_at": t},
                {"to": "+919988776655", "name": " Asha  R. Rao ", "email": " Asha@New.Example ", "created_at": t + 60},
            ]
        }
    )
    _, records = env.fetch()
    spec = load(MAPPING)
    assert (spec.system, spec.object) == ("callpage", "leads")
    assert all(f.direction == "in" for f in spec.fields)
    mapper = Mapper(spec, "IN", "UTC")
    (record,) = records
    inbound = mapper.to_canonical(record)
    assert inbound.problems == []
    assert inbound.values == {
        "first_name": "Asha R.",
        "last_name": "Rao",
        "email": "asha@new.example",
        "phone": "+919988776655",
        "source": "CallPage",
        "tags": ["callpage"],
    }
    assert mapper.remote_id(record) == "+919988776655"
    assert mapper.modified(record) == datetime.fromtimestamp(t + 60, UTC)
    assert mapper.writes == set()
