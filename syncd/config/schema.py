"""The shape of config.toml. Every key is declared here, with its default and why it has that default.

Unknown keys are errors (a typo must not silently fall back to a default), and so are values of the
wrong type; the loader turns pydantic's errors into "file: key: what is expected".
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

SYSTEM_KINDS = ("callyzer", "callsavvy", "appsapi", "callpage")

#: pacing a client keeps to by default, from the providers' documented limits (seconds between calls)
DEFAULT_INTERVALS: dict[str, tuple[float, float | None]] = {
    "callyzer": (2.0, None),  # one request per two seconds per account
    "callsavvy": (0.6, 1.2),  # 100/min across the API, 50/min per endpoint
    "appsapi": (1.0, None),  # 1 request/s per customer in the doc (newer vendor pages say 10/s)
    "callpage": (1.0, None),  # no published limit: polled politely at 1/s
}
#: the endpoint paths a system's ``paths`` table may override, with the placeholders each may use (keep in
#: step with the connectors: DEFAULT_PATHS in connectors/appsapi.py, HISTORY_PATH in connectors/callpage.py)
PATH_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "callyzer": {},
    "callsavvy": {},
    "appsapi": {
        "contact_lists": (),
        "list_entries": ("list_id",),
        "list_entry": ("list_id", "id"),
        "campaign_contacts": ("campaign_id",),
        "campaign_contact": ("campaign_id",),
    },
    "callpage": {"calls_history": ()},
}
DEFAULT_BASE_URLS = {
    "callyzer": "https://api1.callyzer.co/api/v2.1",
    "callsavvy": "https://api.callsavvy.com/v1",
    "callpage": "https://core.callpage.io/api",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateConfig(Strict):
    interval: float | None = Field(None, gt=0, description="seconds between two calls to the system")
    endpoint_interval: float | None = Field(None, gt=0, description="seconds between two calls to one endpoint")
    margin: float = Field(0.0, ge=0, le=1, description="extra share of each interval")
    jitter: float = Field(0.02, ge=0, le=10, description="seconds added to each interval against network jitter")


class RetryConfig(Strict):
    attempts: int = Field(6, ge=1, le=20)
    max_wait: float = Field(120.0, gt=0, description="longest single wait, seconds (Retry-After included)")
    backoff: float = Field(1.0, gt=0, description="first back-off when the answer gives no Retry-After")


class AssignmentConfig(Strict):
    strategy: Literal["Assign to All Selected", "Minimum Leads", "Random", "Round Robin"] = "Round Robin"
    emp_numbers: list[str] = []
    emp_tags: list[str] = []


CALLYZER_PAGE_MAX = 100  # /lead/get page_size: 1..100


class SystemConfig(Strict):
    kind: Literal["callyzer", "callsavvy", "appsapi", "callpage"]
    base_url: str | None = None  # the Apps API has none by default: https://{subdomain}.{domain}/apps/api/v1
    subdomain: str | None = None  # Apps API: the Basic-auth user
    # secrets: a literal (discouraged), "${ENV_VAR}", or the *_file variant (systemd LoadCredential)
    token: SecretStr | None = None
    token_file: str | None = None
    public_key: SecretStr | None = None
    public_key_file: str | None = None
    private_key: SecretStr | None = None
    private_key_file: str | None = None
    timezone: str = "UTC"
    default_region: str = "US"
    bulk_size: int = Field(100, ge=1, le=1000)
    timeout: float = Field(30.0, gt=0)
    rate: RateConfig = RateConfig()
    retry: RetryConfig = RetryConfig()
    assignment: AssignmentConfig = AssignmentConfig()
    page_size: int | None = Field(None, ge=1, le=999, description="records per page; default: the largest allowed")
    history_days: int = Field(30, ge=1, le=3650, description="CallPage: how far back the first run reads")
    overlap_seconds: int = Field(300, ge=0, le=86400, description="CallPage: re-read this much before the cursor")
    paths: dict[str, str] = Field({}, description="endpoint paths the docs do not spell out, by name")

    @field_validator("page_size")
    @classmethod
    def _page_size(cls, value: int | None, info: ValidationInfo) -> int | None:
        """Callyzer's /lead/get takes 1..100 a page (its doc): more would fail on the first page, mid-run."""
        if value is not None and info.data.get("kind") == "callyzer" and value > CALLYZER_PAGE_MAX:
            raise ValueError(f"Callyzer lists at most {CALLYZER_PAGE_MAX} leads a page (got {value})")
        return value

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        """A misspelt name would be ignored and a bad placeholder found only mid-run: both fail here."""
        known = PATH_NAMES.get(info.data.get("kind", ""), {})
        for name, template in value.items():
            if name not in known:
                names = ", ".join(known) or "none for this kind"
                raise ValueError(f"unknown path name {name!r} (known: {names})")
            if not template.startswith("/"):
                raise ValueError(f"{name}: {template!r} must start with / (it follows base_url)")
            try:
                template.format(**dict.fromkeys(known[name], 1))
            except (KeyError, IndexError, ValueError) as exc:
                allowed = ", ".join("{" + p + "}" for p in known[name]) or "none"
                raise ValueError(f"{name}: {template!r} has a bad placeholder ({exc}); allowed: {allowed}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Kolkata)") from None
        return value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        from syncd.phones import is_valid_region

        if not is_valid_region(value):
            raise ValueError(f"unknown region {value!r} (a two-letter country code such as IN)")
        return value.upper()

    def intervals(self) -> tuple[float, float | None]:
        default = DEFAULT_INTERVALS[self.kind]
        return (self.rate.interval or default[0], self.rate.endpoint_interval or default[1])

    def url(self) -> str:
        return (self.base_url or DEFAULT_BASE_URLS.get(self.kind, "")).rstrip("/")


