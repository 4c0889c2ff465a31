"""Tables of the Stripe rail: Connect accounts of payees, card payments of orders, every
Stripe call as a persisted operation (written in the business transaction, performed by the
worker outside any transaction with its idempotency key), and inbound Stripe events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CheckConstraint, Index
from sqlalchemy.types import BigInteger, Boolean, Integer, String, Text

from market.kernel.db import Base, JSONType, UTCDateTime, sql_values


class CallState(StrEnum):
    PENDING = "pending"  # written, not yet answered by Stripe (or to be tried again)
    DONE = "done"  # Stripe answered with the object; its follow-ups are recorded
    FAILED = "failed"  # Stripe refused it (a 4xx other than a conflict or rate limit)


class CardStatus(StrEnum):
    REQUESTED = "requested"  # the PaymentIntent is to be created
    OPEN = "open"  # the PaymentIntent waits for the buyer's card
    AUTHORISED = "authorised"  # funds held on the card (manual capture), the order is paid
    CAPTURED = "captured"  # the charge is captured, the money is at Stripe
    CANCELLED = "cancelled"  # the authorisation was cancelled, nothing was charged
    RETURNED = "returned"  # paid, then given back to the card in full


class CaptureMethod(StrEnum):
    MANUAL = "manual"  # capture on acceptance, within the card authorisation window
    AUTOMATIC = "automatic"  # capture at once, hold the money in the order's escrow


class ConnectAccount(Base):
    """A payee's Stripe Connect account; its status is synced from ``account.updated``."""

    __tablename__ = "stripe_connect_accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    stripe_account_id: Mapped[str | None] = mapped_column(String(60), unique=True)
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    email: Mapped[str] = mapped_column(String(200), nullable=False)
    refresh_url: Mapped[str] = mapped_column(String(500), nullable=False)
    return_url: Mapped[str] = mapped_column(String(500), nullable=False)
    charges_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    details_submitted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    onboarding_url: Mapped[str | None] = mapped_column(String(500))
    onboarding_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    links: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    @property
    def transfers_possible(self) -> bool:
        """Stripe accepts transfers to the account."""
        return bool(self.stripe_account_id) and self.payouts_enabled

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "org_id": self.org_id,
                "stripe_account_id": self.stripe_account_id,
                "charges_enabled": self.charges_enabled,
                "payouts_enabled": self.payouts_enabled,
                "details_submitted": self.details_submitted}


class CardPayment(Base):
    """How an order is paid by card: one PaymentIntent on the platform (separate charges and
    transfers, ``transfer_group=order_<id>``)."""

    __tablename__ = "card_payments"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_values(CardStatus)})", name="status"),
        CheckConstraint(f"capture_method IN ({sql_values(CaptureMethod)})",
                        name="capture_method"),
        CheckConstraint("amount > 0", name="amount"),
    )

    order_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    buyer_org_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    capture_method: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    payment_intent_id: Mapped[str | None] = mapped_column(String(60), unique=True)
    client_secret: Mapped[str | None] = mapped_column(String(200))
    charge_id: Mapped[str | None] = mapped_column(String(60), index=True)
    captured_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    settled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # An order of a subscription: the card is saved on the buyer's Stripe Customer
    # (``setup_future_usage=off_session``) so renewals can charge it without the buyer.
    subscription_id: Mapped[str | None] = mapped_column(String(40), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(60))
    payment_method_id: Mapped[str | None] = mapped_column(String(60))
    # A renewal charged off-session from the saved card; ``attempts`` numbers its
    # PaymentIntents (``order:<id>:payment_intent:v<n>``), one per try in the grace period.
    off_session: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "amount": self.amount, "currency": self.currency,
                "capture_method": self.capture_method, "status": self.status,
                "payment_intent_id": self.payment_intent_id, "charge_id": self.charge_id,
                "captured_amount": self.captured_amount, "settled": self.settled,
                "subscription_id": self.subscription_id, "customer_id": self.customer_id,
                "payment_method_id": self.payment_method_id, "off_session": self.off_session,
                "attempts": self.attempts}


class RenewalRequest(Base):
    """A subscription's renewal the rail was told is due (``subscription.renewal_due``):
    the worker asks trading whether it is still to be collected and, if so, charges the
    saved card. A repeated request before it is handled is the same row."""

    __tablename__ = "stripe_renewal_requests"
    __table_args__ = (Index("ix_stripe_renewal_requests_pending", "handled_at",
                            "requested_at"),)

    order_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(40), nullable=False)
    requests: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(40))

    def state(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "subscription_id": self.subscription_id,
                "requests": self.requests, "outcome": self.outcome}


class StripeCall(Base):
    """One Stripe API call, persisted before it is made: the worker performs it outside any
    database transaction with ``idempotency_key`` and records the answer in a new one, so a
    crash between the two repeats the call with the same key and Stripe answers the first
    result."""

    __tablename__ = "stripe_calls"
    __table_args__ = (
        CheckConstraint(f"state IN ({sql_values(CallState)})", name="state"),
        Index("ix_stripe_calls_due", "state", "next_attempt_at"),
        Index("ix_stripe_calls_subject", "subject_type", "subject_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    operation: Mapped[str] = mapped_column(String(40), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    subject_type: Mapped[str] = mapped_column(String(20), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(40), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    result_id: Mapped[str | None] = mapped_column(String(60), index=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def state_dict(self) -> dict[str, Any]:
        return {"id": self.id, "idempotency_key": self.idempotency_key,
                "operation": self.operation, "state": self.state,
                "result_id": self.result_id, "error": self.error, "attempts": self.attempts}


class StripeEvent(Base):
    """An event Stripe sent (signature verified), stored by its id; the worker applies it,
    re-reading the object from Stripe, so repeats and out-of-order delivery are harmless."""

    __tablename__ = "stripe_events"
    __table_args__ = (Index("ix_stripe_events_pending", "applied_at", "received_at"),)

    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    type: Mapped[str] = mapped_column(String(80), nullable=False)
    object_id: Mapped[str] = mapped_column(String(60), nullable=False)
    account: Mapped[str | None] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)
