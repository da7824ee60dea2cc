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

from syncd.config.schema import SystemConfig
from syncd.connectors.http import PacedClient
from syncd.engine.model import Action
from syncd.mapping.apply import Mapper


@dataclass
class WriteResult:
    action: Action
    ok: bool
    remote_id: str | None = None
    error: str | None = None


class Connector(ABC):
    kind: ClassVar[str]
    native_merge: ClassVar[bool] = False
    can_create: ClassVar[bool] = True
    can_update: ClassVar[bool] = True
    can_delete: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        cfg: SystemConfig,
        secrets: dict[str, str],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.cfg = cfg
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
