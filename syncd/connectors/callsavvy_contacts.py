"""Callsavvy contacts: getContacts (one call, optionally by group), createContact / createBulkContact,
deleteContact. There is no updateContact: a changed contact is replaced — the new one created first,
then the old one deleted — so the person is never missing from Callsavvy. The write is journalled as
pending before it is sent; if the process dies between the two calls, the next run adopts the new
contact and deletes the old one (see ``plan(replacing=...)``), without a duplicate or a loss.
"""

from __future__ import annotations

import asyncio
from typing import Any

from syncd.connectors.base import WriteResult
from syncd.connectors.callsavvy_api import CallsavvyConnector, email_problems
from syncd.connectors.errors import AuthError, ProviderError, Rejected, Unreachable
from syncd.engine.model import Action
from syncd.mapping.apply import Mapper

BULK_MAX = 100  # createBulkContact items per call (assumed, as the payload itself is not published)
_FIELDS = ("name", "email", "phone")


class CallsavvyContacts(CallsavvyConnector):
    replaces = True
    write_chunk = BULK_MAX  # new contacts of a chunk go out in one createBulkContact
    batches = True

    async def group_id(self) -> str | None:
        if self.entry.group_id:
            return self.entry.group_id
        if not self.entry.group:
            return None
        if getattr(self, "_group_id", None) is None:
            groups = await self.call("getContactGroups", {})
            found = [g for g in groups or [] if isinstance(g, dict) and g.get("name") == self.entry.group]
            if not found:
                raise ProviderError(self.name, f"no contact group named {self.entry.group!r}")
            self._group_id: str | None = str(found[0]["group_id"])
        return self._group_id

    async def fetch(self) -> list[dict[str, Any]]:
        group = await self.group_id()
        return await self.listing("getContacts", {"group_id": group} if group else {}, "contact_id")

    def simulate(self, current: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
        # a replace is a new contact holding exactly what was sent
        out = {k: payload.get(k) or "" for k in _FIELDS}
        out["group_id"] = (current or payload).get("group_id") or ""
        return out

    def validate(self, payload: dict[str, Any]) -> list[str]:
        return email_problems(payload)

    async def _body(self, action: Action, mapper: Mapper) -> dict[str, Any]:
        payload = mapper.to_provider(action.desired)
        body = {k: payload[k] for k in _FIELDS if payload.get(k)}
        group = await self.group_id()
        if group:
            body["group_id"] = group
        return body

    def expected_calls(self, actions: list[Action]) -> int:
        creates = sum(1 for a in actions if a.kind == "create")
        replaces = sum(1 for a in actions if a.kind in ("update", "merge", "fallback"))
        return -(-creates // BULK_MAX) + 2 * replaces + (len(actions) - creates - replaces)

    async def write(self, actions: list[Action], mapper: Mapper) -> list[WriteResult]:
        creates = [a for a in actions if a.kind == "create"]
        replaces = [a for a in actions if a.kind in ("update", "merge", "fallback")]
        deletes = [a for a in actions if a.kind == "delete"]
        results: list[WriteResult] = []

        async def run_creates() -> None:
            for start in range(0, len(creates), BULK_MAX):
                results.extend(await self._create_many(creates[start : start + BULK_MAX], mapper))

        async def run_replaces() -> None:
            for action in replaces:
                results.append(await self._replace(action, mapper))

        async def run_deletes() -> None:
            for action in deletes:
                results.append(await self._guard(action, self._delete(action)))

        await asyncio.gather(run_creates(), run_replaces(), run_deletes())
        return results

    async def _guard(self, action: Action, work: Any) -> WriteResult:
        if self.down is not None:
            work.close()
            return WriteResult(action, False, error=f"not sent: {self.down}")
        try:
            result: WriteResult = await work
            return result
        except AuthError:
            raise
        except Unreachable as exc:
            self.down = exc.message
            return WriteResult(action, False, error=exc.message, uncertain=True)
        except ProviderError as exc:
            return WriteResult(action, False, error=exc.message)

    async def _create_one(self, action: Action, mapper: Mapper) -> WriteResult:
        data = await self.call("createContact", await self._body(action, mapper), idempotent=False)
        contact_id = data.get("contact_id") if isinstance(data, dict) else None
        if not contact_id:
            return WriteResult(action, False, error="createContact answered without a contact_id")
        return WriteResult(action, True, str(contact_id))

    async def _create_many(self, actions: list[Action], mapper: Mapper) -> list[WriteResult]:
        if len(actions) == 1:
            return [await self._guard(actions[0], self._create_one(actions[0], mapper))]
        if self.down is not None:
            return [WriteResult(a, False, error=f"not sent: {self.down}") for a in actions]
        bodies = [await self._body(a, mapper) for a in actions]
        try:
            data = await self.call("createBulkContact", {"contacts": bodies}, idempotent=False)
        except AuthError:
            raise
        except Rejected:
            # one bad item refuses the whole request: send them one by one, so only that one fails
            return [await self._guard(a, self._create_one(a, mapper)) for a in actions]
        except Unreachable as exc:
            self.down = exc.message
            return [WriteResult(a, False, error=exc.message, uncertain=True) for a in actions]
        except ProviderError as exc:
            return [WriteResult(a, False, error=exc.message, uncertain=True) for a in actions]
        if not isinstance(data, list) or len(data) != len(actions):
            return [WriteResult(a, False, error="createBulkContact answered an unexpected list", uncertain=True)
                    for a in actions]  # fmt: skip
        return [
            WriteResult(a, True, str(item["contact_id"]))
            if isinstance(item, dict) and item.get("contact_id")
            else WriteResult(a, False, error="createBulkContact answered without a contact_id", uncertain=True)
            for a, item in zip(actions, data, strict=True)
        ]

    async def _replace(self, action: Action, mapper: Mapper) -> WriteResult:
        created = await self._guard(action, self._create_one(action, mapper))
        if not created.ok:
            return created
        try:
            await self._delete_id(str(action.remote_id))
        except AuthError:
            raise
        except ProviderError as exc:
            # the new contact exists, the old one too: the journal stays pending and the next run finishes
            return WriteResult(action, False, created.remote_id, f"replaced, but the old contact stays: {exc.message}",
                               uncertain=True)  # fmt: skip
        return created

    async def _delete_id(self, contact_id: str) -> None:
        try:
            await self.call("deleteContact", {"contact_id": contact_id})
        except Rejected as exc:
            if "not found" not in exc.message.lower():
                raise

    async def _delete(self, action: Action) -> WriteResult:
        await self._delete_id(str(action.remote_id))
        return WriteResult(action, True, action.remote_id)
