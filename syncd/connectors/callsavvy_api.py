"""What every Callsavvy connector shares: the key headers, the JSON-POST call, the envelope, e-mail rules."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from syncd.connectors.base import Connector
from syncd.connectors.errors import ProviderError, Rejected, Retryable
from syncd.engine.model import pack, read_flat, sum_of, unsqueeze

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def email_problems(payload: dict[str, Any]) -> list[str]:
    """Callsavvy refuses an e-mail that is not a@b.c (createLead, createContact): found before sending."""
    email = payload.get("email")
    if isinstance(email, str) and email.strip() and not _EMAIL.match(email.strip()):
        return [f"email: {email!r} is not an e-mail address Callsavvy accepts"]
    return []


def check_envelope(system: str, resource: str) -> Any:
    """`status: error` is an error whatever the HTTP code; no envelope at all is a garbled answer."""

    def check(response: httpx.Response, body: Any) -> None:
        if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
            raise Retryable(system, f"{resource} answered {response.status_code} without Callsavvy's envelope")
        if body["status"] == "error":
            raise Rejected(system, f"{resource}: {body.get('message') or 'error'}")

    return check


class _Packed(bytes):
    """A listed record kept packed (engine.model.pack) from the moment it is parsed until its page is handed on."""

    __slots__ = ()  # (no instance dict: a million of them)


#: records handed on at a time from a listing that came in one answer
HAND_OVER = 100


class CallsavvyConnector(Connector):
    kind = "callsavvy"
    #: getLeads and getContacts are not paged: one answer holds every record. Parsed into dicts, a million
    #: leads are 1.7 GB; each record is packed (~0.1 KB) as the answer is parsed, and handed to the runner in
    #: pages of HAND_OVER, unpacked, so that the runner maps and sets aside each page (see ``listing``)
    streams = True

    def auth_headers(self, secrets: dict[str, str]) -> dict[str, str]:
        return {"Public-Key": secrets["public_key"], "Private-Key": secrets["private_key"]}

    async def call(
        self,
        resource: str,
        body: dict[str, Any],
        *,
        idempotent: bool = True,
        object_hook: Callable[[dict[str, Any]], Any] | None = None,
    ) -> Any:
        """POSTs to one resource and answers its `data`."""
        data, _ = await self.answer(resource, body, idempotent=idempotent, object_hook=object_hook)
        return data

    async def answer(
        self,
        resource: str,
        body: dict[str, Any],
        *,
        idempotent: bool = True,
        object_hook: Callable[[dict[str, Any]], Any] | None = None,
    ) -> tuple[Any, bytes]:
        """:meth:`call`'s `data`, with the answer's bytes."""
        response, data = await self.http.request(
            "POST",
            f"/{resource}",
            json_body=body,
            idempotent=idempotent,
            check=check_envelope(self.name, resource),
            object_hook=object_hook,
        )
        return data.get("data"), response.content

    async def listing(self, resource: str, body: dict[str, Any], id_key: str) -> list[dict[str, Any]]:
        """Every record of an unpaged listing. Each JSON object that carries ``id_key`` is packed as it is parsed
        (the records are flat: nothing inside one carries it), then handed over in pages: to the runner, which
        keeps none of them (:attr:`streams`), or returned, when nobody takes pages."""
        data, _ = await self.answer(resource, body, object_hook=self.compact(id_key))
        return self.hand_over(data, resource, id_key, sums=True)

    def compact(self, id_key: str) -> Callable[[dict[str, Any]], Any]:
        """The JSON object hook of :meth:`listing`: a record (an object that carries ``id_key``) packed."""
        system = self.name

        def hook(obj: dict[str, Any]) -> Any:
            return _Packed(pack(obj, system)) if id_key in obj else obj

        return hook

    def hand_over(self, data: Any, resource: str, id_key: str, *, sums: bool = False) -> list[dict[str, Any]]:
        """The parsed listing's records, unpacked and handed on a page at a time (see :meth:`listing`).

        ``sums``: each record goes with the SHA-256 of its flat bytes, and each page with those digests joined
        (``page_read``'s ``sums`` and ``answer``), so that the runner takes back whole every page whose records are
        all as last listed. An edit then costs only its own page a reading record by record (about 5 µs a record),
        not the whole answer: a steady run's few dozen edits and writes leave most pages of HAND_OVER as they were."""
        system = self.name
        if not isinstance(data, list):
            raise ProviderError(self.name, f"{resource}: data is not a list of records")
        out: list[dict[str, Any]] = []
        for start in range(0, len(data), HAND_OVER):
            end = min(start + HAND_OVER, len(data))
            page: list[Any] = []
            digests: list[bytes] | None = [] if sums else None
            for item in data[start:end]:
                if not isinstance(item, _Packed):
                    page.append(item)  # (not a record: ``records_of`` names it; the page is read record by record)
                    digests = None
                    continue
                plain = unsqueeze(item, system)
                if digests is not None:
                    digests.append(sum_of(plain))
                page.append(read_flat(plain))
            data[start:end] = [None] * (end - start)  # let go of the packed bytes as their page goes on
            records = self.records_of(page, resource, id_key, first=start + 1)
            if digests is not None and len(records) < len(page):  # (items without a usable id: left out)
                kept = {id(rec) for rec in records}
                digests = [d for item, d in zip(page, digests, strict=True) if id(item) in kept]
            source = b"".join(digests) if digests is not None else None  # (the runner hashes it)
            out.extend(self.page_read(records, source, digests))
        return out
