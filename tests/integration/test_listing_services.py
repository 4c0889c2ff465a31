"""Listing use cases against the database: the lifecycle of a product's versions, submission
over the rights chain with the seller's declaration, review, new versions while the old one
stays on sale, and the rights cascade reaching listings in the same transaction.

Every product here rests on a real chain built through the rights services (resource →
holding right → grant → processing use → product operation right naming the product); the
listing merchant is the chain's grantee, which adopts the product id of its right.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import rfc8785
from sqlalchemy import func, select

from market import wiring
from market.compliance.domain import RULESET_VERSION, rule_names
from market.compliance.models import Decision, Declaration
from market.kernel import events
from market.kernel.actor import ANONYMOUS
from market.kernel.audit import verify_chain
from market.kernel.errors import (
    Conflict,
    InvalidInput,
    InvalidTransition,
    MarketError,
    RoleNotAllowed,
)
from market.kernel.outbox import OutboxMessage
from market.kernel.uow import UnitOfWork
from market.listing import services
from market.listing.domain import (
    DevelopmentLevel,
    ListingStatus,
    OfferKind,
    OfferSpec,
    ProductType,
    UsageTerms,
)
from market.listing.errors import (
    ListingRefused,
    NotTheMerchant,
    ProductNotFound,
    ReviewClaimedByOther,
    ReviewerIsMerchant,
    VersionInReview,
)
from market.listing.models import ListingEvent, Offer, Product, ProductVersion
from market.rights import services as rights_services
from market.rights.domain import Classification, RightStatus
from tests.conftest import Party
from tests.integration.rights_fixtures import (  # noqa: F401
    Chain,
    RightsWorld,
    rights_fixture,
    signer_fixture,
)

S = ListingStatus
K = OfferKind

TERMS = UsageTerms(purposes=("信贷风控",), scenarios=("小微企业授信",), territory="domestic",
                   duration_days=365, onward_transfer=False, resale=False, max_users=5,
                   attribution=None)
DECLARATION: dict[str, Any] = {
    "statement": "本公司承诺所售数据来源合法、权属清晰，不含核心数据。",
    "source_is_lawful": True, "contains_personal_information": False,
    "contains_important_data": False, "contains_core_data": False,
    "source_basis": "self_collected", "personal_information_basis": "none",
    "cross_border": False, "third_party_rights_cleared": True,
    "security_measures": ["分级访问控制", "传输加密"], "scenarios": ["企业信用评估"],
    "onward_transfer_commitment": True,
    "commitments": ["按约定用途使用", "不转售"],
}


@pytest.fixture(autouse=True)
def _wired() -> None:
    """Rights events reach listing as they do in the app and the CLI."""
    wiring.connect()


@dataclass(frozen=True)
class Counts:
    products: int
    versions: int
    offers: int
    listing_events: int
    outbox: int
    audit: int
    declarations: int = 0
    decisions: int = 0

    def with_refusal(self) -> Counts:
        """What a refused submission adds: its decision and that decision's audit entry."""
        return dataclasses.replace(self, decisions=self.decisions + 1, audit=self.audit + 1)


