"""HTTP edge schemas for participants."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from market.kernel.actor import Role
from market.kernel.web import PageQuery, RecordSchema, UtcDateTime
from market.participants.document_schemas import ControllerIn, DocumentIn, OfficerIn, PersonIn
from market.participants.domain import Status
from market.participants.models import ApiKey, Organisation, SigningKey, StatusChange, User
from market.participants.signatures import KeyStatus, SigningSuite

_ROLE_CHOICES = [r.value for r in Role]
_STATUS_CHOICES = [s.value for s in Status]


class OrganisationIn(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    credit_code = fields.String(
        required=True, validate=validate.Length(equal=18),
        metadata={"description": "统一社会信用代码 (GB 32100, 18 characters)",
                  "example": "91350100M000100Y43"},
    )
    contact_name = fields.String(required=True, validate=validate.Length(1, 100))
    contact_email = fields.Email(required=True, validate=validate.Length(3, 254))
    contact_phone = fields.String(load_default=None, validate=validate.Length(1, 40))
    roles = fields.List(
        fields.String(validate=validate.OneOf(_ROLE_CHOICES)), required=True,
        validate=validate.Length(1, len(_ROLE_CHOICES)),
    )
    documents = fields.List(fields.Nested(DocumentIn), load_default=list,
                            validate=validate.Length(0, 20), metadata={
                                "description": "主体资格材料: admission needs the business "
                                               "licence, the legal representative's identity "
                                               "and the data-security officer's appointment, "
                                               "each verified by the operator"})
    legal_representative = fields.Nested(PersonIn, load_default=None)
    controlling_shareholder = fields.Nested(ControllerIn, load_default=None)
    data_security_officer = fields.Nested(OfficerIn, load_default=None)


class ContactIn(ma.Schema):
    contact_name = fields.String(validate=validate.Length(1, 100))
    contact_email = fields.Email(validate=validate.Length(3, 254))
    contact_phone = fields.String(allow_none=True, validate=validate.Length(1, 40))

    @ma.validates_schema
    def not_empty(self, data: dict[str, object], **_: object) -> None:
        if not data:
            raise ma.ValidationError("give at least one field to change", "_schema")


class OrganisationOut(RecordSchema, model=Organisation, omit=("version",)):
    roles = fields.List(fields.String())
    status = fields.String(metadata={"enum": _STATUS_CHOICES})


class UserOut(RecordSchema, model=User): ...


class ApiKeyOut(RecordSchema, model=ApiKey, omit=("secret_hash", "revoked_by_user_id")): ...


class IssuedKeyOut(ApiKeyOut):
    token = fields.String(metadata={"description": "The secret key; shown only this once"})


class RegistrationOut(ma.Schema):
    organisation = fields.Nested(OrganisationOut)
    user = fields.Nested(UserOut)
    api_key = fields.Nested(IssuedKeyOut)


class StatusChangeIn(ma.Schema):
    status = fields.String(required=True, validate=validate.OneOf(
        [s.value for s in Status if s is not Status.APPLIED]))
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class StatusChangeOut(RecordSchema, model=StatusChange): ...


class UserIn(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    email = fields.Email(required=True, validate=validate.Length(3, 254))


class ApiKeyIn(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    user_id = fields.String(load_default=None, validate=validate.Length(1, 40),
                            metadata={"description": "A user of your organisation; you by default"})
    scopes = fields.List(fields.String(validate=validate.OneOf(["read", "write"])),
                         load_default=["read", "write"], validate=validate.Length(1, 2))
    expires_at = UtcDateTime(load_default=None,
                                      metadata={"description": "Default: one year from now"})


class OrganisationQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(_STATUS_CHOICES))
    role = fields.String(load_default=None, validate=validate.OneOf(_ROLE_CHOICES))


class MeOut(ma.Schema):
    user = fields.Nested(UserOut)
    organisation = fields.Nested(OrganisationOut)
    key_id = fields.String()
    scopes = fields.List(fields.String())


class SigningKeyIn(ma.Schema):
    suite = fields.String(required=True, validate=validate.OneOf([s.value for s in SigningSuite]),
                          metadata={"description": "secp256k1 (EIP-191 signatures) or sm2 "
                                                   "(SM2 with SM3, default user id)"})
    public_key = fields.String(required=True, validate=validate.Length(1, 200), metadata={
        "description": "secp256k1: an Ethereum address or an uncompressed public key; sm2: "
                       "the public key 04 || x || y in hex",
        "example": "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1"})
    name = fields.String(load_default="signing key", validate=validate.Length(1, 100))


class SigningKeyOut(RecordSchema, model=SigningKey, omit=("revoked_by_user_id",)):
    status = fields.String(metadata={"enum": [s.value for s in KeyStatus]})
    challenge = fields.String(metadata={
        "description": "the text to sign with the key to verify it (EIP-191 personal_sign "
                       "for secp256k1; SM2 over its UTF-8 bytes)"})


class KeyVerificationIn(ma.Schema):
    signature = fields.String(required=True, validate=validate.Length(1, 200), metadata={
        "description": "the key's signature of its challenge: 0x and 130 hex digits "
                       "(secp256k1), or r || s in 128 hex digits (sm2)"})


class KeyRevocationIn(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class SigningKeyQuery(PageQuery):
    status = fields.String(load_default=None,
                           validate=validate.OneOf([s.value for s in KeyStatus]))
