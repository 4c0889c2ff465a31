"""Compliance tables: signed declarations (append-only), breaches recorded against them, rule
decisions, filings and the refunds recorded on them, risk alerts with their disposition,
suspension orders and the review queue. Alerts and review items guard their own moves."""

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
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from market.compliance.domain import BreachSeverity, DeclarationKind, Outcome, Stage
from market.compliance.errors import ReviewerAlreadyApproved, ReviewerIsParty
from market.kernel.db import Base, JSONType, UTCDateTime, sql_values
from market.kernel.errors import InvalidTransition

ALERT_TRANSITIONS = {"open": {"investigating", "closed"}, "investigating": {"closed"},
                     "closed": {"open"}}
OPEN_REVIEW = ("open", "claimed")


class Declaration(Base):
    """A signed declaration or commitment. Never updated or deleted (database triggers)."""

    __tablename__ = "declarations"
    __table_args__ = (
        CheckConstraint(f"kind IN ({sql_values(DeclarationKind)})", name="kind"),
        Index("ix_declarations_subject", "subject_type", "subject_id"),
        Index("ix_declarations_org", "org_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    template: Mapped[str] = mapped_column(String(40), nullable=False)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False)
    user_id: Mapped[str | None] = mapped_column(String(40))
    subject_type: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(40), nullable=False)
    answers: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    signer_address: Mapped[str | None] = mapped_column(String(42))
    signature: Mapped[str | None] = mapped_column(String(132))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Vouched for: the signature recovers to a verified, unrevoked secp256k1 key of the
    # declarant's organisation (``signing_key_id``) in its key registry.
    vouched: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                          server_default=false())
    signing_key_id: Mapped[str | None] = mapped_column(String(40))

    def signed_document(self) -> dict[str, Any]:
        """What the digest covers: who declares what, about which subject, under which
        template (the time of signing is recorded beside it, not in it)."""
        return signed_document(kind=self.kind, template=self.template, org_id=self.org_id,
                               subject_type=self.subject_type, subject_id=self.subject_id,
                               answers=self.answers)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "template": self.template,
                "org_id": self.org_id, "user_id": self.user_id,
                "subject_type": self.subject_type, "subject_id": self.subject_id,
                "sha256": self.sha256, "signer_address": self.signer_address,
                "vouched": self.vouched, "signing_key_id": self.signing_key_id,
                "signed_at": self.signed_at.isoformat()}


def signed_document(*, kind: str, template: str, org_id: str, subject_type: str,
                    subject_id: str, answers: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "template": template, "org_id": org_id,
            "subject": {"type": subject_type, "id": subject_id}, "answers": answers}


class DeclarationBreach(Base):
    """A breach of a declaration, recorded by the operator; it lowers the credit record."""

    __tablename__ = "declaration_breaches"
    __table_args__ = (
        CheckConstraint(f"severity IN ({sql_values(BreachSeverity)})", name="severity"),
        Index("ix_declaration_breaches_org", "org_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"), nullable=False,
                                                index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    evidence_sha256: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    recorded_by_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    recorded_by_user_id: Mapped[str | None] = mapped_column(String(40))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "declaration_id": self.declaration_id, "org_id": self.org_id,
                "severity": self.severity, "reason": self.reason,
                "evidence_sha256": list(self.evidence_sha256),
                "recorded_at": self.recorded_at.isoformat()}


class Decision(Base):
    """The rule engine's decision on one subject at one stage: every rule's verdict."""

    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint(f"stage IN ({sql_values(Stage)})", name="stage"),
        CheckConstraint(f"outcome IN ({sql_values(Outcome)})", name="outcome"),
        Index("ix_decisions_subject", "subject_type", "subject_id", "id"),
        Index("ix_decisions_org", "org_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    stage: Mapped[str] = mapped_column(String(16), nullable=False)
    subject_type: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(40), nullable=False)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False)
    counterparty_org_id: Mapped[str | None] = mapped_column(String(40))
    declaration_id: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)
    ruleset_version: Mapped[str] = mapped_column(String(20), nullable=False)
    verdicts: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False)
    facts: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "stage": self.stage, "subject_type": self.subject_type,
                "subject_id": self.subject_id, "org_id": self.org_id,
                "outcome": self.outcome, "ruleset_version": self.ruleset_version,
                "blocking": [v["rule"] for v in self.verdicts if v["outcome"] != "pass"]}


