"""A run sets aside the listed records of quiet people as their pages come, and loads only the people the
planner must see (syncd.state.aside). That must change nothing but memory: the same listings and state,
planned with and without setting aside, give the same plan. The runs here go through JobRun's own fetch,
page by page (each connector's fetch hands its pages over as a real listing does, without a network), with
the leads job's real mappings and a real SQLite state."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from sqlalchemy import insert

from syncd.canonical import Canon
from syncd.config.load import load
from syncd.engine.model import Plan, Record, pack
from syncd.mapping import paths
from syncd.runner import JobRun, RunReport
from syncd.sandbox import Sandbox
from syncd.state.aside import SetAside
from syncd.state.models import Entity, Link
from syncd.state.store import Store, _json
from tests.unit.engine_helpers import rec

WRITABLE = ("callsavvy", "callyzer", "appsapi")
GONE = {("gone_callyzer", "callyzer"), ("gone_callpage", "callpage")}  # links marked gone last run
#: what can happen to one person between two runs; most stay quiet, as in a real steady run
SCENARIOS = (
    ["quiet"] * 8
    + ["edited_callsavvy", "edited_callyzer", "deleted_callsavvy", "gone_callyzer", "listed_twice",
       "listed_twice_edited", "called_back", "no_appsapi", "old_system", "callpage_listed", "callpage_edited",
       "edited_and_deleted", "new_person_sharing_email", "gone_callpage", "hinted"]
)  # fmt: skip


def leads_job(directory: Path) -> JobRun:
    """The sandbox's leads job over all four systems, with a state of its own in ``directory``."""
    box = Sandbox(speed=1, all_systems=True)  # its config only: never serves
    try:
        path = box.write_config(directory, {"leads": Sandbox.leads_job()})
    finally:
        box.server.stop()
    loaded = load(path)
    return JobRun(loaded, "leads", Store(loaded.state_url))


