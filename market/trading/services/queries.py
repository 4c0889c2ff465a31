"""Reading orders: one order with its contract, deliveries and disputes; filtered keyset
lists; an order's history; and its money (ledger journals, postings and revenue
allocations). Each shows only what the caller may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from market.compliance import services as compliance
from market.compliance.errors import DeclarationNotFound
from market.kernel.db import record
from market.kernel.pagination import Page
from market.kernel.uow import UnitOfWork
from market.receipts import services as receipts
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
                         repository.disputes_of(uow.session, order.id),
                         receipts.receipts_of(uow.joined(), "order", [order.id])[order.id])


def list_orders(filters: OrderFilters, *, uow: UnitOfWork, after: str | None = None,
                limit: int = 50) -> Page[Any]:
    """Orders (frozen records) the caller may see, newest id last (keyset pages)."""
    with uow:
        return repository.order_page(uow.session, uow.actor, filters, after=after,
                                     limit=limit).map(record)


def order_commitment(order_id: str, *, uow: UnitOfWork) -> Any:
    """The buyer's purchase commitment (购买承诺) the order was placed under, a frozen
    record, for the order's parties, the operator and regulators: the seller learns what
    the buyer declared about the data's use (its digest is in the contract).

    Raises:
        OrderNotFound: no such order visible to the caller.
        DeclarationNotFound: the order carries no commitment.
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id)
        found = compliance.get_declaration_record(order.commitment_id, uow=uow.joined())
        if found is None:
            raise DeclarationNotFound()
        return found


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
    """An order's ledger journals, their postings and its revenue allocations (records)."""

    journals: list[Any]
    postings: dict[str, list[Any]]
    allocations: list[Any]


def _money(uow: UnitOfWork, order_id: str) -> OrderMoney:
    journals, allocations = settlement.order_money(order_id, uow=uow.joined())
    postings = settlement.journal_postings([j.id for j in journals], uow=uow.joined())
    return OrderMoney(journals, postings, allocations)


def order_money(order_id: str, *, uow: UnitOfWork) -> OrderMoney:
    """An order's ledger journals with their postings and its revenue allocations, for its
    parties, the operator and regulators.

    Raises:
        OrderNotFound: no such order visible to the caller.
    """
    with uow:
        repository.get_order(uow.session, uow.actor, order_id)
        return _money(uow, order_id)


@dataclass(frozen=True)
class OrderRecord:
    """An order as the operator and regulators inspect it, frozen: the order, its contract,
    deliveries, disputes and money."""

    order: Any
    contract: Any | None
    deliveries: list[Any]
    disputes: list[Any]
    money: OrderMoney
    receipts: list[dict[str, Any]]


def order_record(order_id: str, *, uow: UnitOfWork) -> OrderRecord:
    """An order with everything recorded about it, as frozen records.

    Raises:
        OrderNotFound: no such order visible to the caller.
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id)
        contract = repository.find_contract(uow.session, order.id)
        return OrderRecord(
            record(order), record(contract) if contract is not None else None,
            [record(d) for d in repository.deliveries_of(uow.session, order.id)],
            [record(d) for d in repository.disputes_of(uow.session, order.id)],
            _money(uow, order.id),
            receipts.receipts_of(uow.joined(), "order", [order.id])[order.id])


def order_document(view: OrderView | OrderRecord) -> dict[str, Any]:
    """An order as the API shows it: its fields, its contract's id and digest, its
    deliveries, disputes and receipts."""
    order = view.order
    data = {c.key: getattr(order, c.key) for c in Order.__table__.columns}
    data["contract_id"] = view.contract.id if view.contract else None
    data["contract_sha256"] = view.contract.sha256 if view.contract else None
    data["deliveries"] = view.deliveries
    data["disputes"] = view.disputes
    data["receipts"] = view.receipts
    return data


def ledger_document(money: OrderMoney) -> dict[str, Any]:
    """An order's money as the API shows it: journals with their postings, allocations."""
    return {"journals": [{"id": j.id, "kind": j.kind, "order_id": j.order_id, "memo": j.memo,
                          "posted_at": j.posted_at, "postings": money.postings[j.id]}
                         for j in money.journals],
            "allocations": money.allocations}


@dataclass(frozen=True)
class Fulfilment:
    """A seller's record on the exchange: orders it saw through and orders disputed."""

    completed: int
    disputed: int


def fulfilment(org_ids: list[str], *, uow: UnitOfWork) -> dict[str, Fulfilment]:
    """Each seller's fulfilment record (public standing that matching weighs), in one
    query: settled orders, and orders a buyer disputed."""
    counts = repository.fulfilment_counts(uow.session, org_ids)
    return {org: Fulfilment(*counts.get(org, (0, 0))) for org in org_ids}
