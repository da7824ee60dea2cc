"""A strict simulator of CallPage's REST API, as far as syncd reads it: the v3 calls history.

Served under ``/api`` (client base URL ``http://127.0.0.1:PORT/api``):

* ``GET /v3/external/calls/history`` - the call requests, a lead source for syncd
* ``GET /v3/external/calls/{call_id}`` - one call request
* ``GET /v1/external`` - the API's greeting (a cheap credentials check)

From the doc (callpage-api.txt) and the facts sheet (README.md, section CallPage):

* Header ``Authorization: <key>``, the bare key: ``Bearer <key>`` is a wrong key (401).
* Every answer is the envelope ``{"hasError", "errorCode", "message", "data", "meta"}``; on success
  ``errorCode`` is ``0`` and ``message`` ``""``. ``pretty_output=1`` indents the JSON.
* History items are the doc's sample shape: ``{"data": {...}, "id": N}`` with nested ``{"data": ...}``
  objects (``utm``, ``call``, ``tags``, ``notes``, ``referer``, ``request``, ``call_request_fields``
  ...), ``to`` in E.164, ``to_formatted``, ``created_at`` as ``YYYY-MM-DD HH:MM:SS``, ``human_status``
  one of the doc's call statuses. ``meta`` is ``{"offset", "limit", "count"}``: ``offset`` and
  ``limit`` echo the query strings as sent (null when absent, as in the sample), ``count`` is the
  number of calls matching the filters, whatever the page.
* Query: ``date_from``/``date_to`` (unix seconds), ``limit`` (default 100), ``offset`` (default 0),
  ``display_hidden`` (default 1), ``call_id[]``, ``phone_number`` (or the deprecated ``tel``, not
  both), ``statuses[]``, ``tag_ids[]``, ``widget_ids[]`` (or the deprecated ``widget_id``),
  ``user_ids[]``, ``incoming_number_ids[]``, ``url``. Array parameters are taken with or without
  ``[]``.

Assumptions where the doc is silent (ours, not the vendor's):

* The server caps ``limit`` at ``max_limit`` (option, default 50) without saying so: a client must
  page by ``meta.count``, never stop at a short page.
* Rate limit: none is published; we poll at 1 request/second, so the simulator enforces
  ``rate_per_second`` (default 1) with a sliding window, 429 + ``Retry-After`` above it.
* Bad parameters answer 422 (the doc's "Check errorCode and message"): a non-integer or negative
  ``date_from``/``date_to``/``offset``, ``limit`` < 1, ``date_from`` > ``date_to``, a non-E.164
  ``phone_number``, an unknown status, a non-integer id in an array filter, ``display_hidden`` not
  0/1. Error envelope: ``hasError: true``, ``errorCode`` a string (``unauthorized``,
  ``validation_error``, ``not_found``, ``too_many_requests``, ...), ``data: null``, ``meta: []``.
* ``created_at`` is UTC. ``date_from``/``date_to`` are inclusive. Results are sorted by
  ``created_at`` ascending, then id.
* ``user_ids[]``, ``incoming_number_ids[]`` and ``url`` are validated but do not filter (the
  simulator keeps no managers or numbers). ``tag_ids[]`` keeps calls with any of the tags.
* A tag is ``{"id", "name"}``; a note is ``{"id", "content", "created_at"}``. The ``email`` and
  ``name`` request fields use the sample's ids and labels (110014 "E-mail", 110015 "Your name");
  a call request only carries the fields the visitor filled in.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import phonenumbers
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from syncd.sim.common import SimBase, SlidingWindow

CALLPAGE_SANDBOX_KEY = "cp-sandbox-5e91d07a3b"
CALLPAGE_BASE_PATH = "/api"
CALLPAGE_RATE_PER_SECOND = 1
CALLPAGE_DEFAULT_LIMIT = 100
CALLPAGE_MAX_LIMIT = 50
CALLPAGE_DEFAULT_WIDGET_ID = 47317
CALLPAGE_GREETING = (
    "Hello there! I am the CallPage API. To fully grasp my superpowers, head down to "
    "https://developers.callpage.io for documentation."
)

CALL_STATUSES = (
    "new",
    "scheduled",
    "in-progress",
    "ringing",
    "completed",
    "manager-failed",
    "user-failed",
    "failed",
    "cancelled",
)
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
CREATED_AT_FORMAT = "%Y-%m-%d %H:%M:%S"
FIRST_CALL_ID = 10_500_001
FIRST_TAG_ID = 101
FIRST_NOTE_ID = 5001
FIRST_REQUEST_ID = 2_093_773_001
FIRST_EXTRA_FIELD_ID = 113_855
KNOWN_FIELDS: dict[str, tuple[int, str]] = {"email": (110_014, "E-mail"), "name": (110_015, "Your name")}
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}
SPEC_KEYS = frozenset(
    {
        "id",
        "to",
        "name",
        "email",
        "created_at",
        "tags",
        "notes",
        "human_status",
        "fields",
        "widget_id",
        "hidden",
        "scheduled_at",
        "url",
        "locale",
        "ip",
    }
)

JsonDict = dict[str, Any]


class ParamError(Exception):
    """A 422 with the doc's envelope."""


