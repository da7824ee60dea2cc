"""syncd performance benchmark (issue #6): API calls against their minimum, wall time against the rate-limit
floor, 429s, local CPU of map + match + plan, peak RSS. A script run by hand that prints figures; not a test.

    python bench/benchmark.py                                  # 1k and 10k people, --speed 200
    python bench/benchmark.py --sizes 1000 10000 100000 --speed 200
    python bench/benchmark.py --local-only --entities 1000000  # the planner alone, no network
    python bench/benchmark.py --mapping 10000                  # one listing mapped, cold and warm

Network mode. The real sandbox (``Sandbox(speed, all_systems=True)``: the four strict simulators served
from a child process) and the real ``JobRun`` with a real SQLite ``Store`` in a temporary directory run the
``leads`` job: CallPage call-backs (a read-only, cursor-read source) → Callyzer ↔ Callsavvy leads ↔ an
Apps API custom list. It is the job that spans every system and every write style syncd has: Callyzer's
bulksave (100 leads a call), Callsavvy's one-call-per-lead writes on three endpoint windows, the Apps
API's one call per record, and CallPage's paged, cursor-read history. The simulators are seeded through
their admin API (``/_sim/records``: free, not counted), then five phases run in one process with one
``JobRun`` (as ``syncd run``, the daemon, does):

* initial: nothing linked yet; every person ends up on Callyzer, Callsavvy and the Apps API list;
* settle: the daemon's next run, nothing edited: it lists again every record the initial run wrote, so it
  maps them afresh (a record listed unchanged since the last run is not mapped again: the memo);
* steady: 1% of the people edited on one random system each, through the admin API;
* quiet: nothing edited (it reads back what the steady run wrote);
* quiet again: nothing changed since a run that wrote nothing: a daemon's usual run.

For each phase and system it prints the calls the simulator served (from ``/_sim/stats`` before/after)
against the minimum computed from first principles (below), the rate-limit floor, and the 429s served.
Local CPU (``time.thread_time``: the calling thread's, as checkpoints record in a worker thread meanwhile) is
measured by wrapping ``JobRun._record_page`` (each listed page mapped as it arrives), the planner and
its matcher, and the ``Store`` methods in this process only: nothing in syncd is edited for it.

Minimum calls, from the providers' rules and the seeded data (not from syncd's plan):

* Callyzer: fetch ceil(leads / 100) pages (1 when empty); writes ceil(leads to write / 100) bulksaves;
* Callsavvy: fetch 1 getLeads; writes 1 per lead (createLead / updateLead / deleteLead);
* Apps API: fetch ceil(entries / 999) pages (1 when empty); writes 1 per entry;
* CallPage: fetch ceil(calls in the window / 50) (the server caps ``limit`` at 50; 1 when empty); no writes.

Which records must be written is derived from the seed (see ``expected_writes``): a person missing from a
system is created there; in the first run a person's unlinked records meet under the job's
``existing_lead`` policy (update_blank_only, tags append), so a Callyzer lead takes the tag of a Callsavvy
or CallPage record of the same person, and a Callsavvy lead takes a CallPage call-back's ``source``; later
an edited field reaches every other system that maps it.

Floors. A system's floor is its minimum calls × its documented interval ÷ speed (Callyzer 2 s, Callsavvy
0.6 s global with 1.2 s per endpoint, Apps API 1 s, CallPage 1 s). The run's floor (the issue's) is the
slowest system's, since systems run in parallel. syncd fetches every system before it plans and writes,
so a second, tighter floor is printed too: the slowest fetch plus the slowest write. The client adds
``rate.jitter`` seconds to every interval (against network jitter); that allowance is shown separately.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import gc
import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from syncd.config.schema import DEFAULT_INTERVALS

SYSTEMS = ("callyzer", "callsavvy", "appsapi", "callpage")
WRITABLE = ("callyzer", "callsavvy", "appsapi")
CALLYZER_PAGE, CALLYZER_BULK, APPSAPI_PER, CALLPAGE_CAP = 100, 100, 999, 50
CALLPAGE_OVERLAP = 300  # the sandbox config's overlap_seconds (real seconds: the cursor is a timestamp)

FIRST = ["Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Meera", "Arjun", "Kavya", "Rahul", "Sneha", "Karan",
         "Divya", "Nikhil", "Pooja", "Siddharth", "Isha", "Aditya", "Neha", "Varun", "Tanvi"]  # fmt: skip
LAST = ["Sharma", "Patel", "Iyer", "Reddy", "Gupta", "Nair", "Singh", "Mehta", "Joshi", "Kapoor", "Rao", "Das"]
COMPANIES = ["Acme Traders", "Zenith Labs", "Sunrise Realty", "Bluewave Tech", "Orbit Logistics"]
STATUSES = ["Potential", "Qualified", "Interested", "Converted", "Not Interested", "Bad Fit"]
CZ_STATUS = {"Potential": "NewInquiry", "Qualified": "Positive", "Interested": "Interested",
             "Converted": "Converted", "Not Interested": "Not Interested", "Bad Fit": "Negative"}  # fmt: skip
#: where people live before the first sync (shares of N); CallPage call-backs come on top
PLACES: list[tuple[frozenset[str], float]] = [
    (frozenset({"callyzer"}), 0.30),
    (frozenset({"callsavvy"}), 0.25),
    (frozenset({"appsapi"}), 0.10),
    (frozenset({"callyzer", "callsavvy"}), 0.15),
    (frozenset({"callyzer", "appsapi"}), 0.08),
    (frozenset({"callsavvy", "appsapi"}), 0.05),
    (frozenset({"callyzer", "callsavvy", "appsapi"}), 0.05),
]
CALLPAGE_NEW = 0.02  # people known only from a CallPage call-back
CALLPAGE_KNOWN = 0.02  # people elsewhere who also left a call-back
CALLPAGE_TWICE = 0.3  # of the callers, who called twice
#: the edits of the steady phase: system → (field edited, systems the change must reach)
EDITS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "callyzer": [("company", ("callsavvy",)), ("last_name", ("callsavvy", "appsapi"))],
    "callsavvy": [("status", ("callyzer",)), ("company", ("callyzer",))],
    "appsapi": [("last_name", ("callyzer", "callsavvy")), ("email", ("callyzer", "callsavvy"))],
}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --- the people ---------------------------------------------------------------------------------------
@dataclass
class Person:
    i: int
    first: str
    last: str
    national: str  # ten digits; the E.164 number is +91 and these
    email: str
    company: str
    status: str
    systems: set[str]
    calls: list[int] = field(default_factory=list)  # CallPage call-back times (unix seconds)

    @property
    def e164(self) -> str:
        return f"+91{self.national}"


def people(n: int, seed: int, now: int) -> list[Person]:
    rng = random.Random(seed)
    out: list[Person] = []
    nationals = rng.sample(range(6_000_000_000, 9_999_999_999), n)
    cut: list[tuple[float, frozenset[str]]] = []
    total = 0.0
    for where, share in PLACES:
        total += share
        cut.append((total, where))
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        roll = rng.random() * (1 - CALLPAGE_NEW)
        where = next((w for c, w in cut if roll < c), cut[-1][1])
        p = Person(i, first, last, str(nationals[i]), f"{first}.{last}{i}@example.in".lower(),
                   rng.choice(COMPANIES), rng.choice(STATUSES), set(where))  # fmt: skip
        out.append(p)
    callers = rng.sample(range(n), max(1, int(n * (CALLPAGE_NEW + CALLPAGE_KNOWN))))
    fresh = set(callers[: max(1, int(n * CALLPAGE_NEW))])
    for i in callers:
        p = out[i]
        if i in fresh:
            p.systems = set()
        p.systems.add("callpage")
        # in the past 2..20 days, so the quiet runs' cursor window (the last 5 minutes) holds none of them
        p.calls.append(now - rng.randrange(2 * 86400, 20 * 86400))
        if rng.random() < CALLPAGE_TWICE:
            p.calls.append(p.calls[0] + rng.randrange(60, 86400))
    return out


def seed_bodies(folks: list[Person]) -> dict[str, dict[str, Any]]:
    callyzer, callsavvy, entries, calls = [], [], [], []
    for p in folks:
        n = p.national
        if "callyzer" in p.systems:
            callyzer.append({
                "details": {"first_name": p.first, "last_name": p.last, "email": p.email, "company_name": p.company,
                            "contact_numbers": [f"91-{n}"]},
                "status": {"lead_status": CZ_STATUS[p.status]},
            })  # fmt: skip
        if "callsavvy" in p.systems:
            callsavvy.append({
                "name": f"{p.first} {p.last}", "email": p.email, "phone": f"+91 {n[:5]} {n[5:]}", "status": p.status,
                "priority": "Warm", "summary": "Sample lead", "organization": p.company,
            })  # fmt: skip
        if "appsapi" in p.systems:
            entries.append({"name": f"{p.first} {p.last}", "phone_number": f"+91{n}", "email": p.email})
        for ts in p.calls:
            calls.append({"to": p.e164, "name": f"{p.first} {p.last}", "email": p.email, "created_at": ts})
    return {
        "callyzer": {"leads": callyzer},
        "callsavvy": {"leads": callsavvy},
        "appsapi": {"contacts": {"2": entries}},
        "callpage": {"calls": calls},
    }


def expected_writes_initial(folks: list[Person]) -> dict[str, Counter[str]]:
    """Per system, the writes the first sync must make (by kind), from the seed and the job's policies."""
    out: dict[str, Counter[str]] = {s: Counter() for s in WRITABLE}
    for p in folks:
        for system in WRITABLE:
            if system not in p.systems:
                out[system]["create"] += 1
        if "callyzer" in p.systems and ({"callsavvy", "callpage"} & p.systems):
            out["callyzer"]["merge"] += 1  # takes the Callsavvy or CallPage tag (lead_tags = append)
        if "callsavvy" in p.systems and "callpage" in p.systems:
            out["callsavvy"]["update"] += 1  # takes source "CallPage" (lead_details = update_blank_only)
    return out


