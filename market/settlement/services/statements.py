"""Reading the books: accounts, period statements (对账单), an order's journals and
allocations, and the ledger's verification."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from market.kernel.actor import Role, require
from market.kernel.db import present, record
from market.kernel.errors import InvalidInput
from market.kernel.pagination import Page
from market.kernel.uow import UnitOfWork
from market.settlement import ledger, repository
from market.settlement.domain import StatementLine
from market.settlement.errors import AccountNotFound
from market.settlement.models import Account


def list_accounts(*, uow: UnitOfWork, owner: str | None = None, kind: str | None = None,
                  currency: str | None = None, after: str | None = None,
                  limit: int = 50) -> Page[Account]:
    """Your organisation's accounts; any for the operator and regulators."""
    with uow:
        return repository.list_accounts(uow.session, uow.actor, owner=owner, kind=kind,
                                        currency=currency, after=after, limit=limit)


def get_account(account_id: str, *, uow: UnitOfWork) -> Account:
    """Raises: AccountNotFound: unknown or not visible to the actor."""
    with uow:
        return present(repository.get_account(uow.session, account_id, uow.actor),
                       AccountNotFound)


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
        acc = repository.get_account(uow.session, account_id, uow.actor)
        if acc is None:
            raise AccountNotFound()
        before = repository.balance_before(uow.session, acc.id, period_from)
        rows = repository.postings_between(uow.session, acc.id, period_from, period_to)
        lines = [StatementLine(p.id, j.id, j.kind, j.order_id, j.memo, p.amount,
                               p.balance_after, p.posted_at) for p, j in rows]
        opening = int(before or 0)
        return Statement(
            account=acc, period_from=period_from, period_to=period_to,
            opening_balance=opening,
            closing_balance=lines[-1].balance_after if lines else opening,
            credits=sum(x.amount for x in lines if x.amount > 0),
            debits=-sum(x.amount for x in lines if x.amount < 0), lines=lines)


def order_money(order_id: str, *, uow: UnitOfWork) -> tuple[list[Any], list[Any]]:
    """An order's journals and allocations (frozen records), for its parties and
    regulators."""
    return ([record(j) for j in repository.order_journals(uow.session, order_id)],
            [record(a) for a in repository.order_allocations(uow.session, order_id)])


def journal_postings(journal_ids: Sequence[str], *, uow: UnitOfWork
                     ) -> dict[str, list[Any]]:
    """The postings (frozen records) of each of ``journal_ids``, in posting order."""
    return {journal_id: [record(p) for p in postings] for journal_id, postings
            in repository.postings_of(uow.session, journal_ids).items()}


def verify(*, uow: UnitOfWork, progress: Callable[[int, int], None] | None = None,
           ) -> ledger.Verification:
    """Recompute the ledger (operator, regulators, the command line); ``progress(done,
    total)`` is told how far it is.

    Raises:
        RoleNotAllowed: the actor is neither the operator nor a regulator.
    """
    require(uow.actor, Role.OPERATOR, Role.REGULATOR)
    with uow:
        return ledger.verify(uow.session, progress=progress)
