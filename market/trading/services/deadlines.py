"""The time limits the worker enforces, as the system: an unreviewed order is cancelled at
the end of its review window, an unpaid one at the end of its payment window; a paid order
not delivered in time is refunded; a delivered one nobody accepted or disputed in time is
accepted and settled; a dispute the merchant did not answer in time goes to the operator; an
operator's decision nobody took to arbitration is carried out when its escalation window
ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from market.compliance import services as compliance
from market.kernel.uow import UnitOfWork
from market.trading import repository
from market.trading.domain import OrderStatus
from market.trading.models import Order
from market.trading.services._common import _cancel, _refund
from market.trading.services.arbitration import carry_out_due_decisions
from market.trading.services.conclusion import _accept


@dataclass
class DeadlineRun:
    unreviewed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)
    auto_accepted: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    decisions_carried_out: list[str] = field(default_factory=list)  # disputes

    def as_dict(self) -> dict[str, list[str]]:
        return asdict(self)


def _expire_review(uow: UnitOfWork, order: Order) -> None:
    reason = "the review window ended"
    _cancel(uow, order, "review_expired", reason)
    compliance.track_review("order", order.id, order.buyer_org_id, "expired", reason,
                            uow=uow.joined())


def run_deadlines(*, uow: UnitOfWork, limit: int = 200) -> DeadlineRun:
    """Enforce the time limits (the worker, as the system): orders nobody reviewed in the
    review window are cancelled (and taken off the review queue); unpaid orders past the
    payment window are cancelled; paid orders not delivered in the delivery window are refunded;
    delivered orders not accepted or disputed in the acceptance window are accepted and
    settled; disputes the merchant did not answer in time go to the operator; decisions
    whose escalation window ended unescalated are carried out (the money moves as decided).

    Each order is handled in a transaction of its own, so one order's money never waits on
    another's, and what was done stays done if a later order fails."""
    run = DeadlineRun()
    now = uow.clock.now()
    # A flagged order is not accepted while its rights chain is broken: its money waits in
    # escrow for the rights to be restored or for a dispute's decision.
    duties: list[tuple[OrderStatus, Any, tuple[Any, ...], Callable[[Order], None],
                       list[str]]] = [
        (OrderStatus.CREATED, Order.review_by, (),
         lambda order: _expire_review(uow, order), run.unreviewed),
        (OrderStatus.AWAITING_PAYMENT, Order.pay_by, (),
         lambda order: _cancel(uow, order, "payment_expired", "the payment window ended"),
         run.cancelled),
        (OrderStatus.PAID, Order.deliver_by, (),
         lambda order: _refund(uow, order, "undelivered", "the delivery window ended"),
         run.refunded),
        (OrderStatus.DELIVERED, Order.accept_by, (Order.flagged.is_(False),),
         lambda order: _accept(uow, order, auto=True), run.auto_accepted),
    ]
    for status, column, conditions, act, done in duties:
        with uow:
            due = repository.due_order_ids(uow.session, status, column, now, limit,
                                           *conditions)
        for order_id in due:
            with uow:
                order = repository.still_due_for_update(uow.session, order_id, status, column,
                                                        now, *conditions)
                if order is None:
                    continue
                act(order)
                uow.commit()
            done.append(order_id)
    with uow:
        for dispute in repository.unanswered_disputes_for_update(uow.session, now, limit):
            dispute.lapse()
            uow.audit.record(uow.actor, "dispute.unanswered", "dispute", dispute.id,
                             dispute.state())
            run.unanswered.append(dispute.id)
        uow.commit()
    run.decisions_carried_out = carry_out_due_decisions(uow=uow, limit=limit)
    return run
