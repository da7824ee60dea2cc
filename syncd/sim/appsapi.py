"""A strict simulator of the Apps API (contact-center platform, one subdomain per customer).

What it serves, under ``/apps/api/v1`` (client base URL ``http://127.0.0.1:PORT/apps/api/v1``):

* ``GET/POST /contact_lists``, ``PATCH/DELETE /contact_lists/{id}``
* ``GET/POST /contact_lists/{contact_list_id}/contacts``,
  ``PATCH/DELETE /contact_lists/{contact_list_id}/contacts/{id}``
* ``GET/POST /outbound_dialer/campaigns/{campaign_id}/contacts``,
  ``PATCH/DELETE /outbound_dialer/campaigns/{campaign_id}/contact`` (``contact_id`` in the JSON body)
* ``GET /users`` (read-only, the doc's user object)

From the doc (apps-api.txt) and the facts sheet (README.md, section Apps API):

* HTTP Basic auth, user = subdomain, password = API token.
* 1 request per second per customer (``rate_per_second``; newer vendor pages say 10/s).
* Paging with ``page`` (from 1) and ``per`` (default 100, "a valid integer less than 1000", else 400
  "Invalid page size request ..."). Lists are bare JSON arrays with ``Total`` and ``Per-Page`` headers.
* Campaign contacts are listed in the doc's sample shape: the external id comes back as ``unique_id``
  (sent as ``external_unique_id``), a new contact's ``status`` is ``Upcoming``, and ``priority``,
  ``assigned_call_id`` and ``assigned_participant_id`` are null until the dialer touches it.

Assumptions where the doc is silent (every one is ours, not the vendor's; keep them in step with the
connector's settings):

* Error shape: ``{"message": "..."}``; a 422 adds ``"errors": {"field": ["..."]}`` (Rails style).
  401 for a wrong or missing subdomain/token (with ``WWW-Authenticate: Basic``), 404 for an unknown
  list, entry, campaign or contact (and unknown routes), 400 for a bad ``page``/``per``, a body that is
  not a JSON object or a missing ``contact_id``, 422 for field validation.
* A contact list is ``{id, name, global, contacts_count, created_at, updated_at}``; list 1 "Global" is
  the global list (``global: true``) and cannot be renamed or deleted (422). A list name is required,
  at most 255 characters and unique among lists (case-insensitive).
* A list entry is ``{id, contact_list_id, name, phone_number, email, external_unique_id, created_at,
  updated_at}``; a campaign contact carries ``phone_number`` and ``email`` besides the doc's keys.
* Entries need a phone_number or an email; campaign contacts need a phone_number. Phone numbers
  (``phone_number``, ``outbound_number``) are checked with formatting removed (spaces, dashes, dots,
  parentheses, as in the doc's ``+1 760-867-5309``) against ``^\\+?[1-9]\\d{6,14}$`` and stored as
  sent. E-mail must look like ``a@b.c``. Every text field is a string (or null) of at most 255
  characters; an empty string counts as null.
* ``external_unique_id`` is unique within its list or campaign (case-sensitive; nulls do not clash).
* PATCH changes only the keys it is given (null clears); ``updated_at`` moves only when a value
  changes. Timestamps are ISO 8601 UTC with milliseconds (``2023-04-01T17:15:38.000Z``) and strictly
  increase, so ``updated_at`` always orders changes.
* POST answers 201 with the record, PATCH 200 with the record, DELETE 204 with no body. Deleting a list
  deletes its entries. Unknown keys in bodies and query strings are ignored.
* Ids are integers: lists from 1, list entries from 1001, campaign contacts from 16001 (distinct
  ranges, so a client that mixes them up gets a 404).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from syncd.sim.common import SimBase, SlidingWindow, read_json

APPSAPI_SANDBOX_SUBDOMAIN = "sandbox"
APPSAPI_SANDBOX_TOKEN = "apps-sandbox-2b8d41f0c9"
APPSAPI_BASE_PATH = "/apps/api/v1"
APPSAPI_RATE_PER_SECOND = 1
APPSAPI_DEFAULT_PER = 100
APPSAPI_MAX_PER_EXCLUSIVE = 1000  # "a valid integer less than 1000"

GLOBAL_LIST_ID = 1
GLOBAL_LIST_NAME = "Global"
SANDBOX_CUSTOM_LIST_NAME = "Sandbox custom list"
SANDBOX_CAMPAIGN_ID = 1
SANDBOX_CAMPAIGN_NAME = "Sandbox campaign"

FIRST_LIST_ID = 1
FIRST_ENTRY_ID = 1001
FIRST_CAMPAIGN_CONTACT_ID = 16001
FIRST_USER_ID = 1

MAX_TEXT = 255
PHONE_RE = re.compile(r"^\+?[1-9]\d{6,14}$")
PHONE_FORMATTING_RE = re.compile(r"[\s\-().]")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

PAGE_SIZE_ERROR = "Invalid page size request - check to ensure the max page size is a valid integer less than 1000"
PAGE_ERROR = "Invalid page request - page must be a positive integer"

ENTRY_FIELDS = ("name", "phone_number", "email", "external_unique_id")
CAMPAIGN_CONTACT_FIELDS = ("name", "phone_number", "email", "outbound_number", "external_unique_id")
PHONE_FIELDS = ("phone_number", "outbound_number")

DEFAULT_USER: dict[str, Any] = {
    "email": "admin@sandbox.example",
    "first_name": "Sandbox",
    "last_name": "Admin",
    "agent_number": "1001",
    "location": "HQ",
    "max_chat_limit": 5,
    "max_chat_limit_enabled": False,
    "unrestricted_international_calling": True,
    "deactivated_at": None,
    "ucaas_user_name": None,
    "ucaas_sip_uri": None,
    "external_user": False,
    "phone_numbers": [],
    "extension_numbers": [],
    "teams": [],
    "roles": [{"name": "Admin"}],
}

JsonDict = dict[str, Any]


class ApiError(Exception):
    """An error answer in the Apps API's shape."""

    def __init__(self, status: int, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_positive_int(raw: str) -> int | None:
    raw = raw.strip()
    if not raw.isdigit() or not raw.isascii():
        return None
    value = int(raw)
    return value if value > 0 else None


def _as_int_id(value: Any) -> int | None:
    """An id as Rails would take it: an integer or a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return _parse_positive_int(value)
    return None


class AppsApiSim(SimBase):
    """The Apps API: contact lists (global and custom) with entries, campaign contacts and users.

    Options (keyword-only): ``subdomain``, ``token`` (the Basic credentials), ``rate_per_second``
    (default 1), ``default_per`` (100), ``max_per`` (1000, exclusive), ``paging_headers`` (send
    ``Total``/``Per-Page``, default True), ``seed_defaults`` (the global list, one custom list,
    campaign 1 and one user; default True).

    Admin record ids (``/_sim/records/{record_id}``): ``contact_lists/{id}``,
    ``contact_lists/{list_id}/contacts/{id}``, ``campaigns/{campaign_id}/contacts/{id}``.
    """

    name = "appsapi"
    #: raw values (POST /_sim/raw) follow the stored records of every list's entries, or of one list's with
    #: "list_entries:<id>" (campaign contacts alike), and count in the Total header
    raw_listings = ("list_entries", "campaign_contacts")

    def __init__(
        self,
        speed: float = 1.0,
        *,
        subdomain: str = APPSAPI_SANDBOX_SUBDOMAIN,
        token: str = APPSAPI_SANDBOX_TOKEN,
        rate_per_second: int = APPSAPI_RATE_PER_SECOND,
        default_per: int = APPSAPI_DEFAULT_PER,
        max_per: int = APPSAPI_MAX_PER_EXCLUSIVE,
        paging_headers: bool = True,
        seed_defaults: bool = True,
    ) -> None:
        super().__init__(speed)
        if rate_per_second < 1:
            raise ValueError("rate_per_second must be >= 1")
        if not 0 < default_per < max_per:
            raise ValueError("default_per must be between 1 and max_per - 1")
        self.subdomain = subdomain
        self.token = token
        self.rate_per_second = rate_per_second
        self.default_per = default_per
        self.max_per = max_per
        self.paging_headers = paging_headers
        self.seed_defaults = seed_defaults
        self._limiter = SlidingWindow(rate_per_second, self.window(1.0))
        self._last_stamp = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        self.contact_lists: dict[int, JsonDict] = {}
        self.entries: dict[int, dict[int, JsonDict]] = {}
        self.campaigns: dict[int, JsonDict] = {}
        self.campaign_contacts: dict[int, dict[int, JsonDict]] = {}
        self.users: dict[int, JsonDict] = {}
        self._unique: dict[int, tuple[dict[int, JsonDict], dict[Any, int]]] = {}  # see _unique_index
        self._next_list_id = FIRST_LIST_ID
        self._next_entry_id = FIRST_ENTRY_ID
        self._next_contact_id = FIRST_CAMPAIGN_CONTACT_ID
        self._next_user_id = FIRST_USER_ID
        self.reset_records()

    # --- the app ---------------------------------------------------------------------------
    def app(self) -> Starlette:
        auth = self._check_auth
        lists = "/contact_lists"
        entries = "/contact_lists/{contact_list_id:int}/contacts"
        campaign = "/outbound_dialer/campaigns/{campaign_id:int}"

        def route(path: str, method: str, handler: Callable[[Request], Awaitable[Response]]) -> Route:
            endpoint = f"{method} {path.replace(':int', '')}"
            wrapped = self.wrap(endpoint, self._guard(handler), auth=auth)
            return Route(path, wrapped, methods=[method])

        provider: list[BaseRoute] = [
            route(lists, "GET", self._list_lists),
            route(lists, "POST", self._create_list),
            route(lists + "/{id:int}", "PATCH", self._update_list),
            route(lists + "/{id:int}", "DELETE", self._delete_list),
            route(entries, "GET", self._list_entries),
            route(entries, "POST", self._create_entry),
            route(entries + "/{id:int}", "PATCH", self._update_entry),
            route(entries + "/{id:int}", "DELETE", self._delete_entry),
            route(campaign + "/contacts", "GET", self._list_campaign_contacts),
            route(campaign + "/contacts", "POST", self._create_campaign_contact),
            route(campaign + "/contact", "PATCH", self._update_campaign_contact),
            route(campaign + "/contact", "DELETE", self._delete_campaign_contact),
            route("/users", "GET", self._list_users),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 500
            message = "Resource not found - Please check your subdomain" if status == 404 else "Method not allowed"
            return self.error_response(status, message, "")

        routes: list[BaseRoute] = [Mount(APPSAPI_BASE_PATH, routes=provider), *self.admin_routes()]
        return Starlette(routes=routes, exception_handlers={404: http_error, 405: http_error})

    def _guard(self, handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return self._error(exc.status, exc.message, exc.errors)

        return guarded

    # --- SimBase hooks ---------------------------------------------------------------------
    def error_response(self, status: int, message: str, endpoint: str) -> Response:
        return self._error(status, message)

    def _error(self, status: int, message: str, errors: dict[str, list[str]] | None = None) -> Response:
        body: JsonDict = {"message": message}
        if errors:
            body["errors"] = errors
        headers = {"WWW-Authenticate": 'Basic realm="Apps API"'} if status == 401 else None
        return JSONResponse(body, status_code=status, headers=headers)

    def limiters_for(self, request: Request, endpoint: str) -> list[SlidingWindow]:
        return [self._limiter]  # one customer: one window for every endpoint

    def _check_auth(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return self._error(401, "Unauthorized - HTTP Basic credentials (subdomain and API token) required")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return self._error(401, "Unauthorized - malformed Basic credentials")
        user, sep, password = decoded.partition(":")
        if not sep or user != self.subdomain or password != self.token:
            return self._error(401, "Unauthorized - invalid subdomain or API token")
        return None

    def dump(self) -> JsonDict:
        return {
            "contact_lists": [self._list_out(lst) for lst in self.contact_lists.values()],
            "contacts": {str(lid): list(rows.values()) for lid, rows in self.entries.items()},
            "campaigns": list(self.campaigns.values()),
            "campaign_contacts": {str(cid): list(rows.values()) for cid, rows in self.campaign_contacts.items()},
            "users": list(self.users.values()),
        }

    def seed(self, data: Any) -> JsonDict:
        """Load records without counting API calls. Shape (every key optional)::

            {"contact_lists": [{"name", "id"?, "global"?, "contacts"?: [entry, ...]}],
             "contacts": {"<list id>": [entry, ...]},
             "campaigns": [{"name", "id"?, "contacts"?: [contact, ...]}],
             "campaign_contacts": {"<campaign id>": [contact, ...]},
             "users": [user, ...]}

        An entry is ``{name?, phone_number?, email?, external_unique_id?, id?, created_at?,
        updated_at?}``; a campaign contact also takes ``outbound_number``, ``status``, ``priority``.
        The API's validation applies (ValueError). Returns what was stored, in the same shape.
        """
        if not isinstance(data, dict):
            raise ValueError("seed data must be a JSON object")
        unknown = set(data) - {"contact_lists", "contacts", "campaigns", "campaign_contacts", "users"}
        if unknown:
            raise ValueError(f"unknown seed keys: {sorted(unknown)}")
        out: JsonDict = {"contact_lists": [], "contacts": {}, "campaigns": [], "campaign_contacts": {}, "users": []}
        try:
            for spec in data.get("contact_lists", []):
                lst = self._seed_list(spec)
                out["contact_lists"].append(self._list_out(lst))
                for entry in spec.get("contacts", []):
                    out["contacts"].setdefault(str(lst["id"]), []).append(self._seed_entry(lst["id"], entry))
            for key, rows in dict(data.get("contacts", {})).items():
                list_id = self._seed_key(key, self.entries, "contact list")
                for entry in rows:
                    out["contacts"].setdefault(str(list_id), []).append(self._seed_entry(list_id, entry))
            for spec in data.get("campaigns", []):
                camp = self._seed_campaign(spec)
                out["campaigns"].append(camp)
                for contact in spec.get("contacts", []):
                    stored = self._seed_campaign_contact(camp["id"], contact)
                    out["campaign_contacts"].setdefault(str(camp["id"]), []).append(stored)
            for key, rows in dict(data.get("campaign_contacts", {})).items():
                campaign_id = self._seed_key(key, self.campaign_contacts, "campaign")
                for contact in rows:
                    stored = self._seed_campaign_contact(campaign_id, contact)
                    out["campaign_contacts"].setdefault(str(campaign_id), []).append(stored)
            for user in data.get("users", []):
                out["users"].append(self._seed_user(user))
        except ApiError as exc:
            detail = f": {exc.errors}" if exc.errors else ""
            raise ValueError(f"{exc.message}{detail}") from exc
        return out

    def admin_edit(self, record_id: str, patch: dict[str, Any]) -> JsonDict:
        if not isinstance(patch, dict):
            raise ValueError("patch must be a JSON object")
        kind, ids = self._parse_record_id(record_id)
        try:
            if kind == "list":
                return self._list_out(self._apply_list_patch(self._get_list(ids[0]), patch, admin=True))
            if kind == "entry":
                return self._apply_entry_patch(ids[0], self._get_entry(ids[0], ids[1]), patch)
            contact = self._get_campaign_contact(ids[0], ids[1])
            return self._apply_contact_patch(ids[0], contact, patch, admin=True)
        except ApiError as exc:
            if exc.status == 404:
                raise KeyError(record_id) from exc
            raise ValueError(exc.message) from exc

    def admin_delete(self, record_id: str) -> None:
        kind, ids = self._parse_record_id(record_id)
        try:
            if kind == "list":
                self._get_list(ids[0])
                self._remove_list(ids[0])
            elif kind == "entry":
                self._get_entry(ids[0], ids[1])
                del self.entries[ids[0]][ids[1]]
            else:
                self._get_campaign_contact(ids[0], ids[1])
                del self.campaign_contacts[ids[0]][ids[1]]
        except ApiError as exc:
            raise KeyError(record_id) from exc

    def reset_records(self) -> None:
        """Back to the sandbox's starting state: the global list (and, with ``seed_defaults``, one
        custom list, campaign 1 and one user), with no entries."""
        self.contact_lists.clear()
        self.entries.clear()
        self.campaigns.clear()
        self.campaign_contacts.clear()
        self._unique.clear()
        self.users.clear()
        self._next_list_id = FIRST_LIST_ID
        self._next_entry_id = FIRST_ENTRY_ID
        self._next_contact_id = FIRST_CAMPAIGN_CONTACT_ID
        self._next_user_id = FIRST_USER_ID
        self._seed_list({"id": GLOBAL_LIST_ID, "name": GLOBAL_LIST_NAME, "global": True})
        if self.seed_defaults:
            self._seed_list({"name": SANDBOX_CUSTOM_LIST_NAME})
            self._seed_campaign({"id": SANDBOX_CAMPAIGN_ID, "name": SANDBOX_CAMPAIGN_NAME})
            self._seed_user(dict(DEFAULT_USER))

    # --- helpers: time, ids, paging, bodies -----------------------------------------------
    def _stamp(self) -> str:
        """Now, in ms, strictly after the last stamp handed out."""
        now = dt.datetime.now(dt.UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if now <= self._last_stamp:
            now = self._last_stamp + dt.timedelta(milliseconds=1)
        self._last_stamp = now
        return _iso(now)

    def _paged(self, request: Request, rows: list[Any]) -> Response:
        per_raw = request.query_params.get("per")
        page_raw = request.query_params.get("page")
        per = self.default_per
        if per_raw is not None:
            parsed = _parse_positive_int(per_raw)
            if parsed is None or parsed >= self.max_per:
                raise ApiError(400, PAGE_SIZE_ERROR)
            per = parsed
        page = 1
        if page_raw is not None:
            parsed = _parse_positive_int(page_raw)
            if parsed is None:
                raise ApiError(400, PAGE_ERROR)
            page = parsed
        start = (page - 1) * per
        headers = {"Total": str(len(rows)), "Per-Page": str(per)} if self.paging_headers else None
        return JSONResponse(rows[start : start + per], headers=headers)

    @staticmethod
    async def _body(request: Request) -> JsonDict:
        try:
            body = await read_json(request)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid request body - a JSON object is expected")
        return body

    def _clean_fields(self, body: JsonDict, fields: tuple[str, ...]) -> JsonDict:
        """The known fields present in ``body``, checked one by one (422 on the first bad ones)."""
        changes: JsonDict = {}
        errors: dict[str, list[str]] = {}
        for key in fields:
            if key not in body:
                continue
            value = body[key]
            if value is not None and not isinstance(value, str):
                errors.setdefault(key, []).append("must be a string")
                continue
            value = value.strip() if isinstance(value, str) else None
            value = value or None
            if value is not None and len(value) > MAX_TEXT:
                errors.setdefault(key, []).append(f"is too long (maximum is {MAX_TEXT} characters)")
            elif value is not None and key in PHONE_FIELDS and not PHONE_RE.match(PHONE_FORMATTING_RE.sub("", value)):
                errors.setdefault(key, []).append(f"'{value}' is not a valid phone number")
            elif value is not None and key == "email" and not EMAIL_RE.match(value):
                errors.setdefault(key, []).append(f"'{value}' is not a valid email address")
            changes[key] = value
        if errors:
            raise _validation_error(errors)
        return changes

    def _check_unique(self, rows: dict[int, JsonDict], external_id: Any, own_id: int | None, key: str) -> None:
        if external_id is None:
            return
        holder = self._unique_index(rows, key).get(external_id)
        row = rows.get(holder) if holder is not None else None
        if row is not None and row["id"] != own_id and row.get(key) == external_id:
            raise _validation_error({"external_unique_id": [f"'{external_id}' has already been taken"]})

    def _unique_index(self, rows: dict[int, JsonDict], key: str) -> dict[Any, int]:
        """unique id → the row that last took it, per table: a create costs O(1), not a scan of the list.
        Every insert and update goes through :meth:`_remember`; an entry left by a deleted or changed row
        is told apart by checking the row itself, so the index never has to forget anything."""
        found = self._unique.get(id(rows))
        if found is None:  # the table is kept with its index, so its id is never reused meanwhile
            found = self._unique[id(rows)] = (rows, {r[key]: r["id"] for r in rows.values() if r.get(key) is not None})
        return found[1]

    def _remember(self, rows: dict[int, JsonDict], key: str, row: JsonDict) -> None:
        if row.get(key) is not None:
            self._unique_index(rows, key)[row[key]] = row["id"]

    # --- contact lists ---------------------------------------------------------------------
    def _list_out(self, lst: JsonDict) -> JsonDict:
        out = {key: lst[key] for key in ("id", "name", "global")}
        out["contacts_count"] = len(self.entries.get(lst["id"], {}))
        out["created_at"] = lst["created_at"]
        out["updated_at"] = lst["updated_at"]
        return out

    def _get_list(self, list_id: int) -> JsonDict:
        lst = self.contact_lists.get(list_id)
        if lst is None:
            raise ApiError(404, f"Resource not found - contact list {list_id} does not exist")
        return lst

    def _check_list_name(self, raw: Any, own_id: int | None) -> str:
        if raw is not None and not isinstance(raw, str):
            raise _validation_error({"name": ["must be a string"]})
        name = (raw or "").strip()
        if not name:
            raise _validation_error({"name": ["can't be blank"]})
        if len(name) > MAX_TEXT:
            raise _validation_error({"name": [f"is too long (maximum is {MAX_TEXT} characters)"]})
        for lst in self.contact_lists.values():
            if lst["id"] != own_id and lst["name"].casefold() == name.casefold():
                raise _validation_error({"name": [f"'{name}' has already been taken"]})
        return name

    def _apply_list_patch(self, lst: JsonDict, body: JsonDict, admin: bool = False) -> JsonDict:
        if lst["global"] and not admin:
            raise ApiError(422, "The global contact list cannot be edited")
        if "name" in body:
            name = self._check_list_name(body["name"], lst["id"])
            if name != lst["name"]:
                lst["name"] = name
                lst["updated_at"] = self._stamp()
        return lst

    def _remove_list(self, list_id: int) -> None:
        del self.contact_lists[list_id]
        self.entries.pop(list_id, None)

    async def _list_lists(self, request: Request) -> Response:
        return self._paged(request, [self._list_out(lst) for lst in sorted_by_id(self.contact_lists)])

    async def _create_list(self, request: Request) -> Response:
        body = await self._body(request)
        lst = self._new_list(self._check_list_name(body.get("name"), None), is_global=False)
        self.count_write("POST /contact_lists")
        return JSONResponse(self._list_out(lst), status_code=201)

    async def _update_list(self, request: Request) -> Response:
        lst = self._get_list(request.path_params["id"])
        body = await self._body(request)
        self._apply_list_patch(lst, body)
        self.count_write("PATCH /contact_lists/{id}")
        return JSONResponse(self._list_out(lst))

    async def _delete_list(self, request: Request) -> Response:
        lst = self._get_list(request.path_params["id"])
        if lst["global"]:
            raise ApiError(422, "The global contact list cannot be deleted")
        self._remove_list(lst["id"])
        self.count_write("DELETE /contact_lists/{id}")
        return Response(status_code=204)

    def _new_list(
        self, name: str, is_global: bool, list_id: int | None = None, stamps: JsonDict | None = None
    ) -> JsonDict:
        if list_id is None:
            list_id = self._next_list_id
        if list_id in self.contact_lists:
            raise ApiError(422, f"contact list id {list_id} is already taken")
        self._next_list_id = max(self._next_list_id, list_id + 1)
        created = (stamps or {}).get("created_at") or self._stamp()
        lst = {"id": list_id, "name": name, "global": is_global, "created_at": created}
        lst["updated_at"] = (stamps or {}).get("updated_at") or created
        self.contact_lists[list_id] = lst
        self.entries[list_id] = {}
        return lst

    # --- contact list entries --------------------------------------------------------------
    def _get_entry(self, list_id: int, entry_id: int) -> JsonDict:
        self._get_list(list_id)
        entry = self.entries[list_id].get(entry_id)
        if entry is None:
            raise ApiError(404, f"Resource not found - contact {entry_id} does not exist in contact list {list_id}")
        return entry

    def _apply_entry_patch(self, list_id: int, entry: JsonDict, body: JsonDict) -> JsonDict:
        changes = self._clean_fields(body, ENTRY_FIELDS)
        merged = {**entry, **changes}
        if merged["phone_number"] is None and merged["email"] is None:
            raise _validation_error({"phone_number": ["phone_number or email is required"]})
        self._check_unique(self.entries[list_id], merged["external_unique_id"], entry["id"], "external_unique_id")
        if any(entry[key] != value for key, value in changes.items()):
            entry.update(changes)
            entry["updated_at"] = self._stamp()
            self._remember(self.entries[list_id], "external_unique_id", entry)
        return entry

    def _new_entry(self, list_id: int, body: JsonDict, entry_id: int | None = None) -> JsonDict:
        changes = self._clean_fields(body, ENTRY_FIELDS)
        entry: JsonDict = {key: changes.get(key) for key in ENTRY_FIELDS}
        if entry["phone_number"] is None and entry["email"] is None:
            raise _validation_error({"phone_number": ["phone_number or email is required"]})
        self._check_unique(self.entries[list_id], entry["external_unique_id"], None, "external_unique_id")
        if entry_id is None:
            entry_id = self._next_entry_id
        if any(entry_id in rows for rows in self.entries.values()):
            raise ApiError(422, f"contact id {entry_id} is already taken")
        self._next_entry_id = max(self._next_entry_id, entry_id + 1)
        created = body.get("created_at") or self._stamp()
        stored = {"id": entry_id, "contact_list_id": list_id, **entry, "created_at": created}
        stored["updated_at"] = body.get("updated_at") or created
        self.entries[list_id][entry_id] = stored
        self._remember(self.entries[list_id], "external_unique_id", stored)
        return stored

    async def _list_entries(self, request: Request) -> Response:
        lst = self._get_list(request.path_params["contact_list_id"])
        return self._paged(request, sorted_by_id(self.entries[lst["id"]]) + self.raw_for("list_entries", lst["id"]))

    async def _create_entry(self, request: Request) -> Response:
        lst = self._get_list(request.path_params["contact_list_id"])
        entry = self._new_entry(lst["id"], self._only(await self._body(request), ENTRY_FIELDS))
        self.count_write("POST /contact_lists/{contact_list_id}/contacts")
        return JSONResponse(entry, status_code=201)

    async def _update_entry(self, request: Request) -> Response:
        list_id = request.path_params["contact_list_id"]
        entry = self._get_entry(list_id, request.path_params["id"])
        self._apply_entry_patch(list_id, entry, await self._body(request))
        self.count_write("PATCH /contact_lists/{contact_list_id}/contacts/{id}")
        return JSONResponse(entry)

    async def _delete_entry(self, request: Request) -> Response:
        list_id = request.path_params["contact_list_id"]
        entry = self._get_entry(list_id, request.path_params["id"])
        del self.entries[list_id][entry["id"]]
        self.count_write("DELETE /contact_lists/{contact_list_id}/contacts/{id}")
        return Response(status_code=204)

    @staticmethod
    def _only(body: JsonDict, fields: tuple[str, ...]) -> JsonDict:
        """Body keys a client may set (ids and timestamps in a request body are ignored)."""
        return {key: value for key, value in body.items() if key in fields}

    # --- campaign contacts -----------------------------------------------------------------
    def _get_campaign(self, campaign_id: int) -> JsonDict:
        camp = self.campaigns.get(campaign_id)
        if camp is None:
            raise ApiError(404, f"Resource not found - campaign {campaign_id} does not exist")
        return camp

    def _get_campaign_contact(self, campaign_id: int, contact_id: int) -> JsonDict:
        self._get_campaign(campaign_id)
        contact = self.campaign_contacts[campaign_id].get(contact_id)
        if contact is None:
            raise ApiError(404, f"Resource not found - contact {contact_id} does not exist in campaign {campaign_id}")
        return contact

    def _contact_from_body(self, campaign_id: int, body: JsonDict) -> JsonDict:
        if "contact_id" not in body or body["contact_id"] is None:
            raise ApiError(400, "Missing parameter - contact_id is required")
        contact_id = _as_int_id(body["contact_id"])
        if contact_id is None:
            raise ApiError(400, "Invalid parameter - contact_id must be an integer")
        return self._get_campaign_contact(campaign_id, contact_id)

    @staticmethod
    def _contact_changes_to_stored(changes: JsonDict) -> JsonDict:
        stored = dict(changes)
        if "external_unique_id" in stored:
            stored["unique_id"] = stored.pop("external_unique_id")
        return stored

    def _apply_contact_patch(
        self, campaign_id: int, contact: JsonDict, body: JsonDict, admin: bool = False
    ) -> JsonDict:
        changes = self._contact_changes_to_stored(self._clean_fields(body, CAMPAIGN_CONTACT_FIELDS))
        if admin:  # the dialer's own fields, as the dialer (not the API) would change them
            changes.update({key: body[key] for key in ("status", "priority") if key in body})
        merged = {**contact, **changes}
        if merged["phone_number"] is None:
            raise _validation_error({"phone_number": ["can't be blank"]})
        self._check_unique(self.campaign_contacts[campaign_id], merged["unique_id"], contact["id"], "unique_id")
        if any(contact[key] != value for key, value in changes.items()):
            contact.update(changes)
            contact["updated_at"] = self._stamp()
            self._remember(self.campaign_contacts[campaign_id], "unique_id", contact)
        return contact

    def _new_campaign_contact(
        self, campaign_id: int, body: JsonDict, contact_id: int | None = None, extra: JsonDict | None = None
    ) -> JsonDict:
        changes = self._contact_changes_to_stored(self._clean_fields(body, CAMPAIGN_CONTACT_FIELDS))
        if changes.get("phone_number") is None:
            raise _validation_error({"phone_number": ["can't be blank"]})
        self._check_unique(self.campaign_contacts[campaign_id], changes.get("unique_id"), None, "unique_id")
        if contact_id is None:
            contact_id = self._next_contact_id
        if any(contact_id in rows for rows in self.campaign_contacts.values()):
            raise ApiError(422, f"contact id {contact_id} is already taken")
        self._next_contact_id = max(self._next_contact_id, contact_id + 1)
        extra = extra or {}
        created = extra.get("created_at") or self._stamp()
        contact: JsonDict = {
            "assigned_call_id": None,
            "assigned_participant_id": None,
            "campaign_id": campaign_id,
            "created_at": created,
            "email": changes.get("email"),
            "id": contact_id,
            "name": changes.get("name"),
            "outbound_number": changes.get("outbound_number"),
            "phone_number": changes.get("phone_number"),
            "priority": extra.get("priority"),
            "status": extra.get("status") or "Upcoming",
            "unique_id": changes.get("unique_id"),
            "updated_at": extra.get("updated_at") or created,
        }
        self.campaign_contacts[campaign_id][contact_id] = contact
        self._remember(self.campaign_contacts[campaign_id], "unique_id", contact)
        return contact

    async def _list_campaign_contacts(self, request: Request) -> Response:
        camp = self._get_campaign(request.path_params["campaign_id"])
        rows = sorted_by_id(self.campaign_contacts[camp["id"]])
        return self._paged(request, rows + self.raw_for("campaign_contacts", camp["id"]))

    async def _create_campaign_contact(self, request: Request) -> Response:
        camp = self._get_campaign(request.path_params["campaign_id"])
        body = self._only(await self._body(request), CAMPAIGN_CONTACT_FIELDS)
        contact = self._new_campaign_contact(camp["id"], body)
        self.count_write("POST /outbound_dialer/campaigns/{campaign_id}/contacts")
        return JSONResponse(contact, status_code=201)

    async def _update_campaign_contact(self, request: Request) -> Response:
        campaign_id = self._get_campaign(request.path_params["campaign_id"])["id"]
        body = await self._body(request)
        contact = self._contact_from_body(campaign_id, body)
        self._apply_contact_patch(campaign_id, contact, self._only(body, CAMPAIGN_CONTACT_FIELDS))
        self.count_write("PATCH /outbound_dialer/campaigns/{campaign_id}/contact")
        return JSONResponse(contact)

    async def _delete_campaign_contact(self, request: Request) -> Response:
        campaign_id = self._get_campaign(request.path_params["campaign_id"])["id"]
        contact = self._contact_from_body(campaign_id, await self._body(request))
        del self.campaign_contacts[campaign_id][contact["id"]]
        self.count_write("DELETE /outbound_dialer/campaigns/{campaign_id}/contact")
        return Response(status_code=204)

    # --- users -------------------------------------------------------------------------------
    async def _list_users(self, request: Request) -> Response:
        return self._paged(request, sorted_by_id(self.users))

    # --- seeding -------------------------------------------------------------------------------
    @staticmethod
    def _seed_key(key: Any, table: dict[int, Any], what: str) -> int:
        parsed = _as_int_id(key)
        if parsed is None or parsed not in table:
            raise ValueError(f"no {what} {key}")
        return parsed

    @staticmethod
    def _seed_id(spec: JsonDict) -> int | None:
        if "id" not in spec:
            return None
        parsed = _as_int_id(spec["id"])
        if parsed is None:
            raise ValueError(f"id must be a positive integer, not {spec['id']!r}")
        return parsed

    def _seed_list(self, spec: Any) -> JsonDict:
        if not isinstance(spec, dict):
            raise ValueError("a contact list must be a JSON object")
        is_global = bool(spec.get("global", False))
        if is_global and any(lst["global"] for lst in self.contact_lists.values()):
            raise ValueError("there is already a global contact list")
        name = self._check_list_name(spec.get("name"), None)
        return self._new_list(name, is_global, self._seed_id(spec), spec)

    def _seed_entry(self, list_id: int, spec: Any) -> JsonDict:
        if not isinstance(spec, dict):
            raise ValueError("a contact must be a JSON object")
        return self._new_entry(list_id, spec, self._seed_id(spec))

    def _seed_campaign(self, spec: Any) -> JsonDict:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ValueError("a campaign must be a JSON object with a name")
        campaign_id = self._seed_id(spec) or max(self.campaigns, default=0) + 1
        if campaign_id in self.campaigns:
            raise ValueError(f"campaign id {campaign_id} is already taken")
        camp = {"id": campaign_id, "name": spec["name"]}
        self.campaigns[campaign_id] = camp
        self.campaign_contacts[campaign_id] = {}
        return camp

    def _seed_campaign_contact(self, campaign_id: int, spec: Any) -> JsonDict:
        if not isinstance(spec, dict):
            raise ValueError("a campaign contact must be a JSON object")
        extra = {key: spec[key] for key in ("status", "priority", "created_at", "updated_at") if key in spec}
        return self._new_campaign_contact(campaign_id, spec, self._seed_id(spec), extra)

    def _seed_user(self, spec: Any) -> JsonDict:
        if not isinstance(spec, dict) or not isinstance(spec.get("email"), str):
            raise ValueError("a user must be a JSON object with an email")
        user_id = self._seed_id(spec) or self._next_user_id
        if user_id in self.users:
            raise ValueError(f"user id {user_id} is already taken")
        self._next_user_id = max(self._next_user_id, user_id + 1)
        user = {**DEFAULT_USER, **spec, "id": user_id}
        self.users[user_id] = user
        return user

    @staticmethod
    def _parse_record_id(record_id: str) -> tuple[str, tuple[int, ...]]:
        parts = record_id.strip("/").split("/")
        try:
            if len(parts) == 2 and parts[0] == "contact_lists":
                return "list", (int(parts[1]),)
            if len(parts) == 4 and parts[0] == "contact_lists" and parts[2] == "contacts":
                return "entry", (int(parts[1]), int(parts[3]))
            if len(parts) == 4 and parts[0] == "campaigns" and parts[2] == "contacts":
                return "contact", (int(parts[1]), int(parts[3]))
        except ValueError:
            pass
        raise KeyError(record_id)


def _validation_error(errors: dict[str, list[str]]) -> ApiError:
    detail = "; ".join(f"{key} {msg}" for key, msgs in errors.items() for msg in msgs)
    return ApiError(422, f"Validation failed: {detail}", errors)


def sorted_by_id(table: dict[int, JsonDict]) -> list[JsonDict]:
    return [table[key] for key in sorted(table)]
