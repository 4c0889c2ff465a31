"""An order's money, in the trading context's transaction so an order's state and its
money change together: payment into the order's escrow, the revenue split at settlement
(with a dispute's partial refund, and what a payee owes recovered from its share first),
full refunds, and closing the escrow of an order that ends unpaid. Money moves only through
:mod:`market.settlement.ledger`; refunds after settlement are in
:mod:`market.settlement.services.refunds`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Table, insert

from market.kernel.db import record_type
from market.kernel.errors import InvalidInput
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.settlement import ledger
from market.settlement.domain import PLATFORM, AccountKind, JournalKind, Leg
from market.settlement.models import Allocation
from market.settlement.services.refunds import net_credits, receivable_probe
from market.settlement.split import HOUSE_ROLES, DistributionRule, ShareRole, reverse, split


def pay_into_escrow(*, order_id: str, buyer_org_id: str, amount: int, currency: str,
                    uow: UnitOfWork) -> str | None:
    """Move an order's price from the buyer's available balance into the order's escrow;
    returns the journal's id (none for a free order).

    Raises:
        InsufficientFunds: the buyer's available balance is too low.
    """
    available, escrow = ledger.account_ids(uow.session, [
        (AccountKind.AVAILABLE, buyer_org_id, currency, ""),
        (AccountKind.ESCROW, buyer_org_id, currency, order_id)], at=uow.clock.now())
    if amount == 0:
        return None
    return ledger.transfer(uow, key=f"payment:{order_id}", kind=JournalKind.PAYMENT,
                           order_id=order_id, legs=[Leg(available, -amount, currency),
                                                    Leg(escrow, amount, currency)]).id


def _line(role: ShareRole, org_id: str, currency: str) -> ledger.AccountSpec:
    if role is ShareRole.PLATFORM:
        return (AccountKind.FEE_REVENUE, PLATFORM, currency, "")
    if role is ShareRole.PUBLIC_FUND:
        return (AccountKind.PUBLIC_FUND, PLATFORM, currency, "")
    return (AccountKind.PAYABLE, org_id, currency, "")


def settle(*, order_id: str, buyer_org_id: str, amount: int, currency: str,
           rule: Mapping[str, Any], refund: int = 0, deposit: int | None = None,
           uow: UnitOfWork) -> list[Any]:
    """Split an order's price by its frozen distribution rule (收益分配): each party's share
    goes to its payable account, the fee to the platform and, for public data, the earmark
    to the public-service fund. ``refund`` (a dispute's partial
    refund) is taken back from the shares in proportion to them and returned to the buyer.
    ``deposit``: the escrow holds more than the price (a pay-per-use order's cap) and the
    rest goes back to the buyer. The escrow is empty and closed afterwards. Returns the
    allocations (frozen records).

    Raises:
        InvalidInput: a refund larger than the price.
    """
    if not 0 <= refund <= amount:
        raise InvalidInput(errors={"refund_amount": [f"must be between 0 and {amount}"]})
    held = amount if deposit is None else deposit
    assert held >= amount
    distribution = DistributionRule.from_dict(rule)
    shares = split(amount, distribution)
    taken = reverse(refund, shares) if refund else [None] * len(shares)
    now = uow.clock.now()
    # The payees' receivables are looked up in the same statement: one a refund after an
    # earlier settlement left is recovered from this credit first.
    (escrow, available, *targets), owed = ledger.open_accounts(uow.session, [
        (AccountKind.ESCROW, buyer_org_id, currency, order_id),
        (AccountKind.AVAILABLE, buyer_org_id, currency, ""),
        *(_line(share.role, share.org_id, currency) for share in shares)], at=now,
        probe=receivable_probe([share.org_id for share in shares], currency))
    legs: list[Leg] = []
    allocations = []
    for share, back, target in zip(shares, taken, targets, strict=True):
        refunded = back.amount if back is not None else 0
        allocations.append({
            "id": new_id("alc"), "order_id": order_id, "role": share.role.value,
            "org_id": share.org_id, "account_id": target, "amount": share.amount,
            "refunded": refunded, "currency": currency, "allocated_at": now})
        if share.amount - refunded:
            legs.append(Leg(target, share.amount - refunded, currency))
    back_to_buyer = refund + held - amount
    if back_to_buyer:
        legs.append(Leg(available, back_to_buyer, currency))
    if held:
        legs.append(Leg(escrow, -held, currency))
        legs += net_credits(uow, legs, owed, {
            share.org_id: target for share, target in zip(shares, targets, strict=True)
            if share.role not in HOUSE_ROLES})
        ledger.transfer(uow, key=f"settlement:{order_id}", kind=JournalKind.SETTLEMENT,
                        order_id=order_id, legs=legs,
                        memo=f"refund {refund}" if refund else None)
    if allocations:
        uow.session.connection().execute(insert(cast(Table, Allocation.__table__)), allocations)
    ledger.close_escrow(uow, order_id, buyer_org_id)
    return [record_type(Allocation)(**row) for row in allocations]


def refund(*, order_id: str, buyer_org_id: str, amount: int, currency: str,
           uow: UnitOfWork) -> str | None:
    """Return an order's whole escrow to the buyer and close it (cancelled after payment,
    undelivered, or fully refunded by a dispute's decision); returns the journal's id."""
    journal = None
    if amount:
        escrow, available = ledger.account_ids(uow.session, [
            (AccountKind.ESCROW, buyer_org_id, currency, order_id),
            (AccountKind.AVAILABLE, buyer_org_id, currency, "")], at=uow.clock.now())
        journal = ledger.transfer(uow, key=f"refund:{order_id}", kind=JournalKind.REFUND,
                                  order_id=order_id, legs=[Leg(escrow, -amount, currency),
                                                           Leg(available, amount, currency)])
    ledger.close_escrow(uow, order_id, buyer_org_id)
    return journal.id if journal is not None else None


def close_unpaid(order_id: str, buyer_org_id: str, *, uow: UnitOfWork) -> None:
    """An order that ends before payment: its (empty) escrow, if any, is closed."""
    ledger.close_escrow(uow, order_id, buyer_org_id)