class Filing(Base):
    """A trade filed for regulators (登记备案): every concluded trade on the exchange, and
    trades concluded elsewhere that participants report (场外交易备案). Never updated or
    deleted (database triggers)."""

    __tablename__ = "filings"
    __table_args__ = (
        CheckConstraint("kind IN ('exchange', 'off_exchange')", name="kind"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        Index("ix_filings_concluded", "concluded_at", "id"),
        Index("ix_filings_seller", "seller_org_id", "id"),
        Index("ix_filings_buyer", "buyer_org_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    number: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    order_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    product_id: Mapped[str | None] = mapped_column(String(40), index=True)
    version_id: Mapped[str | None] = mapped_column(String(40))
    product_title: Mapped[str] = mapped_column(String(200), nullable=False)
    sector: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    product_type: Mapped[str] = mapped_column(String(32), nullable=False)
    seller_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False)
    buyer_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    rights_chain: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False)
    declaration_ids: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    decision_ids: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    evidence_sha256: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    # How the trade came about: catalogue (ordered as listed), negotiation (a quote agreed),
    # match (a negotiation answering a demand) or broker (a broker's proposal, with its
    # commission); ``origin`` keeps the negotiation, demand, broker and commission.
    channel: Mapped[str] = mapped_column(String(16), nullable=False, default="catalogue",
                                         server_default="catalogue")
    origin: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    concluded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    filed_by_org_id: Mapped[str] = mapped_column(String(40), nullable=False)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "number": self.number, "kind": self.kind,
                "order_id": self.order_id, "product_id": self.product_id,
                "seller_org_id": self.seller_org_id, "buyer_org_id": self.buyer_org_id,
                "amount": self.amount, "currency": self.currency, "channel": self.channel,
                "concluded_at": self.concluded_at.isoformat()}


class FilingRefund(Base):
    """Money a refund gave back to the buyer of a filed trade, recorded on the trade's
    filing (登记备案 of the change): the filing keeps the price concluded, its refunds what
    went back and why. Never updated or deleted (database triggers)."""

    __tablename__ = "filing_refunds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("cause IN ('dispute', 'arbitration', 'goodwill')", name="cause"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    filing_id: Mapped[str] = mapped_column(ForeignKey("filings.id"), nullable=False,
                                           index=True)
    order_id: Mapped[str] = mapped_column(String(40), nullable=False)
    refund_id: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    cause: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    refunded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "filing_id": self.filing_id, "order_id": self.order_id,
                "refund_id": self.refund_id, "amount": self.amount, "currency": self.currency,
                "cause": self.cause, "refunded_at": self.refunded_at.isoformat()}


class FilingCounter(Base):
    """Per-year sequence of filing numbers (FL-2026-000123)."""

    __tablename__ = "filing_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, nullable=False)


