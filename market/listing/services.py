"""Listing use cases: products and versions, offers and usage terms, submission with the
rights chain and the seller's declaration, review, and the listing lifecycle.

Rights events reach listing in the same transaction (:func:`on_rights_unavailable`,
:func:`on_rights_restored`, subscribed by :mod:`market.wiring`): a product whose chain
breaks has its listed version suspended; when the rights are usable again the version goes
back to review instead of silently relisting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update

from market.compliance import services as compliance
from market.compliance.domain import (
    CLASSIFICATION_ORDER,
    PERSONAL_LEVELS,
    PI_ORDER,
    DeclarationKind,
    Facts,
    PartyFacts,
    ProductFacts,
    Stage,
)
from market.kernel.actor import Actor, Role, require
from market.kernel.errors import Conflict, InvalidInput, InvalidTransition, RoleNotAllowed
from market.kernel.ids import new_id
from market.kernel.pagination import Page, keyset_page
from market.kernel.statemachine import record_move
from market.kernel.uow import UnitOfWork
from market.listing import catalog
from market.listing.domain import (
    EDITABLE,
    SUPERSEDABLE,
    DevelopmentLevel,
    ListingStatus,
    OfferSpec,
    ProductType,
    UsageTerms,
    can_transition,
)
from market.listing.errors import (
    ListingRefused,
    NotTheMerchant,
    OfferNotFound,
    ProductNotFound,
    ReviewClaimedByOther,
    ReviewerIsMerchant,
    SoldOut,
    VersionInReview,
    VersionOnceListed,
)
from market.listing.models import ListingEvent, Offer, Product, ProductVersion
from market.participants import services as participants
from market.rights import services as rights

REVIEW_STAGES = frozenset({ListingStatus.SUBMITTED, ListingStatus.UNDER_REVIEW})
SEE_ALL = (Role.OPERATOR, Role.ASSESSOR, Role.REGULATOR)


@dataclass(frozen=True)
class Sample:
    name: str
    media_type: str
    content: bytes


@dataclass(frozen=True)
class ProductInput:
    title: str
    description: str
    type: ProductType
    development_level: DevelopmentLevel
    sector: str
    region: str
    update_frequency: str
    scenarios: Sequence[str]
    delivery_modes: Sequence[str]
    derived_from: Sequence[str]
    terms: UsageTerms
    offers: Sequence[tuple[str, OfferSpec]]
    tags: Sequence[str] = ()
    formats: Sequence[str] = ()
    field_schema: Sequence[Mapping[str, Any]] = ()
    spatial_coverage: str | None = None
    temporal_from: datetime | None = None
    temporal_to: datetime | None = None
    quality_reports: Sequence[str] = ()
    assessment_reports: Sequence[str] = ()
    sample: Sample | None = None


@dataclass(frozen=True)
class ProductView:
    product: Product
    version: ProductVersion
    offers: list[Offer]
    listed: ProductVersion | None = None
    listed_offers: list[Offer] = field(default_factory=list)


# -- helpers -----------------------------------------------------------------------------



def _sees_all(actor: Actor) -> bool:
    return actor.is_system or actor.has_role(*SEE_ALL)


def _offers(session: Any, version_id: str) -> list[Offer]:
    stmt = select(Offer).where(Offer.version_id == version_id).order_by(Offer.id)
    return list(session.scalars(stmt))


def _view(session: Any, product: Product, version: ProductVersion) -> ProductView:
    listed = (session.get(ProductVersion, product.listed_version_id)
              if product.listed_version_id else None)
    return ProductView(product, version, _offers(session, version.id), listed,
                       _offers(session, listed.id) if listed is not None else [])


def _event(uow: UnitOfWork, version: ProductVersion, action: str, previous: str | None,
           reason: str | None) -> None:
    record_move(uow, ListingEvent, prefix="lev", subject={"version_id": version.id},
                action=action, previous=previous, status=version.status, reason=reason,
                at=uow.clock.now())
    uow.session.flush()
    uow.audit.record(uow.actor, f"listing.{action}", "product_version", version.id,
                     version.state())


def _move(uow: UnitOfWork, version: ProductVersion, target: ListingStatus, action: str,
          reason: str | None) -> None:
    previous = version.move(target, reason=reason, at=uow.clock.now())
    _event(uow, version, action, previous, reason)
    if target in REVIEW_STAGES or previous in REVIEW_STAGES:
        compliance.track_review("listing", version.id, version.merchant_org_id, target.value,
                                reason, uow=uow)


def _validate(data: ProductInput) -> None:
    errors: dict[str, list[str]] = {}
    if not data.offers:
        errors["offers"] = ["at least one offer is needed"]
    for index, (_, spec) in enumerate(data.offers):
        for name, problem in spec.problems().items():
            errors[f"offers.{index}.{name}"] = [problem]
    if not data.scenarios:
        errors["scenarios"] = ["no scenario, no trade: name at least one application scenario"]
    if data.temporal_from and data.temporal_to and data.temporal_to < data.temporal_from:
        errors["temporal_to"] = ["must not be before temporal_from"]
    if errors:
        raise InvalidInput(errors=errors)


def _store_sample(sample: Sample, sample_dir: Path | None) -> str:
    digest = hashlib.sha256(sample.content).hexdigest()
    if sample_dir is not None:
        path = sample_dir / digest[:2] / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_bytes(sample.content)
    return digest


def _fill(version: ProductVersion, data: ProductInput, sample_dir: Path | None) -> None:
    version.title = data.title
    version.description = data.description
    version.type = data.type.value
    version.development_level = data.development_level.value
    version.sector = data.sector
    version.tags = list(data.tags)
    version.region = data.region
    version.spatial_coverage = data.spatial_coverage
    version.temporal_from = data.temporal_from
    version.temporal_to = data.temporal_to
    version.update_frequency = data.update_frequency
    version.formats = list(data.formats)
    version.field_schema = [dict(f) for f in data.field_schema]
    version.scenarios = list(data.scenarios)
    version.delivery_modes = list(data.delivery_modes)
    version.derived_from = list(data.derived_from)
    version.quality_reports = list(data.quality_reports)
    version.assessment_reports = list(data.assessment_reports)
    version.terms = data.terms.as_dict()
    if data.sample is not None:
        version.sample_sha256 = _store_sample(data.sample, sample_dir)
        version.sample_name = data.sample.name
        version.sample_media_type = data.sample.media_type
        version.sample_size = len(data.sample.content)


def _replace_offers(uow: UnitOfWork, version: ProductVersion, data: ProductInput) -> None:
    for offer in _offers(uow.session, version.id):
        uow.session.delete(offer)
    uow.session.flush()
    for name, spec in data.offers:
        uow.session.add(Offer(
            id=new_id("ofr"), version_id=version.id, kind=spec.kind.value, name=name,
            currency=spec.currency, amount=spec.amount, period=spec.period, unit=spec.unit,
            cap_amount=spec.cap_amount, quantity=spec.quantity, sold=0,
        ))
    uow.session.flush()


def _new_version(uow: UnitOfWork, product: Product, number: int, data: ProductInput,
                 sample_dir: Path | None, based_on: ProductVersion | None) -> ProductVersion:
    now = uow.clock.now()
    version = ProductVersion(
        id=new_id("ver"), product_id=product.id, merchant_org_id=product.merchant_org_id,
        number=number, status=ListingStatus.DRAFT.value, created_at=now, updated_at=now,
    )
    if based_on is not None and data.sample is None:
        version.sample_sha256 = based_on.sample_sha256
        version.sample_name = based_on.sample_name
        version.sample_media_type = based_on.sample_media_type
        version.sample_size = based_on.sample_size
    _fill(version, data, sample_dir)
    uow.session.add(version)
    uow.session.flush()
    _replace_offers(uow, version, data)
    product.latest_version_id = version.id
    _event(uow, version, "drafted", None, None)
    return version


def _own_product(uow: UnitOfWork, product_id: str, *, for_update: bool = False) -> Product:
    stmt = select(Product).where(Product.id == product_id)
    if for_update:
        stmt = stmt.with_for_update()
    product = uow.session.scalars(stmt).one_or_none()
    if product is None or (product.merchant_org_id != uow.actor.org_id
                           and not uow.actor.is_system):
        raise ProductNotFound()
    return product


# -- products and versions ---------------------------------------------------------------


def create_product(
    data: ProductInput, *, uow: UnitOfWork, product_id: str | None = None,
    sample_dir: Path | None = None,
) -> ProductView:
    """A merchant drafts a product (version 1).

    ``product_id`` adopts the id under which the merchant already registered the product
    operation right; without it a new id is made (register the right under that id).

    Raises:
        RoleNotAllowed: not a merchant.
        InvalidInput: offers, scenarios or coverage are malformed.
        ProductNotFound: ``product_id`` is not one the merchant holds the operation right for.
        Conflict: the product already exists.
    """
    require(uow.actor, Role.MERCHANT)
    _validate(data)
    with uow:
        if product_id is not None:
            if not rights.holds_product_operation(product_id, uow.actor.org_id or "",
                                                  session=uow.session):
                raise ProductNotFound(errors={"product_id": ["no product operation right of "
                                                             "yours names this product"]})
            if uow.session.get(Product, product_id) is not None:
                raise Conflict("the product already exists", errors={"product_id": ["exists"]})
        product = Product(id=product_id or new_id("prd"), merchant_org_id=uow.actor.org_id,
                          created_at=uow.clock.now())
        uow.session.add(product)
        uow.session.flush()
        version = _new_version(uow, product, 1, data, sample_dir, None)
        uow.commit()
        return _view(uow.session, product, version)


def revise_product(
    product_id: str, data: ProductInput, *, uow: UnitOfWork, sample_dir: Path | None = None
) -> ProductView:
    """The merchant changes its product: a draft or returned version is edited in place; a
    listed (or suspended) product gets a new version that is reviewed while the listed one
    stays on sale.

    Raises:
        ProductNotFound: not the caller's product.
        VersionInReview: the latest version is waiting for review.
        InvalidInput: as for :func:`create_product`.
    """
    require(uow.actor, Role.MERCHANT)
    _validate(data)
    with uow:
        product = _own_product(uow, product_id, for_update=True)
        latest = uow.session.get(ProductVersion, product.latest_version_id)
        assert latest is not None
        status = ListingStatus(latest.status)
        # A version that was ever on sale may be in someone's order: it is never edited.
        if status in EDITABLE and latest.listed_at is None:
            _fill(latest, data, sample_dir)
            latest.updated_at = uow.clock.now()
            _replace_offers(uow, latest, data)
            _event(uow, latest, "revised", latest.status, None)
            version = latest
        elif status in (ListingStatus.SUBMITTED, ListingStatus.UNDER_REVIEW):
            raise VersionInReview()
        else:
            version = _new_version(uow, product, latest.number + 1, data, sample_dir, latest)
        uow.commit()
        return _view(uow.session, product, version)


def submit_listing(
    product_id: str, declaration: Mapping[str, Any], *, uow: UnitOfWork,
    signature: str | None = None,
) -> ProductView:
    """Submit the latest version for review with the seller's listing declaration.

    The compliance rules judge the submission: the rights chain (unbroken and in term now,
    held by the seller, covering every resource the product derives from), what the rights
    registrations record about the data (classification, personal information, evidence),
    the seller's admission, and the declaration's answers. The decision is kept whatever it
    says. A blocking decision refuses the submission and writes nothing else; otherwise the
    declaration is signed (listing@1, RFC 8785 SHA-256, optionally with the organisation's
    key signature) and the version is submitted; a decision that needs review or an
    assessment is there for the reviewer.

    Raises:
        ProductNotFound: not the caller's product.
        ListingRefused: blocking rules, each named (the broken link of the chain with it).
        InvalidTransition: the version is not a draft or returned.
        VersionOnceListed: the version was on sale once; revise the product instead.
        InvalidDeclarationSignature: a signature was given and does not verify.
    """
    require(uow.actor, Role.MERCHANT)
    with uow:
        product = _own_product(uow, product_id, for_update=True)
        version = uow.session.get(ProductVersion, product.latest_version_id)
        assert version is not None
        if version.listed_at is not None and ListingStatus(version.status) in EDITABLE:
            # Its declaration is the one it was sold under: changes make a new version.
            raise VersionOnceListed()
        if not can_transition(ListingStatus(version.status), ListingStatus.SUBMITTED):
            raise InvalidTransition(current=version.status,
                                    target=ListingStatus.SUBMITTED.value)
        now = uow.clock.now()
        facts = _listing_facts(uow, product, version, declaration, now)
        passage = compliance.gate(
            facts, ("product_version", version.id), refusal=ListingRefused, uow=uow,
            declare=compliance.Declare(DeclarationKind.LISTING, declaration, signature))
        version.classification = facts.product.classification
        version.declaration = dict(declaration)
        version.declaration_sha256 = passage.declaration_sha256
        version.declared_by_user_id = uow.actor.user_id
        version.declared_at = now
        _move(uow, version, ListingStatus.SUBMITTED, "submitted", None)
        uow.commit()
        return _view(uow.session, product, version)


def _listing_facts(
    uow: UnitOfWork, product: Product, version: ProductVersion,
    declaration: Mapping[str, Any], now: datetime, *, stage: Stage = Stage.LISTING,
    buyer_org_id: str | None = None, commitment: Mapping[str, Any] | None = None,
) -> Facts:
    """What the rules judge at submission (or, with a buyer, at ordering and delivery),
    gathered from rights and participants."""
    return _facts_and_chain(uow, product, version, declaration, now, stage=stage,
                            buyer_org_id=buyer_org_id, commitment=commitment)[0]


def _facts_and_chain(
    uow: UnitOfWork, product: Product, version: ProductVersion,
    declaration: Mapping[str, Any], now: datetime, *, stage: Stage,
    buyer_org_id: str | None, commitment: Mapping[str, Any] | None,
) -> tuple[Facts, Any]:
    chain = rights.check_chain(product.id, now, uow=uow.joined())
    covered = {link.resource_id for link in chain.links if link.resource_id}
    broken: dict[str, Any] | None = chain.broken.as_dict() if chain.broken else None
    if broken is None:
        missing = sorted(set(version.derived_from) - covered)
        if missing:
            broken = {"code": "derivation_not_covered", "right_id": None,
                      "message": "the rights chain does not cover resources "
                                 + ", ".join(missing)}
        elif chain.links[0].holder_org_id != product.merchant_org_id:
            broken = {"code": "wrong_holder", "right_id": chain.links[0].right_id,
                      "message": "the product operation right is held by another "
                                 "organisation"}
    resources = rights.resource_profiles(sorted(covered | set(version.derived_from)),
                                         session=uow.session)
    parties = participants.organisation_facts(
        uow.session, [product.merchant_org_id, *([buyer_org_id] if buyer_org_id else [])])
    seller = parties[product.merchant_org_id]
    buyer = parties.get(buyer_org_id) if buyer_org_id else None
    personal = [r for r in resources.values() if r.pi_level in PERSONAL_LEVELS]
    anonymised = [r for r in resources.values() if r.pi_level == "anonymised"]
    product_facts = ProductFacts(
        classification=max((r.classification for r in resources.values()),
                           key=CLASSIFICATION_ORDER.index, default="general"),
        pi_level=max((r.pi_level for r in resources.values()), key=PI_ORDER.index,
                     default="none"),
        consent_evidence=all("consent" in r.evidence_kinds for r in personal),
        anonymisation_evidence=all("anonymisation" in r.evidence_kinds for r in anonymised),
        security_assessment=any("security_assessment" in r.evidence_kinds
                                for r in resources.values()),
        scenarios=tuple(version.scenarios),
        cross_border_allowed=version.terms.get("territory") == "cross_border",
    )
    facts = Facts(
        stage=stage,
        seller=PartyFacts(seller.id, seller.status, seller.roles),
        product=product_facts, chain_ok=broken is None, broken_link=broken,
        declaration=dict(declaration),
        buyer=PartyFacts(buyer.id, buyer.status, buyer.roles) if buyer else None,
        commitment=dict(commitment) if commitment is not None else None,
    )
    return facts, chain


def claim_review(product_id: str, *, uow: UnitOfWork) -> ProductView:
    """The operator or an assessor takes the submitted version into review.

    Raises:
        RoleNotAllowed, ProductNotFound, ReviewerIsMerchant, InvalidTransition.
    """
    require(uow.actor, Role.OPERATOR, Role.ASSESSOR)
    with uow:
        product, version = _reviewable(uow, product_id)
        version.reviewer_org_id = uow.actor.org_id
        _move(uow, version, ListingStatus.UNDER_REVIEW, "review_claimed", None)
        uow.commit()
        return _view(uow.session, product, version)


def _reviewable(uow: UnitOfWork, product_id: str) -> tuple[Product, ProductVersion]:
    product = uow.session.scalars(
        select(Product).where(Product.id == product_id).with_for_update()).one_or_none()
    if product is None:
        raise ProductNotFound()
    if product.merchant_org_id == uow.actor.org_id:
        raise ReviewerIsMerchant()
    pending = list(uow.session.scalars(
        select(ProductVersion)
        .where(ProductVersion.product_id == product.id,
               ProductVersion.status.in_([ListingStatus.SUBMITTED.value,
                                          ListingStatus.UNDER_REVIEW.value]))
        .order_by(ProductVersion.number.desc())
        .with_for_update()))
    # The version on sale, sent back to review after its rights were restored, goes first.
    version = next((v for v in pending if v.id == product.listed_version_id), None)
    if version is None:
        version = pending[0] if pending else uow.session.get(ProductVersion,
                                                              product.latest_version_id)
    assert version is not None
    return product, version


def decide_review(product_id: str, decision: str, reason: str, *,
                  uow: UnitOfWork) -> ProductView:
    """List, return for corrections, or reject the version under review.

    Listing re-checks the rights chain; a newly listed version supersedes the one on sale.

    Raises:
        RoleNotAllowed, ProductNotFound, ReviewerIsMerchant, ReviewClaimedByOther,
        InvalidTransition, ListingRefused (the chain broke since submission).
    """
    require(uow.actor, Role.OPERATOR, Role.ASSESSOR)
    with uow:
        product, version = _reviewable(uow, product_id)
        if (version.status == ListingStatus.UNDER_REVIEW.value
                and version.reviewer_org_id != uow.actor.org_id and not uow.actor.is_system):
            raise ReviewClaimedByOther()
        if decision == "list":
            chain = rights.check_chain(product.id, uow.clock.now(), uow=uow.joined())
            if not chain.ok:
                assert chain.broken is not None
                raise ListingRefused([chain.broken.as_dict()])
            waiting = compliance.missing_assessment(uow.session, version.id)
            if waiting:
                raise ListingRefused([{
                    "code": "assessment_missing", "rule": rule, "right_id": None,
                    "message": "a compliance or security assessment report must be attached "
                               "to the review first"} for rule in waiting])
            _move(uow, version, ListingStatus.LISTED, "listed", reason)
            # Every older version that was on sale and is not closed yet (on sale, suspended,
            # or returned after a review) gives way to this one.
            earlier = uow.session.scalars(
                select(ProductVersion)
                .where(ProductVersion.product_id == product.id,
                       ProductVersion.id != version.id,
                       ProductVersion.listed_at.is_not(None),
                       ProductVersion.status.in_([s.value for s in SUPERSEDABLE]))
                .order_by(ProductVersion.number))
            for previous in earlier:
                _move(uow, previous, ListingStatus.SUPERSEDED, "superseded",
                      f"version {version.number} listed")
            product.listed_version_id = version.id
            catalog.refresh(uow.session, product.id)
            uow.outbox.enqueue("listing.listed", {"product_id": product.id,
                                                  "version_id": version.id})
        elif decision == "return":
            _move(uow, version, ListingStatus.RETURNED, "returned", reason)
        else:
            _move(uow, version, ListingStatus.REJECTED, "rejected", reason)
        uow.commit()
        return _view(uow.session, product, version)


def change_listing_status(product_id: str, target: ListingStatus, reason: str, *,
                          uow: UnitOfWork) -> ProductView:
    """Suspend or reinstate (the operator) or delist (the merchant or the operator) the
    version on sale.

    Raises:
        RoleNotAllowed: a regulator or another role.
        ProductNotFound: unknown, or not the merchant's own.
        NotTheMerchant: a merchant asks for more than delisting.
        InvalidTransition: nothing on sale to act on, or the lifecycle forbids it.
        ListingRefused: reinstating while the rights chain is broken.
    """
    is_operator = uow.actor.is_system or uow.actor.has_role(Role.OPERATOR)
    if not is_operator and not uow.actor.has_role(Role.MERCHANT):
        raise RoleNotAllowed()
    if target not in (ListingStatus.SUSPENDED, ListingStatus.LISTED, ListingStatus.DELISTED):
        raise InvalidInput(errors={"status": ["must be suspended, listed or delisted"]})
    with uow:
        if is_operator:
            product = uow.session.scalars(select(Product).where(Product.id == product_id)
                                          .with_for_update()).one_or_none()
            if product is None:
                raise ProductNotFound()
        else:
            product = _own_product(uow, product_id, for_update=True)
            if target is not ListingStatus.DELISTED:
                raise NotTheMerchant()
        version = (uow.session.get(ProductVersion, product.listed_version_id)
                   if product.listed_version_id else None)
        if version is None:  # never listed: nothing to act on
            latest = uow.session.get(ProductVersion, product.latest_version_id)
            raise InvalidTransition(current=latest.status if latest else "none",
                                    target=target.value)
        if target is ListingStatus.LISTED:
            chain = rights.check_chain(product.id, uow.clock.now(), uow=uow.joined())
            if not chain.ok:
                assert chain.broken is not None
                raise ListingRefused([chain.broken.as_dict()])
        action = {ListingStatus.SUSPENDED: "suspended", ListingStatus.LISTED: "reinstated",
                  ListingStatus.DELISTED: "delisted"}[target]
        _move(uow, version, target, action, reason)
        catalog.refresh(uow.session, product.id)
        uow.outbox.enqueue(f"listing.{action}", {"product_id": product.id,
                                                 "version_id": version.id})
        uow.commit()
        return _view(uow.session, product, version)


# -- reading -----------------------------------------------------------------------------


def get_product(product_id: str, *, uow: UnitOfWork) -> ProductView:
    """The merchant's own product (latest version), or any for the operator, assessors and
    regulators.

    Raises:
        ProductNotFound: unknown or not visible.
    """
    with uow:
        product = uow.session.get(Product, product_id)
        if product is None or not (_sees_all(uow.actor)
                                   or product.merchant_org_id == uow.actor.org_id):
            raise ProductNotFound()
        version = uow.session.get(ProductVersion, product.latest_version_id)
        assert version is not None
        return _view(uow.session, product, version)


def list_products(*, uow: UnitOfWork, status: str | None = None, after: str | None = None,
                  limit: int = 50) -> Page[Product]:
    """Products the caller may see in full: its own, or all by duty."""
    with uow:
        stmt = select(Product)
        if not _sees_all(uow.actor):
            stmt = stmt.where(Product.merchant_org_id == (uow.actor.org_id or ""))
        if status:
            stmt = stmt.join(ProductVersion, ProductVersion.id == Product.latest_version_id)
            stmt = stmt.where(ProductVersion.status == status)
        return keyset_page(uow.session, stmt, Product.id, after=after, limit=limit)


def views_of(products: Sequence[Product], *, uow: UnitOfWork) -> list[ProductView]:
    with uow:
        found = []
        for product in products:
            version = uow.session.get(ProductVersion, product.latest_version_id)
            assert version is not None
            found.append(_view(uow.session, product, version))
        return found


def history(product_id: str, *, uow: UnitOfWork, after: str | None = None,
            limit: int = 50) -> Page[ListingEvent]:
    """Every change of every version of a product, oldest first. Raises: ProductNotFound."""
    with uow:
        product = uow.session.get(Product, product_id)
        if product is None or not (_sees_all(uow.actor)
                                   or product.merchant_org_id == uow.actor.org_id):
            raise ProductNotFound()
        stmt = (select(ListingEvent).join(ProductVersion,
                                          ProductVersion.id == ListingEvent.version_id)
                .where(ProductVersion.product_id == product_id))
        return keyset_page(uow.session, stmt, ListingEvent.id, after=after, limit=limit)


def listed_version(product_id: str, *, uow: UnitOfWork) -> ProductView:
    """Public: the version on sale of a listed product.

    Raises:
        ProductNotFound: unknown, or nothing on sale.
    """
    with uow:
        product = uow.session.get(Product, product_id)
        version = (uow.session.get(ProductVersion, product.listed_version_id)
                   if product is not None and product.listed_version_id else None)
        if product is None or version is None or version.status != ListingStatus.LISTED.value:
            raise ProductNotFound()
        return _view(uow.session, product, version)


def sample_of(version: ProductVersion) -> tuple[str, str, str] | None:
    if version.sample_sha256 is None:
        return None
    return version.sample_sha256, version.sample_name or "sample", (
        version.sample_media_type or "application/octet-stream")


# -- reactions to rights -----------------------------------------------------------------


def on_rights_unavailable(uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
    """Suspend the versions on sale of products whose rights chain just broke."""
    products = rights.operated_products(payload["right_ids"], session=uow.session)
    if not products:
        return
    stmt = (select(ProductVersion)
            .where(ProductVersion.product_id.in_(sorted(products)),
                   ProductVersion.status == ListingStatus.LISTED.value)
            .with_for_update())
    for version in uow.session.scalars(stmt):
        version.suspended_by_rights = True
        _move(uow, version, ListingStatus.SUSPENDED, "suspended",
              f"rights chain broken: {payload.get('reason', '')}".strip())
        catalog.refresh(uow.session, version.product_id)
        uow.outbox.enqueue("listing.suspended", {"product_id": version.product_id,
                                                 "version_id": version.id})


def on_rights_restored(uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
    """Send versions suspended for their rights back to review once the chain holds again."""
    products = rights.operated_products(payload["right_ids"], session=uow.session)
    if not products:
        return
    stmt = (select(ProductVersion)
            .where(ProductVersion.product_id.in_(sorted(products)),
                   ProductVersion.status == ListingStatus.SUSPENDED.value,
                   ProductVersion.suspended_by_rights.is_(True))
            .with_for_update())
    for version in uow.session.scalars(stmt):
        if rights.check_chain(version.product_id, uow.clock.now(), uow=uow.joined()).ok:
            version.suspended_by_rights = False
            _move(uow, version, ListingStatus.SUBMITTED, "resubmitted",
                  "rights restored: back to review")


# -- catalogue ---------------------------------------------------------------------------


def search_catalog(
    q: str | None, filters: catalog.Filters, *, sort: str, offset: int, limit: int,
    facets: bool, uow: UnitOfWork,
) -> catalog.SearchResult:
    """Public search over listed products (see :mod:`market.listing.catalog`)."""
    with uow:
        return catalog.search(uow.session, q=q, filters=filters, sort=sort, offset=offset,
                              limit=limit, facets=facets)


def catalog_statistics(*, uow: UnitOfWork) -> dict[str, dict[str, int]]:
    with uow:
        return catalog.statistics(uow.session)


def listed_views(product_ids: Sequence[str], *, uow: UnitOfWork) -> list[ProductView]:
    """The versions on sale of these products, in the order given."""
    with uow:
        found = []
        for product_id in product_ids:
            product = uow.session.get(Product, product_id)
            version = (uow.session.get(ProductVersion, product.listed_version_id)
                       if product is not None and product.listed_version_id else None)
            if product is not None and version is not None:
                found.append(_view(uow.session, product, version))
        return found


def on_suspension_ordered(uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
    """Carry out a regulator's order to suspend a listing: the version on sale is suspended
    (and leaves the catalogue) in the order's transaction.

    Raises:
        ProductNotFound: no such product.
        InvalidTransition: nothing of it is on sale.
    """
    product = uow.session.scalars(select(Product).where(Product.id == payload["product_id"])
                                  .with_for_update()).one_or_none()
    if product is None:
        raise ProductNotFound()
    version = (uow.session.get(ProductVersion, product.listed_version_id)
               if product.listed_version_id else None)
    if version is None or version.status != ListingStatus.LISTED.value:
        raise InvalidTransition(current=version.status if version else "none",
                                target=ListingStatus.SUSPENDED.value)
    _move(uow, version, ListingStatus.SUSPENDED, "suspended", str(payload["reason"]))
    catalog.refresh(uow.session, product.id)
    uow.outbox.enqueue("listing.suspended", {"product_id": product.id,
                                             "version_id": version.id})


# -- trading's view of a listing -----------------------------------------------------------


@dataclass(frozen=True)
class TradeView:
    """What an order freezes of a listing: the version on sale, the offer, the facts the
    rules judge and the rights chain they were judged on."""

    product_id: str
    version_id: str
    version_number: int
    merchant_org_id: str
    title: str
    sector: str
    type: str
    scenarios: list[str]
    delivery_modes: list[str]
    terms: dict[str, Any]
    declaration_sha256: str | None
    declaration_id: str | None
    offer: Offer | None
    facts: Facts
    chain: Any


def trade_view(product_id: str, *, stage: Stage, buyer_org_id: str,
               commitment: Mapping[str, Any] | None, uow: UnitOfWork,
               version_id: str | None = None, offer_id: str | None = None) -> TradeView:
    """The listing as an order sees it, in the caller's transaction: by default the version
    on sale now (ordering); with ``version_id`` the version an order bought (delivery),
    whatever its status. The rules' facts are gathered now, with the buyer and its
    commitment.

    Raises:
        ProductNotFound: no such product, or (without ``version_id``) nothing on sale.
        OfferNotFound: ``offer_id`` is not an offer of that version.
    """
    product = uow.session.get(Product, product_id)
    wanted = version_id or (product.listed_version_id if product is not None else None)
    version = uow.session.get(ProductVersion, wanted) if wanted else None
    if product is None or version is None or version.product_id != product.id or (
        version_id is None and version.status != ListingStatus.LISTED.value
    ):
        raise ProductNotFound()
    offer = None
    if offer_id is not None:
        offer = uow.session.get(Offer, offer_id)
        if offer is None or offer.version_id != version.id:
            raise OfferNotFound()
    facts, chain = _facts_and_chain(uow, product, version, version.declaration or {},
                                    uow.clock.now(), stage=stage, buyer_org_id=buyer_org_id,
                                    commitment=commitment)
    declaration = compliance.declaration_of(uow.session, "product_version", version.id)
    return TradeView(
        product_id=product.id, version_id=version.id, version_number=version.number,
        merchant_org_id=product.merchant_org_id, title=version.title, sector=version.sector,
        type=version.type, scenarios=list(version.scenarios),
        delivery_modes=list(version.delivery_modes), terms=dict(version.terms),
        declaration_sha256=version.declaration_sha256,
        declaration_id=declaration.id if declaration is not None else None, offer=offer,
        facts=facts, chain=chain)


def reserve_unit(offer_id: str, *, uow: UnitOfWork) -> None:
    """Take one unit of a limited offer for an order, in the caller's transaction; one
    conditional UPDATE, so concurrent buyers never oversell.

    Raises:
        SoldOut: every unit is taken.
    """
    taken = uow.session.execute(
        update(Offer).where(Offer.id == offer_id,
                            or_(Offer.quantity.is_(None), Offer.sold < Offer.quantity))
        .values(sold=Offer.sold + 1).returning(Offer.id)
        .execution_options(synchronize_session=False)).scalar_one_or_none()
    if taken is None:
        raise SoldOut()


def release_unit(offer_id: str, *, uow: UnitOfWork) -> None:
    """Give back the unit an order took (the order ended unpaid or was refunded)."""
    uow.session.execute(
        update(Offer).where(Offer.id == offer_id, Offer.sold > 0)
        .values(sold=Offer.sold - 1).execution_options(synchronize_session=False))
