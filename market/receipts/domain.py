"""What the receipts context knows without a database: suites, receipt kinds, the version of
the receipt body and the lifecycle of an anchoring batch."""

from __future__ import annotations

from enum import StrEnum

from market.kernel.statemachine import Lifecycle

RECEIPT_VERSION = 1
SUITES = ("secp256k1-sha256", "sm2-sm3")
DEFAULT_SUITE = "secp256k1-sha256"
DEFAULT_LOG_ORIGIN = "market.example/receipts"


class Kind(StrEnum):
    """What a receipt proves. The subject names the record: ``<type>:<id>``."""

    RIGHT_CERTIFICATE = "right.certificate"
    LISTING_APPROVAL = "listing.approval"
    DECLARATION = "compliance.declaration"
    FILING = "compliance.filing"
    ORDER_CONTRACT = "order.contract"
    ESCROW_PAYMENT = "settlement.escrow_payment"
    SETTLEMENT = "settlement.settlement"
    REFUND = "settlement.refund"
    DISPUTE_DECISION = "order.dispute_decision"
    CONTRACT_SIGNATURE = "order.contract_signature"  # a party signed, or declined to sign


class BatchState(StrEnum):
    """An anchoring batch: a signed checkpoint of the log on its way onto a chain.

    open (collecting receipts) → sealed (checkpoint fixed) → submitted (transaction sent) →
    included (mined) → finalized (enough confirmations). A reorg that drops the transaction
    sends an included batch to reorged, and re-sending it makes it resubmitted, which is
    followed like submitted. A submitted transaction that never confirms is replaced with a
    higher fee under the same nonce; it stays submitted. A transaction the chain refuses
    (reverted) leaves the batch failed, for an operator to look at.
    """

    OPEN = "open"
    SEALED = "sealed"
    SUBMITTED = "submitted"
    INCLUDED = "included"
    REORGED = "reorged"
    RESUBMITTED = "resubmitted"
    FINALIZED = "finalized"
    FAILED = "failed"


BATCH_LIFECYCLE: Lifecycle[BatchState] = Lifecycle(BatchState, {
    BatchState.OPEN: frozenset({BatchState.SEALED}),
    BatchState.SEALED: frozenset({BatchState.SUBMITTED}),
    BatchState.SUBMITTED: frozenset({BatchState.SUBMITTED, BatchState.INCLUDED,
                                     BatchState.FAILED}),
    BatchState.INCLUDED: frozenset({BatchState.FINALIZED, BatchState.REORGED}),
    BatchState.REORGED: frozenset({BatchState.RESUBMITTED, BatchState.INCLUDED}),
    BatchState.RESUBMITTED: frozenset({BatchState.RESUBMITTED, BatchState.INCLUDED,
                                       BatchState.FAILED}),
    BatchState.FINALIZED: frozenset(),
    BatchState.FAILED: frozenset(),
})


def log_origin(base: str, suite: str) -> str:
    """The log's name (its checkpoints' origin line): one log per suite."""
    return f"{base.rstrip('/')}/{suite}"


def subject(subject_type: str, subject_id: str) -> str:
    return f"{subject_type}:{subject_id}"
