"""The public-service fund (公共服务基金): the earmarked share of public-data revenue
(公共数据运营收益定向反哺公共服务) that settlement splits into the platform's fund account of
each currency; read by the operator and regulators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from market.kernel.actor import Role, require
from market.kernel.errors import InvalidCursor
from market.kernel.pagination import MAX_LIMIT, Page
from market.kernel.uow import UnitOfWork
from market.settlement.domain import PLATFORM, AccountKind
from market.settlement.models import Account, Journal, Posting


@dataclass(frozen=True)
class FundBalance:
    account_id: str
    currency: str
    balance: int


@dataclass(frozen=True)
class FundEntry:
    """One posting on a fund account: the earmark of a settled order, or what a refund
    took back."""

    posting_id: int
    journal_id: str
    kind: str
    order_id: str | None
    amount: int
    currency: str
    balance_after: int
    posted_at: datetime


@dataclass(frozen=True)
class PublicFund:
    balances: list[FundBalance]
    entries: Page[FundEntry]


def public_fund(*, uow: UnitOfWork, currency: str | None = None, after: str | None = None,
                limit: int = 50) -> PublicFund:
    """The fund's balance per currency and its entries, oldest first, a page at a time.

    Raises:
        RoleNotAllowed: neither the operator nor a regulator.
        InvalidCursor: ``after`` is not a posting of this list.
    """
    require(uow.actor, Role.OPERATOR, Role.REGULATOR)
    if after is not None and not after.isdigit():
        raise InvalidCursor(errors={"cursor": ["not a cursor issued by this API"]})
    limit = max(1, min(limit, MAX_LIMIT))
    with uow:
        accounts = select(Account).where(Account.kind == AccountKind.PUBLIC_FUND.value,
                                          Account.owner == PLATFORM)
        if currency:
            accounts = accounts.where(Account.currency == currency)
        found = list(uow.session.scalars(accounts.order_by(Account.currency)))
        stmt = (select(Posting, Journal).join(Journal, Journal.id == Posting.journal_id)
                .where(Posting.account_id.in_([a.id for a in found])))
        if after is not None:
            stmt = stmt.where(Posting.id > int(after))
        rows = uow.session.execute(stmt.order_by(Posting.id).limit(limit + 1)).all()
        entries = [FundEntry(p.id, j.id, j.kind, j.order_id, p.amount, p.currency,
                             p.balance_after, p.posted_at) for p, j in rows[:limit]]
        more = len(rows) > limit
        return PublicFund(
            [FundBalance(a.id, a.currency, a.balance) for a in found],
            Page(entries, str(entries[-1].posting_id) if more and entries else None))
