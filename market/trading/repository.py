"""Trading queries: orders, disputes and subscriptions scoped to what the acting principal
may see (its own organisation's; operators, regulators and the system every one; assessors also the
orders waiting for review), the row-locking getters every transition starts from, the
orders the deadlines find due, the subscriptions the renewal pass finds due, and the keyset
pages of lists. Never commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from market.kernel.actor import Actor, Role
from market.kernel.audit import AuditEntry
from market.kernel.db import one_or
from market.kernel.pagination import Page, keyset_page, where_given
from market.trading.domain import (
    LIVE_SUBSCRIPTIONS,
    OPEN,
    DeliveryMode,
    DisputeStatus,
    OrderFilters,
    OrderStatus,
    SubscriptionStatus,
)
from market.trading.errors import DisputeNotFound, OrderNotFound, SubscriptionNotFound
from market.trading.models import (
    Contract,
    Delivery,
    Dispute,
    DownloadToken,
    Order,
    OrderEvent,
    Subscription,
    SubscriptionEvent,
    SubscriptionTerms,
)

SEE_ALL = (Role.OPERATOR, Role.REGULATOR)


def sees_all(actor: Actor) -> bool:
    return actor.is_system or actor.has_role(*SEE_ALL)


# -- orders ----------------------------------------------------------------------------------


def visible_orders(actor: Actor) -> Select[Any]:
    stmt = select(Order)
    if sees_all(actor):
        return stmt
    org = actor.org_id or ""
    if actor.has_role(Role.ASSESSOR):  # assessors review orders the rules sent to review
        return stmt.where((Order.buyer_org_id == org) | (Order.seller_org_id == org)
                          | (Order.status == OrderStatus.CREATED.value))
    return stmt.where((Order.buyer_org_id == org) | (Order.seller_org_id == org))


def get_order(session: Session, actor: Actor, order_id: str, *,
              for_update: bool = False) -> Order:
    """The order, if the actor may see it (row-locked for a transition with
    ``for_update``).

    Raises:
        OrderNotFound.
    """
    found: Order = one_or(session, visible_orders(actor).where(Order.id == order_id),
                          OrderNotFound, for_update=for_update)
    return found


def order_page(session: Session, actor: Actor, filters: OrderFilters, *, after: str | None,
               limit: int) -> Page[Order]:
    stmt = visible_orders(actor)
    org = actor.org_id or ""
    if filters.role == "buyer":
        stmt = stmt.where(Order.buyer_org_id == org)
    elif filters.role == "seller":
        stmt = stmt.where(Order.seller_org_id == org)
    if filters.status:
        stmt = stmt.where(Order.status == filters.status)
    if filters.product:
        stmt = stmt.where(Order.product_id == filters.product)
    if filters.party:
        stmt = stmt.where((Order.buyer_org_id == filters.party)
                          | (Order.seller_org_id == filters.party))
    if filters.created_from:
        stmt = stmt.where(Order.created_at >= filters.created_from)
    if filters.created_to:
        stmt = stmt.where(Order.created_at < filters.created_to)
    if filters.min_amount is not None:
        stmt = stmt.where(Order.amount >= filters.min_amount)
    if filters.max_amount is not None:
        stmt = stmt.where(Order.amount <= filters.max_amount)
    return keyset_page(session, stmt, Order.id, after=after, limit=limit)


def history_page(session: Session, order_id: str, *, after: str | None,
                 limit: int) -> Page[OrderEvent]:
    stmt = select(OrderEvent).where(OrderEvent.order_id == order_id)
    return keyset_page(session, stmt, OrderEvent.id, after=after, limit=limit)


def find_contract(session: Session, order_id: str) -> Contract | None:
    found: Contract | None = session.scalars(
        select(Contract).where(Contract.order_id == order_id)).one_or_none()
    return found


def contract_of(session: Session, order: Order) -> Contract:
    """The order's contract. It never changes: reading it need not flush the order's pending
    transition first (the order then reaches the database once, in its final state)."""
    with session.no_autoflush:
        found: Contract = session.scalars(select(Contract).where(
            Contract.order_id == order.id)).one()
    return found


def deliveries_of(session: Session, order_id: str) -> list[Delivery]:
    return list(session.scalars(select(Delivery).where(
        Delivery.order_id == order_id).order_by(Delivery.id)))


def disputes_of(session: Session, order_id: str) -> list[Dispute]:
    return list(session.scalars(select(Dispute).where(
        Dispute.order_id == order_id).order_by(Dispute.id)))


def open_orders_of(session: Session, product_ids: Iterable[str]) -> list[Order]:
    """The open orders of these products, row-locked."""
    return list(session.scalars(
        select(Order).where(Order.product_id.in_(sorted(product_ids)),
                            Order.status.in_([s.value for s in OPEN]))
        .order_by(Order.id).with_for_update()))


def flagged_orders_of(session: Session, product_ids: Iterable[str]) -> list[Order]:
    """The flagged orders of these products, row-locked."""
    return list(session.scalars(
        select(Order).where(Order.product_id.in_(sorted(product_ids)),
                            Order.flagged.is_(True)).order_by(Order.id).with_for_update()))


# -- deliveries --------------------------------------------------------------------------------


def file_delivery(session: Session, order_id: str) -> Delivery | None:
    """The order's latest file delivery."""
    found: Delivery | None = session.scalars(
        select(Delivery).where(Delivery.order_id == order_id,
                               Delivery.mode == DeliveryMode.FILE.value)
        .order_by(Delivery.id.desc())).first()
    return found


