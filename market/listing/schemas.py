"""HTTP edge schemas for products, versions, offers, usage terms and listings."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from market.compliance.services import ListingDeclarationIn, SignatureIn
from market.kernel.web import (
    HistoryEventOut,
    PageQuery,
    RecordSchema,
    StorageIn,
    UtcDateTime,
    choices,
)
from market.listing.catalog import CatalogEntry
from market.listing.domain import (
    PERIODS,
    UNITS,
    BuyerClass,
    DeliveryMode,
    DevelopmentLevel,
    ListingStatus,
    OfferKind,
    ProductType,
)
from market.listing.models import Offer, ProductVersion
from market.settlement.services import ShareRole


def _words(minimum: int = 0, maximum: int = 50) -> fields.List[str]:
    return fields.List(fields.String(validate=validate.Length(1, 100)),
                       validate=validate.Length(minimum, maximum),
                       load_default=list if minimum == 0 else ma.missing,
                       required=minimum > 0)


class OfferIn(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    kind = fields.String(required=True, validate=validate.OneOf(choices(OfferKind)))
    currency = fields.String(load_default="CNY", validate=validate.Regexp(r"^[A-Z]{3}$"))
    amount = fields.Integer(load_default=None, strict=True,
                            validate=validate.Range(0, 10**15),
                            metadata={"description": "integer minor units (分 for CNY)"})
    period = fields.String(load_default=None, validate=validate.OneOf(PERIODS))
    unit = fields.String(load_default=None, validate=validate.OneOf(UNITS))
    cap_amount = fields.Integer(load_default=None, strict=True,
                                validate=validate.Range(0, 10**15))
    quantity = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 10**6),
                              metadata={"description": "limited offers: how many can be sold"})
    buyer_class = fields.String(
        load_default=None, validate=validate.OneOf(choices(BuyerClass)),
        metadata={"description": "public data: public_interest (public governance and "
                                 "public-interest use; a free offer) or commercial (paid, "
                                 "at most the cost basis); one price per class"})


class CostBasisIn(ma.Schema):
    """The cost-recovery basis of public data (成本补偿): the most a commercial offer
    charges."""

    amount = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10**15),
                            metadata={"description": "integer minor units"})
    currency = fields.String(load_default="CNY", validate=validate.Regexp(r"^[A-Z]{3}$"))
    explanation = fields.String(required=True, validate=validate.Length(1, 2000),
                                metadata={"description": "how the cost was worked out"})
    document_sha256 = fields.String(
        required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$",
                                                error="must be 64 lowercase hex digits"),
        metadata={"description": "SHA-256 of the cost accounting it rests on"})


class OfferOut(RecordSchema, model=Offer, omit=(
        "version_id", "buyer_org_id", "expires_at", "terms", "delivery_modes", "negotiation_id",
        "demand_id", "channel", "broker_org_id", "commission_bps", "created_at")):
    """A public offer (private offers are shown in their negotiation)."""


class TermsIn(ma.Schema):
    purposes = _words(1)
    scenarios = _words(1)
    territory = fields.String(load_default="domestic",
                              validate=validate.OneOf(["domestic", "cross_border"]))
    duration_days = fields.Integer(load_default=None, strict=True,
                                   validate=validate.Range(1, 36500))
    onward_transfer = fields.Boolean(load_default=False)
    resale = fields.Boolean(load_default=False)
    max_users = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 10**6))
    attribution = fields.String(load_default=None, validate=validate.Length(1, 500))


class TermsOut(ma.Schema):
    purposes = fields.List(fields.String())
    scenarios = fields.List(fields.String())
    territory = fields.String()
    duration_days = fields.Integer(allow_none=True)
    onward_transfer = fields.Boolean()
    resale = fields.Boolean()
    max_users = fields.Integer(allow_none=True)
    attribution = fields.String(allow_none=True)


class FieldIn(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    type = fields.String(required=True, validate=validate.Length(1, 40))
    description = fields.String(load_default=None, validate=validate.Length(1, 500))


class SampleIn(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    media_type = fields.String(load_default="application/octet-stream",
                               validate=validate.Length(1, 100))
    content_base64 = fields.String(required=True, validate=validate.Length(1, 700_000))


class ProductIn(StorageIn):
    product_id = fields.String(load_default=None, validate=validate.Length(1, 40),
                               metadata={"description": "adopt the id your product operation "
                                                        "right names"})
    title = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(required=True, validate=validate.Length(1, 10000))
    type = fields.String(required=True, validate=validate.OneOf(choices(ProductType)))
    development_level = fields.String(required=True,
                                      validate=validate.OneOf(choices(DevelopmentLevel)))
    sector = fields.String(required=True, validate=validate.Length(1, 60))
    region = fields.String(required=True, validate=validate.Length(1, 60))
    update_frequency = fields.String(required=True, validate=validate.Length(1, 40))
    scenarios = _words(1)
    delivery_modes = fields.List(fields.String(validate=validate.OneOf(choices(DeliveryMode))),
                                 required=True, validate=validate.Length(1, 3),
                                 metadata={"description": "the modes the delivery matrix "
                                           "(分类分级) allows for the data's classification "
                                           "and personal-information level; others are "
                                           "refused at submission "
                                           "(DeliveryModeMustSuitClassification)"})
    derived_from = fields.List(fields.String(validate=validate.Length(1, 40)), required=True,
                               validate=validate.Length(1, 50))
    terms = fields.Nested(TermsIn, required=True)
    offers = fields.List(fields.Nested(OfferIn), required=True, validate=validate.Length(1, 10))
    tags = _words()
    formats = _words(0, 20)
    field_schema = fields.List(fields.Nested(FieldIn), load_default=list,
                               validate=validate.Length(0, 500))
    spatial_coverage = fields.String(load_default=None, validate=validate.Length(1, 200))
    temporal_from = UtcDateTime(load_default=None)
    temporal_to = UtcDateTime(load_default=None)
    quality_reports = fields.List(fields.String(validate=validate.Length(1, 200)),
                                  load_default=list, validate=validate.Length(0, 20))
    assessment_reports = fields.List(fields.String(validate=validate.Length(1, 200)),
                                     load_default=list, validate=validate.Length(0, 20))
    sample = fields.Nested(SampleIn, load_default=None)
    cost_basis = fields.Nested(CostBasisIn, load_default=None, metadata={
        "description": "public data with commercial offers: its cost-recovery basis"})


class ProductRevisionIn(ProductIn):
    class Meta:
        exclude = ("product_id",)


class VersionOut(RecordSchema, model=ProductVersion, omit=(
        "product_id", "merchant_org_id", "suspended_by_rights", "sample_media_type",
        "declaration", "declared_by_user_id", "reviewer_org_id", "product_facts")):
    status = fields.String(metadata={"enum": choices(ListingStatus)})
    field_schema = fields.List(fields.Dict())
    terms = fields.Nested(TermsOut)
    offers = fields.List(fields.Nested(OfferOut))


class ProductOut(ma.Schema):
    id = fields.String()
    merchant_org_id = fields.String()
    created_at = fields.DateTime()
    latest = fields.Nested(VersionOut, metadata={"description": "the version being worked on"})
    listed = fields.Nested(VersionOut, allow_none=True,
                           metadata={"description": "the version on sale, if any"})


class ProductQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(choices(ListingStatus)))


class SubmitIn(SignatureIn):
    declaration = fields.Nested(
        ListingDeclarationIn, required=True,
        metadata={"description": "answers of the current listing declaration template"})


class ListingReviewIn(ma.Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["list", "return", "reject"]))
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class ListingStatusIn(ma.Schema):
    status = fields.String(required=True,
                           validate=validate.OneOf(["suspended", "listed", "delisted"]))
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class ListingEventOut(HistoryEventOut):
    version_id = fields.String()


class CatalogEntryOut(ma.Schema):
    """What anyone sees of a listed product."""

    id = fields.String()
    merchant_org_id = fields.String()
    version = fields.Nested(VersionOut)


class CatalogQuery(PageQuery):
    q = fields.String(load_default=None, validate=validate.Length(1, 200),
                      metadata={"description": "words in Chinese or English, e.g. 交通 or traffic"})
    type = fields.String(load_default=None, validate=validate.OneOf(choices(ProductType)))
    sector = fields.String(load_default=None, validate=validate.Length(1, 60))
    region = fields.String(load_default=None, validate=validate.Length(1, 60))
    delivery_mode = fields.String(load_default=None,
                                  validate=validate.OneOf(choices(DeliveryMode)))
    development_level = fields.String(load_default=None,
                                      validate=validate.OneOf(choices(DevelopmentLevel)))
    classification = fields.String(load_default=None,
                                   validate=validate.OneOf(["general", "important"]))
    merchant = fields.String(load_default=None, validate=validate.Length(1, 40))
    min_price = fields.Integer(load_default=None, validate=validate.Range(0, 10**15))
    max_price = fields.Integer(load_default=None, validate=validate.Range(0, 10**15))
    free_only = fields.Boolean(load_default=False)
    sort = fields.String(load_default="relevance",
                         validate=validate.OneOf(["relevance", "newest", "price"]))
    facets = fields.Boolean(load_default=True)


class CatalogItemOut(RecordSchema, model=CatalogEntry, omit=(
        "title_key", "delivers_file", "delivers_api", "delivers_sandbox")):
    """A listed product as the catalogue indexes it."""


class CatalogPage(ma.Schema):
    items = fields.List(fields.Nested(CatalogItemOut), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    total = fields.Integer(required=True)
    facets = fields.Dict(keys=fields.String(),
                         values=fields.Dict(keys=fields.String(), values=fields.Integer()),
                         metadata={"description": "counts per value over the whole result"})


class CatalogStatisticsOut(ma.Schema):
    by_sector = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_type = fields.Dict(keys=fields.String(), values=fields.Integer())
    total = fields.Dict(keys=fields.String(), values=fields.Integer())


class ShareIn(ma.Schema):
    role = fields.String(required=True, validate=validate.OneOf(
        [r.value for r in ShareRole if r is not ShareRole.PLATFORM]))
    org_id = fields.String(required=True, validate=validate.Length(1, 40))
    bps = fields.Integer(required=True, validate=validate.Range(0, 10_000),
                         metadata={"description": "basis points of the price after the fee"})


class DistributionIn(ma.Schema):
    shares = fields.List(fields.Nested(ShareIn), required=True,
                         validate=validate.Length(1, 50))


class ShareOut(ma.Schema):
    role = fields.String()
    org_id = fields.String()
    bps = fields.Integer()


class DistributionOut(ma.Schema):
    product_id = fields.String()
    set_by_merchant = fields.Boolean(metadata={
        "description": "false: the default derived from the product's rights chain"})
    platform_fee_bps = fields.Integer()
    shares = fields.List(fields.Nested(ShareOut))
