"""Concluding an order: the buyer's acceptance (or the acceptance window ending) settles it
at once: the trade is filed (登记备案) and the escrow split by the contract's distribution
rule; a pay-per-use order bills the units used, capped, and gives the rest of its deposit
back."""

from __future__ import annotations

from market.compliance import services as compliance
from market.kernel.actor import system_actor
from market.kernel.uow import UnitOfWork
from market.receipts import services as receipts
from market.settlement import services as settlement
from market.trading import metering, repository
from market.trading.domain import OrderStatus
from market.trading.errors import FingerprintMismatch
from market.trading.models import Order
from market.trading.services._common import OrderView, _moved, _receipt


def _conclude(uow: UnitOfWork, order: Order, *, refund: int = 0) -> None:
    """Settle an accepted or resolved order: file the trade (登记备案), then split the escrow
    by the contract's rule (less any partial refund). The shared rows (the filing counter,
    the platform's fee account, the parties' payable accounts) are taken as late as can be,
    after everything that only reads, so concurrent settlements queue on them briefly."""
    contract = repository.contract_of(uow.session, order)
    price, deposit = order.amount, None
    if metering.is_metered(contract):  # the units used, capped; the rest of the cap goes back
        price, deposit = metering.usage(uow.session, order, contract).billed, order.amount
    now = uow.clock.now()
    order.refunded_amount = refund
    _moved(uow, order, order.settle(now), OrderStatus.SETTLED, "settled")
    document = contract.document
    compliance.file_trade(compliance.TradeFiling(
        order_id=order.id, product_id=order.product_id, version_id=order.version_id,
        product_title=document["product"]["title"], sector=document["product"]["sector"],
        product_type=document["product"]["type"], seller_org_id=order.seller_org_id,
        buyer_org_id=order.buyer_org_id, amount=price - refund,
        currency=order.currency, rights_chain=document["rights_chain"],
        declaration_ids=[order.commitment_id],
        decision_ids=compliance.decision_ids(order.id, uow=uow.joined()),
        channel=str(document.get("origin", {}).get("channel") or "catalogue"),
        origin=document.get("origin"), concluded_at=now),
        uow=uow.joined(system_actor("trading")))
    allocations = settlement.settle(
        order_id=order.id, buyer_org_id=order.buyer_org_id, amount=price,
        currency=order.currency, rule=contract.document["distribution"], refund=refund,
        deposit=deposit, uow=uow.joined())
    _receipt(uow, order, receipts.Kind.SETTLEMENT, {
        "price": price, "refund": refund, "currency": order.currency, "settled_at": now,
        "contract_sha256": contract.sha256,
        "allocations": [{"role": a.role, "org_id": a.org_id, "amount": a.amount,
                         "refunded": a.refunded} for a in allocations]})


def _accept(uow: UnitOfWork, order: Order, *, auto: bool) -> None:
    previous = order.accept(uow.clock.now(), auto=auto)
    _moved(uow, order, previous, OrderStatus.ACCEPTED, "auto_accepted" if auto else "accepted",
           "the acceptance window ended" if auto else None)
    _conclude(uow, order)


def accept_order(order_id: str, *, uow: UnitOfWork, sha256: str | None = None) -> OrderView:
    """The buyer accepts the delivery (optionally confirming the file's fingerprint); the
    order settles at once: the escrow is split and the trade filed.

    Raises:
        OrderNotFound, NotAParty, InvalidTransition, FingerprintMismatch, OrderFlagged (the
        rights chain broke after delivery: dispute instead, or wait for the rights).
    """
    with uow:
        order = repository.get_order(uow.session, uow.actor, order_id, for_update=True)
        order.require_buyer(uow.actor)
        order.check_acceptable()
        if sha256 is not None and order.status == OrderStatus.DELIVERED.value:
            delivery = repository.file_delivery(uow.session, order.id)
            if delivery is None or delivery.sha256 != sha256.lower():
                raise FingerprintMismatch()
        _accept(uow, order, auto=False)
        uow.commit()
        return OrderView(order)