def delivery_by_credential(session: Session, credential_hash: str) -> Delivery | None:
    found: Delivery | None = session.scalars(select(Delivery).where(
        Delivery.credential_hash == credential_hash)).one_or_none()
    return found


def download_token_for_update(session: Session, token_hash: str) -> DownloadToken | None:
    found: DownloadToken | None = session.scalars(
        select(DownloadToken).where(DownloadToken.token_hash == token_hash)
        .with_for_update()).one_or_none()
    return found


# -- disputes ----------------------------------------------------------------------------------


def visible_disputes(actor: Actor) -> Select[Any]:
    stmt = select(Dispute)
    if sees_all(actor):
        return stmt
    org = actor.org_id or ""
    return stmt.where((Dispute.buyer_org_id == org) | (Dispute.seller_org_id == org))


def get_dispute(session: Session, actor: Actor, dispute_id: str, *,
                for_update: bool = False) -> Dispute:
    """The dispute, if the actor may see it (row-locked with ``for_update``).

    Raises:
        DisputeNotFound.
    """
    found: Dispute = one_or(session, visible_disputes(actor).where(Dispute.id == dispute_id),
                            DisputeNotFound, for_update=for_update)
    return found


def dispute_page(session: Session, actor: Actor, *, status: str | None, after: str | None,
                 limit: int) -> Page[Dispute]:
    return keyset_page(session, where_given(visible_disputes(actor), (Dispute.status, status)),
                       Dispute.id, after=after, limit=limit)


# -- deadlines ---------------------------------------------------------------------------------


def due_order_ids(session: Session, status: OrderStatus, column: Any, now: datetime,
                  limit: int, *conditions: Any) -> list[str]:
    """Orders in ``status`` whose deadline ``column`` has passed, earliest first."""
    return list(session.scalars(
        select(Order.id).where(Order.status == status.value, column.is_not(None),
                               column <= now, *conditions)
        .order_by(column, Order.id).limit(limit)))


def still_due_for_update(session: Session, order_id: str, status: OrderStatus, column: Any,
                         now: datetime, *conditions: Any) -> Order | None:
    """The order, locked, if it is still due (nobody acted on it meanwhile); None if it is
    not, or if another worker holds it."""
    found: Order | None = session.scalars(
        select(Order).where(Order.id == order_id, Order.status == status.value,
                            column <= now, *conditions)
        .with_for_update(skip_locked=True)).one_or_none()
    return found


def unanswered_disputes_for_update(session: Session, now: datetime,
                                   limit: int) -> list[Dispute]:
    """Open disputes whose answer window ended, locked; those another worker holds are
    skipped."""
    return list(session.scalars(
        select(Dispute).where(Dispute.status == DisputeStatus.OPEN.value,
                              Dispute.answer_by <= now)
        .order_by(Dispute.answer_by, Dispute.id).limit(limit)
        .with_for_update(skip_locked=True)))


def _decision_due(now: datetime) -> tuple[Any, ...]:
    """An operator's decision not carried out whose escalation window has ended."""
    return (Dispute.status == DisputeStatus.DECIDED.value, Dispute.carried_out_at.is_(None),
            Dispute.escalate_by.is_not(None), Dispute.escalate_by <= now)


