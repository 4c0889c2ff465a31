"""The Stripe rail end to end over the real services and database, with the official
``stripe`` library pointed at the local Stripe-compatible server (``market.testing``):
Connect onboarding, card payments authorised and captured later or charged at once,
transfers per payee, refunds and reversals, chargebacks, idempotent calls and events, and
reconciliation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import stripe
from sqlalchemy import select

from market.cli import stripe_rail
from market.kernel.actor import system_actor
from market.kernel.config import Settings
from market.kernel.outbox import Delivery
from market.kernel.uow import UnitOfWork
from market.settlement import services as settlement
from market.settlement.domain import AccountKind
from market.settlement.models import Journal
from market.settlement.rails.models import CardPayment, StripeCall
from market.settlement.rails.stripe_rail import StripeRail, reconcile, stripe_consumers
from market.settlement.services.cards import CaptureInFlight
from market.testing.stripe_fake import FakeStripe
from market.trading import services as trading
from market.trading.domain import DisputeOutcome
from market.trading.models import Order, OrderEvent
from tests.conftest import Party
from tests.integration.rights_fixtures import Chain, rights_fixture, signer_fixture  # noqa: F401
from tests.integration.test_listing_services import _wired  # noqa: F401
from tests.integration.trading_fixtures import PRICE, Market, market_fixture  # noqa: F401


@dataclass
class Cards:
    """A market on the Stripe rail: the fake, the worker's rail and helpers."""

    market: Market
    fake: FakeStripe
    settings: Settings
    rail: StripeRail
    sent: int = 0

    def uow(self, party: Party | None = None) -> UnitOfWork:
        if party is None:
            return UnitOfWork(self.market.rights.session_factory, self.market.rights.clock,
                              system_actor("stripe"))
        return self.market.uow(party)

    def webhook(self, event: dict[str, Any]) -> Any:
        payload, header = self.fake.signed(event)
        return settlement.receive_stripe_event(
            payload, header, secret=self.fake.webhook_secret,
            uow=UnitOfWork(self.market.rights.session_factory, self.market.rights.clock,
                           system_actor("stripe webhook")))

    def deliver_events(self) -> None:
        for event in self.fake.events[self.sent:]:
            self.webhook(event)
        self.sent = len(self.fake.events)

    def work(self) -> None:
        for _ in range(6):
            self.deliver_events()
            if not self.rail.tick().busy:
                return

    def consume(self, topic: str, **payload: Any) -> None:
        consumer = stripe_consumers(self.market.rights.session_factory, self.settings,
                                    clock=self.market.rights.clock)[topic]
        consumer(Delivery(id="obx_test", topic=topic, payload=payload, attempts=1))

    def onboard(self, party: Party) -> str:
        settlement.open_connect_account("US", f"{party.org_id}@example.cn",
                                        "https://payee.example.cn/refresh",
                                        "https://payee.example.cn/done", uow=self.uow(party))
        self.work()
        account = settlement.get_connect_account(uow=self.uow(party))
        assert account.stripe_account_id
        assert account.onboarding_url
        self.fake.complete_onboarding(account.stripe_account_id)
        self.work()
        assert settlement.get_connect_account(uow=self.uow(party)).payouts_enabled
        return account.stripe_account_id

    def card_order(self, chain: Chain) -> tuple[Order, str]:
        """An order placed and paid by card (authorised or charged, by the policy)."""
        buyer = self.market.buyer("card buyer", funds=0)
        order = self.market.place(chain, buyer)
        trading.request_card_payment(order.id, policy=self.market.policy, uow=self.uow(buyer))
        self.work()
        card = trading.get_card_payment(order.id, uow=self.uow(buyer))
        assert card.payment_intent_id
        assert card.client_secret
        self.fake.pay(card.payment_intent_id)
        self.work()
        return self.market.order(order.id), card.payment_intent_id

    def settle(self, order: Order) -> Order:
        self.market.deliver_file(order)
        self.market.accept(order)
        self.consume("order.settled", order_id=order.id)
        self.work()
        return self.market.order(order.id)

    def card(self, order_id: str) -> CardPayment:
        with self.market.rights.session_factory() as session:
            found = session.get(CardPayment, order_id)
            assert found is not None
            session.expunge(found)
            return found

    def clearing(self, ref: str) -> int:
        return self.market.balance("platform", AccountKind.RAIL_CLEARING, ref)

    def journals(self, prefix: str) -> list[str]:
        with self.market.rights.session_factory() as session:
            return list(session.scalars(select(Journal.key).where(
                Journal.key.like(f"{prefix}%"))))

    def reconcile(self) -> Any:
        return reconcile(self.market.rights.session_factory, self.settings,
                         client=self.rail.client)


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    stripe = FakeStripe()
    with stripe.serve():
        yield stripe


