"""Ledger tables: accounts with cached balances, journals and their postings (append-only),
two-phase holds, revenue allocations per order, refunds after settlement with their lines
(append-only), and payouts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.types import BigInteger, Boolean, Integer, String, Text

from market.kernel.db import Base, JSONType, UTCDateTime, sql_values
from market.kernel.errors import InvalidTransition
from market.settlement.domain import (
    AccountKind,
    HoldStatus,
    JournalKind,
    PayoutStatus,
    RefundCause,
)

# Integer on SQLite so the key is the rowid and autoincrements; BIGINT elsewhere.
SerialId = BigInteger().with_variant(Integer, "sqlite")


class Account(Base):
    """One account per (kind, owner, reference, currency). ``balance`` caches the sum of the
    account's postings; ``pending_out`` the sum of its pending holds, reserved from it."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("kind", "owner", "ref", "currency", name="uq_ledger_accounts_identity"),
        CheckConstraint(f"kind IN ({sql_values(AccountKind)})", name="kind"),
        CheckConstraint("NOT non_negative OR balance - pending_out >= 0", name="non_negative"),
        CheckConstraint("pending_out >= 0", name="pending_out"),
        Index("ix_ledger_accounts_owner", "owner", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    owner: Mapped[str] = mapped_column(String(40), nullable=False)  # org id or "platform"
    ref: Mapped[str] = mapped_column(String(40), nullable=False)  # order id, rail, or ""
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    balance: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    pending_out: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    non_negative: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "owner": self.owner, "ref": self.ref,
                "currency": self.currency, "balance": self.balance,
                "pending_out": self.pending_out,
                "closed_at": self.closed_at.isoformat() if self.closed_at else None}


