"""HTTP edge schemas for matching: demands and their matches, negotiations and their terms,
broker proposals, supply lists, capabilities and saved searches."""

from __future__ import annotations

import copy
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from market.kernel.web import HistoryEventOut, PageQuery, RecordSchema, UtcDateTime, choices
from market.matching.domain import (
    FRESHNESS,
    SECTORS,
    DemandStatus,
    NegotiationStatus,
    Visibility,
)
from market.matching.models import Capability, Demand, DemandMatch, Negotiation, SavedSearch

_CURRENCY = validate.Regexp(r"^[A-Z]{3}$", error="must be an ISO 4217 code such as CNY")
_MONEY = validate.Range(min=0, max=10 ** 15)
TYPES = ["dataset", "api_service", "report", "model", "sandbox"]
MODES = ["file", "api", "sandbox"]


def _texts(minimum: int, longest: int = 200, *, required: bool = False) -> fields.List[str]:
    extra = {"required": True} if required else {"load_default": list}
    return fields.List(fields.String(validate=validate.Length(1, longest)),
                       validate=validate.Length(minimum, 20), **extra)


class DemandIn(ma.Schema):
    """A demand (需求清单): what is needed, for what use, at what budget, until when."""

    title = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(required=True, validate=validate.Length(1, 5000))
    sector = fields.String(required=True, validate=validate.OneOf(SECTORS))
    region = fields.String(load_default=None, validate=validate.Length(1, 60))
    product_types = fields.List(fields.String(validate=validate.OneOf(TYPES)),
                                load_default=list, validate=validate.Length(0, 5))
    delivery_modes = fields.List(fields.String(validate=validate.OneOf(MODES)),
                                 load_default=list, validate=validate.Length(0, 3))
    required_fields = _texts(0)
    coverage = fields.String(load_default=None, validate=validate.Length(1, 200))
    freshness = fields.String(load_default=None, validate=validate.OneOf(FRESHNESS))
    budget_min = fields.Integer(load_default=None, strict=True, validate=_MONEY,
                                metadata={"description": "minor units"})
    budget_max = fields.Integer(load_default=None, strict=True, validate=_MONEY,
                                metadata={"description": "minor units"})
    currency = fields.String(load_default="CNY", validate=_CURRENCY)
    purpose = fields.String(required=True, validate=validate.Length(1, 2000))
    purposes = _texts(1, required=True)
    scenarios = _texts(1, required=True)
    cross_border = fields.Boolean(load_default=False,
                                  metadata={"description": "the data will be used abroad"})
    deadline = UtcDateTime(required=True)
    visibility = fields.String(load_default=Visibility.PUBLIC.value,
                               validate=validate.OneOf(choices(Visibility)))
    invited_org_ids = fields.List(fields.String(validate=validate.Length(1, 40)),
                                  load_default=list, validate=validate.Length(0, 50))
    buyer_org_id = fields.String(load_default=None, validate=validate.Length(1, 40),
                                 metadata={"description": "a broker posting for a buyer"})

    @ma.validates_schema
    def _budget(self, data: dict[str, object], **_: object) -> None:
        low, high = data.get("budget_min"), data.get("budget_max")
        if isinstance(low, int) and isinstance(high, int) and low > high:
            raise ma.ValidationError("must not be below budget_min", "budget_max")


def _optional(schema: type[ma.Schema]) -> dict[str, fields.Field[Any]]:
    """The schema's fields, none required and none defaulted: a PATCH changes what it
    names and nothing else."""
    found = {}
    for name, field in schema._declared_fields.items():
        if name == "buyer_org_id":
            continue
        changed = copy.copy(field)
        changed.required = False
        changed.load_default = ma.missing
        found[name] = changed
    return found


DemandPatchIn = ma.Schema.from_dict(_optional(DemandIn), name="DemandPatchIn")


class DemandCloseIn(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class DemandMatchOut(RecordSchema, model=DemandMatch, omit=("demand_id",)):
    components = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "points of each component in hundredths; they sum to the score"})


class DemandOut(RecordSchema, model=Demand, omit=("words",)):
    matches = fields.List(fields.Nested(DemandMatchOut), metadata={
        "description": "the current top matches (the buyer, its broker and staff only)"})