def envelope(data: Any, meta: Any = None, message: str = "") -> JsonDict:
    return {"hasError": False, "errorCode": 0, "message": message, "data": data, "meta": [] if meta is None else meta}


def _to_datetime(value: Any, what: str) -> dt.datetime:
    """Unix seconds (int/float or digits) or ISO 8601 (naive is UTC) to an aware datetime."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be unix seconds or ISO 8601, not {value!r}")
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    if isinstance(value, str):
        if value.strip().isdigit():
            return dt.datetime.fromtimestamp(int(value), dt.UTC)
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"{what} must be unix seconds or ISO 8601, not {value!r}") from exc
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    raise ValueError(f"{what} must be unix seconds or ISO 8601, not {value!r}")


def _format_phone(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def _optional_text(spec: JsonDict, key: str) -> str | None:
    value = spec.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, not {value!r}")
    return value


class CallPageSim(SimBase):
    """CallPage's calls history, read-only.

    Options (keyword-only): ``key`` (the API key), ``rate_per_second`` (1), ``max_limit`` (50, the
    server-side cap on ``limit``), ``default_limit`` (100, the doc's default).

    Records: ``seed({"calls": [{"to", "name"?, "email"?, "created_at"? (unix seconds or ISO 8601),
    "tags"? (names or {id?, name}), "notes"? (texts or {id?, content, created_at?}),
    "human_status"? (default "new"), "fields"? ({slug: value} for other request fields),
    "widget_id"?, "hidden"?, "scheduled_at"?, "url"?, "locale"?, "ip"?, "id"?}]})``; ``dump()`` gives
    ``{"calls": [doc-shaped item, ...]}``; ``admin_edit(call_id, patch)`` takes the seed keys;
    ``add_callback(to, name, email, created_at=None)`` adds one web call-back request.
    """

    name = "callpage"
    raw_listings = ("calls",)  # the calls history's items

    def __init__(
        self,
        speed: float = 1.0,
        *,
        key: str = CALLPAGE_SANDBOX_KEY,
        rate_per_second: int = CALLPAGE_RATE_PER_SECOND,
        max_limit: int = CALLPAGE_MAX_LIMIT,
        default_limit: int = CALLPAGE_DEFAULT_LIMIT,
    ) -> None:
        super().__init__(speed)
        if rate_per_second < 1:
            raise ValueError("rate_per_second must be >= 1")
        if max_limit < 1 or default_limit < 1:
            raise ValueError("max_limit and default_limit must be >= 1")
        self.key = key
        self.rate_per_second = rate_per_second
        self.max_limit = max_limit
        self.default_limit = default_limit
        self._limiter = SlidingWindow(rate_per_second, self.window(1.0))
        self.calls: dict[int, JsonDict] = {}  # id -> {"spec": normalized seed spec, "item": doc shape}
        self._tag_ids: dict[str, int] = {}
        self._field_ids: dict[str, int] = {}
        self._next_call_id = FIRST_CALL_ID
        self._next_note_id = FIRST_NOTE_ID
        self._next_request_id = FIRST_REQUEST_ID

    # --- the app ---------------------------------------------------------------------------
    def app(self) -> Starlette:
        def route(path: str, handler: Callable[[Request], Awaitable[Response]]) -> Route:
            endpoint = f"GET {path.replace(':int', '')}"
            return Route(path, self.wrap(endpoint, handler, auth=self._check_auth), methods=["GET"])

        provider: list[BaseRoute] = [
            route("/v1/external", self._greeting),
            route("/v3/external/calls/history", self._history),
            route("/v3/external/calls/{call_id:int}", self._single_call),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 500
            message = "Not found" if status == 404 else "Method not allowed"
            return self.error_response(status, message, "")

        routes: list[BaseRoute] = [Mount(CALLPAGE_BASE_PATH, routes=provider), *self.admin_routes()]
        return Starlette(routes=routes, exception_handlers={404: http_error, 405: http_error})

    # --- SimBase hooks ---------------------------------------------------------------------
    def error_response(self, status: int, message: str, endpoint: str) -> Response:
        body = {
            "hasError": True,
            "errorCode": ERROR_CODES.get(status, "error"),
            "message": message,
            "data": None,
            "meta": [],
        }
        return Response(json.dumps(body), status_code=status, media_type="application/json")

    def limiters_for(self, request: Request, endpoint: str) -> list[SlidingWindow]:
        return [self._limiter]

    def _check_auth(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != self.key:
            return self.error_response(401, "Unauthorized. Your API key is incorrect.", "")
        return None

    def dump(self) -> JsonDict:
        return {"calls": [record["item"] for record in self._sorted()]}

    def seed(self, data: Any) -> JsonDict:
        if not isinstance(data, dict) or set(data) - {"calls"}:
            raise ValueError('seed data must be {"calls": [...]}')
        calls = data.get("calls", [])
        if not isinstance(calls, list):
            raise ValueError("calls must be a list")
        return {"calls": [self._add(spec) for spec in calls]}

    def admin_edit(self, record_id: str, patch: dict[str, Any]) -> JsonDict:
        record = self._record(record_id)
        if not isinstance(patch, dict):
            raise ValueError("patch must be a JSON object")
        if "id" in patch:
            raise ValueError("a call's id cannot be changed")
        spec = self._normalize({**record["spec"], **patch}, record["item"]["id"])
        record["spec"] = spec
        record["item"] = self._build(spec, record["item"]["data"]["request"]["data"]["id"])
        return dict(record["item"])

    def admin_delete(self, record_id: str) -> None:
        record = self._record(record_id)
        del self.calls[record["item"]["id"]]

    def reset_records(self) -> None:
        self.calls.clear()

    def add_callback(self, to: str, name: str | None, email: str | None, created_at: Any = None) -> JsonDict:
        """One web call-back request (status ``new``), as a visitor leaves it on a widget."""
        spec: JsonDict = {"to": to, "name": name, "email": email}
        if created_at is not None:
            spec["created_at"] = created_at
        return self._add(spec)

    # --- records ---------------------------------------------------------------------------
    def _record(self, record_id: str) -> JsonDict:
        try:
            return self.calls[int(str(record_id).strip("/"))]
        except ValueError as exc:
            raise KeyError(record_id) from exc

    def _sorted(self) -> list[JsonDict]:
        return sorted(self.calls.values(), key=lambda r: (r["spec"]["created_ts"], r["item"]["id"]))

    def _add(self, raw: Any) -> JsonDict:
        if not isinstance(raw, dict):
            raise ValueError("a call must be a JSON object")
        call_id: int | None = None
        if "id" in raw:
            if isinstance(raw["id"], bool) or not isinstance(raw["id"], int) or raw["id"] < 1:
                raise ValueError(f"id must be a positive integer, not {raw['id']!r}")
            call_id = raw["id"]
            if call_id in self.calls:
                raise ValueError(f"call id {call_id} is already taken")
        else:
            call_id = self._next_call_id
        spec = self._normalize(raw, call_id)
        self._next_call_id = max(self._next_call_id, call_id + 1)
        request_id = self._next_request_id
        self._next_request_id += 1
        item = self._build(spec, request_id)
        self.calls[call_id] = {"spec": spec, "item": item}
        return item

    def _normalize(self, raw: JsonDict, call_id: int) -> JsonDict:
        """Checks a seed spec and resolves what the API shows (ids, times, tags, notes)."""
        unknown = set(raw) - SPEC_KEYS - {"created_ts"}
        if unknown:
            raise ValueError(f"unknown call keys: {sorted(unknown)}")
        to = raw.get("to")
        if not isinstance(to, str) or not E164_RE.match(to):
            raise ValueError(f"to must be an E.164 phone number such as +48123456789, not {to!r}")
        status = raw.get("human_status") or "new"
        if status not in CALL_STATUSES:
            raise ValueError(f"human_status must be one of {CALL_STATUSES}, not {status!r}")
        widget_id = raw.get("widget_id", CALLPAGE_DEFAULT_WIDGET_ID)
        if isinstance(widget_id, bool) or not isinstance(widget_id, int):
            raise ValueError("widget_id must be an integer")
        if "created_at" in raw and raw["created_at"] is not None:
            created = _to_datetime(raw["created_at"], "created_at")
        elif "created_ts" in raw:
            created = dt.datetime.fromtimestamp(raw["created_ts"], dt.UTC)
        else:
            created = dt.datetime.now(dt.UTC)
        created = created.replace(microsecond=0)
        scheduled = raw.get("scheduled_at")
        fields = raw.get("fields") or {}
        if not isinstance(fields, dict) or not all(isinstance(k, str) for k in fields):
            raise ValueError("fields must be an object of slug: value")
        return {
            "id": call_id,
            "to": to,
            "name": _optional_text(raw, "name"),
            "email": _optional_text(raw, "email"),
            "created_at": created.strftime(CREATED_AT_FORMAT),
            "created_ts": int(created.timestamp()),
            "tags": [self._tag(tag) for tag in raw.get("tags") or []],
            "notes": [self._note(note, created) for note in raw.get("notes") or []],
            "human_status": status,
            "fields": dict(fields),
            "widget_id": widget_id,
            "hidden": bool(raw.get("hidden", False)),
            "scheduled_at": None
            if scheduled is None
            else _to_datetime(scheduled, "scheduled_at").strftime(CREATED_AT_FORMAT),
            "url": _optional_text(raw, "url") or "https://www.example.com/contact",
            "locale": _optional_text(raw, "locale") or "en",
            "ip": _optional_text(raw, "ip") or "203.0.113.10",
        }

    def _tag(self, tag: Any) -> JsonDict:
        if isinstance(tag, str):
            tag = {"name": tag}
        if not isinstance(tag, dict) or not isinstance(tag.get("name"), str):
            raise ValueError(f"a tag is a name or {{id?, name}}, not {tag!r}")
        name = tag["name"]
        tag_id = tag.get("id")
        if tag_id is None:
            tag_id = self._tag_ids.get(name) or FIRST_TAG_ID + len(self._tag_ids)
        if isinstance(tag_id, bool) or not isinstance(tag_id, int):
            raise ValueError("a tag id must be an integer")
        self._tag_ids.setdefault(name, tag_id)
        return {"id": tag_id, "name": name}

    def _note(self, note: Any, created: dt.datetime) -> JsonDict:
        if isinstance(note, str):
            note = {"content": note}
        if not isinstance(note, dict) or not isinstance(note.get("content"), str):
            raise ValueError(f"a note is a text or {{id?, content, created_at?}}, not {note!r}")
        note_id = note.get("id")
        if note_id is None:
            note_id = self._next_note_id
            self._next_note_id += 1
        when = note.get("created_at")
        stamp = created if when is None else _to_datetime(when, "note created_at")
        return {"id": note_id, "content": note["content"], "created_at": stamp.strftime(CREATED_AT_FORMAT)}

    def _field(self, slug: str, value: Any) -> JsonDict:
        if slug in KNOWN_FIELDS:
            field_id, label = KNOWN_FIELDS[slug]
        else:
            field_id = self._field_ids.setdefault(slug, FIRST_EXTRA_FIELD_ID + len(self._field_ids))
            label = slug.replace("_", " ").capitalize()
        text = None if value is None else str(value)
        return {
            "id": field_id,
            "hint": None,
            "slug": slug,
            "label": label,
            "value": text,
            "field_value": text,
            "placeholder": None,
        }

    def _build(self, spec: JsonDict, request_id: int) -> JsonDict:
        """One history item in the doc's shape."""
        fields = [self._field(slug, spec[slug]) for slug in ("email", "name") if spec[slug] is not None]
        fields += [self._field(slug, value) for slug, value in spec["fields"].items() if slug not in KNOWN_FIELDS]
        data: JsonDict = {
            "id": spec["id"],
            "to": spec["to"],
            "utm": {"data": {"utm_medium": None, "utm_source": None, "utm_content": None, "utm_campaign": None}},
            "call": {"data": []},
            "tags": {"data": list(spec["tags"])},
            "notes": {"data": list(spec["notes"])},
            "referer": {"data": {"medium": None, "source": "internal"}},
            "request": {
                "data": {
                    "id": request_id,
                    "ip": spec["ip"],
                    "url": spec["url"],
                    "locale": spec["locale"],
                    "geo_loc": None,
                    "geo_org": None,
                    "geo_city": None,
                    "geo_full": None,
                    "geo_postal": None,
                    "geo_region": None,
                    "geo_country_code": None,
                    "geo_country_name": None,
                    "user_agent_device": "Macintosh, Chrome, OS X",
                    "geo_continent_code": None,
                    "geo_continent_name": None,
                    "user_agent_device_type": "desktop",
                }
            },
            "feedback": {"data": []},
            "extension": {"data": []},
            "created_at": spec["created_at"],
            "department": {"data": []},
            "leadable_id": spec["widget_id"],
            "traceroutes": {"data": [{"url": spec["url"], "count": 1, "title": None}]},
            "cancelled_at": None,
            "human_status": spec["human_status"],
            "scheduled_at": spec["scheduled_at"],
            "to_formatted": _format_phone(spec["to"]),
            "leadable_type": "Widget",
            "scheduled_success": False,
            "call_request_fields": {"data": fields},
            "leadable_description": "plan",
        }
        return {"data": data, "id": spec["id"]}

    # --- handlers --------------------------------------------------------------------------
    def _json(self, request: Request, body: JsonDict, status: int = 200) -> Response:
        pretty = request.query_params.get("pretty_output") == "1"
        text = json.dumps(body, indent=4 if pretty else None)
        return Response(text, status_code=status, media_type="application/json")

    async def _greeting(self, request: Request) -> Response:
        return self._json(request, envelope([], message=CALLPAGE_GREETING))

    async def _single_call(self, request: Request) -> Response:
        record = self.calls.get(request.path_params["call_id"])
        if record is None:
            return self.error_response(404, f"Call {request.path_params['call_id']} not found.", "")
        return self._json(request, envelope(record["item"]))

    async def _history(self, request: Request) -> Response:
        try:
            query = self._parse_history_query(request)
        except ParamError as exc:
            return self.error_response(422, str(exc), "")
        matching = [record["item"] for record in self._sorted() if _matches(record["spec"], query)]
        matching += self.raw_for("calls")  # injected raw values (POST /_sim/raw): unfiltered, last, counted
        start = query["offset"]
        page = matching[start : start + min(query["limit"], self.max_limit)]
        meta = {
            "offset": request.query_params.get("offset"),
            "limit": request.query_params.get("limit"),
            "count": len(matching),
        }
        return self._json(request, envelope(page, meta))

    def _parse_history_query(self, request: Request) -> JsonDict:
        params = request.query_params
        query: JsonDict = {
            "date_from": _int_param(params.get("date_from"), "date_from", minimum=0),
            "date_to": _int_param(params.get("date_to"), "date_to", minimum=0),
            "limit": _int_param(params.get("limit"), "limit", minimum=1),
            "offset": _int_param(params.get("offset"), "offset", minimum=0) or 0,
        }
        if query["limit"] is None:
            query["limit"] = self.default_limit
        if query["date_from"] is not None and query["date_to"] is not None and query["date_from"] > query["date_to"]:
            raise ParamError("The date from must be a date before or equal to date to.")
        display_hidden = params.get("display_hidden", "1")
        if display_hidden not in ("0", "1"):
            raise ParamError("The display hidden field must be 0 or 1.")
        query["display_hidden"] = display_hidden == "1"
        phone = params.get("phone_number")
        tel = params.get("tel")
        if phone is not None and tel is not None:
            raise ParamError("Fill one field: phone_number or tel (deprecated), not both.")
        phone = phone if phone is not None else tel
        if phone is not None and not E164_RE.match(phone):
            raise ParamError("The phone number must be a valid phone number in E.164 format.")
        query["phone_number"] = phone
        statuses = _array_param(request, "statuses")
        for status in statuses:
            if status not in CALL_STATUSES:
                raise ParamError(f"The selected statuses is invalid: {status}.")
        query["statuses"] = set(statuses)
        query["call_ids"] = set(_int_array(request, "call_id"))
        query["tag_ids"] = set(_int_array(request, "tag_ids"))
        widget_ids = _int_array(request, "widget_ids") + _int_array(request, "widget_id")
        query["widget_ids"] = set(widget_ids)
        _int_array(request, "user_ids")
        _int_array(request, "incoming_number_ids")
        return query


def _matches(spec: JsonDict, query: JsonDict) -> bool:
    ts = spec["created_ts"]
    checks = (
        query["date_from"] is None or ts >= query["date_from"],
        query["date_to"] is None or ts <= query["date_to"],
        query["display_hidden"] or not spec["hidden"],
        query["phone_number"] is None or spec["to"] == query["phone_number"],
        not query["statuses"] or spec["human_status"] in query["statuses"],
        not query["call_ids"] or spec["id"] in query["call_ids"],
        not query["tag_ids"] or any(tag["id"] in query["tag_ids"] for tag in spec["tags"]),
        not query["widget_ids"] or spec["widget_id"] in query["widget_ids"],
    )
    return all(checks)


def _int_param(raw: str | None, name: str, minimum: int) -> int | None:
    if raw is None:
        return None
    text = raw.strip()
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise ParamError(f"The {name.replace('_', ' ')} must be an integer.")
    value = int(text)
    if value < minimum:
        raise ParamError(f"The {name.replace('_', ' ')} must be at least {minimum}.")
    return value


def _array_param(request: Request, name: str) -> list[str]:
    return request.query_params.getlist(name) + request.query_params.getlist(f"{name}[]")


def _int_array(request: Request, name: str) -> list[int]:
    values = []
    for raw in _array_param(request, name):
        parsed = _int_param(raw, name, minimum=1)
        if parsed is not None:
            values.append(parsed)
    return values
