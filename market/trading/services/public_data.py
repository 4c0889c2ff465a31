"""Public-data trades as regulators see them: counts and amounts by purpose class (the
buyer class an order of public data was bought for) and currency."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select

from market.kernel.uow import UnitOfWork
from market.trading.domain import OrderStatus
from market.trading.models import Order


@dataclass(frozen=True)
class PurposeTally:
    """Orders of public data bought for one purpose class, in one currency: all of them but
    the cancelled, their price and refunds, and how many settled."""

    purpose_class: str
    currency: str
    orders: int
    amount: int
    refunded: int
    settled: int


def public_data_trades(*, uow: UnitOfWork) -> list[PurposeTally]:
    """Every public-data order but the cancelled, tallied by purpose class and currency."""
    settled = func.sum(case((Order.status == OrderStatus.SETTLED.value, 1), else_=0))
    with uow:
        rows = uow.session.execute(
            select(Order.purpose_class, Order.currency, func.count(), func.sum(Order.amount),
                   func.sum(Order.refunded_amount), settled)
            .where(Order.purpose_class.is_not(None),
                   Order.status != OrderStatus.CANCELLED.value)
            .group_by(Order.purpose_class, Order.currency)
            .order_by(Order.purpose_class, Order.currency)).all()
        return [PurposeTally(str(p), str(c), int(n), int(a or 0), int(r or 0), int(s or 0))
                for p, c, n, a, r, s in rows]
