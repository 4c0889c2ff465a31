"""HTTP edge schemas for trading: orders and contracts, deliveries and downloads,
acceptance, disputes, refunds after settlement, subscriptions and distribution rules."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate
from werkzeug.datastructures import FileStorage

from market.compliance.services import PurchaseCommitmentIn, SignatureIn
from market.kernel.web import HistoryEventOut, PageQuery, RecordSchema, UtcDateTime, choices
from market.receipts.services import ReceiptSummaryOut
from market.settlement.services import (
    AllocationOut,
    CardPaymentRecord,
    JournalOut,
    RefundCause,
    RefundOut,
)
from market.trading.contract_signatures import Act, ContractSignature, Side
from market.trading.domain import (
    DeliveryMode,
    DisputeOutcome,
    DisputeStatus,
    OrderStatus,
    SubscriptionStatus,
)
from market.trading.models import (
    Contract,
    Delivery,
    Dispute,
    Order,
    Subscription,
    SubscriptionTerms,
)

_ID = validate.Length(1, 40)
_SHA256 = validate.Regexp(r"^[0-9a-fA-F]{64}$", error="must be 64 hex digits")


def _digests() -> fields.List[str]:
    return fields.List(fields.String(validate=_SHA256), load_default=list,
                       validate=validate.Length(0, 20))


class OrderIn(SignatureIn):
    product_id = fields.String(required=True, validate=_ID)
    offer_id = fields.String(required=True, validate=_ID)
    commitment = fields.Nested(
        PurchaseCommitmentIn, required=True,
        metadata={"description": "answers of the current purchase commitment template"})


class OrderQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(choices(OrderStatus)))
    role = fields.String(load_default=None, validate=validate.OneOf(["buyer", "seller"]),
                         metadata={"description": "only orders where you are this side"})
    product = fields.String(load_default=None, validate=_ID)


class DeliveryOut(RecordSchema, model=Delivery, omit=("order_id", "credential_hash")): ...


class OrderDisputeOut(RecordSchema, model=Dispute): ...


class OrderOut(RecordSchema, model=Order, omit=("placed_by_user_id",)):
    amount = fields.Integer(metadata={"description": "minor units (分 for CNY)"})
    outcome = fields.String(metadata={"description": "the compliance decision at ordering"})
    contract_id = fields.String(allow_none=True)
    contract_sha256 = fields.String(allow_none=True)
    review_by = fields.DateTime(allow_none=True, metadata={
        "description": "an order waiting for review is cancelled if not decided by then"})
    deliveries = fields.List(fields.Nested(DeliveryOut))
    disputes = fields.List(fields.Nested(OrderDisputeOut))
    receipts = fields.List(fields.Nested(ReceiptSummaryOut), metadata={
        "description": "receipts proving the contract, payment, settlement, refund and "
                       "dispute decision (GET /receipts/{id}/proof); on GET /orders/{id}"})


class OrderSummaryOut(OrderOut):
    class Meta:
        fields = ("id", "status", "buyer_org_id", "seller_org_id", "product_id", "version_id",
                  "offer_id", "amount", "currency", "outcome", "flagged", "flag_reason",
                  "refunded_amount", "created_at", "updated_at")


class ContractSignatureOut(RecordSchema, model=ContractSignature,
                           omit=("contract_id", "order_id")):
    """A party's signature of the contract by a registered key, or its decline."""

    party = fields.String(metadata={"enum": [s.value for s in Side]})
    act = fields.String(metadata={"enum": [a.value for a in Act]})


class ContractOut(RecordSchema, model=Contract):
    sha256 = fields.String(metadata={"description": "RFC 8785 SHA-256 of the document"})
    signatures = fields.List(fields.Nested(ContractSignatureOut), metadata={
        "description": "each party's signature (key id, suite, time) or decline; on GET "
                       "/orders/{id}/contract"})


