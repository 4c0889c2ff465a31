"""Idempotent views: ``Idempotency-Key`` on a creating POST (see
:mod:`market.kernel.idempotency`)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import Response, current_app, g, request
from sqlalchemy.exc import DBAPIError

from market.kernel.db import is_contention
from market.kernel.idempotency import (
    IdempotencyStore,
    StoredResponse,
    request_fingerprint,
    validate_key,
)
from market.kernel.web.access import current_actor
from market.kernel.web.contention import run_contended
from market.kernel.web.context import request_sessions, state

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

class IdempotentViews:
    """Blueprint views honour ``Idempotency-Key`` (``@bp.idempotent``)."""

    if TYPE_CHECKING:  # provided by flask_smorest.Blueprint, which the blueprint mixes in
        def doc(self, **kwargs: Any) -> Callable[[Any], Any]: ...
        def alt_response(self, code: int, **kwargs: Any) -> Callable[[Any], Any]: ...

    def idempotent(self, func: F) -> F:
        """Honour ``Idempotency-Key`` on a creating POST (see :mod:`market.kernel.idempotency`)."""

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            attempts = state().settings.db_attempts
            raw_key = request.headers.get("Idempotency-Key")
            if raw_key is None:
                return run_contended(func, attempts, *args, **kwargs)
            key = validate_key(raw_key)
            actor = current_actor()
            principal = actor.org_id or "anonymous"
            store = state().idempotency.using(request_sessions())
            fingerprint = request_fingerprint(request.method, request.path,
                                              request.get_data(cache=True))
            claim = run_contended(store.claim, attempts, principal, key, request.method,
                                  request.path, fingerprint)
            if claim.replay is not None:
                return _replay(claim.replay)
            g.idempotency_record_id = claim.record_id
            try:
                # A use case another transaction got in the way of runs again under the same
                # claim, which is released only when the request fails for good.
                result = run_contended(func, attempts, *args, **kwargs)
            except BaseException:
                _release(store, claim.record_id)
                raise
            response = current_app.make_response(result)
            if response.status_code >= 400:
                store.release(claim.record_id)
                return response
            headers = {k: v for k, v in response.headers.items() if k in ("Location",)}
            store.complete(claim.record_id, StoredResponse(response.status_code,
                                                           response.get_data(), headers))
            return response

        wrapper._market_contended = True  # type: ignore[attr-defined]
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


def _release(store: IdempotencyStore, record_id: str) -> None:
    """Release a failed request's claim; if the database is still too busy for that, the
    claim is left to its lease, after which a retry takes it over."""
    try:
        store.release(record_id)
    except DBAPIError as error:
        if not is_contention(error):
            raise
        log.warning("claim %s left to its lease: the database is busy", record_id)


def _replay(stored: StoredResponse) -> Response:
    response = Response(stored.body, status=stored.status, mimetype="application/json")
    for name, value in stored.headers.items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response
