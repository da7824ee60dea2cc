"""Callyzer leads: /lead/get in pages of 100, every write through /lead/bulksave in full batches.

bulksave carries the job's ``existing_lead`` policy at request level, so a lead sent without an id is
merged by Callyzer itself into the lead that holds its number. Its answer lists saved leads and per-lead
errors without indexes: results are matched back by contact number, so no batch ever holds two leads
that share a number.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from syncd import canonical
from syncd.config.schema import CALLYZER_PAGE_MAX
from syncd.connectors.base import Connector, WriteResult
from syncd.connectors.errors import AuthError, ProviderError, Retryable, Unreachable
from syncd.engine.model import Action, ExistingLead
from syncd.mapping import paths
from syncd.mapping.apply import Mapper

DETAIL_KEYS = (
    "first_name", "last_name", "email", "company_name", "address1", "address2", "city", "state", "country", "zip",
    "source", "description", "price",
)  # fmt: skip
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: 400s Callyzer has been seen to answer with a raw database error that succeeds on retry
_TRANSIENT_400 = re.compile(r"sql|database|deadlock|could not execute|connection", re.IGNORECASE)
_EMPLOYEE = re.compile(r"\(\+?([\d-]+)\)")
_EXISTING_WORDS = {
    "ignore": "ignore",
    "overwrite": "overwrite",
    "update_blank_only": "updateBlankOnly",
    "append": "append",
}


def number_key(number: str) -> str:
    """Callyzer's identity of a number: the digits after the country-code hyphen."""
    return re.sub(r"\D", "", number.split("-", 1)[-1])


def _check(system: str, endpoint: str) -> Any:
    def check(response: httpx.Response, body: Any) -> None:
        if not isinstance(body, dict) or "result" not in body:
            raise Retryable(system, f"{endpoint} answered {response.status_code} without Callyzer's envelope")
        if response.status_code == 400 and _TRANSIENT_400.search(str(body.get("message", ""))):
            raise Retryable(system, f"{endpoint}: transient error: {body.get('message')}")

    return check


