"""HTTP edge schemas for rights."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from market.kernel.web import (
    HistoryEventOut,
    PageQuery,
    RecordSchema,
    StorageIn,
    UtcDateTime,
    choices,
)
from market.receipts.services import ReceiptSummaryOut
from market.rights import domain
from market.rights.models import (
    DataResource,
    Evidence,
    Grant,
    PublicDataAuthorisation,
    ResourceDispute,
    Right,
)
from market.rights.services import PublicCertificate

_SHA256 = validate.Regexp(r"^[0-9a-f]{64}$", error="must be 64 lowercase hex digits")


def _labels(required: bool = True) -> fields.List[str]:
    return fields.List(fields.String(validate=validate.Length(1, 100)), required=required,
                       validate=validate.Length(1, 50))


class EvidenceIn(ma.Schema):
    kind = fields.String(required=True, validate=validate.OneOf(choices(domain.EvidenceKind)))
    name = fields.String(required=True, validate=validate.Length(1, 200))
    media_type = fields.String(load_default="application/octet-stream",
                               validate=validate.Length(1, 100))
    sha256 = fields.String(required=True, validate=_SHA256,
                           metadata={"description": "SHA-256 of the document, hex"})
    content_base64 = fields.String(
        load_default=None,
        metadata={"description": "The document itself (optional); stored by its SHA-256"},
    )


class EvidenceOut(RecordSchema, model=Evidence,
                  omit=("owner_type", "owner_id", "added_by_org_id")): ...


class EvidenceListIn(ma.Schema):
    evidence = fields.List(fields.Nested(EvidenceIn), required=True,
                           validate=validate.Length(1, 20))


class EvidenceListOut(ma.Schema):
    items = fields.List(fields.Nested(EvidenceOut))


class ResourceIn(StorageIn):
    title = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(required=True, validate=validate.Length(1, 5000))
    origin = fields.String(required=True, validate=validate.OneOf(choices(domain.Origin)),
                           metadata={"description": "public_authorised: 公共数据授权运营"})
    classification = fields.String(
        required=True, validate=validate.OneOf(choices(domain.Classification)),
        metadata={"description": "GB/T 43697: general 一般 / important 重要 / core 核心"},
    )
    pi_level = fields.String(required=True, validate=validate.OneOf(choices(domain.PILevel)),
                             metadata={"description": "personal-information level"})
    collection_method = fields.String(required=True, validate=validate.Length(1, 200))
    collection_source = fields.String(required=True, validate=validate.Length(1, 500))
    scenarios = _labels()
    update_frequency = fields.String(required=True, validate=validate.Length(1, 40))
    evidence = fields.List(fields.Nested(EvidenceIn), load_default=list,
                           validate=validate.Length(0, 20))
    public_category = fields.String(
        load_default=None, validate=validate.Length(1, 60),
        metadata={"description": "public data (origin public_authorised): its category, "
                                 "which your public-data authorisation must cover"})

    sensitive_categories = fields.List(
        fields.String(validate=validate.OneOf(choices(domain.SensitiveCategory))),
        load_default=list, validate=validate.Length(0, 5),
        metadata={"description": "sensitive personal information it holds (敏感个人信息): "
                                 "minors, biometrics, health, financial_accounts, whereabouts; "
                                 "its listings are reviewed by two different reviewers"})

    @ma.validates_schema
    def sensitive_data(self, data: dict[str, Any], **_: Any) -> None:
        problems = domain.sensitive_category_problems(data.get("pi_level") or "none",
                                                      data.get("sensitive_categories") or [])
        for name, message in problems.items():
            raise ma.ValidationError(message, name)

    @ma.validates_schema
    def public_data_category(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("origin") == domain.Origin.PUBLIC_AUTHORISED.value and not data.get(
                "public_category"):
            raise ma.ValidationError("public data names its category", "public_category")


class ResourceOut(RecordSchema, model=DataResource):
    evidence = fields.List(fields.Nested(EvidenceOut))


class ResourceSummaryOut(ResourceOut):
    class Meta:
        exclude = ("evidence",)


class ResourceQuery(PageQuery):
    holder = fields.String(load_default=None, validate=validate.Length(1, 40))


class ScopeTermIn(ma.Schema):
    purposes = _labels()
    scenarios = _labels()
    territory = fields.String(load_default=domain.Territory.DOMESTIC.value,
                              validate=validate.OneOf(choices(domain.Territory)))
    valid_from = UtcDateTime(required=True)
    valid_to = UtcDateTime(load_default=None,
                                    metadata={"description": "omit for no end date"})

    @ma.validates_schema
    def term_order(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("valid_to") and data.get("valid_from") and (
            data["valid_to"] <= data["valid_from"]
        ):
            raise ma.ValidationError("must be after valid_from", "valid_to")


class RightIn(ScopeTermIn):
    kind = fields.String(required=True, validate=validate.OneOf(choices(domain.RightKind)))
    resource_id = fields.String(load_default=None, validate=validate.Length(1, 40),
                                metadata={"description": "subject of a resource right"})
    product_id = fields.String(
        load_default=None, validate=validate.Length(1, 40),
        metadata={"description": "subject of a product operation right; generated if omitted"},
    )
    product_title = fields.String(load_default=None, validate=validate.Length(1, 200))
    parent_ids = fields.List(fields.String(validate=validate.Length(1, 40)), load_default=list,
                             validate=validate.Length(0, 50))
    grant_id = fields.String(load_default=None, validate=validate.Length(1, 40),
                             metadata={"description": "basis of a processing-use right held "
                                                      "by someone other than the resource holder"})
    evidence = fields.List(fields.Nested(EvidenceIn), load_default=list,
                           validate=validate.Length(0, 20))

    @ma.validates_schema
    def subject(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("kind") == domain.RightKind.PRODUCT_OPERATION.value:
            if data.get("resource_id"):
                raise ma.ValidationError("a product operation right has a product as subject",
                                         "resource_id")
            if not data.get("product_title"):
                raise ma.ValidationError("required for a product operation right",
                                         "product_title")
        elif data.get("kind"):
            if not data.get("resource_id"):
                raise ma.ValidationError("required for a resource right", "resource_id")
            if data.get("product_id") or data.get("product_title"):
                raise ma.ValidationError("only product operation rights name a product",
                                         "product_id")


class RightOut(RecordSchema, model=Right, omit=("suspended_by",)):
    parent_ids = fields.List(fields.String())
    status = fields.String(metadata={"enum": choices(domain.RightStatus)})
    evidence = fields.List(fields.Nested(EvidenceOut))


class RightSummaryOut(RightOut):
    class Meta:
        exclude = ("evidence", "parent_ids")


class RightQuery(PageQuery):
    kind = fields.String(load_default=None, validate=validate.OneOf(choices(domain.RightKind)))
    status = fields.String(load_default=None, validate=validate.OneOf(choices(domain.RightStatus)))
    resource_id = fields.String(load_default=None, validate=validate.Length(1, 40))
    product_id = fields.String(load_default=None, validate=validate.Length(1, 40))
    holder = fields.String(load_default=None, validate=validate.Length(1, 40))


class ReviewIn(ma.Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class RightStatusIn(ma.Schema):
    status = fields.String(required=True, validate=validate.OneOf(
        [domain.RightStatus.SUSPENDED.value, domain.RightStatus.REGISTERED.value,
         domain.RightStatus.REVOKED.value]))
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class RightEventOut(HistoryEventOut):
    right_id = fields.String()
    snapshot = fields.Dict()


class GrantIn(ScopeTermIn):
    holding_right_id = fields.String(required=True, validate=validate.Length(1, 40))
    grantee_org_id = fields.String(required=True, validate=validate.Length(1, 40))
    evidence = fields.List(fields.Nested(EvidenceIn), load_default=list,
                           validate=validate.Length(0, 20),
                           metadata={"description": "consent and authorisation documents"})


class GrantOut(RecordSchema, model=Grant):
    status = fields.String(metadata={"enum": ["active", "revoked"]})
    evidence = fields.List(fields.Nested(EvidenceOut))


class GrantSummaryOut(GrantOut):
    class Meta:
        exclude = ("evidence",)


class GrantQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(["active", "revoked"]))


class ReasonIn(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class DisputeIn(ma.Schema):
    claimant_org_id = fields.String(required=True, validate=validate.Length(1, 40),
                                    metadata={"description": "who lodged the objection"})
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class DisputeOut(RecordSchema, model=ResourceDispute):
    status = fields.String(metadata={"enum": ["open", "upheld", "dismissed"]})


class ResolutionIn(ma.Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(["upheld", "dismissed"]))
    resolution = fields.String(required=True, validate=validate.Length(1, 2000))


class SignatureOut(ma.Schema):
    scheme = fields.String()
    kind = fields.String()
    subject = fields.String()
    digest = fields.String(metadata={"description": "SHA-256 of the RFC 8785 document, hex"})
    issued_at = fields.Integer(metadata={"description": "unix seconds, as signed"})
    signer = fields.String(metadata={"description": "the platform's address"})
    signature = fields.String()


class CertificateOut(RecordSchema, model=PublicCertificate):
    status = fields.String(metadata={"description": "live status (not part of the signature)"})
    document = fields.Dict(metadata={"description": "the signed document"})
    signature = fields.Nested(SignatureOut)
    receipts = fields.List(fields.Nested(ReceiptSummaryOut), metadata={
        "description": "the receipt of the registration (GET /receipts/{id}/proof)"})


class CertificateVerificationOut(ma.Schema):
    number = fields.String()
    valid = fields.Boolean()
    signer = fields.String()
    digest = fields.String()


class ChainQuery(ma.Schema):
    at = UtcDateTime(load_default=None, metadata={"description": "default: now"})


class ChainLinkOut(ma.Schema):
    """A link as anyone may see it: holders by their public name, as on certificates."""

    right_id = fields.String()
    kind = fields.String()
    holder_name = fields.String()
    status = fields.String()
    resource_id = fields.String(allow_none=True)
    product_id = fields.String(allow_none=True)
    grant_id = fields.String(allow_none=True)
    certificate_number = fields.String(allow_none=True)
    valid_from = fields.DateTime()
    valid_to = fields.DateTime(allow_none=True)
    parent_ids = fields.List(fields.String())


class ViolationOut(ma.Schema):
    code = fields.String()
    message = fields.String()
    right_id = fields.String(allow_none=True)


class ChainOut(ma.Schema):
    product_id = fields.String()
    at = fields.DateTime()
    ok = fields.Boolean()
    links = fields.List(fields.Nested(ChainLinkOut))
    broken = fields.Nested(ViolationOut, allow_none=True)


# -- public-data authorisations (公共数据授权运营) ------------------------------------------


class AuthorisationDocumentIn(ma.Schema):
    kind = fields.String(required=True, validate=validate.OneOf(
        ["qualification", "reputation", "agreement", "other"]),
        metadata={"description": "what the document shows: the operator's qualification "
                                 "(具备条件), its reputation (信誉良好), the agreement, other"})
    name = fields.String(required=True, validate=validate.Length(1, 200))
    sha256 = fields.String(required=True, validate=_SHA256)


class PublicDataAuthorisationIn(ma.Schema):
    org_id = fields.String(required=True, validate=validate.Length(1, 40),
                           metadata={"description": "the admitted merchant authorised"})
    categories = fields.List(fields.String(validate=validate.Length(1, 60)), load_default=list,
                             validate=validate.Length(0, 50),
                             metadata={"description": "public-data categories authorised"})
    resource_ids = fields.List(fields.String(validate=validate.Length(1, 40)),
                               load_default=list, validate=validate.Length(0, 200),
                               metadata={"description": "public-data resources authorised"})
    scenarios = _labels()
    valid_from = UtcDateTime(required=True)
    valid_to = UtcDateTime(required=True)
    qualification = fields.String(required=True, validate=validate.Length(1, 2000),
                                  metadata={"description": "what was checked of its "
                                                           "qualification"})
    reputation = fields.String(required=True, validate=validate.Length(1, 2000),
                               metadata={"description": "what was checked of its reputation"})
    evidence = fields.List(fields.Nested(AuthorisationDocumentIn), required=True,
                           validate=validate.Length(2, 20),
                           metadata={"description": "documents by SHA-256: at least one of "
                                                    "the qualification and one of the "
                                                    "reputation check"})

    @ma.validates_schema
    def term_and_scope(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("valid_to") and data.get("valid_from") and (
            data["valid_to"] <= data["valid_from"]
        ):
            raise ma.ValidationError("must be after valid_from", "valid_to")
        if not data.get("categories") and not data.get("resource_ids"):
            raise ma.ValidationError("name the categories or resources authorised",
                                     "categories")


class AuthorisationDocumentOut(ma.Schema):
    kind = fields.String()
    name = fields.String()
    sha256 = fields.String()


class PublicDataAuthorisationOut(RecordSchema, model=PublicDataAuthorisation):
    status = fields.String(metadata={"enum": ["active", "revoked"]})
    evidence = fields.List(fields.Nested(AuthorisationDocumentOut))
    in_term = fields.Boolean(metadata={"description": "active and within its term now"})


class PublicDataAuthorisationQuery(PageQuery):
    org_id = fields.String(load_default=None, validate=validate.Length(1, 40))
    status = fields.String(load_default=None, validate=validate.OneOf(["active", "revoked"]))
