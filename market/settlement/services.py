"""Settlement use cases: top-ups on the offline rail, escrow of order payments, the revenue
split at settlement, refunds, payouts, statements (对账单) and ledger verification.

Money moves only through :mod:`market.settlement.ledger`. The order-money functions
(:func:`pay_into_escrow`, :func:`settle`, :func:`refund`, :func:`release_escrow`) run in the
trading context's unit of work, so an order's state and its money change together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, insert, select

from market.kernel.actor import Actor, Role, require
from market.kernel.db import serialise_on
from market.kernel.errors import InvalidInput, InvalidTransition, RoleNotAllowed
from market.kernel.ids import new_id
from market.kernel.pagination import Page, keyset_page
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.errors import OrganisationNotFound
from market.settlement import ledger
from market.settlement.domain import (
    PLATFORM,
    AccountKind,
    HoldStatus,
    JournalKind,
    Leg,
    PayoutStatus,
)
from market.settlement.errors import (
    AccountNotFound,
    PayoutNotFound,
    TopUpReferenceReused,
)
from market.settlement.models import (
    Account,
    Allocation,
    DistributionRecord,
    Hold,
    Journal,
    Payout,
    Posting,
    TopUp,
)
from market.settlement.split import DistributionRule, ShareRole, reverse, split

OFFLINE = "offline"  # the embedded payment rail: bank transfers recorded by the operator



def _sees_all(actor: Actor) -> bool:
    return actor.is_system or actor.has_role(Role.OPERATOR, Role.REGULATOR)


def _acc(uow: UnitOfWork, kind: AccountKind, owner: str, currency: str, ref: str = "",
         ) -> Account:
    return ledger.account(uow.session, kind, owner, currency, ref, at=uow.clock.now())


# -- the offline rail ------------------------------------------------------------------------


def record_top_up(org_id: str, amount: int, currency: str, reference: str, *,
                  uow: UnitOfWork) -> TopUp:
    """The operator records a participant's bank transfer: the money reaches the rail's
    clearing account and the participant's available balance. A bank reference is recorded
    once; recording it again returns the first record.

    Raises:
        RoleNotAllowed, OrganisationNotFound, TopUpReferenceReused, InvalidInput.
    """
    require(uow.actor, Role.OPERATOR)
    if amount <= 0:
        raise InvalidInput(errors={"amount": ["must be positive"]})
    with uow:
        if org_id not in participants.organisation_facts(uow.session, [org_id]):
            raise OrganisationNotFound()
        # The same bank reference recorded twice at once: the second waits here for the
        # first to end, then sees its record.
        serialise_on(uow.session, f"top_up:{OFFLINE}:{reference}")
        existing = uow.session.scalars(select(TopUp).where(
            TopUp.rail == OFFLINE, TopUp.reference == reference)).one_or_none()
        if existing is not None:
            if (existing.org_id, existing.amount, existing.currency) != (org_id, amount,
                                                                          currency):
                raise TopUpReferenceReused()
            return existing
        clearing = _acc(uow, AccountKind.RAIL_CLEARING, PLATFORM, currency, OFFLINE)
        available = _acc(uow, AccountKind.AVAILABLE, org_id, currency)
        journal = ledger.transfer(uow, key=f"top_up:{OFFLINE}:{reference}",
                                  kind=JournalKind.TOP_UP, memo=reference, legs=[
                                      Leg(clearing.id, -amount, currency),
                                      Leg(available.id, amount, currency)])
        top_up = TopUp(id=new_id("top"), rail=OFFLINE, reference=reference, org_id=org_id,
                       amount=amount, currency=currency, journal_id=journal.id,
                       recorded_at=uow.clock.now())
        uow.session.add(top_up)
        uow.session.flush()
        uow.audit.record(uow.actor, "top_up.recorded", "top_up", top_up.id, top_up.state())
        uow.commit()
        return top_up


# -- order money (in the trading context's transaction) --------------------------------------


def pay_into_escrow(uow: UnitOfWork, *, order_id: str, buyer_org_id: str, amount: int,
                    currency: str) -> Journal | None:
    """Move an order's price from the buyer's available balance into the order's escrow.

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
                                                    Leg(escrow, amount, currency)])


def _line(role: ShareRole, org_id: str, currency: str) -> ledger.AccountSpec:
    if role is ShareRole.PLATFORM:
        return (AccountKind.FEE_REVENUE, PLATFORM, currency, "")
    return (AccountKind.PAYABLE, org_id, currency, "")


