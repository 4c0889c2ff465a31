"""Cards saved for a subscription's renewals on the Stripe rail.

An order of a subscription paid by card saves the card on the buyer organisation's Stripe
Customer (one per organisation, created by a persisted call keyed ``org:<org>:customer:v1``
before the order's PaymentIntent, which is queued as its follow-up) with
``setup_future_usage=off_session``. When Stripe reports the card authorised or charged, the
card payment records the Customer and the PaymentMethod; a renewal of the subscription is
then charged off-session from the latest one recorded (:mod:`.renewals`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from market.kernel.uow import UnitOfWork
from market.settlement.rails.models import CallState, CardPayment, CardStatus
from market.settlement.services.calls import call_of, queue_call


def customer_key(org_id: str) -> str:
    return f"org:{org_id}:customer:v1"


def customer_of(uow: UnitOfWork, org_id: str) -> str | None:
    """The organisation's Stripe Customer, once Stripe has created it."""
    call = call_of(uow, customer_key(org_id))
    if call is None or call.state != CallState.DONE.value:
        return None
    return call.result_id


def payment_intent_key(order_id: str, attempt: int = 1) -> str:
    return f"order:{order_id}:payment_intent:v{attempt}"


def payment_intent_params(card: CardPayment, customer: str | None) -> dict[str, Any]:
    """The PaymentIntent the buyer confirms with Stripe.js; with ``customer`` the card is
    saved on it for the subscription's renewals."""
    params: dict[str, Any] = {
        "amount": card.amount, "currency": card.currency.lower(),
        "capture_method": card.capture_method, "payment_method_types": ["card"],
        "transfer_group": f"order_{card.order_id}",
        "metadata": {"order_id": card.order_id, "buyer_org_id": card.buyer_org_id}}
    if customer is not None:
        params["customer"] = customer
        params["setup_future_usage"] = "off_session"
        params["metadata"]["subscription_id"] = str(card.subscription_id)
    return params


def queue_payment_intent(uow: UnitOfWork, card: CardPayment) -> None:
    """Queue the order's PaymentIntent; an order of a subscription waits for the buyer's
    Customer (created first, the PaymentIntent queued when Stripe answers). A Customer Stripe
    refused leaves the card unsaved: the buyer still pays, renewals find no saved card."""
    customer = None
    if card.subscription_id is not None:
        call = call_of(uow, customer_key(card.buyer_org_id))
        if call is None or call.state == CallState.PENDING.value:
            queue_call(uow, key=customer_key(card.buyer_org_id), operation="customer.create",
                       subject=("organisation", card.buyer_org_id),
                       params={"description": f"buyer organisation {card.buyer_org_id}",
                               "metadata": {"org_id": card.buyer_org_id}})
            return
        customer = call.result_id if call.state == CallState.DONE.value else None
    queue_call(uow, key=payment_intent_key(card.order_id),
               operation="payment_intent.create", subject=("order", card.order_id),
               params=payment_intent_params(card, customer))


def customer_answered(uow: UnitOfWork, org_id: str) -> list[str]:
    """Stripe created (or refused) the organisation's Customer: the PaymentIntents of its
    card payments waiting for it are queued. Returns their orders."""
    waiting = uow.session.scalars(select(CardPayment).where(
        CardPayment.buyer_org_id == org_id, CardPayment.subscription_id.is_not(None),
        CardPayment.off_session.is_(False),
        CardPayment.status == CardStatus.REQUESTED.value)
        .order_by(CardPayment.created_at, CardPayment.order_id).with_for_update()).all()
    for card in waiting:
        queue_payment_intent(uow, card)
    return [card.order_id for card in waiting]


def record_saved_card(card: CardPayment, pi: Mapping[str, Any]) -> None:
    """The card paid: keep the Customer and PaymentMethod Stripe charged, which the
    subscription's renewals charge off-session."""
    customer, method = pi.get("customer"), pi.get("payment_method")
    if isinstance(method, Mapping):
        method = method.get("id")
    if isinstance(customer, Mapping):
        customer = customer.get("id")
    if card.subscription_id is not None and customer and method:
        card.customer_id, card.payment_method_id = str(customer), str(method)


@dataclass(frozen=True)
class SavedCard:
    customer_id: str
    payment_method_id: str


def saved_card(uow: UnitOfWork, subscription_id: str, *, before: str) -> SavedCard | None:
    """The card most recently saved or charged for the subscription's orders (other than
    ``before``, the renewal being charged)."""
    found = uow.session.scalars(select(CardPayment).where(
        CardPayment.subscription_id == subscription_id, CardPayment.order_id != before,
        CardPayment.customer_id.is_not(None), CardPayment.payment_method_id.is_not(None))
        .order_by(CardPayment.created_at.desc(), CardPayment.order_id.desc()).limit(1)
    ).one_or_none()
    if found is None or found.customer_id is None or found.payment_method_id is None:
        return None
    return SavedCard(found.customer_id, found.payment_method_id)
