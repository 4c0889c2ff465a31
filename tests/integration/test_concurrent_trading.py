"""Trading and the ledger under concurrent writers on PostgreSQL, with real commits.

An exclusive offer is sold once however many buyers race for it; concurrent payments,
acceptances, disputes and dispute decisions of one order have exactly one effect (the order's
row lock); and many concurrent transfers between a few accounts neither deadlock nor overdraw
(accounts are locked in id order) and conserve money.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from market import wiring
from market.kernel.actor import system_actor
from market.kernel.audit import AuditEntry, verify_chain
from market.kernel.clock import FixedClock
from market.kernel.errors import InvalidTransition
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.listing.errors import SoldOut
from market.listing.models import Offer
from market.participants import services as participants
from market.participants.domain import random_credit_code
from market.receipts.signing import Signer
from market.settlement import ledger
from market.settlement import services as settlement
from market.settlement.domain import PLATFORM, AccountKind, JournalKind, Leg
from market.settlement.errors import InsufficientFunds
from market.settlement.models import Account, Journal, Payout, Posting
from market.trading import services as trading
from market.trading.domain import DisputeOutcome, OrderStatus
from market.trading.errors import DisputeAlreadyEscalated, DisputeNotEscalated, DisputeNotOpen
from market.trading.models import Dispute, Order
from tests.conftest import TEST_SIGNING_KEY, Party
from tests.integration.rights_fixtures import RightsWorld
from tests.integration.test_concurrent_bookkeeping import _race
from tests.integration.test_listing_services import Shop
from tests.integration.trading_fixtures import COMMITMENT, POLICY, PRICE, Market

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("MARKET_TEST_DATABASE_URL"),
                       reason="concurrent writers need a real PostgreSQL (set "
                              "MARKET_TEST_DATABASE_URL, e.g. scripts/with-postgres); SQLite "
                              "serialises writers"),
]

FUNDS = 10 * PRICE


def _committed_maker(factory: sessionmaker[Session], clock: FixedClock
                     ) -> Callable[..., Party]:
    """``make_party`` over committed transactions (conftest's is bound to the rolled-back
    connection)."""
    counter = itertools.count()

    def make(*roles: str, name: str | None = None) -> Party:
        n = next(counter)
        code = random_credit_code()
        data = participants.OrganisationInput(
            name=name or f"{'/'.join(roles)} org {n}", credit_code=code,
            contact_name=f"contact {n}", contact_email=f"c{n}-{code.lower()}@example.cn",
            roles=frozenset(roles))
        reg = participants.register_organisation(
            data, uow=UnitOfWork(factory, clock, system_actor("test")),
            key_ttl=timedelta(days=30), reason="test")
        return Party(reg.organisation.id, reg.user.id, reg.api_key.key.id, reg.api_key.token,
                     tuple(sorted(roles)))

    return make


@pytest.fixture(name="world")
def world_fixture(committed_session_factory: sessionmaker[Session], clock: FixedClock,
                  tmp_path: Path) -> Market:
    """The trading fixtures' :class:`Market`, over committed transactions."""
    wiring.connect()
    rights = RightsWorld(_committed_maker(committed_session_factory, clock),
                         committed_session_factory, clock, Signer(TEST_SIGNING_KEY))
    return Market(Shop(rights), tmp_path / "deliveries")


def _tally(threads: int, work: Callable[[int], str],
           expected: tuple[type[Exception], ...] = (InvalidTransition,)) -> Counter[str]:
    """Race ``work`` on ``threads`` threads; what each returned, or the name of the expected
    error it raised. Any other error fails the test."""
    results: Counter[str] = Counter()
    lock = threading.Lock()

    def run(n: int) -> None:
        try:
            label = work(n)
        except expected as exc:
            label = type(exc).__name__
        with lock:
            results[label] += 1

    errors = _race(threads, run)
    assert errors == [], errors
    assert sum(results.values()) == threads
    return results


def _journals(world: Market, order_id: str) -> Counter[str]:
    with world.rights.session_factory() as session:
        return Counter(session.scalars(select(Journal.kind).where(
            Journal.order_id == order_id)))


def _escrow_closed(world: Market, order_id: str) -> bool:
    with world.rights.session_factory() as session:
        escrow = session.scalars(select(Account).where(
            Account.kind == AccountKind.ESCROW.value, Account.ref == order_id)).one()
        return escrow.closed_at is not None


