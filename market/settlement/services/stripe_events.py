"""Inbound Stripe webhooks: the signature is verified on the raw body and the event stored
by its id (a repeat is ignored); the worker applies it later."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import stripe
from sqlalchemy import Table

from market.kernel.db import insert_or_ignore
from market.kernel.uow import UnitOfWork
from market.settlement.errors import StripeSignatureInvalid
from market.settlement.rails.models import StripeEvent
from market.settlement.rails.stripe_client import verify_event

EVENTS = cast(Table, StripeEvent.__table__)


@dataclass(frozen=True)
class Received:
    event_id: str
    type: str
    duplicate: bool


def receive_stripe_event(payload: bytes, signature: str | None, *, secret: str,
                         uow: UnitOfWork) -> Received:
    """Verify a Stripe webhook and store its event once.

    Raises:
        StripeSignatureInvalid: forged, tampered with, signed with another secret, stale
            (older than 300 s), or not an event.
    """
    try:
        event = verify_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        raise StripeSignatureInvalid(reason=str(exc.user_message or exc)) from None
    except ValueError:
        raise StripeSignatureInvalid(reason="the body is not a JSON event") from None
    obj: dict[str, Any] = (event.get("data") or {}).get("object") or {}
    if not event.get("id") or not event.get("type") or not obj.get("id"):
        raise StripeSignatureInvalid(reason="the body is not a Stripe event")
    with uow:
        stored = uow.session.connection().execute(
            insert_or_ignore(uow.session, EVENTS, EVENTS.c.id), {
                "id": str(event["id"]), "type": str(event["type"]), "object_id": str(obj["id"]),
                "account": event.get("account"), "payload": event,
                "received_at": uow.clock.now(), "applied_at": None, "attempts": 0,
                "error": None}).scalar_one_or_none()
        if stored is not None:
            uow.audit.record(uow.actor, "stripe_event.received", "stripe_event",
                             str(event["id"]), {"id": event["id"], "type": event["type"],
                                                "object_id": obj["id"]})
        uow.commit()
    return Received(str(event["id"]), str(event["type"]), stored is None)
