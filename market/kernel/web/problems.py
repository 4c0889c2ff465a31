"""problem+json (RFC 9457): the one place that turns :class:`MarketError` and HTTP errors
into responses with a stable ``code``."""

from __future__ import annotations

import http
import json
import logging
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Response, g, request
from flask_babel import gettext
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException

from market.kernel.errors import (
    InvalidInput,
    InvalidQuery,
    MalformedJson,
    MalformedRequest,
    MarketError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


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
    headers = {"WWW-Authenticate": 'Bearer realm="market"'} if error.status == 401 else {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
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
