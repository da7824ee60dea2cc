"""Through the CLI against the four simulators: a steady run writes the people whose records are all listed while
Callyzer's listing (the slow one: one page every 2 s) still comes in, and ends where a run that waited would
(syncd.early_writes): every edit everywhere, Callyzer's updates in one bulksave, nothing twice, and a quiet run
after it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import Harness
from tests.e2e.test_four_systems import LIST, entries

LEADS = 400  # four Callyzer pages


def configure(h: Harness, in_memory: bool) -> None:
    """A Callyzer client paced slower than the sandbox allows, so that its listing is the last in by a margin;
    ``in_memory``: the product's default threshold (everyone planned in memory), not the sandbox's 0 (quiet
    people set aside on disk)."""
    path = h.configure(callyzer={"rate": {"interval": 0.25, "jitter": 0.0}})
    if in_memory:
        text = path.read_text(encoding="utf-8")
        assert "set_aside_from = 0\n" in text
        path.write_text(text.replace("set_aside_from = 0\n", ""), encoding="utf-8")


def by_phone(records: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {"".join(c for c in str(r[key]) if c.isdigit())[-10:]: r for r in records}


@pytest.mark.parametrize("in_memory", [True, False], ids=["in-memory", "set-aside"])
def test_a_steady_run_writes_while_callyzer_is_still_listed_and_ends_where_waiting_would(
    harness4: Harness, in_memory: bool
) -> None:
    h = harness4
    configure(h, in_memory)
    h.seed("callyzer", [{"details": {"first_name": f"Early{i:03d}", "last_name": "Lister",
                                     "contact_numbers": [f"91-98770{i:05d}"]}} for i in range(LEADS)])  # fmt: skip
    first = h.sync("leads")
    assert first["exit_code"] == 0, first["errors"]
    assert len(h.leads("callsavvy")) == LEADS and len(entries(h)) == LEADS

    # edits: 8 on Callsavvy (a name), 6 on the Apps API (an e-mail), 5 on Callyzer (a last name)
    savvy = sorted(h.leads("callsavvy"), key=lambda r: r["name"])
    for lead in savvy[:8]:
        h.edit("callsavvy", lead["lead_id"], {"name": lead["name"].replace("Early", "Savvy")})
    listed = sorted(entries(h), key=lambda r: r["name"])
    for entry in listed[100:106]:
        email = f"{entry['name'].split()[0].lower()}@apps.example"
        h.edit("appsapi", f"contact_lists/{LIST}/contacts/{entry['id']}", {"email": email})
    zer = sorted(h.leads("callyzer"), key=lambda r: r["details"]["first_name"])
    for lead in zer[200:205]:
        h.edit("callyzer", lead["id"], {"details": {**lead["details"], "last_name": "Zedited"}})
    calls_before = {s: h.stats(s)["requests"] for s in ("callyzer", "callsavvy", "appsapi")}

    report = h.sync("leads")
    assert report["exit_code"] == 0, (report["errors"], report["failed"])
    assert report["people"]["planned_early"] > 0, report["people"]
    actions = report["actions"]
    assert {(a["system"], a["action"]) for a in actions} <= {
        ("callyzer", "update"), ("callsavvy", "update"), ("appsapi", "update")
    }  # fmt: skip
    per_system = {s: sum(1 for a in actions if a["system"] == s) for s in ("callyzer", "callsavvy", "appsapi")}
    assert per_system == {"callyzer": 14, "callsavvy": 11, "appsapi": 13}, per_system
    calls = {s: h.stats(s)["requests"] - calls_before[s] for s in calls_before}
    pages = -(-LEADS // 100)
    # the minimum: Callyzer's pages and one bulksave; Callsavvy's one getLeads and an update a lead; the Apps
    # API's one page (999 entries a page) and an update an entry
    assert calls == {"callyzer": pages + 1, "callsavvy": 1 + 11, "appsapi": 1 + 13}, calls
    assert h.served_429() == 0

    zer_now = by_phone([r["details"] | {"id": r["id"]} for r in h.leads("callyzer")], "contact_numbers")
    savvy_now = by_phone(h.leads("callsavvy"), "phone")
    apps_now = by_phone(entries(h), "phone_number")
    assert len(zer_now) == len(savvy_now) == len(apps_now) == LEADS, "nobody duplicated"
    for lead in savvy[:8]:
        phone = by_phone([lead], "phone").popitem()[0]
        assert zer_now[phone]["first_name"].startswith("Savvy") and apps_now[phone]["name"].startswith("Savvy")
    for entry in listed[100:106]:
        phone = by_phone([entry], "phone_number").popitem()[0]
        assert zer_now[phone]["email"].endswith("@apps.example") and savvy_now[phone]["email"].endswith("@apps.example")
    for lead in zer[200:205]:
        phone = by_phone([lead["details"]], "contact_numbers").popitem()[0]
        assert savvy_now[phone]["name"].endswith("Zedited") and apps_now[phone]["name"].endswith("Zedited")

    before = h.write_calls()
    again = h.sync("leads")
    assert again["actions"] == [] and h.write_calls() == before, "the next run has nothing left to write"
    assert again["people"]["planned_early"] == 0
