"""Matching against the database: demands ranked over the catalogue's index under the hard
constraints (kind, delivery mode and the compliance rules on the data and the use) and the
documented soft weights, negotiations and the private offers their agreements become, broker
commissions in the split, demands converted by orders, the events matching writes, and bad
input that writes nothing.

Every product rests on a real rights chain listed through the listing services (see
``trading_fixtures`` and ``test_listing_services``); orders go through ``trading.place_order``
unchanged, and ``market.wiring.connect()`` (the autouse ``_wired`` fixture) lets an order on a
negotiated offer reach matching in its transaction, as in the app.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

from market.cli import consumers
from market.kernel.actor import ANONYMOUS
from market.kernel.clock import FixedClock
from market.kernel.config import Settings
from market.kernel.errors import InvalidInput, InvalidTransition, MarketError
from market.kernel.outbox import OutboxMessage, Worker, noop_consumer
from market.kernel.uow import UnitOfWork
from market.listing import catalog
from market.listing import services as listing
from market.listing.domain import OfferKind, OfferSpec
from market.listing.errors import (
    ListingRefused,
    OfferExpired,
    OfferNotFound,
    ProductNotFound,
    SoldOut,
)
from market.matching import services as matching
from market.matching.errors import (
    AgreementRefused,
    NegotiationExpired,
    NegotiationNotFound,
    NotABroker,
    NotYourTurn,
)
from market.matching.models import (
    Demand,
    DemandEvent,
    DemandMatch,
    Negotiation,
    NegotiationEvent,
    SavedSearchHit,
)
from market.matching.services import engine
from market.rights.domain import Classification, PILevel
from market.rights.errors import RightRefused
from market.trading import services as trading
from market.trading.errors import OrderRefused
from market.trading.models import Contract, Order
from tests.conftest import Party
from tests.integration.rights_fixtures import (  # noqa: F401
    Chain,
    rights_fixture,
    signer_fixture,
)
from tests.integration.test_listing_services import (  # noqa: F401
    DECLARATION,
    TERMS,
    _wired,
)
from tests.integration.trading_fixtures import (  # noqa: F401
    COMMITMENT,
    POLICY,
    PRICE,
    Market,
    market_fixture,
)

MATCH = matching.MatchPolicy()  # text 40, budget 20, region 10, freshness 10, credit 10,
# fulfilment 10 (points; components are in hundredths of a point); top 20; pool 200
DAY = timedelta(days=1)
USE: dict[str, Any] = {"purposes": ["信贷风控"], "scenarios": ["小微企业授信"]}
USE_RULE = "UseMustBePermittedByPolicy"
T = TypeVar("T")


# -- helpers -----------------------------------------------------------------------------------


def attempt(call: Callable[[], T]) -> T | MarketError:
    """The call's result, or the market error it raised (for asserting on a known bug)."""
    try:
        return call()
    except MarketError as exc:
        return exc


def one(items: Iterable[T]) -> T:
    found = list(items)
    assert len(found) == 1, found
    return found[0]


def rules_of(refused: OrderRefused) -> list[str]:
    return [r["rule"] for r in refused.errors["rules"]]


@dataclass
class Desk:
    """Matching over a :class:`Market`: listings of chosen shape, demands, negotiations and
    fresh reads."""

    market: Market

    @property
    def clock(self) -> FixedClock:
        return self.market.rights.clock

    def uow(self, party: Party) -> UnitOfWork:
        return self.market.uow(party)

    def system(self) -> UnitOfWork:
        return self.market.system()

    def anonymous(self) -> UnitOfWork:
        return UnitOfWork(self.market.rights.session_factory, self.clock, ANONYMOUS)

    # -- supply and demand -----------------------------------------------------------------

    def listed(self, merchant: str = "grantee", holder: str = "holder", *,
               amount: int = PRICE, **overrides: Any) -> Chain:
        """A listed product of ``merchant`` (one-time offer at ``amount``, file and API
        delivery, the listing defaults of ``Shop.input`` otherwise: 上海, monthly, TERMS)."""
        chain = self.market.rights.chain(holder, merchant)
        overrides.setdefault("offers", [("标准版", OfferSpec(OfferKind.ONE_TIME, amount=amount))])
        overrides.setdefault("delivery_modes", ["file", "api"])
        return self.market.shop.listed(chain, **overrides)

    def demand_input(self, **overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "title": "企业用电风险指数", "description": "按月更新的企业用电景气与风险指数",
            "sector": "finance", "region": "上海", "product_types": [], "delivery_modes": [],
            "required_fields": [], "coverage": None, "freshness": None, "budget_min": None,
            "budget_max": 200_000, "currency": "CNY", "purpose": "小微企业授信审批",
            "purposes": ["信贷风控"], "scenarios": ["小微企业授信"], "cross_border": False,
            "deadline": self.clock.now() + 30 * DAY, "visibility": "public",
            "invited_org_ids": []}
        data.update(overrides)
        return data

    def post(self, buyer: Party, **overrides: Any) -> matching.DemandView:
        return matching.post_demand(self.demand_input(**overrides), policy=MATCH,
                                    uow=self.uow(buyer))

    def rank(self, party: Party, demand_id: str, *, explain: bool = False) -> matching.Ranking:
        return matching.match_demand(demand_id, policy=MATCH, uow=self.uow(party),
                                     explain=explain)

    # -- negotiation -----------------------------------------------------------------------

    def quote(self, chain: Chain, buyer: Party, **terms: Any) -> Negotiation:
        return matching.request_quote(chain.product_id, {**USE, **terms}, policy=MATCH,
                                      uow=self.uow(buyer)).negotiation

    def offer(self, negotiation_id: str, merchant: Party, **terms: Any) -> Negotiation:
        return matching.make_offer(negotiation_id, terms, policy=MATCH,
                                   uow=self.uow(merchant)).negotiation

    def counter(self, negotiation_id: str, party: Party, **terms: Any) -> Negotiation:
        return matching.counter(negotiation_id, terms, policy=MATCH,
                                uow=self.uow(party)).negotiation

    def agree(self, negotiation_id: str, party: Party) -> Negotiation:
        return matching.agree(negotiation_id, policy=MATCH, uow=self.uow(party)).negotiation

    def agreed(self, chain: Chain, buyer: Party, amount: int = 80_000) -> Negotiation:
        """A quote asked, offered by the merchant at ``amount`` and agreed by the buyer."""
        asked = self.quote(chain, buyer)
        self.offer(asked.id, chain.grantee, amount=amount, delivery_modes=["file"])
        return self.agree(asked.id, buyer)

    def order_offer(self, chain: Chain, offer_id: str | None, buyer: Party,
                    **commitment: Any) -> Order:
        assert offer_id is not None
        return trading.place_order(chain.product_id, offer_id, {**COMMITMENT, **commitment},
                                   policy=POLICY, uow=self.uow(buyer)).order

    def settle(self, order: Order) -> Order:
        self.market.pay(order)
        self.market.deliver_file(order)
        return self.market.accept(order)

    # -- fresh reads -----------------------------------------------------------------------

    def negotiation(self, negotiation_id: str) -> Negotiation:
        with self.market.rights.session_factory() as session:
            found = session.get(Negotiation, negotiation_id)
            assert found is not None
            session.expunge(found)
            return found

    def demand(self, demand_id: str) -> Demand:
        with self.market.rights.session_factory() as session:
            found = session.get(Demand, demand_id)
            assert found is not None
            session.expunge(found)
            return found

    def history(self, negotiation_id: str, party: Party) -> list[NegotiationEvent]:
        return matching.negotiation_history(negotiation_id, uow=self.uow(party))

    def contract(self, order_id: str) -> dict[str, Any]:
        with self.market.rights.session_factory() as session:
            return dict(session.scalars(select(Contract.document)
                                        .where(Contract.order_id == order_id)).one())

    def outbox(self, *topics: str) -> list[tuple[str, dict[str, Any]]]:
        return self.market.shop.outbox(*topics)

    def count(self, *models: Any) -> dict[str, int]:
        with self.market.rights.session_factory() as session:
            return {m.__tablename__: int(session.scalar(select(func.count()).select_from(m))
                                         or 0) for m in models}


