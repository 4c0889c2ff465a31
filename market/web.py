"""HTTP glue shared by every context's API: errors, authentication, access declarations,
idempotency, request ids, pagination and language.

This is the one place that turns :class:`market.errors.MarketError` into
``application/problem+json`` (RFC 9457). Every API view declares who may call it with
:meth:`ApiBlueprint.access`; the declaration is enforced here, documented in OpenAPI and
inspected by the authorization tests.
"""

from __future__ import annotations

import base64
import binascii
import functools
import http
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any, TypeVar, cast

import flask_smorest
import marshmallow as ma
from flask import Flask, Response, current_app, g, request
from flask_babel import gettext, refresh
from flask_smorest.utils import prepare_response
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict
from werkzeug.exceptions import HTTPException

from market.actor import ANONYMOUS, Actor
from market.clock import Clock
from market.config import Settings
from market.errors import (
    InvalidApiKey,
    InvalidCursor,
    InvalidInput,
    InvalidQuery,
    MalformedJson,
    MalformedRequest,
    MarketError,
    MethodNotAllowed,
    NotFound,
    ParticipantNotAdmitted,
    PayloadTooLarge,
    RoleNotAllowed,
    ScopeNotAllowed,
    Unauthorized,
    UnsupportedMediaType,
)
from market.idempotency import IdempotencyStore, StoredResponse, request_fingerprint, validate_key
from market.ids import new_id
from market.pagination import MAX_LIMIT, Page
from market.uow import UnitOfWork

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
ADMITTED = "admitted"

F = TypeVar("F", bound=Callable[..., Any])
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


def _release_connection(_error: BaseException | None) -> None:
    connection = g.pop("market_connection", None)
    g.pop("market_sessions", None)
    if connection is not None:
        connection.close()