class OrderCommitmentOut(ma.Schema):
    """The buyer's purchase commitment (购买承诺) an order was placed under."""

    id = fields.String()
    kind = fields.String(metadata={"description": "purchase"})
    template = fields.String(metadata={"description": "the declaration template answered"})
    org_id = fields.String(metadata={"description": "the buyer that declared"})
    subject_type = fields.String()
    subject_id = fields.String()
    answers = fields.Dict(keys=fields.String(), values=fields.Raw(), metadata={
        "description": "what the buyer declared about the data's use"})
    sha256 = fields.String(metadata={
        "description": "its digest, as in the contract's declarations.purchase_sha256"})
    signer_address = fields.String(allow_none=True)
    signed_at = fields.DateTime()
    vouched = fields.Boolean(metadata={
        "description": "signed by a verified, unrevoked key of the buyer's organisation"})


class ContractSignatureIn(ma.Schema):
    key_id = fields.String(required=True, validate=_ID, metadata={
        "description": "a verified, unrevoked signing key of your organisation"})
    signature = fields.String(required=True, validate=validate.Regexp(
        r"^(0x)?([0-9a-fA-F]{128}|[0-9a-fA-F]{130})$",
        error="must be 0x and 130 hex digits (secp256k1) or 128 hex digits (sm2)"), metadata={
        "description": "secp256k1: EIP-191 personal_sign of the contract's sha256 as 64 "
                       "lowercase hex digits; sm2: SM2 (SM3, default user id) over its 32 "
                       "bytes, r || s"})


class ContractDeclineIn(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class OrderEventOut(HistoryEventOut):
    """A move of an order along its lifecycle."""


class OrderLedgerOut(ma.Schema):
    journals = fields.List(fields.Nested(JournalOut))
    allocations = fields.List(fields.Nested(AllocationOut))


class OrderReviewIn(ma.Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class CancellationIn(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class DeliveryIn(ma.Schema):
    """An API or sandbox delivery (files are uploaded to /orders/{id}/deliveries/file)."""

    mode = fields.String(required=True, validate=validate.OneOf(
        [DeliveryMode.API.value, DeliveryMode.SANDBOX.value]))
    endpoint = fields.URL(load_default=None, schemes={"https"}, validate=validate.Length(1, 500),
                          metadata={"description": "API delivery: where the buyer calls"})
    purpose = fields.String(load_default=None, validate=validate.Length(1, 2000),
                            metadata={"description": "sandbox: what the access is for"})
    access_to = UtcDateTime(load_default=None,
                            metadata={"description": "end of the access term"})
    note = fields.String(load_default=None, validate=validate.Length(1, 2000))


class Upload(fields.Field[FileStorage]):
    """A file part of a multipart/form-data body (a plain form field is not a file)."""

    default_error_messages = {"not_a_file": "must be a file"}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, FileStorage):
            raise self.make_error("not_a_file")
        return value


class FileDeliveryIn(ma.Schema):
    """A file delivery, sent as multipart/form-data."""

    file = Upload(required=True, metadata={"type": "string", "format": "binary"})
    note = fields.String(load_default=None, validate=validate.Length(1, 2000))


class DeliveryResultOut(ma.Schema):
    order = fields.Nested(OrderOut)
    credential = fields.String(allow_none=True, metadata={
        "description": "API delivery: the buyer's access credential, shown once"})


class DownloadTokenOut(ma.Schema):
    token = fields.String(metadata={"description": "shown once"})
    url = fields.String()
    expires_at = fields.DateTime()
    max_downloads = fields.Integer()


class AcceptanceIn(ma.Schema):
    sha256 = fields.String(load_default=None, validate=_SHA256, metadata={
        "description": "optional: the fingerprint of the file you received"})


class OrderDisputeIn(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 5000))
    evidence_sha256 = _digests()


class AnswerIn(ma.Schema):
    answer = fields.String(required=True, validate=validate.Length(1, 5000))
    evidence_sha256 = _digests()


class DisputeDecisionIn(ma.Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(choices(DisputeOutcome)))
    refund_amount = fields.Integer(load_default=None, validate=validate.Range(min=1),
                                   metadata={"description": "partial refund, minor units"})
    reason = fields.String(required=True, validate=validate.Length(1, 2000))

    @ma.validates_schema
    def _partial_needs_amount(self, data: dict[str, Any], **_: Any) -> None:
        if data["outcome"] == DisputeOutcome.PARTIAL_REFUND.value and not data.get(
                "refund_amount"):
            raise ma.ValidationError("a partial refund names its amount", "refund_amount")


class OrderDisputeQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(choices(DisputeStatus)))