def _decided(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Who needs planning is decided by SQLite with the state attached ("joined", a state file) or by Python over a
    stream of the links ("streamed", any other state); each test runs both, and each way must be the one taken."""

    def not_this_way(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"decided the other way than {how}")

    if how == "streamed":
        monkeypatch.setattr("syncd.state.aside._attachable", lambda store: None)
        monkeypatch.setattr(SetAside, "_decide_joined", not_this_way)
    else:
        monkeypatch.setattr(SetAside, "_decide_streamed", not_this_way)


@pytest.fixture(params=["joined", "streamed"])
def job(tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[JobRun]:
    _decided(request.param, monkeypatch)
    run = leads_job(tmp_path)
    yield run
    run.store.close()


def _values(i: int) -> dict[str, dict[str, Any]]:
    first, last = f"Asha{i}", "Rao"
    phone, email = f"+9198{i:08d}", f"asha{i}@example.in"
    common = {"first_name": first, "last_name": last, "email": email, "phone": phone}
    return {
        "callsavvy": {**common, "status": "Potential", "company": f"Co {i % 3}", "tags": ["callsavvy"]},
        "callyzer": {**common, "status": "Potential", "company": f"Co {i % 3}", "tags": ["callsavvy"]},
        "appsapi": dict(common),
        "callpage": {
            "phone": phone,
            "name": f"{first} {last}",
            "email": email,
            "created_at": "2026-11-01T08:00:00+00:00",
        },
    }


def _raw(job: JobRun, system: str, i: int, values: dict[str, Any]) -> dict[str, Any]:
    if system == "callpage":
        return dict(values)
    mapper = job.mappers[system]
    raw = mapper.to_provider(values)
    paths.put(raw, mapper.spec.id_path, f"{system[:2]}{i}")
    parsed: dict[str, Any] = json.loads(json.dumps(raw))  # fresh objects, as a listing parses them
    return parsed


def _world(job: JobRun, n: int, seed: int) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Writes the state of n people synced last run, and returns this run's listings (raw, per system)."""
    rng = random.Random(seed)
    stamp = datetime.now(UTC)
    entities: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    listings: dict[str, list[dict[str, Any]]] = {s: [] for s in (*WRITABLE, "callpage")}
    happened: list[str] = []
    for i in range(n):
        what = rng.choice(SCENARIOS)
        happened.append(what)
        eid = f"e{i:04d}"
        entities.append({"id": eid, "job": "leads", "created_at": stamp, "deleted_at": None})
        values = _values(i)
        systems = [s for s in WRITABLE if not (what == "no_appsapi" and s == "appsapi")]
        if what in ("callpage_listed", "callpage_edited", "called_back", "gone_callpage") or i % 4 == 0:
            systems.append("callpage")
        for system in systems:
            raw = _raw(job, system, i, values[system])
            rec = job._record(system, raw, keep=False)
            assert rec is not None
            links.append({"entity_id": eid, "job": "leads", "system": system, "remote_id": rec.remote_id,
                          "synced": _json(rec.values), "gone": (what, system) in GONE,
                          "updated_at": stamp})  # fmt: skip
            listed = system != "callpage" or what in ("callpage_listed", "callpage_edited")
            if (what == "deleted_callsavvy" and system == "callsavvy") or (
                what == "edited_and_deleted" and system == "callyzer"
            ):
                listed = False
            if what in ("edited_callsavvy", "edited_and_deleted") and system == "callsavvy":
                raw = _raw(job, system, i, {**values[system], "company": "Edited Co"})
            if what == "edited_callyzer" and system == "callyzer":
                raw = _raw(job, system, i, {**values[system], "status": "Interested"})
            if what == "callpage_edited" and system == "callpage":
                raw = {**raw, "name": f"Asha{i} Rao-Iyer", "created_at": "2026-11-20T08:00:00+00:00"}
            if listed:
                listings[system].append(raw)
                if what.startswith("listed_twice") and system == "callsavvy":
                    again = raw if what == "listed_twice" else _raw(job, system, i, {**values[system], "company": "X"})
                    listings[system].append(again)
        if what == "old_system":
            links.append({"entity_id": eid, "job": "leads", "system": "retired", "remote_id": f"r{i}",
                          "synced": _json(values["appsapi"]), "gone": False, "updated_at": stamp})  # fmt: skip
        if what == "called_back":  # a new call-back request from a known, quiet lead: arrives as another record
            links[-1]["remote_id"] = f"+9197{i:08d}"  # (the link is to an older number of theirs)
            listings["callpage"].append({**values["callpage"], "created_at": "2026-11-21T08:00:00+00:00"})
        if what == "new_person_sharing_email":  # someone new on Callyzer, with this person's e-mail
            other = {**_values(10_000 + i)["callyzer"], "email": values["callyzer"]["email"]}
            listings["callyzer"].append(_raw(job, "callyzer", 10_000 + i, other))
        if what == "hinted":  # a new Apps API entry that carries this person's entity id (syncd's create, lost)
            other = _raw(job, "appsapi", 10_000 + i, _values(10_000 + i)["appsapi"])
            listings["appsapi"].append({**other, "external_unique_id": eid})
    for i in range(n, n + 3):  # people nobody has seen before
        listings["callyzer"].append(_raw(job, "callyzer", i, _values(i)["callyzer"]))
    with job.store.engine.begin() as conn:
        conn.execute(insert(Entity), entities)
        conn.execute(insert(Link), links)
    return listings, happened


def _serve(job: JobRun, listings: dict[str, list[dict[str, Any]]], per: int) -> None:
    """Each connector's fetch hands its listing over as the provider sends it: in pages, or (Callsavvy's getLeads)
    in one answer."""
    for name, connector in job.connectors.items():

        async def fetch(connector: Any = connector, rows: list[dict[str, Any]] = listings[name]) -> list[Any]:
            if connector.name == "callsavvy":  # parsed as the connector parses getLeads' one answer
                answer = json.loads(
                    json.dumps({"status": "success", "data": rows}), object_hook=connector.compact("lead_id")
                )
                return connector.hand_over(answer["data"], "getLeads", "lead_id")  # type: ignore[no-any-return]
            out: list[Any] = []
            for start in range(0, len(rows), per):
                page = [json.loads(json.dumps(r)) for r in rows[start : start + per]]  # fresh objects, as parsed
                out.extend(connector.page_read(page))
            return out

        connector.fetch = fetch  # type: ignore[method-assign]


def _plan(job: JobRun, set_aside: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[Plan, int]:
    """A dry run's plan (new entity ids counted from 1), and how many people it loaded."""
    ids = count(1)
    monkeypatch.setattr("syncd.runner.uuid", SimpleNamespace(uuid4=lambda: SimpleNamespace(hex=f"new{next(ids)}")))
    loaded: list[int] = []
    load_entities: Callable[..., Any] = Store.load_entities

    def spy(store: Store, *args: Any, **kwargs: Any) -> Any:
        out = load_entities(store, *args, **kwargs)
        loaded.append(len(out))
        return out

    monkeypatch.setattr(Store, "load_entities", spy)
    job.set_aside_from = 0 if set_aside else None
    job._by_sum.clear()  # no memo from the other run: both map every record afresh
    report = RunReport("leads", "test", True)
    asyncio.run(job._run(report, structlog.get_logger("test"), True, False))
    assert report.plan is not None
    return report.plan, loaded[0]


@pytest.mark.parametrize("seed", range(6))
def test_setting_aside_changes_nothing_but_who_is_loaded(
    job: JobRun, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    listings, happened = _world(job, 60, seed)
    _serve(job, listings, per=7)
    full, everyone = _plan(job, False, monkeypatch)
    lean, few = _plan(job, True, monkeypatch)
    assert repr(lean) == repr(full)
    assert full.quiet > 0 and full.actions, "a run with quiet people and changes"
    # loaded though quiet: only people the planner must see all the same, as a new record shares their phone
    # or e-mail (the matcher), or their record is listed twice (the planner reports it)
    seen = sum(what in ("new_person_sharing_email", "called_back", "listed_twice", "listed_twice_edited", "hinted")
               for what in happened)  # fmt: skip
    assert everyone == 60 and everyone - full.quiet <= few <= everyone - full.quiet + seen, (
        "every person the planner finds quiet is set aside, but those it must see all the same"
    )


def test_a_quiet_person_sharing_an_email_with_a_new_record_is_loaded(
    job: JobRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new record must meet the person it matches, or it would become a duplicate lead."""
    listings, happened = _world(job, 40, 3)
    assert "new_person_sharing_email" in happened or "called_back" in happened
    _serve(job, listings, per=100)
    lean, _ = _plan(job, True, monkeypatch)
    full, _ = _plan(job, False, monkeypatch)
    assert repr(lean) == repr(full)
    flagged = [p for p in lean.problems if p.kind == "ambiguous"] + [a for a in lean.actions if a.system == "callpage"]
    assert flagged or lean.links, "the matches show in the plan"


def test_a_listing_read_again_counts_only_as_read_the_second_time(job: JobRun, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Apps API's listing is read again when it changes while paged: pages of the first read were set aside,
    and a record missing from the second read is a delete, not a quiet person."""
    listings, happened = _world(job, 30, 5)
    connector = job.connectors["appsapi"]
    first = listings["appsapi"]
    quiet = happened.index("quiet")
    gone = f"ap{quiet}"
    second = [r for r in first if job.mappers["appsapi"].remote_id(r) != gone]  # a quiet person's went away
    assert len(second) == len(first) - 1

    async def fetch() -> list[Any]:
        for start in range(0, len(first), 7):
            connector.page_read([json.loads(json.dumps(r)) for r in first[start : start + 7]])
        connector.restart_listing()  # as _AppsApi._list_all does before reading again
        out: list[Any] = []
        for start in range(0, len(second), 7):
            out.extend(connector.page_read([json.loads(json.dumps(r)) for r in second[start : start + 7]]))
        return out

    _serve(job, listings, per=7)
    connector.fetch = fetch  # type: ignore[method-assign]
    full, _ = _plan(job, False, monkeypatch)
    lean, _ = _plan(job, True, monkeypatch)
    assert repr(lean) == repr(full)
    deletes = {(a.system, a.kind) for a in lean.actions if a.entity_id == f"e{quiet:04d}"}
    assert deletes == {("callsavvy", "delete"), ("callyzer", "fallback")}, "the delete is planned (Callyzer: a tag)"


@pytest.mark.parametrize("how", ["joined", "streamed"])
def test_a_replace_left_half_done_keeps_its_person_loaded(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(The leads job has no connector that replaces, so the runs above never hold one.)"""
    _decided(how, monkeypatch)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    listed = [rec("a", f"a{i}", phone=f"+91980000000{i}") for i in range(3)]
    with store.engine.begin() as conn:
        conn.execute(insert(Entity), [{"id": f"E{i}", "job": "job", "deleted_at": None} for i in range(3)])
        rows = [{"entity_id": f"E{i}", "job": "job", "system": "a", "remote_id": f"a{i}", "synced": _json(r.values),
                 "gone": False} for i, r in enumerate(listed)]  # fmt: skip
        conn.execute(insert(Link), rows)
    for replacing, active in (((), set()), ((("E1", "a"),), {"E1"})):
        aside = SetAside(store, "job")
        items = [item for item in aside.page("a", list(listed)) if item is not None]
        assert len(items) == 3 and all(isinstance(item, int) for item in items)
        decision = aside.decide({"a": items}, {"a": True}, ["a"], ("phone", "email"), replacing)
        assert (decision.active, decision.set_aside, decision.linked) == (active, 3 - len(active), {"a": 3})
        assert aside.restore(decision.active, lambda system, packed: listed[1]) == (
            {items[1]: listed[1]} if active else {}
        )
        aside.close()
    store.close()


def test_below_the_threshold_everyone_is_planned_in_memory(job: JobRun, monkeypatch: pytest.MonkeyPatch) -> None:
    """``[state] set_aside_from``: the links of the job's largest system from which a run sets people aside."""
    listings, _ = _world(job, 60, 1)
    _serve(job, listings, per=7)
    largest = max(job.store.links_count("leads").values())
    assert 50 <= largest <= 64  # 60 people, each linked once a system (plus the odd extra)
    plans = {}
    for threshold in (largest + 1, largest, 0):
        job._by_sum.clear()
        ids = count(1)
        monkeypatch.setattr(
            "syncd.runner.uuid", SimpleNamespace(uuid4=lambda ids=ids: SimpleNamespace(hex=f"new{next(ids)}"))
        )
        job.set_aside_from = threshold
        report = RunReport("leads", "test", True)
        asyncio.run(job._run(report, structlog.get_logger("test"), True, False))
        plans[threshold] = repr(report.plan)
        assert (report.loaded == 60) == (threshold > largest), (threshold, report.loaded)
    assert len(set(plans.values())) == 1


@pytest.mark.parametrize("how", ["joined", "streamed"])
def test_a_person_whose_synced_phone_or_email_a_new_record_holds_is_loaded(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The matcher compares e-mails trimmed and lower-cased (``match.keys``): a quiet person whose e-mail was
    synced in capitals, with spaces or with letters beyond ASCII still meets the new record that holds it."""
    _decided(how, monkeypatch)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    synced: dict[str, Canon] = {
        "E0": {"email": "asha0@example.com"},
        "E1": {"email": "ASHA1@Example.COM"},
        "E2": {"email": "  asha2@example.com\t"},
        "E3": {"email": "ÄSHA3@EXAMPLE.COM"},
        "E4": {"phone": "+919800000004", "email": "asha4@example.com"},
        "E5": {"email": "asha5@example.com", "phone": "+919800000005"},  # shares nothing: quiet
        "E6": {"phone2": "+919800000006"},
        "E7": {"email": "asha7@example.com"},  # every link gone: quiet, whatever a new record holds
        "E8": {"email": "asha8@example.com"},  # (deleted everywhere: no match for a new record)
    }
    gone = {"E7", "E8"}
    new = {"E0": "asha0@example.com", "E1": "asha1@example.com", "E2": "asha2@example.com",
           "E3": "äsha3@example.com", "E4": "+919800000004", "E6": "+919800000006",
           "E8": "asha8@example.com"}  # fmt: skip
    listed: list[Record | None] = [
        Record("a", f"a{eid}", values, pack({"id": f"a{eid}"}, "a"), None) for eid, values in synced.items()
    ]
    with store.engine.begin() as conn:
        conn.execute(insert(Entity), [{"id": eid, "job": "job", "deleted_at": None} for eid in synced])
        rows = [{"entity_id": eid, "job": "job", "system": "a", "remote_id": f"a{eid}", "synced": _json(values),
                 "gone": eid in gone} for eid, values in synced.items()]  # fmt: skip
        conn.execute(insert(Link), rows)
    arrivals = [
        rec("b", f"b{eid}", None, **({"phone": key} if key.startswith("+") else {"email": key}))
        for eid, key in new.items()
    ]
    aside = SetAside(store, "job")
    items = [item for item in aside.page("a", listed) if item is not None]
    assert all(isinstance(item, int) for item in items), "every linked record is quiet"
    decision = aside.decide({"a": items, "b": list(arrivals)}, {"a": True, "b": True}, [], ("phone", "email"))
    assert (decision.active, decision.set_aside) == (set(new) - gone, 3)
    aside.close()
    store.close()


def test_the_state_is_attached_only_from_a_file_and_with_sqlites_json_functions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anything else is decided by the Python stream: a state in memory, or an SQLite library older than 3.38
    built without JSON (its ``json_extract`` would fail the run)."""
    from syncd.state import aside

    on_disk = Store(f"sqlite:///{tmp_path / 'my state' / 'state.db'}")
    in_memory = Store("sqlite:///:memory:")
    uri = aside._attachable(on_disk)
    assert uri is not None and uri.startswith("file:/") and uri.endswith("/my%20state/state.db?mode=ro")
    assert aside._attachable(in_memory) is None
    monkeypatch.setattr(aside, "_has_json", lambda: False)
    assert aside._attachable(on_disk) is None
    on_disk.close()
    in_memory.close()
