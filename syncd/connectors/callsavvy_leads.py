"""Callsavvy leads: getLeads (one unpaged call), createLead, updateLead (a full replace), deleteLead.

Each endpoint has its own 50/min window inside a 100/min global one, so creates, updates and deletes
run as three concurrent queues: together they use the global allowance, not one endpoint's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from syncd.connectors.base import WriteResult
from syncd.connectors.callsavvy_api import CallsavvyConnector, email_problems
from syncd.connectors.errors import AuthError, ProviderError, Rejected, Unreachable
from syncd.engine.model import Action
from syncd.mapping.apply import Mapper

_WRITE_KEYS = (
    "name", "email", "phone", "status", "priority", "summary", "organization", "location", "source", "worth", "notes",
)  # fmt: skip


class CallsavvyLeads(CallsavvyConnector):
    async def fetch(self) -> list[dict[str, Any]]:
        return await self.listing("getLeads", {}, "lead_id")

    def simulate(self, current: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
        # updateLead replaces the whole lead; getLeads then shows the priority under "priorty"
        out: dict[str, Any] = {k: payload.get(k) or "" for k in _WRITE_KEYS}
        out["priorty"] = out.pop("priority")
        if current is not None:
            out["lead_id"] = current.get("lead_id")
        return out

    def validate(self, payload: dict[str, Any]) -> list[str]:
        return email_problems(payload)

    @staticmethod
    def body(payload: dict[str, Any]) -> dict[str, Any]:
        return {k: payload[k] for k in _WRITE_KEYS if payload.get(k) not in (None, "")}

    async def write(self, actions: list[Action], mapper: Mapper) -> list[WriteResult]:
        queues: dict[str, list[Action]] = {"create": [], "update": [], "delete": []}
        for action in actions:
            queues["delete" if action.kind == "delete" else "create" if action.kind == "create" else "update"].append(
                action
            )
        results: list[WriteResult] = []

        async def run(kind: str, items: list[Action]) -> None:
            for action in items:
                results.append(await self._one(kind, action, mapper))

        await asyncio.gather(*(run(kind, items) for kind, items in queues.items() if items))
        return results

    async def _one(self, kind: str, action: Action, mapper: Mapper) -> WriteResult:
        if self.down is not None:
            return WriteResult(action, False, error=f"not sent: {self.down}")
        try:
            if kind == "create":
                data = await self.call("createLead", self.body(mapper.to_provider(action.desired)), idempotent=False)
                item = data[0] if isinstance(data, list) and data else data
                lead_id = item.get("lead_id") if isinstance(item, dict) else None
                if not lead_id:
                    return WriteResult(action, False, error="createLead answered without a lead_id")
                return WriteResult(action, True, str(lead_id))
            if kind == "update":
                payload = self.body(mapper.to_provider(action.desired, action.base_raw))
                await self.call("updateLead", {"lead_id": action.remote_id, **payload})
                return WriteResult(action, True, action.remote_id)
            try:
                await self.call("deleteLead", {"lead_id": action.remote_id})
            except Rejected as exc:
                if "not found" not in exc.message.lower():
                    raise
            return WriteResult(action, True, action.remote_id)
        except AuthError:
            raise
        except Unreachable as exc:
            self.down = exc.message
            return WriteResult(action, False, error=exc.message)
        except ProviderError as exc:
            return WriteResult(action, False, error=exc.message)
