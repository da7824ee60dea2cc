"""CallPage calls history (v3) as a read-only, cursor-read lead source: one lead per visitor phone.

Reading. ``GET /v3/external/calls/history`` (path overridable as ``paths.calls_history``) with
``date_from`` = the stored cursor minus ``overlap_seconds`` (on the first run: now minus
``history_days``), ``date_to`` = now (fixed for the whole listing, so calls arriving while we page do
not shift the offsets), ``limit`` = ``page_size`` (default 100) and ``offset``. The server may cap
``limit`` below what was asked without saying so: the offset advances by what each page really held
and paging stops once it reaches ``meta.count``, never at a short page. That is the fewest calls
possible: ceil(count / the server's effective limit), one call for an empty window.

Every answer must be CallPage's envelope (``hasError`` boolean, ``data`` a list, ``meta.count``);
anything else is a garbled answer and is retried. ``hasError: true`` is a :class:`Rejected` with
CallPage's ``errorCode`` and ``message``; 401/403 are an :class:`AuthError` (never retried).

Aggregating. The history lists calls; syncd wants people. Two records of one system that share a
phone are reported as ambiguous by the matcher, so the calls are folded into one record per visitor
phone (``to`` normalised to E.164 with the system's ``default_region``). A call whose ``to`` is not a
phone number, or whose ``created_at`` cannot be read, is skipped and listed in :attr:`skipped` with the
reason. The record the mapping reads (``mappings/callpage-leads.toml``) is flat::

    {
        "phone": "+919988776655",           # E.164; also the remote id
        "name": "Asha Rao" | None,          # latest non-blank request field with slug "name"
        "email": "asha@example.com" | None, # latest non-blank request field with slug "email"
        "created_at": "2024-03-01T08:00:00+00:00",   # latest call, ISO 8601 in UTC
        "created_ts": 1709280000,           # the same instant, unix seconds
        "first_call_at": "2024-02-27T10:00:00+00:00",  # earliest call read in this window
        "calls": 3,                          # calls read in this window
        "call_ids": [10500001, ...],         # their ids, oldest first
        "tags": ["hot", "vip"],              # union of the calls' tag names, first seen first
        "notes": "Call after 5pm" | None,    # the latest note's content
        "status": "completed",               # the latest call's human_status
        "fields": {"company": "ACME"},       # other request fields by slug, latest non-blank value
    }

"Latest" orders the calls by ``created_at``, then call id. A request field's value is its
``field_value``, or ``value`` when that is blank (the webhook sample fills only ``field_value``).

Cursor. The cursor is unix seconds (a string). After a run, :meth:`next_cursor` advances it to the
latest call read, unless a phone read in this window is still unlinked (ambiguous, or its sync
failed): then it stops one second before that phone's earliest call read, so the next run reads it
again. With all linked it never moves backwards; with nothing read it stays where it was.

Assumptions (ours, where the doc is silent; the numbers live here, the settings in the config):

* ``created_at`` (``YYYY-MM-DD HH:MM:SS``) is in the system's ``timezone`` setting (default UTC, what
  the simulator uses); ISO 8601 with an offset and unix seconds are read too.
* ``date_from`` and ``date_to`` are inclusive; the one-second step back and ``overlap_seconds`` keep
  the cursor safe if they are not.
* The visitor's name and e-mail are the request fields with slugs ``name`` and ``email``.
* Writes: none. CallPage is a source; :meth:`write` fails every action and :meth:`simulate` is the
  identity, so a projection never invents a change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import structlog

from syncd import canonical, phones
from syncd.config.schema import JobSystem, SystemConfig
from syncd.connectors.base import Connector, WriteResult
from syncd.connectors.errors import ProviderError, Rejected, Retryable
from syncd.connectors.pacing import PaceBook
from syncd.engine.model import Action
from syncd.mapping.apply import Mapper

log = structlog.get_logger("syncd.callpage")

HISTORY_PATH = "/v3/external/calls/history"
DEFAULT_PAGE_SIZE = 100  # the doc's default ``limit``
NAME_SLUGS = ("name",)
EMAIL_SLUGS = ("email",)
READ_ONLY = "CallPage is read-only"
_DAY = 86_400

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Skipped:
    """A call the last fetch could not turn into a lead."""

    call_id: str
    to: str
    reason: str


@dataclass(frozen=True)
class _Call:
    id: str
    order: int  # position in the listing: ties on (ts, id) keep the server's order
    ts: int
    phone: str
    name: str | None
    email: str | None
    tags: tuple[str, ...]
    notes: tuple[tuple[int, str], ...]  # (created ts, content)
    status: str | None
    fields: dict[str, str]


def check_envelope(system: str, endpoint: str) -> Callable[[httpx.Response, Any], None]:
    """CallPage's envelope, on every answer that reaches the check (2xx and 4xx but 401/403/429)."""

    def check(response: httpx.Response, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("hasError"), bool):
            raise Retryable(system, f"{endpoint} answered {response.status_code} without CallPage's envelope")
        if body["hasError"]:
            code = body.get("errorCode")
            message = body.get("message") or response.reason_phrase or "error"
            suffix = f" ({code})" if code else ""
            raise Rejected(system, f"{endpoint} answered {response.status_code}: {message}{suffix}")
        if response.status_code >= 400:
            return  # the client reports it
        if not isinstance(body.get("data"), list):
            raise Retryable(system, f"{endpoint}: the envelope's data is not a list of calls")
        if _count(body) is None:
            raise Retryable(system, f"{endpoint}: the envelope has no meta.count")

    return check


