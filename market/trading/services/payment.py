"""Paying an order: the price moves into the order's escrow, from the buyer's available
balance (the offline rail) or from the card rail once Stripe says the card paid, and waits
there for the delivery and the acceptance."""

from __future__ import annotations

from collections.abc import Callable

from market.kernel.uow import UnitOfWork
from market.receipts import services as receipts
from market.settlement import services as settlement
from market.trading import repository
from market.trading.domain import OrderStatus, Policy
from market.trading.models import Order
from market.trading.services._common import OrderView, _moved, _receipt
from market.trading.services._subscribed import _of
from market.trading.services.subscriptions import _collected


def _into_escrow(uow: UnitOfWork, order: Order, policy: Policy,
                 collect: Callable[[], str | None]) -> None:
    """The order is paid: it moves to paid (refused unless it awaits payment, is not flagged
    and its window is open), ``collect`` moves the money into its escrow, and both parties
    get the receipt."""
    previous = order.pay(uow.clock.now(), delivery_window=policy.delivery_window)
    _moved(uow, order, previous, OrderStatus.PAID, "paid")
    journal = collect()
    _receipt(uow, order, receipts.Kind.ESCROW_PAYMENT, {
        "journal_id": journal, "amount": order.amount, "currency": order.currency,
        "paid_at": order.updated_at})


def pay_order(order_id: str, *, policy: Policy, uow: UnitOfWork) -> OrderView:
    """The buyer pays: the price moves from its available balance into the order's escrow.

    Raises:
        OrderNotFound, NotAParty, InvalidTransition (not awaiting payment), OrderFlagged,
        PaymentWindowClosed, InsufficientFunds.
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        order.require_buyer(uow.actor)
        sub = _of(uow, order)
        if sub is not None and sub.renewal_order_id == order.id:
            # The buyer pays a renewal the rail has not collected (its card declined, say):
            # the period is renewed as if the rail had collected it.
            journal = settlement.pay_into_escrow(
                order_id=order.id, buyer_org_id=order.buyer_org_id, amount=order.amount,
                currency=order.currency, uow=uow.joined())
            _collected(uow, sub, order, policy, journal)
        else:
            _into_escrow(uow, order, policy, lambda: settlement.pay_into_escrow(
                order_id=order.id, buyer_org_id=order.buyer_org_id, amount=order.amount,
                currency=order.currency, uow=uow.joined()))
        uow.commit()
        return OrderView(order)
