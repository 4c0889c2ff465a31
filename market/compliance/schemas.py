"""HTTP edge schemas for compliance: the answers of each declaration template, and the
declarations, breaches, credit records and decisions as clients see them."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from market.compliance import models
from market.compliance.domain import (
    BreachSeverity,
    DeclarationKind,
    Outcome,
    PIBasis,
    SourceBasis,
    Stage,
)
from market.kernel.web import PageQuery, RecordSchema, UtcDateTime, choices
from market.receipts.services import ReceiptSummaryOut

_SHA256 = validate.Regexp(r"^[0-9a-f]{64}$", error="must be 64 lowercase hex digits")
_SIGNATURE = validate.Regexp(r"^0x[0-9a-fA-F]{130}$",
                             error="must be a 65-byte signature as 0x and 130 hex digits")


def _texts(minimum: int, *, required: bool = True, longest: int = 500,
           metadata: dict[str, Any] | None = None) -> fields.List[str]:
    extra: dict[str, Any] = {"required": True} if required else {"load_default": list}
    return fields.List(fields.String(validate=validate.Length(1, longest)),
                       validate=validate.Length(minimum, 20), metadata=metadata or {},
                       **extra)


def _digests() -> fields.List[str]:
    return fields.List(fields.String(validate=_SHA256), load_default=list,
                       validate=validate.Length(0, 20))


class ListingDeclarationIn(ma.Schema):
    """Answers of the listing declaration (template listing@1). Structured, so rules can
    check them: a false commitment is kept as declared and refused by a named rule."""

    statement = fields.String(required=True, validate=validate.Length(1, 5000),
                              metadata={"description": "the declarant's own words"})
    source_is_lawful = fields.Boolean(required=True)
    source_basis = fields.String(required=True, validate=validate.OneOf(choices(SourceBasis)))
    source_evidence_sha256 = _digests()
    contains_personal_information = fields.Boolean(required=True)
    personal_information_basis = fields.String(
        required=True, validate=validate.OneOf(choices(PIBasis)),
        metadata={"description": "none, consent records, or anonymisation"})
    personal_information_evidence_sha256 = _digests()
    contains_important_data = fields.Boolean(required=True)
    contains_core_data = fields.Boolean(required=True)
    cross_border = fields.Boolean(required=True,
                                  metadata={"description": "the product may be used abroad"})
    security_assessment_ref = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(1, 200),
        metadata={"description": "reference of a data-export security assessment"})
    third_party_rights_cleared = fields.Boolean(required=True)
    security_measures = _texts(1)
    scenarios = _texts(1, longest=200)
    onward_transfer_commitment = fields.Boolean(
        required=True, metadata={"description": "buyers are bound to the transfer limits"})
    commitments = _texts(0, required=False)


class PurchaseCommitmentIn(ma.Schema):
    """Answers of the buyer's purchase commitment (template purchase@1)."""

    purpose = fields.String(required=True, validate=validate.Length(1, 2000),
                            metadata={"description": "what the buyer will use the data for"})
    purposes = _texts(1, longest=200, metadata={
        "description": "the permitted purposes (the listing's usage policy) the use falls "
                       "under; each must be one the policy permits"})
    scenarios = _texts(1, longest=200)
    cross_border = fields.Boolean(required=True,
                                  metadata={"description": "the data will be used abroad"})
    purpose_class = fields.String(validate=validate.OneOf(["public_interest", "commercial"]),
                                  metadata={"description": "for public data: public_interest "
                                            "(公共治理、公益事业, the free offer) or commercial"})
    destination = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(1, 100),
                                metadata={"description": "where, when used abroad"})
    security_measures = _texts(1)
    no_onward_transfer = fields.Boolean(
        required=True, metadata={"description": "no transfer, resale or provision to others"})
    no_reidentification = fields.Boolean(
        required=True, metadata={"description": "no identifying of natural persons"})
    commitments = _texts(0, required=False)


class SignatureIn(ma.Schema):
    signature = fields.String(
        load_default=None, validate=_SIGNATURE,
        metadata={"description": "optional: your organisation key's EIP-191 signature of the "
                                 "declaration's sha256 (its 64 hex digits as the message)"})


class TemplateOut(ma.Schema):
    id = fields.String(metadata={"description": "kind@version"})
    kind = fields.String()
    version = fields.Integer()
    title = fields.String()
    title_en = fields.String()
    commitments = fields.List(fields.String())
    current = fields.Boolean()


class TemplateListOut(ma.Schema):
    items = fields.List(fields.Nested(TemplateOut))
    rules = fields.List(fields.String(), metadata={"description": "names of the rules"})
    ruleset_version = fields.String()