def _cards(market: Market, fake: FakeStripe, settings: Settings, *,
           delivery_hours: int) -> Cards:
    configured = settings.with_changes(
        payment_rail="stripe", stripe_secret_key=fake.api_key,
        stripe_webhook_secret=fake.webhook_secret, stripe_api_base=fake.url,
        delivery_window_hours=delivery_hours, arbitration_window_hours=0)
    market.policy = trading.policy_of(configured)
    rail = stripe_rail(market.rights.session_factory, configured, clock=market.rights.clock)
    return Cards(market, fake, configured, rail)


@pytest.fixture
def cards(market: Market, fake: FakeStripe, settings: Settings) -> Cards:
    """Delivery (2 days) and acceptance (3 days) fit the card authorisation (7 days)."""
    return _cards(market, fake, settings, delivery_hours=48)


@pytest.fixture
def at_once(market: Market, fake: FakeStripe, settings: Settings) -> Cards:
    """Delivery (7 days) and acceptance (3 days) outlast the authorisation: charge at once."""
    return _cards(market, fake, settings, delivery_hours=7 * 24)


def _transfers(fake: FakeStripe, order_id: str) -> dict[str, int]:
    return {t["destination"]: t["amount"] for t in fake.of_kind("transfer")
            if t["transfer_group"] == f"order_{order_id}"}


def test_card_trade_authorises_then_captures_on_acceptance_and_transfers_each_share(
        cards: Cards) -> None:
    chain = cards.market.listed()
    holder, seller = cards.onboard(chain.holder), cards.onboard(chain.grantee)
    order, pi = cards.card_order(chain)

    assert order.status == "paid"
    assert cards.card(order.id).status == "authorised"
    assert cards.fake.get(pi)["status"] == "requires_capture"
    assert cards.market.escrow(order.id) == PRICE
    assert cards.clearing("stripe:transit") == -PRICE  # authorised, not yet at Stripe
    assert cards.clearing("stripe") == 0

    settled = cards.settle(order)

    assert settled.status == "settled"
    assert cards.fake.get(pi)["status"] == "succeeded"
    captures = [r for r in cards.fake.requests if r[1].endswith("/capture")]
    assert len(captures) == 1
    assert captures[0][2] == f"order:{order.id}:capture:v1"
    shares: dict[str, int] = {}
    for line in cards.market.allocations(order.id):
        if line.role != "platform":
            shares[line.org_id] = shares.get(line.org_id, 0) + line.amount
    assert _transfers(cards.fake, order.id) == {
        holder: shares[chain.holder.org_id], seller: shares[chain.grantee.org_id]}
    charge = cards.fake.get(pi)["latest_charge"]
    assert {t["source_transaction"] for t in cards.fake.of_kind("transfer")} == {charge}
    for party in (chain.holder, chain.grantee):
        assert cards.market.balance(party.org_id, AccountKind.PAYABLE) == 0
    fee = PRICE - sum(shares.values())
    assert cards.clearing("stripe") == -fee  # the platform's fee stays on its Stripe balance
    assert cards.clearing("stripe:transit") == 0
    assert cards.market.verify().ok
    assert cards.reconcile().ok


