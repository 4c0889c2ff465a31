"""The double-entry ledger and the settlement use cases over it, on the real database.

Journals balance before they are written (and, on PostgreSQL, again at commit by the
deferred constraint trigger), non-negative accounts never go below zero, postings and
journals are append-only, holds reserve and then post, void or expire exactly once,
``verify`` names each kind of inconsistency, and the settlement services (top-ups, payouts,
statements) keep to their rules.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from market.kernel.actor import Actor, system_actor
from market.kernel.audit import AuditHead
from market.kernel.clock import FixedClock
from market.kernel.errors import InvalidInput, InvalidTransition, RoleNotAllowed
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.participants.errors import OrganisationNotFound
from market.settlement import ledger
from market.settlement import services as settlement
from market.settlement.domain import (
    PLATFORM,
    AccountKind,
    HoldStatus,
    JournalKind,
    Leg,
    PayoutStatus,
    Unbalanced,
)
from market.settlement.errors import (
    AccountNotFound,
    EscrowNotEmpty,
    HoldNotPending,
    InsufficientFunds,
    JournalKeyReused,
    TopUpReferenceReused,
)
from market.settlement.models import Account, Hold, Journal, Payout, Posting, TopUp
from tests.conftest import START, Party
from tests.integration.rights_fixtures import actor_for

CNY, USD = "CNY", "USD"
DAY = timedelta(days=1)

requires_postgres = pytest.mark.skipif(
    not os.environ.get("MARKET_TEST_DATABASE_URL"),
    reason="the deferred balance trigger exists only on PostgreSQL (set "
           "MARKET_TEST_DATABASE_URL, e.g. scripts/with-postgres)")


@dataclass
class Books:
    """Ledger builders and fresh reads over one session factory, as the system."""

    factory: sessionmaker[Session]
    clock: FixedClock

    def uow(self, actor: Actor | None = None) -> UnitOfWork:
        return UnitOfWork(self.factory, self.clock, actor or system_actor("ledger test"))

    def open(self, kind: AccountKind = AccountKind.AVAILABLE, owner: str = "org-a",
             currency: str = CNY, ref: str = "") -> str:
        with self.uow() as uow:
            found = ledger.account(uow.session, kind, owner, currency, ref,
                                   at=self.clock.now())
            uow.commit()
            return found.id

    def rail(self, currency: str = CNY) -> str:
        return self.open(AccountKind.RAIL_CLEARING, PLATFORM, currency, "offline")

    def post(self, key: str, legs: list[Leg], kind: JournalKind = JournalKind.PAYMENT,
             order_id: str | None = None) -> Journal:
        with self.uow() as uow:
            journal = ledger.transfer(uow, key=key, kind=kind, legs=legs, order_id=order_id)
            uow.commit()
            return journal

    def move(self, source: str, target: str, amount: int, *, key: str | None = None,
             currency: str = CNY) -> Journal:
        return self.post(key or new_id("key"), [Leg(source, -amount, currency),
                                                Leg(target, amount, currency)])

    def fund(self, account_id: str, amount: int, currency: str = CNY) -> Journal:
        return self.post(new_id("fund"), [Leg(self.rail(currency), -amount, currency),
                                          Leg(account_id, amount, currency)],
                         kind=JournalKind.TOP_UP)

    # -- fresh reads -----------------------------------------------------------------------

    def account(self, account_id: str) -> Account:
        with self.factory() as session:
            found = session.get(Account, account_id)
            assert found is not None
            return found

    def balance(self, account_id: str) -> int:
        return self.account(account_id).balance

    def pending(self, account_id: str) -> int:
        return self.account(account_id).pending_out

    def hold_row(self, hold_id: str) -> Hold:
        with self.factory() as session:
            found = session.get(Hold, hold_id)
            assert found is not None
            return found

    def postings(self, journal_id: str) -> list[tuple[str, int, str, int]]:
        with self.factory() as session:
            return [(p.account_id, p.amount, p.currency, p.balance_after)
                    for p in session.scalars(select(Posting).where(
                        Posting.journal_id == journal_id).order_by(Posting.account_id))]

    def counts(self) -> dict[str, int]:
        with self.factory() as session:
            found = {model.__tablename__: int(session.scalar(
                select(func.count()).select_from(model)) or 0)
                for model in (Account, Journal, Posting, Hold, Payout, TopUp)}
            found["audit"] = int(session.scalar(select(AuditHead.seq)) or 0)
            return found

    def totals(self) -> dict[str, int]:
        with self.factory() as session:
            return {currency: int(total) for currency, total in session.execute(
                select(Account.currency, func.sum(Account.balance))
                .group_by(Account.currency))}

    def verify(self) -> ledger.Verification:
        with self.factory() as session:
            return ledger.verify(session)


@pytest.fixture(name="books")
def books_fixture(session_factory: sessionmaker[Session], clock: FixedClock) -> Books:
    return Books(session_factory, clock)


def _problems(report: ledger.Verification) -> list[str]:
    return sorted(p["problem"] for p in report.problems)


# -- transfers -----------------------------------------------------------------------------


def test_transfer_posts_a_balanced_journal_with_running_balances(books: Books) -> None:
    rail, a, b = books.rail(), books.open(owner="org-a"), books.open(owner="org-b")
    top_up = books.fund(a, 1_000)
    journal = books.move(a, b, 300, key="a-to-b")
    books.move(a, b, 200)

    assert (journal.key, journal.kind, journal.actor_label) == ("a-to-b", "payment",
                                                                "ledger test")
    assert (books.balance(rail), books.balance(a), books.balance(b)) == (-1_000, 500, 500)
    assert sorted(books.postings(top_up.id)) == sorted([(rail, -1_000, CNY, -1_000),
                                                        (a, 1_000, CNY, 1_000)])
    assert sorted(books.postings(journal.id)) == sorted([(a, -300, CNY, 700),
                                                         (b, 300, CNY, 300)])
    assert sum(amount for _, amount, _, _ in books.postings(journal.id)) == 0
    with books.factory() as session:  # running balances follow one another per account
        afters = list(session.scalars(select(Posting.balance_after).where(
            Posting.account_id == a).order_by(Posting.id)))
    assert afters == [1_000, 700, 500]
    report = books.verify()
    assert report.ok, report.problems
    assert (report.accounts, report.journals, report.postings) == (3, 3, 6)


def test_legs_on_one_account_are_merged_into_one_posting(books: Books) -> None:
    a, b, c = books.open(owner="org-a"), books.open(owner="org-b"), books.open(owner="org-c")
    books.fund(a, 1_000)
    journal = books.post("split", [Leg(a, -100, CNY), Leg(b, 60, CNY), Leg(a, -50, CNY),
                                   Leg(c, 90, CNY)])
    assert sorted(books.postings(journal.id)) == sorted([(a, -150, CNY, 850),
                                                         (b, 60, CNY, 60), (c, 90, CNY, 90)])
    assert books.verify().ok


def test_the_same_key_with_the_same_legs_posts_once(books: Books) -> None:
    a, b = books.open(owner="org-a"), books.open(owner="org-b")
    books.fund(a, 1_000)
    first = books.move(a, b, 300, key="once")
    before = books.counts()
    again = books.post("once", [Leg(b, 300, CNY), Leg(a, -300, CNY)])  # legs in any order
    assert again.id == first.id
    assert books.counts() == before
    assert (books.balance(a), books.balance(b)) == (700, 300)


@pytest.mark.parametrize("legs", [
    [("a", -301), ("b", 301)],
    [("a", -300), ("c", 300)],
    [("a", -300), ("b", 200), ("c", 100)],
], ids=["other amount", "other account", "more legs"])
def test_the_same_key_with_other_legs_is_refused(books: Books,
                                                 legs: list[tuple[str, int]]) -> None:
    accounts = {name: books.open(owner=f"org-{name}") for name in "abc"}
    books.fund(accounts["a"], 1_000)
    books.move(accounts["a"], accounts["b"], 300, key="taken")
    before = books.counts()
    with pytest.raises(JournalKeyReused):
        books.post("taken", [Leg(accounts[name], amount, CNY) for name, amount in legs])
    assert books.counts() == before
    assert [books.balance(accounts[n]) for n in "abc"] == [700, 300, 0]


@pytest.mark.parametrize("amounts", [
    [(-100, CNY), (99, CNY)],
    [(-100, CNY), (100, USD)],
    [(-100, CNY), (0, CNY), (100, CNY)],
    [(-1.5, CNY), (1.5, CNY)],
    [(Decimal("-1"), CNY), (Decimal("1"), CNY)],
    [(-1, CNY), (True, CNY)],
    [],
], ids=["off by one", "currencies", "zero leg", "float", "decimal", "bool", "no legs"])
def test_unbalanced_or_malformed_legs_are_refused_before_anything_is_written(
    books: Books, amounts: list[tuple[Any, str]]
) -> None:
    a, b, c = books.open(owner="org-a"), books.open(owner="org-b"), books.open(owner="org-c")
    books.fund(a, 1_000)
    before = books.counts()
    with books.uow() as uow:
        with pytest.raises(Unbalanced):
            ledger.transfer(uow, key="bad", kind=JournalKind.PAYMENT, legs=[
                Leg(account, amount, currency)
                for account, (amount, currency) in zip([a, b, c], amounts, strict=False)])
        assert not uow.session.new  # nothing even pending in the session
        assert uow.session.scalar(select(func.count()).select_from(Journal).where(
            Journal.key == "bad")) == 0
    assert books.counts() == before
    assert (books.balance(a), books.balance(b)) == (1_000, 0)


def test_legs_that_cancel_out_are_refused(books: Books) -> None:
    """Legs that merge to nothing would write a journal without postings."""
    a = books.open(owner="org-a")
    books.fund(a, 1_000)
    before = books.counts()
    with pytest.raises(Unbalanced):
        books.post("nothing", [Leg(a, -100, CNY), Leg(a, 100, CNY)])
    assert books.counts() == before


# -- non-negative accounts and the rail ------------------------------------------------------


def test_a_non_negative_account_is_never_overdrawn(books: Books) -> None:
    a, b = books.open(owner="org-a"), books.open(owner="org-b")
    books.fund(a, 100)
    before = books.counts()
    with pytest.raises(InsufficientFunds) as caught:
        books.move(a, b, 101)
    assert caught.value.code == "insufficient_funds"
    assert books.counts() == before  # no journal, posting or audit entry
    assert (books.balance(a), books.balance(b)) == (100, 0)

    books.move(a, b, 100)  # down to exactly zero is fine
    assert (books.balance(a), books.balance(b)) == (0, 100)
    with pytest.raises(InsufficientFunds):
        books.move(a, b, 1)
    with books.factory() as session, pytest.raises(IntegrityError):  # and the database agrees
        session.execute(update(Account).where(Account.id == a).values(balance=-1))
    assert books.verify().ok


def test_every_kind_but_the_rail_and_receivables_is_non_negative(books: Books) -> None:
    for kind in AccountKind:
        account_id = books.open(kind, owner=f"owner-{kind.value}")
        assert books.account(account_id).non_negative is (
            kind not in (AccountKind.RAIL_CLEARING, AccountKind.RECEIVABLE))


def test_the_rail_may_go_negative_and_every_currency_sums_to_zero(books: Books) -> None:
    a, b = books.open(owner="org-a"), books.open(owner="org-b")
    a_usd = books.open(owner="org-a", currency=USD)
    books.fund(a, 5_000)
    books.fund(b, 1_500)
    books.fund(a_usd, 700, USD)
    books.move(a, b, 1_200)
    books.move(a_usd, books.open(owner="org-b", currency=USD), 200, currency=USD)

    assert books.balance(books.rail()) == -6_500
    assert books.balance(books.rail(USD)) == -700
    assert books.totals() == {CNY: 0, USD: 0}
    assert books.verify().ok


# -- append-only ---------------------------------------------------------------------------


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_postings SET amount = amount + 1",
    "UPDATE ledger_postings SET balance_after = 0",
    "DELETE FROM ledger_postings",
    "UPDATE ledger_journals SET memo = 'edited'",
    "DELETE FROM ledger_journals",
])
def test_postings_and_journals_are_append_only(books: Books, statement: str) -> None:
    a = books.open(owner="org-a")
    books.fund(a, 1_000)
    before = books.counts()
    with books.factory() as session:
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text(statement))
        session.rollback()
    assert books.counts() == before
    assert books.verify().ok


def test_the_orm_cannot_change_a_posting_either(books: Books) -> None:
    a = books.open(owner="org-a")
    journal = books.fund(a, 1_000)
    with books.factory() as session:
        posting = session.scalars(select(Posting).where(Posting.journal_id == journal.id,
                                                        Posting.account_id == a)).one()
        posting.amount = 2_000
        with pytest.raises(DBAPIError, match="append-only"):
            session.flush()
        session.rollback()
    assert books.balance(a) == 1_000
    assert books.verify().ok


# -- PostgreSQL checks every journal balances at commit --------------------------------------


def _raw_journal(conn: Any, legs: list[tuple[str, int, str]], at: Any) -> str:
    journal_id = new_id("jrn")
    conn.execute(text(
        "INSERT INTO ledger_journals (id, key, kind, actor_label, posted_at) "
        "VALUES (:id, :key, 'payment', 'raw sql', :at)"),
        {"id": journal_id, "key": f"raw:{journal_id}", "at": at})
    for account_id, amount, currency in legs:
        balance = conn.execute(text(
            "UPDATE ledger_accounts SET balance = balance + :amount WHERE id = :id "
            "RETURNING balance"), {"amount": amount, "id": account_id}).scalar_one()
        conn.execute(text(
            "INSERT INTO ledger_postings (journal_id, account_id, amount, currency, "
            "balance_after, posted_at) VALUES (:journal, :account, :amount, :currency, "
            ":balance, :at)"),
            {"journal": journal_id, "account": account_id, "amount": amount,
             "currency": currency, "balance": balance, "at": at})
    return journal_id


@pytest.fixture(name="committed_books")
def committed_books_fixture(committed_session_factory: sessionmaker[Session],
                            clock: FixedClock) -> Books:
    return Books(committed_session_factory, clock)


@requires_postgres
@pytest.mark.postgres
@pytest.mark.parametrize("legs", [
    [("a", 100)],
    [("rail", -100), ("a", 99)],
    [("rail", -100), ("a", 100, USD)],
], ids=["one leg", "off by one", "across currencies"])
def test_the_database_refuses_an_unbalanced_journal_at_commit(
    committed_engine: Engine, committed_books: Books, legs: list[tuple[Any, ...]]
) -> None:
    books = committed_books
    accounts = {"rail": books.rail(), "a": books.open(owner="org-a")}
    before = books.counts()
    with committed_engine.connect() as conn:
        transaction = conn.begin()
        _raw_journal(conn, [(accounts[leg[0]], leg[1], leg[2] if len(leg) > 2 else CNY)
                            for leg in legs], books.clock.now())
        with pytest.raises(IntegrityError, match="does not balance"):
            transaction.commit()
    assert books.counts() == before
    assert books.verify().ok


@requires_postgres
@pytest.mark.postgres
def test_the_database_checks_each_journal_not_the_transaction(
    committed_engine: Engine, committed_books: Books
) -> None:
    """Two journals that are each off but cancel out together are still refused."""
    books = committed_books
    rail, a = books.rail(), books.open(owner="org-a")
    before = books.counts()
    with committed_engine.connect() as conn:
        transaction = conn.begin()
        _raw_journal(conn, [(rail, -100, CNY)], books.clock.now())
        _raw_journal(conn, [(a, 100, CNY)], books.clock.now())
        with pytest.raises(IntegrityError, match="does not balance"):
            transaction.commit()
    assert books.counts() == before


@requires_postgres
@pytest.mark.postgres
def test_the_database_accepts_a_balanced_journal_written_with_raw_sql(
    committed_engine: Engine, committed_books: Books
) -> None:
    books = committed_books
    rail, a, b = books.rail(), books.open(owner="org-a"), books.open(owner="org-b")
    with committed_engine.connect() as conn:
        transaction = conn.begin()  # unbalanced after the first posting: checked at commit
        journal_id = _raw_journal(conn, [(rail, -500, CNY), (a, 300, CNY), (b, 200, CNY)],
                                  books.clock.now())
        transaction.commit()
    assert sorted(books.postings(journal_id)) == sorted([
        (rail, -500, CNY, -500), (a, 300, CNY, 300), (b, 200, CNY, 200)])
    assert books.verify().ok


# -- holds -----------------------------------------------------------------------------------


def _hold(books: Books, debit: str, credit: str, amount: int, *, key: str | None = None,
          ttl: timedelta = DAY) -> Hold:
    with books.uow() as uow:
        held = ledger.hold(uow, key=key or new_id("key"), kind="test",
                           debit=uow.session.get_one(Account, debit),
                           credit=uow.session.get_one(Account, credit), amount=amount,
                           expires_at=books.clock.now() + ttl)
        uow.commit()
        return held


def _resolve(books: Books, hold_id: str, action: Callable[[UnitOfWork, Hold], Any]) -> Any:
    with books.uow() as uow:
        result = action(uow, uow.session.get_one(Hold, hold_id))
        uow.commit()
        return result


def _post(uow: UnitOfWork, held: Hold) -> Journal:
    return ledger.post_hold(uow, held, journal_kind=JournalKind.PAYOUT, memo="posted")


def _void(uow: UnitOfWork, held: Hold) -> None:
    ledger.void_hold(uow, held)


def _expire(uow: UnitOfWork, held: Hold) -> None:
    ledger.void_hold(uow, held, expired=True)


def test_a_hold_reserves_and_posting_it_moves_the_money(books: Books) -> None:
    a, b = books.open(owner="org-a"), books.open(owner="org-b")
    books.fund(a, 1_000)
    held = _hold(books, a, b, 600)
    assert (held.status, held.amount, held.journal_id) == ("pending", 600, None)
    assert (books.balance(a), books.pending(a), books.balance(b)) == (1_000, 600, 0)
    assert books.verify().ok

    with pytest.raises(InsufficientFunds):  # the reserved part cannot be spent
        books.move(a, b, 401)
    with pytest.raises(InsufficientFunds):  # nor reserved twice
        _hold(books, a, b, 401)
    books.move(a, b, 400)  # the rest can
    assert (books.balance(a), books.pending(a), books.balance(b)) == (600, 600, 400)

    journal = _resolve(books, held.id, _post)
    assert (journal.kind, journal.key, journal.memo) == ("payout", f"hold:{held.id}", "posted")
    row = books.hold_row(held.id)
    assert (row.status, row.journal_id) == (HoldStatus.POSTED.value, journal.id)
    assert row.resolved_at == books.clock.now()
    assert sorted(books.postings(journal.id)) == sorted([(a, -600, CNY, 0),
                                                         (b, 600, CNY, 1_000)])
    assert (books.balance(a), books.pending(a), books.balance(b)) == (0, 0, 1_000)
    assert books.verify().ok


def test_a_hold_with_the_same_key_reserves_once(books: Books) -> None:
    a, b = books.open(owner="org-a"), books.open(owner="org-b")
    books.fund(a, 1_000)
    first = _hold(books, a, b, 600, key="hold-once")
    again = _hold(books, a, b, 600, key="hold-once")
    assert again.id == first.id
    assert books.pending(a) == 600
    assert books.counts()["ledger_holds"] == 1


def test_a_hold_beyond_what_is_spendable_is_refused(books: Books) -> None:
    a, b = books.open(owner="org-a"), books.open(owner="org-b")
    books.fund(a, 500)
    before = books.counts()
    with pytest.raises(InsufficientFunds):
        _hold(books, a, b, 501)
    assert books.counts() == before
    assert books.pending(a) == 0


@pytest.mark.parametrize(("action", "status"), [(_void, HoldStatus.VOIDED),
                                                (_expire, HoldStatus.EXPIRED)],
                         ids=["void", "expire"])
def test_voiding_or_expiring_a_hold_gives_the_reservation_back(
    books: Books, action: Callable[[UnitOfWork, Hold], None], status: HoldStatus
) -> None:
    a, b = books.open(owner="org-a"), books.open(owner="org-b")
    books.fund(a, 1_000)
    held = _hold(books, a, b, 700)
    journals = books.counts()["ledger_journals"]
    _resolve(books, held.id, action)
    row = books.hold_row(held.id)
    assert (row.status, row.journal_id, row.resolved_at) == (status.value, None,
                                                             books.clock.now())
    assert (books.balance(a), books.pending(a), books.balance(b)) == (1_000, 0, 0)
    assert books.counts()["ledger_journals"] == journals  # no money moved
    books.move(a, b, 1_000)  # all of it is spendable again
    assert books.verify().ok


@pytest.mark.parametrize("first", [_post, _void, _expire], ids=["posted", "voided", "expired"])
@pytest.mark.parametrize("second", [_post, _void, _expire], ids=["post", "void", "expire"])
def test_a_hold_is_resolved_only_once(books: Books, first: Callable[[UnitOfWork, Hold], Any],
                                      second: Callable[[UnitOfWork, Hold], Any]) -> None:
    a, b = books.open(owner="org-a"), books.open(owner="org-b")
    books.fund(a, 1_000)
    held = _hold(books, a, b, 600)
    _resolve(books, held.id, first)
    state = (books.balance(a), books.pending(a), books.balance(b), books.counts())
    with pytest.raises(HoldNotPending):
        _resolve(books, held.id, second)
    assert (books.balance(a), books.pending(a), books.balance(b), books.counts()) == state
    assert books.verify().ok


def test_due_holds_are_the_pending_ones_past_their_expiry(books: Books) -> None:
    a, b = books.open(owner="org-a"), books.open(owner="org-b")
    books.fund(a, 1_000)
    soon = _hold(books, a, b, 100, ttl=timedelta(hours=1))
    later = _hold(books, a, b, 100, ttl=timedelta(hours=5))
    done = _hold(books, a, b, 100, ttl=timedelta(hours=1))
    _resolve(books, done.id, _void)
    now = books.clock.now()

    def due(at: Any) -> list[str]:
        with books.factory() as session:
            return [h.id for h in ledger.due_holds(session, at)]

    assert due(now) == []
    assert due(now + timedelta(hours=1)) == [soon.id]  # expiry is inclusive
    assert due(now + timedelta(hours=6)) == [soon.id, later.id]  # soonest first
    with books.factory() as session:
        assert len(ledger.due_holds(session, now + DAY, limit=1)) == 1


# -- escrow ----------------------------------------------------------------------------------


def test_an_escrow_is_closed_only_when_empty(books: Books) -> None:
    buyer = books.open(owner="org-a")
    escrow = books.open(AccountKind.ESCROW, owner="org-a", ref="ord-1")
    books.fund(buyer, 1_000)
    books.move(buyer, escrow, 400)
    with books.uow() as uow, pytest.raises(EscrowNotEmpty):
        ledger.close_escrow(uow, "ord-1", "org-a")
    assert books.account(escrow).closed_at is None
    books.move(escrow, buyer, 400)
    with books.uow() as uow:
        ledger.close_escrow(uow, "ord-1", "org-a")
        uow.commit()
    assert books.account(escrow).closed_at == books.clock.now()
    assert books.verify().ok


# -- verification ----------------------------------------------------------------------------


@pytest.fixture(name="ledger_state")
def ledger_state_fixture(books: Books) -> dict[str, str]:
    """A small consistent ledger: two parties, an order's escrow and a pending hold."""
    ids = {"a": books.open(owner="org-a"), "b": books.open(owner="org-b"),
           "escrow": books.open(AccountKind.ESCROW, owner="org-a", ref="ord-9")}
    books.fund(ids["a"], 1_000)
    books.move(ids["a"], ids["b"], 300)
    books.move(ids["a"], ids["escrow"], 200)
    ids["hold"] = _hold(books, ids["b"], ids["a"], 100).id
    return ids