@dataclass
class Shop:
    """Listing builders and fresh reads over a :class:`RightsWorld`."""

    rights: RightsWorld

    def uow(self, party: Party) -> UnitOfWork:
        return self.rights.uow(party)

    def input(self, chain: Chain | None, **overrides: Any) -> services.ProductInput:
        values: dict[str, Any] = {
            "title": "企业用电风险指数", "description": "按月更新的企业用电景气与风险指数",
            "type": ProductType.DATASET, "development_level": DevelopmentLevel.MODELLED,
            "sector": "finance", "region": "上海", "update_frequency": "monthly",
            "scenarios": ["小微企业授信"], "delivery_modes": ["api"],
            "derived_from": [chain.resource.id] if chain else [], "terms": TERMS,
            "offers": [("标准版", OfferSpec(K.ONE_TIME, amount=100_000))],
        }
        values.update(overrides)
        return services.ProductInput(**values)

    def draft(self, chain: Chain, **overrides: Any) -> services.ProductView:
        return services.create_product(self.input(chain, **overrides),
                                       uow=self.uow(chain.grantee),
                                       product_id=chain.product_id)

    def revise(self, chain: Chain, **overrides: Any) -> services.ProductView:
        return services.revise_product(chain.product_id, self.input(chain, **overrides),
                                       uow=self.uow(chain.grantee))

    def submit(self, chain: Chain, declaration: Mapping[str, Any] = DECLARATION
               ) -> services.ProductView:
        return services.submit_listing(chain.product_id, declaration,
                                       uow=self.uow(chain.grantee))

    def claim(self, product_id: str, reviewer: Party | None = None) -> services.ProductView:
        return services.claim_review(product_id, uow=self.uow(reviewer or self.rights.operator))

    def decide(self, product_id: str, decision: str = "list", reviewer: Party | None = None,
               reason: str = "材料齐全") -> services.ProductView:
        return services.decide_review(product_id, decision, reason,
                                      uow=self.uow(reviewer or self.rights.operator))

    def review(self, product_id: str, decision: str = "list") -> services.ProductView:
        self.claim(product_id)
        return self.decide(product_id, decision)

    def status(self, product_id: str, target: S, party: Party | None = None,
               reason: str = "运营处置") -> services.ProductView:
        return services.change_listing_status(product_id, target, reason,
                                              uow=self.uow(party or self.rights.operator))

    def listed(self, chain: Chain | None = None, **overrides: Any) -> Chain:
        chain = chain or self.rights.chain()
        self.draft(chain, **overrides)
        self.submit(chain)
        self.review(chain.product_id)
        return chain

    # -- fresh reads -------------------------------------------------------------------

    def versions(self, product_id: str) -> list[ProductVersion]:
        with self.rights.session_factory() as session:
            return list(session.scalars(select(ProductVersion)
                                        .where(ProductVersion.product_id == product_id)
                                        .order_by(ProductVersion.number)))

    def statuses(self, product_id: str) -> list[str]:
        return [v.status for v in self.versions(product_id)]

    def product(self, product_id: str) -> Product:
        with self.rights.session_factory() as session:
            product = session.get(Product, product_id)
            assert product is not None
            return product

    def offers(self, version_id: str) -> list[tuple[str, str, int | None]]:
        with self.rights.session_factory() as session:
            return [(o.name, o.kind, o.amount) for o in session.scalars(
                select(Offer).where(Offer.version_id == version_id).order_by(Offer.name))]

    def events(self, product_id: str) -> list[tuple[int, str, str | None, str]]:
        with self.rights.session_factory() as session:
            rows = session.execute(
                select(ProductVersion.number, ListingEvent.action, ListingEvent.from_status,
                       ListingEvent.to_status)
                .join(ProductVersion, ProductVersion.id == ListingEvent.version_id)
                .where(ProductVersion.product_id == product_id)
                .order_by(ListingEvent.id))
            return [tuple(row) for row in rows]  # type: ignore[misc]

    def outbox(self, *topics: str) -> list[tuple[str, dict[str, Any]]]:
        with self.rights.session_factory() as session:
            return [(m.topic, m.payload) for m in session.scalars(
                select(OutboxMessage).where(OutboxMessage.topic.in_(topics))
                .order_by(OutboxMessage.id))]

    def catalog(self, product_id: str) -> services.ProductView | None:
        try:
            return services.listed_version(product_id, uow=UnitOfWork(
                self.rights.session_factory, self.rights.clock, ANONYMOUS))
        except ProductNotFound:
            return None

    def counts(self) -> Counts:
        with self.rights.session_factory() as session:
            def count(model: Any) -> int:
                return int(session.scalar(select(func.count()).select_from(model)) or 0)

            return Counts(count(Product), count(ProductVersion), count(Offer),
                          count(ListingEvent), count(OutboxMessage), self.rights.audit_seq(),
                          count(Declaration), count(Decision))


@pytest.fixture
def shop(rights: RightsWorld) -> Shop:
    return Shop(rights)


class SubscriberFailed(Exception):
    pass


