"""The buyer's pages (需求方): the catalogue with search and facets, a product with its
offers, terms and rights chain and the order form (the purchase commitment, 购买承诺),
demands and their explained matches, negotiations, orders (pay, download, accept, dispute)
and statements.

Every read and every write is the buyer's own API call (:mod:`market.console.calls`): what
a page shows and may do is what the buyer's key could, with the API's rules, scoping, audit
and idempotency (each form carries its own Idempotency-Key). A form the API refuses with
422 comes back with the API's field errors beside its fields; any other refusal is shown as
an error page with the API's status and problem code.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from market.console.blueprint import bp
from market.console.blueprint import page as console_page
from market.console.calls import ApiRefused, call, fetch, passthrough
from market.console.format import minor_units
from market.console.forms import post
from market.console.views.buyer_common import (
    BUYER,
    actor,
    flat_errors,
    label,
    lines,
    money_error,
    page,
    refusal,
)

PAGE_SIZE = 20
# Catalogue filters a link or the search form may set (prices are typed in yuan).
FILTERS = ("q", "type", "sector", "region", "delivery_mode", "development_level",
           "classification", "free_only", "sort", "min_price", "max_price")
# The facets the catalogue counts, in the order shown, and the filter each narrows by.
FACETS = (("sector", "sector", _l("Sector")), ("type", "type", _l("Type")),
          ("region", "region", _l("Region")), ("delivery_mode", "delivery_mode",
                                                _l("Delivery")),
          ("development_level", "development_level", _l("Development level")),
          ("classification", "classification", _l("Classification")),
          ("free", "free_only", _l("Price")))
SORTS = {"relevance": _l("Relevance"), "newest": _l("Newest"), "price": _l("Lowest price")}


def _search_args() -> dict[str, str]:
    return {name: request.args.get(name, "").strip() for name in FILTERS
            if request.args.get(name, "").strip()}


@bp.get("/buyer")
@console_page(roles=BUYER, nav=_l("Catalogue"))
def buyer_catalog() -> Any:
    """Search listed products in Chinese or English; facets narrow the result."""
    args = _search_args()
    errors: dict[str, str] = {}
    query: dict[str, Any] = {k: v for k, v in args.items()
                             if k not in ("min_price", "max_price")}
    for name in ("min_price", "max_price"):
        try:
            query[name] = minor_units(args.get(name))
        except ValueError:
            errors[name] = money_error()
    query = {k: v for k, v in query.items() if v is not None}
    answer = call(actor(), "GET", "/catalog", query={
        **query, "cursor": request.args.get("cursor"), "limit": PAGE_SIZE})
    body: dict[str, Any] = {"items": [], "total": 0, "facets": {}, "next_cursor": None}
    if answer.ok:
        body = answer.body
    elif answer.status == 422:
        errors.update(flat_errors(answer.field_errors))
    else:
        raise ApiRefused(answer)

    def link(**change: str | None) -> str:
        values: dict[str, Any] = {k: v for k, v in {**args, **change}.items() if v}
        return url_for("console.buyer_catalog", **values)

    facets = []
    for key, param, name in FACETS:
        counts = body.get("facets", {}).get(key, {})
        values = [(value, label(key, value), count, link(**{param: value}),
                   args.get(param) == value)
                  for value, count in sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))
                  if count > 0]
        if values:
            facets.append((name, values))
    active = [(label(key, args[param]) if key != "free" else label("free", "true"),
               link(**{param: None}))
              for key, param, _name in FACETS if args.get(param)]
    return page("catalog.html", 422 if errors else 200, body=body,
                args=args, errors=errors, facets=facets, active=active, sorts=SORTS,
                pager_args=args)


def _product_page(product_id: str, *, form: MultiDict[str, str] | None = None,
                  refused: dict[str, Any] | None = None, status: int = 200) -> Any:
    entry = fetch(actor(), f"/catalog/{product_id}")
    chain = fetch(actor(), f"/products/{product_id}/rights-chain")
    version = entry["version"]
    offers = [{**offer, "private": False} for offer in version["offers"]]
    negotiation_id = (form or request.args).get("negotiation") or None
    if negotiation_id:
        negotiation = fetch(actor(), f"/negotiations/{negotiation_id}")
        private = negotiation.get("private_offer")
        if negotiation["product_id"] == product_id and private:
            offers.insert(0, {**private, "name": gettext("Your agreed terms"),
                              "private": True})
    chosen = (form.get("offer_id") if form is not None
              else offers[0]["id"] if offers and offers[0]["private"] else None)
    merchant = next((link["holder_name"] for link in chain.get("links", [])
                     if link["kind"] == "product_operation"), None)
    public_data = any(offer.get("buyer_class") for offer in offers)
    return page("product.html", status, entry=entry, version=version, chain=chain,
                offers=offers, chosen=chosen, merchant=merchant, public_data=public_data,
                negotiation_id=negotiation_id, form=form or MultiDict(),
                refused=refused or {})


@bp.get("/buyer/products/<product_id>")
@console_page(roles=BUYER)
def buyer_product(product_id: str) -> Any:
    """A listed product: description, terms, offers and prices, rights chain, sample, and
    the order form."""
    return _product_page(product_id)


def commitment_of(form: MultiDict[str, str]) -> dict[str, Any]:
    """The purchase commitment (template purchase@1) the order form answers."""
    cross_border = form.get("cross_border") == "yes"
    commitment: dict[str, Any] = {
        "purpose": form.get("purpose", "").strip(),
        "purposes": form.getlist("purposes"),
        "scenarios": form.getlist("scenarios"),
        "cross_border": cross_border,
        "destination": (form.get("destination", "").strip() or None) if cross_border else None,
        "security_measures": lines(form.get("security_measures")),
        "no_onward_transfer": form.get("no_onward_transfer") == "yes",
        "no_reidentification": form.get("no_reidentification") == "yes",
        "commitments": lines(form.get("commitments")),
    }
    if form.get("purpose_class"):
        commitment["purpose_class"] = form["purpose_class"]
    return commitment


@bp.post("/buyer/products/<product_id>/orders")
@console_page(roles=BUYER)
def buyer_place_order(product_id: str) -> Any:
    """Order an offer with the purchase commitment; then the order's page."""
    answer = post("/orders", {"product_id": product_id,
                              "offer_id": request.form.get("offer_id", ""),
                              "commitment": commitment_of(request.form)})
    if answer.ok:
        return redirect(url_for("console.buyer_order", order_id=answer.body["id"],
                                done="placed"), code=303)
    if answer.status != 422:
        raise ApiRefused(answer)
    return _product_page(product_id, form=request.form,
                         refused={"order": refusal(answer)}, status=422)