@pytest.fixture(name="desk")
def desk_fixture(market: Market) -> Desk:
    return Desk(market)


# -- 1. hard constraints -------------------------------------------------------------------


def test_a_cross_border_demand_never_matches_a_domestic_only_listing(
        desk: Desk, market: Market) -> None:
    buyer = market.buyer()
    earlier = desk.post(buyer, cross_border=True)
    chain = desk.listed()  # TERMS: territory domestic (the policy says spatial eq CN)
    # listed after a cross-border demand: re-matching the new listing leaves it out
    assert matching.rematch_product(chain.product_id, policy=MATCH, uow=desk.system()) == 0
    assert desk.demand(earlier.demand.id).status == "open"

    abroad = desk.post(buyer, cross_border=True)  # posted after it: not matched either

    assert abroad.matches == []
    assert desk.demand(abroad.demand.id).status == "open"
    ranking = desk.rank(buyer, abroad.demand.id, explain=True)
    assert chain.product_id not in [c.product_id for c in ranking.candidates]
    miss = one(m for m in ranking.excluded if m.product_id == chain.product_id)
    reasons = {r["constraint"]: r["reason"] for r in miss.reasons}
    assert reasons[USE_RULE] == "the policy permits use in China only"
    assert reasons["ImportantDataAbroadNeedsSecurityAssessment"] == (
        "the usage terms allow domestic use only")
    # The same demand for use at home matches it: only the place of use excluded it.
    home = desk.post(buyer, cross_border=False)
    assert [m.product_id for m in home.matches] == [chain.product_id]


def test_a_demand_for_a_purpose_the_listing_does_not_permit_never_matches_nor_orders(
        desk: Desk, market: Market) -> None:
    chain = desk.listed()  # TERMS: purposes 信贷风控 only
    buyer = market.buyer()

    view = desk.post(buyer, purposes=["精准营销"])

    assert view.matches == []
    ranking = desk.rank(buyer, view.demand.id, explain=True)
    assert ranking.candidates == []
    miss = one(m for m in ranking.excluded if m.product_id == chain.product_id)
    assert {"constraint": USE_RULE,
            "reason": "purposes the policy does not permit: 精准营销"} in miss.reasons
    before = desk.count(Order)
    with pytest.raises(OrderRefused) as refused:
        market.place(chain, buyer, {"purposes": ["精准营销"]})
    assert rules_of(refused.value) == [USE_RULE]
    assert "精准营销" in refused.value.errors["rules"][0]["message"]
    assert desk.count(Order) == before
    # the permitted purpose orders
    assert market.place(chain, buyer).status == "awaiting_payment"


def test_terms_naming_a_purpose_the_policy_forbids_are_refused_in_negotiation_too(
        desk: Desk, market: Market) -> None:
    chain = desk.listed()
    buyer = market.buyer()
    before = desk.count(Negotiation, NegotiationEvent)

    with pytest.raises(AgreementRefused) as refused:
        desk.quote(chain, buyer, purposes=["精准营销"])

    assert [(v["rule"], v["message"]) for v in refused.value.violations] == [
        (USE_RULE, "purposes the policy does not permit: 精准营销")]
    assert desk.count(Negotiation, NegotiationEvent) == before
    asked = desk.quote(chain, buyer)
    desk.offer(asked.id, chain.grantee, amount=PRICE)
    with pytest.raises(AgreementRefused):  # nor can a counter bring the purpose in
        desk.counter(asked.id, buyer, amount=PRICE, purposes=["信贷风控", "精准营销"])
    assert desk.negotiation(asked.id).status == "offered"


def test_a_product_type_or_a_delivery_mode_not_wanted_excludes(
        desk: Desk, market: Market) -> None:
    chain = desk.listed(delivery_modes=["api"])  # a dataset delivered by API
    buyer = market.buyer()

    by_type = desk.post(buyer, product_types=["api_service"])
    by_mode = desk.post(buyer, delivery_modes=["sandbox"])
    wanted = desk.post(buyer, product_types=["dataset"], delivery_modes=["api"])

    assert by_type.matches == []
    assert by_mode.matches == []
    assert [m.product_id for m in wanted.matches] == [chain.product_id]
    assert one(desk.rank(buyer, by_type.demand.id, explain=True).excluded).reasons == (
        {"constraint": "product_type", "reason": "a dataset, not one of api_service"},)
    assert one(desk.rank(buyer, by_mode.demand.id, explain=True).excluded).reasons == (
        {"constraint": "delivery_mode", "reason": "delivered by api, not by sandbox"},)


