"""Callyzer v2.1 simulator: the lead endpoints (/lead/get, /lead/save, /lead/bulksave) and /employee/get.

Strict where the doc is precise (every business rule of the lead tables, with its exact message), and
where it is silent it implements the assumptions of the facts sheet (/work/shared/api-docs/README.md):
the ``existing_lead`` merge policies, a lead identified by its contact numbers, update-by-id that cannot
clear a field, 100 leads per bulksave, one request per two seconds per account.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncd.sim.common import Handler, SimBase, SlidingWindow, read_json

# --- account defaults ------------------------------------------------------------------------------
CALLYZER_SANDBOX_TOKEN = "cz-sandbox-7f3a9c2e51"
DEFAULT_TIMEZONE = "Asia/Kolkata"
DEFAULT_MAX_BULK = 100
DEFAULT_LEAD_STATUSES: tuple[str, ...] = (
    "Positive",
    "Negative",
    "Interested",
    "Not Interested",
    "Converted",
    "NewInquiry",
    "Follow Up",
)
DEFAULT_EMPLOYEES: tuple[dict[str, Any], ...] = (
    {
        "emp_name": "Rahul",
        "emp_country_code": "91",
        "emp_number": "9558434554",
        "emp_tags": ["sales"],
        "is_lead_active": True,
        "emp_code": "101",
    },
    {
        "emp_name": "Raj",
        "emp_country_code": "91",
        "emp_number": "9958424504",
        "emp_tags": ["sales", "north"],
        "is_lead_active": True,
        "emp_code": "102",
    },
)
API_PREFIX = "/api/v2.1"
RATE_LIMIT_SECONDS = 2.0  # one request per two seconds per account, across every endpoint

# --- messages (the doc's text, typographic quotes included) ----------------------------------------
MSG_SUCCESS = "Success"
MSG_INVALID_TOKEN = "Invalid access token"
MSG_EXPIRED = "Your subscription has expired."
MSG_MALFORMED = "Malformed JSON request body"
MSG_UNKNOWN_FIELD = "Unrecognized field “{}”."
MSG_INVALID_ID = "Invalid “id”.please provide valid id"
MSG_REQUIRED = "“First_name”, “strategy” and at least one “contact_numbers” is required."
MSG_CONTACT_FORMAT = "Invalid “contact_numbers”. Country code should be separated by hyphen(-), if present."
MSG_ALREADY_EXISTS = "The ‘{}’ already exists."
MSG_NOT_EXIST = "The ‘{}’ doesn’t exist."
MSG_STRATEGY = (
    "Invalid “strategy”. It should be either ‘Assign to All Selected’ or ‘Minimum Leads’ or ‘Random’ or ‘Round Robin’."
)
MSG_EMP_NUMBERS_COUNT = "Invalid no of “emp_numbers”. Maximum 100 numbers are allowed."
MSG_EMP_TAGS_COUNT = "Invalid no of “emp_tags”. Maximum 100 tags are allowed."
MSG_LENGTH = "Invalid “{}”. Length should be between {} to {} chars."
MSG_PRICE = "Invalid “price”. Value should be numeric and within range of double data type."
MSG_LEAD_TAGS_COUNT = "Invalid no of “lead_tags”. Maximum 100 tags are allowed."
MSG_LEAD_DETAILS_MODE = "Invalid “lead_details”. It should be either ‘Ignore’ or ‘Overwrite’ or ‘UpdateBlankOnly’."
MSG_ASSIGNEE_MODE = "Invalid “assignee”. It should be either ‘Ignore’ or ‘Overwrite’ or ‘Append’."
MSG_LEAD_TAGS_MODE = "Invalid “lead_tags”. It should be either ‘Ignore’ or ‘Overwrite’ or ‘Append’."
MSG_IS_MAP = "Invalid “is_map_existing_call_logs”. It should be either true or false."
MSG_EMP_BOTH = (
    "Please don’t provide ‘emp_numbers’ and ‘emp_tags’ simultaneously. Provide either one individually or none at all."
)
MSG_STATUS_NOT_EXIST = "The ‘{}’ lead status doesn’t exist."
MSG_BULK_COUNT = "Invalid no of leads. Minimum 1 and Maximum {} leads are allowed."
MSG_BOTH_LEVELS = "Please provide “{}” either at request level or at lead level, not both."
MSG_TECHNICAL = "There is some technical error, please try again later"
MSG_CONTACTS_COUNT = "Invalid no of “contact_numbers”. Maximum 100 numbers are allowed."
MSG_PAGE_NO = "Invalid value. Value should be greater than zero and within range of unsigned integer data type."
MSG_PAGE_SIZE_LEADS = "Invalid value. The value should be between 1 to 100"
MSG_PAGE_SIZE_EMPLOYEES = "Invalid value. The value should be between 1 to 100."
MSG_EMP_INVALID_NUMBERS = "Invalid {}."
MSG_EMP_NAME = "Invalid “emp_name”. Employee doesn’t exist for a given name."
MSG_EMP_CODES_COUNT = "Invalid no of “emp_codes”. Maximum 100 numbers are allowed."
LIST_SEPARATOR = ", "  # how a message lists several numbers or tags (the doc only says "comma separated")

# --- the lead's shape --------------------------------------------------------------------------------
NUMBER_RE = re.compile(r"^(\d{1,4}-)?\d{6,14}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \S+$")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S %Z"
DETAIL_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "company_name",
    "address1",
    "address2",
    "city",
    "state",
    "country",
    "zip",
    "source",
    "description",
    "price",
)
STRATEGIES = {s.lower(): s for s in ("Assign to All Selected", "Minimum Leads", "Random", "Round Robin")}
LEAD_DETAILS_MODES = {m.lower(): m for m in ("ignore", "overwrite", "updateBlankOnly")}
APPEND_MODES = {m: m for m in ("ignore", "overwrite", "append")}
MAX_NUMBERS_PER_LEAD = 2
MAX_LIST = 100
MAX_PAGE_NO = 2**31 - 1

# settings that bulksave takes at request level or at lead level (never both)
SETTINGS = ("lead_tags", "lead_status", "assignment", "existing_lead", "is_map_existing_call_logs")
STRING_FIELDS = ("id", *(f for f in DETAIL_FIELDS if f != "price"), "lead_status")
LEAD_FIELDS = frozenset({"id", *DETAIL_FIELDS, "contact_numbers", *SETTINGS})
PATCH_KEYS = frozenset(
    {"details", "status", "assigned_to", "last_call_log", "lead_tags", "no_of_attempts", "created_at", "modified_at"}
)
ASSIGNMENT_FIELDS = frozenset({"strategy", "emp_numbers", "emp_tags"})
EXISTING_LEAD_FIELDS = frozenset({"lead_details", "assignee", "lead_tags"})

EMPLOYEE_TEMPLATE: dict[str, Any] = {
    "emp_name": "",
    "emp_code": None,
    "emp_country_code": "",
    "emp_number": "",
    "emp_tags": [],
    "app_version": "1.3.16",
    "registered_at": None,
    "modified_at": None,
    "last_call_at": None,
    "last_sync_req_at": None,
    "is_lead_active": True,
    "is_call_recording_active": False,
    "device_details": None,
    "device_preference": None,
    "app_settings": None,
}


class BadRequest(Exception):
    """A 400 answer with the provider's message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def is_blank(value: Any) -> bool:
    """A blank optional field ("" / null / a list of blanks) counts as not given."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, list):
        return all(is_blank(item) for item in value)
    if isinstance(value, dict):
        return all(is_blank(item) for item in value.values())
    return False


def given(value: Any) -> str | None:
    """The string a field carries, or None when it is blank (a blank optional field is "not given")."""
    return value if isinstance(value, str) and value.strip() else None


def number_identity(number: str) -> str:
    """What makes two numbers the same: the digits after the country code's hyphen, if any."""
    return number.split("-", 1)[1] if "-" in number else number


