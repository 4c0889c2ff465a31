"""What matching asks of listing: the listings a demand could be answered by, ranked by the
catalogue's own index and ranking, each with what the rules and the scoring need by value
(its usage terms and published policy, what the rules found the data to be at listing, its
price); and the private offers a negotiation's agreement becomes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from market.kernel.errors import InvalidInput
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.listing import catalog, linked_data, repository
from market.listing.domain import ListingStatus, OfferKind, OfferSpec
from market.listing.errors import ProductNotFound
from market.listing.models import Offer, Product, ProductVersion
from market.listing.services.trade import POLICY_BASE, OfferTerms


@dataclass(frozen=True)
class Candidate:
    """A listed product as matching judges and scores it."""

    product_id: str
    version_id: str
    merchant_org_id: str
    title: str
    type: str
    sector: str
    region: str
    delivery_modes: tuple[str, ...]
    update_frequency: str
    listed_at: datetime
    min_price: int | None  # the cheapest priced public offer, minor units
    currency: str | None
    has_free: bool
    negotiable: bool  # it has a 面议 offer
    classification: str
    terms: dict[str, Any]
    product_facts: dict[str, Any] | None
    declaration: dict[str, Any]
    policy: dict[str, Any]
    matched: int  # query terms the listing contains
    weight: int  # their summed weight (title counts most)


def query_terms(*texts: str) -> list[str]:
    """The catalogue's terms of query texts (jieba for Chinese, words for English), the
    first text's first: a bilingual title keeps its English words however long the
    description after it is (a query keeps twelve terms)."""
    found: list[str] = []
    for text in texts:
        found += catalog.query_terms(text)
    return list(dict.fromkeys(found))[:catalog.MAX_QUERY_TERMS]


def _candidates(uow: UnitOfWork, ranked: Sequence[tuple[catalog.CatalogEntry, int, int]],
                ) -> list[Candidate]:
    if not ranked:
        return []
    session = uow.session
    version_ids = sorted({entry.version_id for entry, _, _ in ranked})
    versions = {v.id: v for v in session.scalars(
        select(ProductVersion).where(ProductVersion.id.in_(version_ids)))}
    products = {p.id: p for p in session.scalars(
        select(Product).where(Product.id.in_(sorted({e.product_id for e, _, _ in ranked}))))}
    negotiable = set(session.scalars(
        select(Offer.version_id).where(Offer.version_id.in_(version_ids),
                                       Offer.kind == OfferKind.NEGOTIABLE.value,
                                       Offer.buyer_org_id.is_(None))))
    found = []
    for entry, matched, weight in ranked:
        version, product = versions.get(entry.version_id), products.get(entry.product_id)
        if version is None or product is None:
            continue
        found.append(Candidate(
            product_id=entry.product_id, version_id=entry.version_id,
            merchant_org_id=entry.merchant_org_id, title=entry.title, type=entry.type,
            sector=entry.sector, region=entry.region,
            delivery_modes=tuple(entry.delivery_modes),
            update_frequency=version.update_frequency, listed_at=entry.listed_at,
            min_price=entry.min_price, currency=entry.currency, has_free=entry.has_free,
            negotiable=entry.version_id in negotiable, classification=entry.classification,
            terms=dict(version.terms),
            product_facts=dict(version.product_facts) if version.product_facts else None,
            declaration=dict(version.declaration or {}),
            policy=linked_data.odrl_policy(POLICY_BASE, product, version),
            matched=matched, weight=weight))
    return found


def candidates(words: Sequence[str], *, types: Sequence[str] = (),
               modes: Sequence[str] = (), limit: int, uow: UnitOfWork) -> list[Candidate]:
    """Up to ``limit`` listed products containing any of a demand's ``words``, of ``types``
    and delivered by ``modes``, as a catalogue search ranks them: words most listings
    contain are left out of the ranking while a more selective word remains (数据 in
    "医疗影像数据"). Each candidate then carries how many of all the ``words`` it contains
    and their weight. A listing that shares no word with the demand is never a candidate."""
    session = uow.session
    ranked = catalog.relevance(session, catalog.selective(session, words), types=types,
                               modes=modes, limit=limit)
    counted = catalog.hits(session, [entry.product_id for entry, _, _ in ranked], words)
    return _candidates(uow, [(entry, *counted.get(entry.product_id, (matched, weight)))
                             for entry, matched, weight in ranked])


def candidate(product_id: str, words: Sequence[str], *, uow: UnitOfWork) -> Candidate | None:
    """One listed product as a candidate for ``words`` (None: not listed): the same
    ranking numbers :func:`candidates` gives it, from the catalogue's terms of it."""
    indexed = catalog.indexed_terms(uow.session, product_id)
    entry = catalog.entries(uow.session, [product_id]).get(product_id)
    if entry is None:
        return None
    hit = [indexed[w] for w in set(words) if w in indexed]
    found = _candidates(uow, [(entry, len(hit), sum(hit))])
    return found[0] if found else None