class JobSystem(Strict):
    system: str
    mapping: str
    create: bool = True
    update: bool = True
    delete: bool = True
    list_id: int | Literal["global"] | None = None  # Apps API: the contact list ("global" = the global list)
    campaign_id: int | None = None  # Apps API: sync a campaign's contacts instead of a list
    group_id: str | None = None  # Callsavvy contacts: the contact group, by id ...
    group: str | None = None  # ... or by name (looked up once per run with getContactGroups)


class ConflictConfig(Strict):
    policy: Literal["prefer", "newest", "hold"] = "prefer"
    prefer: list[str] = []


Detail = Literal["ignore", "overwrite", "update_blank_only"]
ListPolicy = Literal["ignore", "overwrite", "append"]


class ExistingLeadConfig(Strict):
    lead_details: Detail = "ignore"
    lead_tags: ListPolicy = "ignore"
    assignee: ListPolicy = "ignore"


class FallbackConfig(Strict):
    tag: str | None = None
    status: str | None = None

    @model_validator(mode="after")
    def _one(self) -> FallbackConfig:
        if (self.tag is None) == (self.status is None):
            raise ValueError("give exactly one of tag or status")
        return self


class DeletesConfig(Strict):
    mode: Literal["propagate", "ignore"] = "propagate"
    max_share: float = Field(0.2, ge=0, le=1, description="largest share of a system's records one run may delete")
    min_count: int = Field(10, ge=0, description="deletes up to this many never trip the guard")
    fallback: dict[str, FallbackConfig] = {}


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> float:
    """ "15m", "1h30m", "45s" → seconds."""
    match = _DURATION.match(text.strip())
    if not text.strip() or not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration like 30s, 15m or 1h30m")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError("a duration must be longer than 0s")
    return float(total)


class ScheduleConfig(Strict):
    """For `syncd run`: an interval or a crontab line (5 fields, in the daemon's local time zone)."""

    every: str | None = None
    cron: str | None = None
    timeout: str = "30m"  # a run still going after this is stopped (a hung provider must not block the rest)

    @field_validator("every", "timeout")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a crontab line (minute hour day month weekday): {exc}") from None
        return value

    @model_validator(mode="after")
    def _one(self) -> ScheduleConfig:
        if self.every is not None and self.cron is not None:
            raise ValueError("give every or cron, not both")
        return self


class JobConfig(Strict):
    object: Literal["leads", "contacts"] = "leads"
    systems: Annotated[list[JobSystem], Field(min_length=2)]
    match_on: list[Literal["phone", "email"]] = ["phone", "email"]
    conflict: ConflictConfig = ConflictConfig()
    existing_lead: ExistingLeadConfig = ExistingLeadConfig()
    deletes: DeletesConfig = DeletesConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    write_early: bool = Field(
        True,
        description="write the people whose records are all listed while the slowest listing still comes in "
        "(false: every write waits for every listing)",
    )


class StateConfig(Strict):
    url: str = "sqlite:///state/syncd.db"
    set_aside_from: int = Field(
        250_000,
        ge=0,
        description="live links one system holds in a job's state from which its runs set quiet people's records "
        "aside on disk instead of planning everyone in memory (0: always)",
    )


class LoggingConfig(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class MetricsConfig(Strict):
    """An optional Prometheus endpoint served by `syncd run` (runs, API calls, writes, failures, 429s)."""

    listen: str | None = None  # "127.0.0.1:9108"; absent: no endpoint

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{value!r} is not host:port")
        return value


class DaemonConfig(Strict):
    stop_timeout: str = "60s"  # on SIGTERM, how long a run in flight may take to finish its batch

    @field_validator("stop_timeout")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class Config(Strict):
    state: StateConfig = StateConfig()
    logging: LoggingConfig = LoggingConfig()
    metrics: MetricsConfig = MetricsConfig()
    daemon: DaemonConfig = DaemonConfig()
    systems: dict[str, SystemConfig]
    jobs: dict[str, JobConfig]
