"""The application's web state, the request's connection, request ids, body limits and
language."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast

from flask import Flask, Response, current_app, g, request
from flask_babel import refresh
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from market.kernel.actor import Actor
from market.kernel.clock import Clock
from market.kernel.config import Settings
from market.kernel.db import expect_writes
from market.kernel.errors import (
    InvalidQuery,
    NotFound,
)
from market.kernel.idempotency import (
    IdempotencyStore,
)
from market.kernel.ids import new_id
from market.kernel.web.parsing import UNSTORABLE_TEXT, unstorable_text

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
# WSGI environ key of a request the application makes to itself as a given principal
# (:mod:`.internal`); a server never puts such a key into a client's request.
INTERNAL_ACTOR = "market.internal_actor"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

Authenticator = Callable[[str, Callable[[], Session]], Actor]


@dataclass
class MarketState:
    """What the web layer needs from the application, kept in ``app.extensions``."""

    settings: Settings
    session_factory: sessionmaker[Session]
    clock: Clock
    authenticate: Authenticator
    idempotency: IdempotencyStore


def state() -> MarketState:
    return cast(MarketState, current_app.extensions["market"])


def request_sessions() -> Callable[[], Session]:
    """Sessions for this request, all on one pooled connection taken at its first use and
    given back when the request ends: authenticating the caller and carrying out the use
    case check out (and ping) one connection, not one each."""
    sessions = g.get("market_sessions")
    if sessions is not None:
        return cast(Callable[[], Session], sessions)
    factory = state().session_factory
    bind = factory.kw.get("bind")
    if isinstance(bind, Engine):
        connection = bind.connect()
        g.market_connection = connection
        sessions = functools.partial(factory, bind=connection)
    else:  # already bound to one connection (tests roll it back)
        sessions = factory
    g.market_sessions = sessions
    return cast(Callable[[], Session], sessions)


@contextlib.contextmanager
def autocommitting() -> Iterator[None]:
    """Statements sent inside run on the request's connection in autocommit, for a single
    read that needs no transaction (authenticating the caller): on PostgreSQL one round
    trip instead of three (BEGIN, the read, COMMIT). Elsewhere, and when the request's
    connection is already in a transaction, nothing changes."""
    request_sessions()
    connection = g.get("market_connection")
    if connection is None or connection.dialect.name != "postgresql" \
            or connection.in_transaction():
        yield
        return
    connection.execution_options(isolation_level="AUTOCOMMIT")
    try:
        yield
    finally:
        connection.execution_options(isolation_level=connection.default_isolation_level)


def _release_connection(_error: BaseException | None) -> None:
    expect_writes(True)
    connection = g.pop("market_connection", None)
    g.pop("market_sessions", None)
    if connection is not None:
        connection.close()


# -- request ids, body limits, language ------------------------------------------------


def _begin_request() -> None:
    expect_writes(request.method not in SAFE_METHODS)
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _REQUEST_ID_RE.match(incoming) else new_id("req")
    # g can outlive a request when an app context was already pushed (tests, CLI).
    g.market_actor = request.environ.get(INTERNAL_ACTOR)
    g.idempotency_record_id = None
    refresh()  # Flask-Babel caches the locale on g: choose it again for this request
    if unstorable_text(request.path):
        raise NotFound()
    bad = [name for name, value in request.args.items(multi=True) if unstorable_text(value)]
    if bad:
        raise InvalidQuery(errors={name: [UNSTORABLE_TEXT] for name in bad})


# What a browser may do with a response. The API answers data, never a page: nothing may
# load, frame or submit from it. The interactive documentation (Swagger UI, served from this
# origin with an inline start-up script) is the one page.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
DOCS_PREFIX = "/api/v1/docs"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
HSTS = "max-age=31536000; includeSubDomains"


def _end_request(response: Response) -> Response:
    """Every response, errors included: its request id, no caching by intermediaries, and
    the security headers (HSTS only over HTTPS, where a browser heeds it)."""
    response.headers[REQUEST_ID_HEADER] = getattr(g, "request_id", "")
    response.headers.setdefault("Cache-Control", "no-store")
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault(
        "Content-Security-Policy",
        DOCS_CSP if request.path.startswith(DOCS_PREFIX) else API_CSP)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


LOCALES = ("en", "zh")


def select_locale() -> str:
    """The request's language: one an entry point chose (``g.market_locale``: the console's
    switch), else the best of ``Accept-Language``."""
    try:
        chosen = g.get("market_locale")
        if chosen in LOCALES:
            return str(chosen)
        return request.accept_languages.best_match(list(LOCALES), default="en") or "en"
    except RuntimeError:  # outside a request (CLI)
        return "en"


def register_request_hooks(app: Flask) -> None:
    app.before_request(_begin_request)
    app.after_request(_end_request)
    app.teardown_request(_release_connection)
