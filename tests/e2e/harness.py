"""Drives the real `syncd` CLI in a subprocess against the simulators served over loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncd.sandbox import Sandbox

if TYPE_CHECKING:
    from syncd.state.store import Store

WRITE_ENDPOINTS = {
    "callyzer": ("/lead/bulksave", "/lead/save"),
    "callsavvy": ("createLead", "updateLead", "deleteLead", "createContact", "createBulkContact", "deleteContact"),
}
WRITE_METHODS = ("POST ", "PATCH ", "DELETE ")  # the Apps API simulator names endpoints "METHOD /path"


class Harness:
    def __init__(self, box: Sandbox, directory: Path) -> None:
        self.box = box
        self.dir = directory
        self.config_path: Path | None = None
        self.logs: list[str] = []

    # --- the systems as a person sees them ---------------------------------------------------
    def seed(self, system: str, leads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self.box.admin(system) as c:
            r = c.post("/_sim/records", json={"leads": leads})
            assert r.status_code == 200, r.text
            return list(r.json()["leads"])

    def leads(self, system: str) -> list[dict[str, Any]]:
        with self.box.admin(system) as c:
            return list(c.get("/_sim/records").json()["leads"])

    def edit(self, system: str, record_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        with self.box.admin(system) as c:
            r = c.patch(f"/_sim/records/{record_id}", json=patch)
            assert r.status_code == 200, r.text
            return dict(r.json())

    def delete(self, system: str, record_id: str) -> None:
        with self.box.admin(system) as c:
            assert c.delete(f"/_sim/records/{record_id}").status_code == 200

    def fault(self, system: str, spec: dict[str, Any] | list[dict[str, Any]]) -> None:
        with self.box.admin(system) as c:
            assert c.post("/_sim/faults", json=spec).status_code == 200

    def stats(self, system: str) -> dict[str, Any]:
        with self.box.admin(system) as c:
            return dict(c.get("/_sim/stats").json())

    def write_calls(self) -> dict[str, int]:
        """Write requests served per system, plus the records the simulators stored."""
        out = {}
        for system in self.box.sims:
            stats = self.stats(system)
            endpoints = WRITE_ENDPOINTS.get(system, ())
            requests = sum(
                n for e, n in stats["by_endpoint"].items() if e.endswith(endpoints) or e.startswith(WRITE_METHODS)
            )
            out[system] = requests + 1000 * stats["writes"]
        return out

    def seed_raw(self, system: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.box.admin(system) as c:
            r = c.post("/_sim/records", json=data)
            assert r.status_code == 200, r.text
            return dict(r.json())

    def dump(self, system: str) -> dict[str, Any]:
        with self.box.admin(system) as c:
            return dict(c.get("/_sim/records").json())

    def state(self) -> Store:
        from syncd.state.store import Store

        return Store(f"sqlite:///{self.dir / 'syncd.db'}")

    def served_429(self) -> int:
        return sum(self.stats(s)["rate_limited"] for s in self.box.sims)

    # --- syncd as a user runs it ----------------------------------------------------------------
    def configure(self, job: dict[str, Any] | None = None, **system_overrides: Any) -> Path:
        jobs = None
        if job is not None:
            base = self.box.config(self.dir)["jobs"]["leads"]
            jobs = {"leads": {**base, **job}}
        self.config_path = self.box.write_config(self.dir, jobs, **system_overrides)
        return self.config_path

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        if self.config_path is None:
            self.configure()
        cmd = [sys.executable, "-m", "syncd", "-c", str(self.config_path), *args]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
        )
        self.logs.append(proc.stdout + proc.stderr)
        return proc

    def sync(self, *args: str, expect: int | None = 0) -> dict[str, Any]:
        proc = self.cli("sync", "--json", *args)
        assert expect is None or proc.returncode == expect, (
            f"exit {proc.returncode}, expected {expect}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
        reports = json.loads(proc.stdout)
        assert len(reports) == 1, "name one job"
        report: dict[str, Any] = reports[0]
        report["_exit"] = proc.returncode
        report["_stderr"] = proc.stderr
        return report

    def quiet(self, *args: str, planned: int = 0) -> dict[str, Any]:
        """A run with no outside change: it must write nothing at all, on any simulator. ``planned``: people whose
        state still moves without a write (else everyone is set aside unread, syncd.state.aside)."""
        before = self.write_calls()
        report = self.sync(*args)
        assert report["actions"] == [], report["actions"]
        assert self.write_calls() == before
        # nobody changed: everyone was set aside as their pages came, and nobody was read into memory to plan
        assert report["people"]["planned_in_memory"] == planned, report["people"]
        return report