def test_core_data_and_unconsented_personal_information_never_make_a_listing(
        desk: Desk, market: Market) -> None:
    """Such products never reach the catalogue (nor so matching's pool): the rights registry
    refuses a holding right on core data or on personal information without consent, and
    the listing gate refuses a seller declaring core data or personal information with no
    lawful basis."""
    rights = market.rights
    holder = rights.party("sensitive holder")
    for resource, reason in (
        (rights.resource(holder, classification=Classification.CORE), "core data"),
        (rights.resource(holder, pi_level=PILevel.PERSONAL), "no consent evidence"),
    ):
        with pytest.raises(RightRefused) as refused:
            rights.holding(holder, resource)
        assert reason in str(refused.value)
    for answers, rule in (
        ({"contains_core_data": True}, "CoreDataIsNeverTradable"),
        ({"contains_personal_information": True, "personal_information_basis": "none"},
         "PersonalInfoNeedsConsentOrAnonymisation"),
    ):
        chain = rights.chain("holder", "grantee")
        market.shop.draft(chain)
        with pytest.raises(ListingRefused) as blocked:
            market.shop.submit(chain, {**DECLARATION, **answers})
        assert rule in str(blocked.value.errors)
        assert market.shop.catalog(chain.product_id) is None


def test_core_data_and_unconsented_personal_information_are_excluded_by_the_engine(
        desk: Desk, market: Market) -> None:
    # Making such a listing through the real flow is impossible (the rights registry and
    # the listing gate block it, see the test above), so the candidate is a real listed one
    # with what the rules found about its data (or the seller's declaration) replaced by
    # hand, judged by the engine's own ``judge`` (compliance.screen with USE_RULES).
    chain = desk.listed()
    buyer = market.buyer()
    want = desk.post(buyer).demand.want()
    with desk.system() as uow:
        found = listing.candidate(chain.product_id, want.words, uow=uow)
    assert found is not None
    assert found.product_facts is not None
    record = trading.Fulfilment(0, 0)

    def exclusions(candidate: listing.Candidate) -> dict[str, str]:
        excluded, _, _ = engine.judge(want, candidate, credit=100, fulfilment=record,
                                      policy=MATCH)
        return {e.constraint: e.reason for e in excluded}

    assert exclusions(found) == {}  # the listing as it is passes
    core = dataclasses.replace(found, product_facts={**found.product_facts,
                                                     "classification": "core"})
    assert exclusions(core) == {
        "CoreDataIsNeverTradable": "a resource behind the product is classified as core data"}
    declared_core = dataclasses.replace(found, declaration={**found.declaration,
                                                            "contains_core_data": True})
    assert exclusions(declared_core) == {
        "CoreDataIsNeverTradable": "the seller declares core data"}
    personal = dataclasses.replace(found, product_facts={
        **found.product_facts, "pi_level": PILevel.PERSONAL.value, "consent_evidence": False})
    assert list(exclusions(personal)) == ["PersonalInfoNeedsConsentOrAnonymisation"]
    undeclared_basis = dataclasses.replace(found, declaration={
        **found.declaration, "contains_personal_information": True,
        "personal_information_basis": "none"})
    assert exclusions(undeclared_basis) == {
        "PersonalInfoNeedsConsentOrAnonymisation":
            "the seller declares personal information with no lawful basis"}
    consented = dataclasses.replace(
        found, product_facts={**found.product_facts, "pi_level": PILevel.PERSONAL.value,
                              "consent_evidence": True},
        declaration={**found.declaration, "contains_personal_information": True,
                     "personal_information_basis": "consent"})
    assert exclusions(consented) == {}  # personal information with consent on record


# -- 2. ranking by the documented weights --------------------------------------------------


def test_a_listing_over_budget_ranks_lower_by_exactly_the_budget_component(
        desk: Desk, market: Market) -> None:
    cheap = desk.listed(amount=100_000)
    dear = desk.listed(amount=150_000)  # same merchant, same text: only the price differs
    buyer = market.buyer()

    view = desk.post(buyer, budget_max=100_000)
    ranking = desk.rank(buyer, view.demand.id)

    assert [c.product_id for c in ranking.candidates] == [cheap.product_id, dear.product_id]
    a, b = ranking.candidates
    assert a.components["budget"] == 2000  # within budget: all 20 points
    assert b.components["budget"] == 1000  # 50% over budget: half of them
    assert {k: v for k, v in a.components.items() if k != "budget"} == {
        k: v for k, v in b.components.items() if k != "budget"}
    assert a.score - b.score == 1000
    assert (a.min_price, b.min_price) == (100_000, 150_000)


def test_a_region_match_beats_a_national_listing_which_beats_another_region(
        desk: Desk, market: Market) -> None:
    beijing = desk.listed(region="北京")
    national = desk.listed(region="全国")
    shanghai = desk.listed(region="上海")
    buyer = market.buyer()

    view = desk.post(buyer, region="上海")
    ranking = desk.rank(buyer, view.demand.id)

    assert [c.product_id for c in ranking.candidates] == [
        shanghai.product_id, national.product_id, beijing.product_id]
    assert [c.components["region"] for c in ranking.candidates] == [1000, 500, 0]
    scores = [c.score for c in ranking.candidates]
    assert [scores[0] - scores[1], scores[1] - scores[2]] == [500, 500]


def test_a_demand_for_fresher_data_ranks_a_stale_listing_lower(
        desk: Desk, market: Market) -> None:
    daily = desk.listed(update_frequency="每日更新")
    monthly = desk.listed(update_frequency="monthly")
    yearly = desk.listed(update_frequency="每年")
    buyer = market.buyer()

    view = desk.post(buyer, freshness="weekly")
    ranking = desk.rank(buyer, view.demand.id)

    by_id = {c.product_id: c.components["freshness"] for c in ranking.candidates}
    # at least as fresh: all 10 points; one level staler: half; more: none
    assert by_id == {daily.product_id: 1000, monthly.product_id: 500, yearly.product_id: 0}
    assert [c.product_id for c in ranking.candidates] == [
        daily.product_id, monthly.product_id, yearly.product_id]


