"""The client: one exchange, one API key, the API's operations grouped by what they act on."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import httpx

from market_client._http import Http
from market_client._listing import Catalog, Demands, Negotiations, Products, Reviews
from market_client._oversight import (
    Alerts,
    Audit,
    Filings,
    Receipts,
    Regulator,
    WebhookEndpoints,
)
from market_client._parties import Participants, Rights
from market_client._trading import Disputes, Ledger, Orders
from market_client.download import Downloaded, Progress, download

VERSION = "0.1.0"


class Client:
    """A client of one exchange's API (``/api/v1``), as the holder of ``api_key``.

    Creating calls send an ``Idempotency-Key`` (a new uuid4 per call, or the
    ``idempotency_key=`` you pass) and reuse it on every retry, so a retried call has one
    effect and gets the first answer. Calls are retried ``retries`` times with exponential
    backoff (``backoff`` seconds doubled each time, with jitter; never sooner than a
    ``Retry-After``, and not at all when that is longer than ``max_wait``) on connection
    errors and timeouts, 429, 5xx, and a 409 saying the same key is still in flight; other
    4xx are raised at once as :class:`market_client.MarketError` subclasses. The ``iter``
    methods walk cursor pages of ``page_size`` items lazily; ``sleep`` is how the client
    waits between attempts.

    Use it as a context manager, or call :meth:`close`::

        with Client("http://127.0.0.1:5000", api_key) as market:
            for filing in market.regulator.iter_filings(sector="transport"):
                ...
    """

    def __init__(self, base_url: str, api_key: str | None = None, *,
                 transport: httpx.BaseTransport | None = None, timeout: float = 30.0,
                 retries: int = 4, backoff: float = 0.5, language: str | None = None,
                 max_wait: float = 60.0, page_size: int = 200,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.http = Http(base_url, api_key, transport=transport, timeout=timeout,
                         retries=retries, backoff=backoff, language=language,
                         max_wait=max_wait, sleep=sleep, page_size=page_size,
                         user_agent=f"market-client/{VERSION} httpx/{httpx.__version__}")
        self.participants = Participants(self.http)
        self.rights = Rights(self.http)
        self.products = Products(self.http)
        self.catalog = Catalog(self.http)
        self.reviews = Reviews(self.http)
        self.demands = Demands(self.http)
        self.negotiations = Negotiations(self.http)
        self.orders = Orders(self.http)
        self.disputes = Disputes(self.http)
        self.ledger = Ledger(self.http)
        self.filings = Filings(self.http)
        self.alerts = Alerts(self.http)
        self.regulator = Regulator(self.http)
        self.audit = Audit(self.http)
        self.receipts = Receipts(self.http)
        self.webhooks = WebhookEndpoints(self.http)

    # -- anything else the API offers ----------------------------------------------------

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, idempotent: bool = False,
                idempotency_key: str | None = None) -> Any:
        """Any operation of the API by its path under ``/api/v1``, with the same retries and
        errors; ``idempotent`` sends an Idempotency-Key (for the creating POSTs)."""
        return self.http.json(method.upper(), path, params=params, json=json,
                              idempotent=idempotent, idempotency_key=idempotency_key)

    def download(self, url: str, dest: str | os.PathLike[str], *,
                 expected_sha256: str | None = None, progress: Progress | None = None,
                 ) -> Downloaded:
        """Download a link (a download token's ``url``) to ``dest``, resumed and checked."""
        return download(self.http, url, dest, expected_sha256=expected_sha256,
                        progress=progress)

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
