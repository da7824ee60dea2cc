"""The contract every provider connector keeps; the engine knows nothing else about a provider.

A connector reads every record (``fetch``), performs a plan's writes (``write``) and, purely, predicts
what the provider will store for a payload (``simulate``) — the planner's write model, which keeps the
next run from mistaking our own write for an edit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from syncd.config.schema import JobSystem, SystemConfig
from syncd.connectors.http import PacedClient
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

    def __init__(
        self,
        name: str,
        cfg: SystemConfig,
        secrets: dict[str, str],
        *,
        entry: JobSystem | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.cfg = cfg
        self.entry = entry or JobSystem(system=name, mapping="")
        self.cursor: str | None = None  # incremental sources: the stored cursor, set by the runner before fetch
        self.down: str | None = None  # set once the provider stays unreachable: the rest of the writes wait
        self.fetch_warnings: list[str] = []  # records the last fetch skipped, with the reason (run report)
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
        )

    def auth_headers(self, secrets: dict[str, str]) -> dict[str, str]:
        return {}

    def auth(self, secrets: dict[str, str]) -> httpx.Auth | None:
        return None

    async def aclose(self) -> None:
        await self.http.aclose()

    @abstractmethod
    async def fetch(self) -> list[dict[str, Any]]:
        """Every record, as the provider shapes it; raises a ProviderError if the listing is incomplete."""

    @abstractmethod
    async def write(self, actions: list[Action], mapper: Mapper) -> list[WriteResult]:
        """Performs the actions (batched as the API allows); one result per action, in any order."""

    @abstractmethod
    def simulate(self, current: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
        """The record as the provider will list it after ``payload`` is written over ``current``."""

    def validate(self, payload: dict[str, Any]) -> list[str]:
        """Provider rules beyond the mapping's (checked before sending)."""
        return []

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
