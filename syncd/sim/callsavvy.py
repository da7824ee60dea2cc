"""Callsavvy v1 simulator: leads, contacts and contact groups, and getSummary.

Every resource is ``POST /v1/<resource>`` with JSON, answered in the ``{"resource", "status", "data" |
"message"}`` envelope. Limits: 50 requests a minute per endpoint and 100 a minute across the API.
Where the doc is silent this follows the facts sheet (/work/shared/api-docs/README.md): updateLead is a
full replace, createBulkContact takes ``{"contacts": [...]}``, there is no contact update, and duplicate
leads are accepted (Callsavvy does not reject two leads with one phone).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncd.sim.common import SimBase, SlidingWindow, read_json

# --- account defaults ------------------------------------------------------------------------------
CALLSAVVY_SANDBOX_PUBLIC_KEY = "TEST-hdo76HDCGAjfig4jbnyUI4734BNDY"
CALLSAVVY_SANDBOX_PRIVATE_KEY = "TEST-934HDHD84JDVBPSW73BYjegh494WD9084NFUih34-9974r"
DEFAULT_GROUPS: tuple[str, ...] = ("Customers", "Prospects")
DEFAULT_SUMMARY: dict[str, str] = {
    "assigned_number": "+15550100100",
    "account_status": "Active",
    "business_id": "sim0business",
    "credit_balance": "0.00",
    "account_currency": "USD",
    "package": "Standard",
    "validity": "2030-12-31 23:59:59",
}
API_PREFIX = "/v1"
PER_ENDPOINT_LIMIT = 50  # requests per minute to one endpoint
GLOBAL_LIMIT = 100  # requests per minute across the API
LIMIT_WINDOW_SECONDS = 60.0
MAX_BULK_CONTACTS = 100

# --- messages (the doc gives only "Invalid API credentials"; the others are ours) -----------------------
MSG_AUTH = "Invalid API credentials"
MSG_METHOD = "Only JSON encoded HTTP POST requests are accepted"
MSG_NOT_JSON = "Request body must be JSON"
MSG_UNKNOWN_RESOURCE = "Unknown resource '{}'"
MSG_REQUIRED = "The {} field is required"
MSG_NOT_STRING = "The {} field must be a string"
MSG_EMAIL_OR_PHONE = "Either email or phone is required"
MSG_EMAIL = "Invalid email address"
MSG_PHONE = "Invalid phone number"
MSG_STATUS = (
    "Invalid status. Supported values are Potential, Qualified, Interested, Converted, Not Interested or Bad Fit"
)
MSG_PRIORITY = "Invalid priority. Supported values are Hot, Warm, Cold or Dead"
MSG_LEAD_NOT_FOUND = "Lead not found"
MSG_CONTACT_NOT_FOUND = "Contact not found"
MSG_GROUP_NOT_FOUND = "Contact group not found"
MSG_BULK_COUNT = f"contacts must be a list of 1 to {MAX_BULK_CONTACTS} contacts"
MSG_BULK_ITEM = "contacts[{}]: {}"

LEAD_STATUSES = ("Potential", "Qualified", "Interested", "Converted", "Not Interested", "Bad Fit")
LEAD_PRIORITIES = ("Hot", "Warm", "Cold", "Dead")
LEAD_FIELDS = (
    "name",
    "email",
    "phone",
    "status",
    "priority",
    "summary",
    "organization",
    "location",
    "source",
    "worth",
    "notes",
)
CONTACT_FIELDS = ("name", "email", "phone", "group_id")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()-]{5,19}$")


class ApiError(Exception):
    """An error answer: HTTP status and the envelope's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def opaque_id(seed: str) -> str:
    """A 12-character id like Callsavvy's ``jdy93yeb0d==``, deterministic per seed."""
    return base64.urlsafe_b64encode(hashlib.sha256(seed.encode()).digest()[:7]).decode()


def text(body: Mapping[str, Any], key: str) -> str:
    """A string field, stripped; "" when absent or null; a 400 when it is not a string."""
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, MSG_NOT_STRING.format(key))
    return value.strip()


