"""Each listing as the last run read it, kept in the state, so that a run in a new process maps only what changed.

A daemon keeps its last listing's Records in memory, and its next run takes back every record listed with the
same bytes instead of mapping it again (``JobRun._read``, by the SHA-256 of the record's flat bytes): about 2 µs
a record against 20–50 µs for mapping, libphonenumber included. A ``syncd sync`` started by a timer began with
nothing. So after a run, each system's listing is stored (table ``listing_memo``, one row a system) as the Records
hold it, under those SHA-256s: remote id, canonical values, the raw record packed, modified time, problems, entity
hint and unreadable fields, with the dictionary the packed bytes were compressed against. The next process loads
it once as Records, adopts that dictionary, and reads its listing as a daemon would.

It is a cache, never the sync's truth. A memo taken under another mapping, region, time zone, reading code,
libphonenumber or Python (:func:`fingerprint`), one that does not load, or a process that already compresses
the system's records against another dictionary, means mapping every record afresh, as before. A record
holding a known secret is left out (the state's rule: no secret a provider echoed lands in it). A run rewrites
a memo only when its listing changed, and a dry run never does.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import marshal
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import phonenumbers

from syncd.canonical import Canon
from syncd.engine.model import ALL_READ, Record, adopt_dictionary, dictionary_of, unsqueeze
from syncd.logging import holds_secret
from syncd.mapping.apply import Mapper

FORMAT = 2
#: a record as remembered, under the SHA-256 of its raw record's flat bytes (``JobRun._read``): remote id,
#: canonical values, packed raw, modified time (ISO 8601), problems, entity hint, unreadable fields
Row = tuple[str, Canon, bytes, str | None, tuple[str, ...], str | None, frozenset[str]]
_TEXT = (str, type(None))  # (the types of a row's modified time and entity hint)

#: the code a reading runs through; a change to any of it (a syncd upgrade, a checkout edited) starts afresh
_READING_CODE = ("canonical.py", "phones.py", "mapping/apply.py", "mapping/paths.py", "mapping/spec.py",
                 "mapping/transforms.py", "engine/model.py")  # fmt: skip


@functools.cache
def _code_digest() -> bytes:
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for name in _READING_CODE:
        digest.update((root / name).read_bytes())
    # libphonenumber's data; Python's (str's Unicode tables, marshal's format)
    digest.update(f"{FORMAT} {phonenumbers.__version__} {sys.version}".encode())
    return digest.digest()


def fingerprint(mapper: Mapper) -> bytes:
    """Everything reading a record depends on besides the record: the mapping as loaded, the system's region and
    time zone, the reading code, libphonenumber's version and Python's."""
    digest = hashlib.sha256(_code_digest())
    digest.update(repr((mapper.spec, mapper.default_region, str(mapper.zone))).encode())
    return digest.digest()


def dump(mapper: Mapper, system: str, records: Mapping[bytes, Record]) -> bytes:
    """A listing's Records, by the SHA-256 of their raw records' flat bytes, as a memo (those holding a known
    secret left out)."""
    rows: dict[bytes, Row] = {
        digest: (
            rec.remote_id,
            rec.values,
            rec.packed,
            rec.modified.isoformat() if rec.modified is not None else None,
            rec.problems,
            rec.entity_hint,
            rec.unreadable,
        )
        for digest, rec in records.items()
        if not holds_secret(unsqueeze(rec.packed, system))
    }
    return marshal.dumps((FORMAT, fingerprint(mapper), dictionary_of(system), rows))


def load(mapper: Mapper, system: str, memo: bytes) -> dict[bytes, Record] | None:
    """SHA-256 of a raw record's flat bytes → its Record as remembered; None when the memo cannot serve this
    process (see the module)."""
    enabled = gc.isenabled()
    gc.disable()  # (a full collection mid-load walks every object just made, for no cycle among them)
    try:
        return _load(mapper, system, memo)
    finally:
        if enabled:
            gc.enable()


def _load(mapper: Mapper, system: str, memo: bytes) -> dict[bytes, Record] | None:
    try:
        form, taken_under, sample, rows = marshal.loads(memo)
        if form != FORMAT or taken_under != fingerprint(mapper):
            return None
        if sample is not None and not adopt_dictionary(system, sample):
            return None  # its packed bytes would not read back here
        if type(rows) is not dict:
            return None
        out: dict[bytes, Record] = {}
        stamp = datetime.fromisoformat
        for digest, row in rows.items():
            if not (
                type(digest) is bytes and type(row) is tuple and len(row) == 7 and type(row[0]) is str
                and type(row[1]) is dict and type(row[2]) is bytes and type(row[3]) in _TEXT
                and type(row[4]) is tuple and type(row[5]) in _TEXT and type(row[6]) is frozenset
            ):  # fmt: skip
                return None
            remote_id, values, packed, modified, problems, hint, unreadable = row
            out[digest] = Record(
                system,
                remote_id,
                values,
                packed,
                stamp(modified) if modified else None,
                problems,
                hint,
                unreadable or ALL_READ,
            )
        return out
    except (ValueError, EOFError, TypeError):  # not a memo this code wrote
        return None
