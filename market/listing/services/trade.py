"""What trading asks of listing, in the caller's transaction: the version on sale (or the one
an order bought) with its offer, by value, and taking or giving back a unit of a limited
offer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from market.compliance import services as compliance
from market.kernel.uow import UnitOfWork
from market.listing import repository
from market.listing.domain import ListingStatus
from market.listing.errors import OfferNotFound, ProductNotFound, SoldOut


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


def on_sale(product_id: str, *, uow: UnitOfWork, version_id: str | None = None,
            offer_id: str | None = None) -> OnSale:
    """The version on sale now (ordering) or, with ``version_id``, the version an order
    bought (delivery) whatever its status, with the offer ``offer_id`` if given.

    Raises:
        ProductNotFound: no such product, or (without ``version_id``) nothing on sale.
        OfferNotFound: ``offer_id`` is not an offer of that version.
    """
    product = repository.get_product(uow.session, product_id)
    wanted = version_id or (product.listed_version_id if product is not None else None)
    version = repository.get_version(uow.session, wanted)
    if product is None or version is None or version.product_id != product.id or (
        version_id is None and version.status != ListingStatus.LISTED.value
    ):
        raise ProductNotFound()
    terms = None
    if offer_id is not None:
        offer = repository.get_offer(uow.session, offer_id)
        if offer is None or offer.version_id != version.id:
            raise OfferNotFound()
        terms = OfferTerms(offer.id, offer.kind, offer.name, offer.amount, offer.currency,
                           offer.period, offer.unit, offer.cap_amount)
    declaration = compliance.declaration_of("product_version", version.id, uow=uow.joined())
    return OnSale(
        product_id=product.id, version_id=version.id, version_number=version.number,
        merchant_org_id=product.merchant_org_id, title=version.title, sector=version.sector,
        type=version.type, scenarios=tuple(version.scenarios),
        delivery_modes=tuple(version.delivery_modes), terms=dict(version.terms),
        derived_from=tuple(version.derived_from), declaration=dict(version.declaration or {}),
        declaration_sha256=version.declaration_sha256,
        declaration_id=declaration.id if declaration is not None else None, offer=terms)


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
