"""Refunds after settlement: a settled order gives money back to its buyer, in part and
more than once, up to what it billed, by the operator's decision on a dispute or an
arbitration award, or by the merchant's goodwill. The order stays settled; its
``refunded_amount`` says how much went back. Each refund is taken from the allocations in
proportion (settlement), recorded on the trade's filing (compliance), proved by a receipt
and announced on the outbox (``refund.issued``), all in one transaction that takes the
order's row lock first."""

from __future__ import annotations

from dataclasses import dataclass

from market.compliance import services as compliance
from market.kernel.actor import Role, require, system_actor
from market.kernel.uow import UnitOfWork
from market.receipts import services as receipts
from market.settlement import services as settlement
from market.trading import repository
from market.trading.domain import OrderStatus
from market.trading.errors import OrderNotSettled
from market.trading.services._common import _incident, _receipt

REFUND_ISSUED = "refund.issued"


@dataclass(frozen=True)
class OrderRefunds:
    """An order's refunds after settlement, what went back in all (with a dispute's refund
    at settlement) and what is left to refund."""

    items: list[settlement.RefundRecord]
    refunded_amount: int
    refundable_amount: int


def refund_order(order_id: str, amount: int, cause: settlement.RefundCause, reason: str, *,
                 uow: UnitOfWork) -> settlement.RefundRecord:
    """Give ``amount`` of a settled order back to its buyer: the merchant (the seller) out of
    goodwill, the operator for a dispute decision or an arbitration award. Taken from every
    payee's share and the platform fee in proportion; what a payee's payable balance no
    longer holds is recorded as a receivable against it.

    Raises:
        RoleNotAllowed: goodwill from anyone but a merchant, a dispute or arbitration refund
            from anyone but the operator.
        OrderNotFound, NotAParty (goodwill from a merchant that is not the seller),
        OrderNotSettled, RefundExceedsPaid.
    """
    if cause is settlement.RefundCause.GOODWILL:
        require(uow.actor, Role.MERCHANT)
    else:
        require(uow.actor, Role.OPERATOR)
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        if cause is settlement.RefundCause.GOODWILL:
            order.require_seller(uow.actor)
        if order.status != OrderStatus.SETTLED.value:
            raise OrderNotSettled()
        refund = settlement.refund_settled(
            order_id=order.id, buyer_org_id=order.buyer_org_id, amount=amount, cause=cause,
            reason=reason, uow=uow.joined())
        now = uow.clock.now()
        order.refunded_amount += amount
        order.updated_at = now
        uow.audit.record(uow.actor, "order.refunded_after_settlement", "order", order.id,
                         {**order.state(), "refund_id": refund.id})
        compliance.record_refund(compliance.TradeRefund(
            order_id=order.id, refund_id=refund.id, amount=amount, currency=refund.currency,
            cause=cause.value, reason=reason, refunded_at=now),
            uow=uow.joined(system_actor("trading")))
        _receipt(uow, order, receipts.Kind.REFUND, {
            "refund_id": refund.id, "journal_id": refund.journal_id, "amount": amount,
            "currency": refund.currency, "cause": cause.value, "reason": reason,
            "refunded_at": now, "lines": [
                {"role": line.role, "org_id": line.org_id, "amount": line.amount,
                 "receivable": line.receivable} for line in refund.lines]})
        _incident(uow, order, "refund")
        uow.outbox.enqueue("refund.issued", {"order_id": order.id, "refund_id": refund.id,
                                           "amount": amount, "currency": refund.currency})
        uow.commit()
        return refund


def list_refunds(order_id: str, *, uow: UnitOfWork) -> OrderRefunds:
    """An order's refunds after settlement with their lines, for its parties, the operator
    and regulators.

    Raises:
        OrderNotFound: no such order visible to the caller.
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id)
        return OrderRefunds(settlement.order_refunds(order.id, uow=uow.joined()),
                            order.refunded_amount,
                            settlement.refundable(order.id, uow=uow.joined())
                            if order.status == OrderStatus.SETTLED.value else 0)