class DemandQuery(PageQuery):
    q = fields.String(load_default=None, validate=validate.Length(1, 200))
    mine = fields.Boolean(load_default=False)
    status = fields.String(load_default=None, validate=validate.OneOf(choices(DemandStatus)))
    sector = fields.String(load_default=None, validate=validate.OneOf(SECTORS))
    region = fields.String(load_default=None, validate=validate.Length(1, 60))
    product_type = fields.String(load_default=None, validate=validate.OneOf(TYPES))


class DemandPageOut(ma.Schema):
    items = fields.List(fields.Nested(DemandOut))
    next_cursor = fields.String(allow_none=True)
    facets = fields.Dict(keys=fields.String(),
                         values=fields.Dict(keys=fields.String(), values=fields.Integer()))


class MatchQuery(ma.Schema):
    explain = fields.Boolean(load_default=False, metadata={
        "description": "also list the listings a hard constraint excludes, and why"})


class ListingSummaryOut(ma.Schema):
    """A listed product as matching and supply lists show it."""

    product_id = fields.String()
    merchant_org_id = fields.String()
    title = fields.String()
    type = fields.String()
    sector = fields.String()
    region = fields.String()
    delivery_modes = fields.List(fields.String())
    min_price = fields.Integer(allow_none=True, metadata={
        "description": "the cheapest public priced offer, minor units"})
    currency = fields.String(allow_none=True)


class ScoredOut(ListingSummaryOut):
    version_id = fields.String()
    negotiable = fields.Boolean()
    score = fields.Integer(metadata={"description": "the sum of the components"})
    components = fields.Dict(keys=fields.String(), values=fields.Integer())
    conditions = fields.List(fields.Dict(keys=fields.String(), values=fields.String()))
    catalogue_rank = fields.Integer()
    credit_mark = fields.Dict(keys=fields.String(), values=fields.Raw(), allow_none=True,
                              metadata={"description": "the merchant's public credit mark "
                                                       "(score, grade, computed_at) the credit "
                                                       "component weighed; null: not rated yet"})


class NearMissOut(ma.Schema):
    product_id = fields.String()
    title = fields.String()
    merchant_org_id = fields.String()
    reasons = fields.List(fields.Dict(keys=fields.String(), values=fields.String()))


class RankingOut(ma.Schema):
    candidates = fields.List(fields.Nested(ScoredOut))
    excluded = fields.List(fields.Nested(NearMissOut))
    weights = fields.Dict(keys=fields.String(), values=fields.Integer())


class DemandEventOut(HistoryEventOut):
    demand_id = fields.String()


class DemandHistoryOut(ma.Schema):
    items = fields.List(fields.Nested(DemandEventOut))


# -- negotiations --------------------------------------------------------------------------


class NegotiationTermsIn(ma.Schema):
    """Terms on the table: price and plan, quantity (seats), term, delivery and use."""

    amount = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 10**15),
                            metadata={"description": "total price, minor units"})
    currency = fields.String(load_default=None, validate=_CURRENCY)
    kind = fields.String(load_default=None,
                         validate=validate.OneOf(["one_time", "subscription"]))
    period = fields.String(load_default=None,
                           validate=validate.OneOf(["month", "quarter", "year"]))
    quantity = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 10000))
    term_days = fields.Integer(load_default=None, strict=True,
                               validate=validate.Range(1, 3650))
    delivery_modes = fields.List(fields.String(validate=validate.OneOf(MODES)),
                                 load_default=None, validate=validate.Length(1, 3))
    purposes = fields.List(fields.String(validate=validate.Length(1, 200)), load_default=None,
                           validate=validate.Length(1, 20))
    scenarios = fields.List(fields.String(validate=validate.Length(1, 200)),
                            load_default=None, validate=validate.Length(1, 20))
    cross_border = fields.Boolean(load_default=None)


class QuoteRequestIn(ma.Schema):
    product_id = fields.String(required=True, validate=validate.Length(1, 40))
    offer_id = fields.String(load_default=None, validate=validate.Length(1, 40))
    terms = fields.Nested(NegotiationTermsIn, required=True)
    note = fields.String(load_default=None, validate=validate.Length(1, 2000))