class Journal(Base):
    """A balanced set of postings made at once; ``key`` makes posting it idempotent.
    Never updated or deleted (database triggers)."""

    __tablename__ = "ledger_journals"
    __table_args__ = (
        CheckConstraint(f"kind IN ({sql_values(JournalKind)})", name="kind"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(120), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    memo: Mapped[str | None] = mapped_column(Text)
    actor_label: Mapped[str] = mapped_column(String(200), nullable=False)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "key": self.key, "kind": self.kind, "order_id": self.order_id,
                "memo": self.memo, "posted_at": self.posted_at.isoformat()}


class Posting(Base):
    """One leg of a journal on one account, with the account's balance after it (the
    running balance a statement shows). Never updated or deleted (database triggers)."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount"),
        Index("ix_ledger_postings_account", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(SerialId, primary_key=True, autoincrement=True)
    journal_id: Mapped[str] = mapped_column(ForeignKey("ledger_journals.id"), nullable=False,
                                            index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    balance_after: Mapped[int] = mapped_column(BigInteger, nullable=False)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Hold(Base):
    """A two-phase transfer (TigerBeetle-style): the amount is reserved from the debit
    account while pending, then posted as a journal, voided, or expired."""

    __tablename__ = "ledger_holds"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_values(HoldStatus)})", name="status"),
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_ledger_holds_pending", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(120), nullable=False, unique=True)
    debit_account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"),
                                                  nullable=False, index=True)
    credit_account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"),
                                                   nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    journal_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "debit_account_id": self.debit_account_id,
                "credit_account_id": self.credit_account_id, "amount": self.amount,
                "currency": self.currency, "status": self.status,
                "expires_at": self.expires_at.isoformat(), "journal_id": self.journal_id}


class Allocation(Base):
    """One party's share of an order's price (收益分配): what the split gave it and how much
    of that refunds took back."""

    __tablename__ = "ledger_allocations"
    __table_args__ = (
        UniqueConstraint("order_id", "role", "org_id", name="uq_ledger_allocations_line"),
        CheckConstraint("refunded >= 0 AND refunded <= amount", name="refunded"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    refunded: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    allocated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Payout(Base):
    """A participant's request to be paid its payable balance, reserved by a hold until the
    operator confirms the bank payout (or rejects it, or it expires)."""

    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_values(PayoutStatus)})", name="status"),
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_payouts_org", "org_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    hold_id: Mapped[str] = mapped_column(ForeignKey("ledger_holds.id"), nullable=False)
    bank_account: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    bank_reference: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def pending(self) -> bool:
        """Still waiting for the operator: neither paid, rejected nor expired."""
        return self.status == PayoutStatus.REQUESTED.value

    def _resolve(self, outcome: PayoutStatus, at: datetime) -> None:
        if not self.pending:
            raise InvalidTransition(current=self.status, target="resolved")
        self.status = outcome.value
        self.resolved_at = at

    def pay(self, bank_reference: str, *, at: datetime) -> None:
        """The bank paid the payout.

        Raises:
            InvalidTransition: the payout is no longer pending.
        """
        self._resolve(PayoutStatus.PAID, at)
        self.bank_reference = bank_reference

    def reject(self, reason: str, *, at: datetime) -> None:
        """The operator refused the payout.

        Raises:
            InvalidTransition: the payout is no longer pending.
        """
        self._resolve(PayoutStatus.REJECTED, at)
        self.reason = reason

    def expire(self, *, at: datetime) -> None:
        """Nobody confirmed the payout in time.

        Raises:
            InvalidTransition: the payout is no longer pending.
        """
        self._resolve(PayoutStatus.EXPIRED, at)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "org_id": self.org_id, "amount": self.amount,
                "currency": self.currency, "status": self.status,
                "bank_reference": self.bank_reference, "reason": self.reason}


class TopUp(Base):
    """A buyer's bank transfer recorded by the operator on the offline rail; the bank's
    reference makes it idempotent."""

    __tablename__ = "top_ups"
    __table_args__ = (
        UniqueConstraint("rail", "reference", name="uq_top_ups_reference"),
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_top_ups_org", "org_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rail: Mapped[str] = mapped_column(String(16), nullable=False)
    reference: Mapped[str] = mapped_column(String(100), nullable=False)
    org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    journal_id: Mapped[str] = mapped_column(ForeignKey("ledger_journals.id"), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "rail": self.rail, "reference": self.reference,
                "org_id": self.org_id, "amount": self.amount, "currency": self.currency,
                "journal_id": self.journal_id}


class DistributionRecord(Base):
    """A product's distribution rule as its merchant set it (JSON of
    :class:`market.settlement.split.DistributionRule`); an order freezes the rule in force
    in its contract."""

    __tablename__ = "distribution_rules"

    product_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rule: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    set_by_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Refund(Base):
    """Money given back to the buyer of a settled order (a dispute decision, an arbitration
    award or the merchant's goodwill), taken from the order's allocations in proportion;
    ``number`` counts an order's refunds from 1 and names its journal
    (``refund:<order>:<number>``). Never updated or deleted (database triggers)."""

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("order_id", "number", name="uq_refunds_number"),
        CheckConstraint(f"cause IN ({sql_values(RefundCause)})", name="cause"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("number > 0", name="number"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    cause: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    buyer_org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    journal_id: Mapped[str] = mapped_column(ForeignKey("ledger_journals.id"), nullable=False)
    refunded_by_org_id: Mapped[str | None] = mapped_column(String(40))
    refunded_by: Mapped[str] = mapped_column(String(200), nullable=False)  # the actor's label
    refunded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "order_id": self.order_id, "number": self.number,
                "amount": self.amount, "currency": self.currency, "cause": self.cause,
                "journal_id": self.journal_id}


class RefundLine(Base):
    """What one allocation line (a payee's share or the platform fee) gave back for a
    refund: ``from_payable`` out of its payable balance (or the fee account), and
    ``receivable`` recorded against the payee where that balance had already been paid
    out. Another rail reverses its transfers by these lines. Never updated or deleted."""

    __tablename__ = "refund_lines"
    __table_args__ = (
        UniqueConstraint("refund_id", "role", "org_id", name="uq_refund_lines_line"),
        CheckConstraint("amount > 0 AND from_payable >= 0 AND receivable >= 0 "
                        "AND from_payable + receivable = amount", name="parts"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    refund_id: Mapped[str] = mapped_column(ForeignKey("refunds.id"), nullable=False, index=True)
    order_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    from_payable: Mapped[int] = mapped_column(BigInteger, nullable=False)
    receivable: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
