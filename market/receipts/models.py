"""Receipts, the Merkle log they are appended to, its signed checkpoints and the batches that
anchor checkpoints on a chain.

A receipt row is written in the transaction of the record it proves and never changes
(database triggers refuse it). Its place in the log is assigned later by the sequencer: the
receipt waits in ``receipt_queue`` until then, so a business transaction takes no lock on the
log. The log keeps every node of its perfect subtrees (``receipt_log_nodes``, level 0 being
the leaf hashes) and a head per suite holding the size and the compact range ("frontier")
of the tree, from which the root of the tree and the nodes of the next leaves follow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from market.kernel.db import Base, JSONType, UTCDateTime
from market.kernel.statemachine import Lifecycle, Stateful
from market.receipts.domain import BATCH_LIFECYCLE, BatchState

_BIGINT = BigInteger().with_variant(Integer, "sqlite")


class Receipt(Base):
    __tablename__ = "receipts"
    __table_args__ = (Index("ix_receipts_subject", "subject_type", "subject_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    suite: Mapped[str] = mapped_column(String(20), nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    subject_type: Mapped[str] = mapped_column(String(30), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(64), nullable=False)
    body: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    signer: Mapped[str] = mapped_column(String(140), nullable=False)
    signature: Mapped[str] = mapped_column(String(140), nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Who may read it besides the regulator: the organisations party to the record.
    parties: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    public: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class ReceiptQueue(Base):
    """Receipts issued and not yet in the log, in issue order."""

    __tablename__ = "receipt_queue"

    seq: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    receipt_id: Mapped[str] = mapped_column(ForeignKey("receipts.id"), nullable=False,
                                            unique=True)
    suite: Mapped[str] = mapped_column(String(20), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class LogEntry(Base):
    """A receipt's place in its suite's log."""

    __tablename__ = "receipt_log_entries"

    suite: Mapped[str] = mapped_column(String(20), primary_key=True)
    leaf_index: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=False)
    receipt_id: Mapped[str] = mapped_column(ForeignKey("receipts.id"), nullable=False,
                                            unique=True)
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class LogNode(Base):
    """The root of the perfect subtree over leaves [index·2^level, (index+1)·2^level)."""

    __tablename__ = "receipt_log_nodes"

    suite: Mapped[str] = mapped_column(String(20), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)


class LogHead(Base):
    """One row per suite's log: its size, the compact range of the tree and its root."""

    __tablename__ = "receipt_logs"

    suite: Mapped[str] = mapped_column(String(20), primary_key=True)
    origin: Mapped[str] = mapped_column(String(200), nullable=False)
    size: Mapped[int] = mapped_column(_BIGINT, nullable=False, default=0)
    frontier: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    root: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Checkpoint(Base):
    """A signed checkpoint (C2SP tlog-checkpoint as a signed note) of a log."""

    __tablename__ = "receipt_checkpoints"
    __table_args__ = (UniqueConstraint("suite", "tree_size", name="uq_receipt_checkpoints_size"),)

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    suite: Mapped[str] = mapped_column(String(20), nullable=False)
    origin: Mapped[str] = mapped_column(String(200), nullable=False)
    tree_size: Mapped[int] = mapped_column(_BIGINT, nullable=False)
    root: Mapped[str] = mapped_column(String(64), nullable=False)
    signer: Mapped[str] = mapped_column(String(140), nullable=False)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False)


class AnchorBatch(Stateful, Base):
    """A checkpoint on its way onto a chain (see :class:`BatchState`). ``id`` is the batch id
    the contract records, strictly increasing like the tree sizes."""

    __tablename__ = "receipt_batches"
    __table_args__ = (Index("ix_receipt_batches_status", "status"),)
    LIFECYCLE: ClassVar[Lifecycle[Any]] = BATCH_LIFECYCLE

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=False)
    suite: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=BatchState.OPEN)
    chain_id: Mapped[int] = mapped_column(_BIGINT, nullable=False)
    contract: Mapped[str] = mapped_column(String(42), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The log size when the batch opened; sealing fixes tree_size, root and the checkpoint.
    from_size: Mapped[int] = mapped_column(_BIGINT, nullable=False)
    tree_size: Mapped[int | None] = mapped_column(_BIGINT)
    root: Mapped[str | None] = mapped_column(String(64))
    checkpoint_id: Mapped[int | None] = mapped_column(ForeignKey("receipt_checkpoints.id"))
    sealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The transaction: signed and persisted before it is sent, so a crash never sends a
    # second, different one; every transaction tried for this batch is kept in attempts.
    sender: Mapped[str | None] = mapped_column(String(42))
    nonce: Mapped[int | None] = mapped_column(_BIGINT)
    max_fee_per_gas: Mapped[int | None] = mapped_column(_BIGINT)
    max_priority_fee_per_gas: Mapped[int | None] = mapped_column(_BIGINT)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    raw_tx: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False,
                                                           default=list)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    block_number: Mapped[int | None] = mapped_column(_BIGINT)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    gas_used: Mapped[int | None] = mapped_column(_BIGINT)
    included_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
