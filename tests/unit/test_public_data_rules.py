"""The public-data rules (公共数据授权运营), each refusing what it must and allowing what it
may: an authorised operator within its scope, pricing by purpose under the cost basis, one
price and one set of terms per buyer class, and the public-interest purpose declared; and
the earmark of public-data revenue split to the minor unit."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.compliance import domain
from market.compliance.domain import Facts, Outcome, PartyFacts, ProductFacts, Stage, evaluate
from market.compliance.rules.public_data import (
    public_data_needs_authorised_operator,
    public_data_one_price_per_buyer_class,
    public_data_priced_by_purpose,
    public_interest_use_must_be_declared,
    with_public_data,
)
from market.kernel.errors import InvalidInput
from market.listing.domain import BuyerClass, OfferKind, OfferSpec
from market.settlement.split import DistributionRule, Share, ShareRole, split

BLOCK = Outcome.BLOCK
SELLER = PartyFacts("org_operator", "admitted", frozenset({"merchant"}))
BUYER = PartyFacts("org_buyer", "admitted", frozenset({"buyer"}))
PRODUCT = ProductFacts(classification="general", pi_level="none", consent_evidence=True,
                       anonymisation_evidence=True, security_assessment=False,
                       scenarios=("交通治理",), cross_border_allowed=False)
PUBLIC = (("res_bus", "交通"),)
SCOPE = {"id": "pda_1", "categories": ["交通"], "resource_ids": [], "scenarios": ["交通治理"]}
FREE = {"id": "ofr_free", "name": "公益", "kind": "free", "amount": None, "currency": "CNY",
        "period": None, "unit": None, "cap_amount": None, "buyer_class": "public_interest",
        "private": False, "terms": None}
PAID = {**FREE, "id": "ofr_paid", "name": "商用", "kind": "one_time", "amount": 50_000,
        "buyer_class": "commercial"}
BASIS = {"amount": 60_000, "currency": "CNY", "explanation": "采集与治理成本",
         "document_sha256": "ab" * 32}
TERMS = {"purposes": ["public_governance", "商业分析"], "scenarios": ["交通治理"],
         "territory": "domestic", "duration_days": 365, "onward_transfer": False,
         "resale": False, "max_users": None, "attribution": None}
COMMITMENT = {"purpose": "公交线网优化", "purposes": ["public_governance"],
              "scenarios": ["交通治理"], "cross_border": False, "no_onward_transfer": True,
              "no_reidentification": True, "purpose_class": "public_interest"}


def facts(stage: Stage = Stage.LISTING, *, public: Any = PUBLIC, scopes: Any = (SCOPE,),
          offer: Any = None, offers: Any = (FREE, PAID), basis: Any = BASIS,
          commitment: Any = None) -> Facts:
    base = Facts(stage=stage, seller=SELLER, product=PRODUCT, chain_ok=True,
                 buyer=BUYER if commitment is not None else None, commitment=commitment)
    return with_public_data(base, public_resources=public, scopes=scopes, pricing={
        "offer": offer, "offers": list(offers), "cost_basis": basis, "terms": TERMS})


def outcome(rule: Any, given: Facts) -> Outcome:
    return rule(given).outcome


# -- PublicDataNeedsAuthorisedOperator -----------------------------------------------------


def test_an_authorised_operator_within_its_scope_may_list_public_data() -> None:
    assert outcome(public_data_needs_authorised_operator, facts()) is Outcome.PASS
    by_id = {**SCOPE, "categories": [], "resource_ids": ["res_bus"]}
    assert outcome(public_data_needs_authorised_operator, facts(scopes=[by_id])) is Outcome.PASS


def test_public_data_without_an_in_term_authorisation_is_blocked() -> None:
    verdict = public_data_needs_authorised_operator(facts(scopes=()))
    assert verdict.outcome is Outcome.BLOCK
    assert verdict.detail == {"resources": ["res_bus"]}
    other = {**SCOPE, "categories": ["气象"]}
    assert outcome(public_data_needs_authorised_operator, facts(scopes=[other])) is BLOCK


def test_scenarios_outside_the_authorisation_are_blocked() -> None:
    narrow = {**SCOPE, "scenarios": ["公共安全"]}
    verdict = public_data_needs_authorised_operator(facts(scopes=[narrow]))
    assert verdict.outcome is Outcome.BLOCK
    assert verdict.detail == {"scenarios": ["交通治理"]}


def test_the_operator_rule_passes_when_nothing_public_or_no_scopes_gathered() -> None:
    assert outcome(public_data_needs_authorised_operator, facts(public=())) is Outcome.PASS
    assert outcome(public_data_needs_authorised_operator, facts(scopes=None)) is Outcome.PASS


@pytest.mark.parametrize("stage", [Stage.LISTING, Stage.ORDER, Stage.MATCH])
def test_the_operator_rule_judges_listing_ordering_and_agreeing(stage: Stage) -> None:
    assert outcome(public_data_needs_authorised_operator, facts(stage, scopes=())) is BLOCK


def test_what_was_sold_under_an_authorisation_is_still_delivered() -> None:
    assert outcome(public_data_needs_authorised_operator,
                   facts(Stage.DELIVERY, scopes=())) is Outcome.PASS


# -- PublicDataPricedByPurpose ------------------------------------------------------------


def test_free_public_interest_and_commercial_within_the_cost_basis_pass() -> None:
    assert outcome(public_data_priced_by_purpose, facts()) is Outcome.PASS
    at_cap = {**PAID, "amount": BASIS["amount"]}
    assert outcome(public_data_priced_by_purpose, facts(offers=[FREE, at_cap])) is Outcome.PASS
    assert outcome(public_data_priced_by_purpose, facts(offers=[FREE], basis=None)) is (
        Outcome.PASS)


def test_a_commercial_offer_above_the_cost_basis_is_blocked() -> None:
    over = {**PAID, "amount": BASIS["amount"] + 1}
    verdict = public_data_priced_by_purpose(facts(offers=[FREE, over]))
    assert verdict.outcome is BLOCK
    assert verdict.detail is not None
    assert verdict.detail["cap"] == BASIS["amount"]
    foreign = {**PAID, "currency": "USD"}
    assert outcome(public_data_priced_by_purpose, facts(offers=[foreign])) is BLOCK


def test_commercial_public_data_without_a_cost_basis_is_blocked() -> None:
    verdict = public_data_priced_by_purpose(facts(basis=None))
    assert verdict.outcome is BLOCK
    assert "cost-recovery basis" in verdict.reason


def test_public_data_offers_name_a_buyer_class_and_public_interest_is_free() -> None:
    assert outcome(public_data_priced_by_purpose,
                   facts(offers=[{**PAID, "buyer_class": None}])) is BLOCK
    assert outcome(public_data_priced_by_purpose,
                   facts(offers=[{**FREE, "kind": "one_time", "amount": 1}])) is BLOCK


def test_pricing_is_judged_at_listing_and_for_public_data_only() -> None:
    over = {**PAID, "amount": 10**9}
    assert outcome(public_data_priced_by_purpose, facts(offers=[over], public=())) is (
        Outcome.PASS)
    assert outcome(public_data_priced_by_purpose, facts(Stage.ORDER, offers=[over])) is (
        Outcome.PASS)


# -- PublicDataOnePricePerBuyerClass -------------------------------------------------------


def test_one_offer_per_class_passes_and_identical_twins_too() -> None:
    assert outcome(public_data_one_price_per_buyer_class, facts()) is Outcome.PASS
    twin = {**PAID, "id": "ofr_twin", "name": "商用二"}
    assert outcome(public_data_one_price_per_buyer_class,
                   facts(offers=[FREE, PAID, twin])) is Outcome.PASS


def test_two_prices_for_one_buyer_class_are_blocked() -> None:
    cheaper = {**PAID, "id": "ofr_cheap", "amount": PAID["amount"] - 1}
    verdict = public_data_one_price_per_buyer_class(facts(offers=[FREE, PAID, cheaper]))
    assert verdict.outcome is BLOCK
    assert verdict.detail == {"buyer_classes": ["commercial"]}
    monthly = {**PAID, "id": "ofr_month", "kind": "subscription", "period": "month"}
    assert outcome(public_data_one_price_per_buyer_class,
                   facts(offers=[PAID, monthly])) is BLOCK


def test_a_negotiated_offer_at_the_published_price_and_terms_passes() -> None:
    agreed = {**PAID, "id": None, "buyer_class": None, "private": True,
              "terms": {**TERMS, "purposes": ["商业分析"]}}
    assert outcome(public_data_one_price_per_buyer_class,
                   facts(Stage.MATCH, offer=agreed)) is Outcome.PASS


def test_a_negotiated_price_or_terms_unlike_the_published_ones_are_blocked() -> None:
    discount = {**PAID, "amount": PAID["amount"] - 100, "buyer_class": None, "private": True}
    verdict = public_data_one_price_per_buyer_class(facts(Stage.ORDER, offer=discount))
    assert verdict.outcome is BLOCK
    assert verdict.detail is not None
    assert verdict.detail["negotiated"]["amount"] == 49_900
    longer = {**PAID, "private": True, "terms": {**TERMS, "duration_days": 3650}}
    verdict = public_data_one_price_per_buyer_class(facts(Stage.MATCH, offer=longer))
    assert verdict.outcome is BLOCK
    assert verdict.detail == {"conditions": ["duration_days"]}
    assert outcome(public_data_one_price_per_buyer_class,
                   facts(Stage.MATCH, offer=discount, offers=[FREE])) is BLOCK


def test_the_published_offer_itself_is_not_judged_as_negotiated() -> None:
    assert outcome(public_data_one_price_per_buyer_class,
                   facts(Stage.ORDER, offer=PAID)) is Outcome.PASS


# -- PublicInterestUseMustBeDeclared -------------------------------------------------------


def test_a_public_interest_buyer_declaring_its_purpose_passes() -> None:
    assert outcome(public_interest_use_must_be_declared,
                   facts(Stage.ORDER, offer=FREE, commitment=COMMITMENT)) is Outcome.PASS


def test_a_free_public_interest_offer_without_the_declared_purpose_is_blocked() -> None:
    undeclared = {k: v for k, v in COMMITMENT.items() if k != "purpose_class"}
    assert outcome(public_interest_use_must_be_declared,
                   facts(Stage.ORDER, offer=FREE, commitment=undeclared)) is BLOCK
    commercial = {**COMMITMENT, "purpose_class": "commercial"}
    assert outcome(public_interest_use_must_be_declared,
                   facts(Stage.ORDER, offer=FREE, commitment=commercial)) is BLOCK


def test_purposes_outside_the_public_interest_ones_are_blocked() -> None:
    business = {**COMMITMENT, "purposes": ["public_governance", "商业分析"]}
    verdict = public_interest_use_must_be_declared(
        facts(Stage.ORDER, offer=FREE, commitment=business))
    assert verdict.outcome is BLOCK
    assert verdict.detail is not None
    assert verdict.detail["purposes"] == ["商业分析"]


def test_a_commercial_buyer_need_not_declare_public_interest() -> None:
    plain = {**COMMITMENT, "purposes": ["商业分析"], "purpose_class": "commercial"}
    assert outcome(public_interest_use_must_be_declared,
                   facts(Stage.ORDER, offer=PAID, commitment=plain)) is Outcome.PASS


# -- the engine ---------------------------------------------------------------------------


def test_the_rules_are_named_in_the_engine_and_judge_agreements_too() -> None:
    names = domain.rule_names()
    for name in ("PublicDataNeedsAuthorisedOperator", "PublicDataPricedByPurpose",
                 "PublicDataOnePricePerBuyerClass", "PublicInterestUseMustBeDeclared"):
        assert name in names
    matching = {r.__name__ for r in domain.MATCH_RULES}
    assert {"PublicDataNeedsAuthorisedOperator", "PublicDataOnePricePerBuyerClass",
            "PublicInterestUseMustBeDeclared"} <= matching
    result, verdicts = evaluate(facts(scopes=()))
    assert result is BLOCK
    assert any(v.rule == "PublicDataNeedsAuthorisedOperator" and v.outcome is BLOCK
               for v in verdicts)


def test_public_data_facts_survive_the_record_of_a_decision() -> None:
    recorded = facts(Stage.ORDER, offer=FREE, commitment=COMMITMENT).as_dict()
    assert recorded["seller"]["public_data_scopes"] == [SCOPE]
    assert recorded["product"]["public_resources"] == [["res_bus", "交通"]]
    assert recorded["pricing"]["offer"]["buyer_class"] == "public_interest"
    assert ProductFacts.of(recorded["product"]).public_resources == PUBLIC


# -- offers and the earmark ---------------------------------------------------------------


def test_buyer_classes_fix_the_kind_of_offer() -> None:
    assert OfferSpec(OfferKind.FREE, buyer_class=BuyerClass.PUBLIC_INTEREST).problems() == {}
    assert "buyer_class" in OfferSpec(OfferKind.ONE_TIME, amount=1,
                                      buyer_class=BuyerClass.PUBLIC_INTEREST).problems()
    assert "buyer_class" in OfferSpec(OfferKind.FREE,
                                      buyer_class=BuyerClass.COMMERCIAL).problems()
    assert OfferSpec(OfferKind.ONE_TIME, amount=1,
                     buyer_class=BuyerClass.COMMERCIAL).problems() == {}


RULE = DistributionRule((Share(ShareRole.RESOURCE_HOLDER, "org_h", 1000),
                         Share(ShareRole.MERCHANT, "org_m", 9000)), 100)


def test_the_earmark_is_a_line_of_its_own_and_the_split_balances() -> None:
    earmarked = RULE.with_public_fund(1000)
    lines = split(50_000, earmarked)
    assert [(a.role, a.amount) for a in lines] == [
        (ShareRole.PLATFORM, 500), (ShareRole.RESOURCE_HOLDER, 4_450),
        (ShareRole.MERCHANT, 40_050), (ShareRole.PUBLIC_FUND, 5_000)]
    assert sum(a.amount for a in lines) == 50_000
    assert DistributionRule.from_dict(earmarked.as_dict()) == earmarked
    assert "public_fund_bps" not in RULE.as_dict()  # other rules' records are unchanged


def test_an_earmark_the_fee_leaves_no_room_for_is_refused() -> None:
    with pytest.raises(InvalidInput):
        RULE.with_public_fund(9_901)
    with pytest.raises(InvalidInput):
        DistributionRule((Share(ShareRole.PUBLIC_FUND, "platform", 10_000),), 0)


@given(amount=st.integers(0, 10**12), fee=st.integers(0, 2_000), fund=st.integers(0, 8_000))
def test_an_earmarked_split_never_loses_or_invents_a_cent(amount: int, fee: int,
                                                          fund: int) -> None:
    rule = DistributionRule(RULE.shares, fee).with_public_fund(fund)
    lines = split(amount, rule)
    assert sum(a.amount for a in lines) == amount
    exact = amount * fund / 10_000
    (earmark,) = [a.amount for a in lines if a.role is ShareRole.PUBLIC_FUND] or [0]
    assert abs(earmark - exact) < 1 or fund == 0