@pytest.fixture
def failing_subscriber(shop: Shop) -> Iterator[list[dict[str, Any]]]:
    """A ``rights.unavailable`` / ``rights.restored`` subscriber, running after listing's,
    that records what listing did in the transaction and then raises."""
    seen: list[dict[str, Any]] = []

    def fail(uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
        rows = uow.session.execute(select(ProductVersion.id, ProductVersion.status))
        statuses = {version_id: status for version_id, status in rows}
        seen.append({"payload": dict(payload), "statuses": statuses})
        raise SubscriberFailed("a later subscriber failed")

    unsubscribers = [events.subscribe(rights_services.UNAVAILABLE, fail),
                     events.subscribe(rights_services.RESTORED, fail)]
    try:
        yield seen
    finally:
        for unsubscribe in unsubscribers:
            unsubscribe()


# -- the lifecycle -----------------------------------------------------------------------


def test_a_product_is_drafted_submitted_reviewed_and_listed(shop: Shop) -> None:
    chain = shop.rights.chain()
    audit = shop.rights.audit_seq()

    drafted = shop.draft(chain)
    assert drafted.product.id == chain.product_id  # the right's product id is adopted
    assert drafted.product.merchant_org_id == chain.grantee.org_id
    assert (drafted.version.number, drafted.version.status) == (1, "draft")
    assert [(o.name, o.kind, o.amount) for o in drafted.offers] == [
        ("标准版", "one_time", 100_000)]
    assert drafted.listed is None
    assert shop.catalog(chain.product_id) is None

    assert shop.submit(chain).version.status == "submitted"
    assert shop.catalog(chain.product_id) is None
    claimed = shop.claim(chain.product_id)
    assert claimed.version.status == "under_review"
    assert claimed.version.reviewer_org_id == shop.rights.operator.org_id
    assert shop.catalog(chain.product_id) is None

    listed = shop.decide(chain.product_id, "list")
    assert listed.version.status == "listed"
    assert listed.version.listed_at == shop.rights.clock.now()
    assert listed.listed is not None
    assert listed.listed.id == listed.version.id
    assert shop.product(chain.product_id).listed_version_id == listed.version.id
    entry = shop.catalog(chain.product_id)
    assert entry is not None
    assert entry.version.id == listed.version.id
    assert [(o.kind, o.amount) for o in entry.offers] == [("one_time", 100_000)]

    assert shop.events(chain.product_id) == [
        (1, "drafted", None, "draft"), (1, "submitted", "draft", "submitted"),
        (1, "review_claimed", "submitted", "under_review"),
        (1, "listed", "under_review", "listed")]
    assert shop.outbox("listing.listed") == [
        ("listing.listed", {"product_id": chain.product_id, "version_id": listed.version.id})]
    # one entry per step, the declaration and the rules' decision at submission, and the
    # receipts of the declaration and of the approval
    assert shop.rights.audit_seq() == audit + 8
    with shop.rights.session_factory() as session:
        assert verify_chain(session).ok


def test_a_returned_version_is_corrected_in_place_and_resubmitted(shop: Shop) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    shop.submit(chain)
    returned = shop.review(chain.product_id, "return")
    assert returned.version.status == "returned"
    assert returned.version.status_reason == "材料齐全"

    revised = shop.revise(chain, title="企业用电风险指数（修订）",
                          offers=[("月度订阅", OfferSpec(K.SUBSCRIPTION, amount=9_900,
                                                     period="month"))])
    assert (revised.version.id, revised.version.number) == (returned.version.id, 1)
    assert revised.version.status == "returned"
    assert revised.version.title == "企业用电风险指数（修订）"
    assert shop.offers(revised.version.id) == [("月度订阅", "subscription", 9_900)]

    assert shop.submit(chain).version.status == "submitted"
    assert shop.review(chain.product_id).version.status == "listed"
    assert [e[1] for e in shop.events(chain.product_id)] == [
        "drafted", "submitted", "review_claimed", "returned", "revised", "submitted",
        "review_claimed", "listed"]
    assert len(shop.versions(chain.product_id)) == 1


def test_a_rejected_version_stays_rejected(shop: Shop) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    shop.submit(chain)
    assert shop.review(chain.product_id, "reject").version.status == "rejected"
    before = shop.counts()
    with pytest.raises(InvalidTransition):
        shop.submit(chain)
    assert shop.counts() == before
    assert shop.catalog(chain.product_id) is None


def test_the_operator_suspends_and_reinstates_a_listing(shop: Shop) -> None:
    chain = shop.listed()
    suspended = shop.status(chain.product_id, S.SUSPENDED, reason="投诉核查")
    assert (suspended.version.status, suspended.version.status_reason) == (
        "suspended", "投诉核查")
    assert suspended.version.suspended_by_rights is False
    assert shop.catalog(chain.product_id) is None

    reinstated = shop.status(chain.product_id, S.LISTED, reason="核查完毕")
    assert reinstated.version.status == "listed"
    assert shop.catalog(chain.product_id) is not None
    assert [e[1:] for e in shop.events(chain.product_id)][-2:] == [
        ("suspended", "listed", "suspended"), ("reinstated", "suspended", "listed")]
    assert [t for t, _ in shop.outbox("listing.suspended", "listing.reinstated")] == [
        "listing.suspended", "listing.reinstated"]


@pytest.mark.parametrize("who", ["merchant", "operator"])
def test_the_merchant_or_the_operator_delists(shop: Shop, who: str) -> None:
    chain = shop.listed()
    party = chain.grantee if who == "merchant" else shop.rights.operator
    delisted = shop.status(chain.product_id, S.DELISTED, party=party, reason="停止销售")
    assert delisted.version.status == "delisted"
    assert shop.catalog(chain.product_id) is None
    last = shop.events(chain.product_id)[-1]
    assert last[1:] == ("delisted", "listed", "delisted")


def test_a_merchant_may_only_delist(shop: Shop) -> None:
    chain = shop.listed()
    other, regulator = shop.rights.party("other merchant"), shop.rights.regulator
    before = shop.counts()
    for target in (S.SUSPENDED, S.LISTED):
        with pytest.raises(NotTheMerchant):
            shop.status(chain.product_id, target, party=chain.grantee)
    with pytest.raises(ProductNotFound):
        shop.status(chain.product_id, S.DELISTED, party=other)
    with pytest.raises(RoleNotAllowed):
        shop.status(chain.product_id, S.SUSPENDED, party=regulator)
    with pytest.raises(InvalidInput):
        shop.status(chain.product_id, S.SUBMITTED)
    assert shop.counts() == before
    assert shop.statuses(chain.product_id) == ["listed"]


def test_forbidden_transitions_raise_and_write_nothing(shop: Shop) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)

    def refused(action: Any) -> None:
        before = shop.counts()
        statuses = shop.statuses(chain.product_id)
        with pytest.raises(InvalidTransition):
            action()
        assert shop.counts() == before
        assert shop.statuses(chain.product_id) == statuses

    refused(lambda: shop.decide(chain.product_id, "list"))  # list a draft
    refused(lambda: shop.decide(chain.product_id, "return"))
    shop.submit(chain)
    refused(lambda: shop.submit(chain))  # submit twice
    refused(lambda: shop.decide(chain.product_id, "list"))  # list what nobody reviewed
    shop.review(chain.product_id)
    refused(lambda: shop.submit(chain))
    refused(lambda: shop.claim(chain.product_id))
    shop.status(chain.product_id, S.DELISTED, party=chain.grantee)
    refused(lambda: shop.status(chain.product_id, S.LISTED))  # reinstate a delisted
    refused(lambda: shop.status(chain.product_id, S.SUSPENDED))
    assert shop.versions(chain.product_id)[0].declaration_sha256 is not None


