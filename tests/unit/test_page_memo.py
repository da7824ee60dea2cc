"""A daemon's next run takes back a page listed with the same bytes whole (``JobRun._record_page``), without
looking at its records one by one: it must give exactly the Records the record-by-record path gives, read a
page whose answer changed record by record (so an edit on it is seen), and keep no page memo where it keeps no
listing memo. The fetches go through JobRun's own fetch with the leads job's real mappings and a real SQLite
state (tests.unit.test_aside's world); each paged system's page comes with its answer's bytes, as the
Callyzer and Apps API connectors hand them over."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import structlog

from syncd import runner
from syncd.connectors import callsavvy_api
from syncd.engine.model import Record, flat, sum_of
from syncd.runner import JobRun, RunReport
from tests.unit.test_aside import _world, leads_job
from tests.unit.test_listing_memo import _whole

PAGED = ("callyzer", "appsapi", "callsavvy")
PER = 7


def _serve(
    job: JobRun, listings: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch, answers: bool = True
) -> None:
    """Callyzer and the Apps API hand over pages of PER, each parsed from its own answer (given with it);
    Callsavvy's getLeads is one answer, handed over in pages of PER, each with the digest of its records' bytes
    (tests.unit.test_aside._serve)."""
    monkeypatch.setattr(callsavvy_api, "HAND_OVER", PER)
    for name, connector in job.connectors.items():

        async def fetch(connector: Any = connector, rows: list[dict[str, Any]] = listings[name]) -> list[Any]:
            if connector.name == "callsavvy":
                body = json.dumps({"status": "success", "data": rows}).encode()
                answer = json.loads(body, object_hook=connector.compact("lead_id"))
                return connector.hand_over(answer["data"], "getLeads", "lead_id", sums=answers)  # type: ignore[no-any-return]
            out: list[Any] = []
            for start in range(0, len(rows), PER):
                body = json.dumps({"result": rows[start : start + PER]}).encode()
                page = json.loads(body)["result"]  # fresh objects, as parsed
                out.extend(connector.page_read(page, body if answers and connector.name in PAGED else None))
            return out

        monkeypatch.setattr(connector, "fetch", fetch)


def _fetch(
    job: JobRun, listings: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch, answers: bool = True
) -> tuple[dict[str, list[Record]], Counter[str]]:
    """One fetch of a daemon's JobRun: its Records per system, and how many records it looked at one by one."""
    looked: Counter[str] = Counter()
    read = JobRun._read_page

    def counted(
        self: JobRun, system: str, raws: list[dict[str, Any]], keep: bool, given: list[bytes] | None = None
    ) -> Any:
        looked[system] += len(raws)
        return read(self, system, raws, keep, given)

    monkeypatch.setattr(JobRun, "_read_page", counted)
    job.set_aside_from = None  # every Record kept in the listing, to compare
    _serve(job, listings, monkeypatch, answers)
    got = asyncio.run(job._fetch(RunReport("leads", "test", False), structlog.get_logger("test")))
    monkeypatch.setattr(JobRun, "_read_page", read)
    return {name: [r for r in listing.items if isinstance(r, Record)] for name, listing in got.items()}, looked


def test_a_page_listed_with_the_same_bytes_is_taken_back_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = leads_job(tmp_path)
    listings, _ = _world(job, 60, 3)
    first, looked = _fetch(job, listings, monkeypatch)
    assert all(looked[s] == len(listings[s]) for s in PAGED), "a first run reads every record"

    again, looked = _fetch(job, listings, monkeypatch)
    assert all(looked[s] == 0 for s in PAGED), looked
    for system in PAGED:
        # the very Records of the last run, as the record-by-record memo gives them
        assert len(again[system]) == len(first[system]) > PER
        assert all(a is b for a, b in zip(again[system], first[system], strict=True)), system
    # at least as many taken back as record by record (a remote id listed twice with two contents: the record
    # memo holds one, so the other is mapped afresh each run; its page gives both back), and exactly what reading
    # each record afresh gives
    twin = leads_job(tmp_path / "twin")
    assert _world(twin, 60, 3)[0] == listings
    fresh, _ = _fetch(twin, listings, monkeypatch, answers=False)
    _fetch(twin, listings, monkeypatch, answers=False)
    assert job._remembered >= twin._remembered > 0
    for system in PAGED:
        assert [_whole(r) for r in again[system]] == [_whole(r) for r in fresh[system]], system


