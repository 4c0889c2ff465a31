"""HTTP edge schemas for receipts: a receipt, its proof bundle, verification reports, the
log's checkpoints and consistency proofs, and anchoring batches."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from market.kernel.web import UtcDateTime


class ReceiptSignatureOut(ma.Schema):
    suite = fields.String(metadata={"description": "secp256k1-sha256 or sm2-sm3"})
    signer = fields.String(metadata={
        "description": "the platform's address (secp256k1) or SM2 public key (04…)"})
    value = fields.String(metadata={
        "description": "EIP-712 signature (secp256k1) or SM2 r‖s hex (sm2-sm3)"})


class ReceiptSummaryOut(ma.Schema):
    """A receipt as the record it proves lists it."""

    id = fields.String()
    kind = fields.String()
    subject = fields.String(metadata={"description": "`<type>:<id>` of the record"})
    suite = fields.String()
    digest = fields.String(metadata={"description": "the suite's hash of the body (RFC 8785)"})
    issued_at = UtcDateTime()
    leaf_index = fields.Integer(allow_none=True, metadata={
        "description": "its place in the log; null until the sequencer appends it"})


class ReceiptOut(ReceiptSummaryOut):
    body = fields.Dict(metadata={"description": "the signed body: what was true when issued"})
    signature = fields.Nested(ReceiptSignatureOut)


class ProofBundleOut(ma.Schema):
    """A proof bundle (``market.receipt-proof/v1``): everything the offline verifier needs."""

    class Meta:
        unknown = ma.INCLUDE

    format = fields.String()
    receipt = fields.Dict()
    log = fields.Dict(allow_none=True, metadata={
        "description": "inclusion proof and signed checkpoint; null until logged"})
    anchor = fields.Dict(allow_none=True, metadata={
        "description": "chain, contract, batch, transaction and block; null until anchored"})


class ReceiptVerificationIn(ma.Schema):
    bundle = fields.Dict(required=True, metadata={"description": "a proof bundle"})
    signer = fields.String(load_default=None, validate=validate.Length(1, 140), metadata={
        "description": "the key to trust; default: this platform's"})


class ReceiptVerificationPartOut(ma.Schema):
    name = fields.String()
    ok = fields.Boolean()
    detail = fields.String()


class ReceiptVerificationOut(ma.Schema):
    ok = fields.Boolean()
    status = fields.String(metadata={
        "description": "verified, pending (sound but not yet in the log) or failed"})
    failed = fields.String(allow_none=True, metadata={"description": "the first part failing"})
    parts = fields.List(fields.Nested(ReceiptVerificationPartOut))


class LogCheckpointQuery(ma.Schema):
    tree_size = fields.Integer(load_default=None, validate=validate.Range(min=1))


class LogCheckpointOut(ma.Schema):
    suite = fields.String()
    origin = fields.String()
    tree_size = fields.Integer()
    root = fields.String()
    signed_at = UtcDateTime()
    note = fields.String(metadata={"description": "C2SP tlog-checkpoint as a signed note"})


class LogConsistencyQuery(ma.Schema):
    first = fields.Integer(required=True, validate=validate.Range(min=1))
    second = fields.Integer(required=True, validate=validate.Range(min=1))


class LogConsistencyOut(ma.Schema):
    suite = fields.String()
    first = fields.Integer()
    second = fields.Integer()
    first_root = fields.String(metadata={"description": "hex"})
    second_root = fields.String(metadata={"description": "hex"})
    proof = fields.List(fields.String(), metadata={"description": "RFC 9162 §2.1.4, hex"})


class AnchorBatchOut(ma.Schema):
    id = fields.Integer()
    suite = fields.String()
    status = fields.String()
    chain_id = fields.Integer()
    contract = fields.String()
    from_size = fields.Integer()
    tree_size = fields.Integer(allow_none=True)
    root = fields.String(allow_none=True)
    tx_hash = fields.String(allow_none=True)
    nonce = fields.Integer(allow_none=True)
    block_number = fields.Integer(allow_none=True)
    block_hash = fields.String(allow_none=True)
    gas_used = fields.Integer(allow_none=True)
    attempts = fields.Integer()
    opened_at = UtcDateTime()
    sealed_at = UtcDateTime(allow_none=True)
    submitted_at = UtcDateTime(allow_none=True)
    included_at = UtcDateTime(allow_none=True)
    finalized_at = UtcDateTime(allow_none=True)
    last_error = fields.String(allow_none=True)


class AnchorBatchListOut(ma.Schema):
    items = fields.List(fields.Nested(AnchorBatchOut))
