"""Receipts API: a receipt and its proof bundle (for the parties, the regulator, or anyone
when the record is public), verification of any bundle, the log's signed checkpoints and
consistency proofs (public, for monitors), and the anchoring batches."""

from __future__ import annotations

from typing import Any

from market.kernel.actor import Role
from market.kernel.web import ApiBlueprint, state, unit_of_work
from market.receipts import services
from market.receipts.schemas import (
    AnchorBatchListOut,
    LogCheckpointOut,
    LogCheckpointQuery,
    LogConsistencyOut,
    LogConsistencyQuery,
    ProofBundleOut,
    ReceiptOut,
    ReceiptVerificationIn,
    ReceiptVerificationOut,
)

bp = ApiBlueprint("receipts", __name__,
                  description="Signed receipts (存证), their Merkle log, proof bundles, "
                              "verification and chain anchoring")


@bp.route("/receipts/<receipt_id>", methods=["GET"])
@bp.access(anonymous=True, object_scoped=True)
@bp.response(200, ReceiptOut)
def get_receipt(receipt_id: str) -> dict[str, Any]:
    """A receipt: the signed body (the record as it was when issued), its digest, the
    platform's signature and its place in the log."""
    return services.get_receipt(receipt_id, uow=unit_of_work())


@bp.route("/receipts/<receipt_id>/proof", methods=["GET"])
@bp.access(anonymous=True, object_scoped=True)
@bp.response(200, ProofBundleOut)
def get_proof(receipt_id: str) -> dict[str, Any]:
    """The receipt's proof bundle: body, signature, inclusion proof against a signed
    checkpoint and, once anchored, the chain transaction. Check it with
    `market receipts verify BUNDLE.json [--rpc URL]` or the stand-alone
    `market/receipts/verifier.py`, without trusting this API."""
    return services.proof_bundle(receipt_id, uow=unit_of_work())


@bp.route("/receipts/verification", methods=["POST"])
@bp.access(anonymous=True)
@bp.arguments(ReceiptVerificationIn)
@bp.response(200, ReceiptVerificationOut)
def verify(body: dict[str, Any]) -> dict[str, Any]:
    """Check a proof bundle part by part (format, body, signature, signer, checkpoint,
    inclusion, anchor) and name the first part that fails. The signer trusted is this
    platform's unless another is given; with anchoring on, the anchor is read from the
    chain."""
    settings = state().settings
    return services.verify_bundle(
        body["bundle"], trusted_signer=body["signer"] or services.issuer().suite.identity,
        rpc_url=settings.chain_rpc_url or None)


@bp.route("/receipts/logs/<suite>/checkpoint", methods=["GET"])
@bp.access(anonymous=True, object_scoped=True)
@bp.arguments(LogCheckpointQuery, location="query")
@bp.response(200, LogCheckpointOut)
def get_checkpoint(query: dict[str, Any], suite: str) -> dict[str, Any]:
    """The log's newest signed checkpoint, or the one at `tree_size`."""
    return services.checkpoint_view(suite, query["tree_size"], uow=unit_of_work())


@bp.route("/receipts/logs/<suite>/consistency", methods=["GET"])
@bp.access(anonymous=True, object_scoped=True)
@bp.arguments(LogConsistencyQuery, location="query")
@bp.response(200, LogConsistencyOut)
def get_consistency(query: dict[str, Any], suite: str) -> dict[str, Any]:
    """The RFC 9162 consistency proof that the log at `second` extends the log at `first`."""
    return services.consistency(suite, query["first"], query["second"], uow=unit_of_work())


@bp.route("/receipts/batches", methods=["GET"])
@bp.access(roles=[Role.OPERATOR, Role.REGULATOR])
@bp.response(200, AnchorBatchListOut)
def list_batches() -> dict[str, Any]:
    """The newest anchoring batches and where each stands (open, sealed, submitted,
    included, finalized, reorged, resubmitted, failed)."""
    return {"items": services.list_batches(uow=unit_of_work())}
