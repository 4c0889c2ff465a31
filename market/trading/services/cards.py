"""Paying an order by card on the Stripe rail: the buyer asks for a card payment (a
PaymentIntent the worker creates), pays it with Stripe.js, and the order is paid when the
rail hears from Stripe that the card was authorised or charged. An order of a subscription
saves the card, and the subscription's renewals are charged from it off-session (the rail
asks :func:`collect_renewal_by_card`; a paid renewal is recorded by
:func:`record_card_payment`, a declined one by :func:`card_renewal_declined`). A chargeback
freezes the order (its flag) until the dispute closes."""

from __future__ import annotations

from dataclasses import replace

from market.kernel.actor import Role
from market.kernel.errors import InvalidTransition
from market.kernel.uow import UnitOfWork
from market.settlement import services as settlement
from market.settlement.errors import CardPaymentNotFound, CardPaymentsUnavailable
from market.trading import repository
from market.trading.domain import OrderStatus, Policy
from market.trading.errors import OrderFlagged, PaymentWindowClosed, SubscriptionNotRenewing
from market.trading.models import Order
from market.trading.services._subscribed import _of
from market.trading.services.payment import _into_escrow
from market.trading.services.subscriptions import renewal_failed, renewal_paid

CHARGEBACK = "chargeback"


def _view(card: settlement.CardPaymentRecord, *, buyer: bool) -> settlement.CardPaymentRecord:
    """The card payment as its reader sees it: the client secret is the buyer's alone."""
    return card if buyer else replace(card, client_secret=None)


def _manual_capture(policy: Policy) -> bool:
    """Authorise now and capture on acceptance when the delivery and acceptance windows fit
    the card authorisation window; otherwise charge at once."""
    return policy.delivery_window + policy.acceptance_window <= policy.card_auth_window


def request_card_payment(order_id: str, *, policy: Policy,
                         uow: UnitOfWork) -> settlement.CardPaymentRecord:
    """The buyer asks to pay an order awaiting payment by card; asking again returns the
    same card payment. The card is authorised now and captured on acceptance when the
    order's delivery and acceptance windows fit the card authorisation window, otherwise
    charged at once and held in the order's escrow.

    Raises:
        CardPaymentsUnavailable (the rail is offline), OrderNotFound, NotAParty,
        InvalidTransition (not awaiting payment), OrderFlagged, PaymentWindowClosed.
    """
    if not policy.card_payments:
        raise CardPaymentsUnavailable(rail="offline")
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        order.require_buyer(uow.actor)
        if order.status != OrderStatus.AWAITING_PAYMENT.value:
            raise InvalidTransition(current=order.status, target=OrderStatus.PAID.value)
        if order.flagged:
            raise OrderFlagged()
        if order.pay_by is not None and uow.clock.now() >= order.pay_by:
            raise PaymentWindowClosed()
        if order.amount <= 0:
            raise InvalidTransition(current=order.status, target=OrderStatus.PAID.value)
        card = settlement.open_card_payment(settlement.CardPaymentRequest(
            order_id=order.id, buyer_org_id=order.buyer_org_id, amount=order.amount,
            currency=order.currency, manual_capture=_manual_capture(policy),
            subscription_id=order.subscription_id), uow=uow.joined())
        uow.commit()
        return _view(card, buyer=True)


