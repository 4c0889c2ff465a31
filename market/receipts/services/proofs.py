"""Reading receipts: one receipt, the receipts of a record, and the self-contained proof
bundle that the stand-alone verifier checks (:mod:`market.receipts.verifier`).

A receipt is readable by the organisations party to its record, the regulator and the
operator; a public record's receipt by anyone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from market.kernel.actor import Actor, Role, require
from market.kernel.uow import UnitOfWork
from market.receipts import verifier
from market.receipts.domain import BatchState
from market.receipts.errors import ReceiptNotFound
from market.receipts.models import AnchorBatch, Checkpoint, LogEntry, Receipt
from market.receipts.services.log import inclusion_proof, latest_checkpoint
from market.receipts.verifier import BUNDLE_FORMAT

ANCHORED = (BatchState.INCLUDED.value, BatchState.FINALIZED.value)
ADMITTED = "admitted"  # an organisation's status while it may trade (participants' Status)


def may_read(actor: Actor, receipt: Receipt) -> bool:
    """Public receipts anyone; the rest the system and, among admitted organisations, the
    regulator, the operator and the parties (a suspended party reads its records' receipts
    no more than the records)."""
    if receipt.public or actor.is_system:
        return True
    if actor.org_id is None or actor.org_status != ADMITTED:
        return False
    return actor.has_role(Role.REGULATOR, Role.OPERATOR) or actor.org_id in receipt.parties


def _get(uow: UnitOfWork, receipt_id: str) -> Receipt:
    receipt = uow.session.get(Receipt, receipt_id)
    if receipt is None or not may_read(uow.actor, receipt):
        raise ReceiptNotFound(receipt_id=receipt_id)
    return receipt


def summary(receipt: Receipt, leaf_index: int | None) -> dict[str, Any]:
    return {"id": receipt.id, "kind": receipt.kind, "subject": receipt.body["subject"],
            "suite": receipt.suite, "digest": receipt.digest, "issued_at": receipt.issued_at,
            "leaf_index": leaf_index}


def get_receipt(receipt_id: str, *, uow: UnitOfWork) -> dict[str, Any]:
    """A receipt: its body, digest, signature and place in the log (None until logged).

    Raises:
        ReceiptNotFound: no such receipt visible to the caller.
    """
    with uow:
        receipt = _get(uow, receipt_id)
        entry = _entry(uow, receipt.id)
        return {**summary(receipt, None if entry is None else entry.leaf_index),
                "body": receipt.body,
                "signature": {"suite": receipt.suite, "signer": receipt.signer,
                              "value": receipt.signature}}


def receipts_of(uow: UnitOfWork, subject_type: str,
                subject_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Summaries of the receipts of these records that the caller may read, oldest first,
    by record id; for the contexts that show their records (call with a joined unit of
    work)."""
    if not subject_ids:
        return {}
    rows = uow.session.execute(
        select(Receipt, LogEntry.leaf_index)
        .outerjoin(LogEntry, LogEntry.receipt_id == Receipt.id)
        .where(Receipt.subject_type == subject_type, Receipt.subject_id.in_(subject_ids))
        .order_by(Receipt.id)
    ).all()
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in subject_ids}
    for receipt, leaf_index in rows:
        if may_read(uow.actor, receipt):
            found[receipt.subject_id].append(summary(receipt, leaf_index))
    return found


def receipts_for(subject_type: str, subject_id: str, *,
                 uow: UnitOfWork) -> list[dict[str, Any]]:
    """Summaries of one record's receipts that the caller may read, oldest first."""
    with uow:
        return receipts_of(uow, subject_type, [subject_id])[subject_id]


def _entry(uow: UnitOfWork, receipt_id: str) -> LogEntry | None:
    return uow.session.scalars(
        select(LogEntry).where(LogEntry.receipt_id == receipt_id)).first()