# --- first principles -----------------------------------------------------------------------------------
def minimum_calls(
    held: dict[str, int], window_calls: int, writes: dict[str, Counter[str]]
) -> dict[str, dict[str, Any]]:
    """Per system: the fewest fetch and write calls the providers' APIs allow."""

    def pages(n: int, per: int) -> int:
        return max(1, math.ceil(n / per))

    cz = sum(writes["callyzer"].values())
    return {
        "callyzer": {"fetch": pages(held["callyzer"], CALLYZER_PAGE), "write": math.ceil(cz / CALLYZER_BULK),
                     "by_endpoint": {}},
        "callsavvy": {"fetch": 1, "write": sum(writes["callsavvy"].values()),
                      "by_endpoint": dict(writes["callsavvy"])},
        "appsapi": {"fetch": pages(held["appsapi"], APPSAPI_PER), "write": sum(writes["appsapi"].values()),
                    "by_endpoint": {}},
        "callpage": {"fetch": pages(window_calls, CALLPAGE_CAP), "write": 0, "by_endpoint": {}},
    }  # fmt: skip


def floors(minimum: dict[str, dict[str, Any]], speed: float, jitter: float) -> dict[str, dict[str, float]]:
    """Per system: seconds the documented limits take for the fetch and for the writes, and the same with
    the client's jitter allowance added to every call (what the client is configured to keep)."""
    out = {}
    for system, m in minimum.items():
        interval, endpoint = DEFAULT_INTERVALS[system]
        interval /= speed
        if system == "callsavvy":
            endpoint_iv = (endpoint or 0) / speed
            counts = list(m["by_endpoint"].values()) or [0]
            writes = m["write"]

            def need(g: float, e: float, counts: list[int] = counts, writes: int = writes) -> float:
                return max(max(counts) * e, writes * g)

            fetch = m["fetch"] * interval
            write = need(interval, endpoint_iv)
            paced_write = need(interval + jitter, endpoint_iv + jitter)
            paced_fetch = m["fetch"] * (interval + jitter)
        else:
            fetch, write = m["fetch"] * interval, m["write"] * interval
            paced_fetch, paced_write = m["fetch"] * (interval + jitter), m["write"] * (interval + jitter)
        out[system] = {"fetch": fetch, "write": write, "total": fetch + write,
                       "paced_fetch": paced_fetch, "paced_write": paced_write}  # fmt: skip
    return out


