"""Trading tables: orders, the contract each freezes (append-only), their history,
deliveries with download tokens, and disputes (:mod:`market.trading.dispute_models`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.types import BigInteger, Boolean, Integer, String, Text

from market.kernel.actor import Actor
from market.kernel.db import Base, JSONType, UTCDateTime, sql_values
from market.kernel.errors import InvalidTransition
from market.kernel.statemachine import HistoryRow, Lifecycle, Stateful
from market.trading.dispute_models import Dispute as Dispute  # its own module
from market.trading.domain import (
    LIVE_SUBSCRIPTIONS,
    SUBSCRIPTION_TRANSITIONS,
    TRANSITIONS,
    DeliveryMode,
    OrderStatus,
    SubscriptionStatus,
)
from market.trading.errors import (
    DeliveryWindowClosed,
    DisputeWindowClosed,
    NotAParty,
    OrderFlagged,
    PaymentWindowClosed,
    ReviewWindowClosed,
)


def _require_one_of(actor: Actor, *org_ids: str) -> None:
    """The system acts for anyone; an organisation only for itself."""
    if not actor.is_system and actor.org_id not in org_ids:
        raise NotAParty()


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
    # A public-data trade: the buyer class it was bought for (public_interest, commercial).
    purpose_class: Mapped[str | None] = mapped_column(String(16))
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
    # What went back to the buyer: a dispute's refund, a full refund, refunds after
    # settlement. A settled order stays settled; refunded in full, this equals what it billed.
    refunded_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0,
                                                 server_default="0")
    # An order on a subscription offer pays one period of its subscription.
    subscription_id: Mapped[str | None] = mapped_column(String(40), index=True)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "buyer_org_id": self.buyer_org_id,
                "seller_org_id": self.seller_org_id, "product_id": self.product_id,
                "version_id": self.version_id, "offer_id": self.offer_id,
                "amount": self.amount, "currency": self.currency, "flagged": self.flagged,
                "refunded_amount": self.refunded_amount}

    def entered(self, target: Any, *, at: datetime, reason: str | None) -> None:
        if self.terminal:
            self.closed_at = at

    # -- who may act ------------------------------------------------------------------

    def require_buyer(self, actor: Actor) -> None:
        """Raises NotAParty unless the actor is the buyer (or the system)."""
        _require_one_of(actor, self.buyer_org_id)

    def require_seller(self, actor: Actor) -> None:
        """Raises NotAParty unless the actor is the seller (or the system)."""
        _require_one_of(actor, self.seller_org_id)

    def require_party(self, actor: Actor) -> None:
        """Raises NotAParty unless the actor is the buyer or the seller (or the system)."""
        _require_one_of(actor, self.buyer_org_id, self.seller_org_id)

    # -- its life -----------------------------------------------------------------------

    def check_reviewable(self, now: datetime) -> None:
        """Raises InvalidTransition unless the order waits for its review, and
        ReviewWindowClosed once the review window ended (the worker cancels it then)."""
        if self.status != OrderStatus.CREATED.value:
            raise InvalidTransition(current=self.status,
                                    target=OrderStatus.AWAITING_PAYMENT.value)
        if self.review_by is not None and now >= self.review_by:
            raise ReviewWindowClosed()

    def approve(self, now: datetime, *, payment_window: timedelta) -> str:
        """The review let the order through: it awaits payment. Returns the previous status."""
        self.pay_by = now + payment_window
        self.review_by = None
        return self.move(OrderStatus.AWAITING_PAYMENT, at=now)

    def pay(self, now: datetime, *, delivery_window: timedelta) -> str:
        """The price is in escrow (or, for a free order leaving placement or review, there
        is none to pay): the seller has the delivery window. Returns the previous status.

        Raises:
            OrderFlagged, PaymentWindowClosed (the worker cancels at ``pay_by`` itself),
            InvalidTransition (not awaiting payment).
        """
        if self.status == OrderStatus.AWAITING_PAYMENT.value:
            if self.flagged:
                raise OrderFlagged()
            if self.pay_by is not None and now >= self.pay_by:
                raise PaymentWindowClosed()
        elif self.status == OrderStatus.CREATED.value and self.amount != 0:
            raise InvalidTransition(current=self.status, target=OrderStatus.PAID.value)
        previous = self.move(OrderStatus.PAID, at=now)
        self.paid_at = now
        self.deliver_by = now + delivery_window
        return previous

    def check_deliverable(self, now: datetime) -> None:
        """Raises InvalidTransition unless the order is paid, OrderFlagged while its rights
        chain is broken, and DeliveryWindowClosed once the delivery window ended."""
        if self.status != OrderStatus.PAID.value:
            raise InvalidTransition(current=self.status, target=OrderStatus.DELIVERED.value)
        if self.flagged:
            raise OrderFlagged()
        if self.deliver_by is not None and now >= self.deliver_by:
            raise DeliveryWindowClosed()

    def deliver(self, now: datetime, *, accept_by: datetime) -> str:
        """Delivered: the buyer has until ``accept_by``. Returns the previous status."""
        previous = self.move(OrderStatus.DELIVERED, at=now)
        self.delivered_at = now
        self.accept_by = accept_by
        return previous

    def check_acceptable(self) -> None:
        """Raises OrderFlagged for a delivered order whose rights chain broke since: the
        buyer disputes it instead, or waits for the rights."""
        if self.flagged and self.status == OrderStatus.DELIVERED.value:
            raise OrderFlagged()

    def accept(self, now: datetime, *, auto: bool) -> str:
        """Accepted by the buyer, or by the acceptance window ending (``auto``). Returns the
        previous status."""
        previous = self.move(OrderStatus.ACCEPTED, at=now)
        self.accepted_at = now
        self.auto_accepted = auto
        return previous

    def settle(self, now: datetime) -> str:
        """The escrow is split and the trade filed. Returns the previous status."""
        previous = self.move(OrderStatus.SETTLED, at=now)
        self.settled_at = now
        return previous

    def dispute(self, now: datetime) -> str:
        """The buyer disputes: allowed until the acceptance window ends, and after it while
        the order is flagged (its money waits in escrow). Returns the previous status.

        Raises:
            DisputeWindowClosed, InvalidTransition (not paid or delivered).
        """
        if self.accept_by is not None and now >= self.accept_by and not self.flagged:
            raise DisputeWindowClosed()
        return self.move(OrderStatus.DISPUTED, at=now)

    def flag(self, reason: str) -> None:
        """A rights problem holds the order: no payment or delivery until it is cleared."""
        self.flagged = True
        self.flag_reason = reason

    def unflag(self) -> None:
        self.flagged = False
        self.flag_reason = None


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
    # When the stored file was deleted, no contract needing it any more; its SHA-256 stays.
    file_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

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


class Subscription(Stateful, Base):
    """A buyer's subscription to a product on a subscription offer: it sells periods. The
    first order's contract freezes the terms (``terms_id``) every renewal is placed under
    until the buyer accepts new ones; access to what was delivered lasts while a paid period
    runs (``current_period_start`` to ``current_period_end``). ``renewal_order_id`` is the
    next period's order while it waits for payment; ``retry_at`` when the worker next tries
    to place or collect it; ``grace_until`` when an unpaid renewal makes it lapse."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_values(SubscriptionStatus)})", name="status"),
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_subscriptions_buyer", "buyer_org_id", "id"),
        Index("ix_subscriptions_seller", "seller_org_id", "id"),
        Index("ix_subscriptions_due", "status", "current_period_end"),
    )
    LIFECYCLE = Lifecycle(SubscriptionStatus, SUBSCRIPTION_TRANSITIONS)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    buyer_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    seller_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    product_id: Mapped[str] = mapped_column(String(40), nullable=False)
    offer_id: Mapped[str] = mapped_column(String(40), nullable=False)
    first_order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), nullable=False,
                                                unique=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id"), nullable=False)
    terms_id: Mapped[str] = mapped_column(String(40), nullable=False)
    period: Mapped[str] = mapped_column(String(16), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)  # one period's price
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    renew: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    periods: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # paid so far
    current_order_id: Mapped[str] = mapped_column(String(40), nullable=False)
    current_period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    renewal_order_id: Mapped[str | None] = mapped_column(String(40))
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    grace_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_failure: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "buyer_org_id": self.buyer_org_id,
                "seller_org_id": self.seller_org_id, "product_id": self.product_id,
                "terms_id": self.terms_id, "renew": self.renew, "periods": self.periods,
                "current_order_id": self.current_order_id,
                "current_period_end": (self.current_period_end.isoformat()
                                       if self.current_period_end else None),
                "renewal_order_id": self.renewal_order_id}

    def entered(self, target: Any, *, at: datetime, reason: str | None) -> None:
        if self.terminal:
            self.closed_at = at
            self.renewal_order_id = None
            self.retry_at = None

    def require_buyer(self, actor: Actor) -> None:
        """Raises NotAParty unless the actor is the buyer (or the system)."""
        _require_one_of(actor, self.buyer_org_id)

    def grants_access(self, now: datetime) -> bool:
        """Whether what was delivered may be used now: a paid period runs."""
        return (SubscriptionStatus(self.status) in LIVE_SUBSCRIPTIONS
                and self.current_period_start is not None
                and self.current_period_end is not None
                and self.current_period_start <= now < self.current_period_end)