def due_decision_ids(session: Session, now: datetime, limit: int) -> list[str]:
    """Disputes whose decision is due to be carried out, earliest window end first."""
    return list(session.scalars(select(Dispute.id).where(*_decision_due(now))
                                .order_by(Dispute.escalate_by, Dispute.id).limit(limit)))


def decision_still_due_for_update(session: Session, dispute_id: str,
                                  now: datetime) -> Dispute | None:
    """The dispute, locked, if its decision is still due (nobody escalated it meanwhile);
    None if not, or if another worker holds it."""
    found: Dispute | None = session.scalars(
        select(Dispute).where(Dispute.id == dispute_id, *_decision_due(now))
        .with_for_update(skip_locked=True)).one_or_none()
    return found


# -- evidence ----------------------------------------------------------------------------------


def download_tokens_of(session: Session, order_id: str) -> list[DownloadToken]:
    return list(session.scalars(select(DownloadToken).where(
        DownloadToken.order_id == order_id).order_by(DownloadToken.created_at,
                                                     DownloadToken.id)))


def order_events(session: Session, order_id: str) -> list[OrderEvent]:
    return list(session.scalars(select(OrderEvent).where(
        OrderEvent.order_id == order_id).order_by(OrderEvent.at, OrderEvent.id)))


def audit_entries(session: Session, object_ids: Iterable[str]) -> list[AuditEntry]:
    """The audit log's entries about these objects, in chain order."""
    return list(session.scalars(select(AuditEntry).where(
        AuditEntry.object_id.in_(sorted(set(object_ids)))).order_by(AuditEntry.seq)))