def settle(uow: UnitOfWork, *, order_id: str, buyer_org_id: str, amount: int, currency: str,
           rule: Mapping[str, Any], refund: int = 0, deposit: int | None = None,
           ) -> list[Allocation]:
    """Split an order's price by its frozen distribution rule (收益分配): each party's share
    goes to its payable account and the fee to the platform. ``refund`` (a dispute's partial
    refund) is taken back from the shares in proportion to them and returned to the buyer.
    ``deposit``: the escrow holds more than the price (a pay-per-use order's cap) and the
    rest goes back to the buyer. The escrow is empty and closed afterwards.

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
    escrow, available, *targets = ledger.account_ids(uow.session, [
        (AccountKind.ESCROW, buyer_org_id, currency, order_id),
        (AccountKind.AVAILABLE, buyer_org_id, currency, ""),
        *(_line(share.role, share.org_id, currency) for share in shares)], at=now)
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
        ledger.transfer(uow, key=f"settlement:{order_id}", kind=JournalKind.SETTLEMENT,
                        order_id=order_id, legs=legs,
                        memo=f"refund {refund}" if refund else None)
    if allocations:
        uow.session.connection().execute(insert(cast(Table, Allocation.__table__)), allocations)
    ledger.close_escrow(uow, order_id, buyer_org_id)
    return [Allocation(**row) for row in allocations]


def refund(uow: UnitOfWork, *, order_id: str, buyer_org_id: str, amount: int,
           currency: str) -> Journal | None:
    """Return an order's whole escrow to the buyer and close it (cancelled after payment,
    undelivered, or fully refunded by a dispute's decision)."""
    journal = None
    if amount:
        escrow, available = ledger.account_ids(uow.session, [
            (AccountKind.ESCROW, buyer_org_id, currency, order_id),
            (AccountKind.AVAILABLE, buyer_org_id, currency, "")], at=uow.clock.now())
        journal = ledger.transfer(uow, key=f"refund:{order_id}", kind=JournalKind.REFUND,
                                  order_id=order_id, legs=[Leg(escrow, -amount, currency),
                                                           Leg(available, amount, currency)])
    ledger.close_escrow(uow, order_id, buyer_org_id)
    return journal


def close_unpaid(uow: UnitOfWork, order_id: str, buyer_org_id: str) -> None:
    """An order that ends before payment: its (empty) escrow, if any, is closed."""
    ledger.close_escrow(uow, order_id, buyer_org_id)


def order_money(session: Any, order_id: str) -> tuple[list[Journal], list[Allocation]]:
    """An order's journals and allocations, for its parties and regulators."""
    journals = list(session.scalars(select(Journal).where(Journal.order_id == order_id)
                                    .order_by(Journal.posted_at, Journal.id)))
    allocations = list(session.scalars(select(Allocation).where(
        Allocation.order_id == order_id).order_by(Allocation.id)))
    return journals, allocations


def journal_postings(session: Any, journal_ids: Sequence[str]) -> dict[str, list[Posting]]:
    found: dict[str, list[Posting]] = {j: [] for j in journal_ids}
    if journal_ids:
        for posting in session.scalars(select(Posting).where(
                Posting.journal_id.in_(list(journal_ids))).order_by(Posting.id)):
            found[posting.journal_id].append(posting)
    return found


# -- accounts and statements -----------------------------------------------------------------


def _visible_accounts(actor: Actor) -> Select[Any]:
    stmt = select(Account)
    if not _sees_all(actor):
        stmt = stmt.where(Account.owner == (actor.org_id or ""))
    return stmt


def list_accounts(*, uow: UnitOfWork, owner: str | None = None, kind: str | None = None,
                  currency: str | None = None, after: str | None = None,
                  limit: int = 50) -> Page[Account]:
    """Your organisation's accounts; any for the operator and regulators."""
    with uow:
        stmt = _visible_accounts(uow.actor)
        for column, value in ((Account.owner, owner), (Account.kind, kind),
                              (Account.currency, currency)):
            if value:
                stmt = stmt.where(column == value)
        return keyset_page(uow.session, stmt, Account.id, after=after, limit=limit)


def get_account(account_id: str, *, uow: UnitOfWork) -> Account:
    with uow:
        found: Account | None = uow.session.scalars(_visible_accounts(uow.actor)
                                    .where(Account.id == account_id)).one_or_none()
        if found is None:
            raise AccountNotFound()
        return found


@dataclass(frozen=True)
class StatementLine:
    posting_id: int
    journal_id: str
    kind: str
    order_id: str | None
    memo: str | None
    amount: int
    balance_after: int
    posted_at: datetime


