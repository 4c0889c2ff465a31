"""HTTP edge schemas for webhooks: endpoints, secrets, events, the delivery log, replays."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from market.kernel.web import PageQuery, RecordSchema, UtcDateTime, choices
from market.webhooks.domain import DeliveryStatus, EndpointStatus
from market.webhooks.models import Attempt, Delivery, Endpoint, Event

_TYPES = fields.List(
    fields.String(validate=validate.Length(1, 100)), validate=validate.Length(1, 100),
    metadata={"description": "event types (`order.paid`…), categories (`order.*`) or `*`; "
                             "see `GET /webhooks/event-types`"})


class WebhookEndpointIn(ma.Schema):
    url = fields.String(required=True, validate=validate.Length(1, 2048), metadata={
        "description": "an https:// URL on a public address"})
    event_types = _TYPES
    description = fields.String(load_default="", validate=validate.Length(0, 500))

    @ma.validates_schema
    def _types_given(self, data: dict[str, Any], **_: Any) -> None:
        if "event_types" not in data:
            raise ma.ValidationError("Missing data for required field.", "event_types")


class WebhookEndpointPatchIn(ma.Schema):
    url = fields.String(validate=validate.Length(1, 2048))
    event_types = _TYPES
    description = fields.String(validate=validate.Length(0, 500))
    status = fields.String(validate=validate.OneOf(choices(EndpointStatus)), metadata={
        "description": "`enabled` again after fixing a disabled endpoint, or `disabled`"})


class WebhookEndpointOut(RecordSchema, model=Endpoint, omit=("deleted_at",)):
    event_types = fields.List(fields.String())


class WebhookEndpointSecretOut(WebhookEndpointOut):
    secret = fields.String(metadata={
        "description": "the signing secret (`whsec_…`), shown this once"})


class WebhookRotationIn(ma.Schema):
    overlap_seconds = fields.Integer(load_default=None, strict=True,
                                     validate=validate.Range(0, 7 * 24 * 3600), metadata={
        "description": "how long the previous secrets keep signing (default 24 h)"})


class WebhookEventOut(RecordSchema, model=Event, omit=("message_id", "org_id")):
    data = fields.Raw(metadata={"description": "the object as the API shows it to you"})


class WebhookEventQuery(PageQuery):
    type = fields.String(load_default=None, validate=validate.Length(1, 100))
    since = UtcDateTime(load_default=None)
    until = UtcDateTime(load_default=None)


class WebhookAttemptOut(RecordSchema, model=Attempt, omit=("delivery_id",)): ...


class WebhookDeliveryOut(RecordSchema, model=Delivery, omit=("lease_until", "claimed_by")):
    attempt_log = fields.List(fields.Nested(WebhookAttemptOut), data_key="attempt_log")


class WebhookDeliveryQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(choices(DeliveryStatus)))
    event_id = fields.String(load_default=None, validate=validate.Length(1, 40))


class WebhookReplayIn(ma.Schema):
    event_id = fields.String(load_default=None, validate=validate.Length(1, 40))
    since = UtcDateTime(load_default=None)
    until = UtcDateTime(load_default=None)


class WebhookReplayOut(ma.Schema):
    queued = fields.Integer()


class WebhookEventTypesOut(ma.Schema):
    event_types = fields.List(fields.String())
    categories = fields.List(fields.String())