def latency_floor(trips: dict[str, list[tuple[bool, str, float]]], speed: float, jitter: float) -> tuple[float, float]:
    """(fetch, write) seconds the slowest system needs given its pacing (intervals + jitter) and the round
    trips it actually saw: a call follows the one before it, so each takes max(its interval, its round trip).
    Writes use the median round trip per endpoint (a checkpoint that stalls the client inflates a few)."""
    fetch_need = write_need = 0.0
    for system, calls in trips.items():
        interval, endpoint_iv = DEFAULT_INTERVALS[system]
        interval, endpoint_iv = interval / speed + jitter, (endpoint_iv or 0) / speed + jitter
        reads = [rtt for read, _, rtt in calls if read]
        fetch_need = max(fetch_need, sum(max(interval, rtt) for rtt in reads))
        by_endpoint: dict[str, list[float]] = defaultdict(list)
        for read, path, rtt in calls:
            if not read:
                by_endpoint[path].append(rtt)
        if not by_endpoint:
            continue
        if system == "callsavvy":  # one queue per endpoint, side by side, inside the global window
            per = [len(v) * max(endpoint_iv, sorted(v)[len(v) // 2]) for v in by_endpoint.values()]
            need = max(max(per), sum(len(v) for v in by_endpoint.values()) * interval)
        else:
            every = [rtt for v in by_endpoint.values() for rtt in v]
            need = len(every) * max(interval, sorted(every)[len(every) // 2])
        write_need = max(write_need, need)
    return fetch_need, write_need


def round_trip_summary(trips: dict[str, list[tuple[bool, str, float]]]) -> str:
    parts = []
    for system in SYSTEMS:
        for read in (True, False):
            rtts = sorted(rtt for r, _, rtt in trips.get(system, []) if r == read)
            if rtts:
                kind = "fetch" if read else "write"
                parts.append(f"{system} {kind} {rtts[len(rtts) // 2] * 1000:.0f}/{rtts[-1] * 1000:.0f}")
    return ", ".join(parts)


# --- instrumentation (this process only) ------------------------------------------------------------------
class Meter:
    """CPU (thread_time) and wall time spent in wrapped functions, by name."""

    def __init__(self) -> None:
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self.wall: defaultdict[str, float] = defaultdict(float)
        self.count: Counter[str] = Counter()
        self.marks: dict[str, float] = {}
        self.inside = False  # in JobRun._map: the records it maps itself are counted in its own time
        #: per thread, wrapped calls of local work under way (not the store's, which runs in worker threads); cyclic
        #: GC passes that start in a thread while one is (they run in the allocating thread, so their CPU is in that
        #: call's thread_time) count as local GC. One count for all threads, as before the eleventh session, also
        #: took the passes the event loop made while a store call ran in a worker thread: "without GC" overstated.
        self.here = threading.local()
        self.gc_local = 0.0
        self.gc_local_full = 0  # of which full (generation 2) passes
        self.gc_passes = 0
        self.gc_started = (0.0, False)
        self.depth = 0

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def measuring(self, step: int) -> None:
        here = self.here
        here.n = getattr(here, "n", 0) + step

    def wrap(self, name: str, fn: Callable[..., Any], *, local: bool = True) -> Callable[..., Any]:
        """``local``: the function is part of the local work (map, match, plan), not the store's."""
        meter, step = self, 1 if local else 0

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # this thread's CPU: checkpoints record in a worker thread while the event loop maps and plans
            c, w = time.thread_time(), time.perf_counter()
            meter.marks.setdefault(name + ".first", w)
            meter.measuring(step)
            try:
                return fn(*args, **kwargs)
            finally:
                meter.measuring(-step)
                meter.cpu[name] += time.thread_time() - c
                meter.wall[name] += time.perf_counter() - w
                meter.count[name] += 1
                meter.marks[name + ".last"] = time.perf_counter()

        return wrapper

    def lean(self, name: str, fn: Callable[..., Any], *, less: str | None = None) -> Callable[..., Any]:
        """CPU time only, for a function called once per page or record (the full wrapper would weigh on it), less
        what ``less`` counted inside it meanwhile. Timing each record of a page (two thread_time calls, 0.6 µs each)
        added over a microsecond to every record's few: the meter weighed on what it measured (eleventh session)."""
        meter, clock = self, time.thread_time

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if meter.inside:  # called from the assembly, which counts it already
                return fn(*args, **kwargs)
            c, inner = clock(), meter.cpu[less] if less is not None else 0.0
            meter.measuring(1)
            try:
                return fn(*args, **kwargs)
            finally:
                meter.measuring(-1)
                meter.cpu[name] += clock() - c - (meter.cpu[less] - inner if less is not None else 0.0)

        return wrapper

    def wrap_async(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        meter = self

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            w = time.perf_counter()
            meter.marks.setdefault(name + ".first", w)
            try:
                return await fn(*args, **kwargs)
            finally:
                meter.wall[name] += time.perf_counter() - w
                meter.count[name] += 1
                meter.marks[name + ".last"] = time.perf_counter()

        return wrapper


METER = Meter()


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    """Times the cyclic collector's passes, and those that fall inside the measured local work."""
    if phase == "start":
        inside = getattr(METER.here, "n", 0) > 0
        METER.gc_started = (time.perf_counter(), inside)
        return
    began, inside = METER.gc_started
    METER.gc_passes += 1
    if inside:
        METER.gc_local += time.perf_counter() - began
        METER.gc_local_full += info.get("generation") == 2


#: per phase: system → [(fetch?, endpoint, round-trip seconds)] of every HTTP call syncd made
ROUND_TRIPS: dict[str, list[tuple[bool, str, float]]] = defaultdict(list)
PORTS: dict[int, str] = {}
READS = ("/lead/get", "/getLeads", "/getContacts", "/getContactGroups", "/employee/get")


def is_read(method: str, path: str) -> bool:
    return method.upper() == "GET" or path.endswith(READS)


STORE_METHODS = ("load_entities", "pending_journal", "journal", "record", "record_conflicts", "resolutions",
                 "skipped", "begin_run", "finish_run", "get_cursor", "set_cursor", "linked_remote_ids")  # fmt: skip


def instrument() -> None:
    import httpx

    import syncd.engine.plan as plan_mod
    import syncd.runner as runner_mod
    import syncd.state.aside as aside_mod
    from syncd.state.store import Store

    gc.callbacks.append(_on_gc)
    # a listing is mapped page by page as it arrives (_record_page, less the setting aside inside it, counted on
    # its own), then assembled (_map); a record rebuilt from the set-aside file counts in aside.restore
    if hasattr(runner_mod.JobRun, "_record_page"):
        runner_mod.JobRun._record_page = METER.lean(  # type: ignore[method-assign]
            "map", runner_mod.JobRun._record_page, less="aside"
        )
    else:  # (older syncd, without _record_page)
        runner_mod.JobRun._record = METER.lean("map", runner_mod.JobRun._record)  # type: ignore[method-assign]
    assemble = METER.wrap("assemble", runner_mod.JobRun._map)

    def assembling(*args: Any, **kwargs: Any) -> Any:
        METER.inside = True
        try:
            return assemble(*args, **kwargs)
        finally:
            METER.inside = False

    runner_mod.JobRun._map = assembling  # type: ignore[method-assign]
    # quiet records set aside as each page comes (in _map's own time when it sets aside what it mapped), then the
    # decision of who needs planning, once the listings are in: local work, counted with the mapping
    aside_mod.SetAside.page = METER.lean("aside", aside_mod.SetAside.page)  # type: ignore[method-assign]
    # a new process's listings as the last run read them, loaded from the state (syncd.state.memo): part of reading
    # and stored for the next one, in a worker thread (with the store's CPU); (syncd before the ninth session: none)
    if hasattr(runner_mod.JobRun, "_recall"):
        runner_mod.JobRun._recall = METER.lean("recall", runner_mod.JobRun._recall)  # type: ignore[method-assign]
        runner_mod.JobRun._remember = METER.wrap("store.remember", runner_mod.JobRun._remember, local=False)  # type: ignore[method-assign]
    # and its phone conversions (syncd.state.phone_memo; fifteenth session): taken back at its first fetch, counted
    # with the listings it takes back; left for the next process at the run's end, with the store's CPU
    if hasattr(runner_mod.JobRun, "_recall_phones"):
        runner_mod.JobRun._recall_phones = METER.lean("recall", runner_mod.JobRun._recall_phones)  # type: ignore[method-assign]
        runner_mod.JobRun._leave_phones = METER.wrap("store.phones", runner_mod.JobRun._leave_phones, local=False)  # type: ignore[method-assign]
    # libphonenumber's own conversions (the phone cache's misses), inside the mapping and planning counted above:
    # the part of the local work no engine change removes while each new number is parsed once (nineteenth session)
    try:
        from syncd.mapping import phone_cache
    except ImportError:  # (syncd before the fifteenth session)
        phone_cache = None  # type: ignore[assignment]
    for way in phone_cache.WAYS if phone_cache is not None else ():
        way._convert = _phone_meter(way._convert)
    aside_mod.SetAside.decide = METER.wrap("aside.decide", aside_mod.SetAside.decide)  # type: ignore[method-assign]
    aside_mod.SetAside.restore = METER.wrap("aside.restore", aside_mod.SetAside.restore)  # type: ignore[method-assign]
    request = httpx.AsyncClient.request

    @functools.wraps(request)
    async def timed(self: Any, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        response = await request(self, method, url, *args, **kwargs)
        target = response.request.url
        system = PORTS.get(target.port or 0)
        if system is not None:
            ROUND_TRIPS[system].append((is_read(method, target.path), target.path, time.perf_counter() - started))
        return response

    httpx.AsyncClient.request = timed  # type: ignore[method-assign]
    runner_mod.JobRun._apply = METER.wrap_async("apply", runner_mod.JobRun._apply)  # type: ignore[method-assign]
    runner_mod.make_plan = METER.wrap("plan", runner_mod.make_plan)  # type: ignore[attr-defined]
    plan_mod._match = METER.wrap("match", plan_mod._match)
    # the early rounds' planning while the slowest listing comes in (syncd.early_writes): local work like the whole
    # plan's, counted with it (benchmarks before the tenth session left it out); the matching inside it is theirs
    try:
        import syncd.early_writes as early_mod
    except ImportError:  # (syncd before the fifth session)
        early_mod = None  # type: ignore[assignment]
    for name in ("know", "add", "plan_round") if early_mod is not None else ():
        setattr(early_mod.EarlyPlanner, name, _early_meter(getattr(early_mod.EarlyPlanner, name)))
    for name in STORE_METHODS:
        if hasattr(Store, name):
            setattr(Store, name, METER.wrap("store." + name, getattr(Store, name), local=False))


def _phone_meter(convert: Callable[[str, str], str]) -> Callable[[str, str], str]:
    """CPU of each conversion libphonenumber makes (a number the phone cache did not hold): two thread_time calls
    beside the 15–30 µs of a conversion, and none on a cache hit."""
    meter, clock = METER, time.thread_time

    @functools.wraps(convert)
    def wrapper(text: str, how: str) -> str:
        c = clock()
        try:
            return convert(text, how)
        finally:
            meter.cpu["phones"] += clock() - c
            meter.count["phones"] += 1

    return wrapper


def _early_meter(fn: Callable[..., Any]) -> Callable[..., Any]:
    """METER.wrap("early"), with the matching its plans do moved out of "match" (the whole plan's)."""
    timed = METER.wrap("early", fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        before = METER.cpu["match"]
        try:
            return timed(*args, **kwargs)
        finally:
            METER.cpu["match"] = before

    return wrapper


# --- the network benchmark --------------------------------------------------------------------------------
class Bench:
    def __init__(self, box: Any, directory: Path, args: argparse.Namespace) -> None:
        self.box = box
        self.dir = directory
        self.args = args

    def admin(self, system: str) -> Any:
        return self.box.admin(system)

    def stats(self) -> dict[str, dict[str, Any]]:
        return dict(self.box.stats())

    def held(self) -> dict[str, int]:
        """What each system holds now (admin dump: free)."""
        out = {}
        with self.admin("callyzer") as c:
            out["callyzer"] = len(c.get("/_sim/records").json()["leads"])
        with self.admin("callsavvy") as c:
            out["callsavvy"] = len(c.get("/_sim/records").json()["leads"])
        with self.admin("appsapi") as c:
            out["appsapi"] = len(c.get("/_sim/records").json()["contacts"].get("2", []))
        with self.admin("callpage") as c:
            out["callpage"] = len(c.get("/_sim/records").json()["calls"])
        return out

    def seed(self, bodies: dict[str, dict[str, Any]]) -> None:
        for system, body in bodies.items():
            with self.admin(system) as c:
                c.delete("/_sim/records").raise_for_status()
                c.post("/_sim/records", json=body, timeout=600).raise_for_status()

    def index_by_phone(self) -> dict[str, dict[str, tuple[str, dict[str, Any]]]]:
        """system → ten-digit national number → (the record id the admin API edits, the record as listed)."""

        def digits(text: str | None) -> str:
            return "".join(ch for ch in (text or "") if ch.isdigit())[-10:]

        out: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {}
        with self.admin("callyzer") as c:
            leads = c.get("/_sim/records").json()["leads"]
            out["callyzer"] = {digits(lead["details"]["contact_numbers"][0]): (lead["id"], lead) for lead in leads}
        with self.admin("callsavvy") as c:
            leads = c.get("/_sim/records").json()["leads"]
            out["callsavvy"] = {digits(lead["phone"]): (lead["lead_id"], lead) for lead in leads}
        with self.admin("appsapi") as c:
            rows = c.get("/_sim/records").json()["contacts"].get("2", [])
            out["appsapi"] = {digits(r["phone_number"]): (f"contact_lists/2/contacts/{r['id']}", r) for r in rows}
        return out

    def edit(
        self, folks: list[Person], share: float, rng: random.Random, mappers: dict[str, Any]
    ) -> tuple[dict[str, Counter[str]], Counter[str], list[Edit]]:
        """Edits ``share`` of the people, each on one random system, as a person in that system's UI would.
        Returns the writes the next sync must make (per target system: none where the target, read through the
        job's mapping, holds the new value already), the edits made (per system) and each edit, for
        :meth:`check_edits`."""
        index = self.index_by_phone()
        edits: list[Edit] = []
        chosen = rng.sample(folks, max(1, round(len(folks) * share)))
        writes: dict[str, Counter[str]] = {s: Counter() for s in WRITABLE}
        made: Counter[str] = Counter()
        for p in chosen:
            system = rng.choice(WRITABLE)
            what, reaches = rng.choice(EDITS[system])
            record_id, listed = index[system][p.national]
            if what == "company":
                p.company = f"Nova Ventures {p.i}"
            elif what == "last_name":
                p.last = f"Verma{p.i % 97}"
            elif what == "email":
                p.email = f"{p.first}.{p.last}.new{p.i}@example.org".lower()
            elif what == "status":  # a status the lead does not hold (people syncd created hold the default)
                p.status = next(s for s in STATUSES if s != listed["status"])
            patch: dict[str, Any]
            if system == "callyzer":
                key = {"company": "company_name", "last_name": "last_name"}[what]
                patch = {"details": {key: getattr(p, "company" if what == "company" else "last")}}
            elif system == "callsavvy":
                patch = {"status": p.status} if what == "status" else {"organization": p.company}
            else:
                patch = {"name": f"{p.first} {p.last}"} if what == "last_name" else {"email": p.email}
            with self.admin(system) as c:
                r = c.patch(f"/_sim/records/{record_id}", json=patch)
                r.raise_for_status()
            made[system] += 1
            before = {t: field_of(mappers, t, index[t][p.national][1], what) for t in reaches}
            edits.append(Edit(system, p.national, what, reaches, before))
            new = {"company": p.company, "last_name": p.last, "email": p.email, "status": p.status}[what]
            for target in reaches:
                if before[target] != new:
                    writes[target]["update"] += 1
        return writes, made, edits

    def check_edits(self, mappers: dict[str, Any], edits: list[Edit]) -> None:
        """After the run that carried the edits: does every system an edit reaches now hold the edited value
        (read through the job's mappings), and did it hold it already before (then no write was due)?"""
        after = self.index_by_phone()
        wrong: list[str] = []
        held_already = 0
        for e in edits:
            edited = field_of(mappers, e.system, after[e.system][e.national][1], e.field)
            for target in e.reaches:
                now = field_of(mappers, target, after[target][e.national][1], e.field)
                before = e.before[target]
                held_already += before == edited
                if now != edited:
                    wrong.append(f"{e.field} edited on {e.system} to {edited!r}: {target} holds {now!r} "
                                 f"(before the run: {before!r})")  # fmt: skip
        reached = sum(len(e.reaches) for e in edits)
        print(f"  edits carried: {reached - len(wrong):,} of {reached:,} (edit × system it reaches) hold the edited "
              f"value; {held_already} held it already before the run (no write due)")  # fmt: skip
        for line in wrong[:20]:
            print(f"  ! {line}")

    def window_calls(self, folks: list[Person], cursor: str | None) -> int:
        """CallPage calls inside the next run's window: all of them on the first run, else those at or after
        the stored cursor less the overlap."""
        calls = [ts for p in folks for ts in p.calls]
        if cursor is None:
            return len(calls)
        start = int(float(cursor)) - CALLPAGE_OVERLAP
        return sum(1 for ts in calls if ts >= start)


def field_of(mappers: dict[str, Any], system: str, raw: dict[str, Any], field: str) -> Any:
    """One canonical field of a record as the simulator holds it, read through the job's mapping."""
    return mappers[system].to_canonical(raw).values.get(field)


@dataclass
class Edit:
    system: str
    national: str
    field: str
    reaches: tuple[str, ...]
    before: dict[str, Any]  # each system it reaches: the field's value there before the edit (canonical)


@dataclass
class PhaseResult:
    name: str
    served: dict[str, dict[str, Any]]
    minimum: dict[str, dict[str, Any]]
    floor: dict[str, dict[str, float]]
    planned: dict[str, Counter[str]]
    expected: dict[str, Counter[str]]
    wall: float
    marks: dict[str, float]
    cpu: Counter[str]
    wall_in: Counter[str]
    count: Counter[str]
    records: int
    client_calls: dict[str, int]
    client_429: dict[str, int]
    status: str
    problems: list[str]
    load: tuple[float, float, float]
    trips: dict[str, list[tuple[bool, str, float]]]
    gc: tuple[float, int, int]  # cyclic GC inside the measured local work: seconds, passes of them full; all passes
    early: int = 0  # people planned and written while Callyzer was still listed (syncd.early_writes)


def delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("requests", "writes", "rate_limited"):
        out[key] = after.get(key, 0) - before.get(key, 0)
    eps: Counter[str] = Counter(after.get("by_endpoint", {}))
    eps.subtract(before.get("by_endpoint", {}))
    out["by_endpoint"] = {k: v for k, v in eps.items() if v}
    return out


def split_calls(system: str, by_endpoint: dict[str, int]) -> tuple[int, int]:
    """(fetch calls, write calls) from a simulator's per-endpoint counts."""
    fetch = write = 0
    for endpoint, n in by_endpoint.items():
        if endpoint in READS or endpoint.startswith("GET "):
            fetch += n
        else:
            write += n
    return fetch, write


async def run_phase(
    bench: Bench,
    job: Any,
    name: str,
    minimum: dict[str, dict[str, Any]],
    expected: dict[str, Counter[str]],
    folks_records: int,
    args: argparse.Namespace,
) -> PhaseResult:
    before = bench.stats()
    METER.reset()
    ROUND_TRIPS.clear()
    gc.collect()
    profiler = None
    if args.profile and args.profile in name:
        from pyinstrument import Profiler  # type: ignore[import-not-found,unused-ignore]  # pip install pyinstrument

        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
    started = time.perf_counter()
    report = await job.run()
    wall = time.perf_counter() - started
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    after = bench.stats()
    served = {s: delta(after[s], before[s]) for s in SYSTEMS}
    planned: dict[str, Counter[str]] = {s: Counter() for s in SYSTEMS}
    for action in report.plan.writes() if report.plan else []:
        planned[action.system][action.kind] += 1
    marks = {k: v - started for k, v in METER.marks.items()}
    problems = list(report.errors) + [f"{f['system']} {f['action']} {f['who']}: {f['reason']}" for f in report.failed]
    return PhaseResult(
        name=name, served=served, minimum=minimum, floor=floors(minimum, args.speed, args.jitter),
        planned=planned, expected=expected, wall=wall, marks=marks, cpu=Counter(METER.cpu),
        wall_in=Counter(METER.wall), count=Counter(METER.count), records=sum(report.fetched.values()),
        client_calls={s: v.get("calls", 0) for s, v in report.api.items()},
        client_429={s: v.get("rate_limited", 0) for s, v in report.api.items()},
        status=f"{report.status} (exit {report.exit_code})", problems=problems, load=os.getloadavg(),
        trips={k: list(v) for k, v in ROUND_TRIPS.items()},
        gc=(METER.gc_local, METER.gc_local_full, METER.gc_passes), early=report.early,
    )  # fmt: skip


def print_phase(n: int, r: PhaseResult, args: argparse.Namespace) -> dict[str, Any]:
    early = f" · {r.early:,} people written before the last listing was in" if r.early else ""
    print(f"\n--- {n:,} people · {r.name} · {r.status} · load avg {r.load[0]:.1f}{early} ---")
    head = f"{'system':<10} {'fetch':>6} {'min':>5} {'write':>6} {'min':>5} {'planned':>8} {'model':>6} " \
           f"{'calls':>6} {'min':>6} {'Δ%':>6} {'429':>4} {'floor s':>8} {'+jitter':>8}"  # fmt: skip
    print(head)
    print("-" * len(head))
    total_calls = total_min = 0
    exact = True
    for system in SYSTEMS:
        served = r.served[system]
        fetch, write = split_calls(system, served["by_endpoint"])
        m = r.minimum[system]
        fl = r.floor[system]
        calls, least = fetch + write, m["fetch"] + m["write"]
        total_calls += calls
        total_min += least
        exact = exact and calls == least
        pct = (calls - least) / least * 100 if least else 0.0
        planned = sum(r.planned[system].values())
        model = sum(r.expected.get(system, Counter()).values())
        jit = fl["paced_fetch"] + fl["paced_write"] - fl["total"]
        print(f"{system:<10} {fetch:>6} {m['fetch']:>5} {write:>6} {m['write']:>5} {planned:>8} {model:>6} "
              f"{calls:>6} {least:>6} {pct:>+6.1f} {served['rate_limited']:>4} "
              f"{fl['total']:>8.2f} {jit:>+8.2f}")  # fmt: skip
    run_floor = max(f["total"] for f in r.floor.values())
    slowest = max(r.floor, key=lambda s: r.floor[s]["total"])
    phased = max(f["fetch"] for f in r.floor.values()) + max(f["write"] for f in r.floor.values())
    paced = max(f["paced_fetch"] for f in r.floor.values()) + max(f["paced_write"] for f in r.floor.values())
    lat_fetch, lat_write = latency_floor(r.trips, args.speed, args.jitter)
    m = r.marks
    fetch_end = m.get("assemble.last", r.wall)  # the listings are in: the last of them is put together
    apply_wall = r.wall_in.get("apply", 0.0)
    cpu = r.cpu
    aside = cpu["aside"] + cpu["aside.decide"] + cpu["aside.restore"]
    local = cpu["map"] + cpu["recall"] + cpu["assemble"] + aside + cpu["plan"] + cpu["early"]
    store_cpu = sum(v for k, v in cpu.items() if k.startswith("store."))
    store_wall = sum(v for k, v in r.wall_in.items() if k.startswith("store."))
    recs = max(r.records, 1)
    all429 = sum(s["rate_limited"] for s in r.served.values())
    extra = (total_calls - total_min) / max(total_min, 1) * 100
    print(f"calls: {total_calls} made, {total_min} minimum ({extra:+.1f}%)"
          f"{'  = exactly the minimum' if exact else ''}; 429s served: {all429}")  # fmt: skip
    print(f"wall {r.wall:.2f} s | floor {run_floor:.2f} s ({slowest}) → {r.wall / run_floor if run_floor else 0:.2f}× "
          f"| fetch-then-write floor {phased:.2f} s → {r.wall / phased if phased else 0:.2f}× "
          f"| with jitter {args.jitter * 1000:g} ms/call: {paced:.2f} s "
          f"→ {r.wall / paced if paced else 0:.2f}×")  # fmt: skip
    print(f"  time line: fetch {fetch_end:.2f} s (floor {max(f['fetch'] for f in r.floor.values()):.2f}), "
          f"apply {apply_wall:.2f} s (floor {max(f['write'] for f in r.floor.values()):.2f}), "
          f"store {store_wall:.2f} s wall in all ({r.wall_in.get('store.record', 0):.2f} s in record, "
          f"{r.count.get('store.record', 0)} calls)")  # fmt: skip
    print(f"  floor with the round trips seen (ms p50/max: {round_trip_summary(r.trips)}): fetch {lat_fetch:.2f} s + "
          f"write {lat_write:.2f} s = {lat_fetch + lat_write:.2f} s "
          f"→ wall {r.wall / (lat_fetch + lat_write):.2f}×")  # fmt: skip
    mapped = cpu["map"] + cpu["recall"] + cpu["assemble"]
    print(f"  local CPU: map {mapped:.3f} s ({cpu['map']:.3f} s as the pages came, {cpu['recall']:.3f} s loading "
          f"the listings the last process left), set aside {aside:.3f} s "
          f"({cpu['aside']:.3f} s as the pages came, deciding {cpu['aside.decide'] + cpu['aside.restore']:.3f} s), "
          f"match {cpu['match']:.3f} s, plan {cpu['plan'] - cpu['match']:.3f} s, early rounds {cpu['early']:.3f} s "
          f"→ map+set aside+match+plan {local:.3f} s for {r.records:,} records = {local / recs * 1e6:.1f} µs/record "
          f"= {recs / local if local else float('inf'):,.0f} records/s; store CPU {store_cpu:.3f} s")  # fmt: skip
    if r.count.get("phones"):
        phones = cpu["phones"]
        print(f"  of which libphonenumber {phones:.3f} s ({r.count['phones']:,} numbers parsed or formatted, "
              f"{phones / r.count['phones'] * 1e6:.1f} µs each) → with everything else free, at most "
              f"{recs / phones if phones else float('inf'):,.0f} records/s")  # fmt: skip
    gc_local, gc_full, gc_all = r.gc
    bare = local - gc_local
    print(f"  of which cyclic GC {gc_local:.3f} s ({gc_full} full passes walking the whole heap; {gc_all} passes in "
          f"the run) → without it {recs / bare if bare > 0 else float('inf'):,.0f} records/s")  # fmt: skip
    for line in r.problems[:5]:
        print(f"  ! {line}")
    if len(r.problems) > 5:
        print(f"  ! … and {len(r.problems) - 5} more")
    wrong = {s: (dict(r.planned[s]), dict(r.expected.get(s, {})))
             for s in WRITABLE if r.planned[s] != r.expected.get(s, Counter())}  # fmt: skip
    if wrong:
        print(f"  ! planned writes differ from the model: {wrong}")
    return {"calls": total_calls, "minimum": total_min, "exact": exact, "wall": r.wall, "floor": run_floor,
            "phased": phased, "paced": paced, "429": all429, "local": local, "records": r.records,
            "latency": lat_fetch + lat_write, "store": store_wall, "gc": gc_local}  # fmt: skip


async def network_size(n: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    from syncd import logging as slog
    from syncd.config.load import load
    from syncd.mapping import transforms
    from syncd.runner import JobRun
    from syncd.sandbox import Sandbox
    from syncd.state.store import Store

    directory = Path(tempfile.mkdtemp(prefix=f"syncd-bench-{n}-"))
    now = int(time.time())
    folks = people(n, args.seed + n, now)
    bodies = seed_bodies(folks)
    held_seed = {s: len(b.get("leads", b.get("calls", []))) for s, b in bodies.items()}
    held_seed["appsapi"] = len(bodies["appsapi"]["contacts"]["2"])
    out = []
    with Sandbox(speed=args.speed, all_systems=True) as box:
        path = bench_config(box, directory, args)
        loaded = load(path)
        slog.add_secrets(loaded.secret_values())
        slog.configure("error", "auto")
        bench = Bench(box, directory, args)
        PORTS.clear()
        PORTS.update({served.port: name for name, served in box.server.served.items()})
        t = time.perf_counter()
        bench.seed(bodies)
        records = sum(held_seed.values())
        print(f"\n=== {n:,} people: {records:,} records seeded in {time.perf_counter() - t:.1f} s "
              f"(callyzer {held_seed['callyzer']:,} leads, callsavvy {held_seed['callsavvy']:,} leads, "
              f"apps api {held_seed['appsapi']:,} entries, callpage {held_seed['callpage']:,} calls from "
              f"{sum(1 for p in folks if p.calls):,} numbers); speed {args.speed:g}, "
              f"jitter {args.jitter * 1000:g} ms{'; each run a new process' if args.one_shot else ''} ===")  # fmt: skip
        store = Store(loaded.state_url)
        job = JobRun(loaded, "leads", store)
        job.early_writes = not getattr(args, "no_early", False)
        rng = random.Random(args.seed)

        paced = args  # the pacing the client keeps (--then-speed changes it after the settle run)

        async def phase(name: str, expected: dict[str, Counter[str]]) -> None:
            """One run, measured against the minimum calls for the writes ``expected`` (the CallPage cursor as
            the runs so far left it: none before the first)."""
            nonlocal job
            if getattr(args, "one_shot", False):  # as `syncd sync` from a timer: nothing in memory from a last run
                await job.aclose()
                job = JobRun(load(bench_config(box, directory, paced)), "leads", store)
                job.early_writes = not getattr(args, "no_early", False)
                transforms.to_e164.cache_clear()
                transforms.from_e164.cache_clear()
            window = bench.window_calls(folks, store.get_cursor("leads", "callpage"))
            res = await run_phase(
                bench, job, name, minimum_calls(bench.held(), window, expected), expected, records, paced
            )
            out.append(print_phase(n, res, paced))

        def unedited() -> dict[str, Counter[str]]:
            return {s: Counter() for s in WRITABLE}

        try:
            await phase("initial", expected_writes_initial(folks))
            for p in folks:
                p.systems |= set(WRITABLE)
            # settle: the daemon's next run, nothing edited; it reads back every record the initial run wrote
            await phase("settle (nothing edited since the initial run)", unedited())
            if getattr(args, "then_speed", None):
                # the client paced slower than the simulators allow (legal), floors counted at that pace: the
                # steady and quiet runs at real pace without a two-hour initial run before them
                paced = argparse.Namespace(**{**vars(args), "speed": args.then_speed})
                await job.aclose()
                job = JobRun(load(bench_config(box, directory, paced)), "leads", store)
                job.early_writes = not getattr(args, "no_early", False)
                print(f"\n(from here on the client keeps the pace of speed {args.then_speed:g}; a new JobRun: "
                      "no memo from the runs before)")  # fmt: skip
            for turn in range(1, getattr(args, "repeat", 1) + 1):
                again = f" #{turn}" if turn > 1 else ""
                # steady: 1% edited on random systems
                expected, made, edits = bench.edit(folks, args.changed, rng, job.mappers)
                print(f"\n(edited {sum(made.values())} people through the admin API: {dict(made)})")
                await phase(f"steady ({args.changed:.0%} changed){again}", expected)
                bench.check_edits(job.mappers, edits)
                await phase(f"quiet{again}", unedited())
                # the daemon's usual run: nothing changed since a run that wrote nothing either (the quiet run above
                # read back what the steady run wrote: about half the Callyzer pages and most Apps API pages changed)
                await phase(f"quiet again{again}", unedited())
        finally:
            await job.aclose()
            store.close()
    if not args.keep:
        shutil.rmtree(directory, ignore_errors=True)
    else:
        print(f"(state kept in {directory})")
    return out


def bench_config(box: Any, directory: Path, args: argparse.Namespace) -> Path:
    """The sandbox's leads job, with each system's documented pacing compressed by --speed and --jitter."""
    from syncd.sandbox import Sandbox

    rates = {}
    for system in SYSTEMS:
        interval, endpoint = DEFAULT_INTERVALS[system]
        rate: dict[str, Any] = {"interval": interval / args.speed, "jitter": args.jitter}
        if endpoint:
            rate["endpoint_interval"] = endpoint / args.speed
        rates[system] = {"rate": rate}
    path: Path = box.write_config(directory, {"leads": Sandbox.leads_job()}, **rates)
    # the product's default, not the sandbox's 0: whether quiet people are set aside depends on the state's size
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    if getattr(args, "set_aside_from", None) is None:
        del config["state"]["set_aside_from"]
    else:
        config["state"]["set_aside_from"] = args.set_aside_from
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return path


# --- resume: an initial sync killed half way, then restarted ---------------------------------------------------
def resume(args: argparse.Namespace) -> None:
    """`syncd sync leads` as a user runs it, SIGKILLed once half the initial sync's minimum write calls were
    served, then run again to the end: the writes of both runs against those of one uninterrupted run (the
    model of the seed, the same the network mode checks its plans against)."""
    from syncd.sandbox import Sandbox

    n = args.resume
    directory = Path(tempfile.mkdtemp(prefix=f"syncd-bench-resume-{n}-"))
    folks = people(n, args.seed + n, int(time.time()))
    bodies = seed_bodies(folks)
    expected = expected_writes_initial(folks)
    print(f"syncd benchmark, resume: {n:,} people, speed {args.speed:g}, {os.cpu_count()} CPUs, "
          f"load avg {os.getloadavg()[0]:.1f}")  # fmt: skip
    with Sandbox(speed=args.speed, all_systems=True) as box:
        path = bench_config(box, directory, args)
        bench = Bench(box, directory, args)
        bench.seed(bodies)
        minimum = minimum_calls(bench.held(), bench.window_calls(folks, None), expected)
        least = sum(m["write"] for m in minimum.values())
        cmd = [sys.executable, "-m", "syncd", "-c", str(path), "sync", "--json", "leads"]

        def written(now: dict[str, dict[str, Any]]) -> dict[str, tuple[int, int]]:
            """Per system: (write calls, records written) since the seed."""
            return {s: (split_calls(s, d["by_endpoint"])[1], d["writes"])
                    for s in SYSTEMS if (d := delta(now[s], start[s]))}  # fmt: skip

        start = bench.stats()
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        while proc.poll() is None:
            calls = sum(c for c, _ in written(bench.stats()).values())
            if calls >= least / 2:
                proc.kill()
                break
            time.sleep(0.02)
        proc.wait()
        killed_after = time.perf_counter() - t
        at_kill = written(bench.stats())
        t = time.perf_counter()
        again = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        restarted = time.perf_counter() - t
        total = written(bench.stats())
        quiet = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        quiet_actions = len(json.loads(quiet.stdout)[0]["actions"]) if quiet.stdout.strip() else -1
        served429 = sum(delta(v, start[k])["rate_limited"] for k, v in bench.stats().items())
    print(f"killed after {killed_after:.1f} s (exit {proc.returncode}); the restart ran {restarted:.1f} s "
          f"(exit {again.returncode}); then a quiet run: {quiet_actions} actions (exit {quiet.returncode}); "
          f"429s served in all: {served429}")  # fmt: skip
    head = f"{'system':<10} {'calls at kill':>13} {'calls total':>11} {'min calls':>9} " \
           f"{'records at kill':>15} {'records total':>13} {'one run':>8}"  # fmt: skip
    print(head)
    print("-" * len(head))
    for system in WRITABLE:
        k, tot = at_kill.get(system, (0, 0)), total.get(system, (0, 0))
        model = sum(expected[system].values())
        print(f"{system:<10} {k[0]:>13,} {tot[0]:>11,} {minimum[system]['write']:>9,} {k[1]:>15,} {tot[1]:>13,} "
              f"{model:>8,}")  # fmt: skip
    if again.stdout.strip():
        kinds = Counter(
            f"{a['action']} {a['system']} {'/'.join(a['fields'])}" for a in json.loads(again.stdout)[0]["actions"]
        )
        print("the restart's actions: " + ", ".join(f"{k} × {v}" for k, v in kinds.most_common(8)))
    extra = sum(t[1] for t in total.values()) - sum(sum(expected[s].values()) for s in WRITABLE)
    print(f"records written in both runs minus one uninterrupted run: {extra:+,}")
    if not args.keep:
        shutil.rmtree(directory, ignore_errors=True)


def network(args: argparse.Namespace) -> None:
    instrument()
    if args.no_checkpoint:
        import syncd.runner as runner_mod

        if hasattr(runner_mod, "Checkpoint"):  # what-if: the people are recorded once, at the end of the run
            runner_mod.Checkpoint.save = lambda self, job, every=1.0: None  # type: ignore[method-assign,misc]
            print("WHAT-IF: runner.Checkpoint.save disabled in this process (everything is recorded at the end)")
    print(f"syncd benchmark: sizes {args.sizes}, speed {args.speed:g}, jitter {args.jitter * 1000:g} ms/call, "
          f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}")  # fmt: skip
    summary = []
    for n in args.sizes:
        results = asyncio.run(network_size(n, args))
        summary.append((n, results))
    print(f"\npeak RSS of the syncd process (client side, all sizes so far): {rss_mb():.0f} MB")
    print(
        "\nsummary (calls made/minimum · wall/floor · 429s · map+match+plan records/s, and without the cyclic GC "
        "passes that fell inside it):"
    )
    for n, results in summary:
        names = ["initial", "settle", "steady", "quiet", "quiet again"]
        parts = []
        for name, r in zip(names, results[:5], strict=False):
            rate = r["records"] / r["local"] if r["local"] else float("inf")
            bare = r["local"] - r["gc"]
            rate_bare = r["records"] / bare if bare > 0 else float("inf")
            ratio = r["wall"] / r["floor"]
            parts.append(f"{name} {r['calls']}/{r['minimum']} · {ratio:.2f}× · {r['429']} · {rate:,.0f}/s "
                         f"({rate_bare:,.0f}/s without GC)")  # fmt: skip
        print(f"  {n:>7,}: " + " | ".join(parts))
        if len(results) > 5:  # --repeat: this machine's runs of the same code vary by ±20%; the median says more
            for name, runs in (("steady", results[2::3]), ("quiet", results[3::3]), ("quiet again", results[4::3])):
                rates = sorted(r["records"] / r["local"] for r in runs if r["local"])
                calls = sorted({f"{r['calls']}/{r['minimum']}" for r in runs})
                print(f"  {n:>7,}: {name} × {len(runs)}: map+match+plan median {statistics.median(rates):,.0f}/s "
                      f"(from {rates[0]:,.0f} to {rates[-1]:,.0f}); calls {', '.join(calls)}; "
                      f"429s {sum(r['429'] for r in runs)}")  # fmt: skip


# --- local only: the planner on N linked entities ------------------------------------------------------------
def local_roles(directory: Path) -> Any:
    """The real roles (mappers, connectors' write models) of the leads job, without a network: a config for
    a sandbox that is never started. The Apps API list takes people but is not filled with everyone
    (``create = false``), so a person may be linked on two systems or three and still plan quiet."""
    from syncd.config.load import load
    from syncd.runner import JobRun
    from syncd.sandbox import Sandbox
    from syncd.state.store import Store

    box = Sandbox(speed=1, all_systems=True)  # binds loopback ports, never serves
    try:
        job = Sandbox.leads_job()
        for entry in job["systems"]:
            if entry["system"] == "appsapi":
                entry["create"] = False
        path = box.write_config(directory, {"leads": job})
    finally:
        box.server.stop()
    loaded = load(path)
    return JobRun(loaded, "leads", Store(loaded.state_url))


def local_person(i: int) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """Person i of the local modes: their values on each listed system (Callsavvy and Callyzer, half of them the
    Apps API too), and what CallPage last showed of a tenth of them (a cursor-read source: linked, not listed)."""
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    phone = f"+91{6_000_000_000 + i * 7}"
    email = f"{first}.{last}{i}@example.in".lower()
    company, status = COMPANIES[i % len(COMPANIES)], STATUSES[i % len(STATUSES)]
    per: dict[str, dict[str, Any]] = {
        "callsavvy": {"first_name": first, "last_name": last, "email": email, "phone": phone, "status": status,
                      "priority": "Warm", "summary": "Sample lead", "company": company, "tags": ["callsavvy"]},
        "callyzer": {"first_name": first, "last_name": last, "email": email, "phone": phone, "company": company,
                     "status": status, "tags": ["callsavvy"]},
    }  # fmt: skip
    if i % 2 == 0:
        per["appsapi"] = {"first_name": first, "last_name": last, "email": email, "phone": phone}
    callpage = None
    if i % 10 == 0:
        callpage = {"first_name": first, "last_name": last, "email": email, "phone": phone, "source": "CallPage",
                    "tags": ["callpage"]}  # fmt: skip
    return per, callpage


def listed_raw(job: Any, template: dict[str, Any], system: str, i: int, values: dict[str, Any]) -> dict[str, Any]:
    """Person i's record on ``system`` as its provider lists it: the template with the values written in by the
    mapping, then parsed from JSON text (its own objects, as a listing's)."""
    from syncd.mapping import paths

    mapper = job.mappers[system]
    raw = mapper.to_provider(values, template)
    paths.put(raw, mapper.spec.id_path, f"{system[:2]}{i}")
    parsed: dict[str, Any] = json.loads(json.dumps(raw))
    return parsed


def link_row(eid: str, system: str, remote_id: str, synced: dict[str, Any], stamp: Any) -> dict[str, Any]:
    """A link row of the leads job, as last synced with ``synced``."""
    from syncd.state.store import _json

    return {"entity_id": eid, "job": "leads", "system": system, "remote_id": remote_id, "synced": _json(synced),
            "gone": False, "updated_at": stamp}  # fmt: skip


def write_rows(conn: Any, entity_rows: list[dict[str, Any]], link_rows: list[dict[str, Any]]) -> None:
    """Inserts the rows gathered so far and empties the lists (the state is written in chunks)."""
    from sqlalchemy import insert

    from syncd.state.models import Entity, Link

    if entity_rows:
        conn.execute(insert(Entity), entity_rows)
    if link_rows:
        conn.execute(insert(Link), link_rows)
    entity_rows.clear()
    link_rows.clear()


def local_entities(
    n: int, changed: float, seed: int, job: Any, templates: dict[str, dict[str, Any]] | None = None
) -> tuple[dict[str, Any], dict[str, Any], int, dict[str, float]]:
    """N people linked on Callsavvy and Callyzer, half also on the Apps API list, a tenth also known to CallPage
    (a cursor-read source: nothing listed in a quiet run). ``changed`` of the people have one field edited on
    Callsavvy or Callyzer. Raw records are ``{"id": ...}`` alone; with ``templates`` (one record each system
    listed), each is a whole record as its provider lists it (the template with the person's values written in
    by the mapping, then parsed from JSON text as a listing is), read by ``JobRun._record`` as a run reads it:
    with its own strings and its modified time.

    The listed records are built as the mapper makes them; the state is written to the job's real SQLite store
    and read back through ``Store.load_entities`` with the listing, as ``JobRun`` reads it: a link listed
    unchanged shares its record's values, a changed one has its own dict and strings. Returns the entities,
    the listings, the number of records and the seconds spent writing and reading the state."""
    from datetime import UTC, datetime

    from syncd.engine.model import Fetched, Record, pack

    store = job.store

    rng = random.Random(seed)
    lists: dict[str, list[Record]] = {s: [] for s in SYSTEMS}
    entity_rows: list[dict[str, Any]] = []
    link_rows: list[dict[str, Any]] = []
    stamp = datetime.now(UTC)
    written = 0.0

    def flush(conn: Any) -> float:
        t = time.perf_counter()
        write_rows(conn, entity_rows, link_rows)
        return time.perf_counter() - t

    with store.engine.begin() as conn:  # written in chunks, so the rows never sit in memory all at once
        for i in range(n):
            eid = f"{rng.getrandbits(128):032x}"
            per, callpage = local_person(i)
            entity_rows.append({"id": eid, "job": "leads", "created_at": stamp, "deleted_at": None})
            for system, values in per.items():
                rid = f"{system[:2]}{i}"
                if templates is None:
                    rec = Record(system, rid, values, pack({"id": rid}, system))
                else:
                    found = job._record(system, listed_raw(job, templates[system], system, i, values))
                    assert found is not None
                    rec = found
                link_rows.append(link_row(eid, system, rid, rec.values, stamp))
                lists[system].append(rec)
            if callpage is not None:
                link_rows.append(link_row(eid, "callpage", callpage["phone"], callpage, stamp))
            if len(link_rows) >= 20_000:
                written += flush(conn)
        written += flush(conn)
    k = int(n * changed)
    for idx in rng.sample(range(n), k):
        system = rng.choice(["callsavvy", "callyzer"])
        r = lists[system][idx]
        values = dict(r.values)
        values["company"] = f"Changed Co {idx}"
        lists[system][idx] = dataclasses.replace(r, values=values)
    gc.collect()
    fetched = {s: Fetched(lists[s]) for s in WRITABLE}
    fetched["callpage"] = Fetched([], complete=False, incremental=True)
    listed = {name: {rec.remote_id: rec for rec in result.records} for name, result in fetched.items()}
    t = time.perf_counter()
    entities = store.load_entities("leads", listed)
    read = time.perf_counter() - t
    del listed
    records = sum(len(v) for v in lists.values())
    return entities, fetched, records, {"state_write": written, "state_read": read}


def local_scenario(n: int, changed: float, seed: int, templates: dict[str, dict[str, Any]] | None, queue: Any) -> None:
    from syncd.engine.plan import plan

    directory = Path(tempfile.mkdtemp(prefix="syncd-bench-local-"))
    job = local_roles(directory)
    base = current_rss_mb()
    gc.disable()  # building the inputs is set-up, not measured
    t = time.perf_counter()
    entities, fetched, records, state_times = local_entities(n, changed, seed, job, templates)
    built = time.perf_counter() - t
    gc.enable()
    gc.collect()  # the inputs settle in the oldest generation, as a long-lived process's would
    links = sum(len(e.links) for e in entities.values())
    before = current_rss_mb()
    collections = {"n": 0, "s": 0.0, "t": 0.0}

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collections["s"] = time.perf_counter()
        else:
            collections["n"] += 1
            collections["t"] += time.perf_counter() - collections["s"]

    gc.callbacks.append(on_gc)
    ids = iter(range(10**12))
    c, w = time.process_time(), time.perf_counter()
    result = plan("leads", job.roles, job.policies, entities, fetched, lambda: f"new{next(ids)}")
    cpu, wall = time.process_time() - c, time.perf_counter() - w
    gc.callbacks.remove(on_gc)
    counts = result.counts()
    queue.put({
        "n": n, "changed": changed, "records": records, "links": links, "built": built, "cpu": cpu, "wall": wall,
        "base_rss": base, "input_rss": before, "peak_rss": rss_mb(), "actions": len(result.actions),
        "link_updates": len(result.links), "quiet": result.quiet, **state_times, "counts": counts,
        "gc": collections["n"], "gc_s": collections["t"],
        "load": os.getloadavg()[0],
    })  # fmt: skip
    shutil.rmtree(directory, ignore_errors=True)


def local_run_scenario(
    n: int,
    changed: float,
    seed: int,
    templates: dict[str, dict[str, Any]],
    queue: Any,
    whole: tuple[str, ...] = ("callsavvy",),
    arrivals: int = 0,
    per: int = 100,
) -> None:
    """A dry run of the leads job over N linked people, through ``JobRun._run`` as a real run goes: each system's
    listing handed over in pages of whole records (as the simulators list them, parsed from JSON text), each
    page mapped and its quiet records set aside (syncd.state.aside), then the people who need it loaded from
    the SQLite state and planned. Nothing is built in memory beforehand: the state is written first, person by
    person, and each page is made when the run asks for it. ``whole``: systems whose listing comes in one answer
    instead (Callsavvy's getLeads is not paged): its body is made whole, then parsed and handed over as the
    connector does it (each record packed as it is parsed, then handed on in pages). ``changed`` of the people have one
    field edited on Callsavvy or Callyzer, and ``arrivals`` people nobody has seen before are listed on Callyzer
    (when ``changed``): new records the matcher must meet with anyone who shares their phone or e-mail."""
    import asyncio
    from datetime import UTC, datetime

    import structlog

    import syncd.runner as runner
    import syncd.state.aside as aside

    directory = Path(tempfile.mkdtemp(prefix="syncd-bench-local-"))
    job = local_roles(directory)
    base = current_rss_mb()
    rng = random.Random(seed)
    edits = {i: rng.choice(["callsavvy", "callyzer"]) for i in rng.sample(range(n), int(n * changed))}

    t = time.perf_counter()
    stamp = datetime.now(UTC)
    links = 0
    with job.store.engine.begin() as conn:  # last run's state: what each record mapped to, synced
        entity_rows: list[dict[str, Any]] = []
        link_rows: list[dict[str, Any]] = []
        for i in range(n):
            eid = f"{rng.getrandbits(128):032x}"
            entity_rows.append({"id": eid, "job": "leads", "created_at": stamp, "deleted_at": None})
            per_system, callpage = local_person(i)
            for system, values in per_system.items():
                rec = job._record(system, listed_raw(job, templates[system], system, i, values), keep=False)
                assert rec is not None
                link_rows.append(link_row(eid, system, rec.remote_id, rec.values, stamp))
            if callpage is not None:
                link_rows.append(link_row(eid, "callpage", callpage["phone"], callpage, stamp))
            if len(link_rows) >= 20_000:
                links += len(link_rows)
                write_rows(conn, entity_rows, link_rows)
        links += len(link_rows)
        write_rows(conn, entity_rows, link_rows)
    written = time.perf_counter() - t
    gc.collect()
    before = current_rss_mb()

    def pages(system: str) -> Any:
        page: list[dict[str, Any]] = []
        for i in range(n):
            values = local_person(i)[0].get(system)
            if values is None:
                continue
            if edits.get(i) == system:
                values = {**values, "company": f"Changed Co {i}"}
            page.append(listed_raw(job, templates[system], system, i, values))
            if len(page) == per:
                yield page
                page = []
        for i in range(n, n + (arrivals if changed and system == "callyzer" else 0)):  # new people, unlinked
            page.append(listed_raw(job, templates[system], system, i, local_person(i)[0][system]))
            if len(page) == per:
                yield page
                page = []
        if page:
            yield page

    for name, connector in job.connectors.items():

        async def fetch(connector: Any = connector, name: str = name) -> list[Any]:
            if name not in WRITABLE:
                return []  # CallPage: read from a cursor, nothing new since the last run
            if name in whole:  # one answer (getLeads): its body as received, parsed as the connector parses it
                parts = [b'{"status": "success", "data": [']
                for number, page in enumerate(pages(name)):
                    parts.append((b", " if number else b"") + ", ".join(json.dumps(raw) for raw in page).encode())
                parts.append(b"]}")
                content = b"".join(parts)  # (httpx joins the chunks it read the same way)
                del parts
                answer = json.loads(content, object_hook=connector.compact("lead_id"))
                del content
                return connector.hand_over(answer["data"], "getLeads", "lead_id")  # type: ignore[no-any-return]
            out: list[Any] = []
            for page in pages(name):
                out.extend(connector.page_read(page))  # (kept by the connector unless it streams, as for real)
            return out

        connector.fetch = fetch

    METER.reset()  # each timed function's CPU, in the thread it runs in (_load_state: a worker)
    job._load_state = METER.wrap("state", job._load_state)
    job._record_page = METER.wrap("pages", job._record_page)
    aside.SetAside.page = METER.wrap("aside", aside.SetAside.page)  # type: ignore[method-assign]
    runner.make_plan = METER.wrap("plan", runner.make_plan)  # type: ignore[attr-defined]
    report = runner.RunReport("leads", "bench", True)
    c, w = time.process_time(), time.perf_counter()
    asyncio.run(job._run(report, structlog.get_logger("bench"), True, False))
    cpu, wall = time.process_time() - c, time.perf_counter() - w
    result = report.plan
    assert result is not None
    queue.put({
        "n": n, "changed": changed, "records": sum(report.fetched.values()), "links": links, "written": written,
        "cpu": cpu, "wall": wall, "state": METER.cpu["state"], "plan": METER.cpu["plan"],
        "pages": METER.cpu["pages"], "aside": METER.cpu["aside"],
        "base_rss": base, "input_rss": before, "peak_rss": rss_mb(), "actions": len(result.actions),
        "link_updates": len(result.links), "quiet": result.quiet, "loaded": report.loaded,
        "counts": result.counts(), "load": os.getloadavg()[0],
    })  # fmt: skip
    shutil.rmtree(directory, ignore_errors=True)


def scenarios(args: argparse.Namespace, ctx: Any, target: Callable[..., None], *extra: Any) -> Iterator[Any]:
    """(name, figures) of the quiet and the edited scenario, each run in a forked child (its own peak RSS)."""
    for changed in (0.0, args.changed):
        queue = ctx.Queue()
        proc = ctx.Process(target=target, args=(args.entities, changed, args.seed, extra[0], queue, *extra[1:]))
        proc.start()
        r = queue.get()
        proc.join()
        yield ("quiet" if not changed else f"{changed:.0%} changed"), r


def local(args: argparse.Namespace) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    templates = None
    if args.raws != "id":  # one record of each system as the simulators list it
        directory = Path(tempfile.mkdtemp(prefix="syncd-bench-templates-"))
        _, listings = listed(10, args.seed, directory)
        shutil.rmtree(directory, ignore_errors=True)
        templates = {name: raws[0] for name, raws in listings.items() if raws}
    if args.raws == "listed":
        assert templates is not None
        local_run(args, ctx, templates)
        return
    print(f"syncd planner, local only: {args.entities:,} linked entities, {os.cpu_count()} CPUs, "
          f"load avg {os.getloadavg()[0]:.1f}; raw records: "
          + ("whole, as the simulators list them" if templates else '{"id": ...} alone'))  # fmt: skip
    head = f"{'scenario':<14} {'records':>10} {'links':>10} {'actions':>8} {'plan s':>7} {'cpu s':>7} " \
           f"{'records/s':>11} {'GC s':>6} {'RSS base':>9} {'inputs':>8} {'peak':>8} {'planner':>8}"  # fmt: skip
    print(head)
    print("-" * len(head))
    for name, r in scenarios(args, ctx, local_scenario, templates):
        print(f"{name:<14} {r['records']:>10,} {r['links']:>10,} {r['actions']:>8,} {r['wall']:>7.2f} {r['cpu']:>7.2f} "
              f"{r['records'] / r['wall']:>11,.0f} {r['gc_s']:>6.2f} {r['base_rss']:>7.0f}MB {r['input_rss']:>6.0f}MB "
              f"{r['peak_rss']:>6.0f}MB {r['peak_rss'] - r['input_rss']:>+6.0f}MB")  # fmt: skip
        print(f"{'':<14} (inputs built in {r['built']:.1f} s, not timed, of which the state written to SQLite in "
              f"{r['state_write']:.1f} s and read back in {r['state_read']:.1f} s; {r['quiet']:,} people quiet, "
              f"{r['link_updates']:,} link updates; "
              f"{r['gc']} GC passes during plan; load avg {r['load']:.1f}; planned {r['counts']})")  # fmt: skip
    print(
        "RSS base: after imports and the job's roles; inputs: once the entities and records are built; "
        "peak: the process's peak; planner: peak − inputs."
    )


def local_run(args: argparse.Namespace, ctx: Any, templates: dict[str, dict[str, Any]]) -> None:
    shape = "every listing in pages" if args.paged_all else "Callsavvy's in one answer (getLeads), the others in pages"
    if args.arrivals:
        shape += f"; with {args.changed:.0%} changed, {args.arrivals:,} new people listed on Callyzer too"
    print(f"syncd dry run, local only: {args.entities:,} linked entities, {os.cpu_count()} CPUs, "
          f"load avg {os.getloadavg()[0]:.1f}; whole records, {shape}; quiet people set aside")  # fmt: skip
    head = f"{'scenario':<14} {'records':>10} {'links':>10} {'loaded':>8} {'actions':>8} {'run s':>7} " \
           f"{'state s':>8} {'plan s':>7} {'RSS base':>9} {'state in':>9} {'peak':>8} {'run':>7}"  # fmt: skip
    print(head)
    print("-" * len(head))
    whole = () if args.paged_all else ("callsavvy",)
    for name, r in scenarios(args, ctx, local_run_scenario, templates, whole, args.arrivals):
        print(f"{name:<14} {r['records']:>10,} {r['links']:>10,} {r['loaded']:>8,} {r['actions']:>8,} "
              f"{r['wall']:>7.1f} {r['state']:>8.2f} {r['plan']:>7.2f} {r['base_rss']:>7.0f}MB "
              f"{r['input_rss']:>7.0f}MB {r['peak_rss']:>6.0f}MB {r['peak_rss'] - r['input_rss']:>+5.0f}MB"
              )  # fmt: skip
        print(f"{'':<14} (state written in {r['written']:.1f} s, not timed; run CPU {r['cpu']:.1f} s, of which "
              f"syncd's page work {r['pages']:.1f} s (mapping {r['pages'] - r['aside']:.1f} s, setting aside "
              f"{r['aside']:.1f} s = {r['aside'] / r['records'] * 1e6:.1f} µs a record); "
              f"{r['quiet']:,} people quiet; {r['link_updates']:,} link updates; load avg {r['load']:.1f}; "
              f"planned {r['counts']})")  # fmt: skip
    print(
        "loaded: people read from the state for the planner; run s: the dry run's wall time, pages made included; "
        "state s: CPU deciding who needs planning and loading them; plan s: the planner's CPU; RSS base: after "
        "imports and the job's roles; state in: once the state is written; peak: the process's peak; "
        "run: peak − state in."
    )


# --- mapping alone: one listing of N people, read into canonical records ---------------------------------------
def listed(n: int, seed: int, directory: Path) -> tuple[Any, dict[str, list[dict[str, Any]]]]:
    """N people seeded into the simulators and listed once, as each provider sends them; with the JobRun
    that listed them (its connections closed)."""
    from syncd import logging as slog
    from syncd.config.load import load
    from syncd.runner import JobRun
    from syncd.sandbox import Sandbox
    from syncd.state.store import Store

    speed = 2000.0
    folks = people(n, seed + n, int(time.time()))
    listings: dict[str, list[dict[str, Any]]] = {}
    with Sandbox(speed=speed, all_systems=True) as box:
        fast = argparse.Namespace(speed=speed, jitter=0.0, seed=seed)
        loaded = load(bench_config(box, directory, fast))
        slog.configure("error", "auto")
        Bench(box, directory, fast).seed(seed_bodies(folks))
        job = JobRun(loaded, "leads", Store(loaded.state_url))

        async def fetch_all() -> None:
            try:
                for name, connector in job.connectors.items():
                    listings[name] = list(await connector.fetch())
            finally:
                await job.aclose()

        asyncio.run(fetch_all())
    return job, listings


def mapping(args: argparse.Namespace) -> None:
    """Lists N people's records from the seeded simulators once, then maps them with ``JobRun._record`` (the
    memo empty): cold (phone caches empty, as in a one-shot ``syncd sync``) and warm (as in a daemon's later
    runs, for records that changed)."""
    from syncd.mapping import transforms

    n = args.mapping
    directory = Path(tempfile.mkdtemp(prefix=f"syncd-bench-mapping-{n}-"))
    job, listings = listed(n, args.seed, directory)
    print(f"syncd mapping, one listing of {n:,} people: "
          + ", ".join(f"{name} {len(raws):,}" for name, raws in listings.items()))  # fmt: skip
    transforms.to_e164.cache_clear()
    transforms.from_e164.cache_clear()
    for label in ("cold (phone caches empty: a one-shot `syncd sync`)", "warm (phone caches filled: a daemon)"):
        parts, total, seconds = [], 0, 0.0
        for name, raws in listings.items():
            if not raws:
                continue
            job._by_sum.pop(name, None)  # no memo: every record is mapped
            c = time.process_time()
            for raw in raws:
                job._record(name, raw)
            spent = time.process_time() - c
            parts.append(f"{name} {spent / len(raws) * 1e6:.1f} µs")
            total += len(raws)
            seconds += spent
        print(f"  {label}: {total:,} records in {seconds:.3f} s = {total / seconds:,.0f} records/s "
              f"({', '.join(parts)} a record)")  # fmt: skip
    shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1000, 10000], help="people per run (100000 on request)"
    )
    parser.add_argument("--speed", type=float, default=200.0, help="rate-limit compression (simulators and clients)")
    parser.add_argument(
        "--jitter",
        type=float,
        default=0.002,
        help="rate.jitter: seconds the client adds to every interval (the sandbox's default is 0.02)",
    )
    parser.add_argument("--changed", type=float, default=0.01, help="share of people edited before the steady run")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--keep", action="store_true", help="keep the state directories")
    parser.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="what-if: skip the runner's per-chunk recording (everything is recorded at the end)",
    )
    parser.add_argument("--profile", metavar="PHASE", help="profile phases whose name contains this (pyinstrument)")
    parser.add_argument("--local-only", action="store_true", help="plan N linked entities in memory, no network")
    parser.add_argument("--entities", type=int, default=1_000_000, help="entities for --local-only")
    parser.add_argument(
        "--raws",
        choices=("id", "held", "listed"),
        default="id",
        help="--local-only: the planner alone over everyone held in memory, with raw records of just an id (id) or "
        "whole records as the simulators list them (held); or a dry run of N people through the runner, its "
        "listings paged in as whole records and quiet people set aside (listed)",
    )
    parser.add_argument(
        "--resume", type=int, metavar="N", help="kill `syncd sync` half way through an initial sync of N, restart it"
    )
    parser.add_argument(
        "--paged-all",
        action="store_true",
        help="--raws listed: hand Callsavvy's listing over in pages too (the engine's own memory, without the "
        "one-answer listing a real getLeads holds)",
    )
    parser.add_argument(
        "--set-aside-from",
        type=int,
        metavar="LINKS",
        help="network mode: [state] set_aside_from (default: the product's, 250k links; 0: set quiet people "
        "aside at any size)",
    )
    parser.add_argument(
        "--arrivals",
        type=int,
        default=0,
        metavar="N",
        help="--raws listed: the changed scenario also lists N new people on Callyzer (unlinked records: the run must "
        "find who shares their phone or e-mail)",
    )
    parser.add_argument("--mapping", type=int, metavar="N", help="map one listing of N people, cold and warm")
    parser.add_argument(
        "--then-speed",
        type=float,
        metavar="X",
        help="network mode: after the settle run, the client keeps the pace of speed X (1: real pace) for the "
        "steady and quiet runs, and their floors are counted at it",
    )
    parser.add_argument(
        "--one-shot",
        action="store_true",
        help="network mode: each run as a new `syncd sync` process makes it (a new JobRun, no phone cache): what a "
        "systemd timer runs; the listings it takes back are the state's (syncd.state.memo), not a daemon's memory",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="K",
        help="network mode: the steady, quiet and quiet-again runs K times each (new edits before each steady run), "
        "and the median of their local rates",
    )
    parser.add_argument(
        "--no-early",
        action="store_true",
        help="network mode: every write waits for every listing (no people written while Callyzer is still listed)",
    )
    args = parser.parse_args()
    if args.mapping:
        mapping(args)
    elif args.resume:
        resume(args)
    elif args.local_only:
        local(args)
    else:
        network(args)


if __name__ == "__main__":
    main()