def _disputes(world: Market, order_id: str) -> list[Dispute]:
    with world.rights.session_factory() as session:
        return list(session.scalars(select(Dispute).where(Dispute.order_id == order_id)))


def _check_terminal(world: Market, order: Order, buyer: Party) -> None:
    """A settled or refunded order: its escrow empty and closed, the buyer charged exactly
    what it ended up paying, the shares adding up to that, and one filing if it settled."""
    order = world.order(order.id)
    assert order.status in (OrderStatus.SETTLED.value, OrderStatus.REFUNDED.value)
    assert world.escrow(order.id) == 0
    assert _escrow_closed(world, order.id)
    settled = order.status == OrderStatus.SETTLED.value
    assert world.balance(buyer.org_id) == FUNDS - (PRICE if settled else 0)
    allocations = world.allocations(order.id)
    assert sum(a.amount - a.refunded for a in allocations) == (PRICE if settled else 0)
    with world.rights.session_factory() as session:
        earned = sum(session.get_one(Account, account_id).balance
                     for account_id in {a.account_id for a in allocations})
    assert earned == (PRICE if settled else 0)
    assert len(world.filings(order.id)) == (1 if settled else 0)
    report = world.verify()
    assert report.ok, report.problems


# -- an exclusive offer ------------------------------------------------------------------------


def test_an_exclusive_offer_is_sold_once_to_32_racing_buyers(world: Market) -> None:
    chain = world.listed(quantity=1)
    offer_id = world.offer_id(chain)
    buyers = [world.buyer(f"buyer {n}", funds=0) for n in range(32)]
    placed: list[str] = []
    lock = threading.Lock()

    def order(n: int) -> str:
        view = trading.place_order(chain.product_id, offer_id, COMMITMENT, policy=POLICY,
                                   uow=world.uow(buyers[n]))
        with lock:
            placed.append(view.order.id)
        return "placed"

    assert _tally(32, order, (SoldOut,)) == Counter({"placed": 1, "SoldOut": 31})
    with world.rights.session_factory() as session:
        offer = session.get_one(Offer, offer_id)
        assert (offer.quantity, offer.sold) == (1, 1)
        orders = list(session.scalars(select(Order.id).where(
            Order.product_id == chain.product_id)))
    assert orders == placed
    assert world.order(placed[0]).status == OrderStatus.AWAITING_PAYMENT.value


# -- one order, many hands -------------------------------------------------------------------


def test_concurrent_payments_of_one_order_take_the_money_once(world: Market) -> None:
    buyer = world.buyer()
    order = world.place(world.listed(), buyer)

    def pay(_: int) -> str:
        return trading.pay_order(order.id, policy=POLICY, uow=world.uow(buyer)).order.status

    assert _tally(8, pay) == Counter({"paid": 1, "InvalidTransition": 7})
    assert world.order(order.id).status == OrderStatus.PAID.value
    assert _journals(world, order.id) == Counter({"payment": 1})
    assert world.balance(buyer.org_id) == FUNDS - PRICE
    assert world.escrow(order.id) == PRICE
    report = world.verify()
    assert report.ok, report.problems


def test_concurrent_acceptances_and_disputes_of_one_order_have_one_effect(
    world: Market
) -> None:
    buyer = world.buyer()
    order = world.place(world.listed(), buyer)
    world.pay(order)
    world.deliver_file(order)

    def act(n: int) -> str:
        if n % 2:
            trading.accept_order(order.id, uow=world.uow(buyer))
            return "accepted"
        trading.open_dispute(order.id, "数据缺少字段", ["ab" * 32], policy=POLICY,
                             uow=world.uow(buyer))
        return "disputed"

    results = _tally(16, act)
    assert results["InvalidTransition"] == 15
    (winner,) = set(results) - {"InvalidTransition"}
    disputes = _disputes(world, order.id)
    if winner == "accepted":
        assert disputes == []
        assert _journals(world, order.id) == Counter({"payment": 1, "settlement": 1})
    else:
        assert len(disputes) == 1
        assert world.order(order.id).status == OrderStatus.DISPUTED.value
        assert world.escrow(order.id) == PRICE  # held until the operator decides
        assert world.filings(order.id) == []
        assert world.verify().ok
        seller = world.party_of(order.seller_org_id)
        trading.answer_dispute(disputes[0].id, "字段齐全", [], uow=world.uow(seller))
        trading.decide_dispute(disputes[0].id, DisputeOutcome.FULL_REFUND, "退款",
                               uow=world.uow(world.rights.operator))
        assert _journals(world, order.id) == Counter({"payment": 1, "refund": 1})
    _check_terminal(world, order, buyer)