def test_verify_is_ok_on_a_consistent_ledger(books: Books, ledger_state: dict[str, str]
                                             ) -> None:
    report = books.verify()
    assert report.ok, report.problems
    assert report.as_dict() == {"ok": True, "accounts": 4, "journals": 3, "postings": 6,
                                "problems": []}


def _tampered(books: Books, statement: str, **params: Any) -> ledger.Verification:
    """Verify after a change made behind the ledger's back, then undo it."""
    with books.factory() as session:
        session.execute(text(statement), params)
        report = ledger.verify(session)
        session.rollback()
    return report


def test_verify_names_a_cached_balance_that_differs(books: Books,
                                                    ledger_state: dict[str, str]) -> None:
    report = _tampered(books, "UPDATE ledger_accounts SET balance = balance + 5 WHERE id = :id",
                       id=ledger_state["b"])
    assert report.problems == [{"problem": "balance_differs", "account_id": ledger_state["b"],
                                "cached": 305, "postings": 300}]
    assert books.verify().ok


def test_verify_names_a_reservation_that_differs(books: Books,
                                                 ledger_state: dict[str, str]) -> None:
    report = _tampered(books,
                       "UPDATE ledger_accounts SET pending_out = pending_out + 7 WHERE id = :id",
                       id=ledger_state["a"])
    assert report.problems == [{"problem": "reservation_differs",
                                "account_id": ledger_state["a"], "cached": 7,
                                "pending_holds": 0}]
    report = _tampered(books, "UPDATE ledger_holds SET status = 'voided' WHERE id = :id",
                       id=ledger_state["hold"])
    assert report.problems == [{"problem": "reservation_differs",
                                "account_id": ledger_state["b"], "cached": 100,
                                "pending_holds": 0}]