def test_acting_on_a_product_with_nothing_on_sale_is_an_invalid_transition(
    shop: Shop
) -> None:
    """The use case's contract: nothing on sale to act on → InvalidTransition."""
    chain = shop.rights.chain()
    shop.draft(chain)
    before = shop.counts()
    for target, party in ((S.LISTED, shop.rights.operator), (S.SUSPENDED, shop.rights.operator),
                          (S.DELISTED, chain.grantee)):
        with pytest.raises(InvalidTransition):
            shop.status(chain.product_id, target, party=party)
    assert shop.counts() == before
    assert shop.statuses(chain.product_id) == ["draft"]


def test_creating_needs_the_product_operation_right_and_happens_once(shop: Shop) -> None:
    chain = shop.rights.chain()
    stranger, operator = shop.rights.party("stranger"), shop.rights.operator
    before = shop.counts()
    with pytest.raises(ProductNotFound) as raised:
        services.create_product(shop.input(chain), uow=shop.uow(stranger),
                                product_id=chain.product_id)
    assert set(raised.value.errors) == {"product_id"}
    with pytest.raises(ProductNotFound):  # the holder of the resource is not the operator
        services.create_product(shop.input(chain), uow=shop.uow(chain.holder),
                                product_id=chain.product_id)
    with pytest.raises(RoleNotAllowed):
        services.create_product(shop.input(chain), uow=shop.uow(operator),
                                product_id=chain.product_id)
    assert shop.counts() == before

    shop.draft(chain)
    after_first = shop.counts()
    with pytest.raises(Conflict):
        shop.draft(chain)
    assert shop.counts() == after_first


# -- offers, scenarios and coverage -------------------------------------------------------


@pytest.mark.parametrize(("offers", "field"), [
    ([("x", OfferSpec(K.ONE_TIME))], "offers.0.amount"),
    ([("ok", OfferSpec(K.FREE)), ("x", OfferSpec(K.FREE, amount=100))], "offers.1.amount"),
    ([("x", OfferSpec(K.SUBSCRIPTION, amount=100))], "offers.0.period"),
    ([("x", OfferSpec(K.PAY_PER_USE, amount=5))], "offers.0.unit"),
    ([("x", OfferSpec(K.PAY_PER_USE, amount=5, unit="call", cap_amount=4))],
     "offers.0.cap_amount"),
    ([("x", OfferSpec(K.ONE_TIME, amount=100, quantity=0))], "offers.0.quantity"),
    ([], "offers"),
])
def test_malformed_offers_are_refused_by_field(
    shop: Shop, offers: list[tuple[str, OfferSpec]], field: str
) -> None:
    chain = shop.rights.chain()
    before = shop.counts()
    with pytest.raises(InvalidInput) as raised:
        shop.draft(chain, offers=offers)
    assert set(raised.value.errors) == {field}
    assert shop.counts() == before


def test_no_scenario_no_trade(shop: Shop) -> None:
    chain = shop.rights.chain()
    before = shop.counts()
    with pytest.raises(InvalidInput) as raised:
        shop.draft(chain, scenarios=[])
    assert set(raised.value.errors) == {"scenarios"}
    shop.draft(chain)
    with pytest.raises(InvalidInput):
        shop.revise(chain, scenarios=[])
    assert shop.versions(chain.product_id)[0].scenarios == ["小微企业授信"]
    assert shop.counts().products == before.products + 1


def test_temporal_coverage_must_not_end_before_it_starts(shop: Shop) -> None:
    chain = shop.rights.chain()
    now = shop.rights.clock.now()
    with pytest.raises(InvalidInput) as raised:
        shop.draft(chain, temporal_from=now, temporal_to=now.replace(year=now.year - 1))
    assert set(raised.value.errors) == {"temporal_to"}


# -- submission: the rights chain and the declaration -------------------------------------


def test_submission_signs_the_declaration_and_keeps_the_decision(shop: Shop) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    submitted = shop.submit(chain)
    version = shop.versions(chain.product_id)[0]
    with shop.rights.session_factory() as session:
        (declaration,) = session.scalars(select(Declaration)
                                         .where(Declaration.subject_id == version.id))
        (decision,) = session.scalars(select(Decision).where(Decision.subject_id == version.id))
    assert (declaration.kind, declaration.template, declaration.org_id) == (
        "listing", "listing@1", chain.grantee.org_id)
    assert declaration.answers == version.declaration == DECLARATION
    document = {"kind": "listing", "template": "listing@1", "org_id": chain.grantee.org_id,
                "subject": {"type": "product_version", "id": version.id},
                "answers": DECLARATION}
    expected = hashlib.sha256(rfc8785.dumps(document)).hexdigest()
    assert declaration.sha256 == version.declaration_sha256 == expected
    assert submitted.version.declaration_sha256 == expected
    # a key order of no meaning gives the same digest
    reordered = {**document, "answers": dict(reversed(list(DECLARATION.items())))}
    assert hashlib.sha256(rfc8785.dumps(reordered)).hexdigest() == expected
    assert version.declared_by_user_id == chain.grantee.user_id
    assert version.declared_at == declaration.signed_at == shop.rights.clock.now()
    assert version.classification == "general"
    assert (decision.stage, decision.outcome, decision.declaration_id) == (
        "listing", "pass", declaration.id)
    assert {v["rule"] for v in decision.verdicts} == set(rule_names())
    assert decision.ruleset_version == RULESET_VERSION


