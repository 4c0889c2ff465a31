"""Matching rules as plain values: the weights, every soft component computed by hand
(points out of 100 times how well the listing does, in hundredths, rounded half to even),
the hard constraints, the compliance rules' verdicts as exclusions, and the lifecycles of
demands and negotiations."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from market.compliance.domain import PartyFacts, ProductFacts, screen
from market.kernel.actor import Actor
from market.kernel.errors import InvalidTransition
from market.kernel.statemachine import Lifecycle
from market.matching.domain import (
    DEMAND_TRANSITIONS,
    LIVE_DEMANDS,
    NEGOTIATION_TRANSITIONS,
    OPEN_NEGOTIATIONS,
    DemandStatus,
    Exclusion,
    NegotiationStatus,
    Offered,
    Want,
    Weights,
    components,
    freshness_of,
    kind_exclusions,
    rule_exclusions,
)
from market.matching.errors import NegotiationNotFound, NotYourTurn
from market.matching.models import Negotiation

D, N = DemandStatus, NegotiationStatus
WANT = Want(words=("企业", "用电", "风险", "指数"), product_types=(), delivery_modes=(),
            region="上海", freshness="monthly", budget_min=None, budget_max=100_000,
            currency="CNY", purposes=("信贷风控",), scenarios=("小微企业授信",),
            cross_border=False)
OFFERED = Offered(matched=4, min_price=100_000, currency="CNY", has_free=False,
                  negotiable=False, region="上海", update_frequency="monthly", credit=100,
                  completed=1, disputed=0)
W = Weights()


def parts(want: Want = WANT, weights: Weights = W, **offered: Any) -> dict[str, int]:
    return components(want, dataclasses.replace(OFFERED, **offered), weights)


# -- weights -------------------------------------------------------------------------------


def test_the_default_weights_are_the_documented_ones() -> None:
    assert W.as_dict() == {"text": 40, "budget": 20, "region": 10, "freshness": 10,
                           "credit": 10, "fulfilment": 10}
    assert Weights.parse("text=40,budget=20,region=10,freshness=10,credit=10,fulfilment=10"
                         ) == W


@pytest.mark.parametrize("values", [
    {"text": 50},  # 110 in all
    {"text": 30},  # 90
    {"text": -10, "budget": 70},
])
def test_weights_that_do_not_add_up_to_100_are_refused(values: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="adding up to 100"):
        Weights(**values)


def test_weights_parse_leaves_out_what_is_not_named_and_refuses_unknown_names() -> None:
    assert Weights.parse("text=60, budget=40").as_dict() == {
        "text": 60, "budget": 40, "region": 0, "freshness": 0, "credit": 0, "fulfilment": 0}
    for text in ("text=40,budget=20,region=10,freshness=10,credit=10,speed=10",
                 "text=forty,budget=60"):
        with pytest.raises(ValueError, match="not a weight"):
            Weights.parse(text)


# -- the soft components, by hand ----------------------------------------------------------


def test_a_listing_that_does_everything_scores_ten_thousand() -> None:
    found = parts()
    assert found == {"text": 4000, "budget": 2000, "region": 1000, "freshness": 1000,
                     "credit": 1000, "fulfilment": 1000}
    assert sum(found.values()) == 10_000


def test_text_is_the_share_of_the_demands_words_the_listing_contains() -> None:
    assert parts(matched=3)["text"] == 3000  # 3 of 4 words × 40 points = 30.00
    assert parts(matched=1)["text"] == 1000
    assert parts(matched=0)["text"] == 0
    three = dataclasses.replace(WANT, words=("企业", "用电", "指数"))
    assert parts(three, matched=1)["text"] == 1333  # 40 × 1/3 = 13.333…
    assert parts(three, matched=2)["text"] == 2667  # 40 × 2/3 = 26.666…
    assert parts(dataclasses.replace(WANT, words=()), matched=0)["text"] == 0


def test_components_round_half_to_even() -> None:
    eight = dataclasses.replace(WANT, words=tuple("abcdefgh"))
    one_point = Weights(text=1, budget=99, region=0, freshness=0, credit=0, fulfilment=0)
    assert parts(eight, one_point, matched=1)["text"] == 12  # 12.5 → 12
    assert parts(eight, one_point, matched=3)["text"] == 38  # 37.5 → 38
    assert parts(eight, one_point, matched=5)["text"] == 62  # 62.5 → 62


def test_budget_is_full_within_budget_and_falls_with_the_share_over_it() -> None:
    assert parts(min_price=100_000)["budget"] == 2000  # at the budget
    assert parts(min_price=1)["budget"] == 2000
    assert parts(min_price=150_000)["budget"] == 1000  # 50% over: half of 20 points
    assert parts(min_price=125_000)["budget"] == 1500  # 25% over
    assert parts(min_price=200_000)["budget"] == 0  # 100% over
    assert parts(min_price=900_000)["budget"] == 0  # never negative
    assert parts(min_price=900_000, has_free=True)["budget"] == 2000  # a free offer
    assert parts(min_price=None, negotiable=True)["budget"] == 1000  # 面议 only: half
    assert parts(min_price=1, currency="USD")["budget"] == 0  # another currency
    no_ceiling = dataclasses.replace(WANT, budget_max=None)
    assert parts(no_ceiling, min_price=10**9)["budget"] == 2000


def test_region_is_full_for_the_same_region_half_for_a_national_listing() -> None:
    assert parts(region="上海")["region"] == 1000
    assert parts(region="全国")["region"] == 500
    assert parts(region="National")["region"] == 500
    assert parts(region="北京")["region"] == 0
    assert parts(dataclasses.replace(WANT, region=None), region="北京")["region"] == 1000


@pytest.mark.parametrize(("wanted", "frequency", "points"), [
    ("monthly", "monthly", 1000),
    ("monthly", "每日更新", 1000),  # fresher than asked
    ("weekly", "monthly", 500),  # one level staler: half
    ("daily", "monthly", 0),  # two levels staler: none
    ("realtime", "实时推送", 1000),
    ("hourly", "每小时", 1000),
    ("quarterly", "每年", 500),
    ("monthly", "不定期", 0),  # unknown frequency
    (None, "不定期", 1000),  # no freshness asked
])
def test_freshness_compares_levels(wanted: str | None, frequency: str, points: int) -> None:
    want = dataclasses.replace(WANT, freshness=wanted)
    assert parts(want, update_frequency=frequency)["freshness"] == points


@pytest.mark.parametrize(("text", "level"), [
    ("monthly", "monthly"), ("每月", "monthly"), ("daily", "daily"), ("每天", "daily"),
    ("weekly", "weekly"), ("quarterly", "quarterly"), ("按季度", "quarterly"),
    ("yearly", "yearly"), ("annual", "yearly"), ("Real-time", "realtime"),
    ("每小时", "hourly"), ("一次性", "static"), ("static", "static"), ("不定期", None),
])
def test_freshness_of_reads_the_merchants_words(text: str, level: str | None) -> None:
    assert freshness_of(text) == level


def test_credit_and_fulfilment() -> None:
    assert parts(credit=73)["credit"] == 730
    assert parts(credit=150)["credit"] == 1000  # clamped to 100
    assert parts(credit=-5)["credit"] == 0
    assert parts(completed=0, disputed=0)["fulfilment"] == 500  # no record: half
    assert parts(completed=3, disputed=1)["fulfilment"] == 750
    assert parts(completed=0, disputed=2)["fulfilment"] == 0


def test_the_components_sum_to_the_score_under_other_weights() -> None:
    weights = Weights(text=25, budget=25, region=20, freshness=10, credit=15, fulfilment=5)
    found = parts(weights=weights, matched=3, min_price=150_000, region="全国",
                  update_frequency="每年", credit=80, completed=2, disputed=2)
    # 25×3/4, 25×1/2, 20×1/2, 10×0, 15×0.8, 5×1/2 in hundredths
    assert found == {"text": 1875, "budget": 1250, "region": 1000, "freshness": 0,
                     "credit": 1200, "fulfilment": 250}
    assert sum(found.values()) == 5575


# -- hard constraints ----------------------------------------------------------------------


def test_kind_exclusions_name_the_type_and_the_delivery_mode() -> None:
    assert kind_exclusions(WANT, "dataset", ("api",)) == []  # nothing asked: nothing excluded
    want = dataclasses.replace(WANT, product_types=("api_service", "model"),
                               delivery_modes=("sandbox",))
    assert kind_exclusions(want, "dataset", ("file", "api")) == [
        Exclusion("product_type", "a dataset, not one of api_service, model"),
        Exclusion("delivery_mode", "delivered by file, api, not by sandbox")]
    assert kind_exclusions(want, "model", ("api", "sandbox")) == []


def _screened(want: Want, **product: Any) -> list[Exclusion]:
    facts = ProductFacts.of({"classification": "general", "scenarios": ["小微企业授信"],
                             **product})
    policy = {"permission": [{"action": "use", "constraint": [
        {"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["信贷风控"]},
        {"leftOperand": "industry", "operator": "isAnyOf", "rightOperand": ["小微企业授信"]},
        {"leftOperand": "spatial", "operator": "eq", "rightOperand": "CN"}]}]}
    _, verdicts = screen(facts, seller=PartyFacts("org_m", "admitted", frozenset()),
                         declaration={}, use=want.use(), policy=policy)
    return rule_exclusions([v.as_dict() for v in verdicts])


def test_the_compliance_rules_exclude_by_name() -> None:
    assert _screened(WANT) == []
    assert _screened(WANT, classification="core") == [
        Exclusion("CoreDataIsNeverTradable",
                  "a resource behind the product is classified as core data")]
    assert [e.constraint for e in _screened(WANT, pi_level="personal",
                                            consent_evidence=False)] == [
        "PersonalInfoNeedsConsentOrAnonymisation"]
    assert _screened(dataclasses.replace(WANT, purposes=("精准营销",))) == [
        Exclusion("UseMustBePermittedByPolicy", "purposes the policy does not permit: 精准营销")]
    abroad = {e.constraint: e.reason for e in _screened(
        dataclasses.replace(WANT, cross_border=True))}
    assert abroad == {
        "ImportantDataAbroadNeedsSecurityAssessment": "the usage terms allow domestic use only",
        "UseMustBePermittedByPolicy": "the policy permits use in China only"}


def test_rule_exclusions_keep_only_blocking_verdicts() -> None:
    verdicts = [{"rule": "A", "outcome": "pass", "reason": "ok"},
                {"rule": "B", "outcome": "needs_review", "reason": "look"},
                {"rule": "C", "outcome": "block", "reason": "no"}]
    assert rule_exclusions(verdicts) == [Exclusion("C", "no")]
    assert Exclusion("C", "no").as_dict() == {"constraint": "C", "reason": "no"}


def test_a_want_states_its_use_as_the_rules_read_a_commitment() -> None:
    assert WANT.use() == {"purposes": ["信贷风控"], "scenarios": ["小微企业授信"],
                          "cross_border": False}


# -- lifecycles ----------------------------------------------------------------------------


def test_a_demand_lives_open_or_matched_and_ends_once() -> None:
    life = Lifecycle(DemandStatus, DEMAND_TRANSITIONS)
    assert {D.OPEN, D.MATCHED} == LIVE_DEMANDS
    assert life.terminal == {D.CONVERTED, D.CLOSED, D.EXPIRED}
    assert life.allows(D.OPEN, D.MATCHED)
    assert life.allows(D.MATCHED, D.CONVERTED)
    assert not life.allows(D.MATCHED, D.OPEN)
    with pytest.raises(InvalidTransition):
        life.check("expired", D.CONVERTED)


def test_a_negotiation_is_agreed_only_after_an_offer_and_ordered_only_once_agreed() -> None:
    life = Lifecycle(NegotiationStatus, NEGOTIATION_TRANSITIONS)
    assert {N.PROPOSED, N.REQUESTED, N.OFFERED, N.COUNTERED} == OPEN_NEGOTIATIONS
    assert life.terminal == {N.ORDERED, N.DECLINED, N.WITHDRAWN, N.EXPIRED}
    for current in (N.PROPOSED, N.REQUESTED):
        with pytest.raises(InvalidTransition):
            life.check(current.value, N.AGREED)
    assert life.allows(N.OFFERED, N.AGREED)
    assert life.allows(N.COUNTERED, N.COUNTERED)
    assert not life.allows(N.REQUESTED, N.COUNTERED)
    assert NEGOTIATION_TRANSITIONS[N.AGREED] == {N.ORDERED, N.EXPIRED}
    assert all(N.ORDERED not in targets for status, targets in
               NEGOTIATION_TRANSITIONS.items() if status is not N.AGREED)


def _actor(org_id: str, role: str) -> Actor:
    return Actor(kind="user", label=f"user of {org_id}", user_id=f"usr_{org_id}",
                 org_id=org_id, roles=frozenset({role}), org_status="admitted",
                 scopes=frozenset({"read", "write"}))


def test_only_the_side_that_did_not_propose_answers() -> None:
    at = datetime(2026, 11, 21, tzinfo=UTC)
    negotiation = Negotiation(
        id="neg_1", product_id="prd_1", buyer_org_id="org_b", merchant_org_id="org_m",
        broker_org_id="org_k", channel="broker", status="offered", terms={},
        proposed_by="merchant", round=1, expires_at=at, created_at=at, updated_at=at)
    assert negotiation.side_of(_actor("org_b", "buyer")) == "buyer"
    assert negotiation.side_of(_actor("org_m", "merchant")) == "merchant"
    assert negotiation.side_of(_actor("org_k", "broker")) == "broker"
    with pytest.raises(NegotiationNotFound):
        negotiation.side_of(_actor("org_x", "buyer"))
    negotiation.check_answering("buyer")
    for side in ("merchant", "broker"):
        with pytest.raises(NotYourTurn):
            negotiation.check_answering(side)