def test_verify_names_a_closed_escrow_with_money(books: Books,
                                                 ledger_state: dict[str, str]) -> None:
    report = _tampered(books, "UPDATE ledger_accounts SET closed_at = created_at WHERE id = :id",
                       id=ledger_state["escrow"])
    assert report.problems == [{"problem": "closed_escrow_not_empty",
                                "account_id": ledger_state["escrow"], "balance": 200}]


def _drop_append_only(session: Session) -> None:
    """Inside the test's transaction (rolled back with it): let postings be changed."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("DROP TRIGGER ledger_postings_append_only ON ledger_postings"))
    else:
        session.execute(text("DROP TRIGGER ledger_postings_no_update"))


def test_verify_names_tampered_postings(books: Books, ledger_state: dict[str, str]) -> None:
    a = ledger_state["a"]
    with books.factory() as session:
        _drop_append_only(session)
        postings = session.execute(select(Posting.id, Posting.journal_id).where(
            Posting.account_id == a).order_by(Posting.id)).all()
        (first, first_journal), (second, _) = postings[0], postings[1]
        session.execute(text("UPDATE ledger_postings SET amount = amount + 3 WHERE id = :id"),
                        {"id": first})
        report = ledger.verify(session)
        session.execute(text("UPDATE ledger_postings SET amount = amount - 3 WHERE id = :id"),
                        {"id": first})
        assert ledger.verify(session).ok
        session.execute(text("UPDATE ledger_postings SET balance_after = 1 WHERE id = :id"),
                        {"id": second})
        running = ledger.verify(session)
        session.rollback()
    problems = {p["problem"]: p for p in report.problems}
    assert sorted(problems) == ["balance_differs", "currency_does_not_sum_to_zero",
                                "journal_unbalanced", "running_balance_differs"]
    assert problems["journal_unbalanced"] == {"problem": "journal_unbalanced",
                                              "journal_id": first_journal,
                                              "currency": CNY, "off_by": 3}
    assert problems["balance_differs"] == {"problem": "balance_differs", "account_id": a,
                                           "cached": 500, "postings": 503}
    assert problems["currency_does_not_sum_to_zero"] == {
        "problem": "currency_does_not_sum_to_zero", "currency": CNY, "total": 3}
    # Every later posting of the account now disagrees with its running balance too.
    assert [p["posting_id"] for p in report.problems
            if p["problem"] == "running_balance_differs"] == [p_id for p_id, _ in postings]
    assert running.problems == [{"problem": "running_balance_differs",
                                 "posting_id": second, "account_id": a, "recorded": 1,
                                 "recomputed": 700}]
    assert books.verify().ok  # the postings are back, and so is the trigger:
    with books.factory() as session, pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("UPDATE ledger_postings SET amount = amount + 3"))


# -- settlement services: top-ups ------------------------------------------------------------


@dataclass
class Parties:
    operator: Party
    buyer: Party
    seller: Party
    other: Party


@pytest.fixture(name="parties")
def parties_fixture(make_party: Callable[..., Party]) -> Parties:
    return Parties(make_party("operator"), make_party("buyer"), make_party("merchant"),
                   make_party("buyer"))


def _as(books: Books, party: Party) -> UnitOfWork:
    return books.uow(actor_for(party))


def _available(books: Books, org_id: str, kind: AccountKind = AccountKind.AVAILABLE,
               ref: str = "") -> Account:
    with books.factory() as session:
        return session.scalars(select(Account).where(
            Account.owner == org_id, Account.kind == kind.value, Account.ref == ref,
            Account.currency == CNY)).one()


def test_a_top_up_is_recorded_once_per_bank_reference(books: Books, parties: Parties) -> None:
    operator, buyer = parties.operator, parties.buyer
    first = settlement.record_top_up(buyer.org_id, 5_000, CNY, "BANK-1",
                                     uow=_as(books, operator))
    before = books.counts()
    again = settlement.record_top_up(buyer.org_id, 5_000, CNY, "BANK-1",
                                     uow=_as(books, operator))
    assert again.id == first.id
    assert books.counts() == before
    assert (first.org_id, first.amount, first.rail, first.reference) == (
        buyer.org_id, 5_000, "offline", "BANK-1")
    assert _available(books, buyer.org_id).balance == 5_000
    assert books.balance(books.rail()) == -5_000
    with books.factory() as session:
        journal = session.get_one(Journal, first.journal_id)
        assert (journal.kind, journal.key, journal.memo) == ("top_up", "top_up:offline:BANK-1",
                                                             "BANK-1")
    settlement.record_top_up(buyer.org_id, 5_000, CNY, "BANK-2", uow=_as(books, operator))
    assert _available(books, buyer.org_id).balance == 10_000
    assert books.verify().ok


@pytest.mark.parametrize(("who", "amount", "currency"), [
    ("buyer", 4_999, CNY), ("other", 5_000, CNY), ("buyer", 5_000, USD)],
    ids=["amount", "payer", "currency"])
def test_a_bank_reference_reused_for_another_transfer_is_refused(
    books: Books, parties: Parties, who: str, amount: int, currency: str
) -> None:
    settlement.record_top_up(parties.buyer.org_id, 5_000, CNY, "BANK-1",
                             uow=_as(books, parties.operator))
    before = books.counts()
    with pytest.raises(TopUpReferenceReused):
        settlement.record_top_up(getattr(parties, who).org_id, amount, currency, "BANK-1",
                                 uow=_as(books, parties.operator))
    assert books.counts() == before


def test_only_operators_record_top_ups_of_real_organisations(books: Books,
                                                             parties: Parties) -> None:
    before = books.counts()
    for party in (parties.buyer, parties.seller):
        with pytest.raises(RoleNotAllowed):
            settlement.record_top_up(parties.buyer.org_id, 5_000, CNY, "BANK-X",
                                     uow=_as(books, party))
    with pytest.raises(OrganisationNotFound):
        settlement.record_top_up("org_nobody", 5_000, CNY, "BANK-X",
                                 uow=_as(books, parties.operator))
    for amount in (0, -5):
        with pytest.raises(InvalidInput):
            settlement.record_top_up(parties.buyer.org_id, amount, CNY, "BANK-X",
                                     uow=_as(books, parties.operator))
    assert books.counts() == before


# -- settlement services: payouts ------------------------------------------------------------

RULE = {"platform_fee_bps": 500,
        "shares": [{"role": "merchant", "org_id": "", "bps": 10_000}]}


def _earn(books: Books, parties: Parties, amount: int, order_id: str = "ord-1") -> None:
    """The buyer pays an order and it settles: the seller's payable gets 95%."""
    settlement.record_top_up(parties.buyer.org_id, amount, CNY, f"BANK-{order_id}",
                             uow=_as(books, parties.operator))
    rule = {**RULE, "shares": [{**RULE["shares"][0], "org_id": parties.seller.org_id}]}
    with books.uow() as uow:
        settlement.pay_into_escrow(order_id=order_id, buyer_org_id=parties.buyer.org_id,
                                   amount=amount, currency=CNY, uow=uow)
        settlement.settle(order_id=order_id, buyer_org_id=parties.buyer.org_id, amount=amount,
                          currency=CNY, rule=rule, uow=uow)
        uow.commit()


