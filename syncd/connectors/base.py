"""The contract every provider connector keeps; the engine knows nothing else about a provider.

A connector reads every record (``fetch``), performs a plan's writes (``write``) and, purely, predicts
what the provider will store for a payload (``simulate``) — the planner's write model, which keeps the
next run from mistaking our own write for an edit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from syncd.config.schema import JobSystem, SystemConfig
from syncd.connectors.http import PacedClient
from syncd.connectors.pacing import PaceBook
from syncd.engine.model import Action
from syncd.mapping.apply import Mapper


@dataclass
class WriteResult:
    action: Action
    ok: bool
    remote_id: str | None = None
    error: str | None = None
    #: the write may have landed in part (a replace whose delete failed, a create whose answer was lost):
    #: its journal entry stays pending, and the next run finishes it instead of duplicating it
    uncertain: bool = False


class Connector(ABC):
    kind: ClassVar[str]
    native_merge: ClassVar[bool] = False
    can_create: ClassVar[bool] = True
    can_update: ClassVar[bool] = True
    can_delete: ClassVar[bool] = True
    #: True for a source read from a cursor (CallPage): its listing is never complete, so nothing is
    #: ever inferred deleted from it, and nothing is created in it
    incremental: ClassVar[bool] = False
    #: True where an update is a replace (Callsavvy contacts: create the new, delete the old); a replace an
    #: earlier run left half done is finished by the planner, never taken for a duplicate or a delete
    replaces: ClassVar[bool] = False
    #: the pages handed to :attr:`on_page` are the listing, and ``fetch`` returns none of their records: a long
    #: listing (Callyzer's: 100 leads every 2 s) then holds each raw record only until its page is mapped. A
    #: listing that reads its pages again from the start calls :meth:`restart_listing` first
    streams: ClassVar[bool] = False
    #: writes sent between two checkpoints of a run (Callyzer: one full bulksave)
    write_chunk: int = 25
    #: a chunk of writes goes out in fewer calls than writes (a bulk endpoint): a run sends this system's writes
    #: all together at the end, in full batches, never a few as soon as they are planned (runner.Writer)
    batches: ClassVar[bool] = False

    def __init__(
        self,
        name: str,
        cfg: SystemConfig,
        secrets: dict[str, str],
        *,
        entry: JobSystem | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        pacers: PaceBook | None = None,
    ) -> None:
        self.name = name
        self.cfg = cfg
        self.entry = entry or JobSystem(system=name, mapping="")
        self.cursor: str | None = None  # incremental sources: the stored cursor, set by the runner before fetch
        self.down: str | None = None  # set once the provider stays unreachable: the rest of the writes wait
        self.fetch_warnings: list[str] = []  # records the last fetch skipped, with the reason (run report)
        #: told each page of records as it arrives, so the runner maps it while the next page waits for its
        #: turn under the rate limit. The listing ``fetch`` returns stays the one source of truth, except for
        #: a connector that :attr:`streams`: its pages are its listing. With the page, the provider's answer it
        #: was read from, when the page is exactly what those bytes list (see :meth:`page_read`), else None; and
        #: its records' digests when the connector took them
        self.on_page: Callable[[list[dict[str, Any]], bytes | None, list[bytes] | None], None] | None = None
        #: told when a listing that :attr:`streams` starts again from its first page: forget the pages so far
        self.on_restart: Callable[[], None] | None = None
        interval, endpoint_interval = cfg.intervals()
        self.http = PacedClient(
            name,
            cfg.url(),
            headers=self.auth_headers(secrets),
            auth=self.auth(secrets),
            interval=interval,
            endpoint_interval=endpoint_interval,
            margin=cfg.rate.margin,
            jitter=cfg.rate.jitter,
            retry=cfg.retry,
            timeout=cfg.timeout,
            transport=transport,
            pacers=pacers,
        )

    def auth_headers(self, secrets: dict[str, str]) -> dict[str, str]:
        return {}

    def auth(self, secrets: dict[str, str]) -> httpx.Auth | None:
        return None

    async def aclose(self) -> None:
        await self.http.aclose()

    @abstractmethod
    async def fetch(self) -> list[dict[str, Any]]:
        """Every record, as the provider shapes it (those not handed to :attr:`on_page`, for a connector that
        :attr:`streams`); raises a ProviderError if the listing is incomplete."""

    @abstractmethod
    async def write(self, actions: list[Action], mapper: Mapper) -> list[WriteResult]:
        """Performs the actions (batched as the API allows); one result per action, in any order."""

    @abstractmethod
    def simulate(self, current: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
        """The record as the provider will list it after ``payload`` is written over ``current``."""

    def validate(self, payload: dict[str, Any]) -> list[str]:
        """Provider rules beyond the mapping's (checked before sending)."""
        return []

    def records_of(
        self, items: list[Any], where: str, id_key: str | None = None, first: int = 1
    ) -> list[dict[str, Any]]:
        """The records of a listing page. An item that is no object (a string, a number, null), or that
        lacks the provider's id under ``id_key`` (missing, blank, or an object, a list, a boolean), cannot
        be linked, updated or deleted: it is skipped and reported in :attr:`fetch_warnings`, so one bad
        item never costs the whole listing and never vanishes without a word. ``first``: the position of the
        page's first item in the listing (as the warnings number it)."""
        out: list[dict[str, Any]] = []
        for position, item in enumerate(items, start=first):
            if not isinstance(item, dict):
                self.fetch_warnings.append(f"{where}: item {position} is not a record ({_shown(item)}); skipped")
            elif id_key is not None and not usable_id(item.get(id_key)):
                self.fetch_warnings.append(f"{where}: item {position} has no usable {id_key} ({_shown(item)}); skipped")
            else:
                out.append(item)
        return out

    def page_read(
        self, records: list[dict[str, Any]], answer: bytes | None = None, sums: list[bytes] | None = None
    ) -> list[dict[str, Any]]:
        """Hands a page of listed records to :attr:`on_page` (paged listings call it); returns them, or none
        once handed over by a connector that :attr:`streams`. ``answer``: bytes the page's records are a function
        of alone (the same bytes, the same records): the body of the HTTP answer the page came in, or, for one
        answer handed over in pages, the digests of the page's own records, joined; None when something else
        decided the page (what earlier pages held). The runner then takes back a page listed with the same bytes
        last run whole, without looking at its records one by one. ``sums``: the SHA-256 of each record's flat
        bytes (``engine.model.sum_of``), from a connector that took them anyway: a page read record by record is
        then not hashed again."""
        if self.on_page is not None and records:
            self.on_page(records, answer, sums)
            if self.streams:
                return []
        return records

    def restart_listing(self) -> None:
        """The listing is read again from its first page: the pages handed over so far do not count."""
        if self.on_restart is not None:
            self.on_restart()

    def expected_calls(self, actions: list[Action]) -> int:
        """Write calls these actions take (the progress bar's total and ETA)."""
        return len(actions)

    def next_cursor(self, linked: set[str]) -> str | None:
        """Incremental sources: the cursor to store after a run in which the records with these remote
        ids were linked. It must not pass a record that is still unlinked (ambiguous or failed), so that
        record is read again next run. None: keep the stored cursor."""
        return None

    def path(self, name: str, default: str) -> str:
        """An endpoint path the docs do not spell out: overridable from the config (systems.X.paths)."""
        return self.cfg.paths.get(name, default)


def usable_id(value: Any) -> bool:
    """A provider id: a non-blank string or an integer."""
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(item: Any, limit: int = 80) -> str:
    """An item, short enough for a warning line."""
    text = repr(item)
    return text if len(text) <= limit else text[: limit - 3] + "..."