# --- validation, as a table of rules; each raises ApiError(400) --------------------------------------
def _required(key: str) -> Callable[[dict[str, str]], None]:
    def rule(record: dict[str, str]) -> None:
        if not record[key]:
            raise ApiError(400, MSG_REQUIRED.format(key))

    return rule


def _email_or_phone(record: dict[str, str]) -> None:
    if not record["email"] and not record["phone"]:
        raise ApiError(400, MSG_EMAIL_OR_PHONE)


def _email(record: dict[str, str]) -> None:
    if record["email"] and not EMAIL_RE.match(record["email"]):
        raise ApiError(400, MSG_EMAIL)


def _phone(record: dict[str, str]) -> None:
    if record["phone"] and not PHONE_RE.match(record["phone"]):
        raise ApiError(400, MSG_PHONE)


def _one_of(key: str, values: tuple[str, ...], message: str) -> Callable[[dict[str, str]], None]:
    def rule(record: dict[str, str]) -> None:
        if record[key] not in values:
            raise ApiError(400, message)

    return rule


LEAD_RULES = (
    _required("name"),
    _email_or_phone,
    _email,
    _phone,
    _required("status"),
    _one_of("status", LEAD_STATUSES, MSG_STATUS),
    _required("priority"),
    _one_of("priority", LEAD_PRIORITIES, MSG_PRIORITY),
    _required("summary"),
)
CONTACT_RULES = (_required("name"), _email_or_phone, _email, _phone)


@dataclass(frozen=True)
class Resource:
    handler: Callable[[dict[str, Any]], Awaitable[Any]]
    body_required: bool  # False: the resource has no required parameter, so an empty body will do


