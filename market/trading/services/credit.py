"""Public credit marks (信用评价): trading gathers what only it knows of a participant as a
seller (orders completed and failed by its fault, deliveries on time, disputes opened
against it and lost), asks compliance for its declaration breaches and participants for
its sanctions, and passes the records down by value to participants, which computes and
keeps the mark. The worker recomputes every mark each sweep; ``market credit recompute``
does it on demand."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from market.compliance import services as compliance
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.trading.domain import DisputeOutcome, OrderStatus
from market.trading.models import Dispute, Order

COMPLETED = (OrderStatus.ACCEPTED.value, OrderStatus.SETTLED.value)
LOST = (DisputeOutcome.PARTIAL_REFUND.value, DisputeOutcome.FULL_REFUND.value)


@dataclass(frozen=True)
class SellerRecord:
    """A participant's record as a seller."""

    completed: int = 0  # accepted or settled
    failed: int = 0  # refunded in full: not delivered in time, or a dispute lost in full
    on_time: int = 0  # delivered within the delivery window
    late: int = 0  # refunded without a delivery
    disputes_opened: int = 0
    disputes_lost: int = 0  # decided with a partial or full refund


def seller_records(org_ids: Iterable[str], *, uow: UnitOfWork) -> dict[str, SellerRecord]:
    """Each participant's record as a seller, in two queries."""
    ids = sorted(set(org_ids))
    if not ids:
        return {}
    on_time = and_(Order.delivered_at.is_not(None),
                   or_(Order.deliver_by.is_(None), Order.delivered_at <= Order.deliver_by))
    refunded = Order.status == OrderStatus.REFUNDED.value
    orders = {org: (int(a), int(b), int(c), int(d)) for org, a, b, c, d in uow.session.execute(
        select(Order.seller_org_id, func.count().filter(Order.status.in_(COMPLETED)),
               func.count().filter(refunded), func.count().filter(on_time),
               func.count().filter(and_(refunded, Order.delivered_at.is_(None))))
        .where(Order.seller_org_id.in_(ids)).group_by(Order.seller_org_id))}
    disputes = {org: (int(a), int(b)) for org, a, b in uow.session.execute(
        select(Order.seller_org_id, func.count(), func.count().filter(Dispute.outcome.in_(LOST)))
        .join(Dispute, Dispute.order_id == Order.id)
        .where(Order.seller_org_id.in_(ids)).group_by(Order.seller_org_id))}
    return {org: SellerRecord(*orders.get(org, (0, 0, 0, 0)), *disputes.get(org, (0, 0)))
            for org in ids}


def credit_inputs(org_ids: Sequence[str], *, uow: UnitOfWork,
                  ) -> dict[str, participants.CreditInputs]:
    """What each participant's credit mark is computed from, gathered from trading,
    compliance and participants in the caller's transaction."""
    trades = seller_records(org_ids, uow=uow)
    breaches = compliance.breach_records(list(org_ids), uow=uow.joined())
    sanctions = participants.sanction_records(org_ids, uow=uow.joined())
    found = {}
    for org in org_ids:
        if org not in sanctions:
            continue
        t, (count, points), s = trades.get(org, SellerRecord()), breaches[org], sanctions[org]
        found[org] = participants.CreditInputs(
            completed=t.completed, failed=t.failed, on_time=t.on_time, late=t.late,
            disputes_opened=t.disputes_opened, disputes_lost=t.disputes_lost,
            breach_points=points, breaches=count, suspended_now=s.suspended_now,
            blacklisted=s.blacklisted, past_suspensions=s.past_suspensions)
    return found


def recompute_credit_marks(*, uow: UnitOfWork, org_ids: Sequence[str] | None = None,
                           ) -> list[str]:
    """Recompute the credit marks of ``org_ids`` (every rated participant by default) from
    their current records; returns the ids whose mark changed."""
    with uow:
        ids = (list(org_ids) if org_ids is not None
               else participants.rated_organisations(uow=uow.joined()))
        changed = participants.record_credit_marks(credit_inputs(ids, uow=uow),
                                                   uow=uow.joined())
        uow.commit()
        return changed
