"""The contract every connector keeps, run against its simulator over real HTTP.

A new provider is added by giving it a Kit here and passing: list all pages in the fewest calls, create,
update with no echo (the write model predicts exactly what the next listing shows), delete or its
refusal, a rejected record with the provider's message, 401, 429 with Retry-After, 5xx, a garbled body.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncd.canonical import Canon
from syncd.config.schema import JobSystem, SystemConfig
from syncd.connectors.base import Connector
from syncd.connectors.errors import AuthError, ProviderError
from syncd.engine.model import Action
from syncd.mapping.apply import Mapper
from syncd.mapping.spec import load
from syncd.runner import connector_class
from syncd.sandbox import API_PATHS, SECRETS
from syncd.sim.appsapi import APPSAPI_SANDBOX_SUBDOMAIN, AppsApiSim
from syncd.sim.callpage import CallPageSim
from syncd.sim.callsavvy import CallsavvySim
from syncd.sim.callyzer import CallyzerSim
from syncd.sim.common import SimBase
from syncd.sim.server import LoopbackServer

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
SPEED = 50.0


def _callyzer_seed(n: int) -> dict[str, Any]:
    return {"leads": [{"details": {"first_name": f"Lead{i:04d}", "contact_numbers": [f"91-98{i:08d}"]}}
                      for i in range(n)]}  # fmt: skip


def _callsavvy_seed(n: int) -> dict[str, Any]:
    return {"leads": [{"name": f"Lead {i:04d}", "phone": f"+9198{i:08d}", "status": "Potential", "priority": "Warm",
                       "summary": "seed"} for i in range(n)]}  # fmt: skip


def _contacts_seed(n: int) -> dict[str, Any]:
    return {"contacts": [{"name": f"Contact {i:04d}", "phone": f"+9198{i:08d}"} for i in range(n)]}


def _apps_seed(n: int) -> dict[str, Any]:
    return {"contacts": {"2": [{"name": f"Entry {i:04d}", "phone_number": f"+9198{i:08d}"} for i in range(n)]}}


def _callpage_seed(n: int) -> dict[str, Any]:
    return {"calls": [{"to": f"+9198{i:08d}", "name": f"Caller {i:04d}"} for i in range(n)]}


@dataclass
class Kit:
    name: str
    kind: str
    obj: str
    sim: Callable[[float], SimBase]
    mapping: str
    seed: Callable[[int], dict[str, Any]]
    n_paged: int  # records for the paging test
    page: int | None  # records per page the connector gets (None: one unpaged call)
    good: Canon
    edit: Canon
    bad: Canon  # values the provider refuses (sent without the mapping's own checks)
    cfg: dict[str, Any] = field(default_factory=dict)
    entry: dict[str, Any] = field(default_factory=dict)
    secret: str = "token"  # the secret the 401 test spoils

    @property
    def writable(self) -> bool:
        return self.kind != "callpage"


KITS = [
    Kit("callyzer-leads", "callyzer", "leads", lambda s: CallyzerSim(speed=s), "callyzer-leads.toml", _callyzer_seed,
        250, 100, {"first_name": "Meera", "last_name": "Nair", "phone": "+919845012345", "email": "meera@nair.in"},
        {"company": "Nair Exports", "notes": "Call after 5pm"}, {"first_name": "Al", "phone": "+919845012399"},
        cfg={"timezone": "Asia/Kolkata", "default_region": "IN"}),
    Kit("callsavvy-leads", "callsavvy", "leads", lambda s: CallsavvySim(speed=s), "callsavvy-leads.toml",
        _callsavvy_seed, 250, None,
        {"first_name": "Meera", "last_name": "Nair", "phone": "+919845012345", "status": "Interested"},
        {"company": "Nair Exports", "priority": "Hot"}, {"first_name": "Meera", "phone": "+919845012399",
                                                         "status": "Maybe"}, secret="private_key"),
    Kit("callsavvy-contacts", "callsavvy", "contacts", lambda s: CallsavvySim(speed=s), "callsavvy-contacts.toml",
        _contacts_seed, 250, None, {"first_name": "Meera", "last_name": "Nair", "phone": "+919845012345"},
        {"email": "meera@nair.in"}, {"first_name": "Meera", "phone": "not-a-phone"}, secret="public_key"),
    Kit("appsapi-list", "appsapi", "leads", lambda s: AppsApiSim(speed=s), "appsapi-leads.toml", _apps_seed,
        1200, 999, {"first_name": "Meera", "last_name": "Nair", "phone": "+919845012345"},
        {"email": "meera@nair.in"}, {"first_name": "Meera", "phone": "not-a-phone"},
        cfg={"subdomain": APPSAPI_SANDBOX_SUBDOMAIN}, entry={"list_id": 2}),
    Kit("callpage", "callpage", "leads", lambda s: CallPageSim(speed=s), "callpage-leads.toml", _callpage_seed,
        120, 50, {}, {}, {}),
]  # fmt: skip


@dataclass
class Rig:
    kit: Kit
    server: LoopbackServer
    admin: httpx.Client
    mapper: Mapper

    def connector(self, **secret_override: str) -> Connector:
        kit = self.kit
        base = self.server.url("sim") + API_PATHS[kit.kind]
        cfg = SystemConfig(
            kind=kit.kind,
            base_url=base,
            rate={"interval": _interval(kit.kind) / SPEED, "jitter": 0.02,
                  **({"endpoint_interval": 1.2 / SPEED} if kit.kind == "callsavvy" else {})},
            retry={"attempts": 4, "backoff": 0.02, "max_wait": 2.0},
            timeout=5.0,
            **kit.cfg,
        )  # fmt: skip
        entry = JobSystem(system=kit.name, mapping=kit.mapping, **kit.entry)
        cls = connector_class(kit.kind, kit.obj, entry)
        return cls(kit.name, cfg, {**SECRETS[kit.kind], **secret_override}, entry=entry)

    def stats(self) -> dict[str, Any]:
        return dict(self.admin.get("/_sim/stats").json())

    def fault(self, spec: dict[str, Any]) -> None:
        assert self.admin.post("/_sim/faults", json=spec).status_code == 200


def _interval(kind: str) -> float:
    return {"callyzer": 2.0, "callsavvy": 0.6, "appsapi": 1.0, "callpage": 1.0}[kind]


@pytest.fixture(params=KITS, ids=[k.name for k in KITS])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    kit: Kit = request.param
    sim = kit.sim(SPEED)
    server = LoopbackServer({"sim": sim.app()}, process=True)  # type: ignore[attr-defined]
    with server, httpx.Client(base_url=server.url("sim")) as admin:
        cfg = SystemConfig(kind=kit.kind, **kit.cfg)
        yield Rig(kit, server, admin, Mapper(load(MAPPINGS / kit.mapping), cfg.default_region, cfg.timezone))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _fetch(rig: Rig, connector: Connector | None = None) -> list[dict[str, Any]]:
    conn = connector or rig.connector()
    try:
        return await conn.fetch()
    finally:
        await conn.aclose()


async def _write(rig: Rig, actions: list[Action]) -> list[Any]:
    conn = rig.connector()
    try:
        return await conn.write(actions, rig.mapper)
    finally:
        await conn.aclose()


def _action(kind: str, rig: Rig, desired: Canon, raw: dict[str, Any] | None = None) -> Action:
    remote_id = rig.mapper.remote_id(raw) if raw else None
    return Action(kind, rig.kit.name, "entity-1", remote_id, desired, {}, [], "contract", "contract",  # type: ignore[arg-type]
                  base_raw=raw)  # fmt: skip


def _find(rig: Rig, raws: list[dict[str, Any]], phone: str) -> dict[str, Any]:
    [raw] = [r for r in raws if rig.mapper.to_canonical(r).values.get("phone") == phone]
    return raw


def test_lists_every_record_in_the_fewest_calls(rig: Rig) -> None:
    empty = run(_fetch(rig))
    assert empty == []
    assert rig.stats()["requests"] == 1, "an empty listing costs one call"
    assert rig.admin.post("/_sim/records", json=rig.kit.seed(rig.kit.n_paged)).status_code == 200
    before = rig.stats()["requests"]
    raws = run(_fetch(rig))
    ids = {rig.mapper.remote_id(r) for r in raws}
    assert len(raws) == len(ids) == rig.kit.n_paged
    calls = rig.stats()["requests"] - before
    minimum = 1 if rig.kit.page is None else math.ceil(rig.kit.n_paged / rig.kit.page)
    assert calls == minimum, f"{calls} calls for {rig.kit.n_paged} records; the minimum is {minimum}"
    assert rig.stats()["rate_limited"] == 0


def test_create_update_and_no_echo(rig: Rig) -> None:
    if not rig.kit.writable:
        pytest.skip("read-only source: see test_read_only_source_refuses_writes")
    [created] = run(_write(rig, [_action("create", rig, rig.kit.good)]))
    assert created.ok and created.remote_id, created.error
    raw = next(r for r in run(_fetch(rig)) if rig.mapper.remote_id(r) == created.remote_id)
    values = rig.mapper.to_canonical(raw).values
    for name, value in rig.kit.good.items():
        if name in rig.mapper.reads:
            assert values.get(name) == value, (name, values)

    desired = {**values, **rig.kit.edit}
    conn = rig.connector()
    predicted = rig.mapper.to_canonical(conn.simulate(raw, rig.mapper.to_provider(desired, raw))).values
    run(conn.aclose())
    [updated] = run(_write(rig, [_action("update", rig, desired, raw)]))
    assert updated.ok, updated.error
    after = next(r for r in run(_fetch(rig)) if rig.mapper.remote_id(r) == updated.remote_id)
    assert rig.mapper.to_canonical(after).values == predicted, "the write model must predict the listing exactly"
    for name, value in rig.kit.edit.items():
        if name in rig.mapper.reads:
            assert predicted.get(name) == value


def test_delete_or_its_refusal(rig: Rig) -> None:
    if not rig.kit.writable:
        pytest.skip("read-only source")
    conn = rig.connector()
    run(conn.aclose())
    [created] = run(_write(rig, [_action("create", rig, rig.kit.good)]))
    raw = next(r for r in run(_fetch(rig)) if rig.mapper.remote_id(r) == created.remote_id)
    if not conn.can_delete:  # Callyzer: the planner applies the job's fallback (tag or status) instead
        assert rig.kit.kind == "callyzer"
        return
    [deleted] = run(_write(rig, [_action("delete", rig, {}, raw)]))
    assert deleted.ok, deleted.error
    assert all(rig.mapper.remote_id(r) != created.remote_id for r in run(_fetch(rig)))
    [again] = run(_write(rig, [_action("delete", rig, {}, raw)]))
    assert again.ok, "deleting what is already gone is done, not an error"


def test_a_rejected_record_carries_the_providers_message(rig: Rig) -> None:
    if not rig.kit.writable:
        pytest.skip("read-only source")
    good, bad = _action("create", rig, rig.kit.good), _action("create", rig, rig.kit.bad)
    results = {id(r.action): r for r in run(_write(rig, [good, bad]))}
    assert results[id(good)].ok, results[id(good)].error
    assert not results[id(bad)].ok and results[id(bad)].error
    assert len(run(_fetch(rig))) == 1, "the good record went through, the bad one did not"


def test_read_only_source_refuses_writes(rig: Rig) -> None:
    conn = rig.connector()
    run(conn.aclose())
    if rig.kit.writable:
        assert conn.can_update
        return
    assert not (conn.can_create or conn.can_update or conn.can_delete)
    [result] = run(_write(rig, [_action("create", rig, {"first_name": "X", "phone": "+919845012345"})]))
    assert not result.ok


def test_refused_credentials_raise_auth_error_without_retrying(rig: Rig) -> None:
    conn = rig.connector(**{rig.kit.secret: "wrong"})
    with pytest.raises(AuthError):
        run(_fetch(rig, conn))
    assert rig.stats()["requests"] == 1


def test_429_is_retried_after_retry_after(rig: Rig) -> None:
    rig.admin.post("/_sim/records", json=rig.kit.seed(3))
    rig.fault({"kind": "rate_limit", "count": 2, "retry_after": 0.1})
    raws = run(_fetch(rig))
    assert len(raws) == 3
    assert rig.stats()["rate_limited"] == 2


def test_5xx_is_retried(rig: Rig) -> None:
    rig.admin.post("/_sim/records", json=rig.kit.seed(3))
    rig.fault({"kind": "status", "status": 502, "count": 2})
    assert len(run(_fetch(rig))) == 3


def test_a_garbled_body_is_retried_and_then_reported(rig: Rig) -> None:
    rig.admin.post("/_sim/records", json=rig.kit.seed(3))
    rig.fault({"kind": "malformed", "count": 1})
    assert len(run(_fetch(rig))) == 3
    rig.fault({"kind": "malformed", "count": 50})
    with pytest.raises(ProviderError):
        run(_fetch(rig))
