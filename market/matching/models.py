"""Matching tables: demands and their history and matches, negotiations and their history,
saved catalogue searches and what they found, and merchants' declared capabilities."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.types import BigInteger, Boolean, Integer, String, Text

from market.kernel.actor import Actor
from market.kernel.db import Base, JSONType, UTCDateTime, sql_values
from market.kernel.statemachine import HistoryRow, Lifecycle, Stateful
from market.matching.domain import (
    DEMAND_TRANSITIONS,
    NEGOTIATION_TRANSITIONS,
    DemandStatus,
    NegotiationStatus,
    Visibility,
    Want,
)
from market.matching.errors import NegotiationNotFound, NotYourTurn


class Demand(Stateful, Base):
    """A buyer's demand (需求清单): what it needs, for what use, at what budget, until when."""

    __tablename__ = "demands"
    LIFECYCLE = Lifecycle(DemandStatus, DEMAND_TRANSITIONS)
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_values(DemandStatus)})", name="status"),
        CheckConstraint(f"visibility IN ({sql_values(Visibility)})", name="visibility"),
        CheckConstraint("budget_min IS NULL OR budget_min >= 0", name="budget_min"),
        CheckConstraint("budget_max IS NULL OR budget_min IS NULL OR budget_max >= budget_min",
                        name="budget_range"),
        Index("ix_demands_status", "status", "deadline"),
        Index("ix_demands_buyer", "buyer_org_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    buyer_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False)
    posted_by_org_id: Mapped[str] = mapped_column(String(40), nullable=False)  # or a broker
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    sector: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    region: Mapped[str | None] = mapped_column(String(60), index=True)
    product_types: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    delivery_modes: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    required_fields: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    coverage: Mapped[str | None] = mapped_column(String(200))
    freshness: Mapped[str | None] = mapped_column(String(16))
    budget_min: Mapped[int | None] = mapped_column(BigInteger)
    budget_max: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    purposes: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    scenarios: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    cross_border: Mapped[bool] = mapped_column(Boolean, nullable=False)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    visibility: Mapped[str] = mapped_column(String(16), nullable=False)
    invited_org_ids: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    words: Mapped[list[str]] = mapped_column(JSONType, nullable=False)  # its query terms
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def entered(self, target: Any, *, at: datetime, reason: str | None) -> None:
        self.status_reason = reason
        if target is DemandStatus.MATCHED:
            self.matched_at = at
        if self.terminal:
            self.closed_at = at

    def want(self) -> Want:
        return Want(words=tuple(self.words), product_types=tuple(self.product_types),
                    delivery_modes=tuple(self.delivery_modes), region=self.region,
                    freshness=self.freshness, budget_min=self.budget_min,
                    budget_max=self.budget_max, currency=self.currency,
                    purposes=tuple(self.purposes), scenarios=tuple(self.scenarios),
                    cross_border=self.cross_border)

    def open_to(self, org_id: str | None) -> bool:
        """Whether a merchant may see and answer it."""
        return self.visibility == Visibility.PUBLIC.value or org_id in self.invited_org_ids

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "buyer_org_id": self.buyer_org_id,
                "title": self.title, "sector": self.sector, "budget_min": self.budget_min,
                "budget_max": self.budget_max, "currency": self.currency,
                "purposes": self.purposes, "cross_border": self.cross_border,
                "deadline": self.deadline.isoformat(), "visibility": self.visibility}


class DemandEvent(HistoryRow, Base):
    """History of a demand."""

    __tablename__ = "demand_events"

    demand_id: Mapped[str] = mapped_column(ForeignKey("demands.id"), nullable=False,
                                           index=True)


