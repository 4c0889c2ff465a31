"""Refunds after settlement and subscription renewals under concurrent writers on
PostgreSQL, with real commits: refunds of one order racing each other never give back more
than it billed (the order's row lock first, then its accounts in id order), and renewal
passes racing each other renew a subscription once (``SKIP LOCKED``)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from market.listing.domain import OfferKind, OfferSpec
from market.settlement.domain import RefundCause
from market.settlement.errors import RefundExceedsPaid
from market.trading import services as trading
from market.trading.domain import period_end
from market.trading.models import Order, Subscription
from tests.conftest import START
from tests.integration.test_concurrent_trading import (  # noqa: F401
    FUNDS,
    _tally,
    pytestmark,
    world_fixture,
)
from tests.integration.trading_fixtures import PRICE, Market


def test_concurrent_refunds_of_one_order_never_give_back_more_than_it_billed(
        world: Market) -> None:
    buyer = world.buyer()
    order = world.trade(world.listed(), buyer)
    seller = world.party_of(order.seller_org_id)
    operator = world.rights.operator
    share = PRICE * 3 // 10  # three fit, the fourth does not

    def act(n: int) -> str:
        if n % 2:
            trading.refund_order(order.id, share, RefundCause.GOODWILL, "赔偿",
                                 uow=world.uow(seller))
        else:
            trading.refund_order(order.id, share, RefundCause.DISPUTE, "裁决",
                                 uow=world.uow(operator))
        return "refunded"

    results = _tally(8, act, (RefundExceedsPaid,))

    assert results == {"refunded": 3, "RefundExceedsPaid": 5}
    assert world.order(order.id).refunded_amount == 3 * share
    assert world.balance(buyer.org_id) == FUNDS - PRICE + 3 * share
    assert sum(a.refunded for a in world.allocations(order.id)) == 3 * share
    report = world.verify()
    assert report.ok, report.problems


def test_concurrent_renewal_passes_renew_a_subscription_once(world: Market) -> None:
    chain = world.shop.listed(offers=[("月度订阅", OfferSpec(
        OfferKind.SUBSCRIPTION, amount=PRICE, period="month"))], delivery_modes=["file"])
    buyer = world.buyer()
    first = world.place(chain, buyer)
    world.pay(first)
    world.deliver_file(first)
    end = period_end(START, "month")
    world.rights.clock.advance(end - timedelta(days=1) - world.rights.clock.now())

    def act(_: int) -> str:
        run = trading.run_renewals(policy=world.policy, uow=world.system())
        return "renewed" if run.renewed else "nothing"

    results = _tally(6, act, ())

    assert results["renewed"] == 1
    with world.rights.session_factory() as session:
        sub = session.scalars(select(Subscription).where(
            Subscription.first_order_id == first.id)).one()
        orders = list(session.scalars(select(Order.id).where(
            Order.subscription_id == sub.id)))
    assert (sub.periods, len(orders)) == (2, 2)
    assert world.balance(buyer.org_id) == FUNDS - 2 * PRICE
    report = world.verify()
    assert report.ok, report.problems
