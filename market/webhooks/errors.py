"""Named errors of the webhooks context."""

from __future__ import annotations

from market.kernel.errors import Conflict, NotFound, RuleViolation


class EndpointNotFound(NotFound):
    """No such webhook endpoint of the caller's organisation."""

    code = "webhook_endpoint_not_found"
    title = "Webhook endpoint not found"


class EventNotFound(NotFound):
    """No such event sent to the caller's organisation."""

    code = "webhook_event_not_found"
    title = "Event not found"


class EndpointUrlRefused(RuleViolation):
    """The URL cannot receive webhooks (not HTTPS, or a local or private address)."""

    code = "webhook_url_refused"
    title = "Webhook URL refused"
    detail_template = "The endpoint's URL %(reason)s."


class EndpointDeleted(Conflict):
    """The endpoint was deleted; nothing more is sent to it."""

    code = "webhook_endpoint_deleted"
    title = "Webhook endpoint deleted"


class ReplayTooLarge(RuleViolation):
    """A replay over a time range would send more events than one request may queue."""

    code = "webhook_replay_too_large"
    title = "Replay too large"
    detail_template = ("The range holds more than %(limit)s events for this endpoint; "
                       "replay a shorter range.")