# -- arbitration -------------------------------------------------------------------------


class EscalationIn(ma.Schema):
    institution = fields.String(required=True, validate=validate.Length(1, 200), metadata={
        "description": "one of the arbitration institutions the dispute rules name"})
    reason = fields.String(required=True, validate=validate.Length(1, 5000))


class AwardIn(ma.Schema):
    institution = fields.String(required=True, validate=validate.Length(1, 200), metadata={
        "description": "the institution the dispute was taken to"})
    reference = fields.String(required=True, validate=validate.Length(1, 100), metadata={
        "description": "the award's case number at the institution"})
    document_sha256 = fields.String(required=True, validate=_SHA256, metadata={
        "description": "SHA-256 of the award document"})
    outcome = fields.String(required=True, validate=validate.OneOf(choices(DisputeOutcome)))
    refund_amount = fields.Integer(load_default=None, strict=True,
                                   validate=validate.Range(min=1, max=10 ** 15),
                                   metadata={"description": "partial refund, minor units"})
    decided_at = UtcDateTime(required=True, metadata={
        "description": "when the institution made the award"})

    @ma.validates_schema
    def _partial_needs_amount(self, data: dict[str, Any], **_: Any) -> None:
        if data["outcome"] == DisputeOutcome.PARTIAL_REFUND.value and not data.get(
                "refund_amount"):
            raise ma.ValidationError("a partial refund names its amount", "refund_amount")


class DisputeRulesVersionOut(ma.Schema):
    version = fields.String()
    effective_from = fields.String()
    current = fields.Boolean()
    sha256 = fields.String(metadata={"description": "RFC 8785 SHA-256 of the document"})
    document = fields.Dict(keys=fields.String(), values=fields.Raw(), metadata={
        "description": "windows, outcomes, evidence, arbitration institutions, procedure"})


class DisputeRulesOut(ma.Schema):
    current = fields.String(metadata={"description": "the version new disputes open under"})
    versions = fields.List(fields.Nested(DisputeRulesVersionOut))


class BundleSignatureOut(ma.Schema):
    scheme = fields.String(metadata={"description": "eip712"})
    domain = fields.Dict(keys=fields.String(), values=fields.Raw())
    primary_type = fields.String()
    kind = fields.String()
    subject = fields.String(metadata={"description": "dispute:<id>"})
    digest = fields.String()
    issued_at = fields.Integer(metadata={"description": "unix seconds"})
    signer = fields.String(metadata={"description": "the platform's address"})
    signature = fields.String()


class EvidenceBundleOut(ma.Schema):
    bundle = fields.Dict(keys=fields.String(), values=fields.Raw(), metadata={
        "description": "contract, declarations, deliveries with their fingerprints, download "
                       "log, messages, history, ledger journals, receipts and audit entries"})
    digest = fields.String(metadata={
        "description": "SHA-256 of the bundle's RFC 8785 canonical JSON"})
    signature = fields.Nested(BundleSignatureOut, metadata={
        "description": "EIP-712 Receipt(kind, subject, digest, issuedAt) by the platform key"})


class CredentialIn(ma.Schema):
    credential = fields.String(required=True, validate=validate.Length(1, 200))


class CredentialOut(ma.Schema):
    valid = fields.Boolean()
    order_id = fields.String()
    buyer_org_id = fields.String()
    product_id = fields.String()
    status = fields.String()
    access_to = fields.DateTime(allow_none=True)
    terms = fields.Dict(keys=fields.String(), values=fields.Raw())


class UsageIn(ma.Schema):
    key = fields.String(required=True, validate=validate.Regexp(r"^[!-~]{1,100}$"), metadata={
        "description": "your id for this report; a retry with the same key counts once"})
    units = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10 ** 12))


