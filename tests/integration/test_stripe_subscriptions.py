"""Subscriptions renewed on the Stripe rail, over the real services and database, with the
official ``stripe`` library pointed at the local Stripe-compatible server: the first order
paid by card saves the card on the buyer's Customer; the worker's renewal pass places the
next period's order and announces it (``subscription.renewal_due``); the rail charges the
saved card off-session and the renewal is paid, delivered, accepted, settled and sent on to
the payees; a declined card makes the subscription past due, each retry in the grace period
is a new PaymentIntent (a new idempotency key), and it lapses after grace; repeated and
out-of-order events and a re-run consumer charge once. Also: the transfers at settlement
send a payee only what its payable balance got after a debt was recovered from its share."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from market.kernel.config import Settings
from market.kernel.outbox import Delivery, OutboxMessage
from market.listing.domain import OfferKind, OfferSpec
from market.settlement import services as settlement
from market.settlement.domain import AccountKind
from market.settlement.rails.models import CardPayment, StripeCall
from market.settlement.rails.stripe_rail import stripe_consumers
from market.testing.stripe_fake import FakeStripe
from market.trading import services as trading
from market.trading.models import Order, OrderEvent, Subscription
from tests.conftest import Party
from tests.integration.rights_fixtures import Chain, rights_fixture, signer_fixture  # noqa: F401
from tests.integration.test_listing_services import _wired  # noqa: F401
from tests.integration.test_stripe_rail import Cards, _cards, _transfers
from tests.integration.test_subscriptions import (
    DAY,
    FIRST_END,
    at,
    can_download,
    orders_of,
    sub_of,
)
from tests.integration.trading_fixtures import PRICE, Market, market_fixture  # noqa: F401

RENEWAL_DUE = "subscription.renewal_due"


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    stripe = FakeStripe()
    with stripe.serve():
        yield stripe


@pytest.fixture
def cards(market: Market, fake: FakeStripe, settings: Settings) -> Cards:
    """Delivery (2 days) and acceptance (3 days) fit the card authorisation: authorise now,
    capture at settlement."""
    return _cards(market, fake, settings, delivery_hours=48)


@pytest.fixture
def at_once(market: Market, fake: FakeStripe, settings: Settings) -> Cards:
    """The windows outlast the authorisation: charged at once."""
    return _cards(market, fake, settings, delivery_hours=7 * 24)


@dataclass
class Subscribed:
    chain: Chain
    buyer: Party
    first: Order
    sub: Subscription
    payment_method: str


def subscribe_by_card(cards: Cards, payment_method: str = "pm_card_visa") -> Subscribed:
    """A monthly subscription whose first order the buyer paid by card (Stripe.js) at
    START, delivered at START."""
    market = cards.market
    chain = market.shop.listed(offers=[("月度订阅", OfferSpec(
        OfferKind.SUBSCRIPTION, amount=PRICE, period="month"))],
        delivery_modes=["file", "api", "sandbox"])
    buyer = market.buyer(f"card subscriber {chain.product_id}", funds=0)
    order = market.place(chain, buyer)
    trading.request_card_payment(order.id, policy=market.policy, uow=cards.uow(buyer))
    cards.work()
    card = trading.get_card_payment(order.id, uow=cards.uow(buyer))
    assert card.payment_intent_id
    assert card.client_secret
    cards.fake.pay(card.payment_intent_id, payment_method)
    cards.work()
    assert market.order(order.id).status == "paid"
    market.deliver_file(order)
    saved = cards.card(order.id)
    assert saved.payment_method_id
    assert saved.customer_id
    return Subscribed(chain, buyer, market.order(order.id), sub_of(market, order),
                      saved.payment_method_id)


def renew(cards: Cards) -> dict[str, list[str]]:
    return trading.run_renewals(policy=cards.market.policy,
                                uow=cards.market.system()).as_dict()


def announced(cards: Cards) -> list[Delivery]:
    """The ``subscription.renewal_due`` messages in the outbox, oldest first."""
    with cards.market.rights.session_factory() as session:
        return [Delivery(id=m.id, topic=m.topic, payload=dict(m.payload), attempts=1)
                for m in session.scalars(select(OutboxMessage).where(
                    OutboxMessage.topic == RENEWAL_DUE).order_by(OutboxMessage.created_at,
                                                                 OutboxMessage.id))]


def consume(cards: Cards, delivery: Delivery) -> None:
    stripe_consumers(cards.market.rights.session_factory, cards.settings,
                     clock=cards.market.rights.clock)[delivery.topic](delivery)


def pi_creations(cards: Cards, order_id: str) -> list[str | None]:
    """The idempotency keys of the PaymentIntent creations the fake received for an order."""
    return [key for method, path, key in cards.fake.requests
            if (method, path) == ("POST", "/v1/payment_intents") and key
            and key.startswith(f"order:{order_id}:")]


def charges_of(cards: Cards, order_id: str) -> list[dict[str, Any]]:
    return [c for c in cards.fake.of_kind("charge")
            if c["metadata"].get("order_id") == order_id]


def renewal_of(cards: Cards, sub: Subscription) -> Order:
    found = [o for o in orders_of(cards.market, sub) if o.id != sub.first_order_id]
    assert found
    return found[-1]


# -- the card is saved -------------------------------------------------------------------------


def test_a_subscription_paid_by_card_saves_the_card_on_the_buyers_customer(
        cards: Cards) -> None:
    subscribed = subscribe_by_card(cards)

    card = cards.card(subscribed.first.id)
    customer = cards.fake.get(str(card.customer_id), "customer")
    assert customer["metadata"] == {"org_id": subscribed.buyer.org_id}
    pi = cards.fake.get(str(card.payment_intent_id))
    assert (pi["customer"], pi["setup_future_usage"]) == (customer["id"], "off_session")
    assert cards.fake.get(subscribed.payment_method)["customer"] == customer["id"]
    assert card.subscription_id == subscribed.sub.id
    with cards.market.rights.session_factory() as session:
        keys = [c.idempotency_key for c in session.scalars(
            select(StripeCall).order_by(StripeCall.created_at, StripeCall.id))]
    # the Customer is created first, the PaymentIntent as its follow-up
    assert keys[:2] == [f"org:{subscribed.buyer.org_id}:customer:v1",
                        f"order:{subscribed.first.id}:payment_intent:v1"]

    # another subscription of the same buyer organisation uses the same Customer
    chain = cards.market.shop.listed(offers=[("月度订阅", OfferSpec(
        OfferKind.SUBSCRIPTION, amount=PRICE, period="month"))], delivery_modes=["file"])
    other = cards.market.place(chain, subscribed.buyer)
    trading.request_card_payment(other.id, policy=cards.market.policy,
                                 uow=cards.uow(subscribed.buyer))
    cards.work()
    assert cards.fake.get(str(cards.card(other.id).payment_intent_id))["customer"] == \
        customer["id"]
    assert len([r for r in cards.fake.requests if r[1] == "/v1/customers"]) == 1


# -- renewed off-session --------------------------------------------------------------------


def test_a_subscription_first_paid_by_card_renews_off_session_and_settles(
        cards: Cards) -> None:
    market = cards.market
    subscribed = subscribe_by_card(cards)
    holder = cards.onboard(subscribed.chain.holder)
    seller = cards.onboard(subscribed.chain.grantee)
    market.accept(subscribed.first)
    cards.consume("order.settled", order_id=subscribed.first.id)
    cards.work()

    at(market, FIRST_END - DAY)
    run = renew(cards)
    assert run["placed"] == [subscribed.sub.id]
    renewal = renewal_of(cards, subscribed.sub)
    assert renewal.status == "awaiting_payment"
    [due] = announced(cards)
    assert due.payload == {"subscription_id": subscribed.sub.id, "order_id": renewal.id}

    consume(cards, due)
    cards.work()

    assert pi_creations(cards, renewal.id) == [f"order:{renewal.id}:payment_intent:v1"]
    card = cards.card(renewal.id)
    pi = cards.fake.get(str(card.payment_intent_id))
    assert (pi["customer"], pi["payment_method"]) == (card.customer_id,
                                                      subscribed.payment_method)
    assert (pi["status"], pi["capture_method"]) == ("requires_capture", "manual")
    assert (pi["amount"], pi["currency"], pi["transfer_group"]) == (
        PRICE, "cny", f"order_{renewal.id}")
    assert pi["metadata"]["order_id"] == renewal.id
    assert card.status == "authorised"
    assert market.order(renewal.id).status == "delivered"  # paid, then delivered at once
    assert market.escrow(renewal.id) == PRICE
    sub = sub_of(market, subscribed.first)
    assert (sub.status, sub.periods, sub.current_order_id) == ("active", 2, renewal.id)
    assert sub.current_period_start == FIRST_END
    assert sub.current_period_end is not None
    assert sub.current_period_end > FIRST_END

    # accepted when the acceptance window ends, settled: captured and sent on
    market.rights.clock.advance(market.policy.acceptance_window)
    assert trading.run_deadlines(uow=market.system()).auto_accepted == [renewal.id]
    cards.consume("order.settled", order_id=renewal.id)
    cards.work()

    assert market.order(renewal.id).status == "settled"
    assert cards.fake.get(str(card.payment_intent_id))["status"] == "succeeded"
    shares: dict[str, int] = {}
    for line in market.allocations(renewal.id):
        if line.role != "platform":
            shares[line.org_id] = shares.get(line.org_id, 0) + line.amount
    assert _transfers(cards.fake, renewal.id) == {
        holder: shares[subscribed.chain.holder.org_id],
        seller: shares[subscribed.chain.grantee.org_id]}
    assert len(charges_of(cards, renewal.id)) == 1
    assert cards.clearing("stripe:transit") == 0
    assert market.verify().ok
    assert cards.reconcile().ok


# -- declined --------------------------------------------------------------------------------


def test_a_declined_renewal_goes_past_due_is_retried_in_grace_and_lapses(
        at_once: Cards) -> None:
    market = at_once.market
    subscribed = subscribe_by_card(at_once)
    market.accept(subscribed.first)
    at_once.fake.decline_card(subscribed.payment_method)  # the bank now refuses the card

    at(market, FIRST_END - DAY)
    renew(at_once)
    renewal = renewal_of(at_once, subscribed.sub)
    [due] = announced(at_once)
    consume(at_once, due)
    at_once.work()

    sub = sub_of(market, subscribed.first)
    assert (sub.status, sub.failures) == ("past_due", 1)
    assert sub.last_failure is not None
    assert "card_declined" in sub.last_failure
    assert sub.retry_at == FIRST_END - DAY + market.policy.renewal_retry
    assert pi_creations(at_once, renewal.id) == [f"order:{renewal.id}:payment_intent:v1"]
    assert can_download(market, subscribed.first, subscribed.buyer)  # the period still runs

    # the same message again (a re-run consumer) before the retry is due charges nothing
    consume(at_once, due)
    at_once.work()
    assert pi_creations(at_once, renewal.id) == [f"order:{renewal.id}:payment_intent:v1"]
    assert sub_of(market, subscribed.first).failures == 1

    # the renewal pass retries the same order in grace, each try a new PaymentIntent
    tries = 1
    while True:
        retry_at = sub_of(market, subscribed.first).retry_at
        assert retry_at is not None
        at(market, retry_at)
        run = renew(at_once)
        if run["lapsed"]:
            break
        assert run["placed"] == [subscribed.sub.id]
        consume(at_once, announced(at_once)[-1])
        at_once.work()
        tries += 1
        assert sub_of(market, subscribed.first).failures == tries
        if tries == 3:  # the buyer's bank also asks for authentication off-session now
            at_once.fake.decline_card(subscribed.payment_method, "authentication_required")

    assert tries > 3
    assert pi_creations(at_once, renewal.id) == [
        f"order:{renewal.id}:payment_intent:v{n}" for n in range(1, tries + 1)]
    assert charges_of(at_once, renewal.id) == []
    assert "authentication_required" in str(sub_of(market, subscribed.first).last_failure)
    lapsed = sub_of(market, subscribed.first)
    assert lapsed.status == "lapsed"
    assert lapsed.current_period_end == FIRST_END  # access ended with the period
    assert market.order(renewal.id).status == "cancelled"
    assert not can_download(market, subscribed.first, subscribed.buyer)
    at_once.consume("order.cancelled", order_id=renewal.id)
    at_once.work()
    assert at_once.card(renewal.id).status == "cancelled"
    assert market.escrow(renewal.id) == 0
    assert market.verify().ok
    assert at_once.reconcile().ok


def test_a_renewal_retried_in_grace_is_paid_once_the_card_works_again(
        at_once: Cards) -> None:
    market = at_once.market
    subscribed = subscribe_by_card(at_once)
    at_once.fake.decline_card(subscribed.payment_method)
    at(market, FIRST_END - DAY)
    renew(at_once)
    renewal = renewal_of(at_once, subscribed.sub)
    consume(at_once, announced(at_once)[-1])
    at_once.work()
    assert sub_of(market, subscribed.first).status == "past_due"

    del at_once.fake.card_failures[subscribed.payment_method]  # the buyer sorted it out
    at(market, FIRST_END + DAY)  # the period has ended: access waits for the payment
    assert not can_download(market, subscribed.first, subscribed.buyer)
    while sub_of(market, subscribed.first).status == "past_due":
        retry_at = sub_of(market, subscribed.first).retry_at
        assert retry_at is not None
        at(market, max(retry_at, market.rights.clock.now()))
        renew(at_once)
        consume(at_once, announced(at_once)[-1])
        at_once.work()

    sub = sub_of(market, subscribed.first)
    assert (sub.status, sub.periods, sub.current_order_id) == ("active", 2, renewal.id)
    assert pi_creations(at_once, renewal.id) == [f"order:{renewal.id}:payment_intent:v1",
                                                 f"order:{renewal.id}:payment_intent:v2"]
    assert len(charges_of(at_once, renewal.id)) == 1
    assert at_once.card(renewal.id).status == "captured"
    assert market.escrow(renewal.id) == PRICE
    assert market.verify().ok


def test_a_renewal_with_no_saved_card_fails(at_once: Cards) -> None:
    """A subscription first paid from the balance has no card to charge."""
    market = at_once.market
    chain = market.shop.listed(offers=[("月度订阅", OfferSpec(
        OfferKind.SUBSCRIPTION, amount=PRICE, period="month"))], delivery_modes=["file"])
    buyer = market.buyer("balance subscriber")
    first = market.place(chain, buyer)
    market.pay(first)
    market.deliver_file(first)
    at(market, FIRST_END - DAY)
    renew(at_once)
    consume(at_once, announced(at_once)[-1])
    at_once.work()

    sub = sub_of(market, first)
    assert (sub.status, sub.last_failure) == ("past_due", "no saved card")
    assert [r for r in at_once.fake.requests if r[1] == "/v1/payment_intents"] == []


# -- one charge ------------------------------------------------------------------------------


def test_repeated_out_of_order_events_and_a_rerun_consumer_charge_a_renewal_once(
        at_once: Cards) -> None:
    market = at_once.market
    subscribed = subscribe_by_card(at_once)
    at_once.deliver_events()
    at(market, FIRST_END - DAY)
    renew(at_once)
    renew(at_once)  # the pass run twice places one renewal
    renewal = renewal_of(at_once, subscribed.sub)
    [due] = announced(at_once)
    consume(at_once, due)
    consume(at_once, due)

    at_once.rail.collect_renewals()
    claimed = at_once.rail.claim()
    assert [c.idempotency_key for c in claimed] == [f"order:{renewal.id}:payment_intent:v1"]
    assert at_once.rail.perform(claimed[0]).ok  # Stripe charged; the worker dies here
    consume(at_once, due)  # and the consumer runs again meanwhile
    at_once.rail.collect_renewals()
    assert at_once.rail.claim() == []  # leased to the dead worker; no second try
    events = list(reversed(at_once.fake.events[at_once.sent:]))  # succeeded first
    for event in events + events:
        at_once.webhook(event)
    at_once.sent = len(at_once.fake.events)
    at_once.rail.tick()
    market.rights.clock.advance(timedelta(seconds=61))  # the lease ends: tried again
    at_once.work()
    consume(at_once, due)
    at_once.work()

    assert pi_creations(at_once, renewal.id) == [f"order:{renewal.id}:payment_intent:v1"] * 2
    assert len(charges_of(at_once, renewal.id)) == 1
    assert len([p for p in at_once.fake.of_kind("payment_intent")
                if p["metadata"].get("order_id") == renewal.id]) == 1
    assert at_once.journals(f"payment:{renewal.id}") == [f"payment:{renewal.id}"]
    with market.rights.session_factory() as session:
        paid = session.scalars(select(OrderEvent).where(
            OrderEvent.order_id == renewal.id, OrderEvent.to_status == "paid")).all()
        call = session.scalars(select(StripeCall).where(
            StripeCall.idempotency_key == f"order:{renewal.id}:payment_intent:v1")).one()
        card = session.get(CardPayment, renewal.id)
        assert card is not None
        assert (card.attempts, card.status) == (1, "captured")
    assert len(paid) == 1
    assert (call.state, call.attempts) == ("done", 2)
    sub = sub_of(market, subscribed.first)
    assert (sub.status, sub.periods) == ("active", 2)
    assert market.escrow(renewal.id) == PRICE
    assert market.verify().ok
    assert at_once.reconcile().ok


# -- transfers after a debt was recovered at settlement ----------------------------------------


def test_transfers_send_only_what_the_payable_balance_got_after_a_recovered_debt(
        at_once: Cards) -> None:
    market = at_once.market
    chain = market.listed()
    first, _ = at_once.card_order(chain)
    at_once.settle(first)  # no Connect account yet: the shares stay payable
    seller = chain.grantee
    payable = market.balance(seller.org_id, AccountKind.PAYABLE)
    payout = settlement.request_payout(payable, "CNY", {"holder": "某某公司", "bank": "中国银行",
                                                        "number": "6222 0000 1111"},
                                       uow=market.uow(seller))
    settlement.confirm_payout(payout.id, "PAYOUT-1", uow=market.uow(market.rights.operator))
    refund = trading.refund_order(first.id, PRICE // 2, settlement.RefundCause.GOODWILL,
                                  "half back", uow=at_once.uow(seller))
    at_once.consume("refund.issued", order_id=first.id, refund_id=refund.id,
                    amount=refund.amount, currency=refund.currency)
    at_once.work()
    owed = -market.balance(seller.org_id, AccountKind.RECEIVABLE)
    assert owed > 0
    account = at_once.onboard(seller)

    second, _ = at_once.card_order(chain)
    at_once.settle(second)

    share = sum(a.amount for a in market.allocations(second.id) if a.org_id == seller.org_id)
    assert share > owed
    assert market.balance(seller.org_id, AccountKind.RECEIVABLE) == 0
    assert _transfers(at_once.fake, second.id)[account] == share - owed
    assert market.balance(seller.org_id, AccountKind.PAYABLE) == 0
    assert market.verify().ok
    assert at_once.reconcile().ok
