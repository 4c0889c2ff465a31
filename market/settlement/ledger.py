"""The double-entry ledger: accounts, balanced journals, two-phase holds, and verification.

Every function runs in the caller's unit of work. A journal is checked to balance before it
is written (and again by PostgreSQL's deferred constraint trigger at commit); each leg
moves its account's cached balance with one conditional ``UPDATE … RETURNING``, so a
non-negative account can never be overdrawn even by concurrent journals.

Lock order: a transaction locks the accounts it moves at once, in account id order (the legs
of one journal; a hold's two accounts before it is posted), after the aggregate it acts for
(an order, a payout), and moves money once; the audit head comes last, at commit. So
concurrent money movements never wait for one another in a cycle. The hot path (payments,
settlements) runs prepared Core statements: one ``SELECT`` for every account a journal
needs, one ``INSERT`` for the journal, one ``UPDATE`` per leg, one ``INSERT`` for the
postings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, tuple_, update
from sqlalchemy.orm import Session

from market.kernel.db import insert_or_ignore
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.settlement.domain import (
    NON_NEGATIVE,
    AccountKind,
    HoldStatus,
    JournalKind,
    Leg,
    Unbalanced,
    check_balanced,
    merged,
)
from market.settlement.errors import (
    EscrowNotEmpty,
    HoldNotPending,
    InsufficientFunds,
    JournalKeyReused,
)
from market.settlement.models import Account, Hold, Journal, Posting

ACCOUNTS = cast(Table, Account.__table__)
JOURNALS = cast(Table, Journal.__table__)
POSTINGS = cast(Table, Posting.__table__)

# (kind, owner, currency, ref): what names an account.
AccountSpec = tuple[AccountKind, str, str, str]


def account(session: Session, kind: AccountKind, owner: str, currency: str, ref: str = "",
            *, at: datetime) -> Account:
    """The account of ``owner`` of this kind and currency, opened on first use."""
    account_id = account_ids(session, [(kind, owner, currency, ref)], at=at)[0]
    found = session.get(Account, account_id, populate_existing=True)
    assert found is not None
    return found


_FIND = select(ACCOUNTS.c.id, ACCOUNTS.c.kind, ACCOUNTS.c.owner, ACCOUNTS.c.ref,
               ACCOUNTS.c.currency, ACCOUNTS.c.balance).where(
    tuple_(ACCOUNTS.c.kind, ACCOUNTS.c.owner, ACCOUNTS.c.ref, ACCOUNTS.c.currency)
    .in_(bindparam("p_specs", expanding=True)))


def account_ids(session: Session, specs: Sequence[AccountSpec], *, at: datetime) -> list[str]:
    """The ids of these accounts, in the order asked, opening those that do not exist yet:
    one ``SELECT`` for all of them, and one ``INSERT … ON CONFLICT DO NOTHING`` for the new
    ones (an account a concurrent transaction opens at the same moment is read back)."""
    return open_accounts(session, specs, at=at)[0]


def open_accounts(session: Session, specs: Sequence[AccountSpec], *, at: datetime,
                  probe: Sequence[AccountSpec] = ()) -> tuple[list[str], dict[AccountSpec,
                                                                             tuple[str, int]]]:
    """:func:`account_ids`, and in the same ``SELECT`` the accounts of ``probe`` that exist
    (never opened): their ids and balances as last committed, unlocked (lock them with
    :func:`lock_balances` before relying on a balance)."""
    keys = [(kind.value, owner, ref, currency) for kind, owner, currency, ref in specs]
    probed = {(kind.value, owner, ref, currency): (kind, owner, currency, ref)
              for kind, owner, currency, ref in probe}
    conn = session.connection()
    found: dict[tuple[str, str, str, str], str] = {}
    seen: dict[AccountSpec, tuple[str, int]] = {}
    for i, k, o, r, c, balance in conn.execute(_FIND, {"p_specs": keys + list(probed)}):
        found[(k, o, r, c)] = i
        if (k, o, r, c) in probed:
            seen[probed[(k, o, r, c)]] = (i, int(balance))
    missing = sorted(set(keys) - set(found))
    if missing:
        rows = [{"id": new_id("acc"), "kind": k, "owner": o, "ref": r, "currency": c,
                 "balance": 0, "pending_out": 0, "non_negative": AccountKind(k) in NON_NEGATIVE,
                 "created_at": at} for k, o, r, c in missing]
        opened = conn.execute(insert_or_ignore(
            session, ACCOUNTS, ACCOUNTS.c.id, ACCOUNTS.c.kind, ACCOUNTS.c.owner,
            ACCOUNTS.c.ref, ACCOUNTS.c.currency), rows)
        found.update({(k, o, r, c): i for i, k, o, r, c in opened})
        if not set(keys) <= set(found):
            raced = [key for key in missing if key not in found]
            found.update({(k, o, r, c): i for i, k, o, r, c, _ in
                          conn.execute(_FIND, {"p_specs": raced})})
    return [found[key] for key in keys], seen


def lock_balances(session: Session, account_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Lock these accounts in id order (the order every journal takes them in) and read
    each one's balance and what pending holds reserve of it: (balance, pending_out)."""
    rows = session.connection().execute(
        select(ACCOUNTS.c.id, ACCOUNTS.c.balance, ACCOUNTS.c.pending_out)
        .where(ACCOUNTS.c.id.in_(sorted(set(account_ids)))).order_by(ACCOUNTS.c.id)
        .with_for_update())
    return {i: (int(balance), int(pending)) for i, balance, pending in rows}


