"""What several trading use cases share: the order view they return, the trading policy the
settings configure, and the recording of an order's moves (history row, audit entry and
outbox message) with the two ends that give things back: a cancellation returns the
offer's unit, a refund the escrow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from market.compliance import services as compliance
from market.kernel.actor import system_actor
from market.kernel.statemachine import record_move
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.receipts import services as receipts
from market.settlement import services as settlement
from market.trading.domain import OrderStatus, Policy
from market.trading.models import Contract, Delivery, Dispute, Order, OrderEvent
from market.trading.services import _subscribed


@dataclass(frozen=True)
class OrderView:
    order: Order
    contract: Contract | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    disputes: list[Dispute] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)


def policy_of(settings: Any) -> Policy:
    """The trading policy the settings configure."""
    return Policy(
        review_window=timedelta(hours=settings.review_window_hours),
        payment_window=timedelta(hours=settings.payment_window_hours),
        delivery_window=timedelta(hours=settings.delivery_window_hours),
        acceptance_window=timedelta(
            seconds=settings.acceptance_window_seconds
            or settings.acceptance_window_hours * 3600),
        answer_window=timedelta(hours=settings.dispute_answer_hours),
        download_ttl=timedelta(seconds=settings.download_ttl_seconds),
        download_limit=settings.download_limit,
        platform_fee_bps=settings.platform_fee_bps, holder_bps=settings.split_holder_bps,
        processor_bps=settings.split_processor_bps,
        renew_before=timedelta(seconds=settings.subscription_renew_before_seconds),
        renewal_grace=timedelta(seconds=settings.subscription_grace_seconds),
        renewal_retry=timedelta(seconds=settings.subscription_retry_seconds),
        payment_rail=str(getattr(settings, "payment_rail", "offline") or "offline"),
        card_payments=settings.payment_rail == "stripe",
        contract_signatures_required=bool(
            getattr(settings, "contract_signatures_required", False)),
        card_auth_window=timedelta(seconds=settings.stripe_auth_window_seconds),
        arbitration_window=timedelta(hours=settings.arbitration_window_hours),
        arbitration_institutions=tuple(settings.arbitration_institutions),
        public_fund_bps=int(getattr(settings, "public_fund_bps", 1000)))


def _move(uow: UnitOfWork, order: Order, target: OrderStatus, action: str,
          reason: str | None = None) -> None:
    _moved(uow, order, order.move(target, at=uow.clock.now()), target, action, reason)


def _moved(uow: UnitOfWork, order: Order, previous: str, target: OrderStatus, action: str,
           reason: str | None = None) -> None:
    """Record an order's move: its history, audit entry and event. (The ORM does not order
    inserts of unrelated mappers, so an order being placed is flushed before its history.)"""
    record_move(uow, OrderEvent, prefix="oev", subject={"order_id": order.id}, action=action,
                previous=previous, status=target.value, reason=reason, at=order.updated_at)
    uow.audit.record(uow.actor, f"order.{action}", "order", order.id, order.state())
    uow.outbox.enqueue(f"order.{target.value}", {"order_id": order.id})


def _cancel(uow: UnitOfWork, order: Order, action: str, reason: str | None) -> None:
    _move(uow, order, OrderStatus.CANCELLED, action, reason)
    if not _subscribed.is_renewal(uow, order):  # a renewal took no unit
        listing.release_unit(order.offer_id, uow=uow.joined())
    settlement.close_unpaid(order.id, order.buyer_org_id, uow=uow.joined())
    _subscribed.on_order_ended(uow, order, reason)


def _incident(uow: UnitOfWork, order: Order, kind: str) -> None:
    compliance.record_incident(kind, order_id=order.id, product_id=order.product_id,
                               seller_org_id=order.seller_org_id,
                               buyer_org_id=order.buyer_org_id,
                               uow=uow.joined(system_actor("monitoring")))


def _receipt(uow: UnitOfWork, order: Order, kind: receipts.Kind,
             record: dict[str, Any]) -> None:
    """A receipt for what just happened to ``order``, readable by both its parties."""
    receipts.issue(uow, kind=kind, subject_type="order", subject_id=order.id,
                   record={"order_id": order.id, "buyer_org_id": order.buyer_org_id,
                           "seller_org_id": order.seller_org_id, **record},
                   parties=[order.buyer_org_id, order.seller_org_id])


def _refund(uow: UnitOfWork, order: Order, action: str, reason: str) -> None:
    journal = settlement.refund(order_id=order.id, buyer_org_id=order.buyer_org_id,
                                amount=order.amount, currency=order.currency, uow=uow.joined())
    order.refunded_amount = order.amount
    _receipt(uow, order, receipts.Kind.REFUND, {
        "journal_id": journal, "amount": order.amount, "currency": order.currency,
        "reason": reason})
    _incident(uow, order, "refund")
    _move(uow, order, OrderStatus.REFUNDED, action, reason)
    if not _subscribed.is_renewal(uow, order):
        listing.release_unit(order.offer_id, uow=uow.joined())
    _subscribed.on_order_ended(uow, order, reason)