class DemandAnswerIn(ma.Schema):
    product_id = fields.String(required=True, validate=validate.Length(1, 40))
    terms = fields.Nested(NegotiationTermsIn, required=True)


class BrokerProposalIn(ma.Schema):
    product_id = fields.String(required=True, validate=validate.Length(1, 40))
    commission_bps = fields.Integer(required=True, strict=True,
                                    validate=validate.Range(0, 10000), metadata={
                                        "description": "basis points of the seller's net "
                                                       "share, paid by the seller"})
    note = fields.String(load_default=None, validate=validate.Length(1, 2000))


class ProposalIn(ma.Schema):
    terms = fields.Nested(NegotiationTermsIn, required=True)


class NegotiationReasonIn(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class PrivateOfferOut(ma.Schema):
    """The private offer an agreement became: only its buyer sees and orders it."""

    id = fields.String()
    kind = fields.String()
    amount = fields.Integer(allow_none=True, metadata={"description": "minor units"})
    currency = fields.String()
    period = fields.String(allow_none=True)
    buyer_org_id = fields.String()
    expires_at = fields.DateTime(allow_none=True)
    channel = fields.String(allow_none=True)
    broker_org_id = fields.String(allow_none=True)
    commission_bps = fields.Integer(allow_none=True)


class NegotiationOut(RecordSchema, model=Negotiation):
    terms = fields.Dict(metadata={"description": "the terms on the table"})
    private_offer = fields.Nested(PrivateOfferOut, allow_none=True)


class NegotiationQuery(PageQuery):
    status = fields.String(load_default=None,
                           validate=validate.OneOf(choices(NegotiationStatus)))
    demand = fields.String(load_default=None, validate=validate.Length(1, 40))
    product = fields.String(load_default=None, validate=validate.Length(1, 40))


class NegotiationEventOut(HistoryEventOut):
    negotiation_id = fields.String()
    terms = fields.Dict(allow_none=True)


class NegotiationHistoryOut(ma.Schema):
    items = fields.List(fields.Nested(NegotiationEventOut))


# -- supply and saved searches -------------------------------------------------------------


class CapabilityIn(ma.Schema):
    title = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(required=True, validate=validate.Length(1, 5000))
    sector = fields.String(required=True, validate=validate.OneOf(SECTORS))
    region = fields.String(load_default=None, validate=validate.Length(1, 60))
    product_types = fields.List(fields.String(validate=validate.OneOf(TYPES)),
                                load_default=list, validate=validate.Length(0, 5))
    delivery_modes = fields.List(fields.String(validate=validate.OneOf(MODES)),
                                 load_default=list, validate=validate.Length(0, 3))


class CapabilityOut(RecordSchema, model=Capability, omit=("words",)): ...


class SupplyQuery(ma.Schema):
    q = fields.String(load_default=None, validate=validate.Length(1, 200))
    sector = fields.String(load_default=None, validate=validate.Length(1, 60))
    merchant = fields.String(load_default=None, validate=validate.Length(1, 40))
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))


class SupplyProductOut(ListingSummaryOut):
    listed_at = fields.DateTime()


class SupplyOut(ma.Schema):
    products = fields.List(fields.Nested(SupplyProductOut))
    capabilities = fields.List(fields.Nested(CapabilityOut))


class SavedSearchIn(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    q = fields.String(load_default=None, validate=validate.Length(1, 200))
    type = fields.String(load_default=None, validate=validate.OneOf(TYPES))
    sector = fields.String(load_default=None, validate=validate.Length(1, 60))
    region = fields.String(load_default=None, validate=validate.Length(1, 60))
    delivery_mode = fields.String(load_default=None, validate=validate.OneOf(MODES))
    max_price = fields.Integer(load_default=None, strict=True, validate=_MONEY)


class SavedSearchOut(RecordSchema, model=SavedSearch, omit=("words",)): ...


class SavedSearchListOut(ma.Schema):
    items = fields.List(fields.Nested(SavedSearchOut))
