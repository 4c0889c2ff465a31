"""The console's one way to the exchange: the API itself, called in-process as the person
signed in.

A console page never reads a table or calls a use case of its own: it asks the same
endpoint an API client would, through the same authentication result, access rules,
object scoping, idempotency, rate exemptions and schemas, and renders the JSON it gets.
So the console can show or do nothing the API would refuse that participant, and there is
no second business path to keep in step. The call runs in an application context and a
context-variable scope of its own, so it shares no request state with the page.
"""

from __future__ import annotations

import contextvars
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app, request
from flask_babel import get_locale

from market.kernel.actor import Actor
from market.kernel.web.context import INTERNAL_ACTOR

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Answer:
    """What the API answered: status, decoded JSON body (None if not JSON) and headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def problem(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) and not self.ok else {}

    @property
    def field_errors(self) -> dict[str, Any]:
        errors = self.problem.get("errors")
        return errors if isinstance(errors, dict) else {}


class ApiRefused(Exception):
    """The API refused what a page asked for; the console shows its problem."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.problem.get("code", answer.status))
        self.answer = answer


def _dispatch(app: Flask, actor: Actor, method: str, path: str, *, query: Any,
              body: Any, form: Any, headers: dict[str, str], stream: bool,
              ) -> tuple[Answer, Response | None]:
    environ = {INTERNAL_ACTOR: actor, "REMOTE_ADDR": request.remote_addr or "127.0.0.1"}
    kwargs: dict[str, Any] = {"method": method, "query_string": query, "headers": headers,
                              "environ_overrides": environ}
    if body is not None:
        kwargs["json"] = body
    elif form is not None:
        kwargs["data"] = form
    with app.app_context(), app.test_request_context(API_PREFIX + path, **kwargs):
        response = app.full_dispatch_request()
        if stream:
            return Answer(response.status_code, None, dict(response.headers)), response
        data = response.get_data()
        response.close()
    decoded: Any = None
    if data and (response.is_json or (response.mimetype or "").endswith("+json")):
        decoded = json.loads(data)
    return Answer(response.status_code, decoded, dict(response.headers)), None


def call(actor: Actor, method: str, path: str, *, query: Any = None, body: Any = None,
         form: Any = None, idempotency_key: str | None = None) -> Answer:
    """``method path`` (under ``/api/v1``) answered to ``actor``, in the page's language."""
    headers = {"Accept-Language": str(get_locale() or "en")}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    answer, _ = contextvars.copy_context().run(
        _dispatch, app, actor, method, path, query=query, body=body, form=form,
        headers=headers, stream=False)
    return answer


def fetch(actor: Actor, path: str, **query: Any) -> Any:
    """GET ``path`` as ``actor``: its JSON body.

    Raises:
        ApiRefused: the API answered an error.
    """
    answer = call(actor, "GET", path, query={k: v for k, v in query.items()
                                            if v not in (None, "")})
    if not answer.ok:
        raise ApiRefused(answer)
    return answer.body


def passthrough(actor: Actor, path: str, **query: Any) -> Response:
    """GET ``path`` as ``actor`` and hand its response (a file, an export) to the browser
    as it is, streamed.

    Raises:
        ApiRefused: the API answered an error.
    """
    headers = {"Accept-Language": str(get_locale() or "en")}
    for name in ("Range", "If-None-Match", "If-Range"):
        if name in request.headers:
            headers[name] = request.headers[name]
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    context = contextvars.copy_context()
    answer, response = context.run(
        _dispatch, app, actor, "GET", path,
        query={k: v for k, v in query.items() if v not in (None, "")}, body=None, form=None,
        headers=headers, stream=True)
    assert response is not None
    if not answer.ok:
        data = response.get_data()
        response.close()
        raise ApiRefused(Answer(answer.status, json.loads(data) if data else None,
                                answer.headers))
    for name in ("Content-Security-Policy", "X-Request-Id"):
        response.headers.pop(name, None)
    if response.is_streamed:
        response.response = _InContext(context, response.response)
    return response


class _InContext:
    """A streamed body read, and closed, in the context its API call ran in: a stream that
    holds that call's request context (``stream_with_context``) can leave it only where it
    was entered."""

    def __init__(self, context: contextvars.Context, body: Iterable[Any]) -> None:
        self._context = context
        self._body = context.run(iter, body)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return self._context.run(next, self._body)

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            self._context.run(close)


def new_form_key() -> str:
    """An Idempotency-Key for one rendering of a form: sending it twice has one effect."""
    return str(uuid.uuid4())
