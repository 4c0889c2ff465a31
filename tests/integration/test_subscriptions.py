"""Subscriptions over the real services and database, the clock moved with ``FixedClock``:
an order on a subscription offer opens a subscription whose first period starts at
delivery; the worker renews it a day before the period ends (a new order under the frozen
contract, paid from the buyer's available balance, delivered by the platform, then accepted,
split and filed like any order) and access extends; a renewal the buyer cannot pay makes it
past due, retried in the grace period, and it lapses after grace with access ended at the
period's end; renewal off lapses at the period's end; another rail collects renewals and
reports back once; the worker's pass is idempotent; new terms apply only once accepted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from market.kernel.errors import InvalidTransition
from market.kernel.outbox import OutboxMessage
from market.listing.domain import OfferKind, OfferSpec
from market.settlement import ledger
from market.settlement.domain import PLATFORM, AccountKind, JournalKind, Leg
from market.trading import services as trading
from market.trading.domain import OrderStatus, Policy, period_end
from market.trading.errors import DownloadNotAllowed, NotAParty, SubscriptionNotRenewing
from market.trading.models import Contract, Delivery, Order, Subscription
from tests.conftest import START, Party
from tests.integration.rights_fixtures import (  # noqa: F401
    Chain,
    rights_fixture,
    signer_fixture,
)
from tests.integration.test_listing_services import _wired  # noqa: F401
from tests.integration.trading_fixtures import (  # noqa: F401
    COMMITMENT,
    PRICE,
    Market,
    market_fixture,
)

DAY = timedelta(days=1)
FIRST_END = period_end(START, "month")


def at(market: Market, when: object) -> None:
    """Move the clock to ``when`` (never back)."""
    assert isinstance(when, type(START))
    clock = market.rights.clock
    assert when >= clock.now()
    clock.advance(when - clock.now())


def subscribed(market: Market, funds: int = 10 * PRICE) -> tuple[Chain, Party, Order]:
    """A buyer's subscription to a monthly offer, paid and delivered at START."""
    chain = market.shop.listed(offers=[("月度订阅", OfferSpec(
        OfferKind.SUBSCRIPTION, amount=PRICE, period="month"))],
        delivery_modes=["file", "api", "sandbox"])
    buyer = market.buyer(f"subscriber {chain.product_id}", funds=funds)
    order = market.place(chain, buyer)
    market.pay(order)
    market.deliver_file(order)
    return chain, buyer, order


def sub_of(market: Market, order: Order) -> Subscription:
    with market.rights.session_factory() as session:
        found = session.scalars(select(Subscription).where(
            Subscription.first_order_id == order.id)).one()
        session.expunge(found)
        return found


def renewals(market: Market, policy: Policy | None = None) -> dict[str, list[str]]:
    return trading.run_renewals(policy=policy or market.policy,
                                uow=market.system()).as_dict()


def orders_of(market: Market, sub: Subscription) -> list[Order]:
    with market.rights.session_factory() as session:
        found = list(session.scalars(select(Order).where(Order.subscription_id == sub.id)
                                     .order_by(Order.created_at, Order.id)))
        for order in found:
            session.expunge(order)
        return found


def topics(market: Market, prefix: str) -> list[str]:
    with market.rights.session_factory() as session:
        return list(session.scalars(select(OutboxMessage.topic).where(
            OutboxMessage.topic.like(f"{prefix}%")).order_by(OutboxMessage.id)))


def can_download(market: Market, order: Order, buyer: Party) -> bool:
    try:
        trading.issue_download_token(order.id, policy=market.policy, uow=market.uow(buyer))
    except DownloadNotAllowed:
        return False
    return True


# -- opening and the first period --------------------------------------------------------------