@dataclass(frozen=True)
class Statement:
    """A period statement (对账单) of one account: opening balance, every posting in the
    period with the running balance, closing balance."""

    account: Account
    period_from: datetime
    period_to: datetime
    opening_balance: int
    closing_balance: int
    credits: int
    debits: int
    lines: list[StatementLine]


def statement(account_id: str, period_from: datetime, period_to: datetime, *,
              uow: UnitOfWork) -> Statement:
    """The statement of one of your accounts for [period_from, period_to).

    Raises:
        AccountNotFound: not your account.
        InvalidInput: the period ends before it starts.
    """
    if period_to <= period_from:
        raise InvalidInput(errors={"to": ["must be after from"]})
    with uow:
        acc = uow.session.scalars(_visible_accounts(uow.actor)
                                  .where(Account.id == account_id)).one_or_none()
        if acc is None:
            raise AccountNotFound()
        before = uow.session.scalars(
            select(Posting.balance_after).where(Posting.account_id == acc.id,
                                                Posting.posted_at < period_from)
            .order_by(Posting.id.desc()).limit(1)).one_or_none()
        rows = uow.session.execute(
            select(Posting, Journal).join(Journal, Journal.id == Posting.journal_id)
            .where(Posting.account_id == acc.id, Posting.posted_at >= period_from,
                   Posting.posted_at < period_to).order_by(Posting.id)).all()
        lines = [StatementLine(p.id, j.id, j.kind, j.order_id, j.memo, p.amount,
                               p.balance_after, p.posted_at) for p, j in rows]
        opening = int(before or 0)
        return Statement(
            account=acc, period_from=period_from, period_to=period_to,
            opening_balance=opening,
            closing_balance=lines[-1].balance_after if lines else opening,
            credits=sum(x.amount for x in lines if x.amount > 0),
            debits=-sum(x.amount for x in lines if x.amount < 0), lines=lines)


def verify(*, uow: UnitOfWork) -> ledger.Verification:
    """Recompute the ledger (operator, regulators, the command line)."""
    require(uow.actor, Role.OPERATOR, Role.REGULATOR)
    with uow:
        return ledger.verify(uow.session)


# -- payouts -------------------------------------------------------------------------------


def request_payout(amount: int, currency: str, bank_account: Mapping[str, str], *,
                   uow: UnitOfWork, ttl: timedelta = timedelta(days=14)) -> Payout:
    """Ask to be paid ``amount`` of your payable balance to a bank account; the amount is
    reserved until the operator confirms the payout, rejects it, or it expires.

    Raises:
        InsufficientFunds: less than ``amount`` is payable and not already reserved.
    """
    actor = uow.actor
    if actor.org_id is None:
        raise RoleNotAllowed()
    if amount <= 0:
        raise InvalidInput(errors={"amount": ["must be positive"]})
    with uow:
        payable = _acc(uow, AccountKind.PAYABLE, actor.org_id, currency)
        clearing = _acc(uow, AccountKind.RAIL_CLEARING, PLATFORM, currency, OFFLINE)
        payout_id = new_id("pay")
        now = uow.clock.now()
        held = ledger.hold(uow, key=f"payout:{payout_id}", kind="payout", debit=payable,
                           credit=clearing, amount=amount, expires_at=now + ttl)
        payout = Payout(id=payout_id, org_id=actor.org_id, amount=amount, currency=currency,
                        status=PayoutStatus.REQUESTED.value, hold_id=held.id,
                        bank_account=dict(bank_account), requested_at=now)
        uow.session.add(payout)
        uow.session.flush()
        uow.audit.record(actor, "payout.requested", "payout", payout.id, payout.state())
        uow.commit()
        return payout


def _visible_payouts(actor: Actor) -> Select[Any]:
    stmt = select(Payout)
    if not _sees_all(actor):
        stmt = stmt.where(Payout.org_id == (actor.org_id or ""))
    return stmt


def get_payout(payout_id: str, *, uow: UnitOfWork) -> Payout:
    with uow:
        found: Payout | None = uow.session.scalars(_visible_payouts(uow.actor)
                                    .where(Payout.id == payout_id)).one_or_none()
        if found is None:
            raise PayoutNotFound()
        return found


def list_payouts(*, uow: UnitOfWork, status: str | None = None, after: str | None = None,
                 limit: int = 50) -> Page[Payout]:
    with uow:
        stmt = _visible_payouts(uow.actor)
        if status:
            stmt = stmt.where(Payout.status == status)
        return keyset_page(uow.session, stmt, Payout.id, after=after, limit=limit)


