"""The process's phone conversions (syncd.mapping.phone_cache) as a run leaves them in the state for the next process.

A ``syncd sync`` from a timer is a new process: without them, its first run after an initial sync parses again every
number the initial run wrote (they come back as they were sent), at 20–30 µs each. A run leaves the conversions its
process used (made, or taken from the last memo), so the memo holds the numbers of the records the run read afresh
or wrote: those the next run reads afresh again, as they come back from the provider.

Stored by job (table ``phone_memo``), as marshal bytes: process-private, checked against the conversion code,
libphonenumber's version and Python's (:func:`fingerprint`); a memo that does not load or was taken under another
is not used, and every number is parsed as before. A cache, never the sync's truth; a number holding a known secret
is left out (the state's rule)."""

from __future__ import annotations

import functools
import hashlib
import marshal
import sys
from pathlib import Path

import phonenumbers

from syncd import heap
from syncd.logging import holds_secret
from syncd.mapping import phone_cache

FORMAT = 1


@functools.cache
def fingerprint() -> bytes:
    """What a conversion depends on: phones.py, libphonenumber's data, Python (marshal's format, str's tables)."""
    digest = hashlib.sha256((Path(__file__).resolve().parent.parent / "phones.py").read_bytes())
    digest.update(f"{FORMAT} {phonenumbers.__version__} {sys.version}".encode())
    return digest.digest()


def dump() -> bytes:
    """The conversions this process used, both directions (not those it was left and never asked for)."""
    # (copies: dict() of a dict is one C call, so a job mapping beside this one cannot change it mid-copy)
    ways = [{how: dict(known) for how, known in list(way.known.items()) if known} for way in phone_cache.WAYS]
    taken = marshal.dumps((FORMAT, fingerprint(), *ways))
    if not holds_secret(taken):
        return taken
    ways = [
        {how: {k: v for k, v in known.items() if not holds_secret(f"{k}\0{v}".encode())} for how, known in way.items()}
        for way in ways
    ]
    return marshal.dumps((FORMAT, fingerprint(), *ways))


def adopt(memo: bytes) -> bool:
    """Gives this process the conversions a memo holds, to look up numbers it has not met; False (and nothing
    adopted) when the memo cannot serve here."""
    with heap.paused():  # (a collection mid-load walks every object just made, for no cycle among them)
        ways = _load(memo)
        if ways is None:
            return False
        for way, left in zip(phone_cache.WAYS, ways, strict=True):
            way.adopt(left)
        return True


Way = dict[str, dict[str, str]]


def _load(memo: bytes) -> tuple[Way, Way] | None:
    try:
        form, taken_under, *ways = marshal.loads(memo)
    except (ValueError, EOFError, TypeError):  # not a memo this code wrote
        return None
    if form != FORMAT or taken_under != fingerprint() or len(ways) != len(phone_cache.WAYS):
        return None
    for way in ways:
        if not (
            type(way) is dict
            and set(map(type, way)) <= {str}
            and set(map(type, way.values())) <= {dict}
            and all(
                set(map(type, known)) <= {str} and set(map(type, known.values())) <= {str} for known in way.values()
            )
        ):
            return None
    return ways[0], ways[1]
