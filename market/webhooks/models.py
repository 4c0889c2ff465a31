"""Webhook tables: endpoints and their signing secrets, the events sent to each
organisation, deliveries of events to endpoints and every attempt (append-only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.types import Boolean, Integer, String, Text

from market.kernel.db import Base, JSONType, UTCDateTime, sql_values
from market.webhooks.domain import DeliveryStatus, EndpointStatus


class Endpoint(Base):
    """A participant's HTTPS address for events of the types it chose."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_values(EndpointStatus)})", name="status"),
        Index("ix_webhook_endpoints_org", "org_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False)
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    description: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    event_types: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "org_id": self.org_id, "url": self.url,
                "description": self.description, "event_types": list(self.event_types),
                "status": self.status, "disabled_reason": self.disabled_reason,
                "deleted": self.deleted_at is not None}


class EndpointSecret(Base):
    """A signing secret, encrypted at rest. Live while ``expires_at`` is empty or ahead:
    during a rotation's overlap the old and the new secret both sign."""

    __tablename__ = "webhook_secrets"
    __table_args__ = (Index("ix_webhook_secrets_endpoint", "endpoint_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"), nullable=False)
    sealed: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Event(Base):
    """An event sent to one organisation: ``data`` is its object as the API showed it to
    that organisation when the event was made. One per (outbox message, organisation,
    type), so a message handled twice makes no second event."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("message_id", "org_id", "type", name="uq_webhook_events_message"),
        Index("ix_webhook_events_org", "org_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False)
    type: Mapped[str] = mapped_column(String(100), nullable=False)
    subject_type: Mapped[str] = mapped_column(String(40), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(100), nullable=False)
    message_id: Mapped[str] = mapped_column(String(40), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Delivery(Base):
    """One event on its way to one endpoint; retried until it succeeds or its window ends.
    A replay is a new delivery of the same event."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_values(DeliveryStatus)})", name="status"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_event", "event_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id"), nullable=False)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    replay: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Attempt(Base):
    """One HTTP attempt of a delivery: when, how long, the answer's status and its first
    KiB. Never updated or deleted (database triggers)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"),
                                             nullable=False)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    succeeded: Mapped[bool] = mapped_column(Boolean, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    response_excerpt: Mapped[str] = mapped_column(Text, nullable=False, default="")
    error: Mapped[str | None] = mapped_column(String(500))
