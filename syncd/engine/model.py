"""The planner's inputs and outputs: plain data, no I/O, so the engine is a pure function."""

from __future__ import annotations

import functools
import marshal
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from syncd.canonical import Canon, Value

ActionKind = Literal["create", "update", "merge", "delete", "fallback"]


def pack(raw: dict[str, Any]) -> bytes:
    """A raw record as bytes: a listing's records are kept until the run ends (and by a daemon until the next
    one) but read raw only for the few that are written, so they are kept packed, at a fraction of their
    dicts' memory. marshal version 2 writes no back-references and every string alike, so records that are
    equal and list their keys in the same order pack to equal bytes (the runner's memo compares them). Only
    this process reads the bytes back."""
    try:
        return marshal.dumps(raw, 2)
    except ValueError:  # not JSON-shaped (no provider sends such a record): pickled, which starts with 0x80
        return pickle.dumps(raw, pickle.HIGHEST_PROTOCOL)


def unpack(packed: bytes) -> dict[str, Any]:
    """A fresh copy of the raw record :func:`pack` was given."""
    raw: dict[str, Any] = pickle.loads(packed) if packed[:1] == b"\x80" else marshal.loads(packed)
    return raw


@dataclass(frozen=True, slots=True)
class Record:
    """One provider record as fetched, with its canonical values; ``packed`` is the raw record (:func:`pack`)."""

    system: str
    remote_id: str
    values: Canon
    packed: bytes
    modified: datetime | None = None
    problems: tuple[str, ...] = ()
    entity_hint: str | None = None  # the syncd entity id the provider keeps for us (Apps API external_unique_id)
    #: fields the mapping could not read (an object where one value belongs): not a blank, so never a clear
    unreadable: frozenset[str] = frozenset()

    @property
    def raw(self) -> dict[str, Any]:
        """The record as the provider sent it: a fresh copy each time (read for the records a run writes)."""
        return unpack(self.packed)


@dataclass(frozen=True)
class Fetched:
    records: list[Record]
    complete: bool = True  # a partial listing never implies a delete
    incremental: bool = False  # a cursor-read source (CallPage): an unlisted record is simply unchanged


@dataclass(slots=True)
class LinkState:
    system: str
    remote_id: str
    synced: Canon
    gone: bool = False


@dataclass(slots=True)
class EntityState:
    id: str
    links: dict[str, LinkState] = field(default_factory=dict)


@dataclass(frozen=True)
class ExistingLead:
    lead_details: str = "ignore"
    lead_tags: str = "ignore"
    assignee: str = "ignore"


@dataclass(frozen=True)
class Fallback:
    tag: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class Policies:
    priority: tuple[str, ...]  # conflict.prefer, then the job's other systems in order
    conflict: str = "prefer"  # prefer | newest | hold
    existing_lead: ExistingLead = ExistingLead()
    deletes: str = "propagate"  # propagate | ignore
    max_delete_share: float = 0.2
    min_delete_count: int = 10
    fallbacks: dict[str, Fallback] = field(default_factory=dict)
    match_on: tuple[str, ...] = ("phone", "email")


Projector = Callable[["Record | None", Canon], Canon]


@dataclass(frozen=True)
class SystemRole:
    """What the planner needs to know of one system in a job."""

    name: str
    reads: frozenset[str]
    writes: frozenset[str]
    project: Projector  # what the system will hold after it is sent these values (pure model)
    validate: Callable[[Canon], list[str]]
    can_create: bool = True
    can_update: bool = True
    can_delete: bool = True
    native_merge: bool = False  # applies existing_lead itself (Callyzer bulksave without id)

    @functools.cached_property
    def fields(self) -> tuple[str, ...]:
        """The fields it reads or writes, sorted: the order a change list follows."""
        return tuple(sorted(self.reads | self.writes))


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Value | None
    after: Value | None
    reason: str


@dataclass
class Action:
    kind: ActionKind
    system: str
    entity_id: str
    remote_id: str | None
    desired: Canon  # canonical values to send (for merge: the incoming record)
    expected: Canon  # what the system holds afterwards: the new last-synced values
    changes: list[FieldChange]
    reason: str
    label: str
    base_raw: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)  # found before sending: recorded as failures


@dataclass(slots=True)
class LinkUpdate:
    """The state a link takes after the run; ``action`` is the write it depends on (None: none). A link
    with no update in the plan stays as it is."""

    entity_id: str
    system: str
    remote_id: str | None
    synced: Canon
    action: Action | None = None
    new: bool = False
    gone: bool = False


@dataclass(frozen=True)
class Conflict:
    entity_id: str
    label: str
    field: str
    values: dict[str, Value | None]
    decision: str  # the system whose value won, or "held"
    policy: str
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"who": self.label, "field": self.field, "values": self.values, "decision": self.decision,
                "policy": self.policy, "note": self.note}  # fmt: skip


@dataclass(frozen=True)
class Problem:
    """A record the planner could not act on safely (ambiguous match, unreadable values)."""

    system: str
    remote_id: str
    label: str
    reason: str
    kind: str = "ambiguous"  # ambiguous | unreadable


@dataclass
class Plan:
    job: str
    actions: list[Action] = field(default_factory=list)
    links: list[LinkUpdate] = field(default_factory=list)
    new_entities: list[str] = field(default_factory=list)
    dropped_entities: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    guard: str | None = None
    #: people whose links all stay exactly as they are (no update in ``links`` for them)
    quiet: int = 0

    def writes(self) -> list[Action]:
        return [a for a in self.actions if not a.problems]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.actions:
            key = "invalid" if a.problems else a.kind
            out[key] = out.get(key, 0) + 1
        out["conflicts"] = len(self.conflicts)
        out["ambiguous"] = sum(1 for p in self.problems if p.kind == "ambiguous")
        return out
