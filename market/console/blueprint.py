"""The console's blueprint: who may open a page, CSRF on every form, the language switch,
the security headers of a page, and errors shown as pages.

A page declares the roles it is for with ``@page(roles=...)``. Nobody signed in is sent to
the login page; a signed-in participant without one of the roles gets 403 (the console
authorization matrix in tests/console checks every page against every role). A regulator
viewing any page is kept in the supervision trace, like its API reads, by the regulator
context's after-request hook: the page's principal is the request's actor.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, gettext, refresh
from werkzeug.wrappers import Response as BaseResponse

from market.console import format as fmt
from market.console.calls import ApiRefused, new_form_key
from market.console.session import (
    CSRF_FIELD,
    LANGUAGE_COOKIE,
    SignedIn,
    csrf_ok,
    login_csrf_ok,
    signed_in,
)
from market.kernel.errors import MarketError
from market.kernel.web import state
from market.kernel.web.context import LOCALES

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static")

F = TypeVar("F", bound=Callable[..., Any])

# What a console page may load: its own stylesheet and images, nothing else; no script at
# all, no framing, forms only to itself.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")

# Pages anyone may open (signing in, the language switch).
OPEN_ENDPOINTS = frozenset({"console.login", "console.language", "console.static"})


class ConsoleForbidden(Exception):
    """The signed-in participant has none of the roles a page is for."""


class ConsolePageNotFound(Exception):
    """No console page at this address."""


class CsrfRefused(Exception):
    """A form came back without the token its page gave it."""


# The menu: (roles, endpoint, label) of the pages declared with a ``nav`` label, in the
# order they were declared.
MENU: list[tuple[frozenset[str], str, Any]] = []


def page(*, roles: Iterable[str] | None = None, nav: Any = None,
         uploads: bool = False) -> Callable[[F], F]:
    """Declare a console page: for anyone signed in (``roles`` None) or for these roles;
    with ``nav`` (a lazily translated label) it is in the menu of those roles; with
    ``uploads`` its form may carry a file as large as the API takes one
    (``MARKET_MAX_UPLOAD_BYTES``) instead of the request body limit."""
    allowed = frozenset(roles) if roles is not None else None

    def decorator(func: F) -> F:
        if nav is not None:
            MENU.append((allowed or frozenset(), f"console.{func.__name__}", nav))

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = signed_in()
            if user is None:
                return _to_login()
            if allowed is not None and not user.holds(*allowed):
                raise ConsoleForbidden()
            return func(*args, **kwargs)

        wrapper._console_roles = allowed  # type: ignore[attr-defined]
        wrapper._console_uploads = uploads  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorator


def roles_of(view: Callable[..., Any]) -> frozenset[str] | None:
    return cast(frozenset[str] | None, getattr(view, "_console_roles", None))


def user() -> SignedIn:
    """The signed-in participant (inside a ``@page`` view)."""
    found = signed_in()
    assert found is not None
    return found


def _to_login() -> BaseResponse:
    target = request.full_path if request.method == "GET" else request.path
    return redirect(url_for("console.login", next=target.rstrip("?")))


def safe_next(target: str | None) -> str:
    """Where to go after a form: only a console path of this site."""
    if not target:
        return url_for("console.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console") \
            or "\\" in target:
        return url_for("console.home")
    return target


@bp.before_request
def _before() -> BaseResponse | None:
    g.pop("console_user", None)  # g outlives a request where an app context was pushed
    if request.endpoint == "console.static":  # the stylesheet needs no session
        return None
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    g.market_locale = chosen if chosen in LOCALES else None
    refresh()
    current = signed_in()
    if current is not None:
        g.market_actor = current.actor  # who the audit and the supervision trace name
    if request.method == "POST":
        view = current_app.view_functions.get(request.endpoint or "")
        if getattr(view, "_console_uploads", False):  # before the form is read, for CSRF
            request.max_content_length = state().settings.max_upload_bytes
        if request.endpoint == "console.login":
            if not login_csrf_ok():
                raise CsrfRefused()
        elif current is None:
            return _to_login()
        elif not csrf_ok(current):
            raise CsrfRefused()
    return None


@bp.after_request
def _after(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.app_context_processor
def _context() -> dict[str, Any]:
    if request.blueprint != "console":
        return {}
    me = g.get("console_user")
    menu = [(endpoint, label) for roles, endpoint, label in MENU
            if me is not None and (not roles or me.holds(*roles))]
    return {"me": me, "menu": menu, "locale": str(get_locale() or "en"),
            "csrf_field": CSRF_FIELD, "new_form_key": new_form_key, "fmt": fmt}


def _error_page(status: int, code: str, title: str, detail: str | None = None,
                errors: dict[str, Any] | None = None) -> tuple[str, int]:
    return render_template("console/error.html", status=status, code=code, title=title,
                           detail=detail, errors=errors or {},
                           request_id=g.get("request_id")), status


@bp.errorhandler(ApiRefused)
def _refused(error: ApiRefused) -> Any:
    problem = error.answer.problem
    if error.answer.status == 401:
        return _to_login()
    return _error_page(error.answer.status, problem.get("code", "error"),
                       problem.get("title", ""), problem.get("detail"), problem.get("errors"))


@bp.errorhandler(MarketError)
def _market_error(error: MarketError) -> Any:
    if error.status == 401:
        return _to_login()
    return _error_page(error.status, error.code, gettext(error.title),
                       error.rendered_detail(), error.errors)


@bp.errorhandler(ConsoleForbidden)
def _forbidden(_error: ConsoleForbidden) -> Any:
    return _error_page(403, "console_role_not_allowed",
                       gettext("This page is not for your organisation's role."))


@bp.errorhandler(ConsolePageNotFound)
def _no_such_page(_error: ConsolePageNotFound) -> Any:
    return _error_page(404, "console_page_not_found", gettext("There is no such console page."))


@bp.errorhandler(CsrfRefused)
def _csrf(_error: CsrfRefused) -> Any:
    return _error_page(400, "csrf_failed", gettext("The form expired or did not come from "
                                                   "this console. Open the page and try again."))