class Callyzer(Connector):
    kind = "callyzer"
    native_merge = True
    can_delete = False  # the API has no lead delete: the job's fallback (tag or status) applies
    existing_lead: ExistingLead = ExistingLead()
    streams = True  # read once, page after page: a listing of 1M leads takes 5.5 hours
    batches = True  # bulksave: 100 leads a call

    def auth_headers(self, secrets: dict[str, str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {secrets['token']}"}

    async def fetch(self) -> list[dict[str, Any]]:
        leads: list[dict[str, Any]] = []
        page, read = 1, 0
        size = self.cfg.page_size or CALLYZER_PAGE_MAX  # the fewest pages, unless the config says otherwise
        while True:
            response, body = await self.http.request(
                "POST",
                "/lead/get",
                json_body={"page_no": page, "page_size": size},
                check=_check(self.name, "/lead/get"),
            )
            result = body.get("result")
            if result is None:
                break
            if not isinstance(result, list):
                raise ProviderError(self.name, f"/lead/get page {page}: result is not a list of leads")
            leads.extend(self.page_read(self.records_of(result, f"/lead/get page {page}", "id"), response.content))
            read += len(result)  # a skipped item still counts against total_records
            total = body.get("total_records")
            if not isinstance(total, int):
                raise ProviderError(self.name, f"/lead/get page {page}: total_records missing")
            if read >= total or len(result) < size:
                break
            page += 1
        return leads

    # --- the write model ------------------------------------------------------------------------
    def simulate(self, current: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
        """With an id, each non-blank value replaces the stored one and blanks keep it (the API cannot
        clear a field); given tags replace the tags; given numbers replace the numbers."""
        details = payload.get("details") or {}
        tags = payload.get("lead_tags") or []
        status = (payload.get("status") or {}).get("lead_status")
        if current is None:
            out: dict[str, Any] = {"details": {k: details.get(k) or "" for k in DETAIL_KEYS}}
            out["details"]["contact_numbers"] = list(details.get("contact_numbers") or [])
            out["lead_tags"] = list(tags)
            out["status"] = {"lead_status": status or ""}
            return out
        out = paths.copy_json(current)
        stored = out.setdefault("details", {})
        for key in DETAIL_KEYS:
            if not canonical.is_blank(details.get(key)):
                stored[key] = details[key]
        if details.get("contact_numbers"):
            stored["contact_numbers"] = list(details["contact_numbers"])
        if tags:
            out["lead_tags"] = list(tags)
        if not canonical.is_blank(status):
            out.setdefault("status", {})["lead_status"] = status
        return out

    def validate(self, payload: dict[str, Any]) -> list[str]:
        """bulksave refuses an e-mail that is not a@b.c (the mapping checks its length): found before sending."""
        email = (payload.get("details") or {}).get("email")
        if isinstance(email, str) and email.strip() and not _EMAIL.match(email.strip()):
            return [f"email: {email!r} is not an e-mail address Callyzer accepts"]
        return []

    # --- writes ---------------------------------------------------------------------------------
    def _assignment(self, current: dict[str, Any] | None) -> dict[str, Any]:
        cfg = self.cfg.assignment
        if current is not None:  # keep the lead's assignees: an update must not reassign it
            assigned = current.get("assigned_to") or {}
            numbers = [m.group(1) for e in assigned.get("employee") or [] if (m := _EMPLOYEE.search(str(e)))]
            if numbers and str(assigned.get("all_employees")).lower() != "true":
                return {"strategy": "Assign to All Selected", "emp_numbers": numbers}
            return {"strategy": cfg.strategy}
        out: dict[str, Any] = {"strategy": cfg.strategy}
        if cfg.emp_numbers:
            out["emp_numbers"] = list(cfg.emp_numbers)
        elif cfg.emp_tags:
            out["emp_tags"] = list(cfg.emp_tags)
        return out

    def lead_body(self, action: Action, mapper: Mapper) -> dict[str, Any]:
        base = action.base_raw if action.kind != "merge" else None
        raw = mapper.to_provider(action.desired, base)
        details = raw.get("details") or {}
        lead: dict[str, Any] = {k: details[k] for k in DETAIL_KEYS if not canonical.is_blank(details.get(k))}
        lead["contact_numbers"] = [n for n in details.get("contact_numbers") or [] if n]
        if raw.get("lead_tags"):
            lead["lead_tags"] = list(raw["lead_tags"])
        status = (raw.get("status") or {}).get("lead_status")
        if not canonical.is_blank(status):
            lead["lead_status"] = status
        lead["assignment"] = self._assignment(action.base_raw if action.kind in ("update", "fallback") else None)
        if action.kind in ("update", "fallback"):
            lead["id"] = action.remote_id
        return lead

    def _batches(self, bodies: list[tuple[Action, dict[str, Any]]]) -> list[list[tuple[Action, dict[str, Any]]]]:
        batches: list[list[tuple[Action, dict[str, Any]]]] = []
        keys: list[set[str]] = []
        for item in bodies:
            numbers = {number_key(n) for n in item[1]["contact_numbers"]}
            for batch, used in zip(batches, keys, strict=True):
                if len(batch) < self.cfg.bulk_size and not numbers & used:
                    batch.append(item)
                    used |= numbers
                    break
            else:
                batches.append([item])
                keys.append(set(numbers))
        return batches

    @property
    def write_chunk(self) -> int:  # type: ignore[override]
        return self.cfg.bulk_size

    def expected_calls(self, actions: list[Action]) -> int:
        return -(-len(actions) // self.cfg.bulk_size)

    async def write(self, actions: list[Action], mapper: Mapper) -> list[WriteResult]:
        bodies = [(a, self.lead_body(a, mapper)) for a in actions]
        results: list[WriteResult] = []
        for batch in self._batches(bodies):
            if self.down is not None:
                results.extend(WriteResult(a, False, error=f"not sent: {self.down}") for a, _ in batch)
                continue
            results.extend(await self._bulksave(batch))
        return results

    async def _bulksave(self, batch: list[tuple[Action, dict[str, Any]]]) -> list[WriteResult]:
        policy = self.existing_lead
        request = {
            "leads": [body for _, body in batch],
            "existing_lead": {
                "lead_details": _EXISTING_WORDS[policy.lead_details],
                "lead_tags": _EXISTING_WORDS[policy.lead_tags],
                "assignee": _EXISTING_WORDS[policy.assignee],
            },
        }
        try:
            _, body = await self.http.request(
                "POST", "/lead/bulksave", json_body=request, check=_check(self.name, "/lead/bulksave")
            )
        except AuthError:
            raise
        except Unreachable as exc:
            self.down = exc.message
            return [WriteResult(a, False, error=exc.message) for a, _ in batch]
        except ProviderError as exc:
            return [WriteResult(a, False, error=exc.message) for a, _ in batch]
        result = body.get("result") if isinstance(body, dict) else None
        saved = result.get("savedLeads") if isinstance(result, dict) else None
        errors = result.get("errors") if isinstance(result, dict) else None
        if not isinstance(saved, list) or not isinstance(errors, list):
            return [WriteResult(a, False, error="bulksave answered without savedLeads/errors") for a, _ in batch]
        pending = {id(a): (a, {number_key(n) for n in b["contact_numbers"]}) for a, b in batch}
        out: list[WriteResult] = []
        for item, ok in [(s, True) for s in saved] + [(e, False) for e in errors]:
            numbers = {number_key(str(n)) for n in (item.get("contact_numbers") or []) if n}
            found = next((k for k, (_, keys) in pending.items() if keys & numbers), None)
            if found is None:
                continue
            action, _ = pending.pop(found)
            if ok:
                out.append(WriteResult(action, True, str(item.get("id") or action.remote_id)))
            else:
                out.append(WriteResult(action, False, error=str(item.get("errorMessage") or "rejected")))
        out.extend(WriteResult(a, False, error="Callyzer did not report this lead") for a, _ in pending.values())
        return out
