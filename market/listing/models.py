"""Listing tables: products, their versions (each with its own listing lifecycle), offers and
the history of every version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.types import BigInteger, Integer, String, Text

from market.kernel.db import Base, JSONType, UTCDateTime, sql_values
from market.kernel.statemachine import HistoryRow, Lifecycle, Stateful
from market.listing.domain import (
    EDITABLE,
    TRANSITIONS,
    DevelopmentLevel,
    ListingStatus,
    OfferKind,
    ProductType,
)
from market.listing.errors import (
    NotTheMerchant,
    ProductNotFound,
    ReviewClaimedByOther,
    ReviewerIsMerchant,
    VersionInReview,
    VersionOnceListed,
)


class Product(Base):
    """A data product: identity and owner; its content lives in versions."""

    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False,
                                                 index=True)
    listed_version_id: Mapped[str | None] = mapped_column(String(40))
    latest_version_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def check_merchant(self, org_id: str | None, *, is_system: bool = False) -> None:
        """Only the merchant (or the system) changes its product; to anyone else another
        organisation's product does not exist.

        Raises:
            ProductNotFound: ``org_id`` is not the merchant's.
        """
        if self.merchant_org_id != org_id and not is_system:
            raise ProductNotFound()

    def check_merchant_change(self, org_id: str | None, target: ListingStatus, *,
                              is_system: bool = False) -> None:
        """A merchant may take its own product off sale, nothing more: suspending and
        reinstating are the operator's.

        Raises:
            ProductNotFound: not the merchant's product.
            NotTheMerchant: ``target`` is not delisting.
        """
        self.check_merchant(org_id, is_system=is_system)
        if target is not ListingStatus.DELISTED:
            raise NotTheMerchant()

    def check_reviewer(self, org_id: str | None) -> None:
        """Raises ReviewerIsMerchant: ``org_id`` would review its own product."""
        if self.merchant_org_id == org_id:
            raise ReviewerIsMerchant()


class ProductVersion(Stateful, Base):
    """One version of a product's content, reviewed and listed as a whole."""

    __tablename__ = "product_versions"
    LIFECYCLE = Lifecycle(ListingStatus, TRANSITIONS)
    __table_args__ = (
        UniqueConstraint("product_id", "number", name="number"),
        CheckConstraint(f"status IN ({sql_values(ListingStatus)})", name="status"),
        CheckConstraint(f"type IN ({sql_values(ProductType)})", name="type"),
        CheckConstraint(f"development_level IN ({sql_values(DevelopmentLevel)})",
                        name="development_level"),
        Index("ix_product_versions_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), nullable=False,
                                            index=True)
    merchant_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Set when a rights problem suspended the version, so restoring the rights sends
    # exactly these back to review.
    suspended_by_rights: Mapped[bool] = mapped_column(nullable=False, default=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    development_level: Mapped[str] = mapped_column(String(16), nullable=False)
    sector: Mapped[str] = mapped_column(String(60), nullable=False)
    tags: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    region: Mapped[str] = mapped_column(String(60), nullable=False)
    spatial_coverage: Mapped[str | None] = mapped_column(String(200))
    temporal_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    temporal_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    update_frequency: Mapped[str] = mapped_column(String(40), nullable=False)
    formats: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    field_schema: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False)
    scenarios: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    delivery_modes: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    # Where the data is stored (数据境内存储): an ISO country code and a region text.
    storage_location: Mapped[str] = mapped_column(String(2), nullable=False, default="CN",
                                                  server_default="CN")
    storage_region: Mapped[str | None] = mapped_column(String(100))
    derived_from: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    quality_reports: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    assessment_reports: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    terms: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    sample_sha256: Mapped[str | None] = mapped_column(String(64))
    sample_name: Mapped[str | None] = mapped_column(String(200))
    sample_media_type: Mapped[str | None] = mapped_column(String(100))
    sample_size: Mapped[int | None] = mapped_column(Integer)
    # When the stored sample was deleted, no live version showing it any more.
    sample_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    declaration: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    declaration_sha256: Mapped[str | None] = mapped_column(String(64))
    declared_by_user_id: Mapped[str | None] = mapped_column(String(40))
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    classification: Mapped[str | None] = mapped_column(String(16))
    # What the rules found the data to be at submission (compliance's ProductFacts), so a
    # listing can be screened for a demand without walking its rights chain again.
    product_facts: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Public data: the cost-recovery basis capping its commercial offers ({amount, currency,
    # explanation, document_sha256}).
    cost_basis: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    reviewer_org_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    listed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def entered(self, target: Any, *, at: datetime, reason: str | None) -> None:
        self.status_reason = reason
        if target is ListingStatus.LISTED:
            self.listed_at = at
            self.suspended_by_rights = False

    def revisable_in_place(self) -> bool:
        """Whether a change edits this version (a draft or returned version never on sale)
        rather than making a new one; a version once on sale may be in someone's order, so
        it is never edited.

        Raises:
            VersionInReview: the version waits for or is in review.
        """
        status = ListingStatus(self.status)
        if status in EDITABLE and self.listed_at is None:
            return True
        if status in (ListingStatus.SUBMITTED, ListingStatus.UNDER_REVIEW):
            raise VersionInReview()
        return False

    def check_submittable(self) -> None:
        """The version may go to review with a new declaration.

        Raises:
            VersionOnceListed: it was on sale once and keeps the declaration it was sold
                under; changes make a new version.
            InvalidTransition: it is not a draft or returned.
        """
        if self.listed_at is not None and ListingStatus(self.status) in EDITABLE:
            raise VersionOnceListed()
        self.LIFECYCLE.check(self.status, ListingStatus.SUBMITTED)

    def declare(self, declaration: dict[str, Any], sha256: str | None, *,
                product_facts: dict[str, Any], by_user_id: str | None, at: datetime) -> None:
        """Keep the seller's signed declaration and what the rules found the data to be."""
        self.classification = str(product_facts["classification"])
        self.product_facts = product_facts
        self.declaration = declaration
        self.declaration_sha256 = sha256
        self.declared_by_user_id = by_user_id
        self.declared_at = at

    def check_decider(self, org_id: str | None, *, is_system: bool = False) -> None:
        """Raises ReviewClaimedByOther: the version is under review by another
        organisation."""
        if (self.status == ListingStatus.UNDER_REVIEW.value and self.reviewer_org_id != org_id
                and not is_system):
            raise ReviewClaimedByOther()

    def state(self) -> dict[str, Any]:
        return {
            "id": self.id, "product_id": self.product_id, "number": self.number,
            "status": self.status, "status_reason": self.status_reason, "title": self.title,
            "type": self.type, "sector": self.sector, "scenarios": self.scenarios,
            "terms": self.terms, "declaration_sha256": self.declaration_sha256,
        }


class Offer(Base):
    """A pricing plan of a version; price in integer minor units.

    A private offer (``buyer_org_id`` set) is the outcome of a negotiation: only that buyer
    sees and orders it, until ``expires_at``, on the terms agreed (``terms``,
    ``delivery_modes``), with the broker's commission if a broker brought the deal about.
    """

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint(f"kind IN ({sql_values(OfferKind)})", name="kind"),
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount"),
        CheckConstraint("quantity IS NULL OR (quantity >= 1 AND sold <= quantity)",
                        name="quantity"),
        CheckConstraint("commission_bps IS NULL OR (commission_bps >= 0 AND "
                        "commission_bps <= 10000 AND broker_org_id IS NOT NULL)",
                        name="commission"),
        CheckConstraint("buyer_org_id IS NOT NULL OR (negotiation_id IS NULL AND "
                        "expires_at IS NULL)", name="private"),
        Index("ix_offers_buyer", "buyer_org_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("product_versions.id"), nullable=False,
                                            index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    period: Mapped[str | None] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(8))
    cap_amount: Mapped[int | None] = mapped_column(BigInteger)
    quantity: Mapped[int | None] = mapped_column(Integer)
    sold: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    buyer_org_id: Mapped[str | None] = mapped_column(String(40))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    terms: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    delivery_modes: Mapped[list[str] | None] = mapped_column(JSONType)
    negotiation_id: Mapped[str | None] = mapped_column(String(40))
    demand_id: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str | None] = mapped_column(String(16))  # negotiation, match or broker
    broker_org_id: Mapped[str | None] = mapped_column(String(40))
    commission_bps: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    buyer_class: Mapped[str | None] = mapped_column(String(16))  # public data: whom it is for

    @property
    def private(self) -> bool:
        return self.buyer_org_id is not None

    def visible_to(self, org_id: str | None) -> bool:
        return self.buyer_org_id is None or self.buyer_org_id == org_id


class ListingEvent(HistoryRow, Base):
    """History of a version: every status change, who made it and why."""

    __tablename__ = "listing_events"

    version_id: Mapped[str] = mapped_column(ForeignKey("product_versions.id"), nullable=False,
                                            index=True)
