"""One paced, retrying HTTP client per system, shared by its connector.

Pacing keeps every client inside its provider's documented limits so the server never has to answer
429; retries (tenacity) cover what still goes wrong: 429 with Retry-After (seconds or an HTTP date),
5xx, dropped connections. Credentials never reach a log line or an error message.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from syncd.config.schema import RetryConfig
from syncd.connectors.errors import AuthError, Rejected, Retryable, Unreachable
from syncd.connectors.pacing import PaceBook, Pacer

log = structlog.get_logger("syncd.http")


@dataclass
class CallStats:
    calls: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0  # 429s received
    retries: int = 0
    wait_seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "by_endpoint": dict(self.by_endpoint),
            "rate_limited": self.rate_limited,
            "retries": self.retries,
        }


def parse_retry_after(value: str | None) -> float | None:
    """Seconds (integer or decimal) or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


Classifier = Callable[[httpx.Response, Any], Any]


class PacedClient:
    """Paces by a global interval and, optionally, a per-endpoint one (Callsavvy's 100/min and 50/min)."""

    def __init__(
        self,
        system: str,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | None = None,
        interval: float,
        endpoint_interval: float | None,
        margin: float,
        jitter: float = 0.0,
        retry: RetryConfig,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        pacers: PaceBook | None = None,
    ) -> None:
        """``pacers``: the process's, shared by every client of the system (another job's); else its own."""
        self.system = system
        self.stats = CallStats()
        self.retry = retry
        # one call per interval, no burst: a sliding-window server never sees two inside its window,
        # as long as the network's jitter stays inside the ``jitter`` allowance
        self.interval = interval * (1 + margin) + jitter
        self.pacers = pacers if pacers is not None else PaceBook()
        self._global = self.pacers.pacer(system, "", self.interval)
        self._endpoint_interval = endpoint_interval * (1 + margin) + jitter if endpoint_interval else None
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers or {},
            auth=auth,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _pace(self, endpoint: str) -> list[tuple[Pacer, float]]:
        pacers = []
        if self._endpoint_interval is not None:
            pacers.append(self.pacers.pacer(self.system, endpoint, self._endpoint_interval))
        pacers.append(self._global)
        return [(p, await p.acquire()) for p in pacers]

    async def request(
        self,
        method: str,
        endpoint: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        idempotent: bool = True,
        check: Callable[[httpx.Response, Any], None] | None = None,
        object_hook: Callable[[dict[str, Any]], Any] | None = None,
    ) -> tuple[httpx.Response, Any]:
        """Sends one call (retrying as allowed) and returns the response with its parsed JSON body.
        ``object_hook``: given each JSON object as it is parsed, innermost first (``json.loads``); what it
        returns stands in the body instead (a large listing kept compact while the rest of it is parsed).

        ``idempotent=False`` (a create with no natural key): only retried when the request surely did
        not land (429, connection refused); an ambiguous failure is reported, and the next run's full
        listing finds the record if it was created after all.
        """

        def should_retry(exc: BaseException) -> bool:
            return isinstance(exc, Retryable) and (idempotent or not exc.sent)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            retry_after = exc.retry_after if isinstance(exc, Retryable) else None
            delay = retry_after if retry_after is not None else self.retry.backoff * 2 ** (state.attempt_number - 1)
            delay = min(delay, self.retry.max_wait)
            self.stats.retries += 1
            self.stats.wait_seconds += delay
            log.warning(
                "retrying",
                system=self.system,
                endpoint=endpoint,
                attempt=state.attempt_number,
                wait=round(delay, 3),
                error=str(exc),
            )
            return delay

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=wait,
            retry=retry_if_exception(should_retry),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._once(method, endpoint, json_body, params, check, object_hook)
        except Retryable as exc:
            raise Unreachable(self.system, f"{endpoint}: {exc.message} (gave up after retries)") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self,
        method: str,
        endpoint: str,
        json_body: Any,
        params: dict[str, Any] | None,
        check: Callable[[httpx.Response, Any], None] | None,
        object_hook: Callable[[dict[str, Any]], Any] | None = None,
    ) -> tuple[httpx.Response, Any]:
        turns = await self._pace(endpoint)
        self.stats.calls += 1
        self.stats.by_endpoint[endpoint] += 1
        try:
            response = await self._client.request(method, endpoint, json=json_body, params=params)
            answered = time.monotonic()
            for pacer, sent in turns:
                pacer.answered(sent, answered - sent)
        except httpx.ConnectError as exc:
            raise Retryable(self.system, f"cannot connect: {type(exc).__name__}", sent=False) from None
        except httpx.TimeoutException as exc:
            raise Retryable(self.system, f"timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise Retryable(self.system, f"connection failed: {type(exc).__name__}") from None
        status = response.status_code
        if status == 429:
            self.stats.rate_limited += 1
            raise Retryable(
                self.system, "429 Too Many Requests", parse_retry_after(response.headers.get("Retry-After")), sent=False
            )
        body: Any = None
        try:
            if not response.content:
                body = None
            elif object_hook is None:
                body = response.json()
            else:
                body = json.loads(response.content, object_hook=object_hook)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if status < 500:
                raise Retryable(self.system, f"{endpoint} answered {status} with a body that is not JSON") from None
        message = _message(body)
        if status in (401, 403):
            raise AuthError(self.system, f"{status} {message or response.reason_phrase} — check the credentials")
        if status >= 500:
            raise Retryable(self.system, f"{endpoint} answered {status} {message or response.reason_phrase}")
        if check is not None:
            check(response, body)
        if status >= 400:
            raise Rejected(self.system, f"{endpoint} answered {status}: {message or response.reason_phrase}")
        return response, body


def _message(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("message", "error", "errors"):
            if body.get(key):
                return str(body[key])
    return ""
