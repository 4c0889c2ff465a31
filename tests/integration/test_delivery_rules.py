"""Classification-driven delivery, the double review and the storage location, through the
services over the database: the delivery matrix refuses at listing, at ordering and at
delivery, each refusal naming its rule and cell; raw data and sensitive personal
information are listed only by two different reviewers; data stored abroad, or sold to a
buyer who uses it abroad, waits for a security assessment."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from market.compliance import services as compliance
from market.compliance.errors import ReviewerAlreadyApproved
from market.compliance.models import Decision, ReviewItem
from market.kernel.errors import InvalidInput
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.listing.domain import DevelopmentLevel, ListingStatus, OfferKind, OfferSpec
from market.listing.errors import ListingRefused
from market.listing.models import ProductVersion
from market.rights import services as rights_services
from market.rights.domain import EvidenceKind, Origin, PILevel
from market.rights.models import DataResource
from market.trading import services as trading
from market.trading.domain import DeliveryMode, OrderStatus
from market.trading.errors import DeliveryRefused, OrderRefused
from tests.conftest import Party
from tests.integration.rights_fixtures import (  # noqa: F401
    Chain,
    RightsWorld,
    actor_for,
    evidence,
    rights_fixture,
    signer_fixture,
)
from tests.integration.test_listing_services import (  # noqa: F401
    DECLARATION,
    TERMS,
    Shop,
    _wired,
)
from tests.integration.trading_fixtures import PRICE, Market, market_fixture  # noqa: F401

RULE = "DeliveryModeMustSuitClassification"
PERSONAL = {**DECLARATION, "contains_personal_information": True,
            "personal_information_basis": "consent"}


@pytest.fixture(name="shop")
def shop_fixture(rights: RightsWorld) -> Shop:
    return Shop(rights)


@pytest.fixture(autouse=True)
def _default_matrix() -> Iterator[None]:
    compliance.configure_delivery_matrix("")
    yield
    compliance.configure_delivery_matrix("")


def chain_over(rights: RightsWorld, *, pi_level: PILevel = PILevel.NONE,
               sensitive_categories: tuple[str, ...] = (), storage_location: str = "CN",
               ) -> Chain:
    """A registered chain over one resource of the given kind (consent on record when it
    holds personal information)."""
    holder, grantee = rights.party("holder"), rights.party("grantee")
    kinds = (EvidenceKind.SOURCE_LEGALITY,) + (
        (EvidenceKind.CONSENT,) if pi_level is not PILevel.NONE else ())
    resource = rights_services.register_resource(rights_services.ResourceInput(
        title="个人健康数据", description="体检记录", origin=Origin.ENTERPRISE,
        classification=rights_services.Classification.GENERAL, pi_level=pi_level,
        collection_method="app", collection_source="clinic", scenarios=["finance"],
        update_frequency="monthly", evidence=[evidence(k) for k in kinds],
        sensitive_categories=sensitive_categories, storage_location=storage_location),
        uow=rights.uow(holder))
    holding = rights.holding(holder, resource)
    grant = rights.grant(holder, holding, grantee, evidence_kinds=(EvidenceKind.CONSENT,))
    use = rights.use(grantee, holding, grant)
    return Chain(holder, grantee, resource, holding, grant, use, rights.product(grantee, use))


def item_of(rights: RightsWorld, subject_id: str) -> ReviewItem:
    with rights.session_factory() as session:
        found = session.scalars(select(ReviewItem).where(ReviewItem.subject_id == subject_id)
                                .order_by(ReviewItem.id.desc())).first()
        assert found is not None
        return found


def decisions(rights: RightsWorld) -> int:
    with rights.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(Decision)) or 0)


def as_colleague(rights: RightsWorld, party: Party) -> UnitOfWork:
    """A unit of work for another user of ``party``'s organisation."""
    actor = dataclasses.replace(actor_for(party), user_id="usr_colleague",
                                label="user usr_colleague")
    return UnitOfWork(rights.session_factory, rights.clock, actor)


# -- the delivery matrix at listing, ordering and delivery -----------------------------------


def test_a_listing_offering_a_mode_its_cell_forbids_is_refused(shop: Shop) -> None:
    chain = chain_over(shop.rights, pi_level=PILevel.SENSITIVE_PERSONAL)
    shop.draft(chain, delivery_modes=["file", "sandbox"])
    before = decisions(shop.rights)

    with pytest.raises(ListingRefused) as refused:
        shop.submit(chain, PERSONAL)

    (violation,) = refused.value.errors["violations"]
    assert (violation["code"], violation["rule"]) == ("compliance_rule", RULE)
    assert violation["detail"]["classification"] == "general"
    assert violation["detail"]["pi_level"] == "sensitive_personal"
    assert violation["detail"]["refused_modes"] == ["file"]
    assert violation["detail"]["allowed_modes"] == ["sandbox"]
    assert "may be delivered by sandbox; not by file" in violation["message"]
    assert decisions(shop.rights) == before + 1  # the refusal alone is on record
    assert shop.statuses(chain.product_id) == ["draft"]

    shop.revise(chain, delivery_modes=["sandbox"])  # the cell's one mode: submitted
    assert shop.submit(chain, PERSONAL).version.status == "submitted"