def test_a_merchant_with_a_settled_trade_ranks_above_a_newcomer_by_the_fulfilment_component(
        desk: Desk, market: Market) -> None:
    seasoned = desk.listed()
    market.trade(seasoned)  # one order settled, none disputed: fulfilment 1
    newcomer = desk.listed("newcomer", "newcomer holder")  # no record yet: fulfilment 1/2
    buyer = market.buyer("demander")

    view = desk.post(buyer)
    ranking = desk.rank(buyer, view.demand.id)

    a, b = ranking.candidates
    assert (a.product_id, b.product_id) == (seasoned.product_id, newcomer.product_id)
    assert (a.components["fulfilment"], b.components["fulfilment"]) == (1000, 500)
    assert a.score - b.score == 500


def test_a_demand_worded_as_the_listing_scores_every_component_by_hand(
        desk: Desk, market: Market) -> None:
    chain = desk.listed()  # 上海, monthly, 1,000.00 CNY, a merchant with no record
    buyer = market.buyer()

    # the listing's own title and description: every one of the demand's words is in it
    view = desk.post(buyer, region="上海", freshness="monthly", budget_max=PRICE)

    match = one(view.matches)
    assert match.product_id == chain.product_id
    assert match.components == {"text": 4000, "budget": 2000, "region": 1000,
                                "freshness": 1000, "credit": 1000, "fulfilment": 500}
    assert match.score == 9500


def test_the_components_of_every_candidate_sum_to_its_score(
        desk: Desk, market: Market) -> None:
    desk.listed(amount=90_000)
    desk.listed("other merchant", "other holder", amount=260_000, region="北京",
                title="企业用电指数", description="企业季度用电", update_frequency="quarterly")
    desk.listed(amount=180_000, region="全国", title="园区能耗数据",
                description="工业园区企业能耗与用电监测")
    buyer = market.buyer()

    view = desk.post(buyer, budget_max=150_000, freshness="monthly")
    ranking = desk.rank(buyer, view.demand.id)

    assert len(ranking.candidates) == 3
    assert len({c.score for c in ranking.candidates}) == 3  # the cases differ
    for c in ranking.candidates:
        assert list(c.components) == list(matching.Weights.NAMES)
        assert sum(c.components.values()) == c.score
        assert all(0 <= c.components[n] <= w * 100 for n, w in MATCH.weights.as_dict().items())
    assert [c.score for c in ranking.candidates] == sorted(
        (c.score for c in ranking.candidates), reverse=True)
    stored = {m.product_id: m for m in view.matches}
    for c in ranking.candidates:  # what was kept at posting is what the ranking says now
        assert stored[c.product_id].score == c.score == sum(stored[c.product_id]
                                                            .components.values())
        assert stored[c.product_id].components == c.components


# -- 3. determinism ------------------------------------------------------------------------


def test_ranking_the_same_demand_twice_gives_the_same_order_and_scores(
        desk: Desk, market: Market) -> None:
    for merchant, holder in (("grantee", "holder"), ("second", "second holder")):
        desk.listed(merchant, holder)  # ties: same text, price, region, record
        desk.listed(merchant, holder, amount=150_000)
    desk.listed(region="北京")
    buyer = market.buyer()
    view = desk.post(buyer, budget_max=100_000)

    def ranked() -> list[tuple[str, int, dict[str, int], int]]:
        return [(c.product_id, c.score, c.components, c.catalogue_rank)
                for c in desk.rank(buyer, view.demand.id).candidates]

    first, second = ranked(), ranked()

    assert first == second
    assert len(first) == 5
    assert len({score for _, score, _, _ in first}) < len(first)  # there are ties to break
    keys = [(-score, rank, pid) for pid, score, _, rank in first]
    assert keys == sorted(keys)  # score, then the catalogue's rank, then the product id
    assert {(m.product_id, m.score) for m in view.matches} == {(p, s) for p, s, _, _ in first}


# -- 4. negotiation ------------------------------------------------------------------------


def test_a_negotiation_runs_request_offer_counters_and_agreement_with_history(
        desk: Desk, market: Market) -> None:
    chain = desk.listed()
    merchant, buyer = chain.grantee, market.buyer()

    asked = desk.quote(chain, buyer, quantity=1)
    assert (asked.status, asked.proposed_by, asked.round, asked.channel) == (
        "requested", "buyer", 0, "negotiation")
    offered = desk.offer(asked.id, merchant, amount=120_000, delivery_modes=["file"])
    assert (offered.status, offered.proposed_by, offered.round) == ("offered", "merchant", 1)
    countered = desk.counter(asked.id, buyer, amount=90_000)
    assert (countered.status, countered.proposed_by, countered.round) == (
        "countered", "buyer", 2)
    again = desk.counter(asked.id, merchant, amount=100_000, term_days=180)
    assert (again.status, again.proposed_by, again.round) == ("countered", "merchant", 3)
    agreed = desk.agree(asked.id, buyer)

    assert agreed.status == "agreed"
    assert agreed.private_offer_id is not None
    assert agreed.decision_id is not None
    assert agreed.expires_at == desk.clock.now() + MATCH.private_offer_ttl
    assert agreed.terms["amount"] == 100_000
    assert agreed.terms["term_days"] == 180
    history = desk.history(asked.id, buyer)
    assert [(e.action, e.from_status, e.to_status) for e in history] == [
        ("requested", None, "requested"), ("offered", "requested", "offered"),
        ("countered", "offered", "countered"), ("countered", "countered", "countered"),
        ("agreed", "countered", "agreed")]
    assert [(e.terms or {}).get("amount") for e in history] == [
        None, 120_000, 90_000, 100_000, 100_000]
    assert all(e.terms is not None and e.terms["purposes"] == ["信贷风控"] for e in history)
    assert [e.actor_org_id for e in history] == [
        buyer.org_id, merchant.org_id, buyer.org_id, merchant.org_id, buyer.org_id]
    # the private offer carries the agreed terms, for the buyer alone
    with desk.system() as uow:
        sale = listing.on_sale(chain.product_id, offer_id=agreed.private_offer_id,
                               buyer_org_id=buyer.org_id, uow=uow)
    assert sale.offer is not None
    assert (sale.offer.amount, sale.offer.buyer_org_id, sale.offer.negotiation_id) == (
        100_000, buyer.org_id, asked.id)
    assert sale.delivery_modes == ("file",)
    assert sale.terms["duration_days"] == 180
    assert sale.terms["purposes"] == ["信贷风控"]