@bp.post("/buyer/products/<product_id>/quotes")
@console_page(roles=BUYER)
def buyer_request_quote(product_id: str) -> Any:
    """Ask the merchant for a quote (面议): the negotiation's page follows."""
    form = request.form
    terms: dict[str, Any] = {"purposes": form.getlist("quote_purposes") or None,
                             "scenarios": form.getlist("quote_scenarios") or None}
    errors: dict[str, str] = {}
    try:
        terms["amount"] = minor_units(form.get("amount"))
    except ValueError:
        errors["terms.amount"] = money_error()
    if errors:
        return _product_page(product_id, form=form, status=422, refused={"quote": {
            "title": gettext("Check the fields marked below."), "errors": errors}})
    answer = post("/negotiations", {
        "product_id": product_id, "note": form.get("note", "").strip() or None,
        "terms": {k: v for k, v in terms.items() if v is not None}})
    if answer.ok:
        return redirect(url_for("console.buyer_negotiation", negotiation_id=answer.body["id"],
                                done="quoted"), code=303)
    if answer.status != 422:
        raise ApiRefused(answer)
    return _product_page(product_id, form=form, refused={"quote": refusal(answer)},
                         status=422)


@bp.get("/buyer/products/<product_id>/sample")
@console_page(roles=BUYER)
def buyer_sample(product_id: str) -> Response:
    """The product's sample file, as the catalogue serves it."""
    return passthrough(actor(), f"/catalog/{product_id}/sample")


# The other pages register on the blueprint when imported, after the catalogue, so the
# menu reads: catalogue, demands, negotiations, orders, statements.
from market.console.views import buyer_matching, buyer_orders  # noqa: E402, F401
