"""The planner's inputs and outputs: plain data, no I/O, so the engine is a pure function."""

from __future__ import annotations

import functools
import hashlib
import marshal
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar, dataclass_transform

import zstandard

from syncd.canonical import Canon, Value

ActionKind = Literal["create", "update", "merge", "delete", "fallback"]


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # a zstd frame's first bytes; a marshalled dict starts with "{", a pickle with 0x80
_SHAPE_MIN = 64  # a system's first record at least this long (flat) becomes its dictionary; shorter ones stay flat
_shapes: dict[str, zstandard.ZstdCompressionDict] = {}
_codecs = threading.local()  # zstd (de)compressors are not safe to share between threads
_Codec = tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]


def flat(raw: dict[str, Any]) -> bytes:
    """A raw record as bytes. marshal version 2 writes no back-references and every string alike, so equal
    records that list their keys in the same order flatten to equal bytes (the runner's memo compares them).
    A record that is not JSON-shaped (no provider sends one) is pickled, which starts with 0x80."""
    try:
        return marshal.dumps(raw, 2)
    except ValueError:
        return pickle.dumps(raw, pickle.HIGHEST_PROTOCOL)


def _codec(system: str, sample: bytes | None = None) -> _Codec | None:
    """This thread's compressor and decompressor for ``system``. ``sample``: the flat record that becomes the
    system's dictionary if it has none yet (None: no codec without one)."""
    codecs: dict[str, _Codec] | None = getattr(_codecs, "by_system", None)
    if codecs is None:
        codecs = _codecs.by_system = {}
    codec = codecs.get(system)
    if codec is None:
        shape = _shapes.get(system) if sample is None else _shape(system, sample)
        if shape is None:
            return None
        codec = codecs[system] = (
            zstandard.ZstdCompressor(dict_data=shape, write_checksum=False, write_dict_id=False),
            zstandard.ZstdDecompressor(dict_data=shape),
        )
    return codec


def _shape(system: str, sample: bytes) -> zstandard.ZstdCompressionDict:
    """The system's dictionary: ``sample`` if it has none yet (the first thread to ask sets it, for all)."""
    shape = _shapes.get(system)
    if shape is None:
        shape = _shapes.setdefault(
            system, zstandard.ZstdCompressionDict(sample, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        )
    return shape


def dictionary_of(system: str) -> bytes | None:
    """The flat record this process compresses ``system``'s records against (None: none yet)."""
    shape = _shapes.get(system)
    return None if shape is None else bytes(shape.as_bytes())


def adopt_dictionary(system: str, sample: bytes) -> bool:
    """Makes ``sample`` the system's dictionary if this process has none yet, so that bytes another process packed
    with it read back here; whether the system's dictionary is now exactly ``sample``."""
    return bytes(_shape(system, sample).as_bytes()) == sample


def pack(raw: dict[str, Any], system: str) -> bytes:
    """A raw record as compact bytes. A listing's records are kept until the run ends (and by a daemon until
    the next run) but read raw only for the few that are written. Records of one system share most of their
    bytes (keys, empty fields, formats), so each is compressed with zstd against a dictionary: the first record
    of its system this process packed. That takes 2–4 µs and leaves a fifth of the bytes (bench/README.md).
    The dictionary never changes once chosen, and only this process reads the bytes back."""
    return squeeze(flat(raw), system)


def squeeze(plain: bytes, system: str) -> bytes:
    """:func:`flat` bytes compressed as :func:`pack` says, or as they are where that is not shorter."""
    if len(plain) < _SHAPE_MIN:
        return plain
    codec = _codec(system, plain)
    assert codec is not None  # given a sample, there is always one
    small = codec[0].compress(plain)
    if len(small) >= len(plain):
        return plain
    # a copy of its exact size: zstd's result is a buffer of the worst-case size shrunk in place, and a
    # million such shrunken buffers kept leave the heap in holes (1.4 KB of RSS each instead of 0.1)
    return memoryview(small).tobytes()


def unsqueeze(packed: bytes, system: str) -> bytes:
    """The :func:`flat` bytes of a record :func:`pack` was given."""
    if packed[:4] != _ZSTD_MAGIC:
        return packed
    codec = _codec(system)
    assert codec is not None, f"{system}: compressed bytes without a dictionary"
    return codec[1].decompress(packed)


def unpack(packed: bytes, system: str) -> dict[str, Any]:
    """A fresh copy of the raw record :func:`pack` was given for ``system``."""
    return read_flat(unsqueeze(packed, system))


def sum_of(plain: bytes) -> bytes:
    """The SHA-256 of a record's :func:`flat` bytes: what the runner's listing memo knows the record by
    (``JobRun._read``). A connector that hashes each listed record anyway hands these on with its page."""
    return hashlib.sha256(plain).digest()


def read_flat(plain: bytes) -> dict[str, Any]:
    """The raw record of :func:`flat` bytes (a fresh copy)."""
    raw: dict[str, Any] = pickle.loads(plain) if plain[:1] == b"\x80" else marshal.loads(plain)
    return raw


#: the unreadable fields of a record whose fields all read: one set shared by every such Record (CPython makes a new
#: empty frozenset each time, marshal's loading included: about 200 bytes a record otherwise)
ALL_READ: frozenset[str] = frozenset()

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True)
def _frozen_for_the_type_checker(cls: type[_T]) -> type[_T]:
    """A slotted dataclass that mypy holds frozen (an assignment to a field is an error) and that Python builds
    as a plain one: a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, about
    2 µs a Record against 0.2, paid for every record a run maps or a new process loads from its memo."""
    return dataclass(slots=True)(cls)


@_frozen_for_the_type_checker
class Record:
    """One provider record as fetched, with its canonical values; ``packed`` is the raw record
    (:func:`pack`, for this ``system``). ``values`` are clean (``canonical.clean``, as the mapping reads them):
    the planner's quiet path relies on it, and so takes values equal to a record's as clean without a look.

    Never changed once made (mypy holds it frozen): a daemon's next run and the memo share Records."""

    system: str
    remote_id: str
    values: Canon
    packed: bytes
    modified: datetime | None = None
    problems: tuple[str, ...] = ()
    entity_hint: str | None = None  # the syncd entity id the provider keeps for us (Apps API external_unique_id)
    #: fields the mapping could not read (an object where one value belongs): not a blank, so never a clear
    unreadable: frozenset[str] = ALL_READ

    @property
    def raw(self) -> dict[str, Any]:
        """The record as the provider sent it: a fresh copy each time (read for the records a run writes)."""
        return unpack(self.packed, self.system)


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