def _payout(books: Books, party: Party, amount: int, ttl: timedelta = 14 * DAY) -> Payout:
    return settlement.request_payout(amount, CNY, {"bank": "工商银行", "number": "6222"},
                                     uow=_as(books, party), ttl=ttl)


def _payable(books: Books, party: Party) -> tuple[int, int]:
    found = _available(books, party.org_id, AccountKind.PAYABLE)
    return found.balance, found.pending_out


def test_a_settled_order_pays_the_seller_and_the_platform(books: Books,
                                                          parties: Parties) -> None:
    _earn(books, parties, 10_000)
    assert _payable(books, parties.seller) == (9_500, 0)
    fee = _available(books, PLATFORM, AccountKind.FEE_REVENUE)
    escrow = _available(books, parties.buyer.org_id, AccountKind.ESCROW, "ord-1")
    assert (fee.balance, escrow.balance) == (500, 0)
    assert escrow.closed_at is not None
    assert _available(books, parties.buyer.org_id).balance == 0
    assert books.verify().ok


def test_a_payout_reserves_then_the_operator_confirms_it(books: Books,
                                                         parties: Parties) -> None:
    _earn(books, parties, 10_000)
    payout = _payout(books, parties.seller, 6_000)
    assert (payout.status, payout.amount, payout.org_id) == ("requested", 6_000,
                                                             parties.seller.org_id)
    assert _payable(books, parties.seller) == (9_500, 6_000)
    assert books.verify().ok

    with pytest.raises(RoleNotAllowed):
        settlement.confirm_payout(payout.id, "PAID-1", uow=_as(books, parties.seller))
    paid = settlement.confirm_payout(payout.id, "PAID-1", uow=_as(books, parties.operator))
    assert (paid.status, paid.bank_reference) == (PayoutStatus.PAID.value, "PAID-1")
    assert _payable(books, parties.seller) == (3_500, 0)
    assert books.balance(books.rail()) == -10_000 + 6_000  # the money left through the bank
    held = books.hold_row(payout.hold_id)
    assert held.status == HoldStatus.POSTED.value
    with books.factory() as session:
        journal = session.get_one(Journal, held.journal_id)
        assert (journal.kind, journal.memo) == ("payout", "PAID-1")

    before = books.counts()
    with pytest.raises(InvalidTransition):
        settlement.confirm_payout(payout.id, "PAID-1", uow=_as(books, parties.operator))
    with pytest.raises(InvalidTransition):
        settlement.reject_payout(payout.id, "late", uow=_as(books, parties.operator))
    assert books.counts() == before
    assert books.verify().ok