def test_an_edit_is_seen_on_the_page_it_changed_and_the_other_pages_are_taken_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = leads_job(tmp_path)
    listings, _ = _world(job, 60, 4)
    _fetch(job, listings, monkeypatch)
    where = PER * 2 + 3  # the third page
    lead = listings["callyzer"][where]
    listings["callyzer"][where] = {**lead, "details": {**lead["details"], "company_name": "Edited Traders"}}

    again, looked = _fetch(job, listings, monkeypatch)
    assert looked["callyzer"] == PER, "only the edited page is read record by record"
    assert looked["appsapi"] == 0
    edited = next(r for r in again["callyzer"] if r.remote_id == str(lead["id"]))
    assert edited.values["company"] == "Edited Traders"
    assert edited.values == job.mappers["callyzer"].to_canonical(listings["callyzer"][where]).values

    # the edited page is in the memo now: the next run takes it back whole too
    _, looked = _fetch(job, listings, monkeypatch)
    assert looked["callyzer"] == 0

    # one answer handed over in pages: only the page that holds the edit is read record by record
    lead = listings["callsavvy"][-1]
    listings["callsavvy"][-1] = {**lead, "organization": "Edited Traders"}
    again, looked = _fetch(job, listings, monkeypatch)
    last = len(listings["callsavvy"]) % PER or PER
    assert looked["callsavvy"] == last < len(listings["callsavvy"]), looked
    assert looked["callyzer"] == looked["appsapi"] == 0
    edited = next(r for r in again["callsavvy"] if r.remote_id == str(lead["lead_id"]))
    assert edited.values["company"] == "Edited Traders"
    assert edited.values == job.mappers["callsavvy"].to_canonical(listings["callsavvy"][-1]).values


def test_no_page_memo_without_an_answer_or_a_listing_memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = leads_job(tmp_path)
    listings, _ = _world(job, 40, 5)
    _fetch(job, listings, monkeypatch, answers=False)
    assert job._pages == {}
    _, looked = _fetch(job, listings, monkeypatch, answers=False)
    assert all(looked[s] == len(listings[s]) for s in PAGED), "pages without their answer: record by record"

    # a listing too long to keep in memory keeps no page memo either
    monkeypatch.setattr(runner, "MEMO_LIMIT", PER)
    _fetch(job, listings, monkeypatch)
    assert job._pages == {} and job._pages_now == {}
    _, looked = _fetch(job, listings, monkeypatch)
    assert all(looked[s] == len(listings[s]) for s in PAGED)


def test_a_new_process_takes_back_the_pages_the_last_run_left_in_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = leads_job(tmp_path)
    listings, happened = _world(first, 60, 6)
    # (without the world's one lead listed twice with two contents: see the next test)
    assert "listed_twice_edited" in happened
    listings["callsavvy"] = list({r["lead_id"]: r for r in listings["callsavvy"]}.values())
    read, _ = _fetch(first, listings, monkeypatch)
    first._remember(first._to_remember)  # (as JobRun._run does after its fetch)

    second = leads_job(tmp_path)  # a new process on the same state
    again, looked = _fetch(second, listings, monkeypatch)
    assert all(looked[s] == 0 for s in PAGED), looked
    for system in PAGED:
        assert len(again[system]) > PER
        assert [_whole(r) for r in again[system]] == [_whole(r) for r in read[system]], system

    # an edit: its page, and only its page, is read record by record, and seen; in Callsavvy's one answer too
    where = PER + 1
    lead = listings["callyzer"][where]
    listings["callyzer"][where] = {**lead, "details": {**lead["details"], "company_name": "Edited Traders"}}
    savvy = listings["callsavvy"][0]
    listings["callsavvy"][0] = {**savvy, "organization": "Edited Traders"}
    third = leads_job(tmp_path)
    again, looked = _fetch(third, listings, monkeypatch)
    assert {s: looked[s] for s in PAGED} == {"callyzer": PER, "appsapi": 0, "callsavvy": PER}
    assert next(r for r in again["callyzer"] if r.remote_id == str(lead["id"])).values["company"] == "Edited Traders"
    assert next(r for r in again["callsavvy"] if r.remote_id == str(savvy["lead_id"])).values["company"] == (
        "Edited Traders"
    )


def test_a_page_holding_a_record_kept_out_of_the_state_is_not_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = leads_job(tmp_path)
    listings, _ = _world(first, 60, 7)
    secret = listings["callyzer"][PER * 3 + 2]["details"]["email"]
    assert secret
    monkeypatch.setattr("syncd.logging._SECRETS", {secret})  # as if a provider echoed a key
    _fetch(first, listings, monkeypatch)
    first._remember(first._to_remember)
    second = leads_job(tmp_path)
    _, looked = _fetch(second, listings, monkeypatch)
    holding = sum(secret in json.dumps(r) for r in listings["callyzer"][PER * 3 : PER * 4])
    assert looked["callyzer"] == PER and holding >= 1, "the fourth page only, record by record"


