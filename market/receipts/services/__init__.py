"""The receipts context's surface: the platform signer, receipts issued in the transaction of
the record they prove, their Merkle log, proof bundles and anchoring."""

from __future__ import annotations

from market.receipts.domain import Kind
from market.receipts.schemas import ReceiptSummaryOut
from market.receipts.services.issuer import IssuedReceipt, Issuer, configure, issue, issuer
from market.receipts.services.log import (
    Appended,
    checkpoint_view,
    consistency,
    sequence,
)
from market.receipts.services.proofs import (
    batch_view,
    get_receipt,
    list_batches,
    proof_bundle,
    receipts_for,
    receipts_of,
    verify_bundle,
)
from market.receipts.signing import Signer, verify

__all__ = [
    "Appended",
    "IssuedReceipt",
    "Issuer",
    "Kind",
    "ReceiptSummaryOut",
    "Signer",
    "batch_view",
    "checkpoint_view",
    "configure",
    "consistency",
    "get_receipt",
    "issue",
    "issuer",
    "list_batches",
    "proof_bundle",
    "receipts_for",
    "receipts_of",
    "sequence",
    "verify",
    "verify_bundle",
]
