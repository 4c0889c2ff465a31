"""Products and their versions as the merchant writes them: the product form with its offers
and sample, its validation, drafting a product and revising it (in place while a draft, as
a new version once it was on sale)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from market.kernel.actor import Role, require
from market.kernel.errors import Conflict, InvalidInput
from market.kernel.ids import new_id
from market.kernel.storage import FileStore, file_store, sharded
from market.kernel.uow import UnitOfWork
from market.listing import repository
from market.listing.domain import (
    DevelopmentLevel,
    ListingStatus,
    OfferSpec,
    ProductType,
    UsageTerms,
)
from market.listing.errors import ProductNotFound
from market.listing.models import Offer, Product, ProductVersion
from market.listing.services._common import ProductView, own_product, record, view
from market.rights import services as rights


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
    # Public data: the cost-recovery basis capping commercial offers: amount (minor units),
    # currency, explanation and the SHA-256 of the document it rests on.
    cost_basis: Mapping[str, Any] | None = None
    # Where the data is stored (数据境内存储): an ISO country code and a region text.
    storage_location: str = "CN"
    storage_region: str | None = None


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
    basis = data.cost_basis
    if basis is not None and not (isinstance(basis.get("amount"), int)
                                  and not isinstance(basis.get("amount"), bool)
                                  and basis["amount"] > 0):
        errors["cost_basis.amount"] = ["a positive amount in minor units"]
    if len(data.storage_location) != 2 or not data.storage_location.isascii() or not (
            data.storage_location.isalpha() and data.storage_location.isupper()):
        errors["storage_location"] = ["must be an ISO 3166-1 alpha-2 country code, e.g. CN"]
    if errors:
        raise InvalidInput(errors=errors)


def _store_sample(sample: Sample, sample_dir: FileStore | Path | None) -> str:
    """The sample's SHA-256, the sample kept under it unless ``sample_dir`` is None."""
    if sample_dir is None:
        return hashlib.sha256(sample.content).hexdigest()
    return file_store(sample_dir).put(io.BytesIO(sample.content), sharded).sha256


def _fill(version: ProductVersion, data: ProductInput, sample_dir: FileStore | Path | None) -> None:
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
    version.storage_location = data.storage_location
    version.storage_region = data.storage_region
    version.derived_from = list(data.derived_from)
    version.quality_reports = list(data.quality_reports)
    version.assessment_reports = list(data.assessment_reports)
    version.terms = data.terms.as_dict()
    version.cost_basis = dict(data.cost_basis) if data.cost_basis is not None else None
    if data.sample is not None:
        version.sample_sha256 = _store_sample(data.sample, sample_dir)
        version.sample_name = data.sample.name
        version.sample_media_type = data.sample.media_type
        version.sample_size = len(data.sample.content)


def _replace_offers(uow: UnitOfWork, version: ProductVersion, data: ProductInput) -> None:
    for offer in repository.offers_of(uow.session, version.id):
        uow.session.delete(offer)
    uow.session.flush()
    for name, spec in data.offers:
        uow.session.add(Offer(
            id=new_id("ofr"), version_id=version.id, kind=spec.kind.value, name=name,
            currency=spec.currency, amount=spec.amount, period=spec.period, unit=spec.unit,
            cap_amount=spec.cap_amount, quantity=spec.quantity, sold=0,
            buyer_class=spec.buyer_class.value if spec.buyer_class is not None else None,
        ))
    uow.session.flush()


def _new_version(uow: UnitOfWork, product: Product, number: int, data: ProductInput,
                 sample_dir: FileStore | Path | None, based_on: ProductVersion | None
                 ) -> ProductVersion:
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
    record(uow, version, "drafted", None, None)
    return version


def create_product(
    data: ProductInput, *, uow: UnitOfWork, product_id: str | None = None,
    sample_dir: FileStore | Path | None = None,
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
                                                  uow=uow.joined()):
                raise ProductNotFound(errors={"product_id": ["no product operation right of "
                                                             "yours names this product"]})
            if repository.get_product(uow.session, product_id) is not None:
                raise Conflict("the product already exists", errors={"product_id": ["exists"]})
        product = Product(id=product_id or new_id("prd"), merchant_org_id=uow.actor.org_id,
                          created_at=uow.clock.now())
        uow.session.add(product)
        uow.session.flush()
        version = _new_version(uow, product, 1, data, sample_dir, None)
        uow.commit()
        return view(uow.session, product, version)


def revise_product(
    product_id: str, data: ProductInput, *, uow: UnitOfWork,
    sample_dir: FileStore | Path | None = None,
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
        product = own_product(uow, product_id)
        latest = repository.latest_version(uow.session, product)
        if latest.revisable_in_place():
            _fill(latest, data, sample_dir)
            latest.updated_at = uow.clock.now()
            _replace_offers(uow, latest, data)
            record(uow, latest, "revised", latest.status, None)
            version = latest
        else:
            version = _new_version(uow, product, latest.number + 1, data, sample_dir, latest)
        uow.commit()
        return view(uow.session, product, version)
