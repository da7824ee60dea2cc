"""A run in a new process takes back what an earlier run read from each listed record, instead of mapping it
again (syncd.state.mapped): it must give exactly the Records a fresh mapping gives, read afresh whatever changed
(the record, the mapping), and keep no secret and no history. The runs go through JobRun's own fetch, page by
page, with the leads job's real mappings and a real SQLite state (tests.unit.test_aside's world)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import text

from syncd.engine.model import Record, unpack
from syncd.mapping import transforms
from syncd.mapping.apply import Mapper
from syncd.runner import JobRun, RunReport
from syncd.state.mapped import fingerprint
from tests.unit.test_aside import _plan, _serve, _world, leads_job

COVERED = ("callsavvy", "callyzer", "appsapi")  # CallPage is read by cursor: each call-back is listed once


def _fetch(job: JobRun, listings: dict[str, list[dict[str, Any]]]) -> tuple[dict[str, list[Record]], list[int]]:
    """One run's fetch, as a new process makes it (no memo in memory, no phone cache), and what it stores."""
    transforms.to_e164.cache_clear()
    transforms.from_e164.cache_clear()
    job.set_aside_from = None  # every Record kept in the listing, to compare
    _serve(job, listings, per=7)
    got = asyncio.run(job._fetch(RunReport("leads", "test", False), structlog.get_logger("test")))
    memo, job._mapped = job._mapped, None
    assert memo is not None
    memo.flush([name for name, listing in got.items() if listing.complete])
    records = {name: [r for r in listing.items if isinstance(r, Record)] for name, listing in got.items()}
    return records, list(job._reads)


def _whole(rec: Record) -> tuple[Any, ...]:
    """Everything a Record says, its raw record unpacked (packed bytes differ with each process's dictionary)."""
    fields = dataclasses.asdict(rec)
    fields["packed"] = unpack(rec.packed, rec.system)
    return tuple(sorted((k, repr(v)) for k, v in fields.items()))


def _rows(job: JobRun) -> list[tuple[str, str, str]]:
    with job.store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT system, remote_id, read FROM mapped ORDER BY 1, 2"))]


def _count(records: dict[str, list[Record]], systems: tuple[str, ...]) -> int:
    return sum(len(records[s]) for s in systems)


def _always(records: dict[str, list[Record]], happened: list[str]) -> int:
    """Records every run reads afresh: the cursor-read source's, and one of each record listed twice with two
    different contents (one row a record: the last one read)."""
    return len(records["callpage"]) + happened.count("listed_twice_edited")


def _distinct(records: dict[str, list[Record]], systems: tuple[str, ...]) -> int:
    """Records by remote id (a record listed twice has one row)."""
    return len({(s, r.remote_id) for s in systems for r in records[s]})


@pytest.mark.parametrize("seed", range(3))
def test_a_new_process_takes_back_exactly_the_records_a_fresh_mapping_gives(tmp_path: Path, seed: int) -> None:
    first = leads_job(tmp_path)
    listings, happened = _world(first, 60, seed)
    read, counts = _fetch(first, listings)
    total = _count(read, (*COVERED, "callpage"))
    assert counts == [total, 0]
    assert len(_rows(first)) == _distinct(read, COVERED)

    second = leads_job(tmp_path)  # a new process on the same state
    again, counts = _fetch(second, listings)
    always = _always(again, happened)
    assert counts == [always, _count(again, (*COVERED, "callpage")) - always]
    for system in read:
        assert [_whole(r) for r in again[system]] == [_whole(r) for r in read[system]], system


def test_an_edited_record_is_read_afresh_and_the_others_are_not(tmp_path: Path) -> None:
    first = leads_job(tmp_path)
    listings, happened = _world(first, 40, 1)
    _fetch(first, listings)
    lead = listings["callsavvy"][5]
    edited = {**lead, "organization": "Edited Traders"}
    listings["callsavvy"][5] = edited
    second = leads_job(tmp_path)
    records, counts = _fetch(second, listings)
    assert counts[0] == 1 + _always(records, happened)
    got = next(r for r in records["callsavvy"] if r.remote_id == str(lead["lead_id"]))
    assert got.values["company"] == "Edited Traders"
    fresh = second.mappers["callsavvy"].to_canonical(edited)
    assert got.values == fresh.values
    # and stored under its new bytes: the next process takes it back
    third = leads_job(tmp_path)
    _, counts = _fetch(third, listings)
    assert counts[0] == _always(records, happened)


