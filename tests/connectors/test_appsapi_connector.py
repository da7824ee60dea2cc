"""The Apps API connectors against the strict simulator, over real loopback HTTP (no mocks).

One server for the module; each test mounts a fresh ``AppsApiSim`` (rate limit on, compressed
``SPEED`` times) and paces its client to the same compressed limit (interval 1/SPEED s, jitter 0.02 s).
Call counts are the requests the rate limit let through (see ``Served.calls``).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from syncd.config.schema import JobSystem, RateConfig, RetryConfig, SystemConfig
from syncd.connectors.appsapi import MAX_PER, AppsApiCampaignContacts, AppsApiListEntries
from syncd.connectors.errors import AuthError, ProviderError, Unreachable
from syncd.engine.model import Action, ActionKind, flat, sum_of
from syncd.mapping.apply import Mapper
from syncd.mapping.spec import load
from syncd.runner import connector_class
from syncd.sim.appsapi import (
    APPSAPI_BASE_PATH,
    APPSAPI_SANDBOX_SUBDOMAIN,
    APPSAPI_SANDBOX_TOKEN,
    GLOBAL_LIST_ID,
    SANDBOX_CAMPAIGN_ID,
    AppsApiSim,
)
from syncd.sim.common import Fault
from syncd.sim.server import LoopbackServer

SPEED = 50
CUSTOM_LIST_ID = 2  # the sandbox's custom list
MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
ATTEMPTS = 3
ENTRIES = "GET /contact_lists/{contact_list_id}/contacts"
POST_ENTRY = "POST /contact_lists/{contact_list_id}/contacts"
PATCH_ENTRY = "PATCH /contact_lists/{contact_list_id}/contacts/{id}"
DELETE_ENTRY = "DELETE /contact_lists/{contact_list_id}/contacts/{id}"
CAMPAIGN = "/outbound_dialer/campaigns/{campaign_id}"


class _Slot:
    """Forwards to the simulator app mounted for the current test; ``before`` sees each request first,
    and every answer's status is noted (method, path, status)."""

    def __init__(self) -> None:
        self.app: Any = None
        self.before: Callable[[dict[str, Any]], None] | None = None
        self.answers: list[tuple[str, str, int]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.before is not None:
            self.before(scope)

        async def noting(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.answers.append((scope["method"], scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, noting)


class Served:
    def __init__(self, sim: AppsApiSim, root: str, slot: _Slot) -> None:
        self.sim = sim
        self.root = root
        self.slot = slot

    def cfg(self, *, token: str = APPSAPI_SANDBOX_TOKEN, **extra: Any) -> tuple[SystemConfig, dict[str, str]]:
        cfg = SystemConfig(
            kind="appsapi",
            base_url=extra.pop("base_url", self.root + APPSAPI_BASE_PATH),
            subdomain=APPSAPI_SANDBOX_SUBDOMAIN,
            rate=RateConfig(interval=1.0 / SPEED, jitter=0.02),
            retry=RetryConfig(attempts=ATTEMPTS, backoff=0.01, max_wait=0.5),
            timeout=5,
            **extra,
        )
        return cfg, {"token": token}

    def entries(self, list_id: int = CUSTOM_LIST_ID) -> list[dict[str, Any]]:
        return list(self.sim.entries[list_id].values())

    def campaign_contacts(self) -> list[dict[str, Any]]:
        return list(self.sim.campaign_contacts[SANDBOX_CAMPAIGN_ID].values())

    def calls(self, endpoint: str) -> int:
        """Requests to ``endpoint`` (the simulator's name, e.g. ``GET /contact_lists/{contact_list_id}/contacts``)
        that the rate limit let through. The client paces by send time, so the first request on a new
        loopback connection can reach the in-process server late enough that the next one, sent a full
        interval later, still lands in the same window: that 429 is retried, and not counted here."""
        method, template = endpoint.split(" ", 1)
        parts = [re.escape(part) for part in re.split(r"\{[^}]*\}", template)]
        pattern = re.compile(re.escape(APPSAPI_BASE_PATH) + "[^/]+".join(parts) + "$")
        limited = sum(
            1 for m, path, status in self.slot.answers if m == method and status == 429 and pattern.match(path)
        )
        return int(self.sim.stats.by_endpoint[endpoint]) - limited


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[LoopbackServer, _Slot]]:
    slot = _Slot()
    with LoopbackServer({"appsapi": slot}) as srv:
        yield srv, slot


@pytest.fixture
def served(server: tuple[LoopbackServer, _Slot]) -> Served:
    srv, slot = server
    sim = AppsApiSim(speed=SPEED)
    slot.app = sim.app()
    slot.before = None
    slot.answers = []
    return Served(sim, srv.url("appsapi"), slot)


def lists(served: Served, *, list_id: int | Literal["global"] = CUSTOM_LIST_ID, **extra: Any) -> AppsApiListEntries:
    cfg, secrets = served.cfg(**extra)
    entry = JobSystem(system="apps", mapping="appsapi-contacts.toml", list_id=list_id)
    return AppsApiListEntries("apps", cfg, secrets, entry=entry)


def campaign(served: Served, *, campaign_id: int = SANDBOX_CAMPAIGN_ID, **extra: Any) -> AppsApiCampaignContacts:
    cfg, secrets = served.cfg(**extra)
    entry = JobSystem(system="apps", mapping="appsapi-campaign-contacts.toml", campaign_id=campaign_id)
    return AppsApiCampaignContacts("apps", cfg, secrets, entry=entry)


def mapper(name: str = "appsapi-contacts") -> Mapper:
    return Mapper(load(MAPPINGS / f"{name}.toml"))


def action(
    kind: ActionKind, entity: str, desired: dict[str, Any] | None = None, remote_id: str | None = None, base: Any = None
) -> Action:
    return Action(kind, "apps", entity, remote_id, dict(desired or {}), {}, [], "test", entity, base_raw=base)


def run(connector: AppsApiListEntries | AppsApiCampaignContacts, body: Callable[[], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        try:
            return await body()
        finally:
            await connector.aclose()

    return asyncio.run(go())


def project(conn: Any, m: Mapper, raw: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
    """The planner's write model (runner.build_role): what the system holds after ``desired`` is sent."""
    values: dict[str, Any] = m.to_canonical(conn.simulate(raw, m.to_provider(desired, raw))).values
    return values


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(r["id"]): r for r in rows}


# --- reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, MAX_PER, MAX_PER + 1, 2500])
def test_fetch_reads_every_entry_in_the_fewest_pages(served: Served, count: int) -> None:
    seeded = served.sim.seed({"contacts": {"2": [{"phone_number": f"+1415{i:07d}"} for i in range(count)]}})
    conn = lists(served)
    rows = run(conn, conn.fetch)
    assert [r["id"] for r in rows] == [r["id"] for r in seeded["contacts"].get("2", [])]
    expected_calls = max(1, math.ceil(count / MAX_PER))
    assert served.calls(ENTRIES) == expected_calls == conn.http.stats.calls - conn.http.stats.rate_limited


@pytest.mark.parametrize(("count", "calls"), [(0, 1), (5, 1), (MAX_PER, 2), (2500, 3)])
def test_fetch_without_paging_headers_stops_at_a_short_page(
    server: tuple[LoopbackServer, _Slot], count: int, calls: int
) -> None:
    srv, slot = server
    sim = AppsApiSim(speed=SPEED, paging_headers=False)
    slot.app, slot.before, slot.answers = sim.app(), None, []
    sim.seed({"contacts": {"2": [{"email": f"p{i}@example.com"} for i in range(count)]}})
    conn = lists(Served(sim, srv.url("appsapi"), slot))
    rows = run(conn, conn.fetch)
    assert len({r["id"] for r in rows}) == len(rows) == count
    assert sim.stats.by_endpoint[ENTRIES] == calls


def test_page_size_from_the_config(served: Served) -> None:
    served.sim.seed({"contacts": {"2": [{"email": f"p{i}@example.com"} for i in range(250)]}})
    conn = lists(served, page_size=100)
    assert len(run(conn, conn.fetch)) == 250
    assert served.calls(ENTRIES) == 3


def _shift_once(served: Served) -> None:
    """1,500 entries (two pages); the first is deleted elsewhere just before page 2 is read, once."""
    seeded = served.sim.seed({"contacts": {"2": [{"email": f"p{i}@example.com"} for i in range(1500)]}})
    victim = seeded["contacts"]["2"][0]["id"]

    def delete_once(scope: dict[str, Any]) -> None:
        if b"page=2" in scope["query_string"] and victim in served.sim.entries[2]:
            del served.sim.entries[2][victim]

    served.slot.before = delete_once


def test_a_listing_that_shifts_while_paged_is_read_again(served: Served) -> None:
    """A record deleted elsewhere between two pages shifts another one out of sight: the connector
    notices (Total changes) and reads the list again instead of returning a partial listing."""
    _shift_once(served)
    conn = lists(served)
    rows = run(conn, conn.fetch)
    assert sorted(r["id"] for r in rows) == sorted(served.sim.entries[2])
    assert len(rows) == 1499
    assert served.calls(ENTRIES) == 4  # two pages, then two pages again


def test_a_listing_that_keeps_shifting_is_incomplete(served: Served) -> None:
    served.sim.seed({"contacts": {"2": [{"email": f"p{i}@example.com"} for i in range(1500)]}})

    def delete_every_time(scope: dict[str, Any]) -> None:
        if b"page=2" in scope["query_string"]:
            rows = served.sim.entries[2]
            del rows[next(iter(rows))]

    served.slot.before = delete_every_time
    conn = lists(served)
    with pytest.raises(ProviderError, match="kept changing"):
        run(conn, conn.fetch)


def test_global_list_is_resolved_once(served: Served) -> None:
    served.sim.seed(
        {
            "contact_lists": [{"name": "Imported", "contacts": [{"email": "x@example.com"}]}],
            "contacts": {"1": [{"email": "g@example.com", "name": "Gina Global"}]},
        }
    )
    conn = lists(served, list_id="global")
    m = mapper()

    async def body() -> tuple[list[dict[str, Any]], list[dict[str, Any]], Any]:
        first = await conn.fetch()
        second = await conn.fetch()
        created = await conn.write([action("create", "ent-global", {"email": "new@example.com"})], m)
        return first, second, created

    first, second, created = run(conn, body)
    assert [r["email"] for r in first] == ["g@example.com"] == [r["email"] for r in second]
    assert created[0].ok
    assert {e["email"] for e in served.entries(GLOBAL_LIST_ID)} == {"g@example.com", "new@example.com"}
    assert served.calls("GET /contact_lists") == 1
    assert served.calls(ENTRIES) == 2


def test_no_global_list_is_a_provider_error(served: Served) -> None:
    served.sim.admin_delete(f"contact_lists/{GLOBAL_LIST_ID}")
    conn = lists(served, list_id="global")
    with pytest.raises(ProviderError, match="flagged global"):
        run(conn, conn.fetch)


def test_missing_list_and_campaign_are_provider_errors(served: Served) -> None:
    conn = lists(served, list_id=77)
    with pytest.raises(ProviderError, match="contact list 77 does not exist"):
        run(conn, conn.fetch)
    camp = campaign(served, campaign_id=77)
    with pytest.raises(ProviderError, match="campaign 77 does not exist"):
        run(camp, camp.fetch)


def test_a_body_that_is_not_a_list_is_a_provider_error(served: Served) -> None:
    # the paths override pointed at an endpoint that answers a JSON object (the simulator's stats)
    conn = lists(served, base_url=served.root, paths={"list_entries": "/_sim/stats"})
    with pytest.raises(ProviderError, match="not a JSON array"):
        run(conn, conn.fetch)


# --- creating -----------------------------------------------------------------------------------


def test_create_sends_our_entity_id_and_the_projection_is_what_the_listing_shows(served: Served) -> None:
    conn, m = lists(served), mapper()
    desired = {"first_name": "Mary Ann", "last_name": "Smith", "phone": "+14155550100", "email": "mary@example.com"}

    async def body() -> tuple[Any, list[dict[str, Any]]]:
        results = await conn.write([action("create", "ent-1", desired)], m)
        return results, await conn.fetch()

    results, rows = run(conn, body)
    assert results[0].ok and not results[0].uncertain
    (stored,) = served.entries()
    assert results[0].remote_id == str(stored["id"])
    assert stored["external_unique_id"] == "ent-1"
    assert stored["name"] == "Mary Ann Smith"
    assert m.entity_hint(rows[0]) == "ent-1"
    assert m.to_canonical(rows[0]).values == project(conn, m, None, desired) == desired
    assert served.calls(POST_ENTRY) == 1


def test_a_create_repeated_after_a_crash_finds_the_record(served: Served) -> None:
    """The first create landed but its answer was never recorded: the repeat is refused (422, the
    external_unique_id is taken), the record is found and linked, not made twice."""
    m = mapper()
    desired = {"first_name": "Kim", "phone": "+14155550101"}
    first = lists(served)
    before = run(first, lambda: first.write([action("create", "ent-crash", desired)], m))
    again = lists(served)  # a new process after the crash
    after = run(again, lambda: again.write([action("create", "ent-crash", desired)], m))
    assert after[0].ok and after[0].remote_id == before[0].remote_id
    assert len(served.entries()) == 1
    assert served.sim.stats.by_status[422] == 1
    assert served.calls(POST_ENTRY) == 2 and served.calls(ENTRIES) == 1  # one lookup
    assert served.calls(PATCH_ENTRY) == 0  # it already holds what we send


def test_a_found_record_is_brought_to_what_the_create_would_store(served: Served) -> None:
    m = mapper()
    served.sim.seed({"contacts": {"2": [{"name": "Old Name", "email": "old@example.com", "external_unique_id": "e1"}]}})
    desired = {"first_name": "New", "last_name": "Name", "phone": "+14155550102"}
    conn = lists(served)
    results = run(conn, lambda: conn.write([action("create", "e1", desired)], m))
    assert results[0].ok
    (stored,) = served.entries()
    assert results[0].remote_id == str(stored["id"])
    assert m.to_canonical(stored).values == project(conn, m, None, desired)
    assert stored["email"] is None  # the create would not have stored one
    assert served.calls(PATCH_ENTRY) == 1


def test_several_found_records_cost_one_lookup(served: Served) -> None:
    m = mapper()
    served.sim.seed(
        {"contacts": {"2": [{"email": f"p{i}@example.com", "external_unique_id": f"e{i}"} for i in range(3)]}}
    )
    conn = lists(served)
    actions = [action("create", f"e{i}", {"email": f"p{i}@example.com"}) for i in range(3)]
    results = run(conn, lambda: conn.write(actions, m))
    assert [r.remote_id for r in results] == [str(e["id"]) for e in served.entries()]
    assert served.calls(ENTRIES) == 1
    assert len(served.entries()) == 3


def test_a_lost_create_answer_is_uncertain_and_the_rest_wait(served: Served) -> None:
    served.sim.faults.append(_fault(kind="reset", endpoint="POST *"))
    m = mapper()
    conn = lists(served)
    actions = [action("create", "e1", {"email": "a@example.com"}), action("create", "e2", {"email": "b@example.com"})]
    results = run(conn, lambda: conn.write(actions, m))
    assert not results[0].ok and results[0].uncertain
    assert not results[1].ok and results[1].error is not None and results[1].error.startswith("not sent")
    assert served.calls(POST_ENTRY) == 1  # a create is not repeated blindly
    assert conn.down is not None


def test_a_validation_error_fails_that_record_only(served: Served) -> None:
    m = mapper()
    conn = lists(served)
    actions = [action("create", "bad", {"email": "bad@nowhere"}), action("create", "good", {"email": "ok@example.com"})]
    results = run(conn, lambda: conn.write(actions, m))
    assert not results[0].ok
    assert results[0].error is not None
    assert "Validation failed: email 'bad@nowhere' is not a valid email address" in results[0].error
    assert results[1].ok
    assert [e["email"] for e in served.entries()] == ["ok@example.com"]
    # the same rule, checked before sending (the planner's validate)
    assert conn.validate(m.to_provider({"email": "bad@nowhere"}))
    assert conn.validate(m.to_provider({"email": "ok@example.com", "first_name": "x" * 300}))
    assert conn.validate(m.to_provider({"email": "ok@example.com", "first_name": "Kim"})) == []


# --- updating and deleting ---------------------------------------------------------------------


def test_update_sends_only_what_changed_and_leaves_no_echo(served: Served) -> None:
    seeded = served.sim.seed(
        {
            "contacts": {
                "2": [{"name": "  mary   smith ", "phone_number": "+1 415-555-0100", "email": "Mary@Example.com"}]
            }
        }
    )
    entry_id = str(seeded["contacts"]["2"][0]["id"])
    conn, m = lists(served), mapper()

    async def body() -> tuple[dict[str, Any], dict[str, Any], list[Any], dict[str, Any]]:
        raw = by_id(await conn.fetch())[entry_id]
        current = m.to_canonical(raw).values
        desired = {**current, "first_name": "Mary", "last_name": "Smith-Jones"}
        expected = project(conn, m, raw, desired)
        results = await conn.write([action("update", "e", desired, entry_id, raw)], m)
        return current, expected, results, by_id(await conn.fetch())[entry_id]

    current, expected, results, fresh = run(conn, body)
    assert current == {"first_name": "mary", "last_name": "smith", "phone": "+14155550100", "email": "mary@example.com"}
    assert results[0].ok and results[0].remote_id == entry_id
    assert m.to_canonical(fresh).values == expected
    assert expected == {**current, "first_name": "Mary", "last_name": "Smith-Jones"}
    # only the name was sent: the other fields keep the formatting a person gave them
    assert fresh["phone_number"] == "+1 415-555-0100" and fresh["email"] == "Mary@Example.com"
    assert served.calls(PATCH_ENTRY) == 1


def test_clearing_a_field_and_an_update_without_change(served: Served) -> None:
    seeded = served.sim.seed(
        {"contacts": {"2": [{"name": "Kim Lee", "phone_number": "+14155550100", "email": "k@x.io"}]}}
    )
    entry_id = str(seeded["contacts"]["2"][0]["id"])
    conn, m = lists(served), mapper()

    async def body() -> tuple[dict[str, Any], dict[str, Any]]:
        raw = by_id(await conn.fetch())[entry_id]
        desired = {k: v for k, v in m.to_canonical(raw).values.items() if k != "email"}
        expected = project(conn, m, raw, desired)
        assert (await conn.write([action("update", "e", desired, entry_id, raw)], m))[0].ok
        fresh = by_id(await conn.fetch())[entry_id]
        # the same values again: nothing to send, no call
        assert (await conn.write([action("update", "e", desired, entry_id, fresh)], m))[0].ok
        return expected, fresh

    expected, fresh = run(conn, body)
    assert fresh["email"] is None
    assert (
        m.to_canonical(fresh).values == expected == {"first_name": "Kim", "last_name": "Lee", "phone": "+14155550100"}
    )
    assert served.calls(PATCH_ENTRY) == 1


def test_update_of_a_record_deleted_meanwhile_fails_that_record(served: Served) -> None:
    conn, m = lists(served), mapper()
    results = run(conn, lambda: conn.write([action("update", "e", {"email": "a@example.com"}, "9999", {})], m))
    assert not results[0].ok and results[0].error is not None and "does not exist" in results[0].error
    assert conn.down is None


def test_delete_and_delete_of_a_missing_record(served: Served) -> None:
    seeded = served.sim.seed({"contacts": {"2": [{"email": "a@example.com"}, {"email": "b@example.com"}]}})
    first = str(seeded["contacts"]["2"][0]["id"])
    conn, m = lists(served), mapper()
    results = run(
        conn, lambda: conn.write([action("delete", "e", remote_id=first), action("delete", "e", remote_id=first)], m)
    )
    assert [r.ok for r in results] == [True, True]
    assert [e["email"] for e in served.entries()] == ["b@example.com"]
    assert served.sim.stats.by_status[204] == 1 and served.sim.stats.by_status[404] == 1
    assert served.calls(DELETE_ENTRY) == 2


# --- campaign contacts --------------------------------------------------------------------------


def test_campaign_contacts_crud(served: Served) -> None:
    conn, m = campaign(served), mapper("appsapi-campaign-contacts")
    desired = {"first_name": "Dee", "last_name": "Dialer", "phone": "+14155550199", "email": "dee@example.com"}

    async def body() -> None:
        created = await conn.write([action("create", "ent-c", desired)], m)
        assert created[0].ok
        (raw,) = await conn.fetch()
        assert raw["unique_id"] == "ent-c" and raw["status"] == "Upcoming"
        assert m.entity_hint(raw) == "ent-c"
        assert m.to_canonical(raw).values == project(conn, m, None, desired) == desired
        contact_id = str(raw["id"])
        assert created[0].remote_id == contact_id

        changed = {**desired, "email": "dee.d@example.com", "phone": "+14155550198"}
        expected = project(conn, m, raw, changed)
        assert (await conn.write([action("update", "ent-c", changed, contact_id, raw)], m))[0].ok
        (fresh,) = await conn.fetch()
        assert m.to_canonical(fresh).values == expected == changed
        assert fresh["unique_id"] == "ent-c"

        again = await conn.write([action("create", "ent-c", changed)], m)  # a repeat: found, not doubled
        assert again[0].ok and again[0].remote_id == contact_id

        deleted = await conn.write([action("delete", "ent-c", remote_id=contact_id)] * 2, m)
        assert [r.ok for r in deleted] == [True, True]
        assert await conn.fetch() == []

    run(conn, body)
    assert served.campaign_contacts() == []
    assert served.calls(f"PATCH {CAMPAIGN}/contact") == 1
    assert served.calls(f"DELETE {CAMPAIGN}/contact") == 2
    assert served.calls(f"POST {CAMPAIGN}/contacts") == 2


def test_a_found_campaign_contact_keeps_what_the_mapping_does_not_write(served: Served) -> None:
    served.sim.seed(
        {"campaign_contacts": {"1": [{"name": "Old", "phone_number": "+14155550100", "outbound_number": "+17608675309",
                                      "external_unique_id": "e1", "status": "Finished"}]}}
    )  # fmt: skip
    conn, m = campaign(served), mapper("appsapi-campaign-contacts")
    desired = {"first_name": "New", "phone": "+14155550100"}
    results = run(conn, lambda: conn.write([action("create", "e1", desired)], m))
    assert results[0].ok
    (stored,) = served.campaign_contacts()
    assert results[0].remote_id == str(stored["id"])
    assert stored["name"] == "New" and stored["outbound_number"] == "+17608675309" and stored["status"] == "Finished"
    assert m.to_canonical(stored).values == project(conn, m, None, desired)


def test_campaign_contact_validation_error_is_the_servers_message(served: Served) -> None:
    conn, m = campaign(served), mapper("appsapi-campaign-contacts")
    results = run(conn, lambda: conn.write([action("create", "e", {"email": "x@example.com"})], m))
    assert not results[0].ok and results[0].error is not None
    assert "phone_number can't be blank" in results[0].error
    # the mapping says so before sending
    assert m.validate({"email": "x@example.com"})


# --- errors, retries --------------------------------------------------------------------------


def test_wrong_token_is_an_auth_error(served: Served) -> None:
    conn = lists(served, token="wrong")
    with pytest.raises(AuthError):
        run(conn, conn.fetch)
    writer = lists(served, token="wrong")
    with pytest.raises(AuthError):
        run(writer, lambda: writer.write([action("delete", "e", remote_id="1001")], mapper()))
    assert served.sim.stats.by_status[401] == 2


def test_429_is_retried_after_retry_after(served: Served) -> None:
    served.sim.seed({"contacts": {"2": [{"email": "a@example.com"}]}})
    served.sim.faults.append(_fault(kind="rate_limit", retry_after=0.05, endpoint=ENTRIES))
    conn = lists(served)
    assert len(run(conn, conn.fetch)) == 1
    assert served.sim.faults == []  # the injected 429 was served...
    assert served.sim.stats.rate_limited >= 1
    assert conn.http.stats.retries == conn.http.stats.rate_limited >= 1  # ...and retried after its Retry-After
    assert served.calls(ENTRIES) == 1


def test_500_is_retried_on_reads_and_updates(served: Served) -> None:
    seeded = served.sim.seed({"contacts": {"2": [{"email": "a@example.com"}]}})
    entry_id = str(seeded["contacts"]["2"][0]["id"])
    served.sim.faults.append(_fault(kind="status", status=500, count=2, endpoint=ENTRIES))
    served.sim.faults.append(_fault(kind="status", status=503, count=1, endpoint=PATCH_ENTRY))
    conn, m = lists(served), mapper()

    async def body() -> Any:
        (raw,) = await conn.fetch()
        return await conn.write([action("update", "e", {"email": "b@example.com"}, entry_id, raw)], m)

    results = run(conn, body)
    assert results[0].ok
    assert served.entries()[0]["email"] == "b@example.com"
    assert served.calls(ENTRIES) == 3 and served.calls(PATCH_ENTRY) == 2
    assert conn.http.stats.retries - conn.http.stats.rate_limited == 3


def test_a_malformed_body_is_retried_then_given_up(served: Served) -> None:
    served.sim.seed({"contacts": {"2": [{"email": "a@example.com"}]}})
    served.sim.faults.append(_fault(kind="malformed", count=1, endpoint=ENTRIES))
    conn = lists(served)
    assert len(run(conn, conn.fetch)) == 1  # once: retried, then read
    served.sim.faults.append(_fault(kind="malformed", count=ATTEMPTS, endpoint=ENTRIES))
    again = lists(served)
    with pytest.raises(Unreachable, match="not JSON"):
        run(again, again.fetch)
    assert served.calls(ENTRIES) == 2 + ATTEMPTS


# --- wiring -----------------------------------------------------------------------------------


def test_mappings_and_connector_choice() -> None:
    contacts, leads = load(MAPPINGS / "appsapi-contacts.toml"), load(MAPPINGS / "appsapi-leads.toml")
    camp = load(MAPPINGS / "appsapi-campaign-contacts.toml")
    assert (contacts.object, leads.object, camp.object) == ("contacts", "leads", "leads")
    assert contacts.fields == leads.fields and contacts.require_one_of == leads.require_one_of
    assert contacts.entity_hint_path == ("external_unique_id",) and camp.entity_hint_path == ("unique_id",)
    on_list = JobSystem(system="a", mapping="m", list_id="global")
    on_campaign = JobSystem(system="a", mapping="m", campaign_id=3)
    assert connector_class("appsapi", "contacts", on_list) is AppsApiListEntries
    assert connector_class("appsapi", "leads", on_campaign) is AppsApiCampaignContacts


def _fault(**spec: Any) -> Fault:
    return Fault.from_json(spec)


def test_a_streamed_listing_read_again_says_so_first(served: Served) -> None:
    """Handed to a runner, the listing streams (its pages are the listing): before reading it again, the connector
    says so, and the pages handed over after that are exactly the listing."""
    _shift_once(served)
    conn = lists(served)
    handed: list[dict[str, Any]] = []
    restarts: list[int] = []

    def on_page(records: list[dict[str, Any]], answer: bytes | None, sums: list[bytes] | None) -> None:
        # each record's digest goes on with it, exactly the runner's own (its listing memo's key)
        assert sums == [sum_of(flat(r)) for r in records]
        handed.extend(records)

    conn.on_page = on_page

    def restart() -> None:
        restarts.append(len(handed))
        handed.clear()

    conn.on_restart = restart
    assert conn.streams and run(conn, conn.fetch) == []
    assert len(restarts) == 1 and restarts[0] >= 999  # the first read's pages, forgotten once
    assert sorted(r["id"] for r in handed) == sorted(served.sim.entries[2]) and len(handed) == 1499
