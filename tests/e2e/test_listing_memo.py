"""Through the CLI against the four simulators, each `syncd sync` a new process (as a systemd timer runs it): a
run reads afresh only the records that changed since a run listed them, and takes the rest back from the state
(syncd.state.memo), with every edit still carried and nothing written twice."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import Harness
from tests.e2e.test_early_writes import by_phone
from tests.e2e.test_four_systems import entries

LEADS = 150


def afresh(report: dict[str, Any]) -> int:
    """Records read afresh beyond CallPage's (read by cursor: each call-back is listed once, never remembered)."""
    return int(report["records"]["read_afresh"]) - int(report["fetched"].get("callpage", 0))


def test_a_new_process_reads_afresh_only_what_changed_and_carries_every_edit(harness4: Harness) -> None:
    h = harness4
    h.seed("callyzer", [{"details": {"first_name": f"Kept{i:03d}", "last_name": "Memo",
                                     "contact_numbers": [f"91-98771{i:05d}"]}} for i in range(LEADS)])  # fmt: skip
    first = h.sync("leads")
    assert first["exit_code"] == 0, first["errors"]
    listed = sum(first["fetched"].values())
    assert first["records"] == {"read_afresh": listed, "remembered": 0}
    state = h.state()  # and the phone conversions it used, for the next process (syncd.state.phone_memo)
    try:
        left = state.phone_memo("leads")
        assert left is not None and b"91-9877100000" in left and b"+919877100000" in left
    finally:
        state.close()

    # the records the first run created are new to the second; Callyzer's own were listed before
    second = h.sync("leads")
    assert second["actions"] == [], second["actions"]
    assert second["records"]["remembered"] >= LEADS, second["records"]

    third = h.quiet("leads")
    assert afresh(third) == 0 and third["records"]["remembered"] == 3 * LEADS, third["records"]

    savvy = sorted(h.leads("callsavvy"), key=lambda r: r["name"])[:3]
    for lead in savvy:
        h.edit("callsavvy", lead["lead_id"], {"name": lead["name"].replace("Kept", "Edit")})
    fourth = h.sync("leads")
    assert fourth["exit_code"] == 0, (fourth["errors"], fourth["failed"])
    assert afresh(fourth) == 3, fourth["records"]
    assert sorted((a["system"], a["action"]) for a in fourth["actions"]) == sorted(
        [("callyzer", "update")] * 3 + [("appsapi", "update")] * 3
    )
    zer = by_phone([r["details"] for r in h.leads("callyzer")], "contact_numbers")
    apps = by_phone(entries(h), "phone_number")
    for lead in savvy:
        phone = by_phone([lead], "phone").popitem()[0]
        assert zer[phone]["first_name"].startswith("Edit") and apps[phone]["name"].startswith("Edit")

    fifth = h.quiet("leads")  # the six records syncd wrote are read afresh once, then remembered
    assert afresh(fifth) == 6, fifth["records"]
    sixth = h.quiet("leads")
    assert afresh(sixth) == 0, sixth["records"]
    assert len(zer) == len(apps) == len(h.leads("callsavvy")) == LEADS, "nobody duplicated"
