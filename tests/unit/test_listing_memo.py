"""A run in a new process takes back each listing as the last run read it (syncd.state.memo) instead of mapping
every record again: it must give exactly the Records a fresh mapping gives, map afresh whatever changed (the
record, the mapping) or whatever the memo cannot vouch for, keep no secret, and rewrite the memo only when the
listing changed. The runs go through JobRun's own fetch, page by page, with the leads job's real mappings and a
real SQLite state (tests.unit.test_aside's world)."""

from __future__ import annotations

import asyncio
import dataclasses
import marshal
from pathlib import Path
from typing import Any

import pytest
import structlog
import zstandard

from syncd.engine import model
from syncd.engine.model import ALL_READ, Record, unpack
from syncd.mapping import phone_cache
from syncd.mapping.apply import Mapper
from syncd.runner import JobRun, RunReport
from syncd.state import memo
from tests.unit.test_aside import _plan, _serve, _world, leads_job

COVERED = ("callsavvy", "callyzer", "appsapi")  # CallPage is read by cursor: each call-back is listed once


def _fetch(job: JobRun, listings: dict[str, list[dict[str, Any]]]) -> tuple[dict[str, list[Record]], list[int]]:
    """One run's fetch (no phone cache, as in a new process), then what the run stores (as JobRun._run does)."""
    phone_cache.clear()
    job.set_aside_from = None  # every Record kept in the listing, to compare
    _serve(job, listings, per=7)
    got = asyncio.run(job._fetch(RunReport("leads", "test", False), structlog.get_logger("test")))
    job._remember(job._to_remember)
    records = {name: [r for r in listing.items if isinstance(r, Record)] for name, listing in got.items()}
    return records, [sum(job._afresh.values()), job._remembered]


def _first_run(
    tmp_path: Path, people: int, seed: int
) -> tuple[JobRun, dict[str, list[dict[str, Any]]], list[str], dict[str, list[Record]]]:
    """A world of ``people`` and the fetch of a first process over it: (its job, the listings, what happened to
    each person, the Records it read)."""
    first = leads_job(tmp_path)
    listings, happened = _world(first, people, seed)
    read, _ = _fetch(first, listings)
    return first, listings, happened, read


def _whole(rec: Record) -> tuple[Any, ...]:
    """Everything a Record says, its raw record unpacked."""
    fields = dataclasses.asdict(rec)
    fields["packed"] = unpack(rec.packed, rec.system)
    return tuple(sorted((k, repr(v)) for k, v in fields.items()))


def _always(records: dict[str, list[Record]], happened: list[str]) -> int:
    """Records every run maps afresh: the cursor-read source's, and the first of each record listed twice with
    two different contents (the memo holds the last one read)."""
    return len(records["callpage"]) + happened.count("listed_twice_edited")


def _stored(job: JobRun) -> dict[str, list[str]]:
    """system → remote ids of its memo."""
    out = {}
    for system in (*COVERED, "callpage"):
        taken = job.store.listing_memo("leads", system)
        if taken is not None:
            out[system] = sorted(marshal.loads(taken)[3][1])
    return out


@pytest.mark.parametrize("seed", range(3))
def test_a_new_process_takes_back_exactly_the_records_a_fresh_mapping_gives(tmp_path: Path, seed: int) -> None:
    first = leads_job(tmp_path)
    listings, happened = _world(first, 60, seed)
    read, counts = _fetch(first, listings)
    assert counts == [sum(map(len, read.values())), 0]
    assert sorted(_stored(first)) == sorted(COVERED), "not the cursor-read source"
    for system in COVERED:
        assert _stored(first)[system] == sorted({r.remote_id for r in read[system]})

    second = leads_job(tmp_path)  # a new process on the same state
    again, counts = _fetch(second, listings)
    always = _always(again, happened)
    assert counts == [always, sum(map(len, again.values())) - always]
    for system in read:
        assert [_whole(r) for r in again[system]] == [_whole(r) for r in read[system]], system
    # a record whose fields all read shares the one empty set, loaded from the memo as when mapped (memory)
    all_read = [r for records in again.values() for r in records if not r.unreadable]
    assert all_read and all(r.unreadable is ALL_READ for r in all_read)