def test_the_classification_is_the_highest_of_the_resources_in_the_chain(shop: Shop) -> None:
    rights = shop.rights
    holder, grantee = rights.party("holder"), rights.party("grantee")
    resource = rights.resource(holder, classification=Classification.IMPORTANT)
    holding = rights.holding(holder, resource)
    use = rights.use(grantee, holding, rights.grant(holder, holding, grantee))
    product = rights.product(grantee, use)
    chain = Chain(holder, grantee, resource, holding, rights.grant_row(use.grant_id or ""),
                  use, product)
    shop.draft(chain)
    shop.submit(chain, {**DECLARATION, "contains_important_data": True})
    assert shop.versions(chain.product_id)[0].classification == "important"


def _refused(shop: Shop, chain: Chain) -> list[dict[str, Any]]:
    before = shop.counts()
    with pytest.raises(ListingRefused) as raised:
        shop.submit(chain)
    assert shop.counts() == before.with_refusal()
    version = shop.versions(chain.product_id)[-1]
    assert (version.status, version.declaration, version.declaration_sha256) == (
        "draft", None, None)
    return raised.value.violations


def test_submission_without_a_product_operation_right_is_refused(shop: Shop) -> None:
    merchant = shop.rights.party("merchant")
    view = services.create_product(shop.input(None), uow=shop.uow(merchant))
    before = shop.counts()
    with pytest.raises(ListingRefused) as raised:
        services.submit_listing(view.product.id, DECLARATION, uow=shop.uow(merchant))
    assert [(v["code"], v["right_id"]) for v in raised.value.violations] == [
        ("chain_missing", None)]
    assert raised.value.errors == {"violations": raised.value.violations}
    assert shop.counts() == before.with_refusal()
    assert shop.statuses(view.product.id) == ["draft"]


def test_submission_over_a_revoked_holding_right_names_it(shop: Shop) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    rights_services.change_right_status(chain.holding.id, RightStatus.REVOKED, "不再持有",
                                        uow=shop.rights.uow(chain.holder))
    assert [(v["code"], v["right_id"]) for v in _refused(shop, chain)] == [
        ("right_not_registered", chain.holding.id)]


def test_submission_over_a_suspended_link_names_it(shop: Shop) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    rights_services.change_right_status(chain.use.id, RightStatus.SUSPENDED, "核查",
                                        uow=shop.rights.uow(shop.rights.operator))
    assert [(v["code"], v["right_id"]) for v in _refused(shop, chain)] == [
        ("right_not_registered", chain.use.id)]


def test_submission_over_a_revoked_grant_names_the_right_resting_on_it(shop: Shop) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    rights_services.revoke_grant(chain.grant.id, "授权撤回", uow=shop.rights.uow(chain.holder))
    assert [(v["code"], v["right_id"]) for v in _refused(shop, chain)] == [
        ("grant_invalid", chain.use.id)]


def test_submission_deriving_from_a_resource_outside_the_chain_is_refused(shop: Shop) -> None:
    chain = shop.rights.chain()
    elsewhere = shop.rights.resource(shop.rights.party("elsewhere"), title="别家的数据")
    shop.draft(chain, derived_from=[chain.resource.id, elsewhere.id])
    violations = _refused(shop, chain)
    assert [(v["code"], v["right_id"]) for v in violations] == [
        ("derivation_not_covered", None)]
    assert elsewhere.id in violations[0]["message"]
    assert chain.resource.id not in violations[0]["message"]


def test_listing_rechecks_the_chain_broken_since_submission(shop: Shop) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    shop.submit(chain)
    shop.claim(chain.product_id)
    rights_services.change_right_status(chain.holding.id, RightStatus.SUSPENDED, "核查",
                                        uow=shop.rights.uow(shop.rights.operator))
    before = shop.counts()
    with pytest.raises(ListingRefused) as raised:
        shop.decide(chain.product_id, "list")
    assert [(v["code"], v["right_id"]) for v in raised.value.violations] == [
        ("right_not_registered", chain.holding.id)]
    assert shop.counts() == before
    assert shop.statuses(chain.product_id) == ["under_review"]


# -- versions ----------------------------------------------------------------------------


def test_revising_a_listed_product_makes_a_new_version_while_the_old_stays_on_sale(
    shop: Shop
) -> None:
    chain = shop.listed()
    v1 = shop.versions(chain.product_id)[0]

    revised = shop.revise(chain, title="企业用电风险指数 v2",
                          offers=[("标准版", OfferSpec(K.ONE_TIME, amount=150_000))])
    assert (revised.version.number, revised.version.status) == (2, "draft")
    assert revised.listed is not None
    assert revised.listed.id == v1.id
    assert [(o.amount) for o in revised.listed_offers] == [100_000]
    assert shop.statuses(chain.product_id) == ["listed", "draft"]
    product = shop.product(chain.product_id)
    assert (product.listed_version_id, product.latest_version_id) == (v1.id, revised.version.id)
    entry = shop.catalog(chain.product_id)
    assert entry is not None
    assert entry.version.id == v1.id
    assert entry.version.title == "企业用电风险指数"
    assert [o.amount for o in entry.offers] == [100_000]

    # editing the draft again changes version 2 in place
    again = shop.revise(chain, title="企业用电风险指数 v2.1",
                        offers=[("标准版", OfferSpec(K.ONE_TIME, amount=120_000))])
    assert again.version.id == revised.version.id
    assert len(shop.versions(chain.product_id)) == 2

    shop.submit(chain)
    with pytest.raises(VersionInReview):
        shop.revise(chain, title="改不了")
    catalog_during_review = shop.catalog(chain.product_id)
    assert catalog_during_review is not None
    assert catalog_during_review.version.id == v1.id

    listed = shop.review(chain.product_id)
    assert listed.version.id == revised.version.id
    assert shop.statuses(chain.product_id) == ["superseded", "listed"]
    superseded = shop.versions(chain.product_id)[0]
    assert superseded.status_reason == "version 2 listed"
    entry = shop.catalog(chain.product_id)
    assert entry is not None
    assert entry.version.title == "企业用电风险指数 v2.1"
    assert [o.amount for o in entry.offers] == [120_000]
    # orders keep version 1: its offers and terms stay in the database
    assert shop.offers(v1.id) == [("标准版", "one_time", 100_000)]
    assert superseded.terms == TERMS.as_dict()
    assert superseded.title == "企业用电风险指数"


