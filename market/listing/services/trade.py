"""What trading asks of listing, in the caller's transaction: the version on sale (or the one
an order bought) with its offer, by value, and taking or giving back a unit of a limited
offer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from market.compliance import services as compliance
from market.kernel.uow import UnitOfWork
from market.listing import linked_data, repository
from market.listing.domain import ListingStatus
from market.listing.errors import OfferExpired, OfferNotFound, ProductNotFound, SoldOut
from market.listing.models import Offer

# The base of the policy documents judged in a transaction: the constraints are the same
# whatever base the catalogue publishes them under.
POLICY_BASE = "urn:market"


@dataclass(frozen=True)
class OfferTerms:
    """An offer (pricing plan) as an order freezes it."""

    id: str
    kind: str
    name: str
    amount: int | None
    currency: str
    period: str | None
    unit: str | None
    cap_amount: int | None
    buyer_org_id: str | None = None  # a private offer's one buyer
    expires_at: datetime | None = None
    negotiation_id: str | None = None
    demand_id: str | None = None
    channel: str | None = None  # how a private offer came about: negotiation, match, broker
    broker_org_id: str | None = None
    commission_bps: int | None = None
    buyer_class: str | None = None  # public data: public_interest or commercial
    terms: dict[str, Any] | None = None  # a private offer's agreed usage terms

    @classmethod
    def of(cls, offer: Offer) -> OfferTerms:
        return cls(offer.id, offer.kind, offer.name, offer.amount, offer.currency,
                   offer.period, offer.unit, offer.cap_amount, offer.buyer_org_id,
                   offer.expires_at, offer.negotiation_id, offer.demand_id, offer.channel,
                   offer.broker_org_id, offer.commission_bps, offer.buyer_class,
                   dict(offer.terms) if offer.terms is not None else None)

    def pricing(self) -> dict[str, Any]:
        """The offer as the pricing rules judge it."""
        return {"id": self.id, "name": self.name, "kind": self.kind, "amount": self.amount,
                "currency": self.currency, "period": self.period, "unit": self.unit,
                "cap_amount": self.cap_amount, "buyer_class": self.buyer_class,
                "private": self.buyer_org_id is not None, "terms": self.terms}


@dataclass(frozen=True)
class OnSale:
    """A version of a product as an order sees it: what it is, its usage terms, the
    merchant's declaration and what the product derives from (for the rules), and the
    offer the buyer chose."""

    product_id: str
    version_id: str
    version_number: int
    merchant_org_id: str
    title: str
    sector: str
    type: str
    scenarios: tuple[str, ...]
    delivery_modes: tuple[str, ...]
    terms: dict[str, Any]
    derived_from: tuple[str, ...]
    declaration: dict[str, Any]
    declaration_sha256: str | None
    declaration_id: str | None
    offer: OfferTerms | None
    policy: dict[str, Any]  # the published ODRL policy of the offer (or of the version)
    product_facts: dict[str, Any] | None = None  # what the rules found at submission
    published_offers: tuple[OfferTerms, ...] = ()  # the version's public offers
    version_terms: dict[str, Any] | None = None  # the version's published usage terms
    cost_basis: dict[str, Any] | None = None  # public data: its cost-recovery basis
    development_level: str | None = None  # raw, desensitised, modelled, ai_processed
    storage_location: str = "CN"  # the ISO country its data is stored in

    def pricing(self) -> dict[str, Any]:
        """What the pricing rules judge: the offer taken, the published offers, the cost
        basis and the published usage terms."""
        return {"offer": self.offer.pricing() if self.offer is not None else None,
                "offers": [o.pricing() for o in self.published_offers],
                "cost_basis": self.cost_basis, "terms": self.version_terms}


def on_sale(product_id: str, *, uow: UnitOfWork, version_id: str | None = None,
            offer_id: str | None = None, buyer_org_id: str | None = None,
            at: datetime | None = None) -> OnSale:
    """The version on sale now (ordering) or, with ``version_id``, the version an order
    bought (delivery) whatever its status, with the offer ``offer_id`` if given. A private
    offer is found only for its buyer (``buyer_org_id``) and, with ``at``, only before it
    expires; its agreed terms and delivery modes replace the version's.

    Raises:
        ProductNotFound: no such product, or (without ``version_id``) nothing on sale.
        OfferNotFound: ``offer_id`` is not an offer of that version that the buyer may see.
        OfferExpired: the private offer expired before ``at``.
    """
    product = repository.get_product(uow.session, product_id)
    wanted = version_id or (product.listed_version_id if product is not None else None)
    version = repository.get_version(uow.session, wanted)
    if product is None or version is None or version.product_id != product.id or (
        version_id is None and version.status != ListingStatus.LISTED.value
    ):
        raise ProductNotFound()
    offer = None
    if offer_id is not None:
        offer = repository.get_offer(uow.session, offer_id)
        if offer is None or offer.version_id != version.id or (
            version_id is None and not offer.visible_to(buyer_org_id)
        ):
            raise OfferNotFound()
        if at is not None and offer.expires_at is not None and at >= offer.expires_at:
            raise OfferExpired()
    declaration = compliance.declaration_of("product_version", version.id, uow=uow.joined())
    return OnSale(
        product_id=product.id, version_id=version.id, version_number=version.number,
        merchant_org_id=product.merchant_org_id, title=version.title, sector=version.sector,
        type=version.type, scenarios=tuple(version.scenarios),
        delivery_modes=tuple((offer.delivery_modes if offer is not None else None)
                             or version.delivery_modes),
        terms=dict((offer.terms if offer is not None else None) or version.terms),
        derived_from=tuple(version.derived_from), declaration=dict(version.declaration or {}),
        declaration_sha256=version.declaration_sha256,
        declaration_id=declaration.id if declaration is not None else None,
        offer=OfferTerms.of(offer) if offer is not None else None,
        policy=linked_data.odrl_policy(POLICY_BASE, product, version, offer),
        product_facts=dict(version.product_facts) if version.product_facts else None,
        published_offers=tuple(OfferTerms.of(o)
                               for o in repository.offers_of(uow.session, version.id)),
        version_terms=dict(version.terms),
        cost_basis=dict(version.cost_basis) if version.cost_basis else None,
        development_level=version.development_level,
        storage_location=version.storage_location)


def reserve_unit(offer_id: str, *, uow: UnitOfWork) -> None:
    """Take one unit of a limited offer for an order, in the caller's transaction; one
    conditional UPDATE, so concurrent buyers never oversell.

    Raises:
        SoldOut: every unit is taken.
    """
    if not repository.take_unit(uow.session, offer_id):
        raise SoldOut()


def release_unit(offer_id: str, *, uow: UnitOfWork) -> None:
    """Give back the unit an order took (the order ended unpaid or was refunded)."""
    repository.give_back_unit(uow.session, offer_id)