def test_forbidden_negotiation_moves_raise_and_record_nothing(
        desk: Desk, market: Market) -> None:
    chain = desk.listed()
    merchant, buyer, stranger = chain.grantee, market.buyer(), market.buyer("stranger")
    asked = desk.quote(chain, buyer)

    with pytest.raises(NotYourTurn):  # a buyer does not make the merchant's offer
        desk.offer(asked.id, buyer, amount=100_000)
    with pytest.raises(InvalidTransition):  # nothing offered yet to agree to
        desk.agree(asked.id, merchant)
    with pytest.raises(InvalidTransition):  # nor to counter
        desk.counter(asked.id, merchant, amount=100_000)
    with pytest.raises(NegotiationNotFound):  # not a party
        desk.offer(asked.id, stranger, amount=100_000)
    desk.offer(asked.id, merchant, amount=120_000)
    with pytest.raises(NotYourTurn):  # the proposer answers itself
        desk.counter(asked.id, merchant, amount=110_000)
    with pytest.raises(NotYourTurn):
        desk.agree(asked.id, merchant)
    with pytest.raises(InvalidTransition):  # an offer is made once
        desk.offer(asked.id, merchant, amount=110_000)
    desk.agree(asked.id, buyer)
    with pytest.raises(InvalidTransition):  # agreed: no more terms
        desk.counter(asked.id, merchant, amount=110_000)

    assert [e.action for e in desk.history(asked.id, buyer)] == [
        "requested", "offered", "agreed"]
    assert desk.negotiation(asked.id).terms["amount"] == 120_000


def test_countering_after_the_negotiation_expired_raises_negotiation_expired(
        desk: Desk, market: Market) -> None:
    chain = desk.listed()
    merchant, buyer = chain.grantee, market.buyer()
    asked = desk.quote(chain, buyer)
    offered = desk.offer(asked.id, merchant, amount=120_000)
    assert offered.expires_at == desk.clock.now() + MATCH.negotiation_window

    desk.clock.advance(MATCH.negotiation_window + timedelta(seconds=1))

    with pytest.raises(NegotiationExpired):
        desk.counter(asked.id, buyer, amount=100_000)
    with pytest.raises(NegotiationExpired):
        desk.agree(asked.id, buyer)
    assert desk.negotiation(asked.id).status == "offered"  # until the worker expires it
    done = matching.run_matching_deadlines(desk.system)
    assert done.negotiations_expired == [asked.id]
    assert desk.negotiation(asked.id).status == "expired"
    last = desk.history(asked.id, buyer)[-1]
    assert (last.action, last.from_status, last.to_status, last.reason) == (
        "expired", "offered", "expired", "no answer in time")


def test_the_deadlines_expire_open_negotiations_past_deadline_demands_and_late_agreements(
        desk: Desk, market: Market) -> None:
    chain = desk.listed()
    merchant, buyer = chain.grantee, market.buyer()
    soon = desk.post(buyer, deadline=desk.clock.now() + 2 * DAY)
    later = desk.post(buyer, deadline=desk.clock.now() + 30 * DAY)
    open_one = desk.quote(chain, buyer)
    agreed = desk.agreed(chain, buyer)
    assert [desk.demand(d.demand.id).status for d in (soon, later)] == ["matched", "matched"]

    desk.clock.advance(4 * DAY)  # past the 2-day deadline and the 72-hour window
    first = matching.run_matching_deadlines(desk.system)

    assert first.demands_expired == [soon.demand.id]
    assert first.negotiations_expired == [open_one.id]
    assert desk.demand(soon.demand.id).status == "expired"
    assert desk.demand(later.demand.id).status == "matched"
    assert desk.negotiation(open_one.id).status == "expired"
    assert desk.negotiation(agreed.id).status == "agreed"  # 7 days to order it
    assert desk.outbox("demand.expired") == [("demand.expired", {
        "demand_id": soon.demand.id, "buyer_org_id": buyer.org_id})]
    assert matching.run_matching_deadlines(desk.system) == matching.MatchingDeadlines([], [])

    desk.clock.advance(4 * DAY)  # the agreement's private offer has expired unordered
    second = matching.run_matching_deadlines(desk.system)
    assert second.negotiations_expired == [agreed.id]
    assert desk.negotiation(agreed.id).status == "expired"
    assert desk.history(agreed.id, merchant)[-1].reason == "not ordered in time"


# -- 5. private offers ---------------------------------------------------------------------


def test_a_private_offer_is_seen_and_ordered_by_its_buyer_alone(
        desk: Desk, market: Market) -> None:
    chain = desk.listed()  # public offer at PRICE
    buyer, other = market.buyer(), market.buyer("other")
    agreed = desk.agreed(chain, buyer, amount=80_000)
    offer_id = agreed.private_offer_id
    assert offer_id is not None

    # not among the product's public offers, nor in the catalogue's price
    public = market.shop.catalog(chain.product_id)
    assert public is not None
    assert offer_id not in [o.id for o in public.listed_offers]
    assert [o.amount for o in public.listed_offers] == [PRICE]
    public_offer = public.listed_offers[0].id
    with market.rights.session_factory() as session:  # re-index as a listing change would
        catalog.refresh(session, chain.product_id)
        session.commit()
    found = listing.search_catalog("企业用电风险指数", listing.CatalogFilters(),
                                   sort="relevance", offset=0, limit=10, facets=False,
                                   uow=desk.anonymous())
    entry = one(e for e in found.items if e.product_id == chain.product_id)
    assert entry.min_price == PRICE
    # another buyer can neither order it nor ask about it
    with pytest.raises(OfferNotFound):
        desk.order_offer(chain, offer_id, other)
    with pytest.raises(OfferNotFound):
        matching.request_quote(chain.product_id, USE, policy=MATCH, uow=desk.uow(other),
                               offer_id=offer_id)

    order = desk.order_offer(chain, offer_id, buyer)  # trading.place_order, unchanged

    assert (order.offer_id, order.amount, order.status) == (offer_id, 80_000,
                                                            "awaiting_payment")
    ordered = desk.negotiation(agreed.id)
    assert (ordered.status, ordered.order_id) == ("ordered", order.id)
    assert desk.contract(order.id)["origin"] == {
        "channel": "negotiation", "private_offer": True, "negotiation_id": agreed.id,
        "demand_id": None, "broker_org_id": None, "commission_bps": None}
    with pytest.raises(SoldOut):  # it sells one unit
        desk.order_offer(chain, offer_id, buyer)
    assert desk.order_offer(chain, public_offer, other).amount == PRICE  # public: unchanged


