"""Pay-per-use orders (按量计费): the cap is escrowed, the merchant's API reports usage once
per key within the period, and when the period ends the units are billed (never above the
cap), split, filed, and the rest of the deposit goes back to the buyer."""

from __future__ import annotations

import pytest

from market.kernel.errors import InvalidInput, InvalidTransition
from market.listing.domain import OfferKind, OfferSpec
from market.settlement.domain import AccountKind
from market.settlement.models import Allocation
from market.trading import services as trading
from market.trading.domain import DeliveryMode
from market.trading.errors import OfferNeedsCap
from market.trading.metering import MeteringPeriodOver, UsageKeyReused
from market.trading.models import Order
from tests.integration.rights_fixtures import Chain, rights_fixture, signer_fixture  # noqa: F401
from tests.integration.test_listing_services import _wired  # noqa: F401
from tests.integration.trading_fixtures import (  # noqa: F401
    POLICY,
    Market,
    market_fixture,
)

UNIT_PRICE, CAP = 50, 100_000  # 0.50 CNY a call, at most 1,000.00 CNY a period


def metered(market: Market, cap: int | None = CAP) -> Chain:
    offer = OfferSpec(OfferKind.PAY_PER_USE, amount=UNIT_PRICE, unit="call", cap_amount=cap)
    return market.shop.listed(offers=[("按次计费", offer)], delivery_modes=["api"])


def delivered(market: Market, chain: Chain) -> tuple[Order, str]:
    order = market.place(chain)
    market.pay(order)
    view, credential = trading.deliver(
        order.id, trading.DeliveryInput(mode=DeliveryMode.API, endpoint="https://api.example.cn"),
        storage=market.storage, policy=market.policy,
        uow=market.uow(market.party_of(order.seller_org_id)))
    assert credential is not None
    return view.order, credential


def report(market: Market, order: Order, key: str, units: int) -> tuple[int, bool]:
    usage, new = trading.record_usage(order.id, key, units,
                                      uow=market.uow(market.party_of(order.seller_org_id)))
    return usage.units, new


def test_the_cap_is_escrowed_and_usage_is_billed_when_the_period_ends(market: Market) -> None:
    chain = metered(market)
    buyer = market.buyer()
    before = market.balance(buyer.org_id)
    order, _ = delivered(market, chain)
    assert market.escrow(order.id) == CAP
    assert order.accept_by == order.delivered_at + POLICY.metering_period

    assert report(market, order, "2026-11-01", 300) == (300, True)
    assert report(market, order, "2026-11-02", 200) == (500, True)
    assert report(market, order, "2026-11-02", 200) == (500, False)  # a retry counts once

    market.rights.clock.advance(POLICY.metering_period)
    run = trading.run_deadlines(uow=market.system())

    assert run.auto_accepted == [order.id]
    billed = 500 * UNIT_PRICE
    assert market.order(order.id).status == "settled"
    assert market.balance(buyer.org_id) == before - billed
    assert market.escrow(order.id) == 0
    allocations: list[Allocation] = market.allocations(order.id)
    assert sum(a.amount for a in allocations) == billed
    (filing,) = market.filings(order.id)
    assert filing.amount == billed
    assert market.verify().ok


def test_usage_beyond_the_cap_is_billed_at_the_cap(market: Market) -> None:
    chain = metered(market)
    buyer = market.buyer()
    before = market.balance(buyer.org_id)
    order, _ = delivered(market, chain)
    report(market, order, "all", CAP // UNIT_PRICE + 1_000)

    market.accept(order)  # the buyer may close the period early

    assert market.balance(buyer.org_id) == before - CAP
    assert sum(a.amount for a in market.allocations(order.id)) == CAP
    assert market.balance("platform", AccountKind.FEE_REVENUE) == CAP // 100


def test_a_period_without_usage_costs_nothing(market: Market) -> None:
    chain = metered(market)
    buyer = market.buyer()
    before = market.balance(buyer.org_id)
    order, _ = delivered(market, chain)

    market.accept(order)

    assert market.balance(buyer.org_id) == before
    assert market.filings(order.id)[0].amount == 0
    assert market.verify().ok


def test_usage_is_refused_outside_the_period_and_a_key_keeps_its_units(market: Market) -> None:
    chain = metered(market)
    order, _ = delivered(market, chain)
    report(market, order, "k1", 10)
    with pytest.raises(UsageKeyReused):
        report(market, order, "k1", 11)
    market.rights.clock.advance(POLICY.metering_period)
    with pytest.raises(MeteringPeriodOver):
        report(market, order, "k2", 1)
    trading.run_deadlines(uow=market.system())
    with pytest.raises(InvalidTransition):
        report(market, order, "k3", 1)
    assert trading.order_usage(order.id, uow=market.uow(market.buyer())).units == 10


def test_the_credential_is_good_for_the_period_only(market: Market) -> None:
    chain = metered(market)
    order, credential = delivered(market, chain)
    merchant = market.uow(market.party_of(order.seller_org_id))
    assert trading.check_credential(credential, uow=merchant).valid
    market.rights.clock.advance(POLICY.metering_period)
    check = trading.check_credential(credential,
                                     uow=market.uow(market.party_of(order.seller_org_id)))
    assert not check.valid


def test_a_metered_order_is_delivered_by_api_only(market: Market) -> None:
    offer = OfferSpec(OfferKind.PAY_PER_USE, amount=UNIT_PRICE, unit="call", cap_amount=CAP)
    chain = market.shop.listed(offers=[("按次计费", offer)], delivery_modes=["api", "file"])
    order = market.place(chain)
    market.pay(order)
    with pytest.raises(InvalidInput):
        market.deliver_file(order)
    assert market.order(order.id).status == "paid"


def test_an_uncapped_pay_per_use_offer_cannot_be_ordered(market: Market) -> None:
    chain = metered(market, cap=None)
    buyer = market.buyer()
    counts = market.counts()
    with pytest.raises(OfferNeedsCap):
        market.place(chain, buyer)
    assert market.counts() == counts