def test_capture_at_once_when_the_windows_outlast_the_authorisation(at_once: Cards) -> None:
    chain = at_once.market.listed()
    at_once.onboard(chain.grantee)
    order, pi = at_once.card_order(chain)

    assert at_once.fake.get(pi)["capture_method"] == "automatic"
    assert at_once.card(order.id).status == "captured"
    assert at_once.clearing("stripe") == -PRICE
    assert at_once.market.escrow(order.id) == PRICE

    at_once.settle(order)

    assert not [r for r in at_once.fake.requests if r[1].endswith("/capture")]
    shares = sum(a.amount for a in at_once.market.allocations(order.id)
                 if a.org_id == chain.grantee.org_id)
    assert sum(_transfers(at_once.fake, order.id).values()) == shares
    # the holder has no Connect account: its share waits for the ordinary payout
    holder_share = sum(a.amount for a in at_once.market.allocations(order.id)
                       if a.org_id == chain.holder.org_id)
    assert at_once.market.balance(chain.holder.org_id, AccountKind.PAYABLE) == holder_share
    assert at_once.market.verify().ok
    assert at_once.reconcile().ok


def test_duplicate_and_out_of_order_webhooks_cause_one_effect(at_once: Cards) -> None:
    chain = at_once.market.listed()
    buyer = at_once.market.buyer("card buyer", funds=0)
    order = at_once.market.place(chain, buyer)
    trading.request_card_payment(order.id, policy=at_once.market.policy, uow=at_once.uow(buyer))
    at_once.rail.tick()
    pi = at_once.card(order.id).payment_intent_id
    assert pi is not None
    at_once.fake.pay(pi)
    events = list(reversed(at_once.fake.events))  # succeeded first, created last
    first = [at_once.webhook(event) for event in events]
    again = [at_once.webhook(event) for event in events + events]
    at_once.sent = len(at_once.fake.events)
    at_once.rail.tick()
    at_once.rail.tick()

    assert not any(r.duplicate for r in first)
    assert all(r.duplicate for r in again)
    assert at_once.journals(f"payment:{order.id}") == [f"payment:{order.id}"]
    with at_once.market.rights.session_factory() as session:
        paid = session.scalars(select(OrderEvent).where(
            OrderEvent.order_id == order.id, OrderEvent.to_status == "paid")).all()
    assert len(paid) == 1
    assert at_once.market.escrow(order.id) == PRICE


def test_a_crash_between_the_call_and_its_record_charges_once(cards: Cards) -> None:
    chain = cards.market.listed()
    order, pi = cards.card_order(chain)
    cards.market.deliver_file(order)
    cards.market.accept(order)
    cards.consume("order.settled", order_id=order.id)

    claimed = cards.rail.claim()
    assert [c.operation for c in claimed] == ["payment_intent.capture"]
    outcome = cards.rail.perform(claimed[0])  # Stripe captured; the worker dies here
    assert outcome.ok
    assert cards.card(order.id).captured_amount == 0
    assert cards.rail.claim() == []  # leased to the dead worker
    cards.market.rights.clock.advance(timedelta(seconds=61))
    cards.work()

    charge = cards.fake.get(cards.fake.get(pi)["latest_charge"])
    captured = [t for t in cards.fake.balance_transactions if t["source"] == charge["id"]]
    assert len(captured) == 1
    assert cards.card(order.id).captured_amount == PRICE
    with cards.market.rights.session_factory() as session:
        call = session.scalars(select(StripeCall).where(
            StripeCall.idempotency_key == f"order:{order.id}:capture:v1")).one()
    assert (call.state, call.attempts) == ("done", 2)
    assert cards.market.verify().ok
    assert cards.reconcile().ok


def test_reconciliation_finds_an_injected_difference(at_once: Cards) -> None:
    chain = at_once.market.listed()
    at_once.onboard(chain.grantee)
    order, _ = at_once.card_order(chain)
    at_once.settle(order)
    assert at_once.reconcile().ok

    stray = at_once.fake.add_balance_transaction(-2_500, "cny")
    report = at_once.reconcile()

    assert not report.ok
    assert report.differences == [{
        "object": stray["source"], "currency": "CNY", "type": "adjustment",
        "stripe": -2_500, "ledger": 0, "problem": "missing_in_ledger"}]