@pytest.mark.parametrize("stage", ["submitted", "under_review"])
def test_revising_while_a_version_waits_for_review_is_a_conflict(
    shop: Shop, stage: str
) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    shop.submit(chain)
    if stage == "under_review":
        shop.claim(chain.product_id)
    before = shop.counts()
    with pytest.raises(VersionInReview):
        shop.revise(chain, title="改标题")
    assert shop.counts() == before
    assert shop.versions(chain.product_id)[0].title == "企业用电风险指数"


def test_a_new_version_keeps_the_sample_unless_a_new_one_is_given(shop: Shop) -> None:
    sample = services.Sample("样例.csv", "text/csv", "月份,指数\n2026-10,101.2\n".encode())
    chain = shop.listed(sample=sample)
    v2 = shop.revise(chain, title="v2")
    assert v2.version.sample_sha256 == hashlib.sha256(sample.content).hexdigest()
    assert (v2.version.sample_name, v2.version.sample_size) == ("样例.csv",
                                                                len(sample.content))


# -- the rights cascade ------------------------------------------------------------------


def _assert_suspended_for_rights(shop: Shop, chain: Chain) -> ProductVersion:
    version = shop.versions(chain.product_id)[0]
    assert version.status == "suspended"
    assert version.suspended_by_rights is True
    assert version.status_reason is not None
    assert "rights" in version.status_reason
    assert shop.catalog(chain.product_id) is None
    assert shop.events(chain.product_id)[-1][1:] == ("suspended", "listed", "suspended")
    assert shop.outbox("listing.suspended") == [
        ("listing.suspended", {"product_id": chain.product_id, "version_id": version.id})]
    return version


def test_revoking_the_holding_right_suspends_the_listing(shop: Shop) -> None:
    chain = shop.listed()
    rights_services.change_right_status(chain.holding.id, RightStatus.REVOKED, "不再持有",
                                        uow=shop.rights.uow(chain.holder))
    version = _assert_suspended_for_rights(shop, chain)
    assert "不再持有" in (version.status_reason or "")
    with shop.rights.session_factory() as session:
        event = session.scalars(select(ListingEvent).where(
            ListingEvent.version_id == version.id).order_by(ListingEvent.id.desc())).first()
        assert event is not None
        assert event.actor_org_id == chain.holder.org_id
        assert verify_chain(session).ok


def test_suspending_the_holding_right_suspends_the_listing(shop: Shop) -> None:
    chain = shop.listed()
    rights_services.change_right_status(chain.holding.id, RightStatus.SUSPENDED, "权属核查",
                                        uow=shop.rights.uow(shop.rights.operator))
    _assert_suspended_for_rights(shop, chain)


def test_revoking_the_grant_suspends_the_listing(shop: Shop) -> None:
    chain = shop.listed()
    rights_services.revoke_grant(chain.grant.id, "授权撤回", uow=shop.rights.uow(chain.holder))
    _assert_suspended_for_rights(shop, chain)


def test_the_cascade_suspends_only_the_products_on_the_broken_chain(shop: Shop) -> None:
    chain = shop.listed()
    other = shop.listed(shop.rights.chain("holder 2", "grantee 2"))
    rights_services.change_right_status(chain.holding.id, RightStatus.SUSPENDED, "核查",
                                        uow=shop.rights.uow(shop.rights.operator))
    assert shop.statuses(chain.product_id) == ["suspended"]
    assert shop.statuses(other.product_id) == ["listed"]
    assert shop.catalog(other.product_id) is not None


def test_a_failing_subscriber_rolls_back_the_right_and_the_listing_together(
    shop: Shop, failing_subscriber: list[dict[str, Any]]
) -> None:
    chain = shop.listed()
    version_id = shop.versions(chain.product_id)[0].id
    before = shop.counts()

    with pytest.raises(SubscriberFailed):
        rights_services.change_right_status(chain.holding.id, RightStatus.REVOKED, "不再持有",
                                            uow=shop.rights.uow(chain.holder))

    # listing reacted inside the transaction before the later subscriber failed...
    assert len(failing_subscriber) == 1
    assert failing_subscriber[0]["statuses"][version_id] == "suspended"
    # ...and all of it rolled back: the right, the listing, the history, outbox and audit
    assert shop.rights.statuses(*chain.ids) == [RightStatus.REGISTERED] * 3
    assert shop.statuses(chain.product_id) == ["listed"]
    assert shop.versions(chain.product_id)[0].suspended_by_rights is False
    assert shop.counts() == before
    assert shop.catalog(chain.product_id) is not None