class DemandMatch(Base):
    """A listing that matched a demand: its score and components when it was last scored,
    and whether it is among the demand's current top matches."""

    __tablename__ = "demand_matches"
    __table_args__ = (
        UniqueConstraint("demand_id", "product_id", name="demand_product"),
        Index("ix_demand_matches_merchant", "merchant_org_id", "demand_id"),
        Index("ix_demand_matches_product", "product_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    demand_id: Mapped[str] = mapped_column(ForeignKey("demands.id"), nullable=False)
    product_id: Mapped[str] = mapped_column(String(40), nullable=False)
    merchant_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    components: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    first_matched_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Negotiation(Stateful, Base):
    """A quote request or an answer to a demand, countered until both sides agree; the
    agreement becomes a private offer the buyer orders."""

    __tablename__ = "negotiations"
    LIFECYCLE = Lifecycle(NegotiationStatus, NEGOTIATION_TRANSITIONS)
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_values(NegotiationStatus)})", name="status"),
        CheckConstraint("commission_bps IS NULL OR (commission_bps >= 0 AND "
                        "commission_bps <= 10000 AND broker_org_id IS NOT NULL)",
                        name="commission"),
        Index("ix_negotiations_buyer", "buyer_org_id", "id"),
        Index("ix_negotiations_merchant", "merchant_org_id", "id"),
        Index("ix_negotiations_broker", "broker_org_id", "id"),
        Index("ix_negotiations_status", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    offer_id: Mapped[str | None] = mapped_column(String(40))  # the public offer asked about
    demand_id: Mapped[str | None] = mapped_column(ForeignKey("demands.id"), index=True)
    buyer_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    merchant_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    broker_org_id: Mapped[str | None] = mapped_column(String(40))
    commission_bps: Mapped[int | None] = mapped_column(Integer)
    buyer_accepted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    merchant_accepted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    status_reason: Mapped[str | None] = mapped_column(Text)
    terms: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    proposed_by: Mapped[str | None] = mapped_column(String(16))  # buyer or merchant
    round: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    private_offer_id: Mapped[str | None] = mapped_column(String(40))
    decision_id: Mapped[str | None] = mapped_column(String(40))
    order_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def entered(self, target: Any, *, at: datetime, reason: str | None) -> None:
        self.status_reason = reason
        if self.terminal:
            self.closed_at = at

    def side_of(self, actor: Actor) -> str:
        """The actor's side: buyer, merchant or broker (the system acts as neither).

        Raises:
            NegotiationNotFound: the actor is not a party.
        """
        if actor.org_id == self.buyer_org_id:
            return "buyer"
        if actor.org_id == self.merchant_org_id:
            return "merchant"
        if self.broker_org_id is not None and actor.org_id == self.broker_org_id:
            return "broker"
        raise NegotiationNotFound()

    def check_answering(self, side: str) -> None:
        """Raises NotYourTurn unless ``side`` answers the other side's terms."""
        if side not in ("buyer", "merchant") or side == self.proposed_by:
            raise NotYourTurn()

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "product_id": self.product_id,
                "buyer_org_id": self.buyer_org_id, "merchant_org_id": self.merchant_org_id,
                "broker_org_id": self.broker_org_id, "commission_bps": self.commission_bps,
                "terms": self.terms, "round": self.round, "proposed_by": self.proposed_by,
                "private_offer_id": self.private_offer_id, "order_id": self.order_id}


class NegotiationEvent(HistoryRow, Base):
    """History of a negotiation: every move, by whom, with the terms it put on the table."""

    __tablename__ = "negotiation_events"

    negotiation_id: Mapped[str] = mapped_column(ForeignKey("negotiations.id"), nullable=False,
                                                index=True)
    terms: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class SavedSearch(Base):
    """A buyer's catalogue search kept to hear of new listings that match it."""

    __tablename__ = "saved_searches"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False,
                                        index=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    q: Mapped[str | None] = mapped_column(String(200))
    words: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    filters: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class SavedSearchHit(Base):
    """A listing a saved search was told about (once per listing)."""

    __tablename__ = "saved_search_hits"

    saved_search_id: Mapped[str] = mapped_column(
        ForeignKey("saved_searches.id", ondelete="CASCADE"), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Capability(Base):
    """Data a merchant can produce or process on request (供给清单 beyond its listings)."""

    __tablename__ = "capabilities"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"),
                                                 nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    sector: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    region: Mapped[str | None] = mapped_column(String(60))
    product_types: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    delivery_modes: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    words: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
