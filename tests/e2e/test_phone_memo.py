"""Against the four simulators over loopback, each run as a new process makes it (its own JobRun, no conversion in
memory; a systemd timer's `syncd sync`): a run leaves its phone conversions in the state (syncd.state.phone_memo),
and the next process parses no number a run before it met, only new ones; a dry run leaves nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from syncd.config.load import load
from syncd.mapping import phone_cache
from syncd.runner import JobRun, RunReport
from syncd.state.store import Store
from tests.e2e.harness import Harness
from tests.unit.test_phone_memo import count_parsing

LEADS = 60


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The texts libphonenumber is asked to convert, either way, in this test's processes."""
    yield count_parsing(monkeypatch)
    phone_cache.clear()


def process(h: Harness, *, dry_run: bool = False) -> RunReport:
    """One run of the leads job as a new process runs it."""
    phone_cache.clear()
    loaded = load(h.config_path or h.configure())
    job = JobRun(loaded, "leads", Store(loaded.state_url))

    async def run() -> RunReport:
        try:
            return await job.run(dry_run=dry_run)
        finally:
            await job.aclose()

    try:
        return asyncio.run(run())
    finally:
        job.store.close()


def stored(h: Harness) -> bytes | None:
    state = h.state()
    try:
        return state.phone_memo("leads")
    finally:
        state.close()


@pytest.mark.parametrize("memo", ["left", "lost"])
def test_the_next_process_parses_no_number_a_run_before_it_met(harness4: Harness, parsed: list[str], memo: str) -> None:
    h = harness4
    h.seed("callyzer", [{"details": {"first_name": f"Dial{i:03d}", "last_name": "Memo",
                                     "contact_numbers": [f"91-98772{i:05d}"]}} for i in range(LEADS)])  # fmt: skip
    first = process(h)
    assert first.exit_code == 0, (first.errors, first.failed)
    assert first.plan is not None and len(first.plan.writes()) == 2 * LEADS  # each lead created on Callsavvy, Apps API
    assert parsed, "the first process parses every number"
    assert stored(h) is not None
    if memo == "lost":
        with h.state().engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM phone_memo")

    parsed.clear()
    # the records the first run created are new to this listing: read afresh, their numbers as they were sent
    second = process(h)
    assert second.exit_code == 0 and second.plan is not None and second.plan.writes() == []
    assert second.read_afresh >= 2 * LEADS
    if memo == "left":
        assert parsed == []
    else:  # (each created number is one text, "+9198772…", on both systems)
        assert sorted(parsed) == sorted(f"+9198772{i:05d}" for i in range(LEADS))


def test_only_new_numbers_are_parsed_and_a_dry_run_leaves_none(harness4: Harness, parsed: list[str]) -> None:
    h = harness4
    h.seed("callyzer", [{"details": {"first_name": f"Dial{i:03d}", "last_name": "Again",
                                     "contact_numbers": [f"91-98773{i:05d}"]}} for i in range(LEADS)])  # fmt: skip
    assert process(h).exit_code == 0
    assert process(h).exit_code == 0  # (settled)
    before = stored(h)
    lead = sorted(h.leads("callsavvy"), key=lambda r: r["name"])[0]
    h.edit("callsavvy", lead["lead_id"], {"phone": "+919877399999"})

    parsed.clear()
    dry = process(h, dry_run=True)
    assert dry.exit_code == 0 and dry.plan is not None and dry.plan.writes()
    assert "+919877399999" in parsed
    assert stored(h) == before, "a dry run writes nothing to the state"

    parsed.clear()
    real = process(h)
    assert real.exit_code == 0, (real.errors, real.failed)
    assert set(parsed) <= {"+919877399999", "91-9877399999"}, "only the new number, each way it is read or written"
    after = stored(h)
    assert after is not None and after != before and b"9877399999" in after

    parsed.clear()
    assert process(h).exit_code == 0  # the number as Callyzer and the Apps API now hold it: met by the last run
    assert parsed == []