def non_blank_list(value: Any) -> list[str]:
    """A string list without its blank items (the doc's payloads send ``["", ""]`` for none)."""
    return [item.strip() for item in (value or []) if not is_blank(item)]


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def parse_price(value: Any) -> str | None:
    """The price as Callyzer lists it (a string); None when it is not a finite number."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return str(int(number)) if number.is_integer() else repr(number)


def opaque_id(seed: str) -> str:
    """A 22-character url-safe id like Callyzer's ``DLe37-2Kc2QoudFUsBudkw``, deterministic per seed."""
    digest = hashlib.sha256(seed.encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


# --- request parsing: wrong JSON types are a malformed body, as a Jackson-bound API answers them --------
def _expect_str(data: Mapping[str, Any], key: str) -> None:
    if data.get(key) is not None and not isinstance(data[key], str):
        raise BadRequest(MSG_MALFORMED)


def _expect_str_list(data: Mapping[str, Any], key: str) -> None:
    value = data.get(key)
    if value is None:
        return
    if not isinstance(value, list) or not all(item is None or isinstance(item, str) for item in value):
        raise BadRequest(MSG_MALFORMED)


def _expect_object(data: Mapping[str, Any], key: str, allowed: frozenset[str]) -> None:
    value = data.get(key)
    if value is None:
        return
    if not isinstance(value, dict):
        raise BadRequest(MSG_MALFORMED)
    _reject_unknown(value, allowed)


def _reject_unknown(data: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for key in data:
        if key not in allowed:
            raise BadRequest(MSG_UNKNOWN_FIELD.format(key))


def check_lead_types(lead: Any, allowed: frozenset[str] = LEAD_FIELDS) -> dict[str, Any]:
    """A lead (or bulksave's request-level settings) with every field of the JSON type the API binds."""
    if not isinstance(lead, dict):
        raise BadRequest(MSG_MALFORMED)
    _reject_unknown(lead, allowed)
    for key in STRING_FIELDS:
        _expect_str(lead, key)
    for key in ("contact_numbers", "lead_tags"):
        _expect_str_list(lead, key)
    _expect_object(lead, "assignment", ASSIGNMENT_FIELDS)
    _expect_object(lead, "existing_lead", EXISTING_LEAD_FIELDS)
    assignment = lead.get("assignment") or {}
    _expect_str(assignment, "strategy")
    _expect_str_list(assignment, "emp_numbers")
    _expect_str_list(assignment, "emp_tags")
    for key in EXISTING_LEAD_FIELDS:
        _expect_str(lead.get("existing_lead") or {}, key)
    price = lead.get("price")
    if price is not None and (isinstance(price, bool) or not isinstance(price, str | int | float)):
        raise BadRequest(MSG_MALFORMED)
    flag = lead.get("is_map_existing_call_logs")
    if flag is not None and not isinstance(flag, bool | str):
        raise BadRequest(MSG_MALFORMED)
    return lead


# --- validation rules: each answers the doc's message or None; blank optional fields are skipped -------
Rule = Callable[[dict[str, Any]], str | None]


def _assignment(lead: Mapping[str, Any]) -> dict[str, Any]:
    value = lead.get("assignment")
    return value if isinstance(value, dict) else {}


def length_rule(name: str, low: int, high: int) -> Rule:
    def rule(lead: dict[str, Any]) -> str | None:
        value = given(lead.get(name))
        if value is None or low <= len(value) <= high:
            return None
        return MSG_LENGTH.format(name, low, high)

    return rule


def rule_email(lead: dict[str, Any]) -> str | None:
    value = given(lead.get("email"))
    if value is None or (5 <= len(value) <= 100 and EMAIL_RE.match(value)):
        return None
    return MSG_LENGTH.format("email", 5, 100)


def rule_contact_format(lead: dict[str, Any]) -> str | None:
    numbers = non_blank_list(lead.get("contact_numbers"))
    identities = [number_identity(n) for n in numbers]
    if (
        len(numbers) > MAX_NUMBERS_PER_LEAD
        or not all(NUMBER_RE.match(n) for n in numbers)
        or len(set(identities)) != len(identities)
    ):
        return MSG_CONTACT_FORMAT
    return None


def rule_strategy(lead: dict[str, Any]) -> str | None:
    strategy = given(_assignment(lead).get("strategy"))
    if strategy is None or strategy.strip().lower() in STRATEGIES:
        return None
    return MSG_STRATEGY


def count_rule(getter: Callable[[dict[str, Any]], Any], message: str) -> Rule:
    def rule(lead: dict[str, Any]) -> str | None:
        return message if len(non_blank_list(getter(lead))) > MAX_LIST else None

    return rule


def rule_price(lead: dict[str, Any]) -> str | None:
    value = lead.get("price")
    if is_blank(value) or parse_price(value) is not None:
        return None
    return MSG_PRICE


def mode_rule(key: str, modes: Mapping[str, str], message: str) -> Rule:
    def rule(lead: dict[str, Any]) -> str | None:
        value = given((lead.get("existing_lead") or {}).get(key))
        if value is None or value.strip().lower() in modes:
            return None
        return message

    return rule


def rule_is_map(lead: dict[str, Any]) -> str | None:
    value = lead.get("is_map_existing_call_logs")
    text = None if isinstance(value, bool) else given(value)
    if text is None or text.strip().lower() in ("true", "false"):
        return None
    return MSG_IS_MAP


def rule_emp_both(lead: dict[str, Any]) -> str | None:
    assignment = _assignment(lead)
    if non_blank_list(assignment.get("emp_numbers")) and non_blank_list(assignment.get("emp_tags")):
        return MSG_EMP_BOTH
    return None


# --- stored records ----------------------------------------------------------------------------------
@dataclass
class Employee:
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.data["emp_name"])

    @property
    def country_code(self) -> str:
        return str(self.data.get("emp_country_code") or "")

    @property
    def number(self) -> str:
        return str(self.data["emp_number"])

    @property
    def code(self) -> str | None:
        code = self.data.get("emp_code")
        return None if code is None else str(code)

    @property
    def tags(self) -> list[str]:
        return list(self.data.get("emp_tags") or [])

    @property
    def display(self) -> str:
        """How a lead's ``assigned_to.employee`` names the employee: ``Rahul (+91-9558434554)``."""
        if self.country_code:
            return f"{self.name} (+{self.country_code}-{self.number})"
        return f"{self.name} ({self.number})"

    def has_number(self, number: str) -> bool:
        if "-" in number:
            code, rest = number.split("-", 1)
            return rest == self.number and code == self.country_code
        return number == self.number

    def shaped(self) -> dict[str, Any]:
        return {**copy.deepcopy(EMPLOYEE_TEMPLATE), **copy.deepcopy(self.data)}


@dataclass
class Assignment:
    strategy: str
    all_employees: bool
    employees: list[str]


@dataclass
class Lead:
    id: str
    details: dict[str, str]
    contact_numbers: list[str]
    lead_status: str = ""
    reminder_date: str = ""
    reminder_time: str = ""
    all_employees: bool = False
    employees: list[str] = field(default_factory=list)
    strategy: str = ""
    lead_tags: list[str] = field(default_factory=list)
    no_of_attempts: int = 0
    last_call_log: dict[str, Any] | None = None
    created_at: str = ""
    modified_at: str = ""

    def shaped(self) -> dict[str, Any]:
        """The lead exactly as /lead/get lists it."""
        return {
            "id": self.id,
            "details": {
                **{name: self.details.get(name, "") for name in DETAIL_FIELDS},
                "contact_numbers": list(self.contact_numbers),
            },
            "status": {
                "lead_status": self.lead_status,
                "reminder_date": self.reminder_date,
                "reminder_time": self.reminder_time,
            },
            "assigned_to": {"all_employees": self.all_employees, "employee": list(self.employees)},
            "last_call_log": copy.deepcopy(self.last_call_log),
            "lead_tags": list(self.lead_tags),
            "no_of_attempts": self.no_of_attempts,
            "created_at": self.created_at,
            "modified_at": self.modified_at,
        }

    def fingerprint(self) -> tuple[Any, ...]:
        """Everything a save can change, to tell whether it changed anything."""
        return (
            dict(self.details),
            list(self.contact_numbers),
            self.lead_status,
            self.all_employees,
            list(self.employees),
            self.strategy,
            list(self.lead_tags),
        )


# --- the simulator -------------------------------------------------------------------------------------
class CallyzerSim(SimBase):
    """Callyzer's lead API for one account.

    Options: ``token`` (the Bearer token), ``subscription_expired`` (every call answers 403),
    ``timezone`` (the account's IANA zone for ``created_at``/``modified_at``), ``lead_statuses``,
    ``employees`` (dicts shaped like /employee/get items), ``max_bulk`` (leads per bulksave) and
    ``clock`` (returns an aware datetime; for tests).
    """

    name = "callyzer"
    raw_listings = ("leads",)  # /lead/get

    def __init__(
        self,
        speed: float = 1.0,
        *,
        token: str = CALLYZER_SANDBOX_TOKEN,
        subscription_expired: bool = False,
        timezone: str = DEFAULT_TIMEZONE,
        lead_statuses: Iterable[str] = DEFAULT_LEAD_STATUSES,
        employees: Iterable[Mapping[str, Any]] = DEFAULT_EMPLOYEES,
        max_bulk: int = DEFAULT_MAX_BULK,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(speed)
        if max_bulk < 1:
            raise ValueError("max_bulk must be >= 1")
        self.token = token
        self.subscription_expired = subscription_expired
        self.tz = ZoneInfo(timezone)
        self.lead_statuses: list[str] = list(lead_statuses)
        self.employees: list[Employee] = [self._employee(e) for e in employees]
        self.max_bulk = max_bulk
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.leads: dict[str, Lead] = {}
        self._by_number: dict[str, str] = {}  # number identity -> lead id
        self._limiter = SlidingWindow(1, self.window(RATE_LIMIT_SECONDS))
        assignment_rules: tuple[Rule, ...] = (
            rule_strategy,
            count_rule(lambda lead: _assignment(lead).get("emp_numbers"), MSG_EMP_NUMBERS_COUNT),
            self._rule_emp_numbers_exist,
            count_rule(lambda lead: _assignment(lead).get("emp_tags"), MSG_EMP_TAGS_COUNT),
            self._rule_emp_tags_exist,
        )
        detail_rules: tuple[Rule, ...] = (
            rule_email,
            length_rule("company_name", 3, 250),
            length_rule("address1", 3, 200),
            length_rule("address2", 3, 200),
            length_rule("city", 2, 100),
            length_rule("state", 2, 100),
            length_rule("country", 2, 100),
            length_rule("zip", 2, 10),
            rule_price,
            length_rule("source", 2, 500),
            length_rule("description", 3, 1000),
        )
        setting_rules: tuple[Rule, ...] = (
            count_rule(lambda lead: lead.get("lead_tags"), MSG_LEAD_TAGS_COUNT),
            mode_rule("lead_details", LEAD_DETAILS_MODES, MSG_LEAD_DETAILS_MODE),
            mode_rule("assignee", APPEND_MODES, MSG_ASSIGNEE_MODE),
            mode_rule("lead_tags", APPEND_MODES, MSG_LEAD_TAGS_MODE),
            rule_is_map,
            rule_emp_both,
            self._rule_lead_status,
        )
        # every business rule of /lead/save and /lead/bulksave, in the doc's order (the first one broken
        # gives the message)
        self._rules: tuple[Rule, ...] = (
            self._rule_id,
            self._rule_required,
            length_rule("first_name", 3, 250),
            length_rule("last_name", 2, 250),
            rule_contact_format,
            self._rule_contact_taken,
            *assignment_rules,
            *detail_rules,
            *setting_rules,
        )
        # the rules that bulksave's request-level settings must pass on their own
        self._setting_rules = (*assignment_rules, *setting_rules)

    # --- app ------------------------------------------------------------------------------------
    def app(self) -> Starlette:
        endpoints: list[tuple[str, str, Handler]] = [
            ("/lead/get", "POST", self._lead_get),
            ("/lead/save", "POST", self._lead_save),
            ("/lead/bulksave", "POST", self._lead_bulksave),
            ("/employee/get", "GET", self._employee_get),
        ]
        routes = [
            Route(API_PREFIX + path, self.wrap(path, self._guarded(handler), auth=self._auth), methods=[method])
            for path, method, handler in endpoints
        ]
        return Starlette(
            routes=[*routes, *self.admin_routes()],
            exception_handlers={404: self._http_error, 405: self._http_error},
        )

    def error_response(self, status: int, message: str, endpoint: str) -> Response:
        return JSONResponse({"result": None, "message": message}, status_code=status)

    def limiters_for(self, request: Request, endpoint: str) -> list[SlidingWindow]:
        return [self._limiter]

    def _auth(self, request: Request) -> Response | None:
        if request.headers.get("authorization", "") != f"Bearer {self.token}":
            return self.error_response(401, MSG_INVALID_TOKEN, "")
        if self.subscription_expired:
            return self.error_response(403, MSG_EXPIRED, "")
        return None

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        self.stats.requests += 1
        self.stats.by_status[status] += 1
        if status == 405:
            response = self.error_response(405, f"Request method '{request.method}' is not supported", "")
            response.headers["Allow"] = (getattr(exc, "headers", None) or {}).get("Allow", "")
            return response
        return self.error_response(status, "Not Found", "")

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except BadRequest as exc:
                return self.error_response(400, exc.message, "")

        return guarded

    @staticmethod
    def _ok(result: Any, **extra: Any) -> Response:
        return JSONResponse({"result": result, "message": MSG_SUCCESS, **extra})

    @staticmethod
    async def _body(request: Request, *, optional: bool = False) -> dict[str, Any]:
        if not optional and not await request.body():
            raise BadRequest(MSG_MALFORMED)
        try:
            body = await read_json(request)
        except ValueError as exc:
            raise BadRequest(MSG_MALFORMED) from exc
        if not isinstance(body, dict):
            raise BadRequest(MSG_MALFORMED)
        return body

    # --- /lead/save and /lead/bulksave ------------------------------------------------------------
    async def _lead_save(self, request: Request) -> Response:
        lead = check_lead_types(await self._body(request))
        message = self.validate(lead)
        if message is not None:
            return self.error_response(400, message, "/lead/save")
        self.save(lead)
        self.count_write("/lead/save", 1)
        return self._ok({})

    async def _lead_bulksave(self, request: Request) -> Response:
        leads, settings = self._bulk_request(await self._body(request))
        fault = self.take_fault("/lead/bulksave", ("partial",))
        saved: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for position, lead in enumerate(leads, start=1):
            effective = {**lead, **settings}
            message = MSG_TECHNICAL if fault and position % fault.every == 0 else self.validate(effective)
            if message is not None:
                errors.append(self._lead_error(lead, message))
                continue
            stored = self.save(effective)  # in order: a later lead may merge into an earlier one
            saved.append({"id": stored.id, "contact_numbers": list(lead.get("contact_numbers") or [])})
        if saved:
            self.count_write("/lead/bulksave", len(saved))
        return self._ok({"savedLeads": saved, "errors": errors})

    def _bulk_request(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The leads and the (non-blank) request-level settings; what fails the whole request raises."""
        _reject_unknown(body, frozenset({"leads", *SETTINGS}))
        leads = body.get("leads")
        if leads is not None and not isinstance(leads, list):
            raise BadRequest(MSG_MALFORMED)
        if not leads or len(leads) > self.max_bulk:
            raise BadRequest(MSG_BULK_COUNT.format(self.max_bulk))
        settings = check_lead_types({k: v for k, v in body.items() if k != "leads"}, frozenset(SETTINGS))
        leads = [check_lead_types(lead) for lead in leads]
        for name in SETTINGS:
            if not is_blank(settings.get(name)) and any(not is_blank(lead.get(name)) for lead in leads):
                raise BadRequest(MSG_BOTH_LEVELS.format(name))
        for rule in self._setting_rules:
            self._raise_if(rule(settings))
        return leads, {k: v for k, v in settings.items() if not is_blank(v)}

    @staticmethod
    def _lead_error(lead: Mapping[str, Any], message: str) -> dict[str, Any]:
        name = " ".join(str(lead.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
        return {"name": name, "contact_numbers": list(lead.get("contact_numbers") or []), "errorMessage": message}

    def validate(self, lead: dict[str, Any]) -> str | None:
        """The message of the first business rule (in the doc's order) the lead breaks, or None."""
        for rule in self._rules:
            message = rule(lead)
            if message is not None:
                return message
        return None

    def _rule_id(self, lead: dict[str, Any]) -> str | None:
        lead_id = lead.get("id")
        return None if is_blank(lead_id) or lead_id in self.leads else MSG_INVALID_ID

    @staticmethod
    def _rule_required(lead: dict[str, Any]) -> str | None:
        missing = (
            is_blank(lead.get("first_name"))
            or not non_blank_list(lead.get("contact_numbers"))
            or is_blank(_assignment(lead).get("strategy"))
        )
        return MSG_REQUIRED if missing else None

    def _rule_contact_taken(self, lead: dict[str, Any]) -> str | None:
        lead_id = lead.get("id")
        if is_blank(lead_id):
            return None  # without an id, a known number merges into its lead instead
        taken = [
            n
            for n in non_blank_list(lead.get("contact_numbers"))
            if self._by_number.get(number_identity(n), lead_id) != lead_id
        ]
        return MSG_ALREADY_EXISTS.format(LIST_SEPARATOR.join(taken)) if taken else None

    def _rule_emp_numbers_exist(self, lead: dict[str, Any]) -> str | None:
        numbers = non_blank_list(_assignment(lead).get("emp_numbers"))
        missing = [n for n in numbers if not any(e.has_number(n) for e in self.employees)]
        return MSG_NOT_EXIST.format(LIST_SEPARATOR.join(missing)) if missing else None

    def _rule_emp_tags_exist(self, lead: dict[str, Any]) -> str | None:
        known = {tag for e in self.employees for tag in e.tags}
        missing = [t for t in non_blank_list(_assignment(lead).get("emp_tags")) if t not in known]
        return MSG_NOT_EXIST.format(LIST_SEPARATOR.join(missing)) if missing else None

    def _rule_lead_status(self, lead: dict[str, Any]) -> str | None:
        status = given(lead.get("lead_status"))
        if status is None or status.strip() in self.lead_statuses:
            return None
        return MSG_STATUS_NOT_EXIST.format(status)

    # --- write semantics ------------------------------------------------------------------------
    def save(self, lead: dict[str, Any]) -> Lead:
        """Applies one validated lead: update by id, merge into the lead owning a number, or create."""
        lead_id = given(lead.get("id"))
        if lead_id is not None:
            target = self.leads[lead_id]
            self._touch_if_changed(target, lambda: self._update(target, lead))
            return target
        numbers = non_blank_list(lead.get("contact_numbers"))
        owner = next((self._by_number[i] for i in map(number_identity, numbers) if i in self._by_number), None)
        if owner is not None:
            target = self.leads[owner]
            self._touch_if_changed(target, lambda: self._merge(target, lead))
            return target
        return self._create(lead)

    def _create(self, lead: dict[str, Any]) -> Lead:
        now = self.now()
        assignment = self._resolve_assignment(_assignment(lead))
        created = Lead(
            id=self._new_lead_id(),
            details=dict.fromkeys(DETAIL_FIELDS, "") | self._incoming_details(lead),
            contact_numbers=non_blank_list(lead.get("contact_numbers")),
            lead_status=str(lead.get("lead_status") or "").strip(),
            strategy=assignment.strategy,
            all_employees=assignment.all_employees,
            employees=assignment.employees,
            lead_tags=unique(non_blank_list(lead.get("lead_tags"))),
            created_at=now,
            modified_at=now,
        )
        self._store(created)
        return created

    def _update(self, target: Lead, lead: dict[str, Any]) -> None:
        target.details.update(self._incoming_details(lead))
        numbers = non_blank_list(lead.get("contact_numbers"))
        if numbers:
            self._unindex(target)
            target.contact_numbers = numbers
            self._index(target)
        tags = non_blank_list(lead.get("lead_tags"))
        if tags:
            target.lead_tags = unique(tags)
        if not is_blank(lead.get("lead_status")):
            target.lead_status = lead["lead_status"].strip()
        if not is_blank(_assignment(lead).get("strategy")):
            self._assign(target, self._resolve_assignment(_assignment(lead)), "overwrite")

    def _merge(self, target: Lead, lead: dict[str, Any]) -> None:
        policy = lead.get("existing_lead") or {}
        details_mode = self._mode(policy.get("lead_details"), LEAD_DETAILS_MODES)
        incoming = self._incoming_details(lead)
        status = str(lead.get("lead_status") or "").strip()
        if details_mode == "overwrite":
            target.details.update(incoming)
            target.lead_status = status or target.lead_status
        elif details_mode == "updateBlankOnly":
            target.details.update({k: v for k, v in incoming.items() if not target.details.get(k)})
            target.lead_status = target.lead_status or status
        tags = unique(non_blank_list(lead.get("lead_tags")))
        tags_mode = self._mode(policy.get("lead_tags"), APPEND_MODES)
        if tags and tags_mode == "overwrite":
            target.lead_tags = tags
        elif tags_mode == "append":
            target.lead_tags = unique([*target.lead_tags, *tags])
        assignee_mode = self._mode(policy.get("assignee"), APPEND_MODES)
        self._assign(target, self._resolve_assignment(_assignment(lead)), assignee_mode)

    @staticmethod
    def _mode(value: Any, modes: Mapping[str, str]) -> str:
        return "ignore" if is_blank(value) else modes[value.strip().lower()]

    @staticmethod
    def _assign(target: Lead, assignment: Assignment, mode: str) -> None:
        if mode == "overwrite":
            target.strategy = assignment.strategy
            target.all_employees = assignment.all_employees
            target.employees = list(assignment.employees)
        elif mode == "append":
            target.all_employees = target.all_employees or assignment.all_employees
            target.employees = unique([*target.employees, *assignment.employees])

    def _resolve_assignment(self, assignment: Mapping[str, Any]) -> Assignment:
        strategy = STRATEGIES[str(assignment.get("strategy") or "").strip().lower()]
        numbers = non_blank_list(assignment.get("emp_numbers"))
        tags = set(non_blank_list(assignment.get("emp_tags")))
        if numbers:
            chosen = [e for e in self.employees if any(e.has_number(n) for n in numbers)]
        elif tags:
            chosen = [e for e in self.employees if tags & set(e.tags)]
        else:
            active = [e for e in self.employees if e.data.get("is_lead_active", True)]
            return Assignment(strategy, True, [e.display for e in active])
        return Assignment(strategy, False, [e.display for e in chosen])

    @staticmethod
    def _incoming_details(lead: Mapping[str, Any]) -> dict[str, str]:
        """The non-blank details a lead brings (a blank one is "not given")."""
        details = {
            name: lead[name].strip() for name in DETAIL_FIELDS if name != "price" and not is_blank(lead.get(name))
        }
        price = lead.get("price")
        if not is_blank(price):
            details["price"] = parse_price(price) or ""
        return details

    def _touch_if_changed(self, target: Lead, change: Callable[[], None]) -> None:
        before = target.fingerprint()
        change()
        if target.fingerprint() != before:
            target.modified_at = self.now()

    # --- /lead/get ------------------------------------------------------------------------------
    async def _lead_get(self, request: Request) -> Response:
        body = await self._body(request, optional=True)
        _reject_unknown(body, frozenset({"first_name", "last_name", "contact_numbers", "page_no", "page_size"}))
        for key in ("first_name", "last_name"):
            _expect_str(body, key)
        _expect_str_list(body, "contact_numbers")
        numbers = non_blank_list(body.get("contact_numbers"))
        if not all(NUMBER_RE.match(n) for n in numbers):
            raise BadRequest(MSG_CONTACT_FORMAT)
        if len(numbers) > MAX_LIST:
            raise BadRequest(MSG_CONTACTS_COUNT)
        missing = [n for n in numbers if number_identity(n) not in self._by_number]
        if missing:
            raise BadRequest(MSG_NOT_EXIST.format(LIST_SEPARATOR.join(missing)))
        page_no, page_size = self._paging(body, MSG_PAGE_SIZE_LEADS)
        wanted = {self._by_number[number_identity(n)] for n in numbers}
        leads = [
            lead
            for lead in self.leads.values()
            if (not wanted or lead.id in wanted)
            and _same_name(body.get("first_name"), lead.details["first_name"])
            and _same_name(body.get("last_name"), lead.details["last_name"])
        ]
        # injected raw values (POST /_sim/raw) follow the stored leads, paged and counted like them; only the
        # page's own leads are shaped (a listing of N leads costs O(N) in all, not O(N) per page)
        items: list[Any] = [*leads, *self.raw_for("leads")]
        start = (page_no - 1) * page_size
        page = [x.shaped() if isinstance(x, Lead) else x for x in items[start : start + page_size]]
        return self._ok(page or None, total_records=len(items), page_no=page_no, page_size=page_size)

    @staticmethod
    def _paging(params: Mapping[str, Any], page_size_message: str) -> tuple[int, int]:
        page_no = _int_param(params.get("page_no"), 1)
        if page_no is None or not 1 <= page_no <= MAX_PAGE_NO:
            raise BadRequest(MSG_PAGE_NO)
        page_size = _int_param(params.get("page_size"), 100)
        if page_size is None or not 1 <= page_size <= 100:
            raise BadRequest(page_size_message)
        return page_no, page_size

    def _page(self, items: list[dict[str, Any]], page_no: int, page_size: int) -> Response:
        start = (page_no - 1) * page_size
        page = items[start : start + page_size]
        return self._ok(page or None, total_records=len(items), page_no=page_no, page_size=page_size)

    # --- /employee/get --------------------------------------------------------------------------
    async def _employee_get(self, request: Request) -> Response:
        params = await self._body(request, optional=True) if await request.body() else _query_params(request)
        _reject_unknown(params, frozenset({"emp_numbers", "emp_tags", "emp_name", "emp_codes", "page_no", "page_size"}))
        for key in ("emp_numbers", "emp_tags", "emp_codes"):
            _expect_str_list(params, key)
        _expect_str(params, "emp_name")
        chosen = self._filter_employees(params)
        page_no, page_size = self._paging(params, MSG_PAGE_SIZE_EMPLOYEES)
        return self._page([e.shaped() for e in chosen], page_no, page_size)

    def _filter_employees(self, params: Mapping[str, Any]) -> list[Employee]:
        """The employees every given filter selects; the doc's rules for each filter, in its order."""
        chosen = list(self.employees)
        numbers = non_blank_list(params.get("emp_numbers"))
        if numbers:
            invalid = [n for n in numbers if not NUMBER_RE.match(n)]
            if invalid:
                raise BadRequest(MSG_EMP_INVALID_NUMBERS.format(LIST_SEPARATOR.join(invalid)))
            self._raise_if(MSG_EMP_NUMBERS_COUNT if len(numbers) > MAX_LIST else None)
            self._raise_if(self._rule_emp_numbers_exist({"assignment": {"emp_numbers": numbers}}))
            chosen = [e for e in chosen if any(e.has_number(n) for n in numbers)]
        tags = non_blank_list(params.get("emp_tags"))
        if tags:
            self._raise_if(MSG_EMP_TAGS_COUNT if len(tags) > MAX_LIST else None)
            self._raise_if(self._rule_emp_tags_exist({"assignment": {"emp_tags": tags}}))
            chosen = [e for e in chosen if set(tags) & set(e.tags)]
        name = given(params.get("emp_name"))
        if name is not None:
            named = [e for e in self.employees if e.name.lower() == name.strip().lower()]
            self._raise_if(None if named else MSG_EMP_NAME)
            chosen = [e for e in chosen if e in named]
        codes = non_blank_list(params.get("emp_codes"))
        if codes:
            self._raise_if(MSG_EMP_CODES_COUNT if len(codes) > MAX_LIST else None)
            known = {e.code for e in self.employees}
            missing = [c for c in codes if c not in known]
            self._raise_if(MSG_NOT_EXIST.format(LIST_SEPARATOR.join(missing)) if missing else None)
            chosen = [e for e in chosen if e.code in codes]
        return chosen

    @staticmethod
    def _raise_if(message: str | None) -> None:
        if message is not None:
            raise BadRequest(message)

    # --- storage helpers ------------------------------------------------------------------------
    def now(self) -> str:
        """The current time as Callyzer formats it: in the account's zone, with the zone's abbreviation."""
        return self.clock().astimezone(self.tz).strftime(TIME_FORMAT)

    def _new_lead_id(self) -> str:
        return opaque_id(self.new_id("callyzer-lead-"))

    def _store(self, lead: Lead) -> None:
        self.leads[lead.id] = lead
        self._index(lead)

    def _index(self, lead: Lead) -> None:
        for number in lead.contact_numbers:
            self._by_number[number_identity(number)] = lead.id

    def _unindex(self, lead: Lead) -> None:
        for number in lead.contact_numbers:
            self._by_number.pop(number_identity(number), None)

    @staticmethod
    def _employee(data: Mapping[str, Any]) -> Employee:
        unknown = set(data) - set(EMPLOYEE_TEMPLATE)
        if unknown:
            raise ValueError(f"unknown employee keys: {sorted(unknown)}")
        if not data.get("emp_name") or not data.get("emp_number"):
            raise ValueError("an employee needs emp_name and emp_number")
        return Employee(copy.deepcopy(dict(data)))

    def _check_numbers(self, numbers: Any, lead_id: str | None) -> list[str]:
        """Seeds and admin edits skip the API's rules but never store a malformed or shared number."""
        if not isinstance(numbers, list) or not 1 <= len(numbers) <= MAX_NUMBERS_PER_LEAD:
            raise ValueError(f"contact_numbers must be a list of 1 to {MAX_NUMBERS_PER_LEAD} numbers")
        for number in numbers:
            if not isinstance(number, str) or not NUMBER_RE.match(number):
                raise ValueError(f"malformed contact number {number!r}")
            if self._by_number.get(number_identity(number), lead_id) != lead_id:
                raise ValueError(f"contact number {number} already belongs to another lead")
        if len({number_identity(n) for n in numbers}) != len(numbers):
            raise ValueError("a lead lists the same contact number twice")
        return list(numbers)

    def _apply_patch(self, lead: Lead, patch: Mapping[str, Any]) -> None:
        """Deep-merges a provider-shaped partial lead into ``lead`` (seeds and admin edits)."""
        values = self._patch_values(lead, patch)
        self._unindex(lead)
        for name, value in values.items():
            setattr(lead, name, value)
        self._index(lead)

    def _patch_values(self, lead: Lead, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Checks a provider-shaped partial lead; answers the ``Lead`` attributes it sets."""
        _check_keys(patch, PATCH_KEYS, "lead")
        details = dict(_object(patch.get("details"), "details"))
        _check_keys(details, {*DETAIL_FIELDS, "contact_numbers"}, "details")
        status = _object(patch.get("status"), "status")
        _check_keys(status, {"lead_status", "reminder_date", "reminder_time"}, "status")
        assigned = _object(patch.get("assigned_to"), "assigned_to")
        _check_keys(assigned, {"all_employees", "employee"}, "assigned_to")
        values: dict[str, Any] = {}
        if "contact_numbers" in details:
            values["contact_numbers"] = self._check_numbers(details.pop("contact_numbers"), lead.id)
        if not is_blank(details.get("price")):
            details["price"] = parse_price(details["price"])
            if details["price"] is None:
                raise ValueError(f"price {patch['details']['price']!r} is not numeric")
        values["details"] = {**lead.details, **{k: _text(v) for k, v in details.items()}}
        values.update({key: _text(value) for key, value in status.items()})
        if "all_employees" in assigned:
            values["all_employees"] = bool(assigned["all_employees"])
        if "employee" in assigned:
            values["employees"] = _str_list(assigned["employee"], "assigned_to.employee")
        if "lead_tags" in patch:
            values["lead_tags"] = _str_list(patch["lead_tags"], "lead_tags")
        if "no_of_attempts" in patch:
            values["no_of_attempts"] = int(patch["no_of_attempts"])
        if "last_call_log" in patch:
            values["last_call_log"] = copy.deepcopy(patch["last_call_log"])
        for key in ("created_at", "modified_at"):
            if key in patch:
                values[key] = _timestamp(patch[key])
        return values

    # --- admin API ------------------------------------------------------------------------------
    def seed(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeError("seed data must be an object")
        _check_keys(data, {"leads", "employees", "statuses"}, "seed")
        before = (dict(self.leads), dict(self._by_number), self.lead_statuses, self.employees)
        try:
            if "statuses" in data:
                self.lead_statuses = _str_list(data["statuses"], "statuses")
            if "employees" in data:
                self.employees = [self._employee(e) for e in data["employees"]]
            return {"leads": [self._seed_lead(item).shaped() for item in data.get("leads") or []]}
        except Exception:
            self.leads, self._by_number, self.lead_statuses, self.employees = before
            raise

    def _seed_lead(self, item: Any) -> Lead:
        if not isinstance(item, dict):
            raise TypeError("a seeded lead must be an object")
        lead_id = item.get("id") or self._new_lead_id()
        if not isinstance(lead_id, str) or lead_id in self.leads:
            raise ValueError(f"lead id {lead_id!r} is not a new string id")
        if "contact_numbers" not in _object(item.get("details"), "details"):
            raise ValueError("a seeded lead needs details.contact_numbers")
        now = self.now()
        lead = Lead(id=lead_id, details=dict.fromkeys(DETAIL_FIELDS, ""), contact_numbers=[])
        lead.created_at = lead.modified_at = now
        self._apply_patch(lead, {k: v for k, v in item.items() if k != "id"})
        self._store(lead)
        return lead

    def dump(self) -> Any:
        return {
            "leads": [lead.shaped() for lead in self.leads.values()],
            "employees": [e.shaped() for e in self.employees],
        }

    def admin_edit(self, record_id: str, patch: dict[str, Any]) -> Any:
        lead = self.leads[record_id]
        if not isinstance(patch, dict):
            raise TypeError("a patch must be an object")
        self._apply_patch(lead, patch)
        if "modified_at" not in patch:
            lead.modified_at = self.now()
        return lead.shaped()

    def admin_delete(self, record_id: str) -> None:
        lead = self.leads.pop(record_id)
        self._unindex(lead)

    def reset_records(self) -> None:
        self.leads.clear()
        self._by_number.clear()


def _same_name(wanted: Any, actual: str) -> bool:
    return is_blank(wanted) or str(wanted).strip().lower() == actual.lower()


def _int_param(value: Any, default: int) -> int | None:
    """A paging parameter: a JSON integer or a string of digits (query parameters); None when invalid."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _query_params(request: Request) -> dict[str, Any]:
    """GET parameters; a list parameter may repeat (``emp_tags=a&emp_tags=b``) or be comma separated."""
    params: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        if key in ("emp_numbers", "emp_tags", "emp_codes"):
            params[key] = [part for value in values for part in value.split(",")]
        else:
            params[key] = values[-1]
    return params


def _check_keys(data: Mapping[str, Any], allowed: Iterable[str], what: str) -> None:
    unknown = set(data) - set(allowed)
    if unknown:
        raise ValueError(f"unknown {what} keys: {sorted(unknown)}")


def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be an object")
    return value


def _str_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"{what} must be a list of strings")
    return list(value)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _timestamp(value: Any) -> str:
    if not isinstance(value, str) or not TIMESTAMP_RE.match(value):
        raise ValueError(f"timestamp {value!r} is not 'yyyy-mm-dd hh:mm:ss TZ'")
    return value
