"""The client against the real application, in-process: ``httpx.WSGITransport`` carries
its requests to the app the API tests use (same database transaction, fixed clock), so
every call goes through routing, authentication, the services and the database. Transports
that wrap it only observe the traffic or break the connection (a lost answer, a cut stream),
as a network would; the application is never stood in for."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from flask import Flask
from market_client import Client

from tests.conftest import Party

BASE_URL = "http://market.test"


@dataclass
class Recorder(httpx.BaseTransport):
    """Passes every request on and remembers it with the app's answer."""

    inner: httpx.BaseTransport
    sent: list[tuple[httpx.Request, httpx.Response]] = field(default_factory=list)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.sent.append((request, response))
        return response

    def exchanges(self, method: str | None = None,
                  path: str = "") -> list[tuple[httpx.Request, httpx.Response]]:
        """The requests (and answers) of ``method`` whose path is ``path`` or under it
        (``path`` ending in ``$``: exactly it)."""
        exact = path.endswith("$")
        wanted = path.removesuffix("$")
        return [(r, a) for r, a in self.sent
                if (method is None or r.method == method)
                and (r.url.path == wanted if exact else r.url.path.startswith(wanted))]

    def requests(self, method: str | None = None, path: str = "") -> list[httpx.Request]:
        return [r for r, _ in self.exchanges(method, path)]


@dataclass
class Waits:
    """The client's ``sleep``: records the waits instead of sleeping."""

    seconds: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@dataclass
class Exchange:
    """Clients of the app under test, one per party, all through one recording transport."""

    app: Flask
    recorder: Recorder
    waits: Waits
    _clients: list[Client] = field(default_factory=list)

    def client(self, party: Party | None = None, *, transport: httpx.BaseTransport | None = None,
               **options: Any) -> Client:
        options.setdefault("backoff", 0.0)
        options.setdefault("sleep", self.waits)
        made = Client(BASE_URL, party.token if party else None,
                      transport=transport or self.recorder, **options)
        self._clients.append(made)
        return made

    def close(self) -> None:
        for made in self._clients:
            made.close()


@pytest.fixture
def exchange(app: Flask) -> Iterator[Exchange]:
    found = Exchange(app, Recorder(httpx.WSGITransport(app=app)), Waits())
    yield found
    found.close()