def test_ordering_a_private_offer_after_it_expired_raises_offer_expired(
        desk: Desk, market: Market) -> None:
    chain = desk.listed()
    buyer = market.buyer()
    agreed = desk.agreed(chain, buyer)

    desk.clock.advance(MATCH.private_offer_ttl + timedelta(seconds=1))

    before = desk.count(Order)
    with pytest.raises(OfferExpired):
        desk.order_offer(chain, agreed.private_offer_id, buyer)
    assert desk.count(Order) == before
    assert desk.negotiation(agreed.id).status == "agreed"


# -- 6. an edited policy binds ordering ----------------------------------------------------


def test_a_policy_revised_to_forbid_a_purpose_refuses_that_purpose_at_ordering(
        desk: Desk, market: Market) -> None:
    chain = desk.listed()
    buyer = market.buyer()
    assert market.place(chain, buyer).status == "awaiting_payment"  # 信贷风控 permitted

    market.shop.revise(chain, terms=dataclasses.replace(TERMS, purposes=("精准营销",)),
                       delivery_modes=["file", "api"])
    market.shop.submit(chain)
    market.shop.claim(chain.product_id)
    market.shop.decide(chain.product_id, "list")
    assert market.shop.statuses(chain.product_id)[-1] == "listed"
    assert market.shop.product(chain.product_id).listed_version_id == (
        market.shop.versions(chain.product_id)[-1].id)

    with pytest.raises(OrderRefused) as refused:
        market.place(chain, buyer)  # COMMITMENT: purposes 信贷风控
    assert rules_of(refused.value) == [USE_RULE]
    assert refused.value.errors["rules"][0]["message"] == (
        "purposes the policy does not permit: 信贷风控")
    assert market.place(chain, buyer, {"purposes": ["精准营销"]}).status == "awaiting_payment"
    # matching reads the same published policy
    old = desk.post(buyer)
    new = desk.post(buyer, purposes=["精准营销"])
    assert old.matches == []
    assert [m.product_id for m in new.matches] == [chain.product_id]


# -- 7. brokers ----------------------------------------------------------------------------


def _broker_deal(desk: Desk, market: Market) -> tuple[Chain, Party, Party, Negotiation]:
    """A broker posts a demand for a buyer and proposes a listing at 5% commission; both
    parties accept; the merchant offers 1,000.00 CNY."""
    chain = desk.listed()
    buyer, broker = market.buyer(), market.rights.party("broker", "broker")
    demand = matching.post_demand(desk.demand_input(delivery_modes=["file"]), policy=MATCH,
                                  uow=desk.uow(broker), buyer_org_id=buyer.org_id)
    assert demand.demand.posted_by_org_id == broker.org_id
    assert demand.demand.buyer_org_id == buyer.org_id
    proposed = matching.propose_match(demand.demand.id, chain.product_id, commission_bps=500,
                                      policy=MATCH, uow=desk.uow(broker)).negotiation
    assert (proposed.status, proposed.channel, proposed.broker_org_id) == (
        "proposed", "broker", broker.org_id)
    with pytest.raises(NotYourTurn):  # the broker does not accept its own proposal
        matching.accept_proposal(proposed.id, policy=MATCH, uow=desk.uow(broker))
    half = matching.accept_proposal(proposed.id, policy=MATCH, uow=desk.uow(buyer))
    assert half.negotiation.status == "proposed"
    assert half.negotiation.buyer_accepted
    both = matching.accept_proposal(proposed.id, policy=MATCH, uow=desk.uow(chain.grantee))
    assert (both.negotiation.status, both.negotiation.proposed_by) == ("requested", "buyer")
    offered = desk.offer(proposed.id, chain.grantee, amount=PRICE, delivery_modes=["file"])
    assert offered.status == "offered"
    return chain, buyer, broker, offered


def _settle_brokered(desk: Desk, market: Market, chain: Chain, buyer: Party, broker: Party,
                     agreed: Negotiation) -> None:
    """Order the brokered agreement, pay, deliver, accept; check the split and the filing."""
    order = desk.settle(desk.order_offer(chain, agreed.private_offer_id, buyer))
    assert order.status == "settled"

    lines = {(a.role, a.org_id): a.amount for a in market.allocations(order.id)}
    # 1,000.00 CNY: platform fee 1% = 1,000; net 99,000; holder 10% and processor 10% of
    # the net = 9,900 each; the merchant's 80% (79,200) less the broker's 5% (4,950).
    assert lines == {
        ("platform", "platform"): 1_000,
        ("resource_holder", chain.holder.org_id): 9_900,
        ("processor", chain.grantee.org_id): 9_900,
        ("merchant", chain.grantee.org_id): 74_250,
        ("broker", broker.org_id): 4_950,
    }
    assert sum(lines.values()) == PRICE
    filing = one(market.filings(order.id))
    assert filing.channel == "broker"
    assert filing.origin is not None
    assert (filing.origin["broker_org_id"], filing.origin["commission_bps"],
            filing.origin["negotiation_id"], filing.origin["demand_id"]) == (
        broker.org_id, 500, agreed.id, agreed.demand_id)
    assert desk.negotiation(agreed.id).status == "ordered"
    assert agreed.demand_id is not None
    assert desk.demand(agreed.demand_id).status == "converted"


def test_a_brokered_deal_the_buyer_agrees_to_pays_the_broker_from_the_merchants_share(
        desk: Desk, market: Market) -> None:
    chain, buyer, broker, offered = _broker_deal(desk, market)

    agreed = attempt(lambda: desk.agree(offered.id, buyer))

    # The merchant's split is read on the buyer's behalf to check the commission.
    assert not isinstance(agreed, ProductNotFound), agreed
    assert isinstance(agreed, Negotiation), agreed
    assert agreed.status == "agreed"
    _settle_brokered(desk, market, chain, buyer, broker, agreed)


def test_a_brokered_deal_the_merchant_agrees_to_pays_the_broker_from_the_merchants_share(
        desk: Desk, market: Market) -> None:
    chain, buyer, broker, offered = _broker_deal(desk, market)
    desk.counter(offered.id, buyer, amount=PRICE, term_days=365)  # the merchant answers last

    agreed = desk.agree(offered.id, chain.grantee)

    assert agreed.status == "agreed"
    _settle_brokered(desk, market, chain, buyer, broker, agreed)


