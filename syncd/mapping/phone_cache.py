"""libphonenumber's conversions, remembered in the process, and handed to the next process through the state.

libphonenumber is the costliest step of mapping a record (20–30 µs a number it has not seen), and a run meets each
number several times (read, projected through a system's write model, validated), as does every later run of a
daemon: the conversions are pure functions of their text, so they are kept (a failure is not: it raises again).
A ``syncd sync`` from a timer used to start with none, so the first run after an initial sync parsed again every
number the initial run had written, and a steady run every number of the records that changed. Now a run leaves
the conversions its process used in the state (syncd.state.phone_memo), and the next process looks up there each
number it has not met itself: the numbers a run wrote come back as they were sent, and are not parsed again.

Bounded: past ``SIZE`` entries for one region or format, a direction forgets what it holds for it and starts again
(as the listing memo does past its limit). What a process leaves is what it used, not what it was left, so memory
grows with the numbers a run meets, never with history.
"""

from __future__ import annotations

from collections.abc import Callable

from syncd import phones

#: entries a direction holds at most for one region or format (a few tens of MB at most)
SIZE = 1 << 17


class Conversions:
    """One direction of phones.py, remembered: region (reading) or format (writing) → text → its result (by the
    region or format first: no tuple to build for a lookup)."""

    def __init__(self, convert: Callable[[str, str], str]) -> None:
        self._convert = convert
        #: the conversions this process used: made here, or taken from ``left`` when first asked for
        self.known: dict[str, dict[str, str]] = {}
        #: those the job's last process left (syncd.state.phone_memo): asked only when ``known`` has no answer, so
        #: that ``known`` stays what this process used, and the memo it leaves what its runs met, not a history
        self.left: dict[str, dict[str, str]] = {}
        #: conversions made (neither known nor left) since the process began or last cleared: the next process
        #: gains nothing from a memo rewritten when this has not moved (syncd.runner.JobRun)
        self.made = 0

    def __call__(self, text: str, how: str) -> str:
        known = self.known.get(how)
        if known is None:
            known = self.known[how] = {}
        else:
            found = known.get(text)
            if found is not None:
                return found
        left = self.left.get(how)
        value = left.get(text) if left is not None else None
        if value is None:
            value = self._convert(text, how)
            self.made += 1
        if len(known) >= SIZE:
            known.clear()
        known[text] = value
        return value

    def adopt(self, left: dict[str, dict[str, str]]) -> None:
        """Takes the conversions another process left (syncd.state.phone_memo checked them), beside those taken
        before (a daemon takes each job's)."""
        for how, results in left.items():
            if how in self.left:
                self.left[how].update(results)
            else:
                self.left[how] = results

    def cache_clear(self) -> None:
        """Forgets everything, as a new process starts (tests and the benchmark's one-shot runs)."""
        self.known = {}
        self.left = {}
        self.made = 0


to_e164 = Conversions(phones.to_e164)
from_e164 = Conversions(phones.from_e164)
WAYS = (to_e164, from_e164)


def made() -> int:
    """Conversions made in this process (both directions) since it began or the caches were last cleared."""
    return sum(way.made for way in WAYS)


def clear() -> None:
    """Both directions forgotten, as a new process starts (tests and the benchmark's one-shot runs)."""
    for way in WAYS:
        way.cache_clear()