def test_an_order_on_a_subscription_offer_opens_a_subscription_that_starts_at_delivery(
        market: Market) -> None:
    chain, buyer, order = subscribed(market)

    sub = sub_of(market, order)
    assert (sub.status, sub.periods, sub.renew) == ("active", 1, True)
    assert (sub.current_period_start, sub.current_period_end) == (START, FIRST_END)
    assert (sub.buyer_org_id, sub.product_id, sub.amount) == (buyer.org_id, chain.product_id,
                                                              PRICE)
    assert market.order(order.id).subscription_id == sub.id
    listed = trading.list_subscriptions(uow=market.uow(market.party_of(order.seller_org_id)))
    assert [s.id for s in listed.items] == [sub.id]
    terms = trading.current_terms(sub.id, uow=market.uow(buyer))
    with market.rights.session_factory() as session:
        contract = session.scalars(select(Contract).where(Contract.order_id == order.id)).one()
    assert (terms.sha256, terms.amount, terms.period) == (contract.sha256, PRICE, "month")
    assert can_download(market, order, buyer)


# -- renewal -----------------------------------------------------------------------------------


def test_a_subscription_renews_before_its_period_ends_and_access_extends(
        market: Market) -> None:
    _chain, buyer, first = subscribed(market)
    market.accept(first)
    paid_before = market.balance(buyer.org_id)
    at(market, FIRST_END - DAY - timedelta(seconds=1))
    assert renewals(market)["renewed"] == []

    at(market, FIRST_END - DAY)
    sub = sub_of(market, first)
    run = renewals(market)
    again = renewals(market)  # a second pass renews nothing more

    assert run["renewed"] == [sub.id]
    assert again == {"renewed": [], "placed": [], "failed": [], "lapsed": []}
    renewed = sub_of(market, first)
    second_end = period_end(FIRST_END, "month")
    assert (renewed.status, renewed.periods) == ("active", 2)
    assert (renewed.current_period_start, renewed.current_period_end) == (FIRST_END,
                                                                          second_end)
    (_, renewal) = orders_of(market, renewed)
    assert renewed.current_order_id == renewal.id
    assert (renewal.status, renewal.amount) == (OrderStatus.DELIVERED, PRICE)
    assert market.balance(buyer.org_id) == paid_before - PRICE
    assert market.escrow(renewal.id) == PRICE
    with market.rights.session_factory() as session:
        contract = session.scalars(select(Contract).where(
            Contract.order_id == renewal.id)).one()
        copied = session.scalars(select(Delivery).where(
            Delivery.order_id == renewal.id)).one()
        original = session.scalars(select(Delivery).where(
            Delivery.order_id == first.id)).one()
    assert contract.document["renewal"]["subscription_id"] == sub.id
    assert contract.document["distribution"] == sub_terms_document(market, first)[
        "distribution"]
    assert (copied.mode, copied.sha256) == ("file", original.sha256)
    assert topics(market, "subscription.") == ["subscription.renewed"]

    # accepted automatically when its window ends, split and filed like any order
    market.rights.clock.advance(market.policy.acceptance_window)
    assert trading.run_deadlines(uow=market.system()).auto_accepted == [renewal.id]
    assert market.order(renewal.id).status == OrderStatus.SETTLED
    assert [f.amount for f in market.filings(renewal.id)] == [PRICE]
    assert sum(a.amount for a in market.allocations(renewal.id)) == PRICE
    # access continues past the first period's end
    at(market, FIRST_END + 3 * DAY)
    assert can_download(market, first, buyer)
    report = market.verify()
    assert report.ok, report.problems


def sub_terms_document(market: Market, order: Order) -> dict[str, object]:
    with market.rights.session_factory() as session:
        return dict(session.scalars(select(Contract.document).where(
            Contract.order_id == order.id)).one())


# -- failure, grace and lapse ------------------------------------------------------------------


