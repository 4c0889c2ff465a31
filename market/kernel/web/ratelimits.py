"""Rate limits (Flask-Limiter), answered 429 ``rate_limited`` with ``Retry-After``.

- Failed authentication: a request that presents an API key and is answered 401 counts
  against the key's id (the public middle part of ``mk.<key id>.<secret>``) and against the
  client's address. Once either has used up its limit, requests presenting that key id, or
  any key from that address, are refused before the key is looked at, until the window
  moves on. Requests without a key are neither counted nor refused.
- Costly views (``@bp.rate_limited("search")`` or ``("export")``) count every request
  against the caller's organisation, or the client's address when there is none; each kind
  has one budget shared by all its views.

Counters live in the storage ``Settings.rate_limit_storage`` names: ``memory://`` counts in
each process, a shared store (Redis, Memcached) across processes and machines; while a shared
store is unreachable each process counts in memory. The client's address is the socket's,
or, behind ``Settings.trusted_proxies`` reverse proxies, the one they forwarded (werkzeug's
ProxyFix). Requests the application makes to itself are exempt.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from apispec import APISpec, BasePlugin
from flask import Flask, Response, current_app, request
from flask_babel import gettext
from flask_limiter import Limit, Limiter, RateLimitExceeded, RequestLimit
from flask_smorest.utils import prepare_response
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as WerkzeugResponse

from market.kernel.config import Settings
from market.kernel.errors import MarketError
from market.kernel.web.access import current_actor
from market.kernel.web.internal import is_internal
from market.kernel.web.problems import PROBLEM_JSON, ProblemSchema, problem_response

F = TypeVar("F", bound=Callable[..., Any])

SEARCH = "search"
EXPORT = "export"
KINDS = (SEARCH, EXPORT)
# The OpenAPI response component every operation refers to for its 429 answer.
RATE_LIMITED = "RATE_LIMITED"
EXTENSION = "market.limiter"
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class RateLimited(MarketError):
    """Too many requests from one caller, or too many failed authentications with one API
    key or from one address, within the configured window."""

    status = 429
    code = "rate_limited"
    title = "Too many requests"
    detail_template = "Too many requests; try again in %(seconds)s seconds."

    def __init__(self, seconds: int) -> None:
        super().__init__(seconds=seconds)
        self.retry_after = seconds


# -- who is counted ------------------------------------------------------------------------


def client_address() -> str:
    """The client's address (the socket's, or the one trusted proxies forwarded)."""
    return request.remote_addr or "unknown"


def _form_key_field() -> str | None:
    """The form field a view takes an API key in (``_market_key_field``: the console's
    login form), if it declares one."""
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "_market_key_field", None) if view is not None else None


def _presented_token() -> str | None:
    field = _form_key_field()
    if field is not None and request.method == "POST":
        return request.form.get(field) or None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if "Authorization" not in request.headers:
        return None
    return token if scheme.lower() == "bearer" else ""


def presented_key_id() -> str:
    """The id of the API key the request presents (in its Authorization header, or in the
    form field a view takes one in), or "" when it presents none that can be read (only the
    address is counted then). The secret is never looked at here."""
    parts = (_presented_token() or "").strip().split(".")
    if len(parts) != 3 or not _KEY_ID_RE.match(parts[1]):
        return ""
    return parts[1]


def _no_key() -> bool:
    return _presented_token() is None


def _kind() -> str | None:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "_market_rate_limit", None) if view is not None else None


def principal() -> str:
    """The caller's organisation when it presents a key, else the client's address.

    A key that fails to authenticate counts as its address here; the view then refuses it
    as it would anyway (and the failure is counted against the key)."""
    if not _no_key():
        try:
            org_id = current_actor().org_id
        except MarketError:
            org_id = None
        if org_id:
            return f"org:{org_id}"
    return f"address:{client_address()}"


def _refused(response: Response) -> bool:
    return response.status_code == 401


# -- the extension ---------------------------------------------------------------------------


def _too_many(limit: RequestLimit) -> Response:
    """The 429 answer to a breached limit: problem+json with the seconds to wait."""
    seconds = max(1, math.ceil(limit.reset_at - time.time()))
    error = RateLimited(seconds)
    detail = gettext(RateLimited.detail_template or "") % {"seconds": seconds}
    return problem_response(error.status, error.code, error.title, detail,
                            headers={"Retry-After": str(seconds)})


def _rate_limit_response(error: RateLimitExceeded) -> WerkzeugResponse:
    return error.get_response()


def register(app: Flask, settings: Settings) -> Limiter:
    """Trust the configured proxies and install the limits (after the request hooks, so a
    429 carries the request id). Disabled, the limiter installs nothing."""
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    limiter = Limiter(
        client_address,
        default_limits=[
            Limit(settings.rate_limit_auth_per_key, key_function=presented_key_id,
                  scope="auth-key", shared=True, exempt_when=_no_key,
                  deduct_when=_refused),
            Limit(settings.rate_limit_auth_per_address, key_function=client_address,
                  scope="auth-address", shared=True, exempt_when=_no_key,
                  deduct_when=_refused),
            Limit(settings.rate_limit_search, key_function=principal, scope=SEARCH,
                  shared=True, exempt_when=lambda: _kind() != SEARCH),
            Limit(settings.rate_limit_export, key_function=principal, scope=EXPORT,
                  shared=True, exempt_when=lambda: _kind() != EXPORT),
        ],
        storage_uri=settings.rate_limit_storage,
        strategy="sliding-window-counter",
        key_prefix="market",
        on_breach=_too_many,
        # A shared store that stops answering must not stop the exchange: each process counts
        # in memory until the store answers again, and a failure is logged, not answered 500.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        enabled=settings.rate_limits,
    )
    limiter.request_filter(is_internal)
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, _rate_limit_response)
    app.extensions[EXTENSION] = limiter
    return limiter


# -- views and their documentation -------------------------------------------------------------


class RateLimitedViews:
    """Blueprint views declare themselves costly (``@bp.rate_limited("search")``)."""

    if TYPE_CHECKING:  # provided by flask_smorest.Blueprint, which the blueprint mixes in
        def alt_response(self, code: int, **kwargs: Any) -> Callable[[Any], Any]: ...

    def rate_limited(self, kind: str) -> Callable[[F], F]:
        """Count every call against the caller's budget for ``kind`` (search or export)."""
        if kind not in KINDS:
            raise ValueError(f"rate limit kind must be one of {', '.join(KINDS)}")

        def decorator(func: F) -> F:
            func._market_rate_limit = kind  # type: ignore[attr-defined]
            documented: F = self.alt_response(429, response=RATE_LIMITED)(func)
            return documented

        return decorator


class RateLimitDocs(BasePlugin):
    """Documents the 429 answer on every operation: any request presenting an API key is
    refused once its key id or address has failed too often."""

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **kwargs: Any) -> None:
        for operation in (operations or {}).values():
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            if 429 not in responses and "429" not in responses:
                responses[429] = RATE_LIMITED


def document(spec: APISpec) -> None:
    """Register the 429 response component (once the marshmallow plugin can resolve it)."""
    response: dict[str, Any] = {
        "description": "Too many requests (problem code `rate_limited`); retry after the "
                       "seconds in `Retry-After`",
        "schema": ProblemSchema,
        "headers": {"Retry-After": {
            "description": "Seconds to wait before trying again",
            "schema": {"type": "integer", "minimum": 1}}},
    }
    prepare_response(response, spec, PROBLEM_JSON)
    spec.components.response(RATE_LIMITED, response, lazy=True)
