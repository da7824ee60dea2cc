"""Each listing as the last run read it, kept in the state, so that a run in a new process maps only what changed.

A daemon keeps its last listing's Records in memory, and its next run takes back every record listed with the
same bytes instead of mapping it again (``JobRun._record``): about 5 µs a record against 20–50 µs for mapping,
libphonenumber included. A ``syncd sync`` started by a timer began with nothing. So after a run, each system's
listing is stored (table ``listing_memo``, one row a system) as the Records hold it: remote id, canonical values,
the raw record packed, problems and unreadable fields, with the dictionary the packed bytes were compressed
against. The next process loads it once, adopts that dictionary, and reads its listing as a daemon would.

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
from collections.abc import Iterable
from pathlib import Path

import phonenumbers

from syncd.canonical import Canon
from syncd.engine.model import Record, adopt_dictionary, dictionary_of, unsqueeze
from syncd.logging import holds_secret
from syncd.mapping.apply import Mapper

FORMAT = 1
#: a record as remembered: canonical values, packed raw, problems, unreadable fields (its modified time and
#: entity hint are read again from the raw record, which is cheap)
Remembered = tuple[Canon, bytes, tuple[str, ...], frozenset[str]]

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


def dump(mapper: Mapper, system: str, records: Iterable[Record]) -> bytes:
    """A listing's Records as a memo (those holding a known secret left out)."""
    rows = {
        rec.remote_id: (rec.values, rec.packed, rec.problems, rec.unreadable)
        for rec in records
        if not holds_secret(unsqueeze(rec.packed, system))
    }
    return marshal.dumps((FORMAT, fingerprint(mapper), dictionary_of(system), rows))


def load(mapper: Mapper, system: str, memo: bytes) -> dict[str, Remembered] | None:
    """remote id → the record as remembered; None when the memo cannot serve this process (see the module)."""
    enabled = gc.isenabled()
    gc.disable()  # (a full collection mid-load walks every object just made, for no cycle among them)
    try:
        return _load(mapper, system, memo)
    finally:
        if enabled:
            gc.enable()


def _load(mapper: Mapper, system: str, memo: bytes) -> dict[str, Remembered] | None:
    try:
        form, taken_under, sample, rows = marshal.loads(memo)
        if form != FORMAT or taken_under != fingerprint(mapper):
            return None
        if sample is not None and not adopt_dictionary(system, sample):
            return None  # its packed bytes would not read back here
        # read back as written: no row rebuilt (a listing of 250k loads in well under a second)
        if type(rows) is not dict or not all(
            type(row) is tuple and len(row) == 4 and type(row[0]) is dict and type(row[1]) is bytes
            and type(row[2]) is tuple and type(row[3]) is frozenset
            for row in rows.values()
        ):  # fmt: skip
            return None
        out: dict[str, Remembered] = rows
        return out
    except (ValueError, EOFError, TypeError):  # not a memo this code wrote
        return None