class SubscriptionTerms(Base):
    """Terms a subscription renews under: the first order's contract, frozen, or the offer's
    terms of a later day that the buyer accepted with a new purchase commitment. The
    document is a contract document without an order; its digest is the RFC 8785 SHA-256.
    Never updated or deleted (database triggers)."""

    __tablename__ = "subscription_terms"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"),
                                                 nullable=False, index=True)
    version_id: Mapped[str] = mapped_column(String(40), nullable=False)
    offer_id: Mapped[str] = mapped_column(String(40), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    period: Mapped[str] = mapped_column(String(16), nullable=False)
    commitment_id: Mapped[str] = mapped_column(String(40), nullable=False)
    decision_id: Mapped[str] = mapped_column(String(40), nullable=False)
    document: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class SubscriptionEvent(HistoryRow, Base):
    """History of a subscription: every status change and renewal, who made it and why."""

    __tablename__ = "subscription_events"

    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"),
                                                 nullable=False, index=True)


class DestructionRequest(Base):
    """The buyer of an order whose term ended is asked to destroy what was delivered and
    declare it (销毁声明) by ``due_by``; past it, the regulator is alerted once."""

    __tablename__ = "destruction_requests"
    __table_args__ = (
        Index("ix_destruction_requests_due", "declared_at", "due_by"),
        Index("ix_destruction_requests_buyer", "buyer_org_id", "order_id"),
    )

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    buyer_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    seller_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    term_ended_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    due_by: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    declaration_id: Mapped[str | None] = mapped_column(String(40))
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    alert_id: Mapped[str | None] = mapped_column(String(40))
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def state(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "buyer_org_id": self.buyer_org_id,
                "term_ended_at": self.term_ended_at.isoformat(),
                "due_by": self.due_by.isoformat(), "declaration_id": self.declaration_id,
                "alert_id": self.alert_id}