class Alert(Base):
    """A risk alert (风险预警) raised by a monitoring rule, with a disposition workflow.
    One alert per rule and subject."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint("severity IN ('low', 'medium', 'high')", name="severity"),
        CheckConstraint("status IN ('open', 'investigating', 'closed')", name="status"),
        Index("uq_alerts_rule_subject", "rule", "subject_id", unique=True),
        Index("ix_alerts_status", "status", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rule: Mapped[str] = mapped_column(String(80), nullable=False)
    severity: Mapped[str] = mapped_column(String(8), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    subject_type: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(40), nullable=False)
    org_ids: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "rule": self.rule, "severity": self.severity,
                "status": self.status, "subject_type": self.subject_type,
                "subject_id": self.subject_id, "org_ids": list(self.org_ids)}

    def move(self, to_status: str, at: datetime) -> str:
        """Move along open → investigating → closed (or reopen a closed alert); returns the
        status the alert left.

        Raises:
            InvalidTransition: ``to_status`` does not follow the current status.
        """
        if to_status not in ALERT_TRANSITIONS[self.status]:
            raise InvalidTransition(current=self.status, target=to_status)
        previous, self.status, self.updated_at = self.status, to_status, at
        return previous


class AlertNote(Base):
    """One step of an alert's disposition (open → investigating → closed), with its note."""

    __tablename__ = "alert_notes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), nullable=False, index=True)
    from_status: Mapped[str] = mapped_column(String(16), nullable=False)
    to_status: Mapped[str] = mapped_column(String(16), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False)
    by_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    by_user_id: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class SuspensionOrder(Base):
    """A regulator's order to suspend a participant or a listing, carried out at once."""

    __tablename__ = "suspension_orders"
    __table_args__ = (
        CheckConstraint("subject_type IN ('participant', 'listing')", name="subject_type"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(16), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    alert_id: Mapped[str | None] = mapped_column(ForeignKey("alerts.id"))
    ordered_by_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    ordered_by_user_id: Mapped[str | None] = mapped_column(String(40))
    ordered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "subject_type": self.subject_type,
                "subject_id": self.subject_id, "reason": self.reason,
                "alert_id": self.alert_id}


class ReviewItem(Base):
    """One piece of work in the review queue (审核队列): a listing version or a right
    registration waiting for, or in, review. Kept in step with the subject's own lifecycle
    by the context that owns it."""

    __tablename__ = "review_items"
    __table_args__ = (
        CheckConstraint("kind IN ('listing', 'right', 'order')", name="kind"),
        CheckConstraint("status IN ('open', 'claimed', 'closed')", name="status"),
        Index("ix_review_items_subject", "subject_id", "id"),
        Index("ix_review_items_status", "status", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(40), nullable=False)
    org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    decision_id: Mapped[str | None] = mapped_column(String(40))
    needs: Mapped[str] = mapped_column(String(20), nullable=False)  # the rules' outcome
    claimed_by_org_id: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str | None] = mapped_column(String(20))  # the subject's status after
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The rules that sent the subject to review, how many different reviewers must approve
    # it (双重审核: two for raw data and sensitive personal information) and the approvals
    # so far ({reviewer, org_id, reason, at}).
    rules: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    required_approvals: Mapped[int] = mapped_column(Integer, nullable=False, default=1,
                                                    server_default="1")
    approvals: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False,
                                                            default=list)

    def claim(self, org_id: str | None, at: datetime) -> None:
        """The subject went under review by ``org_id``."""
        self.status, self.claimed_by_org_id, self.claimed_at = "claimed", org_id, at

    def reopen(self) -> None:
        """The subject waits in the queue again (for a second reviewer, or handed back)."""
        self.status, self.claimed_by_org_id, self.claimed_at = "open", None, None

    def approve(self, reviewer: str, org_id: str | None, reason: str, at: datetime) -> bool:
        """Record one reviewer's approval; whether the subject now has every approval it
        needs.

        Raises:
            InvalidTransition: the review is closed.
            ReviewerAlreadyApproved: ``reviewer`` approved it before; another must.
        """
        if self.status not in OPEN_REVIEW:
            raise InvalidTransition(current=self.status, target="approved")
        if any(a["reviewer"] == reviewer for a in self.approvals):
            raise ReviewerAlreadyApproved()
        self.approvals = [*self.approvals, {"reviewer": reviewer, "org_id": org_id,
                                            "reason": reason, "at": at.isoformat()}]
        return len(self.approvals) >= self.required_approvals

    def close(self, outcome: str, reason: str | None, at: datetime) -> None:
        """The subject left review with ``outcome`` (its own status after it)."""
        self.status, self.outcome, self.outcome_reason, self.closed_at = (
            "closed", outcome, reason, at)

    def check_assessor(self, org_id: str | None) -> None:
        """An assessment report may be attached by ``org_id`` now.

        Raises:
            InvalidTransition: the review is closed.
            ReviewerIsParty: the organisation under review would assess itself.
        """
        if self.status not in OPEN_REVIEW:
            raise InvalidTransition(current=self.status, target="assessed")
        if self.org_id == org_id:
            raise ReviewerIsParty()


class AssessmentReport(Base):
    """A third-party assessment report (合规 / 质量 / 价值评估) attached to a subject by its
    SHA-256. Never updated or deleted."""

    __tablename__ = "assessment_reports"
    __table_args__ = (
        CheckConstraint("kind IN ('compliance', 'security', 'quality', 'valuation')",
                        name="kind"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    review_item_id: Mapped[str] = mapped_column(ForeignKey("review_items.id"), nullable=False,
                                                index=True)
    subject_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    issuer_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "review_item_id": self.review_item_id,
                "subject_id": self.subject_id, "kind": self.kind, "sha256": self.sha256,
                "issuer_org_id": self.issuer_org_id}


class TradeIncident(Base):
    """A dispute opened or a refund made on an exchange order, reported by trading so the
    monitoring rules can watch for repeated ones. Never updated or deleted (database
    triggers)."""

    __tablename__ = "trade_incidents"
    __table_args__ = (
        CheckConstraint("kind IN ('dispute', 'refund')", name="kind"),
        Index("ix_trade_incidents_seller", "seller_org_id", "at"),
        Index("ix_trade_incidents_buyer", "buyer_org_id", "at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    order_id: Mapped[str] = mapped_column(String(40), nullable=False)
    product_id: Mapped[str] = mapped_column(String(40), nullable=False)
    seller_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    buyer_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class RetentionPolicy(Base):
    """How many years the records of one kind are kept (never fewer than its floor). The
    database's retention triggers read ``years`` to refuse deleting a younger row; the
    application writes it from the settings (``market retention apply``)."""

    __tablename__ = "retention_policies"
    __table_args__ = (
        CheckConstraint("floor_years >= 1 AND years >= floor_years", name="years"),
    )

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    years: Mapped[int] = mapped_column(Integer, nullable=False)
    floor_years: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "years": self.years, "floor_years": self.floor_years}