class BreachIn(ma.Schema):
    severity = fields.String(required=True, validate=validate.OneOf(choices(BreachSeverity)))
    reason = fields.String(required=True, validate=validate.Length(1, 2000))
    evidence_sha256 = _digests()


class BreachOut(RecordSchema, model=models.DeclarationBreach, omit=("recorded_by_user_id",)): ...


class DeclarationSummaryOut(RecordSchema, model=models.Declaration,
                            omit=("answers", "signature")): ...


class DeclarationOut(RecordSchema, model=models.Declaration):
    vouched = fields.Boolean(metadata={
        "description": "signed by a verified, unrevoked secp256k1 key of the declarant's "
                       "organisation (signing_key_id) in its key registry"})
    signed_document = fields.Dict(
        keys=fields.String(), values=fields.Raw(),
        metadata={"description": "what sha256 covers (RFC 8785 form, then SHA-256)"})
    breaches = fields.List(fields.Nested(BreachOut))


class DeclarationQuery(PageQuery):
    kind = fields.String(load_default=None, validate=validate.OneOf(choices(DeclarationKind)))
    org = fields.String(load_default=None, validate=validate.Length(1, 40))
    subject_id = fields.String(load_default=None, validate=validate.Length(1, 40))


class CreditOut(ma.Schema):
    org_id = fields.String()
    score = fields.Integer(metadata={"description": "100 less the points of every breach"})
    breaches = fields.List(fields.Nested(BreachOut))


class VerdictOut(ma.Schema):
    rule = fields.String()
    outcome = fields.String()
    reason = fields.String()
    detail = fields.Dict(keys=fields.String(), values=fields.Raw(), allow_none=True)


class DecisionOut(RecordSchema, model=models.Decision):
    verdicts = fields.List(fields.Nested(VerdictOut))


class DecisionSummaryOut(DecisionOut):
    class Meta:
        exclude = ("verdicts", "facts")


class DecisionQuery(PageQuery):
    stage = fields.String(load_default=None, validate=validate.OneOf(choices(Stage)))
    outcome = fields.String(load_default=None, validate=validate.OneOf(choices(Outcome)))
    subject_id = fields.String(load_default=None, validate=validate.Length(1, 40))


class OffExchangeIn(ma.Schema):
    """A trade concluded off the exchange, reported for filing (场外交易备案)."""

    role = fields.String(required=True, validate=validate.OneOf(["seller", "buyer"]),
                         metadata={"description": "your side of the trade"})
    counterparty_org_id = fields.String(required=True, validate=validate.Length(1, 40))
    product_title = fields.String(required=True, validate=validate.Length(1, 200))
    sector = fields.String(required=True, validate=validate.Length(1, 60))
    product_type = fields.String(required=True, validate=validate.Length(1, 32))
    amount = fields.Integer(required=True, strict=True,
                            validate=validate.Range(0, 10**15),
                            metadata={"description": "price in minor units"})
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}$"))
    concluded_at = UtcDateTime(required=True)
    evidence_sha256 = fields.List(fields.String(validate=_SHA256), required=True,
                                  validate=validate.Length(1, 20),
                                  metadata={"description": "SHA-256 of the contract and "
                                                           "other evidence"})
    note = fields.String(load_default=None, validate=validate.Length(1, 2000))


class FilingQuery(PageQuery):
    concluded_from = UtcDateTime(load_default=None)
    concluded_to = UtcDateTime(load_default=None)
    party = fields.String(load_default=None, validate=validate.Length(1, 40))
    product = fields.String(load_default=None, validate=validate.Length(1, 40))
    sector = fields.String(load_default=None, validate=validate.Length(1, 60))
    kind = fields.String(load_default=None,
                         validate=validate.OneOf(["exchange", "off_exchange"]))
    currency = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Z]{3}$"))
    min_amount = fields.Integer(load_default=None, validate=validate.Range(0, 10**15))
    max_amount = fields.Integer(load_default=None, validate=validate.Range(0, 10**15))


class FilingRefundOut(RecordSchema, model=models.FilingRefund, omit=("filing_id",)): ...


class FilingOut(RecordSchema, model=models.Filing):
    number = fields.String(metadata={"description": "FL-YYYY-NNNNNN"})
    refunds = fields.List(fields.Nested(FilingRefundOut), metadata={
        "description": "refunds after settlement recorded on the filing; on GET /filings/{id}"})
    refunded_amount = fields.Integer(metadata={
        "description": "what the refunds gave back in all; on GET /filings/{id}"})
    receipts = fields.List(fields.Nested(ReceiptSummaryOut), metadata={
        "description": "receipts proving the filing (GET /receipts/{id}/proof)"})