def test_a_payout_beyond_the_payable_balance_is_refused(books: Books,
                                                        parties: Parties) -> None:
    _earn(books, parties, 10_000)
    _payout(books, parties.seller, 6_000)
    before = books.counts()
    with pytest.raises(InsufficientFunds):  # 3,500 left that is not reserved
        _payout(books, parties.seller, 3_501)
    with pytest.raises(InsufficientFunds):  # nothing payable at all
        _payout(books, parties.buyer, 1)
    assert books.counts() == before
    _payout(books, parties.seller, 3_500)
    assert _payable(books, parties.seller) == (9_500, 9_500)
    for amount in (0, -1):
        with pytest.raises(InvalidInput):
            _payout(books, parties.seller, amount)
    with pytest.raises(RoleNotAllowed):  # the system has no payable to pay out
        settlement.request_payout(1, CNY, {}, uow=books.uow())
    assert books.verify().ok


def test_a_rejected_payout_gives_the_reservation_back(books: Books, parties: Parties) -> None:
    _earn(books, parties, 10_000)
    payout = _payout(books, parties.seller, 9_500)
    with pytest.raises(RoleNotAllowed):
        settlement.reject_payout(payout.id, "wrong account", uow=_as(books, parties.seller))
    rejected = settlement.reject_payout(payout.id, "wrong account",
                                        uow=_as(books, parties.operator))
    assert (rejected.status, rejected.reason) == (PayoutStatus.REJECTED.value, "wrong account")
    assert books.hold_row(payout.hold_id).status == HoldStatus.VOIDED.value
    assert _payable(books, parties.seller) == (9_500, 0)
    with pytest.raises(InvalidTransition):
        settlement.confirm_payout(payout.id, "PAID-1", uow=_as(books, parties.operator))
    assert _payable(books, parties.seller) == (9_500, 0)
    assert books.verify().ok