def _pending_payout(uow: UnitOfWork, payout_id: str) -> Payout:
    hold_id = uow.session.scalars(select(Payout.hold_id).where(Payout.id == payout_id)
                                  ).one_or_none()
    if hold_id is None:
        raise PayoutNotFound()
    # The hold's lock first, then the payout's: the order expire_payouts takes them in.
    uow.session.scalars(select(Hold).where(Hold.id == hold_id).with_for_update()).one()
    payout: Payout = uow.session.scalars(select(Payout).where(Payout.id == payout_id)
                                         .with_for_update()).one()
    if payout.status != PayoutStatus.REQUESTED.value:
        raise InvalidTransition(current=payout.status, target="resolved")
    return payout


def confirm_payout(payout_id: str, bank_reference: str, *, uow: UnitOfWork) -> Payout:
    """The operator confirms the bank paid the payout: the reservation is posted."""
    require(uow.actor, Role.OPERATOR)
    with uow:
        payout = _pending_payout(uow, payout_id)
        held = uow.session.get(Hold, payout.hold_id)
        assert held is not None
        ledger.post_hold(uow, held, journal_kind=JournalKind.PAYOUT, memo=bank_reference)
        payout.status = PayoutStatus.PAID.value
        payout.bank_reference = bank_reference
        payout.resolved_at = uow.clock.now()
        uow.audit.record(uow.actor, "payout.paid", "payout", payout.id, payout.state())
        uow.commit()
        return payout


def reject_payout(payout_id: str, reason: str, *, uow: UnitOfWork) -> Payout:
    """The operator rejects a payout (say, a wrong bank account): the reservation is voided."""
    require(uow.actor, Role.OPERATOR)
    with uow:
        payout = _pending_payout(uow, payout_id)
        held = uow.session.get(Hold, payout.hold_id)
        assert held is not None
        ledger.void_hold(uow, held)
        payout.status = PayoutStatus.REJECTED.value
        payout.reason = reason
        payout.resolved_at = uow.clock.now()
        uow.audit.record(uow.actor, "payout.rejected", "payout", payout.id, payout.state())
        uow.commit()
        return payout


def expire_payouts(*, uow: UnitOfWork) -> list[str]:
    """Void the reservations of payouts nobody confirmed in time (the worker), each in a
    transaction of its own."""
    now = uow.clock.now()
    with uow:
        due = [held.id for held in ledger.due_holds(uow.session, now)]
    expired = []
    for hold_id in due:
        with uow:
            # The hold's lock first, then the payout's, as confirming and rejecting take them.
            held = uow.session.scalars(
                select(Hold).where(Hold.id == hold_id, Hold.status == HoldStatus.PENDING.value)
                .with_for_update(skip_locked=True)).one_or_none()
            if held is None:  # resolved meanwhile, or another worker has it
                continue
            ledger.void_hold(uow, held, expired=True)
            payout = uow.session.scalars(select(Payout).where(Payout.hold_id == held.id)
                                         .with_for_update()).one_or_none()
            if payout is not None and payout.status == PayoutStatus.REQUESTED.value:
                payout.status = PayoutStatus.EXPIRED.value
                payout.resolved_at = now
                uow.audit.record(uow.actor, "payout.expired", "payout", payout.id,
                                 payout.state())
                expired.append(payout.id)
            uow.commit()
    return expired


# -- distribution rules ----------------------------------------------------------------------


def stored_rule(session: Any, product_id: str) -> dict[str, Any] | None:
    """The distribution rule a merchant set for a product, if any."""
    found = session.get(DistributionRecord, product_id)
    return dict(found.rule) if found is not None else None


def store_rule(uow: UnitOfWork, product_id: str, rule: DistributionRule) -> None:
    """Keep a product's distribution rule, in the caller's transaction (trading checks the
    parties against the rights chain first)."""
    found = uow.session.get(DistributionRecord, product_id, with_for_update=True)
    if found is None:
        found = DistributionRecord(product_id=product_id, rule=rule.as_dict(),
                                   set_by_org_id=uow.actor.org_id or "system",
                                   updated_at=uow.clock.now())
        uow.session.add(found)
    else:
        found.rule = rule.as_dict()
        found.set_by_org_id = uow.actor.org_id or "system"
        found.updated_at = uow.clock.now()
    uow.session.flush()
    uow.audit.record(uow.actor, "distribution.set", "product", product_id, rule.as_dict())