def _count(body: JsonDict) -> int | None:
    meta = body.get("meta")
    count = meta.get("count") if isinstance(meta, dict) else None
    if isinstance(count, bool):
        return None
    if isinstance(count, int):
        return count
    if isinstance(count, str) and count.strip().isdigit():
        return int(count)
    return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _nested(data: JsonDict, key: str) -> list[Any]:
    """The doc's ``{"key": {"data": [...]}}`` wrapping (a bare list is taken too)."""
    value = data.get(key)
    if isinstance(value, dict):
        value = value.get("data")
    return value if isinstance(value, list) else []


def parse_time(value: Any, zone: tzinfo) -> int | None:
    """``YYYY-MM-DD HH:MM:SS`` (in ``zone``), ISO 8601 or unix seconds → unix seconds; None if unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return _in_range(value)
    text = str(value).strip()
    if text.isdigit():
        return _in_range(int(text))
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    try:
        return int(parsed.timestamp())
    except (OverflowError, ValueError):  # year 1 in a zone east of UTC
        return None


def _in_range(seconds: float) -> int | None:
    """Unix seconds a datetime can hold (years 1970..9999); None for anything else (1e12, NaN, -5)."""
    try:
        ts = int(seconds)
        datetime.fromtimestamp(ts, UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return ts if ts >= 0 else None


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


class CallPageLeads(Connector):
    kind = "callpage"
    can_create = False
    can_update = False
    can_delete = False
    incremental = True

    def __init__(
        self,
        name: str,
        cfg: SystemConfig,
        secrets: dict[str, str],
        *,
        entry: JobSystem | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        pacers: PaceBook | None = None,
    ) -> None:
        super().__init__(name, cfg, secrets, entry=entry, transport=transport, pacers=pacers)
        self.clock: Callable[[], float] = time.time
        self.zone: tzinfo = ZoneInfo(cfg.timezone)
        #: what the last fetch asked for: (date_from, date_to), unix seconds
        self.window: tuple[int, int] | None = None
        #: calls the last fetch could not use, with the reason
        self.skipped: list[Skipped] = []
        self._calls_read = 0
        self._latest: int | None = None  # latest created_at read (skipped calls included)
        self._first_by_phone: dict[str, int] = {}  # phone → its earliest call read

    def auth_headers(self, secrets: dict[str, str]) -> dict[str, str]:
        return {"Authorization": secrets["token"], "Accept": "application/json"}

    # --- reading ---------------------------------------------------------------------------------
    def _window(self) -> tuple[int, int]:
        now = int(self.clock())
        start = now - self.cfg.history_days * _DAY
        cursor = self._stored_cursor()
        if cursor is not None:
            start = cursor - self.cfg.overlap_seconds
        elif self.cursor is not None:
            log.warning("unreadable cursor: reading the first-run window", system=self.name)
        return max(0, min(start, now)), now

    def _stored_cursor(self) -> int | None:
        try:
            return None if self.cursor is None else int(float(self.cursor))
        except (ValueError, OverflowError):
            return None

    async def fetch(self) -> list[JsonDict]:
        self.skipped, self._calls_read, self._latest, self._first_by_phone = [], 0, None, {}
        date_from, date_to = self.window = self._window()
        endpoint = self.path("calls_history", HISTORY_PATH)
        limit = self.cfg.page_size or DEFAULT_PAGE_SIZE
        check = check_envelope(self.name, endpoint)
        items: list[JsonDict] = []
        seen: dict[str, JsonDict] = {}
        offset = 0
        while True:
            params = {"date_from": date_from, "date_to": date_to, "limit": limit, "offset": offset}
            _, body = await self.http.request("GET", endpoint, params=params, check=check)
            page: list[Any] = body["data"]
            count = _count(body) or 0
            for item in self.records_of(page, f"{endpoint} offset {offset}"):
                data = item["data"] if isinstance(item.get("data"), dict) else item
                call_id = str(data.get("id") if data.get("id") is not None else item.get("id"))
                if call_id in seen:
                    if seen[call_id] == data:  # the listing shifted under us: the same call twice
                        continue
                    self.fetch_warnings.append(f"call {call_id} is listed twice with different content; both read")
                seen.setdefault(call_id, data)
                items.append(data)
            offset += len(page)
            if offset >= count:
                break
            if not page:
                raise ProviderError(
                    self.name, f"{endpoint}: empty page at offset {offset} while meta.count says {count}"
                )
        records = self._aggregate(items)
        if self.skipped:
            log.warning(
                "calls skipped",
                system=self.name,
                skipped=len(self.skipped),
                calls=[s.call_id for s in self.skipped],
                reasons=sorted({s.reason for s in self.skipped}),
            )
        return records

    def _call(self, order: int, data: JsonDict) -> _Call | Skipped:
        call_id = str(data.get("id"))
        to = data.get("to")
        to_text = "" if to is None else str(to)
        ts = parse_time(data.get("created_at"), self.zone)
        if ts is None:
            return Skipped(call_id, to_text, f"created_at {data.get('created_at')!r} is not a time")
        self._latest = ts if self._latest is None else max(self._latest, ts)
        if not isinstance(to, str) or not to.strip():
            return Skipped(call_id, to_text, "no visitor phone number (to)")
        try:
            phone = phones.to_e164(to, self.cfg.default_region)
        except phones.PhoneError as exc:
            return Skipped(call_id, to_text, str(exc))
        fields: dict[str, str] = {}
        for field in _nested(data, "call_request_fields"):
            if not isinstance(field, dict) or not isinstance(field.get("slug"), str):
                continue
            value = _text(field.get("field_value")) or _text(field.get("value"))
            if value is not None:
                fields[field["slug"]] = value
        tags = tuple(name for t in _nested(data, "tags") if isinstance(t, dict) and (name := _text(t.get("name"))))
        notes = tuple(
            (parse_time(n.get("created_at"), self.zone) or ts, content)
            for n in _nested(data, "notes")
            if isinstance(n, dict) and (content := _text(n.get("content")))
        )
        return _Call(
            id=call_id,
            order=order,
            ts=ts,
            phone=phone,
            name=_first(fields, NAME_SLUGS),
            email=_first(fields, EMAIL_SLUGS),
            tags=tags,
            notes=notes,
            status=_text(data.get("human_status")),
            fields={k: v for k, v in fields.items() if k not in (*NAME_SLUGS, *EMAIL_SLUGS)},
        )

    def _aggregate(self, items: list[JsonDict]) -> list[JsonDict]:
        self._calls_read = len(items)
        by_phone: dict[str, list[_Call]] = {}
        for order, data in enumerate(items):
            call = self._call(order, data)
            if isinstance(call, Skipped):
                self.skipped.append(call)
                self.fetch_warnings.append(f"call {call.call_id} to {call.to!r} skipped: {call.reason}")
            else:
                by_phone.setdefault(call.phone, []).append(call)
        records = [_record(phone, calls) for phone, calls in by_phone.items()]
        self._first_by_phone = {r["phone"]: min(c.ts for c in by_phone[r["phone"]]) for r in records}
        records.sort(key=lambda r: (r["created_ts"], r["phone"]))
        return records

    # --- the cursor ------------------------------------------------------------------------------
    def next_cursor(self, linked: set[str]) -> str | None:
        if not self._calls_read or self._latest is None:
            return None
        waiting = [ts for phone, ts in self._first_by_phone.items() if phone not in linked]
        if waiting:
            return str(min(waiting) - 1)  # read that phone's calls again next run
        stored = self._stored_cursor()
        return str(self._latest if stored is None else max(self._latest, stored))

    # --- read-only -------------------------------------------------------------------------------
    def simulate(self, current: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
        return dict(current or payload)

    async def write(self, actions: list[Action], mapper: Mapper) -> list[WriteResult]:
        return [WriteResult(action, False, error=READ_ONLY) for action in actions]


def _first(fields: dict[str, str], slugs: Iterable[str]) -> str | None:
    return next((fields[s] for s in slugs if s in fields), None)


def _latest_value(calls: list[_Call], get: Callable[[_Call], Any]) -> Any:
    """The newest call's non-blank value (``calls`` is oldest first)."""
    return next((value for call in reversed(calls) if not canonical.is_blank(value := get(call))), None)


def _record(phone: str, calls: list[_Call]) -> JsonDict:
    calls = sorted(calls, key=lambda c: (c.ts, int(c.id) if c.id.isdigit() else 0, c.order))
    last = calls[-1]
    tags: list[str] = []
    for call in calls:
        tags.extend(t for t in call.tags if t not in tags)
    notes = [(when, call.ts, i, content) for call in calls for i, (when, content) in enumerate(call.notes)]
    fields: dict[str, str] = {}
    for call in calls:
        fields.update(call.fields)
    return {
        "phone": phone,
        "name": _latest_value(calls, lambda c: c.name),
        "email": _latest_value(calls, lambda c: c.email),
        "created_at": iso(last.ts),
        "created_ts": last.ts,
        "first_call_at": iso(calls[0].ts),
        "calls": len(calls),
        "call_ids": [int(c.id) if c.id.isdigit() else c.id for c in calls],
        "tags": tags,
        "notes": max(notes)[3] if notes else None,
        "status": last.status,
        "fields": fields,
    }
