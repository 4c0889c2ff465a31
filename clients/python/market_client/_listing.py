"""Listing (products, versions, offers, review), the catalogue, the review queue, and
matching (demands, negotiations)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any, cast

from market_client._base import Group, seg, without_none
from market_client.download import Downloaded, download
from market_client.types import (
    JSON,
    CatalogEntry,
    CatalogItem,
    CatalogPage,
    Demand,
    Negotiation,
    Order,
    Page,
    Product,
    ReviewItem,
    Right,
)


class Products(Group):
    """A merchant's data products: drafting, versions and offers, submission for review; the
    reviewers' claim and decision."""

    def create(self, product: Mapping[str, Any], *,
               idempotency_key: str | None = None) -> Product:
        """Draft a product (version 1) with its offers and usage terms, under your product
        operation right (``product_id``)."""
        return cast(Product, self._http.post("/products", dict(product), idempotent=True,
                                              idempotency_key=idempotency_key))

    def update(self, product_id: str, product: Mapping[str, Any]) -> Product:
        """Change the product: a listed one gets a new version, reviewed again."""
        return cast(Product, self._http.json("PUT", f"/products/{seg(product_id)}",
                                             json=dict(product)))

    def get(self, product_id: str) -> Product:
        return cast(Product, self._http.get(f"/products/{seg(product_id)}"))

    def list(self, *, status: str | None = None, limit: int | None = None,
             cursor: str | None = None) -> Page[Product]:
        return cast(Page[Product], self._http.get("/products", status=status, limit=limit,
                                                  cursor=cursor))

    def iter(self, *, status: str | None = None) -> Iterator[Product]:
        return self._http.items("/products", {"status": status})

    def submit(self, product_id: str, declaration: Mapping[str, Any], *,
               signature: str | None = None) -> Product:
        """Submit the latest version for review with your listing declaration (listing@1)."""
        return cast(Product, self._http.post(
            f"/products/{seg(product_id)}/submission",
            without_none(declaration=dict(declaration), signature=signature)))

    def claim_review(self, product_id: str) -> Product:
        return cast(Product, self._http.post(f"/products/{seg(product_id)}/review-claims"))

    def review(self, product_id: str, decision: str, reason: str) -> Product:
        """``list``, ``return`` (for corrections) or ``reject`` the submitted version."""
        return cast(Product, self._http.post(f"/products/{seg(product_id)}/reviews",
                                             {"decision": decision, "reason": reason}))

    def change_status(self, product_id: str, status: str, reason: str) -> Product:
        """Suspend or reinstate (the operator), or delist (the merchant or the operator)."""
        return cast(Product, self._http.post(f"/products/{seg(product_id)}/status-changes",
                                             {"status": status, "reason": reason}))

    def history(self, product_id: str) -> Iterator[JSON]:
        return self._http.items(f"/products/{seg(product_id)}/history")

    def distribution(self, product_id: str) -> JSON:
        """How the product's revenue is split (收益分配)."""
        return cast(JSON, self._http.get(f"/products/{seg(product_id)}/distribution"))


class Catalog(Group):
    """The public catalogue: search in Chinese or English, filters, facets (no key needed)."""

    def search(self, q: str | None = None, *, type: str | None = None,
               sector: str | None = None, region: str | None = None,
               delivery_mode: str | None = None, development_level: str | None = None,
               classification: str | None = None, merchant: str | None = None,
               min_price: int | None = None, max_price: int | None = None,
               free_only: bool | None = None, sort: str | None = None,
               facets: bool | None = None, limit: int | None = None,
               cursor: str | None = None) -> CatalogPage:
        """One page of listed products answering the query, with ``total`` and, asked for,
        the ``facets`` counts."""
        return cast(CatalogPage, self._http.get(
            "/catalog", q=q, type=type, sector=sector, region=region,
            delivery_mode=delivery_mode, development_level=development_level,
            classification=classification, merchant=merchant, min_price=min_price,
            max_price=max_price, free_only=free_only, sort=sort, facets=facets, limit=limit,
            cursor=cursor))

    def iter(self, q: str | None = None, **filters: Any) -> Iterator[CatalogItem]:
        """Every listed product answering the query, page after page."""
        return self._http.items("/catalog", {"q": q, **filters})

    def product(self, product_id: str) -> CatalogEntry:
        """A listed product as anyone sees it: the version on sale, its offers (their ``id``
        is what an order names) and usage terms."""
        return cast(CatalogEntry, self._http.get(f"/catalog/{seg(product_id)}"))

    def sample(self, product_id: str, dest: str | os.PathLike[str]) -> Downloaded:
        """Download the product's sample, checked against the SHA-256 in its ETag."""
        return download(self._http, f"/catalog/{seg(product_id)}/sample", dest)

    def dataset(self, product_id: str) -> JSON:
        """A listed product as a DCAT-AP 3 dataset (JSON-LD), public."""
        return cast(JSON, self._http.get(f"/catalog/{seg(product_id)}/dcat.jsonld"))

    def statistics(self) -> JSON:
        """Listed products by sector and by type (public disclosure)."""
        return cast(JSON, self._http.get("/catalog/statistics"))


