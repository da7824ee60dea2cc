"""Apps API (contact-center platform): contact-list entries and outbound-dialer campaign contacts.

One connector per job system: ``AppsApiListEntries`` syncs the entries of one contact list (a custom
list by id, or the global list with ``list_id = "global"``), ``AppsApiCampaignContacts`` the contacts of
one campaign (``campaign_id``). Both read with the fewest pages the API allows (``per`` 999, paged by
the ``Total`` header) and write one record per call, in sequence (1 request/s per customer).

Every create carries syncd's entity id as ``external_unique_id`` (listed back as ``external_unique_id``
on list entries, ``unique_id`` on campaign contacts; the mapping's ``entity_hint``). The API keeps that
id unique within a list or campaign, so a create whose answer was lost and that did land is recognised
the next time (the listing carries our id, or a repeated create answers 422 "has already been taken"
and the record is looked up) instead of being made twice.

Assumptions where the doc is silent, all in this module and the sim's docstring (syncd/sim/appsapi.py):

* endpoint paths as in the facts sheet (api-docs/README.md), overridable per system in the config
  (``systems.<name>.paths``: ``contact_lists``, ``list_entries``, ``list_entry``, ``campaign_contacts``,
  ``campaign_contact``; placeholders ``{list_id}``, ``{id}``, ``{campaign_id}``);
* ``per`` must be below 1000 (the doc's 400 for users), so a page holds at most 999 (``page_size``);
* lists are JSON arrays with ``Total`` / ``Per-Page`` headers; without them a short page ends the list;
* a PATCH changes only the keys it is sent, and a blank string or null clears a field (text is
  stored stripped): ``simulate`` models exactly that;
* errors are ``{"message": ...}`` (422 adds Rails-style ``errors``); a duplicate ``external_unique_id``
  is a 422 naming that key; DELETE of a record that is already gone is a 404 (counted as done);
* text fields hold at most 255 characters and e-mails look like ``a@b.c`` (checked before sending).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, ClassVar

import httpx

from syncd.connectors.base import Connector, WriteResult
from syncd.connectors.errors import AuthError, ProviderError, Rejected, Unreachable
from syncd.engine.model import Action, flat, sum_of
from syncd.mapping.apply import Mapper

#: the largest ``per`` the API takes ("a valid integer less than 1000")
MAX_PER = 999
#: endpoint paths the doc does not spell out (facts sheet); ``systems.<name>.paths`` overrides them
DEFAULT_PATHS: dict[str, str] = {
    "contact_lists": "/contact_lists",
    "list_entries": "/contact_lists/{list_id}/contacts",
    "list_entry": "/contact_lists/{list_id}/contacts/{id}",
    "campaign_contacts": "/outbound_dialer/campaigns/{campaign_id}/contacts",
    "campaign_contact": "/outbound_dialer/campaigns/{campaign_id}/contact",
}
#: longest text the API stores (assumption: Rails' default string column)
MAX_TEXT = 255
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: a 422 that says our idempotency key is taken: the record was created before (a lost answer)
_TAKEN = re.compile(r"external_unique_id.*(taken|exists|duplicate|unique)", re.IGNORECASE | re.DOTALL)
#: a listing is read again at most this often when it changes while being paged (then: incomplete)
_LISTING_ATTEMPTS = 2


class _Duplicate(Rejected):
    """POST answered 422: the external_unique_id is taken."""


class _Gone(Rejected):
    """The record (or its list/campaign) no longer exists: 404."""


def _norm(value: Any) -> Any:
    """A value as the API stores it: text stripped, and blank text is null."""
    if isinstance(value, str):
        return value.strip() or None
    return value


def _digest(row: dict[str, Any]) -> bytes:
    """A listed record's content: enough to tell a record read twice from two records under one id. The runner's
    listing memo knows the record by this very digest, so it goes on with the page (``Connector.page_read``)."""
    return sum_of(flat(row))


def _int_header(response: httpx.Response, name: str) -> int | None:
    raw = response.headers.get(name)
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw.strip())


def _message(body: Any, response: httpx.Response) -> str:
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return response.reason_phrase or str(response.status_code)


class _AppsApi(Connector):
    """What list entries and campaign contacts share: auth, paging, the write loop and the write model."""

    kind = "appsapi"
    #: its pages are the listing (a listing that changed while paged is read again: restart_listing first)
    streams = True
    #: the keys a client may write (sent by create and PATCH; the rest of a listed record is the server's)
    write_keys: ClassVar[tuple[str, ...]]
    #: where the listing shows the external_unique_id we sent
    listed_key: ClassVar[str]
    #: records by their external id, read when a create answers "already taken" (one write batch)
    _found: dict[str, dict[str, Any]] | None = None

    def auth(self, secrets: dict[str, str]) -> httpx.Auth | None:
        return httpx.BasicAuth(self.cfg.subdomain or "", secrets["token"])

    # --- paths ----------------------------------------------------------------------------------
    def _path(self, name: str, **values: Any) -> str:
        template = self.path(name, DEFAULT_PATHS[name])
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError) as exc:
            raise ProviderError(
                self.name, f"paths.{name} = {template!r}: bad placeholder ({exc}); known: {', '.join(values)}"
            ) from None

    async def _collection(self) -> str:
        """The listing and create path of the synced list or campaign."""
        raise NotImplementedError

    async def _where(self) -> str:
        """The synced list or campaign, for messages."""
        raise NotImplementedError

    # --- reading --------------------------------------------------------------------------------
    async def fetch(self) -> list[dict[str, Any]]:
        return await self._list_all(await self._collection(), await self._where(), emit=True)

    async def _list_all(self, path: str, what: str, *, emit: bool = False) -> list[dict[str, Any]]:
        """Every record under ``path``, in ceil(N / per) calls (one when empty).

        Paging is by offset, so a record deleted elsewhere between two pages would shift another one
        out of sight, and a partial listing must never look complete (deletes are inferred from it):
        when ``Total`` changes between pages, or the records read do not add up to it, the listing is
        read once more, then given up as incomplete.
        """
        for attempt in range(_LISTING_ATTEMPTS):
            if attempt and emit:
                self.restart_listing()
            rows, consistent = await self._pages(path, what, emit)
            if consistent:
                return rows
        raise ProviderError(self.name, f"{what} kept changing while it was read page by page; left alone this run")

    async def _pages(self, path: str, what: str, emit: bool) -> tuple[list[dict[str, Any]], bool]:
        per = self.cfg.page_size or MAX_PER

        def check(response: httpx.Response, body: Any) -> None:
            if response.status_code == 404:
                raise ProviderError(self.name, f"{what} does not exist (404: {_message(body, response)})")

        rows: list[dict[str, Any]] = []
        seen: dict[Any, bytes] = {}  # id → digest of the record first read under it (not the record: it streams)
        totals: set[int] = set()
        read = 0
        page = 1
        while True:
            response, body = await self.http.request("GET", path, params={"page": page, "per": per}, check=check)
            if not isinstance(body, list):
                raise ProviderError(self.name, f"{what} page {page}: the answer is not a JSON array of records")
            total = _int_header(response, "Total")
            if total is not None:
                totals.add(total)
            read += len(body)
            fresh, sums = [], []
            listed = self.records_of(body, f"{what} page {page}", "id")
            for row in listed:
                key = row["id"]
                digest = _digest(row)
                if seen.get(key) == digest:  # a record created meanwhile pushed this one a page on
                    continue
                seen.setdefault(key, digest)  # one id with two contents: both go on, and the plan reports it
                fresh.append(row)
                sums.append(digest)
            # (the answer's bytes decide the page only when no record of it was read on an earlier page)
            whole = response.content if len(fresh) == len(listed) else None
            rows.extend(self.page_read(fresh, whole, sums) if emit else fresh)
            if not body:
                break
            if total is not None:
                if read >= total:
                    break
            elif len(body) < (_int_header(response, "Per-Page") or per):
                break
            page += 1
        # every item the listing counted was read (skipped and repeated ones included): a record that a
        # change elsewhere shifted out of sight leaves ``read`` short of the Total, or changes the Total
        consistent = not totals or (len(totals) == 1 and read == next(iter(totals)))
        return rows, consistent

    # --- the write model ------------------------------------------------------------------------
    def created(self, fields: dict[str, Any]) -> dict[str, Any]:
        """A new record as the listing shows it, from the stored values of ``write_keys``."""
        raise NotImplementedError

    def simulate(self, current: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
        """A create stores the sent keys (blank = null) plus the server's own fields; a PATCH replaces
        the keys it is sent (blank = null, which clears the field) and keeps every other one.

        ``write`` leaves out a key whose new value reads the same through the mapping as the stored one
        (``+1 415-555-0100`` and ``+14155550100``), so that a person's spelling survives: the listing then
        differs from this model only in how such a key is spelled, never in what it reads as.
        """
        if current is None:
            return self.created({key: _norm(payload.get(key)) for key in self.write_keys})
        return {**current, **self.changes(current, payload)}

    def changes(self, current: dict[str, Any], payload: dict[str, Any], mapper: Mapper | None = None) -> dict[str, Any]:
        """The writable keys whose stored value would change, as the API stores them (stripped, blank =
        null). With ``mapper``: only those that also read differently, i.e. what a PATCH must send.
        Keys not sent are left as they are, whoever changed them since the listing."""
        out: dict[str, Any] = {}
        for key in self.write_keys:
            if key not in payload:
                continue
            old, new = _norm(current.get(key)), _norm(payload[key])
            if new == old:
                continue
            if mapper is not None and mapper.to_canonical({key: old}).values == mapper.to_canonical({key: new}).values:
                continue
            out[key] = new
        return out

    def validate(self, payload: dict[str, Any]) -> list[str]:
        problems = []
        for key in self.write_keys:
            value = _norm(payload.get(key))
            if isinstance(value, str) and len(value) > MAX_TEXT:
                problems.append(f"{key}: {len(value)} characters; the Apps API stores at most {MAX_TEXT}")
        email = _norm(payload.get("email"))
        if isinstance(email, str) and not _EMAIL.match(email):
            problems.append(f"email: {email!r} is not an e-mail address the Apps API accepts")
        return problems

    # --- writing --------------------------------------------------------------------------------
    async def write(self, actions: list[Action], mapper: Mapper) -> list[WriteResult]:
        """One call per record, in sequence (the API allows one request per second per customer)."""
        results: list[WriteResult] = []
        self._found = None
        for action in actions:
            if self.down is not None:
                results.append(WriteResult(action, False, error=f"not sent: {self.down}"))
                continue
            try:
                results.append(await self._one(action, mapper))
            except AuthError:
                raise
            except Unreachable as exc:
                self.down = exc.message
                # a create's answer may have been lost after it landed: the journal keeps it pending, and
                # the next listing shows our external_unique_id if it did
                results.append(WriteResult(action, False, error=exc.message, uncertain=action.kind == "create"))
            except ProviderError as exc:
                results.append(WriteResult(action, False, error=exc.message))
        return results

    async def _one(self, action: Action, mapper: Mapper) -> WriteResult:
        if action.kind == "create":
            return await self._create(action, mapper)
        if action.remote_id is None:
            return WriteResult(action, False, error=f"{action.kind} without a remote id")
        if action.kind == "delete":
            with contextlib.suppress(_Gone):  # already gone: what the delete wanted
                await self._send_delete(action.remote_id)
            return WriteResult(action, True, action.remote_id)
        base = action.base_raw or {}
        body = self.changes(base, mapper.to_provider(action.desired, base), mapper)
        if body:
            await self._send_patch(action.remote_id, body)
        return WriteResult(action, True, action.remote_id)

    async def _create(self, action: Action, mapper: Mapper) -> WriteResult:
        payload = mapper.to_provider(action.desired)
        body = {key: value for key in self.write_keys if (value := _norm(payload.get(key))) is not None}
        body["external_unique_id"] = action.entity_id

        def check(response: httpx.Response, data: Any) -> None:
            if response.status_code != 422:
                return
            message = _message(data, response)
            errors = data.get("errors") if isinstance(data, dict) else None
            about_key = _as_list(errors.get("external_unique_id")) if isinstance(errors, dict) else []
            if _TAKEN.search(message) or any(_TAKEN.search(f"external_unique_id {m}") for m in about_key):
                raise _Duplicate(self.name, message)

        try:
            _, data = await self.http.request(
                "POST", await self._collection(), json_body=body, idempotent=False, check=check
            )
        except _Duplicate as exc:
            return await self._adopt(action, payload, mapper, exc.message)
        remote_id = data.get("id") if isinstance(data, dict) else None
        if remote_id is None:
            return WriteResult(action, False, error="create answered without an id", uncertain=True)
        return WriteResult(action, True, str(remote_id))

    async def _adopt(self, action: Action, payload: dict[str, Any], mapper: Mapper, message: str) -> WriteResult:
        """The record with our external_unique_id exists (an earlier create landed): link it, and make
        it hold what this create would have stored, so the recorded last-synced values are true."""
        found = (self._found or {}).get(action.entity_id)
        if found is None:  # read (again): it may have been created since the last lookup
            rows = await self._list_all(await self._collection(), await self._where())
            self._found = {str(r[self.listed_key]): r for r in rows if r.get(self.listed_key) is not None}
            found = self._found.get(action.entity_id)
        if found is None or found.get("id") is None:
            return WriteResult(action, False, error=f"{message} (and no record carries it in the listing)")
        remote_id = str(found["id"])
        body = self.changes(found, payload, mapper)  # the mapped keys only: the others stay as they are
        if body:
            await self._send_patch(remote_id, body)
        return WriteResult(action, True, remote_id)

    async def _send_patch(self, remote_id: str, body: dict[str, Any]) -> None:
        raise NotImplementedError

    async def _send_delete(self, remote_id: str) -> None:
        raise NotImplementedError

    def _gone_check(self, response: httpx.Response, body: Any) -> None:
        if response.status_code == 404:
            raise _Gone(self.name, _message(body, response))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


class AppsApiListEntries(_AppsApi):
    """The entries of one contact list: ``list_id`` an id, or ``"global"`` for the global list."""

    write_keys = ("name", "phone_number", "email")
    listed_key = "external_unique_id"
    _list_id: int | None = None

    async def resolve_list_id(self) -> int:
        """The configured list's id; ``"global"`` is looked up once (GET contact_lists) and kept."""
        if self._list_id is None:
            configured = self.entry.list_id
            if configured is None:
                raise ProviderError(self.name, "no list_id (or campaign_id) is set for this system in the job")
            if configured == "global":
                lists = await self._list_all(self._path("contact_lists"), "the contact lists")
                flagged = [lst for lst in lists if lst.get("global") is True and lst.get("id") is not None]
                if not flagged:
                    raise ProviderError(self.name, "no contact list is flagged global; set list_id to a list's id")
                self._list_id = int(flagged[0]["id"])
            else:
                self._list_id = configured
        return self._list_id

    async def _collection(self) -> str:
        return self._path("list_entries", list_id=await self.resolve_list_id())

    async def _where(self) -> str:
        return f"contact list {await self.resolve_list_id()}"

    def created(self, fields: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": None,
            "contact_list_id": self._list_id,
            **fields,
            "external_unique_id": None,  # syncd's entity id, added at send time
            "created_at": None,
            "updated_at": None,
        }

    async def _send_patch(self, remote_id: str, body: dict[str, Any]) -> None:
        path = self._path("list_entry", list_id=await self.resolve_list_id(), id=remote_id)
        await self.http.request("PATCH", path, json_body=body)

    async def _send_delete(self, remote_id: str) -> None:
        path = self._path("list_entry", list_id=await self.resolve_list_id(), id=remote_id)
        await self.http.request("DELETE", path, check=self._gone_check)