def test_order_refunded_before_settlement_cancels_the_authorisation(cards: Cards) -> None:
    chain = cards.market.listed()
    order, pi = cards.card_order(chain)
    cards.market.rights.clock.advance(timedelta(hours=49))  # the seller never delivered
    run = trading.run_deadlines(uow=cards.uow())
    assert order.id in run.refunded
    cards.consume("order.refunded", order_id=order.id)
    cards.work()

    assert cards.fake.get(pi)["status"] == "canceled"
    assert cards.card(order.id).status == "returned"
    assert cards.market.balance(order.buyer_org_id) == 0
    assert cards.clearing("stripe:transit") == 0
    assert cards.market.verify().ok


def test_chargeback_freezes_the_order_and_holds_the_amount_in_suspense(at_once: Cards) -> None:
    chain = at_once.market.listed()
    order, pi = at_once.card_order(chain)
    dispute = at_once.fake.open_dispute(at_once.fake.get(pi)["latest_charge"])
    at_once.work()

    frozen = at_once.market.order(order.id)
    assert frozen.flagged
    assert frozen.flag_reason == f"chargeback {dispute['id']}"
    assert at_once.clearing("stripe:dispute") == -PRICE
    assert at_once.clearing("stripe") == 0

    at_once.fake.close_dispute(dispute["id"], won=True)
    at_once.work()

    assert not at_once.market.order(order.id).flagged
    assert at_once.clearing("stripe:dispute") == 0
    assert at_once.clearing("stripe") == -PRICE
    assert at_once.market.verify().ok
    assert at_once.reconcile().ok


