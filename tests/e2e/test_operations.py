"""What an operations person runs besides sync: status, history, conflicts, failures."""

from __future__ import annotations

import json

from tests.e2e.harness import Harness
from tests.e2e.test_sync_leads import by_number, by_phone, cs, linked_pair


def test_history_shows_the_full_trail_of_a_person_edited_on_two_systems_across_three_runs(harness: Harness) -> None:
    h = harness
    h.seed("callsavvy", [cs("Raj Gajjar", "+91 99887 76655", email="raj@gajjar.in")])
    h.sync()  # run 1: created in Callyzer
    raj_cz = by_number(h.leads("callyzer"), "9988776655")[0]
    h.edit("callyzer", raj_cz["id"], {"details": {"company_name": "Gajjar Exports"}})
    h.sync()  # run 2: Callyzer's edit reaches Callsavvy
    raj_cs = by_phone(h.leads("callsavvy"), "9988776655")[0]
    h.edit("callsavvy", raj_cs["lead_id"], {"status": "Converted"})
    h.sync()  # run 3: Callsavvy's edit reaches Callyzer

    for who in ("+91 99887 76655", "91-9988776655", "RAJ@GAJJAR.IN"):
        proc = h.cli("history", who)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert "callsavvy" in lines[0] and "callyzer" in lines[0]
        trail = [line for line in lines[1:] if " run " in line]
        runs = {line.split(" run ")[1].split()[0] for line in trail}
        assert len(runs) == 3, proc.stdout
        assert any("callyzer" in line and "create" in line and "first_name" in line for line in trail)
        assert any("callsavvy" in line and "company" in line and '"Gajjar Exports"' in line
                   and "changed on callyzer" in line for line in trail)  # fmt: skip
        assert any("callyzer" in line and "status" in line and '"Converted"' in line
                   and "changed on callsavvy" in line for line in trail)  # fmt: skip
    unknown = h.cli("history", "+91 90000 00000")
    assert unknown.returncode == 1 and "knows no one" in unknown.stderr


def test_status_reports_each_jobs_last_run_failures_and_next_run(harness: Harness) -> None:
    h = harness
    h.configure({"schedule": {"every": "15m"}})
    h.seed("callsavvy", [cs("Raj Gajjar", "+91 99887 76655"), cs("Al Khan", "+91 98200 11111")])
    h.sync(expect=1)
    proc = h.cli("status", "--json")
    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(proc.stdout)
    assert row["job"] == "leads" and row["result"] == "partial"
    assert row["open_failures"] == 1 and row["held_conflicts"] == 0
    assert row["linked"] == {"callsavvy": 2, "callyzer": 1}
    assert row["next_run"].endswith("UTC") and row["last_run"] != "never"
    table = h.cli("status")
    assert table.returncode == 0 and "leads" in table.stdout and "partial" in table.stdout


def test_a_held_conflict_is_listed_and_resolved_from_the_cli(harness: Harness) -> None:
    h = harness
    h.configure({"conflict": {"policy": "hold", "prefer": ["callsavvy", "callyzer"]}})
    raj_cz, raj_cs = linked_pair(h)
    h.edit("callyzer", raj_cz["id"], {"details": {"company_name": "From Callyzer"}})
    h.edit("callsavvy", raj_cs["lead_id"], {"organization": "From Callsavvy"})
    h.sync()
    listed = h.cli("conflicts")
    assert listed.returncode == 0 and "company" in listed.stdout and "From Callyzer" in listed.stdout
    conflict_id = listed.stdout.split()[0].lstrip("#")
    wrong = h.cli("conflicts", "resolve", conflict_id, "--take", "appsapi")
    assert wrong.returncode == 1 and "not 'appsapi'" in wrong.stderr
    assert h.cli("conflicts", "resolve", conflict_id, "--take", "callyzer").returncode == 0
    h.sync()
    assert by_phone(h.leads("callsavvy"), "9988776655")[0]["organization"] == "From Callyzer"
    assert "no conflicts held" in h.cli("conflicts").stdout
    h.quiet()


def test_failures_can_be_skipped_and_retried(harness: Harness) -> None:
    h = harness
    h.seed("callsavvy", [cs("Meera Nair", "+91 98450 12345")])
    h.fault("callyzer", {"kind": "partial", "endpoint": "*bulksave", "every": 1})
    h.sync(expect=1)
    listed = h.cli("failures")
    failure_id = listed.stdout.split()[0].lstrip("#")
    assert "technical error" in listed.stdout
    assert h.cli("failures", "--skip", failure_id).returncode == 0
    before = h.stats("callyzer")["by_endpoint"].get("/lead/bulksave", 0)
    h.sync()  # skipped: not sent again, and the run is clean
    assert h.stats("callyzer")["by_endpoint"].get("/lead/bulksave", 0) == before
    assert "skipped" in h.cli("failures").stdout
    retried = h.cli("failures", "--retry", failure_id)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert [lead["details"]["first_name"] for lead in h.leads("callyzer")] == ["Meera"]
    assert "no open failures" in h.cli("failures").stdout
