"""The HTTP core: one httpx client, retries with backoff and jitter, Idempotency-Key per
creating call (the same key on every retry of that call), problem+json turned into
exceptions, and cursor pages walked lazily."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from market_client.errors import ConnectionFailed, error_for, problem_of, retry_after_seconds

API_PREFIX = "/api/v1"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# A 409 with this code means the first request with the same key is still running: waiting
# and sending the same key again gets its answer. Any other 409 is final.
IN_FLIGHT = "idempotency_request_in_flight"
# Answers that say nothing was done, so that sending the request again is always safe.
NOTHING_DONE = frozenset({429, 503})
MAX_BACKOFF = 30.0
# Errors raised before the request left this machine: safe to send again whatever it was.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Errors after which the request may or may not have reached the exchange.
LOST = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)

Params = Mapping[str, Any]


def query(params: Params | None) -> dict[str, str]:
    """Query parameters as the API reads them: ``None`` left out, booleans lowercase."""
    found: dict[str, str] = {}
    for name, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            found[name] = "true" if value else "false"
        else:
            found[name] = str(value)
    return found


class Http:
    """Requests to one exchange with one API key; see :class:`market_client.Client`."""

    def __init__(self, base_url: str, api_key: str | None, *,
                 transport: httpx.BaseTransport | None, timeout: float, retries: int,
                 backoff: float, language: str | None, max_wait: float,
                 sleep: Callable[[float], None], user_agent: str, page_size: int) -> None:
        root = base_url.rstrip("/")
        root = root.removesuffix(API_PREFIX)
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if language:
            headers["Accept-Language"] = language
        self.retries = max(0, retries)
        self.backoff = max(0.0, backoff)
        self.max_wait = max_wait
        self.sleep = sleep
        self.page_size = page_size
        self.client = httpx.Client(base_url=root, headers=headers, transport=transport,
                                   timeout=timeout)

    def close(self) -> None:
        self.client.close()

    # -- retries -------------------------------------------------------------------------

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with equal jitter, never less than ``Retry-After``."""
        ceiling = min(MAX_BACKOFF, self.backoff * (2.0 ** attempt))
        wait = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not secrets
        return max(wait, retry_after or 0.0)

    def _may_retry_status(self, response: httpx.Response, repeatable: bool) -> bool:
        status = response.status_code
        if status in NOTHING_DONE:
            return True
        if not repeatable:
            return False
        if status >= 500:
            return True
        return status == 409 and problem_of(response).get("code") == IN_FLIGHT

    def _wait_for(self, response: httpx.Response, attempt: int) -> float | None:
        """How long to wait before the next attempt, or None when the wait the exchange
        asks for is longer than this client will wait."""
        asked = retry_after_seconds(response.headers.get("retry-after"))
        if asked is not None and asked > self.max_wait:
            return None
        return self.delay(attempt, asked)

    # -- requests ------------------------------------------------------------------------

    def send(self, method: str, path: str, *, params: Params | None = None,
             json: Any = None, files: Any = None, data: Any = None,
             headers: Mapping[str, str] | None = None, idempotent: bool = False,
             idempotency_key: str | None = None, stream: bool = False) -> httpx.Response:
        """Send a request, retrying what is safe to retry; raise on an error answer.

        ``idempotent`` marks a creating POST the API deduplicates by ``Idempotency-Key``:
        it gets ``idempotency_key`` or a new uuid4, the same on every attempt. GET, HEAD,
        PUT and DELETE are repeatable by nature; other requests are sent again only when
        they cannot have been received (a refused connection, 429, 503).
        """
        sent = dict(headers or {})
        repeatable = method in ("GET", "HEAD", "PUT", "DELETE")
        if idempotent or idempotency_key:
            sent[IDEMPOTENCY_HEADER] = idempotency_key or str(uuid.uuid4())
            repeatable = True
        url = path if path.startswith(API_PREFIX) else API_PREFIX + path
        request = self.client.build_request(method, url, params=query(params), json=json,
                                            files=files, data=data, headers=sent)
        attempt = 0
        while True:
            try:
                response = self.client.send(request, stream=stream)
            except NOT_SENT as exc:
                if attempt >= self.retries:
                    raise ConnectionFailed(f"{method} {url}: {exc!r}") from exc
                self.sleep(self.delay(attempt, None))
                attempt += 1
                continue
            except LOST as exc:
                if not repeatable or attempt >= self.retries:
                    raise ConnectionFailed(f"{method} {url}: {exc!r}") from exc
                self.sleep(self.delay(attempt, None))
                attempt += 1
                continue
            if response.status_code < 400:
                return response
            if stream:
                response.read()
                response.close()
            wait = (self._wait_for(response, attempt)
                    if attempt < self.retries and self._may_retry_status(response, repeatable)
                    else None)
            if wait is None:
                raise error_for(response)
            self.sleep(wait)
            attempt += 1

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON of a successful answer (None for an empty one)."""
        response = self.send(method, path, **kwargs)
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.json("GET", path, params=params)

    def post(self, path: str, body: Any = None, *, idempotent: bool = False,
             idempotency_key: str | None = None) -> Any:
        return self.json("POST", path, json=body, idempotent=idempotent,
                         idempotency_key=idempotency_key)

    def items(self, path: str, params: Params | None = None, *,
              page_size: int | None = None) -> Iterator[Any]:
        """Every item of a cursor-paged list, fetching each page only when it is reached."""
        cursor: str | None = None
        size = page_size or self.page_size
        while True:
            page = self.json("GET", path, params={**(params or {}), "limit": size,
                                                  "cursor": cursor})
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    @contextmanager
    def stream(self, method: str, path: str, *, params: Params | None = None,
               headers: Mapping[str, str] | None = None) -> Iterator[httpx.Response]:
        """A streamed answer (opened with the same retries as any request), closed after."""
        response = self.send(method, path, params=params, headers=headers, stream=True)
        try:
            yield response
        finally:
            response.close()
