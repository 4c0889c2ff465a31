"""Refunds after settlement and the receivables they may leave.

A settled order's money sits in its payees' payable accounts and the platform's fee
account. A refund takes part of it back to the buyer's available balance, from every
allocation line in proportion to what the line still holds (:func:`split.reverse`: largest
remainder, never more than a line kept after earlier refunds). A payee whose payable balance
no longer covers its part (it was paid out, or a pending payout reserves it) gives what it
has and the rest is recorded against it in its receivable account, which holds what the
payee owes as a negative balance; the journal still balances, since the buyer is repaid in
full and the platform carries the debt. A receivable is recovered first from the payee's
next payable credit (:func:`net_credits`, in the settlement's journal) and before any
payout (:func:`recover_receivable`).

Runs in the trading context's unit of work, after the order's row lock, so two refunds of
one order queue on the order and then take the accounts in id order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select, update

from market.kernel.db import present
from market.kernel.errors import InvalidInput
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.settlement import ledger
from market.settlement.domain import (
    PLATFORM,
    AccountKind,
    JournalKind,
    Leg,
    RefundCause,
    RefundRecord,
    RefundShare,
)
from market.settlement.errors import RefundExceedsPaid, RefundNotFound
from market.settlement.models import Allocation, Refund, RefundLine
from market.settlement.split import HOUSE_ROLES, ShareRole, reverse
from market.settlement.split import Allocation as Line

ALLOCATIONS = cast(Table, Allocation.__table__)
REFUND_LINES = cast(Table, RefundLine.__table__)
_REFUNDED = (update(ALLOCATIONS).where(ALLOCATIONS.c.id == bindparam("p_id"))
             .values(refunded=ALLOCATIONS.c.refunded + bindparam("p_amount")))


def _record(refund: Refund, lines: Sequence[RefundLine]) -> RefundRecord:
    return RefundRecord(
        refund.id, refund.order_id, refund.number, refund.amount, refund.currency,
        refund.cause, refund.reason, refund.journal_id, refund.refunded_by_org_id,
        refund.refunded_by, refund.refunded_at,
        tuple(RefundShare(line.org_id, line.role, line.amount, line.from_payable,
                          line.receivable) for line in lines))


_RANKS = {role.value: index for index, role in enumerate(
    [ShareRole.PLATFORM, *(r for r in ShareRole if r is not ShareRole.PLATFORM)])}


def _canonical(rows: Sequence[Allocation]) -> list[Allocation]:
    """Allocation lines in the split's canonical order: the platform first, then by role
    and organisation."""
    return sorted(rows, key=lambda a: (_RANKS[a.role], a.org_id))


def refundable(order_id: str, *, uow: UnitOfWork) -> int:
    """What is left to refund of a settled order: the price billed (its allocations) less
    what refunds gave back so far."""
    left = uow.session.scalar(select(func.coalesce(
        func.sum(Allocation.amount - Allocation.refunded), 0)).where(
        Allocation.order_id == order_id))
    return int(left or 0)


def refund_settled(*, order_id: str, buyer_org_id: str, amount: int, cause: RefundCause,
                   reason: str, uow: UnitOfWork) -> RefundRecord:
    """Give ``amount`` of a settled order back to its buyer's available balance, taken from
    every allocation line in proportion to what it still holds; a payee's part its payable
    balance no longer covers becomes a receivable against it. Posts the journal
    ``refund:<order>:<n>`` and keeps the refund with its lines. The caller holds the
    order's row lock.

    Raises:
        InvalidInput: an amount that is not positive.
        RefundExceedsPaid: more than is left to refund (nothing, for an order never split).
    """
    session = uow.session
    rows = _canonical(list(session.scalars(
        select(Allocation).where(Allocation.order_id == order_id))))
    left = sum(a.amount - a.refunded for a in rows)
    if amount <= 0:
        raise InvalidInput(errors={"amount": ["must be a positive number of minor units"]})
    if amount > left:
        raise RefundExceedsPaid(requested=amount, refundable=left)
    currency = rows[0].currency
    taken = {(line.role.value, line.org_id): line.amount for line in reverse(
        amount, [Line(ShareRole(a.role), a.org_id, a.amount - a.refunded) for a in rows])}
    now = uow.clock.now()
    house = {role.value for role in HOUSE_ROLES}
    payees = sorted({a.org_id for a in rows
                     if a.role not in house and taken[(a.role, a.org_id)]})
    available, *owed = ledger.account_ids(session, [
        (AccountKind.AVAILABLE, buyer_org_id, currency, ""),
        *((AccountKind.RECEIVABLE, org, currency, "") for org in payees)], at=now)
    receivables = dict(zip(payees, owed, strict=True))
    held = ledger.lock_balances(session, [available, *owed, *(a.account_id for a in rows)])
    spendable = {account: balance - pending for account, (balance, pending) in held.items()}
    legs = [Leg(available, amount, currency)]
    lines: list[dict[str, object]] = []
    refund_id = new_id("rfd")
    for row in rows:
        part = taken[(row.role, row.org_id)]
        if not part:
            continue
        # The platform gives its fee (and the fund its earmark) back from its own account;
        # a payee what it still has.
        paid = part if row.role in house else min(part, max(spendable[row.account_id], 0))
        spendable[row.account_id] -= paid
        if paid:
            legs.append(Leg(row.account_id, -paid, currency))
        if part - paid:
            legs.append(Leg(receivables[row.org_id], -(part - paid), currency))
        lines.append({"id": new_id("rfl"), "refund_id": refund_id, "order_id": order_id,
                      "role": row.role, "org_id": row.org_id, "amount": part,
                      "from_payable": paid, "receivable": part - paid, "currency": currency})
    number = int(session.scalar(select(func.count()).select_from(Refund).where(
        Refund.order_id == order_id)) or 0) + 1
    journal = ledger.transfer(uow, key=f"refund:{order_id}:{number}", kind=JournalKind.REFUND,
                              order_id=order_id, legs=legs,
                              memo=f"refund {number} after settlement ({cause.value})")
    refund = Refund(id=refund_id, order_id=order_id, number=number, amount=amount,
                    currency=currency, cause=cause.value, reason=reason,
                    buyer_org_id=buyer_org_id, journal_id=journal.id,
                    refunded_by_org_id=uow.actor.org_id, refunded_by=uow.actor.label,
                    refunded_at=now)
    session.add(refund)
    session.flush()
    conn = session.connection()
    conn.execute(insert(REFUND_LINES), lines)
    conn.execute(_REFUNDED, [{"p_id": row.id, "p_amount": taken[(row.role, row.org_id)]}
                             for row in rows if taken[(row.role, row.org_id)]])
    uow.audit.record(uow.actor, "refund.issued", "refund", refund.id,
                     {**refund.state(), "lines": [[line["role"], line["org_id"],
                                                   line["amount"], line["receivable"]]
                                                  for line in lines]})
    return _record(refund, _lines(uow, refund.id))


def _lines(uow: UnitOfWork, refund_id: str) -> list[RefundLine]:
    return _canonical_lines(list(uow.session.scalars(
        select(RefundLine).where(RefundLine.refund_id == refund_id))))


def _canonical_lines(rows: list[RefundLine]) -> list[RefundLine]:
    return sorted(rows, key=lambda line: (_RANKS[line.role], line.org_id))


def refund_lines(refund_id: str, *, uow: UnitOfWork) -> tuple[RefundShare, ...]:
    """What each allocation line gave back for a refund, so a payment rail can reverse its
    transfers in the same proportion. Runs on its own or joined to the caller's unit of
    work.

    Raises:
        RefundNotFound: no such refund.
    """
    with uow:
        refund = present(uow.session.get(Refund, refund_id), RefundNotFound)
        return _record(refund, _lines(uow, refund.id)).lines


def order_refunds(order_id: str, *, uow: UnitOfWork) -> list[RefundRecord]:
    """The refunds after settlement of an order, oldest first, with their lines."""
    refunds = list(uow.session.scalars(select(Refund).where(Refund.order_id == order_id)
                                       .order_by(Refund.number)))
    lines: dict[str, list[RefundLine]] = {refund.id: [] for refund in refunds}
    if refunds:
        for line in uow.session.scalars(select(RefundLine).where(
                RefundLine.refund_id.in_(list(lines)))):
            lines[line.refund_id].append(line)
    return [_record(refund, _canonical_lines(lines[refund.id])) for refund in refunds]


# -- receivables ---------------------------------------------------------------------------


def receivable_probe(org_ids: Sequence[str], currency: str) -> list[ledger.AccountSpec]:
    """The receivable accounts of these payees, to look up (never open) with the accounts
    of a settlement (:func:`ledger.open_accounts`)."""
    return [(AccountKind.RECEIVABLE, org, currency, "") for org in sorted(set(org_ids))
            if org != PLATFORM]


def net_credits(uow: UnitOfWork, legs: Sequence[Leg],
                owed: dict[ledger.AccountSpec, tuple[str, int]],
                payables: dict[str, str]) -> list[Leg]:
    """Legs that recover what payees owe from the payable credits among ``legs``
    (``payables``: each payee's payable account id); nothing when nobody owes. Where some
    payee seems to owe, every account of the journal is locked in id order first and the
    debt read again, so two settlements never recover one debt twice."""
    owing = {spec[1]: account for spec, (account, balance) in owed.items() if balance < 0}
    if not owing:
        return []
    held = ledger.lock_balances(uow.session, [*(leg.account_id for leg in legs),
                                              *owing.values()])
    debt = {org: -min(held[account][0], 0) for org, account in owing.items()}
    credits: dict[str, int] = {}
    for leg in legs:
        credits[leg.account_id] = credits.get(leg.account_id, 0) + leg.amount
    found: list[Leg] = []
    for org, account in sorted(owing.items()):
        payable = payables.get(org)
        take = min(debt[org], credits.get(payable, 0)) if payable else 0
        if take > 0 and payable is not None:
            currency = legs[0].currency
            found += [Leg(payable, -take, currency), Leg(account, take, currency)]
    return found


def recover_receivable(uow: UnitOfWork, org_id: str, currency: str, *, key: str) -> int:
    """Before a payout: move what the organisation owes (its receivable) out of its payable
    balance, as far as that balance goes; returns the amount recovered."""
    session = uow.session
    spec = (AccountKind.RECEIVABLE, org_id, currency, "")
    (payable,), owed = ledger.open_accounts(
        session, [(AccountKind.PAYABLE, org_id, currency, "")], at=uow.clock.now(),
        probe=[spec])
    if spec not in owed or owed[spec][1] >= 0:
        return 0
    receivable = owed[spec][0]
    held = ledger.lock_balances(session, [payable, receivable])
    take = min(-held[receivable][0], held[payable][0] - held[payable][1])
    if take <= 0:
        return 0
    ledger.transfer(uow, key=key, kind=JournalKind.RECOVERY, memo="receivable recovered",
                    legs=[Leg(payable, -take, currency), Leg(receivable, take, currency)])
    return take
