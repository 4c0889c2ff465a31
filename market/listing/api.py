"""Listing API: products and versions, submission, review, the listing lifecycle, and the
public view of listed products."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from flask import Response, send_file

from market.errors import InvalidInput
from market.listing import services
from market.listing.domain import (
    DevelopmentLevel,
    ListingStatus,
    OfferKind,
    OfferSpec,
    ProductType,
    UsageTerms,
)
from market.listing.errors import ProductNotFound
from market.listing.schemas import (
    CatalogEntryOut,
    ListingEventOut,
    ListingReviewIn,
    ListingStatusIn,
    ProductIn,
    ProductOut,
    ProductQuery,
    ProductRevisionIn,
    SubmitIn,
)
from market.web import ApiBlueprint, PageQuery, page_args, page_body, page_of, state, unit_of_work

bp = ApiBlueprint("listing", __name__,
                  description="Data products, versions, offers, usage terms and listings")

MERCHANT, OPERATOR, ASSESSOR = "merchant", "operator", "assessor"


def _sample_dir() -> Path:
    return state().settings.instance_path / "samples"


def _input(body: dict[str, Any]) -> services.ProductInput:
    sample = None
    if body.get("sample"):
        try:
            content = base64.b64decode(body["sample"]["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(errors={"sample.content_base64": ["not valid base64"]}) from None
        sample = services.Sample(body["sample"]["name"], body["sample"]["media_type"], content)
    offers = [
        (o["name"], OfferSpec(kind=OfferKind(o["kind"]), currency=o["currency"],
                              amount=o["amount"], period=o["period"], unit=o["unit"],
                              cap_amount=o["cap_amount"], quantity=o["quantity"]))
        for o in body["offers"]
    ]
    return services.ProductInput(
        title=body["title"], description=body["description"], type=ProductType(body["type"]),
        development_level=DevelopmentLevel(body["development_level"]), sector=body["sector"],
        region=body["region"], update_frequency=body["update_frequency"],
        scenarios=body["scenarios"], delivery_modes=body["delivery_modes"],
        derived_from=body["derived_from"], terms=UsageTerms.of(body["terms"]), offers=offers,
        tags=body["tags"], formats=body["formats"], field_schema=body["field_schema"],
        spatial_coverage=body["spatial_coverage"], temporal_from=body["temporal_from"],
        temporal_to=body["temporal_to"], quality_reports=body["quality_reports"],
        assessment_reports=body["assessment_reports"], sample=sample,
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
@bp.access(roles=[MERCHANT])
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
@bp.access(roles=[MERCHANT], object_scoped=True)
@bp.arguments(ProductRevisionIn)
@bp.response(200, ProductOut)
def revise_product(body: dict[str, Any], product_id: str) -> dict[str, Any]:
    """Change your product. A listed product gets a new version, reviewed while the listed
    one stays on sale; a draft or returned version is edited in place."""
    return _out(services.revise_product(product_id, _input(body), uow=unit_of_work(),
                                        sample_dir=_sample_dir()))


@bp.route("/products/<product_id>/submission", methods=["POST"])
@bp.access(roles=[MERCHANT], object_scoped=True)
@bp.arguments(SubmitIn)
@bp.response(200, ProductOut)
def submit_listing(body: dict[str, Any], product_id: str) -> dict[str, Any]:
    """Submit the latest version for review with your signed listing declaration.

    Refused (422 `listing_refused`, the broken link named) without an unbroken, in-term
    rights chain covering every resource the product derives from.
    """
    return _out(services.submit_listing(product_id, body["declaration"], uow=unit_of_work()))


@bp.route("/products/<product_id>/review-claims", methods=["POST"])
@bp.access(roles=[OPERATOR, ASSESSOR], object_scoped=True)
@bp.response(200, ProductOut)
def claim_review(product_id: str) -> dict[str, Any]:
    """Take the submitted version into review (the operator or an assessor)."""
    return _out(services.claim_review(product_id, uow=unit_of_work()))


@bp.route("/products/<product_id>/reviews", methods=["POST"])
@bp.access(roles=[OPERATOR, ASSESSOR], object_scoped=True)
@bp.arguments(ListingReviewIn)
@bp.response(200, ProductOut)
def decide_review(body: dict[str, Any], product_id: str) -> dict[str, Any]:
    """List the version, return it for corrections, or reject it, with a reason."""
    return _out(services.decide_review(product_id, body["decision"], body["reason"],
                                       uow=unit_of_work()))


@bp.route("/products/<product_id>/status-changes", methods=["POST"])
@bp.access(roles=[OPERATOR, MERCHANT], object_scoped=True)
@bp.arguments(ListingStatusIn)
@bp.response(200, ProductOut)
def change_listing_status(body: dict[str, Any], product_id: str) -> dict[str, Any]:
    """Suspend or reinstate the version on sale (the operator), or delist it (the merchant
    or the operator)."""
    return _out(services.change_listing_status(product_id, ListingStatus(body["status"]),
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
    path = _sample_dir() / sample[0][:2] / sample[0] if sample else None
    if sample is None or path is None or not path.exists():
        raise ProductNotFound("this product has no sample")
    response = send_file(path, mimetype=sample[2], as_attachment=True, download_name=sample[1],
                         etag=sample[0])
    return response