def _lock(session: Session, account_ids: Sequence[str]) -> None:
    """Lock these accounts in id order (before a hold moves both of its accounts)."""
    session.execute(select(Account.id).where(Account.id.in_(sorted(set(account_ids))))
                    .order_by(Account.id).with_for_update())


def _same_journal(session: Session, journal: Journal, legs: Sequence[Leg]) -> bool:
    posted = session.execute(select(Posting.account_id, Posting.amount, Posting.currency)
                             .where(Posting.journal_id == journal.id)).all()
    return sorted((a, n, c) for a, n, c in posted) == sorted(
        (leg.account_id, leg.amount, leg.currency) for leg in merged(legs))


_SPENDABLE = ACCOUNTS.c.balance - ACCOUNTS.c.pending_out
_MOVE = (update(ACCOUNTS)
         .where(ACCOUNTS.c.id == bindparam("p_account"),
                or_(~ACCOUNTS.c.non_negative, _SPENDABLE + bindparam("p_amount") >= 0))
         .values(balance=ACCOUNTS.c.balance + bindparam("p_amount"))
         .returning(ACCOUNTS.c.balance))
_RESERVE = (update(ACCOUNTS)
            .where(ACCOUNTS.c.id == bindparam("p_account"),
                   or_(~ACCOUNTS.c.non_negative, _SPENDABLE - bindparam("p_amount") >= 0))
            .values(pending_out=ACCOUNTS.c.pending_out + bindparam("p_amount"))
            .returning(ACCOUNTS.c.balance))


def _move(session: Session, account_id: str, amount: int, *, reserve: bool = False) -> int:
    """Add ``amount`` to the balance (or, with ``reserve``, to pending_out) unless a
    non-negative account would go below zero; returns the new balance.

    Raises:
        InsufficientFunds: the account cannot give that much.
    """
    new_balance = session.connection().execute(
        _RESERVE if reserve else _MOVE, {"p_account": account_id, "p_amount": amount}
    ).scalar_one_or_none()
    if new_balance is None:
        raise InsufficientFunds(account_id=account_id)
    return int(new_balance)


def transfer(uow: UnitOfWork, *, key: str, kind: JournalKind, legs: Sequence[Leg],
             order_id: str | None = None, memo: str | None = None) -> Journal:
    """Post a balanced journal once: a journal with this ``key`` already posted with the same
    legs is returned as it is.

    Raises:
        Unbalanced: the legs do not sum to zero per currency (a programming error).
        JournalKeyReused: ``key`` was used for different legs.
        InsufficientFunds: a non-negative account would be overdrawn.
    """
    session = uow.session
    check_balanced(legs)
    moves = merged(legs)
    if not moves:  # legs that cancel out would write a journal without postings
        raise Unbalanced("the legs cancel out: the journal would move nothing")
    now = uow.clock.now()
    journal = Journal(id=new_id("jrn"), key=key, kind=kind.value, order_id=order_id,
                      memo=memo, actor_label=uow.actor.label, posted_at=now)
    conn = session.connection()
    written = conn.execute(insert_or_ignore(session, JOURNALS, JOURNALS.c.id), {
        "id": journal.id, "key": key, "kind": journal.kind, "order_id": order_id,
        "memo": memo, "actor_label": journal.actor_label, "posted_at": now,
    }).scalar_one_or_none()
    if written is None:  # posted before (or by a concurrent transaction that committed)
        existing = session.scalars(select(Journal).where(Journal.key == key)).one()
        if not _same_journal(session, existing, legs):
            raise JournalKeyReused(key=key)
        return existing
    postings = [{"journal_id": journal.id, "account_id": leg.account_id,
                 "amount": leg.amount, "currency": leg.currency,
                 "balance_after": _move(session, leg.account_id, leg.amount),
                 "posted_at": now} for leg in moves]
    conn.execute(insert(POSTINGS), postings)
    uow.audit.record(uow.actor, f"ledger.{kind.value}", "journal", journal.id,
                     {**journal.state(), "legs": [[p["account_id"], p["amount"], p["currency"]]
                                                  for p in postings]})
    return journal