class Reviews(Group):
    """The operator's review queue: listing versions, right registrations and orders sent to
    review. ``claim`` and ``decide`` act on the item's subject through its own endpoint."""

    def list(self, *, status: str | None = None, kind: str | None = None,
             limit: int | None = None, cursor: str | None = None) -> Page[ReviewItem]:
        return cast(Page[ReviewItem], self._http.get("/reviews", status=status, kind=kind,
                                                     limit=limit, cursor=cursor))

    def iter(self, *, status: str | None = None,
             kind: str | None = None) -> Iterator[ReviewItem]:
        return self._http.items("/reviews", {"status": status, "kind": kind})

    def get(self, item_id: str) -> ReviewItem:
        return cast(ReviewItem, self._http.get(f"/reviews/{seg(item_id)}"))

    def claim(self, item: ReviewItem | str) -> Product | Right:
        """Take a listing or right into review (orders need no claim)."""
        found = self.get(item) if isinstance(item, str) else item
        if found["kind"] == "listing":
            product = self.product_of(found)
            return cast(Product, self._http.post(f"/products/{seg(product)}/review-claims"))
        if found["kind"] == "right":
            return cast(Right, self._http.post(
                f"/rights/{seg(found['subject_id'])}/review-claims"))
        raise ValueError(f"a {found['kind']} review is decided without a claim")

    def decide(self, item: ReviewItem | str, decision: str,
               reason: str) -> Product | Right | Order:
        """Decide with a reason: a listing ``list`` / ``return`` / ``reject``; a right or an
        order ``approve`` / ``reject``."""
        found = self.get(item) if isinstance(item, str) else item
        body = {"decision": decision, "reason": reason}
        if found["kind"] == "listing":
            product = self.product_of(found)
            return cast(Product, self._http.post(f"/products/{seg(product)}/reviews", body))
        subject = seg(found["subject_id"])
        if found["kind"] == "right":
            return cast(Right, self._http.post(f"/rights/{subject}/reviews", body))
        return cast(Order, self._http.post(f"/orders/{subject}/review", body))

    def product_of(self, item: ReviewItem) -> str:
        """The product whose version a listing review is about (the queue names versions)."""
        for status in ("submitted", "under_review"):
            for product in self._http.items("/products", {"status": status}):
                if product["latest"]["id"] == item["subject_id"]:
                    return str(product["id"])
        raise ValueError(f"no product waiting for review has version {item['subject_id']}")