def test_a_changed_mapping_reads_every_record_of_its_system_afresh(tmp_path: Path) -> None:
    first = leads_job(tmp_path)
    listings, happened = _world(first, 30, 2)
    _fetch(first, listings)
    second = leads_job(tmp_path)
    before = second.mappers["callyzer"]
    # another region: a national number would read to another E.164 (a hand-edited mapping file is the same)
    second.mappers["callyzer"] = Mapper(before.spec, "US", str(before.zone))
    assert fingerprint(second.mappers["callyzer"]) != fingerprint(before)
    records, counts = _fetch(second, listings)
    assert counts[0] == len(records["callyzer"]) + _always(records, happened)
    spec = dataclasses.replace(before.spec, fields=before.spec.fields[:-1])
    assert fingerprint(Mapper(spec, before.default_region, str(before.zone))) != fingerprint(before)


def test_a_row_that_cannot_be_read_means_reading_the_record_afresh(tmp_path: Path) -> None:
    first = leads_job(tmp_path)
    listings, happened = _world(first, 20, 3)
    read, _ = _fetch(first, listings)
    with first.store.engine.begin() as conn:
        conn.execute(text("UPDATE mapped SET read = '{not json' WHERE system = 'appsapi'"))
        conn.execute(text("UPDATE mapped SET read = '[1, 2]' WHERE system = 'callyzer'"))
    second = leads_job(tmp_path)
    again, counts = _fetch(second, listings)
    assert counts[0] == len(again["appsapi"]) + len(again["callyzer"]) + _always(again, happened)
    for system in read:
        assert [_whole(r) for r in again[system]] == [_whole(r) for r in read[system]], system
    assert all(row[2].startswith("[{") for row in _rows(second)), "stored again, readable"


def test_a_record_holding_a_secret_is_never_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("syncd.logging._SECRETS", {"asha7@example.in"})  # as if a provider echoed a key
    first = leads_job(tmp_path)
    listings, happened = _world(first, 20, 4)
    read, _ = _fetch(first, listings)
    holding = sum(1 for s in COVERED for r in read[s] if r.values.get("email") == "asha7@example.in")
    assert holding >= 2
    assert not any("asha7@example.in" in row[2] for row in _rows(first))
    assert len(_rows(first)) == _distinct(read, COVERED) - holding
    _, counts = _fetch(leads_job(tmp_path), listings)
    assert counts[0] == holding + _always(read, happened)


def test_the_rows_follow_the_records_listed_not_their_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = leads_job(tmp_path)
    listings, happened = _world(first, 40, 5)
    _fetch(first, listings)
    stored = len(_rows(first))
    savvy = sum(1 for s, _, _ in _rows(first) if s == "callsavvy")
    # a quiet run in a new process writes nothing (but the record listed twice with two contents)
    written: list[int] = []
    remember = first.store.remember_mapped

    def spy(job: str, rows: list[Any], listed: Any) -> None:
        written.append(len(rows))
        remember(job, rows, listed)

    second = leads_job(tmp_path)
    monkeypatch.setattr(second.store, "remember_mapped", spy)
    _fetch(second, listings)
    assert written == [happened.count("listed_twice_edited")] and len(_rows(second)) == stored
    # most of Callyzer's records deleted: their rows go; a few deleted: they wait (no rewrite for a handful)
    kept = listings["callyzer"][:5]
    few_gone = {**listings, "callsavvy": listings["callsavvy"][:-2], "callyzer": kept}
    _fetch(leads_job(tmp_path), few_gone)
    rows = _rows(first)
    assert sorted(rid for s, rid, _ in rows if s == "callyzer") == sorted(str(r["id"]) for r in kept)
    assert sum(1 for s, _, _ in rows if s == "callsavvy") == savvy


def test_a_dry_run_stores_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = leads_job(tmp_path)
    listings, _ = _world(job, 20, 6)
    _serve(job, listings, per=7)
    plan, _ = _plan(job, False, monkeypatch)
    assert plan.actions
    assert _rows(job) == []


def test_what_is_stored_reads_back_as_json_of_plain_texts(tmp_path: Path) -> None:
    job = leads_job(tmp_path)
    listings, _ = _world(job, 10, 7)
    _fetch(job, listings)
    for _, _, read in _rows(job):
        values, problems, unreadable = json.loads(read)
        assert all(isinstance(v, str | list) for v in values.values())
        assert problems == [] and unreadable == []