# -- two-phase holds -----------------------------------------------------------------------


def hold(uow: UnitOfWork, *, key: str, kind: str, debit: Account, credit: Account,
         amount: int, expires_at: datetime) -> Hold:
    """Reserve ``amount`` of ``debit`` for a later transfer to ``credit``.

    Raises:
        InsufficientFunds: less than ``amount`` is spendable.
    """
    session = uow.session
    existing = session.scalars(select(Hold).where(Hold.key == key)).one_or_none()
    if existing is not None:
        return existing
    assert amount > 0
    assert debit.currency == credit.currency
    _move(session, debit.id, amount, reserve=True)
    now = uow.clock.now()
    found = Hold(id=new_id("hld"), key=key, debit_account_id=debit.id,
                 credit_account_id=credit.id, amount=amount, currency=debit.currency,
                 kind=kind, status=HoldStatus.PENDING.value, expires_at=expires_at,
                 created_at=now)
    session.add(found)
    session.flush()
    uow.audit.record(uow.actor, "ledger.hold_pending", "hold", found.id, found.state())
    return found


def _release(uow: UnitOfWork, held: Hold, status: HoldStatus) -> None:
    if held.status != HoldStatus.PENDING.value:
        raise HoldNotPending(status=held.status)
    uow.session.execute(update(Account).where(Account.id == held.debit_account_id)
                        .values(pending_out=Account.pending_out - held.amount)
                        .execution_options(synchronize_session=False))
    held.status = status.value
    held.resolved_at = uow.clock.now()


def post_hold(uow: UnitOfWork, held: Hold, *, journal_kind: JournalKind,
              memo: str | None = None) -> Journal:
    """Post a pending hold as a journal from its debit to its credit account."""
    _lock(uow.session, [held.debit_account_id, held.credit_account_id])
    _release(uow, held, HoldStatus.POSTED)
    journal = transfer(uow, key=f"hold:{held.id}", kind=journal_kind, memo=memo, legs=[
        Leg(held.debit_account_id, -held.amount, held.currency),
        Leg(held.credit_account_id, held.amount, held.currency)])
    held.journal_id = journal.id
    uow.session.flush()
    uow.audit.record(uow.actor, "ledger.hold_posted", "hold", held.id, held.state())
    return journal


def void_hold(uow: UnitOfWork, held: Hold, *, expired: bool = False) -> None:
    """Give a pending hold's reservation back (voided by a decision, or expired)."""
    status = HoldStatus.EXPIRED if expired else HoldStatus.VOIDED
    _release(uow, held, status)
    uow.session.flush()
    uow.audit.record(uow.actor, f"ledger.hold_{status.value}", "hold", held.id, held.state())


def due_holds(session: Session, at: datetime, *, limit: int = 500) -> list[Hold]:
    """Pending holds whose expiry has passed, locked for the caller."""
    stmt = (select(Hold).where(Hold.status == HoldStatus.PENDING.value, Hold.expires_at <= at)
            .order_by(Hold.expires_at, Hold.id).limit(limit).with_for_update(skip_locked=True))
    return list(session.scalars(stmt))


def close_escrow(uow: UnitOfWork, order_id: str, owner: str) -> None:
    """Mark the escrow accounts ``owner`` holds for an order closed once the order is
    terminal.

    Raises:
        EscrowNotEmpty: money is still held for the order (a programming error).
    """
    closed = uow.session.connection().execute(
        update(ACCOUNTS).where(ACCOUNTS.c.kind == AccountKind.ESCROW.value,
                               ACCOUNTS.c.owner == owner, ACCOUNTS.c.ref == order_id,
                               ACCOUNTS.c.closed_at.is_(None))
        .values(closed_at=uow.clock.now()).returning(ACCOUNTS.c.balance)).scalars().all()
    for balance in closed:
        if balance != 0:
            raise EscrowNotEmpty(order_id=order_id, balance=balance)


# -- verification ----------------------------------------------------------------------------