def test_a_commission_above_the_merchants_share_is_refused_at_agreement(
        desk: Desk, market: Market) -> None:
    chain = desk.listed()
    buyer, broker = market.buyer(), market.rights.party("broker", "broker")
    demand = desk.post(buyer)
    proposed = matching.propose_match(demand.demand.id, chain.product_id, commission_bps=9000,
                                      policy=MATCH, uow=desk.uow(broker)).negotiation
    for party in (buyer, chain.grantee):
        matching.accept_proposal(proposed.id, policy=MATCH, uow=desk.uow(party))
    desk.offer(proposed.id, chain.grantee, amount=PRICE)
    desk.counter(proposed.id, buyer, amount=PRICE)

    with pytest.raises(InvalidInput) as invalid:  # the merchant's share is 8,000 bps
        desk.agree(proposed.id, chain.grantee)
    assert "commission_bps" in invalid.value.errors
    assert desk.negotiation(proposed.id).status == "countered"
    assert desk.negotiation(proposed.id).private_offer_id is None


def test_a_broker_sees_only_the_negotiations_it_brokers(desk: Desk, market: Market) -> None:
    chain = desk.listed()
    buyer = market.buyer()
    broker, rival = (market.rights.party("broker", "broker"),
                     market.rights.party("rival broker", "broker"))
    demand = desk.post(buyer)
    proposed = matching.propose_match(demand.demand.id, chain.product_id, commission_bps=300,
                                      policy=MATCH, uow=desk.uow(broker)).negotiation
    own = desk.quote(chain, buyer)  # a plain negotiation no broker is part of

    mine = matching.list_negotiations(uow=desk.uow(broker))
    assert [n.id for n in mine.items] == [proposed.id]
    assert list(matching.list_negotiations(uow=desk.uow(rival)).items) == []
    assert {n.id for n in matching.list_negotiations(uow=desk.uow(buyer)).items} == {
        proposed.id, own.id}
    for call in (
        lambda: matching.get_negotiation(proposed.id, uow=desk.uow(rival)),
        lambda: matching.negotiation_history(proposed.id, uow=desk.uow(rival)),
        lambda: matching.accept_proposal(proposed.id, policy=MATCH, uow=desk.uow(rival)),
        lambda: matching.get_negotiation(own.id, uow=desk.uow(broker)),
    ):
        with pytest.raises(NegotiationNotFound):
            call()
    assert matching.get_negotiation(proposed.id, uow=desk.uow(broker)).negotiation.id == (
        proposed.id)
    with pytest.raises(NotABroker):  # only brokers propose
        matching.propose_match(demand.demand.id, chain.product_id, commission_bps=300,
                               policy=MATCH, uow=desk.uow(buyer))


# -- 8. a demand converted by an order -----------------------------------------------------


def test_a_demand_answered_by_a_merchant_is_converted_by_the_order_filed_as_a_match(
        desk: Desk, market: Market) -> None:
    chain = desk.listed()
    merchant, buyer = chain.grantee, market.buyer()
    view = desk.post(buyer, delivery_modes=["file"])
    assert desk.demand(view.demand.id).status == "matched"

    answered = matching.answer_demand(view.demand.id, chain.product_id, {"amount": 95_000},
                                      policy=MATCH, uow=desk.uow(merchant)).negotiation
    assert (answered.status, answered.channel, answered.demand_id, answered.proposed_by) == (
        "offered", "match", view.demand.id, "merchant")
    assert answered.terms["purposes"] == ["信贷风控"]  # the demand's use is on the table
    assert answered.terms["delivery_modes"] == ["file"]
    agreed = desk.agree(answered.id, buyer)
    order = desk.order_offer(chain, agreed.private_offer_id, buyer)

    assert desk.demand(view.demand.id).status == "converted"
    assert desk.negotiation(answered.id).status == "ordered"
    assert desk.outbox("demand.converted") == [("demand.converted", {
        "demand_id": view.demand.id, "order_id": order.id, "buyer_org_id": buyer.org_id})]
    assert [e.action for e in matching.demand_history(view.demand.id, uow=desk.uow(buyer))] == [
        "posted", "matched", "converted"]
    desk.settle(order)
    filing = one(market.filings(order.id))
    assert filing.channel == "match"
    assert filing.origin is not None
    assert (filing.origin["demand_id"], filing.origin["negotiation_id"]) == (
        view.demand.id, answered.id)
    assert filing.amount == 95_000


# -- 9. events -----------------------------------------------------------------------------


def test_posting_a_demand_that_matches_writes_matched_and_candidate_added(
        desk: Desk, market: Market) -> None:
    first, second = desk.listed(), desk.listed(region="北京")
    buyer = market.buyer()
    topics = ("demand.matched", "demand.candidate_added")
    assert desk.outbox(*topics) == []

    view = desk.post(buyer)

    found = desk.outbox(*topics)
    matched = [p for t, p in found if t == "demand.matched"]
    added = [p for t, p in found if t == "demand.candidate_added"]
    assert matched == [{"demand_id": view.demand.id, "buyer_org_id": buyer.org_id,
                        "product_ids": [first.product_id, second.product_id]}]
    scores = {m.product_id: m.score for m in view.matches}
    assert sorted(added, key=lambda p: p["product_id"]) == sorted((
        {"demand_id": view.demand.id, "product_id": c.product_id,
         "buyer_org_id": buyer.org_id, "merchant_org_id": c.grantee.org_id,
         "score": scores[c.product_id]} for c in (first, second)),
        key=lambda p: str(p["product_id"]))
    assert desk.demand(view.demand.id).status == "matched"


