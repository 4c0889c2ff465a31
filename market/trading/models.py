"""Trading tables: orders, the contract each freezes (append-only), their history,
deliveries with download tokens, and disputes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from market.kernel.db import Base, JSONType, UTCDateTime, sql_values
from market.kernel.statemachine import HistoryRow, Lifecycle, Stateful
from market.trading.domain import (
    TRANSITIONS,
    DeliveryMode,
    DisputeOutcome,
    DisputeStatus,
    OrderStatus,
)


class Order(Stateful, Base):
    """A buyer's order on one offer of a listed version."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_values(OrderStatus)})", name="status"),
        CheckConstraint("amount >= 0", name="amount"),
        Index("ix_orders_buyer", "buyer_org_id", "id"),
        Index("ix_orders_seller", "seller_org_id", "id"),
        Index("ix_orders_product", "product_id", "status"),
        Index("ix_orders_status", "status", "id"),
    )
    LIFECYCLE = Lifecycle(OrderStatus, TRANSITIONS)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    buyer_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    seller_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    product_id: Mapped[str] = mapped_column(String(40), nullable=False)
    version_id: Mapped[str] = mapped_column(String(40), nullable=False)
    offer_id: Mapped[str] = mapped_column(String(40), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    commitment_id: Mapped[str] = mapped_column(String(40), nullable=False)
    decision_id: Mapped[str] = mapped_column(String(40), nullable=False)
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)
    cross_border: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    flagged: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    flag_reason: Mapped[str | None] = mapped_column(Text)
    placed_by_user_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    review_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pay_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deliver_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accept_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    auto_accepted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "buyer_org_id": self.buyer_org_id,
                "seller_org_id": self.seller_org_id, "product_id": self.product_id,
                "version_id": self.version_id, "offer_id": self.offer_id,
                "amount": self.amount, "currency": self.currency, "flagged": self.flagged}


class Contract(Base):
    """What an order agreed, frozen: the version, offer and price, usage terms, the
    declarations' digests, the rights chain and the distribution rule. Its digest is the
    RFC 8785 SHA-256 of ``document``. Never updated or deleted (database triggers)."""

    __tablename__ = "contracts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), nullable=False,
                                          unique=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class OrderEvent(HistoryRow, Base):
    """History of an order: every status change, who made it and why."""

    __tablename__ = "order_events"
    STATUS_LENGTH = 20

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), nullable=False, index=True)


class Delivery(Base):
    """What the merchant delivered for an order, checked against the rights chain and the
    usage terms when it was made."""

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint(f"mode IN ({sql_values(DeliveryMode)})", name="mode"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), nullable=False, index=True)
    mode: Mapped[str] = mapped_column(String(16), nullable=False)
    decision_id: Mapped[str] = mapped_column(String(40), nullable=False)
    file_name: Mapped[str | None] = mapped_column(String(200))
    media_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    credential_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    endpoint: Mapped[str | None] = mapped_column(String(500))
    purpose: Mapped[str | None] = mapped_column(Text)
    access_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    access_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "order_id": self.order_id, "mode": self.mode,
                "sha256": self.sha256, "size": self.size, "endpoint": self.endpoint,
                "decision_id": self.decision_id}


class DownloadToken(Base):
    """A secret link to a delivered file: it expires and allows a limited number of
    downloads. Only the SHA-256 of the token is stored."""

    __tablename__ = "download_tokens"
    __table_args__ = (CheckConstraint("uses >= 0 AND uses <= max_uses", name="uses"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), nullable=False,
                                             index=True)
    order_id: Mapped[str] = mapped_column(String(40), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    max_uses: Mapped[int] = mapped_column(Integer, nullable=False)
    uses: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Dispute(Base):
    """A buyer's dispute over an order: its reason and evidence, the merchant's answer and
    the operator's decision. The order's money stays in escrow meanwhile."""

    __tablename__ = "disputes"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_values(DisputeStatus)})", name="status"),
        CheckConstraint(f"outcome IS NULL OR outcome IN ({sql_values(DisputeOutcome)})",
                        name="outcome"),
        Index("ix_disputes_status", "status", "answer_by"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), nullable=False, index=True)
    buyer_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    seller_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    evidence_sha256: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    answer_by: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    answer: Mapped[str | None] = mapped_column(Text)
    answer_evidence_sha256: Mapped[list[str] | None] = mapped_column(JSONType)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))
    refund_amount: Mapped[int | None] = mapped_column(BigInteger)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "order_id": self.order_id, "status": self.status,
                "outcome": self.outcome, "refund_amount": self.refund_amount}


class UsageRecord(Base):
    """Metered use of a pay-per-use order, reported by the merchant's API; ``key`` makes a
    report idempotent."""

    __tablename__ = "usage_records"
    __table_args__ = (
        UniqueConstraint("order_id", "key", name="uq_usage_records_key"),
        CheckConstraint("units > 0", name="units"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), nullable=False, index=True)
    key: Mapped[str] = mapped_column(String(100), nullable=False)
    units: Mapped[int] = mapped_column(BigInteger, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
