"""Trading's reactions to the rights context's events, in the same transaction: orders of a
product whose rights chain broke are flagged (no payment or delivery until it holds again),
and cleared once it does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from market.kernel.uow import UnitOfWork
from market.rights import services as rights
from market.trading import repository
from market.trading.services.cards import CHARGEBACK


def on_rights_unavailable(uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
    """Flag the open orders of products whose rights chain just broke: they cannot be paid
    or delivered until the rights are restored."""
    products = rights.operated_products(payload["right_ids"], uow=uow.joined())
    if not products:
        return
    for order in repository.open_orders_of(uow.session, products):
        order.flag(f"rights chain broken: {payload.get('reason', '')}".strip())
        uow.audit.record(uow.actor, "order.flagged", "order", order.id, order.state())
        uow.outbox.enqueue("order.flagged", {"order_id": order.id})


def on_rights_restored(uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
    """Clear the flag of orders whose product's chain holds again."""
    products = rights.operated_products(payload["right_ids"], uow=uow.joined())
    if not products:
        return
    for order in repository.flagged_orders_of(uow.session, products):
        if (order.flag_reason or "").startswith(CHARGEBACK):
            continue  # frozen by a chargeback, not by the rights: the dispute releases it
        if rights.check_chain(order.product_id, uow.clock.now(), uow=uow.joined()).ok:
            order.unflag()
            uow.audit.record(uow.actor, "order.unflagged", "order", order.id, order.state())