def test_a_failed_renewal_goes_past_due_then_lapses_after_grace_and_access_ends_with_the_period(
        market: Market) -> None:
    _chain, buyer, first = subscribed(market, funds=PRICE)  # enough for one period
    market.accept(first)
    at(market, FIRST_END - DAY)

    run = renewals(market)

    sub = sub_of(market, first)
    assert run["failed"] == [sub.id]
    assert (sub.status, sub.last_failure, sub.failures) == ("past_due", "insufficient_funds",
                                                            1)
    assert sub.grace_until == FIRST_END + market.policy.renewal_grace
    assert sub.retry_at == FIRST_END - DAY + market.policy.renewal_retry
    (_, pending) = orders_of(market, sub)
    assert pending.status == OrderStatus.AWAITING_PAYMENT
    assert can_download(market, first, buyer)  # the paid period still runs

    at(market, FIRST_END)  # the period ends: access with it
    assert not can_download(market, first, buyer)
    assert renewals(market)["failed"] == [sub.id]  # retried (due since retry_at), no money
    retried = sub_of(market, first)
    assert (retried.failures, retried.retry_at) == (2, FIRST_END + market.policy.renewal_retry)

    at(market, sub.grace_until)
    assert renewals(market)["lapsed"] == [sub.id]
    lapsed = sub_of(market, first)
    assert (lapsed.status, lapsed.renewal_order_id) == ("lapsed", None)
    assert market.order(pending.id).status == OrderStatus.CANCELLED
    assert not can_download(market, first, buyer)
    assert topics(market, "subscription.") == [
        "subscription.renewal_failed", "subscription.renewal_failed", "subscription.lapsed"]
    assert renewals(market) == {"renewed": [], "placed": [], "failed": [], "lapsed": []}
    report = market.verify()
    assert report.ok, report.problems


def test_a_past_due_renewal_paid_in_grace_restores_access_from_payment(
        market: Market) -> None:
    _chain, buyer, first = subscribed(market, funds=PRICE)
    at(market, FIRST_END - DAY)
    renewals(market)
    at(market, FIRST_END + DAY)
    assert not can_download(market, first, buyer)
    market.top_up(buyer, PRICE, reference=f"BANK-again-{buyer.org_id}")
    sub = sub_of(market, first)
    assert sub.retry_at is not None
    assert sub.retry_at <= FIRST_END + DAY  # the retry is due by now

    assert renewals(market)["renewed"] == [sub.id]

    renewed = sub_of(market, first)
    assert renewed.status == "active"
    assert (renewed.current_period_start, renewed.current_period_end) == (
        FIRST_END + DAY, period_end(FIRST_END + DAY, "month"))
    assert renewed.grace_until is None
    assert can_download(market, first, buyer)
    assert market.verify().ok


def test_renewal_off_lapses_at_the_period_end(market: Market) -> None:
    _chain, buyer, first = subscribed(market)
    sub = sub_of(market, first)

    turned = trading.set_renewal(sub.id, False, uow=market.uow(buyer))
    assert turned.renew is False
    at(market, FIRST_END - DAY)
    assert renewals(market) == {"renewed": [], "placed": [], "failed": [], "lapsed": []}
    assert can_download(market, first, buyer)
    at(market, FIRST_END)

    assert renewals(market)["lapsed"] == [sub.id]
    assert sub_of(market, first).status == "lapsed"
    assert len(orders_of(market, sub)) == 1
    assert not can_download(market, first, buyer)
    with pytest.raises(InvalidTransition):
        trading.set_renewal(sub.id, True, uow=market.uow(buyer))


def test_only_the_buyer_turns_renewal_off(market: Market) -> None:
    _chain, _buyer, first = subscribed(market)
    sub = sub_of(market, first)
    with pytest.raises(NotAParty):
        trading.set_renewal(sub.id, False, uow=market.uow(market.party_of(first.seller_org_id)))
    assert sub_of(market, first).renew is True


# -- another rail ------------------------------------------------------------------------------


