"""Risk monitoring over real trades: the alert rules that need orders (personal information
sold to many buyers, cross-border use, repeated disputes and refunds) fire on a crafted
scenario and stay quiet on a normal one."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select

from market.compliance import services as compliance
from market.compliance.models import Alert
from market.listing.domain import OfferKind, OfferSpec
from market.rights.domain import EvidenceKind, PILevel
from market.trading import services as trading
from market.trading.domain import DisputeOutcome
from tests.integration.rights_fixtures import (  # noqa: F401
    Chain,
    rights_fixture,
    signer_fixture,
)
from tests.integration.test_listing_services import DECLARATION, TERMS, _wired  # noqa: F401
from tests.integration.trading_fixtures import (  # noqa: F401
    POLICY,
    PRICE,
    Market,
    market_fixture,
)

PERSONAL_DECLARATION = {**DECLARATION, "contains_personal_information": True,
                        "personal_information_basis": "consent"}
OFFERS = [("标准版", OfferSpec(OfferKind.ONE_TIME, amount=PRICE))]


def alerts(market: Market, rule: str) -> list[Alert]:
    with market.rights.session_factory() as session:
        return list(session.scalars(select(Alert).where(Alert.rule == rule)))


def personal_chain(market: Market) -> Chain:
    """A listed product over a resource of personal information collected with consent."""
    rights = market.rights
    holder, grantee = rights.party("holder"), rights.party("grantee")
    res = rights.resource(holder, pi_level=PILevel.PERSONAL,
                          evidence_kinds=(EvidenceKind.SOURCE_LEGALITY, EvidenceKind.CONSENT))
    holding = rights.holding(holder, res)
    grant = rights.grant(holder, holding, grantee, evidence_kinds=(EvidenceKind.CONSENT,))
    use = rights.use(grantee, holding, grant)
    product = rights.product(grantee, use)
    chain = Chain(holder, grantee, res, holding, rights.grant_row(use.grant_id or ""), use,
                  product)
    market.shop.draft(chain, offers=OFFERS, delivery_modes=["file"])
    market.shop.submit(chain, PERSONAL_DECLARATION)
    market.shop.review(chain.product_id)
    return chain


def test_personal_information_sold_to_ten_buyers_is_flagged(market: Market) -> None:
    chain = personal_chain(market)
    for n in range(9):
        market.trade(chain, market.buyer(f"buyer{n}"))
    assert alerts(market, "PersonalInformationSoldWidely") == []

    market.trade(chain, market.buyer("buyer9"))

    (alert,) = alerts(market, "PersonalInformationSoldWidely")
    assert (alert.subject_type, alert.subject_id) == ("product", chain.product_id)
    assert alert.evidence == {"buyers": 10, "pi_level": "personal"}
    assert alert.severity == "high"


def test_a_product_without_personal_information_sold_to_ten_buyers_is_not(
    market: Market,
) -> None:
    chain = market.listed(delivery_modes=("file",))
    for n in range(10):
        market.trade(chain, market.buyer(f"buyer{n}"))
    assert alerts(market, "PersonalInformationSoldWidely") == []


def _cross_border_listing(market: Market) -> Chain:
    terms = dataclasses.replace(TERMS, territory="cross_border")
    return market.shop.listed(offers=OFFERS, delivery_modes=["file"], terms=terms)


def test_a_buyer_declaring_use_abroad_is_flagged(market: Market) -> None:
    chain = _cross_border_listing(market)
    order = market.place(chain, commitment={"cross_border": True, "destination": "SG"})
    # A buyer abroad waits for a security assessment (DataAbroadNeedsSecurityAssessment).
    operator = market.uow(market.rights.operator)
    (item,) = [i for i in compliance.list_reviews(uow=operator, kind="order").items
               if i.subject_id == order.id]
    compliance.attach_report(item.id, "security", "数据出境安全评估.pdf", "ef" * 32,
                             uow=market.uow(market.rights.assessor))
    order = trading.review_order(order.id, True, "评估已完成", policy=market.policy,
                                 uow=market.uow(market.rights.operator)).order
    market.pay(order)
    market.deliver_file(order)
    market.accept(order)

    (alert,) = alerts(market, "CrossBorderTrade")
    (filing,) = market.filings(order.id)
    assert (alert.subject_type, alert.subject_id) == ("filing", filing.id)
    assert alert.severity == "low"  # general data
    assert alert.evidence["destination"] == "SG"


def test_a_domestic_buyer_is_not_flagged(market: Market) -> None:
    chain = _cross_border_listing(market)
    market.trade(chain)
    assert alerts(market, "CrossBorderTrade") == []


def _disputed(market: Market, chain: Chain, buyer_name: str) -> Any:
    order = market.place(chain, market.buyer(buyer_name))
    market.pay(order)
    market.deliver_file(order)
    return trading.open_dispute(order.id, "文件内容与描述不符", [], policy=market.policy,
                                uow=market.uow(market.buyer(buyer_name)))


def test_three_disputes_against_one_seller_within_30_days_are_flagged(market: Market) -> None:
    chain = market.listed(delivery_modes=("file",))
    for name in ("a", "b"):
        _disputed(market, chain, name)
    assert alerts(market, "RepeatedDisputesOrRefunds") == []

    dispute = _disputed(market, chain, "c")

    (alert,) = alerts(market, "RepeatedDisputesOrRefunds")
    assert (alert.subject_type, alert.subject_id) == ("organisation", dispute.seller_org_id)
    assert alert.evidence["side"] == "seller"
    assert len(alert.evidence["orders"]) == 3


def test_a_refund_after_a_dispute_counts_once_per_order(market: Market) -> None:
    chain = market.listed(delivery_modes=("file",))
    first = _disputed(market, chain, "a")
    market.rights.clock.advance(POLICY.answer_window)
    trading.decide_dispute(first.id, DisputeOutcome.FULL_REFUND, "未按约交付",
                           uow=market.uow(market.rights.operator))
    _disputed(market, chain, "b")
    # two orders (one disputed and refunded, one disputed): under the threshold of three
    assert alerts(market, "RepeatedDisputesOrRefunds") == []


def test_disputes_spread_over_more_than_30_days_are_not_flagged(market: Market) -> None:
    chain = market.listed(delivery_modes=("file",))
    for name in ("a", "b", "c"):
        _disputed(market, chain, name)
        market.rights.clock.advance(POLICY.answer_window * 6)
    assert alerts(market, "RepeatedDisputesOrRefunds") == []