def test_an_order_no_allowed_mode_could_deliver_is_refused(market: Market) -> None:
    chain = market.listed(delivery_modes=("file",))
    compliance.configure_delivery_matrix(  # the venue tightens its matrix after listing
        "general:*=api,sandbox; important:*=sandbox; core:*=")

    with pytest.raises(OrderRefused) as refused:
        market.place(chain)

    (violation,) = [v for v in refused.value.errors["rules"] if v["rule"] == RULE]
    assert violation["detail"]["allowed_modes"] == ["api", "sandbox"]
    assert "could only be delivered by file" in violation["message"]

    compliance.configure_delivery_matrix("")
    assert market.place(chain).status == OrderStatus.AWAITING_PAYMENT


def test_a_delivery_by_a_mode_the_matrix_forbids_is_refused(market: Market) -> None:
    chain = market.listed(delivery_modes=("file", "api"))
    order = market.pay(market.place(chain))
    compliance.configure_delivery_matrix("general:*=api,sandbox; important:*=sandbox; core:*=")
    seller = market.party_of(order.seller_org_id)
    upload = trading.DeliveryInput(mode=DeliveryMode.FILE, file=trading.FileUpload(
        "scores.csv", "text/csv", io.BytesIO(b"id\n1\n")))

    with pytest.raises(DeliveryRefused) as refused:
        trading.deliver(order.id, upload, storage=market.storage, policy=market.policy,
                        uow=market.uow(seller))

    (violation,) = refused.value.errors["rules"]
    assert violation["rule"] == RULE
    assert (violation["detail"]["modes"], violation["detail"]["refused_modes"]) == (
        ["file"], ["file"])
    assert market.order(order.id).status == OrderStatus.PAID
    assert not market.storage.exists() or not any(market.storage.iterdir())

    by_api = trading.DeliveryInput(mode=DeliveryMode.API, endpoint="https://api.example.cn/v1")
    view, credential = trading.deliver(order.id, by_api, storage=market.storage,
                                       policy=market.policy, uow=market.uow(seller))
    assert (view.order.status, credential is not None) == (OrderStatus.DELIVERED, True)


# -- the double review ---------------------------------------------------------------------


def test_two_reviews_by_one_person_cannot_list_raw_data(shop: Shop) -> None:
    rights = shop.rights
    chain = rights.chain()
    shop.draft(chain, development_level=DevelopmentLevel.RAW)
    version_id = shop.submit(chain).version.id
    item = item_of(rights, version_id)
    assert (item.needs, item.rules, item.required_approvals) == (
        "needs_review", ["RawDataNeedsCarefulReview"], 2)

    first = shop.review(chain.product_id)  # one approval: back in the queue for another
    assert (first.version.status, first.listed) == ("submitted", None)
    assert item_of(rights, version_id).status == "open"
    assert [a["reviewer"] for a in item_of(rights, version_id).approvals] == [
        rights.operator.user_id]

    with pytest.raises(ReviewerAlreadyApproved):  # the same person cannot take it up again
        shop.claim(chain.product_id)
    assert shop.statuses(chain.product_id) == ["submitted"]
    listing.claim_review(chain.product_id, uow=as_colleague(rights, rights.operator))
    with pytest.raises(ReviewerAlreadyApproved):  # nor decide it in a colleague's claim
        shop.decide(chain.product_id)
    assert shop.statuses(chain.product_id) == ["under_review"]
    assert len(item_of(rights, version_id).approvals) == 1

    second = services_decide(chain, as_colleague(rights, rights.operator))
    assert second.version.status == "listed"
    closed = item_of(rights, version_id)
    assert (closed.status, closed.outcome, len(closed.approvals)) == ("closed", "listed", 2)
    assert [e[1] for e in shop.events(chain.product_id)] == [
        "drafted", "submitted", "review_claimed", "approved_once", "review_claimed",
        "listed"]


def services_decide(chain: Chain, uow: UnitOfWork) -> listing.ProductView:
    return listing.decide_review(chain.product_id, "list", "复核通过", uow=uow)


def test_sensitive_personal_information_is_listed_by_two_different_reviewers(
        shop: Shop) -> None:
    rights = shop.rights
    chain = chain_over(rights, pi_level=PILevel.SENSITIVE_PERSONAL)
    shop.draft(chain, delivery_modes=["sandbox"])
    version_id = shop.submit(chain, PERSONAL).version.id
    assert item_of(rights, version_id).rules == ["SensitivePersonalInfoNeedsReview"]

    assert shop.review(chain.product_id).version.status == "submitted"
    shop.claim(chain.product_id, rights.assessor)  # another organisation's reviewer
    assert shop.decide(chain.product_id, reviewer=rights.assessor).version.status == "listed"
    assert [a["org_id"] for a in item_of(rights, version_id).approvals] == [
        rights.operator.org_id, rights.assessor.org_id]


