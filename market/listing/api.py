"""Listing API: products and versions, submission, review, the listing lifecycle, distribution
rules (收益分配) and the public view of listed products."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

import marshmallow as ma
from flask import Response, request

from market.kernel.actor import Role
from market.kernel.errors import InvalidCursor, InvalidInput
from market.kernel.storage import FileStore, sharded
from market.kernel.web import ApiBlueprint, page_body, page_of, state, unit_of_work
from market.kernel.web.files import send_stored, stored_files
from market.kernel.web.pagination import PageQuery, decode_cursor, encode_cursor, page_args
from market.listing import catalog, linked_data, services
from market.listing.errors import OfferNotFound, ProductNotFound
from market.listing.schemas import (
    CatalogEntryOut,
    CatalogPage,
    CatalogQuery,
    CatalogStatisticsOut,
    DistributionIn,
    DistributionOut,
    ListingEventOut,
    ListingReviewIn,
    ListingStatusIn,
    ProductIn,
    ProductOut,
    ProductQuery,
    ProductRevisionIn,
    SubmitIn,
)
from market.participants import services as participants
from market.settlement import services as settlement

bp = ApiBlueprint("listing", __name__,
                  description="Data products, versions, offers, usage terms and listings")



def _sample_dir() -> FileStore:
    return stored_files("samples")


def _input(body: dict[str, Any]) -> services.ProductInput:
    sample = None
    if body.get("sample"):
        try:
            content = base64.b64decode(body["sample"]["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(errors={"sample.content_base64": ["not valid base64"]}) from None
        sample = services.Sample(body["sample"]["name"], body["sample"]["media_type"], content)
    offers = [
        (o["name"], services.OfferSpec(kind=services.OfferKind(o["kind"]), currency=o["currency"],
                              amount=o["amount"], period=o["period"], unit=o["unit"],
                              cap_amount=o["cap_amount"], quantity=o["quantity"],
                              buyer_class=services.BuyerClass(o["buyer_class"])
                              if o["buyer_class"] else None))
        for o in body["offers"]
    ]
    return services.ProductInput(
        title=body["title"], description=body["description"],
        type=services.ProductType(body["type"]),
        development_level=services.DevelopmentLevel(body["development_level"]),
        sector=body["sector"],
        region=body["region"], update_frequency=body["update_frequency"],
        scenarios=body["scenarios"], delivery_modes=body["delivery_modes"],
        derived_from=body["derived_from"], terms=services.UsageTerms.of(body["terms"]),
        offers=offers,
        tags=body["tags"], formats=body["formats"], field_schema=body["field_schema"],
        spatial_coverage=body["spatial_coverage"], temporal_from=body["temporal_from"],
        temporal_to=body["temporal_to"], quality_reports=body["quality_reports"],
        assessment_reports=body["assessment_reports"], sample=sample,
        cost_basis=body["cost_basis"],
        storage_location=body["storage_location"], storage_region=body["storage_region"],
    )


def _version(version: Any, offers: list[Any]) -> dict[str, Any]:
    data = {c.key: getattr(version, c.key) for c in version.__table__.columns}
    data["offers"] = offers
    return data


def _out(view: services.ProductView) -> dict[str, Any]:
    return {
        "id": view.product.id, "merchant_org_id": view.product.merchant_org_id,
        "created_at": view.product.created_at,
        "latest": _version(view.version, view.offers),
        "listed": _version(view.listed, view.listed_offers) if view.listed else None,
    }


@bp.route("/products", methods=["POST"])
@bp.access(roles=[Role.MERCHANT])
@bp.idempotent
@bp.arguments(ProductIn)
@bp.response(201, ProductOut)
def create_product(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Draft a data product (version 1) with its offers and usage terms."""
    view = services.create_product(_input(body), uow=unit_of_work(),
                                   product_id=body["product_id"], sample_dir=_sample_dir())
    return _out(view), 201, {"Location": f"/api/v1/products/{view.product.id}"}


@bp.route("/products", methods=["GET"])
@bp.access()
@bp.arguments(ProductQuery, location="query")
@bp.response(200, page_of(ProductOut))
def list_products(query: dict[str, Any]) -> dict[str, Any]:
    """Your products (every product for the operator, assessors and regulators)."""
    page = services.list_products(uow=unit_of_work(), status=query["status"], **page_args(query))
    views = services.views_of(page.items, uow=unit_of_work())
    return {**page_body(page), "items": [_out(v) for v in views]}


