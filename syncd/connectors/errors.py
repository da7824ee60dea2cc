"""What can go wrong talking to a provider, sorted by what the run does about it."""

from __future__ import annotations


class ProviderError(Exception):
    """A call failed; the message is safe to show (no secrets, no payloads)."""

    def __init__(self, system: str, message: str) -> None:
        super().__init__(f"{system}: {message}")
        self.system = system
        self.message = message


class AuthError(ProviderError):
    """401/403: credentials refused or subscription expired. Stops the job; never retried."""


class Unreachable(ProviderError):
    """Transport errors, time-outs or 5xx that outlasted the retries."""


class Rejected(ProviderError):
    """The provider refused this request's content (4xx or an error envelope): a record problem."""


class Retryable(ProviderError):
    """Worth another try: 429, 5xx, a dropped connection, a garbled body, Callyzer's transient 400."""

    def __init__(self, system: str, message: str, retry_after: float | None = None, sent: bool = True) -> None:
        super().__init__(system, message)
        self.retry_after = retry_after
        self.sent = sent  # False: the request surely never reached the server (safe to repeat any write)