def test_payouts_nobody_confirmed_in_time_expire(books: Books, parties: Parties) -> None:
    _earn(books, parties, 10_000)
    short = _payout(books, parties.seller, 1_000, ttl=DAY)
    long = _payout(books, parties.seller, 2_000, ttl=5 * DAY)
    confirmed = _payout(books, parties.seller, 3_000, ttl=DAY)
    settlement.confirm_payout(confirmed.id, "PAID-1", uow=_as(books, parties.operator))

    assert settlement.expire_payouts(uow=books.uow()) == []
    books.clock.advance(2 * DAY)
    assert settlement.expire_payouts(uow=books.uow()) == [short.id]
    assert settlement.expire_payouts(uow=books.uow()) == []  # once
    with books.factory() as session:
        statuses = {p.id: p.status for p in session.scalars(select(Payout))}
    assert statuses == {short.id: "expired", long.id: "requested", confirmed.id: "paid"}
    assert books.hold_row(short.hold_id).status == HoldStatus.EXPIRED.value
    assert _payable(books, parties.seller) == (6_500, 2_000)
    with pytest.raises(InvalidTransition):
        settlement.confirm_payout(short.id, "PAID-2", uow=_as(books, parties.operator))
    assert books.verify().ok


# -- settlement services: statements ---------------------------------------------------------


