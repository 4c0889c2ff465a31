"""HTTP edge schemas of the regulator API: its own queries, statistics, disclosures and the
order record, composed of the record shapes the contexts publish (an order, a contract, a
filing look the same to a regulator as to the parties)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from market.compliance import services as compliance
from market.kernel.web import UtcDateTime
from market.kernel.web.pagination import PageQuery
from market.trading import services as trading

_ID = validate.Length(1, 40)


class RegulatorOrderQuery(trading.OrderQuery):
    party = fields.String(load_default=None, validate=_ID)
    created_from = UtcDateTime(load_default=None)
    created_to = UtcDateTime(load_default=None)
    min_amount = fields.Integer(load_default=None, validate=validate.Range(min=0))
    max_amount = fields.Integer(load_default=None, validate=validate.Range(min=0))


class ExportQuery(compliance.FilingQuery):
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
    order = fields.Nested(trading.OrderOut)
    contract = fields.Nested(trading.ContractOut, allow_none=True)
    ledger = fields.Nested(trading.OrderLedgerOut)
    filing = fields.Nested(compliance.FilingOut, allow_none=True)


class ReadQuery(PageQuery):
    org_id = fields.String(load_default=None, validate=_ID,
                           metadata={"description": "the regulator organisation that read"})
    user_id = fields.String(load_default=None, validate=_ID)
    path = fields.String(load_default=None, validate=validate.Length(1, 500),
                         metadata={"description": "reads of paths starting with this"})
    since = UtcDateTime(load_default=None)
    until = UtcDateTime(load_default=None)


class SupervisionReadOut(ma.Schema):
    id = fields.String()
    at = UtcDateTime()
    org_id = fields.String()
    user_id = fields.String(allow_none=True)
    key_id = fields.String(allow_none=True)
    method = fields.String()
    path = fields.String()
    query = fields.String()
    status = fields.Integer()
    result_count = fields.Integer(allow_none=True, metadata={
        "description": "records returned: a page's items, 1 for one object; for a streamed "
                       "export, the records sent; null when not countable"})
    request_id = fields.String(allow_none=True)
