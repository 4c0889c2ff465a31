"""Renewals of subscriptions charged off-session on the Stripe rail.

Trading places a renewal's order awaiting payment and announces it
(``subscription.renewal_due``); the rail's consumer records the request
(:func:`renewal_requested`), and the worker, which holds trading's use cases as hooks, asks
trading whether the renewal is still to be collected now. If so trading asks
:func:`charge_saved_card`: a PaymentIntent on the buyer's saved card (``off_session``,
``confirm``), persisted as a call with the key ``order:<id>:payment_intent:v<attempt>``. The
attempt number is the renewal's try: trading retries the same order in the grace period,
and Stripe answers a key it has seen with the stored decline, so each try has its own key.
A try is made only while none is under way and none has paid the order, so repeated
requests, repeated events and a re-run consumer charge once.
"""

from __future__ import annotations

from sqlalchemy import select

from market.kernel.uow import UnitOfWork
from market.settlement.rails.models import (
    CallState,
    CaptureMethod,
    CardPayment,
    CardStatus,
    RenewalRequest,
    StripeCall,
)
from market.settlement.services.calls import call_of, queue_call
from market.settlement.services.cards import CardPaymentRequest
from market.settlement.services.saved_cards import payment_intent_key, saved_card

QUEUED = "queued"  # a PaymentIntent on the saved card is queued
PENDING = "pending"  # a try is under way (or the buyer is paying by card herself)
PAID = "paid"  # the card has paid the renewal already
NO_SAVED_CARD = "no_saved_card"  # no earlier order of the subscription saved a card


# -- the consumer's inbox ---------------------------------------------------------------------


def renewal_requested(order_id: str, subscription_id: str, *, uow: UnitOfWork) -> None:
    """``subscription.renewal_due``: the renewal order is to be charged; the worker handles
    the request (:class:`market.settlement.rails.stripe_rail.StripeRail`). A repeated request
    opens the same one again, which charges nothing more while a try is under way."""
    with uow:
        now = uow.clock.now()
        found = uow.session.get(RenewalRequest, order_id, with_for_update=True)
        if found is None:
            found = RenewalRequest(order_id=order_id, subscription_id=subscription_id,
                                   requests=1, requested_at=now)
            uow.session.add(found)
        else:
            found.requests += 1
            found.requested_at, found.handled_at, found.outcome = now, None, None
        uow.session.flush()
        uow.audit.record(uow.actor, "stripe_renewal.requested", "order", order_id,
                         found.state())
        uow.commit()


def pending_renewals(uow: UnitOfWork, limit: int) -> list[str]:
    return list(uow.session.scalars(select(RenewalRequest.order_id).where(
        RenewalRequest.handled_at.is_(None))
        .order_by(RenewalRequest.requested_at, RenewalRequest.order_id).limit(limit)))


def claim_renewal(uow: UnitOfWork, order_id: str) -> RenewalRequest | None:
    """The request, locked, unless it is handled or another worker holds it."""
    found: RenewalRequest | None = uow.session.scalars(select(RenewalRequest).where(
        RenewalRequest.order_id == order_id, RenewalRequest.handled_at.is_(None))
        .with_for_update(skip_locked=True)).one_or_none()
    return found


def renewal_handled(uow: UnitOfWork, request: RenewalRequest, outcome: str | None) -> None:
    request.handled_at, request.outcome = uow.clock.now(), outcome or "not_due"
    uow.session.flush()
    uow.audit.record(uow.actor, "stripe_renewal.handled", "order", request.order_id,
                     request.state())


# -- charging the saved card ------------------------------------------------------------------


def _current_try(uow: UnitOfWork, card: CardPayment) -> StripeCall | None:
    return call_of(uow, payment_intent_key(card.order_id, card.attempts))


def charge_saved_card(request: CardPaymentRequest, *, uow: UnitOfWork) -> str:
    """Charge a renewal (``request.subscription_id`` set) off-session from the card saved
    for the subscription, in trading's transaction: queue the try's PaymentIntent unless a
    try is under way or has paid. Returns :data:`QUEUED`, :data:`PENDING`, :data:`PAID` or
    :data:`NO_SAVED_CARD`."""
    assert request.subscription_id is not None
    card = uow.session.get(CardPayment, request.order_id, with_for_update=True)
    if card is not None:
        if card.status in (CardStatus.AUTHORISED.value, CardStatus.CAPTURED.value):
            return PAID
        if not card.off_session or card.status != CardStatus.REQUESTED.value:
            return PENDING
        current = _current_try(uow, card)
        if current is not None and current.state != CallState.FAILED.value:
            return PENDING
    saved = saved_card(uow, request.subscription_id, before=request.order_id)
    if saved is None:
        return NO_SAVED_CARD
    now = uow.clock.now()
    method = CaptureMethod.MANUAL if request.manual_capture else CaptureMethod.AUTOMATIC
    if card is None:
        card = CardPayment(order_id=request.order_id, buyer_org_id=request.buyer_org_id,
                           amount=request.amount, currency=request.currency,
                           capture_method=method.value, status=CardStatus.REQUESTED.value,
                           captured_amount=0, settled=False,
                           subscription_id=request.subscription_id, off_session=True,
                           attempts=1, created_at=now, updated_at=now)
        uow.session.add(card)
    else:
        card.attempts += 1
        card.amount, card.currency = request.amount, request.currency
        card.capture_method = method.value
    card.customer_id, card.payment_method_id = saved.customer_id, saved.payment_method_id
    card.updated_at = now
    uow.session.flush()
    queue_call(uow, key=payment_intent_key(card.order_id, card.attempts),
               operation="payment_intent.create", subject=("order", card.order_id),
               params={"amount": card.amount, "currency": card.currency.lower(),
                       "capture_method": card.capture_method,
                       "customer": saved.customer_id,
                       "payment_method": saved.payment_method_id,
                       "off_session": True, "confirm": True,
                       "transfer_group": f"order_{card.order_id}",
                       "metadata": {"order_id": card.order_id,
                                    "buyer_org_id": card.buyer_org_id,
                                    "subscription_id": request.subscription_id,
                                    "attempt": str(card.attempts)}})
    uow.audit.record(uow.actor, "card_payment.renewal_charged", "card_payment",
                     card.order_id, card.state())
    return QUEUED


def renewal_declined(uow: UnitOfWork, call: StripeCall) -> str | None:
    """Stripe refused a renewal's PaymentIntent (a card error such as ``card_declined`` or
    ``authentication_required``): the order id, for trading to record the failed renewal,
    when the call is the renewal's current try; None for any other call."""
    if call.operation != "payment_intent.create" or call.subject_type != "order":
        return None
    card = uow.session.get(CardPayment, call.subject_id, with_for_update=True)
    if card is None or not card.off_session or card.status != CardStatus.REQUESTED.value \
            or call.idempotency_key != payment_intent_key(card.order_id, card.attempts):
        return None
    card.updated_at = uow.clock.now()
    uow.session.flush()
    uow.audit.record(uow.actor, "card_payment.renewal_declined", "card_payment",
                     card.order_id, {**card.state(), "error": call.error})
    return card.order_id
