"""The sync state tables. Plain columns and JSON text only, so PostgreSQL can replace SQLite by URL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = 2  # 2: journal.expected


def now() -> datetime:
    return datetime.now(UTC)


class SchemaInfo(SQLModel, table=True):
    __tablename__ = "schema_info"
    id: int = Field(default=1, primary_key=True)
    version: int


class Entity(SQLModel, table=True):
    """One person within one job: the hub its links hang off."""

    __tablename__ = "entity"
    id: str = Field(primary_key=True)
    job: str = Field(index=True)
    created_at: datetime = Field(default_factory=now)
    deleted_at: datetime | None = None


class Link(SQLModel, table=True):
    """One system's record of an entity, with the canonical values last synced with that system.

    ``synced`` is what the provider holds after our last write or read (merge rules included), so the
    next run can tell a real edit from the echo of our own write. ``gone`` marks a record deleted on
    the provider that must not be created again.
    """

    __tablename__ = "link"
    __table_args__ = (
        UniqueConstraint("job", "system", "remote_id", name="uq_link_remote"),
        UniqueConstraint("entity_id", "system", name="uq_link_entity_system"),
    )
    id: int | None = Field(default=None, primary_key=True)
    entity_id: str = Field(foreign_key="entity.id", index=True, ondelete="CASCADE")
    job: str = Field(index=True)
    system: str
    remote_id: str
    synced: str  # JSON object of canonical values
    gone: bool = False
    updated_at: datetime = Field(default_factory=now)


class ListingMemo(SQLModel, table=True):
    """A system's listing as the last run read it, so that a run in a new process (``syncd sync`` from a timer)
    maps only the records that changed (syncd.state.memo): a cache, never the sync's truth. ``memo`` is
    process-private bytes (marshal, checked against the mapping's fingerprint and the Python version), not JSON."""

    __tablename__ = "listing_memo"
    job: str = Field(primary_key=True)
    system: str = Field(primary_key=True)
    memo: bytes


class PhoneMemo(SQLModel, table=True):
    """The phone conversions a job's last run left for the next process (syncd.state.phone_memo): a cache, never
    the sync's truth; process-private marshal bytes, checked against the conversion code and libphonenumber."""

    __tablename__ = "phone_memo"
    job: str = Field(primary_key=True)
    memo: bytes


class Pacing(SQLModel, table=True):
    """When a system's next call may go, as the last process left it (wall-clock seconds), so that a
    ``syncd sync`` started right after another does not call inside the provider's window
    (syncd.connectors.pacing.PaceBook). An account's, not a job's: ``endpoint`` "" is the system's global allowance."""

    __tablename__ = "pacing"
    system: str = Field(primary_key=True)
    endpoint: str = Field(primary_key=True)
    not_before: float


class Run(SQLModel, table=True):
    __tablename__ = "run"
    id: str = Field(primary_key=True)
    job: str = Field(index=True)
    started_at: datetime = Field(default_factory=now)
    finished_at: datetime | None = None
    status: str = "running"  # running | ok | failed | aborted | dry-run
    dry_run: bool = False
    report: str = "{}"  # JSON: counts, API calls, conflicts, errors


class Failure(SQLModel, table=True):
    """A record a provider rejected or that failed validation before sending. Retried every run."""

    __tablename__ = "failure"
    __table_args__ = (UniqueConstraint("job", "system", "record_key", "action", name="uq_failure_record"),)
    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(index=True)
    system: str
    record_key: str  # entity id, or "<system>:<remote id>" for a record not yet linked
    action: str
    entity_id: str | None = None
    remote_id: str | None = None
    label: str = ""  # who it is, for people: name and phone
    reason: str
    attempts: int = 1
    first_seen: datetime = Field(default_factory=now)
    last_seen: datetime = Field(default_factory=now)
    last_run: str | None = None
    resolved_at: datetime | None = None
    skipped: bool = False


class Journal(SQLModel, table=True):
    """A write's intent, stored before it is sent; after a crash, pending rows say what may have landed."""

    __tablename__ = "journal"
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True)
    job: str
    system: str
    entity_id: str
    action: str
    remote_id: str | None = None
    #: the fields this write changes, with the values the provider holds once it lands (canonical JSON): a
    #: later run that finds exactly these knows they are the echo of this write, not somebody's edit, even if
    #: this run never recorded it
    expected: str = "{}"
    state: str = "pending"  # pending | done | failed | recovered
    created_at: datetime = Field(default_factory=now)
    finished_at: datetime | None = None


class Change(SQLModel, table=True):
    """Every field syncd changed on a system, with the reason: the trail `syncd history` shows."""

    __tablename__ = "change"
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True)
    job: str
    entity_id: str = Field(index=True)
    system: str
    action: str
    field: str
    before: str | None = None
    after: str | None = None
    reason: str = ""
    at: datetime = Field(default_factory=now)


class Cursor(SQLModel, table=True):
    __tablename__ = "cursor"
    __table_args__ = (UniqueConstraint("job", "system", "name", name="uq_cursor"),)
    id: int | None = Field(default=None, primary_key=True)
    job: str
    system: str
    name: str
    value: str


class HeldConflict(SQLModel, table=True):
    """A field changed on several systems under the `hold` policy, waiting for a person.

    `syncd conflicts resolve ID --take SYSTEM` sets ``take``; the next run sends that system's value
    everywhere and closes the conflict.
    """

    __tablename__ = "held_conflict"
    __table_args__ = (UniqueConstraint("job", "entity_id", "field", name="uq_held_conflict"),)
    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(index=True)
    entity_id: str
    field: str
    label: str = ""
    values: str = "{}"  # JSON: system → value
    take: str | None = None
    first_seen: datetime = Field(default_factory=now)
    last_seen: datetime = Field(default_factory=now)
    resolved_at: datetime | None = None