def test_a_failing_subscriber_rolls_back_the_return_to_review(
    shop: Shop, request: pytest.FixtureRequest
) -> None:
    chain = shop.listed()
    operator = shop.rights.uow
    rights_services.change_right_status(chain.holding.id, RightStatus.SUSPENDED, "核查",
                                        uow=operator(shop.rights.operator))
    seen = request.getfixturevalue("failing_subscriber")
    before = shop.counts()
    with pytest.raises(SubscriberFailed):
        rights_services.change_right_status(chain.holding.id, RightStatus.REGISTERED, "核查完毕",
                                            uow=operator(shop.rights.operator))
    assert seen[0]["statuses"][shop.versions(chain.product_id)[0].id] == "submitted"
    assert shop.statuses(chain.product_id) == ["suspended"]
    assert shop.versions(chain.product_id)[0].suspended_by_rights is True
    assert shop.rights.status(chain.holding.id) == RightStatus.SUSPENDED
    assert shop.counts() == before


def test_restored_rights_send_the_listing_back_to_review_not_to_sale(shop: Shop) -> None:
    chain = shop.listed()
    operator = shop.rights.operator
    rights_services.change_right_status(chain.holding.id, RightStatus.SUSPENDED, "权属核查",
                                        uow=shop.rights.uow(operator))
    rights_services.change_right_status(chain.holding.id, RightStatus.REGISTERED, "核查完毕",
                                        uow=shop.rights.uow(operator))

    version = shop.versions(chain.product_id)[0]
    assert version.status == "submitted"
    assert version.suspended_by_rights is False
    assert shop.catalog(chain.product_id) is None
    assert shop.events(chain.product_id)[-1][1:] == ("resubmitted", "suspended", "submitted")

    # the operator cannot just reinstate it: it waits for a review
    with pytest.raises(InvalidTransition):
        shop.status(chain.product_id, S.LISTED)
    shop.claim(chain.product_id, shop.rights.assessor)
    relisted = shop.decide(chain.product_id, "list", shop.rights.assessor)
    assert relisted.version.id == version.id
    assert shop.statuses(chain.product_id) == ["listed"]
    assert shop.catalog(chain.product_id) is not None


def test_restored_rights_do_not_touch_a_listing_the_operator_suspended(shop: Shop) -> None:
    chain = shop.listed()
    shop.status(chain.product_id, S.SUSPENDED, reason="投诉核查")
    operator = shop.rights.uow(shop.rights.operator)
    rights_services.change_right_status(chain.holding.id, RightStatus.SUSPENDED, "核查",
                                        uow=operator)
    rights_services.change_right_status(chain.holding.id, RightStatus.REGISTERED, "核查完毕",
                                        uow=shop.rights.uow(shop.rights.operator))
    version = shop.versions(chain.product_id)[0]
    assert (version.status, version.status_reason) == ("suspended", "投诉核查")


def test_a_listing_suspended_for_its_rights_is_not_reinstated_while_they_are_broken(
    shop: Shop
) -> None:
    chain = shop.listed()
    rights_services.change_right_status(chain.holding.id, RightStatus.SUSPENDED, "核查",
                                        uow=shop.rights.uow(shop.rights.operator))
    before = shop.counts()
    with pytest.raises(ListingRefused) as raised:
        shop.status(chain.product_id, S.LISTED)
    assert raised.value.violations[0]["right_id"] == chain.holding.id
    assert shop.counts() == before
    assert shop.statuses(chain.product_id) == ["suspended"]


def test_a_revoked_holding_right_keeps_the_listing_suspended_for_good(shop: Shop) -> None:
    chain = shop.listed()
    rights_services.change_right_status(chain.holding.id, RightStatus.REVOKED, "不再持有",
                                        uow=shop.rights.uow(chain.holder))
    with pytest.raises(ListingRefused):
        shop.status(chain.product_id, S.LISTED)
    assert shop.statuses(chain.product_id) == ["suspended"]
    # the merchant can still take it off the shelf
    shop.status(chain.product_id, S.DELISTED, party=chain.grantee)
    assert shop.statuses(chain.product_id) == ["delisted"]


# -- reviewers ---------------------------------------------------------------------------


def test_merchants_and_regulators_cannot_review(shop: Shop) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    shop.submit(chain)
    parties = (shop.rights.party("another merchant"), chain.grantee, shop.rights.regulator)
    before = shop.counts()
    for party in parties:
        with pytest.raises(RoleNotAllowed):
            shop.claim(chain.product_id, party)
        with pytest.raises(RoleNotAllowed):
            shop.decide(chain.product_id, "list", party)
    assert shop.counts() == before


def test_an_organisation_may_not_review_its_own_product(shop: Shop) -> None:
    rights = shop.rights
    both = rights.party("merchant and assessor", "merchant", "assessor")
    holder = rights.party("holder")
    holding = rights.holding(holder)
    grant = rights.grant(holder, holding, both)
    use = rights.use(both, holding, grant)
    product = rights.product(both, use)
    chain = Chain(holder, both, rights.resource(holder), holding, grant, use, product)
    shop.draft(chain, derived_from=[holding.resource_id])
    shop.submit(chain)
    before = shop.counts()
    with pytest.raises(ReviewerIsMerchant):
        shop.claim(chain.product_id, both)
    with pytest.raises(ReviewerIsMerchant):
        shop.decide(chain.product_id, "list", both)
    assert shop.counts() == before
    assert shop.statuses(chain.product_id) == ["submitted"]