class AlertQuery(PageQuery):
    status = fields.String(load_default=None,
                           validate=validate.OneOf(["open", "investigating", "closed"]))
    rule = fields.String(load_default=None, validate=validate.Length(1, 80))


class AlertNoteOut(RecordSchema, model=models.AlertNote, omit=("alert_id", "by_user_id")): ...


class AlertOut(RecordSchema, model=models.Alert):
    notes = fields.List(fields.Nested(AlertNoteOut))


class AlertSummaryOut(AlertOut):
    class Meta:
        exclude = ("evidence", "notes")


class DispositionIn(ma.Schema):
    status = fields.String(required=True,
                           validate=validate.OneOf(["open", "investigating", "closed"]))
    note = fields.String(required=True, validate=validate.Length(1, 2000))


class SuspensionOrderIn(ma.Schema):
    subject_type = fields.String(required=True,
                                 validate=validate.OneOf(["participant", "listing"]))
    subject_id = fields.String(required=True, validate=validate.Length(1, 40),
                               metadata={"description": "an organisation or a product id"})
    reason = fields.String(required=True, validate=validate.Length(1, 2000))
    alert_id = fields.String(load_default=None, validate=validate.Length(1, 40))


class SuspensionOrderOut(RecordSchema, model=models.SuspensionOrder,
                         omit=("ordered_by_user_id",)): ...


class ReviewQuery(PageQuery):
    status = fields.String(load_default=None,
                           validate=validate.OneOf(["open", "claimed", "closed"]))
    kind = fields.String(load_default=None, validate=validate.OneOf(["listing", "right", "order"]))
    subject_id = fields.String(load_default=None, validate=validate.Length(1, 40), metadata={
        "description": "only the items of this subject: a product version, right or order id"})


class AssessmentReportIn(ma.Schema):
    kind = fields.String(required=True, validate=validate.OneOf(
        ["compliance", "security", "quality", "valuation"]))
    name = fields.String(required=True, validate=validate.Length(1, 200))
    sha256 = fields.String(required=True, validate=_SHA256)


class AssessmentReportOut(RecordSchema, model=models.AssessmentReport): ...


class ReviewApprovalOut(ma.Schema):
    reviewer = fields.String(metadata={"description": "the approving user"})
    org_id = fields.String(allow_none=True)
    reason = fields.String()
    at = fields.String(metadata={"description": "when, ISO 8601"})


class ReviewItemOut(RecordSchema, model=models.ReviewItem):
    kind = fields.String(metadata={"description": "listing (a product version) or right"})
    org_id = fields.String(metadata={"description": "the organisation under review"})
    status = fields.String(metadata={"description": "open, claimed or closed"})
    needs = fields.String(metadata={"description": "the rules' outcome: pass, needs_review, "
                                                   "needs_assessment (review: no decision)"})
    outcome = fields.String(allow_none=True,
                            metadata={"description": "the subject's status when closed"})
    rules = fields.List(fields.String(), metadata={
        "description": "the rules that sent the subject to review, e.g. "
                       "RawDataNeedsCarefulReview"})
    required_approvals = fields.Integer(metadata={
        "description": "how many different reviewers must approve it: 2 for a listing of "
                       "raw data or sensitive personal information (双重审核), else 1"})
    approvals = fields.List(fields.Nested(ReviewApprovalOut), metadata={
        "description": "the approvals so far, one per reviewer"})


class ReviewItemDetailOut(ReviewItemOut):
    reports = fields.List(fields.Nested(AssessmentReportOut))


class AdmissionCommitmentIn(SignatureIn):
    """Answers of the admission commitment (template admission@1), made by the applicant."""

    statement = fields.String(required=True, validate=validate.Length(1, 5000))
    qualifications_true = fields.Boolean(
        required=True, metadata={"description": "the application's materials are true"})
    complies_with_rules = fields.Boolean(required=True)
    not_blacklisted = fields.Boolean(required=True)
    cooperates_with_supervision = fields.Boolean(required=True)
    security_officer = fields.String(required=True, validate=validate.Length(1, 100),
                                     metadata={"description": "who answers for data security"})


class RetentionTermOut(ma.Schema):
    kind = fields.String(metadata={"description": "the kind of record"})
    description = fields.String()
    years = fields.Integer(metadata={"description": "kept at least this many years"})
    floor_years = fields.Integer(metadata={"description": "the configured years never go "
                                                          "below this"})
    append_only = fields.Boolean(metadata={"description": "never updated nor deleted: kept "
                                                          "for ever"})
    tables = fields.List(fields.String())
    updated_at = fields.DateTime(allow_none=True)


class RetentionPolicyOut(ma.Schema):
    items = fields.List(fields.Nested(RetentionTermOut))
    enforced_by = fields.String(metadata={"description": "how the database enforces it"})
