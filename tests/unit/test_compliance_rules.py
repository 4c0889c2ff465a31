"""The rule engine: each rule passes a normal case and gives its verdict on a crafted one;
the strictest verdict is the outcome."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from market.compliance import domain
from market.compliance.domain import (
    Facts,
    Outcome,
    PartyFacts,
    ProductFacts,
    Stage,
    credit_score,
    evaluate,
)
from market.compliance.rules.parties import with_parties
from market.compliance.rules.public_data import with_public_data

SELLER = PartyFacts("org_seller", "admitted", frozenset({"merchant"}))
BUYER = PartyFacts("org_buyer", "admitted", frozenset({"buyer"}))
PRODUCT = ProductFacts(classification="general", pi_level="none", consent_evidence=True,
                       anonymisation_evidence=True, security_assessment=False,
                       scenarios=("信用评估", "风险控制"), cross_border_allowed=False)
DECLARATION: dict[str, Any] = {
    "statement": "如实声明", "source_is_lawful": True, "source_basis": "self_collected",
    "contains_personal_information": False, "personal_information_basis": "none",
    "contains_important_data": False, "contains_core_data": False, "cross_border": False,
    "third_party_rights_cleared": True, "security_measures": ["加密"],
    "scenarios": ["信用评估"], "onward_transfer_commitment": True,
}
COMMITMENT: dict[str, Any] = {"purpose": "授信审批", "purposes": ["信贷风控"],
                              "scenarios": ["信用评估"],
                              "cross_border": False, "no_onward_transfer": True,
                              "no_reidentification": True, "security_measures": ["加密"]}


# A published usage policy as the catalogue writes it (see market.listing.linked_data).
POLICY: dict[str, Any] = {
    "uid": "urn:market/catalog/prd_1/terms.jsonld#v1", "type": "Offer",
    "permission": [{"target": "urn:market/catalog/prd_1", "action": "use", "constraint": [
        {"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["信贷风控"]},
        {"leftOperand": "industry", "operator": "isAnyOf",
         "rightOperand": ["信用评估", "风险控制"]},
        {"leftOperand": "spatial", "operator": "eq", "rightOperand": "CN"}]}],
}


PUBLIC = (("res_public", "交通"),)
COMMERCIAL_OFFER: dict[str, Any] = {"name": "商用", "kind": "one_time", "amount": 100,
                                    "currency": "CNY", "buyer_class": "commercial"}


def listing(**changes: Any) -> Facts:
    product = dataclasses.replace(PRODUCT, **changes.pop("product", {}))
    declaration = {**DECLARATION, **changes.pop("declaration", {})}
    return Facts(stage=Stage.LISTING, seller=changes.pop("seller", SELLER), product=product,
                 chain_ok=changes.pop("chain_ok", True),
                 broken_link=changes.pop("broken_link", None), declaration=declaration)


def order(**changes: Any) -> Facts:
    facts = listing(**{k: v for k, v in changes.items() if k not in ("buyer", "commitment")})
    return dataclasses.replace(
        facts, stage=Stage.ORDER, buyer=changes.get("buyer", BUYER),
        commitment={**COMMITMENT, **changes.get("commitment", {})},
        policy=changes.get("policy", POLICY))


def verdict(facts: Facts, rule: str) -> domain.Verdict:
    (found,) = [v for v in evaluate(facts)[1] if v.rule == rule]
    return found


def test_every_rule_is_named_by_a_sentence_and_documented() -> None:
    names = domain.rule_names()
    assert len(names) == len(set(names)) >= 12
    for rule in domain.RULES:
        assert rule.__name__[0].isupper(), rule.__name__
        assert rule.__doc__, rule.__name__


@pytest.mark.parametrize("facts", [listing(), order()], ids=["listing", "order"])
def test_a_normal_case_passes_every_rule(facts: Facts) -> None:
    outcome, verdicts = evaluate(facts)
    assert outcome is Outcome.PASS
    assert [v.rule for v in verdicts if v.outcome is not Outcome.PASS] == []


CRAFTED: list[tuple[str, Facts, Outcome]] = [
    ("VenueNeverTrades",
     listing(seller=PartyFacts("org_op", "admitted", frozenset({"operator", "merchant"}))),
     Outcome.BLOCK),
    ("VenueNeverTrades",
     order(buyer=PartyFacts("org_op", "admitted", frozenset({"operator"}))), Outcome.BLOCK),
    ("ParticipantsMustBeAdmitted",
     listing(seller=PartyFacts("org_s", "suspended", frozenset({"merchant"}))), Outcome.BLOCK),
    ("ParticipantsMustBeAdmitted",
     order(buyer=PartyFacts("org_b", "exited", frozenset({"buyer"}))), Outcome.BLOCK),
    ("BlacklistedCannotTrade",
     order(buyer=PartyFacts("org_b", "blacklisted", frozenset({"buyer"}))), Outcome.BLOCK),
    ("SellerNeedsOperationRightChain",
     listing(chain_ok=False, broken_link={"code": "right_expired", "right_id": "rgt_1",
                                          "message": "the holding right expired"}),
     Outcome.BLOCK),
    ("CoreDataIsNeverTradable", listing(product={"classification": "core"}), Outcome.BLOCK),
    ("CoreDataIsNeverTradable", listing(declaration={"contains_core_data": True}),
     Outcome.BLOCK),
    ("SourceMustBeLawful", listing(declaration={"source_is_lawful": False}), Outcome.BLOCK),
    ("PersonalInfoNeedsConsentOrAnonymisation",
     listing(product={"pi_level": "personal", "consent_evidence": False},
             declaration={"contains_personal_information": True,
                          "personal_information_basis": "consent"}), Outcome.BLOCK),
    ("PersonalInfoNeedsConsentOrAnonymisation",
     listing(product={"pi_level": "deidentified"},
             declaration={"contains_personal_information": True,
                          "personal_information_basis": "anonymisation"}), Outcome.BLOCK),
    ("PersonalInfoNeedsConsentOrAnonymisation",
     listing(product={"pi_level": "anonymised", "anonymisation_evidence": False}),
     Outcome.BLOCK),
    ("PersonalInfoNeedsConsentOrAnonymisation",
     listing(declaration={"contains_personal_information": True}), Outcome.BLOCK),
    ("DeclarationMustAgreeWithRegistration", listing(product={"classification": "important"}),
     Outcome.BLOCK),
    ("DeclarationMustAgreeWithRegistration",
     listing(product={"pi_level": "personal"},
             declaration={"personal_information_basis": "consent"}), Outcome.BLOCK),
    ("SensitivePersonalInfoNeedsReview",
     listing(product={"pi_level": "sensitive_personal"},
             declaration={"contains_personal_information": True,
                          "personal_information_basis": "consent"}), Outcome.NEEDS_REVIEW),
    ("ImportantDataAbroadNeedsSecurityAssessment",
     listing(product={"classification": "important"},
             declaration={"contains_important_data": True, "cross_border": True}),
     Outcome.NEEDS_ASSESSMENT),
    ("ImportantDataAbroadNeedsSecurityAssessment",
     order(product={"classification": "important", "cross_border_allowed": True},
           declaration={"contains_important_data": True}, commitment={"cross_border": True}),
     Outcome.NEEDS_ASSESSMENT),
    ("ImportantDataAbroadNeedsSecurityAssessment",
     order(commitment={"cross_border": True}), Outcome.BLOCK),  # terms: domestic only
    ("ImportantDataAbroadNeedsSecurityAssessment",  # an assessment cannot open domestic terms
     order(product={"classification": "important", "security_assessment": True},
           declaration={"contains_important_data": True}, commitment={"cross_border": True}),
     Outcome.BLOCK),
    ("ThirdPartyRightsMustBeCleared", listing(declaration={"third_party_rights_cleared": False}),
     Outcome.BLOCK),
    ("BuyerPurposeMustFitListingScenarios", order(commitment={"scenarios": ["精准营销"]}),
     Outcome.BLOCK),
    ("BuyerPurposeMustFitListingScenarios", order(commitment={"scenarios": []}),
     Outcome.BLOCK),
    ("UseMustBePermittedByPolicy", order(commitment={"purposes": ["精准营销"]}),
     Outcome.BLOCK),
    ("UseMustBePermittedByPolicy", order(commitment={"purposes": []}), Outcome.BLOCK),
    ("UseMustBePermittedByPolicy", order(commitment={"cross_border": True}), Outcome.BLOCK),
    ("UseMustBePermittedByPolicy", order(policy={"permission": []}), Outcome.BLOCK),
    ("BuyerMustMakeEveryCommitment", order(commitment={"no_onward_transfer": False}),
     Outcome.BLOCK),
    ("BuyerMustMakeEveryCommitment", order(commitment={"no_reidentification": False}),
     Outcome.BLOCK),
    # Delivery, storage and careful review (tests/unit/test_delivery_rules.py: cell by cell)
    ("DeliveryModeMustSuitClassification",
     dataclasses.replace(listing(product={"classification": "important"}),
                         delivery_modes=("file",)), Outcome.BLOCK),
    ("RawDataNeedsCarefulReview",
     listing(product={"development_level": "raw"}), Outcome.NEEDS_REVIEW),
    ("SensitiveCategoriesNeedReview",
     listing(product={"sensitive_categories": ("minors",)}), Outcome.NEEDS_REVIEW),
    ("DataAbroadNeedsSecurityAssessment",
     listing(product={"storage_locations": ("CN", "US")}), Outcome.NEEDS_ASSESSMENT),
    # Public data (tests/unit/test_public_data_rules.py: each rule both ways)
    ("PublicDataNeedsAuthorisedOperator",
     with_public_data(listing(), public_resources=PUBLIC, scopes=(), pricing=None),
     Outcome.BLOCK),
    ("PublicDataPricedByPurpose",
     with_public_data(listing(), public_resources=PUBLIC, scopes=None, pricing={
         "offers": [{**COMMERCIAL_OFFER, "amount": 200}],
         "cost_basis": {"amount": 100, "currency": "CNY"}}), Outcome.BLOCK),
    ("PublicDataOnePricePerBuyerClass",
     with_public_data(listing(), public_resources=PUBLIC, scopes=None, pricing={
         "offers": [COMMERCIAL_OFFER, {**COMMERCIAL_OFFER, "amount": 90}],
         "cost_basis": {"amount": 100, "currency": "CNY"}}), Outcome.BLOCK),
    ("PublicInterestUseMustBeDeclared",
     with_public_data(order(), public_resources=PUBLIC, scopes=None, pricing={
         "offer": {"kind": "free", "amount": None, "buyer_class": "public_interest"},
         "offers": []}), Outcome.BLOCK),
    # The parties (tests/unit/test_parties_rules.py: each rule both ways)
    ("PartiesDocumentsMustBeInForce",
     with_parties(order(), expired={"org_buyer": ["business_licence"]}), Outcome.BLOCK),
    ("RelatedPartyTradesAreFlagged",  # let through, the relation named for monitoring
     with_parties(order(), related=["same_legal_representative"]), Outcome.PASS),
    # Signed contracts (tests/unit/test_contract_rules.py: each case both ways)
    ("ContractMustBeSignedByRegisteredKeys",
     dataclasses.replace(order(), stage=Stage.DELIVERY, contract={
         "required": False, "buyer": {"act": "signed", "key_id": "skey_1",
                                      "key_status": "revoked", "verifies": True}}),
     Outcome.BLOCK),
]


@pytest.mark.parametrize(("rule", "facts", "expected"), CRAFTED,
                         ids=[f"{rule}-{i}" for i, (rule, _, _) in enumerate(CRAFTED)])
def test_each_rule_fails_on_its_crafted_case(rule: str, facts: Facts, expected: Outcome) -> None:
    found = verdict(facts, rule)
    assert found.outcome is expected, found
    assert found.reason
    assert evaluate(facts)[0] in (expected, Outcome.BLOCK)


def test_every_rule_has_a_crafted_case() -> None:
    assert {rule for rule, _, _ in CRAFTED} == set(domain.rule_names())


@pytest.mark.parametrize(("rule", "facts"), [
    ("PersonalInfoNeedsConsentOrAnonymisation",
     listing(product={"pi_level": "personal"},
             declaration={"contains_personal_information": True,
                          "personal_information_basis": "consent"})),
    ("PersonalInfoNeedsConsentOrAnonymisation", listing(product={"pi_level": "anonymised"})),
    ("ImportantDataAbroadNeedsSecurityAssessment",
     listing(product={"classification": "important", "security_assessment": True},
             declaration={"contains_important_data": True, "cross_border": True})),
    ("ImportantDataAbroadNeedsSecurityAssessment",
     listing(product={"classification": "important"},
             declaration={"contains_important_data": True, "cross_border": True,
                          "security_assessment_ref": "CAC-2026-0042"})),
    ("ImportantDataAbroadNeedsSecurityAssessment",
     order(product={"cross_border_allowed": True}, commitment={"cross_border": True})),
    ("BuyerPurposeMustFitListingScenarios",
     order(commitment={"scenarios": ["信用评估", "风险控制"]})),
], ids=["consent on record", "anonymised with evidence", "assessment on record",
        "assessment declared", "general data abroad, terms allow", "all scenarios offered"])
def test_the_lawful_variant_of_a_risky_case_passes(rule: str, facts: Facts) -> None:
    assert verdict(facts, rule).outcome is Outcome.PASS


def test_the_strictest_verdict_is_the_outcome() -> None:
    review = listing(product={"pi_level": "sensitive_personal"},
                     declaration={"contains_personal_information": True,
                                  "personal_information_basis": "consent"})
    assert evaluate(review)[0] is Outcome.NEEDS_REVIEW
    assessment = dataclasses.replace(
        review, product=dataclasses.replace(review.product, classification="important"),
        declaration={**review.declaration, "contains_important_data": True,
                     "cross_border": True})
    assert evaluate(assessment)[0] is Outcome.NEEDS_ASSESSMENT
    blocked = dataclasses.replace(assessment, chain_ok=False)
    assert evaluate(blocked)[0] is Outcome.BLOCK


def test_the_facts_judged_are_kept_as_plain_data() -> None:
    facts = order()
    kept = facts.as_dict()
    assert kept["stage"] == "order"
    assert kept["seller"] == {"org_id": "org_seller", "status": "admitted",
                              "roles": ["merchant"]}
    assert kept["commitment"] == COMMITMENT
    assert kept["product"]["scenarios"] == ["信用评估", "风险控制"]


@pytest.mark.parametrize(("severities", "score"), [
    ([], 100), (["minor"], 95), (["minor", "serious"], 75), (["grave", "grave", "minor"], 0),
])
def test_breaches_lower_the_credit_score_to_no_less_than_zero(severities: list[str],
                                                              score: int) -> None:
    assert credit_score([domain.BreachSeverity(s) for s in severities]) == score