def test_sensitive_categories_are_recorded_validated_and_reviewed_twice(shop: Shop) -> None:
    rights = shop.rights
    chain = chain_over(rights, pi_level=PILevel.PERSONAL, sensitive_categories=("minors",
                                                                                 "health"))
    assert chain.resource.sensitive_categories == ["health", "minors"]
    shop.draft(chain)
    version_id = shop.submit(chain, PERSONAL).version.id
    item = item_of(rights, version_id)
    assert (item.rules, item.required_approvals) == (["SensitiveCategoriesNeedReview"], 2)
    with rights.session_factory() as session:
        version = session.get(ProductVersion, version_id)
        assert version is not None
        assert version.product_facts is not None
        assert version.product_facts["sensitive_categories"] == ["health", "minors"]


@pytest.mark.parametrize(("pi_level", "categories", "field"), [
    (PILevel.NONE, ("health",), "sensitive_categories"),
    (PILevel.PERSONAL, ("health", "health"), "sensitive_categories"),
    (PILevel.PERSONAL, ("hobbies",), "sensitive_categories"),
])
def test_bad_sensitive_categories_are_refused_and_write_nothing(
        rights: RightsWorld, pi_level: PILevel, categories: tuple[str, ...],
        field: str) -> None:
    holder, _ = rights.party("holder"), rights.party("grantee")
    before = rights.audit_seq()
    with pytest.raises(InvalidInput) as refused:
        chain_over(rights, pi_level=pi_level, sensitive_categories=categories)
    assert field in refused.value.errors
    assert rights.audit_seq() == before
    with rights.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(DataResource).where(
            DataResource.holder_org_id == holder.org_id)) == 0


def test_a_modelled_product_over_plain_data_needs_one_reviewer(shop: Shop) -> None:
    chain = shop.listed()
    assert shop.statuses(chain.product_id) == ["listed"]


# -- storage location ----------------------------------------------------------------------


def _assessment_report(rights: RightsWorld, version_id: str) -> None:
    item = item_of(rights, version_id)
    compliance.attach_report(item.id, "security", "数据出境安全评估.pdf", "ab" * 32,
                             uow=rights.uow(rights.assessor))


@pytest.mark.parametrize("where", ["version", "resource"])
def test_data_stored_abroad_is_listed_only_with_a_security_assessment(
        shop: Shop, where: str) -> None:
    rights = shop.rights
    if where == "resource":
        chain = chain_over(rights, storage_location="SG")
        assert chain.resource.storage_location == "SG"
        shop.draft(chain)
    else:
        chain = rights.chain()
        shop.draft(chain, storage_location="SG", storage_region="新加坡 AZ-1")
    version_id = shop.submit(chain).version.id
    assert item_of(rights, version_id).needs == "needs_assessment"
    assert item_of(rights, version_id).rules == ["DataAbroadNeedsSecurityAssessment"]

    shop.claim(chain.product_id)
    with pytest.raises(ListingRefused) as refused:
        shop.decide(chain.product_id)
    assert [(v["code"], v["rule"]) for v in refused.value.errors["violations"]] == [
        ("assessment_missing", "DataAbroadNeedsSecurityAssessment")]

    _assessment_report(rights, version_id)
    assert shop.decide(chain.product_id).version.status == ListingStatus.LISTED


def test_a_product_stored_at_home_needs_no_assessment(shop: Shop) -> None:
    chain = shop.rights.chain()
    shop.draft(chain, storage_location="CN", storage_region="武汉")
    version_id = shop.submit(chain).version.id
    assert item_of(shop.rights, version_id).needs == "pass"


def test_a_bad_storage_location_is_refused(shop: Shop) -> None:
    with pytest.raises(InvalidInput) as refused:
        shop.draft(shop.rights.chain(), storage_location="china")
    assert "storage_location" in refused.value.errors


def test_a_cross_border_buyer_waits_for_a_security_assessment(market: Market) -> None:
    terms = dataclasses.replace(TERMS, territory="cross_border")
    chain = market.shop.listed(offers=[("标准版", OfferSpec(OfferKind.ONE_TIME, amount=PRICE))],
                               delivery_modes=["api"], terms=terms)
    order = market.place(chain, commitment={"cross_border": True, "destination": "SG"})
    assert (order.status, order.outcome) == (OrderStatus.CREATED, "needs_assessment")
    with market.system() as uow:
        assert compliance.missing_assessment(order.id, uow=uow) == [
            "DataAbroadNeedsSecurityAssessment"]

    domestic = market.place(chain, market.buyer("home"))
    assert (domestic.status, domestic.outcome) == (OrderStatus.AWAITING_PAYMENT, "pass")