def test_another_rail_collects_the_renewal_and_reports_back_once(market: Market) -> None:
    _chain, buyer, first = subscribed(market)
    card = Policy(payment_rail="stripe")
    at(market, FIRST_END - DAY)
    before = market.balance(buyer.org_id)

    run = renewals(market, card)

    sub = sub_of(market, first)
    assert run["placed"] == [sub.id]
    (_, renewal) = orders_of(market, sub)
    assert renewal.status == OrderStatus.AWAITING_PAYMENT
    assert market.balance(buyer.org_id) == before  # nothing taken on the offline rail
    with market.rights.session_factory() as session:
        (payload,) = [m.payload for m in session.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == "subscription.renewal_due"))]
    assert payload == {"subscription_id": sub.id, "order_id": renewal.id}

    failed = trading.renewal_failed(renewal.id, "card_declined", policy=card,
                                    uow=market.system())
    trading.renewal_failed(renewal.id, "card_declined", policy=card, uow=market.system())
    assert (failed.status, sub_of(market, first).failures) == ("past_due", 1)

    # the rail captures the card and puts the price in the order's escrow
    with market.system() as uow:
        rail, escrow = ledger.account_ids(uow.session, [
            (AccountKind.RAIL_CLEARING, PLATFORM, "CNY", "card"),
            (AccountKind.ESCROW, buyer.org_id, "CNY", renewal.id)], at=uow.clock.now())
        journal = ledger.transfer(uow, key=f"payment:{renewal.id}", kind=JournalKind.PAYMENT,
                                  order_id=renewal.id, legs=[Leg(rail, -PRICE, "CNY"),
                                                             Leg(escrow, PRICE, "CNY")])
        uow.commit()
    paid = trading.renewal_paid(renewal.id, policy=card, uow=market.system(),
                                journal_id=journal.id)
    again = trading.renewal_paid(renewal.id, policy=card, uow=market.system())

    assert (paid.status, paid.periods, again.periods) == ("active", 2, 2)
    assert market.order(renewal.id).status == OrderStatus.DELIVERED
    with pytest.raises(SubscriptionNotRenewing):
        trading.renewal_failed(renewal.id, "late", policy=card, uow=market.system())
    with pytest.raises(SubscriptionNotRenewing):
        trading.renewal_paid(first.id, policy=card, uow=market.system())
    assert market.verify().ok


# -- new terms ---------------------------------------------------------------------------------


def test_renewals_follow_the_frozen_contract_until_the_buyer_accepts_new_terms(
        market: Market) -> None:
    _chain, buyer, first = subscribed(market)
    sub = sub_of(market, first)
    frozen = trading.current_terms(sub.id, uow=market.uow(buyer))

    accepted = trading.accept_terms(sub.id, COMMITMENT, policy=market.policy,
                                    uow=market.uow(buyer))

    assert accepted.id != frozen.id
    assert accepted.document["order_id"] is None
    assert trading.current_terms(sub.id, uow=market.uow(buyer)).id == accepted.id
    at(market, FIRST_END - DAY)
    assert renewals(market)["renewed"] == [sub.id]
    (_, renewal) = orders_of(market, sub)
    with market.rights.session_factory() as session:
        document = session.scalars(select(Contract.document).where(
            Contract.order_id == renewal.id)).one()
        decisions = session.scalar(select(func.count()).select_from(Order).where(
            Order.subscription_id == sub.id))
    assert document["renewal"]["terms_id"] == accepted.id
    assert decisions == 2


def test_a_buyer_paying_a_renewal_itself_renews_the_subscription(market: Market) -> None:
    """On a rail that collects renewals itself, the buyer may pay the renewal order from
    its balance instead (its card declined, say): the period is renewed all the same."""
    _chain, buyer, first = subscribed(market)
    card = Policy(payment_rail="stripe")
    at(market, FIRST_END - DAY)
    renewals(market, card)
    sub = sub_of(market, first)
    (_, renewal) = orders_of(market, sub)
    before = market.balance(buyer.org_id)

    market.pay(renewal, buyer)

    renewed = sub_of(market, first)
    assert (renewed.status, renewed.periods, renewed.renewal_order_id) == ("active", 2, None)
    assert renewed.current_order_id == renewal.id
    assert renewed.current_period_end is not None
    assert renewed.current_period_end > FIRST_END
    assert market.order(renewal.id).status == OrderStatus.DELIVERED
    assert market.balance(buyer.org_id) == before - PRICE
    assert topics(market, "subscription.renewed") == ["subscription.renewed"]
    at(market, FIRST_END + DAY)  # past the first period: access holds by the renewal
    assert can_download(market, first, buyer)
    assert market.verify().ok