class Demands(Group):
    """Demands (需求): a buyer's posted needs, matched against the catalogue."""

    def post(self, demand: Mapping[str, Any], *,
             idempotency_key: str | None = None) -> Demand:
        return cast(Demand, self._http.post("/demands", dict(demand), idempotent=True,
                                            idempotency_key=idempotency_key))

    def list(self, q: str | None = None, *, mine: bool | None = None,
             status: str | None = None, sector: str | None = None, limit: int | None = None,
             cursor: str | None = None) -> Page[Demand]:
        return cast(Page[Demand], self._http.get(
            "/demands", q=q, mine=mine, status=status, sector=sector, limit=limit,
            cursor=cursor))

    def iter(self, q: str | None = None, *, mine: bool | None = None,
             status: str | None = None) -> Iterator[Demand]:
        return self._http.items("/demands", {"q": q, "mine": mine, "status": status})

    def get(self, demand_id: str) -> Demand:
        return cast(Demand, self._http.get(f"/demands/{seg(demand_id)}"))

    def update(self, demand_id: str, changes: Mapping[str, Any]) -> Demand:
        return cast(Demand, self._http.json("PATCH", f"/demands/{seg(demand_id)}",
                                            json=dict(changes)))

    def close(self, demand_id: str, reason: str, *,
              idempotency_key: str | None = None) -> Demand:
        return cast(Demand, self._http.post(f"/demands/{seg(demand_id)}/closure",
                                            {"reason": reason}, idempotent=True,
                                            idempotency_key=idempotency_key))

    def matches(self, demand_id: str, *, explain: bool | None = None) -> JSON:
        """The listings that answer the demand now, best first, with their scores."""
        return cast(JSON, self._http.get(f"/demands/{seg(demand_id)}/matches",
                                         explain=explain))

    def answer(self, demand_id: str, product_id: str, terms: Mapping[str, Any], *,
               idempotency_key: str | None = None) -> Negotiation:
        """A merchant answers a demand with an offer on one of its listed products."""
        return cast(Negotiation, self._http.post(
            f"/demands/{seg(demand_id)}/answers",
            {"product_id": product_id, "terms": dict(terms)}, idempotent=True,
            idempotency_key=idempotency_key))


class Negotiations(Group):
    """Quotes and negotiation (议价): requested → offered ⇄ countered → agreed."""

    def request_quote(self, product_id: str, terms: Mapping[str, Any], *,
                      offer_id: str | None = None, note: str | None = None,
                      idempotency_key: str | None = None) -> Negotiation:
        return cast(Negotiation, self._http.post(
            "/negotiations", without_none(product_id=product_id, offer_id=offer_id,
                                          terms=dict(terms), note=note),
            idempotent=True, idempotency_key=idempotency_key))

    def list(self, *, status: str | None = None, demand: str | None = None,
             product: str | None = None, limit: int | None = None,
             cursor: str | None = None) -> Page[Negotiation]:
        return cast(Page[Negotiation], self._http.get(
            "/negotiations", status=status, demand=demand, product=product, limit=limit,
            cursor=cursor))

    def iter(self, *, status: str | None = None) -> Iterator[Negotiation]:
        return self._http.items("/negotiations", {"status": status})

    def get(self, negotiation_id: str) -> Negotiation:
        return cast(Negotiation, self._http.get(f"/negotiations/{seg(negotiation_id)}"))

    def _move(self, negotiation_id: str, move: str, body: Mapping[str, Any] | None,
              idempotency_key: str | None) -> Negotiation:
        return cast(Negotiation, self._http.post(
            f"/negotiations/{seg(negotiation_id)}/{move}",
            dict(body) if body is not None else None, idempotent=True,
            idempotency_key=idempotency_key))

    def offer(self, negotiation_id: str, terms: Mapping[str, Any], *,
              idempotency_key: str | None = None) -> Negotiation:
        """The merchant answers a quote request with its terms."""
        return self._move(negotiation_id, "offers", {"terms": dict(terms)}, idempotency_key)

    def counter(self, negotiation_id: str, terms: Mapping[str, Any], *,
                idempotency_key: str | None = None) -> Negotiation:
        return self._move(negotiation_id, "counters", {"terms": dict(terms)}, idempotency_key)

    def agree(self, negotiation_id: str, *,
              idempotency_key: str | None = None) -> Negotiation:
        """Accept the other side's terms: they become a private offer (``private_offer_id``)
        only the buyer sees and orders."""
        return self._move(negotiation_id, "agreement", None, idempotency_key)

    def decline(self, negotiation_id: str, reason: str, *,
                idempotency_key: str | None = None) -> Negotiation:
        return self._move(negotiation_id, "decline", {"reason": reason}, idempotency_key)

    def withdraw(self, negotiation_id: str, reason: str, *,
                 idempotency_key: str | None = None) -> Negotiation:
        return self._move(negotiation_id, "withdrawal", {"reason": reason}, idempotency_key)
