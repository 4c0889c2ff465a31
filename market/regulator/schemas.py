"""HTTP edge schemas for the regulator API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from market.compliance.schemas import FilingOut, FilingQuery
from market.trading.schemas import ContractOut, OrderLedgerOut, OrderOut


class ExportQuery(FilingQuery):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "jsonl"]),
                           metadata={"description": "csv, or JSON Lines (one filing a line)"})


class StatisticsRowOut(ma.Schema):
    key = fields.String(metadata={"description": "the day (YYYY-MM-DD, UTC), sector or type"})
    currency = fields.String()
    count = fields.Integer()
    amount = fields.Integer(metadata={"description": "total in minor units"})


class StatisticsOut(ma.Schema):
    by_day = fields.List(fields.Nested(StatisticsRowOut))
    by_sector = fields.List(fields.Nested(StatisticsRowOut))
    by_product_type = fields.List(fields.Nested(StatisticsRowOut))


class DisclosedRowOut(ma.Schema):
    key = fields.String(metadata={"description": "the month (YYYY-MM, UTC), sector or type"})
    currency = fields.String()
    count = fields.Integer()
    amount = fields.Integer(allow_none=True,
                            metadata={"description": "total in minor units; null when the "
                                                     "cell has fewer than three trades"})


class MarketStatisticsOut(ma.Schema):
    by_month = fields.List(fields.Nested(DisclosedRowOut))
    by_sector = fields.List(fields.Nested(DisclosedRowOut))
    by_product_type = fields.List(fields.Nested(DisclosedRowOut))


class SanctionOut(ma.Schema):
    org_id = fields.String()
    name = fields.String()
    credit_code = fields.String(metadata={"description": "unified social credit code"})
    status = fields.String(metadata={"description": "suspended or blacklisted"})
    reason = fields.String(allow_none=True)
    since = fields.DateTime()


class SanctionListOut(ma.Schema):
    items = fields.List(fields.Nested(SanctionOut))


class RegulatorOrderOut(ma.Schema):
    order = fields.Nested(OrderOut)
    contract = fields.Nested(ContractOut, allow_none=True)
    ledger = fields.Nested(OrderLedgerOut)
    filing = fields.Nested(FilingOut, allow_none=True)