def get_card_payment(order_id: str, *, uow: UnitOfWork) -> settlement.CardPaymentRecord:
    """An order's card payment: its buyer, the operator and regulators.

    Raises:
        OrderNotFound, NotAParty, CardPaymentNotFound.
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id)
        if not uow.actor.has_role(Role.OPERATOR, Role.REGULATOR):
            order.require_buyer(uow.actor)
        card = settlement.card_payment_of(order.id, uow=uow.joined())
        if card is None:
            raise CardPaymentNotFound()
        return _view(card, buyer=uow.actor.org_id == order.buyer_org_id)


def record_card_payment(order_id: str, *, policy: Policy, uow: UnitOfWork) -> bool:
    """The rail heard from Stripe that the card paid the order (authorised or charged): the
    order is paid, as :func:`pay_order` pays it, with the money entering escrow from the
    rail. An order that can no longer be paid (cancelled, flagged, its window closed, paid
    another way) gives the card its money back. Returns whether the order was paid."""
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        if _collectable_renewal(uow, order):
            # a renewal: paid, delivered and its period extended as the renewal pass does
            journal = settlement.card_into_escrow(order.id, uow=uow.joined())
            renewal_paid(order.id, policy=policy, uow=uow.joined(), journal_id=journal)
            uow.commit()
            return True
        try:
            _into_escrow(uow, order, policy, lambda: settlement.card_into_escrow(
                order.id, uow=uow.joined()))
        except (InvalidTransition, OrderFlagged, PaymentWindowClosed) as refused:
            settlement.give_back_card_payment(order.id, refused.code, uow=uow.joined())
            uow.commit()
            return False
        uow.commit()
        return True


def _collectable_renewal(uow: UnitOfWork, order: Order) -> bool:
    """The order (locked) is its subscription's renewal awaiting payment and can be paid
    now (not flagged, its window open)."""
    if order.subscription_id is None or order.status != OrderStatus.AWAITING_PAYMENT.value \
            or order.flagged or (order.pay_by is not None and uow.clock.now() >= order.pay_by):
        return False
    sub = _of(uow, order)
    return sub is not None and not sub.terminal and sub.renewal_order_id == order.id


def collect_renewal_by_card(order_id: str, *, policy: Policy, uow: UnitOfWork) -> str | None:
    """The card rail was told a renewal is due (``subscription.renewal_due``): if the order
    is still its subscription's renewal awaiting collection now (not waiting for a retry),
    charge the card saved for the subscription off-session; with none saved the renewal
    fails (``no saved card``) and is retried in the grace period. Returns settlement's
    outcome (``queued``, ``pending``, ``paid``, ``no_saved_card``), None when nothing is due.

    Raises:
        OrderNotFound.
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        if not _collectable_renewal(uow, order):
            return None
        sub = _of(uow, order)
        assert sub is not None
        if sub.retry_at is not None:  # failed; the renewal pass asks again when it is due
            return None
        outcome = settlement.charge_saved_card(settlement.CardPaymentRequest(
            order_id=order.id, buyer_org_id=order.buyer_org_id, amount=order.amount,
            currency=order.currency, manual_capture=_manual_capture(policy),
            subscription_id=sub.id), uow=uow.joined())
        if outcome == settlement.NO_SAVED_CARD:
            renewal_failed(order.id, "no saved card", policy=policy, uow=uow.joined())
        uow.commit()
        return outcome


def card_renewal_declined(order_id: str, reason: str, *, policy: Policy,
                          uow: UnitOfWork) -> bool:
    """Stripe declined a renewal's off-session charge (``card_declined``,
    ``authentication_required``…): the renewal failed, the subscription is past due and the
    renewal pass retries in the grace period. False when the order is no longer a pending
    renewal (cancelled or lapsed meanwhile)."""
    try:
        renewal_failed(order_id, reason[:200], policy=policy, uow=uow)
    except SubscriptionNotRenewing:
        return False
    return True


def record_chargeback(order_id: str, dispute_id: str, what: str, *, uow: UnitOfWork) -> None:
    """A chargeback on the order's card payment: ``opened`` freezes the order (flagged, so
    it can be neither delivered nor accepted, and the deadlines pass it by); ``won``
    releases it; ``lost`` keeps it frozen for the operator's decision."""
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        reason = f"{CHARGEBACK} {dispute_id}"
        if what == "won":
            if order.flag_reason is not None and order.flag_reason.startswith(reason):
                order.unflag()
                uow.audit.record(uow.actor, "order.unflagged", "order", order.id,
                                 order.state())
        else:
            order.flag(reason if what == "opened" else f"{reason} lost")
            uow.audit.record(uow.actor, "order.flagged", "order", order.id, order.state())
            uow.outbox.enqueue("order.flagged", {"order_id": order.id})
        uow.commit()