@dataclass
class Verification:
    """What ``market ledger verify`` found: counts and every problem, named."""

    accounts: int = 0
    journals: int = 0
    postings: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "accounts": self.accounts, "journals": self.journals,
                "postings": self.postings, "problems": self.problems}


def verify(session: Session, *, progress: Callable[[int, int], None] | None = None,
           ) -> Verification:
    """Recompute the ledger from its postings and check every invariant: each journal sums
    to zero per currency; each account's cached balance equals the sum of its postings and
    its running balances follow one another; postings carry their account's currency;
    non-negative accounts are not below zero; reservations equal the pending holds; closed
    escrow accounts are empty; and all accounts of a currency sum to zero.

    ``progress(done, total)`` counts the steps: the journals' sums, every thousand
    accounts, the postings' currencies and their running balances."""
    report = Verification(
        accounts=session.scalar(select(func.count()).select_from(Account)) or 0,
        journals=session.scalar(select(func.count()).select_from(Journal)) or 0,
        postings=session.scalar(select(func.count()).select_from(Posting)) or 0,
    )
    total = report.accounts + 3

    def advance(done: int) -> None:
        if progress is not None:
            progress(done, total)

    problems = report.problems
    for journal_id, currency, off_by in session.execute(
        select(Posting.journal_id, Posting.currency, func.sum(Posting.amount))
        .group_by(Posting.journal_id, Posting.currency).having(func.sum(Posting.amount) != 0)
    ):
        problems.append({"problem": "journal_unbalanced", "journal_id": journal_id,
                         "currency": currency, "off_by": int(off_by)})
    advance(1)
    sums = (select(Posting.account_id, func.coalesce(func.sum(Posting.amount), 0).label("s"))
            .group_by(Posting.account_id).subquery())
    pending = (select(Hold.debit_account_id,
                      func.coalesce(func.sum(Hold.amount), 0).label("p"))
               .where(Hold.status == HoldStatus.PENDING.value)
               .group_by(Hold.debit_account_id).subquery())
    rows = session.execute(
        select(Account, func.coalesce(sums.c.s, 0), func.coalesce(pending.c.p, 0))
        .outerjoin(sums, sums.c.account_id == Account.id)
        .outerjoin(pending, pending.c.debit_account_id == Account.id)
        .order_by(Account.id))
    totals: dict[str, int] = {}
    for checked, (acc, posted, reserved) in enumerate(rows, start=1):
        if checked % 1000 == 0:
            advance(1 + checked)
        posted, reserved = int(posted), int(reserved)
        totals[acc.currency] = totals.get(acc.currency, 0) + posted
        if acc.balance != posted:
            problems.append({"problem": "balance_differs", "account_id": acc.id,
                             "cached": acc.balance, "postings": posted})
        if acc.pending_out != reserved:
            problems.append({"problem": "reservation_differs", "account_id": acc.id,
                             "cached": acc.pending_out, "pending_holds": reserved})
        if acc.non_negative and posted - reserved < 0:
            problems.append({"problem": "negative_balance", "account_id": acc.id,
                             "balance": posted, "reserved": reserved})
        if acc.kind == AccountKind.RECEIVABLE.value and posted > 0:
            problems.append({"problem": "receivable_above_zero", "account_id": acc.id,
                             "balance": posted})
        if acc.closed_at is not None and posted != 0:
            problems.append({"problem": "closed_escrow_not_empty", "account_id": acc.id,
                             "balance": posted})
    advance(1 + report.accounts)
    for currency, summed in sorted(totals.items()):
        if summed != 0:
            problems.append({"problem": "currency_does_not_sum_to_zero",
                             "currency": currency, "total": summed})
    for posting_id, account_id in session.execute(
        select(Posting.id, Posting.account_id).join(Account, Account.id == Posting.account_id)
        .where(Posting.currency != Account.currency)
    ):
        problems.append({"problem": "currency_differs", "posting_id": posting_id,
                         "account_id": account_id})
    advance(2 + report.accounts)
    running = select(
        Posting.id, Posting.account_id, Posting.balance_after,
        func.sum(Posting.amount).over(partition_by=Posting.account_id,
                                      order_by=Posting.id).label("running"),
    ).subquery()
    for posting_id, account_id, after, recomputed in session.execute(
        select(running).where(running.c.balance_after != running.c.running)
        .order_by(running.c.id).limit(100)
    ):
        problems.append({"problem": "running_balance_differs", "posting_id": posting_id,
                         "account_id": account_id, "recorded": after,
                         "recomputed": int(recomputed)})
    advance(total)
    return report
