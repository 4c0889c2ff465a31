"""Related parties (关联交易) over real trades: a trade between organisations with the same
legal representative, or where one controls the other, is let through with the relation
on record in the ordering decision and raises a wash-trading alert when filed; a trade
between unrelated parties does neither; a product whose every trade was between related
parties is flagged in the filing statistics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from market.compliance import services as compliance
from market.compliance.models import Alert, Decision
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.documents import DocumentKind
from market.participants.models import Organisation
from market.trading.errors import OrderRefused
from tests.conftest import Party
from tests.integration.rights_fixtures import (  # noqa: F401
    rights_fixture,
    signer_fixture,
)
from tests.integration.test_listing_services import _wired  # noqa: F401
from tests.integration.trading_fixtures import Market, market_fixture  # noqa: F401
from tests.papers import TEST_IDENTITY_KEY, document_input, resident_id

RULE = "RelatedPartyTrade"


def record(market: Market, party: Party, *, representative: str | None = None,
           controller: tuple[str, str] | None = None) -> None:
    participants.record_identity(party.org_id, participants.IdentityInput(
        legal_representative=participants.PersonInput("法定代表人", representative)
        if representative else None,
        controlling_shareholder=participants.ControllerInput("控股股东", *controller)
        if controller else None), uow=market.system(), identity_key=TEST_IDENTITY_KEY)


def alerts_on(market: Market, filing_id: str) -> list[Alert]:
    with market.rights.session_factory() as session:
        return list(session.scalars(select(Alert).where(Alert.rule == RULE,
                                                        Alert.subject_id == filing_id)))


def verdict(market: Market, decision_id: str) -> dict[str, object]:
    with market.rights.session_factory() as session:
        decision = session.get(Decision, decision_id)
        assert decision is not None
        return next(v for v in decision.verdicts if v["rule"] == "RelatedPartyTradesAreFlagged")


def credit_code(market: Market, party: Party) -> str:
    with market.rights.session_factory() as session:
        org = session.get(Organisation, party.org_id)
        assert org is not None
        return org.credit_code


def statistics(market: Market) -> list[dict[str, object]]:
    uow = UnitOfWork(market.rights.session_factory, market.rights.clock,
                     market.system().actor)
    with uow:
        return compliance.filing_statistics(compliance.FilingFilters(), uow=uow)[
            "related_party_only"]


def test_a_trade_between_parties_with_one_legal_representative_raises_the_alert(
    market: Market,
) -> None:
    chain = market.listed()
    seller, sibling, stranger = chain.grantee, market.buyer("sibling"), market.buyer("stranger")
    record(market, seller, representative=resident_id(7))
    record(market, sibling, representative=resident_id(7))
    record(market, stranger, representative=resident_id(8))

    related = market.trade(chain, sibling)
    unrelated = market.trade(chain, stranger)

    (filing,) = market.filings(related.id)
    (alert,) = alerts_on(market, filing.id)
    assert (alert.severity, alert.subject_type) == ("high", "filing")
    assert alert.org_ids == sorted([seller.org_id, sibling.org_id])
    assert alert.evidence["links"] == ["same_legal_representative"]
    assert verdict(market, related.decision_id) == {
        "rule": "RelatedPartyTradesAreFlagged", "outcome": "pass",
        "reason": "flagged: seller and buyer are related parties (the same legal "
                  "representative)",
        "detail": {"flag": "related_party_trade", "links": ["same_legal_representative"],
                   "org_ids": sorted([seller.org_id, sibling.org_id])}}

    (other,) = market.filings(unrelated.id)
    assert alerts_on(market, other.id) == []
    assert verdict(market, unrelated.decision_id)["reason"] == "the parties are not related"
    # Traded by related and unrelated buyers alike: the price is the market's.
    assert statistics(market) == []


def test_a_subsidiary_buying_from_its_controlling_shareholder_raises_the_alert(
    market: Market,
) -> None:
    chain = market.listed()
    subsidiary = market.buyer("subsidiary")
    record(market, subsidiary, controller=("organisation", credit_code(market, chain.grantee)))

    order = market.trade(chain, subsidiary)

    (filing,) = market.filings(order.id)
    (alert,) = alerts_on(market, filing.id)
    assert alert.evidence["links"] == ["one_controls_the_other"]


def test_a_price_set_only_by_related_parties_is_flagged_in_the_statistics(
    market: Market,
) -> None:
    chain = market.listed(amount=250_000)
    sibling = market.buyer("sibling", funds=10 * 250_000)
    record(market, chain.grantee, controller=("person", resident_id(9)))
    record(market, sibling, controller=("person", resident_id(9)))
    market.trade(chain, sibling)
    market.trade(chain, sibling)

    (row,) = statistics(market)
    assert (row["key"], row["count"], row["amount"], row["currency"]) == (
        chain.product_id, 2, 500_000, "CNY")
    assert (row["min_amount"], row["max_amount"]) == (250_000, 250_000)

    market.trade(chain, market.buyer("stranger", funds=10 * 250_000))
    assert statistics(market) == []


def test_an_order_is_refused_while_a_partys_document_has_expired(market: Market) -> None:
    """Between a document's expiry and the duty that suspends its holder, the documents
    rule refuses the holder's orders by name; a renewal lets them through again."""
    chain = market.listed()
    buyer = market.buyer("buyer")
    expires = market.rights.clock.now().date()
    licence = participants.submit_document(
        buyer.org_id, document_input(DocumentKind.BUSINESS_LICENCE, expires_on=expires),
        uow=market.uow(buyer))
    participants.review_document(buyer.org_id, licence.id, True, "与原件一致",
                                 uow=market.system())
    market.trade(chain, buyer)  # in force on its last day

    market.rights.clock.advance(timedelta(days=1))
    with pytest.raises(OrderRefused) as refused:
        market.place(chain, buyer)
    (violation,) = refused.value.errors["rules"]
    assert violation["rule"] == "PartiesDocumentsMustBeInForce"
    assert violation["message"] == "the buyer's admission documents have expired: " \
                                   "business_licence"

    renewal = participants.submit_document(
        buyer.org_id, document_input(DocumentKind.BUSINESS_LICENCE, n=1),
        uow=market.uow(buyer))
    participants.review_document(buyer.org_id, renewal.id, True, "新执照", uow=market.system())
    assert market.place(chain, buyer).status in ("awaiting_payment", "created")
