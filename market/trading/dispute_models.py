"""The disputes table: a buyer's dispute over an order, the merchant's answer, the
operator's decision and, when a party takes that decision to arbitration, the escalation and
the award. The order's money stays in escrow until the decision or the award is carried
out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CheckConstraint, ForeignKey, Index
from sqlalchemy.types import BigInteger, Integer, String, Text

from market.kernel.actor import Actor
from market.kernel.db import Base, JSONType, UTCDateTime, sql_values
from market.trading.domain import DECIDED_STATUSES, DisputeOutcome, DisputeStatus
from market.trading.errors import (
    DisputeAlreadyEscalated,
    DisputeAwaitingAnswer,
    DisputeNotEscalated,
    DisputeNotOpen,
    EscalationWaived,
    EscalationWindowClosed,
    NotAParty,
)


class Dispute(Base):
    """A buyer's dispute over an order: its reason and evidence, the merchant's answer and
    the operator's decision. The order's money stays in escrow meanwhile."""

    __tablename__ = "disputes"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_values(DisputeStatus)})", name="status"),
        CheckConstraint(f"outcome IS NULL OR outcome IN ({sql_values(DisputeOutcome)})",
                        name="outcome"),
        CheckConstraint("award_outcome IS NULL OR award_outcome IN "
                        f"({sql_values(DisputeOutcome)})", name="award_outcome"),
        Index("ix_disputes_status", "status", "answer_by"),
        Index("ix_disputes_escalate_by", "status", "escalate_by"),
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
    # The published dispute rules it opened under, and the escalation window they gave it.
    rules_version: Mapped[str] = mapped_column(String(16), nullable=False, default="1",
                                               server_default="1")
    rules_sha256: Mapped[str | None] = mapped_column(String(64))
    escalation_window_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=0,
                                                           server_default="0")
    escalate_by: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the decision's
    buyer_waived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seller_waived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    carried_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # money moved
    arbitration_institution: Mapped[str | None] = mapped_column(String(200))
    escalated_by_org_id: Mapped[str | None] = mapped_column(String(40))
    escalation_reason: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    award_reference: Mapped[str | None] = mapped_column(String(100))
    award_document_sha256: Mapped[str | None] = mapped_column(String(64))
    award_outcome: Mapped[str | None] = mapped_column(String(16))
    award_refund_amount: Mapped[int | None] = mapped_column(BigInteger)
    award_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # by the institution
    awarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # recorded here

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "order_id": self.order_id, "status": self.status,
                "outcome": self.outcome, "refund_amount": self.refund_amount,
                "rules_version": self.rules_version, "escalate_by": self.escalate_by,
                "carried_out_at": self.carried_out_at,
                "arbitration_institution": self.arbitration_institution,
                "award_reference": self.award_reference,
                "award_outcome": self.award_outcome,
                "award_refund_amount": self.award_refund_amount}

    def require_seller(self, actor: Actor) -> None:
        """Raises NotAParty unless the actor is the seller (or the system)."""
        if not actor.is_system and actor.org_id != self.seller_org_id:
            raise NotAParty()

    def respond(self, answer: str, evidence_sha256: list[str], now: datetime) -> None:
        """The merchant's answer.

        Raises:
            DisputeNotOpen: answered already, decided, or the answer window ended.
        """
        if self.status != DisputeStatus.OPEN.value or now >= self.answer_by:
            raise DisputeNotOpen()
        self.status = DisputeStatus.ANSWERED.value
        self.answer = answer
        self.answer_evidence_sha256 = evidence_sha256
        self.answered_at = now

    def check_decidable(self, now: datetime) -> None:
        """Raises DisputeNotOpen once decided, and DisputeAwaitingAnswer while the merchant
        may still answer."""
        if self.status in DECIDED_STATUSES:
            raise DisputeNotOpen()
        if self.status == DisputeStatus.OPEN.value and now < self.answer_by:
            raise DisputeAwaitingAnswer()

    def decide(self, outcome: DisputeOutcome, refund: int, reason: str,
               now: datetime) -> None:
        """The operator's decision; either party may escalate it until ``escalate_by``."""
        self.status = DisputeStatus.DECIDED.value
        self.outcome, self.refund_amount = outcome.value, refund
        self.decision_reason, self.decided_at = reason, now
        self.escalate_by = now + timedelta(seconds=self.escalation_window_seconds)

    # -- arbitration ----------------------------------------------------------------------

    def side_of(self, actor: Actor) -> str:
        """``buyer`` or ``seller``.

        Raises:
            NotAParty: the actor's organisation is neither.
        """
        if actor.org_id is not None and actor.org_id == self.buyer_org_id:
            return "buyer"
        if actor.org_id is not None and actor.org_id == self.seller_org_id:
            return "seller"
        raise NotAParty()

    @property
    def due_now(self) -> bool:
        """Whether the operator's decision is carried out without waiting: its rules gave
        no escalation window, or both parties waived escalation."""
        return self.escalation_window_seconds == 0 or (
            self.buyer_waived_at is not None and self.seller_waived_at is not None)

    def check_escalable(self, side: str, now: datetime) -> None:
        """Raises DisputeAlreadyEscalated (escalated or awarded), DisputeNotOpen (not decided
        yet), EscalationWaived (``side`` waived it) or EscalationWindowClosed (the decision
        was carried out, or its window ended)."""
        if self.status in (DisputeStatus.ESCALATED.value, DisputeStatus.AWARDED.value):
            raise DisputeAlreadyEscalated()
        if self.status != DisputeStatus.DECIDED.value:
            raise DisputeNotOpen()
        if (self.buyer_waived_at if side == "buyer" else self.seller_waived_at) is not None:
            raise EscalationWaived()
        if self.carried_out_at is not None or self.escalate_by is None \
                or now >= self.escalate_by:
            raise EscalationWindowClosed()

    def waive(self, side: str, now: datetime) -> None:
        """``side`` gives up taking the decision to arbitration (see :meth:`check_escalable`)."""
        self.check_escalable(side, now)
        if side == "buyer":
            self.buyer_waived_at = now
        else:
            self.seller_waived_at = now

    def escalate(self, side: str, org_id: str, institution: str, reason: str,
                 now: datetime) -> None:
        """``side`` takes the decision to ``institution``: nothing moves until the award
        (see :meth:`check_escalable`)."""
        self.check_escalable(side, now)
        self.status = DisputeStatus.ESCALATED.value
        self.arbitration_institution, self.escalation_reason = institution, reason
        self.escalated_by_org_id, self.escalated_at = org_id, now

    def check_awardable(self) -> None:
        """Raises DisputeNotEscalated unless the dispute waits for an award."""
        if self.status != DisputeStatus.ESCALATED.value:
            raise DisputeNotEscalated()

    def award(self, outcome: DisputeOutcome, refund: int, reference: str,
              document_sha256: str, decided_at: datetime, now: datetime) -> None:
        """The institution's award, recorded and carried out now (see
        :meth:`check_awardable`)."""
        self.check_awardable()
        self.status = DisputeStatus.AWARDED.value
        self.award_outcome, self.award_refund_amount = outcome.value, refund
        self.award_reference, self.award_document_sha256 = reference, document_sha256
        self.award_decided_at, self.awarded_at = decided_at, now
        self.carried_out_at = now

    def lapse(self) -> None:
        """The answer window ended without an answer: the operator decides alone."""
        self.status = DisputeStatus.UNANSWERED.value
