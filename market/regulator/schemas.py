"""HTTP edge schemas of the regulator API: its own queries, statistics, disclosures and the
order record, composed of the record shapes the contexts publish (an order, a contract, a
filing look the same to a regulator as to the parties)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from market.compliance import services as compliance
from market.kernel.web import RecordSchema, UtcDateTime
from market.kernel.web.pagination import PageQuery
from market.settlement import services as settlement
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


class RelatedPriceOut(StatisticsRowOut):
    key = fields.String(metadata={"description": "the product id"})
    title = fields.String()
    min_amount = fields.Integer()
    max_amount = fields.Integer()


class StatisticsOut(ma.Schema):
    by_day = fields.List(fields.Nested(StatisticsRowOut))
    by_month = fields.List(fields.Nested(StatisticsRowOut), metadata={
        "description": "by month (key YYYY-MM, UTC)"})
    by_sector = fields.List(fields.Nested(StatisticsRowOut))
    by_product_type = fields.List(fields.Nested(StatisticsRowOut))
    by_classification = fields.List(fields.Nested(StatisticsRowOut), metadata={
        "description": "by data class (分类分级: key general, important or core, as the "
                       "version sold was declared; unclassified for a trade reported from "
                       "off the exchange)"})
    related_party_only = fields.List(fields.Nested(RelatedPriceOut), metadata={
        "description": "products whose every filed trade was between related parties (关联方: "
                       "a wash-trading alert on each): a price that says nothing of the market"})


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


# -- public data (公共数据授权运营) ----------------------------------------------------------


class PurposeTallyOut(RecordSchema, model=trading.PurposeTally):
    """Public-data orders (but the cancelled) bought for one purpose class, in a currency."""

    purpose_class = fields.String(metadata={"enum": ["public_interest", "commercial"]})
    amount = fields.Integer(metadata={"description": "their price, minor units"})


class PublicDataTradesOut(ma.Schema):
    items = fields.List(fields.Nested(PurposeTallyOut))


class FundBalanceOut(RecordSchema, model=settlement.FundBalance): ...


class FundEntryOut(RecordSchema, model=settlement.FundEntry): ...


class DestructionCountsOut(RecordSchema, model=trading.DestructionCounts): ...


class RetentionOverviewOut(ma.Schema):
    policies = fields.List(fields.Nested(compliance.RetentionTermOut),
                           metadata={"description": "how long each kind of record is kept"})
    destruction = fields.Nested(DestructionCountsOut, metadata={
        "description": "destruction declarations asked for, declared, overdue and alerted, "
                       "and the delivered files deleted"})


class PublicFundQuery(PageQuery):
    currency = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Z]{3}$"))


class PublicFundOut(ma.Schema):
    balances = fields.List(fields.Nested(FundBalanceOut),
                           metadata={"description": "the fund's account of each currency"})
    items = fields.List(fields.Nested(FundEntryOut),
                        metadata={"description": "its postings, oldest first"})
    next_cursor = fields.String(allow_none=True, metadata={
        "description": "Pass as `cursor` for the next page; null at the end"})
