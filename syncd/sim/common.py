"""What every provider simulator shares: rate limits, switchable faults, counters and the admin API.

The simulators are the sandbox users try syncd against and the backbone of the test suite, so they are
strict: a limit is enforced the way the provider documents it (a sliding window counted at arrival),
and faults are injected on demand through ``/_sim/faults`` rather than at random, so a test knows
exactly what it provoked. Malformed provider records go the same way: ``/_sim/raw`` appends JSON values
verbatim to a listing (see ``SimBase.raw_for``), past every check the simulator applies to its own records.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import math
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]


class SlidingWindow:
    """At most ``limit`` accepted requests in any ``window`` seconds, counted when they arrive.

    Rejected requests are not counted, as with the providers' documented "N per minute" limits.
    """

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: deque[float] = deque()

    def peek(self, now: float) -> float | None:
        """None when a request arriving at ``now`` may pass, else seconds until it could; counts nothing."""
        while self._hits and now - self._hits[0] >= self.window:
            self._hits.popleft()
        if len(self._hits) >= self.limit:
            return self.window - (now - self._hits[0])
        return None

    def hit(self, now: float) -> None:
        """Counts an accepted request."""
        self._hits.append(now)

    def retry_after(self, now: float) -> float | None:
        """None when the request may pass (and is then counted), else seconds until it could."""
        wait = self.peek(now)
        if wait is None:
            self.hit(now)
        return wait


def retry_after_header(seconds: float, speed: float) -> str:
    """Whole seconds as HTTP wants them; with a compressed clock, a decimal so tests stay fast."""
    if speed == 1:
        return str(max(1, math.ceil(seconds)))
    return f"{max(seconds, 0.001):.3f}"


@dataclass
class Fault:
    """One switchable fault. ``count`` requests matching ``endpoint`` (a glob on the path) get it.

    kinds: ``status`` (answer ``status`` with the provider's error envelope), ``rate_limit`` (a 429
    with Retry-After ``retry_after`` seconds), ``malformed`` (200 with a body that is not JSON),
    ``reset`` (the connection is dropped mid-response), ``timeout`` (the answer comes after ``delay``
    seconds), ``partial`` (provider-specific: e.g. Callyzer bulksave rejects ``every``-th lead).
    ``probability`` below 1 spreads the ``count`` faults among ordinary answers: each matching request
    draws the fault with that chance (seeded: the same seed gives the same sequence), as a flaky network
    does, instead of failing the next ``count`` requests in a row.
    """

    kind: str
    count: int = 1
    endpoint: str = "*"
    status: int = 500
    retry_after: float = 1.0
    delay: float = 30.0
    every: int = 2
    message: str = "Simulated fault"
    probability: float = 1.0

    KINDS = ("status", "rate_limit", "malformed", "reset", "timeout", "partial")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        allowed = {"kind", "count", "endpoint", "status", "retry_after", "delay", "every", "message", "probability"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        fault = cls(**data)
        if fault.kind not in cls.KINDS:
            raise ValueError(f"fault kind must be one of {cls.KINDS}")
        if fault.count < 1:
            raise ValueError("fault count must be >= 1")
        if not 0 < fault.probability <= 1:
            raise ValueError("fault probability must be in (0, 1]")
        return fault


@dataclass
class SimStats:
    requests: int = 0
    writes: int = 0
    rate_limited: int = 0
    faults_served: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    writes_by_endpoint: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "writes": self.writes,
            "rate_limited": self.rate_limited,
            "faults_served": self.faults_served,
            "by_endpoint": dict(self.by_endpoint),
            "writes_by_endpoint": dict(self.writes_by_endpoint),
            "by_status": {str(k): v for k, v in self.by_status.items()},
        }


class SimBase:
    """State and plumbing common to every simulator; a provider subclass adds records and routes.

    ``speed`` compresses every rate-limit window (speed 20: Callyzer's 2 s becomes 0.1 s) so a
    sandbox or test run goes fast while the client still has to pace itself exactly.
    """

    name = "sim"
    #: the listings that raw values can be injected into (``POST /_sim/raw``); the first is the default.
    #: A name may be scoped with ``:<key>`` (``list_entries:2``: the entries of list 2 only).
    raw_listings: ClassVar[tuple[str, ...]] = ("records",)

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self.stats = SimStats()
        self.faults: list[Fault] = []
        self.rate_limit_enabled = True
        self._id_counter = 0
        self.fault_rng = random.Random(0)  # draws for faults with a probability (reseed via /_sim/settings)
        #: injected JSON values by listing, appended verbatim to that listing's answers (see raw_for)
        self.raw: dict[str, list[Any]] = {}

    # --- raw records: malformed provider data on the real HTTP path --------------------------
    @property
    def raw_records(self) -> list[Any]:
        """The values injected into the default listing (``raw_listings[0]``), in order."""
        return self.raw.setdefault(self.raw_listings[0], [])

    def raw_for(self, listing: str, scope: Any = None) -> list[Any]:
        """What a listing answer appends after the simulator's own records: the values injected into
        ``listing`` and then those injected into ``listing:scope``. They are served exactly as posted
        (any JSON value: an object of any shape, a string, a number, null), whatever the request's
        filters, and counted in the listing's totals, so paging covers them like any other record."""
        out = list(self.raw.get(listing, []))
        if scope is not None:
            out.extend(self.raw.get(f"{listing}:{scope}", []))
        return out

    def add_raw(self, values: list[Any], listing: str | None = None) -> str:
        name = listing or self.raw_listings[0]
        if name.split(":", 1)[0] not in self.raw_listings:
            raise ValueError(f"unknown listing {name!r}; one of {', '.join(self.raw_listings)} (optionally name:key)")
        self.raw.setdefault(name, []).extend(values)
        return name

    # --- hooks for subclasses -------------------------------------------------------------
    def error_response(self, status: int, message: str, endpoint: str) -> Response:
        """The provider's own error envelope."""
        return JSONResponse({"message": message}, status_code=status)

    def limiters_for(self, request: Request, endpoint: str) -> list[SlidingWindow]:
        """The windows a request counts against (e.g. Callsavvy: its endpoint's and the global one)."""
        return []

    def dump(self) -> Any:
        """Every record the simulator holds, as the provider would list it."""
        raise NotImplementedError

    def seed(self, data: Any) -> Any:
        """Load records directly (no API call counted); returns the stored records with their ids."""
        raise NotImplementedError

    def admin_edit(self, record_id: str, patch: dict[str, Any]) -> Any:
        """An out-of-band edit, as a person in the provider's UI would make it."""
        raise NotImplementedError

    def admin_delete(self, record_id: str) -> None:
        raise NotImplementedError

    def reset_records(self) -> None:
        raise NotImplementedError

    # --- helpers ---------------------------------------------------------------------------
    def window(self, seconds: float) -> float:
        return seconds / self.speed

    def new_id(self, prefix: str = "") -> str:
        self._id_counter += 1
        return f"{prefix}{self._id_counter:06d}"

    def count_write(self, endpoint: str, n: int = 1) -> None:
        self.stats.writes += n
        self.stats.writes_by_endpoint[endpoint] += n

    def take_fault(self, endpoint: str, kinds: tuple[str, ...] | None = None) -> Fault | None:
        matching = [
            f for f in self.faults if (kinds is None or f.kind in kinds) and fnmatch.fnmatch(endpoint, f.endpoint)
        ]
        if not matching:
            return None
        fault = matching[0]
        if fault.probability < 1:
            # one draw per request, whatever the number of entries: the chance is the first entry's
            if self.fault_rng.random() >= fault.probability:
                return None
            fault = self.fault_rng.choice(matching)
        fault.count -= 1
        if fault.count <= 0:
            self.faults.remove(fault)
        self.stats.faults_served += 1
        return fault

    def rate_limited(self, retry_after: float, endpoint: str = "") -> Response:
        self.stats.rate_limited += 1
        resp = self.error_response(429, "Too Many Requests", endpoint)
        resp.headers["Retry-After"] = retry_after_header(retry_after, self.speed)
        return resp

    def wrap(self, endpoint: str, handler: Handler, *, auth: Callable[[Request], Response | None]) -> Handler:
        """Counts, authenticates, rate-limits and injects faults around a provider handler, in the
        order a real gateway would: auth and limits before the handler, faults instead of it."""

        async def endpoint_fn(request: Request) -> Response:
            self.stats.requests += 1
            self.stats.by_endpoint[endpoint] += 1
            response = await self._dispatch(request, endpoint, handler, auth)
            self.stats.by_status[response.status_code] += 1
            return response

        return endpoint_fn

    async def _dispatch(
        self, request: Request, endpoint: str, handler: Handler, auth: Callable[[Request], Response | None]
    ) -> Response:
        denied = auth(request)
        if denied is not None:
            return denied
        fault = self.take_fault(endpoint, ("rate_limit",))
        if fault is not None:
            self.stats.faults_served -= 1  # counted as rate_limited below instead
            return self.rate_limited(fault.retry_after, endpoint)
        if self.rate_limit_enabled:
            # A request must pass every window it counts against, and a rejected one counts in none:
            # peek at all of them first, then count it in all of them.
            now = time.monotonic()
            limiters = self.limiters_for(request, endpoint)
            waits = [wait for limiter in limiters if (wait := limiter.peek(now)) is not None]
            if waits:
                return self.rate_limited(max(waits), endpoint)
            for limiter in limiters:
                limiter.hit(now)
        fault = self.take_fault(endpoint, ("status", "malformed", "reset", "timeout"))
        if fault is not None:
            return await self._serve_fault(fault, endpoint)
        return await handler(request)

    async def _serve_fault(self, fault: Fault, endpoint: str) -> Response:
        if fault.kind == "status":
            return self.error_response(fault.status, fault.message, endpoint)
        if fault.kind == "malformed":
            return Response('{"result": [ {"id": "trunc', status_code=200, media_type="application/json")
        if fault.kind == "timeout":
            await asyncio.sleep(fault.delay)
            return self.error_response(504, "Gateway Timeout", endpoint)
        return _ResetResponse()

    # --- admin API ------------------------------------------------------------------------
    def admin_routes(self) -> list[Route]:
        async def stats(request: Request) -> Response:
            return JSONResponse(self.stats.as_json())

        async def reset_stats(request: Request) -> Response:
            self.stats = SimStats()
            return JSONResponse({"ok": True})

        async def faults(request: Request) -> Response:
            if request.method == "DELETE":
                self.faults.clear()
                return JSONResponse({"ok": True})
            if request.method == "GET":
                return JSONResponse([f.__dict__ for f in self.faults])
            body = await request.json()
            items = body if isinstance(body, list) else [body]
            try:
                new = [Fault.from_json(item) for item in items]
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            self.faults.extend(new)
            return JSONResponse({"ok": True, "pending": len(self.faults)})

        async def records(request: Request) -> Response:
            if request.method == "GET":
                return JSONResponse(self.dump())
            if request.method == "DELETE":
                self.reset_records()
                return JSONResponse({"ok": True})
            try:
                return JSONResponse(self.seed(await request.json()))
            except (KeyError, TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)

        async def record(request: Request) -> Response:
            record_id = request.path_params["record_id"]
            try:
                if request.method == "DELETE":
                    self.admin_delete(record_id)
                    return JSONResponse({"ok": True})
                return JSONResponse(self.admin_edit(record_id, await request.json()))
            except KeyError:
                return JSONResponse({"error": f"no record {record_id}"}, status_code=404)
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)

        async def raw(request: Request) -> Response:
            """POST a JSON array (the default listing) or {"listing": name, "records": [...]}; GET lists
            what is injected; DELETE clears every listing."""
            if request.method == "DELETE":
                self.raw.clear()
                return JSONResponse({"ok": True})
            if request.method == "GET":
                return JSONResponse(self.raw)
            try:
                body = await read_json(request)
                listing = None
                if isinstance(body, dict):
                    if set(body) - {"listing", "records"} or not isinstance(body.get("listing", ""), str):
                        raise ValueError('give a JSON array, or {"listing": name, "records": [...]}')
                    listing, body = body.get("listing"), body.get("records")
                if not isinstance(body, list):
                    raise ValueError("records must be a JSON array (of any JSON values)")
                name = self.add_raw(body, listing)
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse({"ok": True, "listing": name, "pending": len(self.raw[name])})

        async def settings(request: Request) -> Response:
            if request.method == "POST":
                body = await request.json()
                if "rate_limit" in body:
                    self.rate_limit_enabled = bool(body["rate_limit"])
                if "fault_seed" in body:
                    self.fault_rng = random.Random(body["fault_seed"])
            return JSONResponse({"speed": self.speed, "rate_limit": self.rate_limit_enabled})

        return [
            Route("/_sim/stats", stats, methods=["GET"]),
            Route("/_sim/stats/reset", reset_stats, methods=["POST"]),
            Route("/_sim/faults", faults, methods=["GET", "POST", "DELETE"]),
            Route("/_sim/records", records, methods=["GET", "POST", "DELETE"]),
            Route("/_sim/records/{record_id:path}", record, methods=["PATCH", "DELETE"]),
            Route("/_sim/settings", settings, methods=["GET", "POST"]),
            Route("/_sim/raw", raw, methods=["GET", "POST", "DELETE"]),
        ]


class _ResetResponse(Response):
    """Starts a response and then drops the connection, as a proxy reset looks to a client."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"partial', "more_body": True})
        raise ConnectionResetError("simulated connection reset")


async def read_json(request: Request) -> Any:
    """The request body as JSON, or raise ValueError with a message a provider would give."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"Malformed JSON body: {exc.msg}") from exc