@pytest.fixture(name="history")
def history_fixture(books: Books, parties: Parties) -> str:
    """The buyer's available account over four days: +1,000, +2,000, −500, +300."""
    operator, buyer = parties.operator, parties.buyer
    settlement.record_top_up(buyer.org_id, 1_000, CNY, "T1", uow=_as(books, operator))
    books.clock.advance(DAY)
    settlement.record_top_up(buyer.org_id, 2_000, CNY, "T2", uow=_as(books, operator))
    books.clock.advance(DAY)
    with books.uow() as uow:
        settlement.pay_into_escrow(order_id="ord-s", buyer_org_id=buyer.org_id, amount=500,
                                   currency=CNY, uow=uow)
        uow.commit()
    books.clock.advance(DAY)
    settlement.record_top_up(buyer.org_id, 300, CNY, "T3", uow=_as(books, operator))
    return _available(books, buyer.org_id).id


def test_a_statement_has_the_opening_balance_running_lines_and_closing_balance(
    books: Books, parties: Parties, history: str
) -> None:
    found = settlement.statement(history, START + DAY, START + 3 * DAY,
                                 uow=_as(books, parties.buyer))
    assert found.account.id == history
    assert found.opening_balance == 1_000
    assert [(x.kind, x.amount, x.balance_after, x.memo, x.order_id) for x in found.lines] == [
        ("top_up", 2_000, 3_000, "T2", None), ("payment", -500, 2_500, None, "ord-s")]
    assert [x.posted_at for x in found.lines] == [START + DAY, START + 2 * DAY]
    assert (found.closing_balance, found.credits, found.debits) == (2_500, 2_000, 500)

    whole = settlement.statement(history, START, START + 10 * DAY,
                                 uow=_as(books, parties.buyer))
    assert (whole.opening_balance, whole.closing_balance) == (0, 2_800)
    running = whole.opening_balance
    for line in whole.lines:
        running += line.amount
        assert line.balance_after == running
    assert (whole.credits, whole.debits) == (3_300, 500)

    quiet = settlement.statement(history, START + 5 * DAY, START + 6 * DAY,
                                 uow=_as(books, parties.buyer))
    assert (quiet.opening_balance, quiet.lines, quiet.closing_balance) == (2_800, [], 2_800)
    day_one = settlement.statement(history, START, START + DAY, uow=_as(books, parties.buyer))
    assert [x.amount for x in day_one.lines] == [1_000]  # the period's end is exclusive


def test_a_statement_is_only_for_your_own_accounts(books: Books, parties: Parties,
                                                   history: str) -> None:
    for party in (parties.other, parties.seller):
        with pytest.raises(AccountNotFound):
            settlement.statement(history, START, START + DAY, uow=_as(books, party))
    with pytest.raises(AccountNotFound):
        settlement.statement("acc_nothing", START, START + DAY, uow=_as(books, parties.buyer))
    seen = settlement.statement(history, START, START + 10 * DAY,
                                uow=_as(books, parties.operator))
    assert seen.closing_balance == 2_800
    with pytest.raises(InvalidInput):
        settlement.statement(history, START + DAY, START + DAY, uow=_as(books, parties.buyer))