def test_concurrent_dispute_decisions_have_one_effect(world: Market) -> None:
    buyer = world.buyer()
    order = world.place(world.listed(), buyer)
    world.pay(order)
    world.deliver_file(order)
    dispute = trading.open_dispute(order.id, "数据缺少字段", ["ab" * 32], policy=POLICY,
                                   uow=world.uow(buyer))
    seller = world.party_of(order.seller_org_id)
    trading.answer_dispute(dispute.id, "字段齐全", [], uow=world.uow(seller))
    operator = world.rights.operator
    outcomes = [DisputeOutcome.FULL_REFUND, DisputeOutcome.RELEASE,
                DisputeOutcome.PARTIAL_REFUND]

    def act(n: int) -> str:
        if n % 4 == 3:  # the buyer tries to accept the disputed order meanwhile
            trading.accept_order(order.id, uow=world.uow(buyer))
            return "accepted"
        outcome = outcomes[n % 4]
        trading.decide_dispute(dispute.id, outcome, "裁决", uow=world.uow(operator),
                               refund_amount=PRICE // 4)
        return outcome.value

    results = _tally(12, act, (InvalidTransition, DisputeNotOpen))
    assert results["InvalidTransition"] == 3
    assert results["DisputeNotOpen"] == 8
    (winner,) = set(results) - {"InvalidTransition", "DisputeNotOpen"}
    order_now = world.order(order.id)
    journals = _journals(world, order.id)
    if winner == DisputeOutcome.FULL_REFUND.value:
        assert order_now.status == OrderStatus.REFUNDED.value
        assert journals == Counter({"payment": 1, "refund": 1})
        _check_terminal(world, order, buyer)
        return
    assert order_now.status == OrderStatus.SETTLED.value
    assert journals == Counter({"payment": 1, "settlement": 1})
    refund = PRICE // 4 if winner == DisputeOutcome.PARTIAL_REFUND.value else 0
    assert world.escrow(order.id) == 0
    assert _escrow_closed(world, order.id)
    assert world.balance(buyer.org_id) == FUNDS - PRICE + refund
    allocations = world.allocations(order.id)
    assert sum(a.amount for a in allocations) == PRICE
    assert sum(a.refunded for a in allocations) == refund
    (filing,) = world.filings(order.id)
    assert filing.amount == PRICE - refund
    assert world.verify().ok


def test_racing_escalations_and_awards_of_one_decision_have_one_effect(world: Market) -> None:
    """Both parties take the decision to arbitration at once while the deadlines run: one
    escalation wins and nothing moves; then two awards recorded at once are carried out
    once."""
    buyer = world.buyer()
    order = world.place(world.listed(), buyer)
    world.pay(order)
    world.deliver_file(order)
    arbitrable = replace(POLICY, arbitration_window=timedelta(days=7))
    dispute = trading.open_dispute(order.id, "数据缺少字段", ["ab" * 32], policy=arbitrable,
                                   uow=world.uow(buyer))
    seller = world.party_of(order.seller_org_id)
    trading.answer_dispute(dispute.id, "字段齐全", [], uow=world.uow(seller))
    operator = world.rights.operator
    trading.decide_dispute(dispute.id, DisputeOutcome.RELEASE, "交付符合约定",
                           uow=world.uow(operator))
    institution = arbitrable.arbitration_institutions[0]

    def escalate(n: int) -> str:
        if n % 3 == 2:  # the worker's deadlines meanwhile: the window has not ended
            done = trading.run_deadlines(uow=UnitOfWork(
                world.rights.session_factory, world.rights.clock, system_actor("worker")))
            return "deadlines" if not any(done.as_dict().values()) else "moved"
        party = buyer if n % 3 == 0 else seller
        trading.escalate_dispute(dispute.id, institution, "不服处理决定", policy=arbitrable,
                                 uow=world.uow(party))
        return "escalated"

    results = _tally(9, escalate, (DisputeAlreadyEscalated,))
    assert results == Counter({"escalated": 1, "DisputeAlreadyEscalated": 5, "deadlines": 3})
    assert world.order(order.id).status == OrderStatus.DISPUTED.value
    assert world.escrow(order.id) == PRICE  # frozen until the award
    assert _journals(world, order.id) == Counter({"payment": 1})

    def award(n: int) -> str:
        trading.record_award(dispute.id, institution=institution, reference=f"(2026)武仲字第{n}号",
                             document_sha256="ef" * 32, outcome=DisputeOutcome.PARTIAL_REFUND,
                             refund_amount=PRICE // 4, decided_at=world.rights.clock.now(),
                             uow=world.uow(operator))
        return "awarded"

    results = _tally(6, award, (DisputeNotEscalated,))
    assert results == Counter({"awarded": 1, "DisputeNotEscalated": 5})
    assert world.order(order.id).status == OrderStatus.SETTLED.value
    assert _journals(world, order.id) == Counter({"payment": 1, "settlement": 1})
    assert world.escrow(order.id) == 0
    assert world.balance(buyer.org_id) == FUNDS - PRICE + PRICE // 4
    assert world.verify().ok


# -- money moving while orders move ------------------------------------------------------------


def _payable(world: Market, org_id: str) -> tuple[int, int]:
    with world.rights.session_factory() as session:
        found = session.scalars(select(Account).where(
            Account.owner == org_id, Account.kind == AccountKind.PAYABLE.value)).one()
        return found.balance, found.pending_out


def test_top_ups_recorded_while_the_buyer_pays_neither_deadlock_nor_lose_money(
    world: Market
) -> None:
    """A payment locks its order, then the buyer's account with the escrow; a top-up the
    rail's clearing account with the buyer's, in account-id order; both take the audit head
    last, at commit."""
    buyer = world.buyer()
    chain = world.listed()
    orders = [world.place(chain, buyer) for _ in range(8)]
    operator = world.rights.operator

    def act(n: int) -> str:
        if n % 2:
            trading.pay_order(orders[n // 2].id, policy=POLICY, uow=world.uow(buyer))
            return "paid"
        settlement.record_top_up(buyer.org_id, 1_000, "CNY", f"BANK-RACE-{n}",
                                 uow=world.uow(operator))
        return "topped up"

    assert _tally(16, act, ()) == Counter({"paid": 8, "topped up": 8})
    assert world.balance(buyer.org_id) == FUNDS + 8 * 1_000 - 8 * PRICE
    assert [world.escrow(o.id) for o in orders] == [PRICE] * 8
    report = world.verify()
    assert report.ok, report.problems


def test_one_bank_transfer_recorded_at_once_by_several_operators_counts_once(
    world: Market
) -> None:
    buyer = world.buyer(funds=0)
    operator = world.rights.operator

    def act(_: int) -> str:
        return settlement.record_top_up(buyer.org_id, 5_000, "CNY", "BANK-SAME-REF",
                                        uow=world.uow(operator)).id

    ids = _tally(8, act, ())
    assert len(ids) == 1  # every operator got the same record back
    assert sum(ids.values()) == 8
    assert world.balance(buyer.org_id) == 5_000
    report = world.verify()
    assert report.ok, report.problems


def test_payouts_requested_while_orders_settle_neither_deadlock_nor_overdraw(
    world: Market
) -> None:
    buyer = world.buyer()
    chain = world.listed()
    first = world.trade(chain, buyer)  # the merchant has earned something to pay out
    seller = world.party_of(first.seller_org_id)
    earned, _ = _payable(world, seller.org_id)
    orders = []
    for _ in range(8):
        order = world.place(chain, buyer)
        world.pay(order)
        world.deliver_file(order)
        orders.append(order)

    def act(n: int) -> str:
        if n % 2:
            trading.accept_order(orders[n // 2].id, uow=world.uow(buyer))
            return "accepted"
        settlement.request_payout(1_000, "CNY", {"bank": "工商银行"}, uow=world.uow(seller))
        return "requested"

    assert _tally(16, act, ()) == Counter({"accepted": 8, "requested": 8})
    assert _payable(world, seller.org_id) == (9 * earned, 8 * 1_000)
    assert [world.escrow(o.id) for o in orders] == [0] * 8
    report = world.verify()
    assert report.ok, report.problems


def test_a_payout_confirmed_as_it_expires_has_one_outcome(world: Market) -> None:
    buyer = world.buyer()
    first = world.trade(world.listed(), buyer)
    seller = world.party_of(first.seller_org_id)
    earned, _ = _payable(world, seller.org_id)
    payouts = [settlement.request_payout(1_000, "CNY", {"bank": "工商银行"},
                                         uow=world.uow(seller), ttl=timedelta(hours=1))
               for _ in range(8)]
    world.rights.clock.advance(timedelta(hours=2))
    operator = world.rights.operator

    def act(n: int) -> str:
        if n % 2:
            settlement.confirm_payout(payouts[n // 2].id, f"PAID-{n}", uow=world.uow(operator))
            return "confirmed"
        settlement.expire_payouts(uow=world.system())
        return "expiry run"

    results = _tally(16, act)
    assert results["expiry run"] == 8
    assert results["confirmed"] + results["InvalidTransition"] == 8
    with world.rights.session_factory() as session:
        statuses = Counter(session.scalars(select(Payout.status)))
    assert statuses == Counter({"paid": results["confirmed"],
                                "expired": 8 - results["confirmed"]})
    assert _payable(world, seller.org_id) == (earned - 1_000 * results["confirmed"], 0)
    report = world.verify()
    assert report.ok, report.problems


def test_cancellations_while_others_order_the_same_offer_do_not_deadlock(
    world: Market
) -> None:
    chain = world.listed(quantity=50)
    offer_id = world.offer_id(chain)
    buyers = [world.buyer(f"buyer {n}", funds=0) for n in range(16)]
    orders = [world.place(chain, buyers[n]) for n in range(8)]

    def act(n: int) -> str:
        if n % 2:
            trading.cancel_order(orders[n // 2].id, "不要了", uow=world.uow(buyers[n // 2]))
            return "cancelled"
        trading.place_order(chain.product_id, offer_id, COMMITMENT, policy=POLICY,
                            uow=world.uow(buyers[8 + n // 2]))
        return "placed"

    assert _tally(16, act, ()) == Counter({"cancelled": 8, "placed": 8})
    with world.rights.session_factory() as session:
        assert session.get_one(Offer, offer_id).sold == 8


# -- many transfers between a few accounts ---------------------------------------------------


def test_concurrent_transfers_neither_deadlock_nor_overdraw(
    committed_session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    factory = committed_session_factory
    threads, per_thread, start = 8, 50, 1_000

    def uow() -> UnitOfWork:
        return UnitOfWork(factory, clock, system_actor("transfers"))

    with uow() as u:
        rail = ledger.account(u.session, AccountKind.RAIL_CLEARING, PLATFORM, "CNY", "offline",
                              at=clock.now())
        accounts = [ledger.account(u.session, AccountKind.AVAILABLE, f"org-{n}", "CNY",
                                   at=clock.now()).id for n in range(4)]
        for account_id in accounts:
            ledger.transfer(u, key=f"fund:{account_id}", kind=JournalKind.TOP_UP, legs=[
                Leg(rail.id, -start, "CNY"), Leg(account_id, start, "CNY")])
        u.commit()

    def transfer(n: int) -> None:
        rng = random.Random(n)
        for _ in range(per_thread):
            source, *targets = rng.sample(accounts, rng.choice((2, 2, 3)))
            amounts = [rng.randint(1, 300) for _ in targets]
            legs = sorted([Leg(source, -sum(amounts), "CNY")]
                          + [Leg(t, a, "CNY") for t, a in zip(targets, amounts, strict=True)],
                          key=lambda leg: leg.account_id)
            try:
                with uow() as u:
                    ledger.transfer(u, key=new_id("t"), kind=JournalKind.PAYMENT, legs=legs)
                    u.commit()
            except InsufficientFunds:
                with lock:
                    refused[0] += 1

    lock = threading.Lock()
    refused = [0]
    assert _race(threads, transfer) == []

    with factory() as session:
        balances = {a: session.get_one(Account, a) for a in accounts}
        journals = session.scalar(select(func.count()).select_from(Journal)) or 0
        postings = session.scalar(select(func.count()).select_from(Posting)) or 0
        report = ledger.verify(session)
    assert report.ok, report.problems
    assert all(a.balance >= 0 and a.pending_out == 0 for a in balances.values())
    assert sum(a.balance for a in balances.values()) == 4 * start  # conserved
    assert journals == 4 + threads * per_thread - refused[0]
    assert refused[0] < threads * per_thread  # the race did move money
    assert postings >= 2 * journals


# -- the audit head is taken at commit ----------------------------------------------------------


def test_a_transaction_at_work_does_not_hold_up_other_writers(world: Market) -> None:
    """One buyer's money moves and is audited in a transaction left open; meanwhile another
    buyer pays an order to the end. Audit entries are chained at commit, so the second does
    not wait for the first; the chain stays whole, the first's entries after the second's."""
    first, second = world.buyer("first"), world.buyer("second")
    order = world.place(world.listed(), second)
    sessions = world.rights.session_factory
    with UnitOfWork(sessions, world.rights.clock, system_actor("test")) as slow:
        available, parked = ledger.account_ids(slow.session, [
            (AccountKind.AVAILABLE, first.org_id, "CNY", ""),
            (AccountKind.ESCROW, first.org_id, "CNY", "parked")], at=world.rights.clock.now())
        ledger.transfer(slow, key=f"parked:{first.org_id}", kind=JournalKind.PAYMENT, legs=[
            Leg(available, -PRICE, "CNY"), Leg(parked, PRICE, "CNY")])
        assert slow.audit.pending == 1

        done = threading.Event()

        def pay() -> None:
            world.pay(order, second)
            done.set()

        thread = threading.Thread(target=pay)
        thread.start()
        thread.join(timeout=20)
        assert done.is_set(), "the payment waited for a transaction that was still at work"
        slow.commit()

    assert world.order(order.id).status == OrderStatus.PAID.value
    assert world.balance(first.org_id) == FUNDS - PRICE
    with sessions() as session:
        # the payment's entries (the order's move, its journal, its receipt), then the
        # open transaction's
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq.desc())
                                  .limit(4)).all()
        chain = verify_chain(session)
    assert actions[0] == "ledger.payment"  # the open transaction's entry, chained last
    assert "order.paid" in actions[1:]
    assert chain.ok, chain
    report = world.verify()
    assert report.ok, report.problems


def test_the_deadline_run_passes_over_an_order_another_transaction_holds(
    world: Market
) -> None:
    """Each due order is handled in a transaction of its own: one held by someone else is
    skipped, not waited for, and the next run takes it."""
    buyer = world.buyer()
    chain = world.listed()
    orders = []
    for _ in range(3):
        order = world.place(chain, buyer)
        world.pay(order, buyer)
        orders.append(world.deliver_file(order))
    world.rights.clock.advance(POLICY.acceptance_window)
    held = orders[1].id
    with world.rights.session_factory() as session, session.begin():
        session.execute(select(Order.id).where(Order.id == held).with_for_update())
        first = trading.run_deadlines(uow=world.system())
    assert sorted(first.auto_accepted) == sorted(o.id for o in orders if o.id != held)
    assert world.order(held).status == OrderStatus.DELIVERED.value
    second = trading.run_deadlines(uow=world.system())
    assert second.auto_accepted == [held]
    for order in orders:
        assert world.order(order.id).status == OrderStatus.SETTLED.value
        assert _journals(world, order.id) == Counter({"payment": 1, "settlement": 1})
        assert len(world.filings(order.id)) == 1
    assert world.balance(buyer.org_id) == FUNDS - 3 * PRICE
    report = world.verify()
    assert report.ok, report.problems


def test_the_deadline_run_buyers_top_ups_and_payouts_race_without_deadlock(
    world: Market
) -> None:
    """Shared accounts from every side at once: worker runs auto-accepting due orders (the
    merchant's and the holder's payables, the platform's fee), buyers accepting some of the
    same orders, the operator topping buyers up and the merchant asking for payouts. Each
    transaction locks its order, then its accounts in id order, then the audit head: nobody
    deadlocks, every order settles once, and the books balance."""
    buyers = [world.buyer(f"racer {n}") for n in range(3)]
    chain = world.listed()
    seller = world.party_of(world.trade(chain, buyers[0]).seller_org_id)
    earned, _ = _payable(world, seller.org_id)
    orders = []
    for n in range(12):
        order = world.place(chain, buyers[n % 3])
        world.pay(order)
        orders.append(world.deliver_file(order))
    world.rights.clock.advance(POLICY.acceptance_window)
    operator = world.rights.operator

    def act(n: int) -> str:
        kind = n % 4
        if kind == 0:
            trading.run_deadlines(uow=world.system())
            return "deadline run"
        if kind == 1:
            order = orders[n // 4]
            trading.accept_order(order.id, uow=world.uow(world.party_of(order.buyer_org_id)))
            return "accepted"
        if kind == 2:
            settlement.record_top_up(buyers[n % 3].org_id, 1_000, "CNY", f"BANK-MIX-{n}",
                                     uow=world.uow(operator))
            return "topped up"
        settlement.request_payout(1_000, "CNY", {"bank": "工商银行"}, uow=world.uow(seller))
        return "requested"

    results = _tally(16, act)
    assert (results["deadline run"], results["topped up"], results["requested"]) == (4, 4, 4)
    assert results["accepted"] + results["InvalidTransition"] == 4
    for order in orders:
        assert world.order(order.id).status == OrderStatus.SETTLED.value
        assert _journals(world, order.id) == Counter({"payment": 1, "settlement": 1})
        assert len(world.filings(order.id)) == 1
    assert _payable(world, seller.org_id) == (13 * earned, 4 * 1_000)
    topped = Counter(buyers[n % 3].org_id for n in range(16) if n % 4 == 2)
    for n, buyer in enumerate(buyers):
        bought = 5 if n == 0 else 4  # the first buyer's earlier trade, and 4 of the 12 each
        assert world.balance(buyer.org_id) == (
            FUNDS - bought * PRICE + 1_000 * topped[buyer.org_id])
    report = world.verify()
    assert report.ok, report.problems


# -- a stored file shared by deliveries of the same content ------------------------------------


def test_a_retention_sweep_never_deletes_a_file_a_delivery_in_flight_places(
    world: Market, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from market.trading.services import _subscribed
    from market.trading.services import retention as trading_retention

    content = b"id,score\n7,0.7\n"
    sha = hashlib.sha256(content).hexdigest()
    chain = world.listed()
    ended = world.place(chain, world.buyer("ended", funds=FUNDS))
    world.pay(ended)
    world.deliver_file(ended, content)
    dispute = trading.open_dispute(ended.id, "数据缺字段", ["ab" * 32], policy=world.policy,
                                   uow=world.uow(world.party_of(ended.buyer_org_id)))
    trading.answer_dispute(dispute.id, "字段齐全", ["cd" * 32],
                           uow=world.uow(world.party_of(ended.seller_org_id)))
    trading.decide_dispute(dispute.id, DisputeOutcome.FULL_REFUND, "经核查",
                           uow=world.uow(world.rights.operator))  # nothing needs the file now
    running = world.place(chain, world.buyer("running", funds=FUNDS))
    world.pay(running)

    placed, go = threading.Event(), threading.Event()
    on_delivered = _subscribed.on_delivered

    def paused(*args: object, **kwargs: object) -> None:  # the file is placed, not committed
        placed.set()
        assert go.wait(30)
        on_delivered(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_subscribed, "on_delivered", paused)
    delivering = threading.Thread(target=world.deliver_file, args=(running, content))
    delivering.start()
    assert placed.wait(30)
    swept: list[list[str]] = []
    sweeping = threading.Thread(target=lambda: swept.append(
        trading_retention.delete_unneeded_files(storage=world.storage, uow=UnitOfWork(
            world.rights.session_factory, world.rights.clock, system_actor("retention")))))
    sweeping.start()
    try:
        sweeping.join(5)  # it waits for the delivery's lock on the file
        assert sweeping.is_alive(), "the sweep went ahead while the file was being placed"
    finally:
        go.set()
        delivering.join(30)
        sweeping.join(30)
    assert swept == [[]]
    assert (world.storage / sha).exists()  # the running order still downloads it
    assert world.order(running.id).status == OrderStatus.DELIVERED.value
