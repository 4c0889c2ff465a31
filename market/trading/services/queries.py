"""Reading orders: one order with its contract, deliveries and disputes; filtered keyset
lists; an order's history; and its money (ledger journals, postings and revenue
allocations). Each shows only what the caller may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from market.kernel.pagination import Page
from market.kernel.uow import UnitOfWork
from market.settlement import services as settlement
from market.trading import repository
from market.trading.domain import OrderFilters
from market.trading.models import Order, OrderEvent
from market.trading.services._common import OrderView


def get_order(order_id: str, *, uow: UnitOfWork) -> OrderView:
    """An order with its contract, deliveries and disputes.

    Raises:
        OrderNotFound: no such order visible to the caller.
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id)
        return OrderView(order, repository.find_contract(uow.session, order.id),
                         repository.deliveries_of(uow.session, order.id),
                         repository.disputes_of(uow.session, order.id))


def list_orders(filters: OrderFilters, *, uow: UnitOfWork, after: str | None = None,
                limit: int = 50) -> Page[Order]:
    """Orders the caller may see, newest id last (keyset pages)."""
    with uow:
        return repository.order_page(uow.session, uow.actor, filters, after=after,
                                     limit=limit)


def order_history(order_id: str, *, uow: UnitOfWork, after: str | None = None,
                  limit: int = 50) -> Page[OrderEvent]:
    """An order's moves, oldest first.

    Raises:
        OrderNotFound: no such order visible to the caller.
    """
    with uow:
        repository.get_order(uow.session, uow.actor, order_id)
        return repository.history_page(uow.session, order_id, after=after, limit=limit)


@dataclass(frozen=True)
class OrderMoney:
    journals: list[Any]
    postings: dict[str, list[Any]]
    allocations: list[Any]


def order_money(order_id: str, *, uow: UnitOfWork) -> OrderMoney:
    """An order's ledger journals with their postings and its revenue allocations, for its
    parties, the operator and regulators.

    Raises:
        OrderNotFound: no such order visible to the caller.
    """
    with uow:
        repository.get_order(uow.session, uow.actor, order_id)
        journals, allocations = settlement.order_money(uow.session, order_id)
        postings = settlement.journal_postings(uow.session, [j.id for j in journals])
        return OrderMoney(journals, postings, allocations)
