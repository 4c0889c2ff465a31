"""HTTP edge schemas for settlement: top-ups, accounts, statements, payouts and the
ledger's verification."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from market.kernel.web import PageQuery, RecordSchema, UtcDateTime, choices
from market.settlement.domain import (
    AccountKind,
    PayoutStatus,
    RefundRecord,
    RefundShare,
    StatementLine,
)
from market.settlement.ledger import Verification
from market.settlement.models import Account, Allocation, Journal, Payout, Posting, TopUp
from market.settlement.rails import models as _rail_models

_CURRENCY = validate.Regexp(r"^[A-Z]{3}$", error="must be an ISO 4217 code such as CNY")
_AMOUNT = validate.Range(min=1, max=10 ** 15)


class TopUpIn(ma.Schema):
    org_id = fields.String(required=True, validate=validate.Length(1, 40))
    amount = fields.Integer(required=True, strict=True, validate=_AMOUNT,
                            metadata={"description": "minor units (分 for CNY)"})
    currency = fields.String(required=True, validate=_CURRENCY)
    reference = fields.String(required=True, validate=validate.Length(1, 100), metadata={
        "description": "the bank's reference of the transfer; recorded once"})


class TopUpOut(RecordSchema, model=TopUp): ...


class AccountOut(RecordSchema, model=Account, omit=("non_negative",)):
    ref = fields.String(metadata={"description": "the order of an escrow account"})
    balance = fields.Integer(metadata={"description": "signed minor units"})
    pending_out = fields.Integer(metadata={"description": "reserved by pending holds"})
    available = fields.Method("_available", metadata={
        "description": "balance less what pending holds reserve"})

    def _available(self, account: Account) -> int:
        return int(account.balance) - int(account.pending_out)


class AccountQuery(PageQuery):
    owner = fields.String(load_default=None, validate=validate.Length(1, 40))
    kind = fields.String(load_default=None, validate=validate.OneOf(choices(AccountKind)))
    currency = fields.String(load_default=None, validate=_CURRENCY)


class StatementQuery(ma.Schema):
    period_from = UtcDateTime(required=True, data_key="from")
    period_to = UtcDateTime(required=True, data_key="to")


class StatementLineOut(RecordSchema, model=StatementLine): ...


class StatementOut(ma.Schema):
    account = fields.Nested(AccountOut)
    period_from = fields.DateTime(data_key="from")
    period_to = fields.DateTime(data_key="to")
    opening_balance = fields.Integer()
    closing_balance = fields.Integer()
    credits = fields.Integer()
    debits = fields.Integer()
    lines = fields.List(fields.Nested(StatementLineOut))


class LedgerVerificationOut(RecordSchema, model=Verification):
    ok = fields.Boolean()


class BankAccountIn(ma.Schema):
    holder = fields.String(required=True, validate=validate.Length(1, 200))
    bank = fields.String(required=True, validate=validate.Length(1, 200))
    number = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9A-Za-z \-]{4,40}$", error="4 to 40 letters, digits, spaces or hyphens"))


class PayoutIn(ma.Schema):
    amount = fields.Integer(required=True, strict=True, validate=_AMOUNT)
    currency = fields.String(required=True, validate=_CURRENCY)
    bank_account = fields.Nested(BankAccountIn, required=True)


class PayoutOut(RecordSchema, model=Payout):
    bank_account = fields.Dict(keys=fields.String(), values=fields.String())


class PayoutQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(choices(PayoutStatus)))


class PayoutConfirmationIn(ma.Schema):
    bank_reference = fields.String(required=True, validate=validate.Length(1, 100))


class PayoutRejectionIn(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


# What an order's money looks like at the edge; trading's order ledger embeds them.


class PostingOut(RecordSchema, model=Posting, omit=("journal_id",)):
    amount = fields.Integer(metadata={"description": "signed minor units"})


class JournalOut(RecordSchema, model=Journal, omit=("key", "actor_label")):
    postings = fields.List(fields.Nested(PostingOut))


class AllocationOut(RecordSchema, model=Allocation, omit=("id", "order_id", "allocated_at")):
    ...


class RefundShareOut(RecordSchema, model=RefundShare):
    from_payable = fields.Integer(metadata={
        "description": "taken from the payee's payable balance (the fee account for the "
                       "platform)"})
    receivable = fields.Integer(metadata={
        "description": "recorded against the payee, whose payable balance was already paid "
                       "out; recovered from its next earnings or before its next payout"})


class RefundOut(RecordSchema, model=RefundRecord, omit=("lines",)):
    number = fields.Integer(metadata={"description": "the order's refunds count from 1"})
    cause = fields.String(metadata={"description": "dispute, arbitration or goodwill"})
    lines = fields.List(fields.Nested(RefundShareOut), metadata={
        "description": "what each allocation line gave back, platform fee first"})


class ConnectAccountIn(ma.Schema):
    country = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Z]{2}$", error="must be an ISO 3166 country code such as US"))
    email = fields.Email(required=True, validate=validate.Length(3, 200))
    refresh_url = fields.Url(required=True, schemes={"https", "http"},
                             validate=validate.Length(1, 500), metadata={
                                 "description": "where Stripe sends an expired link"})
    return_url = fields.Url(required=True, schemes={"https", "http"},
                            validate=validate.Length(1, 500), metadata={
                                "description": "where Stripe sends the payee when done"})


class ConnectAccountQuery(ma.Schema):
    org_id = fields.String(load_default=None, validate=validate.Length(1, 40), metadata={
        "description": "another organisation's account (operator and regulators)"})


class ConnectAccountOut(RecordSchema, model=_rail_models.ConnectAccount,
                        omit=("refresh_url", "return_url", "links")):
    onboarding_url = fields.String(allow_none=True, metadata={
        "description": "Stripe's onboarding link while details are missing; null until the "
                       "worker has made it"})


class StripeWebhookOut(ma.Schema):
    received = fields.String(metadata={"description": "the event's id"})
    duplicate = fields.Boolean(metadata={"description": "the event was stored before"})
