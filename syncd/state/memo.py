"""Each listing as the last run read it, kept in the state, so that a run in a new process maps only what changed.

A daemon keeps its last listing's Records in memory, and its next run takes back every record listed with the
same bytes instead of mapping it again (``JobRun._read``, by the SHA-256 of the record's flat bytes): about 2 µs
a record against 20–50 µs for mapping, libphonenumber included. A ``syncd sync`` started by a timer began with
nothing. So after a run, each system's listing is stored (table ``listing_memo``, one row a system) as the Records
hold it, under those SHA-256s: remote id, canonical values, the raw record packed, modified time, problems, entity
hint and unreadable fields, with the dictionary the packed bytes were compressed against; and its pages, each
under the SHA-256 of the provider's answer that held it (``JobRun._record_page``: a page listed with the same
bytes again is taken back whole, without flattening and hashing each record). The next process loads it once as
Records, adopts that dictionary, and reads its listing as a daemon would.

It is a cache, never the sync's truth. A memo taken under another mapping, region, time zone, reading code,
libphonenumber or Python (:func:`fingerprint`), one that does not load, or a process that already compresses
the system's records against another dictionary, means mapping every record afresh, as before. A record
holding a known secret is left out (the state's rule: no secret a provider echoed lands in it). A run rewrites
a memo only when its listing changed, and a dry run never does.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import sys
from collections.abc import Mapping
from datetime import datetime
from itertools import repeat
from pathlib import Path

import phonenumbers

from syncd import heap
from syncd.canonical import Canon
from syncd.engine.model import ALL_READ, Record, adopt_dictionary, dictionary_of, unsqueeze
from syncd.logging import holds_secret
from syncd.mapping.apply import Mapper

FORMAT = 3
#: a listing as remembered, column by column (one object per column and record, not a tuple a record more: marshal
#: loads it in half the time): the SHA-256s of the raw records' flat bytes (``JobRun._read``), joined; then, in the
#: same order, remote ids, canonical values, packed raws, modified times (ISO 8601), entity hints; and the few
#: records with problems or unreadable fields, by position
Columns = tuple[
    bytes, list[str], list[Canon], list[bytes], list[str | None], list[str | None],
    dict[int, tuple[tuple[str, ...], frozenset[str]]],
]  # fmt: skip
#: a listing's pages: the SHA-256s of the answers that held them, joined; and each page's records as positions in
#: the columns (-1: a record without an id)
Pages = tuple[bytes, list[list[int]]]
#: a page as a run holds it: its Records (None: no id) and the SHA-256 of each one's flat bytes
Page = tuple[list[Record | None], list[bytes | None]]
_SUM = 32  # (bytes of a SHA-256)
_TEXT = {str, type(None)}  # (the types of a modified time and an entity hint)

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


def dump(
    mapper: Mapper, system: str, records: Mapping[bytes, Record], pages: Mapping[bytes, Page] | None = None
) -> bytes:
    """A listing's Records, by the SHA-256 of their raw records' flat bytes, and its pages, by the SHA-256 of the
    answer that held each, as a memo (a record holding a known secret left out, and its page)."""
    kept = [(digest, rec) for digest, rec in records.items() if not holds_secret(unsqueeze(rec.packed, system))]
    recs = [rec for _, rec in kept]
    columns: Columns = (
        b"".join(digest for digest, _ in kept),
        [rec.remote_id for rec in recs],
        [rec.values for rec in recs],
        [rec.packed for rec in recs],
        [rec.modified.isoformat() if rec.modified is not None else None for rec in recs],
        [rec.entity_hint for rec in recs],
        {i: (rec.problems, rec.unreadable) for i, rec in enumerate(recs) if rec.problems or rec.unreadable},
    )
    at = {digest: i for i, (digest, _) in enumerate(kept)}
    answers, positions = [], []
    for answer, (_, sums) in (pages or {}).items():
        where = [-1 if sum_ is None else at.get(sum_, -2) for sum_ in sums]
        if -2 not in where:  # (else a record of the page is not remembered: the page is not either)
            answers.append(answer)
            positions.append(where)
    taken: Pages = (b"".join(answers), positions)
    return marshal.dumps((FORMAT, fingerprint(mapper), dictionary_of(system), columns, taken))


def load(mapper: Mapper, system: str, memo: bytes) -> tuple[dict[bytes, Record], dict[bytes, Page]] | None:
    """SHA-256 of a raw record's flat bytes → its Record as remembered, and SHA-256 of an answer → the page it
    held; None when the memo cannot serve this process (see the module)."""
    with heap.paused():  # (a collection mid-load walks every object just made, for no cycle among them)
        return _load(mapper, system, memo)


def _load(mapper: Mapper, system: str, memo: bytes) -> tuple[dict[bytes, Record], dict[bytes, Page]] | None:
    try:
        form, taken_under, sample, columns, (answers, positions) = marshal.loads(memo)
        if form != FORMAT or taken_under != fingerprint(mapper):
            return None
        if sample is not None and not adopt_dictionary(system, sample):
            return None  # its packed bytes would not read back here
        sums, ids, values, packed, modified, hints, extras = columns
        n = len(ids)
        if not (
            type(sums) is bytes and len(sums) == _SUM * n and type(extras) is dict
            and all(type(column) is list and len(column) == n for column in (ids, values, packed, modified, hints))
            and set(map(type, ids)) <= {str} and set(map(type, values)) <= {dict}
            and set(map(type, packed)) <= {bytes} and set(map(type, modified)) <= _TEXT
            and set(map(type, hints)) <= _TEXT
        ):  # fmt: skip
            return None
        stamp = datetime.fromisoformat
        records = list(map(Record, repeat(system, n), ids, values, packed, [stamp(m) if m else None for m in modified],
                           repeat((), n), hints))  # fmt: skip
        for i, extra in extras.items():
            if not (
                type(i) is int and 0 <= i < n and type(extra) is tuple and len(extra) == 2
                and type(extra[0]) is tuple and type(extra[1]) is frozenset
            ):  # fmt: skip
                return None
            rec = records[i]
            records[i] = Record(system, rec.remote_id, rec.values, rec.packed, rec.modified, extra[0],
                                rec.entity_hint, extra[1] or ALL_READ)  # fmt: skip
        digests = [sums[i : i + _SUM] for i in range(0, len(sums), _SUM)]
        if not (
            type(answers) is bytes and type(positions) is list and len(answers) == _SUM * len(positions)
            and all(type(where) is list and set(map(type, where)) <= {int} for where in positions)
            and all(min(where, default=0) >= -1 and max(where, default=-1) < n for where in positions)
        ):  # fmt: skip
            return None
        pages: dict[bytes, Page] = {
            answers[i * _SUM : (i + 1) * _SUM]: (
                [records[at] if at >= 0 else None for at in where],
                [digests[at] if at >= 0 else None for at in where],
            )
            for i, where in enumerate(positions)
        }
        return dict(zip(digests, records, strict=True)), pages
    except (ValueError, EOFError, TypeError):  # not a memo this code wrote
        return None