def test_a_page_holding_a_record_listed_twice_with_two_contents_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state's memo holds one Record a remote id (the last read), so the page that held the other one is not
    stored: a new process reads it record by record (a daemon takes it back, from memory)."""
    first = leads_job(tmp_path)
    listings, happened = _world(first, 60, 8)
    assert "listed_twice_edited" in happened
    read, _ = _fetch(first, listings, monkeypatch)
    first._remember(first._to_remember)
    second = leads_job(tmp_path)
    again, looked = _fetch(second, listings, monkeypatch)
    # (on Callsavvy: the page of its one answer that held the content the memo did not keep)
    assert {s: looked[s] for s in PAGED} == {"callyzer": 0, "appsapi": 0, "callsavvy": PER}
    assert len(listings["callsavvy"]) > 2 * PER
    assert [_whole(r) for r in again["callsavvy"]] == [_whole(r) for r in read["callsavvy"]]


def test_one_answer_is_handed_over_in_pages_each_under_the_digest_of_its_own_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Callsavvy's getLeads is one answer: each page handed over goes with its records' digests, joined, so an
    edit changes its own page's answer only, and a page holding an item that is no record has none."""
    connector = leads_job(tmp_path).connectors["callsavvy"]
    assert isinstance(connector, callsavvy_api.CallsavvyConnector)
    handed: list[tuple[list[dict[str, Any]], bytes | None]] = []
    given: list[bytes] = []

    def on_page(records: list[dict[str, Any]], answer: bytes | None, sums: list[bytes] | None) -> None:
        handed.append((records, answer))
        # each record's digest goes on with it, exactly the runner's own (its listing memo's key)
        assert (sums is None) == (answer is None)
        assert sums is None or sums == [sum_of(flat(r)) for r in records]
        given.extend(sums or [])

    connector.on_page = on_page
    # (a blank, a one-letter text, a number, a null, a nested list: kinds whose flat bytes must come back alike)
    rows = [
        {"lead_id": i, "first_name": f"Name {i}", "organization": "Acme", "x": "", "y": "a", "z": [1.5, None]}
        for i in range(1, 3 * PER + 3)
    ]

    def hand(rows: list[Any], sums: bool = True) -> list[bytes | None]:
        handed.clear()
        answer = json.loads(json.dumps({"data": rows}), object_hook=connector.compact("lead_id"))
        connector.hand_over(answer["data"], "getLeads", "lead_id", sums=sums)
        assert [r for page, _ in handed for r in page] == [r for r in rows if isinstance(r, dict) and r["lead_id"]]
        return [digest for _, digest in handed]

    monkeypatch.setattr(callsavvy_api, "HAND_OVER", PER)
    first = hand(rows)
    assert len(first) == 4 and None not in first and len(set(first)) == 4
    assert len(given) == len(rows)
    assert hand(rows) == first, "the same records: the same digests"
    rows[PER + 2] = {**rows[PER + 2], "organization": "Edited"}
    edited = hand(rows)
    assert [a == b for a, b in zip(edited, first, strict=True)] == [True, False, True, True]
    # the same records a page further on are another page's (no digest of a place)
    assert hand(rows[PER:])[:2] == edited[1:3]
    # an item that is no record: its page is read record by record (no digest), the others keep theirs
    odd = hand([*rows[: 2 * PER], "not a record", *rows[2 * PER + 1 :]])
    assert odd[0] == edited[0] and odd[1] == edited[1] and odd[2] is None
    # a record without a usable id is left out of its page, and so is its digest
    bad = hand([*rows[: 2 * PER], {**rows[2 * PER], "lead_id": ""}, *rows[2 * PER + 1 :]])
    assert bad[:2] == edited[:2] and bad[2] not in (None, edited[2]) and bad[3] == edited[3]
    assert hand(rows, sums=False) == [None] * 4


def test_digests_that_do_not_fit_their_page_are_named_and_left_unused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connector that hands a page with more or fewer digests than records has a bug: the page is read as if
    it had none (each record flattened and hashed), and a warning names the system and the counts."""
    job = leads_job(tmp_path)
    listings, _ = _world(job, 30, 3)
    raws = [dict(r) for r in listings["callyzer"][:PER]]
    right = [sum_of(flat(r)) for r in raws]
    # a first listing (no memo yet) is told about it too
    with structlog.testing.capture_logs() as logs:
        job._read_page("callyzer", raws, True, right[:-1])
    assert [e["system"] for e in logs if e["event"] == "record digests ignored"] == ["callyzer"]
    first, _ = _fetch(job, listings, monkeypatch)
    job._seen["callyzer"] = {}  # (as during a fetch: the last listing is the memo, this one is being read)
    with structlog.testing.capture_logs() as logs:
        records, sums = job._read_page("callyzer", raws, True, right[:-1])
    assert sums == right, "each record's own digest, taken afresh"
    assert [r.remote_id if r else None for r in records] == [r.remote_id for r in first["callyzer"][:PER]]
    warned = [e for e in logs if e["event"] == "record digests ignored"]
    assert len(warned) == 1 and warned[0]["system"] == "callyzer" and warned[0]["log_level"] == "warning"
    assert f"{PER - 1} digest(s) handed with a page of {PER} record(s)" in warned[0]["why"]
    with structlog.testing.capture_logs() as logs:
        job._read_page("callyzer", raws, True, right)
    assert not [e for e in logs if e["event"] == "record digests ignored"]