def test_an_edited_record_is_mapped_afresh_and_the_memo_rewritten(tmp_path: Path) -> None:
    _, listings, happened, _ = _first_run(tmp_path, 40, 1)
    lead = listings["callsavvy"][5]
    edited = {**lead, "organization": "Edited Traders"}
    listings["callsavvy"][5] = edited
    second = leads_job(tmp_path)
    records, counts = _fetch(second, listings)
    assert counts[0] == 1 + _always(records, happened)
    got = next(r for r in records["callsavvy"] if r.remote_id == str(lead["lead_id"]))
    assert got.values["company"] == "Edited Traders"
    assert got.values == second.mappers["callsavvy"].to_canonical(edited).values
    assert "callsavvy" in second._to_remember
    third = leads_job(tmp_path)  # the memo holds the edited record now
    _, counts = _fetch(third, listings)
    assert counts[0] == _always(records, happened)


def test_a_changed_mapping_maps_every_record_of_its_system_afresh(tmp_path: Path) -> None:
    _, listings, happened, _ = _first_run(tmp_path, 30, 2)
    second = leads_job(tmp_path)
    before = second.mappers["callyzer"]
    # another region: a national number would read to another E.164 (a hand-edited mapping file is the same)
    second.mappers["callyzer"] = Mapper(before.spec, "US", str(before.zone))
    assert memo.fingerprint(second.mappers["callyzer"]) != memo.fingerprint(before)
    records, counts = _fetch(second, listings)
    assert counts[0] == len(records["callyzer"]) + _always(records, happened)
    spec = dataclasses.replace(before.spec, fields=before.spec.fields[:-1])
    assert memo.fingerprint(Mapper(spec, before.default_region, str(before.zone))) != memo.fingerprint(before)
    assert memo.fingerprint(Mapper(before.spec, before.default_region, "America/New_York")) != memo.fingerprint(before)


_SUMS = bytes(range(32)) + bytes(range(1, 33))
_FINE: tuple[Any, ...] = (_SUMS, ["a", "b"], [{}, {}], [b"", b""], [None, None], [None, "hint"], {})
_PAGES: tuple[Any, ...] = (bytes(range(2, 34)) + bytes(range(3, 35)), [[1, -1, 0], []])
#: a memo whose columns or pages this code did not write, each one way
ODD = {
    "a-hint-no-text": ((*_FINE[:5], [None, 1], {}), _PAGES),
    "a-value-no-dict": ((_SUMS, ["a", "b"], [{}, []], *_FINE[3:]), _PAGES),
    "a-sum-short": ((_SUMS[:-1], *_FINE[1:]), _PAGES),
    "a-column-short": ((_SUMS, ["a", "b"], [{}], *_FINE[3:]), _PAGES),
    "extras-out-of-range": ((*_FINE[:6], {2: ((), frozenset())}), _PAGES),
    "extras-odd": ((*_FINE[:6], {0: ("problem", frozenset())}), _PAGES),
    "six-columns": (_FINE[:6], _PAGES),
    "a-page-past-the-end": (_FINE, (_PAGES[0], [[1, 2], []])),
    "a-page-before-the-start": (_FINE, (_PAGES[0], [[1, -2], []])),
    "a-page-of-no-ints": (_FINE, (_PAGES[0], [[1, None], []])),
    "a-page-sum-short": (_FINE, (_PAGES[0][:-1], _PAGES[1])),
    "no-pages": (_FINE,),
}


@pytest.mark.parametrize(
    "taken",
    [b"not marshal", marshal.dumps((99, b"", None, [])), marshal.dumps((memo.FORMAT, b"x", None, [])),
     marshal.dumps([1, 2, 3]), *(marshal.dumps((memo.FORMAT, "fp", None, i)) for i in range(len(ODD)))],
    ids=["garbage", "other-format", "other-fingerprint", "other-shape", *ODD],
)  # fmt: skip
def test_a_memo_that_cannot_vouch_for_its_records_means_mapping_afresh(tmp_path: Path, taken: bytes) -> None:
    first, listings, happened, read = _first_run(tmp_path, 20, 3)
    if b"fp" in taken:  # columns or pages of the wrong kinds or lengths under the right fingerprint
        odd = list(ODD.values())[marshal.loads(taken)[3]]
        taken = marshal.dumps((memo.FORMAT, memo.fingerprint(first.mappers["appsapi"]), None, *odd))
    first.store.set_listing_memo("leads", "appsapi", taken)
    second = leads_job(tmp_path)
    again, counts = _fetch(second, listings)
    assert counts[0] == len(again["appsapi"]) + _always(again, happened)
    for system in read:
        assert [_whole(r) for r in again[system]] == [_whole(r) for r in read[system]], system
    assert _stored(second)["appsapi"] == sorted(r.remote_id for r in read["appsapi"]), "stored again, readable"