def _anchored_batch(uow: UnitOfWork, suite: str, leaf_index: int) -> AnchorBatch | None:
    """The first batch on a chain whose tree holds the leaf."""
    return uow.session.scalars(
        select(AnchorBatch).where(AnchorBatch.suite == suite,
                                  AnchorBatch.status.in_(ANCHORED),
                                  AnchorBatch.tree_size > leaf_index)
        .order_by(AnchorBatch.id).limit(1)
    ).first()


def _anchor(batch: AnchorBatch) -> dict[str, Any]:
    return {"chain_id": batch.chain_id, "contract": batch.contract, "batch_id": batch.id,
            "tree_size": batch.tree_size, "root": batch.root, "tx_hash": batch.tx_hash,
            "block_number": batch.block_number, "block_hash": batch.block_hash,
            "status": batch.status}


def proof_bundle(receipt_id: str, *, uow: UnitOfWork) -> dict[str, Any]:
    """One self-contained JSON bundle proving a receipt: its body and signature, and once it
    is in the log, the inclusion proof against a signed checkpoint, and once that is on a
    chain, the anchor (chain, contract, batch, transaction and block).

    The checkpoint is the anchored one when there is one, else the newest.

    Raises:
        ReceiptNotFound: no such receipt visible to the caller.
    """
    with uow:
        receipt = _get(uow, receipt_id)
        bundle: dict[str, Any] = {
            "format": BUNDLE_FORMAT,
            "receipt": {"id": receipt.id, "body": receipt.body, "digest": receipt.digest,
                        "signature": {"suite": receipt.suite, "signer": receipt.signer,
                                      "value": receipt.signature}},
            "log": None,
            "anchor": None,
        }
        entry = _entry(uow, receipt.id)
        if entry is None:
            return bundle
        batch = _anchored_batch(uow, receipt.suite, entry.leaf_index)
        checkpoint: Checkpoint | None
        if batch is not None and batch.checkpoint_id is not None:
            checkpoint = uow.session.get(Checkpoint, batch.checkpoint_id)
            bundle["anchor"] = _anchor(batch)
        else:
            checkpoint = latest_checkpoint(uow, receipt.suite, covering=entry.leaf_index)
        if checkpoint is None:  # logged by a sequencer that has not committed its checkpoint
            return bundle
        proof = inclusion_proof(uow, receipt.suite, entry.leaf_index, checkpoint.tree_size)
        bundle["log"] = {
            "origin": checkpoint.origin, "suite": receipt.suite,
            "public_key": checkpoint.signer, "leaf_index": entry.leaf_index,
            "tree_size": checkpoint.tree_size, "inclusion_proof": [p.hex() for p in proof],
            "checkpoint": checkpoint.note,
        }
        return bundle


def verify_bundle(bundle: Mapping[str, Any], *, trusted_signer: str | None,
                  rpc_url: str | None = None, min_confirmations: int = 1) -> dict[str, Any]:
    """Check a bundle as the stand-alone verifier does (no database involved)."""
    report = verifier.verify_bundle(bundle, trusted_signer=trusted_signer, rpc_url=rpc_url,
                                    min_confirmations=min_confirmations)
    return report.as_dict()


def batch_view(batch: AnchorBatch) -> dict[str, Any]:
    """An anchoring batch as the operator and the regulator see it: every column but the
    signed transaction's bytes, and the number of transactions tried."""
    return {**{c.key: getattr(batch, c.key) for c in batch.__mapper__.column_attrs
               if c.key not in ("raw_tx", "attempts")},
            "attempts": len(batch.attempts or [])}


def list_batches(*, uow: UnitOfWork, limit: int = 100) -> list[dict[str, Any]]:
    """The newest anchoring batches, newest first, for the operator and the regulator (and
    `market receipts anchor-status`).

    Raises:
        RoleNotAllowed: another role.
    """
    require(uow.actor, Role.OPERATOR, Role.REGULATOR)
    with uow:
        rows = uow.session.scalars(
            select(AnchorBatch).order_by(AnchorBatch.id.desc()).limit(limit)).all()
        return [batch_view(b) for b in rows]
