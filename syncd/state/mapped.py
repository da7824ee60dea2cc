"""Records read by earlier runs, remembered in the state, so that a run in a new process reads only what changed.

A daemon keeps each listing's Records in memory for its next run (``JobRun._record``). A ``syncd sync`` started
by a timer begins with nothing: it read every record afresh, libphonenumber included, at 20–50 µs a record
against about 2 µs for one the daemon remembered (bench/README.md). So each record read afresh is stored
(table ``mapped``) with a digest of its raw bytes, keyed by everything its reading depends on besides the record
(:func:`fingerprint`). A later run, in any process, that lists the same bytes under the same mapping takes the
canonical values back instead of reading them again.

It is a cache and never the sync's truth: a digest that differs, a row that is missing or unreadable, all mean
the record is read afresh, which is what a run did before. Nothing holding a secret is stored (the state's
rule), and the rows follow the records listed, not their history (``Store.remember_mapped``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import phonenumbers

from syncd.canonical import Canon
from syncd.logging import redact_text
from syncd.mapping.apply import Mapper
from syncd.state.store import Store

#: what a record read to: its canonical values, the problems of its reading, the fields it could not read
Read = tuple[Canon, tuple[str, ...], frozenset[str]]

#: the code a reading runs through; a change to any of it (a syncd upgrade, a checkout edited) starts afresh
_READING_CODE = ("canonical.py", "phones.py", "mapping/apply.py", "mapping/paths.py", "mapping/spec.py",
                 "mapping/transforms.py")  # fmt: skip


@functools.cache
def _code_digest() -> bytes:
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for name in _READING_CODE:
        digest.update((root / name).read_bytes())
    digest.update(f"{phonenumbers.__version__} {sys.version_info[:2]}".encode())  # its data; str's Unicode tables
    return digest.digest()


def fingerprint(mapper: Mapper) -> bytes:
    """Everything reading a record depends on besides the record: the mapping as loaded, the system's region and
    time zone, the reading code, libphonenumber's version and Python's."""
    digest = hashlib.sha256(_code_digest())
    digest.update(repr((mapper.spec, mapper.default_region, str(mapper.zone))).encode())
    return digest.digest()


class MappedMemo:
    """One run's use of the table: looked up a page at a time, new readings kept until the listings are in."""

    def __init__(self, store: Store, job: str, mappers: Mapping[str, Mapper], systems: Iterable[str]) -> None:
        self.store = store
        self.job = job
        self._keys = {name: fingerprint(mappers[name]) for name in systems}
        self._page: dict[str, dict[str, tuple[bytes, str]]] = {}  # system → remote id → its row (this page's)
        self._new: list[tuple[str, str, bytes, str]] = []
        #: remote ids each system listed this run (the rows of the others are forgotten in time)
        self.listed: dict[str, set[str]] = {name: set() for name in self._keys}
        self.recalled = 0  # records taken back this run
        self.read = 0  # records read afresh this run

    def covers(self, system: str) -> bool:
        return system in self._keys

    def look_up(self, system: str, remote_ids: list[str]) -> None:
        """The rows of a page's records, in one query, for :meth:`recall` to compare with them."""
        self._page[system] = self.store.mapped_of(self.job, system, remote_ids) if remote_ids else {}

    def recall(self, system: str, remote_id: str, plain: bytes) -> tuple[bytes, Read | None]:
        """The record's digest, and what it read to when an earlier run listed exactly these bytes (None: read it
        afresh, then :meth:`remember` it under this digest)."""
        digest = hashlib.blake2b(plain, digest_size=16, key=self._keys[system]).digest()
        row = self._page.get(system, {}).get(remote_id)
        if row is None or row[0] != digest:
            return digest, None
        try:
            values, problems, unreadable = json.loads(row[1])
            read: Read = (values, tuple(problems), frozenset(unreadable))
        except (ValueError, TypeError):  # a row this code cannot read: read the record afresh, store it again
            return digest, None
        self.recalled += 1
        return digest, read

    def remember(self, system: str, remote_id: str, digest: bytes, read: Read) -> None:
        self.read += 1
        values, problems, unreadable = read
        if not all(type(v) is str or (type(v) is list and all(type(x) is str for x in v)) for v in values.values()):
            return  # a raw value kept where a transform failed: JSON might give back another type (read afresh)
        text = json.dumps([values, list(problems), sorted(unreadable)], ensure_ascii=False, separators=(",", ":"))
        if redact_text(text) != text:  # a secret a provider echoed: never in the state (read afresh each run)
            return
        self._new.append((system, remote_id, digest, text))

    def flush(self, complete: Iterable[str]) -> None:
        """Stores the new readings; ``complete``: the systems listed whole this run, whose other rows may go."""
        new, self._new = self._new, []
        self._page.clear()
        self.store.remember_mapped(self.job, new, {name: self.listed[name] for name in complete if name in self.listed})