def fulfilment_counts(session: Session, org_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
    """(settled orders, orders with a dispute) of each seller."""
    ids = sorted(set(org_ids))
    if not ids:
        return {}
    disputed = (select(Dispute.order_id).where(Dispute.order_id == Order.id).exists())
    rows = session.execute(
        select(Order.seller_org_id,
               func.count().filter(Order.status == OrderStatus.SETTLED.value),
               func.count().filter(disputed))
        .where(Order.seller_org_id.in_(ids)).group_by(Order.seller_org_id))
    return {org: (int(done), int(fought)) for org, done, fought in rows}


# -- subscriptions -----------------------------------------------------------------------------


def visible_subscriptions(actor: Actor) -> Select[Any]:
    stmt = select(Subscription)
    if sees_all(actor):
        return stmt
    org = actor.org_id or ""
    return stmt.where((Subscription.buyer_org_id == org) | (Subscription.seller_org_id == org))


def get_subscription(session: Session, actor: Actor, subscription_id: str, *,
                     for_update: bool = False) -> Subscription:
    """The subscription, if the actor may see it (row-locked with ``for_update``).

    Raises:
        SubscriptionNotFound.
    """
    found: Subscription = one_or(
        session, visible_subscriptions(actor).where(Subscription.id == subscription_id),
        SubscriptionNotFound, for_update=for_update)
    return found


def get_subscription_row(session: Session, subscription_id: str) -> Subscription | None:
    return session.get(Subscription, subscription_id)


def subscription_for_update(session: Session, subscription_id: str) -> Subscription | None:
    found: Subscription | None = session.scalars(
        select(Subscription).where(Subscription.id == subscription_id)
        .with_for_update()).one_or_none()
    return found


def first_order_of(session: Session, subscription_id: str) -> str | None:
    found: str | None = session.scalar(select(Subscription.first_order_id).where(
        Subscription.id == subscription_id))
    return found


def subscription_terms(session: Session, terms_id: str) -> SubscriptionTerms:
    found: SubscriptionTerms = session.scalars(select(SubscriptionTerms).where(
        SubscriptionTerms.id == terms_id)).one()
    return found


def subscription_page(session: Session, actor: Actor, *, status: str | None,
                      role: str | None, after: str | None,
                      limit: int) -> Page[Subscription]:
    stmt = where_given(visible_subscriptions(actor), (Subscription.status, status))
    org = actor.org_id or ""
    if role == "buyer":
        stmt = stmt.where(Subscription.buyer_org_id == org)
    elif role == "seller":
        stmt = stmt.where(Subscription.seller_org_id == org)
    return keyset_page(session, stmt, Subscription.id, after=after, limit=limit)


def subscription_history_page(session: Session, subscription_id: str, *, after: str | None,
                              limit: int) -> Page[SubscriptionEvent]:
    stmt = select(SubscriptionEvent).where(SubscriptionEvent.subscription_id == subscription_id)
    return keyset_page(session, stmt, SubscriptionEvent.id, after=after, limit=limit)


_LIVE = [s.value for s in LIVE_SUBSCRIPTIONS]


def _lapsing(now: datetime) -> Any:
    return (Subscription.status.in_(_LIVE)
            & (((Subscription.status == SubscriptionStatus.ACTIVE.value)
                & Subscription.renew.is_(False) & Subscription.renewal_order_id.is_(None)
                & (Subscription.current_period_end <= now))
               | (Subscription.grace_until <= now)))


def subscriptions_to_lapse(session: Session, now: datetime, limit: int) -> list[str]:
    """Subscriptions whose renewal is off and whose period has ended, and those whose grace
    after a failed or unpaid renewal has ended."""
    return list(session.scalars(select(Subscription.id).where(_lapsing(now))
                                .order_by(Subscription.id).limit(limit)))


def lapsing_for_update(session: Session, subscription_id: str,
                       now: datetime) -> Subscription | None:
    """The subscription, locked, if it is still due to lapse and no other worker holds it."""
    found: Subscription | None = session.scalars(
        select(Subscription).where(Subscription.id == subscription_id, _lapsing(now))
        .with_for_update(skip_locked=True)).one_or_none()
    return found


def _renewing(now: datetime, horizon: datetime) -> Any:
    return (Subscription.status.in_(_LIVE) & Subscription.renew.is_(True)
            & Subscription.renewal_order_id.is_(None)
            & (((Subscription.status == SubscriptionStatus.ACTIVE.value)
                & (Subscription.current_period_end <= horizon))
               | ((Subscription.status == SubscriptionStatus.PAST_DUE.value)
                  & (Subscription.retry_at <= now))))


def subscriptions_to_renew(session: Session, now: datetime, horizon: datetime,
                           limit: int) -> list[str]:
    """Subscriptions renewing whose period ends by ``horizon`` and have no renewal placed,
    and past-due ones whose next attempt is due."""
    return list(session.scalars(select(Subscription.id).where(_renewing(now, horizon))
                                .order_by(Subscription.current_period_end, Subscription.id)
                                .limit(limit)))


def renewing_for_update(session: Session, subscription_id: str, now: datetime,
                        horizon: datetime) -> Subscription | None:
    found: Subscription | None = session.scalars(
        select(Subscription).where(Subscription.id == subscription_id,
                                   _renewing(now, horizon))
        .with_for_update(skip_locked=True)).one_or_none()
    return found


def _collecting(now: datetime) -> Any:
    return (Subscription.status.in_(_LIVE) & Subscription.renewal_order_id.is_not(None)
            & (Subscription.retry_at <= now))


def renewals_to_collect(session: Session, now: datetime, limit: int) -> list[str]:
    """Subscriptions with a renewal placed whose (next) collection is due."""
    return list(session.scalars(select(Subscription.id).where(_collecting(now))
                                .order_by(Subscription.retry_at, Subscription.id)
                                .limit(limit)))


def due_renewal_order(session: Session, subscription_id: str, now: datetime) -> str | None:
    found: str | None = session.scalar(select(Subscription.renewal_order_id).where(
        Subscription.id == subscription_id, _collecting(now)))
    return found


def due_charge_for_update(session: Session, subscription_id: str,
                          now: datetime) -> Subscription | None:
    found: Subscription | None = session.scalars(
        select(Subscription).where(Subscription.id == subscription_id, _collecting(now))
        .with_for_update(skip_locked=True)).one_or_none()
    return found


def renewal_order_of(session: Session, subscription_id: str) -> str | None:
    found: str | None = session.scalar(select(Subscription.renewal_order_id).where(
        Subscription.id == subscription_id))
    return found


def renewal_order_for_update(session: Session, order_id: str) -> Order | None:
    """A renewal's order, locked, unless another transaction holds it."""
    found: Order | None = session.scalars(
        select(Order).where(Order.id == order_id).with_for_update(skip_locked=True)
    ).one_or_none()
    return found
