"""Signing in and out, the language switch and the home page."""

from __future__ import annotations

from typing import Any

from flask import current_app, make_response, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from market.console.blueprint import ConsolePageNotFound, bp, page, safe_next, user
from market.console.session import (
    LANGUAGE_COOKIE,
    PATH,
    clear_session_cookie,
    close_session,
    keep_login_token,
    login_token,
    open_session,
    set_session_cookie,
    signed_in,
)
from market.kernel.errors import InvalidApiKey, MarketError
from market.kernel.web.context import LOCALES
from market.kernel.web.parsing import unstorable_text

# The first page of each audience, in the order a participant holding several roles sees
# them.
HOMES = (("regulator", "console.regulator_dashboard"), ("operator", "console.operator_queue"),
         ("merchant", "console.merchant_home"), ("buyer", "console.buyer_catalog"))


def _login_page(error: str | None = None, status: int = 200) -> Response:
    response = make_response(render_template(
        "console/login.html", login_token=login_token(), error=error,
        next=request.values.get("next", "")), status)
    keep_login_token(response)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    """Exchange an API key for a console session."""
    if request.method == "GET":
        if signed_in() is not None:
            return redirect(safe_next(request.args.get("next")))
        return _login_page()
    api_key = request.form.get("api_key", "").strip()
    if not api_key:
        return _login_page(gettext("Enter your API key."), 422)
    try:
        if unstorable_text(api_key):  # as the API treats such a bearer token
            raise InvalidApiKey()
        token, _ = open_session(api_key)
    except MarketError as refused:
        return _login_page(gettext(refused.title), refused.status)
    response = redirect(safe_next(request.form.get("next")), code=303)
    set_session_cookie(response, token)
    return response


# Failed logins count against the key id and the address like failed API authentications
# (market.kernel.web.ratelimits): guessing keys here is as slow as through the API.
login._market_key_field = "api_key"  # type: ignore[attr-defined]


@bp.post("/logout")
@page()
def logout() -> Response:
    """End the session (its cookie is cleared and the server forgets it)."""
    close_session()
    response = redirect(url_for("console.login"), code=303)
    clear_session_cookie(response)
    return response


@bp.get("/language/<code>")
def language(code: str) -> Response:
    """Switch the console's language (a cookie; Accept-Language decides until then)."""
    response = redirect(safe_next(request.args.get("next")))
    if code in LOCALES:
        response.set_cookie(LANGUAGE_COOKIE, code, max_age=365 * 24 * 3600, path=PATH,
                            secure=request.is_secure, httponly=True, samesite="Strict")
    return response


def home_of(roles: Any) -> str | None:
    for role, endpoint in HOMES:
        if role in roles and endpoint in current_app.view_functions:
            return endpoint
    return None


@bp.get("/")
@page()
def home() -> Any:
    """The first page of the participant's audience, or what it can do here."""
    endpoint = home_of(user().actor.roles)
    if endpoint is not None:
        return redirect(url_for(endpoint))
    return render_template("console/home.html")


@bp.get("/<path:unknown>")
@page()
def unknown(unknown: str) -> Any:
    """Any other console address: the console's own 404 page (not the API's JSON)."""
    raise ConsolePageNotFound()
