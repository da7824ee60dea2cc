"""What every Callsavvy connector shares: the key headers, the JSON-POST call, the envelope, e-mail rules."""

from __future__ import annotations

import re
from typing import Any

import httpx

from syncd.connectors.base import Connector
from syncd.connectors.errors import Rejected, Retryable

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


class CallsavvyConnector(Connector):
    kind = "callsavvy"

    def auth_headers(self, secrets: dict[str, str]) -> dict[str, str]:
        return {"Public-Key": secrets["public_key"], "Private-Key": secrets["private_key"]}

    async def call(self, resource: str, body: dict[str, Any], *, idempotent: bool = True) -> Any:
        """POSTs to one resource and answers its `data`."""
        _, data = await self.http.request(
            "POST", f"/{resource}", json_body=body, idempotent=idempotent, check=check_envelope(self.name, resource)
        )
        return data.get("data")
