"""HTTP edge schemas for the regulator API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from market.compliance.schemas import FilingQuery


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
