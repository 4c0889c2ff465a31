"""HTTP edge schemas of admission documents (主体资格), identities (实名制) and credit marks
(信用标识)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from market.kernel.web import RecordSchema
from market.participants.documents import DocumentKind, DocumentStatus
from market.participants.models import OrganisationDocument

_SHA256 = validate.Regexp(r"^[0-9a-f]{64}$", error="must be 64 lowercase hex digits")


class DocumentIn(ma.Schema):
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in DocumentKind]),
                         metadata={"description": "business_licence (营业执照), "
                                                  "legal_representative (法定代表人身份证明) or "
                                                  "data_security_officer (数据安全负责人任命书)"})
    name = fields.String(required=True, validate=validate.Length(1, 200))
    media_type = fields.String(load_default="application/octet-stream",
                               validate=validate.Length(1, 100))
    sha256 = fields.String(required=True, validate=_SHA256,
                           metadata={"description": "SHA-256 of the document, hex"})
    issued_on = fields.Date(load_default=None)
    expires_on = fields.Date(load_default=None, metadata={
        "description": "last day the document is valid; null when it has no time limit"})
    content_base64 = fields.String(
        load_default=None,
        metadata={"description": "The document itself (optional); stored by its SHA-256"})

    @ma.validates_schema
    def dates_in_order(self, data: dict[str, Any], **_: Any) -> None:
        issued, expires = data.get("issued_on"), data.get("expires_on")
        if issued is not None and expires is not None and expires < issued:
            raise ma.ValidationError("must not be before issued_on", "expires_on")


class PersonIn(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    id_number = fields.String(required=True, load_only=True, validate=validate.Length(5, 40),
                              metadata={"description": "identity number; kept only as a "
                                                       "keyed digest and its last four "
                                                       "characters"})


class ControllerIn(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    kind = fields.String(required=True, validate=validate.OneOf(["person", "organisation"]))
    identifier = fields.String(required=True, load_only=True, validate=validate.Length(5, 40),
                               metadata={"description": "a person's identity number, or an "
                                                        "organisation's unified social "
                                                        "credit code"})


class OfficerIn(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(1, 100))


class IdentityIn(ma.Schema):
    legal_representative = fields.Nested(PersonIn, load_default=None)
    controlling_shareholder = fields.Nested(ControllerIn, load_default=None)
    data_security_officer = fields.Nested(OfficerIn, load_default=None)

    @ma.validates_schema
    def not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not any(data.get(k) for k in ("legal_representative", "controlling_shareholder",
                                          "data_security_officer")):
            raise ma.ValidationError("give at least one field to change", "_schema")


class DocumentOut(RecordSchema, model=OrganisationDocument,
                  omit=("issued_on", "expires_on", "reviewed_by_user_id")):
    status = fields.String(metadata={"enum": [s.value for s in DocumentStatus]})
    issued_on = fields.Date(allow_none=True)
    expires_on = fields.Date(allow_none=True)


class DocumentListOut(ma.Schema):
    items = fields.List(fields.Nested(DocumentOut))


class DocumentReviewIn(ma.Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["verified", "rejected"]))
    note = fields.String(required=True, validate=validate.Length(1, 2000))


class IdentityOut(ma.Schema):
    organisation_id = fields.String()
    legal_representative_name = fields.String(allow_none=True)
    legal_representative_hint = fields.String(
        allow_none=True, metadata={"description": "the last four characters of the number"})
    controller_name = fields.String(allow_none=True)
    controller_kind = fields.String(allow_none=True)
    controller_hint = fields.String(allow_none=True)
    controller_credit_code = fields.String(allow_none=True)
    security_officer_name = fields.String(allow_none=True)


class CreditMarkOut(ma.Schema):
    org_id = fields.String()
    name = fields.String()
    score = fields.Integer(metadata={"description": "0-100, the sum of the components"})
    grade = fields.String(metadata={"enum": ["A", "B", "C", "D"]})
    components = fields.Dict(keys=fields.String(), values=fields.Dict(), metadata={
        "description": "fulfilment, disputes, breaches and sanctions: the points each "
                       "earned (`points` of `of`) and the records they were computed from"})
    computed_at = fields.DateTime()
