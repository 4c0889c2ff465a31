"""Paying an order: the price moves from the buyer's available balance into the order's
escrow, where it waits for the delivery and the acceptance."""

from __future__ import annotations

from market.kernel.uow import UnitOfWork
from market.receipts import services as receipts
from market.settlement import services as settlement
from market.trading import repository
from market.trading.domain import OrderStatus, Policy
from market.trading.services._common import OrderView, _moved, _receipt


def pay_order(order_id: str, *, policy: Policy, uow: UnitOfWork) -> OrderView:
    """The buyer pays: the price moves from its available balance into the order's escrow.

    Raises:
        OrderNotFound, NotAParty, InvalidTransition (not awaiting payment), OrderFlagged,
        PaymentWindowClosed, InsufficientFunds.
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        order.require_buyer(uow.actor)
        previous = order.pay(uow.clock.now(), delivery_window=policy.delivery_window)
        _moved(uow, order, previous, OrderStatus.PAID, "paid")
        journal = settlement.pay_into_escrow(
            order_id=order.id, buyer_org_id=order.buyer_org_id, amount=order.amount,
            currency=order.currency, uow=uow.joined())
        _receipt(uow, order, receipts.Kind.ESCROW_PAYMENT, {
            "journal_id": journal, "amount": order.amount, "currency": order.currency,
            "paid_at": order.updated_at})
        uow.commit()
        return OrderView(order)