# -- problem+json --------------------------------------------------------------------------


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, with the stable ``code`` clients should switch on."""

    type = ma.fields.String(metadata={"description": "URI naming the problem type"})
    title = ma.fields.String(metadata={"description": "Short summary, in the caller's language"})
    status = ma.fields.Integer()
    detail = ma.fields.String(metadata={"description": "Explanation of this occurrence"})
    code = ma.fields.String(required=True, metadata={"description": "Stable error code"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Raw(),
        metadata={"description": "Field errors: field name to list of messages"},
    )
    request_id = ma.fields.String()
    instance = ma.fields.String()


def _translate_messages(value: Any) -> Any:
    if isinstance(value, str):
        return gettext(value)
    if isinstance(value, list):
        return [_translate_messages(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _translate_messages(v) for k, v in value.items()}
    return value


def problem_response(
    status: int, code: str, title: str, detail: str | None = None,
    errors: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"urn:market:problem:{code}",
        "title": gettext(title),
        "status": status,
        "code": code,
        "request_id": getattr(g, "request_id", None),
        "instance": request.path,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = _translate_messages(errors)
    response = Response(json.dumps(body, ensure_ascii=False), status=status,
                        mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _render_market_error(error: MarketError) -> Response:
    detail = None
    if error.detail is not None:
        template = gettext(error.detail)
        try:
            detail = template % error.params if error.params else template
        except (KeyError, ValueError, TypeError):
            detail = error.rendered_detail()
    headers = {"WWW-Authenticate": 'Bearer realm="market"'} if error.status == 401 else None
    return problem_response(error.status, error.code, error.title, detail, error.errors, headers)


def _flatten_webargs(messages: Any) -> tuple[str | None, dict[str, Any]]:
    """webargs nests errors by location ({"json": {...}}); clients want fields."""
    if not isinstance(messages, dict):
        return None, {"_schema": messages}
    locations = list(messages)
    flat: dict[str, Any] = {}
    for location in locations:
        inner = messages[location]
        if isinstance(inner, dict):
            flat.update(inner)
        else:
            flat["_schema"] = inner
    return (locations[0] if len(locations) == 1 else None), flat


_HTTP_PROBLEMS: dict[int, type[MarketError]] = {
    400: MalformedRequest,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def _render_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    if status == 422 and messages is not None:
        location, flat = _flatten_webargs(messages)
        if location == "query":
            return problem_response(422, InvalidQuery.code, InvalidQuery.title, errors=flat)
        return problem_response(422, InvalidInput.code, InvalidInput.title, errors=flat)
    if status == 400 and messages is not None:
        _, flat = _flatten_webargs(messages)
        return problem_response(400, MalformedJson.code, MalformedJson.title, errors=flat)
    known = _HTTP_PROBLEMS.get(status)
    if known is not None:
        response = _render_market_error(known())
        allow = dict(error.get_headers()).get("Allow")
        if allow:
            response.headers["Allow"] = allow
        return response
    if status >= 500:
        return problem_response(status, "internal_error", "Internal error")
    return problem_response(status, f"http_{status}", error.name)


class Api(flask_smorest.Api):  # type: ignore[misc]
    """flask-smorest's Api answering problem+json for every error."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = "DEFAULT_ERROR"

    def _register_error_handlers(self) -> None:
        app = self._app
        app.register_error_handler(MarketError, _render_market_error)
        app.register_error_handler(HTTPException, _render_http_exception)
        app.register_error_handler(Exception, _render_unexpected)

    def _register_responses(self) -> None:
        """Like flask-smorest's, but error responses are documented as problem+json."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def _render_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return _render_http_exception(error)
    log.exception("unhandled error (request %s)", getattr(g, "request_id", "-"))
    return problem_response(500, "internal_error", "Internal error")


# -- request parsing -----------------------------------------------------------------


UNSTORABLE_TEXT = "must not contain NUL characters or unpaired surrogates"


def unstorable_text(value: str) -> bool:
    """True when ``value`` holds NUL or a lone surrogate.

    Neither can be stored as text by PostgreSQL (nor encoded as UTF-8), so such input is
    refused at the edge instead of failing deep inside a transaction.
    """
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unstorable_fields(value: Any, path: str = "") -> list[str]:
    """Dotted paths of the strings in a JSON value that :func:`unstorable_text` refuses."""
    if isinstance(value, str):
        return [path or "_schema"] if unstorable_text(value) else []
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            found += [name] if unstorable_text(str(key)) else unstorable_fields(item, name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += unstorable_fields(item, f"{path}.{index}" if path else str(index))
    return found


MAX_JSON_DEPTH = 32


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, computed without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


class MarketParser(FlaskParser):
    """webargs' parser, stricter about bodies: JSON only, bounded nesting, storable text.

    ``multipart`` reads a multipart/form-data body whole: its form fields and its files.
    """

    __location_map__ = {  # noqa: RUF012  (webargs' class-level table, extended)
        **FlaskParser.__location_map__, "multipart": "load_multipart"}

    def load_multipart(self, req: Any, schema: ma.Schema) -> Any:
        return MultiDictProxy(CombinedMultiDict([req.form, req.files]), schema)

    def _raw_load_json(self, req: Any) -> Any:
        body = req.get_data(cache=True)
        if not is_json_request(req):
            if body:
                raise UnsupportedMediaType("send the body as application/json")
            return webargs_core.missing
        try:
            data = webargs_core.parse_json(body)
        except RecursionError:
            data = None
            too_deep = True
        else:
            too_deep = json_depth(data) > MAX_JSON_DEPTH
        if too_deep:
            raise MalformedJson("the body nests too deeply")
        bad = unstorable_fields(data)
        if bad:
            raise InvalidInput(errors={name: [UNSTORABLE_TEXT] for name in bad})
        return data


# -- request ids, body limits, language ------------------------------------------------


def _begin_request() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _REQUEST_ID_RE.match(incoming) else new_id("req")
    # g can outlive a request when an app context was already pushed (tests, CLI).
    g.market_actor = None
    g.idempotency_record_id = None
    refresh()  # Flask-Babel caches the locale on g: choose it again for this request
    if unstorable_text(request.path):
        raise NotFound()
    bad = [name for name, value in request.args.items(multi=True) if unstorable_text(value)]
    if bad:
        raise InvalidQuery(errors={name: [UNSTORABLE_TEXT] for name in bad})


def _end_request(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = getattr(g, "request_id", "")
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def select_locale() -> str:
    try:
        return request.accept_languages.best_match(["en", "zh"], default="en") or "en"
    except RuntimeError:  # outside a request (CLI)
        return "en"


def register_request_hooks(app: Flask) -> None:
    app.before_request(_begin_request)
    app.after_request(_end_request)
    app.teardown_request(_release_connection)


# -- authentication and access declarations -------------------------------------------


def current_actor() -> Actor:
    """The principal behind this request (anonymous when no Authorization header)."""
    cached = g.get("market_actor")
    if cached is not None:
        return cast(Actor, cached)
    header = request.headers.get("Authorization")
    if header is None:
        actor = ANONYMOUS
    else:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use: Authorization: Bearer <api key>")
        if unstorable_text(token):
            raise InvalidApiKey()
        actor = state().authenticate(token.strip(), request_sessions())
    g.market_actor = actor
    return actor


@dataclass(frozen=True)
class Access:
    """Who may call an endpoint.

    ``roles``: organisation roles allowed (None: any admitted organisation);
    ``anonymous``: callers without a key allowed too; ``unadmitted``: organisations not (or
    no longer) admitted may call it, to follow their own application; ``scope``: the key
    scope needed (``read`` for safe methods, ``write`` otherwise by default).
    """

    roles: frozenset[str] | None
    anonymous: bool
    unadmitted: bool
    scope: str | None

    @property
    def public(self) -> bool:
        """Open to everyone: credentials, if any are sent, are not even looked at."""
        return self.anonymous and self.roles is None and not self.unadmitted

    def check(self, actor: Actor, method: str) -> None:
        if actor.is_anonymous:
            if not self.anonymous:
                raise Unauthorized()
            return
        if actor.org_status != ADMITTED and not self.unadmitted:
            raise ParticipantNotAdmitted()
        if self.roles is not None and not actor.has_role(*self.roles):
            raise RoleNotAllowed()
        scope = self.scope or ("read" if method in ("GET", "HEAD", "OPTIONS") else "write")
        if scope not in actor.scopes:
            raise ScopeNotAllowed()


def access_of(view: Callable[..., Any]) -> Access | None:
    return cast(Access | None, getattr(view, "_market_access", None))


class ApiBlueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """A flask-smorest blueprint whose views declare access and idempotency."""

    ARGUMENTS_PARSER = MarketParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {  # noqa: RUF012  (flask-smorest's table, extended)
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "multipart": "multipart/form-data"}

    def access(
        self,
        *,
        roles: Iterable[str] | None = None,
        anonymous: bool = False,
        unadmitted: bool = False,
        scope: str | None = None,
        object_scoped: bool = False,
    ) -> Callable[[F], F]:
        rule = Access(
            roles=frozenset(roles) if roles is not None else None,
            anonymous=anonymous, unadmitted=unadmitted, scope=scope,
        )

        def decorator(func: F) -> F:
            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                if not rule.public:
                    rule.check(current_actor(), request.method)
                return func(*args, **kwargs)

            wrapper._market_access = rule  # type: ignore[attr-defined]
            security: list[dict[str, list[str]]] = [{"bearerAuth": []}]
            if anonymous:
                security = [{}, {"bearerAuth": []}] if roles is not None or unadmitted else [{}]
            decorated: Any = self.doc(security=security)(wrapper)
            if not (anonymous and roles is None and not unadmitted):
                decorated = self.alt_response(401, response="UNAUTHORIZED")(decorated)
                decorated = self.alt_response(403, response="FORBIDDEN")(decorated)
            if object_scoped:
                decorated = self.alt_response(404, response="NOT_FOUND")(decorated)
            return cast(F, decorated)

        return decorator

    def idempotent(self, func: F) -> F:
        """Honour ``Idempotency-Key`` on a creating POST (see :mod:`market.idempotency`)."""

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            raw_key = request.headers.get("Idempotency-Key")
            if raw_key is None:
                return func(*args, **kwargs)
            key = validate_key(raw_key)
            actor = current_actor()
            principal = actor.org_id or "anonymous"
            store = state().idempotency.using(request_sessions())
            fingerprint = request_fingerprint(request.method, request.path,
                                              request.get_data(cache=True))
            claim = store.claim(principal, key, request.method, request.path, fingerprint)
            if claim.replay is not None:
                return _replay(claim.replay)
            g.idempotency_record_id = claim.record_id
            try:
                result = func(*args, **kwargs)
            except BaseException:
                store.release(claim.record_id)
                raise
            response = current_app.make_response(result)
            if response.status_code >= 400:
                store.release(claim.record_id)
                return response
            headers = {k: v for k, v in response.headers.items() if k in ("Location",)}
            store.complete(claim.record_id, StoredResponse(response.status_code,
                                                           response.get_data(), headers))
            return response

        decorated: Any = self.doc(parameters=[{
            "in": "header", "name": "Idempotency-Key", "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                       "pattern": "^[!-~]{1,255}$"},
            "description": "Retries with the same key and body have one effect and get the "
                           "same response; the same key with another body is refused.",
        }])(wrapper)
        decorated = self.alt_response(409, response="CONFLICT")(decorated)
        decorated = self.alt_response(422, response="UNPROCESSABLE_ENTITY")(decorated)
        return cast(F, decorated)


def _replay(stored: StoredResponse) -> Response:
    response = Response(stored.body, status=stored.status, mimetype="application/json")
    for name, value in stored.headers.items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def unit_of_work() -> UnitOfWork:
    """A unit of work for this request's actor, joined to its idempotency claim if any."""
    st = state()
    uow = UnitOfWork(request_sessions(), st.clock, current_actor(),
                     request_id=g.get("request_id"))
    record_id = g.get("idempotency_record_id")
    if record_id is not None:
        uow.add_before_commit(lambda session: IdempotencyStore.mark_committed(session, record_id))
    return uow