@bp.route("/products/<product_id>", methods=["GET"])
@bp.access(object_scoped=True)
@bp.response(200, ProductOut)
def get_product(product_id: str) -> dict[str, Any]:
    """A product you may see in full: its latest version and the version on sale."""
    return _out(services.get_product(product_id, uow=unit_of_work()))


@bp.route("/products/<product_id>", methods=["PUT"])
@bp.access(roles=[Role.MERCHANT], object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(ProductRevisionIn)
@bp.response(200, ProductOut)
def revise_product(body: dict[str, Any], product_id: str) -> dict[str, Any]:
    """Change your product. A listed product gets a new version, reviewed while the listed
    one stays on sale; a draft or returned version is edited in place."""
    return _out(services.revise_product(product_id, _input(body), uow=unit_of_work(),
                                        sample_dir=_sample_dir()))


@bp.route("/products/<product_id>/submission", methods=["POST"])
@bp.access(roles=[Role.MERCHANT], object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(SubmitIn)
@bp.response(200, ProductOut)
def submit_listing(body: dict[str, Any], product_id: str) -> dict[str, Any]:
    """Submit the latest version for review with your listing declaration (listing@1).

    The compliance rules judge the submission and the decision is kept (`GET /decisions`).
    The delivery modes must suit the data's classification and personal-information level
    (the delivery matrix, `MARKET_DELIVERY_MATRIX`; rule `DeliveryModeMustSuitClassification`,
    the violation's `detail` names the cell); data stored abroad needs a security
    assessment (`DataAbroadNeedsSecurityAssessment`); raw data and sensitive categories go
    to a double review.
    Refused (422 `listing_refused`) when a rule blocks: each violation names its rule; the
    rights chain's violation also names the broken link (code and right). Nothing but the
    decision is written then. Otherwise the declaration is signed and kept
    (`GET /declarations`), with your organisation key's signature if you send one.
    """
    return _out(services.submit_listing(product_id, body["declaration"], uow=unit_of_work(),
                                        signature=body["signature"]))


@bp.route("/products/<product_id>/review-claims", methods=["POST"])
@bp.access(roles=[Role.OPERATOR, Role.ASSESSOR], object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.response(200, ProductOut)
def claim_review(product_id: str) -> dict[str, Any]:
    """Take the submitted version into review (the operator or an assessor). A version
    waiting for the second approval of a double review (双重审核) is taken only by a reviewer
    other than the first (409 `reviewer_already_approved`)."""
    return _out(services.claim_review(product_id, uow=unit_of_work()))


@bp.route("/products/<product_id>/reviews", methods=["POST"])
@bp.access(roles=[Role.OPERATOR, Role.ASSESSOR], object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(ListingReviewIn)
@bp.response(200, ProductOut)
def decide_review(body: dict[str, Any], product_id: str) -> dict[str, Any]:
    """List the version, return it for corrections, or reject it, with a reason.

    Raw data (`development_level` raw) and sensitive personal information (the resources'
    `pi_level` sensitive_personal or `sensitive_categories`) need two different reviewers
    (双重审核): the first `list` decision records an approval and puts the version back in
    the queue (`submitted`, action `approved_once`); it is listed by the `list` decision
    of a second, different user (409 `reviewer_already_approved` when the first reviewer
    claims or decides it again).
    The review item (`GET /reviews`) names the rules, the approvals needed and given.
    """
    return _out(services.decide_review(product_id, body["decision"], body["reason"],
                                       uow=unit_of_work()))


@bp.route("/products/<product_id>/status-changes", methods=["POST"])
@bp.access(roles=[Role.OPERATOR, Role.MERCHANT], object_scoped=True)
@bp.alt_response(409, response="CONFLICT")
@bp.arguments(ListingStatusIn)
@bp.response(200, ProductOut)
def change_listing_status(body: dict[str, Any], product_id: str) -> dict[str, Any]:
    """Suspend or reinstate the version on sale (the operator), or delist it (the merchant
    or the operator)."""
    return _out(services.change_listing_status(product_id, services.ListingStatus(body["status"]),
                                               body["reason"], uow=unit_of_work()))


@bp.route("/products/<product_id>/history", methods=["GET"])
@bp.access(object_scoped=True)
@bp.arguments(PageQuery, location="query")
@bp.response(200, page_of(ListingEventOut))
def listing_history(query: dict[str, Any], product_id: str) -> dict[str, Any]:
    """Every change of every version of the product, oldest first."""
    return page_body(services.history(product_id, uow=unit_of_work(), **page_args(query)))


# -- public --------------------------------------------------------------------------------


@bp.route("/catalog/<product_id>", methods=["GET"])
@bp.access(anonymous=True, object_scoped=True)
@bp.response(200, CatalogEntryOut)
def catalog_entry(product_id: str) -> dict[str, Any]:
    """A listed product as anyone sees it: the version on sale, its offers and usage terms."""
    view = services.listed_version(product_id, uow=unit_of_work())
    return {"id": view.product.id, "merchant_org_id": view.product.merchant_org_id,
            "version": _version(view.version, view.offers)}


@bp.route("/catalog/<product_id>/sample", methods=["GET"])
@bp.access(anonymous=True, object_scoped=True)
@bp.response(200, content_type="application/octet-stream",
             description="the sample file; its SHA-256 is in the ETag")
def catalog_sample(product_id: str) -> Response:
    """Download the small sample of a listed product before buying."""
    view = services.listed_version(product_id, uow=unit_of_work())
    sample = services.sample_of(view.version)
    store = _sample_dir()
    try:
        if sample is None:
            raise FileNotFoundError
        return send_stored(store, sharded(sample[0]), media_type=sample[2], name=sample[1],
                           etag=sample[0], conditional=False)
    except FileNotFoundError:
        raise ProductNotFound("this product has no sample") from None


def _offset(cursor: str | None) -> int:
    raw = decode_cursor(cursor)
    if raw is None:
        return 0
    if not raw.isdigit() or int(raw) > 10**7:
        raise InvalidCursor()
    return int(raw)


@bp.route("/catalog", methods=["GET"])
@bp.access(anonymous=True)
@bp.rate_limited("search")
@bp.arguments(CatalogQuery, location="query")
@bp.response(200, CatalogPage)
def search_catalog(query: dict[str, Any]) -> dict[str, Any]:
    """Search listed products in Chinese or English, filter them, count facets.

    Relevance puts an exact title match first, then products matching more of the query's
    words, then stronger matches (a word in the title counts most); ties go to the newest.
    """
    filters = catalog.Filters(
        type=query["type"], sector=query["sector"], region=query["region"],
        delivery_mode=query["delivery_mode"], development_level=query["development_level"],
        classification=query["classification"], merchant=query["merchant"],
        min_price=query["min_price"], max_price=query["max_price"],
        free_only=query["free_only"],
    )
    result = services.search_catalog(query["q"], filters, sort=query["sort"],
                                     offset=_offset(query["cursor"]), limit=query["limit"],
                                     facets=query["facets"], uow=unit_of_work())
    return {"items": result.items, "total": result.total, "facets": result.facets,
            "next_cursor": encode_cursor(str(result.next_offset))
            if result.next_offset is not None else None}


@bp.route("/catalog/statistics", methods=["GET"])
@bp.access(anonymous=True)
@bp.response(200, CatalogStatisticsOut)
def catalog_statistics() -> dict[str, Any]:
    """Public disclosure (信息披露): listed products by sector and by type."""
    return services.catalog_statistics(uow=unit_of_work())


def _base() -> str:
    return request.host_url.rstrip("/") + "/api/v1"


def _merchant_names(org_ids: Iterable[str]) -> dict[str, str]:
    """The public names of merchants, for the publishers of datasets."""
    uow = unit_of_work()
    with uow:
        return {org_id: facts.name for org_id, facts in
                participants.organisation_facts(org_ids, uow=uow).items()}


def _jsonld(document: dict[str, Any]) -> Response:
    return Response(json.dumps(document, ensure_ascii=False, default=str),
                    mimetype="application/ld+json")


@bp.route("/catalog.jsonld", methods=["GET"])
@bp.access(anonymous=True)
@bp.rate_limited("search")
@bp.arguments(PageQuery, location="query")
@bp.response(200, content_type="application/ld+json",
             description="DCAT-AP 3 catalogue (JSON-LD), a page of datasets")
def dcat_catalog(query: dict[str, Any]) -> Response:
    """The catalogue as DCAT-AP 3 JSON-LD, a page at a time (`next` links the following)."""
    offset = _offset(query["cursor"])
    result = services.search_catalog(None, catalog.Filters(), sort="newest", offset=offset,
                                     limit=query["limit"], facets=False, uow=unit_of_work())
    views = services.listed_views([e.product_id for e in result.items], uow=unit_of_work())
    names = _merchant_names(v.product.merchant_org_id for v in views)
    document = linked_data.dcat_catalog(_base(), [
        linked_data.dcat_dataset(_base(), v.product, v.version, v.offers,
                                 names.get(v.product.merchant_org_id))
        for v in views])
    if result.next_offset is not None:
        document["next"] = (f"{_base()}/catalog.jsonld?limit={query['limit']}&cursor="
                            f"{encode_cursor(str(result.next_offset))}")
    return _jsonld(document)


@bp.route("/catalog/<product_id>/dcat.jsonld", methods=["GET"])
@bp.access(anonymous=True, object_scoped=True)
@bp.response(200, content_type="application/ld+json",
             description="DCAT-AP 3 dataset (JSON-LD)")
def dcat_dataset(product_id: str) -> Response:
    """A listed product as a DCAT-AP 3 dataset."""
    view = services.listed_version(product_id, uow=unit_of_work())
    merchant = view.product.merchant_org_id
    document = linked_data.dcat_dataset(_base(), view.product, view.version, view.offers,
                                        _merchant_names([merchant]).get(merchant))
    return _jsonld({"@context": linked_data.DCAT_CONTEXT, **document})


class TermsQuery(ma.Schema):
    offer = ma.fields.String(load_default=None, validate=ma.validate.Length(1, 40),
                             metadata={"description": "an offer of the version on sale: "
                                                      "its policy, with its price"})


@bp.route("/catalog/<product_id>/terms.jsonld", methods=["GET"])
@bp.access(anonymous=True, object_scoped=True)
@bp.arguments(TermsQuery, location="query")
@bp.response(200, content_type="application/ld+json",
             description="ODRL policy (JSON-LD)")
def odrl_terms(query: dict[str, Any], product_id: str) -> Response:
    """The usage terms of the version on sale as an ODRL Offer policy; with `offer`, the
    policy of that offer, its price a `compensate` duty."""
    view = services.listed_version(product_id, uow=unit_of_work())
    offer = None
    if query["offer"] is not None:
        offer = next((o for o in view.offers if o.id == query["offer"]), None)
        if offer is None:
            raise OfferNotFound()
    return _jsonld(linked_data.odrl_policy(_base(), view.product, view.version, offer))


def split_policy() -> settlement.SplitPolicy:
    """The exchange's split defaults, from the settings."""
    return settlement.split_policy_of(state().settings)


def _distribution(product_id: str, rule: Any, set_by_merchant: bool) -> dict[str, Any]:
    return {"product_id": product_id, "set_by_merchant": set_by_merchant,
            **rule.as_dict()}


@bp.route("/products/<product_id>/distribution", methods=["GET"])
@bp.access(roles=[Role.MERCHANT, Role.OPERATOR, Role.REGULATOR], object_scoped=True)
@bp.response(200, DistributionOut)
def get_distribution(product_id: str) -> dict[str, Any]:
    """How the product's revenue is split (收益分配): the merchant's rule, or the default
    derived from the rights chain."""
    rule, stored = services.distribution_rule(product_id, policy=split_policy(),
                                              uow=unit_of_work())
    return _distribution(product_id, rule, stored)


@bp.route("/products/<product_id>/distribution", methods=["PUT"])
@bp.access(roles=[Role.MERCHANT], object_scoped=True)
@bp.arguments(DistributionIn)
@bp.response(200, DistributionOut)
def set_distribution(body: dict[str, Any], product_id: str) -> dict[str, Any]:
    """Set the product's revenue split among the parties of its rights chain and brokers,
    in basis points summing to 10,000; orders placed afterwards freeze it."""
    rule = services.set_distribution_rule(product_id, body["shares"], policy=split_policy(),
                                          uow=unit_of_work())
    return _distribution(product_id, rule, True)