def test_refund_after_settlement_reverses_transfers_in_proportion(at_once: Cards) -> None:
    chain = at_once.market.listed()
    accounts = {chain.holder.org_id: at_once.onboard(chain.holder),
                chain.grantee.org_id: at_once.onboard(chain.grantee)}
    order, pi = at_once.card_order(chain)
    at_once.settle(order)
    sent = _transfers(at_once.fake, order.id)

    refund = trading.refund_order(order.id, PRICE // 2, settlement.RefundCause.GOODWILL,
                                  "half back", uow=at_once.uow(chain.grantee))
    at_once.consume("refund.issued", order_id=order.id, refund_id=refund.id,
                    amount=refund.amount, currency=refund.currency)
    at_once.work()

    refunds = [r for r in at_once.fake.of_kind("refund") if r["payment_intent"] == pi]
    assert [r["amount"] for r in refunds] == [PRICE // 2]
    reversed_by = {t["destination"]: t["amount_reversed"]
                   for t in at_once.fake.of_kind("transfer")}
    owed: dict[str, int] = {}
    for line in refund.lines:
        if line.org_id in accounts:
            owed[accounts[line.org_id]] = owed.get(accounts[line.org_id], 0) + line.receivable
    assert reversed_by == owed
    for destination, amount in sent.items():  # half the price back: half of each transfer
        assert abs(reversed_by[destination] - amount / 2) <= 1
    assert at_once.market.verify().ok
    assert at_once.reconcile().ok


def test_a_reversal_after_the_debt_was_recovered_gives_the_payee_the_excess(
        at_once: Cards) -> None:
    """A refund after settlement leaves the payees (whose shares went out by transfer) owing
    their part; if a later sale recovers that debt before Stripe reverses the transfers,
    the reversal's money is the payee's again, never a second payment of the same debt."""
    market = at_once.market
    chain = market.listed()
    for payee in (chain.holder, chain.grantee):
        at_once.onboard(payee)
    order, _ = at_once.card_order(chain)
    at_once.settle(order)
    refund = trading.refund_order(order.id, PRICE // 2, settlement.RefundCause.GOODWILL,
                                  "half back", uow=at_once.uow(chain.grantee))
    owed: dict[str, int] = {}
    for line in refund.lines:  # a payee may hold several lines (merchant and processor)
        if line.receivable:
            owed[line.org_id] = owed.get(line.org_id, 0) + line.receivable
    assert owed  # the transfers had emptied the payable balances
    market.trade(chain)  # paid from a balance and settled: the debts are recovered from it
    payable = {org: market.balance(org, AccountKind.PAYABLE) for org in owed}
    for org in owed:
        assert market.balance(org, AccountKind.RECEIVABLE) == 0

    at_once.consume("refund.issued", order_id=order.id, refund_id=refund.id,
                    amount=refund.amount, currency=refund.currency)
    at_once.work()

    for org, amount in owed.items():
        assert market.balance(org, AccountKind.RECEIVABLE) == 0  # never above zero
        assert market.balance(org, AccountKind.PAYABLE) == payable[org] + amount
    assert market.verify().ok
    assert at_once.reconcile().ok


def test_an_authorisation_left_uncaptured_past_its_window_cannot_be_captured(
        cards: Cards) -> None:
    """The fake holds an authorisation as long as a card network does (the reason a
    dispute's authorisation is captured at once)."""
    cards.fake.clock = lambda: cards.market.rights.clock.now().timestamp()
    order, pi = cards.card_order(cards.market.listed())
    cards.market.rights.clock.advance(timedelta(days=7, seconds=1))
    with pytest.raises(stripe.InvalidRequestError) as expired:
        cards.rail.client.v1.payment_intents.capture(pi)
    assert expired.value.code == "charge_expired_for_capture"
    assert order.status == "paid"


def test_a_disputed_authorisation_is_captured_at_once_and_settles_after_its_window(
        cards: Cards) -> None:
    """A dispute can outlast the card authorisation: the order's authorisation is captured
    when the buyer disputes, and the decision, however late, refunds the card what it gives
    back and transfers the rest. What ends the order while the capture is unanswered waits
    for it (the outbox tries again)."""
    market = cards.market
    cards.fake.clock = lambda: market.rights.clock.now().timestamp()  # the network's time
    chain = market.listed()
    holder, seller_account = cards.onboard(chain.holder), cards.onboard(chain.grantee)
    order, pi = cards.card_order(chain)
    market.deliver_file(order)
    buyer = market.party_of(order.buyer_org_id)
    dispute = trading.open_dispute(order.id, "wrong columns", [], policy=market.policy,
                                   uow=market.uow(buyer))
    cards.consume("order.disputed", order_id=order.id)
    assert cards.card(order.id).status == "authorised"
    with pytest.raises(CaptureInFlight):  # the capture is queued, not yet answered
        cards.consume("order.settled", order_id=order.id)
    cards.work()
    assert cards.fake.get(pi)["status"] == "succeeded"
    assert cards.card(order.id).status == "captured"
    assert _transfers(cards.fake, order.id) == {}  # nothing leaves before the decision

    trading.answer_dispute(dispute.id, "the columns are as listed", [],
                           uow=market.uow(market.party_of(order.seller_org_id)))
    market.rights.clock.advance(timedelta(days=10))  # past the authorisation's 7 days
    trading.decide_dispute(dispute.id, DisputeOutcome.PARTIAL_REFUND, "half right",
                           refund_amount=PRICE // 4, uow=market.uow(market.rights.operator))
    cards.consume("order.settled", order_id=order.id)
    cards.work()

    assert market.order(order.id).status == "settled"
    refunds = [r for r in cards.fake.of_kind("refund") if r["payment_intent"] == pi]
    assert [r["amount"] for r in refunds] == [PRICE // 4]
    sent = _transfers(cards.fake, order.id)
    assert set(sent) == {holder, seller_account}
    fee = sum(a.amount - a.refunded for a in market.allocations(order.id)
              if a.role == "platform")
    assert sum(sent.values()) == PRICE - PRICE // 4 - fee
    assert market.verify().ok
    assert cards.reconcile().ok
