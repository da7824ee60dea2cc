"""A scripted person working in every system between syncs, and the invariants checked once all is quiet.

The person's edits are the ground truth: after the runs settle, every edit must be in every system that
holds the field, nobody may exist twice in one system, and a deleted person must be gone (or marked,
where a system cannot delete). The checker reads the simulators' own records, not syncd's state.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from tests.e2e.harness import Harness

FIRST = ["Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Meera", "Arjun", "Kavya", "Rahul", "Sneha", "Karan", "Divya"]
LAST = ["Sharma", "Patel", "Iyer", "Reddy", "Gupta", "Nair", "Singh", "Mehta", "Joshi", "Kapoor", "Rao", "Das"]
LEAD_SYSTEMS = ("callsavvy", "callyzer", "appsapi")
TAG_DELETED = "deleted-in-crm"


def _numbers(lead: dict[str, Any]) -> list[str]:
    return list(lead["details"]["contact_numbers"])


def digits(value: str) -> str:
    return re.sub(r"\D", "", value)


@dataclass
class Person:
    phone: str  # the 12 digits, 91 + national
    first: str
    last: str
    email: str
    company: str = ""
    notes: str = ""
    alive: bool = True
    contact: bool = False  # a person of the `contacts` job (Callsavvy contacts ↔ the Apps API global list)
    trail: list[str] = field(default_factory=list)  # what the person did to this record, for a failure message


@dataclass
class Tally:
    edits: int = 0
    creates: int = 0
    deletes: int = 0
    checked: int = 0  # field values compared after a quiet point
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)


class World:
    def __init__(
        self,
        h: Harness,
        seed: int,
        *,
        timeout: float = 10.0,
        jitter: float = 0.02,
        early: bool = False,
        in_memory: bool = False,
    ) -> None:
        """``early``: Callyzer listed in pages of 10 at a slower pace, so that runs write people early while
        Callyzer is still listed (syncd.early_writes), and kills and faults land among those writes.
        ``in_memory``: everyone planned in memory (the product's default threshold, not the sandbox's 0)."""
        self.h = h
        self.rng = random.Random(seed)
        self.people: list[Person] = []
        self.tally = Tally()
        self._next = 0
        self.rounds = 0  # rounds of work so far, to date the person's edits in a failure message
        # people edited in the current round: deleting one of them too would be "deleted on one side but
        # edited on another since the last sync", which syncd rightly answers by restoring the record
        self._touched: set[str] = set()
        # the same field edited on several systems in one round is a conflict: the job's `prefer` order
        # (Callsavvy, then Callyzer, then the Apps API) decides, not the order of the edits
        self._round: dict[tuple[str, str], dict[str, str]] = {}
        self.customers = next(g["group_id"] for g in h.dump("callsavvy")["groups"] if g["name"] == "Customers")
        config = h.box.config(h.dir, {"leads": h.box.leads_job(), "contacts": h.box.contacts_job()})
        leads = config["jobs"]["leads"]
        leads["systems"] = [s for s in leads["systems"] if s["system"] != "callpage"]
        leads["existing_lead"] = {"lead_details": "overwrite", "lead_tags": "append", "assignee": "ignore"}
        for system in config["systems"].values():
            system["timeout"] = timeout
            system["rate"]["jitter"] = jitter
            system["retry"] = {"attempts": 6, "backoff": 0.02, "max_wait": 2.0}
        config["logging"] = {"level": "warning", "format": "json"}
        if in_memory:
            del config["state"]["set_aside_from"]
        if early:
            config["systems"]["callyzer"]["page_size"] = 10
            config["systems"]["callyzer"]["rate"]["interval"] = 0.03
        path = h.dir / "config.toml"
        path.write_text(tomli_w.dumps(config))
        path.chmod(0o600)
        h.config_path = path

    # --- the person at work ----------------------------------------------------------------------
    def _new_person(self, contact: bool) -> Person:
        self._next += 1
        n = self._next
        return Person(
            phone=f"9198{n:08d}", first=self.rng.choice(FIRST), last=self.rng.choice(LAST),
            email=f"p{n}@example.in", company=f"Company {n}" if not contact else "", contact=contact,
        )  # fmt: skip

    def create(self, contact: bool = False) -> None:
        p = self._new_person(contact)
        national = p.phone[2:]
        if contact:
            system = "callsavvy" if self.rng.random() < 0.5 else "appsapi"
            if system == "callsavvy":
                self.h.seed_raw(
                    "callsavvy",
                    {
                        "contacts": [
                            {
                                "name": f"{p.first} {p.last}",
                                "email": p.email,
                                "phone": f"+{p.phone}",
                                "group_id": self.customers,
                            }
                        ]
                    },
                )
            else:
                self.h.seed_raw(
                    "appsapi",
                    {
                        "contacts": {
                            "1": [{"name": f"{p.first} {p.last}", "email": p.email, "phone_number": f"+{p.phone}"}]
                        }
                    },
                )
            p.company = ""
        else:
            system = self.rng.choice(LEAD_SYSTEMS)
            if system == "callsavvy":
                self.h.seed("callsavvy", [{"name": f"{p.first} {p.last}", "phone": f"+91 {national[:5]} {national[5:]}",
                                           "email": p.email, "status": "Potential", "priority": "Warm",
                                           "summary": "web", "organization": p.company}])  # fmt: skip
            elif system == "callyzer":
                self.h.seed(
                    "callyzer",
                    [
                        {
                            "details": {
                                "first_name": p.first,
                                "last_name": p.last,
                                "email": p.email,
                                "company_name": p.company,
                                "contact_numbers": [f"91-{national}"],
                            }
                        }
                    ],
                )
            else:
                self.h.seed_raw(
                    "appsapi",
                    {
                        "contacts": {
                            "2": [{"name": f"{p.first} {p.last}", "email": p.email, "phone_number": f"+{p.phone}"}]
                        }
                    },
                )
                p.company = ""  # the list holds no company: nothing to expect until someone sets one
        p.trail.append(f"round {self.rounds}: created in {system}{' (a contact)' if contact else ''}")
        self.people.append(p)
        self.tally.creates += 1

    def _find(self, system: str, p: Person) -> list[tuple[str, dict[str, Any]]]:
        """(record id for the admin API, record) of this person in a system, as it is now."""
        return self._find_in({system: self.h.dump(system)}, system, p)

    def edit(self) -> None:
        alive = [p for p in self.people if p.alive]
        if not alive:
            return
        p = self.rng.choice(alive)
        self._touched.add(p.phone)
        systems = ("callsavvy", "appsapi") if p.contact else LEAD_SYSTEMS
        system = self.rng.choice(systems)
        found = self._find(system, p)
        if len(found) != 1:
            return  # not synced there yet
        rid, _ = found[0]
        self.tally.edits += 1
        what = self.rng.choice(["email", "last"] + ([] if p.contact or system == "appsapi" else ["company", "notes"]))
        n = self.rng.randrange(10_000)
        if what == "email":
            value = f"e{n}.{p.phone[-4:]}@example.in"
            patch: dict[str, Any] = {"details": {"email": value}} if system == "callyzer" else {"email": value}
        elif what == "last":
            value = self.rng.choice(LAST) + "x" * self.rng.randrange(3)
            name = f"{p.first} {value}"
            patch = {"details": {"last_name": value}} if system == "callyzer" else {"name": name}
        elif what == "company":
            value = f"Firm {n}"
            patch = {"details": {"company_name": value}} if system == "callyzer" else {"organization": value}
        else:
            value = f"note {n}"
            patch = {"details": {"description": value}} if system == "callyzer" else {"notes": value}
        self.h.edit(system, rid, patch)
        p.trail.append(f"round {self.rounds}: {what}={value!r} in {system}")
        edits = self._round.setdefault((p.phone, what), {})
        edits[system] = value
        winner = next(s for s in LEAD_SYSTEMS if s in edits)
        setattr(p, what, edits[winner])

    def delete(self) -> None:
        alive = [p for p in self.people if p.alive and not p.contact and p.phone not in self._touched]
        if len(alive) < 5:
            return
        p = self.rng.choice(alive)
        system = self.rng.choice(LEAD_SYSTEMS)
        found = self._find(system, p)
        if len(found) != 1:
            return
        self.h.delete(system, found[0][0])
        p.alive = False
        self.tally.deletes += 1

    def act(self, operations: int) -> None:
        """One round of work between two syncs."""
        self._touched = set()
        self._round = {}
        self.rounds += 1
        for _ in range(operations):
            roll = self.rng.random()
            if roll < 0.3:
                self.create(contact=self.rng.random() < 0.3)
            elif roll < 0.9:
                self.edit()
            else:
                self.delete()

    # --- syncing -----------------------------------------------------------------------------------
    def sync_cmd(self, job: str) -> list[str]:
        assert self.h.config_path is not None
        return [sys.executable, "-m", "syncd", "-c", str(self.h.config_path), "sync", "--json", job]

    def run(self, job: str) -> dict[str, Any] | None:
        proc = subprocess.run(self.sync_cmd(job), capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        self.h.logs.append(proc.stdout + proc.stderr)
        if proc.returncode not in (0, 1, 3) or "Traceback" in proc.stderr:
            self.tally.crashed.append(f"{job}: exit {proc.returncode}: {proc.stderr[-2000:]}")
            return None
        try:
            return dict(json.loads(proc.stdout)[0])
        except (ValueError, IndexError):
            self.tally.crashed.append(f"{job}: unreadable report: {proc.stdout[-500:]}")
            return None

    def settle(self, limit: int = 8) -> None:
        """Clean runs of both jobs until one of each writes nothing."""
        for _ in range(limit):
            quiet = True
            for job in ("leads", "contacts"):
                report = self.run(job)
                if report is None or report["actions"] or report["exit_code"] != 0:
                    quiet = False
            if quiet:
                return
        raise AssertionError(f"no quiet run after {limit} rounds; last failures: {self.failures()}")

    def failures(self) -> str:
        proc = subprocess.run(
            [*self.sync_cmd("leads")[:5], "failures"], capture_output=True, text=True, timeout=60
        )  # fmt: skip
        return proc.stdout

    # --- the invariants ----------------------------------------------------------------------------
    def check(self) -> None:
        before = len(self.tally.lost) + len(self.tally.duplicates)
        self._check()
        assert len(self.tally.lost) + len(self.tally.duplicates) == before, (self.tally.lost + self.tally.duplicates)[
            -5:
        ]

    def _check(self) -> None:
        dumps = {s: self.h.dump(s) for s in ("callsavvy", "callyzer", "appsapi")}
        self._no_duplicates(dumps)
        for p in self.people:
            systems = ("callsavvy", "appsapi") if p.contact else LEAD_SYSTEMS
            for system in systems:
                found = self._find_in(dumps, system, p)
                if not p.alive:
                    if system == "callyzer":
                        for _, lead in found:
                            if TAG_DELETED not in lead["lead_tags"]:
                                self.tally.lost.append(f"deleted {p.phone} lives on unmarked in callyzer")
                    elif found:
                        self.tally.lost.append(f"deleted {p.phone} still in {system}")
                    continue
                if len(found) != 1:
                    self.tally.lost.append(f"{p.phone} is in {system} {len(found)} times")
                    continue
                self._compare(system, p, found[0][1])
        store = self.h.state()
        try:
            assert store.integrity_ok(), "PRAGMA integrity_check failed"
        finally:
            store.close()

    def _find_in(self, dumps: dict[str, Any], system: str, p: Person) -> list[tuple[str, dict[str, Any]]]:
        """(record id for the admin API, record) of this person in a system's dump."""
        dump = dumps[system]
        if system == "callyzer":
            national = p.phone[2:]
            mine = [r for r in dump["leads"] if any(digits(n).endswith(national) for n in _numbers(r))]
            return [(r["id"], r) for r in mine]
        if system == "callsavvy":
            rows, key = (dump["contacts"], "contact_id") if p.contact else (dump["leads"], "lead_id")
            return [(r[key], r) for r in rows if digits(r.get("phone") or "") == p.phone]
        list_id = "1" if p.contact else "2"
        entries = dump["contacts"].get(list_id, [])
        return [(f"contact_lists/{list_id}/contacts/{r['id']}", r) for r in entries
                if digits(r.get("phone_number") or "") == p.phone]  # fmt: skip

    def _compare(self, system: str, p: Person, rec: dict[str, Any]) -> None:
        if system == "callyzer":
            d = rec["details"]
            have = {"first": d["first_name"], "last": d["last_name"], "email": d["email"], "company": d["company_name"],
                    "notes": d["description"]}  # fmt: skip
        elif system == "callsavvy":
            first, _, last = (rec.get("name") or "").rpartition(" ")
            have = {"first": first, "last": last, "email": rec.get("email") or ""}
            if not p.contact:
                have.update(company=rec.get("organization") or "", notes=rec.get("notes") or "")
        else:
            first, _, last = (rec.get("name") or "").rpartition(" ")
            have = {"first": first, "last": last, "email": rec.get("email") or ""}
        want = {"first": p.first, "last": p.last, "email": p.email, "company": p.company, "notes": p.notes}
        for key, value in have.items():
            self.tally.checked += 1
            if key in ("company", "notes") and not want[key]:
                continue  # never set by the person: whatever a create's default holds is fine
            if value != want[key]:
                self.tally.lost.append(
                    f"{p.phone} {system} {key}: has {value!r}, the person wrote {want[key]!r}"
                    f" (check after round {self.rounds}; edits: {'; '.join(p.trail[-4:])})"
                )

    def _no_duplicates(self, dumps: dict[str, Any]) -> None:
        seen: dict[str, list[str]] = {
            "callyzer": [digits(r["details"]["contact_numbers"][0]) for r in dumps["callyzer"]["leads"]],
            "callsavvy leads": [digits(r["phone"]) for r in dumps["callsavvy"]["leads"]],
            "callsavvy contacts": [digits(r["phone"]) for r in dumps["callsavvy"]["contacts"]],
            "appsapi list": [digits(r["phone_number"]) for r in dumps["appsapi"]["contacts"].get("2", [])],
            "appsapi global": [digits(r["phone_number"]) for r in dumps["appsapi"]["contacts"].get("1", [])],
        }
        for where, phones in seen.items():
            doubled = sorted({x for x in phones if phones.count(x) > 1})
            if doubled:
                self.tally.duplicates.append(f"{where}: {doubled}")


def write_figures(path: Path, figures: dict[str, Any]) -> None:
    """Appends one suite's figures to a JSON-lines file, so a whole run's totals can be added up."""
    with path.open("a") as handle:
        handle.write(json.dumps(figures) + "\n")
