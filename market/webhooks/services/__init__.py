"""Webhooks' public surface: participants' endpoints (register, change, rotate the secret,
delete), their events and delivery log, replays; and for the worker, making events from
outbox messages (:func:`fan_out`) and sending what is due (:func:`deliver_due`).

Webhooks sit at the top: they read every context, through its services (who an object
concerns) and through the API itself (what each participant sees of it), and nothing
imports them but the entry points.
"""

from market.webhooks.domain import event_types, specs_of, verify
from market.webhooks.services._common import WebhookPolicy, policy_of
from market.webhooks.services.endpoints import (
    DeliveryView,
    IssuedSecret,
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    get_event,
    list_deliveries,
    list_endpoints,
    list_events,
    replay,
    rotate_secret,
    update_endpoint,
)
from market.webhooks.services.fanout import Render, fan_out, system_uows
from market.webhooks.services.sender import SendResult, deliver_due

__all__ = [
    "DeliveryView",
    "IssuedSecret",
    "Render",
    "SendResult",
    "WebhookPolicy",
    "create_endpoint",
    "delete_endpoint",
    "deliver_due",
    "event_types",
    "fan_out",
    "get_endpoint",
    "get_event",
    "list_deliveries",
    "list_endpoints",
    "list_events",
    "policy_of",
    "replay",
    "rotate_secret",
    "specs_of",
    "system_uows",
    "update_endpoint",
    "verify",
]