def test_a_review_claimed_by_one_assessor_is_decided_by_that_assessor(shop: Shop) -> None:
    chain = shop.rights.chain()
    shop.draft(chain)
    shop.submit(chain)
    a = shop.rights.party("assessor a", "assessor")
    b = shop.rights.party("assessor b", "assessor")
    shop.claim(chain.product_id, a)
    before = shop.counts()
    with pytest.raises(ReviewClaimedByOther):
        shop.decide(chain.product_id, "list", b)
    with pytest.raises(Conflict):  # nor can b take the claim over
        shop.claim(chain.product_id, b)
    assert shop.counts() == before
    version = shop.versions(chain.product_id)[0]
    assert (version.status, version.reviewer_org_id) == ("under_review", a.org_id)
    assert shop.decide(chain.product_id, "list", a).version.status == "listed"


# -- visibility --------------------------------------------------------------------------


def test_who_sees_which_products(shop: Shop) -> None:
    mine = shop.rights.chain()
    shop.draft(mine)
    theirs = shop.listed(shop.rights.chain("holder 2", "grantee 2"))
    rights = shop.rights

    def visible(party: Party) -> set[str]:
        page = services.list_products(uow=shop.uow(party), limit=200)
        return {p.id for p in page.items}

    assert visible(mine.grantee) == {mine.product_id}
    assert visible(theirs.grantee) == {theirs.product_id}
    assert visible(mine.holder) == set()
    for party in (rights.operator, rights.assessor, rights.regulator):
        assert visible(party) == {mine.product_id, theirs.product_id}
        assert services.get_product(mine.product_id, uow=shop.uow(party)).version.number == 1
    with pytest.raises(ProductNotFound):
        services.get_product(mine.product_id, uow=shop.uow(theirs.grantee))
    with pytest.raises(ProductNotFound):
        services.history(mine.product_id, uow=shop.uow(theirs.grantee))
    with pytest.raises(ProductNotFound):
        shop.revise(Chain(mine.holder, theirs.grantee, mine.resource, mine.holding,
                          mine.grant, mine.use, mine.product))
    page = services.list_products(uow=shop.uow(rights.operator), status="listed", limit=200)
    assert {p.id for p in page.items} == {theirs.product_id}
    assert shop.catalog(mine.product_id) is None
    assert shop.catalog(theirs.product_id) is not None


def test_a_once_listed_version_returned_after_its_rights_came_back_is_never_edited(
    shop: Shop
) -> None:
    """Orders keep the version they bought: a version that was on sale is never edited in
    place, even when the review after restored rights returns it for corrections."""
    chain = shop.listed()
    v1 = shop.versions(chain.product_id)[0]
    operator = shop.rights.operator
    rights_services.change_right_status(chain.holding.id, RightStatus.SUSPENDED, "权属核查",
                                        uow=shop.rights.uow(operator))
    rights_services.change_right_status(chain.holding.id, RightStatus.REGISTERED, "核查完毕",
                                        uow=shop.rights.uow(operator))
    assert shop.review(chain.product_id, "return").version.id == v1.id
    assert shop.statuses(chain.product_id) == ["returned"]

    revised = shop.revise(chain, title="企业用电风险指数（更正）",
                          offers=[("标准版", OfferSpec(K.ONE_TIME, amount=1))])
    assert revised.version.number == 2
    kept = shop.versions(chain.product_id)[0]
    assert (kept.id, kept.title, kept.terms) == (v1.id, "企业用电风险指数", TERMS.as_dict())
    assert shop.offers(v1.id) == [("标准版", "one_time", 100_000)]

    # Once the correction is listed, the returned version is superseded, not left open.
    shop.submit(chain)
    listed = shop.review(chain.product_id)
    assert listed.version.number == 2
    assert shop.statuses(chain.product_id) == ["superseded", "listed"]
    assert shop.versions(chain.product_id)[0].status_reason == "version 2 listed"


def test_the_declaration_of_a_once_listed_version_is_never_replaced(shop: Shop) -> None:
    """The declaration a version was sold under stays as it was, whatever the merchant does
    with that version after a review returned it."""
    chain = shop.listed()
    v1 = shop.versions(chain.product_id)[0]
    operator = shop.rights.operator
    rights_services.change_right_status(chain.holding.id, RightStatus.SUSPENDED, "权属核查",
                                        uow=shop.rights.uow(operator))
    rights_services.change_right_status(chain.holding.id, RightStatus.REGISTERED, "核查完毕",
                                        uow=shop.rights.uow(operator))
    shop.review(chain.product_id, "return")

    other = {**DECLARATION, "statement": "另一份声明", "contains_personal_information": True}
    with contextlib.suppress(MarketError):
        shop.submit(chain, other)
    kept = shop.versions(chain.product_id)[0]
    assert kept.id == v1.id
    assert (kept.declaration, kept.declaration_sha256, kept.declared_at) == (
        DECLARATION, v1.declaration_sha256, v1.declared_at)