class CallsavvySim(SimBase):
    """Callsavvy's API for one business.

    Options: ``public_key`` / ``private_key`` (the sandbox keys by default), ``groups`` (names of the
    contact groups the account starts with), ``retry_after_header`` (False: 429s carry no Retry-After,
    as real answers may not).
    """

    name = "callsavvy"
    raw_listings = ("leads", "contacts")  # getLeads, getContacts

    def __init__(
        self,
        speed: float = 1.0,
        *,
        public_key: str = CALLSAVVY_SANDBOX_PUBLIC_KEY,
        private_key: str = CALLSAVVY_SANDBOX_PRIVATE_KEY,
        groups: Iterable[str] = DEFAULT_GROUPS,
        retry_after_header: bool = True,
    ) -> None:
        super().__init__(speed)
        self.public_key = public_key
        self.private_key = private_key
        self.retry_after_header = retry_after_header
        self._default_groups = list(groups)
        self.leads: dict[str, dict[str, str]] = {}
        self.contacts: dict[str, dict[str, str]] = {}
        self.groups: dict[str, dict[str, str]] = {}
        self._add_default_groups()
        self._endpoint_limiters: dict[str, SlidingWindow] = {}
        self._global_limiter = SlidingWindow(GLOBAL_LIMIT, self.window(LIMIT_WINDOW_SECONDS))
        self.resources: dict[str, Resource] = {
            "getLeads": Resource(self._get_leads, False),
            "createLead": Resource(self._create_lead, True),
            "updateLead": Resource(self._update_lead, True),
            "deleteLead": Resource(self._delete_lead, True),
            "getContacts": Resource(self._get_contacts, False),
            "getContactGroups": Resource(self._get_contact_groups, False),
            "createContact": Resource(self._create_contact, True),
            "createBulkContact": Resource(self._create_bulk_contact, True),
            "deleteContact": Resource(self._delete_contact, True),
            "getSummary": Resource(self._get_summary, False),
        }

    # --- app ------------------------------------------------------------------------------------
    def app(self) -> Starlette:
        routes = [
            Route(
                f"{API_PREFIX}/{name}", self.wrap(f"/{name}", self._endpoint(name), auth=self._auth), methods=["POST"]
            )
            for name in self.resources
        ]
        return Starlette(
            routes=[*routes, *self.admin_routes()],
            exception_handlers={404: self._http_error, 405: self._http_error},
        )

    def error_response(self, status: int, message: str, endpoint: str) -> Response:
        body = {"resource": endpoint.rsplit("/", 1)[-1], "status": "error", "message": message}
        return JSONResponse(body, status_code=status)

    def limiters_for(self, request: Request, endpoint: str) -> list[SlidingWindow]:
        per_endpoint = self._endpoint_limiters.get(endpoint)
        if per_endpoint is None:
            per_endpoint = SlidingWindow(PER_ENDPOINT_LIMIT, self.window(LIMIT_WINDOW_SECONDS))
            self._endpoint_limiters[endpoint] = per_endpoint
        return [per_endpoint, self._global_limiter]

    def rate_limited(self, retry_after: float, endpoint: str = "") -> Response:
        response = super().rate_limited(retry_after, endpoint)
        if not self.retry_after_header:
            del response.headers["Retry-After"]
        return response

    def _auth(self, request: Request) -> Response | None:
        if (
            request.headers.get("public-key") != self.public_key
            or request.headers.get("private-key") != self.private_key
        ):
            return self.error_response(401, MSG_AUTH, request.url.path)
        return None

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        self.stats.requests += 1
        self.stats.by_status[status] += 1
        if status == 405:
            return self.error_response(405, MSG_METHOD, request.url.path)
        resource = request.url.path.rsplit("/", 1)[-1]
        return self.error_response(404, MSG_UNKNOWN_RESOURCE.format(resource), request.url.path)

    def _endpoint(self, name: str) -> Callable[[Request], Awaitable[Response]]:
        resource = self.resources[name]

        async def endpoint(request: Request) -> Response:
            try:
                body = await self._body(request, resource.body_required)
                data = await resource.handler(body)
            except ApiError as exc:
                return self.error_response(exc.status, exc.message, name)
            return JSONResponse({"resource": name, "status": "success", "data": data})

        return endpoint

    @staticmethod
    async def _body(request: Request, required: bool) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            if required:
                raise ApiError(400, MSG_NOT_JSON)
            return {}
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ApiError(400, MSG_NOT_JSON)
        try:
            body = await read_json(request)
        except ValueError as exc:
            raise ApiError(400, MSG_NOT_JSON) from exc
        if not isinstance(body, dict):
            raise ApiError(400, MSG_NOT_JSON)
        return body

    # --- leads ----------------------------------------------------------------------------------
    async def _get_leads(self, body: dict[str, Any]) -> Any:
        status = text(body, "status")
        if status and status not in LEAD_STATUSES:
            raise ApiError(400, MSG_STATUS)
        listed = [_listed_lead(lead) for lead in self.leads.values() if not status or lead["status"] == status]
        return listed + self.raw_for("leads")  # injected raw values (POST /_sim/raw), unfiltered

    async def _create_lead(self, body: dict[str, Any]) -> Any:
        lead = self._valid_lead(body)
        lead_id = self._new_record_id("lead")
        self.leads[lead_id] = {"lead_id": lead_id, **lead}
        self.count_write("/createLead")
        return [{"lead_id": lead_id}]

    async def _update_lead(self, body: dict[str, Any]) -> Any:
        lead_id = self._existing(body, "lead_id", self.leads, MSG_LEAD_NOT_FOUND)
        self.leads[lead_id] = {"lead_id": lead_id, **self._valid_lead(body)}  # a full replace
        self.count_write("/updateLead")
        return {"lead_id": lead_id}

    async def _delete_lead(self, body: dict[str, Any]) -> Any:
        lead_id = self._existing(body, "lead_id", self.leads, MSG_LEAD_NOT_FOUND)
        del self.leads[lead_id]
        self.count_write("/deleteLead")
        return {"lead_id": lead_id}

    @staticmethod
    def _valid_lead(body: Mapping[str, Any]) -> dict[str, str]:
        lead = {key: text(body, key) for key in LEAD_FIELDS}
        for rule in LEAD_RULES:
            rule(lead)
        return lead

    # --- contacts -------------------------------------------------------------------------------
    async def _get_contacts(self, body: dict[str, Any]) -> Any:
        group_id = text(body, "group_id")
        if group_id and group_id not in self.groups:
            raise ApiError(404, MSG_GROUP_NOT_FOUND)
        listed = [dict(c) for c in self.contacts.values() if not group_id or c["group_id"] == group_id]
        return listed + self.raw_for("contacts")  # injected raw values (POST /_sim/raw), unfiltered

    async def _get_contact_groups(self, body: dict[str, Any]) -> Any:
        return [dict(group) for group in self.groups.values()]

    async def _create_contact(self, body: dict[str, Any]) -> Any:
        contact = self._store_contact(self._valid_contact(body))
        self.count_write("/createContact")
        return {"contact_id": contact["contact_id"], "name": contact["name"]}

    async def _create_bulk_contact(self, body: dict[str, Any]) -> Any:
        items = body.get("contacts")
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BULK_CONTACTS:
            raise ApiError(400, MSG_BULK_COUNT)
        valid: list[dict[str, str]] = []
        for index, item in enumerate(items):
            try:
                if not isinstance(item, dict):
                    raise ApiError(400, MSG_NOT_JSON)
                valid.append(self._valid_contact(item))
            except ApiError as exc:
                raise ApiError(400, MSG_BULK_ITEM.format(index, exc.message)) from exc
        created = [dict(self._store_contact(contact)) for contact in valid]
        self.count_write("/createBulkContact", len(created))
        return created

    async def _delete_contact(self, body: dict[str, Any]) -> Any:
        contact_id = self._existing(body, "contact_id", self.contacts, MSG_CONTACT_NOT_FOUND)
        del self.contacts[contact_id]
        self.count_write("/deleteContact")
        return {"contact_id": contact_id}

    def _valid_contact(self, body: Mapping[str, Any]) -> dict[str, str]:
        contact = {key: text(body, key) for key in CONTACT_FIELDS}
        for rule in CONTACT_RULES:
            rule(contact)
        if contact["group_id"] and contact["group_id"] not in self.groups:
            raise ApiError(404, MSG_GROUP_NOT_FOUND)
        return contact

    def _store_contact(self, contact: dict[str, str]) -> dict[str, str]:
        contact_id = self._new_record_id("contact")
        stored = {"contact_id": contact_id, **contact}
        self.contacts[contact_id] = stored
        return stored

    async def _get_summary(self, body: dict[str, Any]) -> Any:
        return dict(DEFAULT_SUMMARY)

    @staticmethod
    def _existing(body: Mapping[str, Any], key: str, records: Mapping[str, Any], not_found: str) -> str:
        record_id = text(body, key)
        if not record_id:
            raise ApiError(400, MSG_REQUIRED.format(key))
        if record_id not in records:
            raise ApiError(404, not_found)
        return record_id

    def _new_record_id(self, kind: str) -> str:
        return opaque_id(self.new_id(f"callsavvy-{kind}-"))

    def _add_default_groups(self) -> None:
        for name in self._default_groups:
            group_id = self._new_record_id("group")
            self.groups[group_id] = {"name": name, "group_id": group_id}

    # --- admin API ------------------------------------------------------------------------------
    def seed(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeError("seed data must be an object")
        _check_keys(data, {"leads", "contacts", "groups"}, "seed")
        before = (dict(self.leads), dict(self.contacts), dict(self.groups))
        try:
            groups = [self._seed_group(item) for item in data.get("groups") or []]
            leads = [self._seed_lead(item) for item in data.get("leads") or []]
            contacts = [self._seed_contact(item) for item in data.get("contacts") or []]
        except Exception:
            self.leads, self.contacts, self.groups = before
            raise
        return {
            "leads": [_listed_lead(lead) for lead in leads],
            "contacts": [dict(c) for c in contacts],
            "groups": [dict(g) for g in groups],
        }

    def _seed_group(self, item: Any) -> dict[str, str]:
        group = _seed_fields(item, ("name", "group_id"), "group")
        group_id = group["group_id"] or self._new_record_id("group")
        if group_id in self.groups:
            raise ValueError(f"group id {group_id} already exists")
        self.groups[group_id] = {"name": group["name"], "group_id": group_id}
        return self.groups[group_id]

    def _seed_lead(self, item: Any) -> dict[str, str]:
        if isinstance(item, dict) and "priorty" in item:
            item = {("priority" if k == "priorty" else k): v for k, v in item.items()}
        lead = _seed_fields(item, ("lead_id", *LEAD_FIELDS), "lead")
        _check_lead_enums(lead)
        lead_id = lead.pop("lead_id") or self._new_record_id("lead")
        self._check_new_id(lead_id)
        self.leads[lead_id] = {"lead_id": lead_id, **lead}
        return self.leads[lead_id]

    def _seed_contact(self, item: Any) -> dict[str, str]:
        contact = _seed_fields(item, ("contact_id", *CONTACT_FIELDS), "contact")
        if contact["group_id"] and contact["group_id"] not in self.groups:
            raise ValueError(f"no contact group {contact['group_id']}")
        contact_id = contact.pop("contact_id") or self._new_record_id("contact")
        self._check_new_id(contact_id)
        self.contacts[contact_id] = {"contact_id": contact_id, **contact}
        return self.contacts[contact_id]

    def _check_new_id(self, record_id: str) -> None:
        if record_id in self.leads or record_id in self.contacts:
            raise ValueError(f"record id {record_id} already exists")

    def dump(self) -> Any:
        return {
            "leads": [_listed_lead(lead) for lead in self.leads.values()],
            "contacts": [dict(c) for c in self.contacts.values()],
            "groups": [dict(g) for g in self.groups.values()],
        }

    def admin_edit(self, record_id: str, patch: dict[str, Any]) -> Any:
        if not isinstance(patch, dict):
            raise TypeError("a patch must be an object")
        if record_id in self.leads:
            patch = {("priority" if k == "priorty" else k): v for k, v in patch.items()}
            _check_keys(patch, LEAD_FIELDS, "lead")
            edited = {**self.leads[record_id], **{k: _seed_text(v, k) for k, v in patch.items()}}
            _check_lead_enums(edited)
            self.leads[record_id] = edited
            return _listed_lead(edited)
        contact = self.contacts[record_id]
        _check_keys(patch, CONTACT_FIELDS, "contact")
        edited = {**contact, **{k: _seed_text(v, k) for k, v in patch.items()}}
        if edited["group_id"] and edited["group_id"] not in self.groups:
            raise ValueError(f"no contact group {edited['group_id']}")
        self.contacts[record_id] = edited
        return dict(edited)

    def admin_delete(self, record_id: str) -> None:
        if record_id in self.leads:
            del self.leads[record_id]
        else:
            del self.contacts[record_id]

    def reset_records(self) -> None:
        self.leads.clear()
        self.contacts.clear()
        self.groups.clear()
        self._add_default_groups()


def _listed_lead(lead: Mapping[str, str]) -> dict[str, str]:
    """A lead as getLeads lists it: the sample's key order, and its spelling ``priorty`` (no ``priority``)."""
    keys = ("lead_id", "name", "email", "phone", "status", "organization", "location", "summary", "worth")
    return {
        **{key: lead[key] for key in keys},
        "priorty": lead["priority"],
        "notes": lead["notes"],
        "source": lead["source"],
    }


def _check_keys(data: Mapping[str, Any], allowed: Iterable[str], what: str) -> None:
    unknown = set(data) - set(allowed)
    if unknown:
        raise ValueError(f"unknown {what} keys: {sorted(unknown)}")


def _seed_text(value: Any, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    return value


def _seed_fields(item: Any, keys: tuple[str, ...], what: str) -> dict[str, str]:
    if not isinstance(item, dict):
        raise TypeError(f"a seeded {what} must be an object")
    _check_keys(item, keys, what)
    return {key: _seed_text(item.get(key), key) for key in keys}


def _check_lead_enums(lead: Mapping[str, str]) -> None:
    """Out-of-band records skip the API's rules, but never hold a status or priority Callsavvy lacks."""
    if lead["status"] and lead["status"] not in LEAD_STATUSES:
        raise ValueError(f"unknown lead status {lead['status']!r}")
    if lead["priority"] and lead["priority"] not in LEAD_PRIORITIES:
        raise ValueError(f"unknown lead priority {lead['priority']!r}")
