"""What syncd survives: real `syncd sync` processes SIGKILLed at random and at chosen points, and thousands
of injected faults, while a scripted person keeps creating, editing and deleting records everywhere.

After every kill (and every fault round) clean runs follow until one writes nothing; then the invariants
hold: no lost edit, no duplicate, deleted people gone or marked, the state database intact, the quiet run
quiet. The fast default runs in CI's time as part of every test run; `-m slow` is the full count
(≥ 200 kills, ≥ 10,000 faults). Figures are printed at the end of the test session.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

import pytest

from syncd import logging as slog
from syncd.cli import run_jobs
from syncd.config.load import load
from syncd.sandbox import Sandbox
from tests.e2e.harness import Harness
from tests.reliability.conftest import FIGURES
from tests.reliability.world import World

# write endpoints per job, as the simulators name them: a hang there puts the kill between a remote
# write and the state commit (Callyzer mid-batch, a contact's create and its delete, ...)
WRITE_POINTS = {
    "leads": {"callyzer": ["*bulksave"], "callsavvy": ["*createLead", "*updateLead", "*deleteLead"],
              "appsapi": ["POST /contact_lists*", "PATCH /contact_lists*", "DELETE /contact_lists*"]},
    "contacts": {"callsavvy": ["*createContact", "*createBulkContact", "*deleteContact"],
                 "appsapi": ["POST /contact_lists*", "PATCH /contact_lists*", "DELETE /contact_lists*"]},
}  # fmt: skip


def _requests(h: Harness, system: str) -> int:
    return int(h.stats(system)["requests"])


def _clear_faults(h: Harness) -> int:
    """Removes what was not served; returns how many faults were left over."""
    left = 0
    for system in h.box.sims:
        with h.box.admin(system) as c:
            left += sum(f["count"] for f in c.get("/_sim/faults").json())
            c.delete("/_sim/faults")
    return left


class InProcess:
    """Clean runs through the same engine in this process (no interpreter start-up per run)."""

    def __init__(self, world: World) -> None:
        assert world.h.config_path is not None
        self.world = world
        self.loaded = load(world.h.config_path)
        self.early = 0  # people the clean runs planned and wrote before Callyzer's listing was in
        slog.configure("warning", "json")

    def once(self, job: str) -> int | None:
        """One run; its exit code, or None if it crashed (an exception is a crash: the run must not raise)."""
        try:
            [report] = asyncio.run(run_jobs(self.loaded, [job], dry_run=False))
        except Exception as exc:
            self.world.tally.crashed.append(f"{job}: {type(exc).__name__}: {exc}")
            return None
        self.early += report.early
        return report.exit_code

    def settle(self, limit: int = 8) -> None:
        for _ in range(limit):
            reports = asyncio.run(run_jobs(self.loaded, ["leads", "contacts"], dry_run=False))
            self.early += sum(r.early for r in reports)
            if all(not r.plan or (not r.plan.writes() and r.exit_code == 0) for r in reports):
                return
        raise AssertionError(f"no quiet run after {limit} rounds: {self.world.failures()}")


def crash_suite(h: Harness, kills_wanted: int, seed: int, early: bool = False) -> dict[str, Any]:
    world = World(h, seed, early=early)  # (quiet people set aside, as the sandbox does)
    runner = InProcess(world)
    world.act(30)
    runner.settle()
    world.check()
    kills = targeted = finished = 0
    started = time.monotonic()
    while kills < kills_wanted:
        world.act(world.rng.randint(2, 8))
        job = world.rng.choice(["leads", "leads", "contacts"])
        hang = world.rng.random() < 0.4
        before = {}
        if hang:  # one write endpoint hangs; the kill lands while that write is in flight
            system = world.rng.choice(list(WRITE_POINTS[job]))
            endpoint = world.rng.choice(WRITE_POINTS[job][system])
            h.fault(system, {"kind": "timeout", "endpoint": endpoint, "delay": 30, "count": 1})
            before = {system: _requests(h, system)}
        proc = subprocess.Popen(world.sync_cmd(job), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL)  # fmt: skip
        if hang:
            [(system, count)] = before.items()
            deadline = time.monotonic() + 10
            while proc.poll() is None and time.monotonic() < deadline:
                if h.stats(system)["faults_served"] and _requests(h, system) > count:
                    break
                time.sleep(0.02)
        else:
            time.sleep(world.rng.uniform(0.0, 1.5))
        if proc.poll() is None:
            proc.kill()
            kills += 1
            targeted += hang
        else:
            finished += 1
        proc.wait(10)
        _clear_faults(h)
        runner.settle()
        world.check()
    t = world.tally
    return {
        "suite": "crash" + (" (early writes)" if early else ""), "kills": kills, "targeted_kills": targeted,
        "runs_that_finished_first": finished, "planned_early_in_clean_runs": runner.early,
        "creates": t.creates, "edits": t.edits, "deletes": t.deletes, "values_checked": t.checked,
        "lost_edits": len(t.lost), "duplicates": len(t.duplicates), "crashed_runs": len(t.crashed),
        "seconds": round(time.monotonic() - started, 1), "examples": (t.lost + t.duplicates + t.crashed)[:5],
    }  # fmt: skip


#: (fault, share): spread over the requests with a probability, as a flaky network would
FAULT_MIX: list[tuple[dict[str, Any], int]] = [
    ({"kind": "rate_limit", "retry_after": 0.02}, 6),
    ({"kind": "status", "status": 500}, 3),
    ({"kind": "status", "status": 502}, 3),
    ({"kind": "status", "status": 503}, 2),
    ({"kind": "malformed"}, 3),
    ({"kind": "reset"}, 3),
]
FAULT_CHANCE = 0.5  # six in a row, a give-up, stays rare (1.6% of calls)


def fault_suite(h: Harness, faults_wanted: int, seed: int, early: bool = False) -> dict[str, Any]:
    # a few real 429s are welcome here: more faults; with early writes, everyone planned in memory
    world = World(h, seed, timeout=1.0, jitter=0.005, early=early, in_memory=early)
    runner = InProcess(world)
    world.act(120)
    runner.settle()
    world.check()
    for system in h.box.sims:
        with h.box.admin(system) as c:
            c.post("/_sim/settings", json={"fault_seed": seed})
    injected = consumed = rounds = 0
    exits: dict[int, int] = {}
    started = time.monotonic()
    while consumed < faults_wanted:
        rounds += 1
        world.act(world.rng.randint(20, 40))
        batch = 0
        for system in ("callyzer", "callsavvy", "appsapi"):
            specs: list[dict[str, Any]] = []
            for spec, weight in FAULT_MIX:
                specs.append({**spec, "count": weight * world.rng.randint(2, 6), "probability": FAULT_CHANCE})
            if system == "callyzer":
                specs.append({"kind": "partial", "endpoint": "*bulksave", "every": world.rng.randint(2, 4),
                              "count": world.rng.randint(1, 3)})  # fmt: skip
            if rounds % 10 == 0:  # a time-out now and then (the client waits 1 s for it)
                specs.append({"kind": "timeout", "delay": 1.3, "count": 1, "probability": FAULT_CHANCE})
            world.rng.shuffle(specs)
            h.fault(system, specs)
            batch += sum(s["count"] for s in specs)
        injected += batch
        for _ in range(3):
            for job in ("leads", "contacts"):
                code = runner.once(job)
                if code is not None:
                    exits[code] = exits.get(code, 0) + 1
        consumed += batch - _clear_faults(h)
        runner.settle()
        world.check()
    t = world.tally
    return {
        "suite": "faults" + (" (early writes)" if early else ""), "faults_injected": injected,
        "faults_served": consumed, "rounds": rounds, "planned_early": runner.early,
        "exit_codes_under_faults": exits, "creates": t.creates, "edits": t.edits, "deletes": t.deletes,
        "values_checked": t.checked, "lost_edits": len(t.lost), "duplicates": len(t.duplicates),
        "crashed_runs": len(t.crashed), "seconds": round(time.monotonic() - started, 1),
        "examples": (t.lost + t.duplicates + t.crashed)[:5],
    }  # fmt: skip


def _assert_clean(figures: dict[str, Any]) -> None:
    FIGURES.append(figures)
    assert figures["lost_edits"] == 0 and figures["duplicates"] == 0 and figures["crashed_runs"] == 0, figures


@pytest.fixture
def world_harness(tmp_path: Any) -> Any:
    with Sandbox(speed=200, all_systems=True) as box:
        h = Harness(box, tmp_path)
        yield h
    from tests.conftest import assert_no_secret_leaked

    assert_no_secret_leaked(h)


def test_kills_at_random_and_chosen_points(world_harness: Harness) -> None:
    _assert_clean(crash_suite(world_harness, kills_wanted=25, seed=11))


def test_thousands_of_injected_faults(world_harness: Harness) -> None:
    _assert_clean(fault_suite(world_harness, faults_wanted=1000, seed=12))


def test_kills_among_early_writes(world_harness: Harness) -> None:
    figures = crash_suite(world_harness, kills_wanted=15, seed=13, early=True)
    _assert_clean(figures)
    assert figures["planned_early_in_clean_runs"] > 0, "the runs wrote people early"


def test_faults_among_early_writes(world_harness: Harness) -> None:
    figures = fault_suite(world_harness, faults_wanted=600, seed=14, early=True)
    _assert_clean(figures)
    assert figures["planned_early"] > 0, "the runs wrote people early"


@pytest.mark.slow
def test_two_hundred_kills(world_harness: Harness) -> None:
    _assert_clean(crash_suite(world_harness, kills_wanted=200, seed=21))


@pytest.mark.slow
def test_ten_thousand_faults(world_harness: Harness) -> None:
    _assert_clean(fault_suite(world_harness, faults_wanted=10_000, seed=22))
