"""Settlement queries: accounts and payouts scoped to what the acting principal may see,
statement postings, an order's journals and allocations, top-ups by bank reference, the
row locks payouts are resolved under, and stored distribution rules. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session

from market.kernel.actor import Actor, Role
from market.kernel.db import one_or_none
from market.kernel.pagination import Page, keyset_page, where_given
from market.settlement.domain import HoldStatus
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


def sees_all(actor: Actor) -> bool:
    """The operator and regulators see every organisation's money."""
    return actor.is_system or actor.has_role(Role.OPERATOR, Role.REGULATOR)


# -- accounts and statements -------------------------------------------------------------


def _owned(actor: Actor, owner: Any) -> Select[Any]:
    """Rows of ``owner``'s table the actor may see: its organisation's, or every one."""
    stmt = select(owner.class_)
    return stmt if sees_all(actor) else stmt.where(owner == (actor.org_id or ""))


def get_account(session: Session, account_id: str, actor: Actor) -> Account | None:
    found: Account | None = one_or_none(
        session, _owned(actor, Account.owner).where(Account.id == account_id))
    return found


def list_accounts(session: Session, actor: Actor, *, owner: str | None, kind: str | None,
                  currency: str | None, after: str | None, limit: int) -> Page[Account]:
    stmt = _owned(actor, Account.owner)
    for column, value in ((Account.owner, owner), (Account.kind, kind),
                          (Account.currency, currency)):
        if value:
            stmt = stmt.where(column == value)
    return keyset_page(session, stmt, Account.id, after=after, limit=limit)


def balance_before(session: Session, account_id: str, at: datetime) -> int | None:
    """The account's running balance after its last posting before ``at``, if any."""
    found: int | None = session.scalars(
        select(Posting.balance_after).where(Posting.account_id == account_id,
                                            Posting.posted_at < at)
        .order_by(Posting.id.desc()).limit(1)).one_or_none()
    return found


def postings_between(session: Session, account_id: str, start: datetime, end: datetime,
                     ) -> Sequence[Row[Posting, Journal]]:
    """The account's postings in [start, end) with their journals, in posting order."""
    return session.execute(
        select(Posting, Journal).join(Journal, Journal.id == Posting.journal_id)
        .where(Posting.account_id == account_id, Posting.posted_at >= start,
               Posting.posted_at < end).order_by(Posting.id)).all()


# -- orders ----------------------------------------------------------------------------


def order_journals(session: Session, order_id: str) -> list[Journal]:
    return list(session.scalars(select(Journal).where(Journal.order_id == order_id)
                                .order_by(Journal.posted_at, Journal.id)))


def order_allocations(session: Session, order_id: str) -> list[Allocation]:
    return list(session.scalars(select(Allocation).where(Allocation.order_id == order_id)
                                .order_by(Allocation.id)))


def postings_of(session: Session, journal_ids: Sequence[str]) -> dict[str, list[Posting]]:
    """Each journal's postings in posting order (an empty list for a journal without)."""
    found: dict[str, list[Posting]] = {j: [] for j in journal_ids}
    if journal_ids:
        for posting in session.scalars(select(Posting).where(
                Posting.journal_id.in_(list(journal_ids))).order_by(Posting.id)):
            found[posting.journal_id].append(posting)
    return found


# -- top-ups ---------------------------------------------------------------------------


def top_up_by_reference(session: Session, rail: str, reference: str) -> TopUp | None:
    found: TopUp | None = session.scalars(select(TopUp).where(
        TopUp.rail == rail, TopUp.reference == reference)).one_or_none()
    return found


# -- payouts ---------------------------------------------------------------------------


def get_payout(session: Session, payout_id: str, actor: Actor) -> Payout | None:
    found: Payout | None = one_or_none(
        session, _owned(actor, Payout.org_id).where(Payout.id == payout_id))
    return found


def list_payouts(session: Session, actor: Actor, *, status: str | None, after: str | None,
                 limit: int) -> Page[Payout]:
    return keyset_page(session, where_given(_owned(actor, Payout.org_id), (Payout.status, status)),
                       Payout.id, after=after, limit=limit)


def payout_hold_id(session: Session, payout_id: str) -> str | None:
    found: str | None = session.scalars(
        select(Payout.hold_id).where(Payout.id == payout_id)).one_or_none()
    return found


def lock_hold(session: Session, hold_id: str) -> Hold:
    held: Hold = session.scalars(select(Hold).where(Hold.id == hold_id).with_for_update()).one()
    return held


def lock_pending_hold(session: Session, hold_id: str) -> Hold | None:
    """The hold, locked, if it is still pending and no other transaction holds it."""
    found: Hold | None = session.scalars(
        select(Hold).where(Hold.id == hold_id, Hold.status == HoldStatus.PENDING.value)
        .with_for_update(skip_locked=True)).one_or_none()
    return found


def lock_payout(session: Session, payout_id: str) -> Payout:
    payout: Payout = session.scalars(
        select(Payout).where(Payout.id == payout_id).with_for_update()).one()
    return payout


def lock_payout_of_hold(session: Session, hold_id: str) -> Payout | None:
    found: Payout | None = session.scalars(
        select(Payout).where(Payout.hold_id == hold_id).with_for_update()).one_or_none()
    return found


# -- distribution rules ----------------------------------------------------------------


def distribution_record(session: Session, product_id: str, *, for_update: bool = False,
                        ) -> DistributionRecord | None:
    if for_update:
        return session.get(DistributionRecord, product_id, with_for_update=True)
    return session.get(DistributionRecord, product_id)