def indexed_terms(product_id: str, *, uow: UnitOfWork) -> dict[str, int]:
    """The catalogue's terms of a listed product, with their weights."""
    return catalog.indexed_terms(uow.session, product_id)


# -- private offers ------------------------------------------------------------------------


@dataclass(frozen=True)
class PrivateOffer:
    """What a negotiation agreed, as an offer only its buyer sees and orders."""

    buyer_org_id: str
    kind: OfferKind
    amount: int
    currency: str
    expires_at: datetime
    terms: dict[str, Any]
    delivery_modes: tuple[str, ...]
    negotiation_id: str
    channel: str  # negotiation, match or broker
    period: str | None = None
    demand_id: str | None = None
    broker_org_id: str | None = None
    commission_bps: int | None = None
    name: str = "协商报价 negotiated offer"


def make_private_offer(product_id: str, spec: PrivateOffer, *, uow: UnitOfWork) -> OfferTerms:
    """Add the private offer a negotiation agreed to the version on sale, in the caller's
    transaction; it sells one unit.

    Raises:
        ProductNotFound: nothing of the product is on sale.
        InvalidInput: the price or period do not make an offer, or a delivery mode is not
            one the version offers.
    """
    product = repository.get_product(uow.session, product_id)
    version = repository.get_version(uow.session, product.listed_version_id
                                     if product is not None else None)
    if product is None or version is None or version.status != ListingStatus.LISTED.value:
        raise ProductNotFound()
    problems = OfferSpec(spec.kind, currency=spec.currency, amount=spec.amount,
                         period=spec.period).problems()
    outside = sorted(set(spec.delivery_modes) - set(version.delivery_modes))
    if outside:
        problems["delivery_modes"] = "not offered by the listing: " + ", ".join(outside)
    if problems:
        raise InvalidInput("the agreed terms do not make an offer",
                           errors={k: [v] for k, v in problems.items()})
    offer = Offer(
        id=new_id("ofr"), version_id=version.id, kind=spec.kind.value, name=spec.name,
        currency=spec.currency, amount=spec.amount, period=spec.period, quantity=1, sold=0,
        buyer_org_id=spec.buyer_org_id, expires_at=spec.expires_at, terms=dict(spec.terms),
        delivery_modes=list(spec.delivery_modes), negotiation_id=spec.negotiation_id,
        demand_id=spec.demand_id, channel=spec.channel, broker_org_id=spec.broker_org_id,
        commission_bps=spec.commission_bps, created_at=uow.clock.now())
    uow.session.add(offer)
    uow.session.flush()
    uow.audit.record(uow.actor, "offer.made_private", "offer", offer.id, {
        "id": offer.id, "version_id": version.id, "buyer_org_id": offer.buyer_org_id,
        "amount": offer.amount, "currency": offer.currency, "negotiation_id": spec.negotiation_id,
        "expires_at": spec.expires_at.isoformat()})
    return OfferTerms.of(offer)


def private_offer(offer_id: str, *, uow: UnitOfWork) -> OfferTerms | None:
    """A private offer as agreed (for the negotiation that made it), or None."""
    offer = repository.get_offer(uow.session, offer_id)
    return OfferTerms.of(offer) if offer is not None and offer.private else None