def test_the_odd_memos_differ_from_one_that_loads_by_their_oddity_alone(tmp_path: Path) -> None:
    mapper = leads_job(tmp_path).mappers["appsapi"]
    loaded = memo.load(mapper, "appsapi", marshal.dumps((memo.FORMAT, memo.fingerprint(mapper), None, _FINE, _PAGES)))
    assert loaded is not None
    fine, pages = loaded
    assert [(r.remote_id, r.entity_hint) for r in fine.values()] == [("a", None), ("b", "hint")]
    assert list(fine) == [_SUMS[:32], _SUMS[32:]]
    first, second = fine.values()  # (records "a" and "b"; the first page holds b, a record without an id, a)
    assert pages == {
        _PAGES[0][:32]: ([second, None, first], [_SUMS[32:], None, _SUMS[:32]]),
        _PAGES[0][32:]: ([], []),
    }
    for odd in ODD.values():
        assert memo.load(mapper, "appsapi", marshal.dumps((memo.FORMAT, memo.fingerprint(mapper), None, *odd))) is None


def test_a_process_that_packs_with_another_dictionary_maps_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, listings, happened, read = _first_run(tmp_path, 20, 4)
    other = {**model._shapes}
    other["callyzer"] = zstandard.ZstdCompressionDict(b"another process's first record" * 4, dict_type=1)
    monkeypatch.setattr(model, "_shapes", other)
    monkeypatch.setattr(model._codecs, "by_system", {})
    second = leads_job(tmp_path)
    again, counts = _fetch(second, listings)
    assert counts[0] == len(again["callyzer"]) + _always(again, happened)
    assert [r.values for r in again["callyzer"]] == [r.values for r in read["callyzer"]]


def test_a_record_holding_a_secret_is_never_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("syncd.logging._SECRETS", {"asha7@example.in"})  # as if a provider echoed a key
    first, listings, happened, read = _first_run(tmp_path, 20, 5)
    holding = {(s, r.remote_id) for s in COVERED for r in read[s] if r.values.get("email") == "asha7@example.in"}
    assert len(holding) >= 2
    stored = _stored(first)
    assert not any(rid in stored[s] for s, rid in holding)
    for system in COVERED:
        raw = first.store.listing_memo("leads", system)
        assert raw is not None and b"asha7@example.in" not in raw
    _, counts = _fetch(leads_job(tmp_path), listings)
    assert counts[0] == len(holding) + _always(read, happened)


def test_a_quiet_run_rewrites_nothing_and_a_changed_listing_is_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, listings, happened, _ = _first_run(tmp_path, 40, 6)
    written: list[str] = []
    original = first.store.set_listing_memo

    def spy(job: str, system: str, taken: bytes | None) -> None:
        written.append(system)
        original(job, system, taken)

    second = leads_job(tmp_path)
    monkeypatch.setattr(second.store, "set_listing_memo", spy)
    _fetch(second, listings)
    twice = ["callsavvy"] if "listed_twice_edited" in happened else []  # (its first copy: afresh every run)
    assert written == twice
    # two of Callyzer's records deleted: its memo follows the listing
    fewer = {**listings, "callyzer": listings["callyzer"][2:]}
    third = leads_job(tmp_path)
    records, counts = _fetch(third, fewer)
    assert counts[0] == _always(records, happened)
    assert _stored(third)["callyzer"] == sorted(str(r["id"]) for r in fewer["callyzer"])


def test_a_dry_run_stores_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = leads_job(tmp_path)
    listings, _ = _world(job, 20, 7)
    _serve(job, listings, per=7)
    plan, _ = _plan(job, False, monkeypatch)
    assert plan.actions and job._to_remember, "a run that would store its listings"
    assert _stored(job) == {}


def test_a_memo_that_cannot_be_read_from_the_state_means_mapping_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, listings, _, read = _first_run(tmp_path, 20, 8)
    second = leads_job(tmp_path)

    def broken(job: str, system: str) -> bytes | None:
        raise OSError("disk I/O error")

    monkeypatch.setattr(second.store, "listing_memo", broken)
    again, counts = _fetch(second, listings)
    assert counts == [sum(map(len, again.values())), 0]
    for system in read:
        assert [_whole(r) for r in again[system]] == [_whole(r) for r in read[system]], system
