"""The built-in sandbox: the simulators on loopback plus a config pointing syncd at them.

`syncd sim`, `syncd demo` and the end-to-end tests all use it, so a newcomer tries exactly what the
test suite exercises. Rate limits are compressed by ``speed`` on both sides: the simulators enforce
their windows divided by it and the generated config paces the clients to match.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from syncd.config.schema import DEFAULT_INTERVALS
from syncd.sim.appsapi import APPSAPI_SANDBOX_SUBDOMAIN, APPSAPI_SANDBOX_TOKEN, AppsApiSim
from syncd.sim.callpage import CALLPAGE_SANDBOX_KEY, CallPageSim
from syncd.sim.callsavvy import CALLSAVVY_SANDBOX_PRIVATE_KEY, CALLSAVVY_SANDBOX_PUBLIC_KEY, CallsavvySim
from syncd.sim.callyzer import CALLYZER_SANDBOX_TOKEN, CallyzerSim
from syncd.sim.common import SimBase
from syncd.sim.server import LoopbackServer

MAPPINGS_DIR = Path(__file__).resolve().parents[1] / "mappings"
API_PATHS = {"callyzer": "/api/v2.1", "callsavvy": "/v1", "appsapi": "/apps/api/v1", "callpage": "/api"}
SECRETS = {
    "callyzer": {"token": CALLYZER_SANDBOX_TOKEN},
    "callsavvy": {"public_key": CALLSAVVY_SANDBOX_PUBLIC_KEY, "private_key": CALLSAVVY_SANDBOX_PRIVATE_KEY},
    "appsapi": {"token": APPSAPI_SANDBOX_TOKEN},
    "callpage": {"token": CALLPAGE_SANDBOX_KEY},
}
SANDBOX_LIST_ID = 2  # the Apps API simulator's seeded custom list


def mappings_dir() -> Path:
    if not MAPPINGS_DIR.is_dir():
        raise FileNotFoundError(
            f"the shipped mappings are not at {MAPPINGS_DIR}; run syncd from a checkout (pip install -e .)"
        )
    return MAPPINGS_DIR


class Sandbox:
    def __init__(self, speed: float = 20.0, ports: dict[str, int] | None = None, *, all_systems: bool = False) -> None:
        """``all_systems``: the config's jobs span all four systems (`leads` and `contacts`); otherwise one
        `leads` job between Callsavvy and Callyzer."""
        self.speed = speed
        self.all_systems = all_systems
        self.sims: dict[str, SimBase] = {
            "callyzer": CallyzerSim(speed=speed),
            "callsavvy": CallsavvySim(speed=speed),
            "appsapi": AppsApiSim(speed=speed),
            "callpage": CallPageSim(speed=speed),
        }
        # each served from its own child process, as a provider would be: see LoopbackServer
        self.server = LoopbackServer(
            {name: sim.app() for name, sim in self.sims.items()},  # type: ignore[attr-defined]
            ports=ports,
            process=True,
        )

    def __enter__(self) -> Sandbox:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def base_url(self, system: str) -> str:
        return self.server.url(system) + API_PATHS[system]

    def admin(self, system: str) -> httpx.Client:
        """A client for the simulator's /_sim admin API (seeding, edits as a person would make them, stats)."""
        return httpx.Client(base_url=self.server.url(system), timeout=30)

    def stats(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name in self.sims:
            with self.admin(name) as client:
                out[name] = client.get("/_sim/stats").json()
        return out

    def write_secrets(self, directory: Path) -> dict[str, dict[str, str]]:
        directory = Path(directory).resolve()  # the config names them absolutely: it may live anywhere
        directory.mkdir(parents=True, exist_ok=True)
        out: dict[str, dict[str, str]] = {}
        for system, keys in SECRETS.items():
            for key, value in keys.items():
                path = directory / f"{system}-{key.replace('_', '-')}"
                fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(value + "\n")
                out.setdefault(system, {})[f"{key}_file"] = str(path)
        return out

    def config(self, directory: Path, jobs: dict[str, Any] | None = None, **system_overrides: Any) -> dict[str, Any]:
        directory = Path(directory).resolve()
        secrets = self.write_secrets(directory / "secrets")
        systems: dict[str, Any] = {}
        for system in self.sims:
            interval, endpoint_interval = DEFAULT_INTERVALS[system]
            rate: dict[str, Any] = {"interval": interval / self.speed, "jitter": 0.02}
            if endpoint_interval:
                rate["endpoint_interval"] = endpoint_interval / self.speed
            systems[system] = {
                "kind": system,
                "base_url": self.base_url(system),
                **secrets[system],
                "rate": rate,
                "retry": {"attempts": 6, "backoff": 0.05, "max_wait": 5.0},
                "timeout": 10.0,
            }
        systems["callyzer"].update({"timezone": "Asia/Kolkata", "default_region": "IN", "bulk_size": 100})
        systems["callsavvy"].update({"default_region": "IN"})
        systems["appsapi"].update({"default_region": "IN", "subdomain": APPSAPI_SANDBOX_SUBDOMAIN})
        systems["callpage"].update({"default_region": "IN", "history_days": 30, "overlap_seconds": 300})
        for system, overrides in system_overrides.items():
            systems[system].update(overrides)
        mappings = mappings_dir()
        default_jobs = {
            "leads": {
                "object": "leads",
                "systems": [
                    {"system": "callsavvy", "mapping": str(mappings / "callsavvy-leads.toml")},
                    {"system": "callyzer", "mapping": str(mappings / "callyzer-leads.toml")},
                ],
                "conflict": {"policy": "prefer", "prefer": ["callsavvy", "callyzer"]},
                "existing_lead": {"lead_details": "update_blank_only", "lead_tags": "append", "assignee": "ignore"},
                "deletes": {"mode": "propagate", "fallback": {"callyzer": {"tag": "deleted-in-crm"}}},
            }
        }
        if self.all_systems:
            default_jobs = {"leads": self.leads_job(), "contacts": self.contacts_job()}
        return {
            # quiet people set aside from the first one (the default waits for 250k links a system): the sandbox
            # shows it, and the end-to-end tests check it
            "state": {"url": f"sqlite:///{directory / 'syncd.db'}", "set_aside_from": 0},
            "logging": {"level": "warning", "format": "auto"},
            "systems": systems,
            "jobs": jobs or default_jobs,
        }

    @staticmethod
    def leads_job() -> dict[str, Any]:
        """CallPage call-backs → Callyzer ↔ Callsavvy leads ↔ an Apps API custom list."""
        mappings = mappings_dir()
        return {
            "object": "leads",
            "systems": [
                {"system": "callpage", "mapping": str(mappings / "callpage-leads.toml")},
                {"system": "callsavvy", "mapping": str(mappings / "callsavvy-leads.toml")},
                {"system": "callyzer", "mapping": str(mappings / "callyzer-leads.toml")},
                {"system": "appsapi", "mapping": str(mappings / "appsapi-leads.toml"), "list_id": SANDBOX_LIST_ID},
            ],
            "conflict": {"policy": "prefer", "prefer": ["callsavvy", "callyzer", "appsapi"]},
            "existing_lead": {"lead_details": "update_blank_only", "lead_tags": "append", "assignee": "ignore"},
            "deletes": {"mode": "propagate", "fallback": {"callyzer": {"tag": "deleted-in-crm"}}},
        }

    @staticmethod
    def contacts_job() -> dict[str, Any]:
        """Callsavvy contacts (group Customers) ↔ the Apps API global list."""
        mappings = mappings_dir()
        return {
            "object": "contacts",
            "systems": [
                {"system": "callsavvy", "mapping": str(mappings / "callsavvy-contacts.toml"), "group": "Customers"},
                {"system": "appsapi", "mapping": str(mappings / "appsapi-contacts.toml"), "list_id": "global"},
            ],
            "conflict": {"policy": "prefer", "prefer": ["callsavvy", "appsapi"]},
            "existing_lead": {"lead_details": "update_blank_only", "lead_tags": "ignore", "assignee": "ignore"},
        }

    def write_config(self, directory: Path, jobs: dict[str, Any] | None = None, **system_overrides: Any) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "config.toml"
        path.write_text(
            "# Generated by syncd for the built-in sandbox (simulators on loopback).\n"
            + tomli_w.dumps(self.config(directory, jobs, **system_overrides)),
            encoding="utf-8",
        )
        os.chmod(path, 0o600)
        return path