class AppsApiCampaignContacts(_AppsApi):
    """The contacts of one outbound-dialer campaign (``campaign_id``). PATCH and DELETE go to the
    campaign's ``/contact`` with ``contact_id`` in the JSON body; the listing shows our
    external_unique_id as ``unique_id``, and the dialer's own fields (status, priority, assigned_*)."""

    write_keys = ("name", "phone_number", "email", "outbound_number")
    listed_key = "unique_id"

    def _campaign_id(self) -> int:
        if self.entry.campaign_id is None:
            raise ProviderError(self.name, "no campaign_id is set for this system in the job")
        return self.entry.campaign_id

    async def _collection(self) -> str:
        return self._path("campaign_contacts", campaign_id=self._campaign_id())

    async def _where(self) -> str:
        return f"campaign {self._campaign_id()}"

    def created(self, fields: dict[str, Any]) -> dict[str, Any]:
        return {
            "assigned_call_id": None,
            "assigned_participant_id": None,
            "campaign_id": self.entry.campaign_id,
            "created_at": None,
            "id": None,
            **fields,
            "priority": None,
            "status": "Upcoming",
            "unique_id": None,  # syncd's entity id, added at send time
            "updated_at": None,
        }

    def _contact_id(self, remote_id: str) -> int:
        try:
            return int(remote_id)
        except ValueError:
            raise ProviderError(self.name, f"campaign contact id {remote_id!r} is not an integer") from None

    async def _send_patch(self, remote_id: str, body: dict[str, Any]) -> None:
        path = self._path("campaign_contact", campaign_id=self._campaign_id())
        await self.http.request("PATCH", path, json_body={"contact_id": self._contact_id(remote_id), **body})

    async def _send_delete(self, remote_id: str) -> None:
        path = self._path("campaign_contact", campaign_id=self._campaign_id())
        body = {"contact_id": self._contact_id(remote_id)}
        await self.http.request("DELETE", path, json_body=body, check=self._gone_check)
