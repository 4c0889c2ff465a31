"""Who is signed in to the console: the session cookie, its resumption on every request,
and the CSRF token every form carries.

The browser holds one random token in an HttpOnly, SameSite=Strict cookie scoped to
``/console`` (Secure when served over HTTPS); the session itself is kept on the server
(:mod:`market.participants.services.console_sessions`). A form's CSRF token is an HMAC of
the session id under the application's secret, so it needs no storage and dies with the
session. The login form, before any session exists, is protected by a double-submit
cookie of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, g, request
from werkzeug.wrappers import Response

from market.kernel.actor import Actor, system_actor
from market.kernel.db import writing
from market.kernel.uow import UnitOfWork
from market.kernel.web import state
from market.kernel.web.context import request_sessions
from market.participants import services as participants
from market.participants.errors import ConsoleSessionEnded

COOKIE = "market_console"
LOGIN_COOKIE = "market_console_login"
LANGUAGE_COOKIE = "market_console_lang"
PATH = "/console"
CSRF_FIELD = "csrf_token"
# Reads and bookkeeping of sessions before anyone is known.
CONSOLE = system_actor("console")


@dataclass(frozen=True)
class SignedIn:
    """The person behind a console request."""

    session_id: str
    actor: Actor
    csrf_token: str

    def holds(self, *roles: str) -> bool:
        return self.actor.has_role(*roles)


def _uow(actor: Actor) -> UnitOfWork:
    st = state()
    return UnitOfWork(request_sessions(), st.clock, actor, request_id=g.get("request_id"))


def csrf_token_for(session_id: str) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, b"console-csrf:" + session_id.encode(), hashlib.sha256).hexdigest()


def signed_in() -> SignedIn | None:
    """The session this request's cookie names, if it is still usable (see
    :func:`market.participants.services.resume_console_session`); its last use is noted at
    most once a minute."""
    if "console_user" in g:
        return g.console_user  # type: ignore[no-any-return]
    found: SignedIn | None = None
    token = request.cookies.get(COOKIE)
    if token:
        settings = state().settings
        try:
            resumed = participants.resume_console_session(
                token, uow=_uow(CONSOLE),
                idle=timedelta(minutes=settings.console_idle_minutes))
        except ConsoleSessionEnded:
            resumed = None
        if resumed is not None:
            if resumed.touch_due:
                with writing():
                    participants.touch_console_session(resumed.session_id,
                                                       uow=_uow(resumed.actor))
            found = SignedIn(resumed.session_id, resumed.actor,
                             csrf_token_for(resumed.session_id))
    g.console_user = found
    return found


def open_session(api_key: str) -> tuple[str, SignedIn]:
    """Exchange an API key for a session: the cookie's token and who signed in.

    Raises:
        InvalidApiKey, ParticipantNotAdmitted: as the API would for this key.
    """
    settings = state().settings
    with writing():
        opened = participants.open_console_session(
            api_key, uow=_uow(CONSOLE),
            lifetime=timedelta(hours=settings.console_lifetime_hours))
    user = SignedIn(opened.session_id, opened.actor, csrf_token_for(opened.session_id))
    g.console_user = user
    return opened.token, user


def close_session() -> None:
    token = request.cookies.get(COOKIE)
    user = g.get("console_user")
    if token:
        with writing():
            participants.close_console_session(
                token, uow=_uow(user.actor if user is not None else CONSOLE))
    g.console_user = None


def set_session_cookie(response: Response, token: str) -> None:
    settings = state().settings
    response.set_cookie(COOKIE, token, max_age=settings.console_lifetime_hours * 3600,
                        path=PATH, secure=request.is_secure, httponly=True, samesite="Strict")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, secure=request.is_secure, httponly=True,
                           samesite="Strict")


# -- the login form's double-submit token -------------------------------------------------


def login_token() -> str:
    """The login form's CSRF token: the one in its cookie, or a new one (set by
    :func:`keep_login_token`)."""
    token = request.cookies.get(LOGIN_COOKIE)
    if not token or len(token) > 100:
        token = g.get("console_login_token") or secrets.token_urlsafe(24)
    g.console_login_token = token
    return token


def keep_login_token(response: Response) -> None:
    token = g.get("console_login_token")
    if token and request.cookies.get(LOGIN_COOKIE) != token:
        response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path=PATH,
                            secure=request.is_secure, httponly=True, samesite="Strict")


def login_csrf_ok() -> bool:
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    sent = request.form.get(CSRF_FIELD, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), sent.encode())


def csrf_ok(user: SignedIn) -> bool:
    sent = request.form.get(CSRF_FIELD, "")
    return hmac.compare_digest(user.csrf_token.encode(), sent.encode())
