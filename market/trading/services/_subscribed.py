"""What the order use cases tell a subscription, in their transaction: an order on a
subscription offer opens one, its first delivery starts the first period, an order of it
cancelled or refunded in full ends it or its renewal, and access checks ask whether a paid
period runs. Kept apart from the subscription use cases so the shared order moves
(``_common``) can call it. The order is locked before its subscription."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from market.kernel import canonical
from market.kernel.ids import new_id
from market.kernel.statemachine import record_move
from market.kernel.uow import UnitOfWork
from market.trading import repository
from market.trading.domain import SubscriptionStatus, period_end
from market.trading.models import (
    Contract,
    Delivery,
    Order,
    Subscription,
    SubscriptionEvent,
    SubscriptionTerms,
)

LAPSED = "subscription.lapsed"
CANCELLED = "subscription.cancelled"


def _digest(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical.dumps(document)).hexdigest()


def _history(uow: UnitOfWork, sub: Subscription, action: str, previous: str | None,
             reason: str | None = None) -> None:
    record_move(uow, SubscriptionEvent, prefix="sev", subject={"subscription_id": sub.id},
                action=action, previous=previous, status=sub.status, reason=reason,
                at=uow.clock.now())
    uow.audit.record(uow.actor, f"subscription.{action}", "subscription", sub.id, sub.state())


def _move(uow: UnitOfWork, sub: Subscription, target: SubscriptionStatus, action: str,
          reason: str | None = None) -> None:
    previous = sub.move(target, at=uow.clock.now())
    _history(uow, sub, action, previous, reason)


# -- opened with the first order --------------------------------------------------------------


def open_subscription(uow: UnitOfWork, order: Order, contract: Contract) -> Subscription:
    """The subscription an order on a subscription offer opens (pending until the order is
    delivered), with the contract's terms as the ones it renews under. The order carries
    the subscription's id already; the order and its contract are flushed first."""
    offer = contract.document["offer"]
    now = uow.clock.now()
    assert order.subscription_id is not None
    terms = SubscriptionTerms(
        id=new_id("sbt"), subscription_id=order.subscription_id, version_id=order.version_id,
        offer_id=order.offer_id, amount=order.amount, currency=order.currency,
        period=str(offer["period"]), commitment_id=order.commitment_id,
        decision_id=order.decision_id, document=contract.document, sha256=contract.sha256,
        accepted_at=now)
    sub = Subscription(
        id=order.subscription_id, buyer_org_id=order.buyer_org_id,
        seller_org_id=order.seller_org_id, product_id=order.product_id,
        offer_id=order.offer_id, first_order_id=order.id, contract_id=contract.id,
        terms_id=terms.id, period=terms.period, amount=order.amount,
        currency=order.currency, status=SubscriptionStatus.PENDING.value, renew=True,
        periods=0, current_order_id=order.id, failures=0, created_at=now, updated_at=now)
    uow.session.add(sub)
    uow.session.flush()
    uow.session.add(terms)
    _history(uow, sub, "opened", None)
    return sub


def _of(uow: UnitOfWork, order: Order) -> Subscription | None:
    """The order's subscription, locked (the order is locked already)."""
    if order.subscription_id is None:
        return None
    return repository.subscription_for_update(uow.session, order.subscription_id)


def is_renewal(uow: UnitOfWork, order: Order) -> bool:
    """Whether the order pays a renewed period (it took no unit of a limited offer)."""
    return order.subscription_id is not None and repository.first_order_of(
        uow.session, order.subscription_id) != order.id


def on_delivered(uow: UnitOfWork, order: Order, delivery: Delivery) -> None:
    """The first order delivered: the first period starts now and access lasts while it
    runs (a sandbox grant ends with it at the latest)."""
    sub = _of(uow, order)
    if sub is None or sub.status != SubscriptionStatus.PENDING.value:
        return
    now = uow.clock.now()
    sub.current_period_start, sub.current_period_end = now, period_end(now, sub.period)
    sub.periods = 1
    if delivery.access_to is None or delivery.access_to > sub.current_period_end:
        delivery.access_to = sub.current_period_end
    _move(uow, sub, SubscriptionStatus.ACTIVE, "started")


def on_order_ended(uow: UnitOfWork, order: Order, reason: str | None) -> None:
    """An order of the subscription was cancelled or refunded in full. The first order, or
    the one paying the period that runs: the subscription is cancelled (access ends now). A
    renewal waiting for payment: renewal is off, and the subscription lapses when the paid
    period ends (at once when it has ended)."""
    sub = _of(uow, order)
    if sub is None or sub.terminal:
        return
    now = uow.clock.now()
    if order.id == sub.renewal_order_id:  # the renewal will not be paid: renewal is off
        sub.renewal_order_id = sub.retry_at = sub.grace_until = None
        sub.renew = False
        sub.updated_at = now
        if sub.current_period_end is None or sub.current_period_end <= now:
            _lapse(uow, sub, reason or "the renewal was not paid")
        elif sub.status == SubscriptionStatus.PAST_DUE.value:
            _move(uow, sub, SubscriptionStatus.ACTIVE, "renewal_off", reason)
        else:
            _history(uow, sub, "renewal_off", sub.status, reason)
    elif order.id == sub.current_order_id:
        if sub.current_period_end is not None and sub.current_period_end > now:
            sub.current_period_end = now
        _move(uow, sub, SubscriptionStatus.CANCELLED, "cancelled", reason)
        uow.outbox.enqueue("subscription.cancelled", {"subscription_id": sub.id,
                                                      "order_id": order.id})


def grants_access(uow: UnitOfWork, order: Order) -> bool:
    """Whether the order's subscription (if it has one) has a paid period running now."""
    if order.subscription_id is None:
        return True
    sub = repository.get_subscription_row(uow.session, order.subscription_id)
    return sub is not None and sub.grants_access(uow.clock.now())


def access_end(uow: UnitOfWork, order: Order) -> datetime | None:
    """When access ends for an order of a subscription (its period's end)."""
    if order.subscription_id is None:
        return None
    sub = repository.get_subscription_row(uow.session, order.subscription_id)
    return sub.current_period_end if sub is not None else None


def _lapse(uow: UnitOfWork, sub: Subscription, reason: str) -> None:
    _move(uow, sub, SubscriptionStatus.LAPSED, "lapsed", reason)
    uow.outbox.enqueue("subscription.lapsed", {"subscription_id": sub.id})