# -- fields -----------------------------------------------------------------------------


def choices(enum: Any) -> list[str]:
    """An enumeration's values, for ``validate.OneOf``."""
    return [member.value for member in enum]


class UtcDateTime(ma.fields.AwareDateTime):
    """An ISO 8601 date-time with an offset, loaded as UTC.

    Refuses instants that have no UTC equivalent (such as 0001-01-01T00:00:00+14:00), which
    would otherwise pass as valid and fail when stored or compared.
    """

    default_error_messages = {  # noqa: RUF012  (marshmallow merges it along the MRO)
        "utc_range": "Not a date-time that exists in UTC."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        loaded = super()._deserialize(value, attr, data, **kwargs)
        try:
            return loaded.astimezone(UTC)
        except OverflowError as exc:
            raise self.make_error("utc_range") from exc


# -- pagination -----------------------------------------------------------------------


class PageQuery(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(1, MAX_LIMIT))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        after = data["after"]
        if not isinstance(after, str) or unstorable_text(after):
            raise TypeError
        return after
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError):
        raise InvalidCursor(errors={"cursor": ["not a cursor issued by this API"]}) from None


def encode_cursor(after: str | None) -> str | None:
    if after is None:
        return None
    raw = json.dumps({"after": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_args(query: dict[str, Any]) -> dict[str, Any]:
    """``after`` and ``limit`` for a repository, from a :class:`PageQuery`."""
    return {"after": decode_cursor(query["cursor"]), "limit": query["limit"]}


def page_body(page: Page[Any]) -> dict[str, Any]:
    return {"items": page.items, "next_cursor": encode_cursor(page.next_after)}


_page_schemas: dict[str, type[ma.Schema]] = {}


def page_of(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """A ``{items, next_cursor}`` envelope schema for ``item_schema``."""
    name = item_schema.__name__.removesuffix("Schema").removesuffix("Out") + "Page"
    if name not in _page_schemas:
        _page_schemas[name] = type(name, (ma.Schema,), {
            "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
            "next_cursor": ma.fields.String(
                allow_none=True, required=True,
                metadata={"description": "Pass as `cursor` for the next page; null at the end"},
            ),
        })
    return _page_schemas[name]