class UsageOut(ma.Schema):
    units = fields.Integer()
    unit = fields.String(metadata={"description": "call or mb"})
    unit_price = fields.Integer()
    cap = fields.Integer(metadata={"description": "the most the period costs"})
    billed = fields.Integer(metadata={"description": "what the units cost so far, capped"})
    records = fields.Integer()


class RefundIn(ma.Schema):
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10 ** 15),
                            metadata={"description": "minor units to give back"})
    cause = fields.String(required=True, validate=validate.OneOf(choices(RefundCause)),
                          metadata={"description": "goodwill (the seller), dispute or "
                                                   "arbitration (the operator)"})
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class OrderRefundsOut(ma.Schema):
    items = fields.List(fields.Nested(RefundOut))
    refunded_amount = fields.Integer(metadata={
        "description": "what went back to the buyer in all, a dispute's refund included"})
    refundable_amount = fields.Integer(metadata={
        "description": "what is left to refund of the price billed (0 unless settled)"})


class CardPaymentOut(RecordSchema, model=CardPaymentRecord, omit=("client_secret",)):
    status = fields.String(metadata={
        "description": "requested (the PaymentIntent is being created), open (waiting for "
                       "the card), authorised, captured, cancelled or returned"})
    capture_method = fields.String(metadata={
        "description": "manual: captured on acceptance; automatic: charged at once"})
    client_secret = fields.String(allow_none=True, metadata={
        "description": "the PaymentIntent's client secret for Stripe.js; the buyer's only, "
                       "null until the worker has created the PaymentIntent"})


class SubscriptionOut(RecordSchema, model=Subscription):
    amount = fields.Integer(metadata={"description": "one period's price, minor units"})
    renew = fields.Boolean(metadata={"description": "renewed before the period ends"})
    current_period_end = fields.DateTime(allow_none=True, metadata={
        "description": "access to what was delivered ends then unless renewed"})
    grace_until = fields.DateTime(allow_none=True, metadata={
        "description": "past due: lapses then unless a renewal is paid"})


class SubscriptionQuery(PageQuery):
    status = fields.String(load_default=None,
                           validate=validate.OneOf(choices(SubscriptionStatus)))
    role = fields.String(load_default=None, validate=validate.OneOf(["buyer", "seller"]),
                         metadata={"description": "only subscriptions where you are this side"})


class SubscriptionChangeIn(ma.Schema):
    renew = fields.Boolean(required=True, metadata={
        "description": "false: lapse when the paid period ends; true: renew again"})


class TermsAcceptanceIn(SignatureIn):
    offer_id = fields.String(load_default=None, validate=_ID, metadata={
        "description": "the subscription offer of the version listed now (by default the "
                       "subscription's own offer)"})
    commitment = fields.Nested(
        PurchaseCommitmentIn, required=True,
        metadata={"description": "answers of the current purchase commitment template"})


class SubscriptionTermsOut(RecordSchema, model=SubscriptionTerms):
    sha256 = fields.String(metadata={"description": "RFC 8785 SHA-256 of the document"})


class SubscriptionEventOut(HistoryEventOut):
    """A move or renewal of a subscription."""


class DestructionDeclarationIn(SignatureIn):
    destroyed_at = UtcDateTime(required=True,
                               metadata={"description": "when the copies were destroyed"})
    method = fields.String(required=True, validate=validate.Length(1, 500),
                           metadata={"description": "how they were destroyed"})
    note = fields.String(load_default=None, validate=validate.Length(0, 2000))


class DestructionRequestOut(ma.Schema):
    order_id = fields.String()
    buyer_org_id = fields.String()
    seller_org_id = fields.String()
    term_ended_at = fields.DateTime(metadata={"description": "when the contract's term ended"})
    requested_at = fields.DateTime()
    due_by = fields.DateTime(metadata={"description": "the declaration is due by then"})
    declaration_id = fields.String(allow_none=True)
    declared_at = fields.DateTime(allow_none=True)
    alert_id = fields.String(allow_none=True,
                             metadata={"description": "the alert raised when it was overdue"})
    alerted_at = fields.DateTime(allow_none=True)
    overdue = fields.Boolean()
