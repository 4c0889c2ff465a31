"""What the client raises: problem+json answers as :class:`MarketError` and its subclasses
(one per status family, each carrying the stable ``code``), and the client's own failures
(the connection, a download's checksum, a missing verifier)."""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Mapping
from typing import Any

import httpx


class ClientError(Exception):
    """Anything this client raises on purpose."""


class ConnectionFailed(ClientError):
    """The exchange could not be reached (or the answer was lost) on every attempt."""


class DownloadError(ClientError):
    """A download could not be completed."""


class ChecksumMismatch(DownloadError):
    """The downloaded bytes do not hash to the SHA-256 the exchange declared."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        super().__init__(f"{path}: SHA-256 {actual} does not match the declared {expected}; "
                         "the partial file was removed, so the next attempt starts afresh")
        self.path = path
        self.expected = expected
        self.actual = actual


class VerifierUnavailable(ClientError):
    """Proof-bundle verification needs the exchange's stand-alone verifier."""


class MarketError(ClientError):
    """An error answer of the API (``application/problem+json``, RFC 9457).

    ``code`` is the stable name to switch on; ``errors`` the field errors (field name to
    messages, or ``violations``); ``request_id`` the id to quote to the operator; ``problem``
    the whole body as sent.
    """

    def __init__(self, status: int, problem: Mapping[str, Any], *,
                 headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.problem: dict[str, Any] = dict(problem)
        self.code = str(problem.get("code") or f"http_{status}")
        self.title = str(problem.get("title") or "")
        detail = problem.get("detail")
        self.detail = str(detail) if detail is not None else None
        errors = problem.get("errors")
        self.errors: dict[str, Any] = dict(errors) if isinstance(errors, Mapping) else {}
        found = problem.get("request_id") or (headers or {}).get("x-request-id")
        self.request_id = str(found) if found else None
        self.retry_after = retry_after_seconds((headers or {}).get("retry-after"))
        text = f"{status} {self.code}: {self.detail or self.title}"
        super().__init__(f"{text} (request {self.request_id})" if self.request_id else text)


class InvalidInput(MarketError):
    """400 or 422: the request was malformed or broke a rule; nothing was written."""


class Unprocessable(InvalidInput):
    """422: invalid fields, a business rule violated, or an idempotency key reused."""


class Unauthorized(MarketError):
    """401: no API key, or one that is unknown, expired or revoked."""


class Forbidden(MarketError):
    """403: the key's organisation, role or scope may not do this."""


class NotFound(MarketError):
    """404: no such thing, or none this caller may see."""


class Conflict(MarketError):
    """409: the thing is not in a state that allows this (or the same key is in flight)."""


class RateLimited(MarketError):
    """429: too many requests; ``retry_after`` says how many seconds to wait."""


class ServerError(MarketError):
    """5xx: the exchange failed; 503 ``database_busy`` means nothing was written."""


_BY_STATUS: dict[int, type[MarketError]] = {
    400: InvalidInput, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
    422: Unprocessable, 429: RateLimited,
}


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def problem_of(response: httpx.Response) -> dict[str, Any]:
    """The problem body of an error answer; a stand-in when it is not problem+json (a proxy's
    HTML page, an empty body)."""
    body: Any = None
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    if isinstance(body, dict) and "code" in body:
        return body
    return {"status": response.status_code, "code": f"http_{response.status_code}",
            "title": response.reason_phrase or "HTTP error"}


def error_for(response: httpx.Response) -> MarketError:
    """The exception for an error answer."""
    status = response.status_code
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else MarketError)
    return kind(status, problem_of(response), headers=response.headers)