def test_rematch_product_adds_a_newly_listed_product_to_a_live_demand(
        desk: Desk, market: Market) -> None:
    buyer = market.buyer()
    live = desk.post(buyer)
    closed = desk.post(buyer)
    matching.close_demand(closed.demand.id, "不再需要", uow=desk.uow(buyer))
    unrelated = desk.post(buyer, title="医疗影像", description="三甲医院影像标注",
                          sector="healthcare")
    assert live.matches == []
    assert desk.demand(live.demand.id).status == "open"
    chain = desk.listed()  # listed after the demands were posted
    before = desk.outbox("demand.candidate_added")

    took = matching.rematch_product(chain.product_id, policy=MATCH, uow=desk.system())

    assert took == 1
    added = desk.outbox("demand.candidate_added")[len(before):]
    assert [(p["demand_id"], p["product_id"]) for _, p in added] == [
        (live.demand.id, chain.product_id)]
    view = matching.get_demand(live.demand.id, uow=desk.uow(buyer))
    assert [m.product_id for m in view.matches] == [chain.product_id]
    assert view.demand.status == "matched"
    assert desk.outbox("demand.matched") == [("demand.matched", {
        "demand_id": live.demand.id, "buyer_org_id": buyer.org_id,
        "product_ids": [chain.product_id]})]
    assert desk.demand(closed.demand.id).status == "closed"
    assert desk.demand(unrelated.demand.id).status == "open"
    # once is enough
    assert matching.rematch_product(chain.product_id, policy=MATCH, uow=desk.system()) == 0
    assert len(desk.outbox("demand.candidate_added")) == len(before) + 1


def test_a_listing_sharing_no_word_with_a_demand_never_matches_it_whichever_came_first(
        desk: Desk, market: Market) -> None:
    buyer = market.buyer()
    unrelated = {"title": "医疗影像", "description": "三甲医院影像标注",
                 "sector": "healthcare"}  # no word in common with 企业用电风险指数
    early = desk.post(buyer, **unrelated)
    chain = desk.listed()  # listed after the first demand, before the second

    # Listed after the demand: it is not taken.
    assert matching.rematch_product(chain.product_id, policy=MATCH, uow=desk.system()) == 0
    assert desk.demand(early.demand.id).status == "open"

    late = desk.post(buyer, **unrelated)

    # Posted after the listing: it is no candidate either.
    assert [m.product_id for m in late.matches] == []
    assert desk.rank(buyer, late.demand.id).candidates == []
    assert desk.demand(late.demand.id).status == "open"


def test_announce_listing_tells_a_saved_search_once(desk: Desk, market: Market) -> None:
    buyer = market.buyer()
    search = matching.save_search("用电指数", "用电风险", {"sector": "finance"},
                                  uow=desk.uow(buyer))
    elsewhere = matching.save_search("北京的", "用电风险", {"region": "北京"},
                                     uow=desk.uow(buyer))
    chain = desk.listed()  # 上海

    assert matching.announce_listing(chain.product_id, uow=desk.system()) == 1
    told = desk.outbox("saved_search.matched")
    assert told == [("saved_search.matched", {
        "saved_search_id": search.id, "org_id": buyer.org_id, "product_id": chain.product_id,
        "title": "企业用电风险指数"})]

    assert matching.announce_listing(chain.product_id, uow=desk.system()) == 0
    assert desk.outbox("saved_search.matched") == told
    assert desk.count(SavedSearchHit) == {"saved_search_hits": 1}
    assert elsewhere.id != search.id


# -- 10. bad input writes nothing ----------------------------------------------------------


@pytest.mark.parametrize(("change", "field"), [
    ({"budget_min": 300_000, "budget_max": 200_000}, "budget_max"),
    ({"deadline": "past"}, "deadline"),
    ({"deadline": "now"}, "deadline"),
    ({"visibility": "invited", "invited_org_ids": []}, "invited_org_ids"),
])
def test_a_bad_demand_raises_invalid_input_and_writes_nothing(
        desk: Desk, market: Market, change: dict[str, Any], field: str) -> None:
    desk.listed()  # a valid demand would match it and write its matches and events
    buyer = market.buyer()
    now = desk.clock.now()
    deadlines = {"past": now - timedelta(seconds=1), "now": now}
    if "deadline" in change:
        change = {"deadline": deadlines[change["deadline"]]}
    tables = (Demand, DemandEvent, DemandMatch, OutboxMessage)
    before, audit = desk.count(*tables), market.rights.audit_seq()

    with pytest.raises(InvalidInput) as invalid:
        desk.post(buyer, **change)

    assert list(invalid.value.errors) == [field]
    assert desk.count(*tables) == before
    assert market.rights.audit_seq() == audit


def test_inviting_an_organisation_that_is_not_a_merchant_writes_nothing(
        desk: Desk, market: Market) -> None:
    buyer, another_buyer = market.buyer(), market.buyer("another")
    tables = (Demand, DemandEvent, DemandMatch, OutboxMessage)
    before = desk.count(*tables)

    with pytest.raises(InvalidInput) as invalid:
        desk.post(buyer, visibility="invited", invited_org_ids=[another_buyer.org_id])

    assert invalid.value.errors == {"invited_org_ids": [
        f"not merchants: {another_buyer.org_id}"]}
    assert desk.count(*tables) == before




def test_the_worker_offers_a_newly_listed_product_to_live_demands_and_saved_searches(
        desk: Desk, market: Market, settings: Settings) -> None:
    """The worker's consumer of ``listing.listed`` is real: draining the outbox after a
    listing matches it to the demand posted before it and tells the saved search."""
    buyer = market.buyer()
    live = desk.post(buyer)
    search = matching.save_search("用电指数", "用电风险", {}, uow=desk.uow(buyer))
    desk.listed()
    worker = Worker(market.rights.session_factory, desk.clock,
                    consumers(market.rights.session_factory, settings))
    assert consumers(market.rights.session_factory, settings)["listing.listed"] \
        is not noop_consumer

    while worker.drain_once(100).claimed:
        pass

    assert desk.demand(live.demand.id).status == "matched"
    told = [p for _, p in desk.outbox("saved_search.matched")]
    assert [p["saved_search_id"] for p in told] == [search.id]


def test_a_better_listing_displaces_the_lowest_match_of_a_full_top(
        desk: Desk, market: Market) -> None:
    buyer = market.buyer()
    far = desk.listed("far", "far holder", region="北京")  # scores less: another region
    view = desk.post(buyer)
    assert [m.product_id for m in view.matches] == [far.product_id]
    near = desk.listed("near", "near holder")  # 上海, as the demand asks
    one = dataclasses.replace(MATCH, top=1)

    assert matching.rematch_product(near.product_id, policy=one, uow=desk.system()) == 1

    kept = matching.get_demand(view.demand.id, uow=desk.uow(buyer)).matches
    assert [m.product_id for m in kept] == [near.product_id]
