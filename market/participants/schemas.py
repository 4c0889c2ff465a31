"""HTTP edge schemas for participants."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from market.kernel.actor import Role
from market.kernel.web import PageQuery, UtcDateTime
from market.participants.domain import Status

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


class ContactIn(ma.Schema):
    contact_name = fields.String(validate=validate.Length(1, 100))
    contact_email = fields.Email(validate=validate.Length(3, 254))
    contact_phone = fields.String(allow_none=True, validate=validate.Length(1, 40))

    @ma.validates_schema
    def not_empty(self, data: dict[str, object], **_: object) -> None:
        if not data:
            raise ma.ValidationError("give at least one field to change", "_schema")


class OrganisationOut(ma.Schema):
    id = fields.String()
    name = fields.String()
    credit_code = fields.String()
    contact_name = fields.String()
    contact_email = fields.String()
    contact_phone = fields.String(allow_none=True)
    roles = fields.List(fields.String())
    status = fields.String(metadata={"enum": _STATUS_CHOICES})
    status_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class UserOut(ma.Schema):
    id = fields.String()
    organisation_id = fields.String()
    name = fields.String()
    email = fields.String()
    active = fields.Boolean()
    created_at = fields.DateTime()


class ApiKeyOut(ma.Schema):
    id = fields.String()
    user_id = fields.String()
    organisation_id = fields.String()
    name = fields.String()
    scopes = fields.List(fields.String())
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


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


class StatusChangeOut(ma.Schema):
    id = fields.String()
    organisation_id = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    reason = fields.String()
    decided_by_user_id = fields.String(allow_none=True)
    decided_by_label = fields.String()
    at = fields.DateTime()


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
