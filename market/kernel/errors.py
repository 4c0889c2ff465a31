"""One error hierarchy for the whole application.

Services raise these; :mod:`market.kernel.web` is the one place that turns them into
``application/problem+json`` (RFC 9457). Each class has a stable ``code`` that clients
may rely on, an HTTP ``status`` and an English ``title`` that doubles as the message-catalogue
key for translation. ``detail`` is an English template with ``%(name)s`` placeholders filled
from ``params`` after translation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class MarketError(Exception):
    """Base of every error the application raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"
    detail_template: ClassVar[str | None] = None
    # Seconds after which the same request may succeed (sent as Retry-After), if any.
    retry_after: int | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> None:
        self.detail = detail if detail is not None else self.detail_template
        self.params = params
        self.errors = dict(errors) if errors else {}
        super().__init__(self.rendered_detail() or self.title)

    def rendered_detail(self) -> str | None:
        if self.detail is None:
            return None
        try:
            return self.detail % self.params if self.params else self.detail
        except (KeyError, ValueError, TypeError):
            return self.detail


class ConfigurationError(MarketError):
    """The environment holds a setting the application cannot use."""

    code = "configuration_error"
    title = "Configuration error"


class DatabaseNotMigrated(MarketError):
    """The database schema is not at the revision this code expects."""

    status = 503
    code = "database_not_migrated"
    title = "Database not migrated"


class DatabaseBusy(MarketError):
    """Other transactions held the database for longer than the request may wait; nothing
    of this request was written."""

    status = 503
    code = "database_busy"
    title = "Database busy"
    detail_template = ("Other requests held the database too long; nothing was changed. "
                       "Retry after %(seconds)s s.")

    def __init__(self, seconds: int = 1) -> None:
        super().__init__(seconds=seconds)
        self.retry_after = seconds


# -- 4xx families -------------------------------------------------------------------------


class InvalidInput(MarketError):
    """The request is well-formed HTTP but its content cannot be used."""

    status = 422
    code = "invalid_input"
    title = "Invalid input"


class InvalidQuery(InvalidInput):
    """A query parameter is missing, malformed or out of range."""

    code = "invalid_query"
    title = "Invalid query parameters"


class MalformedRequest(InvalidInput):
    """The body is not parseable (e.g. not JSON)."""

    status = 400
    code = "malformed_request"
    title = "Malformed request"


class MalformedJson(MalformedRequest):
    """The body is not valid JSON, nests too deeply, or holds text no database can store."""

    code = "malformed_json"
    title = "Malformed JSON body"


class InvalidCursor(InvalidInput):
    """A pagination cursor was not issued by this API."""

    status = 400
    code = "invalid_cursor"
    title = "Invalid pagination cursor"


class Unauthorized(MarketError):
    """No usable credentials were presented."""

    status = 401
    code = "unauthorized"
    title = "Authentication required"


class InvalidApiKey(Unauthorized):
    """The API key is unknown, malformed, revoked or expired."""

    code = "invalid_api_key"
    title = "Invalid API key"


class Forbidden(MarketError):
    """The caller is known but may not do this."""

    status = 403
    code = "forbidden"
    title = "Forbidden"


class RoleNotAllowed(Forbidden):
    """None of the caller's organisation roles may call this endpoint."""

    code = "role_not_allowed"
    title = "Your organisation's roles do not allow this operation"


class ScopeNotAllowed(Forbidden):
    """The API key lacks the scope this endpoint needs."""

    code = "scope_not_allowed"
    title = "The API key lacks the required scope"


class ParticipantNotAdmitted(Forbidden):
    """The caller's organisation is not admitted, so it may only follow its application."""

    code = "participant_not_admitted"
    title = "Your organisation is not admitted"


class NotFound(MarketError):
    """No such object, or none the caller may see."""

    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(MarketError):
    """The request conflicts with the current state of an object."""

    status = 409
    code = "conflict"
    title = "Conflict"


class InvalidTransition(Conflict):
    """A state machine was asked for a transition it does not allow."""

    code = "invalid_transition"
    title = "Transition not allowed"
    detail_template = "Cannot go from %(current)s to %(target)s"


class RuleViolation(MarketError):
    """A business rule refuses the request."""

    status = 422
    code = "rule_violation"
    title = "Business rule violated"


class IdempotencyKeyReused(MarketError):
    """The Idempotency-Key was already used with a different request."""

    status = 422
    code = "idempotency_key_reused"
    title = "Idempotency key reused with a different request"


class IdempotencyRequestInFlight(Conflict):
    """A request with the same Idempotency-Key is still being processed."""

    code = "idempotency_request_in_flight"
    title = "A request with this idempotency key is in progress"


class IdempotencyAnswerLost(Conflict):
    """The first request with this key took effect, but its process ended before the answer
    was stored; repeating it would not take effect again."""

    code = "idempotency_answer_lost"
    title = "The request with this idempotency key took effect; its answer was lost"
    detail_template = ("The request took effect once; its answer could not be kept. Do not "
                       "repeat it: read the resource it changed or created instead.")


class PayloadTooLarge(MarketError):
    """The body exceeds the configured limit."""

    status = 413
    code = "payload_too_large"
    title = "Request body too large"


class MethodNotAllowed(MarketError):
    """The path exists but not with this HTTP method."""

    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"


class UnsupportedMediaType(MarketError):
    """The body is not sent as application/json."""

    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"
