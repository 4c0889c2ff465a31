"""HTTP edge schemas for settlement: top-ups, accounts, statements, payouts and the
ledger's verification."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from market.kernel.web import PageQuery, UtcDateTime, choices
from market.settlement.domain import AccountKind, PayoutStatus
from market.settlement.models import Account

_CURRENCY = validate.Regexp(r"^[A-Z]{3}$", error="must be an ISO 4217 code such as CNY")
_AMOUNT = validate.Range(min=1, max=10 ** 15)


class TopUpIn(ma.Schema):
    org_id = fields.String(required=True, validate=validate.Length(1, 40))
    amount = fields.Integer(required=True, strict=True, validate=_AMOUNT,
                            metadata={"description": "minor units (分 for CNY)"})
    currency = fields.String(required=True, validate=_CURRENCY)
    reference = fields.String(required=True, validate=validate.Length(1, 100), metadata={
        "description": "the bank's reference of the transfer; recorded once"})


class TopUpOut(ma.Schema):
    id = fields.String()
    rail = fields.String()
    reference = fields.String()
    org_id = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    journal_id = fields.String()
    recorded_at = fields.DateTime()


class AccountOut(ma.Schema):
    id = fields.String()
    kind = fields.String()
    owner = fields.String()
    ref = fields.String(metadata={"description": "the order of an escrow account"})
    currency = fields.String()
    balance = fields.Integer(metadata={"description": "signed minor units"})
    pending_out = fields.Integer(metadata={"description": "reserved by pending holds"})
    available = fields.Method("_available", metadata={
        "description": "balance less what pending holds reserve"})
    created_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)

    def _available(self, account: Account) -> int:
        return int(account.balance) - int(account.pending_out)


class AccountQuery(PageQuery):
    owner = fields.String(load_default=None, validate=validate.Length(1, 40))
    kind = fields.String(load_default=None, validate=validate.OneOf(choices(AccountKind)))
    currency = fields.String(load_default=None, validate=_CURRENCY)


class StatementQuery(ma.Schema):
    period_from = UtcDateTime(required=True, data_key="from")
    period_to = UtcDateTime(required=True, data_key="to")


class StatementLineOut(ma.Schema):
    posting_id = fields.Integer()
    journal_id = fields.String()
    kind = fields.String()
    order_id = fields.String(allow_none=True)
    memo = fields.String(allow_none=True)
    amount = fields.Integer()
    balance_after = fields.Integer()
    posted_at = fields.DateTime()


class StatementOut(ma.Schema):
    account = fields.Nested(AccountOut)
    period_from = fields.DateTime(data_key="from")
    period_to = fields.DateTime(data_key="to")
    opening_balance = fields.Integer()
    closing_balance = fields.Integer()
    credits = fields.Integer()
    debits = fields.Integer()
    lines = fields.List(fields.Nested(StatementLineOut))


class LedgerVerificationOut(ma.Schema):
    ok = fields.Boolean()
    accounts = fields.Integer()
    journals = fields.Integer()
    postings = fields.Integer()
    problems = fields.List(fields.Dict(keys=fields.String(), values=fields.Raw()))


class BankAccountIn(ma.Schema):
    holder = fields.String(required=True, validate=validate.Length(1, 200))
    bank = fields.String(required=True, validate=validate.Length(1, 200))
    number = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9A-Za-z \-]{4,40}$", error="4 to 40 letters, digits, spaces or hyphens"))


class PayoutIn(ma.Schema):
    amount = fields.Integer(required=True, strict=True, validate=_AMOUNT)
    currency = fields.String(required=True, validate=_CURRENCY)
    bank_account = fields.Nested(BankAccountIn, required=True)


class PayoutOut(ma.Schema):
    id = fields.String()
    org_id = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    status = fields.String()
    hold_id = fields.String()
    bank_account = fields.Dict(keys=fields.String(), values=fields.String())
    bank_reference = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    requested_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)


class PayoutQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(choices(PayoutStatus)))


class PayoutConfirmationIn(ma.Schema):
    bank_reference = fields.String(required=True, validate=validate.Length(1, 100))


class PayoutRejectionIn(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 2000))
